pub mod cookies;
pub mod graphql;
pub mod mfa;
pub mod model;
pub mod passwords;
pub mod rules;
pub mod store;
pub mod tokens;
