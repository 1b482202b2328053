//! A per-user Kanban board: tasks in three columns with dense positions.

pub mod graphql;
pub mod model;
pub mod rules;
pub mod store;
