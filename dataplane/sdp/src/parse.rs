//! The SDP parser (RFC 4566 §5, with the RFC 8866 relaxations noted).
//!
//! Input is bytes as taken from a SIP body. Lines end in CRLF or bare LF;
//! blank lines are skipped; a CR or NUL inside a line is an error. The
//! input must be UTF-8 (RFC 8866 §5's default charset; `a=charset` is not
//! honoured).
//!
//! Checked (each failure is a [`ParseError`] with line and field):
//! - the first line is `v=0`;
//! - exactly one `o=`, one `s=` and at least one `t=`; `r=` only after a
//!   `t=`; at most one `i=`, `u=`, `c=`, `z=`, `k=` per level;
//! - session-only lines (`o s u e p t r z`) do not appear in a media
//!   section; unknown line letters are rejected (RFC 4566 §5);
//! - every numeric field is decimal and in range (ports ≤ 65535, payload
//!   types ≤ 127, `sess-version` ≤ 2^64−1);
//! - `m=` has media, port, proto and at least one format; RTP formats are
//!   payload types;
//! - every media section with a non-zero port has a connection address,
//!   its own or the session's (RFC 4566 §5.7);
//! - typed attributes follow their grammar (see [`crate::attribute`]).
//!
//! Relaxed on purpose (real stacks do these): session-level lines may come
//! in any order after `v=` (the writer restores the canonical order), `s=`
//! may be empty, trailing blanks in typed fields are tolerated.
//!
//! Kept and flagged rather than rejected: an `a=rtpmap` for a payload type
//! that is not in the `m=` format list
//! ([`MediaDescription::unlisted_rtpmaps`]).

use crate::attribute::{Attribute, Candidate, payload_type};
use crate::crypto::Crypto;
use crate::error::{ErrorKind, FieldError, ParseError};
use crate::lex::{end, is_line_safe, is_token, next_field, number};
use crate::model::{
    AddrType, Bandwidth, BandwidthType, Connection, MediaDescription, Origin, SessionDescription,
    Timing, is_rtp_proto,
};

impl SessionDescription {
    /// Parses a session description. See the [module docs](crate::parse).
    pub fn parse(input: &[u8]) -> Result<SessionDescription, ParseError> {
        parse(input)
    }
}

impl core::str::FromStr for SessionDescription {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s.as_bytes())
    }
}

struct SessionBuilder {
    origin: Option<Origin>,
    session_name: Option<String>,
    information: Option<String>,
    uri: Option<String>,
    emails: Vec<String>,
    phones: Vec<String>,
    connection: Option<Connection>,
    bandwidths: Vec<Bandwidth>,
    timings: Vec<Timing>,
    time_zones: Option<String>,
    key: Option<String>,
    attributes: Vec<Attribute>,
    media: Vec<MediaDescription>,
}

/// Parses a session description. See the [module docs](self).
pub fn parse(input: &[u8]) -> Result<SessionDescription, ParseError> {
    let mut s = SessionBuilder {
        origin: None,
        session_name: None,
        information: None,
        uri: None,
        emails: Vec::new(),
        phones: Vec::new(),
        connection: None,
        bandwidths: Vec::new(),
        timings: Vec::new(),
        time_zones: None,
        key: None,
        attributes: Vec::new(),
        media: Vec::new(),
    };
    let mut seen_version = false;
    let mut line_no = 0usize;
    // Last non-blank line, for reporting missing lines just after it.
    let mut last_line = 0usize;
    for raw in input.split(|b| *b == b'\n') {
        line_no += 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.is_empty() {
            continue;
        }
        last_line = line_no;
        let err = |(field, kind): FieldError| ParseError {
            line: line_no,
            field,
            kind,
        };
        if raw.iter().any(|b| *b == b'\r' || *b == 0) {
            return Err(err(("line", ErrorKind::Syntax)));
        }
        let line = core::str::from_utf8(raw).map_err(|_| err(("line", ErrorKind::NotUtf8)))?;
        let bytes = line.as_bytes();
        let (kind, value) = match (bytes.first(), bytes.get(1)) {
            (Some(k), Some(b'=')) if k.is_ascii_lowercase() => (*k, line.get(2..).unwrap_or("")),
            _ => return Err(err(("line", ErrorKind::Syntax))),
        };
        if !seen_version {
            if kind != b'v' {
                return Err(err(("v=", ErrorKind::VersionFirst)));
            }
            if value.trim_end() != "0" {
                return Err(err(("v=", ErrorKind::UnsupportedVersion)));
            }
            seen_version = true;
            continue;
        }
        line_into(&mut s, kind, value).map_err(err)?;
    }
    if !seen_version {
        return Err(ParseError {
            line: 1,
            field: "v=",
            kind: ErrorKind::Empty,
        });
    }
    let missing = |field| ParseError {
        line: last_line + 1,
        field,
        kind: ErrorKind::MissingLine,
    };
    let origin = s.origin.ok_or_else(|| missing("o="))?;
    let session_name = s.session_name.ok_or_else(|| missing("s="))?;
    if s.timings.is_empty() {
        return Err(missing("t="));
    }
    if s.connection.is_none()
        && s.media
            .iter()
            .any(|m| m.port != 0 && m.connections.is_empty())
    {
        return Err(missing("c="));
    }
    Ok(SessionDescription {
        origin,
        session_name,
        information: s.information,
        uri: s.uri,
        emails: s.emails,
        phones: s.phones,
        connection: s.connection,
        bandwidths: s.bandwidths,
        timings: s.timings,
        time_zones: s.time_zones,
        key: s.key,
        attributes: s.attributes,
        media: s.media,
    })
}

fn once<T>(slot: &mut Option<T>, value: T, field: &'static str) -> Result<(), FieldError> {
    if slot.is_some() {
        return Err((field, ErrorKind::Duplicate));
    }
    *slot = Some(value);
    Ok(())
}

fn line_into(s: &mut SessionBuilder, kind: u8, value: &str) -> Result<(), FieldError> {
    if let Some(m) = s.media.last_mut() {
        return match kind {
            b'm' => {
                s.media.push(media_line(value)?);
                Ok(())
            }
            b'i' => once(&mut m.information, value.to_owned(), "i="),
            b'c' => {
                m.connections.push(connection(value)?);
                Ok(())
            }
            b'b' => {
                m.bandwidths.push(bandwidth(value)?);
                Ok(())
            }
            b'k' => once(&mut m.key, value.to_owned(), "k="),
            b'a' => {
                m.attributes.push(Attribute::parse_value(value)?);
                Ok(())
            }
            b'v' | b'o' | b's' | b'u' | b'e' | b'p' | b't' | b'r' | b'z' => {
                Err(("session-level line in media section", ErrorKind::Misplaced))
            }
            _ => Err(("line type", ErrorKind::UnknownType)),
        };
    }
    match kind {
        b'v' => Err(("v=", ErrorKind::Duplicate)),
        b'o' => once(&mut s.origin, origin(value)?, "o="),
        b's' => once(&mut s.session_name, value.to_owned(), "s="),
        b'i' => once(&mut s.information, value.to_owned(), "i="),
        b'u' => once(&mut s.uri, value.to_owned(), "u="),
        b'e' => {
            s.emails.push(value.to_owned());
            Ok(())
        }
        b'p' => {
            s.phones.push(value.to_owned());
            Ok(())
        }
        b'c' => once(&mut s.connection, connection(value)?, "c="),
        b'b' => {
            s.bandwidths.push(bandwidth(value)?);
            Ok(())
        }
        b't' => {
            let mut it = value.split_ascii_whitespace();
            let start = number(next_field(&mut it, "t= start")?, "t= start")?;
            let stop = number(next_field(&mut it, "t= stop")?, "t= stop")?;
            end(&mut it, "t=")?;
            s.timings.push(Timing {
                start,
                stop,
                repeats: Vec::new(),
            });
            Ok(())
        }
        b'r' => match s.timings.last_mut() {
            Some(t) => {
                t.repeats.push(value.to_owned());
                Ok(())
            }
            None => Err(("r=", ErrorKind::Misplaced)),
        },
        b'z' => once(&mut s.time_zones, value.to_owned(), "z="),
        b'k' => once(&mut s.key, value.to_owned(), "k="),
        b'a' => {
            s.attributes.push(Attribute::parse_value(value)?);
            Ok(())
        }
        b'm' => {
            s.media.push(media_line(value)?);
            Ok(())
        }
        _ => Err(("line type", ErrorKind::UnknownType)),
    }
}

fn token<'a>(
    it: &mut impl Iterator<Item = &'a str>,
    field: &'static str,
) -> Result<&'a str, FieldError> {
    next_field(it, field)
}

fn addrtype(s: &str) -> AddrType {
    match s {
        "IP4" => AddrType::Ip4,
        "IP6" => AddrType::Ip6,
        other => AddrType::Other(other.to_owned()),
    }
}

fn origin(value: &str) -> Result<Origin, FieldError> {
    let mut it = value.split_ascii_whitespace();
    let username = token(&mut it, "o= username")?.to_owned();
    let session_id = token(&mut it, "o= sess-id")?;
    if !session_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(("o= sess-id", ErrorKind::InvalidNumber));
    }
    let session_version = number(token(&mut it, "o= sess-version")?, "o= sess-version")?;
    let nettype = token(&mut it, "o= nettype")?.to_owned();
    let addrtype = addrtype(token(&mut it, "o= addrtype")?);
    let address = token(&mut it, "o= unicast-address")?.to_owned();
    end(&mut it, "o=")?;
    Ok(Origin {
        username,
        session_id: session_id.to_owned(),
        session_version,
        nettype,
        addrtype,
        address,
    })
}

fn connection(value: &str) -> Result<Connection, FieldError> {
    let mut it = value.split_ascii_whitespace();
    let nettype = token(&mut it, "c= nettype")?;
    connection_fields(nettype, &mut it, "c=")
}

/// `<addrtype> <connection-address>` after an already read nettype; used
/// by `c=` and `a=rtcp`.
pub(crate) fn connection_fields<'a>(
    nettype: &str,
    it: &mut impl Iterator<Item = &'a str>,
    field: &'static str,
) -> Result<Connection, FieldError> {
    let addrtype = addrtype(token(it, field)?);
    let full = token(it, field)?;
    end(it, field)?;
    let mut conn = Connection {
        nettype: nettype.to_owned(),
        addrtype,
        address: full.to_owned(),
        ttl: None,
        count: None,
    };
    let mut parts = full.split('/');
    let address = parts.next().unwrap_or("");
    match conn.addrtype {
        AddrType::Ip4 => {
            if let Some(ttl) = parts.next() {
                conn.ttl = Some(number(ttl, "connection TTL")?);
            }
            if let Some(count) = parts.next() {
                conn.count = Some(number(count, "connection address count")?);
            }
        }
        AddrType::Ip6 => {
            if let Some(count) = parts.next() {
                conn.count = Some(number(count, "connection address count")?);
            }
        }
        // Unknown address types: the address is kept whole.
        AddrType::Other(_) => return Ok(conn),
    }
    if parts.next().is_some() {
        return Err(("connection address", ErrorKind::TrailingField));
    }
    if address.is_empty() {
        return Err(("connection address", ErrorKind::MissingField));
    }
    conn.address = address.to_owned();
    Ok(conn)
}

fn bandwidth(value: &str) -> Result<Bandwidth, FieldError> {
    let (kind, v) = value
        .split_once(':')
        .ok_or(("b= bandwidth", ErrorKind::MissingField))?;
    if !is_token(kind) {
        return Err(("b= bwtype", ErrorKind::InvalidValue));
    }
    let kind = match kind {
        "AS" => BandwidthType::As,
        "CT" => BandwidthType::Ct,
        "TIAS" => BandwidthType::Tias,
        other => BandwidthType::Other(other.to_owned()),
    };
    Ok(Bandwidth {
        kind,
        value: number(v.trim_end(), "b= bandwidth")?,
    })
}

fn media_line(value: &str) -> Result<MediaDescription, FieldError> {
    let mut it = value.split_ascii_whitespace();
    let media = token(&mut it, "m= media")?.to_owned();
    let port_s = token(&mut it, "m= port")?;
    let (port, port_count) = match port_s.split_once('/') {
        Some((p, c)) => (number(p, "m= port")?, Some(number(c, "m= port count")?)),
        None => (number(port_s, "m= port")?, None),
    };
    let proto = token(&mut it, "m= proto")?.to_owned();
    let formats: Vec<String> = it.map(str::to_owned).collect();
    if formats.is_empty() {
        return Err(("m= fmt", ErrorKind::MissingField));
    }
    let mut formats = formats;
    if is_rtp_proto(&proto) {
        // Payload types, stored in canonical decimal form.
        for f in &mut formats {
            let pt = payload_type(f).map_err(|(_, k)| ("m= fmt payload type", k))?;
            *f = pt.to_string();
        }
    }
    let mut seen = std::collections::HashSet::with_capacity(formats.len());
    if !formats.iter().all(|f| seen.insert(f.as_str())) {
        return Err(("m= fmt", ErrorKind::Duplicate));
    }
    Ok(MediaDescription {
        media,
        port,
        port_count,
        proto,
        formats,
        information: None,
        connections: Vec::new(),
        bandwidths: Vec::new(),
        key: None,
        attributes: Vec::new(),
    })
}

/// Runs a one-line value parser, reporting errors at line 1.
fn one_line<T>(s: &str, f: impl FnOnce(&str) -> Result<T, FieldError>) -> Result<T, ParseError> {
    let err = |(field, kind): FieldError| ParseError {
        line: 1,
        field,
        kind,
    };
    if !is_line_safe(s) {
        return Err(err(("line", ErrorKind::Syntax)));
    }
    f(s).map_err(err)
}

impl core::str::FromStr for Attribute {
    type Err = ParseError;

    /// Parses one attribute, with or without the leading `a=`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        one_line(s.strip_prefix("a=").unwrap_or(s), Attribute::parse_value)
    }
}

impl core::str::FromStr for Candidate {
    type Err = ParseError;

    /// Parses a candidate, with or without `a=candidate:` / `candidate:`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let v = s.strip_prefix("a=").unwrap_or(s);
        one_line(
            v.strip_prefix("candidate:").unwrap_or(v),
            Candidate::parse_value,
        )
    }
}

impl core::str::FromStr for Crypto {
    type Err = ParseError;

    /// Parses a crypto line, with or without `a=crypto:` / `crypto:`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let v = s.strip_prefix("a=").unwrap_or(s);
        one_line(v.strip_prefix("crypto:").unwrap_or(v), Crypto::parse_value)
    }
}
