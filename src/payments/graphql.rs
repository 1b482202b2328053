//! GraphQL for payments: buying budget with money, and one's own top-ups.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::model::{self, TopUp, TopUpRefund};
use crate::graphql::{ContextExt, Permission, RecentProof, parse_id};
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
    /// Money given back so far, in minor units.
    async fn refunded_amount(&self) -> i64 {
        self.refunded_amount
    }
    /// The units that money paid for: taken back from the budget, or, where they had been
    /// spent, flagged for an administrator.
    async fn refunded_units(&self) -> i64 {
        self.refunded_units
    }
}

/// Who started a refund.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum RefundSource {
    /// Stripe told of it (`charge.refunded`): given back from Stripe's dashboard or API.
    Stripe,
    /// An administrator's `refundTopUp`.
    Admin,
}

/// Money given back for a top-up, and what it took back from the budget.
#[Object(name = "TopUpRefund")]
impl TopUpRefund {
    /// The refund's id.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// The top-up it gives money back for.
    async fn top_up(&self, ctx: &Context<'_>) -> async_graphql::Result<TopUp> {
        Ok(super::top_up(ctx.app(), self.top_up_id).await?)
    }
    /// Money given back, in minor units.
    async fn amount(&self) -> i64 {
        self.amount
    }
    /// The budget units that money paid for.
    async fn units(&self) -> i64 {
        self.units
    }
    /// Of those, the units still unspent and taken back from the budget.
    async fn debited_units(&self) -> i64 {
        self.debited_units
    }
    /// Units given back in money but already spent: the budget was not driven below zero,
    /// and an administrator settles these (`reviewRefund` once done).
    async fn shortfall_units(&self) -> i64 {
        self.shortfall()
    }
    /// Who started it.
    async fn source(&self) -> RefundSource {
        if self.source == model::FROM_ADMIN {
            RefundSource::Admin
        } else {
            RefundSource::Stripe
        }
    }
    /// The Stripe refund or event that told of it.
    async fn stripe_reference(&self) -> &str {
        &self.stripe_ref
    }
    /// When Agora recorded it.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    /// When an administrator reviewed its shortfall; null while it awaits review (or has
    /// none).
    async fn reviewed_at(&self) -> Option<DateTime<Utc>> {
        self.reviewed_at
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

/// What buying budget costs, and the limits that apply to the caller.
#[Object(name = "TopUpOffer")]
impl super::TopUpOffer {
    /// The currency top-ups are paid in (ISO 4217, lower case).
    async fn currency(&self) -> &str {
        &self.currency
    }
    /// The price of one budget unit, in the currency's minor units (cents).
    async fn unit_price(&self) -> i64 {
        self.unit_price
    }
    /// The most units one top-up may buy.
    async fn max_units(&self) -> i64 {
        self.max_units
    }
    /// The most units one user may buy in 24 hours.
    async fn daily_units(&self) -> i64 {
        self.daily_units
    }
    /// Units the caller may still buy in the coming 24 hours (pending top-ups count).
    async fn remaining_today(&self) -> i64 {
        self.remaining_today
    }
    /// Stripe's publishable key for Stripe.js; null when the server was not given one.
    async fn publishable_key(&self) -> Option<&str> {
        self.publishable_key.as_deref()
    }
}

/// A refund to make, for `refundTopUp`.
#[derive(InputObject)]
pub struct RefundTopUpInput {
    /// The paid top-up to give money back for.
    pub top_up_id: ID,
    /// Minor units to give back; all that is left when omitted.
    pub amount: Option<i64>,
}

/// The result of `refundTopUp`.
#[derive(SimpleObject)]
pub struct RefundTopUpPayload {
    /// The top-up after the refund.
    pub top_up: TopUp,
    /// The refund recorded; null when Stripe's webhook had recorded it already.
    pub refund: Option<TopUpRefund>,
}

/// A flagged refund to mark reviewed, for `reviewRefund`.
#[derive(InputObject)]
pub struct ReviewRefundInput {
    /// The refund (from `flaggedRefunds`).
    pub refund_id: ID,
}

/// The result of `reviewRefund`.
#[derive(SimpleObject)]
pub struct ReviewRefundPayload {
    /// The refund, now reviewed.
    pub refund: TopUpRefund,
}

#[derive(Default)]
pub struct PaymentsQuery;

#[Object]
impl PaymentsQuery {
    /// The price of budget and the caller's limits; `FORBIDDEN` with reason
    /// `PAYMENTS_NOT_CONFIGURED` when payments are off.
    #[graphql(guard = "Permission(perm::MARKET_TRADE)")]
    async fn top_up_offer(&self, ctx: &Context<'_>) -> async_graphql::Result<super::TopUpOffer> {
        let viewer = ctx.viewer()?;
        Ok(super::offer(ctx.app(), viewer.user_id).await?)
    }

    /// The caller's top-ups, newest first (the last 100).
    #[graphql(guard = "Permission(perm::MARKET_TRADE)")]
    async fn my_top_ups(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TopUp>> {
        let viewer = ctx.viewer()?;
        Ok(super::top_ups_of(ctx.app(), viewer.user_id).await?)
    }

    /// Refunds that found some of their units already spent and await an administrator's
    /// review, oldest first (the first 100; `payments:manage`).
    #[graphql(guard = "Permission(perm::PAYMENTS_MANAGE)")]
    async fn flagged_refunds(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TopUpRefund>> {
        Ok(super::flagged_refunds(ctx.app()).await?)
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

    /// Gives money back for a paid top-up through Stripe (`payments:manage`, and a recent
    /// proof of identity): the units it paid for leave the user's budget as far as they are
    /// unspent; the rest is recorded as a shortfall and flagged (`flaggedRefunds`), never a
    /// negative budget. An amount over what is left is `BAD_USER_INPUT`.
    #[graphql(guard = "Permission(perm::PAYMENTS_MANAGE).and(RecentProof)")]
    async fn refund_top_up(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The top-up, and how much to give back.")] input: RefundTopUpInput,
    ) -> async_graphql::Result<RefundTopUpPayload> {
        let viewer = ctx.viewer()?;
        let request = (parse_id("topUpId", &input.top_up_id)?, input.amount);
        let (top_up, refund) =
            super::refund_top_up(ctx.app(), ctx.request_info(), viewer.user_id, request).await?;
        Ok(RefundTopUpPayload { top_up, refund })
    }

    /// Marks a flagged refund reviewed once its shortfall is settled (`payments:manage`).
    #[graphql(guard = "Permission(perm::PAYMENTS_MANAGE)")]
    async fn review_refund(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The flagged refund.")] input: ReviewRefundInput,
    ) -> async_graphql::Result<ReviewRefundPayload> {
        let viewer = ctx.viewer()?;
        let id = parse_id("refundId", &input.refund_id)?;
        let refund =
            super::review_refund(ctx.app(), ctx.request_info(), viewer.user_id, id).await?;
        Ok(ReviewRefundPayload { refund })
    }
}
