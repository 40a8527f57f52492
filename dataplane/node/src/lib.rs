//! A ferrovox media node.
//!
//! Today a node serves its admin endpoints (`/health`, `/ready`, `/metrics`), answers
//! rtpengine's ng control protocol on UDP and relays the RTP/RTCP of the calls it sets up
//! ([`ng::relay_commands`] over `ferrovox-media`, one relay per core on the thread-per-core
//! media runtime in `media_cores`), runs the SIP
//! edge — a transaction-stateful proxy with registrar and carrier routing on the
//! thread-per-core IO runtime ([`sip`]) — and serves its side of the bus
//! (requests addressed to it, `node.started`/`node.stopped` events). The SIP proxy and the media server
//! plug into this process as they arrive; the control plane reaches all of them only through
//! `ferrovox-contract`.

mod admin;
pub mod config;
pub mod media_cores;
pub mod ng;
mod ng_socket;
mod rpc;
pub mod sip;

pub use config::{NodeConfig, PortRange};
pub use media_cores::{MediaCores, MediaCoresConfig, MediaCoresError};

use ferrovox_contract::{Bus, Event, Serving};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Renders the process's Prometheus metrics (one registry per process).
pub type RenderMetrics = Arc<dyn Fn() -> String + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("cannot listen on {setting} {addr}: {source}")]
    Bind {
        setting: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the media relay (media.rtp_ports {range}): {source}")]
    Media {
        range: PortRange,
        #[source]
        source: media_cores::MediaCoresError,
    },
    #[error("cannot start SIP on sip.listen: {0}")]
    Sip(#[from] sip::SipEdgeError),
    #[error("cannot serve requests on the bus: {0}")]
    Bus(#[from] ferrovox_contract::BusError),
}

/// A running media node. Dropping it without [`MediaNode::shutdown`] aborts its tasks.
pub struct MediaNode {
    admin_addr: SocketAddr,
    ng_addr: SocketAddr,
    sip_addr: Option<SocketAddr>,
    sip: Option<sip::SipEdge>,
    media: Option<Arc<media_cores::MediaCores>>,
    call_events: Option<tokio::task::JoinHandle<()>>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    bus: Arc<dyn Bus>,
    config: NodeConfig,
    _serving: Serving,
}

impl MediaNode {
    /// Binds every socket first (so a port in use fails start-up with the setting's name),
    /// then starts serving.
    pub async fn start(
        config: NodeConfig,
        bus: Arc<dyn Bus>,
        metrics: RenderMetrics,
    ) -> Result<Self, NodeError> {
        let started = Instant::now();
        let admin_listener =
            tokio::net::TcpListener::bind(config.admin)
                .await
                .map_err(|source| NodeError::Bind {
                    setting: "media.admin",
                    addr: config.admin,
                    source,
                })?;
        let ng_socket = tokio::net::UdpSocket::bind(config.ng)
            .await
            .map_err(|source| NodeError::Bind {
                setting: "media.ng",
                addr: config.ng,
                source,
            })?;
        let sip = match &config.sip {
            Some(edge) => Some(sip::SipEdge::start(edge.clone())?),
            None => None,
        };
        let (media, call_events) = media_cores::MediaCores::start(&MediaCoresConfig {
            backend: config.media_backend,
            threads: config.media_threads,
            interface: config.interface,
            port_first: config.rtp_ports.first,
            port_last: config.rtp_ports.last,
        })
        .map_err(|source| NodeError::Media {
            range: config.rtp_ports,
            source,
        })?;
        let media = Arc::new(media);
        let admin_addr = local_addr(&admin_listener.local_addr(), config.admin);
        let ng_addr = local_addr(&ng_socket.local_addr(), config.ng);

        let serving = bus
            .serve(
                &config.node_id,
                Arc::new(rpc::NodeRequests::new(config.node_id.clone(), started)),
            )
            .await?;

        let (stop, stopped) = watch::channel(false);
        let ng_alive = Arc::new(AtomicBool::new(true));
        let mut tasks = JoinSet::new();
        tasks.spawn(ng_socket::serve(
            ng_socket,
            media.clone(),
            stopped.clone(),
            ng_alive.clone(),
        ));
        let call_events = tokio::spawn(publish_call_events(
            call_events,
            bus.clone(),
            config.node_id.clone(),
        ));
        tasks.spawn(publish_media_metrics(media.clone(), stopped.clone()));
        let sip_addr = sip.as_ref().and_then(sip::SipEdge::udp_addr);
        if let Some(edge) = &sip {
            let subscription = bus
                .subscribe(ferrovox_contract::SIP_DIRECTORY_EVENT)
                .await?;
            tasks.spawn(follow_sip_directory(
                subscription,
                edge.handle(),
                stopped.clone(),
            ));
        }
        let sip_stats = sip.as_ref().map(sip::SipEdge::handle);
        tasks.spawn(admin::serve(
            admin_listener,
            admin::AdminState {
                bus: bus.clone(),
                metrics,
                ng_alive,
                sip: sip_stats,
            },
            stopped,
        ));

        let event = Event::new(
            "node.started",
            config.node_id.as_str(),
            serde_json::json!({
                "version": env!("CARGO_PKG_VERSION"),
                "admin": admin_addr.to_string(),
                "ng": ng_addr.to_string(),
                "interface": config.interface.to_string(),
                "rtp_ports": config.rtp_ports.to_string(),
                "sip": sip_addr.map(|a| a.to_string()),
            }),
        );
        if let Err(error) = bus.publish(&event).await {
            tracing::warn!(%error, "could not announce node.started");
        }
        tracing::info!(node = %config.node_id, %admin_addr, %ng_addr, sip = ?sip_addr, "media node started");
        Ok(Self {
            admin_addr,
            ng_addr,
            sip_addr,
            sip,
            media: Some(media),
            call_events: Some(call_events),
            stop,
            tasks,
            bus,
            config,
            _serving: serving,
        })
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    pub fn ng_addr(&self) -> SocketAddr {
        self.ng_addr
    }

    /// Where SIP is answered (UDP and TCP), if it is enabled.
    pub fn sip_addr(&self) -> Option<SocketAddr> {
        self.sip_addr
    }

    /// Stops accepting work, announces `node.stopped` and waits for the tasks to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        // The tasks that shared the media cores have ended: stop the cores, then let the
        // call-event task publish what they left (it ends when the cores are gone).
        if let Some(media) = self.media.take().and_then(Arc::into_inner) {
            let _ = tokio::task::spawn_blocking(move || media.shutdown()).await;
        }
        if let Some(events) = self.call_events.take() {
            let _ = events.await;
        }
        if let Some(sip) = self.sip.take() {
            let stopped = tokio::task::spawn_blocking(move || sip.shutdown()).await;
            if let Ok(Err(error)) = stopped {
                tracing::warn!(%error, "SIP edge did not stop cleanly");
            }
        }
        let event = Event::new(
            "node.stopped",
            self.config.node_id.as_str(),
            serde_json::Value::Null,
        );
        if let Err(error) = self.bus.publish(&event).await {
            tracing::debug!(%error, "could not announce node.stopped");
        }
        tracing::info!(node = %self.config.node_id, "media node stopped");
    }
}

/// Publishes the media cores' call events (media timeout, final timeout, DTMF) on the bus
/// until the cores stop.
async fn publish_call_events(
    mut events: tokio::sync::mpsc::UnboundedReceiver<ng::relay_commands::CallEvent>,
    bus: Arc<dyn Bus>,
    node: ferrovox_contract::NodeId,
) {
    while let Some(call_event) = events.recv().await {
        let event = Event::new(call_event.event_type, node.as_str(), call_event.data);
        if let Err(error) = bus.publish(&event).await {
            tracing::warn!(%error, event = event.event_type, "could not publish call event");
        }
    }
}

/// Copies the media cores' counters into the process's metrics once a second.
async fn publish_media_metrics(
    media: Arc<media_cores::MediaCores>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        let stats = media.stats();
        for (name, value) in [
            ("ferrovox_media_received_packets_total", stats.rx_packets),
            ("ferrovox_media_forwarded_packets_total", stats.forwarded),
            (
                "ferrovox_media_transmitted_packets_total",
                stats.transmitted,
            ),
            ("ferrovox_media_dropped_packets_total", stats.dropped),
            (
                "ferrovox_media_send_dropped_packets_total",
                stats.send_dropped,
            ),
            ("ferrovox_media_truncated_packets_total", stats.truncated),
            ("ferrovox_media_errors_total", stats.errors),
            ("ferrovox_media_port_errors_total", stats.port_errors),
        ] {
            metrics::counter!(name).absolute(value);
        }
        metrics::gauge!("ferrovox_media_ports_open").set(stats.ports_open as f64);
    }
}

/// Applies every SIP directory the control plane publishes until the node stops.
async fn follow_sip_directory(
    mut subscription: ferrovox_contract::Subscription,
    edge: sip::SipEdgeHandle,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let event = tokio::select! {
            _ = stop.changed() => return,
            event = subscription.next() => match event {
                Some(event) => event,
                None => return,
            },
        };
        match serde_json::from_value::<ferrovox_contract::SipDirectory>(event.data) {
            Ok(directory) => {
                edge.apply_directory(&directory);
            }
            Err(error) => tracing::warn!(%error, "unreadable SIP directory ignored"),
        }
    }
}

fn local_addr(actual: &std::io::Result<SocketAddr>, configured: SocketAddr) -> SocketAddr {
    actual.as_ref().copied().unwrap_or(configured)
}
