//! The few calls Agora makes to Stripe's API, over reqwest with form bodies. A client crate
//! (async-stripe) was weighed and left: minutes of build for four endpoints, models that
//! refuse the objects of Stripe-compatible test servers, and a second HTTP stack.

use std::time::Duration;

use serde::Deserialize;

use crate::error::AppError;

pub struct Stripe {
    http: reqwest::Client,
    base: String,
    secret_key: String,
}

/// A PaymentIntent as Agora reads it.
#[derive(Debug, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub client_secret: Option<String>,
    pub status: String,
}

/// A payment as Agora reads it: what was paid, and how much of it was given back since.
#[derive(Debug, Deserialize)]
pub struct Charge {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    #[serde(default)]
    pub amount_refunded: i64,
    pub payment_intent: Option<String>,
}

/// Money Stripe gave back, of a charge.
#[derive(Debug, Deserialize)]
pub struct Refund {
    pub id: String,
    pub charge: String,
}

/// What a new PaymentIntent is for.
pub struct IntentRequest<'a> {
    pub amount: i64,
    pub currency: &'a str,
    pub metadata: &'a [(&'a str, String)],
    /// Stripe answers a repeated key with the PaymentIntent the first call made.
    pub idempotency_key: &'a str,
}

impl Stripe {
    pub fn new(base: &str, secret_key: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: crate::outbound::client(Duration::from_secs(10))?,
            base: base.trim_end_matches('/').to_owned(),
            secret_key: secret_key.to_owned(),
        })
    }

    pub async fn create_payment_intent(
        &self,
        request: &IntentRequest<'_>,
    ) -> Result<PaymentIntent, AppError> {
        let mut form = vec![
            ("amount".to_owned(), request.amount.to_string()),
            ("currency".to_owned(), request.currency.to_owned()),
        ];
        for (key, value) in request.metadata {
            form.push((format!("metadata[{key}]"), value.clone()));
        }
        self.post("payment_intents", &form, request.idempotency_key)
            .await
    }

    /// Gives back `amount` of a PaymentIntent's payment; a repeated `idempotency_key`
    /// answers with the refund the first call made.
    pub async fn create_refund(
        &self,
        payment_intent: &str,
        amount: i64,
        idempotency_key: &str,
    ) -> Result<Refund, AppError> {
        let form = [
            ("payment_intent".to_owned(), payment_intent.to_owned()),
            ("amount".to_owned(), amount.to_string()),
        ];
        self.post("refunds", &form, idempotency_key).await
    }

    pub async fn charge(&self, id: &str) -> Result<Charge, AppError> {
        self.get(&format!("charges/{id}")).await
    }

    pub async fn payment_intent(&self, id: &str) -> Result<PaymentIntent, AppError> {
        self.get(&format!("payment_intents/{id}")).await
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, AppError> {
        let sent = self
            .http
            .get(format!("{}/v1/{path}", self.base))
            .bearer_auth(&self.secret_key)
            .send()
            .await;
        read(sent).await
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        form: &[(String, String)],
        idempotency_key: &str,
    ) -> Result<T, AppError> {
        let body =
            serde_urlencoded::to_string(form).map_err(|error| AppError::Internal(error.into()))?;
        let sent = self
            .http
            .post(format!("{}/v1/{path}", self.base))
            .bearer_auth(&self.secret_key)
            .header("Idempotency-Key", idempotency_key)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await;
        read(sent).await
    }
}

/// Stripe's answer as `T`; any failure to reach it or a refusal is `SERVICE_UNAVAILABLE`
/// naming Stripe (the detail goes to the log, not to the client).
async fn read<T: serde::de::DeserializeOwned>(
    sent: reqwest::Result<reqwest::Response>,
) -> Result<T, AppError> {
    let unavailable = || AppError::Upstream("Payments are unavailable right now; try again".into());
    let response = sent.map_err(|error| {
        tracing::warn!(%error, "Stripe did not answer");
        unavailable()
    })?;
    let status = response.status();
    let body = response.text().await.map_err(|error| {
        tracing::warn!(%error, "Stripe's answer broke off");
        unavailable()
    })?;
    if !status.is_success() {
        tracing::warn!(%status, body = %body.chars().take(500).collect::<String>(), "Stripe refused a request");
        return Err(unavailable());
    }
    serde_json::from_str(&body).map_err(|error| {
        tracing::warn!(%error, "Stripe's answer did not parse");
        unavailable()
    })
}
