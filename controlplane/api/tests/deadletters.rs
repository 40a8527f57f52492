//! The operator sees how many events a durable subscriber gave up on — on the in-process bus
//! and on RabbitMQ.

mod common;

use common::expect;
use ferrovox_contract::{Event, RetryPolicy};
use ferrovox_control::Engines;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const WEBHOOKS: &str = "/v1.0/deadletters/webhooks";

async fn dead_letters_are_counted(engines: Engines, data_dir: &std::path::Path) {
    let operator = common::admin_key(&engines, data_dir).await;
    common::wait_bus(&engines).await;
    let (control, base) = common::start_control(&engines).await;
    let empty = expect(&base, Method::GET, WEBHOOKS, &operator, None, 200).await;
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
    let mut count = Value::Null;
    for _ in 0..100 {
        count = expect(&base, Method::GET, WEBHOOKS, &operator, None, 200).await["count"].clone();
        if count == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count, 1);

    let error = expect(
        &base,
        Method::GET,
        "/v1.0/deadletters/no%20such!",
        &operator,
        None,
        400,
    )
    .await;
    assert_eq!(error["field"].as_str(), Some("subscriber"));

    // Only the operator: a customer admin of another customer gets 403.
    let (_, tenant_key) = common::customer_with_admin_key(&base, &operator, "tenant").await;
    expect(&base, Method::GET, WEBHOOKS, &tenant_key, None, 403).await;
    control.shutdown().await;
}

on_both_stacks!(dead_letters_are_counted:
    dead_letters_on_the_embedded_engines,
    dead_letters_on_mariadb_redis_rabbitmq);
