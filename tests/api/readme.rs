//! The README's GraphQL examples, run in order against one fresh server, as a newcomer pasting
//! them into GraphiQL would: every ```graphql block, split into its operations (`#` comments
//! dropped), each answered without errors, or with the code its `# → CODE` comment names. So an
//! example that stops working (a renamed field, a changed rule) fails this test.
//!
//! `sh` and `text` blocks are not run. What the test does besides sending the examples, and
//! the only things it does:
//!
//! - Before the first block it makes `ada` (ada@example.com, password "correct horse battery")
//!   an administrator with `agora admin create-user --role admin`, as the README says the first
//!   administrator is made, and signs her in once, as the README's curl example does (so she has
//!   a second session to revoke).
//! - Every operation runs with the access token of the latest answer that had an `accessToken`
//!   (`login`, `verifyMfa`, `refreshSession`, `changePassword`'s `session`). When an example
//!   ended that session (`logout`, `revokeSession`, a password reset, `disableTwoFactor`), the
//!   next operation first signs ada in again (with a TOTP code while 2FA is on).
//! - Variables an operation declares are bound from earlier answers: `$<thing>Id` from the latest
//!   object under the key `<thing>` with an `id` (`$themeId` ← `theme { id }`), or the first
//!   node of the latest connection `<thing>s`/`my<Thing>s` that is not `current` (`$sessionId`
//!   ← `mySessions`); `$code` is the TOTP code, at the next time step, for the secret of the
//!   latest `otpauthUri`; `$recoveryCode` an unused one of the latest `recoveryCodes`;
//!   `$resetToken` and `$verificationToken` the tokens of the newest reset and verification
//!   links in the outbox; any other `$name` the latest string answered under the key `name`
//!   (`$refreshToken`, `$challengeToken`).
//! - Subscriptions cannot run over the in-process router: they are validated against the schema
//!   instead, and must fail only for being subscriptions.

use std::collections::HashMap;
use std::time::Duration;

use agora::admin::AdminCommand;
use serde_json::{Map, Value, json};
use totp_rs::Totp;

use crate::admin_cli::admin;
use crate::common::{TestApp, eventually};
use crate::cost::definitions;
use crate::mail::token_in;

/// The README's password for ada.
const PASSWORD: &str = "correct horse battery";

/// One operation of a ```graphql block, as written (comments kept: GraphQL ignores them).
#[derive(Debug)]
struct Operation {
    text: String,
    /// The code a `# → CODE` comment (maybe followed by why) says the README shows it refused
    /// with.
    refused_with: Option<String>,
}

impl Operation {
    fn new(text: String, trailing: &str) -> Self {
        let refused_with = text.lines().chain([trailing]).find_map(|line| {
            let (_, comment) = line.split_once('#')?;
            let (_, said) = comment.split_once('→')?;
            // The code, then perhaps why: `# → CONFLICT: the last administrator`.
            let code = said
                .trim()
                .split(|c: char| !(c.is_ascii_uppercase() || c == '_'))
                .next()?;
            Some(code.to_owned())
        });
        Self { text, refused_with }
    }

    fn is_subscription(&self) -> bool {
        self.text.starts_with("subscription")
    }
}

/// The variables an operation declares (each `$name` before its selection set).
pub(crate) fn declared_variables(operation: &str) -> Vec<String> {
    let header = &operation[..operation.find('{').unwrap_or(0)];
    header
        .split('$')
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

/// Every operation of the ```graphql blocks of `markdown`, in order.
fn operations(markdown: &str) -> Vec<Operation> {
    markdown
        .split("```graphql\n")
        .skip(1)
        .flat_map(|block| {
            let block = block.split("```").next().unwrap();
            definitions(block).into_iter().map(move |text| {
                // A `# → CODE` comment stands after the operation's last brace, on its line.
                let end = block.find(&text).map_or(block.len(), |at| at + text.len());
                let trailing = block[end..].lines().next().unwrap_or_default().to_owned();
                Operation::new(text, &trailing)
            })
        })
        .collect()
}

/// What earlier answers said, for the variables of later operations.
#[derive(Default)]
struct Memory {
    /// The latest string answered under each key.
    strings: HashMap<String, String>,
    /// The latest id of an object under each key (or of a connection's node, by its singular).
    ids: HashMap<String, String>,
    /// The latest list answered under each key.
    lists: HashMap<String, Vec<Value>>,
}

impl Memory {
    fn remember(&mut self, value: &Value) {
        let Value::Object(fields) = value else {
            if let Value::Array(items) = value {
                items.iter().for_each(|item| self.remember(item));
            }
            return;
        };
        for (key, value) in fields {
            match value {
                Value::String(text) => {
                    self.strings.insert(key.clone(), text.clone());
                }
                Value::Array(items) => {
                    self.lists.insert(key.clone(), items.clone());
                }
                Value::Object(object) => self.remember_object(key, object),
                _ => {}
            }
            self.remember(value);
        }
    }

    fn remember_object(&mut self, key: &str, object: &Map<String, Value>) {
        if let Some(id) = object.get("id").and_then(Value::as_str) {
            self.ids.insert(key.to_owned(), id.to_owned());
        }
        let Some(edges) = object.get("edges").and_then(Value::as_array) else {
            return;
        };
        let plural = key.strip_prefix("my").unwrap_or(key);
        let Some(singular) = plural.strip_suffix('s') else {
            return;
        };
        let mut chars = singular.chars();
        let Some(first) = chars.next() else { return };
        let singular = first.to_lowercase().chain(chars).collect::<String>();
        let node = edges
            .iter()
            .map(|edge| &edge["node"])
            .find(|node| node["id"].is_string() && node["current"] != json!(true));
        if let Some(node) = node {
            self.ids
                .insert(singular, node["id"].as_str().unwrap().to_owned());
        }
    }
}

/// The README's story, with what it has learned so far.
struct Story {
    t: TestApp,
    memory: Memory,
    access: Option<String>,
    used_recovery_codes: Vec<String>,
}

impl Story {
    /// The TOTP code of the next time step (the clock moves on 30 s: each step works once).
    fn next_code(&self) -> String {
        let uri = self
            .memory
            .strings
            .get("otpauthUri")
            .expect("a $code before any otpauthUri");
        let now = self.t.app.clock.now() + chrono::Duration::seconds(30);
        self.t.app.clock.pin(now);
        let totp = Totp::from_url(uri).unwrap();
        totp.generate(u64::try_from(now.timestamp()).unwrap())
            .to_string()
    }

    /// The token of the newest mailed link to `page`, waiting for the mail to be queued.
    async fn mailed_token(&self, page: &str) -> String {
        let query = format!(
            "SELECT text_body AS t FROM email_outbox WHERE text_body LIKE '%/{page}#token=%' ORDER BY id DESC LIMIT 1"
        );
        let exists =
            format!("SELECT count(*) FROM email_outbox WHERE text_body LIKE '%/{page}#token=%'");
        eventually(Duration::from_secs(5), page, async || {
            (self.t.count(&exists).await > 0).then_some(())
        })
        .await;
        token_in(&self.t.text(&query).await, page)
    }

    async fn bind(&mut self, name: &str) -> Value {
        let value = match name {
            "code" => self.next_code(),
            "recoveryCode" => {
                let codes = self
                    .memory
                    .lists
                    .get("recoveryCodes")
                    .expect("recoveryCodes");
                let code = codes
                    .iter()
                    .filter_map(Value::as_str)
                    .find(|code| !self.used_recovery_codes.iter().any(|used| used == code))
                    .expect("an unused recovery code")
                    .to_owned();
                self.used_recovery_codes.push(code.clone());
                code
            }
            "resetToken" => self.mailed_token("reset-password").await,
            "verificationToken" => self.mailed_token("verify-email").await,
            _ => {
                let id = name
                    .strip_suffix("Id")
                    .and_then(|thing| self.memory.ids.get(thing));
                id.or_else(|| self.memory.strings.get(name))
                    .unwrap_or_else(|| panic!("nothing earlier answered ${name}"))
                    .clone()
            }
        };
        json!(value)
    }

    /// Signs ada in again when the session the examples use has ended.
    async fn signed_in(&mut self) {
        if let Some(access) = &self.access
            && self.t.me_refused(access).await.is_none()
        {
            return;
        }
        let login = self
            .t
            .gql(
                "mutation($v: LoginInput!) { login(input: $v) { ... on AuthPayload { accessToken } ... on MfaChallenge { challengeToken } } }",
                json!({"v": {"login": "ada", "password": PASSWORD}}),
            )
            .await;
        let login = &login.assert_ok()["login"];
        let access = if let Some(access) = login["accessToken"].as_str() {
            access.to_owned()
        } else {
            let verify = self
                .t
                .gql(
                    "mutation($v: VerifyMfaInput!) { verifyMfa(input: $v) { accessToken } }",
                    json!({"v": {"challengeToken": login["challengeToken"], "code": self.next_code()}}),
                )
                .await;
            verify.assert_ok()["verifyMfa"]["accessToken"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        self.access = Some(access);
    }

    /// Runs one operation; the error it answered, if any, as `CODE: message`.
    async fn run(&mut self, operation: &Operation) -> Option<String> {
        if operation.is_subscription() {
            return self.validate_subscription(operation).await;
        }
        let mut variables = Map::new();
        for name in declared_variables(&operation.text) {
            let value = self.bind(&name).await;
            variables.insert(name, value);
        }
        self.signed_in().await;
        let access = self.access.clone().unwrap();
        let reply = self
            .t
            .gql_as(&access, &operation.text, Value::Object(variables))
            .await;
        self.memory.remember(&reply.body["data"]);
        if let Some(access) = self.memory.strings.remove("accessToken") {
            self.access = Some(access);
        }
        reply
            .code()
            .map(|code| format!("{code}: {}", reply.error()["message"]))
    }

    /// A subscription must fit the schema: executed over a transport without subscriptions,
    /// the only error is that it is a subscription.
    async fn validate_subscription(&self, operation: &Operation) -> Option<String> {
        let schema = agora::graphql::build_schema(&self.t.app.config, None).finish();
        let response = schema.execute(operation.text.as_str()).await;
        let messages: Vec<&str> = response.errors.iter().map(|e| e.message.as_str()).collect();
        (messages != ["Subscriptions are not supported on this transport."])
            .then(|| format!("GRAPHQL_VALIDATION_FAILED: {messages:?}"))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn readme_examples_run_in_order() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let operations = operations(&readme);
    let t = TestApp::new().await;
    // Codes are computed at the app's clock, which moves on one time step per code.
    t.app.clock.pin(t.app.clock.now());
    let create = AdminCommand::CreateUser {
        username: "ada".into(),
        email: "ada@example.com".into(),
        roles: vec!["admin".into()],
        first_name: String::new(),
        last_name: String::new(),
    };
    admin(&t, create, PASSWORD).await.unwrap();
    let mut story = Story {
        t,
        memory: Memory::default(),
        access: None,
        used_recovery_codes: Vec::new(),
    };
    story.signed_in().await;

    let count = operations.len();
    let mut failures = Vec::new();
    for operation in &operations {
        let refused = story.run(operation).await;
        let code = refused.as_deref().map(|r| r.split(':').next().unwrap());
        if code != operation.refused_with.as_deref() {
            failures.push(format!(
                "{}\n  expected {:?}, answered {refused:?}",
                operation.text, operation.refused_with
            ));
        }
    }
    assert!(count > 40, "only {count} operations found in README.md");
    assert!(
        failures.is_empty(),
        "{} of {count} README operations failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
