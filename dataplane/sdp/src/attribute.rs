//! Typed attributes (`a=` lines).
//!
//! Implements the attribute grammars a relay reads or rewrites:
//! - RFC 4566 §6 / RFC 8866 §6: `rtpmap`, `fmtp`, `ptime`, `maxptime`,
//!   `sendrecv`/`sendonly`/`recvonly`/`inactive`;
//! - RFC 3605: `rtcp` (port and optional address); RFC 5761: `rtcp-mux`;
//! - RFC 4585 §4.2: `rtcp-fb` (format and value, kept as text);
//! - RFC 5888: `mid`, `group` (BUNDLE and other semantics);
//! - RFC 4568: `crypto` (see [`crate::crypto`]);
//! - RFC 8839 §5 (ICE): `ice-ufrag`, `ice-pwd`, `ice-options`, `candidate`,
//!   `end-of-candidates`, `ice-lite`;
//! - RFC 5576: `ssrc` (id, attribute name, value);
//! - RFC 4145 / RFC 8122: `setup`, `fingerprint`.
//!
//! Every other attribute (`extmap`, `msid`, `sctp-port`, ...) is kept as
//! [`Attribute::Other`], verbatim and in its position.
//!
//! Policy for malformed values: a known attribute whose value does not
//! follow its grammar is a parse error (the relay rewrites these, so it
//! must understand them). Attribute names are matched case-sensitively as
//! registered; a differently cased name is an unknown attribute.
//!
//! Not implemented: `a=charset`, `a=sdplang`/`lang` semantics, `a=extmap`
//! parsing, `a=remote-candidates` parsing, `a=msid` parsing.

use crate::crypto::Crypto as CryptoLine;
use crate::error::{ErrorKind, FieldError};
use crate::lex::{end, is_token, next_field, number};
use crate::model::Connection;

pub use crate::crypto::Crypto;

/// One `a=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// `a=rtpmap`.
    Rtpmap(Rtpmap),
    /// `a=fmtp`.
    Fmtp(Fmtp),
    /// `a=rtcp-fb`.
    RtcpFb(RtcpFb),
    /// `a=ptime` (milliseconds).
    Ptime(u32),
    /// `a=maxptime` (milliseconds).
    MaxPtime(u32),
    /// `a=sendrecv`, `a=sendonly`, `a=recvonly`, `a=inactive`.
    Direction(Direction),
    /// `a=rtcp`.
    Rtcp(Rtcp),
    /// `a=rtcp-mux`.
    RtcpMux,
    /// `a=mid`.
    Mid(String),
    /// `a=group`.
    Group(Group),
    /// `a=crypto` (SDES).
    Crypto(CryptoLine),
    /// `a=ice-ufrag`.
    IceUfrag(String),
    /// `a=ice-pwd`.
    IcePwd(String),
    /// `a=ice-options` tokens.
    IceOptions(Vec<String>),
    /// `a=candidate`.
    Candidate(Candidate),
    /// `a=end-of-candidates`.
    EndOfCandidates,
    /// `a=ice-lite`.
    IceLite,
    /// `a=ssrc`.
    Ssrc(Ssrc),
    /// `a=setup`.
    Setup(Setup),
    /// `a=fingerprint`.
    Fingerprint(Fingerprint),
    /// Any other attribute, verbatim: `a=<name>` or `a=<name>:<value>`.
    Other {
        /// Attribute name.
        name: String,
        /// Everything after the first `:`, if there was one.
        value: Option<String>,
    },
}

impl Attribute {
    /// The attribute name as written on the wire.
    pub fn name(&self) -> &str {
        match self {
            Attribute::Rtpmap(_) => "rtpmap",
            Attribute::Fmtp(_) => "fmtp",
            Attribute::RtcpFb(_) => "rtcp-fb",
            Attribute::Ptime(_) => "ptime",
            Attribute::MaxPtime(_) => "maxptime",
            Attribute::Direction(d) => d.as_str(),
            Attribute::Rtcp(_) => "rtcp",
            Attribute::RtcpMux => "rtcp-mux",
            Attribute::Mid(_) => "mid",
            Attribute::Group(_) => "group",
            Attribute::Crypto(_) => "crypto",
            Attribute::IceUfrag(_) => "ice-ufrag",
            Attribute::IcePwd(_) => "ice-pwd",
            Attribute::IceOptions(_) => "ice-options",
            Attribute::Candidate(_) => "candidate",
            Attribute::EndOfCandidates => "end-of-candidates",
            Attribute::IceLite => "ice-lite",
            Attribute::Ssrc(_) => "ssrc",
            Attribute::Setup(_) => "setup",
            Attribute::Fingerprint(_) => "fingerprint",
            Attribute::Other { name, .. } => name,
        }
    }

    /// Whether this is one of the ICE attributes (RFC 8839 §5) a relay
    /// that terminates ICE removes: `ice-ufrag`, `ice-pwd`, `ice-options`,
    /// `candidate`, `end-of-candidates`, `ice-lite`, and the untyped
    /// `remote-candidates` and `ice-mismatch`.
    pub fn is_ice(&self) -> bool {
        match self {
            Attribute::IceUfrag(_)
            | Attribute::IcePwd(_)
            | Attribute::IceOptions(_)
            | Attribute::Candidate(_)
            | Attribute::EndOfCandidates
            | Attribute::IceLite => true,
            Attribute::Other { name, .. } => name == "remote-candidates" || name == "ice-mismatch",
            _ => false,
        }
    }

    /// Parses the text after `a=`.
    pub(crate) fn parse_value(text: &str) -> Result<Attribute, FieldError> {
        let (name, value) = match text.split_once(':') {
            Some((n, v)) => (n, Some(v)),
            // Property attributes: tolerate trailing blanks ("a=sendrecv ").
            None => (text.trim_end_matches([' ', '\t']), None),
        };
        if !is_token(name) {
            return Err(("a= name", ErrorKind::InvalidValue));
        }
        let flag = |attr: Attribute| match value {
            None => Ok(attr),
            Some(_) => Err(("a= flag attribute", ErrorKind::TrailingField)),
        };
        let val = |field: &'static str| value.ok_or((field, ErrorKind::MissingField));
        Ok(match name {
            "rtpmap" => Attribute::Rtpmap(Rtpmap::parse(val("a=rtpmap")?)?),
            "fmtp" => {
                let (format, params) = format_and_rest(val("a=fmtp")?, "a=fmtp format")?;
                Attribute::Fmtp(Fmtp { format, params })
            }
            "rtcp-fb" => {
                let (format, value) = format_and_rest(val("a=rtcp-fb")?, "a=rtcp-fb format")?;
                if value.is_empty() {
                    return Err(("a=rtcp-fb type", ErrorKind::MissingField));
                }
                Attribute::RtcpFb(RtcpFb { format, value })
            }
            "ptime" => Attribute::Ptime(number(val("a=ptime")?.trim(), "a=ptime")?),
            "maxptime" => Attribute::MaxPtime(number(val("a=maxptime")?.trim(), "a=maxptime")?),
            "sendrecv" => flag(Attribute::Direction(Direction::SendRecv))?,
            "sendonly" => flag(Attribute::Direction(Direction::SendOnly))?,
            "recvonly" => flag(Attribute::Direction(Direction::RecvOnly))?,
            "inactive" => flag(Attribute::Direction(Direction::Inactive))?,
            "rtcp" => Attribute::Rtcp(Rtcp::parse(val("a=rtcp")?)?),
            "rtcp-mux" => flag(Attribute::RtcpMux)?,
            "mid" => Attribute::Mid(single_token(val("a=mid")?, "a=mid")?),
            "group" => Attribute::Group(Group::parse(val("a=group")?)?),
            "crypto" => Attribute::Crypto(CryptoLine::parse_value(val("a=crypto")?)?),
            "ice-ufrag" => Attribute::IceUfrag(single_token(val("a=ice-ufrag")?, "a=ice-ufrag")?),
            "ice-pwd" => Attribute::IcePwd(single_token(val("a=ice-pwd")?, "a=ice-pwd")?),
            "ice-options" => {
                let tokens: Vec<String> = val("a=ice-options")?
                    .split_ascii_whitespace()
                    .map(str::to_owned)
                    .collect();
                if tokens.is_empty() {
                    return Err(("a=ice-options", ErrorKind::MissingField));
                }
                Attribute::IceOptions(tokens)
            }
            "candidate" => Attribute::Candidate(Candidate::parse_value(val("a=candidate")?)?),
            "end-of-candidates" => flag(Attribute::EndOfCandidates)?,
            "ice-lite" => flag(Attribute::IceLite)?,
            "ssrc" => Attribute::Ssrc(Ssrc::parse(val("a=ssrc")?)?),
            "setup" => Attribute::Setup(Setup::parse(val("a=setup")?)?),
            "fingerprint" => Attribute::Fingerprint(Fingerprint::parse(val("a=fingerprint")?)?),
            _ => Attribute::Other {
                name: name.to_owned(),
                value: value.map(str::to_owned),
            },
        })
    }
}

fn single_token(v: &str, field: &'static str) -> Result<String, FieldError> {
    let mut it = v.split_ascii_whitespace();
    let t = next_field(&mut it, field)?;
    end(&mut it, field)?;
    Ok(t.to_owned())
}

/// `<format> <rest>`: the format token and the rest of the line verbatim
/// (leading blanks removed).
fn format_and_rest(v: &str, field: &'static str) -> Result<(String, String), FieldError> {
    let v = v.trim_start_matches([' ', '\t']);
    let (format, rest) = match v.split_once([' ', '\t']) {
        Some((f, r)) => (f, r.trim_start_matches([' ', '\t'])),
        None => (v, ""),
    };
    if format.is_empty() {
        return Err((field, ErrorKind::MissingField));
    }
    Ok((format.to_owned(), rest.to_owned()))
}

/// `a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtpmap {
    /// Payload type, 0–127.
    pub payload_type: u8,
    /// Encoding name as sent (compare case-insensitively).
    pub encoding: String,
    /// Clock rate, Hz.
    pub clock_rate: u32,
    /// Encoding parameters (audio: channel count).
    pub channels: Option<u16>,
}

impl Rtpmap {
    fn parse(v: &str) -> Result<Rtpmap, FieldError> {
        let mut it = v.split_ascii_whitespace();
        let payload_type = payload_type(next_field(&mut it, "a=rtpmap payload type")?)?;
        let enc = next_field(&mut it, "a=rtpmap encoding")?;
        end(&mut it, "a=rtpmap")?;
        let mut parts = enc.split('/');
        let encoding = parts.next().unwrap_or("");
        if encoding.is_empty() {
            return Err(("a=rtpmap encoding", ErrorKind::MissingField));
        }
        let clock_rate = number(parts.next().unwrap_or(""), "a=rtpmap clock rate")?;
        let channels = match parts.next() {
            Some(c) => Some(number(c, "a=rtpmap channels")?),
            None => None,
        };
        if parts.next().is_some() {
            return Err(("a=rtpmap encoding", ErrorKind::TrailingField));
        }
        Ok(Rtpmap {
            payload_type,
            encoding: encoding.to_owned(),
            clock_rate,
            channels,
        })
    }
}

/// A payload type number, 0–127.
pub(crate) fn payload_type(s: &str) -> Result<u8, FieldError> {
    let pt: u8 = number(s, "payload type")?;
    if pt > 127 {
        return Err(("payload type", ErrorKind::OutOfRange));
    }
    Ok(pt)
}

/// Whether two formats name the same thing: textually equal, or the same
/// payload type number (`"8"` and `"08"`).
pub(crate) fn same_format(a: &str, b: &str) -> bool {
    a == b || matches!((payload_type(a), payload_type(b)), (Ok(x), Ok(y)) if x == y)
}

/// `a=fmtp:<format> <format specific parameters>`, parameters verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fmtp {
    /// Format (a payload type for RTP).
    pub format: String,
    /// Parameters, verbatim (may be empty).
    pub params: String,
}

impl Fmtp {
    /// The format as a payload type, if it is one.
    pub fn payload_type(&self) -> Option<u8> {
        payload_type(&self.format).ok()
    }

    /// Value of `key` in a `;`-separated `key=value` parameter list
    /// (e.g. `apt` of RFC 4588 rtx).
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.split(';').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            k.trim().eq_ignore_ascii_case(key).then_some(v.trim())
        })
    }
}

/// `a=rtcp-fb:<format> <type> [<params>]` (RFC 4585 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcpFb {
    /// Payload type or `*`.
    pub format: String,
    /// Feedback type and parameters, verbatim.
    pub value: String,
}

/// Stream direction (RFC 4566 §6, RFC 3264 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `sendrecv`.
    SendRecv,
    /// `sendonly`.
    SendOnly,
    /// `recvonly`.
    RecvOnly,
    /// `inactive`.
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Whether the side that wrote this direction sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the side that wrote this direction receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The direction with the given send and receive capabilities.
    pub fn from_flags(send: bool, recv: bool) -> Direction {
        match (send, recv) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// The direction seen from the peer (sendonly ↔ recvonly).
    pub fn reversed(self) -> Direction {
        Direction::from_flags(self.receives(), self.sends())
    }
}

/// `a=rtcp:<port> [<nettype> <addrtype> <connection-address>]` (RFC 3605).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtcp {
    /// RTCP port.
    pub port: u16,
    /// Optional RTCP address.
    pub address: Option<Connection>,
}

impl Rtcp {
    fn parse(v: &str) -> Result<Rtcp, FieldError> {
        let mut it = v.split_ascii_whitespace();
        let port = number(next_field(&mut it, "a=rtcp port")?, "a=rtcp port")?;
        let address = match it.next() {
            None => None,
            Some(nettype) => Some(crate::parse::connection_fields(
                nettype,
                &mut it,
                "a=rtcp address",
            )?),
        };
        Ok(Rtcp { port, address })
    }
}

/// `a=group:<semantics> *(SP <mid>)` (RFC 5888).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// `BUNDLE`, `LS`, `FID`, ...
    pub semantics: String,
    /// Media identification tags.
    pub mids: Vec<String>,
}

impl Group {
    fn parse(v: &str) -> Result<Group, FieldError> {
        let mut it = v.split_ascii_whitespace();
        let semantics = next_field(&mut it, "a=group semantics")?.to_owned();
        Ok(Group {
            semantics,
            mids: it.map(str::to_owned).collect(),
        })
    }
}

/// `a=ssrc:<ssrc-id> <attribute>[:<value>]` (RFC 5576 §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ssrc {
    /// Synchronisation source.
    pub id: u32,
    /// Source attribute name (`cname`, `msid`, ...).
    pub attribute: String,
    /// Source attribute value, verbatim.
    pub value: Option<String>,
}

impl Ssrc {
    fn parse(v: &str) -> Result<Ssrc, FieldError> {
        let (id, rest) = v
            .split_once(' ')
            .ok_or(("a=ssrc attribute", ErrorKind::MissingField))?;
        let id = number(id, "a=ssrc id")?;
        let rest = rest.trim_start_matches(' ');
        let (attribute, value) = match rest.split_once(':') {
            Some((a, v)) => (a, Some(v.to_owned())),
            None => (rest, None),
        };
        if !is_token(attribute) {
            return Err(("a=ssrc attribute", ErrorKind::InvalidValue));
        }
        Ok(Ssrc {
            id,
            attribute: attribute.to_owned(),
            value,
        })
    }
}

/// `a=setup` role (RFC 4145 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Setup {
    /// `active`.
    Active,
    /// `passive`.
    Passive,
    /// `actpass`.
    ActPass,
    /// `holdconn`.
    HoldConn,
}

impl Setup {
    fn parse(v: &str) -> Result<Setup, FieldError> {
        match v.trim() {
            "active" => Ok(Setup::Active),
            "passive" => Ok(Setup::Passive),
            "actpass" => Ok(Setup::ActPass),
            "holdconn" => Ok(Setup::HoldConn),
            _ => Err(("a=setup", ErrorKind::InvalidValue)),
        }
    }

    /// The value as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Setup::Active => "active",
            Setup::Passive => "passive",
            Setup::ActPass => "actpass",
            Setup::HoldConn => "holdconn",
        }
    }
}

/// `a=fingerprint:<hash-func> <fingerprint>` (RFC 8122 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// Hash function token (`sha-256`, ...), as sent.
    pub hash_function: String,
    /// Colon-separated uppercase or lowercase hex pairs, as sent.
    pub fingerprint: String,
}

impl Fingerprint {
    fn parse(v: &str) -> Result<Fingerprint, FieldError> {
        let mut it = v.split_ascii_whitespace();
        let hash_function = next_field(&mut it, "a=fingerprint hash function")?;
        let fp = next_field(&mut it, "a=fingerprint value")?;
        end(&mut it, "a=fingerprint")?;
        let ok = fp
            .split(':')
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
        if !ok {
            return Err(("a=fingerprint value", ErrorKind::InvalidValue));
        }
        Ok(Fingerprint {
            hash_function: hash_function.to_owned(),
            fingerprint: fp.to_owned(),
        })
    }

    /// The fingerprint bytes.
    pub fn bytes(&self) -> Vec<u8> {
        self.fingerprint
            .split(':')
            .filter_map(|p| u8::from_str_radix(p, 16).ok())
            .collect()
    }
}

/// `a=candidate` (RFC 8839 §5.1): parsed fields plus the raw value, which
/// is what the writer emits (the fields are read-only views of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    raw: String,
    foundation: String,
    component: u16,
    transport: String,
    priority: u32,
    address: String,
    port: u16,
    kind: String,
    related_address: Option<String>,
    related_port: Option<u16>,
    extensions: Vec<(String, String)>,
}

impl Candidate {
    /// Parses the value after `a=candidate:`.
    pub(crate) fn parse_value(v: &str) -> Result<Candidate, FieldError> {
        let mut it = v.split_ascii_whitespace();
        let foundation = next_field(&mut it, "a=candidate foundation")?;
        if foundation.len() > 32 {
            return Err(("a=candidate foundation", ErrorKind::InvalidValue));
        }
        let component = number(
            next_field(&mut it, "a=candidate component")?,
            "a=candidate component",
        )?;
        let transport = next_field(&mut it, "a=candidate transport")?;
        let priority = number(
            next_field(&mut it, "a=candidate priority")?,
            "a=candidate priority",
        )?;
        let address = next_field(&mut it, "a=candidate address")?;
        let port = number(next_field(&mut it, "a=candidate port")?, "a=candidate port")?;
        if next_field(&mut it, "a=candidate typ")? != "typ" {
            return Err(("a=candidate typ", ErrorKind::InvalidValue));
        }
        let kind = next_field(&mut it, "a=candidate type")?;
        let mut related_address = None;
        let mut related_port = None;
        let mut extensions = Vec::new();
        while let Some(name) = it.next() {
            let value = next_field(&mut it, "a=candidate extension value")?;
            match name {
                "raddr" if related_address.is_none() => related_address = Some(value.to_owned()),
                "rport" if related_port.is_none() => {
                    related_port = Some(number(value, "a=candidate rport")?)
                }
                _ => extensions.push((name.to_owned(), value.to_owned())),
            }
        }
        Ok(Candidate {
            raw: v.to_owned(),
            foundation: foundation.to_owned(),
            component,
            transport: transport.to_owned(),
            priority,
            address: address.to_owned(),
            port,
            kind: kind.to_owned(),
            related_address,
            related_port,
            extensions,
        })
    }

    /// The value after `a=candidate:`, verbatim.
    pub fn raw(&self) -> &str {
        &self.raw
    }
    /// Foundation.
    pub fn foundation(&self) -> &str {
        &self.foundation
    }
    /// Component id (1 RTP, 2 RTCP).
    pub fn component(&self) -> u16 {
        self.component
    }
    /// Transport (`udp`, `tcp`), as sent.
    pub fn transport(&self) -> &str {
        &self.transport
    }
    /// Priority.
    pub fn priority(&self) -> u32 {
        self.priority
    }
    /// Connection address (IP or FQDN such as an mDNS `.local` name).
    pub fn address(&self) -> &str {
        &self.address
    }
    /// Port.
    pub fn port(&self) -> u16 {
        self.port
    }
    /// Candidate type: `host`, `srflx`, `prflx`, `relay`.
    pub fn kind(&self) -> &str {
        &self.kind
    }
    /// `raddr`.
    pub fn related_address(&self) -> Option<&str> {
        self.related_address.as_deref()
    }
    /// `rport`.
    pub fn related_port(&self) -> Option<u16> {
        self.related_port
    }
    /// Extension name/value pairs (`generation`, `ufrag`, `tcptype`, ...).
    pub fn extensions(&self) -> &[(String, String)] {
        &self.extensions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_attributes_are_verbatim() {
        let a =
            Attribute::parse_value("extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level").unwrap();
        assert_eq!(
            a,
            Attribute::Other {
                name: "extmap".into(),
                value: Some("1 urn:ietf:params:rtp-hdrext:ssrc-audio-level".into())
            }
        );
        // Case matters: not the registered name.
        assert!(matches!(
            Attribute::parse_value("SendRecv").unwrap(),
            Attribute::Other { .. }
        ));
    }

    #[test]
    fn rtpmap_fields() {
        let Attribute::Rtpmap(r) = Attribute::parse_value("rtpmap:111 opus/48000/2").unwrap()
        else {
            panic!("not rtpmap")
        };
        assert_eq!(
            (
                r.payload_type,
                r.encoding.as_str(),
                r.clock_rate,
                r.channels
            ),
            (111, "opus", 48000, Some(2))
        );
        assert_eq!(
            Attribute::parse_value("rtpmap:128 x/8000"),
            Err(("payload type", ErrorKind::OutOfRange))
        );
        assert_eq!(
            Attribute::parse_value("rtpmap:0 PCMU"),
            Err(("a=rtpmap clock rate", ErrorKind::MissingField))
        );
        assert_eq!(
            Attribute::parse_value("sendrecv:x"),
            Err(("a= flag attribute", ErrorKind::TrailingField))
        );
    }

    #[test]
    fn candidate_fields() {
        let Attribute::Candidate(c) = Attribute::parse_value(
            "candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 10.0.1.1 rport 46154 generation 0 network-cost 50",
        )
        .unwrap() else {
            panic!("not candidate")
        };
        assert_eq!(c.component(), 1);
        assert_eq!(c.priority(), 1677729535);
        assert_eq!(c.address(), "203.0.113.7");
        assert_eq!(c.port(), 46154);
        assert_eq!(c.kind(), "srflx");
        assert_eq!(c.related_address(), Some("10.0.1.1"));
        assert_eq!(c.related_port(), Some(46154));
        assert_eq!(c.extensions().len(), 2);
        assert!(Attribute::parse_value("candidate:1 1 udp 1 1.2.3.4 5 host").is_err());
    }

    #[test]
    fn trailing_blanks_after_property_attribute() {
        assert_eq!(
            Attribute::parse_value("sendrecv \t"),
            Ok(Attribute::Direction(Direction::SendRecv))
        );
        assert_eq!(Attribute::parse_value("rtcp-mux "), Ok(Attribute::RtcpMux));
    }

    #[test]
    fn direction_flags() {
        assert_eq!(Direction::SendOnly.reversed(), Direction::RecvOnly);
        assert_eq!(Direction::SendRecv.reversed(), Direction::SendRecv);
        assert_eq!(Direction::from_flags(false, false), Direction::Inactive);
    }
}
