//! `agora admin ...`: account administration from a shell, for the first administrator and for
//! scripts that have no API token yet. Every change is audited with no actor and `"via": "cli"`.

use std::io::Write;

use anyhow::{Context, anyhow};
use chrono::Weekday;
use serde_json::json;

use crate::App;
use crate::accounts::{AccountFields, new_account};

use crate::accounts::store::{self as accounts, UserFilter};
use crate::audit::{Event, action, store::record};

use crate::db;
use crate::error::AppError;
use crate::habits::model::NewHabit;
use crate::habits::rules::{Plan, Schedule, Span};
use crate::rbac::store as rbac;
use crate::request::RequestInfo;

#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// Create an account. The password is read from standard input (or prompted on a terminal).
    CreateUser {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// Role to give (repeatable); every account also gets `user`.
        #[arg(long = "role")]
        roles: Vec<String>,
        #[arg(long, default_value = "")]
        first_name: String,
        #[arg(long, default_value = "")]
        last_name: String,
    },
    /// Give an existing account a role.
    GrantRole {
        /// Username (any case) or email.
        #[arg(long)]
        user: String,
        #[arg(long)]
        role: String,
    },
    /// Add deterministic demo data: users `demo00001`... (password `agora demo password`) and
    /// items, every second one bought by a demo user through the ordinary purchase path; and for
    /// `demo00001` habits of every kind with two years of completions, and tasks.
    /// Running it again adds only what is missing.
    SeedDemo {
        #[arg(long, default_value_t = 100)]
        users: u32,
        #[arg(long, default_value_t = 1000)]
        items: u32,
        #[arg(long, default_value_t = 0)]
        habits: u32,
        #[arg(long, default_value_t = 0)]
        tasks: u32,
    },
    /// List accounts with their roles, one per line, tab-separated.
    ListUsers {
        /// Part of a username, email or name.
        #[arg(long)]
        search: Option<String>,
    },
}

/// Runs `command`, writing what it did to `out`. `read_password` is asked only when needed.
pub async fn run(
    app: &App,
    command: AdminCommand,
    read_password: impl FnOnce() -> std::io::Result<String>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let origin = RequestInfo {
        user_agent: Some("agora admin".to_owned()),
        ..RequestInfo::default()
    };
    let mut conn = db::conn(&app.pool).await.map_err(explain)?;
    match command {
        AdminCommand::CreateUser {
            username,
            email,
            roles,
            first_name,
            last_name,
        } => {
            let password = read_password().context("reading the password")?;
            let fields = AccountFields {
                username: &username,
                email: &email,
                password: password.trim_end_matches(['\r', '\n']),
                first_name: &first_name,
                last_name: &last_name,
            };
            let new_user = new_account(app, fields).await.map_err(explain)?;
            let user = crate::db::transaction(&mut conn, async |conn| {
                let user = crate::accounts::create_with_default_role(conn, &new_user).await?;
                for role in &roles {
                    let role = rbac::find_role_by_name(conn, role).await?;
                    rbac::assign(conn, user.id, role.id).await?;
                }
                let event = Event::new(action::USER_CREATE, None)
                    .target("user", user.id)
                    .meta(json!({ "username": user.username, "roles": roles, "via": "cli" }));
                record(conn, &origin, event).await?;
                Ok(user)
            })
            .await
            .map_err(explain)?;
            writeln!(out, "created user {} (id {})", user.username, user.id)?;
        }
        AdminCommand::GrantRole { user, role } => {
            let changed = crate::db::transaction(&mut conn, async |conn| {
                let (found, _) =
                    accounts::find_for_login(conn, &crate::text::fold_identifier(&user))
                        .await?
                        .ok_or(AppError::NotFound("User"))?;
                let role = rbac::find_role_by_name(conn, &role).await?;
                let changed = rbac::assign(conn, found.id, role.id).await?;
                if changed {
                    let event = Event::new(action::ROLE_ASSIGN, None)
                        .target("user", found.id)
                        .meta(json!({ "role": role.name, "via": "cli" }));
                    record(conn, &origin, event).await?;
                }
                Ok(changed)
            })
            .await
            .map_err(explain)?;
            let outcome = if changed { "granted" } else { "already had" };
            writeln!(out, "{user}: {outcome} role {role}")?;
        }
        AdminCommand::SeedDemo {
            users,
            items,
            habits,
            tasks,
        } => {
            let password_hash = app
                .passwords
                .hash(DEMO_PASSWORD.to_owned())
                .await
                .map_err(explain)?;
            let seeded = seed_demo(
                &mut conn,
                &origin,
                users,
                items,
                &password_hash,
                app.config.default_budget,
                app.clock.now(),
            )
            .await
            .map_err(explain)?;
            let planner = seed_planner(&mut conn, habits, tasks, &app.config, app.clock.now())
                .await
                .map_err(explain)?;
            writeln!(
                out,
                "demo data: {users} users, {items} items, {seeded} held by users, \
                 demo00001 has {} habits with {} completions and {} tasks (password: {DEMO_PASSWORD:?})",
                planner.habits, planner.completions, planner.tasks
            )?;
        }
        AdminCommand::ListUsers { search } => {
            let filter = UserFilter {
                search,
                ..UserFilter::default()
            };
            let mut after = None;
            loop {
                let (users, _) = accounts::search_users(&mut conn, &filter, after, 500)
                    .await
                    .map_err(explain)?;
                let Some(last) = users.last() else { break };
                after = Some(last.id);
                let ids: Vec<i64> = users.iter().map(|user| user.id).collect();
                let roles = rbac::roles_of_users(&mut conn, &ids)
                    .await
                    .map_err(explain)?;
                for user in &users {
                    let names: Vec<&str> = roles
                        .iter()
                        .filter(|(user_id, _)| *user_id == user.id)
                        .map(|(_, role)| role.name.as_str())
                        .collect();
                    let state = if user.is_active { "active" } else { "inactive" };
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{state}\t{}",
                        user.id,
                        user.username,
                        user.email,
                        names.join(",")
                    )?;
                }
            }
        }
    }
    Ok(())
}

pub const DEMO_PASSWORD: &str = "agora demo password";

/// Inserts what is missing of the demo data and returns how many demo items users hold. The
/// demo purchases are ordinary ones, audited with the buyer as actor and `origin`'s user agent.
async fn seed_demo(
    conn: &mut diesel_async::AsyncPgConnection,
    origin: &RequestInfo,
    users: u32,
    items: u32,
    password_hash: &str,
    budget: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<i64, AppError> {
    use diesel::sql_types::{BigInt, Integer, Text};
    use diesel_async::RunQueryDsl;
    diesel::sql_query(
        "INSERT INTO users (username, email, password_hash, first_name, last_name, budget)
         SELECT format('demo%s', lpad(n::text, 5, '0')), format('demo%s@example.com', lpad(n::text, 5, '0')),
                $1, 'Demo', format('User %s', n), $2
         FROM generate_series(1, $3) AS n
         ON CONFLICT DO NOTHING",
    )
    .bind::<Text, _>(password_hash)
    .bind::<BigInt, _>(budget)
    .bind::<Integer, _>(i32::try_from(users).unwrap_or(i32::MAX))
    .execute(conn)
    .await?;
    diesel::sql_query(
        "INSERT INTO user_roles (user_id, role_id)
         SELECT u.id, r.id FROM users u CROSS JOIN roles r
         WHERE u.username LIKE 'demo%' AND r.name = 'user'
         ON CONFLICT DO NOTHING",
    )
    .execute(conn)
    .await?;
    // Prices 1..150 keep five held items per user within the default budget.
    diesel::sql_query(
        "INSERT INTO items (name, price, barcode, description)
         SELECT format('Demo item %s', lpad(n::text, 6, '0')), 1 + (n * 37) % 150,
                lpad((900000000000 + n)::text, 12, '0'), format('Demo item number %s', n)
         FROM generate_series(1, $1) AS n
         ON CONFLICT DO NOTHING",
    )
    .bind::<Integer, _>(i32::try_from(items).unwrap_or(i32::MAX))
    .execute(conn)
    .await?;
    #[derive(diesel::QueryableByName)]
    struct Pending {
        #[diesel(sql_type = BigInt)]
        item_id: i64,
        #[diesel(sql_type = BigInt)]
        buyer_id: i64,
    }
    // Every second demo item goes to demo user number (n / 2) mod users, bought the ordinary way
    // so budgets and the ledger agree.
    let pending: Vec<Pending> = diesel::sql_query(
        "SELECT i.id AS item_id, u.id AS buyer_id
         FROM items i
         JOIN LATERAL (SELECT substring(i.name from 11)::int AS n) number ON TRUE
         JOIN users u ON u.username = format('demo%s', lpad((1 + (number.n / 2) % $1)::text, 5, '0'))
         WHERE i.name LIKE 'Demo item %' AND number.n % 2 = 0 AND i.owner_id IS NULL
         ORDER BY i.id",
    )
    .bind::<Integer, _>(i32::try_from(users.max(1)).unwrap_or(i32::MAX))
    .load(conn)
    .await?;
    for Pending { item_id, buyer_id } in pending {
        match crate::market::buy(conn, origin, buyer_id, item_id, None, now).await {
            Ok(_) | Err(AppError::Conflict { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    #[derive(diesel::QueryableByName)]
    struct Held {
        #[diesel(sql_type = BigInt)]
        held: i64,
    }
    Ok(diesel::sql_query(
        "SELECT count(*) AS held FROM items WHERE name LIKE 'Demo item %' AND owner_id IS NOT NULL",
    )
    .get_result::<Held>(conn)
    .await?
    .held)
}

struct PlannerSeeded {
    habits: i64,
    completions: i64,
    tasks: i64,
}

/// Gives `demo00001` (who must exist) `habits` habits cycling through every kind, begun two years
/// ago and completed on four of every five scheduled days, and `tasks` tasks spread over the
/// board's columns. Habits are added up to the number asked; tasks only to an empty board.
async fn seed_planner(
    conn: &mut diesel_async::AsyncPgConnection,
    habits: u32,
    tasks: u32,
    config: &crate::config::Config,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<PlannerSeeded, AppError> {
    use crate::db::schema::{habit_completions, habits as habit_rows, tasks as task_rows, users};
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;

    let (user_id, time_zone): (i64, String) = users::table
        .filter(users::username.eq("demo00001"))
        .select((users::id, users::time_zone))
        .first(conn)
        .await?;
    let today = now
        .with_timezone(&time_zone.parse::<chrono_tz::Tz>().unwrap_or(chrono_tz::UTC))
        .date_naive();
    let starts_on = today - chrono::Days::new(730);
    let existing: i64 = habit_rows::table
        .filter(habit_rows::user_id.eq(user_id))
        .count()
        .get_result(conn)
        .await?;
    for n in existing..i64::from(habits) {
        let schedule = demo_schedule(n)?;
        let new = NewHabit {
            name: format!("Demo habit {:03}", n + 1),
            description: String::new(),
            theme_id: None,
            schedule: schedule.clone(),
            starts_on,
            ends_on: None,
        };
        let cap = config.max_habits_per_user;
        let habit = crate::habits::store::create(conn, user_id, &new, cap, now).await?;
        let plan = Plan {
            schedule,
            span: Span {
                starts_on,
                ends_on: None,
                archived_on: None,
            },
        };
        let done: Vec<_> = plan
            .scheduled_between(starts_on, today)
            .enumerate()
            .filter(|(index, _)| !(index + n as usize).is_multiple_of(5))
            .map(|(_, day)| {
                (
                    habit_completions::habit_id.eq(habit.id),
                    habit_completions::completed_on.eq(day),
                )
            })
            .collect();
        for chunk in done.chunks(10_000) {
            diesel::insert_into(habit_completions::table)
                .values(chunk)
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
        }
    }
    let has_tasks: i64 = task_rows::table
        .filter(task_rows::user_id.eq(user_id))
        .count()
        .get_result(conn)
        .await?;
    if has_tasks == 0 && tasks > 0 {
        // Columns TODO, IN_PROGRESS, DONE in turn; positions dense within each column.
        diesel::sql_query(
            "INSERT INTO tasks (user_id, title, priority, status, position, completed_at)
             SELECT $1, format('Demo task %s', lpad(n::text, 4, '0')),
                    (ARRAY['LOW', 'MEDIUM', 'HIGH'])[1 + n % 3],
                    (ARRAY['TODO', 'IN_PROGRESS', 'DONE'])[1 + (n - 1) % 3], (n - 1) / 3,
                    CASE WHEN (n - 1) % 3 = 2 THEN $2 END
             FROM generate_series(1, $3) AS n",
        )
        .bind::<diesel::sql_types::BigInt, _>(user_id)
        .bind::<diesel::sql_types::Timestamptz, _>(now)
        .bind::<diesel::sql_types::Integer, _>(i32::try_from(tasks).unwrap_or(i32::MAX))
        .execute(conn)
        .await?;
    }
    let completions = habit_completions::table
        .inner_join(habit_rows::table)
        .filter(habit_rows::user_id.eq(user_id))
        .count()
        .get_result(conn)
        .await?;
    Ok(PlannerSeeded {
        habits: existing.max(i64::from(habits)),
        completions,
        tasks: if has_tasks == 0 {
            i64::from(tasks)
        } else {
            has_tasks
        },
    })
}

/// Demo habit `n`'s schedule: the five kinds in turn, with parameters varying along the list.
fn demo_schedule(n: i64) -> Result<Schedule, AppError> {
    let spread = i32::try_from(n / 5).unwrap_or(0);
    match n % 5 {
        0 => Ok(Schedule::Daily),
        1 => {
            let first = Weekday::try_from((spread % 7) as u8).unwrap_or(Weekday::Mon);
            Schedule::weekly(&[first, first.succ().succ().succ()])
        }
        2 => Schedule::monthly(1 + spread % 31),
        3 => Schedule::yearly(1 + spread % 12, 1 + spread % 28),
        _ => Schedule::interval(1 + spread % 3, 1 + spread % 4),
    }
}

fn explain(error: AppError) -> anyhow::Error {
    match error {
        AppError::Internal(detail) => detail,
        other => anyhow!(other.message()),
    }
}
