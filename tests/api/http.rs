use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;

use crate::common::{Reply, TestApp};

fn request(method: Method, uri: &str) -> axum::http::request::Builder {
    Request::builder().method(method).uri(uri)
}

async fn post_raw(
    t: &TestApp,
    content_type: Option<&str>,
    extra: &[(&str, &str)],
    body: impl Into<Body>,
) -> Reply {
    let mut builder = request(Method::POST, "/graphql");
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    for (name, value) in extra {
        builder = builder.header(*name, *value);
    }
    t.send(builder.body(body.into()).unwrap()).await
}

fn assert_transport_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{:#}", reply.body);
    assert_eq!(reply.code(), Some(code), "{:#}", reply.body);
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json");
}

#[tokio::test(flavor = "multi_thread")]
async fn get_runs_queries_but_not_mutations() {
    let t = TestApp::new().await;
    let query = t.get("/graphql?query=%7B__typename%7D", &[]).await;
    assert_eq!(query.assert_ok()["__typename"], "Query");

    let mutation = "/graphql?query=mutation%7Blogout%7BsessionsRevoked%7D%7D";
    let reply = t.get(mutation, &[]).await;
    assert_transport_error(&reply, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
    assert_eq!(reply.headers[header::ALLOW], "POST");

    let named = "/graphql?query=query%20A%7B__typename%7D%20mutation%20B%7Blogout%7BsessionsRevoked%7D%7D&operationName=B";
    let reply = t.get(named, &[]).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    let named_query = named.replace("operationName=B", "operationName=A");
    let reply = t.get(&named_query, &[]).await;
    assert_eq!(reply.assert_ok()["__typename"], "Query");
    let with_variables = "/graphql?query=query(%24n%3AInt)%7BmySessions(first%3A%24n)%7BtotalCount%7D%7D&variables=%7B%22n%22%3A101%7D";
    let reply = t.get(with_variables, &[]).await;
    assert_eq!(reply.code(), Some("UNAUTHENTICATED"));
}

#[tokio::test(flavor = "multi_thread")]
async fn graphiql_is_served_to_browsers_in_development_only() {
    let t = TestApp::new().await;
    let page = t.get("/graphql", &[("accept", "text/html")]).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.body.as_str().unwrap();
    let policy = page.headers["content-security-policy"].to_str().unwrap();
    // Scripts are allowed from this server (with integrity pinned) and by hash (the inline
    // bootstrap) only, so nothing injected into the page runs. (The browser test runs the page.)
    let script_src = policy
        .split(';')
        .map(str::trim)
        .find(|directive| directive.starts_with("script-src "))
        .expect("a script-src directive");
    assert!(
        script_src.starts_with("script-src 'self' 'sha256-"),
        "{policy}"
    );
    assert!(!script_src.contains("unsafe"), "{policy}");
    assert!(!policy.contains("http"), "{policy}");
    let external_scripts = html.matches("<script src=").count();
    assert_eq!(external_scripts, 3, "{html}");
    assert_eq!(
        html.matches(" integrity=\"sha384-").count(),
        external_scripts + 1,
        "every asset carries its integrity hash"
    );

    let production = TestApp::production().await;
    let page = production.get("/graphql", &[("accept", "text/html")]).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let introspection = production
        .gql("{ __schema { queryType { name } } }", json!({}))
        .await;
    // Refused with an error, as Apollo Server does; no `__schema: null` in a non-null field.
    assert_eq!(introspection.code(), Some("GRAPHQL_VALIDATION_FAILED"));
    assert!(
        introspection.body.get("data").is_none(),
        "{}",
        introspection.body
    );
    let through_fragment = production
        .gql(
            "{ ...Q } fragment Q on Query { __type(name: \"User\") { name } }",
            json!({}),
        )
        .await;
    assert_eq!(through_fragment.code(), Some("GRAPHQL_VALIDATION_FAILED"));
    assert_eq!(
        production
            .gql("{ __typename }", json!({}))
            .await
            .assert_ok()["__typename"],
        "Query"
    );
    let typo = production.gql("{ habitz { totalCount } }", json!({})).await;
    let message = typo.error()["message"].as_str().unwrap();
    assert!(!message.contains("Did you mean"), "{message}");
    let typo = t.gql("{ habitz { totalCount } }", json!({})).await;
    let message = typo.error()["message"].as_str().unwrap();
    assert!(
        message.contains("Did you mean"),
        "development suggests: {message}"
    );
    let development = t
        .gql("{ __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(
        development.assert_ok()["__schema"]["queryType"]["name"],
        "Query"
    );
}

/// The `src` or `href` and the `integrity` of every tag in the page that pins its integrity.
fn pinned_assets(html: &str) -> Vec<(String, String)> {
    let attribute = |tag: &str, name: &str| {
        let (_, rest) = tag.split_once(&format!(" {name}=\""))?;
        rest.split_once('"').map(|(value, _)| value.to_owned())
    };
    html.split('<')
        .filter_map(|tag| {
            let integrity = attribute(tag, "integrity")?;
            let url = attribute(tag, "src").or_else(|| attribute(tag, "href"))?;
            Some((url, integrity))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn graphiql_assets_are_served_by_the_server_itself_in_development_only() {
    use base64::Engine;
    use sha2::Digest;

    let t = TestApp::new().await;
    let page = t.get("/graphql", &[("accept", "text/html")]).await;
    let assets = pinned_assets(page.body.as_str().unwrap());
    assert_eq!(assets.len(), 4, "{}", page.text);
    let production = TestApp::production().await;
    for (url, integrity) in assets {
        // Development must work offline, and a URL must change when its bytes do for a year-long
        // immutable cache to be right.
        assert!(
            url.starts_with("/graphiql/"),
            "served from elsewhere: {url}"
        );
        assert!(
            url.split('/').any(|segment| segment.contains('@')),
            "no version in {url}"
        );
        let asset = t.get(&url, &[]).await;
        assert_eq!(asset.status, StatusCode::OK, "{url}");
        assert_eq!(
            asset.headers[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        let content_type = if url.ends_with(".css") {
            "text/css; charset=utf-8"
        } else {
            "text/javascript; charset=utf-8"
        };
        assert_eq!(asset.headers[header::CONTENT_TYPE], content_type, "{url}");
        let digest = sha2::Sha384::digest(asset.text.as_bytes());
        let served = format!(
            "sha384-{}",
            base64::engine::general_purpose::STANDARD.encode(digest)
        );
        assert_eq!(served, integrity, "{url}");

        let hidden = production.get(&url, &[]).await;
        assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{url} in production");
    }
    assert_eq!(
        t.get("/graphiql/react@0.0.0/react.production.min.js", &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cookie_requests_without_preflight_are_refused_before_running() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let cookie = format!("__Host-agora_access={}", ada.access);
    let logout = json!({"query": "mutation { logout { sessionsRevoked } }"}).to_string();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let reply = post_raw(
            &t,
            Some(content_type),
            &[("cookie", &cookie)],
            logout.clone(),
        )
        .await;
        assert_transport_error(&reply, StatusCode::BAD_REQUEST, "BAD_REQUEST");
    }
    let get = request(Method::GET, "/graphql?query=%7Bme%7Bid%7D%7D").header("cookie", &cookie);
    assert_transport_error(
        &t.send(get.body(Body::empty()).unwrap()).await,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
    );
    // Nothing ran: the session is still alive.
    t.gql_as(&ada.access, "{ me { id } }", json!({}))
        .await
        .assert_ok();
    assert_eq!(
        t.count("SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL")
            .await,
        0
    );

    let preflighted = request(Method::GET, "/graphql?query=%7Bme%7Busername%7D%7D")
        .header("cookie", &cookie)
        .header("apollo-require-preflight", "true");
    assert_eq!(
        t.send(preflighted.body(Body::empty()).unwrap())
            .await
            .assert_ok()["me"]["username"],
        "ada"
    );
    let json_post = post_raw(
        &t,
        Some("application/json"),
        &[("cookie", &cookie)],
        r#"{"query":"{ me { username } }"}"#,
    )
    .await;
    assert_eq!(json_post.assert_ok()["me"]["username"], "ada");
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_batched_oversized_and_non_json_bodies_are_refused() {
    let t = TestApp::new().await;
    let malformed = post_raw(&t, Some("application/json"), &[], "{\"query\": ").await;
    assert_transport_error(&malformed, StatusCode::BAD_REQUEST, "BAD_REQUEST");
    let text = malformed.body.to_string();
    assert!(
        !text.contains("EOF") && !text.contains("column"),
        "serde detail leaked: {text}"
    );

    let wrong_shape = post_raw(&t, Some("application/json"), &[], r#"{"query": 42}"#).await;
    assert_transport_error(&wrong_shape, StatusCode::BAD_REQUEST, "BAD_REQUEST");

    let batch = post_raw(
        &t,
        Some("application/json"),
        &[],
        r#" [{"query":"{__typename}"}]"#,
    )
    .await;
    assert_transport_error(&batch, StatusCode::BAD_REQUEST, "BAD_REQUEST");

    let huge = format!(
        r#"{{"query":"{{__typename}}","variables":{{"pad":"{}"}}}}"#,
        "x".repeat(1024 * 1024)
    );
    let too_large = post_raw(&t, Some("application/json"), &[], huge).await;
    assert_transport_error(
        &too_large,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    );

    // Refused on the header, before any of the body is read: the body sent here is small and
    // would be answered if it were read.
    let declared = post_raw(
        &t,
        Some("application/json"),
        &[("content-length", "10000000")],
        r#"{"query":"{__typename}"}"#,
    )
    .await;
    assert_transport_error(
        &declared,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    );

    let plain = post_raw(&t, Some("text/plain"), &[], r#"{"query":"{__typename}"}"#).await;
    assert_transport_error(
        &plain,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_graphql_error_has_a_code_and_request_id() {
    let t = TestApp::new().await;
    let parse = t.gql("{ me { id ", json!({})).await;
    assert_eq!(parse.code(), Some("GRAPHQL_PARSE_FAILED"));
    let validation = t.gql("{ noSuchField }", json!({})).await;
    assert_eq!(validation.code(), Some("GRAPHQL_VALIDATION_FAILED"));
    let variables = t
        .gql(
            "mutation($input: LoginInput!) { login(input: $input) { ... on AuthPayload { accessToken } } }",
            json!({"input": {"login": 5}}),
        )
        .await;
    assert!(variables.code().is_some(), "{:#}", variables.body);
    let nesting = 20;
    let deep = format!(
        "{{ __schema {{ types {{ fields {{ type {{ {} name {} }} }} }} }} }}",
        "ofType { ".repeat(nesting),
        "}".repeat(nesting)
    );
    assert_eq!(
        t.gql(&deep, json!({})).await.code(),
        Some("GRAPHQL_VALIDATION_FAILED")
    );
    for reply in [&parse, &validation, &variables] {
        let request_id = reply.error()["extensions"]["requestId"].as_str().unwrap();
        assert_eq!(reply.headers["x-request-id"], request_id);
    }
}

/// Refusals made before GraphQL runs read like GraphQL errors too: a JSON body whose error has
/// a code and the request id, whatever the path, method or URL length.
#[tokio::test(flavor = "multi_thread")]
async fn every_http_refusal_has_a_json_body_with_a_code_and_request_id() {
    let t = TestApp::new().await;
    let put = t
        .send(
            Request::builder()
                .method(Method::PUT)
                .uri("/graphql")
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await;
    let unknown = t.get("/graphq", &[]).await;
    let long_url = format!("/graphql?query={}", "a".repeat(20_000));
    let long = t.get(&long_url, &[]).await;
    let malformed = post_raw(&t, Some("application/json"), &[], "{ not json").await;
    for (reply, status, code) in [
        (&put, 405, "METHOD_NOT_ALLOWED"),
        (&unknown, 404, "NOT_FOUND"),
        (&long, 414, "BAD_REQUEST"),
        (&malformed, 400, "BAD_REQUEST"),
    ] {
        assert_eq!(reply.status, status, "{}", reply.text);
        assert_eq!(reply.code(), Some(code), "{}", reply.text);
        assert_eq!(reply.headers["content-type"], "application/json");
        let request_id = reply.error()["extensions"]["requestId"].as_str();
        assert_eq!(
            request_id,
            reply.headers["x-request-id"].to_str().ok(),
            "{}",
            reply.text
        );
    }
    assert!(put.headers.contains_key("allow"));
}

#[tokio::test(flavor = "multi_thread")]
async fn tools_introspection_fits_and_deep_data_queries_do_not() {
    let t = TestApp::new().await;
    // As deep as graphql-js's standard introspection query (GraphiQL, codegen, Apollo's tools).
    let type_ref = format!("{} name {}", "ofType { kind ".repeat(8), "}".repeat(8));
    let introspection =
        format!("{{ __schema {{ types {{ fields {{ type {{ {type_ref} }} }} }} }} }}");
    let reply = t.gql(&introspection, json!({})).await;
    assert!(reply.body.get("errors").is_none(), "{:#}", reply.body);

    // The depth check runs as the document parses, before fields are looked up.
    let nested = |levels: usize| {
        format!(
            "{{ {} id {} }}",
            "a { ".repeat(levels - 1),
            "}".repeat(levels - 1)
        )
    };
    let refused = t.gql(&nested(13), json!({})).await;
    assert_eq!(refused.code(), Some("GRAPHQL_VALIDATION_FAILED"));
    assert_eq!(refused.error()["message"], "Query is nested too deep.");
    let unknown_fields = t.gql(&nested(12), json!({})).await;
    assert_ne!(
        unknown_fields.error()["message"],
        "Query is nested too deep."
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn graphql_response_media_type_is_honoured() {
    let t = TestApp::new().await;
    let accept = [("accept", "application/graphql-response+json")];
    let ok = t.post("{ __typename }", json!({}), &accept).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(
        ok.headers[header::CONTENT_TYPE],
        "application/graphql-response+json"
    );
    let invalid = t.post("{ noSuchField }", json!({}), &accept).await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    // Nothing ran, so the answer has no `data` entry, not even null.
    assert!(invalid.body.get("data").is_none(), "{:#}", invalid.body);
    let legacy = t.gql("{ noSuchField }", json!({})).await;
    assert_eq!(legacy.status, StatusCode::OK);
    assert_eq!(legacy.headers[header::CONTENT_TYPE], "application/json");
    assert!(legacy.body.get("data").is_none(), "{:#}", legacy.body);

    // A field error that nulls the whole result happened during execution: 200, with `data`.
    let failed_field = t
        .post(
            "mutation { login(input: { login: \"nobody\", password: \"wrong password\" }) { __typename } }",
            json!({}),
            &accept,
        )
        .await;
    assert_eq!(failed_field.code(), Some("UNAUTHENTICATED"));
    assert_eq!(
        failed_field.status,
        StatusCode::OK,
        "{:#}",
        failed_field.body
    );
    assert_eq!(failed_field.body["data"], serde_json::Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn internal_errors_hide_their_detail() {
    let t = TestApp::new().await;
    t.register("ada", "ada@example.com").await.assert_ok();
    t.sql("ALTER TABLE refresh_tokens RENAME TO refresh_tokens_gone")
        .await;
    let reply = t.login("ada", crate::common::PASSWORD).await;
    assert_eq!(reply.code(), Some("INTERNAL_SERVER_ERROR"));
    assert_eq!(reply.error()["message"], "Internal server error");
    assert!(reply.error()["extensions"]["requestId"].is_string());
    let text = reply.body.to_string();
    assert!(
        !text.contains("refresh_tokens") && !text.contains("relation"),
        "detail leaked: {text}"
    );
    // The failed login left no half-open session behind.
    assert_eq!(t.count("SELECT count(*) FROM sessions").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_allows_only_configured_origins() {
    let t = TestApp::with_config(|config| {
        config.cors_origins = vec!["https://app.example.com".to_owned()]
    })
    .await;
    let preflight = |origin: &str| {
        request(Method::OPTIONS, "/graphql")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
            .body(Body::empty())
            .unwrap()
    };
    let allowed = t.send(preflight("https://app.example.com")).await;
    assert_eq!(
        allowed.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://app.example.com"
    );
    assert_eq!(
        allowed.headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS],
        "true"
    );
    let refused = t.send(preflight("https://evil.example.net")).await;
    assert!(
        refused
            .headers
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_readiness() {
    let t = TestApp::new().await;
    let health = t.get("/healthz", &[]).await;
    assert_eq!(
        (health.status, health.body.clone()),
        (StatusCode::OK, json!({"status": "ok"}))
    );
    let ready = t.get("/readyz", &[]).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["migrations"], "applied");
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        assert_eq!(ready.headers[name], value, "{name}");
    }
    let answer = t.gql("{ __typename }", json!({})).await;
    assert_eq!(
        answer.headers["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
    assert!(
        !answer.headers.contains_key("strict-transport-security"),
        "development serves plain HTTP"
    );
    let production = TestApp::production().await;
    assert_eq!(
        production.gql("{ __typename }", json!({})).await.headers["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    t.sql("DELETE FROM __diesel_schema_migrations").await;
    let not_ready = t.get("/readyz", &[]).await;
    assert_eq!(not_ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(not_ready.body["migrations"], "pending");
}

#[test]
fn production_requires_a_secret_and_where_links_lead() {
    let mut config = agora::config::Config::from_env().unwrap();
    config.env = agora::config::Environment::Production;
    config.secret = None;
    let message = config.validate().unwrap_err().to_string();
    assert!(message.contains("AGORA_SECRET"), "{message}");
    config.secret = Some("too short".into());
    assert!(config.validate().is_err());
    config.secret = Some("x".repeat(32));
    let message = config.validate().unwrap_err().to_string();
    assert!(
        message.contains("AGORA_APP_URL") && message.contains("AGORA_PUBLIC_URL"),
        "{message}"
    );
    config.app_url = Some("ftp://app.example".into());
    assert!(config.validate().is_err(), "links are http(s)");
    config.app_url = Some("https://app.example".into());
    assert!(config.validate().is_ok());
    config.app_url = None;
    config.public_url = Some("https://agora.example".into());
    assert!(config.validate().is_ok());
}

#[test]
fn cors_origins_must_be_bare_origins() {
    let mut config = agora::config::Config::from_env().unwrap();
    config.cors_origins = vec![
        "https://app.example.com".into(),
        " http://localhost:5173 ".into(),
    ];
    assert!(config.validate().is_ok());
    for bad in [
        "app.example.com",
        "https://app.example.com/",
        "https://app.example.com/path",
        "ftp://x.example",
    ] {
        config.cors_origins = vec![bad.into()];
        assert!(config.validate().is_err(), "{bad} was accepted");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn aliased_credential_checks_are_refused_before_any_runs() {
    let t = TestApp::new().await;
    t.user("ada").await;
    let aliases: String = (0..1000)
        .map(|i| format!("a{i}: login(input: {{login: \"ada\", password: \"guess number {i}\"}}) {{ __typename }} "))
        .collect();
    let started = std::time::Instant::now();
    let reply = t.gql(&format!("mutation {{ {aliases} }}"), json!({})).await;
    assert_eq!(reply.code(), Some("GRAPHQL_VALIDATION_FAILED"));
    assert!(
        reply.error()["message"]
            .as_str()
            .unwrap()
            .contains("check credentials once")
    );
    assert!(reply.body["data"].is_null());
    assert_eq!(
        t.count("SELECT count(*) FROM audit_log WHERE action = 'auth.login_failed'")
            .await,
        0,
        "no password was checked"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let two_kinds = t
        .gql(
            "mutation { login(input: {login: \"ada\", password: \"x\"}) { __typename } refreshSession(input: {refreshToken: \"x\"}) { accessToken } }",
            json!({}),
        )
        .await;
    assert_eq!(two_kinds.code(), Some("GRAPHQL_VALIDATION_FAILED"));
    assert!(
        two_kinds.error()["message"]
            .as_str()
            .unwrap()
            .contains("check credentials once")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn aliased_re_authentication_is_refused_before_any_password_is_checked() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let aliases: String = (0..20)
        .map(|i| {
            format!(
                "a{i}: beginTwoFactorSetup(input: {{password: \"guess {i}\"}}) {{ expiresAt }} "
            )
        })
        .collect();
    let reply = t
        .gql_as(&ada.access, &format!("mutation {{ {aliases} }}"), json!({}))
        .await;
    assert_eq!(
        reply.code(),
        Some("GRAPHQL_VALIDATION_FAILED"),
        "{:#}",
        reply.body
    );
    assert!(
        reply.body.get("data").is_none(),
        "nothing ran: {:#}",
        reply.body
    );
    assert_eq!(reply.body["errors"].as_array().unwrap().len(), 1);
    // Two different re-checks in one operation are refused alike.
    let mixed = t
        .gql_as(
            &ada.access,
            "mutation { changePassword(input: {currentPassword: \"a\", newPassword: \"b\"}) { sessionsRevoked } createApiToken(input: {name: \"n\", password: \"c\", permissions: []}) { token } }",
            json!({}),
        )
        .await;
    assert_eq!(
        mixed.code(),
        Some("GRAPHQL_VALIDATION_FAILED"),
        "{:#}",
        mixed.body
    );
    // One is fine.
    let one = t
        .gql_as(
            &ada.access,
            "mutation { beginTwoFactorSetup(input: {password: \"wrong\"}) { expiresAt } }",
            json!({}),
        )
        .await;
    assert_ne!(
        one.code(),
        Some("GRAPHQL_VALIDATION_FAILED"),
        "{:#}",
        one.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_over_long_password_is_refused_before_it_is_hashed() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let long = "p".repeat(10_000);
    let login = t.login("ada", &long).await;
    assert_eq!(login.code(), Some("BAD_USER_INPUT"), "{:#}", login.body);
    assert_eq!(login.error()["extensions"]["field"], "password");
    let unknown = t.login("nobody", &long).await;
    // Known or unknown account alike: the refusal says nothing about who exists.
    assert_eq!(unknown.code(), login.code());
    assert_eq!(unknown.error()["message"], login.error()["message"]);
    assert_eq!(
        t.count("SELECT count(*) FROM audit_log WHERE action = 'auth.login_failed'")
            .await,
        0,
        "refused as input, not checked as a credential"
    );
    let setup = t
        .gql_as(
            &ada.access,
            "mutation($p: String!) { beginTwoFactorSetup(input: {password: $p}) { expiresAt } }",
            json!({"p": long}),
        )
        .await;
    assert_eq!(setup.code(), Some("BAD_USER_INPUT"), "{:#}", setup.body);
    assert_eq!(setup.error()["extensions"]["field"], "password");
}

#[tokio::test(flavor = "multi_thread")]
async fn list_fields_cost_by_their_page_size() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let page = |alias: usize| {
        format!(
            "p{alias}: marketItems(first: 100) {{ edges {{ node {{ id name price barcode description }} }} }}"
        )
    };
    let one = t
        .gql_as(&ada.access, &format!("{{ {} }}", page(0)), json!({}))
        .await;
    one.assert_ok();
    let many: String = (0..10).map(page).collect::<Vec<_>>().join(" ");
    let refused = t
        .gql_as(&ada.access, &format!("{{ {many} }}"), json!({}))
        .await;
    assert_eq!(refused.code(), Some("GRAPHQL_VALIDATION_FAILED"));
    assert!(
        refused.error()["message"]
            .as_str()
            .unwrap()
            .contains("complex"),
        "{:#}",
        refused.body
    );
    // Small pages of the same shape fit.
    let small: String = (0..10)
        .map(|alias| {
            format!("p{alias}: marketItems(first: 5) {{ edges {{ node {{ id name }} }} }}")
        })
        .collect::<Vec<_>>()
        .join(" ");
    t.gql_as(&ada.access, &format!("{{ {small} }}"), json!({}))
        .await
        .assert_ok();
    // A page over the limit is the same mistake however far over: the field names it.
    for first in [101, 100_000, i32::MAX] {
        let over = t
            .gql_as(
                &ada.access,
                &format!("{{ marketItems(first: {first}) {{ edges {{ node {{ id }} }} }} }}"),
                json!({}),
            )
            .await;
        assert_eq!(over.code(), Some("BAD_USER_INPUT"), "first: {first}");
        assert_eq!(over.error()["extensions"]["field"], "first");
    }
}
