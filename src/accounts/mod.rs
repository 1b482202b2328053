pub mod graphql;
pub mod model;
pub mod rules;
pub mod store;
