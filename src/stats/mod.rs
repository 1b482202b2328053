//! Statistics over a user's habits and tasks, in their local calendar days.

pub mod graphql;
pub mod rules;
pub mod store;
