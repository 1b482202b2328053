//! The task board API: the `Task` type and thin resolvers over the domain's functions.

use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::model::{BoardColumn, Task, TaskPriority, TaskStatus};
use super::store::{TaskCursor, TaskFilter, TaskOrder};
use super::{TaskDraft, TaskEdit};
use crate::error::AppError;
use crate::graphql::connection::{
    CountedConnection, decode_key, encode_key, keyed_connection, page_size,
};
use crate::graphql::scalars::Date;
use crate::graphql::{ContextExt, Permission, parse_id};
use crate::rbac::perm;
use crate::themes::loader::load_theme;
use crate::themes::model::Theme;

/// Something to do, on the user's board.
#[Object]
impl Task {
    /// The task's id.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// 1–200 characters.
    async fn title(&self) -> &str {
        &self.title
    }
    /// At most 5000 characters.
    async fn description(&self) -> &str {
        &self.description
    }
    /// How important the task is.
    async fn priority(&self) -> TaskPriority {
        TaskPriority::parse(&self.priority)
    }
    /// The column the task is in.
    async fn status(&self) -> TaskStatus {
        TaskStatus::parse(&self.status)
    }
    /// Place in its column, from 0 at the top; positions in a column are 0, 1, 2, ...
    async fn position(&self) -> i32 {
        self.position
    }
    /// The day the task is due; null when it has no due date.
    async fn due_on(&self) -> Option<Date> {
        self.due_on.map(Date::from)
    }
    /// The user's theme the task belongs to; null when it has none.
    async fn theme(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Theme>> {
        load_theme(ctx, self.theme_id).await
    }
    /// When the task entered `DONE`; null outside it.
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.completed_at
    }
    /// When the task was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    /// When the task was last updated or moved (other tasks shifting around it do not count).
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
}

/// Narrows `tasks`; every condition given must hold.
#[derive(InputObject, Default)]
pub struct TasksFilter {
    /// Only tasks in this column.
    pub status: Option<TaskStatus>,
    /// Only tasks of this priority.
    pub priority: Option<TaskPriority>,
    /// Only tasks with this theme.
    pub theme_id: Option<ID>,
    /// Tasks due strictly before this date; undated tasks never match.
    pub due_before: Option<Date>,
}

impl TryFrom<TasksFilter> for TaskFilter {
    type Error = AppError;

    fn try_from(filter: TasksFilter) -> Result<Self, AppError> {
        Ok(Self {
            status: filter.status,
            priority: filter.priority.map(|priority| priority.as_str().to_owned()),
            theme_id: filter
                .theme_id
                .as_ref()
                .map(|id| parse_id("themeId", id))
                .transpose()?,
            due_before: filter
                .due_before
                .map(|date| date.checked("dueBefore"))
                .transpose()?,
        })
    }
}

/// The order of `tasks`.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
pub enum TasksOrderBy {
    /// Column by column (TODO, IN_PROGRESS, DONE), top to bottom.
    #[default]
    Position,
    /// Newest first.
    CreatedAt,
    /// Soonest due first; undated tasks last.
    DueOn,
}

impl From<TasksOrderBy> for TaskOrder {
    fn from(order: TasksOrderBy) -> Self {
        match order {
            TasksOrderBy::Position => Self::Board,
            TasksOrderBy::CreatedAt => Self::CreatedAt,
            TasksOrderBy::DueOn => Self::DueOn,
        }
    }
}

#[derive(Default)]
pub struct TasksQuery;

#[Object]
impl TasksQuery {
    /// The current user's tasks.
    #[graphql(
        guard = "Permission(perm::TASKS_MANAGE)",
        complexity = "crate::graphql::page_cost(first, child_complexity)"
    )]
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions the tasks must meet.")] filter: Option<TasksFilter>,
        #[graphql(default, desc = "The order; `POSITION` when omitted.")] order_by: TasksOrderBy,
        #[graphql(desc = "Page size, 0 to 100; 20 when omitted.")] first: Option<i32>,
        #[graphql(
            desc = "The `endCursor` of the previous page, listed in the same `orderBy`; omit for the first page."
        )]
        after: Option<String>,
    ) -> async_graphql::Result<CountedConnection<Task>> {
        let user_id = ctx.viewer()?.user_id;
        let filter = TaskFilter::try_from(filter.unwrap_or_default())?;
        let size = page_size(first)?;
        let after: Option<TaskCursor> = after.as_deref().map(decode_key).transpose()?;
        let order = TaskOrder::from(order_by);
        let (rows, total) =
            super::page(ctx.app(), user_id, order, after.as_ref(), size + 1, &filter).await?;
        Ok(keyed_connection(
            rows,
            size,
            after.is_some(),
            total,
            |task| encode_key(&TaskCursor::of(order, task)),
            |task| task,
        ))
    }

    /// One of the current user's tasks.
    #[graphql(guard = "Permission(perm::TASKS_MANAGE)")]
    async fn task(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task's id; another user's task is `NOT_FOUND`.")] id: ID,
    ) -> async_graphql::Result<Task> {
        let user_id = ctx.viewer()?.user_id;
        let id = parse_id("id", &id)?;
        Ok(super::find(ctx.app(), user_id, id).await?)
    }

    /// The board: the three columns in order, each with its first tasks from the top.
    #[graphql(
        guard = "Permission(perm::TASKS_MANAGE)",
        complexity = "TaskStatus::ALL.len() * crate::graphql::page_cost(Some(first), child_complexity)"
    )]
    async fn board(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            default = 50,
            desc = "How many tasks to list per column (at most 100)."
        )]
        first: i32,
    ) -> async_graphql::Result<Vec<BoardColumn>> {
        let user_id = ctx.viewer()?.user_id;
        let per_column = page_size(Some(first))?;
        Ok(super::board(ctx.app(), user_id, per_column).await?)
    }
}

/// A new task for `createTask`.
#[derive(InputObject)]
pub struct CreateTaskInput {
    /// 1–200 characters after trimming.
    pub title: String,
    /// At most 5000 characters; line breaks allowed. Empty when omitted.
    #[graphql(default)]
    pub description: String,
    /// `MEDIUM` when omitted.
    #[graphql(default_with = "TaskPriority::Medium")]
    pub priority: TaskPriority,
    /// The column to add the task to, at the bottom.
    #[graphql(default_with = "TaskStatus::Todo")]
    pub status: TaskStatus,
    /// The day the task is due; none when omitted.
    pub due_on: Option<Date>,
    /// One of the user's themes; any other id is `NOT_FOUND`.
    pub theme_id: Option<ID>,
}

/// Changes for `updateTask`; fields left out keep their value.
#[derive(InputObject)]
pub struct UpdateTaskInput {
    /// The task to change.
    pub id: ID,
    /// 1–200 characters after trimming.
    pub title: Option<String>,
    /// At most 5000 characters; line breaks allowed.
    pub description: Option<String>,
    /// A new priority.
    pub priority: Option<TaskPriority>,
    /// Null clears the due date; leaving it out keeps it.
    pub due_on: MaybeUndefined<Date>,
    /// Null removes the theme; leaving it out keeps it.
    pub theme_id: MaybeUndefined<ID>,
}

/// Where `moveTask` puts a task.
#[derive(InputObject)]
pub struct MoveTaskInput {
    /// The task to move.
    pub task_id: ID,
    /// The column to move to (may be the task's own).
    pub status: TaskStatus,
    /// The place in that column, 0 (top) to the number of other tasks in it (bottom).
    pub position: i32,
}

/// Names the task `deleteTask` removes.
#[derive(InputObject)]
pub struct DeleteTaskInput {
    /// The task to delete; another user's task is `NOT_FOUND`.
    pub id: ID,
}

/// The result of a task mutation.
#[derive(SimpleObject)]
pub struct TaskPayload {
    /// The task as it is now (for `deleteTask`, as it was).
    pub task: Task,
}

#[derive(Default)]
pub struct TasksMutation;

#[Object]
impl TasksMutation {
    /// Adds a task at the bottom of its column. A user with as many tasks as allowed (5,000 by
    /// default) gets `CONFLICT` with reason `LIMIT_REACHED`.
    #[graphql(guard = "Permission(perm::TASKS_MANAGE)")]
    async fn create_task(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new task's fields.")] input: CreateTaskInput,
    ) -> async_graphql::Result<TaskPayload> {
        let draft = TaskDraft {
            title: &input.title,
            description: &input.description,
            priority: input.priority,
            status: input.status,
            due_on: input.due_on.map(|date| date.checked("dueOn")).transpose()?,
            theme_id: input
                .theme_id
                .as_ref()
                .map(|id| parse_id("themeId", id))
                .transpose()?,
        };
        let user_id = ctx.viewer()?.user_id;
        let task = super::create(ctx.app(), user_id, draft).await?;
        Ok(TaskPayload { task })
    }

    /// Changes a task's fields; its column and place change only by `moveTask`.
    #[graphql(guard = "Permission(perm::TASKS_MANAGE)")]
    async fn update_task(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task and the fields to change.")] input: UpdateTaskInput,
    ) -> async_graphql::Result<TaskPayload> {
        let id = parse_id("id", &input.id)?;
        let edit = TaskEdit {
            title: input.title.as_deref(),
            description: input.description.as_deref(),
            priority: input.priority,
            due_on: input
                .due_on
                .map_value(|date| date.checked("dueOn"))
                .transpose()?
                .into(),
            theme_id: input
                .theme_id
                .map_value(|id| parse_id("themeId", &id))
                .transpose()?
                .into(),
        };
        let user_id = ctx.viewer()?.user_id;
        let task = super::update(ctx.app(), user_id, id, edit).await?;
        Ok(TaskPayload { task })
    }

    /// Moves a task to a place in a column; the other tasks close up and make room so
    /// positions stay 0, 1, 2, ... Entering `DONE` sets `completedAt`, leaving it clears it.
    #[graphql(guard = "Permission(perm::TASKS_MANAGE)")]
    async fn move_task(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task, its new column and its place there.")] input: MoveTaskInput,
    ) -> async_graphql::Result<TaskPayload> {
        let id = parse_id("taskId", &input.task_id)?;
        let user_id = ctx.viewer()?.user_id;
        let (status, position) = (input.status, input.position);
        let task = super::move_task(ctx.app(), user_id, id, status, position).await?;
        Ok(TaskPayload { task })
    }

    /// Deletes one of the user's tasks (`tasks:manage`); the tasks below it in its column move
    /// up to close the gap.
    #[graphql(guard = "Permission(perm::TASKS_MANAGE)")]
    async fn delete_task(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task to delete.")] input: DeleteTaskInput,
    ) -> async_graphql::Result<TaskPayload> {
        let id = parse_id("id", &input.id)?;
        let user_id = ctx.viewer()?.user_id;
        let task = super::delete(ctx.app(), user_id, id).await?;
        Ok(TaskPayload { task })
    }
}
