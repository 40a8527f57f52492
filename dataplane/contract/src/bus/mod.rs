//! The bus: events out (topic routing), commands in (RPC to one node).
//!
//! One trait, two implementations: [`memory::MemoryBus`] inside one process and
//! [`amqp::AmqpBus`] over RabbitMQ. Routing keys are `<resource>.<event>`; subscription
//! patterns follow AMQP topic rules (`*` is exactly one word, `#` zero or more words), in both
//! implementations, so a pattern means the same on one box and on a cluster.

pub mod amqp;
pub mod durable;
pub mod memory;

pub use durable::{DeadLetter, Delivery, DurableSubscription, RetryPolicy, SeenEvents};

use crate::{Event, NodeId, Request, Response};
use async_trait::async_trait;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("bus url {url:?} is not valid: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("bus unavailable: {0}")]
    Unavailable(String),
    #[error("no reply from node {node} within {timeout:?}")]
    Timeout { node: NodeId, timeout: Duration },
    #[error("no media node {0} is serving requests")]
    NoResponder(NodeId),
    #[error("broker refused the message: {0}")]
    Rejected(String),
    #[error("message could not be encoded or decoded: {0}")]
    Codec(#[from] serde_json::Error),
}

/// What a media node runs for each request addressed to it.
#[async_trait]
pub trait RequestHandler: Send + Sync + 'static {
    async fn handle(&self, request: Request) -> Response;
}

/// The transport between the control plane and media nodes.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// `memory` or `amqp`: for readiness reports and logs.
    fn kind(&self) -> &'static str;

    /// Publishes an event under its `event_type` routing key. Returns once the broker has
    /// taken responsibility for it (publisher confirm), or an error: the caller keeps the
    /// event (outbox) and tries again later.
    async fn publish(&self, event: &Event) -> Result<(), BusError>;

    /// Receives every event whose routing key matches `pattern` from now on, while this
    /// subscription is connected.
    async fn subscribe(&self, pattern: &str) -> Result<Subscription, BusError>;

    /// Like [`Bus::subscribe`], but events are kept for the subscriber `name` while it is
    /// disconnected or the broker restarts (a durable queue), and each is removed only when
    /// the consumer acknowledges it after processing; failures are retried under `retry` and
    /// then dead-lettered (see [`durable`]). Use it where losing an event matters (webhooks,
    /// billing). Subscribing again with the same name resumes the same queue, and several
    /// consumers of one name share its events.
    async fn subscribe_durable(
        &self,
        name: &str,
        pattern: &str,
        retry: RetryPolicy,
    ) -> Result<DurableSubscription, BusError>;

    /// How many messages wait in the dead-letter queue of subscriber `name` (0 if it has
    /// none).
    async fn dead_letter_count(&self, name: &str) -> Result<u64, BusError>;

    /// Removes up to `limit` messages from the dead-letter queue of subscriber `name`, oldest
    /// first, for an operator to inspect or replay.
    async fn take_dead_letters(
        &self,
        name: &str,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, BusError>;

    /// Sends `request` to `node` and waits for its response. Idempotent requests are retried
    /// within `timeout`; others are sent once.
    async fn call(
        &self,
        node: &NodeId,
        request: &Request,
        timeout: Duration,
    ) -> Result<Response, BusError>;

    /// Serves requests addressed to `node` with `handler` until the returned guard is dropped.
    async fn serve(
        &self,
        node: &NodeId,
        handler: std::sync::Arc<dyn RequestHandler>,
    ) -> Result<Serving, BusError>;

    /// Whether the bus can carry messages now.
    async fn check(&self) -> Result<(), BusError>;
}

/// A stream of events matching one pattern. Dropping it unsubscribes.
pub struct Subscription {
    events: mpsc::UnboundedReceiver<Event>,
    _guard: Guard,
}

impl Subscription {
    pub(crate) fn new(events: mpsc::UnboundedReceiver<Event>, guard: Guard) -> Self {
        Self {
            events,
            _guard: guard,
        }
    }

    /// The next matching event; `None` once the bus has shut down.
    pub async fn next(&mut self) -> Option<Event> {
        self.events.recv().await
    }
}

/// Keeps a node's request handler registered; dropping it stops serving.
pub struct Serving {
    _guard: Guard,
}

impl Serving {
    pub(crate) fn new(guard: Guard) -> Self {
        Self { _guard: guard }
    }
}

/// Runs a clean-up action when dropped (stops a background task, removes a registration).
pub(crate) struct Guard(Option<Box<dyn FnOnce() + Send + Sync>>);

impl Guard {
    pub(crate) fn new(on_drop: impl FnOnce() + Send + Sync + 'static) -> Self {
        Self(Some(Box::new(on_drop)))
    }

    pub(crate) fn abort_task(task: tokio::task::JoinHandle<()>) -> Self {
        Self::new(move || task.abort())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(on_drop) = self.0.take() {
            on_drop();
        }
    }
}

/// AMQP topic matching: words are separated by `.`, `*` matches exactly one word and `#`
/// matches zero or more words.
pub fn topic_matches(pattern: &str, routing_key: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('.').collect();
    let key: Vec<&str> = routing_key.split('.').collect();
    matches_words(&pattern, &key)
}

fn matches_words(pattern: &[&str], key: &[&str]) -> bool {
    match pattern.split_first() {
        None => key.is_empty(),
        Some((&"#", rest)) => (0..=key.len()).any(|skip| matches_words(rest, &key[skip..])),
        Some((&word, rest)) => match key.split_first() {
            Some((&first, key_rest)) => {
                (word == "*" || word == first) && matches_words(rest, key_rest)
            }
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::topic_matches;

    #[test]
    fn topic_patterns_follow_amqp_rules() {
        assert!(topic_matches("node.started", "node.started"));
        assert!(topic_matches("node.*", "node.started"));
        assert!(!topic_matches("node.*", "node.started.late"));
        assert!(!topic_matches("node.*", "number.created"));
        assert!(topic_matches("#", "anything.at.all"));
        assert!(topic_matches("node.#", "node"));
        assert!(topic_matches("node.#", "node.a.b"));
        assert!(topic_matches("*.created", "number.created"));
        assert!(!topic_matches("*.created", "created"));
        assert!(topic_matches("#.created", "a.b.created"));
        assert!(!topic_matches("#.created", "a.b.deleted"));
    }
}
