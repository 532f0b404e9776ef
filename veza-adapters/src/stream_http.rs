//! `HttpStreamNotifier`: tells the stream server at `VEZA_STREAM_SERVER_URL` that a track is
//! ready for HLS packaging, with one JSON `POST` per track:
//!
//! ```json
//! {"event": "track.ready_for_packaging", "track_id": "…", "owner_id": "…",
//!  "format": "mp3", "content_type": "audio/mpeg", "size_bytes": 33435, "duration_ms": 2000,
//!  "blob_key": "tracks/ab/ab12….mp3",
//!  "callback_url": "https://veza.example/api/v1/internal/tracks/…/stream-ready"}
//! ```
//!
//! sent with `Authorization: Bearer <VEZA_INTERNAL_TOKEN>` (the secret the stream server
//! also presents on the callback). The audio itself is in the blob store both services share,
//! under `blob_key`. Any 2xx is success; any other answer, no answer within the timeout, or
//! a redirect (never followed: the token would travel with it) is an error the job retries.

use async_trait::async_trait;
use std::time::Duration;
use veza_core::stream::{InternalToken, ReadyForPackaging, StreamNotifier, StreamNotifyError};

/// The route of `veza-server` the stream server answers on; `{id}` is the track id.
pub const CALLBACK_PATH: &str = "/api/v1/internal/tracks/{id}/stream-ready";

#[derive(Clone)]
pub struct HttpStreamNotifier {
    client: reqwest::Client,
    endpoint: reqwest::Url,
    /// `VEZA_PUBLIC_URL` without a trailing `/`: the base of callback URLs.
    public_url: String,
    token: InternalToken,
}

impl std::fmt::Debug for HttpStreamNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpStreamNotifier").field("endpoint", &self.describe()).finish()
    }
}

impl HttpStreamNotifier {
    /// A whole exchange longer than this is a failure (retried later): a notice is a small
    /// document, and a stream server that takes longer is not answering.
    pub const TIMEOUT: Duration = Duration::from_secs(10);

    /// Builds the notifier; connects to nothing yet.
    ///
    /// # Errors
    /// A message if `endpoint` is not an absolute http(s) URL.
    pub fn new(endpoint: &str, public_url: &str, token: InternalToken) -> Result<Self, String> {
        Self::with_timeout(endpoint, public_url, token, Self::TIMEOUT)
    }

    /// As `new`, with another timeout (tests).
    ///
    /// # Errors
    /// As `new`.
    pub fn with_timeout(
        endpoint: &str,
        public_url: &str,
        token: InternalToken,
        timeout: Duration,
    ) -> Result<Self, String> {
        let endpoint = reqwest::Url::parse(endpoint)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
            .ok_or_else(|| format!("{endpoint:?} is not an http:// or https:// URL"))?;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let public_url = public_url.trim_end_matches('/').to_owned();
        Ok(Self { client, endpoint, public_url, token })
    }

    /// Where the stream server reports on `track`.
    pub fn callback_url(&self, track: &ReadyForPackaging) -> String {
        format!("{}{}", self.public_url, CALLBACK_PATH.replace("{id}", &track.track_id.to_string()))
    }

    fn document(&self, track: &ReadyForPackaging) -> serde_json::Value {
        serde_json::json!({
            "event": "track.ready_for_packaging",
            "track_id": track.track_id,
            "owner_id": track.owner_id,
            "format": track.format.extension(),
            "content_type": track.format.mime_type(),
            "size_bytes": track.size_bytes,
            "duration_ms": track.duration_ms,
            "blob_key": track.blob.as_str(),
            "callback_url": self.callback_url(track),
        })
    }
}

#[async_trait]
impl StreamNotifier for HttpStreamNotifier {
    fn is_configured(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        // Without any user:password@ the operator may have put in the URL.
        let mut shown = self.endpoint.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        format!("stream server at {shown}")
    }

    async fn track_ready(&self, track: &ReadyForPackaging) -> Result<(), StreamNotifyError> {
        let response = self
            .client
            .post(self.endpoint.clone())
            .bearer_auth(self.token.expose())
            .json(&self.document(track))
            .send()
            .await
            // Without the URL: it is the configured one, and logs need no query strings.
            .map_err(|e| StreamNotifyError::Unreachable(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(StreamNotifyError::Refused { status: status.as_u16() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, StatusCode};
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};
    use uuid::Uuid;
    use veza_core::blobs::BlobKey;
    use veza_core::media::AudioFormat;

    const TOKEN: &str = "stream-test-token-of-at-least-32-bytes";

    /// What the stand-in stream server received: the bearer token and the JSON body.
    type Received = Arc<Mutex<Vec<(Option<String>, serde_json::Value)>>>;

    /// A real HTTP server on a loopback port that records every POST and answers with the
    /// next scripted status (204 once the script runs out).
    async fn stream_server(script: &[u16]) -> (String, Received) {
        let received: Received = Arc::default();
        let answers = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<_>>()));
        let (log, next) = (Arc::clone(&received), Arc::clone(&answers));
        let app = axum::Router::new().route(
            "/packaging/jobs",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (log, next) = (Arc::clone(&log), Arc::clone(&next));
                async move {
                    let bearer = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(|v| v.trim_start_matches("Bearer ").to_owned());
                    let json = serde_json::from_slice(&body).expect("a JSON body");
                    log.lock().unwrap().push((bearer, json));
                    let status = next.lock().unwrap().pop_front().unwrap_or(204);
                    StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/packaging/jobs", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, received)
    }

    fn token() -> InternalToken {
        InternalToken::new(TOKEN).unwrap()
    }

    fn track() -> ReadyForPackaging {
        ReadyForPackaging {
            track_id: Uuid::now_v7(),
            owner_id: Uuid::now_v7(),
            format: AudioFormat::Flac,
            size_bytes: 33_435,
            duration_ms: Some(2000),
            blob: BlobKey::parse("tracks/ab/abcdef.flac").unwrap(),
        }
    }

    #[tokio::test]
    async fn a_notice_is_one_json_post_with_the_token_and_the_callback_url() {
        let (url, received) = stream_server(&[]).await;
        let notifier = HttpStreamNotifier::new(&url, "https://veza.example/", token()).unwrap();
        let track = track();

        notifier.track_ready(&track).await.expect("204 is success");

        let received = received.lock().unwrap();
        assert_eq!(received.len(), 1);
        let (bearer, body) = &received[0];
        assert_eq!(bearer.as_deref(), Some(TOKEN));
        assert_eq!(body["event"], "track.ready_for_packaging");
        assert_eq!(body["track_id"], track.track_id.to_string());
        assert_eq!(body["owner_id"], track.owner_id.to_string());
        assert_eq!(body["format"], "flac");
        assert_eq!(body["content_type"], "audio/flac");
        assert_eq!(body["size_bytes"], 33_435);
        assert_eq!(body["duration_ms"], 2000);
        assert_eq!(body["blob_key"], "tracks/ab/abcdef.flac");
        assert_eq!(
            body["callback_url"],
            format!("https://veza.example/api/v1/internal/tracks/{}/stream-ready", track.track_id)
        );
    }

    #[tokio::test]
    async fn an_answer_other_than_2xx_is_an_error_and_the_retry_goes_through() {
        let (url, received) = stream_server(&[500, 302, 200]).await;
        let notifier = HttpStreamNotifier::new(&url, "http://127.0.0.1:8080", token()).unwrap();
        let track = track();

        let first = notifier.track_ready(&track).await.unwrap_err();
        assert!(matches!(first, StreamNotifyError::Refused { status: 500 }), "{first}");
        let second = notifier.track_ready(&track).await.unwrap_err();
        assert!(matches!(second, StreamNotifyError::Refused { status: 302 }), "not followed");
        notifier.track_ready(&track).await.expect("200 is success");

        let received = received.lock().unwrap();
        assert_eq!(received.len(), 3, "each attempt is one request");
        assert!(received.iter().all(|(_, body)| body == &received[0].1), "the same notice");
    }

    #[tokio::test]
    async fn a_stream_server_that_is_down_or_silent_is_unreachable() {
        // A port that was just free: nothing listens there.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let down = format!("http://{}/", closed.local_addr().unwrap());
        drop(closed);
        let notifier = HttpStreamNotifier::new(&down, "http://v", token()).unwrap();
        let err = notifier.track_ready(&track()).await.unwrap_err();
        assert!(matches!(err, StreamNotifyError::Unreachable(_)), "{err}");

        // Accepts connections, never answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", silent.local_addr().unwrap());
        let timeout = Duration::from_millis(300);
        let notifier = HttpStreamNotifier::with_timeout(&url, "http://v", token(), timeout);
        let started = std::time::Instant::now();
        let err = notifier.unwrap().track_ready(&track()).await.unwrap_err();
        assert!(matches!(err, StreamNotifyError::Unreachable(_)), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5), "the timeout cut it short");
        drop(silent);
    }

    #[test]
    fn the_endpoint_must_be_an_http_url_and_credentials_never_show() {
        for bad in ["stream.internal:9000", "ftp://h/x", "", "http://"] {
            assert!(HttpStreamNotifier::new(bad, "http://v", token()).is_err(), "{bad}");
        }
        let notifier = HttpStreamNotifier::new(
            "https://ops:hunter2@stream.internal/jobs",
            "http://v",
            token(),
        )
        .unwrap();
        let shown = format!("{} {notifier:?}", notifier.describe());
        assert!(!shown.contains("hunter2") && !shown.contains(TOKEN), "{shown}");
        assert!(notifier.is_configured());
    }
}
