//! The market: items held by users or on offer, atomic purchase and sale, and the ledger.

pub mod events;
pub mod graphql;
pub mod model;
pub mod rules;
pub mod store;
