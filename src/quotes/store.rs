//! SQL of quotes: the stored quotes, and the lease that lets one instance fetch per interval.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::model::Quote;
use crate::db::schema::{quote_fetches, quotes};
use crate::error::AppError;

/// Takes the fetch of this interval for the caller: true when the last attempt, by any
/// instance, was at or before `due_by` (or never), and it is now recorded as made at `now`.
///
/// Why one conditional UPDATE is enough: the statement locks the one row before changing it,
/// so instances claiming at once queue on that lock. Each one that waited re-reads the row as
/// the one before it committed it (READ COMMITTED re-checks the WHERE against the newest
/// version) and finds `last_attempt_at` moved to that instance's now, after its `due_by`: it
/// updates nothing. So one instance per interval gets true, whenever each of them wakes. The
/// claim commits before the provider is asked, so no lock is held across the HTTP call, and
/// an instance that dies mid-fetch only delays the next fetch by an interval.
pub async fn claim_fetch(
    conn: &mut AsyncPgConnection,
    due_by: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let due = quote_fetches::last_attempt_at
        .is_null()
        .or(quote_fetches::last_attempt_at.le(due_by));
    let claimed = diesel::update(quote_fetches::table.filter(due))
        .set(quote_fetches::last_attempt_at.eq(now))
        .execute(conn)
        .await?;
    Ok(claimed == 1)
}

/// When a fetch was last attempted, by any instance; `None` if never.
pub async fn last_fetch_attempt(
    conn: &mut AsyncPgConnection,
) -> Result<Option<DateTime<Utc>>, AppError> {
    Ok(quote_fetches::table
        .select(quote_fetches::last_attempt_at)
        .first(conn)
        .await
        .optional()?
        .flatten())
}

/// Stores `fetched` (each quote once) as fetched at `now`: a quote already stored keeps its id
/// and its `first_fetched_at`, and only moves its `fetched_at`. How many rows that wrote.
pub async fn upsert(
    conn: &mut AsyncPgConnection,
    fetched: &[Quote],
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let rows: Vec<_> = fetched
        .iter()
        .map(|quote| {
            (
                quotes::text.eq(&quote.text),
                quotes::author.eq(&quote.author),
                quotes::fetched_at.eq(now),
                quotes::first_fetched_at.eq(now),
            )
        })
        .collect();
    Ok(diesel::insert_into(quotes::table)
        .values(rows)
        .on_conflict((quotes::text, quotes::author))
        .do_update()
        .set(quotes::fetched_at.eq(excluded(quotes::fetched_at)))
        .execute(conn)
        .await?)
}

/// Deletes all but the `keep` most recently fetched quotes; how many went.
pub async fn keep_newest(conn: &mut AsyncPgConnection, keep: i64) -> Result<usize, AppError> {
    Ok(diesel::sql_query(
        "DELETE FROM quotes WHERE id NOT IN
           (SELECT id FROM quotes ORDER BY fetched_at DESC, id DESC LIMIT $1)",
    )
    .bind::<BigInt, _>(keep)
    .execute(conn)
    .await?)
}

/// The quote `seed` picks among those first stored by `day_began`: the one whose id hashes
/// highest with the seed (rendezvous hashing), so quotes stored later, or dropped while not
/// picked, leave the pick as it is. One statement over the (at most a thousand) stored quotes.
/// `None` when none was stored by then.
pub async fn pick(
    conn: &mut AsyncPgConnection,
    seed: i64,
    day_began: DateTime<Utc>,
) -> Result<Option<Quote>, AppError> {
    Ok(diesel::sql_query(
        "SELECT text, author FROM quotes WHERE first_fetched_at <= $2
         ORDER BY hashtextextended(id::text, $1) DESC, id LIMIT 1",
    )
    .bind::<BigInt, _>(seed)
    .bind::<diesel::sql_types::Timestamptz, _>(day_began)
    .get_result(conn)
    .await
    .optional()?)
}
