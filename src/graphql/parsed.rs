//! Parsed documents of recent queries, so a query the clients send again and again (every
//! Apollo operation, every persisted query) is parsed once, not on every request. Validation
//! and execution still run per request.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use async_graphql::parser::types::ExecutableDocument;
use lru::LruCache;

const CAPACITY: usize = 500;
/// Longer texts are parsed every time: the cache must not be a way to pin memory.
const MAX_CACHED_LEN: usize = 4096;

pub struct ParsedDocuments(Mutex<LruCache<String, ExecutableDocument>>);

impl Default for ParsedDocuments {
    fn default() -> Self {
        Self(Mutex::new(LruCache::new(
            NonZeroUsize::new(CAPACITY).unwrap_or(NonZeroUsize::MIN),
        )))
    }
}

impl ParsedDocuments {
    /// Gives `request` its parsed document from the cache, or parses it and keeps the result if
    /// it parsed. A text that does not parse is left for the request to report.
    pub fn prime(&self, request: &mut async_graphql::Request) {
        if request.query.len() > MAX_CACHED_LEN {
            return;
        }
        let cached = self.lock().get(&request.query).cloned();
        match cached {
            Some(document) => request.set_parsed_query(document),
            None => {
                if let Ok(document) = request.parsed_query() {
                    let document = document.clone();
                    self.lock().put(request.query.clone(), document);
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, ExecutableDocument>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
