//! Mail, password reset and email verification, delivered to a real SMTP server started in
//! the test (mailin-embedded) or read from the outbox table.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailin_embedded::{Handler, Response, Server, response};
use serde_json::{Value, json};

use crate::common::{PASSWORD, TestApp, eventually, free_port, tallied, tally, unfold};

const REQUEST_RESET: &str =
    "mutation($v: RequestPasswordResetInput!) { requestPasswordReset(input: $v) { message } }";
const RESET: &str =
    "mutation($v: ResetPasswordInput!) { resetPassword(input: $v) { sessionsRevoked } }";
const VERIFY: &str = "mutation($v: VerifyEmailInput!) { verifyEmail(input: $v) { user { username emailVerified } } }";
const NEW_PASSWORD: &str = "a brand new passphrase";

/// Messages an SMTP server received, as raw text.
#[derive(Clone, Default)]
struct Inbox {
    received: Arc<Mutex<Vec<String>>>,
    current: Vec<u8>,
}

impl Handler for Inbox {
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let message = String::from_utf8_lossy(&std::mem::take(&mut self.current)).into_owned();
        self.received.lock().unwrap().push(message);
        response::OK
    }
}

impl Inbox {
    /// Waits up to ten seconds for a message whose text contains `needle`.
    async fn wait_for(&self, needle: &str) -> String {
        eventually(
            Duration::from_secs(10),
            &format!("a mail containing {needle:?}"),
            async || {
                self.received
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|message| unfold(message))
                    .find(|message| message.contains(needle))
            },
        )
        .await
    }
}

fn start_smtp(port: u16) -> Inbox {
    let inbox = Inbox::default();
    let mut server = Server::new(inbox.clone());
    server
        .with_name("test.smtp")
        .with_addr(("127.0.0.1", port))
        .unwrap();
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    inbox
}

/// The token of the `page` link in a mail text.
pub(crate) fn token_in(text: &str, page: &str) -> String {
    let start = text
        .find(&format!("/{page}#token="))
        .unwrap_or_else(|| panic!("no {page} link in {text}"))
        + page.len()
        + 8;
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// An app that sends through SMTP on `port`, with its outbox worker running.
async fn app_with_smtp(port: u16) -> TestApp {
    let t = TestApp::with_config(|config| {
        config.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        config.mail_retry_base_ms = 100;
        config.outbox_poll_ms = 50;
    })
    .await;
    tokio::spawn(agora::mail::sender::run_outbox(t.app.clone()));
    t
}

/// The plain-text body of the newest outbox mail of `kind` to `to`.
async fn outbox_text(t: &TestApp, kind: &str, to: &str) -> String {
    t.text(&format!(
        "SELECT text_body AS t FROM email_outbox WHERE kind = '{kind}' AND recipient = '{to}' ORDER BY id DESC LIMIT 1"
    ))
    .await
}

async fn request_reset(t: &TestApp, email: &str) -> crate::common::Reply {
    t.gql(REQUEST_RESET, json!({"v": {"email": email}})).await
}

/// Waits until the background reset request has queued its mail.
async fn reset_token(t: &TestApp, email: &str) -> String {
    let queued = format!(
        "SELECT count(*) FROM email_outbox WHERE kind = 'password_reset' AND recipient = '{email}'"
    );
    let what = format!("a reset mail queued for {email}");
    eventually(Duration::from_secs(5), &what, async || {
        (t.count(&queued).await > 0).then_some(())
    })
    .await;
    token_in(
        &outbox_text(t, "password_reset", email).await,
        "reset-password",
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_by_mail_end_to_end() {
    let port = free_port();
    let inbox = start_smtp(port);
    let t = app_with_smtp(port).await;
    let ada = t.user("ada").await;
    let welcome = inbox.wait_for("Welcome to Agora, ada").await;
    assert!(welcome.contains("To: ada@example.com"));
    assert!(
        welcome.contains("Content-Type: text/html"),
        "plain text and HTML"
    );
    assert!(
        welcome.contains("http://127.0.0.1:8080/verify-email#token="),
        "links lead to Agora's own page at its listen address"
    );

    let reply = request_reset(&t, "ADA@example.com").await;
    assert_eq!(
        reply.assert_ok()["requestPasswordReset"]["message"],
        "If an account uses this address, a reset link is on its way."
    );
    let mail = inbox.wait_for("Reset your Agora password").await;
    let token = token_in(&mail, "reset-password");

    let weak = t
        .gql(
            RESET,
            json!({"v": {"token": token, "newPassword": "short"}}),
        )
        .await;
    assert_eq!(weak.error()["extensions"]["field"], "newPassword");
    let reply = t
        .gql(
            RESET,
            json!({"v": {"token": token, "newPassword": NEW_PASSWORD}}),
        )
        .await;
    assert_eq!(reply.assert_ok()["resetPassword"]["sessionsRevoked"], 1);
    assert!(reply.cookies().is_empty(), "nobody is signed in");
    assert!(t.me_refused(&ada.access).await.is_some());
    assert_eq!(
        t.login("ada", PASSWORD).await.code(),
        Some("UNAUTHENTICATED")
    );
    t.login("ada", NEW_PASSWORD).await.assert_ok();
    inbox.wait_for("Your password was changed").await;

    let again = t
        .gql(
            RESET,
            json!({"v": {"token": token, "newPassword": "yet another passphrase"}}),
        )
        .await;
    assert_eq!(again.error()["extensions"]["field"], "token");
}

/// The SMTP server as the app sees it: a port that forwards to the real server while it is
/// up. mailin-embedded cannot stop, so stopping and starting happen here.
struct Switch {
    port: u16,
    upstream: u16,
    running: Option<tokio::task::JoinHandle<()>>,
}

impl Switch {
    fn new(upstream: u16) -> Self {
        Self {
            port: free_port(),
            upstream,
            running: None,
        }
    }

    async fn start(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        let upstream = self.upstream;
        self.running = Some(tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut server) =
                        tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        }));
    }

    /// Closes the port and every connection through it.
    fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mail_waits_out_an_smtp_outage_and_is_delivered() {
    let upstream = free_port();
    let inbox = start_smtp(upstream);
    let mut smtp = Switch::new(upstream);
    smtp.start().await;
    let t = app_with_smtp(smtp.port).await;
    t.user("ada").await;
    inbox.wait_for("Welcome to Agora, ada").await;

    smtp.stop();
    let reply = request_reset(&t, "ada@example.com").await;
    reply.assert_ok();
    reset_token(&t, "ada@example.com").await;
    counts(
        &t,
        "SELECT count(*) FROM email_outbox WHERE kind = 'password_reset' AND sent_at IS NULL AND attempts >= 1 AND last_error IS NOT NULL",
        1,
        "the row is kept with its attempt and error",
    )
    .await;

    // The failed row still holds the mail it has to send again.
    let token = reset_token(&t, "ada@example.com").await;

    smtp.start().await;
    let mail = inbox.wait_for("Reset your Agora password").await;
    assert_eq!(token_in(&mail, "reset-password"), token);
    delivered(&t).await;
    assert_row_keeps_no_secret(&t, "password_reset", &token).await;
    t.gql(
        RESET,
        json!({"v": {"token": token, "newPassword": NEW_PASSWORD}}),
    )
    .await
    .assert_ok();
}

/// Waits until the outbox has sent everything.
async fn delivered(t: &TestApp) {
    counts(
        t,
        "SELECT count(*) FROM email_outbox WHERE sent_at IS NULL",
        0,
        "the outbox to send everything",
    )
    .await;
}

/// Waits until `sql` counts `n`.
async fn counts(t: &TestApp, sql: &str, n: i64, what: &str) {
    eventually(Duration::from_secs(5), what, async || {
        (t.count(sql).await == n).then_some(())
    })
    .await;
}

/// The delivered outbox row of `kind` keeps what operators need (recipient, kind, times) and
/// nothing of `secret`, in any column.
async fn assert_row_keeps_no_secret(t: &TestApp, kind: &str, secret: &str) {
    let row = t
        .text(&format!(
            "SELECT row_to_json(o)::text AS t FROM email_outbox o WHERE kind = '{kind}' AND sent_at IS NOT NULL"
        ))
        .await;
    assert!(!row.contains(secret), "{row}");
    let row: Value = serde_json::from_str(&row).unwrap();
    assert_eq!(row["recipient"], "ada@example.com");
    assert!(row["created_at"].is_string() && row["sent_at"].is_string());
    assert!(
        row["text_body"].is_null() && row["html_body"].is_null(),
        "{row}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn delivered_mail_keeps_no_token_and_its_links_still_work() {
    let port = free_port();
    let inbox = start_smtp(port);
    let t = app_with_smtp(port).await;
    t.user("ada").await;
    let welcome = inbox.wait_for("Welcome to Agora, ada").await;
    let verify = token_in(&welcome, "verify-email");
    request_reset(&t, "ada@example.com").await.assert_ok();
    let reset = token_in(
        &inbox.wait_for("Reset your Agora password").await,
        "reset-password",
    );
    delivered(&t).await;
    assert_row_keeps_no_secret(&t, "welcome", &verify).await;
    assert_row_keeps_no_secret(&t, "password_reset", &reset).await;

    let reply = t.gql(VERIFY, json!({"v": {"token": verify}})).await;
    assert_eq!(
        reply.assert_ok()["verifyEmail"]["user"]["emailVerified"],
        true
    );
    t.gql(
        RESET,
        json!({"v": {"token": reset, "newPassword": NEW_PASSWORD}}),
    )
    .await
    .assert_ok();
    t.login("ada", NEW_PASSWORD).await.assert_ok();

    // The table itself refuses a delivered row that keeps a body.
    let mut conn = agora::db::conn(&t.app.pool).await.unwrap();
    let kept = diesel_async::RunQueryDsl::execute(
        diesel::sql_query("UPDATE email_outbox SET text_body = 'x' WHERE sent_at IS NOT NULL"),
        &mut conn,
    )
    .await;
    assert!(kept.is_err(), "{kept:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_addresses_get_the_same_answer_and_the_same_limits() {
    let t = TestApp::new().await;
    t.user("ada").await;
    let known = request_reset(&t, "ada@example.com").await;
    let unknown = request_reset(&t, "nobody@example.com").await;
    assert_eq!(known.status, unknown.status);
    assert_eq!(known.body["data"], unknown.body["data"]);
    reset_token(&t, "ada@example.com").await;
    // Each request looks its address up in a task of its own, holding a pooled connection
    // until it is done: with every connection back in the pool, both lookups have finished.
    eventually(
        Duration::from_secs(5),
        "both lookups to finish",
        async || {
            let pool = t.app.pool.status();
            (pool.available == pool.size).then_some(())
        },
    )
    .await;
    assert_eq!(
        t.count("SELECT count(*) FROM email_outbox WHERE recipient = 'nobody@example.com'")
            .await,
        0
    );
    // Three per address per hour, known or not.
    for email in ["ada@example.com", "nobody@example.com"] {
        for _ in 0..2 {
            request_reset(&t, email).await.assert_ok();
        }
        let limited = request_reset(&t, email).await;
        assert_eq!(limited.code(), Some("RATE_LIMITED"), "{email}");
        let retry_after = limited.error()["extensions"]["retryAfter"]
            .as_i64()
            .unwrap();
        assert!((1..=3600).contains(&retry_after));
    }
    // Twenty requests per client address per hour: 8 so far (refused ones count too), 12 more
    // pass, the next does not.
    for i in 0..12 {
        request_reset(&t, &format!("someone{i}@example.com"))
            .await
            .assert_ok();
    }
    let limited = request_reset(&t, "one.more@example.com").await;
    assert_eq!(limited.code(), Some("RATE_LIMITED"));
    // An hour later the address may ask again.
    t.app
        .clock
        .pin(chrono::Utc::now() + chrono::Duration::minutes(61));
    request_reset(&t, "ada@example.com").await.assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_links_are_single_use_expire_and_die_with_a_password_change() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    request_reset(&t, "ada@example.com").await.assert_ok();
    let token = reset_token(&t, "ada@example.com").await;
    // Two submissions at once: one wins.
    let submit = |password: &'static str| {
        let t = &t;
        let token = token.clone();
        async move {
            t.gql(
                RESET,
                json!({"v": {"token": token, "newPassword": password}}),
            )
            .await
        }
    };
    let (a, b) = futures::future::join(
        submit("first new passphrase"),
        submit("second new passphrase"),
    )
    .await;
    assert_eq!(
        [&a, &b]
            .iter()
            .filter(|reply| reply.code().is_none())
            .count(),
        1
    );

    // Expired after 30 minutes.
    t.sql("DELETE FROM email_outbox").await;
    request_reset(&t, "ada@example.com").await.assert_ok();
    let token = reset_token(&t, "ada@example.com").await;
    t.app
        .clock
        .pin(chrono::Utc::now() + chrono::Duration::minutes(31));
    let late = t
        .gql(
            RESET,
            json!({"v": {"token": token, "newPassword": NEW_PASSWORD}}),
        )
        .await;
    assert_eq!(late.error()["extensions"]["field"], "token");

    // A password change ends outstanding links.
    t.app.clock.pin(chrono::Utc::now());
    t.sql("DELETE FROM email_outbox").await;
    request_reset(&t, "ada@example.com").await.assert_ok();
    let token = reset_token(&t, "ada@example.com").await;
    let password = if a.code().is_none() {
        "first new passphrase"
    } else {
        "second new passphrase"
    };
    let reply = t.login("ada", password).await;
    let access = reply.assert_ok()["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    t.gql_as(
        &access,
        "mutation($v: ChangePasswordInput!) { changePassword(input: $v) { sessionsRevoked } }",
        json!({"v": {"currentPassword": password, "newPassword": NEW_PASSWORD}}),
    )
    .await
    .assert_ok();
    let dead = t
        .gql(
            RESET,
            json!({"v": {"token": token, "newPassword": "some other passphrase"}}),
        )
        .await;
    assert_eq!(dead.error()["extensions"]["field"], "token");
    assert!(
        !outbox_text(&t, "password_changed", "ada@example.com")
            .await
            .is_empty()
    );
    assert!(t.me_refused(&ada.access).await.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn verification_links_are_purpose_bound_and_follow_the_address() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let verify_token = token_in(
        &outbox_text(&t, "welcome", "ada@example.com").await,
        "verify-email",
    );
    request_reset(&t, "ada@example.com").await.assert_ok();
    let reset = reset_token(&t, "ada@example.com").await;
    // Each token serves only its own purpose.
    let wrong = t.gql(VERIFY, json!({"v": {"token": reset}})).await;
    assert_eq!(wrong.error()["extensions"]["field"], "token");
    let wrong = t
        .gql(
            RESET,
            json!({"v": {"token": verify_token, "newPassword": NEW_PASSWORD}}),
        )
        .await;
    assert_eq!(wrong.error()["extensions"]["field"], "token");

    let status = "{ me { email emailVerified } }";
    let reply = t.gql_as(&ada.access, status, json!({})).await;
    assert_eq!(reply.assert_ok()["me"]["emailVerified"], false);
    let reply = t.gql(VERIFY, json!({"v": {"token": verify_token}})).await;
    assert_eq!(
        reply.assert_ok()["verifyEmail"]["user"],
        json!({"username": "ada", "emailVerified": true})
    );
    let again = t.gql(VERIFY, json!({"v": {"token": verify_token}})).await;
    assert_eq!(again.code(), Some("BAD_USER_INPUT"));
    let resend = "mutation { resendVerification { sent } }";
    let reply = t.gql_as(&ada.access, resend, json!({})).await;
    assert_eq!(reply.assert_ok()["resendVerification"]["sent"], false);

    // A new address needs the password, is unverified, gets a link; the old one a notice.
    let change = "mutation($v: ChangeEmailInput!) { changeEmail(input: $v) { user { email emailVerified } } }";
    let reply = t
        .gql_as(
            &ada.access,
            change,
            json!({"v": {"newEmail": "ada@new.example", "password": "wrong password"}}),
        )
        .await;
    assert_eq!(reply.error()["extensions"]["field"], "password");
    let reply = t
        .gql_as(
            &ada.access,
            change,
            json!({"v": {"newEmail": "Ada@New.example", "password": PASSWORD}}),
        )
        .await;
    assert_eq!(
        reply.assert_ok()["changeEmail"]["user"],
        json!({"email": "ada@new.example", "emailVerified": false})
    );
    assert!(
        outbox_text(&t, "email_changed", "ada@example.com")
            .await
            .contains("ada@new.example")
    );
    let new_token = token_in(
        &outbox_text(&t, "verify_email", "ada@new.example").await,
        "verify-email",
    );
    let reply = t.gql_as(&ada.access, resend, json!({})).await;
    assert_eq!(reply.assert_ok()["resendVerification"]["sent"], true);
    let reply = t.gql(VERIFY, json!({"v": {"token": new_token}})).await;
    assert_eq!(
        reply.assert_ok()["verifyEmail"]["user"]["emailVerified"],
        true
    );
    let bob = t.user("bob").await;
    let taken = t
        .gql_as(
            &bob.access,
            change,
            json!({"v": {"newEmail": "ada@new.example", "password": PASSWORD}}),
        )
        .await;
    assert_eq!(taken.error()["extensions"]["reason"], "TAKEN");
}

#[tokio::test(flavor = "multi_thread")]
async fn security_changes_send_notices_and_files_stand_in_for_smtp() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    t.gql_as(
        &ada.access,
        "mutation($v: CreateApiTokenInput!) { createApiToken(input: $v) { token } }",
        json!({"v": {"name": "<deploy>", "permissions": ["profile:read"], "password": PASSWORD}}),
    )
    .await
    .assert_ok();
    let html = t
        .text("SELECT html_body AS t FROM email_outbox WHERE kind = 'api_token_created'")
        .await;
    assert!(html.contains("&lt;deploy&gt;"), "{html}");
    // Without SMTP_URL the worker writes .eml files under the data folder.
    let sent = agora::mail::sender::send_due(&t.app).await.unwrap();
    assert_eq!(sent, 2, "welcome and the token notice");
    let folder = t.app.config.data_dir.join("mail");
    let files: Vec<Value> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| json!(entry.unwrap().file_name().to_string_lossy()))
        .collect();
    assert_eq!(files.len(), 2);
    assert!(
        files
            .iter()
            .all(|name| name.as_str().unwrap().ends_with(".eml"))
    );
    assert_eq!(
        t.count("SELECT count(*) FROM email_outbox WHERE sent_at IS NULL")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_that_dies_mid_send_leaves_the_mail_to_the_next() {
    let t = TestApp::new().await;
    t.user("ada").await;
    // A worker claims the welcome mail and dies before sending it.
    let mut conn = agora::db::conn(&t.app.pool).await.unwrap();
    let now = chrono::Utc::now();
    let claimed = agora::mail::store::claim(&mut conn, now, chrono::Duration::minutes(2), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    drop(conn);
    // While its lease runs, nobody else takes it; afterwards the next worker sends it.
    t.app.clock.pin(now + chrono::Duration::seconds(30));
    assert_eq!(agora::mail::sender::send_due(&t.app).await.unwrap(), 0);
    t.app.clock.pin(now + chrono::Duration::minutes(3));
    assert_eq!(agora::mail::sender::send_due(&t.app).await.unwrap(), 1);
    assert_eq!(
        t.count("SELECT count(*) FROM email_outbox WHERE sent_at IS NOT NULL AND attempts = 2")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn links_ignore_the_host_header() {
    let t = TestApp::new().await;
    t.user("ada").await;
    t.post(
        REQUEST_RESET,
        json!({"v": {"email": "ada@example.com"}}),
        &[
            ("host", "evil.example"),
            ("x-forwarded-host", "evil.example"),
        ],
    )
    .await
    .assert_ok();
    reset_token(&t, "ada@example.com").await;
    let text = outbox_text(&t, "password_reset", "ada@example.com").await;
    assert!(
        text.contains("http://127.0.0.1:8080/reset-password#token="),
        "{text}"
    );
    assert!(!text.contains("evil.example"));
}

fn hashes_so_far(metrics: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("agora_password_hashes_total "))
        .map_or(0.0, |value| value.parse().unwrap())
}

async fn hashes(t: &TestApp) -> f64 {
    hashes_so_far(t.metrics().await.body.as_str().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_guesses_are_limited_before_any_hash_is_spent() {
    let t =
        TestApp::with_config(|config| config.trusted_proxies = vec!["203.0.113.7".into()]).await;
    t.user("ada").await;
    let guess = |token: String, address: String| {
        let t = &t;
        async move {
            t.post(
                RESET,
                json!({"v": {"token": token, "newPassword": NEW_PASSWORD}}),
                &[("x-forwarded-for", &address)],
            )
            .await
        }
    };
    let before = hashes(&t).await;
    // Fifty guesses from one address at once: ten are looked up, none is hashed.
    let replies = futures::future::join_all(
        (0..50).map(|n| guess(format!("{n:08}{}", "x".repeat(35)), "198.51.100.1".into())),
    )
    .await;
    assert_eq!(
        tally(&replies),
        tallied(&[("BAD_USER_INPUT", 10), ("RATE_LIMITED", 40)])
    );
    // Fifty guesses at one token's beginning, each from its own address: five.
    let replies = futures::future::join_all(
        (0..50).map(|n| guess(format!("AAAAAAAA{n:035}"), format!("198.51.100.{}", n + 2))),
    )
    .await;
    assert_eq!(
        tally(&replies),
        tallied(&[("BAD_USER_INPUT", 5), ("RATE_LIMITED", 45)])
    );
    assert_eq!(hashes(&t).await, before, "no guess cost an argon2 hash");

    // A live link is no guess: refusing its new password spends neither it nor the budget.
    request_reset(&t, "ada@example.com").await.assert_ok();
    let token = reset_token(&t, "ada@example.com").await;
    for weak in ["ada@example.com", "short"] {
        let reply = guess(token.clone(), "198.51.100.1".into()).await;
        assert_eq!(reply.code(), Some("RATE_LIMITED"), "this address is spent");
        let reply = t
            .gql(RESET, json!({"v": {"token": token, "newPassword": weak}}))
            .await;
        assert_eq!(
            reply.error()["extensions"]["field"],
            "newPassword",
            "{weak}"
        );
    }
    t.gql(
        RESET,
        json!({"v": {"token": token, "newPassword": NEW_PASSWORD}}),
    )
    .await
    .assert_ok();
    assert_eq!(
        hashes(&t).await,
        before + 1.0,
        "one hash, for the reset that worked"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_ends_every_session_and_api_token() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let script = t
        .gql_as(
            &ada.access,
            "mutation($v: CreateApiTokenInput!) { createApiToken(input: $v) { token } }",
            json!({"v": {"name": "nightly", "permissions": ["profile:read"], "password": PASSWORD}}),
        )
        .await
        .assert_ok()["createApiToken"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    request_reset(&t, "ada@example.com").await.assert_ok();
    let token = reset_token(&t, "ada@example.com").await;
    let reply = t
        .gql(
            "mutation($v: ResetPasswordInput!) { resetPassword(input: $v) { sessionsRevoked apiTokensRevoked } }",
            json!({"v": {"token": token, "newPassword": NEW_PASSWORD}}),
        )
        .await;
    assert_eq!(
        reply.assert_ok()["resetPassword"],
        json!({"sessionsRevoked": 1, "apiTokensRevoked": 1})
    );
    assert!(t.me_refused(&ada.access).await.is_some());
    assert!(t.me_refused(&script).await.is_some());
    assert!(
        outbox_text(&t, "password_changed", "ada@example.com")
            .await
            .contains("your API token was revoked")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_habit_reminder_arrives_by_smtp() {
    let port = free_port();
    let inbox = start_smtp(port);
    let t = app_with_smtp(port).await;
    let ada = t.user("ada").await;
    crate::reminders::send_one_to(&t, &ada).await;
    let mail = inbox.wait_for("Reminder: Stretch").await;
    assert!(mail.contains("To: ada@example.com"), "{mail}");
    assert!(
        mail.contains("It is 07:00: time for \"Stretch\"."),
        "{mail}"
    );
}
