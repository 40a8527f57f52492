//! A ferrovox media node.
//!
//! Today a node serves its admin endpoints (`/health`, `/ready`, `/metrics`), answers
//! rtpengine's ng control protocol on UDP and relays the RTP/RTCP of the calls it sets up
//! ([`ng::relay_commands`] over `ferrovox-media`, sockets in `media_socket`), runs the SIP
//! edge — a transaction-stateful proxy with registrar and carrier routing on the
//! thread-per-core IO runtime ([`sip`]) — and serves its side of the bus
//! (requests addressed to it, `node.started`/`node.stopped` events). The SIP proxy and the media server
//! plug into this process as they arrive; the control plane reaches all of them only through
//! `ferrovox-contract`.

mod admin;
pub mod config;
mod media_socket;
pub mod ng;
mod ng_socket;
mod rpc;
pub mod sip;

pub use config::{NodeConfig, PortRange};

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
    #[error("cannot set up the relay on media.rtp_ports {range}: {source}")]
    Relay {
        range: PortRange,
        #[source]
        source: ferrovox_media::RelayError,
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
        let relay = ferrovox_media::Relay::new(ferrovox_media::RelayConfig {
            port_min: config.rtp_ports.first,
            port_max: config.rtp_ports.last,
            ..ferrovox_media::RelayConfig::default()
        })
        .map_err(|source| NodeError::Relay {
            range: config.rtp_ports,
            source,
        })?;
        let (media_sockets, inbound) = media_socket::MediaSockets::new(config.interface);
        let commands =
            ng::relay_commands::RelayCommands::new(relay, config.interface, media_sockets);
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
        tasks.spawn(media_socket::run(media_socket::MediaTask {
            ng: ng_socket,
            commands,
            inbound,
            stop: stopped.clone(),
            alive: ng_alive.clone(),
            bus: bus.clone(),
            node_id: config.node_id.clone(),
        }));
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
