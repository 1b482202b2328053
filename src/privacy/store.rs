//! The export of one account's data: one statement, so every section comes from the same
//! snapshot. Each section names its columns: password hashes, TOTP secrets, recovery-code and
//! token digests are never read.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Jsonb, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::error::AppError;

#[derive(QueryableByName)]
struct Exported {
    #[diesel(sql_type = Jsonb)]
    data: serde_json::Value,
}

/// A section listing every row `from` selects (bound by the per-user caps), in `order`; each row
/// is `t`, written as the JSON object `columns`.
fn every(columns: &str, from: &str, order: &str) -> String {
    format!(
        "coalesce((SELECT jsonb_agg({columns} ORDER BY {order}) FROM (SELECT * {from}) t), '[]'::jsonb)"
    )
}

/// A section of at most `$2` rows `from` selects, in `order`, and how many there are in all:
/// `{ "total": n, "entries": [...] }`.
fn newest(columns: &str, from: &str, order: &str) -> String {
    format!(
        "(SELECT jsonb_build_object('total', (SELECT count(*) {from}), 'entries', \
         coalesce(jsonb_agg({columns} ORDER BY {order}), '[]'::jsonb)) \
         FROM (SELECT * {from} ORDER BY {order} LIMIT $2) t)"
    )
}

fn statement() -> String {
    let profile = "(SELECT jsonb_build_object('id', u.id::text, 'username', u.username, \
        'email', u.email, 'emailVerifiedAt', u.email_verified_at, 'firstName', u.first_name, \
        'lastName', u.last_name, 'timeZone', u.time_zone, \
        'dayStart', to_char(make_time(u.day_start_minutes / 60, u.day_start_minutes % 60, 0), 'HH24:MI'), \
        'budget', u.budget, \
        'isActive', u.is_active, 'createdAt', u.created_at, 'updatedAt', u.updated_at, \
        'lastLoginAt', u.last_login_at, \
        'twoFactorEnabled', EXISTS (SELECT 1 FROM two_factor f \
            WHERE f.user_id = u.id AND f.enabled_at IS NOT NULL), \
        'recoveryCodesLeft', (SELECT count(*) FROM recovery_codes c \
            WHERE c.user_id = u.id AND c.used_at IS NULL)) \
        FROM users u WHERE u.id = $1)";
    let roles = every(
        "jsonb_build_object('name', t.name, 'description', t.description, 'since', t.since)",
        "FROM (SELECT r.name, r.description, ur.created_at AS since \
         FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = $1) held",
        "name",
    );
    let sessions = newest(
        "jsonb_build_object('id', t.id::text, 'createdAt', t.created_at, \
         'lastSeenAt', t.last_seen_at, 'expiresAt', t.expires_at, 'revokedAt', t.revoked_at, \
         'ipAddress', t.ip, 'userAgent', t.user_agent)",
        "FROM sessions WHERE user_id = $1",
        "id DESC",
    );
    let api_tokens = newest(
        "jsonb_build_object('id', t.id::text, 'name', t.name, 'permissions', t.permissions, \
         'createdAt', t.created_at, 'expiresAt', t.expires_at, 'lastUsedAt', t.last_used_at, \
         'revokedAt', t.revoked_at)",
        "FROM api_tokens WHERE user_id = $1",
        "id DESC",
    );
    // A habit's checked-in and skipped days, each as a count and the latest dates (a
    // measurable habit's check-ins are its values, whether they met the target or not).
    let days = |skipped: &str| {
        format!(
            "jsonb_build_object('total', (SELECT count(*) FROM habit_completions c \
               WHERE c.habit_id = t.id AND c.skipped = {skipped}), \
             'dates', coalesce((SELECT jsonb_agg(c.completed_on ORDER BY c.completed_on DESC) \
               FROM (SELECT completed_on FROM habit_completions \
                     WHERE habit_id = t.id AND skipped = {skipped} \
                     ORDER BY completed_on DESC LIMIT $2) c), '[]'::jsonb))"
        )
    };
    let (completions, skips) = (days("FALSE"), days("TRUE"));
    let habits = every(
        &format!(
            "jsonb_build_object('id', t.id::text, 'name', t.name, 'description', t.description, \
         'kind', t.kind, 'schedule', t.schedule, 'startsOn', t.starts_on, 'endsOn', t.ends_on, \
         'themeId', t.theme_id::text, 'archivedAt', t.archived_at, 'createdAt', t.created_at, \
         'updatedAt', t.updated_at, 'skipsPerMonth', t.skips_per_month, 'measure', t.measure, \
         'reminders', coalesce((SELECT jsonb_agg(to_char(r.local_time, 'HH24:MI') \
             ORDER BY r.local_time) FROM habit_reminders r WHERE r.habit_id = t.id), '[]'::jsonb), \
         'completions', {completions}, 'skips', {skips}, \
         'values', coalesce((SELECT jsonb_agg(jsonb_build_object('date', c.completed_on, \
             'value', c.value) ORDER BY c.completed_on DESC) \
           FROM (SELECT completed_on, value FROM habit_completions \
                 WHERE habit_id = t.id AND value IS NOT NULL ORDER BY completed_on DESC LIMIT $2) c), \
           '[]'::jsonb), \
         'notes', coalesce((SELECT jsonb_agg(jsonb_build_object('date', c.completed_on, \
             'skipped', c.skipped, 'note', c.note) ORDER BY c.completed_on DESC) \
           FROM (SELECT completed_on, skipped, note FROM habit_completions \
                 WHERE habit_id = t.id AND note <> '' ORDER BY completed_on DESC LIMIT $2) c), \
           '[]'::jsonb))"
        ),
        "FROM habits WHERE user_id = $1",
        "id",
    );
    let tasks = every(
        "jsonb_build_object('id', t.id::text, 'title', t.title, 'description', t.description, \
         'priority', t.priority, 'status', t.status, 'position', t.position, 'dueOn', t.due_on, \
         'themeId', t.theme_id::text, 'completedAt', t.completed_at, \
         'createdAt', t.created_at, 'updatedAt', t.updated_at)",
        "FROM tasks WHERE user_id = $1",
        "id",
    );
    let themes = every(
        "jsonb_build_object('id', t.id::text, 'name', t.name, 'color', t.color, \
         'createdAt', t.created_at)",
        "FROM themes WHERE user_id = $1",
        "id",
    );
    let items = newest(
        "jsonb_build_object('id', t.id::text, 'name', t.name, 'price', t.price, \
         'barcode', t.barcode, 'description', t.description, 'heldSince', t.updated_at)",
        "FROM items WHERE owner_id = $1",
        "id DESC",
    );
    let ledger = newest(
        "jsonb_build_object('id', t.id::text, 'kind', t.kind, 'amount', t.amount, \
         'balanceAfter', t.balance_after, 'itemId', t.item_id::text, 'createdAt', t.created_at)",
        "FROM market_transactions WHERE buyer_id = $1 OR seller_id = $1",
        "id DESC",
    );
    let audit = newest(
        "jsonb_build_object('id', t.id::text, 'action', t.action, 'targetType', t.target_type, \
         'targetId', t.target_id::text, 'metadata', t.metadata, 'ipAddress', host(t.ip), \
         'userAgent', t.user_agent, 'requestId', t.request_id, 'createdAt', t.created_at)",
        "FROM audit_log WHERE actor_id = $1 OR (target_type = 'user' AND target_id = $1)",
        "id DESC",
    );
    format!(
        "SELECT jsonb_build_object('format', 'agora-export/1', 'exportedAt', $3::timestamptz, \
         'rowsPerSection', $2, 'profile', {profile}, 'roles', {roles}, 'sessions', {sessions}, \
         'apiTokens', {api_tokens}, 'habits', {habits}, 'tasks', {tasks}, 'themes', {themes}, \
         'itemsHeld', {items}, 'ledger', {ledger}, 'auditLog', {audit}) AS data"
    )
}

/// Everything kept about the user, as JSON made at `now`; sections that no per-user cap bounds
/// hold their `rows` newest entries (and a habit its `rows` newest completions) with a total.
pub async fn export(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    rows: i64,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, AppError> {
    let exported: Exported = diesel::sql_query(statement())
        .bind::<BigInt, _>(user_id)
        .bind::<BigInt, _>(rows)
        .bind::<Timestamptz, _>(now)
        .get_result(conn)
        .await?;
    Ok(exported.data)
}
