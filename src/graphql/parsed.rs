//! Parsed documents of recent queries, so a query the clients send again and again (every
//! Apollo operation, every persisted query) is parsed once, not on every request. Validation
//! and execution still run per request.

use async_graphql::parser::types::ExecutableDocument;

use crate::bounded::BoundedCache;

const CAPACITY: usize = 500;
/// Longer texts are parsed every time: the cache must not be a way to pin memory.
const MAX_CACHED_LEN: usize = 4096;

pub struct ParsedDocuments(BoundedCache<String, ExecutableDocument>);

impl Default for ParsedDocuments {
    fn default() -> Self {
        Self(BoundedCache::new(CAPACITY))
    }
}

impl ParsedDocuments {
    /// Gives `request` its parsed document from the cache, or parses it and keeps the result if
    /// it parsed. A text that does not parse is left for the request to report.
    pub fn prime(&self, request: &mut async_graphql::Request) {
        if request.query.len() > MAX_CACHED_LEN {
            return;
        }
        let cached = self.0.get(request.query.as_str());
        match cached {
            Some(document) => request.set_parsed_query(document),
            None => {
                if let Ok(document) = request.parsed_query() {
                    let document = document.clone();
                    self.0.put(request.query.clone(), document);
                }
            }
        }
    }
}
