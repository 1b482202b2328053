//! `agora admin ...`: account administration from a shell, for the first administrator and for
//! scripts that have no API token yet. Every change is audited with no actor and `"via": "cli"`.
//! The demo data is `seed.rs`, the rows it writes `store.rs`.

mod seed;
mod store;

use std::io::Write;

use anyhow::{Context, anyhow};
use serde_json::json;

use crate::App;
use crate::accounts::store::{self as accounts, UserFilter};
use crate::accounts::{AccountFields, new_account};
use crate::audit::{self, Event, action};
use crate::db;
use crate::error::AppError;
use crate::rbac::store as rbac;
use crate::request::RequestInfo;

#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// Create an account. The password is read from standard input (or prompted on a terminal).
    CreateUser {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// Role to give (repeatable); every account also gets `user`.
        #[arg(long = "role")]
        roles: Vec<String>,
        #[arg(long, default_value = "")]
        first_name: String,
        #[arg(long, default_value = "")]
        last_name: String,
    },
    /// Give an existing account a role.
    GrantRole {
        /// Username (any case) or email.
        #[arg(long)]
        user: String,
        #[arg(long)]
        role: String,
    },
    /// Add deterministic demo data: users `demo00001`... (password `agora demo password`) and
    /// items, every second one bought by a demo user through the ordinary purchase path; and for
    /// `demo00001` habits of every kind with two years of completions, and tasks.
    /// Running it again adds only what is missing.
    SeedDemo {
        #[arg(long, default_value_t = 100)]
        users: u32,
        #[arg(long, default_value_t = 1000)]
        items: u32,
        #[arg(long, default_value_t = 0)]
        habits: u32,
        #[arg(long, default_value_t = 0)]
        tasks: u32,
    },
    /// List accounts with their roles, one per line, tab-separated.
    ListUsers {
        /// Part of a username, email or name.
        #[arg(long)]
        search: Option<String>,
    },
}

/// Runs `command`, writing what it did to `out`. `read_password` is asked only when needed.
pub async fn run(
    app: &App,
    command: AdminCommand,
    read_password: impl FnOnce() -> std::io::Result<String>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let origin = RequestInfo {
        user_agent: Some("agora admin".to_owned()),
        ..RequestInfo::default()
    };
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await.map_err(explain)?;
    match command {
        AdminCommand::CreateUser {
            username,
            email,
            roles,
            first_name,
            last_name,
        } => {
            let password = read_password().context("reading the password")?;
            let fields = AccountFields {
                username: &username,
                email: &email,
                password: password.trim_end_matches(['\r', '\n']),
                first_name: &first_name,
                last_name: &last_name,
            };
            let new_user = new_account(app, fields).await.map_err(explain)?;
            let user = audit::audited(&mut conn, &origin, now, async |conn| {
                let user = crate::accounts::create_with_default_role(conn, &new_user, now).await?;
                for role in &roles {
                    let role = rbac::find_role_by_name(conn, role).await?;
                    rbac::assign(conn, user.id, role.id, now).await?;
                }
                let event = Event::new(action::USER_CREATE, None)
                    .target("user", user.id)
                    .meta(json!({ "username": user.username, "roles": roles, "via": "cli" }));
                Ok((user, event))
            })
            .await
            .map_err(explain)?;
            writeln!(out, "created user {} (id {})", user.username, user.id)?;
        }
        AdminCommand::GrantRole { user, role } => {
            let changed = audit::audited(&mut conn, &origin, now, async |conn| {
                let (found, _) =
                    accounts::find_for_login(conn, &crate::text::fold_identifier(&user))
                        .await?
                        .ok_or_else(|| AppError::not_found("User", format_args!("{user:?}")))?;
                let role = rbac::find_role_by_name(conn, &role).await?;
                let changed = rbac::assign(conn, found.id, role.id, now).await?;
                let event = changed.then(|| {
                    Event::new(action::ROLE_ASSIGN, None)
                        .target("user", found.id)
                        .meta(json!({ "role": role.name, "via": "cli" }))
                });
                Ok((changed, event))
            })
            .await
            .map_err(explain)?;
            let outcome = if changed { "granted" } else { "already had" };
            writeln!(out, "{user}: {outcome} role {role}")?;
        }
        AdminCommand::SeedDemo {
            users,
            items,
            habits,
            tasks,
        } => {
            let password_hash = app
                .passwords
                .hash(DEMO_PASSWORD.to_owned())
                .await
                .map_err(explain)?;
            let seeded = seed::seed_demo(
                &mut conn,
                &origin,
                users,
                items,
                &password_hash,
                app.config.default_budget,
                now,
            )
            .await
            .map_err(explain)?;
            let planner = seed::seed_planner(&mut conn, habits, tasks, &app.config, now)
                .await
                .map_err(explain)?;
            writeln!(
                out,
                "demo data: {users} users, {items} items, {seeded} held by users, \
                 demo00001 has {} habits with {} completions and {} tasks (password: {DEMO_PASSWORD:?})",
                planner.habits, planner.completions, planner.tasks
            )?;
        }
        AdminCommand::ListUsers { search } => {
            let filter = UserFilter {
                search,
                ..UserFilter::default()
            };
            let mut after = None;
            loop {
                let (users, _) = accounts::search_users(&mut conn, &filter, after, 500)
                    .await
                    .map_err(explain)?;
                let Some(last) = users.last() else { break };
                after = Some(last.id);
                let ids: Vec<i64> = users.iter().map(|user| user.id).collect();
                let roles = rbac::roles_of_users(&mut conn, &ids)
                    .await
                    .map_err(explain)?;
                for user in &users {
                    let names: Vec<&str> = roles
                        .iter()
                        .filter(|(user_id, _)| *user_id == user.id)
                        .map(|(_, role)| role.name.as_str())
                        .collect();
                    let state = if user.is_active { "active" } else { "inactive" };
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{state}\t{}",
                        user.id,
                        user.username,
                        user.email,
                        names.join(",")
                    )?;
                }
            }
        }
    }
    Ok(())
}

pub const DEMO_PASSWORD: &str = "agora demo password";

fn explain(error: AppError) -> anyhow::Error {
    match error {
        AppError::Internal(detail) => detail,
        other => anyhow!(other.message()),
    }
}
