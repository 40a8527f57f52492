//! Durable subscribers on both buses: acknowledgement after processing, bounded retries with
//! the attempt count, a dead-letter queue keeping the original body, poison messages, and
//! what a disconnect does to unsettled deliveries.

use ferrovox_contract::{
    AmqpBus, Bus, DurableSubscription, Event, MemoryBus, RetryPolicy, SeenEvents,
};
use ferrovox_testkit::devstack::DevStack;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(800);

/// A bus and a way to publish bytes that are not an event, as a foreign publisher could.
trait PoisonSource {
    fn bus(&self) -> &dyn Bus;
    async fn publish_poison(&self, routing_key: &str, body: &[u8]);
}

impl PoisonSource for MemoryBus {
    fn bus(&self) -> &dyn Bus {
        self
    }
    async fn publish_poison(&self, routing_key: &str, body: &[u8]) {
        self.publish_raw(routing_key, body);
    }
}

struct Amqp {
    bus: AmqpBus,
    namespace: String,
}

impl PoisonSource for Amqp {
    fn bus(&self) -> &dyn Bus {
        &self.bus
    }
    async fn publish_poison(&self, routing_key: &str, body: &[u8]) {
        use lapin::options::BasicPublishOptions;
        let connection = lapin::Connection::connect(&DevStack::get().bus_url, Default::default())
            .await
            .unwrap();
        let channel = connection.create_channel().await.unwrap();
        channel
            .basic_publish(
                format!("{}.events", self.namespace).as_str().into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                body,
                lapin::BasicProperties::default(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        let _ = connection.close(200, "done".into()).await;
    }
}

async fn amqp() -> Amqp {
    let namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
    let bus = AmqpBus::new(&DevStack::get().bus_url, &namespace).unwrap();
    for _ in 0..100 {
        if bus.check().await.is_ok() {
            return Amqp { bus, namespace };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("RabbitMQ never became ready");
}

fn fast_retries(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        first_delay: Duration::from_millis(150),
        max_delay: Duration::from_millis(300),
    }
}

async fn next(subscription: &mut DurableSubscription) -> ferrovox_contract::Delivery {
    tokio::time::timeout(WAIT, subscription.next())
        .await
        .expect("a delivery within the wait")
        .expect("the bus is running")
}

async fn nothing_arrives(subscription: &mut DurableSubscription, why: &str) {
    if let Ok(Some(delivery)) = tokio::time::timeout(QUIET, subscription.next()).await {
        panic!("{why}: got {delivery:?}");
    }
}

async fn dead_letters_become(bus: &dyn Bus, name: &str, expected: u64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let count = bus.dead_letter_count(name).await.unwrap();
        if count == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "dead letters of {name}: {count}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_failing_handler_dead_letters_the_original_after_the_last_attempt(bus: &dyn Bus) {
    let mut hooks = bus
        .subscribe_durable("hooks", "number.*", fast_retries(3))
        .await
        .unwrap();
    let created = Event::new(
        "number.created",
        "control",
        serde_json::json!({"number": "+15550001111"}),
    );
    bus.publish(&created).await.unwrap();
    let mut previous: Option<Instant> = None;
    for attempt in 1..=3 {
        let delivery = next(&mut hooks).await;
        assert_eq!(delivery.event(), &created);
        assert_eq!(delivery.attempt(), attempt, "the attempt count travels");
        if let Some(previous) = previous {
            assert!(
                previous.elapsed() >= Duration::from_millis(140),
                "retries wait for the backoff"
            );
        }
        previous = Some(Instant::now());
        delivery
            .reject("webhook target answered 503")
            .await
            .unwrap();
    }
    nothing_arrives(&mut hooks, "no delivery after the last attempt").await;
    dead_letters_become(bus, "hooks", 1).await;
    let dead = bus.take_dead_letters("hooks", 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 3);
    assert_eq!(
        dead[0].event().unwrap(),
        created,
        "the dead letter keeps the original body"
    );
    assert_eq!(bus.dead_letter_count("hooks").await.unwrap(), 0, "taken");

    // A success on the second attempt is not dead-lettered.
    let second = Event::new("number.deleted", "control", serde_json::json!({}));
    bus.publish(&second).await.unwrap();
    next(&mut hooks).await.reject("not yet").await.unwrap();
    let retried = next(&mut hooks).await;
    assert_eq!((retried.event(), retried.attempt()), (&second, 2));
    retried.ack().await.unwrap();
    nothing_arrives(&mut hooks, "acknowledged").await;
    assert_eq!(bus.dead_letter_count("hooks").await.unwrap(), 0);
}

async fn a_poison_message_goes_to_the_dead_letter_queue_at_once(source: &impl PoisonSource) {
    let bus = source.bus();
    let mut hooks = bus
        .subscribe_durable("hooks", "number.*", fast_retries(5))
        .await
        .unwrap();
    source.publish_poison("number.created", b"{not json").await;
    dead_letters_become(bus, "hooks", 1).await;
    let valid = Event::new("number.created", "control", serde_json::json!({}));
    bus.publish(&valid).await.unwrap();
    let delivery = next(&mut hooks).await;
    assert_eq!(
        delivery.event(),
        &valid,
        "the poison message never reaches the consumer nor blocks the queue"
    );
    delivery.ack().await.unwrap();
    let dead = bus.take_dead_letters("hooks", 10).await.unwrap();
    assert_eq!(
        (dead[0].body.as_slice(), dead[0].attempts),
        (&b"{not json"[..], 1)
    );
    assert!(dead[0].event().is_err());
}

async fn acknowledged_events_are_not_redelivered_and_unsettled_ones_are(bus: &dyn Bus) {
    let mut billing = bus
        .subscribe_durable("billing", "call.*", fast_retries(3))
        .await
        .unwrap();
    let first = Event::new("call.hungup", "control", serde_json::json!({"call": 1}));
    let second = Event::new("call.hungup", "control", serde_json::json!({"call": 2}));
    bus.publish(&first).await.unwrap();
    bus.publish(&second).await.unwrap();
    let acked = next(&mut billing).await;
    assert_eq!(acked.event(), &first);
    acked.ack().await.unwrap();
    let unsettled = next(&mut billing).await;
    assert_eq!(unsettled.event(), &second);

    // Disconnect while holding the second delivery: it comes back, its attempt not counted.
    drop(billing);
    drop(unsettled);
    let mut billing = bus
        .subscribe_durable("billing", "call.*", fast_retries(3))
        .await
        .unwrap();
    let again = next(&mut billing).await;
    assert_eq!(
        (again.event(), again.attempt()),
        (&second, 1),
        "only the unacknowledged event is delivered again"
    );
    // Dropping a delivery while connected counts as a failed attempt.
    drop(again);
    let retried = next(&mut billing).await;
    assert_eq!((retried.event(), retried.attempt()), (&second, 2));
    retried.ack().await.unwrap();
    nothing_arrives(&mut billing, "each event acknowledged exactly once").await;
    drop(billing);
    let mut billing = bus
        .subscribe_durable("billing", "call.*", fast_retries(3))
        .await
        .unwrap();
    nothing_arrives(&mut billing, "nothing comes back after a reconnect").await;
    assert_eq!(bus.dead_letter_count("billing").await.unwrap(), 0);
}

async fn consumers_of_one_name_share_its_events(bus: &dyn Bus) {
    let mut a = bus
        .subscribe_durable("workers", "job.*", fast_retries(2))
        .await
        .unwrap();
    let mut b = bus
        .subscribe_durable("workers", "job.*", fast_retries(2))
        .await
        .unwrap();
    let events: Vec<Event> = (0..4)
        .map(|i| Event::new("job.queued", "control", serde_json::json!({"job": i})))
        .collect();
    for event in &events {
        bus.publish(event).await.unwrap();
    }
    let mut seen = Vec::new();
    for _ in 0..2 {
        for subscription in [&mut a, &mut b] {
            let delivery = next(subscription).await;
            seen.push(delivery.event().event_id);
            delivery.ack().await.unwrap();
        }
    }
    seen.sort();
    let mut expected: Vec<_> = events.iter().map(|e| e.event_id).collect();
    expected.sort();
    assert_eq!(seen, expected, "each event to one consumer");
}

/// At-least-once delivery can hand over one event twice (an outbox republished after a crash
/// between publishing and marking it published): the consumer acts once per event_id.
async fn a_consumer_acts_once_per_event_id(bus: &dyn Bus) {
    let mut webhooks = bus
        .subscribe_durable("webhooks", "number.*", fast_retries(2))
        .await
        .unwrap();
    let created = Event::new("number.created", "control", serde_json::json!({"n": 1}));
    let other = Event::new("number.created", "control", serde_json::json!({"n": 2}));
    for event in [&created, &created, &other] {
        bus.publish(event).await.unwrap();
    }
    let mut seen = SeenEvents::new(1000);
    let mut acted_on = Vec::new();
    for _ in 0..3 {
        let delivery = next(&mut webhooks).await;
        if seen.first_time(delivery.event().event_id) {
            acted_on.push(delivery.event().data["n"].clone());
        }
        delivery.ack().await.unwrap();
    }
    assert_eq!(acted_on, [serde_json::json!(1), serde_json::json!(2)]);
    nothing_arrives(&mut webhooks, "every delivery acknowledged").await;
}

#[tokio::test]
async fn memory_duplicates_dropped_by_event_id() {
    a_consumer_acts_once_per_event_id(&MemoryBus::new()).await;
}

#[tokio::test]
async fn amqp_duplicates_dropped_by_event_id() {
    a_consumer_acts_once_per_event_id(&amqp().await.bus).await;
}

#[tokio::test]
async fn memory_failing_handler_dead_letters() {
    a_failing_handler_dead_letters_the_original_after_the_last_attempt(&MemoryBus::new()).await;
}

#[tokio::test]
async fn memory_poison_message() {
    a_poison_message_goes_to_the_dead_letter_queue_at_once(&MemoryBus::new()).await;
}

#[tokio::test]
async fn memory_ack_and_redelivery() {
    acknowledged_events_are_not_redelivered_and_unsettled_ones_are(&MemoryBus::new()).await;
}

#[tokio::test]
async fn memory_shared_consumers() {
    consumers_of_one_name_share_its_events(&MemoryBus::new()).await;
}

#[tokio::test]
async fn amqp_failing_handler_dead_letters() {
    a_failing_handler_dead_letters_the_original_after_the_last_attempt(&amqp().await.bus).await;
}

#[tokio::test]
async fn amqp_poison_message() {
    a_poison_message_goes_to_the_dead_letter_queue_at_once(&amqp().await).await;
}

#[tokio::test]
async fn amqp_ack_and_redelivery() {
    acknowledged_events_are_not_redelivered_and_unsettled_ones_are(&amqp().await.bus).await;
}

#[tokio::test]
async fn amqp_shared_consumers() {
    consumers_of_one_name_share_its_events(&amqp().await.bus).await;
}

#[tokio::test]
async fn memory_durable_queue_keeps_events_while_the_subscriber_is_away() {
    let bus = MemoryBus::new();
    drop(
        bus.subscribe_durable("billing", "call.*", RetryPolicy::default())
            .await
            .unwrap(),
    );
    let hungup = Event::new("call.hungup", "control", serde_json::json!({}));
    bus.publish(&hungup).await.unwrap();
    let mut again = bus
        .subscribe_durable("billing", "call.*", RetryPolicy::default())
        .await
        .unwrap();
    assert_eq!(next(&mut again).await.event(), &hungup);
    assert!(
        bus.subscribe_durable(
            "x",
            "#",
            RetryPolicy {
                max_attempts: 0,
                ..RetryPolicy::default()
            }
        )
        .await
        .is_err(),
        "a policy without attempts is refused"
    );
}
