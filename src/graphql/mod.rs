//! Schema assembly and what every resolver shares: the request context, the permission guard and
//! cursor pagination. The HTTP wiring lives in `crate::http`.

pub mod connection;
pub mod context;
pub mod flat;
pub mod input_limits;
pub mod limits;
pub mod nulls;
pub mod parsed;
pub mod persisted;
pub mod scalars;
pub mod trusted;

use std::sync::Arc;

use async_graphql::{MergedObject, MergedSubscription, Schema, SchemaBuilder};

use crate::accounts::graphql::{AccountsMutation, AccountsQuery, UserAdminMutation};
use crate::audit::graphql::AuditQuery;
use crate::auth::graphql::{AuthMutation, AuthQuery};
use crate::auth::mfa::graphql::MfaMutation;
use crate::auth::recovery::graphql::RecoveryMutation;
use crate::budgets::graphql::{BudgetsMutation, BudgetsQuery};
use crate::config::Config;
use crate::habit_io::graphql::{HabitIoMutation, HabitIoQuery};
use crate::habits::graphql::{HabitsMutation, HabitsQuery};
use crate::market::graphql::{MarketMutation, MarketQuery};
use crate::oidc::graphql::{OidcMutation, OidcQuery};
use crate::passkeys::graphql::{PasskeysMutation, PasskeysQuery};
use crate::payments::graphql::{PaymentsMutation, PaymentsQuery};
use crate::privacy::graphql::{PrivacyMutation, PrivacyQuery};
use crate::quotes::graphql::QuotesQuery;
use crate::rbac::graphql::{RbacMutation, RbacQuery};
use crate::reminders::graphql::RemindersMutation;
use crate::stats::graphql::StatsQuery;
use crate::tasks::graphql::{TasksMutation, TasksQuery};
use crate::themes::graphql::{ThemesMutation, ThemesQuery};

pub use context::{ActingAccount, ContextExt, Permission, RecentProof};

/// Everything a client can read. Fields need a signed-in caller (`UNAUTHENTICATED` otherwise)
/// holding the permission each one names (`FORBIDDEN` otherwise).
#[derive(MergedObject, Default)]
pub struct Query(
    AccountsQuery,
    AuthQuery,
    RbacQuery,
    AuditQuery,
    MarketQuery,
    ThemesQuery,
    TasksQuery,
    HabitsQuery,
    HabitIoQuery,
    StatsQuery,
    PrivacyQuery,
    OidcQuery,
    PasskeysQuery,
    PaymentsQuery,
    QuotesQuery,
    BudgetsQuery,
    crate::webhooks::graphql::WebhooksQuery,
);

/// Everything a client can change. Most fields need a signed-in caller holding the permission
/// they name (`UNAUTHENTICATED` or `FORBIDDEN` otherwise); signing up, signing in and the
/// mailed-link flows need none.
#[derive(MergedObject, Default)]
pub struct Mutation(
    AccountsMutation,
    AuthMutation,
    MfaMutation,
    RecoveryMutation,
    RbacMutation,
    UserAdminMutation,
    MarketMutation,
    ThemesMutation,
    TasksMutation,
    HabitsMutation,
    RemindersMutation,
    HabitIoMutation,
    PrivacyMutation,
    OidcMutation,
    PasskeysMutation,
    PaymentsMutation,
    BudgetsMutation,
    crate::webhooks::graphql::WebhooksMutation,
);

/// Live updates over the WebSocket at `/graphql/ws` (`graphql-transport-ws` or `graphql-ws`);
/// send the token in `connection_init` as `{"Authorization": "Bearer …"}`.
#[derive(MergedSubscription, Default)]
pub struct Subscription(
    crate::market::events::MarketSubscription,
    crate::reminders::graphql::RemindersSubscription,
);

pub type AgoraSchema = Schema<Query, Mutation, Subscription>;

/// The schema's types, without runtime data or limits: enough to print the SDL.
pub fn schema_builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
}

/// The schema as served, with the limits of [`limits`]: production refuses introspection and
/// hides "did you mean" suggestions.
pub fn build_schema(
    config: &Config,
    trusted: Option<&Arc<trusted::TrustedDocuments>>,
) -> SchemaBuilder<Query, Mutation, Subscription> {
    let mut builder = schema_builder();
    if let Some(trusted) = trusted {
        builder = builder.extension(trusted::TrustedOverSockets(Arc::clone(trusted)));
    }
    let builder = builder
        .extension(limits::Limits::new(limits::ShapeLimits {
            introspection: !config.is_production(),
            max_fields: config.max_fields_per_operation,
        }))
        .extension(nulls::NullPropagation);
    let builder = if crate::telemetry::enabled() {
        builder.extension(crate::telemetry::ResolverSpans)
    } else {
        builder
    };
    if config.is_production() {
        builder.disable_introspection().disable_suggestions()
    } else {
        builder
    }
}

/// Adds this request's batch loaders. They are per request: a cache must not outlive the
/// permissions the request was checked with. Their batches run in tasks of their own that keep
/// the request's statement timeout and trace (`crate::telemetry::spawn_loader`).
pub fn with_loaders(
    mut request: async_graphql::Request,
    pool: &crate::db::DbPool,
) -> async_graphql::Request {
    insert_loaders(&mut request.data, pool);
    request
}

/// The loaders and per-request state every operation expects, for a request or a WebSocket
/// connection.
pub fn insert_loaders(data: &mut async_graphql::Data, pool: &crate::db::DbPool) {
    use async_graphql::dataloader::{DataLoader, HashMapCache};
    data.insert(ActingAccount::default());
    data.insert(DataLoader::new(
        crate::rbac::loader::RbacLoader { pool: pool.clone() },
        crate::telemetry::spawn_loader,
    ));
    data.insert(crate::accounts::loader::UserDataLoader::with_cache(
        crate::accounts::loader::UserLoader { pool: pool.clone() },
        crate::telemetry::spawn_loader,
        HashMapCache::default(),
    ));
    data.insert(DataLoader::new(
        crate::market::loader::ItemLoader { pool: pool.clone() },
        crate::telemetry::spawn_loader,
    ));
    data.insert(DataLoader::new(
        crate::themes::loader::ThemeLoader { pool: pool.clone() },
        crate::telemetry::spawn_loader,
    ));
    data.insert(DataLoader::new(
        crate::auth::mfa::loader::TwoFactorLoader { pool: pool.clone() },
        crate::telemetry::spawn_loader,
    ));
    data.insert(DataLoader::new(
        crate::oidc::loader::IdentityLoader { pool: pool.clone() },
        crate::telemetry::spawn_loader,
    ));
    data.insert(DataLoader::new(
        crate::reminders::loader::ReminderLoader { pool: pool.clone() },
        crate::telemetry::spawn_loader,
    ));
    data.insert(crate::habits::loader::CompletionDataLoader::with_cache(
        crate::habits::loader::CompletionLoader { pool: pool.clone() },
        crate::telemetry::spawn_loader,
        HashMapCache::default(),
    ));
    data.insert(DataLoader::new(
        crate::budgets::loader::BudgetLoader { pool: pool.clone() },
        crate::db::spawn,
    ));
}

/// The SDL that `schema.graphql` must equal.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}

/// The row id an `ID` argument names; anything else is `BAD_USER_INPUT` on that field.
pub fn parse_id(
    field: &'static str,
    id: &async_graphql::ID,
) -> Result<i64, crate::error::AppError> {
    id.parse::<i64>()
        .ok()
        .filter(|value| *value > 0)
        .ok_or_else(|| crate::error::AppError::bad_input(field, "Not a valid id"))
}

/// What a paged list costs in the complexity budget: its nodes' cost once per node it may
/// return, so nested pages of pages exceed the budget while one full page fits. A `first` over
/// the page limit costs as a full page: the field refuses it with `BAD_USER_INPUT` naming
/// `first`, whether it is 101 or 100000, rather than the whole query being "too complex".
pub fn page_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let page = first
        .unwrap_or(connection::DEFAULT_PAGE_SIZE)
        .clamp(1, connection::MAX_PAGE_SIZE);
    usize::try_from(page)
        .unwrap_or(1)
        .saturating_mul(child_complexity)
}

/// Sets `extensions.code` on an error raised outside a resolver (where `AppError` sets it).
pub fn set_code(error: &mut async_graphql::ServerError, value: &str) {
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", value);
}
