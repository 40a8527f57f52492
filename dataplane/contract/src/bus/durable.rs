//! Durable subscriptions with manual acknowledgement, bounded retries and a dead-letter queue.
//!
//! A durable subscriber `name` owns a queue that keeps matching events while it is away. Each
//! event is handed over as a [`Delivery`] that the consumer settles exactly once:
//!
//! - [`Delivery::ack`] after the event was processed: it is gone for good (a reconnect does
//!   not bring it back);
//! - [`Delivery::reject`] when processing failed: it comes back after a backoff, with
//!   [`Delivery::attempt`] one higher, until [`RetryPolicy::max_attempts`] deliveries have
//!   failed; then it moves, with its original body, to the subscriber's dead-letter queue
//!   (read with [`crate::Bus::dead_letter_count`] and [`crate::Bus::take_dead_letters`]).
//!
//! A message that is not a valid [`Event`] (a poison message) goes to the dead-letter queue at
//! once, without reaching the consumer. A [`Delivery`] dropped without being settled counts as
//! a failed attempt, so a consumer that forgets to settle cannot lose events nor loop on one
//! forever. Delivery is at least once (a crash between processing and ack delivers again):
//! consumers drop duplicates by `event_id`, for instance with [`SeenEvents`].

use super::{BusError, Guard};
use crate::Event;
use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

/// How often a failing event is tried again before it is dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Deliveries in all, the first one included; at least 1.
    pub max_attempts: u32,
    /// Wait before the second delivery; it doubles for each further one.
    pub first_delay: Duration,
    /// Longest wait between two deliveries.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Five deliveries over about 15 seconds: enough to ride out a restarting webhook target
    /// or database, short enough that a broken event reaches the dead-letter queue quickly.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before delivery `next_attempt` (2 for the first retry).
    pub fn delay_before(&self, next_attempt: u32) -> Duration {
        let doublings = next_attempt.saturating_sub(2).min(20);
        self.first_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay)
    }

    pub(crate) fn check(&self) -> Result<(), BusError> {
        if self.max_attempts == 0 {
            return Err(BusError::Rejected(
                "retry policy: max_attempts must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// A message in a subscriber's dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The body as it was published.
    pub body: Vec<u8>,
    /// How many deliveries failed (1 for a poison message).
    pub attempts: u32,
}

impl DeadLetter {
    /// The event in the body, if it is one (a poison message is not).
    pub fn event(&self) -> Result<Event, BusError> {
        Ok(serde_json::from_slice(&self.body)?)
    }
}

pub(crate) type SettleFuture = Pin<Box<dyn Future<Output = Result<(), BusError>> + Send>>;

/// How one bus implementation acknowledges or rejects a delivery.
pub(crate) trait Settle: Send + Sync + 'static {
    fn ack(self: Box<Self>) -> SettleFuture;
    fn reject(self: Box<Self>, error: String) -> SettleFuture;
    /// The delivery was dropped unsettled: a failed attempt, if its subscription still runs.
    fn abandon(self: Box<Self>);
}

/// One event handed to a durable subscriber; settle it with [`Delivery::ack`] or
/// [`Delivery::reject`].
pub struct Delivery {
    event: Event,
    attempt: u32,
    settle: Option<Box<dyn Settle>>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("event", &self.event)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

impl Delivery {
    pub(crate) fn new(event: Event, attempt: u32, settle: Box<dyn Settle>) -> Self {
        Self {
            event,
            attempt,
            settle: Some(settle),
        }
    }

    /// Drops the delivery without settling it (the bus took the message back itself).
    pub(crate) fn disarm(mut self) {
        self.settle = None;
    }

    pub fn event(&self) -> &Event {
        &self.event
    }

    /// 1 for the first delivery, one more for each retry.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The event was processed: remove it for good. Returns once the bus has taken the
    /// acknowledgement; an error means it may be delivered again (drop it by `event_id`).
    pub async fn ack(mut self) -> Result<(), BusError> {
        match self.settle.take() {
            Some(settle) => settle.ack().await,
            None => Ok(()),
        }
    }

    /// Processing failed: deliver it again after the policy's delay, or dead-letter it if
    /// this was the last attempt. `error` is logged with the event.
    pub async fn reject(mut self, error: impl std::fmt::Display) -> Result<(), BusError> {
        let error = error.to_string();
        tracing::debug!(event_id = %self.event.event_id, attempt = self.attempt, %error, "event rejected by its consumer");
        match self.settle.take() {
            Some(settle) => settle.reject(error).await,
            None => Ok(()),
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let Some(settle) = self.settle.take() {
            tracing::warn!(event_id = %self.event.event_id, "delivery dropped without ack or reject; counted as a failed attempt");
            settle.abandon();
        }
    }
}

/// The deliveries of one durable subscriber. Dropping it disconnects the subscriber: events
/// handed over but not settled yet are delivered again, without counting an attempt, when
/// it (or another consumer of the same name) subscribes again.
pub struct DurableSubscription {
    // Declared before `deliveries` so it runs first: the bus takes unsettled deliveries back
    // before their `Drop` could count them as failures.
    _guard: Guard,
    deliveries: mpsc::UnboundedReceiver<Delivery>,
}

impl DurableSubscription {
    pub(crate) fn new(deliveries: mpsc::UnboundedReceiver<Delivery>, guard: Guard) -> Self {
        Self {
            _guard: guard,
            deliveries,
        }
    }

    /// The next delivery; `None` once the bus has shut down.
    pub async fn next(&mut self) -> Option<Delivery> {
        self.deliveries.recv().await
    }
}

/// Rejects subscriber names that would not make a valid queue name on every bus.
pub(crate) fn check_subscriber_name(name: &str) -> Result<(), BusError> {
    if name.is_empty()
        || name.len() > 100
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(BusError::Rejected(format!(
            "subscriber name {name:?} may contain only letters, digits, '-' and '_' (1 to 100)"
        )));
    }
    Ok(())
}

/// What every bus checks before it sets up durable subscriber `name`: a name that makes a
/// queue name everywhere and a policy that delivers at least once.
pub(crate) fn check_durable_subscription(name: &str, retry: &RetryPolicy) -> Result<(), BusError> {
    check_subscriber_name(name)?;
    retry.check()
}

/// The event ids a consumer saw last, to drop redeliveries of events it already processed.
/// Bounded: it forgets the oldest ids beyond its capacity, so a consumer whose effects must
/// never repeat also records event ids where it records its effects.
#[derive(Debug)]
pub struct SeenEvents {
    capacity: usize,
    order: VecDeque<Uuid>,
    ids: HashSet<Uuid>,
}

impl SeenEvents {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            order: VecDeque::new(),
            ids: HashSet::new(),
        }
    }

    /// Remembers `event_id`; `false` if it was seen already.
    pub fn first_time(&mut self, event_id: Uuid) -> bool {
        if !self.ids.insert(event_id) {
            return false;
        }
        self.order.push_back(event_id);
        if self.order.len() > self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_up_to_the_limit() {
        let policy = RetryPolicy {
            max_attempts: 10,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
        };
        let delays: Vec<u128> = (2..=6)
            .map(|n| policy.delay_before(n).as_millis())
            .collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
        assert_eq!(
            policy.delay_before(u32::MAX),
            Duration::from_millis(500),
            "no overflow"
        );
        assert!(
            RetryPolicy {
                max_attempts: 0,
                ..policy
            }
            .check()
            .is_err()
        );
    }

    #[test]
    fn seen_events_drop_repeats_and_stay_bounded() {
        let mut seen = SeenEvents::new(2);
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        assert!(seen.first_time(a));
        assert!(!seen.first_time(a));
        assert!(seen.first_time(b));
        assert!(seen.first_time(c));
        assert!(seen.first_time(a), "the oldest id was forgotten");
        assert!(!seen.first_time(c));
        assert_eq!(seen.ids.len(), 2);
    }
}
