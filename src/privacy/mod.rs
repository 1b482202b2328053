//! Account deletion (GDPR-style erasure) and the export of one's own data.
//!
//! A deleted account becomes a **tombstone**: its `users` row stays, under the same id, and
//! loses everything personal (username and address become placeholders nobody can register,
//! see [`rules`]; no password, names or zone; inactive; `deleted_at` set). The row is kept
//! rather than deleted because what must outlive the person points at it: ledger rows name
//! their buyer or seller, audit rows their actor and target, and both must keep telling one
//! account's rows from another's (a shared "deleted user" row would merge every deleted
//! account into one, and `SET NULL` would lose who did what). The row also keeps its budget:
//! money is conserved (budgets plus the prices of held items, and budgets against the ledger,
//! stay as they were), so the money a deleted account holds stays counted where the ledger
//! says it is, and nobody can spend it.
//!
//! Everything else of the account goes in the same transaction: sessions with their refresh
//! tokens, API tokens, the second factor, recovery codes and challenges, mailed tokens, mail
//! not yet sent to its address, roles, habits with their completions, tasks and themes. Items
//! it holds go back to the market as sales (`SALE` rows, credited to the tombstone), exactly
//! as if it had sold them. A notice goes to the address it had, queued in that transaction: an
//! outbox row carries its own recipient, so it is delivered after the address is erased.
//! Audit rows stay as written (the log is never edited).

pub mod graphql;
pub mod rules;
pub mod store;

use serde_json::json;

use crate::App;
use crate::accounts::model::User;
use crate::audit::{Event, action, audited};
use crate::auth::mfa;
use crate::auth::recent::Reauth;
use crate::db;
use crate::error::AppError;
use crate::mail::{store as outbox, templates};
use crate::request::RequestInfo;
use crate::webhooks::model::EventType;

/// What a deletion did.
#[derive(Clone, Debug)]
pub struct Deleted {
    /// The tombstone, as left.
    pub user: User,
    pub sessions_ended: usize,
    pub api_tokens_ended: usize,
    pub items_returned: usize,
}

/// The signed-in user deletes their own account, after re-authenticating with their password
/// (and second factor while 2FA is on). Refused with `CONFLICT` `LAST_ADMIN` for the last
/// holder of `roles:manage`.
pub async fn delete_account(
    app: &App,
    origin: &RequestInfo,
    user_id: i64,
    reauth: Reauth<'_>,
) -> Result<Deleted, AppError> {
    reauth.check(app, origin).await?;
    erase(app, origin, user_id, None).await
}

/// An administrator (`admin`) deletes an account: `NOT_FOUND` for an unknown or already
/// deleted one, `CONFLICT` `LAST_ADMIN` when it is the last holder of `roles:manage`.
pub async fn delete_user(
    app: &App,
    origin: &RequestInfo,
    admin: i64,
    user_id: i64,
) -> Result<Deleted, AppError> {
    erase(app, origin, user_id, Some(admin)).await
}

/// The erasure itself, audited as `account.delete` (by the user) or `user.delete` (by `admin`).
/// The account's row is locked first, as a trade locks its trader: a trade of this account
/// either commits before (and its item is returned here) or finds a tombstone and trades
/// nothing. Each deletion of the account's things takes the per-user lock their creation
/// takes (`db::quota`), which refuses a creation that waited for it once the account is gone.
async fn erase(
    app: &App,
    origin: &RequestInfo,
    user_id: i64,
    admin: Option<i64>,
) -> Result<Deleted, AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    let (deleted, returned) = audited(&mut conn, origin, now, async |conn| {
        crate::rbac::store::lock_role_changes(conn).await?;
        let user = crate::accounts::store::lock_live(conn, user_id).await?;
        outbox::drop_unsent_to(conn, &user.email).await?;
        let notice = templates::account_deleted(&user.email, &user.username, admin.is_some());
        outbox::enqueue(conn, &notice, now).await?;
        let held = crate::market::store::held_for_update(conn, user_id).await?;
        let prices: Vec<i64> = held.iter().map(|item| item.price).collect();
        // A trader's budget plus the prices of what they hold is what they started with (a
        // held item's price is fixed), so returning everything cannot overflow.
        let balances = crate::market::rules::credits(user.budget, &prices).ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!(
                "returning held items overflows user {user_id}"
            ))
        })?;
        crate::market::store::return_to_market(conn, user_id, (&held, &balances), now).await?;
        let (sessions_ended, api_tokens_ended) =
            crate::auth::store::delete_all_credentials(conn, user_id).await?;
        mfa::store::remove_all(conn, user_id).await?;
        // The provider accounts are free to sign up again, as the address is.
        crate::oidc::store::delete_identities_of(conn, user_id).await?;
        crate::passkeys::store::delete_all(conn, user_id).await?;
        crate::auth::recovery::store::delete_all(conn, user_id).await?;
        let habits = crate::habits::store::delete_all(conn, user_id).await?;
        let tasks = crate::tasks::store::delete_all(conn, user_id).await?;
        let themes = crate::themes::store::delete_all(conn, user_id).await?;
        let roles = crate::rbac::store::unassign_all(conn, user_id).await?;
        let (username, email) = (
            rules::tombstone_username(user_id),
            rules::tombstone_email(user_id),
        );
        let tombstone =
            crate::accounts::store::erase(conn, user_id, (&username, &email), now).await?;
        crate::rbac::store::ensure_a_role_manager_remains(conn).await?;
        let event = match admin {
            Some(admin) => Event::new(action::USER_DELETE, Some(admin)),
            None => Event::new(action::ACCOUNT_DELETE, Some(user_id)),
        }
        .target("user", user_id)
        .meta(json!({
            "roles": roles,
            "sessionsEnded": sessions_ended,
            "apiTokensEnded": api_tokens_ended,
            "itemsReturned": held.len(),
            "habitsDeleted": habits,
            "tasksDeleted": tasks,
            "themesDeleted": themes,
        }));
        // The id alone: what the account was called is erased, for receivers too.
        let data = json!({ "user": { "id": user_id.to_string() }, "itemsReturned": held.len() });
        crate::webhooks::queue(conn, EventType::UserDeleted, &data, now).await?;
        let deleted = Deleted {
            user: tombstone,
            sessions_ended,
            api_tokens_ended,
            items_returned: held.len(),
        };
        Ok(((deleted, held), event))
    })
    .await?;
    app.outbox_wakeup.notify_one();
    if !returned.is_empty() {
        app.market_events.changed().await;
    }
    Ok(deleted)
}

/// Everything kept about the user, as JSON: profile, roles, sessions and API tokens (without
/// any secret or digest), habits with their completions, tasks, themes, items held, ledger and
/// audit entries. Sections no per-user cap bounds list their newest [`rules::EXPORT_ROWS`].
pub async fn export(app: &App, user_id: i64) -> Result<serde_json::Value, AppError> {
    let mut conn = db::conn(&app.pool).await?;
    store::export(&mut conn, user_id, rules::EXPORT_ROWS, app.clock.now()).await
}
