//! Token-bucket rate limits answer 429 with Retry-After, per customer, and failed
//! authentications are throttled per source address.

use ferrovox_contract::MemoryBus;
use ferrovox_control::{AdminKey, ControlPlane, Engines, Options, RateLimits, ensure_admin};
use ferrovox_testkit::ports::{free_tcp_port, loopback};
use std::sync::Arc;

async fn get(url: &str, key: &str) -> (u16, Option<u64>, serde_json::Value) {
    let response = reqwest::Client::new()
        .get(url)
        .header("Authorization", format!("AccessKey {key}"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (
        status,
        retry_after,
        response.json().await.unwrap_or_default(),
    )
}

#[tokio::test]
async fn floods_get_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let engines = Engines {
        store: ferrovox_store::open(&format!("sqlite://{}/l.db", dir.path().display()))
            .await
            .unwrap(),
        cache: ferrovox_cache::open("memory://").unwrap(),
        bus: Arc::new(MemoryBus::new()),
    };
    engines.store.migrate().await.unwrap();
    let AdminKey::Created { token, .. } = ensure_admin(engines.store.as_ref(), dir.path())
        .await
        .unwrap()
    else {
        panic!("first start creates a key");
    };
    let limits = RateLimits {
        api_per_minute: 3,
        calls_per_minute: 1,
        logins_per_minute: 2,
    };
    let control = ControlPlane::start_with(
        loopback(free_tcp_port()),
        engines,
        Arc::new(String::new),
        Options {
            rate_limits: limits,
            ..Options::default()
        },
    )
    .await
    .unwrap();
    let url = format!("http://{}/v1.0/customer", control.addr());

    // The bucket holds twice the per-minute rate: 6 requests pass, the 7th waits ~20 s.
    for i in 0..6 {
        assert_eq!(get(&url, &token).await.0, 200, "request {i}");
    }
    let (status, retry_after, body) = get(&url, &token).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "rate_limited");
    let retry_after = retry_after.expect("Retry-After header");
    assert!(
        (1..=20).contains(&retry_after),
        "one token per 20 s: {retry_after}"
    );

    // Wrong keys from one address: 4 answers of 401, then 429 — guessing is throttled.
    for i in 0..4 {
        assert_eq!(get(&url, "ak_guess").await.0, 401, "guess {i}");
    }
    let (status, retry_after, _) = get(&url, "ak_guess").await;
    assert_eq!(status, 429);
    assert!(retry_after.is_some_and(|s| (1..=30).contains(&s)));
    control.shutdown().await;
}
