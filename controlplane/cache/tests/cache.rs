//! The same behaviour from the in-process cache and a real Redis.

use ferrovox_cache::Cache;
use ferrovox_testkit::devstack::DevStack;
use std::time::Duration;

fn key(name: &str) -> String {
    format!("test:{}:{name}", uuid::Uuid::new_v4())
}

async fn behaves_like_a_cache(cache: &dyn Cache) {
    let k = key("customer");
    assert_eq!(cache.get(&k).await.unwrap(), None);
    cache.set(&k, b"v1", Duration::from_secs(60)).await.unwrap();
    assert_eq!(cache.get(&k).await.unwrap().as_deref(), Some(&b"v1"[..]));
    cache.set(&k, b"v2", Duration::from_secs(60)).await.unwrap();
    assert_eq!(cache.get(&k).await.unwrap().as_deref(), Some(&b"v2"[..]));
    cache.delete(&k).await.unwrap();
    assert_eq!(cache.get(&k).await.unwrap(), None);
    assert!(
        !cache.touch(&k, Duration::from_secs(1)).await.unwrap(),
        "touching a missing key"
    );

    let short = key("session");
    cache
        .set(&short, b"s", Duration::from_millis(300))
        .await
        .unwrap();
    assert!(cache.touch(&short, Duration::from_secs(60)).await.unwrap());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        cache.get(&short).await.unwrap().as_deref(),
        Some(&b"s"[..]),
        "touch extended the TTL"
    );

    let expiring = key("expiring");
    cache
        .set(&expiring, b"x", Duration::from_millis(100))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        cache.get(&expiring).await.unwrap(),
        None,
        "expired entries are gone"
    );
    cache.check().await.unwrap();
}

#[tokio::test]
async fn memory_cache() {
    let cache = ferrovox_cache::open("memory://").unwrap();
    assert_eq!(cache.kind(), "memory");
    behaves_like_a_cache(cache.as_ref()).await;
}

#[tokio::test]
async fn redis_cache() {
    let cache = ferrovox_cache::open(&DevStack::get().cache_url).unwrap();
    assert_eq!(cache.kind(), "redis");
    behaves_like_a_cache(cache.as_ref()).await;
}

#[tokio::test]
async fn unreachable_redis_fails_fast_instead_of_hanging() {
    let port = ferrovox_testkit::ports::free_tcp_port();
    let cache = ferrovox_cache::open(&format!("redis://127.0.0.1:{port}/")).unwrap();
    let started = std::time::Instant::now();
    assert!(cache.check().await.is_err());
    assert!(cache.get("k").await.is_err());
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn unknown_schemes_are_refused() {
    let error = ferrovox_cache::open("memcached://x").err().unwrap();
    assert!(error.to_string().contains("memcached://x"));
}
