//! `S3Blobs`: the blob store in an S3 bucket (AWS, or any S3-compatible server: MinIO,
//! Garage, s3s-fs in the tests), through `object_store`'s S3 client. Like `FsBlobs` it only
//! builds the `ObjectStore`; `ObjectBlobs` maps keys, ranges and errors and streams large puts
//! as multipart uploads, so both adapters pass the blob-store contract with the same code.
//! Requests are signed with SigV4 from static credentials; path-style URLs, so a custom
//! endpoint needs no wildcard DNS.

use object_store::aws::AmazonS3Builder;
use object_store::{ClientOptions, RetryConfig};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use veza_core::blobs::BlobError;

use crate::object_blobs::ObjectBlobs;

pub const DEFAULT_REGION: &str = "us-east-1";

/// Where the bucket is and how to sign for it. `Debug` hides the secret key.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    /// `None`: AWS itself, at the region's endpoint.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"..")
            .finish()
    }
}

/// The S3 adapter: a constructor of the shared `ObjectBlobs`, never a value itself.
pub enum S3Blobs {}

impl S3Blobs {
    /// Builds the client; connects to nothing yet (`ObjectBlobs::check` does).
    ///
    /// # Errors
    /// If the bucket name or endpoint is unusable.
    pub fn connect(config: &S3Config) -> Result<ObjectBlobs, BlobError> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(&config.secret_access_key)
            .with_client_options(
                ClientOptions::new()
                    // No whole-request timeout: it would also bound reading a response body,
                    // and a track streamed to a listener who pauses, or a part sent over a slow
                    // link, legitimately takes longer than any fixed figure. A stalled server
                    // is still caught between two reads.
                    .with_timeout_disabled()
                    .with_read_timeout(Duration::from_secs(60))
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_allow_http(
                        config.endpoint.as_deref().is_some_and(|e| e.starts_with("http://")),
                    ),
            )
            // A few retries of throttling and 5xx answers, over seconds rather than the
            // default three minutes, so `veza doctor` and requests fail while someone waits.
            .with_retry(RetryConfig {
                max_retries: 4,
                retry_timeout: Duration::from_secs(30),
                ..RetryConfig::default()
            });
        if let Some(endpoint) = &config.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        let store = builder.build().map_err(BlobError::backend)?;
        let description = match &config.endpoint {
            Some(endpoint) => format!("s3://{} at {endpoint}", config.bucket),
            None => format!("s3://{} in {}", config.bucket, config.region),
        };
        Ok(ObjectBlobs::new(Arc::new(store), description))
    }
}

pub mod testing {
    //! A real S3-compatible server for tests, here and in other crates: the one named by
    //! `VEZA_TEST_S3_ENDPOINT` (CI starts s3s-fs 0.14.1 on loopback with access key `test`,
    //! secret `test`). Each test gets a bucket of its own, created through the S3 API
    //! (`CreateBucket`, a signed `PUT /bucket/`), so tests never see each other's objects and
    //! any S3-compatible server works. Without the variable the tests skip, except under
    //! `CI=true`, where a skip would hide a missing service and so fails instead.

    use object_store::aws::AmazonS3Builder;
    use object_store::path::Path as ObjectPath;
    use object_store::signer::Signer as _;
    use std::time::Duration;
    use uuid::Uuid;

    use super::{DEFAULT_REGION, S3Config};

    pub const ENDPOINT_VAR: &str = "VEZA_TEST_S3_ENDPOINT";
    pub const ACCESS_KEY: &str = "test";
    pub const SECRET_KEY: &str = "test";

    /// The server to create test buckets on, or `None` (after a one-line notice) to skip.
    ///
    /// # Panics
    /// If the variable is unset while `CI=true`.
    pub fn test_endpoint() -> Option<String> {
        crate::testing::service_var(ENDPOINT_VAR, "an S3")
    }

    /// The test credentials on `bucket` at `endpoint`.
    pub fn config(endpoint: &str, bucket: &str) -> S3Config {
        S3Config {
            bucket: bucket.to_owned(),
            endpoint: Some(endpoint.to_owned()),
            region: DEFAULT_REGION.to_owned(),
            access_key_id: ACCESS_KEY.to_owned(),
            secret_access_key: SECRET_KEY.to_owned(),
        }
    }

    /// Creates an empty bucket `veza-test-<uuid>` and returns its name.
    ///
    /// # Panics
    /// If the server cannot be reached or refuses: with an endpoint given, that is a failure.
    pub async fn fresh_bucket(endpoint: &str) -> String {
        let bucket = format!("veza-test-{}", Uuid::new_v4().simple());
        let config = config(endpoint, &bucket);
        // object_store has no bucket operations, but signs any URL: the empty key addresses
        // the bucket itself, and a PUT there is S3's CreateBucket.
        let signer = AmazonS3Builder::new()
            .with_bucket_name(&bucket)
            .with_region(&config.region)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(&config.secret_access_key)
            .with_endpoint(endpoint)
            .with_allow_http(true)
            .build()
            .expect("S3 client for the test server");
        let url = signer
            .signed_url(reqwest::Method::PUT, &ObjectPath::from(""), Duration::from_secs(60))
            .await
            .expect("signing CreateBucket");
        let response = reqwest::Client::new().put(url).send().await.unwrap_or_else(|err| {
            panic!("cannot reach the S3 server named by {ENDPOINT_VAR} ({endpoint}): {err}")
        });
        let status = response.status();
        assert!(
            status.is_success(),
            "creating test bucket {bucket}: {status} {}",
            response.text().await.unwrap_or_default()
        );
        bucket
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{config, fresh_bucket, test_endpoint};
    use super::*;
    use bytes::Bytes;
    use veza_core::blobs::{BlobKey, BlobStore};

    async fn fresh() -> Option<Arc<dyn BlobStore>> {
        let endpoint = test_endpoint()?;
        let bucket = fresh_bucket(&endpoint).await;
        Some(Arc::new(S3Blobs::connect(&config(&endpoint, &bucket)).expect("S3 client")))
    }

    veza_core::blob_store_contract!(fresh => optional);

    fn key(raw: &str) -> BlobKey {
        BlobKey::parse(raw).unwrap()
    }

    #[tokio::test]
    async fn a_wrong_secret_key_is_refused_not_silently_accepted() {
        let Some(endpoint) = test_endpoint() else { return };
        let bucket = fresh_bucket(&endpoint).await;
        let honest = S3Blobs::connect(&config(&endpoint, &bucket)).unwrap();
        honest.put(&key("kept.bin"), Bytes::from_static(b"kept")).await.unwrap();
        let forged =
            S3Config { secret_access_key: "not-the-secret".into(), ..config(&endpoint, &bucket) };
        let forged = S3Blobs::connect(&forged).unwrap();

        let put = forged.put(&key("forged.bin"), Bytes::from_static(b"forged")).await;
        assert!(put.is_err(), "a put signed with the wrong secret was accepted");
        let err = forged.head(&key("kept.bin")).await.expect_err("a head with the wrong secret");
        assert!(!matches!(err, BlobError::NotFound), "refused, not reported missing: {err}");
        assert!(forged.get(&key("kept.bin"), None).await.is_err());
        assert!(forged.check().await.is_err(), "the check reports the refusal");
        assert_eq!(honest.head(&key("forged.bin")).await.unwrap(), None, "nothing was stored");
        honest.check().await.expect("the honest client is healthy");
    }

    #[tokio::test]
    async fn a_missing_bucket_fails_the_check() {
        let Some(endpoint) = test_endpoint() else { return };
        let missing = format!("veza-missing-{}", uuid::Uuid::new_v4().simple());
        let blobs = S3Blobs::connect(&config(&endpoint, &missing)).unwrap();
        let err = blobs.check().await.expect_err("no such bucket");
        assert!(err.to_string().contains("NoSuchBucket"), "{err}");
    }

    #[test]
    fn the_secret_key_never_shows_in_debug_output() {
        let config =
            S3Config { secret_access_key: "hunter2-hunter2".into(), ..config("http://h:9", "b") };
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
