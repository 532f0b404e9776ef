//! The rate-limiter port contract.

use std::sync::Arc;
use time::Duration;

use super::{now, unique_tag};
use crate::rate_limit::RateLimiter;

/// Instantiates every case below as a `#[tokio::test]` against `$fresh()`, an async fn
/// returning an `Arc<dyn RateLimiter>` (keys are unique per case, so one may be shared).
#[macro_export]
macro_rules! rate_limiter_contract {
    ($($fresh:tt)+) => {
        $crate::contract_suite!(rate_limiter [
            hits_are_counted_in_one_window,
            concurrent_hits_are_all_counted,
            a_window_ends_and_a_new_one_starts,
            clearing_a_key_forgets_it,
        ] $($fresh)+);
    };
}

pub async fn hits_are_counted_in_one_window(limiter: Arc<dyn RateLimiter>) {
    let key = unique_tag("hits");
    let start = now();
    assert_eq!(limiter.current(&key, start).await.unwrap(), None);
    let first = limiter.hit(&key, start, Duration::minutes(15)).await.unwrap();
    assert_eq!(first.count, 1);
    let second = limiter.hit(&key, start + Duration::minutes(1), Duration::minutes(15)).await;
    let second = second.unwrap();
    assert_eq!(second.count, 2);
    assert_eq!(second.resets_at, first.resets_at, "the window starts at the first hit");
    let current = limiter.current(&key, start + Duration::minutes(2)).await.unwrap().unwrap();
    assert_eq!(current.count, 2);
    assert!(current.resets_at > start + Duration::minutes(14));
    assert!(current.resets_at <= start + Duration::minutes(15) + Duration::seconds(1));
}

pub async fn concurrent_hits_are_all_counted(limiter: Arc<dyn RateLimiter>) {
    let key = unique_tag("conc");
    let at = now();
    let hits: Vec<_> = (0..100)
        .map(|_| {
            let limiter = Arc::clone(&limiter);
            let key = key.clone();
            tokio::spawn(async move { limiter.hit(&key, at, Duration::minutes(5)).await })
        })
        .collect();
    for hit in hits {
        hit.await.unwrap().unwrap();
    }
    assert_eq!(limiter.current(&key, at).await.unwrap().unwrap().count, 100);
}

pub async fn a_window_ends_and_a_new_one_starts(limiter: Arc<dyn RateLimiter>) {
    let key = unique_tag("win");
    let start = now();
    for _ in 0..3 {
        limiter.hit(&key, start, Duration::seconds(60)).await.unwrap();
    }
    let after = start + Duration::seconds(61);
    assert_eq!(limiter.current(&key, after).await.unwrap(), None);
    assert_eq!(limiter.hit(&key, after, Duration::seconds(60)).await.unwrap().count, 1);
}

pub async fn clearing_a_key_forgets_it(limiter: Arc<dyn RateLimiter>) {
    let (key, other) = (unique_tag("clr"), unique_tag("keep"));
    let at = now();
    limiter.hit(&key, at, Duration::minutes(5)).await.unwrap();
    limiter.hit(&other, at, Duration::minutes(5)).await.unwrap();
    limiter.clear(&key).await.unwrap();
    assert_eq!(limiter.current(&key, at).await.unwrap(), None);
    assert_eq!(limiter.current(&other, at).await.unwrap().unwrap().count, 1);
}
