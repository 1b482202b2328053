//! Test harness: every test gets its own database, cloned from a template migrated once per
//! migration set, and drives the real router over HTTP (in process, through tower).

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agora::App;
use agora::config::Config;
use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use diesel::OptionalExtension;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower::ServiceExt;

pub mod oidc;
pub mod stripe;
pub mod stub;

pub const PASSWORD: &str = "correct horse battery staple";
/// Where tests find Postgres; each test's database lives on this server. `AGORA_TEST_PG` names
/// one; otherwise the one at 127.0.0.1:5432, or, when nothing answers there (or
/// `AGORA_TEST_PRIVATE_PG=1` asks for it), a private cluster the test processes share.
fn server_url() -> &'static str {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("AGORA_TEST_PG") {
            return url;
        }
        let machine = std::net::SocketAddr::from(([127, 0, 0, 1], 5432));
        let forced = std::env::var("AGORA_TEST_PRIVATE_PG").is_ok_and(|value| value == "1");
        if !forced && std::net::TcpStream::connect_timeout(&machine, Duration::from_secs(1)).is_ok()
        {
            return "postgres://postgres@127.0.0.1:5432".to_owned();
        }
        format!("postgres://postgres@127.0.0.1:{}", private_cluster())
    })
}

/// The port of the private cluster, started by the first test process that needs it. Each
/// process holds a shared lock on `users` until it exits (the kernel drops it however the
/// process ends); the cluster's watchdog stops it once nobody has held that lock for a few
/// seconds. Starting, and the watchdog's decision to stop, happen under `start.lock`.
fn private_cluster() -> u16 {
    static USERS: std::sync::OnceLock<std::fs::File> = std::sync::OnceLock::new();
    let uid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap());
    let dir = std::env::temp_dir().join(format!("agora-test-postgres-{uid}"));
    let scratch =
        agora::db::embedded::Scratch::new(&dir).unwrap_or_else(|error| panic!("{error:#}"));
    let open = |name: &str| {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(name))
            .unwrap()
    };
    let start_lock = open("start.lock");
    start_lock.lock().unwrap();
    let users = open("users");
    users.lock_shared().unwrap();
    USERS.set(users).unwrap();
    let port_file = dir.join("port");
    let running = std::fs::read_to_string(&port_file)
        .ok()
        .and_then(|port| port.trim().parse::<u16>().ok())
        .filter(|port| std::net::TcpStream::connect(("127.0.0.1", *port)).is_ok());
    let port = running.unwrap_or_else(|| {
        let port = free_port();
        scratch
            .start(port)
            .unwrap_or_else(|error| panic!("starting the private PostgreSQL: {error:#}"));
        std::fs::write(&port_file, port.to_string()).unwrap();
        port
    });
    // Also for a cluster found running: its watchdog may have died with an interrupted run.
    scratch
        .stop_when_unused(&dir.join("users"), &dir.join("start.lock"), 5)
        .unwrap();
    start_lock.unlock().unwrap();
    port
}

const TEMPLATE_LOCK_KEY: i64 = 0x6167_6f72_615f_7470;

pub struct TestApp {
    pub app: Arc<App>,
    router: Router,
    database: String,
}

/// One HTTP answer, with the JSON body parsed.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    /// The body as sent, for what `body` does not keep (the order of an object's fields).
    pub text: String,
}

impl Reply {
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// `extensions.code` of the first error, if any.
    pub fn code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }

    pub fn error(&self) -> &Value {
        &self.body["errors"][0]
    }

    /// The first error's message with the id the caller sent written as `#`: a `NOT_FOUND` names
    /// what was asked for, so two refusals are alike when they are alike but for that id.
    pub fn message_but_id(&self, id: &str) -> String {
        self.error()["message"].as_str().unwrap().replace(id, "#")
    }

    /// The cookies set by this answer, as `name=value` pairs.
    pub fn cookies(&self) -> Vec<cookie::Cookie<'static>> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|value| cookie::Cookie::parse(value.to_str().ok()?.to_owned()).ok())
            .collect()
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Value {
        assert!(
            self.body.get("errors").is_none(),
            "unexpected errors: {:#}",
            self.body
        );
        assert_eq!(self.status, StatusCode::OK);
        self.data()
    }
}

/// What a successful login hands out.
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub user_id: String,
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    pub async fn with_config(adjust: impl FnOnce(&mut Config)) -> Self {
        // Server logs (warnings and errors) show in a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
            .try_init();
        let database = format!("agora_test_{}", random_suffix());
        clone_template(&database).await;
        let mut config = Config::from_env().expect("default config");
        config.database_url = format!("{}/{database}", server_url());
        config.secret = Some("test secret, long enough for production rules".to_owned());
        config.argon2_m_kib = 256;
        config.argon2_t = 1;
        config.db_pool_size = 4;
        config.data_dir = std::env::temp_dir().join(&database);
        // Every test request comes from one address; tests of the limits set their own.
        config.rate_requests_per_minute = 1_000_000;
        config.rate_login_per_address = 1_000_000;
        config.rate_login_per_account = 1_000_000;
        config.rate_register_per_address = 1_000_000;
        // Tests that opt into Redis share one server: their keys live under their database's name.
        config.redis_prefix = database.clone();
        adjust(&mut config);
        Self::built(config, database).await
    }

    /// The app `config` makes, routed as from one client address; `database` is dropped with it
    /// unless empty.
    async fn built(config: Config, database: String) -> Self {
        let app = App::build(config).await.expect("building the app");
        let router = agora::http::router(app.clone()).layer(MockConnectInfo(SocketAddr::from((
            [203, 0, 113, 7],
            40_000,
        ))));
        Self {
            app,
            router,
            database,
        }
    }

    /// A second instance on this app's database, with `adjust`ed settings (the database stays
    /// this app's to drop).
    pub async fn instance_with(&self, adjust: impl FnOnce(&mut Config)) -> Self {
        let mut config = self.app.config.clone();
        adjust(&mut config);
        Self::built(config, String::new()).await
    }

    /// An app as production runs it (which must be told where mailed links lead).
    pub async fn production() -> Self {
        Self::with_config(|config| {
            config.env = agora::config::Environment::Production;
            config.public_url = Some("https://agora.example".to_owned());
        })
        .await
    }

    /// An app whose limits, events and persisted queries go through Redis ([`redis_url`]).
    pub async fn with_redis(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::with_config(|config| {
            config.redis_url = Some(redis_url());
            adjust(config);
        })
        .await
    }

    /// Serves the same router on a loopback port, for clients that need a real socket
    /// (WebSockets). The server stops with the test's runtime.
    pub async fn serve(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let router = agora::http::router(self.app.clone());
        tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        address
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        reply(self.router.clone(), request).await
    }

    /// `/metrics`, from the metrics listener's router (the API's has none).
    pub async fn metrics(&self) -> Reply {
        let request = Request::get("/metrics").body(Body::empty()).unwrap();
        reply(agora::http::metrics_router(self.app.clone()), request).await
    }

    pub async fn get(&self, uri: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = Request::builder().method(Method::GET).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    /// `me` with this access token: `None` while its session is live, else the error code.
    pub async fn me_refused(&self, access_token: &str) -> Option<String> {
        let reply = self.gql_as(access_token, "{ me { id } }", json!({})).await;
        reply.code().map(str::to_owned)
    }

    /// A POST of `query` with `variables`, adding `headers` (name, value) as given.
    pub async fn post(&self, query: &str, variables: Value, headers: &[(&str, &str)]) -> Reply {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri("/graphql")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, "agora-tests");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = json!({ "query": query, "variables": variables }).to_string();
        self.send(request.body(Body::from(body)).unwrap()).await
    }

    pub async fn gql(&self, query: &str, variables: Value) -> Reply {
        self.post(query, variables, &[]).await
    }

    pub async fn gql_as(&self, access_token: &str, query: &str, variables: Value) -> Reply {
        let bearer = format!("Bearer {access_token}");
        self.post(query, variables, &[("authorization", &bearer)])
            .await
    }

    pub async fn register(&self, username: &str, email: &str) -> Reply {
        self.gql(
            "mutation($input: RegisterInput!) { register(input: $input) { user { id username email budget } } }",
            json!({ "input": { "username": username, "email": email, "password": PASSWORD } }),
        )
        .await
    }

    pub async fn login(&self, login: &str, password: &str) -> Reply {
        self.gql(
            "mutation($input: LoginInput!) { login(input: $input) { ... on AuthPayload { accessToken refreshToken accessTokenExpiresAt refreshTokenExpiresAt user { id username lastLoginAt } } } }",
            json!({ "input": { "login": login, "password": password } }),
        )
        .await
    }

    /// The real binary, on this test's database, with `env` besides.
    pub async fn binary(&self, env: &[(&str, &str)]) -> Server {
        let mut env = env.to_vec();
        env.push(("DATABASE_URL", &self.app.config.database_url));
        Server::start(&env).await
    }

    /// Registers `username` (email `username@example.com`) and signs in.
    pub async fn user(&self, username: &str) -> Tokens {
        self.register(username, &format!("{username}@example.com"))
            .await
            .assert_ok();
        self.sign_in(username).await
    }

    /// Registers `username`, makes them an administrator, and signs in.
    pub async fn admin(&self, username: &str) -> Tokens {
        let tokens = self.user(username).await;
        self.sql(&format!(
            "INSERT INTO user_roles (user_id, role_id, created_at) SELECT {}, id, now() FROM roles WHERE name = 'admin'",
            tokens.user_id
        ))
        .await;
        tokens
    }

    /// The text `sql` selects (one row, one column named `t`).
    pub async fn text(&self, sql: &str) -> String {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = Text)]
            t: String,
        }
        let mut conn = AsyncPgConnection::establish(&self.app.config.database_url)
            .await
            .unwrap();
        diesel::sql_query(sql)
            .get_result::<Row>(&mut conn)
            .await
            .unwrap()
            .t
    }

    /// The id of the row `sql` selects, as a GraphQL `ID`.
    pub async fn id_of(&self, sql: &str) -> String {
        self.count(sql).await.to_string()
    }

    /// Registers `username` and signs in twice, as from a laptop and a phone.
    pub async fn two_sessions(&self, username: &str) -> (Tokens, Tokens) {
        let laptop = self.user(username).await;
        let phone = self.sign_in(username).await;
        (laptop, phone)
    }

    pub async fn sign_in(&self, username: &str) -> Tokens {
        let reply = self.login(username, PASSWORD).await;
        let login = &reply.assert_ok()["login"];
        Tokens {
            access: login["accessToken"].as_str().unwrap().to_owned(),
            refresh: login["refreshToken"].as_str().unwrap().to_owned(),
            user_id: login["user"]["id"].as_str().unwrap().to_owned(),
        }
    }

    /// Runs SQL directly against this test's database, for arranging states the API cannot
    /// reach quickly (an idle session, a disabled account) and for checking what was stored.
    pub async fn sql(&self, statement: &str) {
        sql_at(&self.app.config.database_url, statement).await;
    }

    pub async fn count(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let mut conn = AsyncPgConnection::establish(&self.app.config.database_url)
            .await
            .unwrap();
        diesel::sql_query(format!("SELECT ({sql})::bigint AS n"))
            .get_result::<Row>(&mut conn)
            .await
            .unwrap()
            .n
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if !self.database.is_empty() {
            drop_database(&self.database);
        }
    }
}

/// Drop runs outside any async context we could borrow, so the DROP DATABASE gets a small
/// runtime of its own; FORCE ends the pool's open connections.
pub fn drop_database(database: &str) {
    let name = database.to_owned();
    let dropped = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let mut admin = admin_connection().await;
                diesel::sql_query(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    agora::db::quote_identifier(&name)
                ))
                .execute(&mut admin)
                .await
            })
    })
    .join();
    if !matches!(dropped, Ok(Ok(_))) {
        eprintln!("could not drop test database {database}");
    }
}

pub async fn sql_at(database_url: &str, statement: &str) {
    let mut conn = AsyncPgConnection::establish(database_url).await.unwrap();
    diesel::sql_query(statement)
        .execute(&mut conn)
        .await
        .unwrap();
}

/// A database name no test uses yet, dropped with the guard.
pub struct FreshDatabase {
    pub name: String,
}

impl FreshDatabase {
    pub fn new() -> Self {
        Self {
            name: format!("agora_test_{}", random_suffix()),
        }
    }

    pub fn url(&self) -> String {
        format!("{}/{}", server_url(), self.name)
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        drop_database(&self.name);
    }
}

/// reqwest on rustls needs a process-wide crypto provider (ring, as the server uses).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// What `router` answers to `request`.
async fn reply(router: Router, request: Request<Body>) -> Reply {
    let response = router.oneshot(request).await.expect("router is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()))
    };
    Reply {
        status,
        headers,
        body,
        text,
    }
}

/// Two `agora serve` processes on one fresh database (and, with Redis, one Redis), as behind a
/// load balancer, started together. They stop before the database is dropped.
pub struct Instances {
    pub a: Server,
    pub b: Server,
    pub database_url: String,
    /// Dropped last, once both servers have stopped.
    _database: FreshDatabase,
}

impl Instances {
    /// With `env` added to what both share; `with_redis` gives them one Redis.
    pub async fn start(env: &[(&str, &str)], with_redis: bool) -> Self {
        let database = FreshDatabase::new();
        let database_url = database.url();
        let redis = redis_url();
        let mut shared = vec![("DATABASE_URL", database_url.as_str())];
        if with_redis {
            shared.push(("REDIS_URL", redis.as_str()));
            shared.push(("AGORA_REDIS_PREFIX", database.name.as_str()));
        }
        shared.extend_from_slice(env);
        let mut a = Server::spawn(&shared);
        let mut b = Server::spawn(&shared);
        tokio::join!(a.listening(), b.listening());
        Self {
            a,
            b,
            database_url,
            _database: database,
        }
    }
}

/// Gives the user `user_id` the `admin` role, straight in the database at `database_url`.
pub async fn make_admin(database_url: &str, user_id: impl std::fmt::Display) {
    sql_at(
        database_url,
        &format!("INSERT INTO user_roles (user_id, role_id, created_at) SELECT {user_id}, id, now() FROM roles WHERE name = 'admin'"),
    )
    .await;
}

/// The real `agora serve` binary on a free port, its stderr (the logs) kept for inspection.
pub struct Server {
    pub address: SocketAddr,
    /// Where it serves `/metrics` (AGORA_METRICS_LISTEN).
    pub metrics_address: SocketAddr,
    pub process: tokio::process::Child,
    logs: Arc<Mutex<Vec<String>>>,
    http: reqwest::Client,
    /// The server's AGORA_DATA_DIR (its file mail), removed with it.
    pub data_dir: std::path::PathBuf,
    /// The task copying stderr into `logs`; it ends when the process closes stderr.
    reader: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

impl Server {
    /// Starts the binary with `env` on top of a quiet, fast-hashing test configuration; does not
    /// wait for it to listen. An `AGORA_LISTEN` address in `env` is where it listens (to restart
    /// one on the same address).
    pub fn spawn(env: &[(&str, &str)]) -> Self {
        let address: SocketAddr = env
            .iter()
            .find(|(name, _)| *name == "AGORA_LISTEN")
            .and_then(|(_, listen)| listen.parse().ok())
            .unwrap_or_else(|| ([127, 0, 0, 1], free_port()).into());
        let metrics_address: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let data_dir = std::env::temp_dir().join(format!("agora_server_{}", address.port()));
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_agora"));
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AGORA_LISTEN", address.to_string())
            .env("AGORA_METRICS_LISTEN", metrics_address.to_string())
            .env("AGORA_DATA_DIR", &data_dir)
            .env(
                "AGORA_SECRET",
                "test secret, long enough for production rules",
            )
            .env("AGORA_ARGON2_M_KIB", "256")
            .env("AGORA_ARGON2_T", "1")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let mut process = command.spawn().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stderr = process.stderr.take().unwrap();
        let sink = logs.clone();
        let reader = tokio::spawn(async move {
            use tokio::io::AsyncBufReadExt;
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });
        Self {
            address,
            metrics_address,
            process,
            logs,
            http: http_client(),
            data_dir,
            reader: Some(reader),
        }
    }

    /// Spawns the binary and waits until it listens.
    pub async fn start(env: &[(&str, &str)]) -> Self {
        let mut server = Self::spawn(env);
        server.listening().await;
        server
    }

    /// Waits until the server answers, failing if it exits first. The probe asks for
    /// `Connection: close` and reads to the end, so the server has closed it (and freed its
    /// connection slot) before a test starts counting connections.
    pub async fn listening(&mut self) {
        let address = self.address;
        let process = &mut self.process;
        let logs = &self.logs;
        eventually(
            Duration::from_secs(60),
            "the server to listen",
            async || {
                if let Some(status) = process.try_wait().unwrap() {
                    panic!(
                        "the server exited with {status}: {:#?}",
                        logs.lock().unwrap()
                    );
                }
                probe(address).await.then_some(())
            },
        )
        .await;
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Everything the server wrote to stderr, once it has exited (within `within`).
    pub async fn exit_logs(&mut self, within: Duration) -> (std::process::ExitStatus, Vec<String>) {
        let status = tokio::time::timeout(within, self.process.wait())
            .await
            .expect("the server exits")
            .unwrap();
        if let Some(reader) = self.reader.take() {
            reader.await.unwrap();
        }
        (status, self.logs())
    }

    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self
            .http
            .get(format!("http://{}{path}", self.address))
            .send()
            .await
            .unwrap();
        (
            StatusCode::from_u16(response.status().as_u16()).unwrap(),
            response.text().await.unwrap(),
        )
    }

    /// Registers `username` (email `username@example.com`) on this server.
    pub async fn register(&self, username: &str) {
        self.gql(
            None,
            "mutation($i: RegisterInput!) { register(input: $i) { user { id } } }",
            json!({ "i": { "username": username, "email": format!("{username}@example.com"), "password": PASSWORD } }),
        )
        .await
        .assert_ok();
    }

    /// POSTs a GraphQL request, with a bearer token when given; the JSON answer.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Reply {
        self.try_gql(token, query, variables)
            .await
            .expect("the server answers")
    }

    /// As `gql`, but `None` when the connection broke before a whole answer arrived.
    pub async fn try_gql(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Option<Reply> {
        let mut request = self
            .http
            .post(format!("http://{}/graphql", self.address))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.ok()?;
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        let text = response.text().await.ok()?;
        Some(Reply {
            status,
            headers: HeaderMap::new(),
            body: serde_json::from_str(&text).ok()?,
            text,
        })
    }
}

/// Whether the server at `address` answers a plain HTTP request (and closes the connection).
async fn probe(address: SocketAddr) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(address).await else {
        return false;
    };
    let asked = stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: agora\r\nConnection: close\r\n\r\n")
        .await;
    let mut answer = Vec::new();
    asked.is_ok()
        && stream.read_to_end(&mut answer).await.is_ok()
        && answer.starts_with(b"HTTP/1.1 ")
}

/// Polls `check` until it gives `Some` and returns that, failing with `what` once `within`
/// has passed: a wait on a condition, never on a guess of how long it takes.
pub async fn eventually<T>(
    within: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(done) = check().await {
            return done;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {within:?} for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether the server holds a database called `name`.
pub async fn database_exists(name: &str) -> bool {
    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        count: i64,
    }
    let found: Found =
        diesel::sql_query("SELECT count(*) AS count FROM pg_database WHERE datname = $1")
            .bind::<diesel::sql_types::Text, _>(name)
            .get_result(&mut admin_connection().await)
            .await
            .unwrap();
    found.count > 0
}

async fn admin_connection() -> AsyncPgConnection {
    AsyncPgConnection::establish(&format!("{}/postgres", server_url()))
        .await
        .expect("Postgres must be running (see README: .ci/run starts it)")
}

/// Creates `database` as a copy of the template holding every migration. The template is built
/// once per distinct `migrations/` content; that, the sweep and the copy happen under an
/// advisory lock, so parallel test processes build it once and never copy one being dropped.
async fn clone_template(database: &str) {
    let template = format!("agora_tpl_{}", migrations_fingerprint());
    let mut admin = admin_connection().await;
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(TEMPLATE_LOCK_KEY)
        .execute(&mut admin)
        .await
        .unwrap();
    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
        swept_by: Option<String>,
    }
    // The template's comment names the last run that swept, so each run sweeps once.
    let found = diesel::sql_query(
        "SELECT shobj_description(oid, 'pg_database') AS swept_by FROM pg_database WHERE datname = $1",
    )
    .bind::<Text, _>(&template)
    .get_result::<Found>(&mut admin)
    .await
    .optional()
    .unwrap();
    if found.is_none() {
        // Build under a scratch name and rename at the end, so a crash never leaves a
        // half-migrated template behind.
        let scratch = format!("{template}_building");
        for statement in [
            format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                agora::db::quote_identifier(&scratch)
            ),
            format!("CREATE DATABASE {}", agora::db::quote_identifier(&scratch)),
        ] {
            diesel::sql_query(statement)
                .execute(&mut admin)
                .await
                .unwrap();
        }
        agora::db::run_migrations(&format!("{}/{scratch}", server_url()))
            .await
            .expect("migrating the template");
        diesel::sql_query(format!(
            "ALTER DATABASE {} RENAME TO {}",
            agora::db::quote_identifier(&scratch),
            agora::db::quote_identifier(&template)
        ))
        .execute(&mut admin)
        .await
        .unwrap();
    }
    let run = this_run();
    if found.and_then(|found| found.swept_by).as_deref() != Some(run.as_str()) {
        sweep(&mut admin, &template).await;
        diesel::sql_query(format!(
            "COMMENT ON DATABASE {} IS '{}'",
            agora::db::quote_identifier(&template),
            run.replace('\'', "''")
        ))
        .execute(&mut admin)
        .await
        .unwrap();
    }
    diesel::sql_query(format!(
        "CREATE DATABASE {} TEMPLATE {}",
        agora::db::quote_identifier(database),
        agora::db::quote_identifier(&template)
    ))
    .execute(&mut admin)
    .await
    .expect("cloning the template database");
    diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(TEMPLATE_LOCK_KEY)
        .execute(&mut admin)
        .await
        .unwrap();
}

/// This test run: nextest's id for it (shared by its test processes), else this process.
fn this_run() -> String {
    std::env::var("NEXTEST_RUN_ID").unwrap_or_else(|_| format!("pid {}", std::process::id()))
}

/// Drops what earlier runs left: test databases and templates of other migration sets (or
/// half-built ones) that nobody is connected to and that are older than any test runs (the age
/// of a database is that of its folder, which only a superuser may read).
async fn sweep(admin: &mut AsyncPgConnection, template: &str) {
    #[derive(diesel::QueryableByName)]
    struct Leftover {
        #[diesel(sql_type = Text)]
        datname: String,
    }
    let leftovers = diesel::sql_query(
        "SELECT datname FROM pg_database d
         WHERE (datname LIKE 'agora\\_test\\_%' OR (datname LIKE 'agora\\_tpl\\_%' AND datname <> $1))
           AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datid = d.oid)
           AND (pg_stat_file('base/' || d.oid || '/PG_VERSION')).modification
               < now() - interval '10 minutes'",
    )
    .bind::<Text, _>(template)
    .load::<Leftover>(admin)
    .await;
    let leftovers = match leftovers {
        Ok(leftovers) => leftovers,
        Err(error) => return eprintln!("not sweeping old test databases: {error}"),
    };
    for Leftover { datname } in leftovers {
        let dropped = diesel::sql_query(format!(
            "DROP DATABASE IF EXISTS {}",
            agora::db::quote_identifier(&datname)
        ))
        .execute(admin)
        .await;
        if let Err(error) = dropped {
            eprintln!("could not drop leftover database {datname}: {error}");
        }
    }
}

fn migrations_fingerprint() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files = Vec::new();
    collect_files(&root, &mut files);
    files.sort();
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(
            file.strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .as_bytes(),
        );
        hasher.update(std::fs::read(&file).unwrap());
    }
    hasher
        .finalize()
        .iter()
        .take(6)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn collect_files(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(&path, files);
        } else {
            files.push(path);
        }
    }
}

fn random_suffix() -> String {
    let mut bytes = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The Redis tests that opt into one share within their process (`AGORA_TEST_REDIS_URL`, or a
/// server of the process's own, started on first use).
pub fn redis_url() -> String {
    static SHARED: std::sync::OnceLock<OwnRedis> = std::sync::OnceLock::new();
    std::env::var("AGORA_TEST_REDIS_URL")
        .unwrap_or_else(|_| SHARED.get_or_init(OwnRedis::run).url())
}

/// Undoes quoted-printable soft line breaks and `=3D` in a mail, enough to read links.
pub fn unfold(message: &str) -> String {
    message.replace("=\r\n", "").replace("=3D", "=")
}

/// Serves `router` on a free loopback port (returned) until the task is aborted or the test's
/// runtime ends: a service of the test's own for Agora to call.
pub async fn serve_on_loopback(router: Router) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (port, server)
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether `program` is on `PATH`.
fn installed(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// A Redis server of the test's own on a free port. It keeps nothing on disk, so a restart
/// starts empty, as a crashed cache would. A shell holds it and ends it when its standard input
/// closes, which the kernel does when the test process exits, however it exits.
pub struct OwnRedis {
    pub port: u16,
    process: Option<std::process::Child>,
}

impl OwnRedis {
    pub async fn start() -> Self {
        Self::run()
    }

    fn run() -> Self {
        let mut redis = Self {
            port: free_port(),
            process: None,
        };
        redis.launch();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub async fn restart(&mut self) {
        self.launch();
    }

    fn launch(&mut self) {
        self.end();
        assert!(
            installed("redis-server"),
            "redis-server is not installed: apt-get install redis-server"
        );
        let port = self.port.to_string();
        let process = std::process::Command::new("sh")
            .args(["-c", "redis-server \"$@\" & read _; kill $!; wait", "sh"])
            .args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        self.process = Some(process);
        let started = std::time::Instant::now();
        while !redis_answers(self.port) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub async fn stop(&mut self) {
        self.end();
    }

    /// Closes the shell's input and waits until it has ended the server, so the port is free.
    fn end(&mut self) {
        if let Some(mut process) = self.process.take() {
            drop(process.stdin.take());
            let _ = process.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.end();
    }
}

/// Whether a Redis on `port` answers PING.
fn redis_answers(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let mut answer = [0u8; 7];
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .is_ok()
        && stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut answer).is_ok()
        && &answer == b"+PONG\r\n"
}

/// A TCP proxy in front of Postgres that a test can cut, as a database restart would: open
/// connections are reset and new ones refused until it is restored.
pub struct PgProxy {
    pub port: u16,
    down: Arc<std::sync::atomic::AtomicBool>,
    connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl PgProxy {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let upstream = url::Url::parse(server_url()).unwrap();
        let upstream = format!(
            "{}:{}",
            upstream.host_str().unwrap(),
            upstream.port().unwrap_or(5432)
        );
        let (is_down, open) = (down.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if std::sync::atomic::AtomicBool::load(
                    &is_down,
                    std::sync::atomic::Ordering::SeqCst,
                ) {
                    continue; // dropped at once: the client sees the server go away
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                open.lock().unwrap().push(task.abort_handle());
            }
        });
        Self {
            port,
            down,
            connections,
        }
    }

    pub fn cut(&self) {
        self.down.store(true, std::sync::atomic::Ordering::SeqCst);
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    pub fn restore(&self) {
        self.down.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// How many of `replies` answered each error code (`ok` for none), for requests sent together.
pub fn tally(replies: &[Reply]) -> std::collections::BTreeMap<String, usize> {
    let mut counted = std::collections::BTreeMap::new();
    for reply in replies {
        *counted
            .entry(reply.code().unwrap_or("ok").to_owned())
            .or_default() += 1;
    }
    counted
}

/// A [`tally`] written out.
pub fn tallied(pairs: &[(&str, usize)]) -> std::collections::BTreeMap<String, usize> {
    pairs
        .iter()
        .map(|(code, n)| ((*code).to_owned(), *n))
        .collect()
}

/// Runs `install` once across the test processes that start together: the first takes the file
/// lock at `lock` and installs, the others wait for it; `stamp` holds `wanted` (a hash of what
/// was installed) only after an install finished, so an interrupted or stale one runs again.
pub fn install_once(
    lock: &std::path::Path,
    stamp: &std::path::Path,
    wanted: &str,
    install: impl FnOnce(),
) {
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock)
        .unwrap();
    lock.lock().unwrap();
    if std::fs::read_to_string(stamp).ok().as_deref() != Some(wanted) {
        install();
        std::fs::write(stamp, wanted).unwrap();
    }
    lock.unlock().unwrap();
}

/// Keeps each line `stream` writes in `sink`, for a helper process's logs.
pub fn collect_lines(
    stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    sink: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use tokio::io::AsyncBufReadExt;
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
}
