//! Sign-in with OpenID Connect providers (Google, Microsoft, GitLab, Keycloak, … each is
//! configuration): begin at a provider, come back with a code, and sign in, make an account,
//! or link the identity to the signed-in user. An identity whose verified address belongs to
//! an existing account is never linked on its own: the account's owner proves the account
//! first (`confirm_link`). Every link, unlink and provider sign-in is audited and mailed.

pub mod fetch;
pub mod graphql;
pub mod loader;
pub mod model;
pub mod providers;
pub mod rules;
pub mod store;

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use serde_json::json;
use url::Url;

use crate::App;
use crate::accounts::model::{NewUser, User};
use crate::accounts::{self, rules as account_rules, store as users};
use crate::audit::{Event, action, audited, store::record};
use crate::auth::mfa::{self, Challenge, Proof};
use crate::auth::recent::{self, Reauthenticated};
use crate::auth::recovery;
use crate::auth::sign_in::{Proved, SignedIn, open_session};
use crate::auth::tokens::{digest, random_secret};
use crate::db;
use crate::error::{AppError, reason};
use crate::mail::security_notice;
use crate::ratelimit::Guarded;
use crate::request::{RequestInfo, Viewer};
use model::{Identity, NewFlow, identity_in_use};
use providers::{ProviderConfig, Verified};

/// What starts a sign-in or a link.
pub struct Begin<'a> {
    pub provider: &'a str,
    /// Where the browser goes at the end; refused values mean `/` (and an audit row).
    pub return_to: Option<&'a str>,
    /// A page of the front end that takes the code (`completeOidcSignIn`); by default Agora's
    /// own callback route.
    pub redirect_uri: Option<&'a str>,
    /// The signed-in user adding this provider, for a link.
    pub link_user: Option<i64>,
    /// The session this flow proves its user again for (with the name of the second factor
    /// checked as it began, while 2FA is on), instead of linking.
    pub reauth: Option<(i64, Option<&'static str>)>,
    /// The binding cookie the browser already has, if any.
    pub browser: Option<&'a str>,
}

pub struct Begun {
    pub authorization_url: String,
    pub expires_at: DateTime<Utc>,
    /// The binding cookie to set, when the browser had none.
    pub new_browser: Option<String>,
}

/// The front end's base, and the further origins trusted to be sent back to (the CORS list).
fn front_ends(app: &App) -> Result<(Url, Vec<Url>), AppError> {
    let front = Url::parse(&app.config.links_base())
        .map_err(|error| AppError::Internal(anyhow::anyhow!("front-end URL: {error}")))?;
    let allowed = app
        .config
        .cors_origins()
        .filter_map(|origin| Url::parse(origin).ok())
        .collect();
    Ok((front, allowed))
}

/// Agora's own callback for `provider`.
pub fn callback_uri(app: &App, provider: &str) -> String {
    format!(
        "{}/auth/oidc/{provider}/callback",
        app.config.own_url().trim_end_matches('/')
    )
}

pub async fn begin(app: &App, origin: &RequestInfo, request: Begin<'_>) -> Result<Begun, AppError> {
    let provider = app.oidc.get(request.provider)?;
    let now = app.clock.now();
    let (front, allowed) = front_ends(app)?;
    let raw_return = request.return_to.unwrap_or("");
    let return_to = match rules::return_to(raw_return, &front, &allowed) {
        Some(url) => url,
        None => {
            let event = Event::new(action::RETURN_TO_REFUSED, request.link_user)
                .meta(json!({ "returnTo": raw_return.chars().take(300).collect::<String>() }));
            let mut conn = db::conn(&app.pool).await?;
            record(&mut conn, origin, event, now).await?;
            front
                .join("/")
                .map_err(|error| AppError::Internal(error.into()))?
        }
    };
    let redirect_uri = match request.redirect_uri {
        None => callback_uri(app, &provider.id),
        Some(raw) => rules::return_to(raw, &front, &allowed)
            .filter(|_| raw.contains("://"))
            .map(String::from)
            .ok_or_else(|| {
                AppError::bad_input(
                    "redirectUri",
                    "redirectUri must be an absolute URL of the front end",
                )
            })?,
    };
    let (browser, new_browser) = match request.browser.filter(|value| value.len() == 43) {
        Some(existing) => (existing.to_owned(), None),
        None => {
            let fresh = random_secret();
            (fresh.clone(), Some(fresh))
        }
    };
    let state = random_secret();
    let nonce = random_secret();
    let authorization = app
        .oidc
        .authorization(provider, &redirect_uri, (&state, &nonce), now)
        .await?;
    let expires_at = now + rules::FLOW_LIFETIME;
    let mut conn = db::conn(&app.pool).await?;
    store::insert_flow(
        &mut conn,
        &NewFlow {
            state_hash: &digest(&state),
            browser_hash: &digest(&browser),
            provider: &provider.id,
            nonce: &nonce,
            pkce_verifier: &authorization.pkce_verifier,
            redirect_uri: &redirect_uri,
            return_to: return_to.as_str(),
            link_user_id: request.link_user,
            reauth_session_id: request.reauth.map(|(session, _)| session),
            reauth_second_factor: request.reauth.and_then(|(_, second)| second),
            created_at: now,
            expires_at,
        },
    )
    .await?;
    Ok(Begun {
        authorization_url: authorization.url,
        expires_at,
        new_browser,
    })
}

/// Where a finished flow leads.
pub enum Outcome {
    SignedIn(Box<SignedIn>),
    /// 2FA is on: the same challenge a password sign-in gets.
    Challenge(Challenge),
    /// The address is an existing account's: its owner must prove it (`confirm_link`).
    LinkRequired {
        link_token: String,
        provider: String,
        expires_at: DateTime<Utc>,
    },
    /// The signed-in user who began a link now has this identity.
    Linked(Identity),
    /// The signed-in user who began a re-authentication proved themself again.
    Reauthenticated(Reauthenticated),
}

/// A flow found and spent, with what came of it: the browser goes to `return_to` either way.
pub struct Finished {
    pub return_to: String,
    pub outcome: Result<Outcome, AppError>,
}

/// The provider came back with `code` for the flow `state` names, in the browser `browser`.
/// `BAD_USER_INPUT` on `state` when no live flow of this browser has it (unknown, replayed,
/// expired, or begun elsewhere); `expected_provider` guards the callback route's path.
pub async fn complete(
    app: &App,
    origin: &RequestInfo,
    (code, state): (&str, &str),
    browser: Option<&str>,
    expected_provider: Option<&str>,
) -> Result<Finished, AppError> {
    let now = app.clock.now();
    let browser_hash = digest(browser.unwrap_or_default());
    let mut conn = db::conn(&app.pool).await?;
    let flow = store::take_flow(&mut conn, (&digest(state), &browser_hash), now)
        .await?
        .filter(|flow| expected_provider.is_none_or(|id| id == flow.provider))
        .ok_or_else(|| {
            AppError::bad_input(
                "state",
                "This sign-in is unknown, used or expired, or began in another browser; start again",
            )
        })?;
    drop(conn);
    let outcome = async {
        let provider = app.oidc.get(&flow.provider)?;
        let verified = app
            .oidc
            .redeem(
                provider,
                (&flow.redirect_uri, &flow.pkce_verifier, &flow.nonce),
                code,
                now,
            )
            .await;
        let verified = match verified {
            Ok(verified) => verified,
            Err(error) => {
                if let AppError::Rejected(why) = &error {
                    let event = Event::new(action::OIDC_REJECTED, flow.link_user_id)
                        .meta(json!({ "provider": provider.id, "reason": why }));
                    let mut conn = db::conn(&app.pool).await?;
                    record(&mut conn, origin, event, now).await?;
                }
                return Err(error);
            }
        };
        match (flow.link_user_id, flow.reauth_session_id) {
            (Some(user_id), Some(session_id)) => {
                let second = flow.reauth_second_factor;
                let proving = (user_id, session_id, second);
                reauthenticate_with(app, origin, proving, provider, &verified).await
            }
            (Some(user_id), None) => {
                link_signed_in(app, origin, user_id, provider, &verified).await
            }
            (None, _) => sign_in(app, origin, provider, &verified, &browser_hash).await,
        }
    }
    .await;
    Ok(Finished {
        return_to: flow.return_to,
        outcome,
    })
}

async fn sign_in(
    app: &App,
    origin: &RequestInfo,
    provider: &ProviderConfig,
    verified: &Verified,
    browser_hash: &[u8],
) -> Result<Outcome, AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    let identity = store::find_identity(&mut conn, &provider.id, &verified.subject).await?;
    let user_id = match identity {
        Some(identity) => {
            let user = users::find_by_id(&mut conn, identity.user_id).await?;
            if !user.is_active {
                let event = Event::new(action::LOGIN_FAILED, None)
                    .target("user", user.id)
                    .meta(json!({ "provider": provider.id }));
                record(&mut conn, origin, event, now).await?;
                return Err(AppError::InvalidCredentials);
            }
            store::touch_identity(&mut conn, identity.id, now).await?;
            user.id
        }
        None => {
            let email = verified
                .email
                .as_deref()
                .and_then(|email| account_rules::email(email).ok());
            let Some(email) = email else {
                return Err(AppError::Rejected(
                    format!(
                        "{} did not share a usable email address; allow Agora to see it and try again",
                        provider.display_name
                    )
                    .into(),
                ));
            };
            if let Some(owner) = users::find_by_email(&mut conn, &email).await? {
                if !verified.email_verified {
                    return Err(AppError::Conflict {
                        reason: reason::TAKEN,
                        field: Some("email"),
                        message: format!(
                            "An account already uses {email}, and {} has not verified it: sign in to that account and link {} from its settings",
                            provider.display_name, provider.display_name
                        ),
                    });
                }
                return pending_link(
                    app,
                    origin,
                    &mut conn,
                    owner,
                    provider,
                    verified,
                    browser_hash,
                )
                .await;
            }
            drop(conn);
            // Accounts made this way count against the client's sign-up budget, as `register`.
            let address = origin.ip.clone().unwrap_or_default();
            app.limits.check(Guarded::Register, &address).await?;
            create_account(app, origin, provider, verified, email)
                .await?
                .id
        }
    };
    let first_factor = format!("oidc:{}", provider.id);
    if let Some(challenge) = mfa::challenge_if_enabled(app, user_id, &first_factor).await? {
        return Ok(Outcome::Challenge(challenge));
    }
    let how = Proved::by([first_factor]).with("provider", provider.id.as_str());
    let signed_in = open_session(app, origin, user_id, how).await?;
    let mut conn = db::conn(&app.pool).await?;
    security_notice(
        app,
        &mut conn,
        user_id,
        "oidc_sign_in",
        &format!("You signed in with {}", provider.display_name),
    )
    .await?;
    Ok(Outcome::SignedIn(Box::new(signed_in)))
}

#[allow(clippy::too_many_arguments)]
async fn pending_link(
    app: &App,
    origin: &RequestInfo,
    conn: &mut AsyncPgConnection,
    owner: User,
    provider: &ProviderConfig,
    verified: &Verified,
    browser_hash: &[u8],
) -> Result<Outcome, AppError> {
    let now = app.clock.now();
    let link_token = random_secret();
    let expires_at = now + rules::FLOW_LIFETIME;
    audited(conn, origin, now, async |conn| {
        store::insert_pending_link(
            conn,
            (&digest(&link_token), browser_hash),
            owner.id,
            (&provider.id, &verified.subject, verified.email.as_deref()),
            (now, expires_at),
        )
        .await?;
        let event = Event::new(action::IDENTITY_LINK_PENDING, None)
            .target("user", owner.id)
            .meta(json!({ "provider": provider.id }));
        Ok(((), event))
    })
    .await?;
    Ok(Outcome::LinkRequired {
        link_token,
        provider: provider.id.clone(),
        expires_at,
    })
}

/// A first sign-in with an identity nobody has: a new account, without a password, whose
/// address counts as verified only when the provider says so.
async fn create_account(
    app: &App,
    origin: &RequestInfo,
    provider: &ProviderConfig,
    verified: &Verified,
    email: String,
) -> Result<User, AppError> {
    let base = rules::username_base(
        verified.preferred_username.as_deref(),
        Some(&email),
        verified.name.as_deref(),
    );
    let name = |raw: &Option<String>, field| {
        raw.as_deref()
            .and_then(|raw| account_rules::person_name(field, raw).ok())
            .unwrap_or_default()
    };
    let first_name = name(&verified.given_name, "firstName");
    let last_name = name(&verified.family_name, "lastName");
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    let mut attempt = 1;
    loop {
        let new_user = NewUser {
            username: rules::username_candidate(&base, attempt),
            email: email.clone(),
            password_hash: String::new(),
            first_name: first_name.clone(),
            last_name: last_name.clone(),
            budget: app.config.default_budget,
        };
        let created = audited(&mut conn, origin, now, async |conn| {
            let user = accounts::create_with_default_role(conn, &new_user, now).await?;
            if verified.email_verified {
                users::mark_email_verified(conn, user.id, &user.email, now).await?;
            } else {
                recovery::welcome(app, conn, &user, now).await?;
            }
            store::link(
                conn,
                user.id,
                (&provider.id, &verified.subject, Some(&email)),
                now,
            )
            .await?;
            let event = Event::new(action::REGISTER, Some(user.id))
                .target("user", user.id)
                .meta(json!({ "username": user.username, "provider": provider.id }));
            Ok((user, event))
        })
        .await;
        match created {
            // Another account has this name (or took it meanwhile): the next candidate.
            Err(AppError::Conflict {
                field: Some("username"),
                ..
            }) if attempt < 50 => attempt += 1,
            other => return other,
        }
    }
}

/// Begins proving the signed-in viewer again with one of their linked providers, for
/// `reauthenticate`'s window: while 2FA is on, the second factor (`code` or `recoveryCode`)
/// comes now and the provider's answer completes the proof.
pub async fn begin_reauthentication(
    app: &App,
    origin: &RequestInfo,
    viewer: &Viewer,
    request: Begin<'_>,
    second_factor: (Option<String>, Option<String>),
) -> Result<Begun, AppError> {
    let session_id = viewer.session_id.ok_or(AppError::SessionRequired)?;
    let provider = app.oidc.get(request.provider)?;
    let mut conn = db::conn(&app.pool).await?;
    let linked = store::identities_of_users(&mut conn, &[viewer.user_id])
        .await?
        .into_iter()
        .any(|identity| identity.provider == provider.id);
    drop(conn);
    if !linked {
        return Err(AppError::bad_input(
            "provider",
            format!("{} is not linked to your account", provider.display_name),
        ));
    }
    let second = mfa::second_factor_if_enabled(app, origin, viewer.user_id, second_factor).await?;
    let request = Begin {
        link_user: Some(viewer.user_id),
        reauth: Some((session_id, second)),
        ..request
    };
    begin(app, origin, request).await
}

/// A re-authentication flow came back: the provider's identity must be the user's own.
async fn reauthenticate_with(
    app: &App,
    origin: &RequestInfo,
    (user_id, session_id, second): (i64, i64, Option<String>),
    provider: &ProviderConfig,
    verified: &Verified,
) -> Result<Outcome, AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    let identity = store::find_identity(&mut conn, &provider.id, &verified.subject)
        .await?
        .filter(|identity| identity.user_id == user_id)
        .ok_or_else(|| {
            AppError::Rejected(
                format!(
                    "The {} account you signed in with is not linked to yours",
                    provider.display_name
                )
                .into(),
            )
        })?;
    store::touch_identity(&mut conn, identity.id, now).await?;
    drop(conn);
    let factors = std::iter::once(format!("oidc:{}", provider.id))
        .chain(second)
        .collect();
    let proved = recent::record(app, origin, (user_id, session_id), factors).await?;
    Ok(Outcome::Reauthenticated(proved))
}

/// A signed-in user's link flow came back: the identity is theirs now, unless it signs in as
/// someone else already.
async fn link_signed_in(
    app: &App,
    origin: &RequestInfo,
    user_id: i64,
    provider: &ProviderConfig,
    verified: &Verified,
) -> Result<Outcome, AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    if let Some(identity) = store::find_identity(&mut conn, &provider.id, &verified.subject).await?
    {
        return if identity.user_id == user_id {
            Ok(Outcome::Linked(identity))
        } else {
            Err(identity_in_use())
        };
    }
    let identity = link_audited(app, origin, &mut conn, user_id, provider, verified, now).await?;
    Ok(Outcome::Linked(identity))
}

async fn link_audited(
    app: &App,
    origin: &RequestInfo,
    conn: &mut AsyncPgConnection,
    user_id: i64,
    provider: &ProviderConfig,
    verified: &Verified,
    now: DateTime<Utc>,
) -> Result<Identity, AppError> {
    let what = format!("{} was linked to your account", provider.display_name);
    audited(conn, origin, now, async |conn| {
        users::lock_live(conn, user_id).await?;
        let identity = store::link(
            conn,
            user_id,
            (&provider.id, &verified.subject, verified.email.as_deref()),
            now,
        )
        .await?;
        security_notice(app, conn, user_id, "identity_linked", &what).await?;
        let event = Event::new(action::IDENTITY_LINK, Some(user_id))
            .target("user", user_id)
            .meta(json!({ "provider": provider.id, "identity": identity.id }));
        Ok((identity, event))
    })
    .await
}

/// The owner of the account a provider's verified address matched proves the account
/// (password, and the second factor when 2FA is on) from the browser the provider came back
/// to: the identity is linked and a session opens.
pub async fn confirm_link(
    app: &App,
    origin: &RequestInfo,
    link_token: &str,
    browser: Option<&str>,
    proof: Proof<'_>,
) -> Result<SignedIn, AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    let invalid = || {
        AppError::bad_input(
            "linkToken",
            "This link request is unknown, used or expired, or began in another browser; sign in with the provider again",
        )
    };
    let pending = store::find_pending_link(
        &mut conn,
        (&digest(link_token), &digest(browser.unwrap_or_default())),
        now,
    )
    .await?
    .ok_or_else(invalid)?;
    drop(conn);
    let proved = mfa::reauthenticate(app, origin, pending.user_id, proof).await?;
    let provider = app.oidc.get(&pending.provider)?;
    let mut conn = db::conn(&app.pool).await?;
    let what = format!("{} was linked to your account", provider.display_name);
    audited(&mut conn, origin, now, async |conn| {
        if !store::spend_pending_link(conn, pending.id, now).await? {
            return Err(invalid());
        }
        let user = users::lock_live(conn, pending.user_id).await?;
        if !user.is_active {
            return Err(AppError::InvalidCredentials);
        }
        let identity = store::link(
            conn,
            user.id,
            (&provider.id, &pending.subject, pending.email.as_deref()),
            now,
        )
        .await?;
        security_notice(app, conn, user.id, "identity_linked", &what).await?;
        let event = Event::new(action::IDENTITY_LINK, Some(user.id))
            .target("user", user.id)
            .meta(
                json!({ "provider": provider.id, "identity": identity.id, "proved": "password" }),
            );
        Ok(((), event))
    })
    .await?;
    drop(conn);
    let mut factors = proved;
    factors.push(format!("oidc:{}", provider.id));
    let how = Proved::by(factors).with("provider", provider.id.as_str());
    open_session(app, origin, pending.user_id, how).await
}

/// Removes a linked identity: the owner's own (`owner` is the caller), or any user's by an
/// administrator (`owner` is `None`). `CONFLICT` (`LAST_CREDENTIAL`) when it is the account's
/// only way to sign in.
pub async fn unlink(
    app: &App,
    origin: &RequestInfo,
    actor: i64,
    owner: Option<i64>,
    identity_id: i64,
) -> Result<Identity, AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    let not_found = || AppError::not_found("Identity", identity_id);
    audited(&mut conn, origin, now, async |conn| {
        let identity = store::find_identity_by_id(conn, identity_id)
            .await?
            .filter(|identity| owner.is_none_or(|owner| owner == identity.user_id))
            .ok_or_else(not_found)?;
        // Locked, so two removals of an account's last two ways in run one after the other.
        users::lock_live(conn, identity.user_id).await?;
        let ways = crate::auth::store::ways_in(conn, identity.user_id).await?;
        if ways.removing_one_locks_out() {
            return Err(AppError::last_credential());
        }
        store::delete_identity(conn, identity.id).await?;
        let display = app
            .oidc
            .get(&identity.provider)
            .map_or(identity.provider.clone(), |provider| {
                provider.display_name.clone()
            });
        let what = format!("{display} was unlinked from your account");
        security_notice(app, conn, identity.user_id, "identity_unlinked", &what).await?;
        let event = Event::new(action::IDENTITY_UNLINK, Some(actor))
            .target("user", identity.user_id)
            .meta(json!({ "provider": identity.provider, "identity": identity.id }));
        Ok((identity, event))
    })
    .await
}
