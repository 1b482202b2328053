use serde_json::{Value, json};

use crate::common::{PASSWORD, TestApp};

const MY_ACTIVITY: &str = "{ myActivity(first: 50) { totalCount edges { node { action actorId targetType ipAddress userAgent requestId metadata } } } }";

fn actions(reply: &crate::common::Reply, field: &str) -> Vec<String> {
    reply.assert_ok()[field]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"]["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn account_events_are_recorded_and_readable_by_their_owner() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    assert_eq!(
        t.login("ada", "wrong password!").await.code(),
        Some("UNAUTHENTICATED")
    );
    assert_eq!(
        t.login("nobody-here", "wrong password!").await.code(),
        Some("UNAUTHENTICATED")
    );
    let change = "mutation($v: ChangePasswordInput!) { changePassword(input: $v) { session { refreshToken } } }";
    let changed = t
        .gql_as(
            &ada.access,
            change,
            json!({"v": {"currentPassword": PASSWORD, "newPassword": "another long secret"}}),
        )
        .await;
    let renewed = changed.assert_ok()["changePassword"]["session"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let refresh =
        "mutation($v: RefreshSessionInput!) { refreshSession(input: $v) { refreshToken } }";
    t.gql(refresh, json!({"v": {"refreshToken": renewed}}))
        .await
        .assert_ok();
    t.sql(
        "UPDATE refresh_tokens SET used_at = now() - interval '1 minute' WHERE used_at IS NOT NULL",
    )
    .await;
    assert_eq!(
        t.gql(refresh, json!({"v": {"refreshToken": renewed}}))
            .await
            .code(),
        Some("UNAUTHENTICATED")
    );

    let again = t.login("ada", "another long secret").await;
    let access = again.assert_ok()["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let activity = t.gql_as(&access, MY_ACTIVITY, json!({})).await;
    let mine = actions(&activity, "myActivity");
    for expected in [
        "user.register",
        "auth.login",
        "auth.login_failed",
        "auth.password_change",
        "auth.refresh_reuse",
    ] {
        assert!(
            mine.contains(&expected.to_owned()),
            "{expected} missing from {mine:?}"
        );
    }
    // The failure against an unknown account concerns nobody's account: no user reads it.
    assert_eq!(
        mine.iter()
            .filter(|action| *action == "auth.login_failed")
            .count(),
        1
    );
    let newest = &activity.data()["myActivity"]["edges"][0]["node"];
    assert_eq!(newest["ipAddress"], "203.0.113.7");
    assert_eq!(newest["userAgent"], "agora-tests");
    assert!(
        newest["requestId"]
            .as_str()
            .is_some_and(|id| id.len() == 36)
    );

    t.gql_as(
        &access,
        "mutation { logout { sessionsRevoked } }",
        json!({}),
    )
    .await
    .assert_ok();
    assert_eq!(
        t.count("SELECT count(*) FROM audit_log WHERE action = 'auth.logout'")
            .await,
        1
    );
    assert_eq!(
        t.count("SELECT count(*) FROM audit_log WHERE action = 'auth.login_failed'")
            .await,
        2
    );
    let failures: Vec<Value> = serde_json::from_str(
        &t.text("SELECT json_agg(json_build_object('keys', (SELECT json_agg(k) FROM jsonb_object_keys(metadata) k), 'actor', actor_id))::text AS t FROM audit_log WHERE action = 'auth.login_failed'")
            .await,
    )
    .unwrap();
    assert_eq!(
        failures[0], failures[1],
        "known and unknown accounts fail with rows of one shape"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn auditors_read_and_filter_the_whole_log() {
    let t = TestApp::new().await;
    let admin = t.admin("root").await;
    let ada = t.user("ada").await;
    let query = "query($f: AuditLogFilter) { auditLog(first: 100, filter: $f) { totalCount edges { node { action actorId } } } }";
    let all = t.gql_as(&admin.access, query, json!({})).await;
    assert!(all.assert_ok()["auditLog"]["totalCount"].as_i64().unwrap() >= 4);
    let logins = t
        .gql_as(&admin.access, query, json!({"f": {"action": "auth.login"}}))
        .await;
    assert_eq!(actions(&logins, "auditLog"), ["auth.login", "auth.login"]);
    let by_ada = t
        .gql_as(&admin.access, query, json!({"f": {"actorId": ada.user_id}}))
        .await;
    assert_eq!(
        actions(&by_ada, "auditLog"),
        ["auth.login", "user.register"]
    );
    let future = t
        .gql_as(
            &admin.access,
            query,
            json!({"f": {"since": "2199-12-31T00:00:00Z"}}),
        )
        .await;
    assert_eq!(future.assert_ok()["auditLog"]["totalCount"], 0);
    let past = t
        .gql_as(
            &admin.access,
            query,
            json!({"f": {"until": "2000-01-01T00:00:00Z"}}),
        )
        .await;
    assert_eq!(past.assert_ok()["auditLog"]["totalCount"], 0);
    let bad = t
        .gql_as(&admin.access, query, json!({"f": {"since": "yesterday"}}))
        .await;
    assert!(bad.code().is_some());
    assert_eq!(
        t.gql_as(&ada.access, query, json!({})).await.code(),
        Some("FORBIDDEN")
    );
    // No mutation edits or deletes audit rows.
    let schema = agora::graphql::sdl();
    assert!(!schema.contains("deleteAudit") && !schema.contains("updateAudit"));
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let direct = TestApp::new().await;
    direct.register("ada", "ada@example.com").await.assert_ok();
    direct
        .post(
            "{ __typename }",
            json!({}),
            &[("x-forwarded-for", "198.51.100.23")],
        )
        .await;
    direct
        .post(
            "mutation { login(input: {login: \"ada\", password: \"nope nope nope\"}) { ... on AuthPayload { accessToken } } }",
            json!({}),
            &[("x-forwarded-for", "198.51.100.23")],
        )
        .await;
    assert_eq!(
        direct
            .text("SELECT host(ip) AS t FROM audit_log WHERE action = 'auth.login_failed'")
            .await,
        "203.0.113.7"
    );

    let proxied =
        TestApp::with_config(|config| config.trusted_proxies = vec!["203.0.113.7".into()]).await;
    proxied.register("ada", "ada@example.com").await.assert_ok();
    proxied
        .post(
            "mutation { login(input: {login: \"ada\", password: \"nope nope nope\"}) { ... on AuthPayload { accessToken } } }",
            json!({}),
            &[("x-forwarded-for", "6.6.6.6, 198.51.100.23")],
        )
        .await;
    assert_eq!(
        proxied
            .text("SELECT host(ip) AS t FROM audit_log WHERE action = 'auth.login_failed'")
            .await,
        "198.51.100.23"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_reaches_an_audit_row() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let new_password = "a very different secret";
    let change = "mutation($v: ChangePasswordInput!) { changePassword(input: $v) { session { refreshToken } } }";
    let changed = t
        .gql_as(
            &ada.access,
            change,
            json!({"v": {"currentPassword": PASSWORD, "newPassword": new_password}}),
        )
        .await;
    let renewed = changed.assert_ok()["changePassword"]["session"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    t.login("ada", PASSWORD).await;
    let refresh =
        "mutation($v: RefreshSessionInput!) { refreshSession(input: $v) { refreshToken } }";
    let rotated = t
        .gql(refresh, json!({"v": {"refreshToken": &renewed}}))
        .await;
    let successor = rotated.assert_ok()["refreshSession"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let hash = t
        .text("SELECT password_hash AS t FROM users WHERE username = 'ada'")
        .await;
    let everything = t
        .text("SELECT coalesce(string_agg(audit_log::text, ' '), '') AS t FROM audit_log")
        .await;
    assert!(everything.contains("auth.password_change"));
    for secret in [
        PASSWORD,
        new_password,
        &ada.access,
        &ada.refresh,
        &renewed,
        &successor,
        &hash,
    ] {
        assert!(
            !everything.contains(secret),
            "a secret reached the audit log"
        );
    }
}

const LOGIN: &str =
    "mutation($input: LoginInput!) { login(input: $input) { ... on AuthPayload { accessToken } } }";

/// POSTs `query` as `bearer` (if any) with `client_id` as its `x-request-id`.
async fn post_with_request_id(
    t: &TestApp,
    bearer: Option<&str>,
    query: &str,
    variables: Value,
    client_id: &[u8],
) -> crate::common::Reply {
    use axum::http::{HeaderValue, Method, Request, header};
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-request-id", HeaderValue::from_bytes(client_id).unwrap());
    if let Some(token) = bearer {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = json!({ "query": query, "variables": variables }).to_string();
    let reply = t
        .send(request.body(axum::body::Body::from(body)).unwrap())
        .await;
    reply.assert_ok();
    reply
}

async fn sign_in_with_request_id(t: &TestApp, client_id: &[u8]) -> crate::common::Reply {
    let variables = json!({ "input": { "login": "ada", "password": PASSWORD } });
    post_with_request_id(t, None, LOGIN, variables, client_id).await
}

/// The request id and client request id stored with the newest audit row of `action`.
async fn stored_ids(t: &TestApp, action: &str) -> (String, Option<String>) {
    let newest = format!("FROM audit_log WHERE action = '{action}' ORDER BY id DESC LIMIT 1");
    let request_id = t.text(&format!("SELECT request_id AS t {newest}")).await;
    let client_request_id = t
        .text(&format!(
            "SELECT coalesce(client_request_id, '<none>') AS t {newest}"
        ))
        .await;
    (
        request_id,
        Some(client_request_id).filter(|id| id != "<none>"),
    )
}

fn answered_id(reply: &crate::common::Reply) -> &str {
    reply.headers["x-request-id"].to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_request_id_is_the_servers_and_the_clients_is_kept_apart() {
    let t = TestApp::new().await;
    let admin = t.admin("root").await;
    t.register("ada", "ada@example.com").await.assert_ok();
    let reply = sign_in_with_request_id(&t, b"attacker-value").await;
    let answered = answered_id(&reply);
    assert_ne!(answered, "attacker-value");
    let is_uuid = answered.len() == 36
        && answered.char_indices().all(|(at, c)| match at {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    assert!(is_uuid, "{answered}");
    assert_eq!(
        stored_ids(&t, "auth.login").await,
        (answered.to_owned(), Some("attacker-value".to_owned())),
        "the audit row carries our id, and the client's apart"
    );

    let access = reply.data()["login"]["accessToken"].as_str().unwrap();
    let activity = t
        .gql_as(
            access,
            "{ myActivity(first: 1) { edges { node { action requestId clientRequestId } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        activity.assert_ok()["myActivity"]["edges"][0]["node"],
        json!({ "action": "auth.login", "requestId": answered, "clientRequestId": "attacker-value" })
    );

    // A trade writes its audit row in its own statement: the same two ids.
    let item = crate::market::list_item(&t, &admin, "Desk lamp", 30).await;
    let bought = post_with_request_id(
        &t,
        Some(access),
        "mutation($v: PurchaseItemInput!) { purchaseItem(input: $v) { budget } }",
        json!({ "v": { "itemId": item } }),
        b"trade-7",
    )
    .await;
    assert_eq!(
        stored_ids(&t, "market.purchase").await,
        (answered_id(&bought).to_owned(), Some("trade-7".to_owned()))
    );

    // 128 visible ASCII characters are kept; a longer or non-ASCII value is dropped.
    let longest = "a".repeat(128);
    sign_in_with_request_id(&t, longest.as_bytes()).await;
    assert_eq!(stored_ids(&t, "auth.login").await.1, Some(longest));
    for dropped in [
        "a".repeat(129).into_bytes(),
        "café".as_bytes().to_vec(),
        b"with space".to_vec(),
    ] {
        let reply = sign_in_with_request_id(&t, &dropped).await;
        assert_eq!(
            stored_ids(&t, "auth.login").await,
            (answered_id(&reply).to_owned(), None),
            "{:?} was stored",
            String::from_utf8_lossy(&dropped)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_names_the_servers_request_id_and_the_clients_apart() {
    let t = TestApp::new().await;
    let server = t
        .binary(&[
            ("AGORA_ENV", "production"),
            ("AGORA_PUBLIC_URL", "https://agora.example"),
            ("RUST_LOG", "info"),
        ])
        .await;
    let response = crate::common::http_client()
        .post(format!("http://{}/graphql", server.address))
        .header("x-request-id", "attacker-value")
        .json(&json!({ "query": "query Probe { __typename }" }))
        .send()
        .await
        .unwrap();
    let ours = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(ours, "attacker-value");
    let logged = crate::common::eventually(
        std::time::Duration::from_secs(2),
        "the request to be logged",
        async || {
            server
                .logs()
                .iter()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .find(|entry| entry["fields"]["operation"] == "Probe")
        },
    )
    .await;
    assert_eq!(logged["fields"]["request_id"], ours.as_str());
    assert_eq!(logged["span"]["request_id"], ours.as_str());
    assert_eq!(logged["span"]["client_request_id"], "attacker-value");
}
