//! The same bus behaviour in-process and over a real RabbitMQ.

use async_trait::async_trait;
use ferrovox_contract::{
    AmqpBus, Bus, BusError, Event, MemoryBus, NodeId, Request, RequestHandler, Response,
    RetryPolicy,
};
use ferrovox_testkit::devstack::DevStack;
use std::sync::Arc;
use std::time::Duration;

struct Echo(NodeId);

#[async_trait]
impl RequestHandler for Echo {
    async fn handle(&self, request: Request) -> Response {
        match request {
            Request::Ping => Response::Pong {
                node_id: self.0.clone(),
                version: "test".into(),
                uptime_ms: 1,
            },
        }
    }
}

fn amqp() -> AmqpBus {
    let namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
    AmqpBus::new(&DevStack::get().bus_url, &namespace).unwrap()
}

async fn wait_ready(bus: &dyn Bus) {
    for _ in 0..100 {
        if bus.check().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("bus {} never became ready", bus.kind());
}

async fn events_reach_matching_subscribers_only(bus: &dyn Bus) {
    wait_ready(bus).await;
    let mut nodes = bus.subscribe("node.*").await.unwrap();
    let mut everything = bus.subscribe("#").await.unwrap();
    let started = Event::new("node.started", "n1", serde_json::json!({"version": "1"}));
    let created = Event::new(
        "number.created",
        "control",
        serde_json::json!({"number": "+15551234567"}),
    );
    bus.publish(&created).await.unwrap();
    bus.publish(&started).await.unwrap();

    let got = tokio::time::timeout(Duration::from_secs(5), nodes.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got, started,
        "node.* skips number.created and gets node.started"
    );
    let first = tokio::time::timeout(Duration::from_secs(5), everything.next())
        .await
        .unwrap()
        .unwrap();
    let second = tokio::time::timeout(Duration::from_secs(5), everything.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first, second), (created, started), "# gets both, in order");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), nodes.next())
            .await
            .is_err(),
        "nothing else arrives"
    );
}

async fn rpc_reaches_the_addressed_node(bus: &dyn Bus) {
    wait_ready(bus).await;
    let n1 = NodeId::new("n1").unwrap();
    let n2 = NodeId::new("n2").unwrap();
    let _serving1 = bus.serve(&n1, Arc::new(Echo(n1.clone()))).await.unwrap();
    let _serving2 = bus.serve(&n2, Arc::new(Echo(n2.clone()))).await.unwrap();
    for node in [&n1, &n2] {
        match bus
            .call(node, &Request::Ping, Duration::from_secs(5))
            .await
            .unwrap()
        {
            Response::Pong { node_id, .. } => assert_eq!(&node_id, node),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn memory_events() {
    events_reach_matching_subscribers_only(&MemoryBus::new()).await;
}

#[tokio::test]
async fn memory_rpc() {
    rpc_reaches_the_addressed_node(&MemoryBus::new()).await;
}

#[tokio::test]
async fn memory_rpc_to_an_absent_node_fails_at_once() {
    let bus = MemoryBus::new();
    let absent = NodeId::new("absent").unwrap();
    let result = bus
        .call(&absent, &Request::Ping, Duration::from_secs(5))
        .await;
    assert!(
        matches!(result, Err(BusError::NoResponder(_))),
        "{result:?}"
    );
    let serving = bus
        .serve(&absent, Arc::new(Echo(absent.clone())))
        .await
        .unwrap();
    drop(serving);
    let result = bus
        .call(&absent, &Request::Ping, Duration::from_secs(5))
        .await;
    assert!(
        matches!(result, Err(BusError::NoResponder(_))),
        "dropping the guard stops serving"
    );
}

#[tokio::test]
async fn amqp_events() {
    events_reach_matching_subscribers_only(&amqp()).await;
}

#[tokio::test]
async fn amqp_rpc() {
    rpc_reaches_the_addressed_node(&amqp()).await;
}

#[tokio::test]
async fn amqp_rpc_to_an_absent_node_times_out() {
    let bus = amqp();
    wait_ready(&bus).await;
    let started = std::time::Instant::now();
    let result = bus
        .call(
            &NodeId::new("absent").unwrap(),
            &Request::Ping,
            Duration::from_millis(900),
        )
        .await;
    assert!(
        matches!(result, Err(BusError::Timeout { .. })),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn amqp_with_no_broker_reports_unavailable_without_blocking() {
    let port = ferrovox_testkit::ports::free_tcp_port();
    let bus = AmqpBus::new(&format!("amqp://guest:guest@127.0.0.1:{port}/%2f"), "test").unwrap();
    assert!(matches!(bus.check().await, Err(BusError::Unavailable(_))));
    let event = Event::new("node.started", "n1", serde_json::Value::Null);
    assert!(matches!(
        bus.publish(&event).await,
        Err(BusError::Unavailable(_))
    ));
}

#[test]
fn bad_amqp_urls_are_refused() {
    assert!(matches!(
        AmqpBus::new("not a url", "x"),
        Err(BusError::BadUrl { .. })
    ));
}

#[tokio::test]
async fn amqp_durable_subscription_keeps_events_while_the_subscriber_is_away() {
    let bus = amqp();
    wait_ready(&bus).await;
    let first = bus
        .subscribe_durable("billing", "call.*", RetryPolicy::default())
        .await
        .unwrap();
    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let hungup = Event::new("call.hungup", "control", serde_json::json!({"call": 1}));
    bus.publish(&hungup).await.unwrap();
    let mut again = bus
        .subscribe_durable("billing", "call.*", RetryPolicy::default())
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), again.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got.event(),
        &hungup,
        "published while nobody listened, delivered on return"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(500), again.next())
            .await
            .is_err(),
        "once"
    );
    got.ack().await.unwrap();
    assert!(
        bus.subscribe_durable("bad name!", "#", RetryPolicy::default())
            .await
            .is_err()
    );
}
