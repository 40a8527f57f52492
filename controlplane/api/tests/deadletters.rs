//! The operator sees how many events a durable subscriber gave up on — on the in-process bus
//! and on RabbitMQ.

mod common;

use common::call;
use ferrovox_contract::{Event, RetryPolicy};
use ferrovox_control::{ControlPlane, Engines};
use ferrovox_testkit::ports::{free_tcp_port, loopback};
use reqwest::Method;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

async fn dead_letters_are_counted(engines: Engines, data_dir: &std::path::Path) {
    let operator = common::admin_key(&engines, data_dir).await;
    for _ in 0..100 {
        if engines.bus.check().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let control = ControlPlane::start(
        loopback(free_tcp_port()),
        engines.clone(),
        Arc::new(String::new),
    )
    .await
    .unwrap();
    let base = format!("http://{}", control.addr());
    let (status, empty) = call(
        &base,
        Method::GET,
        "/v1.0/deadletters/webhooks",
        &operator,
        None,
    )
    .await;
    assert_eq!(status, 200, "{empty}");
    assert_eq!(empty, json!({"subscriber": "webhooks", "count": 0}));

    // A consumer that cannot process an event: after its only attempt, it is dead-lettered.
    let mut webhooks = engines
        .bus
        .subscribe_durable(
            "webhooks",
            "number.*",
            RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            },
        )
        .await
        .unwrap();
    let event = Event::new("number.created", "control", json!({"id": "n1"}));
    engines.bus.publish(&event).await.unwrap();
    let delivery = tokio::time::timeout(Duration::from_secs(10), webhooks.next())
        .await
        .unwrap()
        .unwrap();
    delivery.reject("target unreachable").await.unwrap();
    let mut count = json!(null);
    for _ in 0..100 {
        let (status, body) = call(
            &base,
            Method::GET,
            "/v1.0/deadletters/webhooks",
            &operator,
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        count = body["count"].clone();
        if count == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count, 1);

    let (status, error) = call(
        &base,
        Method::GET,
        "/v1.0/deadletters/no%20such!",
        &operator,
        None,
    )
    .await;
    assert_eq!((status, error["field"].as_str()), (400, Some("subscriber")));

    // Only the operator: a customer admin of another customer gets 403.
    let (status, created) = call(
        &base,
        Method::POST,
        "/v1.0/customers",
        &operator,
        Some(json!({"name": "tenant", "admin_accesskey": {}})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let tenant_key = created["admin_accesskey"]["token"].as_str().unwrap();
    let (status, _) = call(
        &base,
        Method::GET,
        "/v1.0/deadletters/webhooks",
        tenant_key,
        None,
    )
    .await;
    assert_eq!(status, 403);
    control.shutdown().await;
}

#[tokio::test]
async fn dead_letters_on_the_embedded_engines() {
    let dir = tempfile::tempdir().unwrap();
    dead_letters_are_counted(common::embedded(dir.path()).await, dir.path()).await;
}

#[tokio::test]
async fn dead_letters_on_mariadb_redis_rabbitmq() {
    let dir = tempfile::tempdir().unwrap();
    dead_letters_are_counted(common::dev_stack().await, dir.path()).await;
}
