//! Passkeys (WebAuthn, with `webauthn-rs`): a signed-in user registers them after proving the
//! account, lists, renames and removes them, and signs in with one without a password
//! (discoverable credentials, also from the browser's autofill). Ceremonies are rows: single
//! use, five minutes. A counter that goes backwards marks the credential as possibly cloned:
//! it is refused from then on, audited and mailed, as are registrations, renames and removals.

pub mod graphql;
pub mod model;
pub mod store;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use url::Url;
use webauthn_rs::prelude::{
    AuthenticationResult, CreationChallengeResponse, DiscoverableAuthentication, Passkey,
    PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};
use webauthn_rs_proto::ResidentKeyRequirement;

use crate::App;
use crate::accounts::store as users;
use crate::audit::{Event, action, audited, store::record};
use crate::auth::mfa;
use crate::auth::recent::Reauth;
use crate::auth::sign_in::{Proved, SignedIn, open_session};
use crate::auth::tokens::{digest, random_secret};
use crate::config::Config;
use crate::db;
use crate::error::AppError;
use crate::mail::security_notice;
use crate::ratelimit::Guarded;
use crate::request::RequestInfo;
use model::PasskeyRow;

/// How long a ceremony may take, here and in the options the browser gets.
pub const CEREMONY_LIFETIME: chrono::Duration = chrono::Duration::minutes(5);
const REGISTER: &str = "register";
const SIGN_IN: &str = "sign_in";
const SECOND_FACTOR: &str = "second_factor";

/// The relying party: `AGORA_WEBAUTHN_RP_ID` and `AGORA_WEBAUTHN_ORIGINS`, or else the front
/// end's host and origin. Browsers refuse an IP address as an RP id, so a front end at
/// `127.0.0.1` is taken as `localhost` (the same machine, by a name). A relying party set
/// explicitly and wrong stops the start; one derived from a front end at another IP address
/// leaves passkeys off, with a warning.
pub fn relying_party(config: &Config) -> anyhow::Result<Option<Webauthn>> {
    let explicit = config.webauthn_rp_id.is_some() || !config.webauthn_origins.is_empty();
    match build_relying_party(config) {
        Ok(webauthn) => Ok(Some(webauthn)),
        Err(error) if !explicit => {
            tracing::warn!(%error, "passkeys are off: the front end has no domain name; set AGORA_WEBAUTHN_RP_ID and AGORA_WEBAUTHN_ORIGINS");
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// The relying party the server runs with, or `SERVICE_UNAVAILABLE` when passkeys are off.
fn relying_party_of(app: &App) -> Result<&Webauthn, AppError> {
    app.webauthn.as_ref().ok_or_else(|| {
        AppError::Upstream(
            "Passkeys are off on this server: it needs AGORA_WEBAUTHN_RP_ID (a domain name)".into(),
        )
    })
}

fn build_relying_party(config: &Config) -> anyhow::Result<Webauthn> {
    let mut front = Url::parse(&config.links_base())?;
    if front.host_str() == Some("127.0.0.1") || front.host_str() == Some("[::1]") {
        front
            .set_host(Some("localhost"))
            .map_err(|error| anyhow::anyhow!("front-end URL: {error}"))?;
    }
    let origins: Vec<Url> = if config.webauthn_origins.is_empty() {
        vec![front.clone()]
    } else {
        config
            .webauthn_origins
            .iter()
            .map(|origin| Url::parse(origin))
            .collect::<Result<_, _>>()
            .map_err(|error| anyhow::anyhow!("AGORA_WEBAUTHN_ORIGINS: {error}"))?
    };
    let rp_id = match &config.webauthn_rp_id {
        Some(id) => id.clone(),
        None => front
            .host_str()
            .ok_or_else(|| anyhow::anyhow!("the front-end URL has no host for passkeys"))?
            .to_owned(),
    };
    let (first, rest) = origins
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("AGORA_WEBAUTHN_ORIGINS is empty"))?;
    let mut builder = WebauthnBuilder::new(&rp_id, first)
        .map_err(|error| {
            anyhow::anyhow!(
                "passkeys: the RP id {rp_id:?} does not fit the origin {first} ({error}); set AGORA_WEBAUTHN_RP_ID and AGORA_WEBAUTHN_ORIGINS"
            )
        })?
        .rp_name("Agora")
        .timeout(Duration::from_secs(
            u64::try_from(CEREMONY_LIFETIME.num_seconds()).unwrap_or(300),
        ));
    for origin in rest {
        builder = builder.append_allowed_origin(origin);
    }
    builder
        .build()
        .map_err(|error| anyhow::anyhow!("passkeys: {error}"))
}

/// A ceremony for the browser: its token (for the finishing call) and the options for
/// `navigator.credentials.create()` or `.get()`.
pub struct Ceremony {
    pub token: String,
    pub options: serde_json::Value,
    pub expires_at: DateTime<Utc>,
}

async fn keep_ceremony(
    app: &App,
    kind: &str,
    user_id: Option<i64>,
    (options, state): (serde_json::Value, serde_json::Value),
) -> Result<Ceremony, AppError> {
    let token = random_secret();
    let now = app.clock.now();
    let expires_at = now + CEREMONY_LIFETIME;
    let mut conn = db::conn(&app.pool).await?;
    store::insert_ceremony(
        &mut conn,
        (&digest(&token), kind),
        user_id,
        &state,
        (now, expires_at),
    )
    .await?;
    Ok(Ceremony {
        token,
        options,
        expires_at,
    })
}

async fn take_ceremony<T: serde::de::DeserializeOwned>(
    app: &App,
    token: &str,
    kind: &str,
) -> Result<(Option<i64>, T), AppError> {
    let mut conn = db::conn(&app.pool).await?;
    let (user_id, state) = store::take_ceremony(&mut conn, (&digest(token), kind), app.clock.now())
        .await?
        .ok_or_else(unknown_ceremony)?;
    let state = serde_json::from_value(state).map_err(|error| AppError::Internal(error.into()))?;
    Ok((user_id, state))
}

fn unknown_ceremony() -> AppError {
    AppError::bad_input(
        "ceremonyId",
        "This passkey ceremony is unknown, used or expired; start again",
    )
}

fn json_of<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, AppError> {
    serde_json::to_value(value).map_err(|error| AppError::Internal(error.into()))
}

/// What the browser sent, as webauthn-rs reads it, or `BAD_USER_INPUT` on `credential`.
fn credential_from<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, AppError> {
    serde_json::from_value(value).map_err(|error| {
        AppError::bad_input(
            "credential",
            format!("Not a WebAuthn credential as the browser gives it: {error}"),
        )
    })
}

/// Begins registering a passkey for a signed-in user who has just proved the account.
pub async fn begin_registration(
    app: &App,
    origin: &RequestInfo,
    user_id: i64,
    reauth: Reauth<'_>,
) -> Result<Ceremony, AppError> {
    reauth.check(app, origin).await?;
    let mut conn = db::conn(&app.pool).await?;
    let user = users::find_by_id(&mut conn, user_id).await?;
    let handle = store::handle_of(&mut conn, user_id, &Uuid::new_v4().to_string()).await?;
    let existing: Vec<_> = store::passkeys_of(&mut conn, user_id)
        .await?
        .iter()
        .filter_map(|row| serde_json::from_value::<Passkey>(row.passkey.clone()).ok())
        .map(|passkey| passkey.cred_id().clone())
        .collect();
    drop(conn);
    let handle = Uuid::parse_str(&handle).map_err(|error| AppError::Internal(error.into()))?;
    let (mut options, state): (CreationChallengeResponse, PasskeyRegistration) =
        relying_party_of(app)?
            .start_passkey_registration(handle, &user.username, &user.username, Some(existing))
            .map_err(|error| AppError::Internal(error.into()))?;
    // Discoverable, so the passkey can sign in without a username (and from autofill);
    // webauthn-rs asks for non-discoverable ones by default.
    if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
        selection.resident_key = Some(ResidentKeyRequirement::Preferred);
    }
    keep_ceremony(
        app,
        REGISTER,
        Some(user_id),
        (json_of(&options)?, json_of(&state)?),
    )
    .await
}

/// Finishes a registration begun by the same user.
pub async fn finish_registration(
    app: &App,
    origin: &RequestInfo,
    user_id: i64,
    (token, credential, name): (&str, serde_json::Value, &str),
) -> Result<PasskeyRow, AppError> {
    let name = crate::text::term("name", name, 100)?;
    let credential: RegisterPublicKeyCredential = credential_from(credential)?;
    let (owner, state): (_, PasskeyRegistration) = take_ceremony(app, token, REGISTER).await?;
    if owner != Some(user_id) {
        return Err(unknown_ceremony());
    }
    // The caller is signed in: `UNAUTHENTICATED` would tell a client to refresh its session
    // and send the spent ceremony again, hiding why the answer was refused.
    let passkey = relying_party_of(app)?
        .finish_passkey_registration(&credential, &state)
        .map_err(|error| AppError::bad_input("credential", refused(&error).message()))?;
    let stored = json_of(&passkey)?;
    let flags = flags_of(&stored);
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    audited(&mut conn, origin, now, async |conn| {
        users::lock_live(conn, user_id).await?;
        let row = store::insert_passkey(
            conn,
            user_id,
            (passkey.cred_id().as_slice(), &stored),
            &name,
            flags,
            now,
        )
        .await?;
        security_notice(
            app,
            conn,
            user_id,
            "passkey_added",
            &format!("A passkey ({name}) was added to your account"),
        )
        .await?;
        let event = Event::new(action::PASSKEY_REGISTER, Some(user_id))
            .target("passkey", row.id)
            .meta(json!({ "name": name, "backupEligible": row.backup_eligible }));
        Ok((row, event))
    })
    .await
}

/// The counter and backup flags of a stored credential (webauthn-rs keeps them private).
fn flags_of(passkey: &serde_json::Value) -> (i64, bool, bool) {
    let credential = &passkey["cred"];
    (
        credential["counter"].as_i64().unwrap_or(0),
        credential["backup_eligible"].as_bool().unwrap_or(false),
        credential["backup_state"].as_bool().unwrap_or(false),
    )
}

/// A refusal of what the authenticator sent: one code for the client, the cause in the log.
fn refused(error: &WebauthnError) -> AppError {
    tracing::info!(%error, "passkey response refused");
    AppError::Rejected(format!("The passkey's answer was not accepted ({error})").into())
}

/// Begins a passwordless sign-in: any of the browser's passkeys for this site may answer.
pub async fn begin_sign_in(app: &App) -> Result<Ceremony, AppError> {
    let (options, state): (RequestChallengeResponse, DiscoverableAuthentication) =
        relying_party_of(app)?
            .start_discoverable_authentication()
            .map_err(|error| AppError::Internal(error.into()))?;
    keep_ceremony(app, SIGN_IN, None, (json_of(&options)?, json_of(&state)?)).await
}

/// Finishes a passwordless sign-in: the passkey names its user; a user-verified passkey is
/// both factors, so it opens a session even with 2FA on.
pub async fn finish_sign_in(
    app: &App,
    origin: &RequestInfo,
    token: &str,
    credential: serde_json::Value,
) -> Result<SignedIn, AppError> {
    let address = origin.ip.clone().unwrap_or_default();
    app.limits
        .check(Guarded::LoginFromAddress, &address)
        .await?;
    let credential: PublicKeyCredential = credential_from(credential)?;
    let (_, state): (_, DiscoverableAuthentication) = take_ceremony(app, token, SIGN_IN).await?;
    let (handle, credential_id) = relying_party_of(app)?
        .identify_discoverable_authentication(&credential)
        .map_err(|error| refused(&error))?;
    let mut conn = db::conn(&app.pool).await?;
    let user_id = store::user_of_handle(&mut conn, &handle.to_string())
        .await?
        .ok_or(AppError::InvalidCredentials)?;
    drop(conn);
    let passkey_id = use_passkey(app, origin, user_id, credential_id, |passkey| {
        relying_party_of(app)
            .map_err(|_| WebauthnError::Configuration)?
            .finish_discoverable_authentication_v2(&credential, state.clone(), passkey)
    })
    .await?
    .map_err(|error| refused(&error))?;
    let how = Proved::by(["passkey"]).with("passkey", passkey_id);
    open_session(app, origin, user_id, how).await
}

/// Checks an answer with the user's passkey `credential_id` (`finish` asks webauthn-rs), then
/// the signature counter against the locked row, and keeps the updated credential: the
/// passkey's id, or webauthn-rs's refusal. A credential marked as possibly cloned, or whose
/// counter goes backwards now, is refused as `UNAUTHENTICATED` and marked, audited and mailed.
async fn use_passkey(
    app: &App,
    origin: &RequestInfo,
    user_id: i64,
    credential_id: &[u8],
    finish: impl Fn(&Passkey) -> Result<AuthenticationResult, WebauthnError> + Sync,
) -> Result<Result<i64, WebauthnError>, AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    let outcome = db::transaction(&mut conn, async |conn| {
        let row = store::lock_by_credential(conn, credential_id)
            .await?
            .filter(|row| row.user_id == user_id)
            .ok_or(AppError::InvalidCredentials)?;
        if row.possibly_cloned_at.is_some() {
            return Ok(Err((
                row.id,
                "the credential is marked as possibly cloned".to_owned(),
            )));
        }
        let mut passkey: Passkey = serde_json::from_value(row.passkey.clone())
            .map_err(|error| AppError::Internal(error.into()))?;
        let result = match finish(&passkey) {
            Ok(result) => result,
            Err(WebauthnError::CredentialPossibleCompromise) => {
                store::mark_cloned(conn, row.id, now).await?;
                return Ok(Err((
                    row.id,
                    "its signature counter went backwards".to_owned(),
                )));
            }
            // A changed backup-eligibility flag is refused too, but webauthn-rs finds it before
            // checking the signature: it is no evidence about the key, so it marks nothing (else
            // anyone could lock a passkey's owner out with a forged answer).
            Err(error) => return Ok(Ok(Err(error))),
        };
        // webauthn-rs compared against the counter the ceremony's state was made with; the row,
        // locked, is what another sign-in since then may have moved.
        let counter = i64::from(result.counter());
        if (counter > 0 || row.counter > 0) && counter <= row.counter {
            store::mark_cloned(conn, row.id, now).await?;
            return Ok(Err((
                row.id,
                "its signature counter went backwards".to_owned(),
            )));
        }
        passkey.update_credential(&result);
        store::record_use(
            conn,
            row.id,
            &json_of(&passkey)?,
            (counter, result.backup_state()),
            now,
        )
        .await?;
        let what = format!("Your passkey \"{}\" was used to prove it is you", row.name);
        security_notice(app, conn, user_id, "passkey_used", &what).await?;
        Ok(Ok(Ok(row.id)))
    })
    .await?;
    match outcome {
        Ok(checked) => Ok(checked),
        Err((passkey_id, why)) => {
            let event = Event::new(action::PASSKEY_CLONED, None)
                .target("user", user_id)
                .meta(json!({ "passkey": passkey_id, "why": why }));
            record(&mut conn, origin, event, now).await?;
            security_notice(app, &mut conn, user_id, "passkey_refused", "A passkey of your account was refused: it may have been copied. Remove it and add a new one").await?;
            Err(AppError::Rejected(
                format!("This passkey was refused: {why}").into(),
            ))
        }
    }
}

/// Begins a passkey answer to the live sign-in challenge `challenge_token` (2FA is on): any of
/// the user's usable passkeys may answer. `BAD_USER_INPUT` when the user has none.
pub async fn begin_second_factor(app: &App, challenge_token: &str) -> Result<Ceremony, AppError> {
    let user_id = mfa::challenged_user(app, challenge_token).await?;
    begin_user_proof(app, user_id, "challengeToken").await
}

/// Begins a passkey proof for `reauthenticate` by the signed-in user (a session). The answer
/// goes to `reauthenticate`, which checks it as [`check_second_factor`] does.
pub async fn begin_reauthentication(app: &App, user_id: i64) -> Result<Ceremony, AppError> {
    begin_user_proof(app, user_id, "authorization").await
}

/// A ceremony any usable passkey of `user_id` may answer; `BAD_USER_INPUT` on `field` when
/// they have none.
async fn begin_user_proof(
    app: &App,
    user_id: i64,
    field: &'static str,
) -> Result<Ceremony, AppError> {
    let mut conn = db::conn(&app.pool).await?;
    let usable: Vec<Passkey> = store::passkeys_of(&mut conn, user_id)
        .await?
        .into_iter()
        .filter(|row| row.possibly_cloned_at.is_none())
        .filter_map(|row| serde_json::from_value(row.passkey).ok())
        .collect();
    drop(conn);
    if usable.is_empty() {
        return Err(AppError::bad_input(
            field,
            "This account has no usable passkey; prove it another way",
        ));
    }
    let (options, state): (RequestChallengeResponse, PasskeyAuthentication) =
        relying_party_of(app)?
            .start_passkey_authentication(&usable)
            .map_err(|error| AppError::Internal(error.into()))?;
    keep_ceremony(
        app,
        SECOND_FACTOR,
        Some(user_id),
        (json_of(&options)?, json_of(&state)?),
    )
    .await
}

/// Whether `credential` answers the user's second-factor ceremony `token` with one of their
/// passkeys. A wrong answer is `false` (counted as a wrong factor by the caller).
pub async fn check_second_factor(
    app: &App,
    origin: &RequestInfo,
    user_id: i64,
    (token, credential): (&str, serde_json::Value),
) -> Result<bool, AppError> {
    let credential: PublicKeyCredential = credential_from(credential)?;
    let (owner, state): (_, PasskeyAuthentication) =
        take_ceremony(app, token, SECOND_FACTOR).await?;
    if owner != Some(user_id) {
        return Ok(false);
    }
    let checked = use_passkey(app, origin, user_id, credential.raw_id.as_slice(), |_| {
        relying_party_of(app)
            .map_err(|_| WebauthnError::Configuration)?
            .finish_passkey_authentication(&credential, &state)
    })
    .await;
    match checked {
        Ok(Ok(_)) => Ok(true),
        Ok(Err(error)) => {
            tracing::info!(%error, "passkey second factor refused");
            Ok(false)
        }
        Err(AppError::InvalidCredentials) => Ok(false),
        Err(error) => Err(error),
    }
}

pub async fn list(app: &App, user_id: i64) -> Result<Vec<PasskeyRow>, AppError> {
    let mut conn = db::conn(&app.pool).await?;
    store::passkeys_of(&mut conn, user_id).await
}

pub async fn rename(
    app: &App,
    origin: &RequestInfo,
    user_id: i64,
    (passkey_id, name): (i64, &str),
) -> Result<PasskeyRow, AppError> {
    let name = crate::text::term("name", name, 100)?;
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    audited(&mut conn, origin, now, async |conn| {
        let old = store::lock_own(conn, user_id, passkey_id)
            .await?
            .ok_or_else(|| AppError::not_found("Passkey", passkey_id))?;
        let row = store::rename(conn, passkey_id, &name).await?;
        security_notice(
            app,
            conn,
            user_id,
            "passkey_renamed",
            &format!("A passkey was renamed from {} to {name}", old.name),
        )
        .await?;
        let event = Event::new(action::PASSKEY_RENAME, Some(user_id))
            .target("passkey", passkey_id)
            .meta(json!({ "from": old.name, "to": name }));
        Ok((row, event))
    })
    .await
}

/// Removes one of the user's passkeys; `CONFLICT` (`LAST_CREDENTIAL`) when it is the
/// account's only way to sign in.
pub async fn remove(
    app: &App,
    origin: &RequestInfo,
    user_id: i64,
    passkey_id: i64,
) -> Result<PasskeyRow, AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    audited(&mut conn, origin, now, async |conn| {
        users::lock_live(conn, user_id).await?;
        let row = store::lock_own(conn, user_id, passkey_id)
            .await?
            .ok_or_else(|| AppError::not_found("Passkey", passkey_id))?;
        let ways = crate::auth::store::ways_in(conn, user_id).await?;
        if row.possibly_cloned_at.is_none() && ways.removing_one_locks_out() {
            return Err(AppError::last_credential());
        }
        store::delete(conn, passkey_id).await?;
        security_notice(
            app,
            conn,
            user_id,
            "passkey_removed",
            &format!("A passkey ({}) was removed from your account", row.name),
        )
        .await?;
        let event = Event::new(action::PASSKEY_REMOVE, Some(user_id))
            .target("passkey", passkey_id)
            .meta(json!({ "name": row.name }));
        Ok((row, event))
    })
    .await
}
