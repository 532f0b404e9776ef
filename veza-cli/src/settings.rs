//! Configuration: `veza.toml` (optional), overridden by `VEZA_*` environment variables,
//! overridden by flags. Unset means the embedded default: SQLite and files under
//! `./veza-data`. Secrets come from the environment or files, never from flags (flags show
//! in `ps`), and `Debug` never prints them: S3 credentials are read from the standard
//! `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` only.

use clap::{Args, ValueEnum};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use veza_adapters::s3_blobs::{DEFAULT_REGION, S3Config};
use veza_core::stream::InternalToken;
use veza_core::tracks::TracksConfig;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "veza-data";
pub const CONFIG_FILE: &str = "veza.toml";
pub const DEFAULT_WORKERS: usize = 2;

/// Options every command takes. Each also reads its `VEZA_*` variable.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArgs {
    /// Configuration file [default: ./veza.toml when it exists]
    #[arg(long, global = true, env = "VEZA_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Address to serve on; port 0 picks a free one [default: 127.0.0.1:8080]
    #[arg(long, global = true, env = "VEZA_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Embedded database, blobs, outbox and generated secrets [default: ./veza-data]
    #[arg(long, global = true, env = "VEZA_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// `sqlite://PATH` or `postgres://…` [default: SQLite in the data directory]
    #[arg(
        long,
        global = true,
        env = "VEZA_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Base of absolute URLs in responses and mails [default: http:// + the listen address]
    #[arg(long, global = true, env = "VEZA_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// `smtp://host:port` (add `?tls=required` for STARTTLS), or `smtps://host:port`; `user:password@` authenticates [default: mail is written to DATA_DIR/outbox/ as .eml files]
    #[arg(long, global = true, env = "VEZA_SMTP_URL", value_name = "URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender of every mail, `Name <address>` [default: Veza <no-reply@localhost>]
    #[arg(long, global = true, env = "VEZA_MAIL_FROM", value_name = "MAILBOX")]
    pub mail_from: Option<String>,
    /// Comma-separated origins allowed by CORS [default: none]
    #[arg(long, global = true, env = "VEZA_CORS_ORIGINS", value_name = "ORIGINS")]
    pub cors_origins: Option<String>,
    /// `json` or `pretty` [default: pretty on a terminal, else json]
    #[arg(long, global = true, env = "VEZA_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Background job workers in this process; 0 for API-only instances [default: 2]
    #[arg(long, global = true, env = "VEZA_WORKERS", value_name = "N")]
    pub workers: Option<usize>,
    /// Where blobs live: `file://DIR`, or `s3://BUCKET` with credentials from `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` [default: DATA_DIR/blobs]
    #[arg(long, global = true, env = "VEZA_BLOB_URL", value_name = "URL")]
    pub blob_url: Option<String>,
    /// Endpoint of an S3-compatible server for `s3://` blobs, e.g. `http://127.0.0.1:9100` [default: AWS]
    #[arg(long, global = true, env = "VEZA_S3_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// Region of the S3 bucket [default: us-east-1]
    #[arg(long, global = true, env = "VEZA_S3_REGION", value_name = "REGION")]
    pub s3_region: Option<String>,
    /// ClamAV daemon every upload is scanned by: `tcp://host:port` or `unix:/path` [default: none, uploads are not scanned]
    #[arg(long, global = true, env = "VEZA_CLAMD_URL", value_name = "URL")]
    pub clamd_url: Option<String>,
    /// Largest audio file accepted by an upload, in bytes [default: 524288000 (500 MiB)]
    #[arg(long, global = true, env = "VEZA_MAX_UPLOAD_BYTES", value_name = "BYTES")]
    pub max_upload_bytes: Option<u64>,
    /// Stream server told (JSON POST, retried until it answers 2xx) when a track is ready for HLS packaging; it reports back on VEZA_PUBLIC_URL/api/v1/internal/tracks/{id}/stream-ready with VEZA_INTERNAL_TOKEN [default: none, not notified]
    #[arg(
        long,
        global = true,
        env = "VEZA_STREAM_SERVER_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub stream_server_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// `veza.toml`: the same settings as the flags, under their long names with `_`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    public_url: Option<String>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    cors_origins: Option<Vec<String>>,
    log_format: Option<LogFormat>,
    workers: Option<usize>,
    jwt_secret_file: Option<PathBuf>,
    blob_url: Option<String>,
    s3_endpoint: Option<String>,
    s3_region: Option<String>,
    clamd_url: Option<String>,
    max_upload_bytes: Option<u64>,
    stream_server_url: Option<String>,
    internal_token_file: Option<PathBuf>,
}

#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(String),
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "Sqlite({})", path.display()),
            // The URL may hold a password.
            Database::Postgres(_) => f.write_str("Postgres(..)"),
        }
    }
}

impl Database {
    /// # Errors
    /// For a scheme other than `sqlite:` or `postgres(ql):`.
    pub fn parse(url: &str) -> Result<Self, String> {
        if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            if path.is_empty() {
                return Err("VEZA_DATABASE_URL sqlite:// needs a file path".into());
            }
            return Ok(Database::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Database::Postgres(url.to_owned()));
        }
        Err("VEZA_DATABASE_URL must start with sqlite:// or postgres://".into())
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "sqlite",
            Database::Postgres(_) => "postgres",
        }
    }
}

/// Where blobs live. `S3Config`'s `Debug` hides its secret key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobStorage {
    /// Files under this directory.
    Files(PathBuf),
    S3(S3Config),
}

/// The blob settings before the environment's credentials are read.
#[derive(Debug, Default)]
pub struct BlobArgs<'a> {
    pub url: Option<&'a str>,
    pub s3_endpoint: Option<&'a str>,
    pub s3_region: Option<&'a str>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

impl BlobStorage {
    /// `file://DIR`, `s3://BUCKET`, or unset for `DATA_DIR/blobs`.
    ///
    /// # Errors
    /// A message naming the bad setting.
    pub fn parse(args: BlobArgs<'_>, data_dir: &Path) -> Result<Self, String> {
        let Some(url) = args.url else {
            if args.s3_endpoint.is_some() {
                return Err("VEZA_S3_ENDPOINT is set but VEZA_BLOB_URL is not s3://BUCKET".into());
            }
            return Ok(BlobStorage::Files(data_dir.join("blobs")));
        };
        if let Some(dir) = url.strip_prefix("file://") {
            if dir.is_empty() {
                return Err("VEZA_BLOB_URL file:// needs a directory".into());
            }
            if args.s3_endpoint.is_some() {
                return Err("VEZA_S3_ENDPOINT is set but VEZA_BLOB_URL is not s3://BUCKET".into());
            }
            return Ok(BlobStorage::Files(PathBuf::from(dir)));
        }
        let Some(bucket) = url.strip_prefix("s3://") else {
            return Err("VEZA_BLOB_URL must start with file:// or s3://".into());
        };
        let bucket = bucket.strip_suffix('/').unwrap_or(bucket);
        if bucket.is_empty() || bucket.contains('/') {
            return Err(format!("VEZA_BLOB_URL {url:?}: name a bucket only, s3://BUCKET"));
        }
        if let Some(endpoint) = args.s3_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(format!(
                "VEZA_S3_ENDPOINT {endpoint:?} must start with http:// or https://"
            ));
        }
        let (Some(access_key_id), Some(secret_access_key)) =
            (args.access_key_id, args.secret_access_key)
        else {
            return Err(
                "VEZA_BLOB_URL=s3://… needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into()
            );
        };
        Ok(BlobStorage::S3(S3Config {
            bucket: bucket.to_owned(),
            endpoint: args.s3_endpoint.map(|e| e.trim_end_matches('/').to_owned()),
            region: args.s3_region.unwrap_or(DEFAULT_REGION).to_owned(),
            access_key_id,
            secret_access_key,
        }))
    }
}

/// A secret value; `Debug` prints its length only.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// Everything resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub data_dir: PathBuf,
    pub database: Database,
    /// `None`: `http://` + the address `serve` listens on.
    pub public_url: Option<String>,
    /// `None`: mail goes to `DATA_DIR/outbox/`. May hold a password, hence a `Secret`.
    pub smtp_url: Option<Secret>,
    /// `None`: `Veza <no-reply@localhost>`.
    pub mail_from: Option<String>,
    pub cors_origins: Vec<String>,
    pub log_format: Option<LogFormat>,
    pub workers: usize,
    /// `None`: generated and kept in the data directory.
    pub jwt_secret: Option<Secret>,
    /// `None`: derived from the JWT secret.
    pub chat_jwt_secret: Option<Secret>,
    pub blobs: BlobStorage,
    /// `None`: no virus scanning (`NoScanner`).
    pub clamd_url: Option<String>,
    pub max_upload_bytes: u64,
    /// `None`: the stream server is not notified. May hold credentials, hence a `Secret`.
    pub stream_server_url: Option<Secret>,
    /// Shared with the stream server; `None`: generated and kept in the data directory.
    pub internal_token: Option<Secret>,
}

impl Settings {
    /// Resolves flags and environment (already merged by clap) over the config file over
    /// the defaults. Secrets come from `VEZA_JWT_SECRET`, `VEZA_JWT_SECRET_FILE` (or the
    /// file's `jwt_secret_file`), `VEZA_CHAT_JWT_SECRET`, and `VEZA_INTERNAL_TOKEN` or
    /// `VEZA_INTERNAL_TOKEN_FILE` (or the file's `internal_token_file`).
    ///
    /// # Errors
    /// A message naming the bad setting.
    pub fn resolve(args: &ConfigArgs) -> Result<Self, String> {
        let file = load_file(args.config.as_deref())?;
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let database = match args.database_url.clone().or(file.database_url) {
            Some(url) => Database::parse(&url)?,
            None => Database::Sqlite(data_dir.join("veza.db")),
        };
        let cors_origins = match (&args.cors_origins, file.cors_origins) {
            (Some(list), _) => list.split(',').map(str::trim).map(str::to_owned).collect(),
            (None, Some(list)) => list,
            (None, None) => Vec::new(),
        };
        let secret_file = env("VEZA_JWT_SECRET_FILE").map(PathBuf::from).or(file.jwt_secret_file);
        let jwt_secret = match (env("VEZA_JWT_SECRET"), secret_file) {
            (Some(secret), _) => Some(secret),
            (None, Some(path)) => Some(
                std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read JWT secret file {}: {e}", path.display()))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        if jwt_secret.as_ref().is_some_and(|s| s.len() < 32) {
            return Err("the JWT secret must be at least 32 bytes".into());
        }
        let blob_url = args.blob_url.clone().or(file.blob_url).filter(|u| !u.is_empty());
        let s3_endpoint = args.s3_endpoint.clone().or(file.s3_endpoint).filter(|e| !e.is_empty());
        let s3_region = args.s3_region.clone().or(file.s3_region).filter(|r| !r.is_empty());
        let blob_args = BlobArgs {
            url: blob_url.as_deref(),
            s3_endpoint: s3_endpoint.as_deref(),
            s3_region: s3_region.as_deref(),
            access_key_id: env("AWS_ACCESS_KEY_ID"),
            secret_access_key: env("AWS_SECRET_ACCESS_KEY"),
        };
        let blobs = BlobStorage::parse(blob_args, &data_dir)?;
        let max_upload_bytes = args
            .max_upload_bytes
            .or(file.max_upload_bytes)
            .unwrap_or(TracksConfig::DEFAULT_MAX_UPLOAD_BYTES);
        if max_upload_bytes == 0 {
            return Err("VEZA_MAX_UPLOAD_BYTES must be at least 1".into());
        }
        let token_file =
            env("VEZA_INTERNAL_TOKEN_FILE").map(PathBuf::from).or(file.internal_token_file);
        let internal_token = match (env("VEZA_INTERNAL_TOKEN"), token_file) {
            (Some(token), _) => Some(token),
            (None, Some(path)) => Some(
                std::fs::read_to_string(&path)
                    .map_err(|e| {
                        format!("cannot read internal token file {}: {e}", path.display())
                    })?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        if let Some(token) = &internal_token {
            InternalToken::new(token.as_str()).map_err(|e| format!("VEZA_INTERNAL_TOKEN: {e}"))?;
        }
        let stream_server_url =
            args.stream_server_url.clone().or(file.stream_server_url).filter(|u| !u.is_empty());
        if let Some(url) = &stream_server_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            // Not quoted back: the URL may carry credentials.
            return Err("VEZA_STREAM_SERVER_URL must start with http:// or https://".into());
        }
        let public_url = args.public_url.clone().or(file.public_url);
        if let Some(url) = &public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(format!("VEZA_PUBLIC_URL {url:?} must start with http:// or https://"));
        }
        Ok(Self {
            listen: args.listen.clone().or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.into()),
            data_dir,
            database,
            public_url: public_url.map(|url| url.trim_end_matches('/').to_owned()),
            smtp_url: args.smtp_url.clone().or(file.smtp_url).filter(|u| !u.is_empty()).map(Secret),
            mail_from: args.mail_from.clone().or(file.mail_from).filter(|f| !f.is_empty()),
            cors_origins: cors_origins.into_iter().filter(|o| !o.is_empty()).collect(),
            log_format: args.log_format.or(file.log_format),
            workers: args.workers.or(file.workers).unwrap_or(DEFAULT_WORKERS),
            jwt_secret: jwt_secret.map(Secret),
            chat_jwt_secret: env("VEZA_CHAT_JWT_SECRET").map(Secret),
            blobs,
            clamd_url: args.clamd_url.clone().or(file.clamd_url).filter(|u| !u.is_empty()),
            max_upload_bytes,
            stream_server_url: stream_server_url.map(Secret),
            internal_token: internal_token.map(Secret),
        })
    }
}

fn load_file(explicit: Option<&Path>) -> Result<FileConfig, String> {
    let path = match explicit {
        Some(path) => path.to_path_buf(),
        None if Path::new(CONFIG_FILE).exists() => PathBuf::from(CONFIG_FILE),
        None => return Ok(FileConfig::default()),
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_pick_the_backend() {
        assert_eq!(
            Database::parse("sqlite://data/v.db").unwrap(),
            Database::Sqlite("data/v.db".into())
        );
        assert_eq!(Database::parse("sqlite:///tmp/v.db").unwrap().backend(), "sqlite");
        assert_eq!(Database::parse("postgres://u@h/db").unwrap().backend(), "postgres");
        assert!(Database::parse("mysql://h/db").is_err());
        assert!(Database::parse("sqlite://").is_err());
    }

    #[test]
    fn flags_win_over_the_file_which_wins_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("veza.toml");
        std::fs::write(
            &config,
            "listen = \"127.0.0.1:9999\"\ndata_dir = \"/srv/veza\"\ncors_origins = [\"https://a.example\"]\n",
        )
        .unwrap();
        let args = ConfigArgs {
            config: Some(config),
            listen: Some("127.0.0.1:0".into()),
            ..ConfigArgs::default()
        };
        let settings = Settings::resolve(&args).unwrap();
        assert_eq!(settings.listen, "127.0.0.1:0");
        assert_eq!(settings.data_dir, PathBuf::from("/srv/veza"));
        assert_eq!(settings.database, Database::Sqlite("/srv/veza/veza.db".into()));
        assert_eq!(settings.cors_origins, ["https://a.example"]);
    }

    #[test]
    fn an_unknown_key_in_the_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("veza.toml");
        std::fs::write(&config, "lisen = \"x\"\n").unwrap();
        let args = ConfigArgs { config: Some(config), ..ConfigArgs::default() };
        let err = Settings::resolve(&args).unwrap_err();
        assert!(err.contains("lisen"), "{err}");
    }

    #[test]
    fn mail_settings_come_from_the_file_and_the_public_url_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("veza.toml");
        std::fs::write(
            &config,
            "smtp_url = \"smtp://u:pw@mx.example:587\"\nmail_from = \"Veza <hi@veza.example>\"\n\
             public_url = \"https://veza.example/\"\n",
        )
        .unwrap();
        let args = ConfigArgs { config: Some(config), ..ConfigArgs::default() };
        let settings = Settings::resolve(&args).unwrap();
        assert_eq!(settings.smtp_url, Some(Secret("smtp://u:pw@mx.example:587".into())));
        assert_eq!(settings.mail_from.as_deref(), Some("Veza <hi@veza.example>"));
        assert_eq!(settings.public_url.as_deref(), Some("https://veza.example"), "no trailing /");
        assert!(!format!("{settings:?}").contains("pw@"), "the SMTP password stays hidden");

        let args = ConfigArgs { public_url: Some("veza.example".into()), ..ConfigArgs::default() };
        assert!(Settings::resolve(&args).unwrap_err().contains("VEZA_PUBLIC_URL"));
    }

    #[test]
    fn blob_urls_pick_files_or_a_bucket() {
        let data_dir = Path::new("/srv/veza");
        let parse = |args: BlobArgs<'_>| BlobStorage::parse(args, data_dir);
        assert_eq!(
            parse(BlobArgs::default()).unwrap(),
            BlobStorage::Files("/srv/veza/blobs".into()),
            "unset: files in the data directory"
        );
        assert_eq!(
            parse(BlobArgs { url: Some("file:///mnt/blobs"), ..BlobArgs::default() }).unwrap(),
            BlobStorage::Files("/mnt/blobs".into())
        );
        let s3 = |url, endpoint| BlobArgs {
            url: Some(url),
            s3_endpoint: endpoint,
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key: Some("hunter2-hunter2".into()),
            ..BlobArgs::default()
        };
        let BlobStorage::S3(config) =
            parse(s3("s3://veza", Some("http://127.0.0.1:9100/"))).unwrap()
        else {
            panic!("an s3:// URL names a bucket");
        };
        assert_eq!(config.bucket, "veza");
        assert_eq!(config.endpoint.as_deref(), Some("http://127.0.0.1:9100"));
        assert_eq!(config.region, "us-east-1");
        assert!(!format!("{config:?}").contains("hunter2"), "the secret key stays hidden");

        for (args, complaint) in [
            (s3("s3://", None), "bucket"),
            (s3("s3://veza/tracks", None), "bucket only"),
            (s3("s3://veza", Some("127.0.0.1:9100")), "VEZA_S3_ENDPOINT"),
            (s3("gs://veza", None), "file:// or s3://"),
            (BlobArgs { url: Some("s3://veza"), ..BlobArgs::default() }, "AWS_SECRET_ACCESS_KEY"),
            (BlobArgs { s3_endpoint: Some("http://h:9"), ..BlobArgs::default() }, "not s3://"),
            (BlobArgs { url: Some("file://"), ..BlobArgs::default() }, "directory"),
        ] {
            let err = parse(args).unwrap_err();
            assert!(err.contains(complaint), "{err}");
        }
    }

    #[test]
    fn blob_settings_come_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("veza.toml");
        std::fs::write(&config, "blob_url = \"file:///mnt/veza-blobs\"\n").unwrap();
        let args = ConfigArgs { config: Some(config), ..ConfigArgs::default() };
        let settings = Settings::resolve(&args).unwrap();
        assert_eq!(settings.blobs, BlobStorage::Files("/mnt/veza-blobs".into()));
    }

    #[test]
    fn the_clamd_url_comes_from_the_file_unless_a_flag_names_one() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("veza.toml");
        std::fs::write(&config, "clamd_url = \"unix:/run/clamav/clamd.ctl\"\n").unwrap();
        let args = ConfigArgs { config: Some(config.clone()), ..ConfigArgs::default() };
        let settings = Settings::resolve(&args).unwrap();
        assert_eq!(settings.clamd_url.as_deref(), Some("unix:/run/clamav/clamd.ctl"));
        let args = ConfigArgs {
            config: Some(config),
            clamd_url: Some("tcp://127.0.0.1:3310".into()),
            ..ConfigArgs::default()
        };
        assert_eq!(
            Settings::resolve(&args).unwrap().clamd_url.as_deref(),
            Some("tcp://127.0.0.1:3310")
        );
        assert_eq!(Settings::resolve(&ConfigArgs::default()).unwrap().clamd_url, None);
    }

    #[test]
    fn the_stream_server_and_the_internal_token_come_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("internal_token");
        std::fs::write(&token, "internal-token-from-a-file-of-32-bytes+\n").unwrap();
        let config = dir.path().join("veza.toml");
        std::fs::write(
            &config,
            format!(
                "stream_server_url = \"http://stream.internal:9000/jobs\"\n\
                 internal_token_file = {:?}\n",
                token.display().to_string()
            ),
        )
        .unwrap();
        let args = ConfigArgs { config: Some(config), ..ConfigArgs::default() };
        let settings = Settings::resolve(&args).unwrap();
        let stream_server_url = settings.stream_server_url.as_ref().map(|url| url.0.as_str());
        assert_eq!(stream_server_url, Some("http://stream.internal:9000/jobs"));
        assert_eq!(
            settings.internal_token,
            Some(Secret("internal-token-from-a-file-of-32-bytes+".into()))
        );
        assert!(!format!("{settings:?}").contains("internal-token-from"), "hidden from Debug");

        let unset = Settings::resolve(&ConfigArgs::default()).unwrap();
        assert_eq!((unset.stream_server_url, unset.internal_token), (None, None));
        let args = ConfigArgs {
            stream_server_url: Some("stream.internal:9000".into()),
            ..ConfigArgs::default()
        };
        assert!(Settings::resolve(&args).unwrap_err().contains("VEZA_STREAM_SERVER_URL"));

        std::fs::write(&token, "too short").unwrap();
        let config = dir.path().join("short.toml");
        std::fs::write(
            &config,
            format!("internal_token_file = {:?}\n", token.display().to_string()),
        )
        .unwrap();
        let args = ConfigArgs { config: Some(config), ..ConfigArgs::default() };
        assert!(Settings::resolve(&args).unwrap_err().contains("at least 32 bytes"));
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let shown = format!(
            "{:?} {:?}",
            Secret("hunter2-hunter2-hunter2".into()),
            Database::Postgres("postgres://u:pw@h/db".into())
        );
        assert!(!shown.contains("hunter2") && !shown.contains("pw@"), "{shown}");
    }
}
