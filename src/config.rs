//! Typed configuration, read from the environment (and CLI flags) once at start and validated there,
//! so a misconfigured server refuses to start instead of failing on its first request.

use std::time::Duration;

use anyhow::{Context, bail};

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/agora";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Clone, Debug, clap::Args)]
pub struct Config {
    /// Postgres URL; the database is created if missing and migrated at start. When it is not
    /// set and nothing answers at the default, `serve` runs an embedded PostgreSQL instead.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,

    /// Address the HTTP server listens on, `host:port`; a host name (`localhost`) resolves.
    #[arg(long, env = "AGORA_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// Address `/metrics` is served on, apart from the API so it is never public by accident
    /// (loopback unless set); `off` serves no metrics.
    #[arg(long, env = "AGORA_METRICS_LISTEN", default_value = "127.0.0.1:9464")]
    pub metrics_listen: String,

    /// Where traces go over OTLP/HTTP (protobuf): a collector's base URL, to which `/v1/traces`
    /// is added (`http://127.0.0.1:4318`). Unset: no tracing, at no cost.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otel_exporter_otlp_endpoint: Option<String>,

    /// The `service.name` traces are exported under.
    #[arg(long, env = "OTEL_SERVICE_NAME", default_value = "agora")]
    pub otel_service_name: String,

    /// `production` turns off GraphiQL, introspection and suggestions, and requires AGORA_SECRET.
    #[arg(long, env = "AGORA_ENV", value_enum, default_value = "development")]
    pub env: Environment,

    /// Key for signing access tokens and deriving refresh tokens (at least 32 bytes).
    #[arg(long, env = "AGORA_SECRET", hide_env_values = true)]
    pub secret: Option<String>,

    /// Agora's own address as users reach it, for mailed links to its own pages; never taken
    /// from the Host header. Unset: the address it listens on (development only).
    #[arg(long, env = "AGORA_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// The front end that opens mailed links: they lead to its `/verify-email` and
    /// `/reset-password` routes (the token in the fragment, `#token=...`) instead of Agora's.
    #[arg(long, env = "AGORA_APP_URL")]
    pub app_url: Option<String>,

    /// Comma-separated origins allowed by CORS (with credentials); empty allows none.
    #[arg(
        long,
        env = "AGORA_CORS_ORIGINS",
        value_delimiter = ',',
        default_value = ""
    )]
    pub cors_origins: Vec<String>,

    /// Comma-separated addresses of reverse proxies whose `X-Forwarded-For` is believed; requests
    /// from anyone else are recorded with their own peer address.
    #[arg(
        long,
        env = "AGORA_TRUSTED_PROXIES",
        value_delimiter = ',',
        default_value = ""
    )]
    pub trusted_proxies: Vec<String>,

    /// A manifest of trusted documents (JSON: SHA-256 hex of each document → its text). When
    /// set, only these documents run, except for holders of `documents:any`.
    #[arg(long, env = "AGORA_TRUSTED_DOCUMENTS")]
    pub trusted_documents: Option<std::path::PathBuf>,

    /// Budget a newly registered user starts with.
    #[arg(long, env = "AGORA_DEFAULT_BUDGET", default_value_t = 1000)]
    pub default_budget: i64,

    /// Mark auth cookies `Secure` (turn off only for plain-HTTP development).
    #[arg(long, env = "AGORA_COOKIE_SECURE", default_value_t = true, action = clap::ArgAction::Set)]
    pub cookie_secure: bool,

    /// Access token lifetime in seconds.
    #[arg(long, env = "AGORA_ACCESS_TTL_SECS", default_value_t = 15 * 60)]
    pub access_ttl_secs: u64,

    /// A session ends after this many seconds without use.
    #[arg(long, env = "AGORA_SESSION_IDLE_SECS", default_value_t = 7 * 24 * 3600)]
    pub session_idle_secs: u64,
    /// How long a proof of who the user is (sign-in, or `reauthenticate`) lets a session make
    /// sensitive changes (password, address, 2FA off, API tokens, deletion, role grants)
    /// without proving it again.
    #[arg(long, env = "AGORA_REAUTH_WINDOW_SECS", default_value_t = 10 * 60)]
    pub reauth_window_secs: u32,

    /// A session ends this many seconds after login, whatever its use.
    #[arg(long, env = "AGORA_SESSION_ABSOLUTE_SECS", default_value_t = 30 * 24 * 3600)]
    pub session_absolute_secs: u64,

    /// Argon2id memory cost in KiB (OWASP: 19456). Tests lower it to stay fast.
    #[arg(long, env = "AGORA_ARGON2_M_KIB", default_value_t = 19456)]
    pub argon2_m_kib: u32,

    /// Argon2id iterations (OWASP: 2).
    #[arg(long, env = "AGORA_ARGON2_T", default_value_t = 2)]
    pub argon2_t: u32,

    /// Largest number of database connections.
    #[arg(long, env = "AGORA_DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: usize,

    /// Seconds a request waits for a free database connection before SERVICE_UNAVAILABLE.
    #[arg(long, env = "AGORA_DB_WAIT_SECS", default_value_t = 5)]
    pub db_wait_secs: u64,

    /// Where mail goes: `smtp://user:pass@host:port` (STARTTLS where offered) or `smtps://...`.
    /// Without it, mail is written as `.eml` files under `AGORA_DATA_DIR/mail`.
    #[arg(long, env = "SMTP_URL")]
    pub smtp_url: Option<String>,

    /// The sender of Agora's mail.
    #[arg(
        long,
        env = "AGORA_MAIL_FROM",
        default_value = "Agora <no-reply@agora.invalid>"
    )]
    pub mail_from: String,

    /// A folder Agora may write to (mail files when there is no SMTP server, the embedded
    /// PostgreSQL): the user's data folder (`~/.local/share/agora` on Linux) unless set, so it
    /// does not depend on where the binary is started from.
    #[arg(long, env = "AGORA_DATA_DIR", default_value_os_t = default_data_dir())]
    pub data_dir: std::path::PathBuf,

    /// In production, allow the local default database (no `DATABASE_URL`: the server at
    /// 127.0.0.1:5432, or the embedded PostgreSQL). Off, production refuses to start without
    /// `DATABASE_URL`, so a forgotten setting is not a silent throwaway database.
    #[arg(long, env = "AGORA_ALLOW_LOCAL_DATABASE", default_value_t = false)]
    pub allow_local_database: bool,

    /// First retry delay of a mail that failed, in milliseconds; it doubles with each attempt.
    #[arg(long, env = "AGORA_MAIL_RETRY_BASE_MS", default_value_t = 5000)]
    pub mail_retry_base_ms: u64,

    /// How often the outbox is checked when nothing wakes it, in milliseconds.
    #[arg(long, env = "AGORA_OUTBOX_POLL_MS", default_value_t = 2000)]
    pub outbox_poll_ms: u64,

    /// The issuer authenticator apps show next to Agora's codes (no colon).
    #[arg(long, env = "AGORA_TOTP_ISSUER", default_value = "Agora")]
    pub totp_issuer: String,

    /// Seconds to let open requests and subscriptions finish after SIGTERM before exiting.
    #[arg(long, env = "AGORA_SHUTDOWN_DEADLINE_SECS", default_value_t = 20)]
    pub shutdown_deadline_secs: u64,

    /// GraphQL requests per minute per client address.
    #[arg(long, env = "AGORA_RATE_REQUESTS_PER_MINUTE", default_value_t = 1200)]
    pub rate_requests_per_minute: u32,

    /// Sign-in attempts per minute per client address.
    #[arg(long, env = "AGORA_RATE_LOGIN_PER_ADDRESS", default_value_t = 20)]
    pub rate_login_per_address: u32,

    /// Sign-in attempts per minute per account name (known or not).
    #[arg(long, env = "AGORA_RATE_LOGIN_PER_ACCOUNT", default_value_t = 5)]
    pub rate_login_per_account: u32,

    /// Registrations per minute per client address.
    #[arg(long, env = "AGORA_RATE_REGISTER_PER_ADDRESS", default_value_t = 10)]
    pub rate_register_per_address: u32,

    /// Longest wait imposed on an account name whose sign-in budget keeps running out: each
    /// exhaustion within a day doubles the wait, starting at one minute, up to this many seconds.
    #[arg(
        long,
        env = "AGORA_RATE_LOGIN_BACKOFF_MAX_SECS",
        default_value_t = 3600
    )]
    pub rate_login_backoff_max_secs: u64,

    /// Redis shared by every instance (rate limits, subscription fan-out, persisted queries).
    /// Without it those stay in process, which is right for one instance.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key and channel, so deployments (or tests) can share one Redis.
    #[arg(long, env = "AGORA_REDIS_PREFIX", default_value = "agora")]
    pub redis_prefix: String,

    /// Seconds between runs of the job that sends habit reminders: a reminder goes out within
    /// this long after its time.
    #[arg(long, env = "AGORA_REMINDERS_INTERVAL_SECS", default_value_t = 60)]
    pub reminders_interval_secs: u64,

    /// Seconds between runs of the job that archives habits whose end has passed (reads also
    /// archive them, so this only bounds how stale the table may look to SQL).
    #[arg(long, env = "AGORA_ARCHIVE_INTERVAL_SECS", default_value_t = 300)]
    pub archive_interval_secs: u64,

    /// Seconds a client may take to send a request's headers before it is disconnected.
    #[arg(long, env = "AGORA_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,

    /// Milliseconds a connection may stay open with no request running: from accept until its
    /// first request, and between requests; then it is closed.
    #[arg(long, env = "AGORA_IDLE_TIMEOUT_MS", default_value_t = 10_000)]
    pub idle_timeout_ms: u64,

    /// Connections open at once; further clients wait until one closes.
    #[arg(long, env = "AGORA_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,

    /// Connections open at once from one client address (an IPv6 /64 counts as one); further
    /// ones are closed at once. The trusted proxies are exempt.
    #[arg(long, env = "AGORA_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 64)]
    pub max_connections_per_address: usize,

    /// Seconds a whole HTTP request may take.
    #[arg(long, env = "AGORA_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,

    /// PostgreSQL's `statement_timeout` on the pool's connections, in milliseconds: the longest
    /// any one statement may run, and the most a request budget may allow. The default is the
    /// request deadline, past which nobody waits for the answer anyway.
    #[arg(long, env = "AGORA_STATEMENT_TIMEOUT_MS", default_value_t = 30_000)]
    pub statement_timeout_ms: u32,

    /// Habits one user may have, archived ones included. Statistics and the streak order read
    /// every habit's completions, so this bounds those requests; 500 is far past personal use.
    #[arg(long, env = "AGORA_MAX_HABITS_PER_USER", default_value_t = 500)]
    pub max_habits_per_user: u32,

    /// Tasks one user may have, done ones included: ten years of a task every working day.
    #[arg(long, env = "AGORA_MAX_TASKS_PER_USER", default_value_t = 5000)]
    pub max_tasks_per_user: u32,

    /// Themes one user may have; a generated colour is picked among those still unused.
    #[arg(long, env = "AGORA_MAX_THEMES_PER_USER", default_value_t = 100)]
    pub max_themes_per_user: u32,

    /// Live API tokens (neither revoked nor expired) one user may have: one per script.
    #[arg(long, env = "AGORA_MAX_API_TOKENS_PER_USER", default_value_t = 50)]
    pub max_api_tokens_per_user: u32,

    /// Fields and fragment spreads one GraphQL operation may select, counting each alias and each
    /// place a fragment is spread: a thousand aliases of a cheap field would otherwise run it a
    /// thousand times. GraphiQL's introspection query selects 204, the web app's largest
    /// document about 25.
    #[arg(long, env = "AGORA_MAX_FIELDS_PER_OPERATION", default_value_t = 500)]
    pub max_fields_per_operation: usize,

    /// Seconds between checks that a subscription socket's token and session still hold; the
    /// socket closes (4403) once they do not, so logout reaches open sockets too.
    #[arg(long, env = "AGORA_SOCKET_RECHECK_SECS", default_value_t = 30)]
    pub socket_recheck_secs: u64,

    /// OpenID Connect providers to sign in with, as a JSON array of `{"id", "displayName",
    /// "issuer", "clientId", "clientSecret", "scopes"}` (README: Sign-in with a provider).
    #[arg(long, env = "AGORA_OIDC_PROVIDERS", hide_env_values = true)]
    pub oidc_providers: Option<String>,

    /// The WebAuthn relying-party id passkeys are bound to (a domain); by default the front
    /// end's host (`localhost` for a front end at 127.0.0.1).
    #[arg(long, env = "AGORA_WEBAUTHN_RP_ID")]
    pub webauthn_rp_id: Option<String>,

    /// Origins passkey ceremonies may come from, comma-separated; by default the front end's.
    #[arg(long, env = "AGORA_WEBAUTHN_ORIGINS", value_delimiter = ',')]
    pub webauthn_origins: Vec<String>,

    /// Stripe's secret API key (`sk_…`); without it, payments are off.
    #[arg(long, env = "AGORA_STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<String>,

    /// The signing secret of Agora's Stripe webhook endpoint (`whsec_…`).
    #[arg(long, env = "AGORA_STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    pub stripe_webhook_secret: Option<String>,

    /// Stripe's publishable key (`pk_…`), handed to clients for Stripe.js through
    /// `topUpOffer`; it is public by design.
    #[arg(long, env = "AGORA_STRIPE_PUBLISHABLE_KEY")]
    pub stripe_publishable_key: Option<String>,

    /// Where Stripe's API answers (another server speaking it, in tests).
    #[arg(
        long,
        env = "AGORA_STRIPE_API_BASE",
        default_value = "https://api.stripe.com"
    )]
    pub stripe_api_base: String,

    /// The currency top-ups are paid in (ISO 4217, lower case).
    #[arg(long, env = "AGORA_STRIPE_CURRENCY", default_value = "usd")]
    pub stripe_currency: String,

    /// The price of one budget unit, in the currency's minor units (cents).
    #[arg(long, env = "AGORA_TOP_UP_UNIT_PRICE", default_value_t = 100)]
    pub top_up_unit_price: i64,

    /// The most budget units one top-up may buy.
    #[arg(long, env = "AGORA_TOP_UP_MAX_UNITS", default_value_t = 10_000)]
    pub top_up_max_units: i64,

    /// The most budget units a user may buy in 24 hours (failed top-ups do not count).
    #[arg(long, env = "AGORA_TOP_UP_DAILY_UNITS", default_value_t = 50_000)]
    pub top_up_daily_units: i64,

    /// Where quotes for `quoteOfTheDay` are fetched from: an answer shaped as ZenQuotes'
    /// `https://zenquotes.io/api/quotes` (a JSON array of `{"q": text, "a": author}`). Unset:
    /// nothing is fetched and the built-in quotes are used. It may hold a key: never logged.
    #[arg(long, env = "AGORA_QUOTES_URL", hide_env_values = true)]
    pub quotes_url: Option<String>,

    /// Seconds between quote fetches, counted across all instances: one of them fetches.
    #[arg(long, env = "AGORA_QUOTES_INTERVAL_SECS", default_value_t = 6 * 3600)]
    pub quotes_interval_secs: u64,

    /// Seconds a quote fetch may take, answer included, before it counts as failed.
    #[arg(long, env = "AGORA_QUOTES_TIMEOUT_SECS", default_value_t = 10)]
    pub quotes_timeout_secs: u64,

    /// A JSON file holding the same array, instead of `AGORA_OIDC_PROVIDERS`.
    #[arg(long, env = "AGORA_OIDC_PROVIDERS_FILE")]
    pub oidc_providers_file: Option<std::path::PathBuf>,

    /// Milliseconds a webhook endpoint has to answer an attempt, answer included; a slower
    /// answer counts as a failed attempt.
    #[arg(long, env = "AGORA_WEBHOOK_TIMEOUT_MS", default_value_t = 10_000)]
    pub webhook_timeout_ms: u64,

    /// Back-off of webhook retries: the wait after the first failed attempt, in milliseconds;
    /// it doubles with each failure (with jitter) up to `AGORA_WEBHOOK_RETRY_MAX_MS`.
    #[arg(long, env = "AGORA_WEBHOOK_RETRY_BASE_MS", default_value_t = 30_000)]
    pub webhook_retry_base_ms: u64,

    /// The longest wait between two attempts of a webhook delivery, in milliseconds.
    #[arg(long, env = "AGORA_WEBHOOK_RETRY_MAX_MS", default_value_t = 3_600_000)]
    pub webhook_retry_max_ms: u64,

    /// Attempts a webhook delivery gets before it is dead (listed until redelivered).
    #[arg(long, env = "AGORA_WEBHOOK_MAX_ATTEMPTS", default_value_t = 10)]
    pub webhook_max_attempts: i32,

    /// Failed attempts in a row (across its deliveries) that pause a webhook endpoint.
    #[arg(long, env = "AGORA_WEBHOOK_PAUSE_AFTER", default_value_t = 20)]
    pub webhook_pause_after: i32,

    /// How often the webhook queue is checked for due deliveries, in milliseconds.
    #[arg(long, env = "AGORA_WEBHOOK_POLL_MS", default_value_t = 1000)]
    pub webhook_poll_ms: u64,

    /// In production, accept webhook endpoints on plain `http://` (otherwise `https://` only).
    #[arg(long, env = "AGORA_WEBHOOK_ALLOW_HTTP", default_value_t = false)]
    pub webhook_allow_http: bool,
}

fn default_data_dir() -> std::path::PathBuf {
    dirs::data_dir().map_or_else(|| "data".into(), |dir| dir.join("agora"))
}

/// Quote providers limit how often they may be asked (ZenQuotes: a few times a minute per
/// address), and a fetch a week is still fresh enough for a quote of the day.
const MIN_QUOTES_INTERVAL_SECS: u64 = 60;
const MAX_QUOTES_INTERVAL_SECS: u64 = 7 * 24 * 3600;

/// A reminder goes out within one interval of its time: more than an hour is no reminder.
const MAX_REMINDERS_INTERVAL_SECS: u64 = 3600;

/// Refresh tokens presented again within this window return the same successor, so two tabs
/// refreshing at once do not log the user out.
pub const REFRESH_REUSE_GRACE: Duration = Duration::from_secs(10);

impl Config {
    /// The configuration from the environment alone, as `agora serve` with no flags sees it.
    pub fn from_env() -> anyhow::Result<Self> {
        #[derive(clap::Parser)]
        struct EnvOnly {
            #[command(flatten)]
            config: Config,
        }
        let parsed = <EnvOnly as clap::Parser>::try_parse_from(["agora"])?;
        Ok(parsed.config)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        crate::oidc::providers::configured(self)?;
        if self.env == Environment::Production {
            match &self.secret {
                None => bail!(
                    "AGORA_SECRET is required when AGORA_ENV=production: set it to a random string of at least 32 bytes"
                ),
                Some(secret) if secret.len() < 32 => {
                    bail!("AGORA_SECRET must be at least 32 bytes long")
                }
                Some(_) => {}
            }
        }
        if self.stripe_secret_key.is_some() != self.stripe_webhook_secret.is_some() {
            bail!(
                "payments need both AGORA_STRIPE_SECRET_KEY and AGORA_STRIPE_WEBHOOK_SECRET (or neither)"
            );
        }
        url::Url::parse(&self.stripe_api_base).context("AGORA_STRIPE_API_BASE is not a URL")?;
        if !(self.stripe_currency.len() == 3
            && self.stripe_currency.bytes().all(|b| b.is_ascii_lowercase()))
        {
            bail!("AGORA_STRIPE_CURRENCY must be three lower-case letters, such as usd");
        }
        if self.top_up_unit_price < 1 || self.top_up_max_units < 1 || self.top_up_daily_units < 1 {
            bail!("AGORA_TOP_UP_UNIT_PRICE, _MAX_UNITS and _DAILY_UNITS must be positive");
        }
        if let Some(endpoint) = &self.otel_exporter_otlp_endpoint {
            crate::telemetry::traces_url(endpoint)?;
        }
        if let Some(url) = &self.quotes_url {
            // The error alone: the URL may carry the provider's key.
            let parsed = url::Url::parse(url).context("AGORA_QUOTES_URL is not a URL")?;
            if !matches!(parsed.scheme(), "http" | "https") {
                bail!("AGORA_QUOTES_URL must be an http(s) URL");
            }
        }
        if !(MIN_QUOTES_INTERVAL_SECS..=MAX_QUOTES_INTERVAL_SECS)
            .contains(&self.quotes_interval_secs)
        {
            bail!(
                "AGORA_QUOTES_INTERVAL_SECS must be between {MIN_QUOTES_INTERVAL_SECS} and \
                 {MAX_QUOTES_INTERVAL_SECS} (a week)"
            );
        }
        if self.quotes_timeout_secs == 0 || self.quotes_timeout_secs >= self.quotes_interval_secs {
            bail!(
                "AGORA_QUOTES_TIMEOUT_SECS must be positive and shorter than \
                 AGORA_QUOTES_INTERVAL_SECS"
            );
        }
        if !(1..=MAX_REMINDERS_INTERVAL_SECS).contains(&self.reminders_interval_secs) {
            bail!(
                "AGORA_REMINDERS_INTERVAL_SECS must be between 1 and {MAX_REMINDERS_INTERVAL_SECS} \
                 (a reminder may go out that long after its time)"
            );
        }
        if self.statement_timeout_ms < 10 {
            bail!("AGORA_STATEMENT_TIMEOUT_MS must be at least 10");
        }
        if self.webhook_timeout_ms == 0
            || self.webhook_retry_base_ms == 0
            || self.webhook_retry_max_ms < self.webhook_retry_base_ms
            || self.webhook_max_attempts < 1
            || self.webhook_pause_after < 1
            || self.webhook_poll_ms < 10
        {
            bail!(
                "webhook settings: AGORA_WEBHOOK_TIMEOUT_MS and _RETRY_BASE_MS must be positive, \
                 _RETRY_MAX_MS at least _RETRY_BASE_MS, _MAX_ATTEMPTS and _PAUSE_AFTER at least 1, \
                 _POLL_MS at least 10"
            );
        }
        if self.default_budget < 0 {
            bail!("AGORA_DEFAULT_BUDGET must not be negative");
        }
        if self.is_production() && self.public_url.is_none() && self.app_url.is_none() {
            bail!(
                "AGORA_ENV=production needs to know where mailed links lead: set AGORA_APP_URL \
                 (the front end that opens them) or AGORA_PUBLIC_URL (Agora's own address, for \
                 its own pages); behind a proxy the listen address is no address for users"
            );
        }
        for (setting, url) in [
            ("AGORA_PUBLIC_URL", &self.public_url),
            ("AGORA_APP_URL", &self.app_url),
        ] {
            if let Some(url) = url {
                let parsed =
                    url::Url::parse(url).with_context(|| format!("{setting} is not a URL"))?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    bail!("{setting} must be an http(s) URL");
                }
            }
        }
        self.mail_from
            .parse::<lettre::message::Mailbox>()
            .context("AGORA_MAIL_FROM is not a mailbox such as \"Agora <no-reply@example.com>\"")?;
        anyhow::ensure!(
            !self.totp_issuer.is_empty() && !self.totp_issuer.contains(':'),
            "AGORA_TOTP_ISSUER must be non-empty and without a colon"
        );
        url::Url::parse(&self.database_url).context("DATABASE_URL is not a URL")?;
        if self.access_ttl_secs == 0
            || self.session_idle_secs == 0
            || self.session_absolute_secs == 0
            || self.reauth_window_secs == 0
        {
            bail!("token and session lifetimes must be positive");
        }
        for origin in self.cors_origins() {
            let parsed = url::Url::parse(origin)
                .with_context(|| format!("AGORA_CORS_ORIGINS: {origin:?} is not an origin"))?;
            let is_bare_origin = matches!(parsed.scheme(), "http" | "https")
                && parsed.path() == "/"
                && !origin.ends_with('/')
                && parsed.query().is_none();
            if !is_bare_origin {
                bail!(
                    "AGORA_CORS_ORIGINS: {origin:?} must be scheme://host[:port], without a path"
                );
            }
        }
        self.trusted_proxies()?;
        if let Some(redis_url) = &self.redis_url {
            redis::Client::open(redis_url.as_str()).context("REDIS_URL is not a Redis URL")?;
        }
        if self.max_fields_per_operation == 0 {
            bail!("AGORA_MAX_FIELDS_PER_OPERATION must be at least 1");
        }
        if self.db_pool_size == 0 {
            bail!("AGORA_DB_POOL_SIZE must be at least 1");
        }
        if self.max_connections == 0 || self.max_connections_per_address == 0 {
            bail!("AGORA_MAX_CONNECTIONS and AGORA_MAX_CONNECTIONS_PER_ADDRESS must be at least 1");
        }
        if self.header_timeout_secs == 0 || self.idle_timeout_ms == 0 {
            bail!("AGORA_HEADER_TIMEOUT_SECS and AGORA_IDLE_TIMEOUT_MS must be positive");
        }
        Ok(())
    }

    /// What mailed links start with: the front end, or else Agora itself.
    pub fn links_base(&self) -> String {
        match &self.app_url {
            Some(app) => app.clone(),
            None => self.own_url(),
        }
    }

    /// Where browsers reach Agora itself: `AGORA_PUBLIC_URL`, or else the listen address.
    pub fn own_url(&self) -> String {
        match &self.public_url {
            Some(public) => public.clone(),
            None => {
                // A wildcard address is nowhere to browse to; loopback is, on this machine.
                let own = match self.listen.parse::<std::net::SocketAddr>() {
                    Ok(mut address) if address.ip().is_unspecified() => {
                        address.set_ip(match address {
                            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                        });
                        address.to_string()
                    }
                    _ => self.listen.clone(),
                };
                format!("http://{own}")
            }
        }
    }

    pub fn is_production(&self) -> bool {
        self.env == Environment::Production
    }

    /// Whether the database is the local default because none was given, neither as
    /// `DATABASE_URL` nor as `--database-url`.
    pub fn database_is_default(&self) -> bool {
        std::env::var_os("DATABASE_URL").is_none() && self.database_url == DEFAULT_DATABASE_URL
    }

    /// Where `/metrics` listens, unless it is `off`.
    pub fn metrics_listen(&self) -> Option<&str> {
        Some(self.metrics_listen.trim()).filter(|listen| !listen.eq_ignore_ascii_case("off"))
    }

    pub fn trusted_proxies(&self) -> anyhow::Result<Vec<std::net::IpAddr>> {
        self.trusted_proxies
            .iter()
            .map(|entry| entry.trim())
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry.parse().with_context(|| {
                    format!("AGORA_TRUSTED_PROXIES: {entry:?} is not an IP address")
                })
            })
            .collect()
    }

    pub fn cors_origins(&self) -> impl Iterator<Item = &str> {
        self.cors_origins
            .iter()
            .map(|origin| origin.trim())
            .filter(|origin| !origin.is_empty())
    }
}
