//! What one operation may cost: aliases and fragments cannot multiply cheap fields past the
//! field cap, a root field that reads the database is priced so that the statements one
//! request sends stay bounded, and every document a real client sends (the web app, the
//! README, GraphiQL's introspection) fits.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Reply, TestApp};

/// `count` aliases of `selection` in one query.
fn aliased(selection: &str, count: usize) -> String {
    let aliases: Vec<String> = (0..count).map(|i| format!("a{i}: {selection}")).collect();
    format!("{{ {} }}", aliases.join(" "))
}

/// The reply to `query` sent with `access`, and the statements the app sent for it.
async fn measured(t: &TestApp, access: &str, query: &str) -> (Reply, u64) {
    let before = agora::metrics::statements_sent();
    let reply = t.gql_as(access, query, json!({})).await;
    (reply, agora::metrics::statements_sent() - before)
}

#[track_caller]
fn assert_refused(reply: &Reply, names: &str) {
    assert_eq!(
        reply.code(),
        Some("GRAPHQL_VALIDATION_FAILED"),
        "{:#}",
        reply.body
    );
    let message = reply.error()["message"].as_str().unwrap();
    assert!(message.contains(names), "{message}");
    assert!(reply.body.get("data").is_none(), "nothing ran");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_aliases_are_refused_before_any_of_them_runs() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    // The first request reads ada's permission set; the ones measured find it kept.
    t.gql_as(&ada.access, "{ me { id } }", json!({}))
        .await
        .assert_ok();
    for selection in ["me { id }", "myItems(first: 1) { totalCount }"] {
        let (reply, statements) = measured(&t, &ada.access, &aliased(selection, 1000)).await;
        assert_refused(&reply, "AGORA_MAX_FIELDS_PER_OPERATION");
        assert!(reply.error()["message"].as_str().unwrap().contains("500"));
        // Before the cap, the second document sent 2,001 statements.
        assert_eq!(statements, 1, "{selection}: only the session was read");
    }
    // Fields count wherever a fragment is spread, and inside fragments too.
    let fragments = format!(
        "{{ me {{ ...A }} }} fragment A on User {{ x: roles {{ ...B }} y: roles {{ ...B }} }} fragment B on Role {{ {} }}",
        (0..250)
            .map(|i| format!("n{i}: name"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let (reply, _) = measured(&t, &ada.access, &fragments).await;
    assert_refused(&reply, "AGORA_MAX_FIELDS_PER_OPERATION");
    // Exponentially many fields behind a few nested fragments are refused as quickly.
    let mut bomb = String::from("{ me { ...F0 } }");
    for level in 0..30 {
        bomb.push_str(&format!(
            " fragment F{level} on User {{ ...F{next} ...F{next} }}",
            next = level + 1
        ));
    }
    bomb.push_str(" fragment F30 on User { id }");
    // And fragments that spread each other: async-graphql's parse step walks every path of
    // either document (2^30 of them) before anything else can look at it.
    let cycle =
        "{ me { ...C0 } } fragment C0 on User { ...C1 ...C1 } fragment C1 on User { ...C0 ...C0 }";
    for (document, names) in [
        (bomb.as_str(), "AGORA_MAX_FIELDS_PER_OPERATION"),
        (cycle, "spreads itself"),
    ] {
        let started = std::time::Instant::now();
        let (reply, _) = measured(&t, &ada.access, document).await;
        assert_refused(&reply, names);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    // Cheap fields fit up to the cap: 250 aliased `me { id }` are 500 fields.
    let (reply, statements) = measured(&t, &ada.access, &aliased("me { id }", 250)).await;
    assert_eq!(reply.assert_ok().as_object().unwrap().len(), 250);
    assert_eq!(statements, 1);
    let (reply, _) = measured(&t, &ada.access, &aliased("me { id }", 251)).await;
    assert_refused(&reply, "AGORA_MAX_FIELDS_PER_OPERATION");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_largest_aliased_document_allowed_sends_at_most_99_statements() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    t.gql_as(&ada.access, "{ me { id } }", json!({}))
        .await
        .assert_ok();
    // Each alias costs 1 for its field and 100 for reading the database: 49 fit in 5,000.
    let page = "myItems(first: 1) { totalCount }";
    let (reply, statements) = measured(&t, &ada.access, &aliased(page, 49)).await;
    assert_eq!(reply.assert_ok().as_object().unwrap().len(), 49);
    assert_eq!(
        statements, 99,
        "the session, then each alias's page and count"
    );
    let (reply, statements) = measured(&t, &ada.access, &aliased(page, 50)).await;
    assert_refused(&reply, "complex");
    assert!(
        reply.error()["message"].as_str().unwrap().contains("5050"),
        "the refusal names the cost: {:#}",
        reply.body
    );
    assert_eq!(statements, 1);

    // A mutation's fields run one after another, each a transaction: they cost 250, so 19
    // aliased theme creations fit (at 8 statements each, one of them the check that the account
    // was not deleted while its lock was awaited), and 20 do not.
    let create =
        |i: usize| format!("t{i}: createTheme(input: {{name: \"Theme {i}\"}}) {{ __typename }}");
    let themes = |count: usize| {
        let fields: Vec<String> = (0..count).map(create).collect();
        format!("mutation {{ {} }}", fields.join(" "))
    };
    let (reply, statements) = measured(&t, &ada.access, &themes(19)).await;
    assert_eq!(reply.assert_ok().as_object().unwrap().len(), 19);
    assert!(statements <= 1 + 19 * 8, "{statements} statements");
    let (reply, statements) = measured(&t, &ada.access, &themes(20)).await;
    assert_refused(&reply, "complex");
    assert_eq!(statements, 1);
    assert_eq!(t.count("SELECT count(*) FROM themes").await, 19);
}

/// graphql-js's `getIntrospectionQuery` with every option on, as GraphiQL and codegen send it.
const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    description
    queryType { name kind }
    mutationType { name kind }
    subscriptionType { name kind }
    types { ...FullType }
    directives {
      name
      description
      isRepeatable
      locations
      args(includeDeprecated: true) { ...InputValue }
    }
  }
}
fragment FullType on __Type {
  kind
  name
  description
  specifiedByURL
  isOneOf
  fields(includeDeprecated: true) {
    name
    description
    args(includeDeprecated: true) { ...InputValue }
    type { ...TypeRef }
    isDeprecated
    deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name
  description
  type { ...TypeRef }
  defaultValue
  isDeprecated
  deprecationReason
}
fragment TypeRef on __Type {
  kind name
  ofType { kind name
    ofType { kind name
      ofType { kind name
        ofType { kind name
          ofType { kind name
            ofType { kind name
              ofType { kind name }
            }
          }
        }
      }
    }
  }
}
"#;

/// The top-level definitions of a GraphQL text (operations and fragments), as written.
pub(crate) fn definitions(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let (mut depth, mut start) = (0usize, None);
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if depth == 0 && start.is_none() && !c.is_whitespace() && c != '#' {
            start = Some(at);
        }
        match c {
            '#' => while chars.next_if(|(_, c)| *c != '\n').is_some() {},
            '"' => while chars.next().is_some_and(|(_, c)| c != '"') {},
            '{' => {
                depth += 1;
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    found.push(text[start.take().unwrap()..=at].trim().to_owned());
                }
            }
            _ => {}
        }
    }
    found
}

/// Every operation of the README's GraphQL examples and of the web app's documents, each with
/// the fragments it spreads.
fn client_documents() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut texts = Vec::new();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for block in readme.split("```graphql\n").skip(1) {
        texts.push(block.split("```").next().unwrap().to_owned());
    }
    let web = root.join("examples/web/src");
    let mut web_sources = 0;
    for entry in std::fs::read_dir(&web).unwrap() {
        let path = entry.unwrap().path();
        // src/gql/ is what codegen made of these documents, not documents of its own.
        if path.is_dir() {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        for document in source.split("graphql(`").skip(1) {
            texts.push(document.split("`)").next().unwrap().to_owned());
            web_sources += 1;
        }
    }
    assert!(web_sources > 15, "the web app's documents were found");
    let all: Vec<String> = texts.iter().flat_map(|text| definitions(text)).collect();
    let (fragments, operations): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|definition| definition.starts_with("fragment "));
    operations
        .into_iter()
        .map(|operation| {
            // Fragments spread inside fragments come along too, as codegen sends them.
            let mut document = operation.clone();
            let mut added: Vec<&str> = Vec::new();
            while let Some(fragment) = fragments.iter().find(|fragment| {
                let name = fragment.split_whitespace().nth(1).unwrap();
                !added.contains(&name) && document.contains(&format!("...{name}"))
            }) {
                added.push(fragment.split_whitespace().nth(1).unwrap());
                document.push('\n');
                document.push_str(fragment);
            }
            document
        })
        .collect()
}

#[track_caller]
fn assert_valid(reply: &Reply, document: &str) {
    let errors = reply.body["errors"].as_array().cloned().unwrap_or_default();
    let refused: Vec<&Value> = errors
        .iter()
        .filter(|error| {
            matches!(
                error["extensions"]["code"].as_str(),
                Some("GRAPHQL_VALIDATION_FAILED" | "GRAPHQL_PARSE_FAILED")
            )
        })
        .collect();
    assert!(refused.is_empty(), "{document}\nwas refused: {refused:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_document_a_client_sends_fits_the_limits() {
    let t = TestApp::new().await;
    let trader = t.user("ada").await;
    let documents = client_documents();
    assert!(documents.len() > 60, "{} documents", documents.len());
    let (subscriptions, others): (Vec<_>, Vec<_>) = documents
        .iter()
        .partition(|document| document.starts_with("subscription"));
    for document in others {
        // Anonymous, so the README's mutations run no further than their guards; the limits
        // do not depend on the caller. Lists get the largest page.
        // The README's variables come from earlier answers; any id or text does here, but an
        // enum's value is checked with the document.
        let mut variables = json!({"first": 100, "format": "JSON"});
        for name in crate::readme::declared_variables(document) {
            if variables.get(&name).is_none() {
                variables[name] = json!("1");
            }
        }
        let reply = t.gql(document, variables).await;
        assert_valid(&reply, document);
    }

    let address = t.serve().await;
    let admin = t.admin("root").await;
    for document in subscriptions {
        let mut socket = crate::subscriptions::connect(address).await;
        crate::subscriptions::subscribe_as(&mut socket, &trader.access, document).await;
        crate::subscriptions::subscribed(&mut socket).await;
        if document.contains("habitReminders") {
            crate::reminders::send_one_to(&t, &trader).await;
        } else {
            t.gql_as(
                &admin.access,
                "mutation($name: String!) { createItem(input: {name: $name, price: 5, barcode: \"000000000042\"}) { item { id } } }",
                json!({"name": format!("Kite {}", document.len())}),
            )
            .await;
        }
        let message = crate::subscriptions::next(&mut socket).await.unwrap();
        assert_eq!(message["type"], "next", "{document}\n{message:#}");
        t.sql("DELETE FROM items").await;
    }

    // GraphiQL's introspection in development.
    let reply = t.gql(INTROSPECTION, json!({})).await;
    let types = reply.assert_ok()["__schema"]["types"].as_array().unwrap();
    assert!(types.len() > 50);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_field_cap_is_configurable() {
    // The harness's sign-in selects 9.
    let t = TestApp::with_config(|config| config.max_fields_per_operation = 10).await;
    let ada = t.user("ada").await;
    let (reply, _) = measured(&t, &ada.access, &aliased("me { id }", 5)).await;
    reply.assert_ok();
    let (reply, _) = measured(&t, &ada.access, &aliased("me { id }", 6)).await;
    assert_refused(&reply, "more than 10 fields");
}

/// The server keeps the outcome of validating a document it saw before. The outcome depends on
/// the variables as well (a page's cost is `first` times its fields; a variable of the wrong
/// type is refused), so the same text with other variables must be judged again: each answer
/// here must be what the same variables get on a text the server has never seen.
#[tokio::test(flavor = "multi_thread")]
async fn a_document_seen_before_is_judged_again_with_other_variables() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let page = "marketItems(first: $first) { nodes { id name price barcode description } }";
    let document = |padding: &str| {
        let aliases: Vec<String> = (0..10).map(|i| format!("a{i}: {page}")).collect();
        format!(
            "query Pages($first: Int) {{{padding} {} }}",
            aliases.join(" ")
        )
    };
    let seen = document("");
    let reply_to = async |text: &str, variables: Value| {
        let reply = t.gql_as(&ada.access, text, variables).await;
        (
            reply.code().map(str::to_owned),
            reply.error()["message"].clone(),
        )
    };
    let cases = [
        (json!({ "first": 10 }), None),
        // 10 pages of 100 items × 5 fields: over MAX_COMPLEXITY.
        (json!({ "first": 100 }), Some("GRAPHQL_VALIDATION_FAILED")),
        (json!({ "first": "ten" }), Some("GRAPHQL_VALIDATION_FAILED")),
        (json!({ "first": 10 }), None),
        (json!({ "first": 100 }), Some("GRAPHQL_VALIDATION_FAILED")),
    ];
    for (round, (variables, code)) in cases.into_iter().enumerate() {
        let fresh = document(&" ".repeat(round + 1));
        let expected = reply_to(&fresh, variables.clone()).await;
        assert_eq!(expected.0.as_deref(), code, "{variables}: {:?}", expected.1);
        assert_eq!(
            reply_to(&seen, variables.clone()).await,
            expected,
            "{variables}"
        );
    }
}
