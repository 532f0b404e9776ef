//! Picks the adapters the settings name and builds the core services over them: the one
//! place where configuration meets implementations.

use std::sync::Arc;
use veza_adapters::clamd::ClamdScanner;
use veza_adapters::fs_blobs::FsBlobs;
use veza_adapters::mail::{DEFAULT_FROM, OutboxDirMailer, SmtpMailer, parse_sender};
use veza_adapters::memory::MemoryRateLimiter;
use veza_adapters::object_blobs::ObjectBlobs;
use veza_adapters::postgres::PgStore;
use veza_adapters::s3_blobs::S3Blobs;
use veza_adapters::spool::BlobSpool;
use veza_adapters::sqlite::SqliteStore;
use veza_adapters::stream_http::HttpStreamNotifier;
use veza_adapters::symphonia::SymphoniaAnalyzer;
use veza_core::auth::{AuthConfig, AuthService, HashParams, TokenKeys};
use veza_core::blobs::BlobStore;
use veza_core::clock::{Clock, SystemClock, UuidV7Ids};
use veza_core::credentials::MailConfig;
use veza_core::jobs::{JobRunner, RunnerConfig};
use veza_core::mail::Mailer;
use veza_core::scan::{NoScanner, VirusScanner};
use veza_core::store::AccountStore;
use veza_core::stream::{InternalToken, NoNotifier, StreamNotifier};
use veza_core::tracks::{
    DELETE_BLOBS_JOB, DISCARD_UNCLAIMED_JOB, NOTIFY_STREAM_JOB, PROCESS_JOB, TracksConfig,
};
use veza_core::uploads::EXPIRE_JOB;
use veza_core::{Ports, Services};

use crate::secrets;
use crate::settings::{BlobStorage, Database, Settings};

/// Issuer of access tokens (`iss`); every instance of one deployment shares it.
pub const TOKEN_ISSUER: &str = "veza";

/// The opened database, whichever it is.
#[derive(Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Store {
    /// Opens the configured database (creating the SQLite file and its directory).
    ///
    /// # Errors
    /// A one-line message if it cannot be opened or reached.
    pub async fn open(settings: &Settings) -> Result<Self, String> {
        match &settings.database {
            Database::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    secrets::create_private_dir(parent)
                        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
                }
                SqliteStore::open(path)
                    .map(Store::Sqlite)
                    .map_err(|e| format!("cannot open SQLite database {}: {e}", path.display()))
            }
            Database::Postgres(url) => PgStore::connect(url)
                .await
                .map(Store::Postgres)
                .map_err(|e| format!("cannot connect to PostgreSQL: {e}")),
        }
    }

    /// Applies pending migrations; returns how many.
    ///
    /// # Errors
    /// A one-line message if a migration fails.
    pub async fn migrate(&self) -> Result<usize, String> {
        match self {
            Store::Sqlite(store) => store.migrate().await,
            Store::Postgres(store) => store.migrate().await,
        }
        .map_err(|e| format!("migration failed: {e}"))
    }

    pub fn accounts(&self) -> Arc<dyn AccountStore> {
        match self {
            Store::Sqlite(store) => Arc::new(store.clone()),
            Store::Postgres(store) => Arc::new(store.clone()),
        }
    }
}

/// Where mail goes: the configured SMTP server, or the outbox folder of the data directory.
#[derive(Debug, Clone)]
pub enum MailTransport {
    Smtp(SmtpMailer),
    OutboxDir(OutboxDirMailer),
}

impl MailTransport {
    /// Builds the configured transport; connects to nothing yet. Call inside a runtime.
    ///
    /// # Errors
    /// A one-line message if `VEZA_SMTP_URL` or `VEZA_MAIL_FROM` is unusable.
    pub fn open(settings: &Settings) -> Result<Self, String> {
        let from = parse_sender(settings.mail_from.as_deref().unwrap_or(DEFAULT_FROM))?;
        match &settings.smtp_url {
            Some(url) => SmtpMailer::new(&url.0, from).map(MailTransport::Smtp),
            None => {
                let dir = settings.data_dir.join("outbox");
                Ok(MailTransport::OutboxDir(OutboxDirMailer::new(dir, from)))
            }
        }
    }

    pub fn mailer(&self) -> Arc<dyn Mailer> {
        match self {
            MailTransport::Smtp(smtp) => Arc::new(smtp.clone()),
            MailTransport::OutboxDir(dir) => Arc::new(dir.clone()),
        }
    }

    /// Where mail goes, for logs (no credentials).
    pub fn describe(&self) -> String {
        match self {
            MailTransport::Smtp(smtp) => smtp.server().to_owned(),
            MailTransport::OutboxDir(dir) => format!("outbox folder {}", dir.dir().display()),
        }
    }

    /// Whether mail can go out now (`veza doctor`).
    ///
    /// # Errors
    /// Why not.
    pub async fn check(&self) -> Result<String, String> {
        match self {
            MailTransport::Smtp(smtp) => {
                smtp.check().await.map(|()| format!("{} answers", smtp.server()))
            }
            MailTransport::OutboxDir(dir) => dir
                .check()
                .map(|()| format!("{} is writable", dir.dir().display()))
                .map_err(|e| format!("{} is not writable: {e}", dir.dir().display())),
        }
    }
}

/// The signing keys: configured, or generated once into the data directory.
///
/// # Errors
/// If a generated secret cannot be stored.
pub fn token_keys(settings: &Settings) -> Result<TokenKeys, String> {
    let jwt_secret = match &settings.jwt_secret {
        Some(secret) => secret.0.clone(),
        None => secrets::load_or_generate(&settings.data_dir, "jwt_secret")
            .map_err(|e| format!("cannot keep the generated JWT secret: {e}"))?,
    };
    let chat = settings.chat_jwt_secret.as_ref().map(|s| s.0.as_bytes());
    Ok(TokenKeys::new(jwt_secret.as_bytes(), chat, TOKEN_ISSUER))
}

/// The secret shared with the stream server: configured, or generated once into the data
/// directory (`DATA_DIR/secrets/internal_token`, mode 0600) for the operator to hand over.
///
/// # Errors
/// If a generated token cannot be stored, or a stored one is too short.
pub fn internal_token(settings: &Settings) -> Result<InternalToken, String> {
    let token = match &settings.internal_token {
        Some(token) => token.0.clone(),
        None => secrets::load_or_generate(&settings.data_dir, "internal_token")
            .map_err(|e| format!("cannot keep the generated internal token: {e}"))?,
    };
    InternalToken::new(token).map_err(|e| format!("VEZA_INTERNAL_TOKEN: {e}"))
}

/// The stream notifier: an HTTP POST to `VEZA_STREAM_SERVER_URL` with callbacks under
/// `public_url`, or `NoNotifier`. Connects to nothing yet.
///
/// # Errors
/// A one-line message if `VEZA_STREAM_SERVER_URL` is unusable.
pub fn stream_notifier(
    settings: &Settings,
    public_url: &str,
    token: &InternalToken,
) -> Result<Arc<dyn StreamNotifier>, String> {
    match &settings.stream_server_url {
        Some(url) => HttpStreamNotifier::new(&url.0, public_url, token.clone())
            .map(|notifier| Arc::new(notifier) as Arc<dyn StreamNotifier>)
            .map_err(|e| format!("VEZA_STREAM_SERVER_URL: {e}")),
        None => Ok(Arc::new(NoNotifier)),
    }
}

/// Whether the stream notifier can be built (`veza doctor`). The stream server is not
/// called: a notice is a real announcement, and the queue retries it anyway.
///
/// # Errors
/// Why not.
pub fn check_stream(settings: &Settings) -> Result<String, String> {
    let public_url =
        settings.public_url.clone().unwrap_or_else(|| format!("http://{}", settings.listen));
    let token = match &settings.internal_token {
        Some(token) => InternalToken::new(token.0.as_str())?,
        // Not generated from a diagnostic command; `serve` does that.
        None => InternalToken::new(AuthService::generate_secret())?,
    };
    Ok(stream_notifier(settings, &public_url, &token)?.describe())
}

/// The blob store the settings name: files (`DATA_DIR/blobs` unless `VEZA_BLOB_URL` is
/// `file://DIR`) or an S3 bucket. Connects to nothing yet; `ObjectBlobs::check` does.
///
/// # Errors
/// A one-line message if the directory cannot be created or the S3 settings are unusable.
pub fn open_blobs(settings: &Settings) -> Result<ObjectBlobs, String> {
    match &settings.blobs {
        BlobStorage::Files(root) => FsBlobs::open(root)
            .map_err(|e| format!("cannot open blob directory {}: {e}", root.display())),
        BlobStorage::S3(config) => S3Blobs::connect(config)
            .map_err(|e| format!("cannot use S3 bucket {}: {e}", config.bucket)),
    }
}

/// `open_blobs`, as the port.
///
/// # Errors
/// As `open_blobs`.
pub fn blobs(settings: &Settings) -> Result<Arc<dyn BlobStore>, String> {
    open_blobs(settings).map(|blobs| Arc::new(blobs) as Arc<dyn BlobStore>)
}

/// The virus scanner: the clamd at `VEZA_CLAMD_URL`, or `NoScanner` (uploads unscanned).
/// Connects to nothing yet.
///
/// # Errors
/// A one-line message if `VEZA_CLAMD_URL` is unusable.
pub fn scanner(settings: &Settings) -> Result<Arc<dyn VirusScanner>, String> {
    match &settings.clamd_url {
        Some(url) => ClamdScanner::new(url)
            .map(|clamd| Arc::new(clamd) as Arc<dyn VirusScanner>)
            .map_err(|e| format!("VEZA_CLAMD_URL: {e}")),
        None => Ok(Arc::new(NoScanner)),
    }
}

/// Whether the configured scanner answers (`veza doctor`).
///
/// # Errors
/// Why not.
pub async fn check_scanner(settings: &Settings) -> Result<String, String> {
    let scanner = scanner(settings)?;
    match &settings.clamd_url {
        Some(url) => scanner
            .ping()
            .await
            .map(|()| format!("clamd at {url} answers"))
            .map_err(|e| e.to_string()),
        None => Ok("none: uploads are not scanned (VEZA_CLAMD_URL unset)".into()),
    }
}

/// The adapters a `Services` is built over, besides the database.
pub struct Edges {
    /// The adapter itself, not the port: the analysis spool opens local originals in place.
    pub blobs: Arc<ObjectBlobs>,
    /// Where remote (S3) originals are copied for analysis (`DATA_DIR/tmp`).
    pub scratch_dir: std::path::PathBuf,
    pub mailer: Arc<dyn Mailer>,
    pub scanner: Arc<dyn VirusScanner>,
    pub stream: Arc<dyn StreamNotifier>,
    pub mail: MailConfig,
    /// The upload limit and other track settings.
    pub tracks: TracksConfig,
}

/// Core services over `store` and `edges`, with the in-process rate limiter and system clock.
pub fn services(store: &Store, edges: Edges, keys: TokenKeys, hash_params: HashParams) -> Services {
    services_with_clock(store, edges, keys, hash_params, Arc::new(SystemClock))
}

/// As `services`, on `clock` (tests step a `ManualClock` through TOTP windows and expiries).
pub fn services_with_clock(
    store: &Store,
    edges: Edges,
    keys: TokenKeys,
    hash_params: HashParams,
    clock: Arc<dyn Clock>,
) -> Services {
    let accounts = store.accounts();
    let ports = Ports {
        users: accounts.clone(),
        sessions: accounts.clone(),
        two_factor: accounts.clone(),
        audit: accounts.clone(),
        profiles: accounts.clone(),
        privacy: accounts.clone(),
        spool: Arc::new(BlobSpool::new(edges.blobs.clone(), edges.scratch_dir)),
        analyzer: Arc::new(SymphoniaAnalyzer),
        blobs: edges.blobs,
        jobs: accounts.clone(),
        tracks: accounts.clone(),
        uploads: accounts.clone(),
        credentials: accounts.clone(),
        mail_outbox: accounts.clone(),
        mailer: edges.mailer,
        scanner: edges.scanner,
        stream: edges.stream,
        health: accounts,
        rate_limiter: Arc::new(MemoryRateLimiter::new()),
        clock,
        ids: Arc::new(UuidV7Ids),
    };
    let mut config = AuthConfig::new(keys);
    config.hash_params = hash_params;
    config.mail = edges.mail;
    Services::new(ports, config, edges.tracks)
}

/// The background job runner with every job kind this build handles registered. Domains add
/// their handlers here as they gain background work.
pub fn job_runner(services: &Services) -> JobRunner {
    job_runner_with_clock(services, Arc::new(SystemClock))
}

/// As `job_runner`, on `clock` (tests step a `ManualClock` past retry backoffs).
pub fn job_runner_with_clock(services: &Services, clock: Arc<dyn Clock>) -> JobRunner {
    let mut runner = JobRunner::new(services.jobs.clone(), clock, RunnerConfig::default());
    runner.register(PROCESS_JOB, Arc::new(services.tracks.processor()));
    runner.register(NOTIFY_STREAM_JOB, Arc::new(services.tracks.stream_notification()));
    runner.register(DELETE_BLOBS_JOB, Arc::new(services.tracks.blob_remover()));
    runner.register(DISCARD_UNCLAIMED_JOB, Arc::new(services.tracks.blob_remover()));
    runner.register(EXPIRE_JOB, Arc::new(services.uploads.expirer()));
    runner
}

/// Everything `veza serve` needs once it has bound its address: data directory, database
/// (migrated), blob directory, secrets (the JWT key, the internal token), mail transport,
/// virus scanner, stream notifier, services. Links in
/// mails start with `settings.public_url`, else `http://` + `settings.listen`.
///
/// # Errors
/// A one-line message naming what failed.
pub async fn prepare(settings: &Settings, hash_params: HashParams) -> Result<Services, String> {
    prepare_with_clock(settings, hash_params, Arc::new(SystemClock)).await
}

/// As `prepare`, on `clock`.
///
/// # Errors
/// A one-line message naming what failed.
pub async fn prepare_with_clock(
    settings: &Settings,
    hash_params: HashParams,
    clock: Arc<dyn Clock>,
) -> Result<Services, String> {
    secrets::create_private_dir(&settings.data_dir).map_err(|e| {
        format!("cannot create data directory {}: {e}", settings.data_dir.display())
    })?;
    let store = Store::open(settings).await?;
    let applied = store.migrate().await?;
    if applied > 0 {
        tracing::info!(applied, backend = settings.database.backend(), "database migrated");
    }
    let keys = token_keys(settings)?;
    let transport = MailTransport::open(settings)?;
    tracing::info!(mail = %transport.describe(), "mail transport");
    let public_url =
        settings.public_url.clone().unwrap_or_else(|| format!("http://{}", settings.listen));
    let internal_token = internal_token(settings)?;
    let stream = stream_notifier(settings, &public_url, &internal_token)?;
    tracing::info!(stream = %stream.describe(), "stream server");
    let mail = MailConfig { public_url, ..MailConfig::default() };
    let blobs = open_blobs(settings)?;
    tracing::info!(blobs = blobs.description(), "blob store");
    let scanner = scanner(settings)?;
    tracing::info!(scanner = scanner.name(), "virus scanner");
    let edges = Edges {
        blobs: Arc::new(blobs),
        scratch_dir: settings.data_dir.join("tmp"),
        mailer: transport.mailer(),
        scanner,
        stream,
        mail,
        tracks: TracksConfig {
            max_upload_bytes: settings.max_upload_bytes,
            internal_token: Some(internal_token),
        },
    };
    Ok(services_with_clock(&store, edges, keys, hash_params, clock))
}
