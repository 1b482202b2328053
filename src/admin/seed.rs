//! Deterministic demo data for `agora admin seed-demo`: users and items, purchases made the
//! ordinary way, and a planner (habits with two years of completions, tasks) for `demo00001`.

use chrono::{DateTime, Utc, Weekday};

use super::store;
use crate::config::Config;
use crate::error::AppError;
use crate::habits::model::NewHabit;
use crate::habits::rules::{Plan, Schedule, Span};
use crate::request::RequestInfo;

/// Inserts what is missing of the demo data and returns how many demo items users hold. The
/// demo purchases are ordinary ones, audited with the buyer as actor and `origin`'s user agent.
pub async fn seed_demo(
    conn: &mut diesel_async::AsyncPgConnection,
    origin: &RequestInfo,
    users: u32,
    items: u32,
    password_hash: &str,
    budget: i64,
    now: DateTime<Utc>,
) -> Result<i64, AppError> {
    let users = i32::try_from(users).unwrap_or(i32::MAX);
    let items = i32::try_from(items).unwrap_or(i32::MAX);
    store::insert_demo_users_and_items(conn, users, items, password_hash, budget, now).await?;
    // Bought the ordinary way so budgets and the ledger agree.
    for pending in store::pending_demo_purchases(conn, users.max(1)).await? {
        let (buyer, item) = (pending.buyer_id, pending.item_id);
        match crate::market::buy(conn, origin, buyer, item, None, now).await {
            Ok(_) | Err(AppError::Conflict { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    store::held_demo_items(conn).await
}

pub struct PlannerSeeded {
    pub habits: i64,
    pub completions: i64,
    pub tasks: i64,
}

/// Gives `demo00001` (who must exist) `habits` habits cycling through every kind, begun two years
/// ago and completed on four of every five scheduled days, and `tasks` tasks spread over the
/// board's columns. Habits are added up to the number asked; tasks only to an empty board.
pub async fn seed_planner(
    conn: &mut diesel_async::AsyncPgConnection,
    habits: u32,
    tasks: u32,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<PlannerSeeded, AppError> {
    let (user_id, time_zone) = store::user_and_time_zone(conn, "demo00001").await?;
    let today = now
        .with_timezone(&time_zone.parse::<chrono_tz::Tz>().unwrap_or(chrono_tz::UTC))
        .date_naive();
    let starts_on = today - chrono::Days::new(730);
    let existing = store::count_habits(conn, user_id).await?;
    for n in existing..i64::from(habits) {
        let schedule = demo_schedule(n)?;
        let new = NewHabit {
            name: format!("Demo habit {:03}", n + 1),
            description: String::new(),
            theme_id: None,
            schedule: schedule.clone(),
            starts_on,
            ends_on: None,
            skips_per_month: None,
            measure: None,
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
            .map(|(_, day)| day)
            .collect();
        store::insert_completions(conn, habit.id, &done, now).await?;
    }
    let has_tasks = store::count_tasks(conn, user_id).await?;
    if has_tasks == 0 && tasks > 0 {
        let count = i32::try_from(tasks).unwrap_or(i32::MAX);
        store::insert_demo_tasks(conn, user_id, count, now).await?;
    }
    Ok(PlannerSeeded {
        habits: existing.max(i64::from(habits)),
        completions: store::count_completions(conn, user_id).await?,
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
