//! The ferrovox control plane: the HTTP API and what it needs to start.
//!
//! It depends on the store, the cache and the bus only through their traits, and on media
//! nodes only through `ferrovox-contract`. This crate has the service endpoints (`/health`,
//! `/ready`, `/metrics`), the `/v1.0` API with access-key authentication, and the bootstrap
//! that creates the first customer and its admin access key.

mod accesskey;
mod auth;
mod body;
pub mod bootstrap;
pub mod deadletters;
pub mod directory;
mod error;
mod http_metrics;
pub mod openapi;
mod outbox;
mod page;
mod password;
pub mod ratelimit;
mod read_through;
pub mod resource;
mod routes;
mod session;
mod ws;

pub use accesskey::{generate_token, token_hash};
pub use bootstrap::{AdminKey, ensure_admin};
pub use error::ApiError;
pub use ratelimit::RateLimits;

use ferrovox_cache::Cache;
use ferrovox_contract::Bus;
use ferrovox_store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;

/// Renders the process's Prometheus metrics (one registry per process).
pub type RenderMetrics = Arc<dyn Fn() -> String + Send + Sync>;

/// The engines the control plane runs on; which implementation each is, it does not know.
#[derive(Clone)]
pub struct Engines {
    pub store: Arc<dyn Store>,
    pub cache: Arc<dyn Cache>,
    pub bus: Arc<dyn Bus>,
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot subscribe to events for WebSocket clients: {0}")]
    Events(#[from] ferrovox_contract::BusError),
    #[error("cannot listen on control.listen {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// The data directory when none is given: the appliance's default `data_dir`.
pub const DEFAULT_DATA_DIR: &str = "ferrovox-data";

/// How a control plane runs besides its engines.
#[derive(Clone)]
pub struct Options {
    pub rate_limits: RateLimits,
    /// Signs session tokens (HS256). Every control plane of a deployment needs the same one.
    pub jwt_secret: Vec<u8>,
}

impl Default for Options {
    /// Default rate limits and a random secret (sessions end when the process does).
    fn default() -> Self {
        use rand::Rng;
        let mut secret = vec![0u8; 32];
        rand::rng().fill(secret.as_mut_slice());
        Self {
            rate_limits: RateLimits::default(),
            jwt_secret: secret,
        }
    }
}

/// A running HTTP API.
pub struct ControlPlane {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
    relay: tokio::task::JoinHandle<()>,
    /// Publishes the nodes' SIP directory.
    directory: tokio::task::JoinHandle<()>,
}

impl ControlPlane {
    /// Binds `listen` and serves the API until [`ControlPlane::shutdown`], with the default
    /// rate limits.
    pub async fn start(
        listen: SocketAddr,
        engines: Engines,
        metrics: RenderMetrics,
    ) -> Result<Self, ControlError> {
        Self::start_with(listen, engines, metrics, Options::default()).await
    }

    /// [`ControlPlane::start`] with explicit options, and files (recordings) in
    /// [`DEFAULT_DATA_DIR`].
    pub async fn start_with(
        listen: SocketAddr,
        engines: Engines,
        metrics: RenderMetrics,
        options: Options,
    ) -> Result<Self, ControlError> {
        Self::start_with_data_dir(
            listen,
            engines,
            metrics,
            options,
            std::path::Path::new(DEFAULT_DATA_DIR),
        )
        .await
    }

    /// [`ControlPlane::start_with`] with the appliance's data directory: recording files are
    /// served from its `recordings` folder.
    pub async fn start_with_data_dir(
        listen: SocketAddr,
        engines: Engines,
        metrics: RenderMetrics,
        options: Options,
        data_dir: &std::path::Path,
    ) -> Result<Self, ControlError> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| ControlError::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().unwrap_or(listen);
        let wake = Arc::new(tokio::sync::Notify::new());
        let relay = outbox::spawn(engines.store.clone(), engines.bus.clone(), wake.clone());
        let events = ws::start_fan_out(engines.bus.clone()).await?;
        let directory = directory::spawn(engines.store.clone(), engines.bus.clone()).await?;
        let router = routes::router(routes::AppState {
            engines,
            metrics,
            outbox: wake,
            events,
            limiter: Arc::new(ratelimit::RateLimiter::new(options.rate_limits)),
            jwt_secret: Arc::new(options.jwt_secret),
            recordings_dir: Arc::new(data_dir.join(resource::recording::RECORDINGS_FOLDER)),
        });
        let (stop, mut stopped) = watch::channel(false);
        let server = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.changed().await;
            };
            let service = router.into_make_service_with_connect_info::<SocketAddr>();
            if let Err(error) = axum::serve(listener, service)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(%error, "control plane HTTP server failed");
            }
        });
        tracing::info!(%addr, "control plane listening");
        Ok(Self {
            addr,
            stop,
            server,
            relay,
            directory,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections and waits for requests in flight.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.server.await;
        // Unpublished events stay in the outbox for the next start.
        self.relay.abort();
        self.directory.abort();
        tracing::info!(addr = %self.addr, "control plane stopped");
    }
}
