//! The Redis that instances share when `REDIS_URL` is set. Calls fail fast (a short connect and
//! response timeout) so an unreachable Redis degrades a feature to its in-process fallback
//! instead of stalling requests; the connection manager reconnects by itself when Redis returns.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// How long a Redis call may take before the caller falls back.
const CALL_TIMEOUT: Duration = Duration::from_millis(300);

#[derive(Clone)]
pub struct Redis {
    client: redis::Client,
    connection: ConnectionManager,
    prefix: String,
}

impl Redis {
    /// Prepares the connection without opening it, so the server starts while Redis is down.
    pub fn new(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        Ok(Self {
            client,
            connection,
            prefix: prefix.to_owned(),
        })
    }

    /// A key or channel name in this deployment's namespace.
    pub fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    pub fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    /// A dedicated connection for subscribing (a subscribed connection can do nothing else).
    pub async fn pubsub(&self) -> redis::RedisResult<redis::aio::PubSub> {
        tokio::time::timeout(CALL_TIMEOUT, self.client.get_async_pubsub())
            .await
            .map_err(|_| {
                redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))
            })?
    }

    /// Where the server is (`host:port`), for messages: never the URL's password.
    pub fn address(&self) -> String {
        self.client.get_connection_info().addr().to_string()
    }

    pub async fn ping(&self) -> bool {
        let mut connection = self.connection();
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .is_ok()
    }
}
