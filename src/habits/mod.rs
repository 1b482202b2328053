//! Habits: the recurrence engine (`rules`), their storage, the API, and the statistics.

pub mod graphql;
pub mod model;
pub mod rules;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use crate::App;

/// Archives ended habits of every user now and then, for as long as the server runs. Safe on
/// every instance at once: the statement only touches rows still unarchived.
pub async fn run_archive_job(app: Arc<App>) {
    let mut ticks =
        tokio::time::interval(Duration::from_secs(app.config.archive_interval_secs.max(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let outcome = match crate::db::conn(&app.pool).await {
            Ok(mut conn) => store::archive_ended(&mut conn, app.clock.now(), None).await,
            Err(error) => Err(error),
        };
        match outcome {
            Ok(0) => {}
            Ok(archived) => tracing::info!(archived, "archived habits that ended"),
            Err(error) => tracing::warn!(?error, "archiving ended habits failed; will retry"),
        }
    }
}
