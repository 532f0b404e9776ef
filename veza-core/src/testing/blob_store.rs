//! The blob-store port contract: whole and streamed writes, ranged reads, atomicity under
//! races and failures. Streamed objects are generated chunk by chunk and checked by sha256 and
//! by ranges computed from their pattern, so no case ever holds a large object in one buffer.

use bytes::Bytes;
use futures_core::Stream;
use sha2::{Digest, Sha256};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::unique_tag;
use crate::blobs::{BlobBody, BlobError, BlobKey, BlobStore, ByteRange};

/// Instantiates every case below as a `#[tokio::test]`.
///
/// - `blob_store_contract!(fresh)`: `$fresh()` is an async fn returning a new, empty
///   `Arc<dyn BlobStore>`.
/// - `blob_store_contract!(fresh => optional)`: `$fresh()` returns
///   `Option<Arc<dyn BlobStore>>`, and each case returns early on `None`. For stores that need
///   an external server: `$fresh` decides when a missing one is a skip and when a failure.
#[macro_export]
macro_rules! blob_store_contract {
    ($($fresh:tt)+) => {
        $crate::contract_suite!(blob_store [
            a_stored_blob_reads_back_whole_with_its_size,
            ranges_return_exactly_the_bytes_they_name,
            a_range_past_the_end_is_unsatisfiable_and_names_the_size,
            overwriting_replaces_the_whole_object_and_repeating_is_harmless,
            deleting_removes_the_object_and_deleting_again_is_fine,
            missing_keys_are_not_found,
            racing_writes_to_one_key_leave_one_whole_object,
            a_megabyte_streams_back_in_order,
            hostile_keys_never_reach_a_store,
            a_streamed_40_mib_object_reads_back_byte_exact_whole_and_by_ranges,
            small_and_empty_streams_store_like_put,
            a_stream_failing_midway_stores_nothing_and_keeps_the_old_object,
            an_abandoned_streamed_put_stores_nothing,
            racing_streamed_puts_to_one_key_leave_one_whole_object,
            renaming_moves_the_object_and_replaces_the_target,
            copying_keeps_the_source_and_replaces_the_target,
        ] $($fresh)+);
    };
}

const MIB: u64 = 1024 * 1024;
/// Several parts of any multipart upload (S3 parts are 5 MiB to 5 GiB; adapters use 8–16).
const BIG: u64 = 40 * MIB;

fn key(prefix: &str) -> BlobKey {
    BlobKey::parse(&format!("contract/{}.bin", unique_tag(prefix))).expect("valid key")
}

async fn read(store: &Arc<dyn BlobStore>, key: &BlobKey, range: Option<ByteRange>) -> Vec<u8> {
    store.get(key, range).await.expect("get").body.collect().await.expect("read body")
}

pub async fn a_stored_blob_reads_back_whole_with_its_size(store: Arc<dyn BlobStore>) {
    let key = key("whole");
    store.put(&key, Bytes::from_static(b"hello, blobs")).await.unwrap();
    let read = store.get(&key, None).await.unwrap();
    assert_eq!(read.meta.size, 12);
    assert_eq!(read.range, 0..12);
    assert_eq!(read.body.collect().await.unwrap(), b"hello, blobs");
    let head = store.head(&key).await.unwrap().expect("head of a stored blob");
    assert_eq!(head.size, 12);
    let age = time::OffsetDateTime::now_utc() - head.last_modified;
    assert!(age.whole_minutes().abs() < 5, "last_modified is about now: {head:?}");
}

pub async fn ranges_return_exactly_the_bytes_they_name(store: Arc<dyn BlobStore>) {
    let key = key("range");
    store.put(&key, Bytes::from_static(b"0123456789")).await.unwrap();
    let cases: [(ByteRange, &[u8], std::ops::Range<u64>); 5] = [
        (ByteRange::Bounded { start: 2, end: 5 }, b"234", 2..5),
        (ByteRange::Bounded { start: 8, end: 100 }, b"89", 8..10),
        (ByteRange::From(7), b"789", 7..10),
        (ByteRange::Last(4), b"6789", 6..10),
        (ByteRange::Last(50), b"0123456789", 0..10),
    ];
    for (range, expected, served) in cases {
        let read = store.get(&key, Some(range)).await.unwrap();
        assert_eq!(read.range, served, "{range:?}");
        assert_eq!(read.meta.size, 10, "the size is the whole object's");
        assert_eq!(read.body.collect().await.unwrap(), expected, "{range:?}");
    }
}

pub async fn a_range_past_the_end_is_unsatisfiable_and_names_the_size(store: Arc<dyn BlobStore>) {
    let key = key("unsat");
    store.put(&key, Bytes::from_static(b"0123456789")).await.unwrap();
    for range in [
        ByteRange::From(10),
        ByteRange::Bounded { start: 12, end: 20 },
        ByteRange::Bounded { start: 4, end: 4 },
        ByteRange::Last(0),
    ] {
        match store.get(&key, Some(range)).await {
            Err(BlobError::RangeNotSatisfiable { size: 10 }) => {}
            other => panic!("{range:?}: expected RangeNotSatisfiable, got {other:?}"),
        }
    }
}

pub async fn overwriting_replaces_the_whole_object_and_repeating_is_harmless(
    store: Arc<dyn BlobStore>,
) {
    let key = key("over");
    store.put(&key, Bytes::from_static(b"a much longer first version")).await.unwrap();
    store.put(&key, Bytes::from_static(b"short")).await.unwrap();
    assert_eq!(read(&store, &key, None).await, b"short", "no tail of the old object remains");
    store.put(&key, Bytes::from_static(b"short")).await.unwrap();
    assert_eq!(read(&store, &key, None).await, b"short");
    assert_eq!(store.head(&key).await.unwrap().unwrap().size, 5);
}

pub async fn deleting_removes_the_object_and_deleting_again_is_fine(store: Arc<dyn BlobStore>) {
    let (gone, kept) = (key("gone"), key("kept"));
    store.put(&gone, Bytes::from_static(b"bye")).await.unwrap();
    store.put(&kept, Bytes::from_static(b"stay")).await.unwrap();
    store.delete(&gone).await.unwrap();
    assert!(matches!(store.get(&gone, None).await, Err(BlobError::NotFound)));
    assert_eq!(store.head(&gone).await.unwrap(), None);
    store.delete(&gone).await.expect("deleting a missing blob is not an error");
    assert_eq!(read(&store, &kept, None).await, b"stay", "other keys are untouched");
}

pub async fn renaming_moves_the_object_and_replaces_the_target(store: Arc<dyn BlobStore>) {
    let (staged, target) = (key("staged"), key("target"));
    let nested = BlobKey::parse(&format!("contract/{}/ab/cd.bin", unique_tag("n"))).unwrap();
    store.put(&target, Bytes::from_static(b"old target")).await.unwrap();
    store.put(&staged, Bytes::from_static(b"checked")).await.unwrap();
    store.rename(&staged, &target).await.unwrap();
    assert_eq!(read(&store, &target, None).await, b"checked", "the target is replaced whole");
    assert_eq!(store.head(&staged).await.unwrap(), None, "nothing stays at the old key");
    store.rename(&target, &nested).await.expect("missing parent folders are no obstacle");
    assert_eq!(read(&store, &nested, None).await, b"checked");
    let missing = store.rename(&staged, &target).await;
    assert!(matches!(missing, Err(BlobError::NotFound)), "{missing:?}");
}

pub async fn copying_keeps_the_source_and_replaces_the_target(store: Arc<dyn BlobStore>) {
    let (source, target) = (key("source"), key("copy"));
    let nested = BlobKey::parse(&format!("contract/{}/ab/cd.bin", unique_tag("c"))).unwrap();
    store.put(&target, Bytes::from_static(b"old target")).await.unwrap();
    store.put(&source, Bytes::from_static(b"checked")).await.unwrap();
    store.copy(&source, &target).await.unwrap();
    assert_eq!(read(&store, &target, None).await, b"checked", "the target is replaced whole");
    assert_eq!(read(&store, &source, None).await, b"checked", "the source stays");
    store.copy(&source, &nested).await.expect("missing parent folders are no obstacle");
    store.delete(&source).await.unwrap();
    assert_eq!(read(&store, &nested, None).await, b"checked", "a copy outlives its source");
    assert_eq!(read(&store, &target, None).await, b"checked");
    let missing = store.copy(&source, &target).await;
    assert!(matches!(missing, Err(BlobError::NotFound)), "{missing:?}");
    assert_eq!(read(&store, &target, None).await, b"checked", "a failed copy changes nothing");
}

pub async fn missing_keys_are_not_found(store: Arc<dyn BlobStore>) {
    let missing = key("missing");
    assert!(matches!(store.get(&missing, None).await, Err(BlobError::NotFound)));
    let ranged = store.get(&missing, Some(ByteRange::From(0))).await;
    assert!(matches!(ranged, Err(BlobError::NotFound)), "{ranged:?}");
    assert_eq!(store.head(&missing).await.unwrap(), None);
    let nested = BlobKey::parse(&format!("contract/{}/deep/er.bin", unique_tag("d"))).unwrap();
    assert!(matches!(store.get(&nested, None).await, Err(BlobError::NotFound)));
}

pub async fn racing_writes_to_one_key_leave_one_whole_object(store: Arc<dyn BlobStore>) {
    let key = key("race");
    let versions: Vec<Vec<u8>> = (0..16u8).map(|i| vec![i; 64 * 1024]).collect();
    let writers: Vec<_> = versions
        .iter()
        .cloned()
        .map(|bytes| {
            let (store, key) = (Arc::clone(&store), key.clone());
            tokio::spawn(async move { store.put(&key, Bytes::from(bytes)).await })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    let stored = read(&store, &key, None).await;
    assert!(versions.contains(&stored), "the object is one writer's bytes, never a mix");
}

pub async fn a_megabyte_streams_back_in_order(store: Arc<dyn BlobStore>) {
    let key = key("big");
    let bytes: Vec<u8> = (0..1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    store.put(&key, Bytes::from(bytes.clone())).await.unwrap();
    assert_eq!(read(&store, &key, None).await, bytes);
    let middle = ByteRange::Bounded { start: 300_000, end: 700_001 };
    assert_eq!(read(&store, &key, Some(middle)).await, bytes[300_000..700_001]);
}

/// The port takes `BlobKey`s only, so a traversal attempt is refused before any adapter
/// sees it; an adapter's own tests check that valid keys stay under its root.
pub async fn hostile_keys_never_reach_a_store(store: Arc<dyn BlobStore>) {
    for hostile in ["../escape", "/etc/passwd", "a/../../b", "..", "a\\..\\b", "x/.staging", ""] {
        assert!(BlobKey::parse(hostile).is_err(), "{hostile:?} would reach the store");
    }
    let dotted = BlobKey::parse("contract/a..b/c..d.bin").unwrap();
    store.put(&dotted, Bytes::from_static(b"inside")).await.unwrap();
    assert_eq!(read(&store, &dotted, None).await, b"inside");
}

/// Byte `i` of generated object `seed`: position-dependent, so parts stored out of order or
/// twice change the digest, and any range can be checked without keeping the object.
fn pattern_byte(seed: u64, i: u64) -> u8 {
    ((i ^ (seed << 40)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
}

fn pattern(seed: u64, range: std::ops::Range<u64>) -> Vec<u8> {
    range.map(|i| pattern_byte(seed, i)).collect()
}

/// Chunk sizes a generated body cycles through: tiny, odd and larger than a network read, so
/// chunk boundaries fall everywhere relative to an adapter's part boundaries.
const CHUNK_SIZES: [u64; 5] = [65_536, 1, 1_048_583, 4_093, 333_333];

/// An object of `size` bytes made chunk by chunk as the store pulls them; with `fail_at`, the
/// stream yields an error once that many bytes have gone out, as a dropped upload would.
struct Generated {
    seed: u64,
    size: u64,
    sent: u64,
    turn: usize,
    fail_at: Option<u64>,
}

impl Iterator for Generated {
    type Item = Result<Bytes, BlobError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(at) = self.fail_at
            && self.sent >= at
        {
            self.fail_at = None;
            self.size = self.sent;
            return Some(Err(BlobError::backend("the uploading client went away")));
        }
        let left = self.size - self.sent;
        let len = CHUNK_SIZES[self.turn % CHUNK_SIZES.len()]
            .min(left)
            .min(self.fail_at.map_or(u64::MAX, |at| at - self.sent));
        if len == 0 {
            return None;
        }
        let chunk = pattern(self.seed, self.sent..self.sent + len);
        self.sent += len;
        self.turn += 1;
        Some(Ok(Bytes::from(chunk)))
    }
}

/// Any iterator of chunks as a stream (the contract needs no async source for these).
struct IterStream<I>(I);

impl<I: Iterator<Item = Result<Bytes, BlobError>> + Unpin> Stream for IterStream<I> {
    type Item = Result<Bytes, BlobError>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.next())
    }
}

fn generated(seed: u64, size: u64) -> BlobBody {
    BlobBody::new(IterStream(Generated { seed, size, sent: 0, turn: 0, fail_at: None }))
}

fn failing(seed: u64, size: u64, fail_at: u64) -> BlobBody {
    BlobBody::new(IterStream(Generated { seed, size, sent: 0, turn: 0, fail_at: Some(fail_at) }))
}

fn chunks(parts: &[&'static [u8]]) -> BlobBody {
    let parts: Vec<_> = parts.iter().map(|part| Ok(Bytes::from_static(part))).collect();
    BlobBody::new(IterStream(parts.into_iter()))
}

/// The sha256 and length of a generated object, computed a mebibyte at a time.
fn expected_digest(seed: u64, size: u64) -> (Vec<u8>, u64) {
    let mut hasher = Sha256::new();
    let mut at = 0;
    while at < size {
        let end = (at + MIB).min(size);
        hasher.update(pattern(seed, at..end));
        at = end;
    }
    (hasher.finalize().to_vec(), size)
}

/// The sha256 and length of a body, hashed as its chunks arrive.
async fn digest(mut body: BlobBody) -> (Vec<u8>, u64) {
    let mut hasher = Sha256::new();
    let mut len = 0;
    while let Some(chunk) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_next(cx)).await {
        let chunk = chunk.expect("read chunk");
        len += chunk.len() as u64;
        hasher.update(&chunk);
    }
    (hasher.finalize().to_vec(), len)
}

pub async fn a_streamed_40_mib_object_reads_back_byte_exact_whole_and_by_ranges(
    store: Arc<dyn BlobStore>,
) {
    let key = key("stream40");
    assert_eq!(store.put_stream(&key, generated(7, BIG)).await.unwrap(), BIG);
    assert_eq!(store.head(&key).await.unwrap().expect("head").size, BIG);
    let whole = store.get(&key, None).await.unwrap();
    assert_eq!((whole.meta.size, whole.range.clone()), (BIG, 0..BIG));
    assert!(digest(whole.body).await == expected_digest(7, BIG), "sha256 of the whole object");
    let middle = BIG / 2 - 12_345;
    let cases = [
        (ByteRange::Bounded { start: 0, end: 1 }, 0..1),
        (ByteRange::Bounded { start: 8 * MIB - 3, end: 8 * MIB + 3 }, 8 * MIB - 3..8 * MIB + 3),
        (ByteRange::Bounded { start: middle, end: middle + 70_001 }, middle..middle + 70_001),
        (ByteRange::Bounded { start: BIG - 10, end: BIG + 10 }, BIG - 10..BIG),
        (ByteRange::From(BIG - 1), BIG - 1..BIG),
        (ByteRange::Last(4_097), BIG - 4_097..BIG),
    ];
    for (range, served) in cases {
        let read = store.get(&key, Some(range)).await.unwrap();
        assert_eq!((read.meta.size, read.range.clone()), (BIG, served.clone()), "{range:?}");
        assert!(read.body.collect().await.unwrap() == pattern(7, served), "bytes of {range:?}");
    }
}

pub async fn small_and_empty_streams_store_like_put(store: Arc<dyn BlobStore>) {
    let small = key("streamsmall");
    assert_eq!(store.put_stream(&small, chunks(&[b"hello, ", b"", b"streams"])).await.unwrap(), 14);
    assert_eq!(read(&store, &small, None).await, b"hello, streams");
    let empty = key("streamempty");
    assert_eq!(store.put_stream(&empty, chunks(&[])).await.unwrap(), 0);
    assert_eq!(store.head(&empty).await.unwrap().expect("an empty object exists").size, 0);
    assert_eq!(read(&store, &empty, None).await, b"");
}

pub async fn a_stream_failing_midway_stores_nothing_and_keeps_the_old_object(
    store: Arc<dyn BlobStore>,
) {
    let kept = key("failkept");
    store.put(&kept, Bytes::from_static(b"the old object")).await.unwrap();
    // After whole parts have gone up, and before the first part is complete.
    for fail_at in [20 * MIB + 17, 1_000] {
        let fresh = key("failnew");
        for target in [&kept, &fresh] {
            match store.put_stream(target, failing(3, BIG, fail_at)).await {
                Err(BlobError::Backend(err)) if err.to_string().contains("client went away") => {}
                other => panic!("failing at {fail_at}: expected the stream's error, got {other:?}"),
            }
        }
        assert_eq!(read(&store, &kept, None).await, b"the old object", "failing at {fail_at}");
        assert_eq!(store.head(&fresh).await.unwrap(), None, "failing at {fail_at}");
    }
}

/// The stream behind a streamed put that is dropped half-way, as when an upload's connection
/// closes and its request future with it.
struct Channel(tokio::sync::mpsc::Receiver<Result<Bytes, BlobError>>);

impl Stream for Channel {
    type Item = Result<Bytes, BlobError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

pub async fn an_abandoned_streamed_put_stores_nothing(store: Arc<dyn BlobStore>) {
    let key = key("abandoned");
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let writer = tokio::spawn({
        let (store, key) = (Arc::clone(&store), key.clone());
        async move { store.put_stream(&key, BlobBody::new(Channel(rx))).await }
    });
    // Through a one-slot channel: when the last send returns, the store has taken all but the
    // last two mebibytes, more than a first part.
    for i in 0..20u8 {
        tx.send(Ok(Bytes::from(vec![i; MIB as usize]))).await.expect("the store keeps reading");
    }
    writer.abort();
    assert!(writer.await.expect_err("aborted").is_cancelled(), "the put was still waiting");
    assert_eq!(store.head(&key).await.unwrap(), None);
    assert!(matches!(store.get(&key, None).await, Err(BlobError::NotFound)));
}

pub async fn racing_streamed_puts_to_one_key_leave_one_whole_object(store: Arc<dyn BlobStore>) {
    let key = key("streamrace");
    let size = 12 * MIB + 5;
    let seeds = [11, 12, 13, 14];
    let writers: Vec<_> = seeds
        .iter()
        .map(|&seed| {
            let (store, key) = (Arc::clone(&store), key.clone());
            tokio::spawn(async move { store.put_stream(&key, generated(seed, size)).await })
        })
        .collect();
    for writer in writers {
        assert_eq!(writer.await.unwrap().unwrap(), size);
    }
    let stored = digest(store.get(&key, None).await.unwrap().body).await;
    assert!(
        seeds.iter().any(|&seed| expected_digest(seed, size) == stored),
        "the object is one writer's bytes, never a mix"
    );
}
