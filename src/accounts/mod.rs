pub mod graphql;
pub mod loader;
pub mod model;
pub mod rules;
pub mod store;

use crate::App;
use crate::auth::rules::check_new_password;
use crate::error::AppError;
use model::NewUser;

/// What someone asks for when an account is made.
pub struct AccountFields<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub password: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
}

/// Validates a new account's fields and hashes its password: the one path `register`,
/// `createUser` and `agora admin create-user` share. The budget is the configured default.
pub async fn new_account(app: &App, fields: AccountFields<'_>) -> Result<NewUser, AppError> {
    let username = rules::username(fields.username)?;
    let email = rules::email(fields.email)?;
    let first_name = rules::person_name("firstName", fields.first_name)?;
    let last_name = rules::person_name("lastName", fields.last_name)?;
    let password = check_new_password(fields.password, &[&username, &email])
        .map_err(|problem| AppError::bad_input("password", problem.message()))?;
    Ok(NewUser {
        password_hash: app.passwords.hash(password).await?,
        username,
        email,
        first_name,
        last_name,
        budget: app.config.default_budget,
    })
}
