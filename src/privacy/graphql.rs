//! GraphQL for account deletion and the data export: `deleteAccount`, the administrators'
//! `deleteUser` and `exportMyData`. Resolvers call the flows in `privacy`.

use async_graphql::types::Json;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};

use super::Deleted;
use crate::auth::payload::{RecentProofInput, clear_auth_cookies};
use crate::error::AppError;
use crate::graphql::{ContextExt, Permission, parse_id};
use crate::rbac::perm;
use crate::request::Viewer;

/// Re-authentication for `deleteAccount`: the password, and a second factor when 2FA is on,
/// or nothing within a recent proof.
#[derive(InputObject, Default)]
pub struct DeleteAccountInput {
    #[graphql(flatten)]
    pub proof: RecentProofInput,
}

/// Which account `deleteUser` deletes.
#[derive(InputObject)]
pub struct DeleteUserInput {
    /// The account to delete.
    pub id: ID,
}

/// The result of `deleteAccount` or `deleteUser`.
#[derive(SimpleObject)]
pub struct DeleteAccountPayload {
    /// The deleted account's id. Ledger and audit entries keep naming it; `user(id:)` shows
    /// it with a placeholder username and `deletedAt` set.
    pub deleted_user_id: ID,
    /// Sessions ended (and deleted).
    pub sessions_ended: i32,
    /// API tokens ended (and deleted).
    pub api_tokens_ended: i32,
    /// Items the account held, now back on the market: each was sold back at its price.
    pub items_returned: i32,
}

impl From<Deleted> for DeleteAccountPayload {
    fn from(deleted: Deleted) -> Self {
        let count = |rows: usize| i32::try_from(rows).unwrap_or(i32::MAX);
        Self {
            deleted_user_id: ID(deleted.user.id.to_string()),
            sessions_ended: count(deleted.sessions_ended),
            api_tokens_ended: count(deleted.api_tokens_ended),
            items_returned: count(deleted.items_returned),
        }
    }
}

/// The signed-in user, when they came with a session: an API token, scoped for a script, may
/// neither delete nor export the whole account (`FORBIDDEN`).
fn session_viewer<'a>(ctx: &'a Context<'_>) -> Result<&'a Viewer, AppError> {
    let viewer = ctx.viewer()?;
    if viewer.session_id.is_none() {
        return Err(AppError::SessionRequired);
    }
    Ok(viewer)
}

#[derive(Default)]
pub struct PrivacyQuery;

#[Object]
impl PrivacyQuery {
    /// Everything Agora keeps about the signed-in user, as one JSON document: `profile`,
    /// `roles`, `sessions` and `apiTokens` (never a secret, hash or digest), `habits` (each with
    /// its `completions`, `skips`, `notes`, `reminders`, and a measurable habit's `measure` and
    /// `values`), `tasks`, `themes`, `itemsHeld`, `ledger` and `auditLog`. Habits
    /// (500), tasks (5,000) and themes (100) are listed whole, as their per-user caps bound
    /// them; the other sections, and each habit's completion dates, hold their newest 1,000
    /// entries with a `total`. Needs a session: an API token gets `FORBIDDEN`.
    #[graphql(guard = "Permission(perm::PROFILE_READ)")]
    async fn export_my_data(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Json<serde_json::Value>> {
        let user_id = session_viewer(ctx)?.user_id;
        Ok(Json(super::export(ctx.app(), user_id).await?))
    }
}

#[derive(Default)]
pub struct PrivacyMutation;

#[Object]
impl PrivacyMutation {
    /// Deletes the signed-in user's account, after a recent proof of who they are (the password
    /// and, while 2FA is on, a second factor; or a session that proved its user recently). Personal data is erased and the account can never sign in again:
    /// every session and API token stops working at once, habits, tasks and themes are
    /// deleted, held items go back to the market (sold at their price), and the username and
    /// address are free to register again. Ledger and audit entries stay, naming the deleted
    /// account's id. A notice is mailed to the address the account had. The last holder of
    /// `roles:manage` gets `CONFLICT` with reason `LAST_ADMIN`. Needs a session: an API token
    /// gets `FORBIDDEN`.
    #[graphql(guard = "Permission(perm::PROFILE_UPDATE)")]
    async fn delete_account(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The password, and a second factor when 2FA is on, unless the session proved its user recently.",
            default
        )]
        input: DeleteAccountInput,
    ) -> async_graphql::Result<DeleteAccountPayload> {
        let viewer = session_viewer(ctx)?;
        let reauth = input.proof.reauth(viewer);
        let (app, origin) = (ctx.app(), ctx.request_info());
        let deleted = super::delete_account(app, origin, viewer.user_id, reauth).await?;
        clear_auth_cookies(ctx);
        Ok(deleted.into())
    }

    /// Deletes another account as `deleteAccount` does, without its password (`users:manage`).
    /// An unknown or already deleted account is `NOT_FOUND`; the last holder of `roles:manage`
    /// (the caller included) is `CONFLICT` with reason `LAST_ADMIN`.
    #[graphql(guard = "Permission(perm::USERS_MANAGE)")]
    async fn delete_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account to delete.")] input: DeleteUserInput,
    ) -> async_graphql::Result<DeleteAccountPayload> {
        let user_id = parse_id("id", &input.id)?;
        let admin = ctx.viewer()?.user_id;
        let deleted = super::delete_user(ctx.app(), ctx.request_info(), admin, user_id).await?;
        if user_id == admin {
            clear_auth_cookies(ctx);
        }
        Ok(deleted.into())
    }
}
