//! The node's SIP edge: the transaction-stateful proxy (`ferrovox-proxy`) with the registrar
//! (`ferrovox-registrar`) and carrier routing (`ferrovox-routing`) as its policy, one proxy
//! per core on the thread-per-core IO runtime (`ferrovox-runtime`, io_uring or portable).
//!
//! Nothing here touches tokio: the runtime's threads own the sockets; the admin endpoint reads
//! the counters each core publishes once a second.

mod anchor;
mod config;
mod policy;
mod service;
mod shared;

pub use anchor::{AnchorError, DISABLED_FOR};
pub use config::{
    MediaRelayConfig, SipEdgeConfig, SipUser, parse_listen, parse_media_relay, parse_next_hop,
};
pub use ferrovox_runtime::{Backend, ParseBackendError};
pub use ferrovox_sip::transaction::{Peer, Transport};
pub use shared::{DirectoryOutcome, SipConfigError};

use ferrovox_proxy::ProxyConfig;
use ferrovox_runtime::{Runtime, RuntimeConfig, RuntimeError};
use service::ProxyService;
use shared::Shared;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum SipEdgeError {
    #[error(transparent)]
    Config(#[from] SipConfigError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("sip.media_relay {relay}: cannot open a socket towards it: {source}")]
    MediaRelay {
        relay: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Totals over every core.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SipEdgeStats {
    pub requests: u64,
    pub responses: u64,
    pub forwarded: u64,
    pub dropped_malformed: u64,
    pub dropped_admission: u64,
    pub active_transactions: u64,
    pub active_dialogs: u64,
    pub memory_bytes: u64,
}

impl SipEdgeStats {
    /// Sets the process's Prometheus series from these totals.
    pub fn publish(&self) {
        metrics::counter!("ferrovox_sip_requests_total").absolute(self.requests);
        metrics::counter!("ferrovox_sip_responses_total").absolute(self.responses);
        metrics::counter!("ferrovox_sip_forwarded_total").absolute(self.forwarded);
        metrics::counter!("ferrovox_sip_dropped_malformed_total").absolute(self.dropped_malformed);
        metrics::counter!("ferrovox_sip_dropped_admission_total").absolute(self.dropped_admission);
        metrics::gauge!("ferrovox_sip_transactions").set(self.active_transactions as f64);
        metrics::gauge!("ferrovox_sip_dialogs").set(self.active_dialogs as f64);
        metrics::gauge!("ferrovox_sip_memory_bytes").set(self.memory_bytes as f64);
    }
}

/// A running edge's shared state, for tasks that outlive a borrow of [`SipEdge`]: the admin
/// endpoint (totals, core heartbeats) and the bus subscriber (SIP directories).
#[derive(Clone)]
pub struct SipEdgeHandle(Arc<Shared>);

impl SipEdgeHandle {
    pub fn stats(&self) -> SipEdgeStats {
        self.0.stats()
    }

    /// Applies the control plane's SIP directory (accounts, trunks, gateways, routes) on top of
    /// the configuration's own; an older or equal version is ignored.
    pub fn apply_directory(&self, directory: &ferrovox_contract::SipDirectory) -> DirectoryOutcome {
        self.0.apply_directory(directory, Instant::now())
    }

    /// Every core ran its housekeeping recently (a stuck or dead core does not).
    pub fn cores_alive(&self) -> bool {
        self.0.cores_alive()
    }
}

/// A running SIP edge.
pub struct SipEdge {
    runtime: Runtime,
    shared: Arc<Shared>,
}

impl SipEdge {
    pub fn start(config: SipEdgeConfig) -> Result<Self, SipEdgeError> {
        let threads = match config.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        if let Some(relay) = &config.media_relay {
            // Each core opens its own socket; a relay address no socket can reach (wrong
            // family, no route) is a configuration error, reported here rather than per call.
            anchor::connect(relay.relay).map_err(|source| SipEdgeError::MediaRelay {
                relay: relay.relay,
                source,
            })?;
        }
        let shared = Arc::new(Shared::new(&config, threads, Instant::now())?);
        let salt = u64::from_le_bytes(shared::random_secret()[..8].try_into().unwrap_or([0x5e; 8]));
        let mut aliases = vec![config.realm.clone()];
        aliases.retain(|alias| !alias.is_empty());
        let proxy_config = ProxyConfig {
            aliases,
            branch_salt: salt,
            branch_response_timeout: config.branch_response_timeout,
            invite_timeout: config.invite_timeout,
            ..ProxyConfig::default()
        };
        let runtime_config = RuntimeConfig {
            backend: config.backend,
            threads,
            listen: config.listen.clone(),
            ..RuntimeConfig::default()
        };
        let for_cores = shared.clone();
        let runtime = ferrovox_runtime::start(runtime_config, move |context| {
            ProxyService::new(&context, for_cores.clone(), proxy_config.clone())
        })?;
        tracing::info!(
            backend = %runtime.backend(),
            threads,
            listen = ?runtime.listen_addrs(),
            "SIP edge started"
        );
        Ok(Self { runtime, shared })
    }

    pub fn listen_addrs(&self) -> &[(Transport, SocketAddr)] {
        self.runtime.listen_addrs()
    }

    /// The UDP listen address, if any (where SIP is usually addressed).
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.listen_addrs()
            .iter()
            .find(|(transport, _)| *transport == Transport::Udp)
            .map(|(_, addr)| *addr)
    }

    pub fn backend(&self) -> Backend {
        self.runtime.backend()
    }

    pub fn stats(&self) -> SipEdgeStats {
        self.shared.stats()
    }

    pub fn handle(&self) -> SipEdgeHandle {
        SipEdgeHandle(self.shared.clone())
    }

    pub fn runtime_stats(&self) -> ferrovox_runtime::RuntimeStats {
        self.runtime.stats()
    }

    /// Stops every core thread and waits for them.
    pub fn shutdown(self) -> Result<(), SipEdgeError> {
        self.runtime.shutdown()?;
        Ok(())
    }
}
