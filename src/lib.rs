//! Agora: one GraphQL schema over Postgres. [`App`] holds what every request shares; `http`
//! mounts the schema; each domain module keeps its model, store, rules and resolvers together.
// The merged Query and Mutation nest one async body per member: past 16 members, computing
// their layout goes deeper than the default limit of 128.
#![recursion_limit = "256"]

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod bounded;
pub mod budgets;
pub mod cleanup;
pub mod clock;
pub mod config;
pub mod dates;
pub mod db;
pub mod error;
pub mod graphql;
pub mod habit_io;
pub mod habits;
pub mod http;
pub mod mail;
pub mod market;
pub mod metrics;
pub mod oidc;
pub mod outbound;
pub mod passkeys;
pub mod payments;
pub mod privacy;
pub mod quotes;
pub mod ratelimit;
pub mod rbac;
pub mod reminders;
pub mod request;
pub mod shared;
pub mod stats;
pub mod tasks;
pub mod telemetry;
pub mod text;
pub mod themes;
pub mod webhooks;

use std::sync::Arc;

use auth::passwords::Passwords;
use auth::tokens::TokenKeys;
use config::Config;
use db::DbPool;

pub struct App {
    pub config: Config,
    pub pool: DbPool,
    pub passwords: Passwords,
    pub tokens: TokenKeys,
    pub market_events: market::events::MarketEvents,
    /// Habit reminders as they go out, for their owners' `habitReminders` subscriptions.
    pub reminder_events: shared::Fanout<reminders::model::ReminderSent>,
    pub clock: clock::Clock,
    pub mfa: auth::mfa::rules::MfaKeys,
    pub mailer: mail::sender::Transport,
    /// Rung when mail is enqueued, so the outbox worker sends it without waiting for a poll.
    pub outbox_wakeup: tokio::sync::Notify,
    pub limits: ratelimit::Limits,
    pub permission_sets: rbac::permissions::PermissionSets,
    /// Becomes true when the server begins to shut down; open subscriptions close on it.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// Open subscription sockets, which shutdown waits for (up to its deadline).
    pub sockets: tokio_util::task::TaskTracker,
    /// Set when `REDIS_URL` is: what instances share beyond Postgres.
    pub redis: Option<shared::Redis>,
    /// The configured OpenID Connect providers, and the client that reaches them.
    pub oidc: oidc::providers::Providers,
    /// The WebAuthn relying party passkeys are registered with and checked against.
    pub webauthn: Option<webauthn_rs::prelude::Webauthn>,
    /// Stripe, when payments are configured.
    pub stripe: Option<payments::stripe::Stripe>,
    /// The quote provider, when `AGORA_QUOTES_URL` is set.
    pub quotes: Option<quotes::provider::Provider>,
    /// The only documents that run (but for holders of `documents:any`), when
    /// `AGORA_TRUSTED_DOCUMENTS` names a manifest.
    pub trusted_documents: Option<Arc<graphql::trusted::TrustedDocuments>>,
    /// Outbound webhooks' sealing key and HTTP client.
    pub webhooks: webhooks::Webhooks,
}

impl App {
    /// Validates the configuration, creates and migrates the database if needed, and connects.
    pub async fn build(config: Config) -> anyhow::Result<Arc<Self>> {
        config.validate()?;
        db::ensure_database_exists(&config.database_url).await?;
        let applied = db::run_migrations(&config.database_url).await?;
        if applied > 0 {
            tracing::info!(applied, "applied migrations");
        }
        let secret = match &config.secret {
            Some(secret) => secret.as_bytes().to_vec(),
            None => {
                let mut key = vec![0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
                key
            }
        };
        let redis = config
            .redis_url
            .as_deref()
            .map(|url| shared::Redis::new(url, &config.redis_prefix))
            .transpose()?;
        if let Some(redis) = &redis
            && !redis.ping().await
        {
            // Not a refusal: every use of Redis falls back to this instance until it answers.
            tracing::warn!(
                redis = %redis.address(),
                "the Redis at REDIS_URL does not answer: limits and live events stay within this \
                 instance until it does"
            );
        }
        metrics::install();
        let pool = db::build_pool(&config, metrics::count_statements)?;
        Ok(Arc::new(Self {
            passwords: Passwords::new(config.argon2_m_kib, config.argon2_t)?,
            tokens: TokenKeys::new(&secret, config.access_ttl_secs)?,
            mfa: auth::mfa::rules::MfaKeys::new(&secret)?,
            mailer: mail::sender::Transport::from_config(&config)?,
            oidc: oidc::providers::Providers::from_config(&config)?,
            webauthn: passkeys::relying_party(&config)?,
            stripe: payments::client(&config)?,
            quotes: quotes::provider(&config)?,
            trusted_documents: config
                .trusted_documents
                .as_deref()
                .map(graphql::trusted::TrustedDocuments::load)
                .transpose()?
                .map(Arc::new),
            webhooks: webhooks::Webhooks::new(&config, &secret)?,
            outbox_wakeup: tokio::sync::Notify::new(),
            limits: ratelimit::Limits::new(&config, redis.clone()),
            permission_sets: Default::default(),
            market_events: market::events::MarketEvents::new(redis.clone(), pool.clone()),
            reminder_events: shared::Fanout::new(redis.clone(), "habit-reminders"),
            redis,
            stopping: tokio::sync::watch::Sender::new(false),
            sockets: tokio_util::task::TaskTracker::new(),
            clock: Default::default(),
            pool,
            config,
        }))
    }
}
