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

use super::durable::{Settle, SettleFuture, check_durable_subscription, check_subscriber_name};
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
    Acker, BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, Consumer,
    ExchangeKind,
};
use std::collections::HashMap;
use std::future::Future;
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
            DURABLE_EXCHANGE,
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
async fn wait_for_link(link: &mut LinkWatch) -> Option<Arc<Link>> {
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
        let properties = json_properties()
            .with_delivery_mode(PERSISTENT)
            .with_message_id(event.event_id.to_string().into());
        let confirm = publish_confirmed(
            &link.events,
            &self.inner.exchange,
            &event.event_type,
            &payload,
            properties,
        )
        .await?;
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
        check_durable_subscription(name, &retry)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let alive = Arc::new(AtomicBool::new(true));
        let role = DurableConsumer {
            topology: Arc::new(self.durable_topology(name)),
            pattern: pattern.to_owned(),
            retry,
            deliveries: tx,
            alive: alive.clone(),
        };
        // A set-up the broker refuses (say, a queue declared earlier with other arguments) is
        // retried, but not at the reconnect pace: the log would drown.
        let (task, bound) = self.spawn_consumer("subscription", RECONNECT_MAX, role);
        let guard = Guard::new(move || {
            alive.store(false, Ordering::SeqCst);
            task.abort();
        });
        let subscription = DurableSubscription::new(rx, guard);
        bound.wait().await?;
        Ok(subscription)
    }

    async fn dead_letter_count(&self, name: &str) -> Result<u64, BusError> {
        let (_, _, queue) = self.dead_letters(name).await?;
        Ok(u64::from(queue.message_count()))
    }

    async fn take_dead_letters(
        &self,
        name: &str,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, BusError> {
        let (channel, topology, _) = self.dead_letters(name).await?;
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
            ack(&delivery.acker).await?;
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
        let role = NodeServer {
            queue: self.request_queue(node),
            handler,
        };
        let (task, ready) = self.spawn_consumer("server", RECONNECT_MIN, role);
        let serving = Serving::new(Guard::abort_task(task));
        ready.wait().await?;
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

    /// A channel on subscriber `name`'s dead-letter queue, declared if need be, with the
    /// subscriber's queue names and the dead-letter queue's state.
    async fn dead_letters(
        &self,
        name: &str,
    ) -> Result<(Channel, DurableTopology, lapin::Queue), BusError> {
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
        Ok((channel, topology, queue))
    }

    /// Spawns a task that keeps `role`'s consumer running on the bus's links (see
    /// [`consume_on_each_link`]); `task` names it in errors.
    fn spawn_consumer(
        &self,
        task: &'static str,
        max_setup_backoff: Duration,
        role: impl ConsumerRole + 'static,
    ) -> (tokio::task::JoinHandle<()>, FirstSetup) {
        let (ready_tx, ready) = oneshot::channel();
        let connected_now = self.current_link().is_ok();
        let handle = tokio::spawn(consume_on_each_link(
            self.inner.link.clone(),
            ready_tx,
            max_setup_backoff,
            role,
        ));
        let first = FirstSetup {
            task,
            connected_now,
            ready,
        };
        (handle, first)
    }

    async fn start_subscription(&self, pattern: &str) -> Result<Subscription, BusError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let role = PlainSubscription {
            exchange: self.inner.exchange.clone(),
            pattern: pattern.to_owned(),
            events: tx,
        };
        let (task, bound) = self.spawn_consumer("subscription", RECONNECT_MIN, role);
        let subscription = Subscription::new(rx, Guard::abort_task(task));
        bound.wait().await?;
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
            let properties = json_properties()
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

/// What a consumer task watches: the supervisor's current link.
type LinkWatch = watch::Receiver<Option<Arc<Link>>>;

/// A consumer task's first set-up, to wait for before the caller gets its subscription or
/// server.
struct FirstSetup {
    task: &'static str,
    connected_now: bool,
    ready: oneshot::Receiver<Result<(), String>>,
}

impl FirstSetup {
    /// When the broker is up, returns once the consumer is in place (a binding exists, so an
    /// event published right after `subscribe()` is delivered), or with the broker's refusal.
    /// When it is down, returns at once: the set-up is made as soon as it comes back.
    async fn wait(self) -> Result<(), BusError> {
        if !self.connected_now {
            return Ok(());
        }
        match self.ready.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(BusError::Unavailable(error)),
            Err(_) => Err(BusError::Unavailable(format!("{} task ended", self.task))),
        }
    }
}

/// One consumer task's part: what it declares on each link and what it does with each
/// delivery; [`consume_on_each_link`] keeps it running across reconnects.
trait ConsumerRole: Send {
    /// Declares what the consumer needs on a fresh link and starts consuming.
    fn setup(
        &self,
        link: &Link,
    ) -> impl Future<Output = Result<(Channel, Consumer), lapin::Error>> + Send;

    /// Handles one delivery that arrived on `channel`; false once nobody takes deliveries any
    /// more (the task ends).
    fn deliver(
        &mut self,
        channel: &Channel,
        delivery: lapin::message::Delivery,
    ) -> impl Future<Output = bool> + Send;
}

/// Keeps `role`'s consumer running across reconnects. On each link it is set up anew; the
/// first outcome goes to `ready`. Deliveries go to the role until the consumer ends (the
/// connection dropped: the next link gets a new consumer) or the role answers false. A set-up
/// the broker refuses is tried again after a wait that doubles from [`RECONNECT_MIN`] up to
/// `max_setup_backoff`.
async fn consume_on_each_link(
    mut link: LinkWatch,
    ready: oneshot::Sender<Result<(), String>>,
    max_setup_backoff: Duration,
    mut role: impl ConsumerRole,
) {
    let mut ready = Some(ready);
    let mut setup_backoff = RECONNECT_MIN;
    while let Some(current) = wait_for_link(&mut link).await {
        let (channel, mut consumer) = match role.setup(&current).await {
            Ok(started) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Ok(()));
                }
                setup_backoff = RECONNECT_MIN;
                started
            }
            Err(error) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Err(error.to_string()));
                }
                tokio::time::sleep(setup_backoff).await;
                setup_backoff = (setup_backoff * 2).min(max_setup_backoff);
                continue;
            }
        };
        while let Some(Ok(delivery)) = consumer.next().await {
            if !role.deliver(&channel, delivery).await {
                return;
            }
        }
        tokio::time::sleep(RECONNECT_MIN).await;
    }
}

/// Starts consuming `queue` on `channel`; the channel is returned with the consumer because
/// it must live as long as the consumer does.
async fn start_consumer(
    channel: Channel,
    queue: &str,
    options: BasicConsumeOptions,
) -> Result<(Channel, Consumer), lapin::Error> {
    let consumer = channel
        .basic_consume(queue.into(), "".into(), options, FieldTable::default())
        .await?;
    Ok((channel, consumer))
}

/// A plain subscription: an exclusive queue bound with `pattern`, for as long as its
/// connection lives (durable subscribers are [`DurableConsumer`]s).
struct PlainSubscription {
    exchange: String,
    pattern: String,
    events: mpsc::UnboundedSender<Event>,
}

impl ConsumerRole for PlainSubscription {
    async fn setup(&self, link: &Link) -> Result<(Channel, Consumer), lapin::Error> {
        let channel = link.connection.create_channel().await?;
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
                self.exchange.as_str().into(),
                self.pattern.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        // Fire and forget: a plain subscription promises only "while connected".
        let no_ack = BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        };
        start_consumer(channel, queue.name().as_str(), no_ack).await
    }

    async fn deliver(&mut self, _: &Channel, delivery: lapin::message::Delivery) -> bool {
        match serde_json::from_slice::<Event>(&delivery.data) {
            Ok(event) => self.events.send(event).is_ok(),
            Err(error) => {
                tracing::warn!(%error, routing_key = %delivery.routing_key.as_str(), "dropping undecodable event");
                true
            }
        }
    }
}

/// A media node serving the requests of its queue and answering each on its reply-to.
struct NodeServer {
    queue: String,
    handler: Arc<dyn RequestHandler>,
}

impl ConsumerRole for NodeServer {
    async fn setup(&self, link: &Link) -> Result<(Channel, Consumer), lapin::Error> {
        let channel = link.connection.create_channel().await?;
        channel.basic_qos(32, BasicQosOptions::default()).await?;
        channel
            .queue_declare(
                self.queue.as_str().into(),
                DURABLE_QUEUE,
                FieldTable::default(),
            )
            .await?;
        start_consumer(channel, &self.queue, BasicConsumeOptions::default()).await
    }

    async fn deliver(&mut self, channel: &Channel, delivery: lapin::message::Delivery) -> bool {
        let response = match serde_json::from_slice::<Request>(&delivery.data) {
            Ok(request) => self.handler.handle(request).await,
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
                    let properties = json_properties().with_correlation_id(correlation.clone());
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
        true
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

/// Queues and exchanges that survive a broker restart.
const DURABLE_QUEUE: QueueDeclareOptions = QueueDeclareOptions {
    passive: false,
    durable: true,
    exclusive: false,
    auto_delete: false,
    nowait: false,
};
const DURABLE_EXCHANGE: ExchangeDeclareOptions = ExchangeDeclareOptions {
    passive: false,
    durable: true,
    auto_delete: false,
    internal: false,
    nowait: false,
};

fn unavailable(error: lapin::Error) -> BusError {
    BusError::Unavailable(error.to_string())
}

fn json_properties() -> BasicProperties {
    BasicProperties::default().with_content_type("application/json".into())
}

/// Publishes on a confirm-mode channel and waits for the broker's confirm, at most
/// [`CONFIRM_TIMEOUT`]: a broker that dies mid-publish must not stall the publisher.
async fn publish_confirmed(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    payload: &[u8],
    properties: BasicProperties,
) -> Result<Confirmation, BusError> {
    let publish = async {
        channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                payload,
                properties,
            )
            .await
            .map_err(unavailable)?
            .await
            .map_err(unavailable)
    };
    tokio::time::timeout(CONFIRM_TIMEOUT, publish)
        .await
        .map_err(|_| {
            BusError::Unavailable(format!("no publisher confirm within {CONFIRM_TIMEOUT:?}"))
        })?
}

async fn ack(acker: &Acker) -> Result<(), BusError> {
    acker
        .ack(BasicAckOptions::default())
        .await
        .map(|_| ())
        .map_err(unavailable)
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
            DURABLE_EXCHANGE,
            FieldTable::default(),
        )
        .await?;
    let queue = channel
        .queue_declare(
            topology.dead_letters.as_str().into(),
            DURABLE_QUEUE,
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
    let mut retry_args = FieldTable::default();
    retry_args.insert("x-dead-letter-exchange".into(), long_string(""));
    retry_args.insert(
        "x-dead-letter-routing-key".into(),
        long_string(&topology.queue),
    );
    channel
        .queue_declare(topology.retries.as_str().into(), DURABLE_QUEUE, retry_args)
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
        .queue_declare(topology.queue.as_str().into(), DURABLE_QUEUE, queue_args)
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

/// A durable subscriber's consumer: settles each delivery through [`AmqpSettle`].
struct DurableConsumer {
    topology: Arc<DurableTopology>,
    pattern: String,
    retry: RetryPolicy,
    deliveries: mpsc::UnboundedSender<Delivery>,
    /// Shared with the subscription's guard (see [`AmqpSettle::alive`]).
    alive: Arc<AtomicBool>,
}

impl ConsumerRole for DurableConsumer {
    async fn setup(&self, link: &Link) -> Result<(Channel, Consumer), lapin::Error> {
        let started = async {
            let channel = link.connection.create_channel().await?;
            // Retries are republished on this channel and must be confirmed before the
            // original is acknowledged.
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            channel
                .basic_qos(DURABLE_PREFETCH, BasicQosOptions::default())
                .await?;
            declare_durable(&channel, &self.topology, &self.pattern).await?;
            start_consumer(
                channel,
                &self.topology.queue,
                BasicConsumeOptions::default(),
            )
            .await
        }
        .await;
        if let Err(error) = &started {
            tracing::warn!(queue = %self.topology.queue, %error, "cannot set up the durable subscription");
        }
        started
    }

    async fn deliver(&mut self, channel: &Channel, delivery: lapin::message::Delivery) -> bool {
        let attempt = attempt_of(&delivery.properties);
        let event = match serde_json::from_slice::<Event>(&delivery.data) {
            Ok(event) => event,
            Err(error) => {
                tracing::warn!(queue = %self.topology.queue, %error, "poison message moved to the dead-letter queue");
                if let Err(error) = delivery
                    .acker
                    .reject(BasicRejectOptions { requeue: false })
                    .await
                {
                    tracing::warn!(%error, "could not dead-letter a poison message");
                }
                return true;
            }
        };
        let settle = AmqpSettle {
            channel: channel.clone(),
            topology: self.topology.clone(),
            retry: self.retry,
            attempt,
            message: delivery,
            alive: self.alive.clone(),
        };
        self.deliveries
            .send(Delivery::new(event, attempt, Box::new(settle)))
            .is_ok()
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
        let mut properties = json_properties()
            .with_delivery_mode(PERSISTENT)
            .with_headers(headers)
            .with_expiration(delay.as_millis().max(1).to_string().into());
        if let Some(id) = self.message.properties.message_id() {
            properties = properties.with_message_id(id.clone());
        }
        let confirm = publish_confirmed(
            &self.channel,
            "",
            &topology.retries,
            &self.message.data,
            properties,
        )
        .await?;
        if let Confirmation::Nack(_) = confirm {
            // Left unacknowledged: the broker delivers it again when this channel closes.
            return Err(BusError::Rejected(format!(
                "the retry of a message of {} was nacked",
                topology.queue
            )));
        }
        ack(&self.message.acker).await
    }
}

impl Settle for AmqpSettle {
    fn ack(self: Box<Self>) -> SettleFuture {
        Box::pin(async move { ack(&self.message.acker).await })
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
