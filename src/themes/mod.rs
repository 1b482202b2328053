//! Themes: a user's named colours that group tasks and habits.

pub mod graphql;
pub mod model;
pub mod rules;
pub mod store;
