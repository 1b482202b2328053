//! The instant calendar logic treats as now. The server always reads the system clock; tests pin
//! it to walk a habit through chosen dates, which real time cannot do.

use std::sync::RwLock;

use chrono::{DateTime, Utc};

#[derive(Debug, Default)]
pub struct Clock {
    pinned: RwLock<Option<DateTime<Utc>>>,
}

impl Clock {
    // The one place the system clock is read (clippy.toml forbids it elsewhere).
    #[allow(clippy::disallowed_methods)]
    pub fn now(&self) -> DateTime<Utc> {
        self.pinned
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .unwrap_or_else(Utc::now)
    }

    /// From now on `now()` answers `at` until pinned again.
    pub fn pin(&self, at: DateTime<Utc>) {
        *self
            .pinned
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(at);
    }
}
