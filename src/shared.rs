//! The Redis that instances share when `REDIS_URL` is set. Calls fail fast (a short connect and
//! response timeout) so an unreachable Redis degrades a feature to its in-process fallback
//! instead of stalling requests; the connection manager reconnects by itself when Redis returns.
//! [`Fanout`] carries live events to the subscribers of every instance through it.

use std::time::Duration;

use futures_util::{Stream, StreamExt};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

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

/// Events a subscriber waits for, published after the change that caused them commits. Without
/// Redis they fan out in process (one instance). With Redis every instance publishes to one
/// channel and relays what arrives on it to its own subscribers, so an event caused on one
/// instance reaches subscribers on all; while Redis is unreachable, events reach this instance's
/// subscribers only. Slow subscribers that fall behind the buffer skip what they missed.
pub struct Fanout<T> {
    local: broadcast::Sender<T>,
    redis: Option<Redis>,
    channel: &'static str,
}

const FANOUT_BUFFER: usize = 1024;

impl<T> Fanout<T>
where
    T: Clone + Send + Serialize + DeserializeOwned + 'static,
{
    /// With Redis, also starts the relay from the shared `channel` to this instance's
    /// subscribers (it ends when the fanout is dropped).
    pub fn new(redis: Option<Redis>, channel: &'static str) -> Self {
        let local = broadcast::channel(FANOUT_BUFFER).0;
        if let Some(redis) = &redis {
            tokio::spawn(relay(redis.clone(), channel, local.downgrade()));
        }
        Self {
            local,
            redis,
            channel,
        }
    }

    pub async fn publish(&self, event: T) {
        if let Some(redis) = &self.redis {
            let published = match serde_json::to_string(&event) {
                Ok(payload) => redis::cmd("PUBLISH")
                    .arg(redis.key(self.channel))
                    .arg(payload)
                    .query_async::<i64>(&mut redis.connection())
                    .await
                    .map_err(|error| error.to_string()),
                Err(error) => Err(error.to_string()),
            };
            match published {
                Ok(_) => return,
                Err(error) => tracing::warn!(
                    %error,
                    channel = self.channel,
                    "Redis is unreachable: the event reaches this instance's subscribers only"
                ),
            }
        }
        // No subscriber is not an error: the event simply has nobody to reach.
        let _ = self.local.send(event);
    }

    pub fn subscribe(&self) -> impl Stream<Item = T> + use<T> {
        BroadcastStream::new(self.local.subscribe()).filter_map(|event| async move { event.ok() })
    }
}

/// Forwards the shared channel to local subscribers, reconnecting after Redis drops out.
async fn relay<T>(redis: Redis, channel: &'static str, local: broadcast::WeakSender<T>)
where
    T: DeserializeOwned,
{
    let name = redis.key(channel);
    while local.strong_count() > 0 {
        let subscribed = match redis.pubsub().await {
            Ok(mut pubsub) => pubsub.subscribe(&name).await.map(|()| pubsub),
            Err(error) => Err(error),
        };
        let Ok(mut pubsub) = subscribed else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            let Some(local) = local.upgrade() else { return };
            match serde_json::from_slice::<T>(message.get_payload_bytes()) {
                Ok(event) => {
                    let _ = local.send(event);
                }
                Err(error) => tracing::warn!(%error, channel, "ignoring a malformed event"),
            }
        }
        tracing::warn!(
            channel,
            "lost the Redis subscription for events: reconnecting"
        );
    }
}
