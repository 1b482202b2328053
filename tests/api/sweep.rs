//! The hostile-input sweep: every query and mutation in the schema, called as an anonymous
//! caller, a signed-in user and an administrator, with hostile values for each argument (zero,
//! negative and out-of-range numbers, empty, huge, NUL, control and bidi text, malformed ids
//! and cursors, far dates, nulls where allowed, oversized lists), drawn from a fixed seed so a
//! failure reproduces. No answer may be an internal error or a 5xx, every error has a code, no
//! panic may happen, and afterwards the money and the ledger still agree.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::parser::types::{
    BaseType, FieldDefinition, Type, TypeKind, TypeSystemDefinition,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::common::{TestApp, Tokens};

const SEED: u64 = 19;
/// Argument sets tried per field and caller.
const VARIANTS: usize = 10;
/// Nesting of the selection built for a field's answer.
const SELECTION_DEPTH: usize = 2;

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// The schema's types by name, from the SDL the server serves.
struct Schema {
    types: HashMap<String, TypeKind>,
}

impl Schema {
    fn load() -> Self {
        let document =
            async_graphql::parser::parse_schema(agora::graphql::sdl()).expect("the SDL parses");
        let types = document
            .definitions
            .into_iter()
            .filter_map(|definition| match definition {
                TypeSystemDefinition::Type(definition) => {
                    let definition = definition.node;
                    Some((definition.name.node.to_string(), definition.kind))
                }
                _ => None,
            })
            .collect();
        Self { types }
    }

    fn root_fields(&self, root: &str) -> Vec<FieldDefinition> {
        match self.types.get(root) {
            Some(TypeKind::Object(object)) => {
                object.fields.iter().map(|f| f.node.clone()).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Leaf fields, and objects' fields to `depth`, that need no argument.
    fn selection(&self, type_name: &str, depth: usize) -> Option<String> {
        let fields = match self.types.get(type_name)? {
            TypeKind::Scalar | TypeKind::Enum(_) => return None,
            TypeKind::Union(union) => {
                let members: Vec<String> = union
                    .members
                    .iter()
                    .filter_map(|member| {
                        let name = member.node.as_str();
                        let inner = self.selection(name, depth)?;
                        Some(format!("... on {name} {inner}"))
                    })
                    .collect();
                return Some(format!("{{ __typename {} }}", members.join(" ")));
            }
            TypeKind::Object(object) => &object.fields,
            TypeKind::Interface(interface) => &interface.fields,
            TypeKind::InputObject(_) => return None,
        };
        let mut selected = vec!["__typename".to_owned()];
        for field in fields {
            let field = &field.node;
            if field.arguments.iter().any(|arg| !arg.node.ty.node.nullable) {
                continue;
            }
            let name = field.name.node.as_str();
            let inner = named(&field.ty.node);
            match self.types.get(inner) {
                Some(TypeKind::Scalar | TypeKind::Enum(_)) | None => selected.push(name.to_owned()),
                Some(_) if depth > 0 => {
                    if let Some(nested) = self.selection(inner, depth - 1) {
                        selected.push(format!("{name} {nested}"));
                    }
                }
                Some(_) => {}
            }
        }
        Some(format!("{{ {} }}", selected.join(" ")))
    }
}

fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => named(inner),
    }
}

/// Values no well-behaved client sends, per kind of input.
struct Hostile {
    strings: Vec<Value>,
    ids: Vec<Value>,
    ints: Vec<Value>,
    floats: Vec<Value>,
    dates: Vec<Value>,
    times: Vec<Value>,
}

impl Hostile {
    fn new(real_ids: &[String]) -> Self {
        let cursor = |text: &str| Value::from(URL_SAFE_NO_PAD.encode(text));
        let strings = vec![
            json!(""),
            json!("   "),
            json!("a\u{0}b"),
            json!("\u{1}\u{1b}[31m\u{7f}"),
            json!("\u{202e}evil\u{202c}\u{2066}"),
            json!("e\u{301}\u{fe0f}👍🏽"),
            json!("' OR 1=1 --; DROP TABLE users"),
            json!("%_\\%"),
            json!("\r\n\t"),
            Value::from("x".repeat(100_000)),
            Value::from("y".repeat(1_000_000)),
            cursor("id:-1"),
            cursor("id:9223372036854775807"),
            cursor("{\"DueOn\":{\"on\":\"+262142-12-31\",\"id\":1}}"),
            cursor("[1,\"b\",null]"),
            json!("%%%not-base64"),
        ];
        let mut ids: Vec<Value> = [
            "0",
            "-1",
            "2147483648",
            "9007199254740993",
            "99999999999999999999",
            "",
            "abc",
            "1e3",
            " 1",
            "\u{0}",
        ]
        .iter()
        .map(|id| json!(id))
        .collect();
        ids.extend(real_ids.iter().map(|id| json!(id)));
        Self {
            strings,
            ids,
            ints: vec![
                json!(0),
                json!(-1),
                json!(1),
                json!(101),
                json!(2_147_483_647),
                json!(-2_147_483_648),
                json!(2_147_483_648_i64),
                json!(9_007_199_254_740_993_i64),
            ],
            floats: vec![json!(0.0), json!(-1.0e308), json!(1.0e308), json!(-0.5)],
            dates: vec![
                json!("-5000-01-01"),
                json!("0001-01-01"),
                json!("1899-12-31"),
                json!("2200-01-01"),
                json!("9999-12-31"),
                json!("2026-02-30"),
                json!("2026-12-02"),
                json!(""),
            ],
            times: vec![
                json!("0001-01-01T00:00:00Z"),
                json!("9999-12-31T23:59:59Z"),
                json!("-5000-01-01T00:00:00Z"),
                json!("2026-12-02T00:00:00+14:00"),
                json!("yesterday"),
            ],
        }
    }

    fn value(&self, schema: &Schema, ty: &Type, rng: &mut StdRng, depth: usize) -> Value {
        if ty.nullable && rng.random_ratio(1, 6) {
            return Value::Null;
        }
        match &ty.base {
            BaseType::List(item) => {
                let value = self.value(schema, item, rng, depth);
                // Oversized lists are of small items: the body limit would refuse large ones
                // before the list could matter, and the test would build gigabytes.
                let small = value.to_string().len() <= 64;
                let length = match rng.random_range(0..8) {
                    0 => 0,
                    1 if small => 100_000,
                    2 if small => 1_001,
                    _ => rng.random_range(1..4),
                };
                Value::Array(vec![value; length])
            }
            BaseType::Named(name) => self.named(schema, name.as_str(), rng, depth),
        }
    }

    fn named(&self, schema: &Schema, name: &str, rng: &mut StdRng, depth: usize) -> Value {
        let pick = |pool: &Vec<Value>, rng: &mut StdRng| pool.choose(rng).cloned().unwrap();
        match name {
            "String" => pick(&self.strings, rng),
            "ID" => pick(&self.ids, rng),
            "Int" => pick(&self.ints, rng),
            "Float" => pick(&self.floats, rng),
            "Boolean" => json!(rng.random_bool(0.5)),
            "Date" => pick(&self.dates, rng),
            "DateTime" => pick(&self.times, rng),
            _ => match schema.types.get(name) {
                Some(TypeKind::Enum(enumeration)) => {
                    let values: Vec<&str> = enumeration
                        .values
                        .iter()
                        .map(|value| value.node.value.node.as_str())
                        .collect();
                    json!(values.choose(rng).unwrap())
                }
                Some(TypeKind::InputObject(input)) => {
                    let mut object = serde_json::Map::new();
                    for field in &input.fields {
                        let field = &field.node;
                        if field.ty.node.nullable && (depth > 2 || rng.random_ratio(1, 3)) {
                            continue;
                        }
                        object.insert(
                            field.name.node.to_string(),
                            self.value(schema, &field.ty.node, rng, depth + 1),
                        );
                    }
                    Value::Object(object)
                }
                // A scalar of ours the pools do not know: hostile text.
                _ => pick(&self.strings, rng),
            },
        }
    }
}

/// The operation calling `field` with every argument as a variable.
fn operation(schema: &Schema, kind: &str, field: &FieldDefinition) -> String {
    let name = field.name.node.as_str();
    let arguments = &field.arguments;
    let declarations: Vec<String> = arguments
        .iter()
        .map(|arg| format!("${}: {}", arg.node.name.node, arg.node.ty.node))
        .collect();
    let passed: Vec<String> = arguments
        .iter()
        .map(|arg| format!("{0}: ${0}", arg.node.name.node))
        .collect();
    let selection = schema
        .selection(named(&field.ty.node), SELECTION_DEPTH)
        .unwrap_or_default();
    let declarations = if declarations.is_empty() {
        String::new()
    } else {
        format!("({})", declarations.join(", "))
    };
    let passed = if passed.is_empty() {
        String::new()
    } else {
        format!("({})", passed.join(", "))
    };
    format!("{kind} Sweep{declarations} {{ {name}{passed} {selection} }}")
}

struct Caller {
    name: &'static str,
    username: Option<&'static str>,
    tokens: Option<Tokens>,
}

impl Caller {
    /// Signs in again when the sweep ended the session (logout, deactivation, a password reset,
    /// a rename).
    async fn keep_signed_in(&mut self, t: &TestApp) {
        let (Some(username), Some(tokens)) = (self.username, &self.tokens) else {
            return;
        };
        let me = t.gql_as(&tokens.access, "{ me { id } }", json!({})).await;
        if me.code().is_none() {
            return;
        }
        // An administrator's sweep of `updateUser` may have renamed the account, too.
        t.sql(&format!(
            "UPDATE users SET is_active = TRUE, username = '{username}' WHERE id = {}",
            tokens.user_id
        ))
        .await;
        t.sql("DELETE FROM two_factor").await;
        self.tokens = Some(t.sign_in(username).await);
        age_proofs(t).await;
    }
}

/// Hostile callers hold sessions whose sign-in is long past, so sensitive changes need the
/// password the sweep never knows (a fresh session would let `deleteAccount` end the sweep).
async fn age_proofs(t: &TestApp) {
    t.sql("UPDATE sessions SET proved_at = now() - interval '1 day'")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_field_survives_hostile_input_from_every_caller() {
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        previous_hook(info);
    }));

    let t = TestApp::new().await;
    let admin = t.admin("root").await;
    let user = t.user("ada").await;
    let item = t
        .gql_as(
            &admin.access,
            "mutation { createItem(input: {name: \"lamp\", price: 10, barcode: \"000000000042\"}) { item { id } } }",
            json!({}),
        )
        .await;
    let item = item.assert_ok()["createItem"]["item"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    t.gql_as(
        &user.access,
        "mutation($id: ID!) { purchaseItem(input: {itemId: $id}) { budget } }",
        json!({"id": item}),
    )
    .await
    .assert_ok();

    age_proofs(&t).await;
    let schema = Schema::load();
    let hostile = Hostile::new(&[item]);
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut fields: Vec<(&str, FieldDefinition)> = Vec::new();
    for (root, kind) in [("Query", "query"), ("Mutation", "mutation")] {
        fields.extend(schema.root_fields(root).into_iter().map(|f| (kind, f)));
    }
    // Ending one's own sessions last keeps the other fields signed in.
    fields.sort_by_key(|(_, field)| field.name.node.as_str().starts_with("logout"));
    assert!(fields.len() > 60, "the schema's fields were found");

    let mut callers = [
        Caller {
            name: "anonymous",
            username: None,
            tokens: None,
        },
        Caller {
            name: "user",
            username: Some("ada"),
            tokens: Some(user),
        },
        Caller {
            name: "administrator",
            username: Some("root"),
            tokens: Some(admin),
        },
    ];
    let mut failures = Vec::new();
    let mut requests = 0;
    for caller in &mut callers {
        for (kind, field) in &fields {
            let query = operation(&schema, kind, field);
            for _ in 0..VARIANTS {
                let mut variables = serde_json::Map::new();
                for argument in &field.arguments {
                    let argument = &argument.node;
                    variables.insert(
                        argument.name.node.to_string(),
                        hostile.value(&schema, &argument.ty.node, &mut rng, 0),
                    );
                }
                let variables = Value::Object(variables);
                let reply = match &caller.tokens {
                    Some(tokens) => t.gql_as(&tokens.access, &query, variables.clone()).await,
                    None => t.gql(&query, variables.clone()).await,
                };
                requests += 1;
                let errors = reply.body["errors"].as_array().cloned().unwrap_or_default();
                let internal = errors.iter().any(|error| {
                    let code = &error["extensions"]["code"];
                    code.is_null() || code == "INTERNAL_SERVER_ERROR"
                });
                if reply.status.is_server_error() || internal || !reply.body.is_object() {
                    let mut shown = variables.to_string();
                    shown.truncate(300);
                    failures.push(format!(
                        "{} {}: {} {} with {shown}",
                        caller.name,
                        field.name.node,
                        reply.status,
                        reply.text.chars().take(300).collect::<String>()
                    ));
                }
            }
            caller.keep_signed_in(&t).await;
        }
    }
    assert!(requests > 1_000, "{requests} requests");
    assert!(
        failures.is_empty(),
        "{} of {requests} answers failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "no panic");

    // Money: each budget is the default plus what the ledger credited and debited, never
    // negative, and every held item was bought by its holder.
    let default_budget = t.app.config.default_budget;
    assert_eq!(
        t.count(&format!(
            "SELECT count(*) FROM users u WHERE u.budget < 0 OR u.budget <> {default_budget} + (
               SELECT coalesce(sum(CASE WHEN kind = 'SALE' THEN amount ELSE -amount END), 0)
               FROM market_transactions m
               WHERE (m.kind = 'SALE' AND m.seller_id = u.id)
                  OR (m.kind = 'PURCHASE' AND m.buyer_id = u.id))"
        ))
        .await,
        0,
        "budgets move exactly as the ledger says"
    );
    assert_eq!(
        t.count(
            "SELECT count(*) FROM items i WHERE i.owner_id IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM market_transactions m WHERE m.item_id = i.id
               AND m.buyer_id = i.owner_id AND m.kind = 'PURCHASE')"
        )
        .await,
        0,
        "every held item was bought by its holder"
    );
}
