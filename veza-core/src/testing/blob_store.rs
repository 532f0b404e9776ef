//! The blob-store port contract.

use bytes::Bytes;
use std::sync::Arc;

use super::unique_tag;
use crate::blobs::{BlobError, BlobKey, BlobStore, ByteRange};

/// Instantiates every case below as a `#[tokio::test]` against `$fresh()`, an async fn
/// returning a new, empty `Arc<dyn BlobStore>`.
#[macro_export]
macro_rules! blob_store_contract {
    ($fresh:path) => {
        $crate::blob_store_contract!(@cases $fresh;
            a_stored_blob_reads_back_whole_with_its_size,
            ranges_return_exactly_the_bytes_they_name,
            a_range_past_the_end_is_unsatisfiable_and_names_the_size,
            overwriting_replaces_the_whole_object_and_repeating_is_harmless,
            deleting_removes_the_object_and_deleting_again_is_fine,
            missing_keys_are_not_found,
            racing_writes_to_one_key_leave_one_whole_object,
            a_megabyte_streams_back_in_order,
            hostile_keys_never_reach_a_store,
        );
    };
    (@cases $fresh:path; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                $crate::testing::blob_store::$case($fresh().await).await;
            }
        )+
    };
}

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
