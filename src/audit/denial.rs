//! Refused mutations in the audit log. The permission guard reports a denial here; the row is
//! written on its own (no change to commit with it), and failing to write it must not turn
//! FORBIDDEN into a 500.

use super::{Event, action, store};
use crate::App;
use crate::request::RequestInfo;

/// Records that `actor` was refused `field` for lacking `permission`, or logs why it could not.
pub async fn record_denial(
    app: &App,
    origin: &RequestInfo,
    actor: i64,
    permission: &str,
    field: &str,
) {
    let event = Event::new(action::ACCESS_DENIED, Some(actor))
        .meta(serde_json::json!({ "permission": permission, "field": field }));
    let written = async {
        let mut conn = crate::db::conn(&app.pool).await?;
        store::record(&mut conn, origin, event, app.clock.now()).await
    };
    if let Err(error) = written.await {
        tracing::warn!(?error, "could not audit a permission denial");
    }
}
