//! Streamed puts and ranged reads hold a bounded amount of memory whatever the object's size.
//! A test binary of its own, so the process's peak resident set (`VmHWM` in
//! `/proc/self/status`, reset before each measure) measures this test and nothing running
//! beside it. Linux only.
#![cfg(target_os = "linux")]

use bytes::Bytes;
use futures_util::StreamExt as _;
use std::sync::{Arc, LazyLock};
use veza_adapters::fs_blobs::FsBlobs;
use veza_adapters::s3_blobs::{S3Blobs, testing};
use veza_core::blobs::{BlobBody, BlobKey, BlobStore, ByteRange};

const MIB: u64 = 1024 * 1024;
/// Four times the growth allowed below: an implementation that buffered the object would fail.
const SIZE: u64 = 256 * MIB;
/// 8 MiB parts, two uploading and one filling, plus allocator slack.
const ALLOWED_GROWTH: u64 = 64 * MIB;

/// The object repeats a pseudo-random period that no part or chunk size divides, so parts
/// stored out of order would be caught; copying and comparing whole slices keeps the check
/// fast in debug builds.
const PERIOD: usize = 1_000_003;
static BASE: LazyLock<Vec<u8>> = LazyLock::new(|| {
    (0..PERIOD as u64).map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8).collect()
});

/// The slices of `BASE` that make up the object's bytes `at..at + len`.
fn pieces(mut at: u64, mut len: usize) -> Vec<&'static [u8]> {
    let mut out = Vec::new();
    while len > 0 {
        let start = usize::try_from(at % PERIOD as u64).unwrap();
        let n = (PERIOD - start).min(len);
        out.push(&BASE[start..start + n]);
        at += n as u64;
        len -= n;
    }
    out
}

/// `SIZE` bytes, made a mebibyte at a time as the store pulls them.
fn generated() -> BlobBody {
    BlobBody::new(futures_util::stream::unfold(0, |at| async move {
        (at < SIZE).then(|| {
            let chunk: Vec<u8> = pieces(at, MIB as usize).concat();
            (Ok(Bytes::from(chunk)), at + MIB)
        })
    }))
}

/// Starts a new peak: the kernel resets `VmHWM` to the current resident set on "5".
fn reset_peak_rss() {
    std::fs::write("/proc/self/clear_refs", "5").expect("resetting VmHWM");
}

fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM line");
    let kib: u64 = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("VmHWM");
    kib * 1024
}

/// Reads `range` back chunk by chunk, checking every byte against the pattern.
async fn check(store: &dyn BlobStore, key: &BlobKey, range: Option<ByteRange>) -> u64 {
    let read = store.get(key, range).await.expect("get");
    let (mut at, end) = (read.range.start, read.range.end);
    let mut body = read.body;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.expect("chunk");
        let mut rest = &chunk[..];
        for piece in pieces(at, chunk.len()) {
            assert!(rest[..piece.len()] == *piece, "bytes from {at} differ");
            rest = &rest[piece.len()..];
        }
        at += chunk.len() as u64;
    }
    assert_eq!(at, end, "the whole range arrived");
    end - read.range.start
}

async fn measure(name: &str, store: Arc<dyn BlobStore>) {
    let key = BlobKey::parse("memory/large.bin").unwrap();
    reset_peak_rss();
    let before = peak_rss();
    assert_eq!(store.put_stream(&key, generated()).await.expect("put_stream"), SIZE);
    let after_put = peak_rss();
    assert_eq!(check(store.as_ref(), &key, None).await, SIZE);
    let middle = ByteRange::Bounded { start: SIZE / 2, end: SIZE / 2 + 64 * 1024 };
    assert_eq!(check(store.as_ref(), &key, Some(middle)).await, 64 * 1024);
    assert_eq!(check(store.as_ref(), &key, Some(ByteRange::Last(100 * MIB))).await, 100 * MIB);
    let after_reads = peak_rss();
    eprintln!(
        "{name}: {} MiB streamed; peak RSS {} MiB before, {} MiB after the put, {} MiB after the reads",
        SIZE / MIB,
        before / MIB,
        after_put / MIB,
        after_reads / MIB
    );
    assert!(
        after_reads - before < ALLOWED_GROWTH,
        "{name}: peak RSS grew by {} MiB",
        (after_reads - before) / MIB
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_256_mib_object_streams_in_and_out_in_bounded_memory_on_files_and_s3() {
    let dir = tempfile::tempdir().unwrap();
    measure("files", Arc::new(FsBlobs::open(dir.path()).unwrap())).await;
    drop(dir);
    if let Some(endpoint) = testing::test_endpoint() {
        let bucket = testing::fresh_bucket(&endpoint).await;
        let blobs = S3Blobs::connect(&testing::config(&endpoint, &bucket)).unwrap();
        measure("s3", Arc::new(blobs)).await;
    }
}
