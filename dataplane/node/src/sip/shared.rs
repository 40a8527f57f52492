//! What every core's proxy shares: the registrar and its stores, the route table, gateway
//! health, trunks, and per-core counters the admin endpoint reads.

use super::config::SipEdgeConfig;
use ferrovox_registrar::{Credential, Credentials, MemoryCredentials, MemoryLocations, Registrar};
use ferrovox_routing::{Health, PikeConfig, RateLimiter, RouteTable, Trunks};
use ferrovox_sip::transaction::Peer;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum SipConfigError {
    #[error("sip routing: {0}")]
    Routing(#[from] ferrovox_routing::ConfigError),
    #[error("sip.users: user {0:?} appears twice")]
    DuplicateUser(String),
    #[error(
        "sip.users: a username must be non-empty and must not contain '@', ':' or spaces: {0:?}"
    )]
    BadUser(String),
}

pub struct Shared {
    pub registrar: Option<Registrar>,
    credentials: Arc<MemoryCredentials>,
    realm: String,
    pub routes: RouteTable,
    pub health: Health,
    pub trunks: Trunks,
    pub pike: PikeConfig,
    pub next_hop: Option<Peer>,
    pub require_auth: bool,
    pub cores: Vec<CoreCounters>,
    pub started: Instant,
}

/// A core that has not run its housekeeping for this long is reported as stopped.
const HEARTBEAT_LIMIT_MS: u64 = 5_000;

/// A core's proxy counters, published by the core on its housekeeping tick.
#[derive(Default)]
pub struct CoreCounters {
    pub requests: AtomicU64,
    pub responses: AtomicU64,
    pub forwarded: AtomicU64,
    pub dropped_malformed: AtomicU64,
    pub dropped_admission: AtomicU64,
    pub active_transactions: AtomicU64,
    pub active_dialogs: AtomicU64,
    pub memory_bytes: AtomicU64,
    /// Milliseconds since the edge started, at the core's last housekeeping.
    pub heartbeat_ms: AtomicU64,
}

impl Shared {
    pub fn new(config: &SipEdgeConfig, cores: usize, now: Instant) -> Result<Self, SipConfigError> {
        let routes = RouteTable::new(&config.gateways, &config.routes)?;
        let health = Health::new(&routes, config.health, now)?;
        let trunks = Trunks::new(&config.trunks)?;
        if config.pike.enabled {
            RateLimiter::new(config.pike, now)?;
        }
        let credentials = Arc::new(MemoryCredentials::new());
        for user in &config.users {
            let name = user.username.as_str();
            if name.is_empty() || name.contains(['@', ':', ' ']) {
                return Err(SipConfigError::BadUser(name.to_owned()));
            }
            if credentials.lookup(name, &config.realm).is_some() {
                return Err(SipConfigError::DuplicateUser(name.to_owned()));
            }
            credentials.insert(name, &config.realm, Credential::password(&user.password));
        }
        let registrar = (!config.users.is_empty()).then(|| {
            let mut registrar_config =
                ferrovox_registrar::RegistrarConfig::new(config.realm.clone(), random_secret());
            registrar_config.require_auth = true;
            Registrar::new(
                registrar_config,
                credentials.clone(),
                Arc::new(MemoryLocations::default()),
            )
        });
        Ok(Self {
            registrar,
            credentials,
            realm: config.realm.clone(),
            routes,
            health,
            trunks,
            pike: config.pike,
            next_hop: config.next_hop,
            require_auth: config.require_auth,
            cores: (0..cores).map(|_| CoreCounters::default()).collect(),
            started: now,
        })
    }

    /// Whether the Request-URI's user is one of the registrar's users (registered or not).
    pub fn is_local_user(&self, ruri: &str) -> bool {
        let Some(aor) = ferrovox_registrar::normalize_aor(ruri) else {
            return false;
        };
        let user = aor.split_once('@').map_or(aor.as_str(), |(user, _)| user);
        let user = user.strip_prefix("sip:").unwrap_or(user);
        self.credentials.lookup(user, &self.realm).is_some()
    }

    pub fn cores_alive(&self) -> bool {
        let now_ms = self.started.elapsed().as_millis() as u64;
        self.cores.iter().all(|core| {
            now_ms.saturating_sub(core.heartbeat_ms.load(Ordering::Relaxed)) < HEARTBEAT_LIMIT_MS
        })
    }

    pub fn total(&self, counter: impl Fn(&CoreCounters) -> &AtomicU64) -> u64 {
        self.cores
            .iter()
            .map(|core| counter(core).load(Ordering::Relaxed))
            .sum()
    }
}

/// A per-process secret: nonces and branches must not be predictable.
pub fn random_secret() -> [u8; 32] {
    let mut secret = [0u8; 32];
    rand::fill(&mut secret);
    secret
}
