//! `/ready` follows the dev stack's services going away and coming back, without a restart.
//!
//! This stops shared services, so it runs on its own after the other tests (the
//! nextest profile `serial`; `scripts/test` runs it last).

mod common;

use common::{Appliance, ready_becomes};
use ferrovox_testkit::devstack::{DevStack, Service};
use std::time::Duration;

/// These tests stop shared services: one at a time, even under a runner that uses threads.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const DETECT: Duration = Duration::from_secs(20);
const RECOVER: Duration = Duration::from_secs(60);

#[tokio::test]
async fn ready_names_each_stopped_dependency_and_recovers() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let stack = DevStack::get();
    let dir = tempfile::tempdir().unwrap();
    let database = stack.fresh_mysql_database().unwrap();
    let namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
    let appliance = Appliance::start(
        "up",
        dir.path(),
        &[],
        &[
            ("FERROVOX_STORE_URL", &database),
            ("FERROVOX_CACHE_URL", &stack.cache_url),
            ("FERROVOX_BUS_URL", &stack.bus_url),
            ("FERROVOX_BUS_NAMESPACE", &namespace),
        ],
    )
    .await;
    let control_ready = appliance.control_url("/ready");
    ready_becomes(&control_ready, 200, RECOVER).await;

    for (service, check) in [
        (Service::Redis, "cache"),
        (Service::Mariadb, "store"),
        (Service::Rabbitmq, "bus"),
    ] {
        stack.stop(service).unwrap();
        let down = ready_becomes(&control_ready, 503, DETECT).await;
        assert_eq!(
            down["failing"],
            serde_json::json!([check]),
            "{} stopped: {down}",
            service.name()
        );
        assert_eq!(down["status"], "unavailable");
        assert!(
            down["checks"][check]["error"]
                .as_str()
                .is_some_and(|e| !e.is_empty()),
            "{down}"
        );
        if service == Service::Rabbitmq {
            let media = ready_becomes(&appliance.media_url("/ready"), 503, DETECT).await;
            assert_eq!(media["failing"], serde_json::json!(["bus"]), "{media}");
        }
        stack.start_service(service).unwrap();
        let up = ready_becomes(&control_ready, 200, RECOVER).await;
        assert_eq!(
            up["failing"],
            serde_json::json!([]),
            "{} back: {up}",
            service.name()
        );
    }
    ready_becomes(&appliance.media_url("/ready"), 200, RECOVER).await;
    assert!(appliance.interrupt().success());
}

async fn call(
    method: reqwest::Method,
    url: &str,
    key: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new()
        .request(method, url)
        .header("Authorization", format!("AccessKey {key}"))
        .timeout(Duration::from_secs(20));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

/// Issue 6's outbox and cache promises against real services: an event written while
/// RabbitMQ is down reaches a durable subscriber exactly once after it returns, and reads keep
/// working while Redis is down.
#[tokio::test]
async fn outbox_survives_a_broker_outage_and_reads_survive_a_cache_outage() {
    use ferrovox_contract::{AmqpBus, Bus};
    let _alone = ONE_AT_A_TIME.lock().await;
    let stack = DevStack::get();
    let dir = tempfile::tempdir().unwrap();
    let database = stack.fresh_mysql_database().unwrap();
    let namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
    let appliance = Appliance::start(
        "up",
        dir.path(),
        &[],
        &[
            ("FERROVOX_STORE_URL", &database),
            ("FERROVOX_CACHE_URL", &stack.cache_url),
            ("FERROVOX_BUS_URL", &stack.bus_url),
            ("FERROVOX_BUS_NAMESPACE", &namespace),
            ("FERROVOX_LOG_LEVEL", "info,ferrovox_contract=debug"),
        ],
    )
    .await;
    ready_becomes(&appliance.control_url("/ready"), 200, RECOVER).await;
    let key = std::fs::read_to_string(dir.path().join("admin-accesskey")).unwrap();
    let key = key.trim();

    let subscriber = AmqpBus::new(&stack.bus_url, &namespace).unwrap();
    for _ in 0..100 {
        if subscriber.check().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut events = subscriber
        .subscribe_durable("webhooks", "number.*", Default::default())
        .await
        .unwrap();

    stack.stop(Service::Rabbitmq).unwrap();
    ready_becomes(&appliance.control_url("/ready"), 503, DETECT).await;
    let numbers = appliance.control_url("/v1.0/numbers");
    let (status, created) = call(
        reqwest::Method::POST,
        &numbers,
        key,
        Some(serde_json::json!({"number": "+15557770000"})),
    )
    .await;
    assert_eq!(status, 201, "writes do not need the broker: {created}");
    let id = created["id"].as_str().unwrap().to_owned();
    stack.start_service(Service::Rabbitmq).unwrap();

    let Ok(Some(delivery)) = tokio::time::timeout(RECOVER, events.next()).await else {
        panic!(
            "the outboxed event did not arrive within {RECOVER:?} of RabbitMQ's return\nappliance log:\n{}",
            appliance.stderr()
        );
    };
    let event = delivery.event().clone();
    delivery.ack().await.unwrap();
    assert_eq!(event.event_type, "number.created");
    assert_eq!(event.data["id"], id);
    assert!(
        tokio::time::timeout(Duration::from_secs(3), events.next())
            .await
            .is_err(),
        "exactly once"
    );

    // With Redis stopped, reads still answer (from the store) and writes still work.
    stack.stop(Service::Redis).unwrap();
    let (status, read) = call(reqwest::Method::GET, &format!("{numbers}/{id}"), key, None).await;
    assert_eq!(
        (status, read["number"].as_str()),
        (200, Some("+15557770000")),
        "{read}"
    );
    let (status, updated) = call(
        reqwest::Method::PUT,
        &format!("{numbers}/{id}"),
        key,
        Some(serde_json::json!({"name": "no cache"})),
    )
    .await;
    assert_eq!(
        (status, updated["name"].as_str()),
        (200, Some("no cache")),
        "{updated}"
    );
    stack.start_service(Service::Redis).unwrap();
    ready_becomes(&appliance.control_url("/ready"), 200, RECOVER).await;
    let (_, read) = call(reqwest::Method::GET, &format!("{numbers}/{id}"), key, None).await;
    assert_eq!(read["name"], "no cache");
    assert!(appliance.interrupt().success());
}
