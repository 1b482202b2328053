//! The configured providers and the talk with them: discovery, the authorization URL, the code
//! exchange, and the ID token's verification. Each provider is configuration (issuer, client,
//! scopes, a name to show), read from `AGORA_OIDC_PROVIDERS` (JSON) or the JSON file
//! `AGORA_OIDC_PROVIDERS_FILE` names.

use std::time::Duration;

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, HttpRequest,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, SignatureVerificationError, TokenResponse,
};
use serde::Deserialize;

use super::fetch::{FetchError, ProviderHttp};
use super::rules::{LEEWAY, authorized_party, issued_recently, valid_provider_id};
use crate::config::Config;
use crate::error::AppError;

/// One provider as configured.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderConfig {
    /// In routes and in stored identities: `[a-z0-9-]`, at most 40.
    pub id: String,
    pub display_name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "email".into(), "profile".into()]
}

/// What a provider vouched for, its signature and claims checked.
#[derive(Debug)]
pub struct Verified {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub preferred_username: Option<String>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

/// A sign-in to begin at a provider: where to send the browser, and what to keep until it
/// comes back.
pub struct Authorization {
    pub url: String,
    pub pkce_verifier: String,
}

pub struct Providers {
    list: Vec<ProviderConfig>,
    http: ProviderHttp,
}

/// How long a provider may take to answer before its button fails.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(5);

impl Providers {
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            list: configured(config)?,
            http: ProviderHttp::new(PROVIDER_TIMEOUT)?,
        })
    }

    pub fn list(&self) -> &[ProviderConfig] {
        &self.list
    }

    /// The provider configured as `id`, or `NOT_FOUND`.
    pub fn get(&self, id: &str) -> Result<&ProviderConfig, AppError> {
        self.list
            .iter()
            .find(|provider| provider.id == id)
            .ok_or_else(|| AppError::not_found("Provider", format!("{id:?}")))
    }

    async fn metadata(
        &self,
        provider: &ProviderConfig,
        now: DateTime<Utc>,
    ) -> Result<CoreProviderMetadata, AppError> {
        let issuer = IssuerUrl::new(provider.issuer.clone()).map_err(|error| {
            AppError::Internal(anyhow::anyhow!("issuer of {}: {error}", provider.id))
        })?;
        let http = self.client_at(now);
        CoreProviderMetadata::discover_async(issuer, &http)
            .await
            .map_err(|error| {
                tracing::warn!(provider = %provider.id, %error, "provider discovery failed");
                unavailable(provider)
            })
    }

    fn client_at(
        &self,
        now: DateTime<Utc>,
    ) -> impl Fn(
        HttpRequest,
    ) -> std::pin::Pin<
        Box<dyn Future<Output = Result<openidconnect::HttpResponse, FetchError>> + Send>,
    > {
        let http = self.http.clone();
        move |request| {
            let http = http.clone();
            Box::pin(async move { http.send(request, now.into()).await })
        }
    }

    /// The URL that starts a sign-in at `provider` with the given state and nonce, PKCE S256.
    pub async fn authorization(
        &self,
        provider: &ProviderConfig,
        redirect_uri: &str,
        (state, nonce): (&str, &str),
        now: DateTime<Utc>,
    ) -> Result<Authorization, AppError> {
        let metadata = self.metadata(provider, now).await?;
        let client = client(provider, metadata, redirect_uri)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = state.to_owned();
        let nonce = nonce.to_owned();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                move || Nonce::new(nonce),
            )
            .set_pkce_challenge(challenge);
        for scope in provider.scopes.iter().filter(|scope| *scope != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, _, _) = request.url();
        Ok(Authorization {
            url: url.to_string(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges `code` (with the PKCE verifier and the redirect URI the sign-in began with)
    /// and verifies the ID token: signature by the provider's keys (fetched again once when
    /// the token names a key the cached set lacks: the provider rotated them), `iss`, `aud`,
    /// `azp`, `exp` and `iat` within a minute's leeway, and `nonce`. The userinfo endpoint is
    /// asked only when the token carries no address.
    pub async fn redeem(
        &self,
        provider: &ProviderConfig,
        (redirect_uri, pkce_verifier, nonce): (&str, &str, &str),
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Verified, AppError> {
        let metadata = self.metadata(provider, now).await?;
        let jwks_uri = metadata.jwks_uri().to_string();
        let client = client(provider, metadata, redirect_uri)?;
        let http = self.client_at(now);
        let exchange = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|error| AppError::Internal(error.into()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()));
        let response = exchange.request_async(&http).await.map_err(|error| match error {
            RequestTokenError::Request(error) => {
                tracing::warn!(provider = %provider.id, %error, "provider token endpoint unreachable");
                unavailable(provider)
            }
            RequestTokenError::ServerResponse(answer) => rejected(
                provider,
                &format!("it refused the code ({})", answer.error()),
            ),
            other => rejected(provider, &format!("its token answer was not usable ({other})")),
        })?;
        let id_token = response
            .id_token()
            .ok_or_else(|| rejected(provider, "it sent no ID token"))?;
        let nonce = Nonce::new(nonce.to_owned());
        let verify = |client: &CoreClient<_, _, _, _, _, _>| -> Result<CoreIdTokenClaims, ClaimsVerificationError> {
            let verifier = client
                .id_token_verifier()
                .set_time_fn(move || now - LEEWAY)
                .set_issue_time_verifier_fn(move |issued| issued_recently(issued, now));
            id_token.claims(&verifier, &nonce).cloned()
        };
        let claims = match verify(&client) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                self.http.forget(&jwks_uri);
                let metadata = self.metadata(provider, now).await?;
                verify(&self::client(provider, metadata, redirect_uri)?)
            }
            other => other,
        }
        .map_err(|error| rejected(provider, &format!("its ID token failed a check: {error}")))?;
        let audiences: Vec<&str> = claims.audiences().iter().map(|aud| aud.as_str()).collect();
        let party = claims.authorized_party().map(|party| party.as_str());
        authorized_party(&audiences, party, &provider.client_id)
            .map_err(|problem| rejected(provider, &problem))?;
        let mut verified = Verified {
            subject: claims.subject().to_string(),
            email: claims.email().map(|email| email.to_string()),
            email_verified: claims.email_verified().unwrap_or(false),
            preferred_username: claims.preferred_username().map(|name| name.to_string()),
            name: claims
                .name()
                .and_then(|name| name.get(None))
                .map(|name| name.to_string()),
            given_name: claims
                .given_name()
                .and_then(|name| name.get(None))
                .map(|name| name.to_string()),
            family_name: claims
                .family_name()
                .and_then(|name| name.get(None))
                .map(|name| name.to_string()),
        };
        if verified.email.is_none()
            && let Ok(request) = client.user_info(
                response.access_token().clone(),
                Some(claims.subject().clone()),
            )
        {
            let info: CoreUserInfoClaims = request.request_async(&http).await.map_err(|error| {
                tracing::warn!(provider = %provider.id, %error, "provider userinfo failed");
                unavailable(provider)
            })?;
            verified.email = info.email().map(|email| email.to_string());
            verified.email_verified = info.email_verified().unwrap_or(false);
        }
        Ok(verified)
    }
}

type DiscoveredClient = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

fn client(
    provider: &ProviderConfig,
    metadata: CoreProviderMetadata,
    redirect_uri: &str,
) -> Result<DiscoveredClient, AppError> {
    let redirect = RedirectUrl::new(redirect_uri.to_owned())
        .map_err(|error| AppError::Internal(error.into()))?;
    Ok(CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(provider.client_id.clone()),
        Some(ClientSecret::new(provider.client_secret.clone())),
    )
    .set_redirect_uri(redirect))
}

fn unavailable(provider: &ProviderConfig) -> AppError {
    AppError::Upstream(
        format!(
            "Sign-in with {} is unavailable right now; try again later",
            provider.display_name
        )
        .into(),
    )
}

fn rejected(provider: &ProviderConfig, why: &str) -> AppError {
    AppError::Rejected(format!("Sign-in with {} failed: {why}", provider.display_name).into())
}

/// The providers `config` names, checked.
pub fn configured(config: &Config) -> anyhow::Result<Vec<ProviderConfig>> {
    let text = match (&config.oidc_providers, &config.oidc_providers_file) {
        (Some(_), Some(_)) => {
            anyhow::bail!("set AGORA_OIDC_PROVIDERS or AGORA_OIDC_PROVIDERS_FILE, not both")
        }
        (Some(inline), None) => inline.clone(),
        (None, Some(path)) => std::fs::read_to_string(path).map_err(|error| {
            anyhow::anyhow!("AGORA_OIDC_PROVIDERS_FILE {}: {error}", path.display())
        })?,
        (None, None) => return Ok(Vec::new()),
    };
    let list: Vec<ProviderConfig> = serde_json::from_str(&text).map_err(|error| {
        anyhow::anyhow!(
            "the OpenID Connect providers are not valid JSON of the documented shape: {error}"
        )
    })?;
    for (index, provider) in list.iter().enumerate() {
        if !valid_provider_id(&provider.id) {
            anyhow::bail!(
                "provider {index}: id {:?} must be 1-40 of [a-z0-9-]",
                provider.id
            );
        }
        if list[..index].iter().any(|other| other.id == provider.id) {
            anyhow::bail!("provider id {:?} is configured twice", provider.id);
        }
        let issuer = url::Url::parse(&provider.issuer)
            .map_err(|error| anyhow::anyhow!("provider {}: issuer: {error}", provider.id))?;
        let loopback = issuer
            .host_str()
            .is_some_and(|host| host == "localhost" || host == "127.0.0.1" || host == "[::1]");
        if issuer.scheme() != "https" && !(issuer.scheme() == "http" && loopback) {
            anyhow::bail!(
                "provider {}: the issuer must be an https URL (plain http only on loopback)",
                provider.id
            );
        }
        if provider.client_id.is_empty() || provider.display_name.trim().is_empty() {
            anyhow::bail!(
                "provider {}: clientId and displayName must not be empty",
                provider.id
            );
        }
        if !provider.scopes.iter().any(|scope| scope == "openid") {
            anyhow::bail!("provider {}: scopes must include openid", provider.id);
        }
    }
    Ok(list)
}
