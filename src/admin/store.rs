//! The demo data's rows: what `agora admin seed-demo` inserts and counts, written so that running
//! it again adds only what is missing.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::{habit_completions, habits, tasks, users};
use crate::error::AppError;

/// Users `demo00001` to `demo<users>`, each with the `user` role, and items `Demo item 000001`
/// to `Demo item <items>`, where missing, made at `now`.
pub async fn insert_demo_users_and_items(
    conn: &mut AsyncPgConnection,
    users: i32,
    items: i32,
    password_hash: &str,
    budget: i64,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    diesel::sql_query(
        "INSERT INTO users (username, email, password_hash, first_name, last_name, budget, created_at, updated_at)
         SELECT format('demo%s', lpad(n::text, 5, '0')), format('demo%s@example.com', lpad(n::text, 5, '0')),
                $1, 'Demo', format('User %s', n), $2, $4, $4
         FROM generate_series(1, $3) AS n
         ON CONFLICT DO NOTHING",
    )
    .bind::<Text, _>(password_hash)
    .bind::<BigInt, _>(budget)
    .bind::<Integer, _>(users)
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await?;
    diesel::sql_query(
        "INSERT INTO user_roles (user_id, role_id, created_at)
         SELECT u.id, r.id, $1 FROM users u CROSS JOIN roles r
         WHERE u.username LIKE 'demo%' AND r.name = 'user'
         ON CONFLICT DO NOTHING",
    )
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await?;
    // Prices 1..150 keep five held items per user within the default budget.
    diesel::sql_query(
        "INSERT INTO items (name, price, barcode, description, created_at, updated_at)
         SELECT format('Demo item %s', lpad(n::text, 6, '0')), 1 + (n * 37) % 150,
                lpad((900000000000 + n)::text, 12, '0'), format('Demo item number %s', n), $2, $2
         FROM generate_series(1, $1) AS n
         ON CONFLICT DO NOTHING",
    )
    .bind::<Integer, _>(items)
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(QueryableByName)]
pub struct PendingPurchase {
    #[diesel(sql_type = BigInt)]
    pub item_id: i64,
    #[diesel(sql_type = BigInt)]
    pub buyer_id: i64,
}

/// Every second unsold demo item with its buyer, demo user number (n / 2) mod `users`.
pub async fn pending_demo_purchases(
    conn: &mut AsyncPgConnection,
    users: i32,
) -> Result<Vec<PendingPurchase>, AppError> {
    Ok(diesel::sql_query(
        "SELECT i.id AS item_id, u.id AS buyer_id
         FROM items i
         JOIN LATERAL (SELECT substring(i.name from 11)::int AS n) number ON TRUE
         JOIN users u ON u.username = format('demo%s', lpad((1 + (number.n / 2) % $1)::text, 5, '0'))
         WHERE i.name LIKE 'Demo item %' AND number.n % 2 = 0 AND i.owner_id IS NULL
         ORDER BY i.id",
    )
    .bind::<Integer, _>(users)
    .load(conn)
    .await?)
}

#[derive(QueryableByName)]
struct Held {
    #[diesel(sql_type = BigInt)]
    held: i64,
}

/// How many demo items users hold.
pub async fn held_demo_items(conn: &mut AsyncPgConnection) -> Result<i64, AppError> {
    Ok(diesel::sql_query(
        "SELECT count(*) AS held FROM items WHERE name LIKE 'Demo item %' AND owner_id IS NOT NULL",
    )
    .get_result::<Held>(conn)
    .await?
    .held)
}

/// The id and time zone of the user named `username`.
pub async fn user_and_time_zone(
    conn: &mut AsyncPgConnection,
    username: &str,
) -> Result<(i64, String), AppError> {
    Ok(users::table
        .filter(users::username.eq(username))
        .select((users::id, users::time_zone))
        .first(conn)
        .await?)
}

pub async fn count_habits(conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
    Ok(habits::table
        .filter(habits::user_id.eq(user_id))
        .count()
        .get_result(conn)
        .await?)
}

/// Marks the habit done on each of `days`, skipping days already done; recorded at `now`.
pub async fn insert_completions(
    conn: &mut AsyncPgConnection,
    habit_id: i64,
    days: &[NaiveDate],
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let rows: Vec<_> = days
        .iter()
        .map(|day| {
            (
                habit_completions::habit_id.eq(habit_id),
                habit_completions::completed_on.eq(*day),
                habit_completions::created_at.eq(now),
            )
        })
        .collect();
    for chunk in rows.chunks(10_000) {
        diesel::insert_into(habit_completions::table)
            .values(chunk)
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
    }
    Ok(())
}

pub async fn count_completions(
    conn: &mut AsyncPgConnection,
    user_id: i64,
) -> Result<i64, AppError> {
    Ok(habit_completions::table
        .inner_join(habits::table)
        .filter(habits::user_id.eq(user_id))
        .count()
        .get_result(conn)
        .await?)
}

pub async fn count_tasks(conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
    Ok(tasks::table
        .filter(tasks::user_id.eq(user_id))
        .count()
        .get_result(conn)
        .await?)
}

/// `count` tasks in the columns TODO, IN_PROGRESS, DONE in turn, positions dense within each
/// column, made at `now`; the done ones completed then too.
pub async fn insert_demo_tasks(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    count: i32,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    diesel::sql_query(
        "INSERT INTO tasks (user_id, title, priority, status, position, completed_at, created_at, updated_at)
         SELECT $1, format('Demo task %s', lpad(n::text, 4, '0')),
                (ARRAY['LOW', 'MEDIUM', 'HIGH'])[1 + n % 3],
                (ARRAY['TODO', 'IN_PROGRESS', 'DONE'])[1 + (n - 1) % 3], (n - 1) / 3,
                CASE WHEN (n - 1) % 3 = 2 THEN $2 END, $2, $2
         FROM generate_series(1, $3) AS n",
    )
    .bind::<BigInt, _>(user_id)
    .bind::<Timestamptz, _>(now)
    .bind::<Integer, _>(count)
    .execute(conn)
    .await?;
    Ok(())
}
