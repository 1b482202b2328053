//! Users: registration, profile, and administrators' management of accounts. The flows here
//! validate, change and audit; `store` only queries `users`.

pub mod graphql;
pub mod loader;
pub mod model;
pub mod rules;
pub mod store;

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use serde_json::json;

use crate::App;
use crate::audit::{Event, action, audited};
use crate::auth::recovery;
use crate::auth::rules::check_new_password;
use crate::db;
use crate::error::AppError;
use crate::ratelimit::Guarded;
use crate::rbac::{self, DEFAULT_ROLE};
use crate::request::RequestInfo;
use crate::webhooks::model::EventType;
use model::{IdentityChanges, NewUser, ProfileChanges, User};
use store::UserFilter;

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

/// Inserts the account made at `now` with the default role, in the caller's transaction.
pub async fn create_with_default_role(
    conn: &mut AsyncPgConnection,
    new_user: &NewUser,
    now: DateTime<Utc>,
) -> Result<User, AppError> {
    let user = store::create_user(conn, new_user, now).await?;
    let role = rbac::store::find_role_by_name(conn, DEFAULT_ROLE).await?;
    rbac::store::assign(conn, user.id, role.id, now).await?;
    Ok(user)
}

/// Someone makes their own account (limited per client address). Does not sign in.
pub async fn register(
    app: &App,
    origin: &RequestInfo,
    fields: AccountFields<'_>,
) -> Result<User, AppError> {
    let address = origin.ip.clone().unwrap_or_default();
    app.limits.check(Guarded::Register, &address).await?;
    let new_user = new_account(app, fields).await?;
    create_audited(app, origin, new_user, None).await
}

/// An administrator makes an account for someone else.
pub async fn create_user(
    app: &App,
    origin: &RequestInfo,
    admin: i64,
    fields: AccountFields<'_>,
) -> Result<User, AppError> {
    let new_user = new_account(app, fields).await?;
    create_audited(app, origin, new_user, Some(admin)).await
}

/// Creates the account, its audit row and its welcome mail in one transaction: `register`
/// when `creator` is `None`, an administrator's `createUser` otherwise.
async fn create_audited(
    app: &App,
    origin: &RequestInfo,
    new_user: NewUser,
    creator: Option<i64>,
) -> Result<User, AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    let user = audited(&mut conn, origin, now, async |conn| {
        let user = create_with_default_role(conn, &new_user, now).await?;
        recovery::welcome(app, conn, &user, now).await?;
        let (event_action, actor) = match creator {
            Some(admin) => (action::USER_CREATE, admin),
            None => (action::REGISTER, user.id),
        };
        let event = Event::new(event_action, Some(actor))
            .target("user", user.id)
            .meta(json!({ "username": user.username }));
        let data = json!({ "user": { "id": user.id.to_string(), "username": user.username } });
        crate::webhooks::queue(conn, EventType::UserRegistered, &data, now).await?;
        Ok((user, event))
    })
    .await?;
    app.outbox_wakeup.notify_one();
    Ok(user)
}

/// Profile fields as typed; `None` keeps one.
#[derive(Default)]
pub struct ProfileEdit<'a> {
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
    pub time_zone: Option<&'a str>,
    /// `HH:MM`, from 00:00 to 12:00.
    pub day_start: Option<&'a str>,
}

/// Changes the user's own names, time zone or day start (validated here); omitted ones stay.
pub async fn update_profile(
    app: &App,
    user_id: i64,
    edit: ProfileEdit<'_>,
) -> Result<User, AppError> {
    let ProfileEdit {
        first_name,
        last_name,
        time_zone,
        day_start,
    } = edit;
    let changes = ProfileChanges {
        first_name: first_name
            .map(|name| rules::person_name("firstName", name))
            .transpose()?,
        last_name: last_name
            .map(|name| rules::person_name("lastName", name))
            .transpose()?,
        time_zone: time_zone.map(rules::time_zone).transpose()?,
        day_start_minutes: day_start.map(rules::day_start).transpose()?,
    };
    let moves_days = changes.time_zone.is_some() || changes.day_start_minutes.is_some();
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    db::transaction(&mut conn, async |conn| {
        let user = store::update_profile(conn, user_id, &changes, now).await?;
        if moves_days {
            // Reminders fire at local times: the reminder job places them in the new days.
            crate::reminders::store::replan_user(conn, user_id, now).await?;
        }
        Ok(user)
    })
    .await
}

/// An account's identity as an administrator asks to change it; omitted fields stay.
pub struct IdentityFields<'a> {
    pub username: Option<&'a str>,
    pub email: Option<&'a str>,
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
}

/// An administrator (`actor`) changes another account's username, email or names.
pub async fn update_user(
    app: &App,
    origin: &RequestInfo,
    (actor, user_id): (i64, i64),
    fields: IdentityFields<'_>,
) -> Result<User, AppError> {
    let changes = IdentityChanges {
        username: fields.username.map(rules::username).transpose()?,
        email: fields.email.map(rules::email).transpose()?,
        first_name: fields
            .first_name
            .map(|name| rules::person_name("firstName", name))
            .transpose()?,
        last_name: fields
            .last_name
            .map(|name| rules::person_name("lastName", name))
            .transpose()?,
    };
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    audited(&mut conn, origin, now, async |conn| {
        let user = store::update_identity(conn, user_id, &changes, now).await?;
        let event = Event::new(action::USER_UPDATE, Some(actor))
            .target("user", user.id)
            .meta(json!({
                "username": changes.username, "email": changes.email,
                "firstName": changes.first_name, "lastName": changes.last_name,
            }));
        Ok((user, event))
    })
    .await
}

/// An administrator (`actor`) activates or deactivates an account. Deactivation ends its
/// sessions (how many is returned) and is refused for the last holder of `roles:manage`.
pub async fn set_user_active(
    app: &App,
    origin: &RequestInfo,
    (actor, user_id): (i64, i64),
    active: bool,
) -> Result<(User, usize), AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    audited(&mut conn, origin, now, async |conn| {
        rbac::store::lock_role_changes(conn).await?;
        let user = store::set_active(conn, user_id, active, now).await?;
        let revoked = if active {
            0
        } else {
            rbac::store::ensure_a_role_manager_remains(conn).await?;
            crate::auth::store::revoke_all_sessions(conn, user_id, None, now).await?
        };
        let event = Event::new(action::USER_SET_ACTIVE, Some(actor))
            .target("user", user.id)
            .meta(json!({ "active": active, "sessionsRevoked": revoked }));
        Ok(((user, revoked), event))
    })
    .await
}

/// One account by id (`NOT_FOUND` if there is none).
pub async fn find(app: &App, user_id: i64) -> Result<User, AppError> {
    let mut conn = db::conn(&app.pool).await?;
    store::find_by_id(&mut conn, user_id).await
}

/// A page of accounts matching `filter`, in id order, and how many match in all.
pub async fn search(
    app: &App,
    filter: &UserFilter,
    (after_id, limit): (Option<i64>, i64),
) -> Result<(Vec<User>, i64), AppError> {
    let mut conn = db::conn(&app.pool).await?;
    store::search_users(&mut conn, filter, after_id, limit).await
}
