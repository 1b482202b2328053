//! Authentication and the sign-in flows: passwords, access and refresh tokens, sessions, API
//! tokens, the second factor (`mfa`) and mailed links (`recovery`). The flows are plain
//! functions (`sign_in`, `session`, `credentials`, `api_tokens`) that resolvers call.

pub mod api_tokens;
pub mod authenticate;
pub mod cookies;
pub mod credentials;
pub mod graphql;
pub mod mfa;
pub mod model;
pub mod passwords;
pub mod payload;
pub mod recent;
pub mod recovery;
pub mod rules;
pub mod session;
pub mod sign_in;
pub mod store;
pub mod tokens;
