//! The outbox worker: claims due mails, sends them, and reschedules failures with exponential
//! back-off. Delivery is at least once: a crash between sending and marking resends.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::Duration;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::model::OutboxRow;
use super::store;
use crate::App;
use crate::config::Config;
use crate::db;

/// How long a claimed mail is reserved for its worker.
const LEASE: Duration = Duration::minutes(2);
const BATCH: i64 = 20;
/// Back-off never waits longer than this.
const MAX_RETRY_DELAY: Duration = Duration::hours(1);

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// Without `SMTP_URL`: each mail becomes `<id>.eml` in this folder.
    Files(PathBuf),
}

impl Transport {
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        match &config.smtp_url {
            Some(smtp_url) => {
                let transport =
                    AsyncSmtpTransport::<Tokio1Executor>::from_url(&with_starttls(smtp_url)?)?
                        .timeout(Some(StdDuration::from_secs(10)))
                        .build();
                Ok(Self::Smtp(transport))
            }
            None => {
                let folder = config.data_dir.join("mail");
                tracing::info!(folder = %folder.display(), "SMTP_URL is not set: mail is written as .eml files");
                Ok(Self::Files(folder))
            }
        }
    }

    async fn deliver(&self, id: i64, message: Message) -> anyhow::Result<()> {
        match self {
            Self::Smtp(transport) => {
                transport.send(message).await?;
            }
            Self::Files(folder) => {
                tokio::fs::create_dir_all(folder).await?;
                let path = folder.join(format!("{id}.eml"));
                tokio::fs::write(&path, message.formatted()).await?;
                tracing::info!(path = %path.display(), "mail written");
            }
        }
        Ok(())
    }
}

/// Plain `smtp://` upgrades with STARTTLS where the server offers it (lettre's default for
/// the scheme is no TLS at all); an explicit `tls=` in the URL wins.
fn with_starttls(smtp_url: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(smtp_url)?;
    let has_tls = url.query_pairs().any(|(key, _)| key == "tls");
    if url.scheme() == "smtp" && !has_tls {
        url.query_pairs_mut().append_pair("tls", "opportunistic");
    }
    Ok(url.to_string())
}

/// Waits after the `attempts`-th failure: base, 2×base, 4×base, ... up to an hour.
pub fn retry_delay(attempts: i32, base: Duration) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(20);
    base.checked_mul(1 << doublings)
        .map_or(MAX_RETRY_DELAY, |delay| delay.min(MAX_RETRY_DELAY))
}

fn message(from: &Mailbox, row: &OutboxRow) -> anyhow::Result<Message> {
    Ok(Message::builder()
        .from(from.clone())
        .to(row.recipient.parse()?)
        .subject(&row.subject)
        .multipart(MultiPart::alternative_plain_html(
            row.text_body.clone(),
            row.html_body.clone(),
        ))?)
}

/// Sends due mail until the process ends; woken early when a request enqueues mail.
pub async fn run_outbox(app: Arc<App>) {
    let poll = StdDuration::from_millis(app.config.outbox_poll_ms.max(10));
    loop {
        match send_due(&app).await {
            Ok(sent) if sent == BATCH as usize => continue,
            Ok(_) => {}
            Err(error) => tracing::warn!(?error, "the outbox could not be read; will retry"),
        }
        let _ = tokio::time::timeout(poll, app.outbox_wakeup.notified()).await;
    }
}

/// One pass: claims a batch and tries each mail once. Returns how many were claimed.
pub async fn send_due(app: &App) -> anyhow::Result<usize> {
    let from: Mailbox = app.config.mail_from.parse()?;
    let base = Duration::milliseconds(i64::try_from(app.config.mail_retry_base_ms).unwrap_or(1000));
    let mut conn = db::conn(&app.pool)
        .await
        .map_err(|error| anyhow::anyhow!("{error:?}"))?;
    let rows = store::claim(&mut conn, app.clock.now(), LEASE, BATCH)
        .await
        .map_err(|error| anyhow::anyhow!("{error:?}"))?;
    for row in &rows {
        let outcome = match message(&from, row) {
            Ok(message) => app.mailer.deliver(row.id, message).await,
            Err(error) => Err(error),
        };
        let now = app.clock.now();
        let marked = match outcome {
            Ok(()) => store::mark_sent(&mut conn, row.id, now).await,
            Err(error) => {
                let retry_at = now + retry_delay(row.attempts, base);
                tracing::warn!(id = row.id, kind = %row.kind, attempts = row.attempts, %error, "mail not sent; will retry");
                store::mark_failed(&mut conn, row.id, &error.to_string(), retry_at).await
            }
        };
        marked.map_err(|error| anyhow::anyhow!("{error:?}"))?;
    }
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_up_to_an_hour() {
        let base = Duration::seconds(2);
        let delays: Vec<i64> = (1..=5)
            .map(|n| retry_delay(n, base).num_seconds())
            .collect();
        assert_eq!(delays, [2, 4, 8, 16, 32]);
        assert_eq!(retry_delay(40, base), MAX_RETRY_DELAY);
        assert_eq!(retry_delay(0, base), base);
    }

    #[test]
    fn plain_smtp_asks_for_starttls_when_offered() {
        assert_eq!(
            with_starttls("smtp://user:pw@mail.example:587").unwrap(),
            "smtp://user:pw@mail.example:587?tls=opportunistic"
        );
        assert_eq!(
            with_starttls("smtp://mail.example?tls=required").unwrap(),
            "smtp://mail.example?tls=required"
        );
        assert_eq!(
            with_starttls("smtps://mail.example").unwrap(),
            "smtps://mail.example"
        );
    }
}
