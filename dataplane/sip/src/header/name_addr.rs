//! name-addr / addr-spec values: From, To (RFC 3261 §20.20, §20.39),
//! Route, Record-Route (§20.34, §20.30), Contact (§20.10), and the same
//! shape in Refer-To, Referred-By, Reply-To.
//!
//! Implements: display name as a quoted-string (escapes, folds) or a token
//! list directly followed by `<` (RFC 4475 `lwsdisp`); `<URI>` with no white
//! space inside the brackets (RFC 4475 `badaspec`); addr-spec without
//! brackets, where `;` starts header parameters and a URI containing `?`
//! must have been bracketed (§20, RFC 4475 `regbadct`); the URI validated
//! ([`Uri`]); header parameters (tag, expires, q, ...). In lists, commas
//! inside quotes or brackets do not split values.
//!
//! Not implemented: semantics of Contact parameters beyond expires and q.

use crate::error::ParseError;
use crate::header::params::Params;
use crate::parse::lex::{self, Cursor};
use crate::parse::uri::Uri;
use std::borrow::Cow;

/// A name-addr or addr-spec with its header parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The display name as written: a quoted-string with its quotes, or a
    /// token list. See [`NameAddr::display_name_unquoted`].
    pub display_name: Option<&'a [u8]>,
    /// The URI.
    pub uri: Uri<'a>,
    /// The URI as written.
    pub uri_raw: &'a [u8],
    /// Whether the URI was in angle brackets.
    pub bracketed: bool,
    /// Header parameters after the URI.
    pub params: Params<'a>,
    /// The whole value as written.
    pub raw: &'a [u8],
}

impl<'a> NameAddr<'a> {
    /// Parse a stand-alone single value (`name` labels errors).
    pub fn parse(value: &'a [u8], name: &'static str) -> Result<NameAddr<'a>, ParseError> {
        NameAddr::parse_single(&mut Cursor::new(value, 0, name))
    }

    pub(crate) fn parse_single(cur: &mut Cursor<'a>) -> Result<NameAddr<'a>, ParseError> {
        let v = NameAddr::parse_at(cur)?;
        cur.skip_lws();
        if cur.eof() {
            Ok(v)
        } else {
            Err(cur.err("only one value allowed"))
        }
    }

    pub(crate) fn parse_at(cur: &mut Cursor<'a>) -> Result<NameAddr<'a>, ParseError> {
        cur.skip_lws();
        let start = cur.pos;
        let mut display_name = None;
        let bracketed;
        match cur.peek() {
            Some(b'"') => {
                display_name = Some(cur.quoted_string()?);
                cur.skip_lws();
                if cur.peek() != Some(b'<') {
                    return Err(cur.err("expected '<' after display name"));
                }
                bracketed = true;
            }
            Some(b'<') => bracketed = true,
            _ => {
                let mut end = cur.pos;
                loop {
                    if cur.take_while(lex::is_token).is_empty() {
                        break;
                    }
                    end = cur.pos;
                    cur.skip_lws();
                }
                if cur.peek() == Some(b'<') && end > start {
                    display_name = Some(cur.slice(start, end));
                    bracketed = true;
                } else {
                    cur.pos = start;
                    bracketed = false;
                }
            }
        }
        let uri_start;
        let uri_raw;
        if bracketed {
            cur.bump();
            uri_start = cur.pos;
            uri_raw = cur.take_while(|b| b != b'>' && !lex::is_lws(b));
            match cur.peek() {
                Some(b'>') => cur.bump(),
                Some(_) => return Err(cur.err("white space inside <URI>")),
                None => return Err(cur.err("unterminated '<'")),
            }
        } else {
            uri_start = cur.pos;
            uri_raw = cur
                .take_while(|b| !lex::is_lws(b) && !matches!(b, b';' | b',' | b'<' | b'>' | b'"'));
            if let Some(q) = uri_raw.iter().position(|&b| b == b'?') {
                return Err(cur.err_at(uri_start + q, "URI with headers must be enclosed in <>"));
            }
        }
        if uri_raw.is_empty() {
            return Err(cur.err_at(uri_start, "expected URI"));
        }
        let uri =
            Uri::parse(uri_raw).map_err(|e| e.in_header(cur.name).shifted(cur.base + uri_start))?;
        let params = Params::parse(cur)?;
        Ok(NameAddr {
            display_name,
            uri,
            uri_raw,
            bracketed,
            params,
            raw: cur.slice(start, cur.pos),
        })
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&'a [u8]> {
        self.params.get(b"tag").flatten()
    }

    /// The display name without quotes and escapes (borrowed unless it had
    /// escapes).
    pub fn display_name_unquoted(&self) -> Option<Cow<'a, [u8]>> {
        self.display_name.map(lex::unescape_quoted)
    }
}

/// One Contact value.
// A borrowed view returned by value; boxing the large variant would put an
// allocation on the hot path for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact<'a> {
    /// `Contact: *` (REGISTER remove-all).
    Star,
    /// An address with parameters.
    Addr {
        /// The address.
        addr: NameAddr<'a>,
        /// `expires` in seconds; values above 2^32-1 saturate (RFC 4475
        /// `scalar02`).
        expires: Option<u32>,
        /// `q` in thousandths (0–1000).
        q: Option<u16>,
    },
}

fn parse_q(v: &[u8]) -> Option<u16> {
    let (int, frac) = match memchr::memchr(b'.', v) {
        Some(i) => (v.get(..i)?, v.get(i + 1..)?),
        None => (v, &[][..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut milli: u16 = 0;
    for i in 0..3 {
        milli = milli * 10 + frac.get(i).map_or(0, |d| u16::from(d - b'0'));
    }
    match int {
        b"0" => Some(milli),
        b"1" if milli == 0 => Some(1000),
        _ => None,
    }
}

impl<'a> Contact<'a> {
    pub(crate) fn parse_at(cur: &mut Cursor<'a>) -> Result<Contact<'a>, ParseError> {
        cur.skip_lws();
        if cur.peek() == Some(b'*') {
            let save = cur.pos;
            cur.bump();
            cur.skip_lws();
            if cur.eof() {
                return Ok(Contact::Star);
            }
            cur.pos = save;
        }
        let addr = NameAddr::parse_at(cur)?;
        let mut expires = None;
        let mut q = None;
        for p in addr.params.iter() {
            if p.name.eq_ignore_ascii_case(b"expires") {
                let v = p.value.unwrap_or(&[]);
                if !lex::all(v, |b| b.is_ascii_digit()) {
                    return Err(cur.err("expires must be delta-seconds"));
                }
                expires = Some(
                    lex::parse_u64(v).map_or(u32::MAX, |n| u32::try_from(n).unwrap_or(u32::MAX)),
                );
            } else if p.name.eq_ignore_ascii_case(b"q") {
                q = Some(
                    parse_q(p.value.unwrap_or(&[]))
                        .ok_or_else(|| cur.err("q must be a qvalue 0-1"))?,
                );
            }
        }
        Ok(Contact::Addr { addr, expires, q })
    }

    /// The address, unless this is `*`.
    pub fn addr(&self) -> Option<&NameAddr<'a>> {
        match self {
            Contact::Star => None,
            Contact::Addr { addr, .. } => Some(addr),
        }
    }
}
