//! Via (RFC 3261 §20.42, §18.2.1, RFC 3581 rport, RFC 5118 IPv6).
//!
//! Implements `via-parm = sent-protocol LWS sent-by *( SEMI via-params )`
//! with LWS allowed around `/` `:` `;` `=` (RFC 4475 `wsinv`), any transport
//! token (RFC 4475 `transports`), host name / IPv4 / `[IPv6]`, optional
//! port, and the known parameters validated: `branch` (token), `received`
//! (IPv4 or IPv6, bracketed or not), `rport` (with or without value),
//! `maddr` (host), `ttl` (0–255). Other parameters are kept generic.
//!
//! Not implemented: semantic checks across Vias (e.g. RFC 4475 `bcast`).

use crate::error::ParseError;
use crate::header::params::{Params, next_param_ext};
use crate::parse::host::{Host, parse_host, parse_port, parse_v4, parse_v6};
use crate::parse::lex::{self, Cursor};

/// The RFC 3261 branch magic cookie.
pub const MAGIC_COOKIE: &[u8] = b"z9hG4bK";

/// One via-parm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    /// Protocol name, normally `SIP`.
    pub protocol: &'a [u8],
    /// Protocol version, normally `2.0`.
    pub version: &'a [u8],
    /// Transport token as written (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, ...).
    pub transport: &'a [u8],
    /// sent-by host.
    pub host: Host<'a>,
    /// sent-by host as written.
    pub host_raw: &'a [u8],
    /// sent-by port, if written.
    pub port: Option<u16>,
    /// `branch` value.
    pub branch: Option<&'a [u8]>,
    /// `received` value (an IP address as written).
    pub received: Option<&'a [u8]>,
    /// `rport`: `None` absent, `Some(None)` present without value,
    /// `Some(Some(p))` with a value.
    pub rport: Option<Option<u16>>,
    /// `maddr` value.
    pub maddr: Option<&'a [u8]>,
    /// `ttl` value.
    pub ttl: Option<u8>,
    /// All parameters, raw.
    pub params: Params<'a>,
    /// The whole via-parm as written (may contain folds).
    pub raw: &'a [u8],
}

impl<'a> Via<'a> {
    /// Parse a single via-parm from a stand-alone value (offsets in errors
    /// are relative to `value`).
    pub fn parse(value: &'a [u8]) -> Result<Via<'a>, ParseError> {
        let mut cur = Cursor::new(value, 0, "Via");
        let v = Via::parse_at(&mut cur)?;
        cur.skip_lws();
        if cur.eof() {
            Ok(v)
        } else {
            Err(cur.err("trailing data after via-parm"))
        }
    }

    /// Whether the branch carries the RFC 3261 magic cookie followed by at
    /// least one more character (RFC 4475 `badbranch` has the bare cookie).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch
            .is_some_and(|b| b.len() > MAGIC_COOKIE.len() && b.starts_with(MAGIC_COOKIE))
    }

    /// Whether the transport is `UDP` (case-insensitive).
    pub fn is_udp(&self) -> bool {
        self.transport.eq_ignore_ascii_case(b"UDP")
    }

    pub(crate) fn parse_at(cur: &mut Cursor<'a>) -> Result<Via<'a>, ParseError> {
        cur.skip_lws();
        let start = cur.pos;
        let protocol = cur.token("expected sent-protocol")?;
        cur.expect_sep(b'/', "expected '/' in sent-protocol")?;
        let version = cur.token("expected protocol version")?;
        cur.expect_sep(b'/', "expected '/' in sent-protocol")?;
        let transport = cur.token("expected transport")?;
        let before = cur.pos;
        cur.skip_lws();
        if cur.pos == before {
            return Err(cur.err("expected white space before sent-by"));
        }
        let (host, host_raw) = parse_host(cur)?;
        let mut port = None;
        if cur.eat_sep(b':') {
            cur.skip_lws();
            port = Some(parse_port(cur)?);
        }
        let params_start = cur.pos;
        let mut end = cur.pos;
        let mut via = Via {
            protocol,
            version,
            transport,
            host,
            host_raw,
            port,
            branch: None,
            received: None,
            rport: None,
            maddr: None,
            ttl: None,
            params: Params::default(),
            raw: &[],
        };
        loop {
            let pstart = cur.pos;
            let Some(p) = next_param_ext(cur, true)? else {
                break;
            };
            end = cur.pos;
            let name = p.name;
            let value = p.value;
            let bad = |reason| cur.err_at(pstart, reason);
            if name.eq_ignore_ascii_case(b"branch") {
                match value {
                    Some(v) if lex::all(v, lex::is_token) => via.branch = Some(v),
                    _ => return Err(bad("branch must be a token")),
                }
            } else if name.eq_ignore_ascii_case(b"received") {
                match value {
                    Some(v)
                        if parse_v4(v).is_some() || parse_v6(lex::strip_brackets(v)).is_some() =>
                    {
                        via.received = Some(v)
                    }
                    _ => return Err(bad("received must be an IP address")),
                }
            } else if name.eq_ignore_ascii_case(b"rport") {
                via.rport = match value {
                    None => Some(None),
                    Some(v) => match lex::parse_u64(v).and_then(|n| u16::try_from(n).ok()) {
                        Some(n) => Some(Some(n)),
                        None => return Err(bad("rport must be a port number")),
                    },
                };
            } else if name.eq_ignore_ascii_case(b"ttl") {
                match value
                    .filter(|v| v.len() <= 3)
                    .and_then(lex::parse_u64)
                    .and_then(|n| u8::try_from(n).ok())
                {
                    Some(t) => via.ttl = Some(t),
                    None => return Err(bad("ttl must be 0-255")),
                }
            } else if name.eq_ignore_ascii_case(b"maddr") {
                let mut hc = Cursor::new(value.unwrap_or(&[]), 0, "Via");
                match value {
                    Some(v) if parse_host(&mut hc).is_ok() && hc.eof() => via.maddr = Some(v),
                    _ => return Err(bad("maddr must be a host")),
                }
            }
        }
        cur.pos = end;
        via.params = Params(cur.slice(params_start, end));
        via.raw = cur.slice(start, end);
        Ok(via)
    }
}
