//! The `VirusScanner` contract for scanners that inspect content (not `NoScanner`, which
//! vouches for everything by design). Malware is the EICAR test file, which every scanner
//! detects and which does nothing; the signature database `.ci/run` gives clamd detects it
//! whole and anywhere inside a larger stream. Content is generated chunk by chunk, as an
//! upload arrives, never built whole.

use bytes::Bytes;
use futures_core::Stream;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::blobs::{BlobBody, BlobError};
use crate::scan::{ScanError, ScanVerdict, VirusScanner};

/// Instantiates every case below as a `#[tokio::test]`; `$fresh()` returns an
/// `Arc<dyn VirusScanner>` (or, with `=> optional`, an `Option` of one, `None` to skip).
#[macro_export]
macro_rules! virus_scanner_contract {
    ($($fresh:tt)+) => {
        $crate::contract_suite!(virus_scanner [
            the_scanner_answers_a_ping,
            clean_bytes_are_clean,
            an_empty_stream_is_clean,
            the_eicar_test_file_is_infected,
            eicar_split_into_tiny_chunks_is_still_found,
            eicar_after_three_mebibytes_of_other_bytes_is_infected,
            a_source_that_fails_midway_is_an_error_not_clean,
            concurrent_scans_are_each_answered_with_their_own_verdict,
        ] $($fresh)+);
    };
}

/// The 68-byte EICAR anti-virus test file. Assembled at run time so that this source file
/// and the test binaries' data sections never hold it whole, where an anti-virus on a
/// developer's machine would quarantine them.
pub fn eicar() -> Bytes {
    let head = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$";
    let tail = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    Bytes::from([head, tail].concat())
}

/// A stream over `chunks`, as a blob read or an upload would yield them.
pub fn body(chunks: impl IntoIterator<Item = Result<Bytes, BlobError>>) -> BlobBody {
    BlobBody::new(Chunks(chunks.into_iter().collect::<Vec<_>>().into_iter()))
}

/// `len` bytes of harmless, varied content (a linear congruential sequence, so no run of
/// it looks like a text signature), in chunks of `chunk` bytes, each made when asked for.
pub fn clean_chunks(len: usize, chunk: usize) -> impl Iterator<Item = Result<Bytes, BlobError>> {
    let mut state: u32 = 0x1234_5678;
    (0..len).step_by(chunk).map(move |start| {
        let bytes: Vec<u8> = (start..(start + chunk).min(len))
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 24) as u8
            })
            .collect();
        Ok(Bytes::from(bytes))
    })
}

/// Stream over an iterator of chunks, produced lazily.
struct Chunks<I>(I);

impl<I: Iterator<Item = Result<Bytes, BlobError>> + Unpin> Stream for Chunks<I> {
    type Item = Result<Bytes, BlobError>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.next())
    }
}

fn lazy_body(
    chunks: impl Iterator<Item = Result<Bytes, BlobError>> + Send + Unpin + 'static,
) -> BlobBody {
    BlobBody::new(Chunks(chunks))
}

fn assert_infected(verdict: &ScanVerdict, what: &str) {
    match verdict {
        // Signature names vary by database (`Win.Test.EICAR_HDB-1`, `Eicar-Test-Signature`,
        // ours `Veza.Test.EICAR.NDB`), but every one names EICAR.
        ScanVerdict::Infected { signature } => assert!(
            signature.to_ascii_uppercase().contains("EICAR"),
            "{what}: unexpected signature {signature:?}"
        ),
        ScanVerdict::Clean => panic!("{what}: called clean"),
    }
}

pub async fn the_scanner_answers_a_ping(scanner: Arc<dyn VirusScanner>) {
    scanner.ping().await.expect("ping");
    assert_ne!(scanner.name(), "none", "this contract is for scanners that inspect content");
}

pub async fn clean_bytes_are_clean(scanner: Arc<dyn VirusScanner>) {
    let text = Bytes::from_static(b"RIFF....WAVEfmt a perfectly ordinary track\n");
    let verdict = scanner.scan(body([Ok(text)])).await.expect("scan");
    assert_eq!(verdict, ScanVerdict::Clean);
    let verdict = scanner.scan(lazy_body(clean_chunks(256 * 1024, 16 * 1024))).await;
    assert_eq!(verdict.expect("scan"), ScanVerdict::Clean);
}

pub async fn an_empty_stream_is_clean(scanner: Arc<dyn VirusScanner>) {
    assert_eq!(scanner.scan(body([])).await.expect("scan"), ScanVerdict::Clean);
    let empty_chunks = body([Ok(Bytes::new()), Ok(Bytes::new())]);
    assert_eq!(scanner.scan(empty_chunks).await.expect("scan"), ScanVerdict::Clean);
}

pub async fn the_eicar_test_file_is_infected(scanner: Arc<dyn VirusScanner>) {
    let verdict = scanner.scan(body([Ok(eicar())])).await.expect("scan");
    assert_infected(&verdict, "the EICAR file");
}

pub async fn eicar_split_into_tiny_chunks_is_still_found(scanner: Arc<dyn VirusScanner>) {
    let file = eicar();
    let chunks = (0..file.len()).step_by(5).map(|i| Ok(file.slice(i..(i + 5).min(file.len()))));
    let verdict = scanner.scan(body(chunks)).await.expect("scan");
    assert_infected(&verdict, "EICAR in 5-byte chunks");
}

pub async fn eicar_after_three_mebibytes_of_other_bytes_is_infected(
    scanner: Arc<dyn VirusScanner>,
) {
    let chunks = clean_chunks(3 * 1024 * 1024, 64 * 1024)
        .chain(std::iter::once(Ok(eicar())))
        .chain(clean_chunks(100 * 1024, 64 * 1024));
    let verdict = scanner.scan(lazy_body(chunks)).await.expect("scan");
    assert_infected(&verdict, "EICAR after 3 MiB");
}

pub async fn a_source_that_fails_midway_is_an_error_not_clean(scanner: Arc<dyn VirusScanner>) {
    let chunks = clean_chunks(128 * 1024, 32 * 1024)
        .chain(std::iter::once(Err(BlobError::backend("the client went away"))));
    match scanner.scan(lazy_body(chunks)).await {
        Err(ScanError::Source(err)) => {
            assert!(err.to_string().contains("the client went away"), "{err}")
        }
        other => panic!("expected the source's error, got {other:?}"),
    }
}

pub async fn concurrent_scans_are_each_answered_with_their_own_verdict(
    scanner: Arc<dyn VirusScanner>,
) {
    let scans: Vec<_> = (0..24usize)
        .map(|i| {
            let scanner = scanner.clone();
            tokio::spawn(async move {
                // Odd scans carry EICAR at a different offset each; even ones are clean.
                let infected = i % 2 == 1;
                let tail = infected.then(|| Ok(eicar()));
                let chunks = clean_chunks(i * 7 * 1024, 8 * 1024).chain(tail);
                (infected, scanner.scan(lazy_body(chunks)).await)
            })
        })
        .collect();
    for (i, scan) in scans.into_iter().enumerate() {
        let (infected, verdict) = scan.await.expect("task");
        let verdict = verdict.unwrap_or_else(|err| panic!("scan {i} failed: {err}"));
        if infected {
            assert_infected(&verdict, &format!("scan {i}"));
        } else {
            assert_eq!(verdict, ScanVerdict::Clean, "scan {i}");
        }
    }
}
