//! `host` and `hostport` (RFC 3261 §25.1, RFC 5118 for IPv6 references).
//!
//! Implements: hostname (letters, digits, `-`, `.`; `_` tolerated), IPv4
//! dotted quads (a string of digits and dots must be a valid address) and
//! bracketed IPv6 references, plus an optional `:port` (0–65535).
//!
//! Not implemented: IDN/punycode checks, label-length limits.

use crate::error::ParseError;
use crate::parse::lex::{Cursor, is_host};
use std::net::{Ipv4Addr, Ipv6Addr};

/// A host as written in a URI or Via.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host<'a> {
    /// A domain name, as written (compare case-insensitively).
    Domain(&'a [u8]),
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 reference (written in brackets).
    V6(Ipv6Addr),
}

impl Host<'_> {
    /// Whether the host is an IP address rather than a name.
    pub fn is_ip(&self) -> bool {
        !matches!(self, Host::Domain(_))
    }
}

pub(crate) fn parse_v4(s: &[u8]) -> Option<Ipv4Addr> {
    let mut parts = [0u8; 4];
    let mut n = 0;
    for part in s.split(|&b| b == b'.') {
        if part.is_empty() || part.len() > 3 {
            return None;
        }
        let v = crate::parse::lex::parse_u64(part)?;
        let slot = parts.get_mut(n)?;
        *slot = u8::try_from(v).ok()?;
        n += 1;
    }
    if n == 4 {
        Some(Ipv4Addr::from(parts))
    } else {
        None
    }
}

pub(crate) fn parse_v6(s: &[u8]) -> Option<Ipv6Addr> {
    if s.is_empty()
        || s.len() > 45
        || !s
            .iter()
            .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    {
        return None;
    }
    core::str::from_utf8(s).ok()?.parse().ok()
}

/// Parse a host at the cursor. Returns the host and the raw bytes.
pub(crate) fn parse_host<'a>(cur: &mut Cursor<'a>) -> Result<(Host<'a>, &'a [u8]), ParseError> {
    let start = cur.pos;
    if cur.peek() == Some(b'[') {
        cur.bump();
        let inner = cur.take_while(|b| b != b']' && b != b'>' && !crate::parse::lex::is_lws(b));
        if cur.peek() != Some(b']') {
            return Err(cur.err_at(start, "unterminated IPv6 reference"));
        }
        cur.bump();
        let raw = cur.slice(start, cur.pos);
        return match parse_v6(inner) {
            Some(a) => Ok((Host::V6(a), raw)),
            None => Err(cur.err_at(start, "invalid IPv6 address")),
        };
    }
    // One pass: extent, "only digits and dots" and ".." detection.
    let rest = cur.buf.get(cur.pos..).unwrap_or(&[]);
    let mut numeric = true;
    let mut double_dot = false;
    let mut prev = b'.';
    let mut len = 0;
    for &b in rest {
        if !is_host(b) {
            break;
        }
        double_dot |= b == b'.' && prev == b'.';
        numeric &= b.is_ascii_digit() || b == b'.';
        prev = b;
        len += 1;
    }
    let raw = rest.get(..len).unwrap_or(&[]);
    cur.pos += len;
    if raw.is_empty() {
        return Err(cur.err("expected host"));
    }
    if double_dot {
        return Err(cur.err_at(start, "invalid hostname"));
    }
    if numeric {
        return match parse_v4(raw) {
            Some(a) => Ok((Host::V4(a), raw)),
            None => Err(cur.err_at(start, "invalid IPv4 address")),
        };
    }
    if raw.first() == Some(&b'-') {
        return Err(cur.err_at(start, "invalid hostname"));
    }
    Ok((Host::Domain(raw), raw))
}

/// Parse `1*DIGIT` as a port number.
pub(crate) fn parse_port(cur: &mut Cursor<'_>) -> Result<u16, ParseError> {
    let start = cur.pos;
    let digits = cur.take_while(|b| b.is_ascii_digit());
    crate::parse::lex::parse_u64(digits)
        .and_then(|v| u16::try_from(v).ok())
        .ok_or_else(|| cur.err_at(start, "invalid port"))
}
