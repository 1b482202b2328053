//! Email: templates, a durable outbox (`store.rs`) written in the transaction of the change that
//! causes a mail, and a worker that sends it with lettre (or writes `.eml` files without SMTP).

pub mod model;
pub mod sender;
pub mod store;
pub mod templates;

pub use model::Mail;
