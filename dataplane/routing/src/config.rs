//! Configuration structs, deserialisable from the appliance's TOML file.
//!
//! Every struct refuses unknown fields (a typo is an error, not a silently
//! ignored setting) and has defaults for everything but names, addresses
//! and gateway lists. Durations are integers with their unit in the name
//! (`_ms`, `_s`).
//!
//! The structs can be embedded one by one in another section (the proxy's
//! `[proxy]` table holds `gateways` and `routes`), or as a whole through
//! [`RoutingConfig`]:
//!
//! ```toml
//! [[gateways]]
//! name = "carrier-a"
//! address = "127.0.0.1:5081"   # IP literal, optional :port (5060)
//! transport = "udp"            # udp | tcp
//! probe = true                 # OPTIONS health probing
//! strip = 0                    # characters removed from the user part
//! prefix = ""                  # tech prefix put in front of it
//!
//! [[routes]]
//! prefix = "+1"                # longest match wins; "" or "*" = default route
//! gateways = ["carrier-a"]     # failover order
//! failover_on = [408, 503]     # optional; default 408 and 500-599
//!
//! [health]
//! probe_interval_ms = 5000
//!
//! [pike]
//! max_requests = 30
//! window_ms = 2000
//! action = "drop"              # drop | reply
//!
//! [[trunks]]
//! name = "pbx-1"
//! allowed_ips = ["192.0.2.0/24", "2001:db8::7"]
//! domain = "pbx1.example.com"
//! ```
//!
//! Validation happens when the runtime objects are built
//! ([`crate::RouteTable::new`], [`crate::Health::new`],
//! [`crate::RateLimiter::new`], [`crate::Trunks::new`]), which return a
//! [`crate::ConfigError`] naming the entry at fault.

use serde::Deserialize;

/// Everything this crate reads, as one section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// Carrier gateways (`[[gateways]]`).
    pub gateways: Vec<GatewayConfig>,
    /// Prefix routes (`[[routes]]`).
    pub routes: Vec<RouteConfig>,
    /// Gateway health checking (`[health]`).
    pub health: HealthConfig,
    /// Per-source request rate limiting (`[pike]`).
    pub pike: PikeConfig,
    /// Trunks identified by source address (`[[trunks]]`).
    pub trunks: Vec<TrunkConfig>,
}

/// The transport used towards a gateway.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GatewayTransport {
    /// UDP (the default).
    #[default]
    Udp,
    /// TCP.
    Tcp,
}

impl From<GatewayTransport> for ferrovox_sip::transaction::Transport {
    fn from(t: GatewayTransport) -> Self {
        match t {
            GatewayTransport::Udp => ferrovox_sip::transaction::Transport::Udp,
            GatewayTransport::Tcp => ferrovox_sip::transaction::Transport::Tcp,
        }
    }
}

/// One carrier gateway (`[[proxy.gateways]]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Unique name, used by routes and in logs.
    pub name: String,
    /// `ip:port`, `[ipv6]:port`, or a bare IP (port 5060). Host names are
    /// not resolved by this crate.
    pub address: String,
    /// `udp` (default) or `tcp`.
    #[serde(default)]
    pub transport: GatewayTransport,
    /// Send OPTIONS probes to this gateway (default off).
    #[serde(default)]
    pub probe: bool,
    /// Probe interval for this gateway; default: [`HealthConfig::probe_interval_ms`].
    #[serde(default)]
    pub probe_interval_ms: Option<u64>,
    /// Number of leading characters removed from the user part.
    #[serde(default)]
    pub strip: usize,
    /// Tech prefix put in front of the (stripped) user part.
    #[serde(default)]
    pub prefix: String,
}

/// One prefix route (`[[proxy.routes]]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Request-URI user prefix (digits, `+`, `*`, `#`), matched literally;
    /// `""` or `"*"` is the default route.
    #[serde(default)]
    pub prefix: String,
    /// Gateway names in failover order.
    pub gateways: Vec<String>,
    /// Final statuses after which the next gateway is tried; default:
    /// 408 and 500–599 (see [`crate::should_failover`]).
    #[serde(default)]
    pub failover_on: Option<Vec<u16>>,
}

/// Gateway health checking (`[proxy.health]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Time between OPTIONS probes to one gateway.
    pub probe_interval_ms: u64,
    /// A probe without a final response after this long counts as failed.
    /// Must not exceed the probe interval.
    pub probe_timeout_ms: u64,
    /// Consecutive failures (probes or calls) that mark a gateway down.
    pub down_after: u32,
    /// How long a gateway without probing stays down after passive
    /// failures before it is tried again.
    pub unprobed_retry_ms: u64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            probe_interval_ms: 5_000,
            probe_timeout_ms: 4_000,
            down_after: 2,
            unprobed_retry_ms: 30_000,
        }
    }
}

/// What to do with a request from a source over its rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PikeAction {
    /// Drop silently (default: a flood gets no reflected traffic).
    #[default]
    Drop,
    /// Answer 503 Service Unavailable with Retry-After.
    Reply,
}

/// Per-source request rate limiting, after Kamailio's pike (`[proxy.pike]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PikeConfig {
    /// Off: every request is allowed.
    pub enabled: bool,
    /// More requests than this per window from one source are limited.
    pub max_requests: u32,
    /// The sampling window.
    pub window_ms: u64,
    /// Sources remembered per instance; the least recently seen is
    /// forgotten when a new one arrives.
    pub max_sources: usize,
    /// `drop` (default) or `reply`.
    pub action: PikeAction,
    /// Retry-After seconds when replying; default: two windows, rounded up.
    pub retry_after_s: Option<u32>,
    /// IPv6 sources are counted per network of this length (an attacker
    /// usually holds a whole /64).
    pub ipv6_prefix: u8,
}

impl Default for PikeConfig {
    fn default() -> Self {
        PikeConfig {
            enabled: true,
            max_requests: 30,
            window_ms: 2_000,
            max_sources: 16_384,
            action: PikeAction::Drop,
            retry_after_s: None,
            ipv6_prefix: 64,
        }
    }
}

/// A trunk recognised by the source address of its requests (`[[proxy.trunks]]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// Unique name.
    pub name: String,
    /// IP addresses and CIDR blocks (IPv4 and IPv6) the trunk sends from.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    /// The SIP domain of the trunk, unique among trunks, if it has one.
    #[serde(default)]
    pub domain: Option<String>,
}
