//! GraphQL for payments: buying budget with money, and one's own top-ups.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::model::{self, TopUp};
use crate::graphql::{ContextExt, Permission};
use crate::rbac::perm;

/// Where a top-up stands.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum TopUpState {
    /// Waiting for the payment (or for Stripe to say how it went).
    Pending,
    /// Paid: the units are in the budget.
    Succeeded,
    /// The payment failed; nothing was credited. Start a new top-up to try again.
    Failed,
}

/// Budget bought with money through Stripe.
#[Object(name = "TopUp")]
impl TopUp {
    /// The top-up's id.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// Budget units bought.
    async fn units(&self) -> i64 {
        self.units
    }
    /// The price, in the currency's minor units (cents).
    async fn amount(&self) -> i64 {
        self.amount
    }
    /// ISO 4217, lower case.
    async fn currency(&self) -> &str {
        &self.currency
    }
    /// Pending until Stripe says how the payment went.
    async fn state(&self) -> TopUpState {
        match self.state.as_str() {
            model::SUCCEEDED => TopUpState::Succeeded,
            model::FAILED => TopUpState::Failed,
            _ => TopUpState::Pending,
        }
    }
    /// Stripe's PaymentIntent for it.
    async fn payment_intent_id(&self) -> Option<&str> {
        self.payment_intent_id.as_deref()
    }
    /// For Stripe.js (`stripe.confirmPayment`): pays this top-up. Only its owner sees it.
    async fn client_secret(&self) -> Option<&str> {
        self.client_secret.as_deref()
    }
    /// When `createTopUp` made it.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    /// When the units were credited; null until then.
    async fn credited_at(&self) -> Option<DateTime<Utc>> {
        self.credited_at
    }
}

/// A top-up to start, for `createTopUp`.
#[derive(InputObject)]
pub struct CreateTopUpInput {
    /// Budget units to buy: 1 to `AGORA_TOP_UP_MAX_UNITS` (10,000 by default), and no more
    /// than `AGORA_TOP_UP_DAILY_UNITS` in 24 hours (`CONFLICT`, `LIMIT_REACHED`).
    pub units: i64,
    /// 1–100 visible ASCII characters chosen by the client: the same key answers with the same top-up, so
    /// a retried request never charges twice (another `units` with it is `CONFLICT`,
    /// `IDEMPOTENCY_KEY_REUSED`).
    pub idempotency_key: String,
}

/// The result of `createTopUp`.
#[derive(SimpleObject)]
pub struct CreateTopUpPayload {
    /// The top-up, pending; pay it with its `clientSecret`.
    pub top_up: TopUp,
}

#[derive(Default)]
pub struct PaymentsQuery;

#[Object]
impl PaymentsQuery {
    /// The caller's top-ups, newest first (the last 100).
    #[graphql(guard = "Permission(perm::MARKET_TRADE)")]
    async fn my_top_ups(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TopUp>> {
        let viewer = ctx.viewer()?;
        Ok(super::top_ups_of(ctx.app(), viewer.user_id).await?)
    }
}

#[derive(Default)]
pub struct PaymentsMutation;

#[Object]
impl PaymentsMutation {
    /// Starts buying budget with money: a pending top-up whose `clientSecret` Stripe.js pays
    /// (amount = units × `AGORA_TOP_UP_UNIT_PRICE`). The budget grows when Stripe tells Agora
    /// the payment succeeded, exactly once. Without Stripe keys on the server, `FORBIDDEN`
    /// with reason `PAYMENTS_NOT_CONFIGURED`; Stripe not answering is `SERVICE_UNAVAILABLE`
    /// (retry with the same key).
    #[graphql(guard = "Permission(perm::MARKET_TRADE)")]
    async fn create_top_up(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How much to buy, and the request's idempotency key.")]
        input: CreateTopUpInput,
    ) -> async_graphql::Result<CreateTopUpPayload> {
        let viewer = ctx.viewer()?;
        let request = (input.units, input.idempotency_key.as_str());
        let top_up =
            super::create_top_up(ctx.app(), ctx.request_info(), viewer.user_id, request).await?;
        Ok(CreateTopUpPayload { top_up })
    }
}
