//! Addresses: which URIs and Via sent-bys designate this proxy, where a
//! URI or Via points (IP literals only: this crate does no DNS), where
//! responses to a request go (§18.2.2, RFC 3581), and the Via and
//! Record-Route values this proxy writes.

use crate::config::ProxyConfig;
use ferrovox_sip::transaction::{Peer, Transport};
use ferrovox_sip::{Host, SipUri, Via};
use std::net::{IpAddr, SocketAddr};

/// Default port of a transport (5061 for TLS and WSS, 5060 otherwise).
pub(crate) fn default_port(t: Transport) -> u16 {
    match t {
        Transport::Tls | Transport::Wss => 5061,
        _ => 5060,
    }
}

fn transport_param(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
        Transport::Tls => "tls",
        Transport::Sctp => "sctp",
        Transport::Ws => "ws",
        Transport::Wss => "wss",
    }
}

fn via_token(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "UDP",
        Transport::Tcp => "TCP",
        Transport::Tls => "TLS",
        Transport::Sctp => "SCTP",
        Transport::Ws => "WS",
        Transport::Wss => "WSS",
    }
}

const TRANSPORTS: [Transport; 6] = [
    Transport::Udp,
    Transport::Tcp,
    Transport::Tls,
    Transport::Sctp,
    Transport::Ws,
    Transport::Wss,
];

fn slot(t: Transport) -> usize {
    TRANSPORTS.iter().position(|&x| x == t).unwrap_or(0)
}

fn host_ip(host: &Host<'_>) -> Option<IpAddr> {
    match host {
        Host::V4(a) => Some(IpAddr::V4(*a)),
        Host::V6(a) => Some(IpAddr::V6(*a)),
        Host::Domain(_) => None,
    }
}

/// What the proxy knows about its own addresses, precomputed once.
#[derive(Debug, Clone)]
pub(crate) struct Local {
    /// Every (ip, port) this proxy answers on (listen addresses and the
    /// private UDP Via port).
    addrs: Vec<SocketAddr>,
    aliases: Vec<Vec<u8>>,
    /// `SIP/2.0/<T> <sent-by>;branch=` per transport.
    via_prefix: [Vec<u8>; 6],
    /// `sip:<listen addr>` per transport (Record-Route host part).
    rr_host: [String; 6],
}

impl Local {
    pub fn new(config: &ProxyConfig) -> Self {
        let mut addrs: Vec<SocketAddr> = config.listen.iter().map(|&(_, a)| a).collect();
        addrs.push(config.via_udp);
        addrs.sort();
        addrs.dedup();
        let listen_for = |t: Transport| {
            config
                .listen
                .iter()
                .find(|&&(lt, _)| lt == t)
                .or_else(|| config.listen.first())
                .map_or(config.via_udp, |&(_, a)| a)
        };
        let via_prefix = TRANSPORTS.map(|t| {
            let sent_by = if t == Transport::Udp {
                config.via_udp
            } else {
                listen_for(t)
            };
            format!("SIP/2.0/{} {};branch=", via_token(t), sent_by).into_bytes()
        });
        let rr_host = TRANSPORTS.map(|t| format!("sip:{}", listen_for(t)));
        Local {
            addrs,
            aliases: config
                .aliases
                .iter()
                .map(|a| a.as_bytes().to_ascii_lowercase())
                .collect(),
            via_prefix,
            rr_host,
        }
    }

    fn is_local_host(&self, host: &Host<'_>, port: u16) -> bool {
        match host {
            Host::Domain(d) => {
                self.aliases.iter().any(|a| a.eq_ignore_ascii_case(d))
                    && self.addrs.iter().any(|a| a.port() == port)
            }
            _ => host_ip(host).is_some_and(|ip| self.addrs.contains(&SocketAddr::new(ip, port))),
        }
    }

    /// Whether a SIP URI designates this proxy (host and port).
    pub fn is_local_uri(&self, uri: &SipUri<'_>) -> bool {
        let t = uri_transport(uri);
        self.is_local_host(&uri.host, uri.port.unwrap_or_else(|| default_port(t)))
    }

    /// Whether a Via's sent-by is one of this proxy's addresses.
    pub fn is_local_via(&self, via: &Via<'_>) -> bool {
        let t = Transport::from_via(via.transport).unwrap_or(Transport::Udp);
        self.is_local_host(&via.host, via.port.unwrap_or_else(|| default_port(t)))
    }

    /// `SIP/2.0/<T> <sent-by>;branch=` for requests sent over `t`.
    pub fn via_prefix(&self, t: Transport) -> &[u8] {
        self.via_prefix.get(slot(t)).map_or(&[], |v| v.as_slice())
    }

    /// Write the Record-Route value for a request arriving over `inbound`
    /// and leaving over `outbound` (§16.6 step 4): one `<sip:addr;lr>` when
    /// the transports are the same, two values with `;transport=` (outbound
    /// side first) when they differ. Uses the shared listen address, never
    /// the private Via port.
    pub fn write_record_route(&self, inbound: Transport, outbound: Transport, out: &mut Vec<u8>) {
        out.clear();
        let host = |t: Transport| self.rr_host.get(slot(t)).map_or("", |s| s.as_str());
        if inbound == outbound {
            out.push(b'<');
            out.extend_from_slice(host(outbound).as_bytes());
            if outbound != Transport::Udp {
                out.extend_from_slice(b";transport=");
                out.extend_from_slice(transport_param(outbound).as_bytes());
            }
            out.extend_from_slice(b";lr>");
        } else {
            for (i, t) in [outbound, inbound].into_iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                out.push(b'<');
                out.extend_from_slice(host(t).as_bytes());
                out.extend_from_slice(b";transport=");
                out.extend_from_slice(transport_param(t).as_bytes());
                out.extend_from_slice(b";lr>");
            }
        }
    }

    /// Approximate heap bytes.
    pub fn memory_bytes(&self) -> usize {
        self.addrs.capacity() * std::mem::size_of::<SocketAddr>()
            + self.via_prefix.iter().map(Vec::capacity).sum::<usize>()
            + self.rr_host.iter().map(String::capacity).sum::<usize>()
    }
}

/// The transport a URI asks for (`transport=` parameter, `sips:` → TLS,
/// UDP otherwise).
pub(crate) fn uri_transport(uri: &SipUri<'_>) -> Transport {
    match uri.transport() {
        Some(t) => Transport::from_via(t).unwrap_or(Transport::Udp),
        None if uri.secure => Transport::Tls,
        None => Transport::Udp,
    }
}

/// Where a SIP URI points: its `maddr` or host (IP literals only), its
/// port (or the transport's default) and transport.
pub(crate) fn uri_peer(uri: &SipUri<'_>) -> Option<Peer> {
    let t = uri_transport(uri);
    let ip = match uri.maddr() {
        Some(m) => std::str::from_utf8(ferrovox_sip::parse::lex::strip_brackets(m))
            .ok()?
            .parse()
            .ok()?,
        None => host_ip(&uri.host)?,
    };
    Some(Peer::new(
        SocketAddr::new(ip, uri.port.unwrap_or_else(|| default_port(t))),
        t,
    ))
}

/// Where responses to a request go (§18.2.2, RFC 3581 §4): over a
/// reliable transport, back to the source; over UDP to the source address
/// and port when the top Via asked for `rport`, otherwise to the source
/// address (the `received` value this proxy stamps) and the sent-by port.
pub(crate) fn reply_peer(top_via: &Via<'_>, from: Peer) -> Peer {
    if from.transport.is_reliable() || top_via.rport.is_some() {
        return from;
    }
    let t = Transport::from_via(top_via.transport).unwrap_or(Transport::Udp);
    Peer::new(
        SocketAddr::new(
            from.addr.ip(),
            top_via.port.unwrap_or_else(|| default_port(t)),
        ),
        from.transport,
    )
}

/// Where a response goes when forwarded statelessly by this Via (the one
/// below this proxy's): `received` or the sent-by host, the `rport` value
/// or the sent-by port, the Via's transport.
pub(crate) fn via_response_peer(via: &Via<'_>) -> Option<Peer> {
    let t = Transport::from_via(via.transport).unwrap_or(Transport::Udp);
    let ip: IpAddr = match via.received {
        Some(r) => std::str::from_utf8(ferrovox_sip::parse::lex::strip_brackets(r))
            .ok()?
            .parse()
            .ok()?,
        None => host_ip(&via.host)?,
    };
    let port = match via.rport {
        Some(Some(p)) => p,
        _ => via.port.unwrap_or_else(|| default_port(t)),
    };
    Some(Peer::new(SocketAddr::new(ip, port), t))
}

/// Write an IP address as text (no brackets) into `out` (cleared first).
pub(crate) fn write_ip(ip: IpAddr, out: &mut Vec<u8>) {
    use std::io::Write;
    out.clear();
    let _ = write!(out, "{ip}");
}
