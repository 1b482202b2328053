//! A real Stripe-compatible server for tests: localstripe (PyPI, pinned in
//! tests/stripe/requirements.txt) in a Python process of the test's own, on a free loopback port,
//! driven over real HTTP with form-encoded requests as Stripe's API takes them. It keeps what it is
//! asked to make (PaymentIntents, payment methods, charges, refunds, events) in memory and POSTs
//! signed events to the webhook endpoints registered with it.
//!
//! Where it differs from Stripe (tests/api/stripe_harness.rs asserts each, so a localstripe that
//! changes fails there first, not in a feature's test):
//! - Refunds send no event at all (no `charge.refunded`, no `charge.refund.updated`), nor does a
//!   failed 3D Secure authentication or a cancellation. [`LocalStripe::event`] and
//!   [`LocalStripe::deliver`] send such an event, built from its real objects and signed as it
//!   signs its own.
//! - 4000000000000002 (`pm_card_visa_chargeDeclined`) is declined only when attached to a
//!   customer: a PaymentIntent paid with it succeeds. [`TestCard::Declined`] is one it declines.
//! - A declined PaymentIntent cannot be confirmed again; the 402 names the charge, not the
//!   PaymentIntent, and says `invalid_request_error` where Stripe says `card_error`.
//! - `Idempotency-Key` is ignored.
//! - An event goes to each endpoint once, about a second after the request that made it, and is
//!   never retried.
//! - `latest_charge` is the whole charge, never its id.
//! - Refunds are not checked against what is left: a refund without an amount refunds the whole
//!   charge again, and more than the charge succeeds.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// localstripe takes any key that starts with `sk_`.
pub const SECRET_KEY: &str = "sk_test_agora";

/// No form fields, for a POST that takes none.
pub const NO_FORM: &[(&str, &str)] = &[];

/// Stripe's test cards, as localstripe knows them (resources.py, `PaymentMethod`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestCard {
    /// 4242 4242 4242 4242: paid at once.
    Visa,
    /// 4000 0000 0000 0341: declined when charged, 402 `card_declined`.
    Declined,
    /// 4000 0025 0000 3155: the PaymentIntent waits in `requires_action` until the customer's
    /// 3D Secure answer ([`LocalStripe::authenticate`]).
    ThreeDSecure,
}

impl TestCard {
    pub fn number(self) -> &'static str {
        match self {
            Self::Visa => "4242424242424242",
            Self::Declined => "4000000000000341",
            Self::ThreeDSecure => "4000002500003155",
        }
    }
}

#[derive(Clone)]
struct Endpoint {
    name: String,
    url: String,
    secret: String,
    events: Option<Vec<String>>,
}

pub struct LocalStripe {
    port: u16,
    /// Where this instance keeps its objects: kept across [`Self::restart`], removed on drop.
    state_file: PathBuf,
    /// `python serve.py`: killed on drop, and it exits by itself when this process does (its
    /// standard input closes).
    process: Option<tokio::process::Child>,
    /// localstripe keeps endpoints in memory only: registered again after a restart.
    endpoints: Mutex<Vec<Endpoint>>,
    logs: Arc<Mutex<Vec<String>>>,
    http: reqwest::Client,
}

impl LocalStripe {
    /// localstripe on a free port, with no objects and no webhook endpoints; returns once it
    /// answers.
    pub async fn start() -> Self {
        let port = super::free_port();
        let mut stripe = Self {
            port,
            state_file: std::env::temp_dir().join(format!(
                "agora-test-localstripe-{}-{port}.pickle",
                std::process::id()
            )),
            process: None,
            endpoints: Mutex::new(Vec::new()),
            logs: Arc::new(Mutex::new(Vec::new())),
            http: super::http_client(),
        };
        let _ = std::fs::remove_file(&stripe.state_file);
        stripe.launch().await;
        stripe
    }

    /// `http://127.0.0.1:<port>`, the API base (Stripe's `https://api.stripe.com`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn secret_key(&self) -> &'static str {
        SECRET_KEY
    }

    /// What localstripe logged (its access log and webhook deliveries), for a failing test's
    /// message.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// `POST <path>` with `form` as Stripe's form encoding (`metadata[key]`, `events[]`): the
    /// status and the JSON answer (a string when it was not JSON, as in its 500s).
    pub async fn post<T: serde::Serialize + ?Sized>(&self, path: &str, form: &T) -> (u16, Value) {
        self.send(self.http.post(format!("{}{path}", self.url())).form(form))
            .await
    }

    /// As [`Self::post`], with an `Idempotency-Key` header (which localstripe ignores).
    pub async fn post_with_idempotency_key<T: serde::Serialize + ?Sized>(
        &self,
        path: &str,
        key: &str,
        form: &T,
    ) -> (u16, Value) {
        let request = self
            .http
            .post(format!("{}{path}", self.url()))
            .header("Idempotency-Key", key)
            .form(form);
        self.send(request).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.http.get(format!("{}{path}", self.url())))
            .await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request
            .bearer_auth(SECRET_KEY)
            .send()
            .await
            .unwrap_or_else(|error| {
                panic!("localstripe did not answer: {error}: {:#?}", self.logs())
            });
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    /// Sends every event to `url`, signed with `secret` (`Stripe-Signature: t=…,v1=…`).
    pub async fn register_webhook(&self, url: &str, secret: &str) {
        self.add_endpoint(url, secret, None).await;
    }

    /// Sends the events of the types `events` only to `url`.
    pub async fn register_webhook_for(&self, url: &str, secret: &str, events: &[&str]) {
        let events = events.iter().map(|&event| event.to_owned()).collect();
        self.add_endpoint(url, secret, Some(events)).await;
    }

    async fn add_endpoint(&self, url: &str, secret: &str, events: Option<Vec<String>>) {
        let endpoint = {
            let mut endpoints = self.endpoints.lock().unwrap();
            let endpoint = Endpoint {
                name: format!("endpoint{}", endpoints.len() + 1),
                url: url.to_owned(),
                secret: secret.to_owned(),
                events,
            };
            endpoints.push(endpoint.clone());
            endpoint
        };
        self.configure(&endpoint).await;
    }

    async fn configure(&self, endpoint: &Endpoint) {
        let mut form = vec![
            ("url", endpoint.url.as_str()),
            ("secret", endpoint.secret.as_str()),
        ];
        for event in endpoint.events.iter().flatten() {
            form.push(("events[]", event.as_str()));
        }
        let (status, answer) = self
            .post(&format!("/_config/webhooks/{}", endpoint.name), &form)
            .await;
        assert_eq!(status, 200, "registering a webhook endpoint: {answer}");
    }

    /// A PaymentIntent as a server makes one for the customer's browser to pay: no payment
    /// method yet (`requires_payment_method`), `metadata` as given.
    pub async fn create_payment_intent(
        &self,
        amount: i64,
        currency: &str,
        metadata: &[(&str, &str)],
    ) -> Value {
        let mut form = vec![
            ("amount".to_owned(), amount.to_string()),
            ("currency".to_owned(), currency.to_owned()),
        ];
        for (key, value) in metadata {
            form.push((format!("metadata[{key}]"), (*value).to_owned()));
        }
        let (status, intent) = self.post("/v1/payment_intents", &form).await;
        assert_eq!(status, 200, "creating a PaymentIntent: {intent}");
        intent
    }

    /// What the customer's browser does (Stripe.js): a card payment method, then the
    /// confirmation. localstripe takes no `payment_method` at confirmation ("Not implemented",
    /// a 500), so the PaymentIntent is updated with it first. Returns the confirmation's answer:
    /// 200 and the PaymentIntent, or 402 and the decline.
    pub async fn pay(&self, payment_intent: &str, card: TestCard) -> (u16, Value) {
        let (status, method) = self
            .post(
                "/v1/payment_methods",
                &[
                    ("type", "card"),
                    ("card[number]", card.number()),
                    ("card[exp_month]", "12"),
                    ("card[exp_year]", "2030"),
                    ("card[cvc]", "123"),
                ],
            )
            .await;
        assert_eq!(status, 200, "creating a payment method: {method}");
        let method = method["id"].as_str().unwrap();
        let (status, intent) = self
            .post(
                &format!("/v1/payment_intents/{payment_intent}"),
                &[("payment_method", method)],
            )
            .await;
        assert_eq!(status, 200, "attaching {method}: {intent}");
        self.post(
            &format!("/v1/payment_intents/{payment_intent}/confirm"),
            NO_FORM,
        )
        .await
    }

    /// The customer's answer to 3D Secure for a PaymentIntent in `requires_action` (`intent`
    /// as created: its id and client secret).
    pub async fn authenticate(&self, intent: &Value, success: bool) -> (u16, Value) {
        let id = intent["id"].as_str().unwrap();
        let client_secret = intent["client_secret"].as_str().unwrap();
        let success = if success { "true" } else { "false" };
        self.post(
            &format!("/v1/payment_intents/{id}/_authenticate"),
            &[("client_secret", client_secret), ("success", success)],
        )
        .await
    }

    pub async fn payment_intent(&self, id: &str) -> Value {
        let (status, intent) = self.get(&format!("/v1/payment_intents/{id}")).await;
        assert_eq!(status, 200, "fetching {id}: {intent}");
        intent
    }

    pub async fn charge(&self, id: &str) -> Value {
        let (status, charge) = self.get(&format!("/v1/charges/{id}")).await;
        assert_eq!(status, 200, "fetching {id}: {charge}");
        charge
    }

    /// `POST /v1/refunds` for a PaymentIntent's charge: `amount` (in the smallest unit), or
    /// the whole charge.
    pub async fn refund(&self, payment_intent: &str, amount: Option<i64>) -> (u16, Value) {
        let mut form = vec![("payment_intent", payment_intent.to_owned())];
        if let Some(amount) = amount {
            form.push(("amount", amount.to_string()));
        }
        self.post("/v1/refunds", &form).await
    }

    pub async fn cancel(&self, payment_intent: &str) -> (u16, Value) {
        self.post(
            &format!("/v1/payment_intents/{payment_intent}/cancel"),
            NO_FORM,
        )
        .await
    }

    /// `GET /v1/events` (of one type, or all), oldest first: localstripe lists in the order it
    /// made them, where Stripe lists the newest first.
    pub async fn events(&self, event_type: Option<&str>) -> Vec<Value> {
        let filter = event_type
            .map(|kind| format!("&type={kind}"))
            .unwrap_or_default();
        let (status, list) = self.get(&format!("/v1/events?limit=100{filter}")).await;
        assert_eq!(status, 200, "listing events: {list}");
        assert_eq!(list["has_more"], false, "more than 100 events");
        list["data"].as_array().unwrap().clone()
    }

    /// An event of `event_type` about `object`, shaped as localstripe makes its own (resources.py,
    /// `Event`), for the events it never sends: `charge.refunded` with the charge after a
    /// refund, say.
    pub fn event(&self, event_type: &str, object: Value) -> Value {
        let mut id = [0u8; 7];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut id);
        json!({
            "id": format!("evt_{}", hex(&id)),
            "object": "event",
            "api_version": "2017-08-15",
            "created": unix_now(),
            "livemode": false,
            "type": event_type,
            "data": { "object": object },
        })
    }

    /// POSTs `event` to `url` as localstripe delivers one (webhooks.py): pretty JSON, signed
    /// with `secret` at the event's `created`. Returns the endpoint's status.
    pub async fn deliver(&self, url: &str, secret: &str, event: &Value) -> u16 {
        let payload = serde_json::to_vec_pretty(event).unwrap();
        let created = event["created"].as_i64().expect("an event's created");
        self.http
            .post(url)
            .header("Content-Type", "application/json; charset=utf-8")
            .header(
                "Stripe-Signature",
                signature_header(secret, created, &payload),
            )
            .body(payload)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Ends localstripe and waits until it has: its port refuses connections after this.
    pub async fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill().await;
        }
    }

    /// localstripe again on the same port with the same objects and webhook endpoints.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.launch().await;
    }

    async fn launch(&mut self) {
        let venv = installed_localstripe();
        let mut process = tokio::process::Command::new(venv.join("bin/python"))
            .arg("-u")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/stripe/serve.py"))
            .arg(self.port.to_string())
            .arg(&self.state_file)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("starting localstripe");
        super::collect_lines(process.stdout.take().unwrap(), self.logs.clone());
        super::collect_lines(process.stderr.take().unwrap(), self.logs.clone());
        self.process = Some(process);

        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let answer = self
                .http
                .get(format!("{}/v1/events?limit=1", self.url()))
                .bearer_auth(SECRET_KEY)
                .send()
                .await;
            if answer.is_ok_and(|response| response.status().is_success()) {
                break;
            }
            if let Some(status) = self.process.as_mut().unwrap().try_wait().unwrap() {
                // Let the output drain before showing it.
                tokio::time::sleep(Duration::from_millis(200)).await;
                panic!("localstripe exited ({status}): {:#?}", self.logs());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "localstripe did not answer on port {} within 30 s: {:#?}",
                self.port,
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let endpoints = self.endpoints.lock().unwrap().clone();
        for endpoint in &endpoints {
            self.configure(endpoint).await;
        }
    }
}

impl Drop for LocalStripe {
    fn drop(&mut self) {
        // kill_on_drop ends the process.
        let _ = std::fs::remove_file(&self.state_file);
    }
}

/// `Stripe-Signature` as Stripe and localstripe write it: `t=<timestamp>,v1=<hex HMAC-SHA256,
/// keyed with the whole endpoint secret, of "<timestamp>.<payload>">`.
pub fn signature_header(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(payload);
    format!("t={timestamp},v1={}", hex(&mac.finalize().into_bytes()))
}

pub fn unix_now() -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(now.as_secs()).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// One request that reached a [`WebhookInbox`].
#[derive(Clone, Debug)]
pub struct Delivery {
    pub method: String,
    pub path: String,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Delivery {
    /// The header's value, or "" when it is missing.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A webhook endpoint of the test's own on a free loopback port: every request, whatever its
/// path, is kept for the test and answered with [`Self::answer_with`]'s status (200 at first).
pub struct WebhookInbox {
    port: u16,
    deliveries: tokio::sync::mpsc::UnboundedReceiver<Delivery>,
    answer: Arc<AtomicU16>,
    server: tokio::task::JoinHandle<()>,
}

impl WebhookInbox {
    pub async fn start() -> Self {
        let (sender, deliveries) = tokio::sync::mpsc::unbounded_channel();
        let answer = Arc::new(AtomicU16::new(200));
        let status = answer.clone();
        let router = axum::Router::new().fallback(
            move |method: axum::http::Method,
                  uri: axum::http::Uri,
                  headers: axum::http::HeaderMap,
                  body: axum::body::Bytes| {
                let (sender, status) = (sender.clone(), status.clone());
                async move {
                    let _ = sender.send(Delivery {
                        method: method.to_string(),
                        path: uri.path().to_owned(),
                        headers,
                        body: body.to_vec(),
                    });
                    axum::http::StatusCode::from_u16(status.load(Ordering::SeqCst)).unwrap()
                }
            },
        );
        let (port, server) = super::serve_on_loopback(router).await;
        Self {
            port,
            deliveries,
            answer,
            server,
        }
    }

    /// Where to register it: `http://127.0.0.1:<port>/webhooks/stripe`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/webhooks/stripe", self.port)
    }

    pub fn answer_with(&self, status: u16) {
        self.answer.store(status, Ordering::SeqCst);
    }

    /// The next request, waiting up to `within`.
    pub async fn next(&mut self, within: Duration) -> Delivery {
        match tokio::time::timeout(within, self.deliveries.recv()).await {
            Ok(Some(delivery)) => delivery,
            _ => panic!("no webhook reached {} within {within:?}", self.url()),
        }
    }

    /// A request that has already arrived, without waiting.
    pub fn try_next(&mut self) -> Option<Delivery> {
        self.deliveries.try_recv().ok()
    }

    /// Fails when a request arrives within `within`.
    pub async fn nothing_within(&mut self, within: Duration) {
        if let Ok(Some(delivery)) = tokio::time::timeout(within, self.deliveries.recv()).await {
            panic!(
                "an unexpected webhook reached {}: {}",
                delivery.path,
                delivery.text()
            );
        }
    }
}

impl Drop for WebhookInbox {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The venv in target/tmp with tests/stripe/requirements.txt installed, for the `python3` on
/// `PATH`. Test processes start together, so the first installs under a file lock and the others
/// wait for it; a stamp of the requirements' and the interpreter's hash tells a finished install
/// from an interrupted or stale one.
fn installed_localstripe() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let hint = "the Stripe tests run localstripe on Python: install Python 3 with venv and \
                    pip (Debian: apt-get install python3 python3-venv)";
        assert!(super::installed("python3"), "{hint}");
        let requirements =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/stripe/requirements.txt");
        let python = run(
            std::process::Command::new("python3")
                .args(["-c", "import sys; print(sys.executable, sys.version)"]),
            hint,
        );
        let wanted: String = hex(&Sha256::new()
            .chain_update(std::fs::read(&requirements).unwrap())
            .chain_update(python.as_bytes())
            .finalize());
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        std::fs::create_dir_all(tmp).unwrap();
        let venv = tmp.join("localstripe-venv");
        let stamp = venv.join(".agora-stamp");
        super::install_once(&tmp.join("localstripe-venv.lock"), &stamp, &wanted, || {
            let _ = std::fs::remove_dir_all(&venv);
            run(
                std::process::Command::new("python3")
                    .args(["-m", "venv"])
                    .arg(&venv),
                hint,
            );
            run(
                std::process::Command::new(venv.join("bin/python"))
                    .args(["-m", "pip", "install", "--disable-pip-version-check"])
                    .args(["--no-input", "--quiet", "-r"])
                    .arg(&requirements),
                "installing localstripe from PyPI",
            );
        });
        venv
    })
}

/// Runs `command` to its end; its standard output, or a panic with `hint` and its output.
fn run(command: &mut std::process::Command, hint: &str) -> String {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{command:?}: {error}; {hint}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}); {hint}\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}
