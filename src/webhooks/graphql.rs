//! GraphQL for webhooks (`webhooks:manage`): endpoints, their deliveries, and the mutations
//! that register, change, resume and redeliver.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::model::{Delivery, DeliveryState, Endpoint, EventType};
use super::store::DeliveryFilter;
use super::{Act, EndpointEdit, NewEndpoint};
use crate::graphql::connection::{CountedConnection, Page, connection};
use crate::graphql::{ContextExt, Permission, parse_id};
use crate::rbac::perm;

/// A URL that receives signed POSTs of the events it subscribes to.
#[Object(name = "WebhookEndpoint")]
impl Endpoint {
    /// The endpoint's id.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// Where deliveries are POSTed.
    async fn url(&self) -> &str {
        &self.url
    }
    /// What the administrators wrote about it (may be empty).
    async fn description(&self) -> &str {
        &self.description
    }
    /// The events it receives.
    async fn events(&self) -> Vec<EventType> {
        self.events
            .iter()
            .filter_map(|name| EventType::from_name(name))
            .collect()
    }
    /// Whether it is paused (no attempts until `resumeWebhookEndpoint`).
    async fn paused(&self) -> bool {
        self.paused_at.is_some()
    }
    /// When it was paused for failing too many attempts in a row; null while it runs.
    async fn paused_at(&self) -> Option<DateTime<Utc>> {
        self.paused_at
    }
    /// Failed attempts since its last delivered one; `AGORA_WEBHOOK_PAUSE_AFTER` pause it.
    async fn consecutive_failures(&self) -> i32 {
        self.failure_streak
    }
    /// When it was registered.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    /// When it was last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
}

/// One event on its way to one endpoint, with how its attempts went.
#[Object(name = "WebhookDelivery")]
impl Delivery {
    /// The delivery's id.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// The endpoint it goes to.
    async fn endpoint(&self, ctx: &Context<'_>) -> async_graphql::Result<Endpoint> {
        Ok(super::endpoint(ctx.app(), self.endpoint_id).await?)
    }
    /// The event's id: the payload's `id` and the `webhook-id` header of every attempt.
    async fn event_id(&self) -> &str {
        &self.event_id
    }
    /// The event's type.
    async fn event_type(&self) -> Option<EventType> {
        EventType::from_name(&self.event_type)
    }
    /// The body sent, exactly as signed: JSON with `type`, `id`, `timestamp` and `data`.
    async fn payload(&self) -> &str {
        &self.payload
    }
    /// Where it stands.
    async fn state(&self) -> DeliveryState {
        DeliveryState::from_name(&self.state)
    }
    /// Attempts made so far (since its last redelivery).
    async fn attempts(&self) -> i32 {
        self.attempts
    }
    /// When the next attempt is due, while pending.
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        (DeliveryState::from_name(&self.state) == DeliveryState::Pending)
            .then_some(self.next_attempt_at)
    }
    /// When the latest attempt began.
    async fn last_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.last_attempt_at
    }
    /// The HTTP status of the latest attempt; null when none came (timeout, refused connection).
    async fn last_status(&self) -> Option<i32> {
        self.last_status
    }
    /// What went wrong with the latest attempt, if it failed.
    async fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
    /// When an attempt was answered with a 2xx status.
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.delivered_at
    }
    /// When the event happened and the delivery was queued.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
}

/// An endpoint to register, for `createWebhookEndpoint`.
#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    /// An absolute http(s) URL without credentials (in production https only, unless
    /// `AGORA_WEBHOOK_ALLOW_HTTP`); at most 2,000 characters.
    pub url: String,
    /// The events to receive: at least one.
    pub events: Vec<EventType>,
    /// A note for administrators, at most 200 characters.
    pub description: Option<String>,
}

/// The result of `createWebhookEndpoint`.
#[derive(SimpleObject)]
pub struct CreateWebhookEndpointPayload {
    /// The endpoint, receiving from now on.
    pub endpoint: Endpoint,
    /// The signing secret (`whsec_…`), shown only here: keep it where the receiver verifies.
    pub secret: String,
}

/// Changes of an endpoint, for `updateWebhookEndpoint`; omitted fields stay.
#[derive(InputObject)]
pub struct UpdateWebhookEndpointInput {
    /// The endpoint.
    pub id: ID,
    /// A new URL (the rules of `createWebhookEndpoint`).
    pub url: Option<String>,
    /// A new list of events (at least one); deliveries already queued still go out.
    pub events: Option<Vec<EventType>>,
    /// A new note.
    pub description: Option<String>,
}

/// An endpoint to act on.
#[derive(InputObject)]
pub struct WebhookEndpointIdInput {
    /// The endpoint's id.
    pub id: ID,
}

/// The endpoint a mutation changed.
#[derive(SimpleObject)]
pub struct WebhookEndpointPayload {
    /// The endpoint as it is now (as it was, for a deletion).
    pub endpoint: Endpoint,
}

/// The result of `rotateWebhookSecret`.
#[derive(SimpleObject)]
pub struct RotateWebhookSecretPayload {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// The new secret, shown only here; the old one signs nothing from now on.
    pub secret: String,
}

/// A delivery to send again, for `redeliverWebhookDelivery`.
#[derive(InputObject)]
pub struct RedeliverWebhookDeliveryInput {
    /// The delivery (a dead one, or any other).
    pub id: ID,
}

/// The result of `redeliverWebhookDelivery`.
#[derive(SimpleObject)]
pub struct RedeliverWebhookDeliveryPayload {
    /// The delivery, pending again with no attempts counted.
    pub delivery: Delivery,
}

/// Which deliveries `webhookDeliveries` lists.
#[derive(InputObject, Default)]
pub struct WebhookDeliveryFilter {
    /// Only those of this endpoint.
    pub endpoint_id: Option<ID>,
    /// Only those in this state (`DEAD`: the dead-letter list).
    pub state: Option<DeliveryState>,
}

#[derive(Default)]
pub struct WebhooksQuery;

#[Object]
impl WebhooksQuery {
    /// The registered webhook endpoints, in the order they were made (`webhooks:manage`).
    #[graphql(
        guard = "Permission(perm::WEBHOOKS_MANAGE)",
        complexity = "crate::graphql::page_cost(first, child_complexity)"
    )]
    async fn webhook_endpoints(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 100; 20 when omitted.")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page; omit for the first page.")]
        after: Option<String>,
    ) -> async_graphql::Result<CountedConnection<Endpoint>> {
        let page = Page::parse(first, after.as_deref())?;
        let (rows, total) =
            super::endpoints_page(ctx.app(), page.after_id, page.fetch_limit()).await?;
        Ok(connection(rows, page, total, |row| row.id, |row| row))
    }

    /// Webhook deliveries, newest first (`webhooks:manage`).
    #[graphql(
        guard = "Permission(perm::WEBHOOKS_MANAGE)",
        complexity = "crate::graphql::page_cost(first, child_complexity)"
    )]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 100; 20 when omitted.")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page; omit for the first page.")]
        after: Option<String>,
        #[graphql(desc = "Which deliveries; all when omitted.")] filter: Option<
            WebhookDeliveryFilter,
        >,
    ) -> async_graphql::Result<CountedConnection<Delivery>> {
        let page = Page::parse(first, after.as_deref())?;
        let filter = filter.unwrap_or_default();
        let filter = DeliveryFilter {
            endpoint_id: filter
                .endpoint_id
                .map(|id| parse_id("endpointId", &id))
                .transpose()?,
            state: filter.state,
        };
        let (rows, total) =
            super::deliveries_page(ctx.app(), filter, page.after_id, page.fetch_limit()).await?;
        Ok(connection(rows, page, total, |row| row.id, |row| row))
    }
}

#[derive(Default)]
pub struct WebhooksMutation;

#[Object]
impl WebhooksMutation {
    /// Registers a webhook endpoint (`webhooks:manage`); its secret is in this answer only.
    #[graphql(guard = "Permission(perm::WEBHOOKS_MANAGE)")]
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The URL, its events and a note.")] input: CreateWebhookEndpointInput,
    ) -> async_graphql::Result<CreateWebhookEndpointPayload> {
        let viewer = ctx.viewer()?;
        let new = NewEndpoint {
            url: &input.url,
            events: &input.events,
            description: input.description.as_deref().unwrap_or_default(),
        };
        let (endpoint, secret) =
            super::create_endpoint(ctx.app(), ctx.request_info(), viewer.user_id, &new).await?;
        Ok(CreateWebhookEndpointPayload { endpoint, secret })
    }

    /// Changes an endpoint's URL, events or note (`webhooks:manage`).
    #[graphql(guard = "Permission(perm::WEBHOOKS_MANAGE)")]
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint and what changes.")] input: UpdateWebhookEndpointInput,
    ) -> async_graphql::Result<WebhookEndpointPayload> {
        let viewer = ctx.viewer()?;
        let id = parse_id("id", &input.id)?;
        let edit = EndpointEdit {
            url: input.url.as_deref(),
            events: input.events.as_deref(),
            description: input.description.as_deref(),
        };
        let endpoint =
            super::update_endpoint(ctx.app(), ctx.request_info(), viewer.user_id, id, &edit)
                .await?;
        Ok(WebhookEndpointPayload { endpoint })
    }

    /// Deletes an endpoint with its deliveries, sent or not (`webhooks:manage`).
    #[graphql(guard = "Permission(perm::WEBHOOKS_MANAGE)")]
    async fn delete_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint.")] input: WebhookEndpointIdInput,
    ) -> async_graphql::Result<WebhookEndpointPayload> {
        act(ctx, &input, Act::Delete).await
    }

    /// Resumes a paused endpoint (`webhooks:manage`): its pending deliveries go out at once.
    #[graphql(guard = "Permission(perm::WEBHOOKS_MANAGE)")]
    async fn resume_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint.")] input: WebhookEndpointIdInput,
    ) -> async_graphql::Result<WebhookEndpointPayload> {
        act(ctx, &input, Act::Resume).await
    }

    /// Gives an endpoint a new signing secret, in this answer only (`webhooks:manage`).
    #[graphql(guard = "Permission(perm::WEBHOOKS_MANAGE)")]
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint.")] input: WebhookEndpointIdInput,
    ) -> async_graphql::Result<RotateWebhookSecretPayload> {
        let viewer = ctx.viewer()?;
        let id = parse_id("id", &input.id)?;
        let (endpoint, secret) =
            super::rotate_secret(ctx.app(), ctx.request_info(), viewer.user_id, id).await?;
        Ok(RotateWebhookSecretPayload { endpoint, secret })
    }

    /// Queues a delivery again from its first attempt, due now (`webhooks:manage`): a dead
    /// letter once its receiver is fixed, or a delivered one the receiver lost.
    #[graphql(guard = "Permission(perm::WEBHOOKS_MANAGE)")]
    async fn redeliver_webhook_delivery(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The delivery.")] input: RedeliverWebhookDeliveryInput,
    ) -> async_graphql::Result<RedeliverWebhookDeliveryPayload> {
        let viewer = ctx.viewer()?;
        let id = parse_id("id", &input.id)?;
        let delivery = super::redeliver(ctx.app(), ctx.request_info(), viewer.user_id, id).await?;
        Ok(RedeliverWebhookDeliveryPayload { delivery })
    }
}

async fn act(
    ctx: &Context<'_>,
    input: &WebhookEndpointIdInput,
    act: Act,
) -> async_graphql::Result<WebhookEndpointPayload> {
    let viewer = ctx.viewer()?;
    let id = parse_id("id", &input.id)?;
    let endpoint =
        super::act_on_endpoint(ctx.app(), ctx.request_info(), viewer.user_id, id, act).await?;
    Ok(WebhookEndpointPayload { endpoint })
}
