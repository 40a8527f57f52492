//! The bus over RabbitMQ (AMQP 0-9-1), for a control plane with several media nodes.
//!
//! - Events go to a durable topic exchange `<namespace>.events`, persistent, with publisher
//!   confirms; each subscription is an exclusive queue bound with its pattern.
//! - RPC uses a durable request queue per node, `<namespace>.node.<id>.rpc`, and RabbitMQ's
//!   direct reply-to for answers, matched by correlation id. A request carries an expiration
//!   equal to its timeout, so a node that comes back late does not run stale commands.
//! - A durable subscriber gets a queue of its own with a retry queue and a dead-letter queue
//!   (see [`DurableTopology`]); it acknowledges each message after its consumer settled it.
//! - One supervisor task owns the connection and reconnects with backoff; subscriptions and
//!   servers re-declare what they need after each reconnect. The broker being down makes
//!   [`Bus::check`] fail and publishing return [`BusError::Unavailable`]; nothing panics and
//!   nothing blocks forever.

use super::durable::{Settle, SettleFuture, check_subscriber_name};
use super::{
    Bus, BusError, DeadLetter, Delivery, DurableSubscription, Guard, RequestHandler, RetryPolicy,
    Serving, Subscription,
};
use crate::{Event, NodeId, Request, Response};
use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicPublishOptions, BasicQosOptions,
    BasicRejectOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::uri::AMQPUri;
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";
const PERSISTENT: u8 = 2;
const RECONNECT_MIN: Duration = Duration::from_millis(200);
const RECONNECT_MAX: Duration = Duration::from_secs(2);
const LIVENESS_POLL: Duration = Duration::from_millis(200);
/// A broker that accepts TCP but does not finish the AMQP handshake (it is booting or shutting
/// down) must not stall reconnection forever.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for a publisher confirm; a broker that dies mid-publish must not stall the
/// publisher (the outbox keeps the event and tries again).
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Vec<u8>>>>>;

/// A live connection and the channels every caller shares.
struct Link {
    connection: Connection,
    /// Confirm-mode channel for events.
    events: Channel,
    /// Channel that consumes direct replies and publishes requests (direct reply-to requires
    /// both on one channel).
    rpc: Channel,
}

impl Link {
    fn is_up(&self) -> bool {
        self.connection.status().connected()
    }
}

/// RabbitMQ implementation of [`Bus`].
#[derive(Clone)]
pub struct AmqpBus {
    inner: Arc<Inner>,
}

struct Inner {
    /// Broker address without credentials, for messages.
    display: String,
    exchange: String,
    namespace: String,
    link: watch::Receiver<Option<Arc<Link>>>,
    pending: Pending,
    supervisor: tokio::task::JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.supervisor.abort();
    }
}

impl AmqpBus {
    /// Starts connecting to `url` in the background and returns at once; until the broker
    /// answers, [`Bus::check`] reports it unavailable. `namespace` prefixes every exchange and
    /// queue name, so several deployments (or tests) can share one broker.
    pub fn new(url: &str, namespace: &str) -> Result<Self, BusError> {
        let uri: AMQPUri = url.parse().map_err(|reason: String| BusError::BadUrl {
            url: url.to_owned(),
            reason,
        })?;
        let display = format!(
            "amqp://{}:{}/{}",
            uri.authority.host, uri.authority.port, uri.vhost
        );
        let exchange = format!("{namespace}.events");
        let pending: Pending = Arc::default();
        let (link_tx, link_rx) = watch::channel(None);
        let supervisor = tokio::spawn(supervise(
            url.to_owned(),
            display.clone(),
            exchange.clone(),
            link_tx,
            pending.clone(),
        ));
        Ok(Self {
            inner: Arc::new(Inner {
                display,
                exchange,
                namespace: namespace.to_owned(),
                link: link_rx,
                pending,
                supervisor,
            }),
        })
    }

    fn request_queue(&self, node: &NodeId) -> String {
        format!("{}.node.{}.rpc", self.inner.namespace, node)
    }

    fn current_link(&self) -> Result<Arc<Link>, BusError> {
        match self.inner.link.borrow().as_ref() {
            Some(link) if link.is_up() => Ok(link.clone()),
            _ => Err(BusError::Unavailable(format!(
                "not connected to {}",
                self.inner.display
            ))),
        }
    }
}

async fn supervise(
    url: String,
    broker: String,
    exchange: String,
    link_tx: watch::Sender<Option<Arc<Link>>>,
    pending: Pending,
) {
    let mut backoff = RECONNECT_MIN;
    loop {
        let attempt = match tokio::time::timeout(
            CONNECT_TIMEOUT,
            open_link(&url, &exchange, pending.clone()),
        )
        .await
        {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err(format!("no AMQP handshake within {CONNECT_TIMEOUT:?}")),
        };
        match attempt {
            Ok(link) => {
                tracing::info!(%broker, "bus connected");
                backoff = RECONNECT_MIN;
                let link = Arc::new(link);
                link_tx.send_replace(Some(link.clone()));
                while link.is_up() {
                    tokio::time::sleep(LIVENESS_POLL).await;
                }
                link_tx.send_replace(None);
                tracing::warn!(%broker, "bus connection lost; reconnecting");
            }
            Err(error) => {
                tracing::debug!(%broker, %error, "bus connect failed");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(RECONNECT_MAX);
    }
}

async fn open_link(url: &str, exchange: &str, pending: Pending) -> Result<Link, lapin::Error> {
    let connection = Connection::connect(url, ConnectionProperties::default()).await?;
    let events = connection.create_channel().await?;
    events
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    events
        .exchange_declare(
            exchange.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let rpc = connection.create_channel().await?;
    let mut replies = rpc
        .basic_consume(
            DIRECT_REPLY_TO.into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    tokio::spawn(async move {
        while let Some(Ok(delivery)) = replies.next().await {
            let Some(correlation) = delivery.properties.correlation_id() else {
                continue;
            };
            let waiter = pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(correlation.as_str());
            if let Some(waiter) = waiter {
                let _ = waiter.send(delivery.data);
            }
        }
    });
    Ok(Link {
        connection,
        events,
        rpc,
    })
}

/// Waits until the supervisor has a live link.
async fn wait_for_link(link: &mut watch::Receiver<Option<Arc<Link>>>) -> Option<Arc<Link>> {
    loop {
        if let Some(current) = link.borrow_and_update().as_ref()
            && current.is_up()
        {
            return Some(current.clone());
        }
        if link.changed().await.is_err() {
            return None;
        }
    }
}

#[async_trait]
impl Bus for AmqpBus {
    fn kind(&self) -> &'static str {
        "amqp"
    }

    async fn publish(&self, event: &Event) -> Result<(), BusError> {
        let link = self.current_link()?;
        let payload = serde_json::to_vec(event)?;
        let properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(PERSISTENT)
            .with_message_id(event.event_id.to_string().into());
        let publish = async {
            link.events
                .basic_publish(
                    self.inner.exchange.as_str().into(),
                    event.event_type.as_str().into(),
                    BasicPublishOptions::default(),
                    &payload,
                    properties,
                )
                .await
                .map_err(|e| BusError::Unavailable(e.to_string()))?
                .await
                .map_err(|e| BusError::Unavailable(e.to_string()))
        };
        let confirm = tokio::time::timeout(CONFIRM_TIMEOUT, publish)
            .await
            .map_err(|_| {
                BusError::Unavailable(format!("no publisher confirm within {CONFIRM_TIMEOUT:?}"))
            })??;
        match confirm {
            Confirmation::Ack(_) | Confirmation::NotRequested => Ok(()),
            Confirmation::Nack(_) => Err(BusError::Rejected(format!(
                "event {} ({}) was nacked",
                event.event_id, event.event_type
            ))),
        }
    }

    async fn subscribe(&self, pattern: &str) -> Result<Subscription, BusError> {
        self.start_subscription(pattern).await
    }

    async fn subscribe_durable(
        &self,
        name: &str,
        pattern: &str,
        retry: RetryPolicy,
    ) -> Result<DurableSubscription, BusError> {
        check_subscriber_name(name)?;
        retry.check()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (bound_tx, bound_rx) = oneshot::channel();
        let connected_now = self.current_link().is_ok();
        let alive = Arc::new(AtomicBool::new(true));
        let task = tokio::spawn(run_durable(
            self.inner.link.clone(),
            self.durable_topology(name),
            pattern.to_owned(),
            retry,
            tx,
            bound_tx,
            alive.clone(),
        ));
        let guard = Guard::new(move || {
            alive.store(false, Ordering::SeqCst);
            task.abort();
        });
        let subscription = DurableSubscription::new(rx, guard);
        if connected_now {
            match bound_rx.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(BusError::Unavailable(error)),
                Err(_) => return Err(BusError::Unavailable("subscription task ended".into())),
            }
        }
        Ok(subscription)
    }

    async fn dead_letter_count(&self, name: &str) -> Result<u64, BusError> {
        check_subscriber_name(name)?;
        let topology = self.durable_topology(name);
        let link = self.current_link()?;
        let channel = link
            .connection
            .create_channel()
            .await
            .map_err(unavailable)?;
        let queue = declare_dead_letters(&channel, &topology)
            .await
            .map_err(unavailable)?;
        Ok(u64::from(queue.message_count()))
    }

    async fn take_dead_letters(
        &self,
        name: &str,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, BusError> {
        check_subscriber_name(name)?;
        let topology = self.durable_topology(name);
        let link = self.current_link()?;
        let channel = link
            .connection
            .create_channel()
            .await
            .map_err(unavailable)?;
        declare_dead_letters(&channel, &topology)
            .await
            .map_err(unavailable)?;
        let mut taken = Vec::new();
        while taken.len() < limit {
            let Some(message) = channel
                .basic_get(
                    topology.dead_letters.as_str().into(),
                    BasicGetOptions { no_ack: false },
                )
                .await
                .map_err(unavailable)?
            else {
                break;
            };
            let delivery = message.delivery;
            taken.push(DeadLetter {
                attempts: attempt_of(&delivery.properties),
                body: delivery.data,
            });
            delivery
                .acker
                .ack(BasicAckOptions::default())
                .await
                .map_err(unavailable)?;
        }
        Ok(taken)
    }

    async fn call(
        &self,
        node: &NodeId,
        request: &Request,
        timeout: Duration,
    ) -> Result<Response, BusError> {
        self.call_node(node, request, timeout).await
    }
    async fn serve(
        &self,
        node: &NodeId,
        handler: Arc<dyn RequestHandler>,
    ) -> Result<Serving, BusError> {
        let (ready_tx, ready_rx) = oneshot::channel();
        let connected_now = self.current_link().is_ok();
        let task = tokio::spawn(run_server(
            self.inner.link.clone(),
            self.request_queue(node),
            handler,
            ready_tx,
        ));
        let serving = Serving::new(Guard::abort_task(task));
        if connected_now {
            match ready_rx.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(BusError::Unavailable(error)),
                Err(_) => return Err(BusError::Unavailable("server task ended".into())),
            }
        }
        Ok(serving)
    }

    async fn check(&self) -> Result<(), BusError> {
        self.current_link().map(|_| ())
    }
}

impl AmqpBus {
    /// The queue names of durable subscriber `name`.
    fn durable_topology(&self, name: &str) -> DurableTopology {
        let queue = format!("{}.sub.{name}", self.inner.namespace);
        DurableTopology {
            exchange: self.inner.exchange.clone(),
            dead_letter_exchange: format!("{}.dlx", self.inner.namespace),
            retries: format!("{queue}.retry"),
            dead_letters: format!("{queue}.dlq"),
            queue,
        }
    }

    async fn start_subscription(&self, pattern: &str) -> Result<Subscription, BusError> {
        let (tx, rx) = mpsc::unbounded_channel();

        let (bound_tx, bound_rx) = oneshot::channel();
        let connected_now = self.current_link().is_ok();
        let task = tokio::spawn(run_subscription(
            self.inner.link.clone(),
            self.inner.exchange.clone(),
            pattern.to_owned(),
            tx,
            bound_tx,
        ));
        let subscription = Subscription::new(rx, Guard::abort_task(task));
        // When the broker is up, return only once the binding exists, so that an event
        // published right after subscribe() is delivered. When it is down, the binding is
        // made as soon as it comes back.
        if connected_now {
            match bound_rx.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(BusError::Unavailable(error)),
                Err(_) => return Err(BusError::Unavailable("subscription task ended".into())),
            }
        }
        Ok(subscription)
    }
    async fn call_node(
        &self,
        node: &NodeId,
        request: &Request,
        timeout: Duration,
    ) -> Result<Response, BusError> {
        let attempts: u32 = if request.is_idempotent() { 3 } else { 1 };
        let per_attempt = timeout / attempts;
        let payload = serde_json::to_vec(request)?;
        let queue = self.request_queue(node);
        for attempt in 0..attempts {
            if attempt > 0 {
                tracing::debug!(%node, attempt, "retrying idempotent request");
            }
            let link = self.current_link()?;
            let correlation = uuid::Uuid::new_v4().to_string();
            let (reply_tx, reply_rx) = oneshot::channel();
            self.inner
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(correlation.clone(), reply_tx);
            let properties = BasicProperties::default()
                .with_content_type("application/json".into())
                .with_correlation_id(correlation.as_str().into())
                .with_reply_to(DIRECT_REPLY_TO.into())
                .with_expiration(per_attempt.as_millis().to_string().into());
            let sent = link
                .rpc
                .basic_publish(
                    "".into(),
                    queue.as_str().into(),
                    BasicPublishOptions::default(),
                    &payload,
                    properties,
                )
                .await;
            if let Err(error) = sent {
                self.forget(&correlation);
                return Err(BusError::Unavailable(error.to_string()));
            }
            match tokio::time::timeout(per_attempt, reply_rx).await {
                Ok(Ok(body)) => return Ok(serde_json::from_slice(&body)?),
                _ => self.forget(&correlation),
            }
        }
        Err(BusError::Timeout {
            node: node.clone(),
            timeout,
        })
    }

    fn forget(&self, correlation: &str) {
        self.inner
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(correlation);
    }
}

async fn run_subscription(
    mut link: watch::Receiver<Option<Arc<Link>>>,
    exchange: String,
    pattern: String,
    events: mpsc::UnboundedSender<Event>,
    bound: oneshot::Sender<Result<(), String>>,
) {
    let mut bound = Some(bound);
    while let Some(current) = wait_for_link(&mut link).await {
        let consumer = async {
            let channel = current.connection.create_channel().await?;
            // Lives as long as its connection; durable subscribers use `run_durable`.
            let options = QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            };
            let queue = channel
                .queue_declare("".into(), options, FieldTable::default())
                .await?;
            channel
                .queue_bind(
                    queue.name().clone(),
                    exchange.as_str().into(),
                    pattern.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            // Fire and forget: a plain subscription promises only "while connected".
            let consumer = channel
                .basic_consume(
                    queue.name().clone(),
                    "".into(),
                    BasicConsumeOptions {
                        no_ack: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await?;
            Ok::<_, lapin::Error>((channel, consumer))
        }
        .await;
        let (_channel, mut consumer) = match consumer {
            Ok(ok) => {
                if let Some(bound) = bound.take() {
                    let _ = bound.send(Ok(()));
                }
                ok
            }
            Err(error) => {
                if let Some(bound) = bound.take() {
                    let _ = bound.send(Err(error.to_string()));
                }
                tokio::time::sleep(RECONNECT_MIN).await;
                continue;
            }
        };
        while let Some(Ok(delivery)) = consumer.next().await {
            match serde_json::from_slice::<Event>(&delivery.data) {
                Ok(event) => {
                    if events.send(event).is_err() {
                        return;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, routing_key = %delivery.routing_key.as_str(), "dropping undecodable event");
                }
            }
        }
        // The consumer ended: the connection dropped. Wait for the next link.
        tokio::time::sleep(RECONNECT_MIN).await;
    }
}

async fn run_server(
    mut link: watch::Receiver<Option<Arc<Link>>>,
    queue: String,
    handler: Arc<dyn RequestHandler>,
    ready: oneshot::Sender<Result<(), String>>,
) {
    let mut ready = Some(ready);
    while let Some(current) = wait_for_link(&mut link).await {
        let consumer = async {
            let channel = current.connection.create_channel().await?;
            channel.basic_qos(32, BasicQosOptions::default()).await?;
            channel
                .queue_declare(
                    queue.as_str().into(),
                    QueueDeclareOptions {
                        durable: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await?;
            let consumer = channel
                .basic_consume(
                    queue.as_str().into(),
                    "".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            Ok::<_, lapin::Error>((channel, consumer))
        }
        .await;
        let (channel, mut consumer) = match consumer {
            Ok(ok) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Ok(()));
                }
                ok
            }
            Err(error) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Err(error.to_string()));
                }
                tokio::time::sleep(RECONNECT_MIN).await;
                continue;
            }
        };
        while let Some(Ok(delivery)) = consumer.next().await {
            let response = match serde_json::from_slice::<Request>(&delivery.data) {
                Ok(request) => handler.handle(request).await,
                Err(error) => Response::Error {
                    code: "bad_request".into(),
                    message: error.to_string(),
                },
            };
            if let (Some(reply_to), Some(correlation)) = (
                delivery.properties.reply_to(),
                delivery.properties.correlation_id(),
            ) {
                match serde_json::to_vec(&response) {
                    Ok(body) => {
                        let properties = BasicProperties::default()
                            .with_content_type("application/json".into())
                            .with_correlation_id(correlation.clone());
                        if let Err(error) = channel
                            .basic_publish(
                                "".into(),
                                reply_to.clone(),
                                BasicPublishOptions::default(),
                                &body,
                                properties,
                            )
                            .await
                        {
                            tracing::warn!(%error, "could not send rpc reply");
                        }
                    }
                    Err(error) => tracing::error!(%error, "could not encode rpc reply"),
                }
            }
            let _ = delivery.acker.ack(BasicAckOptions::default()).await;
        }
        tokio::time::sleep(RECONNECT_MIN).await;
    }
}

/// The exchanges and queues behind durable subscriber `queue`:
///
/// - `queue` (durable) is bound to the events exchange with the subscriber's patterns; what
///   it dead-letters (a rejection without requeue) goes through `dead_letter_exchange` to
/// - `dead_letters` (`<queue>.dlq`), where messages keep their original body and headers;
/// - `retries` (`<queue>.retry`) holds a failed message for its backoff (a per-message
///   expiration) and then dead-letters it back into `queue` through the default exchange, so
///   a waiting retry survives a restart of the consumer or the broker.
struct DurableTopology {
    exchange: String,
    dead_letter_exchange: String,
    queue: String,
    retries: String,
    dead_letters: String,
}

/// Unsettled deliveries one durable consumer may hold at a time.
const DURABLE_PREFETCH: u16 = 64;
/// Where the delivery count travels (1 for the first delivery).
const ATTEMPT_HEADER: &str = "x-ferrovox-attempt";

fn unavailable(error: lapin::Error) -> BusError {
    BusError::Unavailable(error.to_string())
}

fn long_string(value: &str) -> AMQPValue {
    AMQPValue::LongString(value.into())
}

/// Declares the dead-letter exchange and queue (idempotent); answers the queue's state.
async fn declare_dead_letters(
    channel: &Channel,
    topology: &DurableTopology,
) -> Result<lapin::Queue, lapin::Error> {
    channel
        .exchange_declare(
            topology.dead_letter_exchange.as_str().into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let queue = channel
        .queue_declare(
            topology.dead_letters.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_bind(
            topology.dead_letters.as_str().into(),
            topology.dead_letter_exchange.as_str().into(),
            topology.queue.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(queue)
}

async fn declare_durable(
    channel: &Channel,
    topology: &DurableTopology,
    pattern: &str,
) -> Result<(), lapin::Error> {
    declare_dead_letters(channel, topology).await?;
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let mut retry_args = FieldTable::default();
    retry_args.insert("x-dead-letter-exchange".into(), long_string(""));
    retry_args.insert(
        "x-dead-letter-routing-key".into(),
        long_string(&topology.queue),
    );
    channel
        .queue_declare(topology.retries.as_str().into(), durable, retry_args)
        .await?;
    let mut queue_args = FieldTable::default();
    queue_args.insert(
        "x-dead-letter-exchange".into(),
        long_string(&topology.dead_letter_exchange),
    );
    queue_args.insert(
        "x-dead-letter-routing-key".into(),
        long_string(&topology.queue),
    );
    channel
        .queue_declare(topology.queue.as_str().into(), durable, queue_args)
        .await?;
    channel
        .queue_bind(
            topology.queue.as_str().into(),
            topology.exchange.as_str().into(),
            pattern.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
}

/// The delivery count a message carries; 1 when it has none (a first delivery).
fn attempt_of(properties: &BasicProperties) -> u32 {
    let value = properties
        .headers()
        .as_ref()
        .and_then(|headers| headers.inner().get(ATTEMPT_HEADER).cloned());
    let attempt = match value {
        Some(AMQPValue::LongUInt(n)) => i64::from(n),
        Some(AMQPValue::LongInt(n)) => i64::from(n),
        Some(AMQPValue::LongLongInt(n)) => n,
        Some(AMQPValue::ShortInt(n)) => i64::from(n),
        Some(AMQPValue::ShortUInt(n)) => i64::from(n),
        _ => 1,
    };
    u32::try_from(attempt.max(1)).unwrap_or(u32::MAX)
}

async fn run_durable(
    mut link: watch::Receiver<Option<Arc<Link>>>,
    topology: DurableTopology,
    pattern: String,
    retry: RetryPolicy,
    deliveries: mpsc::UnboundedSender<Delivery>,
    bound: oneshot::Sender<Result<(), String>>,
    alive: Arc<AtomicBool>,
) {
    let mut bound = Some(bound);
    let topology = Arc::new(topology);
    // A setup the broker refuses (say, a queue declared earlier with other arguments) is
    // retried, but not at the reconnect pace: the log would drown.
    let mut setup_backoff = RECONNECT_MIN;
    while let Some(current) = wait_for_link(&mut link).await {
        let consumer = async {
            let channel = current.connection.create_channel().await?;
            // Retries are republished on this channel and must be confirmed before the
            // original is acknowledged.
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            channel
                .basic_qos(DURABLE_PREFETCH, BasicQosOptions::default())
                .await?;
            declare_durable(&channel, &topology, &pattern).await?;
            let consumer = channel
                .basic_consume(
                    topology.queue.as_str().into(),
                    "".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            Ok::<_, lapin::Error>((channel, consumer))
        }
        .await;
        let (channel, mut consumer) = match consumer {
            Ok(ok) => {
                if let Some(bound) = bound.take() {
                    let _ = bound.send(Ok(()));
                }
                setup_backoff = RECONNECT_MIN;
                ok
            }
            Err(error) => {
                tracing::warn!(queue = %topology.queue, %error, "cannot set up the durable subscription");
                if let Some(bound) = bound.take() {
                    let _ = bound.send(Err(error.to_string()));
                }
                tokio::time::sleep(setup_backoff).await;
                setup_backoff = (setup_backoff * 2).min(RECONNECT_MAX);
                continue;
            }
        };
        while let Some(Ok(delivery)) = consumer.next().await {
            let attempt = attempt_of(&delivery.properties);
            let event = match serde_json::from_slice::<Event>(&delivery.data) {
                Ok(event) => event,
                Err(error) => {
                    tracing::warn!(queue = %topology.queue, %error, "poison message moved to the dead-letter queue");
                    if let Err(error) = delivery
                        .acker
                        .reject(BasicRejectOptions { requeue: false })
                        .await
                    {
                        tracing::warn!(%error, "could not dead-letter a poison message");
                    }
                    continue;
                }
            };
            let settle = AmqpSettle {
                channel: channel.clone(),
                topology: topology.clone(),
                retry,
                attempt,
                message: delivery,
                alive: alive.clone(),
            };
            if deliveries
                .send(Delivery::new(event, attempt, Box::new(settle)))
                .is_err()
            {
                return;
            }
        }
        // The consumer ended: the connection dropped and the broker took back what was not
        // acknowledged. Wait for the next link.
        tokio::time::sleep(RECONNECT_MIN).await;
    }
}

/// Settles one delivery of a durable queue on the channel it arrived on.
struct AmqpSettle {
    channel: Channel,
    topology: Arc<DurableTopology>,
    retry: RetryPolicy,
    attempt: u32,
    message: lapin::message::Delivery,
    /// False once the subscription was dropped: then the broker takes unsettled messages back
    /// when the channel closes, and an abandoned delivery must not count as a failure.
    alive: Arc<AtomicBool>,
}

impl AmqpSettle {
    async fn fail(self, error: String) -> Result<(), BusError> {
        let topology = &self.topology;
        if self.attempt >= self.retry.max_attempts {
            tracing::warn!(queue = %topology.queue, attempts = self.attempt, %error, "event moved to the dead-letter queue");
            self.message
                .acker
                .reject(BasicRejectOptions { requeue: false })
                .await
                .map_err(unavailable)?;
            return Ok(());
        }
        let next = self.attempt + 1;
        let delay = self.retry.delay_before(next);
        let mut headers = self
            .message
            .properties
            .headers()
            .clone()
            .unwrap_or_default();
        headers.insert(ATTEMPT_HEADER.into(), AMQPValue::LongLongInt(next.into()));
        let mut properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(PERSISTENT)
            .with_headers(headers)
            .with_expiration(delay.as_millis().max(1).to_string().into());
        if let Some(id) = self.message.properties.message_id() {
            properties = properties.with_message_id(id.clone());
        }
        let publish = async {
            self.channel
                .basic_publish(
                    "".into(),
                    topology.retries.as_str().into(),
                    BasicPublishOptions::default(),
                    &self.message.data,
                    properties,
                )
                .await
                .map_err(unavailable)?
                .await
                .map_err(unavailable)
        };
        let confirm = tokio::time::timeout(CONFIRM_TIMEOUT, publish)
            .await
            .map_err(|_| {
                BusError::Unavailable(format!("no publisher confirm within {CONFIRM_TIMEOUT:?}"))
            })??;
        if let Confirmation::Nack(_) = confirm {
            // Left unacknowledged: the broker delivers it again when this channel closes.
            return Err(BusError::Rejected(format!(
                "the retry of a message of {} was nacked",
                topology.queue
            )));
        }
        self.message
            .acker
            .ack(BasicAckOptions::default())
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

impl Settle for AmqpSettle {
    fn ack(self: Box<Self>) -> SettleFuture {
        Box::pin(async move {
            self.message
                .acker
                .ack(BasicAckOptions::default())
                .await
                .map(|_| ())
                .map_err(unavailable)
        })
    }

    fn reject(self: Box<Self>, error: String) -> SettleFuture {
        Box::pin(self.fail(error))
    }

    fn abandon(self: Box<Self>) {
        if !self.alive.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(error) = self.fail("dropped without ack or reject".into()).await {
                    tracing::warn!(%error, "could not settle an abandoned delivery");
                }
            });
        }
    }
}
