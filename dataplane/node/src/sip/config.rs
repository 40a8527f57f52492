//! What the SIP edge needs to start: listen addresses, IO backend, the registrar's users and
//! realm, carrier routing, and the proxy's timers.

use ferrovox_routing::{GatewayConfig, HealthConfig, PikeConfig, RouteConfig, TrunkConfig};
use ferrovox_runtime::Backend;
use ferrovox_sip::transaction::{Peer, Transport};
use std::net::SocketAddr;
use std::time::Duration;

/// One SIP user of the registrar (a phone's account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUser {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone)]
pub struct SipEdgeConfig {
    /// Where SIP is received, per transport (the same address may carry UDP and TCP).
    pub listen: Vec<(Transport, SocketAddr)>,
    pub backend: Backend,
    /// Core threads; 0 = one per CPU.
    pub threads: usize,
    /// Digest realm; also a host name that designates this proxy in Request-URIs.
    pub realm: String,
    /// Benchmark mode: every out-of-dialog request goes to this hop, Request-URI unchanged.
    pub next_hop: Option<Peer>,
    /// Requests from sources outside every trunk must authenticate as a configured user.
    pub require_auth: bool,
    /// Also challenge with SHA-256 (RFC 7616), listed first as RFC 8760 asks; off by default
    /// because some phones reject a challenge list that contains an algorithm they lack.
    pub digest_sha256: bool,
    pub users: Vec<SipUser>,
    pub gateways: Vec<GatewayConfig>,
    pub routes: Vec<RouteConfig>,
    pub health: HealthConfig,
    pub pike: PikeConfig,
    pub trunks: Vec<TrunkConfig>,
    /// No response at all from a branch within this: the next gateway is tried.
    pub branch_response_timeout: Duration,
    /// Ringing without an answer for this long: the call ends with 408.
    pub invite_timeout: Duration,
    /// Anchor every call's media on this ng relay (`rtpengine_manage`); `None`: SDP passes
    /// through untouched.
    pub media_relay: Option<MediaRelayConfig>,
}

/// The ng relay calls are anchored on ([`super::anchor`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaRelayConfig {
    /// The relay's ng control address (UDP).
    pub relay: SocketAddr,
    /// How long one attempt waits for the reply (the module's `rtpengine_tout_ms`).
    pub timeout: Duration,
    /// Resends after a timeout (the module's `rtpengine_retr`).
    pub retries: u32,
}

impl MediaRelayConfig {
    /// Default timeout 1 s and 2 retries: a dead relay blocks a core at most 3 s once (then
    /// it is skipped for [`super::anchor::DISABLED_FOR`]).
    pub fn new(relay: SocketAddr) -> Self {
        Self {
            relay,
            timeout: Duration::from_secs(1),
            retries: 2,
        }
    }
}

impl SipEdgeConfig {
    /// A proxy on `listen` (UDP and TCP) with no users, routes or next hop.
    pub fn new(listen: Vec<(Transport, SocketAddr)>) -> Self {
        Self {
            listen,
            backend: Backend::IoUring,
            threads: 0,
            realm: "ferrovox".into(),
            next_hop: None,
            require_auth: true,
            digest_sha256: false,
            users: Vec::new(),
            gateways: Vec::new(),
            routes: Vec::new(),
            health: HealthConfig::default(),
            pike: PikeConfig::default(),
            trunks: Vec::new(),
            branch_response_timeout: Duration::from_secs(5),
            invite_timeout: Duration::from_secs(180),
            media_relay: None,
        }
    }
}

/// Parses an ng relay address: `udp:IP:PORT` (rtpengine's and Kamailio's notation) or a bare
/// `IP:PORT`.
pub fn parse_media_relay(text: &str) -> Result<SocketAddr, String> {
    let trimmed = text.trim();
    let addr = match trimmed.split_once(':') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("udp") => rest,
        Some((scheme, _))
            if scheme.eq_ignore_ascii_case("udp6") || scheme.eq_ignore_ascii_case("tcp") =>
        {
            return Err(format!(
                "{text:?}: the ng protocol runs over UDP; write udp:IP:PORT"
            ));
        }
        _ => trimmed,
    };
    addr.parse().map_err(|_| {
        format!(
            "{text:?} is not an ng relay address like udp:127.0.0.1:22222 (IP literal and port)"
        )
    })
}

/// Parses a listen list: comma-separated `udp:ADDR`, `tcp:ADDR` or a bare `ADDR` (UDP and TCP).
pub fn parse_listen(text: &str) -> Result<Vec<(Transport, SocketAddr)>, String> {
    let mut listen = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (transports, addr): (&[Transport], &str) = match item.split_once(':') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("udp") => (&[Transport::Udp], rest),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("tcp") => (&[Transport::Tcp], rest),
            _ => (&[Transport::Udp, Transport::Tcp], item),
        };
        let addr: SocketAddr = addr.parse().map_err(|_| {
            format!("{item:?} is not udp:ADDR, tcp:ADDR or ADDR (e.g. udp:127.0.0.1:5060)")
        })?;
        for &transport in transports {
            if !listen.contains(&(transport, addr)) {
                listen.push((transport, addr));
            }
        }
    }
    if listen.is_empty() {
        return Err("no listen address given".into());
    }
    Ok(listen)
}

/// Parses a next hop: `sip:HOST:PORT[;transport=tcp]` or `HOST:PORT`, with an IP literal host.
pub fn parse_next_hop(text: &str) -> Result<Peer, String> {
    let error = || {
        format!(
            "{text:?} is not a next hop like sip:127.0.0.1:5080 or sip:127.0.0.1:5080;transport=tcp"
        )
    };
    let rest = text.trim();
    let rest = rest
        .strip_prefix("sip:")
        .or_else(|| rest.strip_prefix("SIP:"))
        .unwrap_or(rest);
    let (hostport, params) = rest.split_once(';').unwrap_or((rest, ""));
    let mut transport = Transport::Udp;
    for param in params.split(';').filter(|p| !p.is_empty()) {
        match param.split_once('=') {
            Some((name, value)) if name.eq_ignore_ascii_case("transport") => {
                transport = match value.to_ascii_lowercase().as_str() {
                    "udp" => Transport::Udp,
                    "tcp" => Transport::Tcp,
                    _ => return Err(error()),
                }
            }
            _ => return Err(error()),
        }
    }
    let addr = hostport
        .parse::<SocketAddr>()
        .or_else(|_| {
            hostport
                .parse::<std::net::IpAddr>()
                .map(|ip| SocketAddr::new(ip, 5060))
        })
        .map_err(|_| error())?;
    Ok(Peer::new(addr, transport))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_lists_name_transports_or_mean_both() {
        let both = parse_listen("127.0.0.1:5060").unwrap();
        assert_eq!(both.len(), 2);
        let split = parse_listen("udp:127.0.0.1:5070, tcp:[::1]:5071").unwrap();
        assert_eq!(
            split[0],
            (Transport::Udp, "127.0.0.1:5070".parse().unwrap())
        );
        assert_eq!(split[1], (Transport::Tcp, "[::1]:5071".parse().unwrap()));
        assert!(
            parse_listen("udp:localhost")
                .unwrap_err()
                .contains("udp:ADDR")
        );
        assert!(parse_listen("").is_err());
    }

    #[test]
    fn media_relays_are_udp_ip_and_port() {
        let relay = parse_media_relay("udp:127.0.0.1:22222").unwrap();
        assert_eq!(relay, "127.0.0.1:22222".parse().unwrap());
        assert_eq!(
            parse_media_relay("UDP:[::1]:2223").unwrap(),
            "[::1]:2223".parse().unwrap()
        );
        assert_eq!(
            parse_media_relay("10.0.0.5:22222").unwrap(),
            "10.0.0.5:22222".parse().unwrap()
        );
        assert!(
            parse_media_relay("tcp:127.0.0.1:22222")
                .unwrap_err()
                .contains("UDP")
        );
        let no_port = parse_media_relay("udp:127.0.0.1").unwrap_err();
        assert!(no_port.contains("udp:127.0.0.1:22222"), "{no_port}");
        assert!(parse_media_relay("udp:relay.example.com:22222").is_err());
    }

    #[test]
    fn next_hops_are_sip_uris_with_ip_hosts() {
        let hop = parse_next_hop("sip:127.0.0.1:5080").unwrap();
        assert_eq!(
            hop,
            Peer::new("127.0.0.1:5080".parse().unwrap(), Transport::Udp)
        );
        let tcp = parse_next_hop("sip:10.0.0.1;transport=TCP").unwrap();
        assert_eq!(
            tcp,
            Peer::new("10.0.0.1:5060".parse().unwrap(), Transport::Tcp)
        );
        assert!(parse_next_hop("sip:example.com:5080").is_err());
        assert!(parse_next_hop("sip:127.0.0.1:5080;transport=sctp").is_err());
    }
}
