//! Email: templates, a durable outbox written in the transaction of the change that causes a
//! mail, and a worker that sends it with lettre (or writes `.eml` files without SMTP).

pub mod outbox;
pub mod sender;
pub mod templates;

/// A mail ready for the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    /// What caused it, e.g. `password_reset`; kept for operators and tests.
    pub kind: &'static str,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}
