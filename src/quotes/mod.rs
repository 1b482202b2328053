//! The quote of the day. Quotes come from a provider (`AGORA_QUOTES_URL`, ZenQuotes' shape),
//! fetched at start and then every `AGORA_QUOTES_INTERVAL_SECS` by one instance of however many
//! run (a lease row in Postgres, see `store::claim_fetch`); a failed fetch keeps what is stored.
//! `quoteOfTheDay` picks one for the viewer's local day from the stored quotes, or from a
//! built-in list while there are none.

pub mod graphql;
pub mod model;
pub mod provider;
pub mod rules;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::App;
use crate::config::Config;
use crate::db;
use crate::error::AppError;
use crate::request::Viewer;
use model::Quote;
use provider::{Provider, Unanswered};
use rules::AnswerProblem;

/// The most quotes kept: a good fetch adds ZenQuotes' fifty, and the least recently fetched go.
const MAX_STORED: i64 = 1000;

/// The provider when `AGORA_QUOTES_URL` is set.
pub fn provider(config: &Config) -> anyhow::Result<Option<Provider>> {
    config
        .quotes_url
        .as_deref()
        .map(|url| Provider::new(url, Duration::from_secs(config.quotes_timeout_secs)))
        .transpose()
}

/// The viewer's quote for their day (as their zone and day start divide days): picked among
/// the quotes stored before that day began, so it stays all day whatever is fetched meanwhile
/// (the built-in list serves a day that began before the first fetch), and likely another for
/// another user or day.
pub async fn quote_of_the_day(app: &App, viewer: &Viewer) -> Result<Quote, AppError> {
    let today = viewer.local_date(app.clock.now());
    let seed = rules::daily_seed(viewer.user_id, today);
    let mut conn = db::conn(&app.pool).await?;
    let stored = store::pick(&mut conn, seed, viewer.days.start_of(today)).await?;
    Ok(stored.unwrap_or_else(|| rules::built_in(seed)))
}

/// What one [`fetch_if_due`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Fetch {
    /// No provider is configured.
    Off,
    /// Another attempt (here or on another instance) was made less than an interval ago; the
    /// next one is due at this instant.
    NotDue(DateTime<Utc>),
    /// The provider answered with quotes: this many were stored (new or seen again).
    Stored(usize),
    /// The provider was asked and gave nothing usable; the stored quotes are as they were.
    Failed(Failure),
}

/// Why a fetch stored nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    Unanswered(Unanswered),
    Unusable(AnswerProblem),
}

/// Asks the provider for quotes when this interval's fetch has not been made by any instance,
/// and stores them. Safe to call on every instance at once: one of them fetches.
pub async fn fetch_if_due(app: &App) -> Result<Fetch, AppError> {
    let Some(provider) = app.quotes.as_ref() else {
        return Ok(Fetch::Off);
    };
    let interval = interval(&app.config);
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    if !store::claim_fetch(&mut conn, now - interval, now).await? {
        let last = store::last_fetch_attempt(&mut conn).await?.unwrap_or(now);
        return Ok(Fetch::NotDue(last + interval));
    }
    // No connection is held while the provider takes its time.
    drop(conn);
    let fetched = match provider.fetch().await {
        Ok(body) => rules::parse_answer(&body).map_err(Failure::Unusable),
        Err(unanswered) => Err(Failure::Unanswered(unanswered)),
    };
    let fetched = match fetched {
        Ok(fetched) => fetched,
        Err(failure) => {
            // What went wrong, never the answer: it is the provider's text, of any size.
            tracing::warn!(?failure, "fetching quotes failed; the stored quotes stay");
            return Ok(Fetch::Failed(failure));
        }
    };
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    let stored = db::transaction(&mut conn, async |conn| {
        let stored = store::upsert(conn, &fetched, now).await?;
        store::keep_newest(conn, MAX_STORED).await?;
        Ok(stored)
    })
    .await?;
    Ok(Fetch::Stored(stored))
}

/// `AGORA_QUOTES_INTERVAL_SECS`, which `Config::validate` keeps between a minute and a week.
fn interval(config: &Config) -> chrono::Duration {
    chrono::Duration::seconds(config.quotes_interval_secs.cast_signed())
}

/// Runs [`fetch_if_due`] at start and then whenever the next fetch falls due, for as long as
/// the server runs (only while a provider is configured). Instances wake at different moments;
/// each sleeps until the lease's interval has passed, so the fetch happens about once per
/// interval however many run.
pub async fn run_fetch_job(app: Arc<App>) {
    let every = Duration::from_secs(app.config.quotes_interval_secs);
    // A lease that ends in a moment would wake this loop over and over.
    let at_least = Duration::from_secs(1);
    loop {
        let wait = match fetch_if_due(&app).await {
            Ok(Fetch::Off) => return,
            Ok(Fetch::NotDue(due)) => (due - app.clock.now()).to_std().unwrap_or_default(),
            Ok(Fetch::Stored(stored)) => {
                tracing::info!(stored, "fetched quotes");
                every
            }
            Ok(Fetch::Failed(_)) => every,
            Err(error) => {
                tracing::warn!(
                    ?error,
                    "the quote fetch could not reach the database; will retry"
                );
                every.min(Duration::from_secs(60))
            }
        };
        tokio::time::sleep(wait.clamp(at_least, every)).await;
    }
}
