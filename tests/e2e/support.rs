//! A real `veza serve` stack per test: its own data directory and database, listening on a
//! free loopback port, built through the same wiring as the `veza` binary. With
//! `VEZA_DATABASE_URL=postgres://…` each test gets a fresh PostgreSQL database on that
//! server, otherwise a SQLite file; with `VEZA_S3_ENDPOINT=http://…` (an S3 server taking the
//! test credentials, as CI's s3s-fs does) a fresh bucket there, otherwise files; with
//! `VEZA_CLAMD_URL` uploads are scanned by that clamd. CI runs the suite twice: on the
//! embedded default, and on PostgreSQL + S3 + ClamAV.

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tempfile::TempDir;
use tokio::sync::oneshot;
use veza_cli::settings::{BlobStorage, Database, Secret, Settings};
use veza_core::Services;
use veza_core::auth::HashParams;
use veza_core::clock::{Clock, ManualClock, SystemClock};
use veza_core::mail::RelayHandle;
use veza_server::ServerConfig;

pub const JWT_SECRET: &str = "e2e-test-secret-that-is-at-least-32-bytes-long";
pub const PASSWORD: &str = "correct horse battery staple";
pub const AUDIO_FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/audio");

/// A file of `tests/fixtures/audio`.
pub fn audio_fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{AUDIO_FIXTURES}/{name}")).expect("fixture")
}
/// `VEZA_INTERNAL_TOKEN` of every test server: what the stream server's callback presents.
pub const INTERNAL_TOKEN: &str = "e2e-internal-token-that-is-at-least-32-bytes";

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub services: Services,
    pub database: Database,
    /// What the server was built from (a second store handle for tests that craft rows).
    pub settings: Settings,
    _data_dir: TempDir,
    _relay: RelayHandle,
    _shutdown: oneshot::Sender<()>,
}

/// How a test server differs from the default one.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub config: ServerConfig,
    /// `VEZA_PUBLIC_URL`; `None`: the server's own `http://127.0.0.1:PORT`.
    pub public_url: Option<String>,
    /// `VEZA_SMTP_URL`; `None`: mail goes to the data directory's outbox folder.
    pub smtp_url: Option<String>,
    /// The core's clock; `None`: the system clock. Tests step a `ManualClock` through TOTP
    /// windows and expiries instead of waiting.
    pub clock: Option<Arc<ManualClock>>,
    /// `VEZA_MAX_UPLOAD_BYTES`; `None`: the default.
    pub max_upload_bytes: Option<u64>,
    /// `VEZA_CLAMD_URL`; `None`: the environment's `VEZA_CLAMD_URL`, if any.
    pub clamd_url: Option<String>,
    /// `VEZA_STREAM_SERVER_URL`; `None`: the stream server is not notified.
    pub stream_server_url: Option<String>,
}

/// The tokens a sign-in returned.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub user_id: String,
}

impl Tokens {
    fn from_body(body: &Value) -> Self {
        Self {
            access: body["access_token"].as_str().expect("access_token").to_owned(),
            refresh: body["refresh_token"].as_str().expect("refresh_token").to_owned(),
            user_id: body["user"]["id"].as_str().expect("user.id").to_owned(),
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

async fn blobs_for_test(data_dir: &Path) -> BlobStorage {
    use veza_adapters::s3_blobs::testing::{config, fresh_bucket};
    match env("VEZA_S3_ENDPOINT") {
        Some(endpoint) => BlobStorage::S3(config(&endpoint, &fresh_bucket(&endpoint).await)),
        None => BlobStorage::Files(data_dir.join("blobs")),
    }
}

async fn database_for_test(data_dir: &Path) -> Database {
    match std::env::var("VEZA_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            Database::Postgres(veza_adapters::postgres::testing::fresh_database(&url).await)
        }
        _ => Database::Sqlite(data_dir.join("veza.db")),
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(ServerConfig::default()).await
    }

    pub async fn start_with(config: ServerConfig) -> Self {
        Self::start_with_options(Options { config, ..Options::default() }).await
    }

    pub async fn start_with_clock(clock: Arc<ManualClock>) -> Self {
        Self::start_with_options(Options { clock: Some(clock), ..Options::default() }).await
    }

    /// Binds first, as `veza serve` does, so the default public URL names the real port.
    pub async fn start_with_options(options: Options) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let database = database_for_test(data_dir.path()).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let settings = Settings {
            listen: "127.0.0.1:0".into(),
            data_dir: data_dir.path().to_path_buf(),
            database: database.clone(),
            public_url: Some(options.public_url.unwrap_or_else(|| base.clone())),
            smtp_url: options.smtp_url.map(Secret),
            mail_from: None,
            cors_origins: Vec::new(),
            log_format: None,
            workers: 0,
            jwt_secret: Some(Secret(JWT_SECRET.into())),
            chat_jwt_secret: None,
            blobs: blobs_for_test(data_dir.path()).await,
            clamd_url: options.clamd_url.or_else(|| env("VEZA_CLAMD_URL")),
            max_upload_bytes: options
                .max_upload_bytes
                .unwrap_or(veza_core::tracks::TracksConfig::DEFAULT_MAX_UPLOAD_BYTES),
            stream_server_url: options.stream_server_url.map(Secret),
            internal_token: Some(Secret(INTERNAL_TOKEN.into())),
        };
        let clock: Arc<dyn Clock> = match options.clock {
            Some(clock) => clock,
            None => Arc::new(SystemClock),
        };
        let services =
            veza_cli::wiring::prepare_with_clock(&settings, HashParams::FAST_FOR_TESTS, clock)
                .await
                .expect("services");
        let relay = services.mail.start();
        let app = veza_server::app(services.clone(), &options.config);
        let (shutdown, stop) = oneshot::channel::<()>();
        tokio::spawn(veza_server::serve(listener, app, async {
            let _ = stop.await;
        }));
        let client = reqwest::Client::builder().build().expect("client");
        Self {
            base,
            client,
            services,
            database,
            settings,
            _data_dir: data_dir,
            _relay: relay,
            _shutdown: shutdown,
        }
    }

    /// `POST /api/v1/tracks` as `by`: the file in the part `file` (named `file_name`), then
    /// `fields` as text parts.
    pub async fn upload_track(
        &self,
        by: &Tokens,
        file_name: &str,
        bytes: Vec<u8>,
        fields: &[(&str, &str)],
    ) -> Response {
        let mut form = reqwest::multipart::Form::new();
        for (name, value) in fields {
            form = form.text(name.to_string(), value.to_string());
        }
        form = form
            .part("file", reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_owned()));
        self.request(Method::POST, "/api/v1/tracks")
            .bearer_auth(&by.access)
            .multipart(form)
            .send()
            .await
            .expect("upload")
    }

    /// Every key in the server's blob store (files or S3), sorted.
    pub async fn blob_keys(&self) -> Vec<String> {
        let blobs = veza_cli::wiring::open_blobs(&self.settings).expect("blob store");
        blobs.keys(None).await.expect("list blobs")
    }

    /// Runs every due job (processing, blob removal, …) to completion, as a worker would.
    pub async fn run_jobs(&self) {
        let runner = veza_cli::wiring::job_runner(&self.services);
        let (_keep, mut shutdown) = tokio::sync::watch::channel(false);
        while runner.run_one(&mut shutdown).await.expect("job store").is_some() {}
    }

    pub fn data_dir(&self) -> &Path {
        self._data_dir.path()
    }

    /// Where the embedded default mailer writes `.eml` files.
    pub fn outbox_dir(&self) -> PathBuf {
        self.data_dir().join("outbox")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.request(Method::POST, path).json(&body).send().await.expect("request")
    }

    pub async fn get_as(&self, path: &str, access: &str) -> Response {
        self.request(Method::GET, path).bearer_auth(access).send().await.expect("request")
    }

    pub async fn post_as(&self, path: &str, access: &str) -> Response {
        self.request(Method::POST, path).bearer_auth(access).send().await.expect("request")
    }

    pub async fn register_as(&self, username: &str) -> Tokens {
        let response = self
            .post(
                "/api/v1/auth/register",
                json!({"email": format!("{username}@example.com"), "username": username, "password": PASSWORD}),
            )
            .await;
        let body = expect_json(response, StatusCode::CREATED).await;
        Tokens::from_body(&body)
    }

    pub async fn login(&self, login: &str, password: &str) -> Response {
        self.post("/api/v1/auth/login", json!({"login": login, "password": password})).await
    }

    pub async fn login_ok(&self, login: &str) -> Tokens {
        self.login_ok_with(login, PASSWORD).await
    }

    pub async fn login_ok_with(&self, login: &str, password: &str) -> Tokens {
        let body = expect_json(self.login(login, password).await, StatusCode::OK).await;
        Tokens::from_body(&body)
    }

    pub async fn refresh(&self, refresh: &str) -> Response {
        self.post("/api/v1/auth/refresh", json!({"refresh_token": refresh})).await
    }

    /// Asserts `GET /auth/me` with this access token is 401 `invalid_token`.
    pub async fn assert_access_rejected(&self, access: &str) {
        let response = self.get_as("/api/v1/auth/me", access).await;
        expect_problem(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }

    /// Asserts refreshing with this token is 401 with `code`.
    pub async fn assert_refresh_rejected(&self, refresh: &str, code: &str) {
        expect_problem(self.refresh(refresh).await, StatusCode::UNAUTHORIZED, code).await;
    }
}

/// Asserts the status and returns the JSON body.
pub async fn expect_json(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts a problem response with this status and code; returns the body.
pub async fn expect_problem(response: Response, status: StatusCode, code: &str) -> Value {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = expect_json(response, status).await;
    assert_eq!(content_type, "application/problem+json", "body: {body}");
    assert_eq!(body["code"], code, "body: {body}");
    assert_eq!(body["status"], status.as_u16(), "body: {body}");
    assert!(body["type"].is_string() && body["title"].is_string(), "body: {body}");
    body
}
