//! The outbox table: mails are enqueued inside the caller's transaction and claimed by any
//! number of workers at once (`FOR UPDATE SKIP LOCKED`). A claim pushes `next_attempt_at`
//! forward by a lease, so a worker that dies mid-send leaves the row to be tried again. A row
//! holds its bodies (with any link's token in plain text) only until it is delivered: marking
//! it sent drops them, and the table refuses a delivered row that keeps them.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::model::{Mail, OutboxRow};
use crate::db::schema::email_outbox;
use crate::error::AppError;

/// Queues `mail` at `now`, due at once: a worker's claim compares with the same clock.
pub async fn enqueue(
    conn: &mut AsyncPgConnection,
    mail: &Mail,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    diesel::insert_into(email_outbox::table)
        .values((
            email_outbox::kind.eq(mail.kind),
            email_outbox::recipient.eq(&mail.to),
            email_outbox::subject.eq(&mail.subject),
            email_outbox::text_body.eq(&mail.text),
            email_outbox::html_body.eq(&mail.html),
            email_outbox::next_attempt_at.eq(now),
            email_outbox::created_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Enqueues at `now` the mail `compose` writes for a user's current address and name.
pub async fn enqueue_for_user(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    compose: impl FnOnce(&str, &str) -> Mail,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let user = crate::accounts::store::find_by_id(conn, user_id).await?;
    enqueue(conn, &compose(&user.email, &user.username), now).await
}

/// Deletes the mails to `recipient` not delivered yet; how many there were.
pub async fn drop_unsent_to(
    conn: &mut AsyncPgConnection,
    recipient: &str,
) -> Result<usize, AppError> {
    Ok(diesel::delete(
        email_outbox::table
            .filter(email_outbox::recipient.eq(recipient))
            .filter(email_outbox::sent_at.is_null()),
    )
    .execute(conn)
    .await?)
}

/// Claims up to `limit` due mails for `lease`, counting the attempt.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    lease: Duration,
    limit: i64,
) -> Result<Vec<OutboxRow>, AppError> {
    crate::db::transaction(conn, async |conn| {
        let ids: Vec<i64> = email_outbox::table
            .filter(email_outbox::sent_at.is_null())
            .filter(email_outbox::next_attempt_at.le(now))
            .order(email_outbox::id)
            .limit(limit)
            .select(email_outbox::id)
            .for_update()
            .skip_locked()
            .load(conn)
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(
            diesel::update(email_outbox::table.filter(email_outbox::id.eq_any(&ids)))
                .set((
                    email_outbox::attempts.eq(email_outbox::attempts + 1),
                    email_outbox::next_attempt_at.eq(now + lease),
                ))
                .returning(OutboxRow::as_returning())
                .get_results(conn)
                .await?,
        )
    })
    .await
}

/// Records the delivery and drops the bodies: the recipient has the mail, and a reset or
/// verification token must not wait here in plain text for the cleanup.
pub async fn mark_sent(
    conn: &mut AsyncPgConnection,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    diesel::update(email_outbox::table.find(id))
        .set((
            email_outbox::sent_at.eq(now),
            email_outbox::last_error.eq(None::<String>),
            email_outbox::text_body.eq(None::<String>),
            email_outbox::html_body.eq(None::<String>),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn mark_failed(
    conn: &mut AsyncPgConnection,
    id: i64,
    error: &str,
    retry_at: DateTime<Utc>,
) -> Result<(), AppError> {
    diesel::update(email_outbox::table.find(id))
        .set((
            email_outbox::last_error.eq(error),
            email_outbox::next_attempt_at.eq(retry_at),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Mails not delivered yet.
pub async fn unsent_count(conn: &mut AsyncPgConnection) -> Result<i64, AppError> {
    Ok(email_outbox::table
        .filter(email_outbox::sent_at.is_null())
        .count()
        .get_result(conn)
        .await?)
}
