//! Automatic persisted queries (Apollo APQ): a client sends a query's SHA-256 instead of its
//! text; the first time, the server answers `PersistedQueryNotFound` and the client sends both.
//! Texts are kept in Redis when configured (every instance knows every query) and in a bounded
//! in-process LRU always (the fallback, and a cache in front of Redis).
//!
//! async-graphql's `ApolloPersistedQueries` extension resolves hashes inside `execute`, after the
//! HTTP layer has had to decide from the query text whether a GET runs a mutation and which
//! credential checks an operation holds; resolving here, before those checks, keeps them whole.

use async_graphql::{ServerError, Value};
use sha2::{Digest, Sha256};

use crate::bounded::BoundedCache;
use crate::error::code;
use crate::shared::Redis;

const LOCAL_CAPACITY: usize = 1000;
/// Queries a client has not sent for a week are forgotten; it simply sends the text again.
const REDIS_TTL_SECS: u64 = 7 * 24 * 3600;

pub struct PersistedQueries {
    local: BoundedCache<String, String>,
    redis: Option<Redis>,
}

/// What the request's `persistedQuery` extension asks for.
pub enum Lookup {
    /// No persisted query: the request carries its text as usual.
    None,
    /// The text was found (or sent along and matches): remember it once it parses.
    Resolved { hash: String, is_new: bool },
}

/// How a document is named by hash, here and in a trusted-documents manifest: the SHA-256 of
/// its exact text, in lower-case hex.
pub fn document_hash(text: &str) -> String {
    format!("{:x}", Sha256::digest(text))
}

fn error(message: &str, code: &str) -> ServerError {
    let mut error = ServerError::new(message, None);
    super::set_code(&mut error, code);
    error
}

impl PersistedQueries {
    pub fn new(redis: Option<Redis>) -> Self {
        Self {
            local: BoundedCache::new(LOCAL_CAPACITY),
            redis,
        }
    }

    /// Fills in the text of a request that names its query by hash, or says why it cannot.
    pub async fn resolve(
        &self,
        request: &mut async_graphql::Request,
    ) -> Result<Lookup, ServerError> {
        let Some(extension) = request.extensions.get("persistedQuery") else {
            return Ok(Lookup::None);
        };
        let hash = match extension {
            Value::Object(fields) if fields.get("version") == Some(&Value::from(1)) => {
                match fields.get("sha256Hash") {
                    Some(Value::String(hash))
                        if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
                    {
                        hash.to_ascii_lowercase()
                    }
                    _ => {
                        return Err(error(
                            "persistedQuery.sha256Hash must be 64 hex digits",
                            code::BAD_REQUEST,
                        ));
                    }
                }
            }
            _ => {
                return Err(error(
                    "Unsupported persistedQuery version (only 1 is known)",
                    code::BAD_REQUEST,
                ));
            }
        };
        if !request.query.is_empty() {
            if document_hash(&request.query) != hash {
                return Err(error(
                    "provided sha does not match query",
                    code::BAD_REQUEST,
                ));
            }
            return Ok(Lookup::Resolved { hash, is_new: true });
        }
        match self.get(&hash).await {
            Some(text) => {
                request.query = text;
                Ok(Lookup::Resolved {
                    hash,
                    is_new: false,
                })
            }
            None => Err(error(
                "PersistedQueryNotFound",
                code::PERSISTED_QUERY_NOT_FOUND,
            )),
        }
    }

    async fn get(&self, hash: &str) -> Option<String> {
        if let Some(text) = self.local.get(hash) {
            return Some(text);
        }
        let redis = self.redis.as_ref()?;
        let text: Option<String> = redis::cmd("GET")
            .arg(redis.key(&format!("apq:{hash}")))
            .query_async(&mut redis.connection())
            .await
            .ok()?;
        let text = text?;
        self.local.put(hash.to_owned(), text.clone());
        Some(text)
    }

    /// Remembers a query that parsed, so hostile clients cannot fill the store with junk.
    pub async fn remember(&self, hash: String, text: &str) {
        if let Some(redis) = &self.redis {
            let stored = redis::cmd("SET")
                .arg(redis.key(&format!("apq:{hash}")))
                .arg(text)
                .arg("EX")
                .arg(REDIS_TTL_SECS)
                .query_async::<()>(&mut redis.connection())
                .await;
            if let Err(error) = stored {
                tracing::warn!(%error, "persisted query kept in this instance only");
            }
        }
        self.local.put(hash, text.to_owned());
    }
}
