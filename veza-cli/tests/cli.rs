//! The `veza` binary as an operator runs it: no configuration, restarts, signals, exit codes.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

const PASSWORD: &str = "correct horse battery staple";

/// `veza` with a clean environment (no `VEZA_*` from the caller) in `dir`.
fn veza(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_veza"));
    command.current_dir(dir).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

struct Served {
    child: Child,
    base: String,
}

impl Served {
    fn start(dir: &Path) -> Self {
        Self::start_with(dir, &[], None)
    }

    /// With `log_lines`, stderr (JSON logs) goes to that channel line by line.
    fn start_with(
        dir: &Path,
        env: &[(&str, &str)],
        log_lines: Option<std::sync::mpsc::Sender<String>>,
    ) -> Self {
        let stderr = if log_lines.is_some() { Stdio::piped() } else { Stdio::null() };
        let mut child = veza(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("veza serve starts");
        if let Some(lines) = log_lines {
            let stderr = BufReader::new(child.stderr.take().unwrap());
            std::thread::spawn(move || {
                for line in stderr.lines().map_while(Result::ok) {
                    let _ = lines.send(line);
                }
            });
        }
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first stdout line was {line:?}"))
            .to_owned();
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        Self { child, base }
    }

    /// SIGTERM, then the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        assert!(status.unwrap().success());
        self.child.wait().unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn post(base: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let response =
        reqwest::Client::new().post(format!("{base}{path}")).json(&body).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn me(base: &str, access: &str) -> StatusCode {
    let client = reqwest::Client::new();
    client.get(format!("{base}/api/v1/auth/me")).bearer_auth(access).send().await.unwrap().status()
}

fn run(command: &mut Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout_json(output: &Output) -> Value {
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn serve_with_no_configuration_makes_its_data_dir_and_private_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(dir.path());
    let health = reqwest::get(format!("{}/healthz", served.base)).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert!(dir.path().join("veza-data/veza.db").is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let secret = std::fs::metadata(dir.path().join("veza-data/secrets/jwt_secret")).unwrap();
        assert_eq!(secret.permissions().mode() & 0o777, 0o600);
    }
    assert!(served.stop().success(), "SIGTERM is a clean exit");
}

#[tokio::test]
async fn restarting_on_the_same_data_dir_keeps_accounts_and_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(dir.path());
    let register = json!({"email": "keep@example.com", "username": "keeper", "password": PASSWORD});
    let (status, body) = post(&served.base, "/api/v1/auth/register", register).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(served.stop().success());

    let served = Served::start(dir.path());
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(me(&served.base, access).await, StatusCode::OK, "same key, same session");
    let refresh = json!({"refresh_token": body["refresh_token"]});
    let (status, _) = post(&served.base, "/api/v1/auth/refresh", refresh).await;
    assert_eq!(status, StatusCode::OK, "the session survived the restart");
    let (status, _) =
        post(&served.base, "/api/v1/auth/login", json!({"login": "keeper", "password": PASSWORD}))
            .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_mail_queued_before_a_crash_is_delivered_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on loopback's discard port: the first process cannot send anything.
    let (log, logs) = std::sync::mpsc::channel();
    let smtp_down = [("VEZA_SMTP_URL", "smtp://127.0.0.1:9")];
    let mut crashing = Served::start_with(dir.path(), &smtp_down, Some(log));
    let register =
        json!({"email": "durable@example.com", "username": "durable", "password": PASSWORD});
    let (status, _) = post(&crashing.base, "/api/v1/auth/register", register).await;
    assert_eq!(status, StatusCode::CREATED);
    // Once the failed attempt is recorded (a crash mid-send is the lease's business, see the
    // contract suite), the process dies without any shutdown code running.
    let failed = logs
        .iter()
        .find(|line| line.contains("mail delivery failed; will retry"))
        .expect("the first attempt fails and is logged");
    assert!(failed.contains("Connection refused"), "{failed}");
    let first_base = crashing.base.clone();
    crashing.child.kill().unwrap();
    crashing.child.wait().unwrap();

    // Restarted on the embedded default: the queued mail lands in the outbox folder once its
    // retry is due (at most 10 s after the failed attempt).
    let served = Served::start(dir.path());
    let outbox = dir.path().join("veza-data/outbox");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    let mail = loop {
        let eml = std::fs::read_dir(&outbox).ok().and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .find(|e| e.path().extension().is_some_and(|ext| ext == "eml"))
        });
        if let Some(entry) = eml {
            break std::fs::read_to_string(entry.path()).unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "the queued mail was never delivered");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(mail.contains("To: durable@example.com"), "{mail}");
    assert!(
        mail.contains(&format!("{first_base}/verify-email?token=3Dvze_"))
            || mail.contains(&format!("{first_base}/verify-email?token=vze_")),
        "{mail}"
    );
    let status = served.stop();
    assert!(status.success(), "{status:?}");
}

#[test]
fn doctor_checks_the_mail_transport() {
    let dir = tempfile::tempdir().unwrap();
    let healthy = stdout_json(&run(veza(dir.path()).args(["doctor", "--json"]), ""));
    assert_eq!(healthy["checks"]["mail"]["ok"], true, "{healthy}");
    assert!(dir.path().join("veza-data/outbox").is_dir());

    let broken = run(
        veza(dir.path()).args(["doctor"]).env("VEZA_SMTP_URL", "smtp://mailer:hunter2@127.0.0.1:9"),
        "",
    );
    assert_eq!(broken.status.code(), Some(1));
    let report = String::from_utf8_lossy(&broken.stdout);
    assert!(report.contains("FAIL  mail: smtp://127.0.0.1:9"), "{report}");
    assert!(!report.contains("hunter2"), "no password in the report: {report}");

    let bad_sender = run(veza(dir.path()).args(["doctor"]).env("VEZA_MAIL_FROM", "nope"), "");
    assert!(String::from_utf8_lossy(&bad_sender.stdout).contains("FAIL  mail"));
}

#[tokio::test]
async fn doctor_checks_the_blob_store_on_files_and_on_s3() {
    let dir = tempfile::tempdir().unwrap();
    let files = stdout_json(&run(veza(dir.path()).args(["doctor", "--json"]), ""));
    assert_eq!(files["checks"]["blobs"]["ok"], true, "{files}");
    let detail = files["checks"]["blobs"]["detail"].as_str().unwrap();
    assert!(detail.starts_with("files under") && detail.contains("veza-data/blobs"), "{detail}");

    use veza_adapters::s3_blobs::testing;
    let Some(endpoint) = testing::test_endpoint() else { return };
    let bucket = testing::fresh_bucket(&endpoint).await;
    let doctor = |bucket: &str, secret: &str| {
        let output = run(
            veza(dir.path())
                .args(["doctor", "--json"])
                .env("VEZA_BLOB_URL", format!("s3://{bucket}"))
                .env("VEZA_S3_ENDPOINT", &endpoint)
                .env("AWS_ACCESS_KEY_ID", testing::ACCESS_KEY)
                .env("AWS_SECRET_ACCESS_KEY", secret),
            "",
        );
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        (output.status.code(), report["checks"]["blobs"].clone())
    };
    let (code, blobs) = doctor(&bucket, testing::SECRET_KEY);
    assert_eq!(code, Some(0), "{blobs}");
    assert_eq!(blobs["detail"], format!("s3://{bucket} at {endpoint} answers"));

    let (code, blobs) = doctor(&bucket, "not-the-secret-key");
    assert_eq!((code, &blobs["ok"]), (Some(1), &json!(false)), "{blobs}");
    let detail = blobs["detail"].as_str().unwrap();
    assert!(detail.contains("SignatureDoesNotMatch"), "{detail}");
    assert!(!detail.contains("not-the-secret-key"), "no secret in the report: {detail}");

    let (code, blobs) = doctor("veza-no-such-bucket", testing::SECRET_KEY);
    assert_eq!(code, Some(1), "{blobs}");
    assert!(blobs["detail"].as_str().unwrap().contains("NoSuchBucket"), "{blobs}");
}

#[test]
fn doctor_pings_clamd_when_one_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let unset = stdout_json(&run(veza(dir.path()).args(["doctor", "--json"]), ""));
    assert_eq!(unset["checks"]["scanner"]["ok"], true, "no scanner is a valid choice: {unset}");

    let unreachable =
        run(veza(dir.path()).args(["doctor"]).env("VEZA_CLAMD_URL", "tcp://127.0.0.1:1"), "");
    assert_eq!(unreachable.status.code(), Some(1));
    let report = String::from_utf8_lossy(&unreachable.stdout);
    assert!(
        report.contains("FAIL  scanner: virus scanner unavailable: clamd at tcp://127.0.0.1:1"),
        "{report}"
    );

    let bad_url = run(veza(dir.path()).args(["doctor", "--clamd-url", "http://clamav:3310"]), "");
    let report = String::from_utf8_lossy(&bad_url.stdout);
    assert!(report.contains("FAIL  scanner: VEZA_CLAMD_URL"), "{report}");

    if let Some(url) = veza_adapters::clamd::testing::test_clamd_url() {
        let report =
            stdout_json(&run(veza(dir.path()).args(["doctor", "--json", "--clamd-url", &url]), ""));
        assert_eq!(report["checks"]["scanner"]["ok"], true, "{report}");
        assert_eq!(report["checks"]["scanner"]["detail"], format!("clamd at {url} answers"));
    }
}

#[test]
fn serve_refuses_to_start_with_an_unusable_clamd_url() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        veza(dir.path()).args(["serve", "--listen", "127.0.0.1:0"]).env("VEZA_CLAMD_URL", "clamd"),
        "",
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("VEZA_CLAMD_URL"), "{stderr}");
}

#[test]
fn migrate_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let first = stdout_json(&run(veza(dir.path()).args(["migrate", "--json"]), ""));
    assert!(first["applied"].as_u64().unwrap() >= 1, "{first}");
    let second = stdout_json(&run(veza(dir.path()).args(["migrate", "--json"]), ""));
    assert_eq!(second, json!({"applied": 0}));
}

#[test]
fn doctor_exits_zero_when_healthy_and_one_when_not() {
    let dir = tempfile::tempdir().unwrap();
    let healthy = stdout_json(&run(veza(dir.path()).args(["doctor", "--json"]), ""));
    assert_eq!(healthy["healthy"], true);
    assert_eq!(healthy["checks"]["database"]["ok"], true);

    let broken = run(
        veza(dir.path())
            .args(["doctor"])
            .env("VEZA_DATABASE_URL", "postgres://veza@127.0.0.1:1/nothing"),
        "",
    );
    assert_eq!(broken.status.code(), Some(1));
    let report = String::from_utf8_lossy(&broken.stdout);
    assert!(report.contains("FAIL  database"), "{report}");
    assert!(!report.contains("veza@"), "no connection string in the report: {report}");
}

#[test]
fn user_commands_create_promote_and_suspend() {
    let dir = tempfile::tempdir().unwrap();
    let create = ["user", "create", "--email", "root@example.com", "--username", "root_admin"];
    let created = stdout_json(&run(
        veza(dir.path()).args(create).args(["--role", "admin", "--password-stdin", "--json"]),
        &format!("{PASSWORD}\n"),
    ));
    assert_eq!(created["role"], "admin");
    assert_eq!(created["suspended"], false);

    let promoted = stdout_json(&run(
        veza(dir.path()).args(["user", "set-role", "ROOT_ADMIN", "creator", "--json"]),
        "",
    ));
    assert_eq!(promoted["role"], "creator");
    let suspended = stdout_json(&run(
        veza(dir.path()).args(["user", "suspend", "root@example.com", "--json"]),
        "",
    ));
    assert_eq!(suspended["suspended"], true);
    let back =
        stdout_json(&run(veza(dir.path()).args(["user", "unsuspend", "root_admin", "--json"]), ""));
    assert_eq!(back["suspended"], false);
}

#[test]
fn user_command_errors_are_one_line_and_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str, &str); 4] = [
        (&["user", "set-role", "ghost", "admin"], "", "no such user"),
        (&["user", "set-role", "ghost", "root"], "", "must be one of"),
        (
            &[
                "user",
                "create",
                "--email",
                "w@example.com",
                "--username",
                "weak_one",
                "--password-stdin",
            ],
            "short\n",
            "password",
        ),
        (
            &["user", "create", "--email", "bad", "--username", "x", "--password-stdin"],
            &format!("{PASSWORD}\n"),
            "email",
        ),
    ];
    for (args, stdin, expected) in cases {
        let output = run(veza(dir.path()).args(args), stdin);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("veza: ") && stderr.contains(expected), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    }
}

#[test]
fn a_bad_database_url_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(veza(dir.path()).args(["migrate"]).env("VEZA_DATABASE_URL", "mysql://x"), "");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("sqlite:// or postgres://"), "{stderr}");
}

#[test]
fn audit_lists_what_operators_did() {
    let dir = tempfile::tempdir().unwrap();
    let create = ["user", "create", "--email", "aud@example.com", "--username", "audited"];
    stdout_json(&run(
        veza(dir.path()).args(create).args(["--password-stdin", "--json"]),
        &format!("{PASSWORD}\n"),
    ));
    stdout_json(&run(
        veza(dir.path()).args(["user", "set-role", "audited", "creator", "--json"]),
        "",
    ));
    stdout_json(&run(veza(dir.path()).args(["user", "suspend", "audited", "--json"]), ""));

    let output = run(veza(dir.path()).args(["audit", "--user", "audited", "--json"]), "");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<_> = lines.iter().map(|l| l["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["admin.user_suspended", "admin.role_changed"], "newest first");
    assert_eq!(lines[0]["detail"], "via veza CLI");
    assert_eq!(lines[1]["actor_id"], Value::Null);

    let text = run(veza(dir.path()).args(["audit", "--action", "admin.role_changed"]), "");
    assert!(String::from_utf8_lossy(&text.stdout).contains("listener -> creator"));
    let unknown = run(veza(dir.path()).args(["audit", "--user", "ghost"]), "");
    assert_eq!(unknown.status.code(), Some(1));
}

#[tokio::test]
async fn jobs_list_shows_dead_jobs_and_retry_queues_them_again() {
    use veza_core::jobs::JobStore;
    let dir = tempfile::tempdir().unwrap();
    stdout_json(&run(veza(dir.path()).args(["migrate", "--json"]), ""));
    let store =
        veza_adapters::sqlite::SqliteStore::open(dir.path().join("veza-data/veza.db")).unwrap();
    let job = veza_core::testing::job_store::new_job("cli.test");
    store.enqueue_job(&job).await.unwrap();
    let now = veza_core::testing::now();
    let claimed = store.claim_job(now, time::Duration::minutes(1)).await.unwrap().unwrap();
    store.fail_job(job.id, claimed.lease, "decoder gave up", None, now).await.unwrap();

    let listed = run(veza(dir.path()).args(["jobs", "list", "--status", "dead", "--json"]), "");
    let line: Value =
        serde_json::from_str(String::from_utf8_lossy(&stdout_of(&listed)).trim()).unwrap();
    assert_eq!(line["id"], job.id.to_string());
    assert_eq!(line["last_error"], "decoder gave up");

    let id = job.id.to_string();
    stdout_json(&run(veza(dir.path()).args(["jobs", "retry", &id, "--json"]), ""));
    let again = run(veza(dir.path()).args(["jobs", "retry", &id]), "");
    assert_eq!(again.status.code(), Some(1), "only dead jobs are retried");
    let queued = run(veza(dir.path()).args(["jobs", "list", "--status", "queued"]), "");
    assert!(String::from_utf8_lossy(&stdout_of(&queued)).contains(&id));
    let bad = run(veza(dir.path()).args(["jobs", "list", "--status", "zombie"]), "");
    assert_eq!(bad.status.code(), Some(1));
}

fn stdout_of(output: &Output) -> Vec<u8> {
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout.clone()
}

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/audio");

/// A folder holding every audio fixture (one in a sub-folder) and a text file; the number of
/// fixtures.
fn music_folder(dir: &Path) -> usize {
    let music = dir.join("music");
    std::fs::create_dir_all(music.join("live")).unwrap();
    let mut fixtures = 0;
    for entry in std::fs::read_dir(FIXTURES).unwrap() {
        let path = entry.unwrap().path();
        let into = if fixtures == 0 { music.join("live") } else { music.clone() };
        std::fs::copy(&path, into.join(path.file_name().unwrap())).unwrap();
        fixtures += 1;
    }
    std::fs::write(music.join("liner notes.txt"), "recorded at home\n").unwrap();
    fixtures
}

fn create_owner(dir: &Path, username: &str) {
    let email = format!("{username}@example.com");
    let create = ["user", "create", "--email", &email, "--username", username];
    let output = run(veza(dir).args(create).arg("--password-stdin"), &format!("{PASSWORD}\n"));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[tokio::test]
async fn track_import_takes_a_folder_and_a_served_instance_processes_what_it_imported() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = music_folder(dir.path());
    create_owner(dir.path(), "importer");

    let output =
        run(veza(dir.path()).args(["track", "import", "music", "--owner", "importer"]), "");

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let summary = format!("imported {fixtures}, skipped 1, failed 0");
    assert!(stdout.lines().last().unwrap().starts_with(&summary), "{stdout}");
    assert!(stdout.contains("skipped   music/liner notes.txt: the file is not audio"), "{stdout}");
    assert!(!stdout.contains('\u{1b}'), "no progress bar when stdout is not a terminal");

    // The imported tracks wait for a worker, as uploads do: a server analyses them.
    let served = Served::start(dir.path());
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let titles = loop {
        let url = format!("{}/api/v1/tracks?owner=importer&sort=title", served.base);
        let list: Value = client.get(url).send().await.unwrap().json().await.unwrap();
        let titles: Vec<String> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["title"].as_str().unwrap().to_owned())
            .collect();
        if titles.len() >= 3 {
            break titles;
        }
        assert!(std::time::Instant::now() < deadline, "imports never became ready: {titles:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    // Opus has no decoder yet and the truncated file is damaged: both fail processing.
    assert_eq!(titles, ["tone-2s", "tone-2s", "tone-2s"], "titles are the file stems");
    assert!(served.stop().success());
}

#[test]
fn track_import_json_reports_each_file_and_skips_files_over_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = music_folder(dir.path());
    create_owner(dir.path(), "jsonowner");
    let largest = std::fs::read_dir(FIXTURES)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .max()
        .unwrap();
    let limit = largest + 1;
    let mut wav = b"RIFF\x24\x10\x00\x00WAVEfmt ".to_vec();
    wav.resize(usize::try_from(limit).unwrap() + 1, 0);
    std::fs::write(dir.path().join("music/big.wav"), wav).unwrap();

    let import = ["track", "import", "music", "--owner", "jsonowner", "--json"];
    let limit = limit.to_string();
    let output = run(veza(dir.path()).args(import).args(["--max-upload-bytes", &limit]), "");

    let report = stdout_json(&output);
    assert_eq!(report["owner"]["username"], "jsonowner");
    assert_eq!(
        (&report["imported"], &report["skipped"], &report["failed"]),
        (&json!(fixtures), &json!(2), &json!(0)),
        "{report}"
    );
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), fixtures + 2);
    for file in files {
        let path = file["path"].as_str().unwrap();
        match file["outcome"].as_str().unwrap() {
            "imported" => assert!(file["track_id"].is_string() && file.get("reason").is_none()),
            "skipped" if path.ends_with(".txt") => {
                assert!(file["reason"].as_str().unwrap().contains("not audio"), "{file}");
            }
            "skipped" => {
                assert!(path.ends_with("big.wav"), "{file}");
                assert!(file["reason"].as_str().unwrap().contains("larger than"), "{file}");
            }
            other => panic!("{other}: {file}"),
        }
    }

    // Each imported file queued its processing job, as an upload does.
    let jobs = run(veza(dir.path()).args(["jobs", "list", "--json"]), "");
    let queued = String::from_utf8_lossy(&jobs.stdout).matches("track.process").count();
    assert_eq!(queued, fixtures);
}

#[test]
fn track_import_fails_in_one_line_for_an_unknown_owner_and_exits_1_when_files_fail() {
    let dir = tempfile::tempdir().unwrap();
    music_folder(dir.path());

    let output = run(veza(dir.path()).args(["track", "import", "music", "--owner", "ghost"]), "");

    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("ghost") && stderr.contains("no such user"), "{stderr}");

    // A scanner that cannot be reached vouches for nothing: every audio file fails.
    create_owner(dir.path(), "scanned");
    let import = ["track", "import", "music/live", "--owner", "scanned", "--json"];
    let output = run(veza(dir.path()).args(import).args(["--clamd-url", "tcp://127.0.0.1:1"]), "");
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((&report["imported"], &report["failed"]), (&json!(0), &json!(1)), "{report}");
    assert!(report["files"][0]["reason"].as_str().unwrap().contains("scanner"), "{report}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("1 file(s) failed to import"), "{stderr}");
}

#[test]
fn track_import_fails_an_infected_file_and_imports_the_clean_one_beside_it() {
    let Some(clamd) = veza_adapters::clamd::testing::test_clamd_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let music = dir.path().join("music");
    std::fs::create_dir(&music).unwrap();
    // FLAC: clamd does not look inside MP3 frames, so EICAR after them passes (measured
    // with clamd 1.4, 2026-11-30); after FLAC frames it is found.
    let clean = std::fs::read(format!("{FIXTURES}/tone-2s.flac")).unwrap();
    let mut infected = clean.clone();
    infected.extend_from_slice(&veza_core::testing::virus_scanner::eicar());
    std::fs::write(music.join("clean.flac"), clean).unwrap();
    std::fs::write(music.join("infected.flac"), infected).unwrap();
    create_owner(dir.path(), "scanned");

    let import = ["track", "import", "music", "--owner", "scanned", "--json"];
    let output = run(veza(dir.path()).args(import).args(["--clamd-url", &clamd]), "");

    assert_eq!(output.status.code(), Some(1), "a failed file fails the command");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((&report["imported"], &report["failed"]), (&json!(1), &json!(1)), "{report}");
    let infected = &report["files"][1];
    assert_eq!(
        (&infected["path"], &infected["outcome"]),
        (&json!("music/infected.flac"), &json!("failed"))
    );
    assert!(
        infected["reason"].as_str().unwrap().contains("flagged by the virus scanner"),
        "{report}"
    );
}
