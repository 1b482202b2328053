//! Email: templates, a durable outbox (`store.rs`) written in the transaction of the change that
//! causes a mail, and a worker that sends it with lettre (or writes `.eml` files without SMTP).

pub mod model;
pub mod sender;
pub mod store;
pub mod templates;

pub use model::Mail;

/// Queues a security notice ("`what`.") to the user's current address, in the caller's
/// transaction, and wakes the sender.
pub async fn security_notice(
    app: &crate::App,
    conn: &mut diesel_async::AsyncPgConnection,
    user_id: i64,
    kind: &'static str,
    what: &str,
) -> Result<(), crate::error::AppError> {
    store::enqueue_for_user(
        conn,
        user_id,
        |to, username| templates::notice(kind, to, username, what),
        app.clock.now(),
    )
    .await?;
    app.outbox_wakeup.notify_one();
    Ok(())
}
