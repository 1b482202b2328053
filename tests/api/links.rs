//! Where mailed links lead: the front end's routes (`AGORA_APP_URL`), or Agora's own two pages,
//! on the address the server really listens on unless `AGORA_PUBLIC_URL` says otherwise. The
//! pages are strict (their inline script and style allowed by hash only) and the token they
//! carry reaches no log line.

use std::time::Duration;

use axum::http::StatusCode;
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::common::{Server, TestApp, eventually, unfold};

/// The newest link to `page` in the mail files `server` wrote, once there is one: the whole
/// link, whatever form its token takes.
async fn mailed(server: &Server, page: &str) -> String {
    let folder = server.data_dir.join("mail");
    eventually(
        Duration::from_secs(10),
        &format!("a {page} link"),
        async || {
            let mut files: Vec<_> = std::fs::read_dir(&folder).ok()?.flatten().collect();
            files.sort_by_key(|file| {
                std::fs::metadata(file.path())
                    .and_then(|m| m.modified())
                    .ok()
            });
            files.iter().rev().find_map(|file| {
                let mail = unfold(&std::fs::read_to_string(file.path()).ok()?);
                let at = mail.find(&format!("/{page}"))?;
                let start = mail[..at].rfind("http")?;
                let end = mail[start..].find(char::is_whitespace)? + start;
                Some(mail[start..end].to_owned())
            })
        },
    )
    .await
}

/// The token at the end of a link: `…#token=<token>`.
fn token_of(link: &str) -> String {
    link.rsplit_once("#token=")
        .unwrap_or_else(|| panic!("no #token= in {link}"))
        .1
        .to_owned()
}

async fn request_reset(server: &Server, email: &str) {
    server
        .gql(
            None,
            "mutation($v: RequestPasswordResetInput!) { requestPasswordReset(input: $v) { message } }",
            json!({ "v": { "email": email } }),
        )
        .await
        .assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_public_url_links_lead_to_the_port_the_server_listens_on() {
    let t = TestApp::new().await;
    let server = t.binary(&[]).await;
    server.register("ada").await;
    let own = format!("http://{}/verify-email#token=", server.address);
    let link = mailed(&server, "verify-email").await;
    assert!(link.starts_with(&own), "{link} is not on {own}");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_an_app_url_links_lead_to_the_front_end_and_agoras_pages_send_there() {
    let t = TestApp::new().await;
    let app = "https://app.example/agora";
    let server = t.binary(&[("AGORA_APP_URL", app)]).await;
    server.register("ada").await;
    let verify = mailed(&server, "verify-email").await;
    assert!(
        verify.starts_with("https://app.example/agora/verify-email#token="),
        "{verify}"
    );
    request_reset(&server, "ada@example.com").await;
    let reset = mailed(&server, "reset-password").await;
    assert!(
        reset.starts_with("https://app.example/agora/reset-password#token="),
        "{reset}"
    );

    // A link mailed before the front end was configured still arrives there, with what it
    // carried in its query (a browser keeps the fragment across the redirect by itself).
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (path, to) in [
        ("/verify-email?token=old", "/verify-email?token=old"),
        ("/reset-password", "/reset-password"),
    ] {
        let response = client
            .get(format!("http://{}{path}", server.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 307, "{path}");
        assert_eq!(
            response.headers()["location"],
            format!("{app}{to}"),
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn production_will_not_guess_where_links_lead() {
    let t = TestApp::new().await;
    let mut server = Server::spawn(&[
        ("DATABASE_URL", t.app.config.database_url.as_str()),
        ("AGORA_ENV", "production"),
    ]);
    let (status, logs) = server.exit_logs(Duration::from_secs(30)).await;
    assert!(!status.success());
    assert!(
        logs.iter()
            .any(|line| line.contains("AGORA_PUBLIC_URL") && line.contains("AGORA_APP_URL")),
        "{logs:#?}"
    );
}

/// `'sha256-…'` of the text between the first `<{tag}>` and its closing tag.
fn hash_of_inline(html: &str, tag: &str) -> String {
    let (_, after) = html
        .split_once(&format!("<{tag}>"))
        .unwrap_or_else(|| panic!("no <{tag}> in {html}"));
    let (inline, _) = after.split_once(&format!("</{tag}>")).unwrap();
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(inline));
    format!("'sha256-{hash}'")
}

#[tokio::test(flavor = "multi_thread")]
async fn agoras_own_pages_are_strict_and_self_contained() {
    let t = TestApp::new().await;
    for path in ["/verify-email", "/reset-password"] {
        let page = t.get(path, &[]).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.text);
        assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
        assert_eq!(page.headers["referrer-policy"], "no-referrer");
        assert_eq!(page.headers["cache-control"], "no-store");
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        let html = &page.text;
        assert_eq!(
            csp,
            format!(
                "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; \
                 form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
                hash_of_inline(html, "script"),
                hash_of_inline(html, "style"),
            ),
            "{path}"
        );
        assert_eq!(html.matches("<script").count(), 1, "one inline script");
        assert!(
            !html.contains(" src=") && !html.contains(" href="),
            "{html}"
        );
    }
    let reset = t.get("/reset-password", &[]).await.text;
    assert!(reset.contains("type=\"password\""), "{reset}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_verification_through_the_page_leaves_its_token_in_no_log_line() {
    let t = TestApp::new().await;
    let server = t.binary(&[("RUST_LOG", "debug")]).await;
    server.register("ada").await;
    let token = token_of(&mailed(&server, "verify-email").await);
    // The page as a link mailed with the token in its query would open it, then the request
    // its script sends.
    let (status, page) = server.get(&format!("/verify-email?token={token}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let query = page
        .split_once("const VERIFY = '")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(query, _)| query)
        .unwrap_or_else(|| panic!("no VERIFY document in {page}"));
    let verified = server
        .gql(None, query, json!({ "input": { "token": token } }))
        .await;
    assert_eq!(
        verified.assert_ok()["verifyEmail"]["user"]["emailVerified"],
        true
    );
    let logs = server.logs();
    assert!(
        logs.iter().any(|line| line.contains("/verify-email")),
        "the page's request is logged: {logs:#?}"
    );
    let leaks: Vec<&String> = logs.iter().filter(|line| line.contains(&token)).collect();
    assert!(leaks.is_empty(), "the token is logged: {leaks:#?}");
}

#[test]
fn links_start_at_the_app_else_the_public_url_else_where_the_server_listens() {
    let mut config = agora::config::Config::from_env().unwrap();
    for (listen, base) in [
        ("127.0.0.1:4000", "http://127.0.0.1:4000"),
        ("0.0.0.0:4000", "http://127.0.0.1:4000"),
        ("[::]:4000", "http://[::1]:4000"),
    ] {
        config.listen = listen.to_owned();
        assert_eq!(config.links_base(), base, "listening on {listen}");
    }
    config.public_url = Some("https://agora.example".to_owned());
    assert_eq!(config.links_base(), "https://agora.example");
    config.app_url = Some("https://app.example".to_owned());
    assert_eq!(config.links_base(), "https://app.example");
}
