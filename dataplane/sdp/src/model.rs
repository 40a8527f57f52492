//! The session description model (RFC 4566 §5, RFC 8866 §5).
//!
//! Owned, plain data: every field a relay reads or rewrites is typed, and
//! everything else is kept verbatim (`r=`, `z=`, `k=`, unknown attributes)
//! so that writing a parsed description reproduces it. Attributes keep
//! their order (see [`crate::attribute`]).
//!
//! Not modelled: `a=charset` re-encoding (the parser requires UTF-8),
//! interpretation of `r=`/`z=` repeat and zone adjustments, and `k=`
//! (obsolete in RFC 8866; kept as text).

use std::net::IpAddr;

use crate::attribute::{Attribute, Crypto, Direction, Fmtp, Rtpmap, payload_type, same_format};

/// Address type of an `o=`, `c=` or `a=rtcp` address (RFC 4566 §5.7).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AddrType {
    /// `IP4`.
    Ip4,
    /// `IP6`.
    Ip6,
    /// Any other token, kept verbatim.
    Other(String),
}

impl AddrType {
    /// The address type matching `ip`.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => AddrType::Ip4,
            IpAddr::V6(_) => AddrType::Ip6,
        }
    }

    /// The token as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            AddrType::Ip4 => "IP4",
            AddrType::Ip6 => "IP6",
            AddrType::Other(s) => s,
        }
    }
}

/// Connection data, `c=<nettype> <addrtype> <address>[/<ttl>][/<count>]`
/// (RFC 4566 §5.7). Also used for the optional address of `a=rtcp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Network type, normally `IN`.
    pub nettype: String,
    /// Address type.
    pub addrtype: AddrType,
    /// Unicast or multicast address, or a host name, verbatim.
    pub address: String,
    /// IP4 multicast TTL suffix.
    pub ttl: Option<u8>,
    /// Multicast address-count suffix.
    pub count: Option<u32>,
}

impl Connection {
    /// `IN IP4|IP6 <ip>` without multicast suffixes.
    pub fn new(ip: IpAddr) -> Self {
        Connection {
            nettype: "IN".to_owned(),
            addrtype: AddrType::of(ip),
            address: ip.to_string(),
            ttl: None,
            count: None,
        }
    }

    /// The address as an IP address, if it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.address.parse().ok()
    }
}

/// Origin, `o=<username> <sess-id> <sess-version> <nettype> <addrtype>
/// <unicast-address>` (RFC 4566 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// User name (`-` when none).
    pub username: String,
    /// Session id: digits, kept as text because real-world ids exceed 64
    /// bits.
    pub session_id: String,
    /// Session version (RFC 3264 §8: incremented on every change).
    pub session_version: u64,
    /// Network type, normally `IN`.
    pub nettype: String,
    /// Address type.
    pub addrtype: AddrType,
    /// Address of the originating host, verbatim.
    pub address: String,
}

/// Bandwidth modifier (RFC 4566 §5.8, RFC 3890 for TIAS).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BandwidthType {
    /// `AS`: application-specific maximum, kbit/s.
    As,
    /// `CT`: conference total, kbit/s.
    Ct,
    /// `TIAS`: transport-independent application-specific maximum, bit/s.
    Tias,
    /// Any other modifier (`RS`, `RR`, `X-...`), verbatim.
    Other(String),
}

impl BandwidthType {
    /// The token as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            BandwidthType::As => "AS",
            BandwidthType::Ct => "CT",
            BandwidthType::Tias => "TIAS",
            BandwidthType::Other(s) => s,
        }
    }
}

/// `b=<bwtype>:<bandwidth>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bandwidth {
    /// Modifier.
    pub kind: BandwidthType,
    /// Value (unit depends on the modifier).
    pub value: u64,
}

/// `t=<start> <stop>` with its `r=` lines (kept verbatim, RFC 4566 §5.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// NTP start time (0: unbounded).
    pub start: u64,
    /// NTP stop time (0: unbounded).
    pub stop: u64,
    /// Values of the `r=` lines following this `t=`, verbatim.
    pub repeats: Vec<String>,
}

/// A whole session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=`.
    pub origin: Origin,
    /// `s=` (may be a single space, or empty as some stacks send).
    pub session_name: String,
    /// `i=`.
    pub information: Option<String>,
    /// `u=`.
    pub uri: Option<String>,
    /// `e=` lines.
    pub emails: Vec<String>,
    /// `p=` lines.
    pub phones: Vec<String>,
    /// Session-level `c=`.
    pub connection: Option<Connection>,
    /// Session-level `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// `t=` lines (at least one) with their `r=` lines.
    pub timings: Vec<Timing>,
    /// `z=` value, verbatim.
    pub time_zones: Option<String>,
    /// Session-level `k=` value, verbatim.
    pub key: Option<String>,
    /// Session-level attributes, in order.
    pub attributes: Vec<Attribute>,
    /// Media sections, in order.
    pub media: Vec<MediaDescription>,
}

/// A media section, `m=<media> <port>[/<count>] <proto> <fmt> ...` and the
/// lines that follow it (RFC 4566 §5.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// Media type: `audio`, `video`, `application`, `image`, ...
    pub media: String,
    /// Transport port; 0 marks a rejected or disabled stream (RFC 3264).
    pub port: u16,
    /// Optional port count (`/<count>`).
    pub port_count: Option<u16>,
    /// Transport protocol, e.g. `RTP/AVP`, `UDP/TLS/RTP/SAVPF`.
    pub proto: String,
    /// Formats in preference order. For RTP protocols these are payload
    /// type numbers (0–127, checked by the parser).
    pub formats: Vec<String>,
    /// `i=`.
    pub information: Option<String>,
    /// Media-level `c=` lines (several only for multicast).
    pub connections: Vec<Connection>,
    /// Media-level `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// Media-level `k=` value, verbatim.
    pub key: Option<String>,
    /// Media-level attributes, in order.
    pub attributes: Vec<Attribute>,
}

/// Whether a transport protocol carries RTP (its formats are payload types).
pub fn is_rtp_proto(proto: &str) -> bool {
    proto.split('/').any(|p| p.eq_ignore_ascii_case("RTP"))
}

impl SessionDescription {
    /// Session-level direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        direction_of(&self.attributes)
    }

    /// Effective direction of media section `index`: its own direction
    /// attribute, else the session-level one, else `sendrecv`
    /// (RFC 3264 §5.1). `None` if there is no such section.
    pub fn media_direction(&self, index: usize) -> Option<Direction> {
        let m = self.media.get(index)?;
        Some(
            m.direction()
                .or_else(|| self.direction())
                .unwrap_or(Direction::SendRecv),
        )
    }

    /// The connection that applies to media section `index`: its first
    /// `c=` line, else the session-level one.
    pub fn media_connection(&self, index: usize) -> Option<&Connection> {
        let m = self.media.get(index)?;
        m.connections.first().or(self.connection.as_ref())
    }

    /// Whether the session carries `a=ice-lite`.
    pub fn is_ice_lite(&self) -> bool {
        self.attributes
            .iter()
            .any(|a| matches!(a, Attribute::IceLite))
    }

    /// Media identification tags of `a=group:BUNDLE`, if present.
    pub fn bundle_group(&self) -> Option<&[String]> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Group(g) if g.semantics.eq_ignore_ascii_case("BUNDLE") => {
                Some(g.mids.as_slice())
            }
            _ => None,
        })
    }
}

pub(crate) fn direction_of(attrs: &[Attribute]) -> Option<Direction> {
    attrs.iter().find_map(|a| match a {
        Attribute::Direction(d) => Some(*d),
        _ => None,
    })
}

impl MediaDescription {
    /// Whether the section carries RTP (see [`is_rtp_proto`]).
    pub fn is_rtp(&self) -> bool {
        is_rtp_proto(&self.proto)
    }

    /// The formats that are payload type numbers, in order.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats.iter().filter_map(|f| payload_type(f).ok())
    }

    /// Whether the port is 0 (stream rejected or disabled, RFC 3264 §6).
    pub fn is_rejected(&self) -> bool {
        self.port == 0
    }

    /// Media-level direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        direction_of(&self.attributes)
    }

    /// `a=rtpmap` for `pt`.
    pub fn rtpmap(&self, pt: u8) -> Option<&Rtpmap> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Rtpmap(r) if r.payload_type == pt => Some(r),
            _ => None,
        })
    }

    /// `a=fmtp` for `format`.
    pub fn fmtp(&self, format: &str) -> Option<&Fmtp> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Fmtp(f) if same_format(&f.format, format) => Some(f),
            _ => None,
        })
    }

    /// `a=mid` value.
    pub fn mid(&self) -> Option<&str> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Mid(m) => Some(m.as_str()),
            _ => None,
        })
    }

    /// Whether `a=rtcp-mux` is present.
    pub fn rtcp_mux(&self) -> bool {
        self.attributes
            .iter()
            .any(|a| matches!(a, Attribute::RtcpMux))
    }

    /// `a=crypto` lines, in order.
    pub fn crypto(&self) -> impl Iterator<Item = &Crypto> + '_ {
        self.attributes.iter().filter_map(|a| match a {
            Attribute::Crypto(c) => Some(c),
            _ => None,
        })
    }

    /// Payload types that have an `a=rtpmap` line but are not in the `m=`
    /// format list. The parser keeps such lines (they are harmless and
    /// some stacks send them) and writes them back; this is the flag.
    pub fn unlisted_rtpmaps(&self) -> Vec<u8> {
        self.attributes
            .iter()
            .filter_map(|a| match a {
                Attribute::Rtpmap(r) => Some(r.payload_type),
                _ => None,
            })
            .filter(|pt| !self.payload_types().any(|f| f == *pt))
            .collect()
    }
}
