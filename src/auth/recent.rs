//! Recent authentication ("sudo mode"): sensitive changes (password, address, turning 2FA off,
//! API tokens, passkeys, deleting the account, granting roles) need a proof of who the user is
//! no older than `AGORA_REAUTH_WINDOW_SECS`. A session keeps when and with which factors its
//! user last proved themself: signing in is such a proof, and `reauthenticate` makes a new one
//! with any way in the user has (the password with a second factor while 2FA is on, or a
//! passkey), without opening a new session. A change that takes a password may carry it
//! instead, which counts as a proof made now.
//!
//! API tokens have no session to hold a proof. A change that takes a password needs it from a
//! token; role grants, which take none, are allowed to tokens that hold the permission: a
//! script cannot answer a prompt, and its token was itself made behind a fresh proof, with only
//! the permissions its maker chose to give it.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde_json::json;

use super::mfa::{self, Factor, Proof};
use super::rules::proved_recently;
use super::store;
use crate::App;
use crate::audit::{Event, action, audited};
use crate::db;
use crate::error::AppError;
use crate::request::{RequestInfo, Viewer};

/// How long a proof covers sensitive changes.
pub fn window(app: &App) -> Duration {
    Duration::seconds(i64::from(app.config.reauth_window_secs))
}

/// For a sensitive change that takes no password of its own: `FORBIDDEN`
/// (`REAUTHENTICATION_REQUIRED`) unless the viewer's session proved its user recently. API
/// tokens pass (see the module's note).
pub fn require_recent(app: &App, viewer: &Viewer) -> Result<(), AppError> {
    if viewer.api_token_id.is_some()
        || proved_recently(viewer.proved_at, app.clock.now(), window(app))
    {
        Ok(())
    } else {
        Err(AppError::ReauthenticationRequired)
    }
}

/// The proof a sensitive change that takes a password comes with: the password it carries
/// (checked now), or else the session's recent proof.
pub struct Reauth<'a> {
    user_id: i64,
    session_id: Option<i64>,
    proved_at: Option<DateTime<Utc>>,
    proof: Option<Proof<'a>>,
}

impl<'a> Reauth<'a> {
    pub fn new(viewer: &Viewer, proof: Option<Proof<'a>>) -> Self {
        Self {
            user_id: viewer.user_id,
            session_id: viewer.session_id,
            proved_at: viewer.proved_at,
            proof,
        }
    }

    /// Passes, or says why not: a wrong password or factor is `BAD_USER_INPUT` on its field;
    /// no password and no recent proof is `FORBIDDEN` (`REAUTHENTICATION_REQUIRED`). A
    /// password that checks renews the session's proof.
    pub async fn check(self, app: &App, origin: &RequestInfo) -> Result<(), AppError> {
        let Some(proof) = self.proof else {
            return if proved_recently(self.proved_at, app.clock.now(), window(app)) {
                Ok(())
            } else {
                Err(AppError::ReauthenticationRequired)
            };
        };
        let factors = mfa::reauthenticate(app, origin, self.user_id, proof).await?;
        if let Some(session_id) = self.session_id {
            let mut conn = db::conn(&app.pool).await?;
            let session = (self.user_id, session_id);
            store::record_proof(&mut conn, session, &factors, app.clock.now()).await?;
        }
        Ok(())
    }
}

/// What `reauthenticate` is given: the password (and a second factor while 2FA is on), or a
/// passkey's answer to a `beginPasskeyReauthentication` ceremony.
pub enum Presented<'a> {
    Password(Proof<'a>),
    Passkey {
        ceremony: String,
        credential: serde_json::Value,
    },
}

/// A proof `reauthenticate` recorded on the session.
pub struct Reauthenticated {
    pub proved_at: DateTime<Utc>,
    pub factors: Vec<String>,
    /// Until when sensitive changes need no new proof.
    pub valid_until: DateTime<Utc>,
}

/// Proves the viewer's user again in their session, with any way in they have. Wrong answers
/// count against the account as at sign-in. Audited as `auth.reauthenticate`.
pub async fn reauthenticate(
    app: &App,
    origin: &RequestInfo,
    viewer: &Viewer,
    presented: Presented<'_>,
) -> Result<Reauthenticated, AppError> {
    let session_id = viewer.session_id.ok_or_else(|| {
        AppError::bad_input(
            "authorization",
            "API tokens have no session to prove; give the password with the change instead",
        )
    })?;
    let user_id = viewer.user_id;
    let factors = match presented {
        Presented::Password(proof) => mfa::reauthenticate(app, origin, user_id, proof).await?,
        Presented::Passkey {
            ceremony,
            credential,
        } => {
            let factor = Factor::Passkey {
                ceremony,
                credential,
            };
            mfa::prove(app, origin, user_id, &factor).await?;
            vec!["passkey".to_owned()]
        }
    };
    // As PostgreSQL keeps it, so the answer and the session's `provedAt` agree.
    record(app, origin, (user_id, session_id), factors).await
}

/// Records on the user's live session a proof just made with `factors` (by `reauthenticate`,
/// or a provider's flow), audited as `auth.reauthenticate`. `UNAUTHENTICATED` when the
/// session has ended meanwhile.
pub async fn record(
    app: &App,
    origin: &RequestInfo,
    (user_id, session_id): (i64, i64),
    factors: Vec<String>,
) -> Result<Reauthenticated, AppError> {
    // As PostgreSQL keeps it, so the answer and the session's `provedAt` agree.
    let now = app.clock.now().trunc_subsecs(6);
    let mut conn = db::conn(&app.pool).await?;
    audited(&mut conn, origin, now, async |conn| {
        if !store::record_proof(conn, (user_id, session_id), &factors, now).await? {
            return Err(AppError::Unauthenticated);
        }
        let event = Event::new(action::REAUTHENTICATE, Some(user_id))
            .target("session", session_id)
            .meta(json!({ "factors": factors }));
        Ok(((), event))
    })
    .await?;
    Ok(Reauthenticated {
        proved_at: now,
        valid_until: now + window(app),
        factors,
    })
}
