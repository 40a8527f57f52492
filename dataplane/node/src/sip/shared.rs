//! What every core's proxy shares: the registrar and its stores, the route table, gateway
//! health, trunks, and per-core counters the admin endpoint reads.

use super::config::SipEdgeConfig;
use ferrovox_contract::SipDirectory;
use ferrovox_registrar::{Credential, Credentials, MemoryCredentials, MemoryLocations, Registrar};
use ferrovox_routing::{
    GatewayConfig, GatewayId, GatewayTransport, Health, HealthConfig, PikeConfig, RateLimiter,
    RouteConfig, RouteTable, TrunkConfig, Trunks,
};
use ferrovox_sip::transaction::Peer;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
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
    pub registrar: Registrar,
    credentials: Arc<MemoryCredentials>,
    realm: String,
    /// Replaced as a whole when a SIP directory arrives; read once per routed request.
    routing: RwLock<Arc<Routing>>,
    /// The configuration's own gateways, routes, trunks and users: a directory adds to them.
    config: SipEdgeConfig,
    directory: Mutex<DirectoryState>,
    pub pike: PikeConfig,
    pub next_hop: Option<Peer>,
    /// Where each core's media anchor sends its ng commands.
    pub media_relay: Option<super::config::MediaRelayConfig>,
    pub require_auth: bool,
    pub cores: Vec<CoreCounters>,
    pub started: Instant,
}

/// Route table, gateway health and trunks, built together (gateway ids index the table).
pub struct Routing {
    pub routes: RouteTable,
    pub health: Health,
    pub trunks: Trunks,
    pub gateway_by_addr: HashMap<SocketAddr, GatewayId>,
}

impl Routing {
    fn new(
        gateways: &[GatewayConfig],
        routes: &[RouteConfig],
        trunks: &[TrunkConfig],
        health: HealthConfig,
        now: Instant,
    ) -> Result<Self, SipConfigError> {
        let routes = RouteTable::new(gateways, routes)?;
        let health = Health::new(&routes, health, now)?;
        let trunks = Trunks::new(trunks)?;
        let gateway_by_addr = routes
            .gateways()
            .iter()
            .filter_map(|gateway| {
                routes
                    .gateway_by_name(gateway.name())
                    .map(|(id, _)| (gateway.address(), id))
            })
            .collect();
        Ok(Self {
            routes,
            health,
            trunks,
            gateway_by_addr,
        })
    }
}

#[derive(Default)]
struct DirectoryState {
    version: u64,
    /// Usernames the last directory added (removed again when a newer one drops them).
    accounts: HashSet<String>,
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

/// What applying a directory did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectoryOutcome {
    Applied,
    /// Not newer than the one in use.
    Stale,
}

impl Shared {
    pub fn new(config: &SipEdgeConfig, cores: usize, now: Instant) -> Result<Self, SipConfigError> {
        let routing = Routing::new(
            &config.gateways,
            &config.routes,
            &config.trunks,
            config.health,
            now,
        )?;
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
        // Always present: users may arrive later in a SIP directory from the control plane.
        let mut registrar_config =
            ferrovox_registrar::RegistrarConfig::new(config.realm.clone(), random_secret());
        registrar_config.require_auth = true;
        // MD5 alone unless SHA-256 is asked for: common phones (Debian's baresip 1.0) fail on
        // a challenge list that contains an algorithm they lack instead of taking another.
        registrar_config.algorithms = if config.digest_sha256 {
            vec![
                ferrovox_registrar::Algorithm::Sha256,
                ferrovox_registrar::Algorithm::Md5,
            ]
        } else {
            vec![ferrovox_registrar::Algorithm::Md5]
        };
        let registrar = Registrar::new(
            registrar_config,
            credentials.clone(),
            Arc::new(MemoryLocations::default()),
        );
        Ok(Self {
            registrar,
            credentials,
            realm: config.realm.clone(),
            routing: RwLock::new(Arc::new(routing)),
            config: config.clone(),
            directory: Mutex::new(DirectoryState::default()),
            pike: config.pike,
            next_hop: config.next_hop,
            media_relay: config.media_relay,
            require_auth: config.require_auth,
            cores: (0..cores).map(|_| CoreCounters::default()).collect(),
            started: now,
        })
    }

    /// The routing in use (cheap: an `Arc` clone under a read lock).
    pub fn routing(&self) -> Arc<Routing> {
        self.routing
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Whether `ip` belongs to a trunk: read under the lock, no `Arc` clone (called for every
    /// request from a non-loopback source).
    pub fn is_trunk_source(&self, ip: std::net::IpAddr) -> bool {
        self.routing
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .trunks
            .trunk_for_source(ip)
            .is_some()
    }

    /// Applies the control plane's directory on top of the configuration's own entries.
    /// Entries that do not fit (bad address, unknown gateway) are skipped with a warning;
    /// a directory never takes down what the configuration set up.
    pub fn apply_directory(&self, directory: &SipDirectory, now: Instant) -> DirectoryOutcome {
        let mut state = self
            .directory
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if directory.version <= state.version {
            return DirectoryOutcome::Stale;
        }
        let own_users: HashSet<&str> = self
            .config
            .users
            .iter()
            .map(|u| u.username.as_str())
            .collect();
        let mut accounts = HashSet::new();
        for account in &directory.accounts {
            let name = account.username.as_str();
            if name.is_empty() || name.contains(['@', ':', ' ']) || own_users.contains(name) {
                continue;
            }
            if !accounts.insert(name.to_owned()) {
                tracing::warn!(
                    username = name,
                    "SIP directory: username used by several accounts; the first wins"
                );
                continue;
            }
            self.credentials
                .insert(name, &self.realm, Credential::password(&account.password));
        }
        for gone in state.accounts.difference(&accounts) {
            self.credentials.remove(gone, &self.realm);
        }
        let mut gateways = self.config.gateways.clone();
        for gateway in &directory.gateways {
            gateways.push(GatewayConfig {
                name: gateway.name.clone(),
                address: gateway.address.clone(),
                transport: if gateway.transport == "tcp" {
                    GatewayTransport::Tcp
                } else {
                    GatewayTransport::Udp
                },
                probe: false,
                probe_interval_ms: None,
                strip: 0,
                prefix: gateway.prefix.clone(),
            });
        }
        let mut routes = self.config.routes.clone();
        for route in &directory.routes {
            if routes.iter().any(|r| r.prefix == route.prefix) {
                continue; // the configuration's own route for this prefix wins
            }
            routes.push(RouteConfig {
                prefix: route.prefix.clone(),
                gateways: route.gateways.clone(),
                failover_on: None,
            });
        }
        let mut trunks = self.config.trunks.clone();
        for trunk in &directory.trunks {
            trunks.push(TrunkConfig {
                name: trunk.name.clone(),
                allowed_ips: trunk.allowed_ips.clone(),
                domain: None,
            });
        }
        match Routing::new(&gateways, &routes, &trunks, self.config.health, now) {
            Ok(routing) => {
                *self
                    .routing
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(routing);
            }
            Err(error) => {
                tracing::warn!(%error, "SIP directory: routing not applied, keeping the previous routes");
            }
        }
        state.version = directory.version;
        state.accounts = accounts;
        tracing::info!(
            version = directory.version,
            accounts = directory.accounts.len(),
            gateways = directory.gateways.len(),
            routes = directory.routes.len(),
            trunks = directory.trunks.len(),
            "SIP directory applied"
        );
        DirectoryOutcome::Applied
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

    /// Totals over every core, as the cores last published them.
    pub fn stats(&self) -> super::SipEdgeStats {
        super::SipEdgeStats {
            requests: self.total(|c| &c.requests),
            responses: self.total(|c| &c.responses),
            forwarded: self.total(|c| &c.forwarded),
            dropped_malformed: self.total(|c| &c.dropped_malformed),
            dropped_admission: self.total(|c| &c.dropped_admission),
            active_transactions: self.total(|c| &c.active_transactions),
            active_dialogs: self.total(|c| &c.active_dialogs),
            memory_bytes: self.total(|c| &c.memory_bytes),
        }
    }

    fn total(&self, counter: impl Fn(&CoreCounters) -> &AtomicU64) -> u64 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use ferrovox_contract::directory::{SipAccount, SipGateway, SipRoute, SipTrunk};
    use ferrovox_sip::transaction::Transport;

    fn shared() -> Shared {
        let mut config =
            SipEdgeConfig::new(vec![(Transport::Udp, "127.0.0.1:5060".parse().unwrap())]);
        config.users = vec![super::super::SipUser {
            username: "local".into(),
            password: "from-config".into(),
        }];
        Shared::new(&config, 1, Instant::now()).unwrap()
    }

    fn directory(version: u64, user: &str) -> SipDirectory {
        SipDirectory {
            version,
            accounts: vec![
                SipAccount {
                    customer_id: "c".into(),
                    username: user.into(),
                    password: "pw".into(),
                    domain: "d".into(),
                },
                SipAccount {
                    customer_id: "c".into(),
                    username: "local".into(),
                    password: "overridden?".into(),
                    domain: "d".into(),
                },
            ],
            trunks: vec![SipTrunk {
                customer_id: "c".into(),
                name: "t1".into(),
                allowed_ips: vec!["198.51.100.0/24".into()],
                domain: None,
            }],
            gateways: vec![SipGateway {
                customer_id: "c".into(),
                name: "p1".into(),
                address: "192.0.2.1:5070".into(),
                transport: "udp".into(),
                prefix: "9".into(),
            }],
            routes: vec![SipRoute {
                prefix: "+44".into(),
                gateways: vec!["p1".into()],
            }],
        }
    }

    #[test]
    fn a_directory_feeds_accounts_trunks_and_routes_and_newer_wins() {
        let shared = shared();
        let now = Instant::now();
        assert!(!shared.is_local_user("sip:1001@d"));
        assert_eq!(
            shared.apply_directory(&directory(5, "1001"), now),
            DirectoryOutcome::Applied
        );
        assert!(shared.is_local_user("sip:1001@anything"));
        let routing = shared.routing();
        let plan = routing.routes.plan("sip:+4420@x", &routing.health, now);
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].request_uri, "sip:9+4420@192.0.2.1:5070");
        assert_eq!(
            routing
                .trunks
                .trunk_for_source("198.51.100.7".parse().unwrap()),
            Some("t1")
        );
        // The configuration's own user keeps its password.
        let credential = shared.credentials.lookup("local", "ferrovox").unwrap();
        assert_eq!(credential.password.as_deref(), Some("from-config"));

        // Older or equal versions are ignored; a newer one replaces the accounts it named.
        assert_eq!(
            shared.apply_directory(&directory(5, "1002"), now),
            DirectoryOutcome::Stale
        );
        assert!(!shared.is_local_user("sip:1002@d"));
        shared.apply_directory(&directory(6, "1002"), now);
        assert!(shared.is_local_user("sip:1002@d"));
        assert!(
            !shared.is_local_user("sip:1001@d"),
            "1001 left the directory"
        );
        assert!(shared.is_local_user("sip:local@d"));
    }

    #[test]
    fn a_directory_with_a_bad_gateway_keeps_the_previous_routes() {
        let shared = shared();
        let now = Instant::now();
        shared.apply_directory(&directory(1, "1001"), now);
        let mut bad = directory(2, "1001");
        bad.gateways[0].address = "not an address".into();
        shared.apply_directory(&bad, now);
        let routing = shared.routing();
        assert_eq!(
            routing
                .routes
                .plan("sip:+4420@x", &routing.health, now)
                .len(),
            1,
            "routing from version 1 still serves"
        );
    }
}
