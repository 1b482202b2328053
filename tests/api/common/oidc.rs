//! A real OpenID Provider for tests: panva's oidc-provider (tests/oidc/provider.mjs) in a Node
//! process of the test's own, on a free loopback port, driven over real HTTP. A test can make it
//! misbehave ([`OidcProvider::tamper`]) because a relying party must be tested against ID tokens
//! an honest provider never sends.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The only client registered at the provider: a confidential web client (authorization code with
/// PKCE S256, the secret sent as HTTP Basic, openidconnect-rs's default).
pub const CLIENT_ID: &str = "agora";
pub const CLIENT_SECRET: &str = "agora-test-client-secret";

/// Someone who can sign in at the provider, with their login name as `sub`. An empty field is
/// left out of the ID token (`..Default::default()` for an account without a name, say).
#[derive(Clone, Copy, Debug, Default)]
pub struct OidcAccount {
    pub sub: &'static str,
    pub email: &'static str,
    pub email_verified: bool,
    pub name: &'static str,
    pub preferred_username: &'static str,
}

pub struct OidcProvider {
    port: u16,
    redirect_uris: Vec<String>,
    accounts: Vec<OidcAccount>,
    id_token_ttl: u64,
    /// The private JWKS; kept across [`Self::restart`], removed for a rotation and on drop.
    keys_file: PathBuf,
    /// `node provider.mjs`: killed on drop, and it exits by itself when this process does (its
    /// standard input closes).
    process: Option<tokio::process::Child>,
    kids: Vec<String>,
    logs: Arc<Mutex<Vec<String>>>,
    http: reqwest::Client,
}

impl OidcProvider {
    /// A provider on a free port that knows `accounts` and the client [`CLIENT_ID`] with
    /// `redirect_uris`; returns once it answers.
    pub async fn start(redirect_uris: &[&str], accounts: &[OidcAccount]) -> Self {
        Self::start_with_id_token_ttl(redirect_uris, accounts, 3600).await
    }

    /// As [`Self::start`], with ID tokens valid for `seconds`.
    pub async fn start_with_id_token_ttl(
        redirect_uris: &[&str],
        accounts: &[OidcAccount],
        seconds: u64,
    ) -> Self {
        let port = super::free_port();
        let mut provider = Self {
            port,
            redirect_uris: redirect_uris.iter().map(|&uri| uri.to_owned()).collect(),
            accounts: accounts.to_vec(),
            id_token_ttl: seconds,
            keys_file: std::env::temp_dir().join(format!(
                "agora-test-oidc-keys-{}-{port}.json",
                std::process::id()
            )),
            process: None,
            kids: Vec::new(),
            logs: Arc::new(Mutex::new(Vec::new())),
            http: super::http_client(),
        };
        let _ = std::fs::remove_file(&provider.keys_file);
        provider.launch().await;
        provider
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash, as in its discovery document.
    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer())
    }

    pub fn client_id(&self) -> &str {
        CLIENT_ID
    }

    pub fn client_secret(&self) -> &str {
        CLIENT_SECRET
    }

    /// The `kid`s the provider signs with now (one key).
    pub fn kids(&self) -> &[String] {
        &self.kids
    }

    /// What the provider logged (warnings, errors, notices), for a failing test's message.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Follows a browser's path from `authorization_url`: the login page (signing in as
    /// `account_sub`, any password), the consent page (confirmed) and the redirects, with a
    /// cookie jar of its own, until a `Location` starts with a registered redirect URI. Returns
    /// that URL (`?code=&state=&iss=`, or `?error=` when the provider refused) without
    /// requesting it. Panics on a page it does not know, with the page.
    pub async fn authorize(&self, authorization_url: &str, account_sub: &str) -> String {
        self.browse(authorization_url, account_sub, true).await
    }

    /// As [`Self::authorize`], but the user aborts at the consent page: the redirect carries
    /// `error=access_denied`.
    pub async fn deny(&self, authorization_url: &str, account_sub: &str) -> String {
        self.browse(authorization_url, account_sub, false).await
    }

    async fn browse(&self, authorization_url: &str, account_sub: &str, consent: bool) -> String {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut url = url::Url::parse(authorization_url).expect("an absolute authorization URL");
        let mut form: Option<Vec<(&str, &str)>> = None;
        for _ in 0..20 {
            let request = match form.take() {
                Some(fields) => browser.post(url.clone()).form(&fields),
                None => browser.get(url.clone()),
            };
            let response = request.send().await.unwrap_or_else(|error| {
                panic!(
                    "the provider did not answer {url}: {error}: {:#?}",
                    self.logs()
                )
            });
            let status = response.status();
            if status.is_redirection() {
                let location = response.headers()["location"].to_str().unwrap();
                let next = url.join(location).unwrap();
                if self
                    .redirect_uris
                    .iter()
                    .any(|uri| next.as_str().starts_with(uri.as_str()))
                {
                    return next.to_string();
                }
                url = next;
                continue;
            }
            let page = response.text().await.unwrap();
            let submit = form_action(&page).map(|action| url.join(&action).unwrap());
            url = match (submit, page_prompt(&page)) {
                (Some(submit), Some("login")) if status.is_success() => {
                    form = Some(vec![
                        ("prompt", "login"),
                        ("login", account_sub),
                        ("password", "any password"),
                    ]);
                    submit
                }
                (Some(submit), Some("consent")) if status.is_success() && consent => {
                    form = Some(vec![("prompt", "consent")]);
                    submit
                }
                (Some(_), Some("consent")) if status.is_success() => {
                    let abort = link_to_abort(&page).expect("the consent page's abort link");
                    url.join(&abort).unwrap()
                }
                _ => panic!("unexpected page at {url} ({status}):\n{page}"),
            };
        }
        panic!("more than 20 steps from {authorization_url} without reaching a redirect URI")
    }

    /// Makes the next token response's ID token differ by `changes`, re-signed with the
    /// provider's own key: claims to set (`{"aud": "someone-else"}`, `{"nonce": "wrong"}`,
    /// `{"exp": 1, "iat": 0}`, `{"iss": "http://evil"}`; `null` removes a claim), and
    /// `"signWith": "rogue"` (a key and kid not in the JWKS) or `"none"` (`alg: none`, no
    /// signature). One response only; [`Self::reset`] takes it back before then.
    pub async fn tamper(&self, changes: Value) {
        self.control("tamper", changes).await;
    }

    pub async fn reset(&self) {
        self.control("reset", json!({})).await;
    }

    async fn control(&self, action: &str, body: Value) {
        let response = self
            .http
            .post(format!("{}/__test/{action}", self.issuer()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "/__test/{action}: {}",
            response.status()
        );
    }

    /// Ends the provider and waits until it has: its port refuses connections after this.
    pub async fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill().await;
        }
    }

    /// The provider again on the same port with the same keys. Like any restart of this
    /// provider it forgets its sessions, codes and tokens (they live in its memory).
    pub async fn restart(&mut self) {
        self.stop().await;
        self.launch().await;
    }

    /// The provider again on the same port with a new signing key; the old key is gone from its
    /// JWKS, so ID tokens it signed no longer verify.
    pub async fn restart_with_rotated_keys(&mut self) {
        self.stop().await;
        let old = std::mem::take(&mut self.kids);
        std::fs::remove_file(&self.keys_file).unwrap();
        self.launch().await;
        assert!(
            self.kids.iter().all(|kid| !old.contains(kid)),
            "the key did not change"
        );
    }

    async fn launch(&mut self) {
        let dir = installed_provider();
        let accounts: Vec<Value> = self
            .accounts
            .iter()
            .map(|account| {
                let text = |value: &str| (!value.is_empty()).then(|| value.to_owned());
                json!({
                    "sub": account.sub,
                    "email": text(account.email),
                    "email_verified": account.email_verified,
                    "name": text(account.name),
                    "preferred_username": text(account.preferred_username),
                })
            })
            .collect();
        let config = json!({
            "port": self.port,
            "keysFile": self.keys_file,
            "idTokenTtl": self.id_token_ttl,
            "clients": [{
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": self.redirect_uris,
            }],
            "accounts": accounts,
        });
        let mut process = tokio::process::Command::new("node")
            .arg(dir.join("provider.mjs"))
            .arg(config.to_string())
            .current_dir(dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("starting node");
        super::collect_lines(process.stderr.take().unwrap(), self.logs.clone());
        let mut stdout = BufReader::new(process.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), stdout.next_line()).await;
        let line = match ready {
            Ok(Ok(Some(line))) => line,
            other => {
                // Let stderr drain before showing it.
                let _ = tokio::time::timeout(Duration::from_secs(2), process.wait()).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
                panic!(
                    "the OpenID provider did not start on port {} ({other:?}): {:#?}",
                    self.port,
                    self.logs()
                );
            }
        };
        // The provider logs some notices on stdout too: keep reading, or it dies of EPIPE.
        let sink = self.logs.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stdout.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });
        let ready: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(ready["issuer"], self.issuer().as_str());
        self.kids = ready["kids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|kid| kid.as_str().unwrap().to_owned())
            .collect();
        self.process = Some(process);
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        // kill_on_drop ends the process.
        let _ = std::fs::remove_file(&self.keys_file);
    }
}

/// The login and consent pages' one form posts here.
fn form_action(page: &str) -> Option<String> {
    let form = &page[page.find("<form")?..];
    let action = &form[form.find("action=\"")? + "action=\"".len()..];
    Some(html_unescape(&action[..action.find('"')?]))
}

/// Which interaction the page asks for: `login` or `consent`.
fn page_prompt(page: &str) -> Option<&'static str> {
    ["login", "consent"]
        .into_iter()
        .find(|prompt| page.contains(&format!("name=\"prompt\" value=\"{prompt}\"")))
}

fn link_to_abort(page: &str) -> Option<String> {
    let anchor = page.find("/abort\"")?;
    let start = page[..anchor].rfind("href=\"")? + "href=\"".len();
    Some(html_unescape(&page[start..anchor + "/abort".len()]))
}

fn html_unescape(text: &str) -> String {
    text.replace("&#x2F;", "/")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// tests/oidc with its node_modules installed (`npm ci`) for the committed package-lock.json.
/// Test processes start together, so the first installs under a file lock and the others wait
/// for it; a stamp of the lockfile's hash tells a finished install from an interrupted or stale
/// one.
fn installed_provider() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        assert!(
            super::installed("node") && super::installed("npm"),
            "the OpenID Connect tests run a provider on Node.js: install Node.js 20.19 or later \
             with npm (Debian: apt-get install nodejs npm)"
        );
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
        let lockfile = std::fs::read(dir.join("package-lock.json")).unwrap();
        let wanted: String = Sha256::digest(&lockfile)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let stamp = dir.join("node_modules/.agora-package-lock-sha256");
        let path_hash: String = Sha256::digest(dir.to_string_lossy().as_bytes())
            .iter()
            .take(6)
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let lock = std::env::temp_dir().join(format!("agora-test-oidc-npm-{path_hash}.lock"));
        super::install_once(&lock, &stamp, &wanted, || {
            let output = std::process::Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .output()
                .expect("running npm");
            assert!(
                output.status.success(),
                "npm ci in {} failed: {}\n{}",
                dir.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        });
        dir
    })
}
