//! `veza`: serve the API, migrate the database, check dependencies, administer accounts,
//! import tracks.

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use time::format_description::well_known::Rfc3339;
use veza_cli::import;
use veza_cli::settings::{ConfigArgs, LogFormat, Settings};
use veza_cli::wiring::{self, MailTransport, Store};
use veza_core::audit::{Actor, AuditFilter};
use veza_core::auth::{AuthError, HashParams};
use veza_core::jobs::JobStatus;
use veza_core::pagination::PageRequest;
use veza_core::users::{CreateUser, Role, User};
use veza_server::ServerConfig;

const ENVIRONMENT_HELP: &str = "\
Mail: VEZA_SMTP_URL and VEZA_MAIL_FROM (flags --smtp-url, --mail-from); links in mails start
with VEZA_PUBLIC_URL.

Virus scanning: VEZA_CLAMD_URL (flag --clamd-url), tcp://host:port or unix:/path of a clamd;
unset, uploads are not scanned.

Stream server: VEZA_STREAM_SERVER_URL (flag --stream-server-url) is POSTed a JSON notice, with
Authorization: Bearer <internal token>, when a track is ready for HLS packaging (retried with
backoff until it answers 2xx); it reports back on VEZA_PUBLIC_URL/api/v1/internal/tracks/{id}/
stream-ready with the same token. Unset, nothing is sent.

Secrets (environment only, never flags):
  VEZA_JWT_SECRET        HS256 key of access tokens (at least 32 bytes) [default: generated into DATA_DIR/secrets]
  VEZA_JWT_SECRET_FILE   read that key from a file
  VEZA_CHAT_JWT_SECRET   key of chat tokens [default: derived from the JWT secret]
  VEZA_INTERNAL_TOKEN    bearer token shared with the stream server (at least 32 bytes) [default: generated into DATA_DIR/secrets/internal_token]
  VEZA_INTERNAL_TOKEN_FILE  read that token from a file

Precedence: flags, then VEZA_* variables, then veza.toml, then defaults.";

#[derive(Debug, Parser)]
#[command(name = "veza", version, about = "Veza: the backend of a collaborative audio platform")]
#[command(after_help = ENVIRONMENT_HELP)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    /// Machine-readable output
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the REST API (migrates the database first)
    #[command(after_help = ENVIRONMENT_HELP)]
    Serve,
    /// Apply pending database migrations (idempotent)
    Migrate,
    /// Check every configured dependency; exit code 1 if one fails
    Doctor,
    /// Administer accounts
    #[command(subcommand)]
    User(UserCommand),
    /// Import audio files as tracks
    #[command(subcommand)]
    Track(TrackCommand),
    /// Inspect and retry background jobs
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Read the audit log of security events, newest first
    Audit {
        /// Only events about this account (id, username or e-mail)
        #[arg(long)]
        user: Option<String>,
        /// Only this event, e.g. auth.login_failed
        #[arg(long)]
        action: Option<String>,
        /// How many events (1–100)
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

#[derive(Debug, Subcommand)]
enum TrackCommand {
    /// Import files, or every file under directories, as public tracks of one account, each
    /// through the upload checks (format by bytes, size limit, virus scan); a serving
    /// instance's workers then analyse them. Exit code 1 if any file failed.
    Import {
        /// Audio files or directories (walked recursively)
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<std::path::PathBuf>,
        /// The account the tracks belong to: id or username
        #[arg(long, value_name = "USER")]
        owner: String,
    },
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// Jobs, newest first
    List {
        /// queued, running, done or dead
        #[arg(long)]
        status: Option<String>,
        /// How many jobs (1–100)
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Queue a dead job again with fresh attempts
    Retry { id: uuid::Uuid },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account (the way to make the first admin)
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        username: String,
        /// listener, creator, moderator or admin
        #[arg(long, default_value = "listener")]
        role: String,
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from the first line of standard input instead of prompting
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change an account's role (USER: id, username or e-mail)
    SetRole { user: String, role: String },
    /// Suspend an account: it cannot log in and its tokens stop working at once
    Suspend { user: String },
    /// Lift a suspension
    Unsuspend { user: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::resolve(&cli.config) {
        Ok(settings) => settings,
        Err(message) => return fail(&message),
    };
    // Serving logs its life; one-shot commands only warn, so their output stays readable.
    let default_level = if matches!(cli.command, Command::Serve) { "info" } else { "warn" };
    // Held to the end of `main`: dropping it flushes the lines still queued.
    let _log_writer = init_logging(settings.log_format, default_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => return fail(&format!("cannot start the runtime: {err}")),
    };
    match runtime.block_on(run(cli.command, &settings, cli.json)) {
        Ok(code) => code,
        Err(message) => fail(&message),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("veza: {message}");
    ExitCode::FAILURE
}

/// Logs go to stderr: stdout carries the `listening on` line and command output. A writer
/// thread does the writing (one `write` per line, off the request path: under load a server
/// logs a line per request); it never drops a line, and applies back-pressure instead when
/// 128k lines are queued.
fn init_logging(
    format: Option<LogFormat>,
    default_level: &str,
) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{default_level},sqlx=warn"))
    });
    let json = match format {
        Some(format) => format == LogFormat::Json,
        None => !std::io::stderr().is_terminal(),
    };
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("veza-log")
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    if json {
        // The current span (the request: method, path, request id) once, not again as a
        // one-element span list: half the serialising of every request's line.
        builder.json().flatten_event(true).with_span_list(false).init();
    } else {
        builder.init();
    }
    guard
}

async fn run(command: Command, settings: &Settings, json: bool) -> Result<ExitCode, String> {
    match command {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            let store = Store::open(settings).await?;
            let applied = store.migrate().await?;
            print(json, json!({"applied": applied}), &format!("applied {applied} migration(s)"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor => doctor(settings, json).await,
        Command::User(command) => user(command, settings, json).await,
        Command::Audit { user, action, limit } => audit(settings, user, action, limit, json).await,
        Command::Jobs(command) => jobs(settings, command, json).await,
        Command::Track(TrackCommand::Import { paths, owner }) => {
            track_import(settings, &paths, &owner, json).await
        }
    }
}

async fn serve(settings: &Settings) -> Result<ExitCode, String> {
    // Bound first: with port 0 only the bound address says what links in mails must be.
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", settings.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut settings = settings.clone();
    settings.public_url.get_or_insert_with(|| format!("http://{addr}"));
    let settings = &settings;
    let services = wiring::prepare(settings, HashParams::OWASP).await?;
    let cors_origins = settings
        .cors_origins
        .iter()
        .map(|o| o.parse().map_err(|_| format!("VEZA_CORS_ORIGINS: {o:?} is not a valid origin")))
        .collect::<Result<_, _>>()?;
    // Browsers drop `Secure` cookies over plain HTTP, so only mark them when served over HTTPS.
    let secure_cookies =
        settings.public_url.as_deref().is_some_and(|url| url.starts_with("https://"));
    let config = ServerConfig {
        cors_origins,
        secure_cookies,
        public_url: settings.public_url.clone(),
        ..ServerConfig::default()
    };
    let relay = services.mail.start();
    let (stop_workers, shutdown) = tokio::sync::watch::channel(false);
    let workers = (settings.workers > 0).then(|| {
        let runner = std::sync::Arc::new(wiring::job_runner(&services));
        tokio::spawn(runner.run(settings.workers, shutdown))
    });
    let app = veza_server::app(services, &config);
    tracing::info!(%addr, backend = settings.database.backend(), data_dir = %settings.data_dir.display(), "serving");
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "listening on http://{addr}");
    let _ = stdout.flush();
    let stopping = async move {
        veza_server::shutdown_signal().await;
        // Workers hand their running jobs back to the queue while requests drain.
        let _ = stop_workers.send(true);
    };
    let served = veza_server::serve(listener, app, stopping).await;
    relay.stop().await;
    if let Some(workers) = workers {
        let _ = workers.await;
    }
    served.map_err(|e| format!("server failed: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

async fn doctor(settings: &Settings, json: bool) -> Result<ExitCode, String> {
    let mut checks = Vec::new();
    let database = async {
        let store = Store::open(settings).await?;
        let accounts = store.accounts();
        accounts.ping().await.map_err(|e| format!("does not answer: {e}"))?;
        Ok::<_, String>(accounts.backend())
    }
    .await;
    checks.push(("database", database.map(|backend| format!("{backend} answers"))));
    let data_dir = veza_cli::secrets::create_private_dir(&settings.data_dir)
        .and_then(|()| {
            let probe = settings.data_dir.join(".doctor-probe");
            std::fs::write(&probe, b"ok").and_then(|()| std::fs::remove_file(&probe))
        })
        .map(|()| format!("{} is writable", settings.data_dir.display()))
        .map_err(|e| format!("{} is not writable: {e}", settings.data_dir.display()));
    checks.push(("data_dir", data_dir));
    let mail = match MailTransport::open(settings) {
        Ok(transport) => transport.check().await,
        Err(err) => Err(err),
    };
    checks.push(("mail", mail));
    let blobs = match wiring::open_blobs(settings) {
        Ok(blobs) => match blobs.check().await {
            Ok(()) => Ok(format!("{} answers", blobs.description())),
            Err(err) => Err(format!("{}: {err}", blobs.description())),
        },
        Err(err) => Err(err),
    };
    checks.push(("blobs", blobs));
    checks.push(("scanner", wiring::check_scanner(settings).await));
    checks.push(("stream", wiring::check_stream(settings)));

    let healthy = checks.iter().all(|(_, result)| result.is_ok());
    if json {
        let report: serde_json::Map<_, _> = checks
            .iter()
            .map(|(name, result)| {
                let value = match result {
                    Ok(detail) => json!({"ok": true, "detail": detail}),
                    Err(detail) => json!({"ok": false, "detail": detail}),
                };
                ((*name).to_owned(), value)
            })
            .collect();
        println!("{}", json!({"healthy": healthy, "checks": report}));
    } else {
        for (name, result) in &checks {
            match result {
                Ok(detail) => println!("ok    {name}: {detail}"),
                Err(detail) => println!("FAIL  {name}: {detail}"),
            }
        }
    }
    Ok(if healthy { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn user(command: UserCommand, settings: &Settings, json: bool) -> Result<ExitCode, String> {
    let store = Store::open(settings).await?;
    store.migrate().await?;
    let users = admin_services(&store, settings)?.users;
    let (user, verb) = match command {
        UserCommand::Create { email, username, role, display_name, password_stdin } => {
            let role = parse_role(&role)?;
            let password = read_password(password_stdin)?;
            let cmd = CreateUser { email, username, password, display_name, role };
            (users.create(cmd).await.map_err(describe)?, "created")
        }
        UserCommand::SetRole { user, role } => {
            let role = parse_role(&role)?;
            (users.set_role(&user, role, &Actor::operator()).await.map_err(describe)?, "updated")
        }
        UserCommand::Suspend { user } => {
            let user = users.set_suspended(&user, true, &Actor::operator()).await;
            (user.map_err(describe)?, "suspended")
        }
        UserCommand::Unsuspend { user } => {
            let user = users.set_suspended(&user, false, &Actor::operator()).await;
            (user.map_err(describe)?, "reinstated")
        }
    };
    print(
        json,
        user_json(&user),
        &format!("{verb} {} ({}, {})", user.username.as_str(), user.id, user.role),
    );
    Ok(ExitCode::SUCCESS)
}

async fn audit(
    settings: &Settings,
    user: Option<String>,
    action: Option<String>,
    limit: i64,
    json: bool,
) -> Result<ExitCode, String> {
    let store = Store::open(settings).await?;
    store.migrate().await?;
    let services = admin_services(&store, settings)?;
    let target_id = match user {
        Some(ident) => Some(services.users.find(&ident).await.map_err(describe)?.id),
        None => None,
    };
    let page = PageRequest::parse(Some(limit), None).map_err(|e| format!("--limit: {e}"))?;
    let filter = AuditFilter { actor_id: None, target_id, action };
    let entries = services.audit.list(&filter, page).await.map_err(|e| e.to_string())?.items;
    for e in &entries {
        if json {
            let line = json!({
                "id": e.id, "action": e.action, "actor_id": e.actor_id, "target_id": e.target_id,
                "ip": e.ip, "user_agent": e.user_agent, "detail": e.detail,
                "occurred_at": e.occurred_at.format(&Rfc3339).unwrap_or_default(),
            });
            println!("{line}");
        } else {
            let at = e.occurred_at.format(&Rfc3339).unwrap_or_default();
            let id = |v: Option<uuid::Uuid>| v.map_or_else(|| "-".to_owned(), |id| id.to_string());
            println!(
                "{at}  {:<26} actor={} target={} ip={} {}",
                e.action,
                id(e.actor_id),
                id(e.target_id),
                e.ip.as_deref().unwrap_or("-"),
                e.detail.as_deref().unwrap_or("")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn jobs(settings: &Settings, command: JobsCommand, json: bool) -> Result<ExitCode, String> {
    let store = Store::open(settings).await?;
    store.migrate().await?;
    let jobs = store.accounts();
    match command {
        JobsCommand::List { status, limit } => {
            let status = status
                .map(|s| {
                    JobStatus::parse(&s)
                        .ok_or(format!("unknown status {s:?}: use queued, running, done or dead"))
                })
                .transpose()?;
            let page =
                PageRequest::parse(Some(limit), None).map_err(|e| format!("--limit: {e}"))?;
            let listed = jobs.list_jobs(status, page).await.map_err(|e| e.to_string())?;
            for job in listed.iter().take(page.limit as usize) {
                let run_at = job.run_at.format(&Rfc3339).unwrap_or_default();
                if json {
                    let line = json!({
                        "id": job.id, "kind": job.kind, "status": job.status.as_str(),
                        "attempts": job.attempts, "max_attempts": job.max_attempts,
                        "run_at": run_at, "last_error": job.last_error,
                    });
                    println!("{line}");
                } else {
                    println!(
                        "{}  {:<8} {:<24} attempts {}/{}  run_at {run_at}  {}",
                        job.id,
                        job.status.as_str(),
                        job.kind,
                        job.attempts,
                        job.max_attempts,
                        job.last_error.as_deref().unwrap_or("")
                    );
                }
            }
        }
        JobsCommand::Retry { id } => {
            let now = veza_core::clock::Clock::now(&veza_core::clock::SystemClock);
            if !jobs.retry_job(id, now).await.map_err(|e| e.to_string())? {
                return Err(format!("job {id} is not dead (or does not exist)"));
            }
            print(json, json!({"retried": id}), &format!("job {id} queued again"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn track_import(
    settings: &Settings,
    paths: &[std::path::PathBuf],
    owner: &str,
    json: bool,
) -> Result<ExitCode, String> {
    let store = Store::open(settings).await?;
    store.migrate().await?;
    let services = admin_services(&store, settings)?;
    let owner = match services.users.find(owner).await {
        Ok(user) => user,
        Err(AuthError::UserNotFound) => return Err(format!("--owner {owner:?}: no such user")),
        Err(other) => return Err(describe(other)),
    };
    let files = import::collect_files(paths)?;
    // On stderr, and only for a person watching: scripts read stdout.
    let bar = if json || !std::io::stdout().is_terminal() {
        ProgressBar::hidden()
    } else {
        let bar =
            ProgressBar::with_draw_target(Some(files.len() as u64), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{bar:40} {pos}/{len} {wide_msg}")
            .map_err(|e| e.to_string())?;
        bar.set_style(style);
        bar
    };
    let mut outcomes = Vec::with_capacity(files.len());
    for file in files {
        bar.set_message(file.display().to_string());
        let outcome = import::import_file(&services.tracks, owner.id, &file).await;
        bar.inc(1);
        outcomes.push((file, outcome));
    }
    bar.finish_and_clear();

    let count = |label: &str| outcomes.iter().filter(|(_, o)| o.label() == label).count();
    let (imported, skipped, failed) = (count("imported"), count("skipped"), count("failed"));
    if json {
        let files: Vec<_> = outcomes
            .iter()
            .map(|(path, outcome)| {
                let mut entry =
                    json!({"path": path.display().to_string(), "outcome": outcome.label()});
                match outcome {
                    import::Outcome::Imported { track_id } => entry["track_id"] = json!(track_id),
                    import::Outcome::Skipped { reason } | import::Outcome::Failed { reason } => {
                        entry["reason"] = json!(reason);
                    }
                }
                entry
            })
            .collect();
        let summary = json!({
            "owner": {"id": owner.id, "username": owner.username.as_str()},
            "imported": imported, "skipped": skipped, "failed": failed, "files": files,
        });
        println!("{summary}");
    } else {
        for (path, outcome) in &outcomes {
            match outcome {
                import::Outcome::Imported { track_id } => {
                    println!("imported  {}  -> track {track_id}", path.display());
                }
                import::Outcome::Skipped { reason } | import::Outcome::Failed { reason } => {
                    println!("{:<8}  {}: {reason}", outcome.label(), path.display());
                }
            }
        }
        println!(
            "imported {imported}, skipped {skipped}, failed {failed} (owner {})",
            owner.username.as_str()
        );
    }
    if failed > 0 {
        return Err(format!("{failed} file(s) failed to import"));
    }
    Ok(ExitCode::SUCCESS)
}

/// Services for one-shot admin commands. They never sign anyone in, so a throwaway signing
/// key avoids generating the deployment's secret from an admin shell.
fn admin_services(store: &Store, settings: &Settings) -> Result<veza_core::Services, String> {
    let keys = veza_core::auth::TokenKeys::new(
        veza_core::auth::AuthService::generate_secret().as_bytes(),
        None,
        wiring::TOKEN_ISSUER,
    );
    let edges = wiring::Edges {
        blobs: std::sync::Arc::new(wiring::open_blobs(settings)?),
        scratch_dir: settings.data_dir.join("tmp"),
        mailer: MailTransport::open(settings)?.mailer(),
        scanner: wiring::scanner(settings)?,
        // Admin commands announce nothing and answer no callback: a track they create is
        // announced when a server's worker has processed it.
        stream: std::sync::Arc::new(veza_core::stream::NoNotifier),
        mail: Default::default(),
        tracks: veza_core::tracks::TracksConfig {
            max_upload_bytes: settings.max_upload_bytes,
            internal_token: None,
        },
    };
    Ok(wiring::services(store, edges, keys, HashParams::OWASP))
}

fn parse_role(role: &str) -> Result<Role, String> {
    role.parse::<Role>().map_err(|e| e.message)
}

fn read_password(from_stdin: bool) -> Result<String, String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password: {e}"))?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let password = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
    let again = rpassword::prompt_password("Again: ").map_err(|e| e.to_string())?;
    if password != again {
        return Err("the passwords differ".into());
    }
    Ok(password)
}

fn describe(err: AuthError) -> String {
    match err {
        AuthError::Invalid(errors) => {
            errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        }
        AuthError::WeakPassword(reason) => format!("password {reason}"),
        AuthError::UserNotFound => "no such user".into(),
        other => other.to_string(),
    }
}

fn user_json(user: &User) -> serde_json::Value {
    json!({
        "id": user.id,
        "username": user.username.as_str(),
        "email": user.email.as_str(),
        "role": user.role.as_str(),
        "suspended": user.is_suspended(),
    })
}

fn print(json: bool, value: serde_json::Value, human: &str) {
    if json {
        println!("{value}");
    } else {
        println!("{human}");
    }
}
