//! A per-user Kanban board: tasks in three columns with dense positions. The functions here
//! are the domain's steps: validate, then change the board through the store under its lock.

pub mod graphql;
pub mod model;
pub mod rules;
pub mod store;

use chrono::NaiveDate;
use model::{BoardColumn, NewTask, Task, TaskChanges, TaskPriority, TaskStatus};
use store::{TaskCursor, TaskFilter, TaskOrder};

use crate::App;
use crate::db;
use crate::error::AppError;

/// Up to `limit` of the user's tasks in `order` after the cursor `after`, matching `filter`,
/// and how many match in all.
pub async fn page(
    app: &App,
    user_id: i64,
    order: TaskOrder,
    after: Option<&TaskCursor>,
    limit: i64,
    filter: &TaskFilter,
) -> Result<(Vec<Task>, i64), AppError> {
    let mut conn = db::conn(&app.pool).await?;
    store::page(&mut conn, user_id, filter, order, after, limit).await
}

pub async fn find(app: &App, user_id: i64, id: i64) -> Result<Task, AppError> {
    let mut conn = db::conn(&app.pool).await?;
    store::find(&mut conn, user_id, id).await
}

/// The board: the three columns in order, each with its first `per_column` tasks from the top.
pub async fn board(app: &App, user_id: i64, per_column: i64) -> Result<Vec<BoardColumn>, AppError> {
    let mut conn = db::conn(&app.pool).await?;
    let rows = store::board(&mut conn, user_id, per_column).await?;
    let mut columns: Vec<BoardColumn> = TaskStatus::ALL
        .into_iter()
        .map(|status| BoardColumn {
            status,
            total_count: 0,
            tasks: Vec::new(),
        })
        .collect();
    for row in rows {
        let column = &mut columns[TaskStatus::parse(&row.task.status).rank() as usize - 1];
        column.total_count = row.column_total;
        column.tasks.push(row.task);
    }
    Ok(columns)
}

/// A new task's fields as typed.
pub struct TaskDraft<'a> {
    pub title: &'a str,
    pub description: &'a str,
    pub priority: TaskPriority,
    pub status: TaskStatus,
    pub due_on: Option<NaiveDate>,
    pub theme_id: Option<i64>,
}

/// Adds a task at the bottom of its column, unless the user has as many as allowed.
pub async fn create(app: &App, user_id: i64, draft: TaskDraft<'_>) -> Result<Task, AppError> {
    let new = NewTask {
        title: rules::title(draft.title)?,
        description: rules::description(draft.description)?,
        priority: draft.priority.as_str().to_owned(),
        status: draft.status.as_str().to_owned(),
        due_on: draft.due_on,
        theme_id: draft.theme_id,
    };
    let cap = app.config.max_tasks_per_user;
    let mut conn = db::conn(&app.pool).await?;
    store::create(&mut conn, user_id, &new, cap, app.clock.now()).await
}

/// Changes of a task as typed; `None` keeps a field, `Some(None)` clears it.
pub struct TaskEdit<'a> {
    pub title: Option<&'a str>,
    pub description: Option<&'a str>,
    pub priority: Option<TaskPriority>,
    pub due_on: Option<Option<NaiveDate>>,
    pub theme_id: Option<Option<i64>>,
}

/// Changes a task's fields; its column and place change only by [`move_task`].
pub async fn update(
    app: &App,
    user_id: i64,
    id: i64,
    edit: TaskEdit<'_>,
) -> Result<Task, AppError> {
    let changes = TaskChanges {
        title: edit.title.map(rules::title).transpose()?,
        description: edit.description.map(rules::description).transpose()?,
        priority: edit.priority.map(|priority| priority.as_str().to_owned()),
        due_on: edit.due_on,
        theme_id: edit.theme_id,
    };
    let mut conn = db::conn(&app.pool).await?;
    store::update(&mut conn, user_id, id, &changes, app.clock.now()).await
}

/// Puts a task at `position` in the `status` column, closing the gap it leaves and opening
/// one where it lands, in one transaction under the board's lock.
pub async fn move_task(
    app: &App,
    user_id: i64,
    id: i64,
    status: TaskStatus,
    position: i32,
) -> Result<Task, AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    db::transaction(&mut conn, async |conn| {
        store::lock_board(conn, user_id).await?;
        let task = store::find(conn, user_id, id).await?;
        let from = TaskStatus::parse(&task.status);
        let others = store::column_size(conn, user_id, status).await? - i64::from(from == status);
        let position = rules::position(position, others)?;
        let old = task.position;
        if from == status {
            if position == old {
                return Ok(task);
            }
            if position > old {
                store::shift(conn, user_id, status, old + 1, position, -1).await?;
            } else {
                store::shift(conn, user_id, status, position, old - 1, 1).await?;
            }
        } else {
            store::shift(conn, user_id, from, old + 1, i32::MAX, -1).await?;
            store::shift(conn, user_id, status, position, i32::MAX - 1, 1).await?;
        }
        let completed_at = rules::completed_at_after_move(from, status, task.completed_at, now);
        store::place(conn, id, status, position, completed_at, now).await
    })
    .await
}

/// Deletes one of the user's tasks; the tasks below it in its column move up.
pub async fn delete(app: &App, user_id: i64, id: i64) -> Result<Task, AppError> {
    let mut conn = db::conn(&app.pool).await?;
    store::delete(&mut conn, user_id, id).await
}
