//! SIP and SIPS URIs (RFC 3261 §19.1, grammar §25.1), borrowed.
//!
//! Implements: scheme (`sip`/`sips`, case-insensitive), userinfo (user with
//! the user-unreserved set, so `;` `?` `,` are allowed in the user part;
//! optional password), host (name, IPv4, IPv6 reference), port,
//! uri-parameters (`lr`, `transport`, `maddr`, `ttl`, `user`, `method` and
//! any other) and headers. `%HH` escapes are validated, not decoded: use
//! [`crate::pct_decode`] on a component when its logical value is needed.
//! Other schemes (tel, im, novel ones) are recognised syntactically as
//! `scheme ":" rest` ([`Uri::Other`]).
//!
//! Not implemented: URI comparison (RFC 3261 §19.1.4), tel URI grammar
//! (RFC 3966).

use crate::error::ParseError;
use crate::parse::host::{Host, parse_host, parse_port};
use crate::parse::lex::{self, Cursor};

/// Any absolute URI: SIP/SIPS parsed, others kept raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uri<'a> {
    /// `sip:` or `sips:`.
    Sip(SipUri<'a>),
    /// Any other scheme.
    Other {
        /// The scheme, without the colon.
        scheme: &'a [u8],
        /// Everything after the colon.
        rest: &'a [u8],
    },
}

impl<'a> Uri<'a> {
    /// Parse an absolute URI. SIP/SIPS URIs are fully validated.
    pub fn parse(s: &'a [u8]) -> Result<Uri<'a>, ParseError> {
        let colon = scheme_end(s)?;
        let scheme = s.get(..colon).unwrap_or(&[]);
        if scheme.eq_ignore_ascii_case(b"sip") {
            return SipUri::parse_body(s, colon, false).map(Uri::Sip);
        }
        if scheme.eq_ignore_ascii_case(b"sips") {
            return SipUri::parse_body(s, colon, true).map(Uri::Sip);
        }
        let rest = s.get(colon + 1..).unwrap_or(&[]);
        if let Some(i) = rest
            .iter()
            .position(|&b| b <= b' ' || b == 0x7f || b == b'<' || b == b'>' || b == b'"')
        {
            return Err(ParseError::Uri {
                offset: colon + 1 + i,
                reason: "invalid character in URI",
            });
        }
        if rest.is_empty() {
            return Err(ParseError::Uri {
                offset: colon + 1,
                reason: "empty URI after scheme",
            });
        }
        Ok(Uri::Other { scheme, rest })
    }

    /// The SIP URI, if this is one.
    pub fn as_sip(&self) -> Option<&SipUri<'a>> {
        match self {
            Uri::Sip(u) => Some(u),
            Uri::Other { .. } => None,
        }
    }
}

/// Offset of the `:` ending a valid scheme.
fn scheme_end(s: &[u8]) -> Result<usize, ParseError> {
    match s.first() {
        Some(b) if b.is_ascii_alphabetic() => {}
        _ => {
            return Err(ParseError::Uri {
                offset: 0,
                reason: "URI must start with a scheme",
            });
        }
    }
    for (i, &b) in s.iter().enumerate().skip(1) {
        if b == b':' {
            return Ok(i);
        }
        if !lex::is_scheme(b) {
            return Err(ParseError::Uri {
                offset: i,
                reason: "invalid character in scheme",
            });
        }
    }
    Err(ParseError::Uri {
        offset: s.len(),
        reason: "missing ':' after scheme",
    })
}

/// A parsed `sip:` / `sips:` URI; all components borrow the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipUri<'a> {
    /// True for `sips:`.
    pub secure: bool,
    /// The user part, still escaped (`%HH`).
    pub user: Option<&'a [u8]>,
    /// The password, still escaped.
    pub password: Option<&'a [u8]>,
    /// The host.
    pub host: Host<'a>,
    /// The host as written (IPv6 with brackets).
    pub host_raw: &'a [u8],
    /// The port, if written.
    pub port: Option<u16>,
    /// The uri-parameters.
    pub params: UriParams<'a>,
    /// The headers after `?`, raw (`hname=hvalue&...`).
    pub headers: Option<&'a [u8]>,
    /// The whole URI.
    pub raw: &'a [u8],
}

fn uri_err(cur: &Cursor<'_>, pos: usize, reason: &'static str) -> ParseError {
    ParseError::Uri {
        offset: pos,
        reason,
    }
    .shifted(cur.base)
}

fn check_escapes(s: &[u8], base: usize) -> Result<(), ParseError> {
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b == b'%' {
            let ok = s.get(i + 1).is_some_and(|c| c.is_ascii_hexdigit())
                && s.get(i + 2).is_some_and(|c| c.is_ascii_hexdigit());
            if !ok {
                return Err(ParseError::Uri {
                    offset: base + i,
                    reason: "bad % escape",
                });
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

impl<'a> SipUri<'a> {
    /// Parse a complete SIP/SIPS URI (the whole slice must be the URI).
    pub fn parse(s: &'a [u8]) -> Result<SipUri<'a>, ParseError> {
        let colon = scheme_end(s)?;
        let scheme = s.get(..colon).unwrap_or(&[]);
        let secure = if scheme.eq_ignore_ascii_case(b"sip") {
            false
        } else if scheme.eq_ignore_ascii_case(b"sips") {
            true
        } else {
            return Err(ParseError::Uri {
                offset: 0,
                reason: "not a sip or sips URI",
            });
        };
        SipUri::parse_body(s, colon, secure)
    }

    /// Parse what follows the scheme's colon at `colon`.
    fn parse_body(s: &'a [u8], colon: usize, secure: bool) -> Result<SipUri<'a>, ParseError> {
        let body_start = colon + 1;
        let body = s.get(body_start..).unwrap_or(&[]);
        let mut user = None;
        let mut password = None;
        let mut host_off = body_start;
        if let Some(at) = memchr::memchr(b'@', body) {
            let userinfo = body.get(..at).unwrap_or(&[]);
            let (u, p) = match memchr::memchr(b':', userinfo) {
                Some(c) => (
                    userinfo.get(..c).unwrap_or(&[]),
                    Some(userinfo.get(c + 1..).unwrap_or(&[])),
                ),
                None => (userinfo, None),
            };
            if !lex::all(u, lex::is_user) {
                let bad = u.iter().position(|&b| !lex::is_user(b)).unwrap_or(0);
                return Err(ParseError::Uri {
                    offset: body_start + bad,
                    reason: "invalid user part",
                });
            }
            check_escapes(u, body_start)?;
            if let Some(p) = p {
                if let Some(bad) = p.iter().position(|&b| !lex::is_password(b)) {
                    return Err(ParseError::Uri {
                        offset: body_start + u.len() + 1 + bad,
                        reason: "invalid password",
                    });
                }
                check_escapes(p, body_start + u.len() + 1)?;
            }
            user = Some(u);
            password = p;
            host_off = body_start + at + 1;
        }
        let mut cur = Cursor::new(s, 0, "URI");
        cur.pos = host_off;
        let (host, host_raw) =
            parse_host(&mut cur).map_err(|_| uri_err(&cur, cur.pos, "invalid host"))?;
        let mut port = None;
        if cur.peek() == Some(b':') {
            cur.bump();
            port = Some(parse_port(&mut cur).map_err(|_| uri_err(&cur, cur.pos, "invalid port"))?);
        }
        let params_start = cur.pos;
        while cur.peek() == Some(b';') {
            cur.bump();
            let name = cur.take_while(lex::is_paramchar);
            if name.is_empty() {
                return Err(uri_err(&cur, cur.pos, "empty uri-parameter name"));
            }
            if cur.peek() == Some(b'=') {
                cur.bump();
                let v = cur.take_while(lex::is_paramchar);
                if v.is_empty() {
                    return Err(uri_err(&cur, cur.pos, "empty uri-parameter value"));
                }
            }
        }
        let params_raw = cur.slice(params_start, cur.pos);
        check_escapes(params_raw, params_start)?;
        let mut headers = None;
        if cur.peek() == Some(b'?') {
            cur.bump();
            let hstart = cur.pos;
            loop {
                let name = cur.take_while(lex::is_hnv);
                if name.is_empty() {
                    return Err(uri_err(&cur, cur.pos, "empty header name in URI"));
                }
                if cur.peek() != Some(b'=') {
                    return Err(uri_err(&cur, cur.pos, "expected '=' in URI header"));
                }
                cur.bump();
                cur.take_while(lex::is_hnv);
                if cur.peek() == Some(b'&') {
                    cur.bump();
                } else {
                    break;
                }
            }
            let h = cur.slice(hstart, cur.pos);
            check_escapes(h, hstart)?;
            headers = Some(h);
        }
        if !cur.eof() {
            return Err(uri_err(&cur, cur.pos, "unexpected character in URI"));
        }
        Ok(SipUri {
            secure,
            user,
            password,
            host,
            host_raw,
            port,
            params: UriParams(params_raw),
            headers,
            raw: s,
        })
    }

    /// The `transport` parameter value.
    pub fn transport(&self) -> Option<&'a [u8]> {
        self.params.get(b"transport").flatten()
    }
    /// The `maddr` parameter value.
    pub fn maddr(&self) -> Option<&'a [u8]> {
        self.params.get(b"maddr").flatten()
    }
    /// The `user` parameter value (e.g. `phone`).
    pub fn user_param(&self) -> Option<&'a [u8]> {
        self.params.get(b"user").flatten()
    }
    /// The `method` parameter value.
    pub fn method_param(&self) -> Option<&'a [u8]> {
        self.params.get(b"method").flatten()
    }
    /// The `ttl` parameter, if present and 0–255.
    pub fn ttl(&self) -> Option<u8> {
        self.params
            .get(b"ttl")
            .flatten()
            .and_then(lex::parse_u64)
            .and_then(|v| u8::try_from(v).ok())
    }
    /// Whether the loose-routing `lr` parameter is present.
    pub fn lr(&self) -> bool {
        self.params.get(b"lr").is_some()
    }
    /// The URI headers as `(hname, hvalue)` pairs, still escaped.
    pub fn header_pairs(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        self.headers
            .unwrap_or(&[])
            .split(|&b| b == b'&')
            .filter(|p| !p.is_empty())
            .map(|p| match memchr::memchr(b'=', p) {
                Some(i) => (p.get(..i).unwrap_or(&[]), p.get(i + 1..).unwrap_or(&[])),
                None => (p, &[][..]),
            })
    }
}

/// The `;name[=value]` list of a SIP URI, validated, raw (starts at the
/// first `;`, or empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UriParams<'a>(pub &'a [u8]);

impl<'a> UriParams<'a> {
    /// Iterate `(name, value)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + 'a {
        self.0
            .split(|&b| b == b';')
            .filter(|p| !p.is_empty())
            .map(|p| match memchr::memchr(b'=', p) {
                Some(i) => (
                    p.get(..i).unwrap_or(&[]),
                    Some(p.get(i + 1..).unwrap_or(&[])),
                ),
                None => (p, None),
            })
    }

    /// Look a parameter up by name (case-insensitive): `None` if absent,
    /// `Some(None)` if present without value.
    pub fn get(&self, name: &[u8]) -> Option<Option<&'a [u8]>> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}
