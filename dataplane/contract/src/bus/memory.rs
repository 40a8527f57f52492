//! The in-process bus of the single-box appliance: no broker, same semantics as AMQP for
//! topic matching, RPC addressing and durable subscribers (acknowledgement, retries and a
//! dead-letter queue per subscriber, see [`super::durable`]). Durable queues live as long as
//! the bus: they survive a subscriber's disconnect, not the process.

use super::durable::{Settle, SettleFuture, check_durable_subscription, check_subscriber_name};
use super::{
    Bus, BusError, DeadLetter, Delivery, DurableSubscription, Guard, RequestHandler, RetryPolicy,
    Serving, Subscription, topic_matches,
};
use crate::{Event, NodeId, Request, Response};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Default)]
struct Registry {
    next_id: u64,
    subscribers: Vec<(u64, String, mpsc::UnboundedSender<Event>)>,
    handlers: HashMap<NodeId, (u64, Arc<dyn RequestHandler>)>,
    durable: HashMap<String, DurableQueue>,
}

/// A message as a broker would keep it: the published bytes and its delivery count.
#[derive(Clone)]
struct Message {
    body: Arc<[u8]>,
    attempt: u32,
}

/// One durable subscriber's queue.
struct DurableQueue {
    /// Every pattern it was subscribed with (as AMQP bindings accumulate on a queue).
    patterns: Vec<String>,
    retry: RetryPolicy,
    ready: VecDeque<Message>,
    /// Handed over, not settled yet: delivery tag → (consumer, message).
    unacked: BTreeMap<u64, (u64, Message)>,
    consumers: Vec<(u64, mpsc::UnboundedSender<Delivery>)>,
    /// Round-robin position among `consumers`.
    turn: usize,
    dead: VecDeque<DeadLetter>,
}

impl DurableQueue {
    fn new(retry: RetryPolicy) -> Self {
        Self {
            patterns: Vec::new(),
            retry,
            ready: VecDeque::new(),
            unacked: BTreeMap::new(),
            consumers: Vec::new(),
            turn: 0,
            dead: VecDeque::new(),
        }
    }
}

/// Events and RPC between tasks of one process.
#[derive(Clone, Default)]
pub struct MemoryBus {
    registry: Arc<Mutex<Registry>>,
}

impl MemoryBus {
    pub fn new() -> Self {
        Self::default()
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        lock(&self.registry)
    }

    /// Publishes bytes that may not be an [`Event`] under `routing_key` to durable
    /// subscribers, as a foreign or broken publisher could on a broker: they reach the
    /// dead-letter queue, never a consumer.
    pub fn publish_raw(&self, routing_key: &str, body: &[u8]) {
        let mut registry = self.registry();
        self.enqueue(&mut registry, routing_key, &Arc::from(body));
    }

    fn enqueue(&self, registry: &mut Registry, routing_key: &str, body: &Arc<[u8]>) {
        let names: Vec<String> = registry
            .durable
            .iter_mut()
            .filter(|(_, queue)| queue.patterns.iter().any(|p| topic_matches(p, routing_key)))
            .map(|(name, queue)| {
                queue.ready.push_back(Message {
                    body: body.clone(),
                    attempt: 1,
                });
                name.clone()
            })
            .collect();
        for name in names {
            self.dispatch(registry, &name);
        }
    }

    /// Hands ready messages of queue `name` to its consumers, round robin.
    fn dispatch(&self, registry: &mut Registry, name: &str) {
        let next_id = &mut registry.next_id;
        let Some(queue) = registry.durable.get_mut(name) else {
            return;
        };
        while !queue.consumers.is_empty()
            && let Some(message) = queue.ready.pop_front()
        {
            let event = match serde_json::from_slice::<Event>(&message.body) {
                Ok(event) => event,
                Err(error) => {
                    tracing::warn!(subscriber = name, %error, "poison message moved to the dead-letter queue");
                    queue.dead.push_back(DeadLetter {
                        body: message.body.to_vec(),
                        attempts: message.attempt,
                    });
                    continue;
                }
            };
            queue.turn %= queue.consumers.len();
            let (consumer, tx) = &queue.consumers[queue.turn];
            queue.turn += 1;
            *next_id += 1;
            let tag = *next_id;
            let settle = MemorySettle {
                registry: Arc::downgrade(&self.registry),
                queue: name.to_owned(),
                tag,
            };
            let delivery = Delivery::new(event, message.attempt, Box::new(settle));
            let consumer = *consumer;
            queue.unacked.insert(tag, (consumer, message));
            if let Err(mpsc::error::SendError(delivery)) = tx.send(delivery) {
                // The consumer is gone without its guard having run yet: take the message
                // back as it was and stop handing messages to it.
                queue.consumers.retain(|(c, _)| *c != consumer);
                if let Some((_, message)) = queue.unacked.remove(&tag) {
                    queue.ready.push_front(message);
                }
                // Settling the returned delivery must not touch the queue we hold.
                delivery.disarm();
            }
        }
    }
}

fn lock(registry: &Mutex<Registry>) -> MutexGuard<'_, Registry> {
    // A panic while holding this lock cannot leave the registry half-updated (every
    // mutation is a single push/insert/retain), so a poisoned lock is still usable.
    registry.lock().unwrap_or_else(|p| p.into_inner())
}

/// A consumer disconnected: what it had not settled is ready again, its attempt unchanged
/// (as a broker does when a channel closes with unacknowledged messages).
fn disconnect(registry: &Weak<Mutex<Registry>>, name: &str, consumer: u64) {
    let Some(registry) = registry.upgrade() else {
        return;
    };
    let bus = MemoryBus { registry };
    let mut registry = bus.registry();
    let Some(queue) = registry.durable.get_mut(name) else {
        return;
    };
    queue.consumers.retain(|(c, _)| *c != consumer);
    let tags: Vec<u64> = queue
        .unacked
        .iter()
        .filter(|(_, (c, _))| *c == consumer)
        .map(|(tag, _)| *tag)
        .collect();
    for tag in tags.into_iter().rev() {
        if let Some((_, message)) = queue.unacked.remove(&tag) {
            queue.ready.push_front(message);
        }
    }
    bus.dispatch(&mut registry, name);
}

/// Settles one delivery of an in-process durable queue.
struct MemorySettle {
    registry: Weak<Mutex<Registry>>,
    queue: String,
    tag: u64,
}

impl MemorySettle {
    fn fail(self, error: &str) {
        let Some(registry) = self.registry.upgrade() else {
            return;
        };
        let bus = MemoryBus { registry };
        let mut registry = bus.registry();
        let Some(queue) = registry.durable.get_mut(&self.queue) else {
            return;
        };
        // Not there: its consumer disconnected first and the message is ready again.
        let Some((_, mut message)) = queue.unacked.remove(&self.tag) else {
            return;
        };
        if message.attempt >= queue.retry.max_attempts {
            tracing::warn!(subscriber = %self.queue, attempts = message.attempt, %error, "event moved to the dead-letter queue");
            queue.dead.push_back(DeadLetter {
                body: message.body.to_vec(),
                attempts: message.attempt,
            });
            return;
        }
        message.attempt += 1;
        let delay = queue.retry.delay_before(message.attempt);
        drop(registry);
        let name = self.queue;
        let requeue = move |bus: MemoryBus| {
            let mut registry = bus.registry();
            if let Some(queue) = registry.durable.get_mut(&name) {
                queue.ready.push_back(message);
                bus.dispatch(&mut registry, &name);
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let weak = Arc::downgrade(&bus.registry);
                drop(bus);
                runtime.spawn(async move {
                    tokio::time::sleep(delay).await;
                    if let Some(registry) = weak.upgrade() {
                        requeue(MemoryBus { registry });
                    }
                });
            }
            // No runtime to wait on (the process is ending): retry without the delay.
            Err(_) => requeue(bus),
        }
    }
}

impl Settle for MemorySettle {
    fn ack(self: Box<Self>) -> SettleFuture {
        if let Some(registry) = self.registry.upgrade()
            && let Some(queue) = lock(&registry).durable.get_mut(&self.queue)
        {
            queue.unacked.remove(&self.tag);
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn reject(self: Box<Self>, error: String) -> SettleFuture {
        self.fail(&error);
        Box::pin(std::future::ready(Ok(())))
    }

    fn abandon(self: Box<Self>) {
        self.fail("dropped without ack or reject");
    }
}

#[async_trait]
impl Bus for MemoryBus {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn publish(&self, event: &Event) -> Result<(), BusError> {
        let mut registry = self.registry();
        if registry.durable.values().any(|queue| {
            queue
                .patterns
                .iter()
                .any(|p| topic_matches(p, &event.event_type))
        }) {
            let body: Arc<[u8]> = serde_json::to_vec(event)?.into();
            self.enqueue(&mut registry, &event.event_type, &body);
        }
        registry.subscribers.retain(|(_, pattern, tx)| {
            if topic_matches(pattern, &event.event_type) {
                tx.send(event.clone()).is_ok()
            } else {
                !tx.is_closed()
            }
        });
        Ok(())
    }

    async fn subscribe(&self, pattern: &str) -> Result<Subscription, BusError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut registry = self.registry();
        registry.next_id += 1;
        let id = registry.next_id;
        registry.subscribers.push((id, pattern.to_owned(), tx));
        let weak = Arc::downgrade(&self.registry);
        let guard = Guard::new(move || {
            if let Some(registry) = weak.upgrade() {
                let mut registry = registry.lock().unwrap_or_else(|p| p.into_inner());
                registry.subscribers.retain(|(sub, _, _)| *sub != id);
            }
        });
        Ok(Subscription::new(rx, guard))
    }

    async fn subscribe_durable(
        &self,
        name: &str,
        pattern: &str,
        retry: RetryPolicy,
    ) -> Result<DurableSubscription, BusError> {
        check_durable_subscription(name, &retry)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let mut registry = self.registry();
        registry.next_id += 1;
        let consumer = registry.next_id;
        let queue = registry
            .durable
            .entry(name.to_owned())
            .or_insert_with(|| DurableQueue::new(retry));
        queue.retry = retry;
        if !queue.patterns.iter().any(|p| p == pattern) {
            queue.patterns.push(pattern.to_owned());
        }
        queue.consumers.push((consumer, tx));
        self.dispatch(&mut registry, name);
        let weak = Arc::downgrade(&self.registry);
        let name = name.to_owned();
        let guard = Guard::new(move || disconnect(&weak, &name, consumer));
        Ok(DurableSubscription::new(rx, guard))
    }

    async fn dead_letter_count(&self, name: &str) -> Result<u64, BusError> {
        check_subscriber_name(name)?;
        Ok(self
            .registry()
            .durable
            .get(name)
            .map_or(0, |queue| queue.dead.len() as u64))
    }

    async fn take_dead_letters(
        &self,
        name: &str,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, BusError> {
        check_subscriber_name(name)?;
        let mut registry = self.registry();
        let Some(queue) = registry.durable.get_mut(name) else {
            return Ok(Vec::new());
        };
        let take = limit.min(queue.dead.len());
        Ok(queue.dead.drain(..take).collect())
    }

    async fn call(
        &self,
        node: &NodeId,
        request: &Request,
        timeout: Duration,
    ) -> Result<Response, BusError> {
        let handler = self
            .registry()
            .handlers
            .get(node)
            .map(|(_, handler)| handler.clone())
            .ok_or_else(|| BusError::NoResponder(node.clone()))?;
        tokio::time::timeout(timeout, handler.handle(request.clone()))
            .await
            .map_err(|_| BusError::Timeout {
                node: node.clone(),
                timeout,
            })
    }

    async fn serve(
        &self,
        node: &NodeId,
        handler: Arc<dyn RequestHandler>,
    ) -> Result<Serving, BusError> {
        let mut registry = self.registry();
        registry.next_id += 1;
        let id = registry.next_id;
        registry.handlers.insert(node.clone(), (id, handler));
        let weak = Arc::downgrade(&self.registry);
        let node = node.clone();
        Ok(Serving::new(Guard::new(move || {
            if let Some(registry) = weak.upgrade() {
                let mut registry = registry.lock().unwrap_or_else(|p| p.into_inner());
                // Only remove our own registration: a newer serve() for the same node wins.
                if registry.handlers.get(&node).is_some_and(|(h, _)| *h == id) {
                    registry.handlers.remove(&node);
                }
            }
        })))
    }

    async fn check(&self) -> Result<(), BusError> {
        Ok(())
    }
}
