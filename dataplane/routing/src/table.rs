//! The route table: gateways, prefix routes, longest-prefix lookup and the
//! failover plan for one request.
//!
//! - [`RouteTable::new`] validates the configuration (unknown or repeated
//!   gateway names, bad addresses, bad prefixes) and builds a trie over the
//!   route prefixes.
//! - [`RouteTable::lookup`] finds the route whose prefix is the longest
//!   prefix of a user part, falling back to the default route (`""` or
//!   `"*"`). It walks the trie once, one step per character: no
//!   allocation, cost independent of the number of routes.
//! - [`RouteTable::plan`] turns a Request-URI into the ordered gateways to
//!   try, each with its rewritten Request-URI and destination.
//!
//! Matching is literal: `+1555` does not match a route `1`, nor `1555` a
//! route `+1`; normalise numbers (E.164 with `+`, or national) before
//! they reach the table, or configure both forms. Route prefixes hold
//! digits, `+`, `*` and `#`; matching stops at the first other character
//! of the user part (a letter, `;` of a user parameter, ...), so
//! `alice` or `+1555;npdi` match as far as their leading digits go.
//!
//! Not done here: host names for gateways (addresses are IP literals;
//! DNS/NAPTR/SRV resolution belongs to the IO edge), weights or load
//! sharing between gateways (routes are strictly ordered), time-of-day
//! routing, number translation beyond strip/prefix.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use ferrovox_sip::transaction::{Peer, Transport};
use ferrovox_sip::{Uri, pct_decode};

use crate::config::{GatewayConfig, RouteConfig};
use crate::error::ConfigError;
use crate::failover::FailoverPolicy;
use crate::health::Health;

/// Position of a gateway in its [`RouteTable`] (and in the [`Health`]
/// built from that table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GatewayId(pub(crate) u32);

impl GatewayId {
    /// The index into [`RouteTable::gateways`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A validated gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    name: Arc<str>,
    address: SocketAddr,
    host_port: Box<str>,
    transport: Transport,
    probe: bool,
    probe_interval_ms: Option<u64>,
    strip: usize,
    prefix: Box<str>,
}

impl Gateway {
    /// Its configured name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where requests go.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The address as a URI host-port (`192.0.2.1:5060`, `[2001:db8::1]:5060`).
    pub fn host_port(&self) -> &str {
        &self.host_port
    }

    /// The transport.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// Whether OPTIONS probing is on.
    pub fn probe(&self) -> bool {
        self.probe
    }

    /// Its own probe interval, if it overrides the health default.
    pub fn probe_interval_ms(&self) -> Option<u64> {
        self.probe_interval_ms
    }

    /// Leading characters removed from the user part.
    pub fn strip(&self) -> usize {
        self.strip
    }

    /// Tech prefix put in front of the user part.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(crate) fn shared_name(&self) -> Arc<str> {
        Arc::clone(&self.name)
    }

    /// The Request-URI for `user` (escaped as it stands in a URI) through
    /// this gateway, or `None` when stripping leaves nothing to dial.
    fn request_uri(&self, user: &[u8]) -> Option<String> {
        let rest = user.get(self.strip..).unwrap_or(&[]);
        if rest.is_empty() && self.prefix.is_empty() {
            return None;
        }
        let mut uri = String::with_capacity(5 + self.prefix.len() + rest.len() + 1 + 48);
        uri.push_str("sip:");
        escape_user(self.prefix.as_bytes(), &mut uri);
        escape_user(rest, &mut uri);
        uri.push('@');
        uri.push_str(&self.host_port);
        Some(uri)
    }
}

/// A validated route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    prefix: Box<str>,
    gateways: Box<[GatewayId]>,
    failover: FailoverPolicy,
}

impl Route {
    /// The prefix (`""` for the default route, also when written `"*"`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether this is the default route.
    pub fn is_default(&self) -> bool {
        self.prefix.is_empty()
    }

    /// Gateways in failover order.
    pub fn gateways(&self) -> &[GatewayId] {
        &self.gateways
    }

    /// The statuses after which the next gateway is tried.
    pub fn failover(&self) -> FailoverPolicy {
        self.failover
    }

    /// Whether a final `status` from one gateway should move the call on.
    pub fn should_failover(&self, status: u16) -> bool {
        self.failover.should_failover(status)
    }
}

/// One gateway to try for a request, in plan order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayTarget {
    /// The gateway (for [`Health::report`]).
    pub gateway: GatewayId,
    /// Its name, for logs and CDRs.
    pub name: Arc<str>,
    /// The rewritten Request-URI: `sip:<prefix><user minus strip>@<host:port>`.
    pub request_uri: String,
    /// Where to send.
    pub destination: SocketAddr,
    /// How to send.
    pub transport: Transport,
    /// The route's failover statuses.
    pub failover: FailoverPolicy,
}

impl GatewayTarget {
    /// The destination as a transaction-layer peer.
    pub fn peer(&self) -> Peer {
        Peer::new(self.destination, self.transport)
    }

    /// Whether a final `status` from this gateway should move the call to
    /// the next target.
    pub fn should_failover(&self, status: u16) -> bool {
        self.failover.should_failover(status)
    }
}

/// Why a request could not be planned (see [`RouteTable::try_plan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The Request-URI does not parse.
    #[error("request-URI does not parse")]
    BadRequestUri,
    /// A SIP URI without a user part, or a URI scheme other than sip, sips
    /// and tel.
    #[error("request-URI has no user part to route on")]
    NoUser,
    /// No route matches and there is no default route.
    #[error("no route matches the request-URI user")]
    NoRoute,
    /// Every gateway of the route would be left with an empty user part
    /// after stripping.
    #[error("the number is shorter than every gateway's strip count")]
    NothingToDial,
}

/// Number of distinct characters a route prefix may hold.
const SYMBOLS: usize = 13;
const NO_NODE: u32 = 0;
const NO_ROUTE: u32 = u32::MAX;

fn symbol(b: u8) -> Option<usize> {
    match b {
        b'0'..=b'9' => Some(usize::from(b - b'0')),
        b'+' => Some(10),
        b'*' => Some(11),
        b'#' => Some(12),
        _ => None,
    }
}

/// A trie node; child index 0 means "none" (the root is never a child).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    children: [u32; SYMBOLS],
    route: u32,
}

impl Node {
    const EMPTY: Node = Node {
        children: [NO_NODE; SYMBOLS],
        route: NO_ROUTE,
    };
}

/// Gateways and prefix routes, validated, with a trie for lookup.
///
/// Immutable once built; share it (`Arc<RouteTable>`) between cores and
/// replace it as a whole on reconfiguration (then build a new [`Health`]
/// too: gateway ids are positions in this table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTable {
    gateways: Vec<Gateway>,
    routes: Vec<Route>,
    nodes: Vec<Node>,
}

impl RouteTable {
    /// Validates and indexes the configuration.
    pub fn new(gateways: &[GatewayConfig], routes: &[RouteConfig]) -> Result<Self, ConfigError> {
        let mut by_name = std::collections::HashMap::with_capacity(gateways.len());
        let mut built = Vec::with_capacity(gateways.len());
        for (index, config) in gateways.iter().enumerate() {
            if config.name.trim().is_empty() {
                return Err(ConfigError::EmptyGatewayName { index });
            }
            let gateway = build_gateway(config)?;
            let id =
                GatewayId(u32::try_from(index).map_err(|_| ConfigError::TooLarge("gateways"))?);
            if by_name.insert(config.name.as_str(), id).is_some() {
                return Err(ConfigError::DuplicateGateway {
                    name: config.name.clone(),
                });
            }
            built.push(gateway);
        }

        let mut table = RouteTable {
            gateways: built,
            routes: Vec::with_capacity(routes.len()),
            nodes: vec![Node::EMPTY],
        };
        for config in routes {
            let route = build_route(config, &by_name)?;
            table.insert(route, &config.prefix)?;
        }
        Ok(table)
    }

    fn insert(&mut self, route: Route, written: &str) -> Result<(), ConfigError> {
        let route_index =
            u32::try_from(self.routes.len()).map_err(|_| ConfigError::TooLarge("routes"))?;
        let mut node = 0usize;
        for &b in route.prefix.as_bytes() {
            let Some(sym) = symbol(b) else {
                return Err(ConfigError::BadRoutePrefix {
                    prefix: written.to_owned(),
                });
            };
            let next = self.nodes.get(node).map_or(NO_NODE, |n| n.children[sym]);
            node = if next == NO_NODE {
                let fresh = self.nodes.len();
                let fresh_id = u32::try_from(fresh)
                    .map_err(|_| ConfigError::TooLarge("route prefix characters"))?;
                self.nodes.push(Node::EMPTY);
                if let Some(parent) = self.nodes.get_mut(node) {
                    parent.children[sym] = fresh_id;
                }
                fresh
            } else {
                next as usize
            };
        }
        match self.nodes.get_mut(node) {
            Some(n) if n.route == NO_ROUTE => n.route = route_index,
            _ => {
                return Err(ConfigError::DuplicateRoute {
                    prefix: written.to_owned(),
                });
            }
        }
        self.routes.push(route);
        Ok(())
    }

    /// All gateways, indexed by [`GatewayId::index`].
    pub fn gateways(&self) -> &[Gateway] {
        &self.gateways
    }

    /// One gateway.
    pub fn gateway(&self, id: GatewayId) -> Option<&Gateway> {
        self.gateways.get(id.index())
    }

    /// A gateway by name.
    pub fn gateway_by_name(&self, name: &str) -> Option<(GatewayId, &Gateway)> {
        self.gateways
            .iter()
            .enumerate()
            .find(|(_, g)| &*g.name == name)
            .and_then(|(i, g)| Some((GatewayId(u32::try_from(i).ok()?), g)))
    }

    /// All routes, in configuration order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The route for a Request-URI user part (as it stands, unescaped):
    /// the longest matching prefix, else the default route.
    pub fn lookup(&self, ruri_user: &str) -> Option<&Route> {
        self.lookup_bytes(ruri_user.as_bytes())
    }

    fn lookup_bytes(&self, user: &[u8]) -> Option<&Route> {
        let mut node = self.nodes.first()?;
        let mut best = node.route;
        for &b in user {
            let Some(sym) = symbol(b) else { break };
            let next = node.children[sym];
            if next == NO_NODE {
                break;
            }
            let Some(n) = self.nodes.get(next as usize) else {
                break;
            };
            node = n;
            if node.route != NO_ROUTE {
                best = node.route;
            }
        }
        self.routes.get(best as usize)
    }

    /// The gateways to try for `ruri` (a full Request-URI), in order, with
    /// their rewritten Request-URIs. Empty when nothing can be planned (see
    /// [`RouteTable::try_plan`] for the reason).
    pub fn plan(&self, ruri: &str, health: &Health, now: Instant) -> Vec<GatewayTarget> {
        match self.try_plan(ruri, health, now) {
            Ok(plan) => plan,
            Err(error) => {
                tracing::debug!(%error, ruri, "no gateway plan");
                Vec::new()
            }
        }
    }

    /// As [`RouteTable::plan`], saying why nothing can be tried.
    ///
    /// The user part of `sip:`/`sips:` URIs is unescaped (`%2B1` is `+1`)
    /// before matching; `tel:` numbers lose their visual separators
    /// (`-`, `.`, `(`, `)`). Gateways marked down by `health` are skipped;
    /// when every gateway of the route is down they are all returned in
    /// order anyway: a call attempt that may fail beats a certain failure,
    /// and its outcome feeds [`Health::report`]. A gateway whose strip
    /// count leaves no user part is skipped.
    ///
    /// The rewritten URI keeps neither parameters nor headers of the
    /// original (e.g. `;user=phone`).
    pub fn try_plan(
        &self,
        ruri: &str,
        health: &Health,
        now: Instant,
    ) -> Result<Vec<GatewayTarget>, PlanError> {
        let user = routing_user(ruri.as_bytes())?;
        let route = self.lookup_bytes(&user).ok_or(PlanError::NoRoute)?;
        let mut up = Vec::with_capacity(route.gateways.len());
        let mut down = Vec::new();
        for &id in route.gateways.iter() {
            let Some(gateway) = self.gateway(id) else {
                continue;
            };
            let Some(request_uri) = gateway.request_uri(&user) else {
                tracing::debug!(gateway = %gateway.name, "number shorter than the gateway's strip count; skipped");
                continue;
            };
            let target = GatewayTarget {
                gateway: id,
                name: gateway.shared_name(),
                request_uri,
                destination: gateway.address,
                transport: gateway.transport,
                failover: route.failover,
            };
            if health.is_up(id, now) {
                up.push(target);
            } else {
                down.push(target);
            }
        }
        if !up.is_empty() {
            return Ok(up);
        }
        if down.is_empty() {
            return Err(PlanError::NothingToDial);
        }
        tracing::debug!(route = %route.prefix, "every gateway of the route is down; trying them anyway");
        Ok(down)
    }
}

/// The unescaped routing number of a Request-URI.
fn routing_user(ruri: &[u8]) -> Result<Vec<u8>, PlanError> {
    match Uri::parse(ruri).map_err(|_| PlanError::BadRequestUri)? {
        Uri::Sip(sip) => {
            let user = sip
                .user
                .filter(|u| !u.is_empty())
                .ok_or(PlanError::NoUser)?;
            Ok(pct_decode(user).into_owned())
        }
        Uri::Other { scheme, rest } if scheme.eq_ignore_ascii_case(b"tel") => {
            let number = rest.split(|&b| b == b';').next().unwrap_or(&[]);
            let number: Vec<u8> = pct_decode(number)
                .iter()
                .copied()
                .filter(|b| !matches!(b, b'-' | b'.' | b'(' | b')'))
                .collect();
            if number.is_empty() {
                Err(PlanError::NoUser)
            } else {
                Ok(number)
            }
        }
        Uri::Other { .. } => Err(PlanError::NoUser),
    }
}

/// Appends `raw` to `out`, escaping what may not stand unescaped in a SIP
/// URI user part (RFC 3261 §25.1: unreserved and user-unreserved pass).
fn escape_user(raw: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in raw {
        let plain = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_'
                    | b'.'
                    | b'!'
                    | b'~'
                    | b'*'
                    | b'\''
                    | b'('
                    | b')'
                    | b'&'
                    | b'='
                    | b'+'
                    | b'$'
                    | b','
                    | b';'
                    | b'?'
                    | b'/'
            );
        if plain {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

fn build_gateway(config: &GatewayConfig) -> Result<Gateway, ConfigError> {
    let address = parse_address(&config.address).map_err(|reason| ConfigError::BadAddress {
        gateway: config.name.clone(),
        address: config.address.clone(),
        reason,
    })?;
    let prefix_ok = config
        .prefix
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'*' | b'#' | b'-' | b'.' | b'_'));
    if !prefix_ok {
        return Err(ConfigError::BadGatewayPrefix {
            gateway: config.name.clone(),
            prefix: config.prefix.clone(),
        });
    }
    if config.probe_interval_ms == Some(0) {
        return Err(ConfigError::BadProbeTiming {
            gateway: config.name.clone(),
            reason: "probe_interval_ms must be above 0",
        });
    }
    Ok(Gateway {
        name: Arc::from(config.name.as_str()),
        address,
        host_port: address.to_string().into_boxed_str(),
        transport: config.transport.into(),
        probe: config.probe,
        probe_interval_ms: config.probe_interval_ms,
        strip: config.strip,
        prefix: config.prefix.clone().into_boxed_str(),
    })
}

/// `ip:port`, `[v6]:port`, or a bare IP with port 5060.
fn parse_address(text: &str) -> Result<SocketAddr, &'static str> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty");
    }
    if let Ok(address) = text.parse::<SocketAddr>() {
        if address.port() == 0 {
            return Err("port 0");
        }
        return check_ip(address);
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return check_ip(SocketAddr::new(ip, 5060));
    }
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return check_ip(SocketAddr::new(ip, 5060));
    }
    if text.bytes().any(|b| b.is_ascii_alphabetic()) && !text.contains("::") {
        return Err("host names are not resolved here; write an IP address");
    }
    Err("expected ip:port, [ipv6]:port or an IP address")
}

fn check_ip(address: SocketAddr) -> Result<SocketAddr, &'static str> {
    if address.ip().is_unspecified() {
        return Err("unspecified address (0.0.0.0 / ::)");
    }
    Ok(address)
}

fn build_route(
    config: &RouteConfig,
    by_name: &std::collections::HashMap<&str, GatewayId>,
) -> Result<Route, ConfigError> {
    let prefix = if config.prefix == "*" {
        ""
    } else {
        config.prefix.as_str()
    };
    if !prefix.bytes().all(|b| symbol(b).is_some()) {
        return Err(ConfigError::BadRoutePrefix {
            prefix: config.prefix.clone(),
        });
    }
    if config.gateways.is_empty() {
        return Err(ConfigError::EmptyRoute {
            prefix: config.prefix.clone(),
        });
    }
    let mut gateways = Vec::with_capacity(config.gateways.len());
    for name in &config.gateways {
        let id = *by_name
            .get(name.as_str())
            .ok_or_else(|| ConfigError::UnknownGateway {
                prefix: config.prefix.clone(),
                gateway: name.clone(),
            })?;
        if gateways.contains(&id) {
            return Err(ConfigError::RepeatedGateway {
                prefix: config.prefix.clone(),
                gateway: name.clone(),
            });
        }
        gateways.push(id);
    }
    let failover = match &config.failover_on {
        None => FailoverPolicy::default(),
        Some(statuses) => FailoverPolicy::from_statuses(statuses).map_err(|status| {
            ConfigError::BadFailoverStatus {
                prefix: config.prefix.clone(),
                status,
            }
        })?,
    };
    Ok(Route {
        prefix: prefix.into(),
        gateways: gateways.into_boxed_slice(),
        failover,
    })
}
