//! `ClamdScanner`: the `VirusScanner` port over ClamAV's daemon, clamd, reached over TCP
//! (`tcp://host:port`) or a Unix socket (`unix:/path`). Each scan opens one connection and
//! streams the content with INSTREAM — length-prefixed chunks sent as they arrive, never the
//! whole file in memory — through the `clamav-client` crate (ADR 0006). clamd answers
//! `stream: OK`, `stream: <signature> FOUND` or `<reason> ERROR`. Only `OK` is clean: an
//! error reply, a verdict clamd reached only part-way (`Heuristics.Limits.Exceeded.*`), a
//! refused or broken connection and a stall are all `ScanError`s, so a file clamd has not
//! vouched for is refused, never stored.

use async_trait::async_trait;
use clamav_client::tokio::{Socket, Tcp, TransportProtocol};
use futures_core::Stream;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;
use veza_core::blobs::{BlobBody, BlobError};
use veza_core::scan::{ScanError, ScanVerdict, VirusScanner};

/// How long to wait for clamd to accept a connection (and to answer a PING).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a scan may make no progress — no chunk taken, or no verdict after the last one.
/// clamd abandons a file after its `MaxScanTime` (120 s by default) and says so; waiting a
/// little longer lets that answer, rather than our timeout, explain a slow scan.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(150);

/// INSTREAM chunk size. Chunks of the source larger than this are split (without copying).
const CHUNK_SIZE: usize = 64 * 1024;

/// What clamd names a scan it stopped at one of its limits (`MaxFileSize`, `MaxScanSize`,
/// `MaxScanTime`, …) when `AlertExceedsMax` is on: not malware, but not a clean bill either.
const LIMIT_EXCEEDED: &str = "Heuristics.Limits.Exceeded";

#[derive(Debug, Clone)]
pub struct ClamdScanner {
    endpoint: Endpoint,
    connect_timeout: Duration,
    idle_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    /// `host:port`, resolved at each connection.
    Tcp(String),
    Unix(PathBuf),
}

impl Endpoint {
    fn parse(url: &str) -> Result<Self, String> {
        if let Some(address) = url.strip_prefix("tcp://") {
            let address = address.strip_suffix('/').unwrap_or(address);
            return match address.rsplit_once(':') {
                Some((host, port))
                    if !host.is_empty()
                        && !host.contains(['/', '@', '?', '#'])
                        && port.parse::<u16>().is_ok_and(|port| port > 0) =>
                {
                    Ok(Endpoint::Tcp(address.to_owned()))
                }
                _ => Err(format!(
                    "clamd URL {url:?} must be tcp://HOST:PORT (clamd's usual port is 3310)"
                )),
            };
        }
        if let Some(path) = url.strip_prefix("unix:") {
            // `unix:///run/clamd.sock` as well as `unix:/run/clamd.sock`.
            let path = path.strip_prefix("//").filter(|p| p.starts_with('/')).unwrap_or(path);
            if path.is_empty() {
                return Err(format!("clamd URL {url:?} needs a socket path: unix:/PATH"));
            }
            return Ok(Endpoint::Unix(PathBuf::from(path)));
        }
        Err(format!("clamd URL {url:?} must start with tcp:// or unix:"))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(address) => write!(f, "tcp://{address}"),
            Endpoint::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl ClamdScanner {
    /// A scanner for the clamd at `url` (`tcp://host:port` or `unix:/path`); connects to
    /// nothing yet.
    ///
    /// # Errors
    /// A message naming what is wrong with `url`.
    pub fn new(url: &str) -> Result<Self, String> {
        Ok(Self {
            endpoint: Endpoint::parse(url)?,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        })
    }

    /// Replaces the connection timeout and the no-progress timeout (see the defaults).
    pub fn with_timeouts(mut self, connect: Duration, idle: Duration) -> Self {
        self.connect_timeout = connect;
        self.idle_timeout = idle;
        self
    }

    /// Where clamd is, as a URL (never holds a credential).
    pub fn endpoint(&self) -> String {
        self.endpoint.to_string()
    }

    /// Streams `content` to clamd over `transport` and returns its raw reply, giving up when
    /// nothing moves for a timeout.
    async fn exchange<T: TransportProtocol>(
        &self,
        transport: T,
        content: BlobBody,
    ) -> Result<Vec<u8>, ScanError> {
        let progress = Progress::new();
        let input = Watched { body: content, progress: &progress };
        let scan = clamav_client::tokio::scan_stream(input, transport, Some(CHUNK_SIZE));
        tokio::pin!(scan);
        // Progress moves the deadline: later while data flows, but earlier too once connected
        // when the idle timeout is the shorter one. Waking at least that often sees both.
        let tick = self.connect_timeout.min(self.idle_timeout);
        let deadline = || progress.deadline(self.connect_timeout, self.idle_timeout);
        loop {
            tokio::select! {
                reply = &mut scan => {
                    return reply.map_err(|err| self.io_error(err, progress.connected()));
                }
                () = tokio::time::sleep_until(deadline().min(Instant::now() + tick)) => {
                    if deadline() <= Instant::now() {
                        return Err(self.stalled(progress.connected()));
                    }
                }
            }
        }
    }

    async fn ping_over<T: TransportProtocol>(&self, transport: T) -> Result<(), ScanError> {
        let reply =
            tokio::time::timeout(self.connect_timeout, clamav_client::tokio::ping(transport))
                .await
                .map_err(|_| self.stalled(false))?
                .map_err(|err| self.io_error(err, false))?;
        if reply == clamav_client::PONG {
            Ok(())
        } else {
            Err(ScanError::NoVerdict(format!(
                "clamd at {} answered PING with {:?}",
                self.endpoint,
                String::from_utf8_lossy(&reply)
            )))
        }
    }

    /// The source's own error if that is what stopped the scan. clamd hanging up while we
    /// still send is how it refuses a stream over its `StreamMaxLength` (its `ERROR` reply
    /// is lost with the connection): it answered, without a verdict. Anything else means it
    /// is unavailable.
    fn io_error(&self, err: io::Error, connected: bool) -> ScanError {
        let err = match err.downcast::<BlobError>() {
            Ok(source) => return ScanError::Source(source),
            Err(err) => err,
        };
        let hung_up =
            matches!(err.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset);
        if connected && hung_up {
            return ScanError::NoVerdict(format!(
                "clamd at {} closed the connection mid-stream ({err}); a file longer than its \
                 StreamMaxLength ends this way",
                self.endpoint
            ));
        }
        ScanError::unavailable(io::Error::new(
            err.kind(),
            format!("clamd at {}: {err}", self.endpoint),
        ))
    }

    fn stalled(&self, connected: bool) -> ScanError {
        let (what, after) = if connected {
            ("made no progress", self.idle_timeout)
        } else {
            ("did not accept a connection", self.connect_timeout)
        };
        ScanError::unavailable(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("clamd at {} {what} within {after:?}", self.endpoint),
        ))
    }
}

#[async_trait]
impl VirusScanner for ClamdScanner {
    async fn scan(&self, content: BlobBody) -> Result<ScanVerdict, ScanError> {
        let reply = match &self.endpoint {
            Endpoint::Tcp(address) => {
                self.exchange(Tcp { host_address: address.as_str() }, content).await?
            }
            Endpoint::Unix(path) => self.exchange(Socket { socket_path: path }, content).await?,
        };
        verdict(&reply)
    }

    async fn ping(&self) -> Result<(), ScanError> {
        match &self.endpoint {
            Endpoint::Tcp(address) => self.ping_over(Tcp { host_address: address.as_str() }).await,
            Endpoint::Unix(path) => self.ping_over(Socket { socket_path: path }).await,
        }
    }

    fn name(&self) -> &'static str {
        "clamd"
    }
}

/// Reads clamd's INSTREAM reply (`z` commands end it with a NUL).
fn verdict(reply: &[u8]) -> Result<ScanVerdict, ScanError> {
    let text = String::from_utf8_lossy(reply);
    let text = text.trim_end_matches(['\0', '\n', '\r']).trim();
    if text.is_empty() {
        return Err(ScanError::NoVerdict("clamd closed the connection without a verdict".into()));
    }
    if text.ends_with("ERROR") {
        return Err(ScanError::NoVerdict(format!("clamd: {text}")));
    }
    let found = text.strip_prefix("stream: ").and_then(|result| {
        if result == "OK" { Some(None) } else { result.strip_suffix(" FOUND").map(Some) }
    });
    match found {
        Some(None) => Ok(ScanVerdict::Clean),
        Some(Some(signature)) if signature.starts_with(LIMIT_EXCEEDED) => {
            Err(ScanError::NoVerdict(format!("clamd stopped before the end: {signature}")))
        }
        Some(Some(signature)) if !signature.trim().is_empty() => {
            Ok(ScanVerdict::Infected { signature: signature.trim().to_owned() })
        }
        _ => Err(ScanError::NoVerdict(format!("clamd answered {text:?}"))),
    }
}

/// When a scan last moved. The INSTREAM writer asks the source for its next chunk only once
/// the previous one is written, so a poll of the source marks progress on both sides.
struct Progress {
    started: Instant,
    /// Milliseconds from `started` to the last poll, plus one; 0 while still connecting.
    last_poll: AtomicU64,
}

impl Progress {
    fn new() -> Self {
        Self { started: Instant::now(), last_poll: AtomicU64::new(0) }
    }

    fn touch(&self) {
        let millis = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.last_poll.store(millis + 1, Ordering::Relaxed);
    }

    fn connected(&self) -> bool {
        self.last_poll.load(Ordering::Relaxed) > 0
    }

    fn deadline(&self, connect: Duration, idle: Duration) -> Instant {
        match self.last_poll.load(Ordering::Relaxed) {
            0 => self.started + connect,
            millis => self.started + Duration::from_millis(millis - 1) + idle,
        }
    }
}

/// The content as `clamav-client` takes it, marking progress at each poll. A source error
/// travels inside the `io::Error` and is taken back out by `io_error`.
struct Watched<'a> {
    body: BlobBody,
    progress: &'a Progress,
}

impl Stream for Watched<'_> {
    type Item = io::Result<bytes::Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.progress.touch();
        let polled = Pin::new(&mut self.body).poll_next(cx);
        polled.map(|chunk| chunk.map(|chunk| chunk.map_err(io::Error::other)))
    }
}

pub mod testing {
    //! The clamd tests scan against: `.ci/run` starts one on loopback with a signature
    //! database that detects the EICAR test file, and names it over TCP in
    //! `VEZA_TEST_CLAMD_URL` and over its Unix socket in `VEZA_TEST_CLAMD_UNIX_URL`. Without
    //! them the clamd tests skip, except under `CI=true`, where a skip would hide a missing
    //! service and fails instead.

    pub const URL_VAR: &str = "VEZA_TEST_CLAMD_URL";
    pub const UNIX_URL_VAR: &str = "VEZA_TEST_CLAMD_UNIX_URL";

    /// `tcp://127.0.0.1:PORT` of the test clamd, or `None` (after a one-line notice) to skip.
    ///
    /// # Panics
    /// If the variable is unset while `CI=true`.
    pub fn test_clamd_url() -> Option<String> {
        required(URL_VAR)
    }

    /// `unix:PATH` of the test clamd's socket, or `None` (after a notice) to skip.
    ///
    /// # Panics
    /// If the variable is unset while `CI=true`.
    pub fn test_clamd_unix_url() -> Option<String> {
        required(UNIX_URL_VAR)
    }

    fn required(var: &str) -> Option<String> {
        crate::testing::service_var(var, "a clamd")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use veza_core::testing::virus_scanner::{body, clean_chunks, eicar};

    async fn clamd_tcp() -> Option<Arc<dyn VirusScanner>> {
        let url = testing::test_clamd_url()?;
        Some(Arc::new(ClamdScanner::new(&url).expect("VEZA_TEST_CLAMD_URL")))
    }

    async fn clamd_unix() -> Option<Arc<dyn VirusScanner>> {
        let url = testing::test_clamd_unix_url()?;
        Some(Arc::new(ClamdScanner::new(&url).expect("VEZA_TEST_CLAMD_UNIX_URL")))
    }

    mod clamd_over_tcp {
        use super::*;
        veza_core::virus_scanner_contract!(clamd_tcp => optional);
    }

    mod clamd_over_a_unix_socket {
        use super::*;
        veza_core::virus_scanner_contract!(clamd_unix => optional);
    }

    #[test]
    fn clamd_urls_name_a_tcp_address_or_a_socket_path() {
        let endpoint = |url: &str| ClamdScanner::new(url).map(|s| s.endpoint);
        assert_eq!(endpoint("tcp://127.0.0.1:3310"), Ok(Endpoint::Tcp("127.0.0.1:3310".into())));
        assert_eq!(
            endpoint("tcp://clamav.internal:3310/"),
            Ok(Endpoint::Tcp("clamav.internal:3310".into()))
        );
        assert_eq!(endpoint("tcp://[::1]:3310"), Ok(Endpoint::Tcp("[::1]:3310".into())));
        assert_eq!(endpoint("unix:/run/clamd.sock"), Ok(Endpoint::Unix("/run/clamd.sock".into())));
        assert_eq!(
            endpoint("unix:///run/clamd.sock"),
            Ok(Endpoint::Unix("/run/clamd.sock".into()))
        );
        assert_eq!(endpoint("unix:clamd.sock"), Ok(Endpoint::Unix("clamd.sock".into())));
        for bad in [
            "tcp://127.0.0.1",
            "tcp://:3310",
            "tcp://h:0",
            "tcp://h:99999",
            "tcp://u@h:1",
            "unix:",
            "http://127.0.0.1:3310",
            "127.0.0.1:3310",
            "",
        ] {
            assert!(endpoint(bad).is_err(), "{bad:?} accepted");
        }
        let scanner = ClamdScanner::new("unix:///run/clamd.sock").unwrap();
        assert_eq!(scanner.endpoint(), "unix:/run/clamd.sock");
        assert_eq!(scanner.name(), "clamd");
    }

    #[test]
    fn only_stream_ok_is_clean() {
        let infected = |name: &str| ScanVerdict::Infected { signature: name.into() };
        assert_eq!(verdict(b"stream: OK\0").unwrap(), ScanVerdict::Clean);
        assert_eq!(
            verdict(b"stream: Win.Test.EICAR_HDB-1 FOUND\0").unwrap(),
            infected("Win.Test.EICAR_HDB-1")
        );
        assert_eq!(
            verdict(b"stream: Heuristics.Encrypted.Zip FOUND\n").unwrap(),
            infected("Heuristics.Encrypted.Zip")
        );
        for no_verdict in [
            &b"INSTREAM size limit exceeded. ERROR\0"[..],
            b"stream: Can't allocate memory ERROR\0",
            b"stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND\0",
            b"stream: FOUND\0",
            b"stream:  FOUND\0",
            b"stream: OKAY\0",
            b"OK\0",
            b"PONG\0",
            b"\0",
            b"",
            b"\xff\xfe",
        ] {
            match verdict(no_verdict) {
                Err(ScanError::NoVerdict(_)) => {}
                other => panic!("{:?} read as {other:?}", String::from_utf8_lossy(no_verdict)),
            }
        }
    }

    /// A stand-in clamd on loopback: reads each INSTREAM to its end, then sends `reply` (or,
    /// with `None`, holds the connection open without a word).
    async fn fake_clamd(reply: Option<&'static [u8]>) -> ClamdScanner {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("tcp://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let (mut conn, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut command = [0; 10];
                    conn.read_exact(&mut command).await.unwrap();
                    assert_eq!(&command, b"zINSTREAM\0");
                    loop {
                        let len = conn.read_u32().await.unwrap();
                        if len == 0 {
                            break;
                        }
                        let mut chunk = vec![0; len as usize];
                        conn.read_exact(&mut chunk).await.unwrap();
                    }
                    match reply {
                        Some(reply) => conn.write_all(reply).await.unwrap(),
                        // Holds on until the client gives up and closes.
                        None => while conn.read(&mut [0; 16]).await.is_ok_and(|n| n > 0) {},
                    }
                });
            }
        });
        ClamdScanner::new(&url).unwrap()
    }

    #[tokio::test]
    async fn an_error_reply_is_an_error_not_clean() {
        let scanner = fake_clamd(Some(b"INSTREAM size limit exceeded. ERROR\0")).await;
        match scanner.scan(body([Ok(Bytes::from_static(b"too long"))])).await {
            Err(ScanError::NoVerdict(reason)) => {
                assert!(reason.contains("size limit exceeded"), "{reason}")
            }
            other => panic!("expected no verdict, got {other:?}"),
        }
        let scanner = fake_clamd(Some(b"")).await;
        assert!(matches!(scanner.scan(body([])).await, Err(ScanError::NoVerdict(_))));
    }

    #[tokio::test]
    async fn a_clamd_that_never_answers_is_given_up_on() {
        let scanner = fake_clamd(None)
            .await
            .with_timeouts(Duration::from_secs(5), Duration::from_millis(300));
        let started = std::time::Instant::now();
        match scanner.scan(body(clean_chunks(100 * 1024, 8 * 1024))).await {
            Err(err @ ScanError::Unavailable(_)) => {
                assert!(err.to_string().contains("made no progress"), "{err}")
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn an_unreachable_clamd_is_an_error_not_clean() {
        let dir = tempfile::tempdir().unwrap();
        let missing_socket = format!("unix:{}", dir.path().join("clamd.sock").display());
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        for url in ["tcp://127.0.0.1:1", missing_socket.as_str()] {
            let scanner = ClamdScanner::new(url).unwrap();
            match scanner.scan(body([Ok(eicar())])).await {
                Err(err @ ScanError::Unavailable(_)) => {
                    assert!(err.to_string().contains(url), "names where clamd was sought: {err}")
                }
                other => panic!("{url}: expected unavailable, got {other:?}"),
            }
            assert!(matches!(scanner.ping().await, Err(ScanError::Unavailable(_))), "{url}");
        }
    }

    #[tokio::test]
    async fn a_stream_longer_than_clamds_limit_is_an_error_not_clean() {
        // `.ci/run` starts clamd with `StreamMaxLength 100M`; 101 MiB of one shared chunk
        // (cheap to send again and again) must be refused, whether clamd's ERROR reply
        // arrives or the connection breaks first (both happen).
        let (Some(tcp), Some(unix)) = (testing::test_clamd_url(), testing::test_clamd_unix_url())
        else {
            return;
        };
        let (tcp, unix) = (ClamdScanner::new(&tcp).unwrap(), ClamdScanner::new(&unix).unwrap());
        let chunk = Bytes::from(vec![0x5a; 1024 * 1024]);
        for scanner in [tcp, unix] {
            let chunks: Vec<_> = (0..101).map(|_| Ok(chunk.clone())).collect();
            match scanner.scan(body(chunks)).await {
                Err(ScanError::NoVerdict(_)) => {}
                other => panic!("{}: expected no verdict, got {other:?}", scanner.endpoint()),
            }
        }
    }
}
