//! A mail as composed, and as the outbox holds it until it is delivered.

use diesel::prelude::*;

use crate::db::schema::email_outbox;

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

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = email_outbox, check_for_backend(diesel::pg::Pg))]
pub struct OutboxRow {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    /// Claimed rows are unsent, and an unsent row has its bodies (a CHECK constraint).
    #[diesel(select_expression = email_outbox::text_body.assume_not_null())]
    pub text_body: String,
    #[diesel(select_expression = email_outbox::html_body.assume_not_null())]
    pub html_body: String,
    pub attempts: i32,
}
