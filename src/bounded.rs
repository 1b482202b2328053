//! A least-recently-used cache of fixed size shared between requests: what the server keeps
//! to skip repeated work (parsed documents, verified tokens) never grows past its capacity.

use std::borrow::Borrow;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};

use lru::LruCache;

pub struct BoundedCache<Key: Hash + Eq, Value>(Mutex<LruCache<Key, Value>>);

impl<Key: Hash + Eq, Value: Clone> BoundedCache<Key, Value> {
    pub fn new(capacity: usize) -> Self {
        Self(Mutex::new(LruCache::new(
            NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN),
        )))
    }

    /// The value kept under `key`, now the most recently used.
    pub fn get<Query>(&self, key: &Query) -> Option<Value>
    where
        Key: Borrow<Query>,
        Query: Hash + Eq + ?Sized,
    {
        self.lock().get(key).cloned()
    }

    /// Keeps `value`, dropping the least recently used entry when full.
    pub fn put(&self, key: Key, value: Value) {
        self.lock().put(key, value);
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<Key, Value>> {
        // A panic elsewhere while holding the lock leaves a cache that is still consistent.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
