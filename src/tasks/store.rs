//! Task queries. Every write to a user's board takes the board's advisory lock first, so
//! concurrent creates, moves and deletes see whole columns and positions stay dense; the
//! deferred unique constraint lets one transaction shift a column past itself. Where a moved
//! task lands the domain (`tasks::move_task`) decides; the store shifts and places.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};

use super::model::{BoardRow, NewTask, Task, TaskChanges, TaskStatus};
use crate::db::quota;
use crate::db::schema::tasks;
use crate::error::AppError;
use crate::themes::store as theme_store;

/// Any fixed number: the lock's namespace; the user id picks the board within it.
const BOARD_LOCK_CLASS: i32 = 0x7461_736b;
const STATUS_RANK: &str =
    "array_position(ARRAY['TODO', 'IN_PROGRESS', 'DONE']::text[], tasks.status)";
/// The first day PostgreSQL's dates and timestamps hold (4714-11-24 BC); chrono reaches further
/// back, so a forged cursor could name a day the database refuses to compare with.
const EARLIEST_DAY: NaiveDate = NaiveDate::from_ymd_opt(-4713, 11, 24).expect("a valid date");

#[derive(Default)]
pub struct TaskFilter {
    pub status: Option<TaskStatus>,
    pub priority: Option<String>,
    pub theme_id: Option<i64>,
    /// Due strictly before this date; tasks without a due date never match.
    pub due_before: Option<NaiveDate>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskOrder {
    /// Column by column, top to bottom: the board read as a list.
    Board,
    /// Newest first.
    CreatedAt,
    /// Soonest due first, undated last.
    DueOn,
}

/// Where a page ends, per order.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub enum TaskCursor {
    Board {
        rank: i32,
        position: i32,
        id: i64,
    },
    CreatedAt {
        at: DateTime<Utc>,
        id: i64,
    },
    /// `on` is `None` past the last dated task: undated tasks follow every dated one.
    DueOn {
        on: Option<NaiveDate>,
        id: i64,
    },
}

impl TaskCursor {
    pub fn of(order: TaskOrder, task: &Task) -> Self {
        match order {
            TaskOrder::Board => Self::Board {
                rank: TaskStatus::parse(&task.status).rank(),
                position: task.position,
                id: task.id,
            },
            TaskOrder::CreatedAt => Self::CreatedAt {
                at: task.created_at,
                id: task.id,
            },
            TaskOrder::DueOn => Self::DueOn {
                on: task.due_on,
                id: task.id,
            },
        }
    }

    /// Whether the database can compare rows with this cursor's key; a cursor this list gave
    /// out always can.
    fn is_comparable(&self) -> bool {
        match self {
            Self::Board { .. } | Self::DueOn { on: None, .. } => true,
            Self::CreatedAt { at, .. } => at.date_naive() >= EARLIEST_DAY,
            Self::DueOn { on: Some(on), .. } => *on >= EARLIEST_DAY,
        }
    }
}

/// Serializes writes to the user's board until the transaction ends.
pub async fn lock_board(conn: &mut AsyncPgConnection, user_id: i64) -> Result<(), AppError> {
    quota::lock(conn, BOARD_LOCK_CLASS, user_id).await
}

pub async fn find(conn: &mut AsyncPgConnection, user_id: i64, id: i64) -> Result<Task, AppError> {
    tasks::table
        .find(id)
        .filter(tasks::user_id.eq(user_id))
        .select(Task::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("Task", id))
}

/// How many tasks the user's `status` column holds.
pub async fn column_size(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    status: TaskStatus,
) -> Result<i64, AppError> {
    Ok(tasks::table
        .filter(tasks::user_id.eq(user_id))
        .filter(tasks::status.eq(status.as_str()))
        .count()
        .get_result(conn)
        .await?)
}

/// Moves the tasks of a column whose positions lie in `from..=to` by `step` (±1).
pub async fn shift(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    status: TaskStatus,
    from: i32,
    to: i32,
    step: i32,
) -> Result<(), AppError> {
    diesel::update(
        tasks::table
            .filter(tasks::user_id.eq(user_id))
            .filter(tasks::status.eq(status.as_str()))
            .filter(tasks::position.between(from, to)),
    )
    .set(tasks::position.eq(tasks::position + step))
    .execute(conn)
    .await?;
    Ok(())
}

/// Adds a task at the bottom of its column.
pub async fn create(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    new: &NewTask,
    cap: u32,
    now: DateTime<Utc>,
) -> Result<Task, AppError> {
    crate::db::transaction(conn, async |conn| {
        lock_board(conn, user_id).await?;
        let owned = tasks::table
            .filter(tasks::user_id.eq(user_id))
            .count()
            .get_result(conn)
            .await?;
        quota::check("tasks", owned, cap)?;
        if let Some(theme_id) = new.theme_id {
            theme_store::ensure_owned(conn, user_id, theme_id).await?;
        }
        let status = TaskStatus::parse(&new.status);
        let position = i32::try_from(column_size(conn, user_id, status).await?)
            .map_err(|_| AppError::bad_input("status", "That column is full"))?;
        let completed_at = (status == TaskStatus::Done).then_some(now);
        diesel::insert_into(tasks::table)
            .values((
                tasks::user_id.eq(user_id),
                tasks::title.eq(&new.title),
                tasks::description.eq(&new.description),
                tasks::priority.eq(&new.priority),
                tasks::status.eq(status.as_str()),
                tasks::position.eq(position),
                tasks::due_on.eq(new.due_on),
                tasks::theme_id.eq(new.theme_id),
                tasks::completed_at.eq(completed_at),
                tasks::created_at.eq(now),
                tasks::updated_at.eq(now),
            ))
            .returning(Task::as_returning())
            .get_result(conn)
            .await
            .map_err(theme_store::missing_theme)
    })
    .await
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    id: i64,
    changes: &TaskChanges,
    now: DateTime<Utc>,
) -> Result<Task, AppError> {
    if let Some(Some(theme_id)) = changes.theme_id {
        theme_store::ensure_owned(conn, user_id, theme_id).await?;
    }
    if changes.is_empty() {
        return find(conn, user_id, id).await;
    }
    diesel::update(tasks::table.find(id).filter(tasks::user_id.eq(user_id)))
        .set((changes, tasks::updated_at.eq(now)))
        .returning(Task::as_returning())
        .get_result(conn)
        .await
        .optional()
        .map_err(theme_store::missing_theme)?
        .ok_or_else(|| AppError::not_found("Task", id))
}

/// Sets a task's column, place and completion time, once the columns have made room.
pub async fn place(
    conn: &mut AsyncPgConnection,
    id: i64,
    status: TaskStatus,
    position: i32,
    completed_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Task, AppError> {
    Ok(diesel::update(tasks::table.find(id))
        .set((
            tasks::status.eq(status.as_str()),
            tasks::position.eq(position),
            tasks::completed_at.eq(completed_at),
            tasks::updated_at.eq(now),
        ))
        .returning(Task::as_returning())
        .get_result(conn)
        .await?)
}

/// Deletes a task and closes the gap in its column.
pub async fn delete(conn: &mut AsyncPgConnection, user_id: i64, id: i64) -> Result<Task, AppError> {
    crate::db::transaction(conn, async |conn| {
        lock_board(conn, user_id).await?;
        let task: Task = diesel::delete(tasks::table.find(id).filter(tasks::user_id.eq(user_id)))
            .returning(Task::as_returning())
            .get_result(conn)
            .await
            .optional()?
            .ok_or_else(|| AppError::not_found("Task", id))?;
        let status = TaskStatus::parse(&task.status);
        shift(conn, user_id, status, task.position + 1, i32::MAX, -1).await?;
        Ok(task)
    })
    .await
}

/// Deletes the user's whole board; how many tasks there were.
pub async fn delete_all(conn: &mut AsyncPgConnection, user_id: i64) -> Result<usize, AppError> {
    lock_board(conn, user_id).await?;
    Ok(
        diesel::delete(tasks::table.filter(tasks::user_id.eq(user_id)))
            .execute(conn)
            .await?,
    )
}

/// A page of the user's tasks matching `filter` in `order`, and how many match in all.
pub async fn page(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    filter: &TaskFilter,
    order: TaskOrder,
    after: Option<&TaskCursor>,
    limit: i64,
) -> Result<(Vec<Task>, i64), AppError> {
    let matching = || {
        let mut query = tasks::table.filter(tasks::user_id.eq(user_id)).into_boxed();
        if let Some(status) = filter.status {
            query = query.filter(tasks::status.eq(status.as_str()));
        }
        if let Some(priority) = &filter.priority {
            query = query.filter(tasks::priority.eq(priority.clone()));
        }
        if let Some(theme_id) = filter.theme_id {
            query = query.filter(tasks::theme_id.eq(theme_id));
        }
        if let Some(due_before) = filter.due_before {
            query = query.filter(tasks::due_on.lt(due_before));
        }
        query
    };
    let mut query = matching().select(Task::as_select()).limit(limit);
    query = match order {
        TaskOrder::Board => query
            .order(sql::<Integer>(STATUS_RANK))
            .then_order_by(tasks::position)
            .then_order_by(tasks::id),
        TaskOrder::CreatedAt => query.order((tasks::created_at.desc(), tasks::id.desc())),
        TaskOrder::DueOn => query.order((tasks::due_on.asc().nulls_last(), tasks::id)),
    };
    if after.is_some_and(|cursor| !cursor.is_comparable()) {
        return Err(AppError::bad_input(
            "after",
            "Not a cursor this list gave out",
        ));
    }
    query = match (order, after) {
        (_, None) => query,
        (TaskOrder::Board, Some(TaskCursor::Board { rank, position, id })) => query.filter(
            sql::<Bool>(&format!("({STATUS_RANK}, tasks.position, tasks.id) > ("))
                .bind::<Integer, _>(*rank)
                .sql(", ")
                .bind::<Integer, _>(*position)
                .sql(", ")
                .bind::<BigInt, _>(*id)
                .sql(")"),
        ),
        (TaskOrder::CreatedAt, Some(TaskCursor::CreatedAt { at, id })) => query.filter(
            sql::<Bool>("(tasks.created_at, tasks.id) < (")
                .bind::<Timestamptz, _>(*at)
                .sql(", ")
                .bind::<BigInt, _>(*id)
                .sql(")"),
        ),
        // NULLS LAST: after a dated task come later dates, the same date with larger ids, and
        // every undated task; after an undated one only undated ones with larger ids.
        (TaskOrder::DueOn, Some(TaskCursor::DueOn { on: Some(on), id })) => query.filter(
            tasks::due_on
                .gt(*on)
                .or(tasks::due_on.eq(*on).and(tasks::id.gt(*id)))
                .or(tasks::due_on.is_null()),
        ),
        (TaskOrder::DueOn, Some(TaskCursor::DueOn { on: None, id })) => {
            query.filter(tasks::due_on.is_null().and(tasks::id.gt(*id)))
        }
        _ => {
            return Err(AppError::bad_input(
                "after",
                "That cursor belongs to another order",
            ));
        }
    };
    let rows = query.load(conn).await?;
    let total = matching().count().get_result(conn).await?;
    Ok((rows, total))
}

/// The top `per_column` tasks of each column with each column's size, in one statement.
pub async fn board(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    per_column: i64,
) -> Result<Vec<BoardRow>, AppError> {
    Ok(diesel::sql_query(
        "SELECT * FROM (
             SELECT tasks.*,
                    row_number() OVER (PARTITION BY status ORDER BY position) AS place,
                    count(*) OVER (PARTITION BY status) AS column_total
             FROM tasks WHERE user_id = $1
         ) AS columns
         WHERE place <= $2
         ORDER BY position",
    )
    .bind::<BigInt, _>(user_id)
    .bind::<BigInt, _>(per_column)
    .load(conn)
    .await?)
}
