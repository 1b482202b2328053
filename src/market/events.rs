//! Market events for subscribers, resumable. Every event is logged in the transaction of the
//! change that caused it (`market_events`), in an order every reader sees alike: (tx, id), whose
//! settled part only grows at its end (see the migration that made the log). A subscriber is
//! given each event with its cursor; reconnecting with `after: cursor`, to any instance, it
//! receives what it missed, in order, then live events, with nothing twice.
//!
//! Each instance reads the log for all of its subscribers at once (the tail): once woken by a
//! change on any instance (through [`Fanout`], so through Redis when configured), and at least
//! every [`POLL`] while anyone listens, so events still arrive when the wake-up is lost. It
//! passes what it read on as a batch saying where the batch starts; a subscriber for whom that
//! start lies beyond its own position (it has just joined, or fell behind) first reads the gap
//! from the log itself.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, SimpleObject, Subscription};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::{FutureExt, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::model::{Item, MarketEventKind};
use super::store::{self, LoggedEvent};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::graphql::{ContextExt, Permission};
use crate::rbac::perm;
use crate::shared::{Fanout, Redis};

/// Something that happened on the market, with the item as it was right after it.
#[derive(SimpleObject, Clone, Debug)]
pub struct MarketEvent {
    /// Where this event stands: subscribe again with `after` set to it to receive every event
    /// that follows, from any instance.
    pub cursor: String,
    /// What happened.
    pub kind: MarketEventKind,
    /// The item as it was right after the event.
    pub item: Item,
}

/// Where an event stands in the log: ordered by the writing transaction, then by id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Position {
    tx: i64,
    id: i64,
}

impl Position {
    fn cursor(self) -> String {
        URL_SAFE_NO_PAD.encode(format!("ev:{}:{}", self.tx, self.id))
    }

    fn from_cursor(cursor: &str) -> Option<Self> {
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
        let (tx, id) = text.strip_prefix("ev:")?.split_once(':')?;
        Some(Self {
            tx: tx.parse().ok()?,
            id: id.parse().ok()?,
        })
    }

    fn pair(self) -> (i64, i64) {
        (self.tx, self.id)
    }
}

/// Events the tail read, after `from`.
struct Batch {
    from: Position,
    events: Vec<(Position, MarketEvent)>,
}

/// A wake-up: something was logged. The events themselves are read from the log.
#[derive(Clone, Serialize, Deserialize)]
struct Changed;

/// How often the tail looks at the log while anyone listens, woken or not.
const POLL: Duration = Duration::from_secs(1);
/// While the log holds events that are not settled yet, it is looked at again after this,
/// doubling up to [`POLL`].
const SETTLING: Duration = Duration::from_millis(5);
/// Events read from the log at once.
const PAGE: i64 = 500;
/// Batches a subscriber may fall behind before it reads what it missed from the log instead.
const FEED_BUFFER: usize = 64;

pub struct MarketEvents {
    changes: Fanout<Changed>,
    feed: broadcast::Sender<Arc<Batch>>,
    pool: DbPool,
}

impl MarketEvents {
    /// Also starts this instance's tail (it ends when these are dropped).
    pub fn new(redis: Option<Redis>, pool: DbPool) -> Self {
        let changes = Fanout::new(redis, "market-events");
        let feed = broadcast::channel(FEED_BUFFER).0;
        tokio::spawn(tail(
            pool.clone(),
            Box::pin(changes.subscribe()),
            feed.downgrade(),
        ));
        Self {
            changes,
            feed,
            pool,
        }
    }

    /// Wakes the tails of every instance: call it once a change that logged events commits.
    pub async fn changed(&self) {
        self.changes.publish(Changed).await;
    }

    /// The events after the one `after` names (or from now), then live ones.
    async fn subscribe(
        &self,
        after: Option<&str>,
    ) -> Result<impl Stream<Item = Result<MarketEvent, AppError>> + use<>, AppError> {
        // Listening before the log is first read: a batch the tail sends meanwhile is either
        // covered by that read or received here.
        let feed = self.feed.subscribe();
        let mut conn = db::conn(&self.pool).await?;
        let position = match after {
            Some(cursor) => {
                let position = Position::from_cursor(cursor).ok_or_else(|| {
                    AppError::bad_input("after", "Not a cursor marketEvents gave out")
                })?;
                if !store::is_logged(&mut conn, position.pair()).await? {
                    return Err(AppError::bad_input(
                        "after",
                        "This event is no longer kept: subscribe without `after` and read what \
                         changed meanwhile from the lists",
                    ));
                }
                position
            }
            None => settled_end(&mut conn).await?,
        };
        let reader = Reader {
            pool: self.pool.clone(),
            feed,
            position,
            pending: VecDeque::new(),
            behind: after.is_some(),
            failed: false,
        };
        Ok(futures_util::stream::unfold(reader, |mut reader| async {
            let event = reader.next().await?;
            Some((event, reader))
        }))
    }
}

async fn settled_end(conn: &mut db::DbConn) -> Result<Position, AppError> {
    Ok(store::settled_end(conn)
        .await?
        .map(|(tx, id)| Position { tx, id })
        .unwrap_or_default())
}

/// What one read of the log found.
struct Read {
    /// Settled events, in order.
    settled: Vec<(Position, MarketEvent)>,
    /// Whether more was logged after them: events not settled yet, or past the page.
    more: bool,
}

async fn read_after(pool: &DbPool, from: Position) -> Result<Read, AppError> {
    let mut conn = db::conn(pool).await?;
    let rows = store::events_after(&mut conn, from.pair(), PAGE).await?;
    let mut more = rows.len() as i64 == PAGE;
    let mut settled = Vec::with_capacity(rows.len());
    for (row, settled_below) in rows {
        if row.tx >= settled_below {
            more = true;
            break;
        }
        settled.push(event_of(row)?);
    }
    Ok(Read { settled, more })
}

fn event_of(row: LoggedEvent) -> Result<(Position, MarketEvent), AppError> {
    let position = Position {
        tx: row.tx,
        id: row.id,
    };
    let kind = MarketEventKind::from_code(&row.kind).ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("market event {} is {}", row.id, row.kind))
    })?;
    let item: Item =
        serde_json::from_value(row.item).map_err(|error| AppError::Internal(error.into()))?;
    Ok((
        position,
        MarketEvent {
            cursor: position.cursor(),
            kind,
            item,
        },
    ))
}

/// This instance's reader of the log for its subscribers.
async fn tail(
    pool: DbPool,
    mut changes: std::pin::Pin<Box<dyn Stream<Item = Changed> + Send>>,
    feed: broadcast::WeakSender<Arc<Batch>>,
) {
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // None while nobody listens: a first subscriber reads what came before it itself.
    let mut position: Option<Position> = None;
    let mut settling: Option<Duration> = None;
    loop {
        match settling {
            Some(pause) => tokio::time::sleep(pause).await,
            None => {
                tokio::select! {
                    change = changes.next() => if change.is_none() { return },
                    _ = poll.tick() => {}
                }
            }
        }
        // Wake-ups that came meanwhile are answered by this one read.
        while let Some(Some(_)) = changes.next().now_or_never() {}
        let Some(feed) = feed.upgrade() else { return };
        if feed.receiver_count() == 0 {
            position = None;
            settling = None;
            continue;
        }
        let started = position.is_none();
        let read = async {
            let from = match position {
                Some(position) => position,
                None => settled_end(&mut db::conn(&pool).await?).await?,
            };
            Ok::<_, AppError>((from, read_after(&pool, from).await?))
        };
        match read.await {
            Ok((from, read)) => {
                position = Some(read.settled.last().map_or(from, |(last, _)| *last));
                settling = read
                    .more
                    .then(|| settling.map_or(SETTLING, |pause| (pause * 2).min(POLL)));
                // A tail that has just started begins where the log ends now, past what a
                // subscriber that joined a moment ago may still need: even an empty batch tells
                // it where the tail begins, so that it reads the gap itself.
                if started || !read.settled.is_empty() {
                    let _ = feed.send(Arc::new(Batch {
                        from,
                        events: read.settled,
                    }));
                }
            }
            Err(error) => {
                tracing::warn!(?error, "reading the market's event log failed");
                settling = None;
            }
        }
    }
}

/// One subscriber's way through the log.
struct Reader {
    pool: DbPool,
    feed: broadcast::Receiver<Arc<Batch>>,
    /// The last event given out (or where the subscriber started).
    position: Position,
    /// Read, not given out yet, in order; those at or before `position` are skipped.
    pending: VecDeque<(Position, MarketEvent)>,
    /// Whether the log holds settled events after `position` that no batch will bring.
    behind: bool,
    /// Once reading the log failed, the stream ends (after saying so): the client resumes
    /// from its last cursor.
    failed: bool,
}

impl Reader {
    async fn next(&mut self) -> Option<Result<MarketEvent, AppError>> {
        loop {
            if self.failed {
                return None;
            }
            if let Some((position, event)) = self.pending.pop_front() {
                if position > self.position {
                    self.position = position;
                    return Some(Ok(event));
                }
                continue;
            }
            if self.behind {
                match read_after(&self.pool, self.position).await {
                    Ok(read) => {
                        // Only a full page says more is settled; unsettled events come in a
                        // batch once they are.
                        self.behind = read.settled.len() as i64 == PAGE;
                        self.pending.extend(read.settled);
                    }
                    Err(error) => {
                        self.failed = true;
                        return Some(Err(error));
                    }
                }
                continue;
            }
            match self.feed.recv().await {
                Ok(batch) if batch.from > self.position => self.behind = true,
                Ok(batch) => self.pending.extend(batch.events.iter().cloned()),
                Err(broadcast::error::RecvError::Lagged(_)) => self.behind = true,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

#[derive(Default)]
pub struct MarketSubscription;

#[Subscription]
impl MarketSubscription {
    /// Items listed, purchased and sold, in the order every subscriber sees. With `after` (an
    /// event's cursor), first every event after that one, so a client that reconnects misses
    /// nothing and receives nothing twice; without it, the events from now on.
    #[graphql(guard = "Permission(perm::MARKET_TRADE)")]
    async fn market_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cursor of the last event received before reconnecting.")]
        after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = Result<MarketEvent, async_graphql::Error>> + use<>>
    {
        let events = ctx.app().market_events.subscribe(after.as_deref()).await?;
        Ok(events.map(|event| event.map_err(Into::into)))
    }
}
