//! Message framing and the start line (RFC 3261 §7.1–§7.5, grammar §25.1).
//!
//! Implements:
//! - request line `Method SP Request-URI SP SIP/2.0` with exactly one SP
//!   between elements and none trailing (RFC 4475 `lwsstart`, `trws`,
//!   `lwsruri`); the Request-URI is validated (SIP/SIPS fully, with URI
//!   headers rejected as §19.1.1 requires — RFC 4475 `escruri`, `ltgtruri`);
//! - status line `SIP/2.0 SP 3DIGIT SP Reason-Phrase` with code 100–699 and
//!   a reason that may be empty or UTF-8;
//! - a version other than `SIP/2.0` is [`ParseError::Version`] (505);
//! - leading CRLFs before the start line are skipped (§7.5);
//! - header lines ending in CRLF or bare LF, folded continuation lines
//!   (starting with SP/HTAB) joined to the previous header without copying;
//!   header names are tokens matched case-insensitively, compact forms
//!   included, with optional white space before the colon;
//! - the body located by Content-Length (eagerly parsed: a negative,
//!   non-numeric or conflicting value is an error; a value larger than the
//!   bytes present is [`ParseError::TruncatedBody`]); without
//!   Content-Length the body is the rest of the datagram (§18.3); bytes after
//!   the body are ignored but reported ([`Message::trailing`], RFC 4475
//!   `dblreq`);
//! - [`frame_len`] for stream transports.
//!
//! Zero-copy and allocation: a [`Message`] borrows the input. Headers are
//! indexed in a small vector with 32 inline entries (20 bytes each) that
//! spills to the heap only for messages with more header lines; a typical
//! INVITE therefore parses with no allocation at all, and the API stays a
//! plain `Message::parse(&buf)` with no caller-managed storage. All other
//! headers are parsed lazily by the typed accessors (see [`crate::header`]).
//!
//! This is the product's hot path and is written by hand (no parser
//! generator, no third-party SIP crate); `memchr` is used to find line ends.

use crate::error::ParseError;
use crate::header::{
    ValueIter,
    auth::Auth,
    cseq::CSeq,
    name_addr::{Contact, NameAddr},
    simple,
    via::Via,
};
use crate::parse::header::{Entry, Header, HeaderList, HeaderName};
use crate::parse::lex::{self, Cursor};
use crate::parse::method::Method;
use crate::parse::uri::Uri;

/// Most header lines a message may have (bounds the header index: beyond
/// the 32 inline entries it lives on the heap).
pub const MAX_HEADERS: usize = 1024;

/// Largest message this parser accepts (offsets are stored as `u32`).
pub const MAX_MESSAGE_LEN: usize = u32::MAX as usize;

/// The first line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// A request.
    Request(RequestLine<'a>),
    /// A response.
    Response(StatusLine<'a>),
}

/// `Method SP Request-URI SP SIP-Version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLine<'a> {
    /// The method.
    pub method: Method<'a>,
    /// The Request-URI, parsed.
    pub uri: Uri<'a>,
    /// The Request-URI as written.
    pub uri_raw: &'a [u8],
    /// Byte range of the Request-URI in the buffer.
    pub uri_range: core::ops::Range<usize>,
}

/// `SIP-Version SP Status-Code SP Reason-Phrase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusLine<'a> {
    /// Status code, 100–699.
    pub code: u16,
    /// Reason phrase as written (may be empty, may be UTF-8).
    pub reason: &'a [u8],
}

/// A parsed SIP message borrowing its buffer.
#[derive(Clone)]
pub struct Message<'a> {
    buf: &'a [u8],
    start: usize,
    start_line: StartLine<'a>,
    start_line_end: usize,
    headers: HeaderList,
    headers_end: usize,
    body_start: usize,
    body_end: usize,
    content_length: Option<usize>,
}

impl core::fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Message")
            .field("start_line", &self.start_line)
            .field("headers", &self.headers.as_slice().len())
            .field("body_len", &(self.body_end - self.body_start))
            .finish()
    }
}

fn find_lf(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)
        .and_then(|s| memchr::memchr(b'\n', s))
        .map(|i| from + i)
}

/// Offset just past any leading CR/LF bytes (keep-alives, RFC 5626 §3.5.1,
/// and the CRLFs RFC 3261 §7.5 says to ignore before a start line).
pub fn leading_keepalive(buf: &[u8]) -> usize {
    buf.iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count()
}

fn is_sip_version(v: &[u8]) -> bool {
    v.len() == 7
        && v.get(..4).is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
        && v.get(4..) == Some(b"2.0")
}

/// Check a version field: Ok for SIP/2.0, Version error for another
/// well-formed version, StartLine error otherwise.
fn check_version(v: &[u8], offset: usize) -> Result<(), ParseError> {
    if is_sip_version(v) {
        return Ok(());
    }
    let well_formed = v.get(..4).is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
        && v.get(4..).is_some_and(|nums| {
            let mut parts = nums.split(|&b| b == b'.');
            let a = parts.next().unwrap_or(&[]);
            let b = parts.next().unwrap_or(&[]);
            parts.next().is_none()
                && lex::all(a, |c| c.is_ascii_digit())
                && lex::all(b, |c| c.is_ascii_digit())
        });
    if well_formed {
        Err(ParseError::Version { offset })
    } else {
        Err(ParseError::StartLine {
            offset,
            reason: "malformed SIP version",
        })
    }
}

fn parse_start_line(buf: &[u8], start: usize, end: usize) -> Result<StartLine<'_>, ParseError> {
    let line = buf.get(start..end).unwrap_or(&[]);
    if line
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
    {
        let sp = memchr::memchr(b' ', line).ok_or(ParseError::StartLine {
            offset: start,
            reason: "status line without status code",
        })?;
        check_version(line.get(..sp).unwrap_or(&[]), start)?;
        let rest = line.get(sp + 1..).unwrap_or(&[]);
        let code_bytes = rest.get(..3).unwrap_or(rest);
        let code_ok = code_bytes.len() == 3 && code_bytes.iter().all(u8::is_ascii_digit);
        let after = rest.get(3..).unwrap_or(&[]);
        if !code_ok || !(after.is_empty() || after.first() == Some(&b' ')) {
            return Err(ParseError::StartLine {
                offset: start + sp + 1,
                reason: "status code must be three digits",
            });
        }
        let code = code_bytes
            .iter()
            .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
        if !(100..=699).contains(&code) {
            return Err(ParseError::StartLine {
                offset: start + sp + 1,
                reason: "status code out of range 100-699",
            });
        }
        let reason = after.get(1..).unwrap_or(&[]);
        if reason.iter().any(|&b| b == b'\r' || b == 0) {
            return Err(ParseError::StartLine {
                offset: start + sp + 5,
                reason: "control character in reason phrase",
            });
        }
        return Ok(StartLine::Response(StatusLine { code, reason }));
    }
    let mlen = line.iter().take_while(|&&b| lex::is_token(b)).count();
    if mlen == 0 {
        return Err(ParseError::StartLine {
            offset: start,
            reason: "invalid method",
        });
    }
    if line.get(mlen) != Some(&b' ') {
        return Err(ParseError::StartLine {
            offset: start + mlen,
            reason: "expected SP after method",
        });
    }
    let method = Method::from_bytes(line.get(..mlen).unwrap_or(&[]));
    let uri_start = mlen + 1;
    let after_method = line.get(uri_start..).unwrap_or(&[]);
    let uri_len = memchr::memchr(b' ', after_method).ok_or(ParseError::StartLine {
        offset: start + uri_start,
        reason: "missing SIP version",
    })?;
    if uri_len == 0 {
        return Err(ParseError::StartLine {
            offset: start + uri_start,
            reason: "empty Request-URI (extra SP?)",
        });
    }
    let uri_raw = after_method.get(..uri_len).unwrap_or(&[]);
    let version_off = uri_start + uri_len + 1;
    check_version(line.get(version_off..).unwrap_or(&[]), start + version_off)?;
    let abs_uri = start + uri_start;
    let uri = Uri::parse(uri_raw).map_err(|e| e.shifted(abs_uri))?;
    if let Uri::Sip(u) = &uri
        && u.headers.is_some()
    {
        return Err(ParseError::Uri {
            offset: abs_uri,
            reason: "headers are not allowed in a Request-URI",
        });
    }
    Ok(StartLine::Request(RequestLine {
        method,
        uri,
        uri_raw,
        uri_range: abs_uri..abs_uri + uri_len,
    }))
}

fn parse_content_length(value: &[u8], offset: usize) -> Result<usize, ParseError> {
    lex::parse_u64(value)
        .filter(|&v| v <= u64::from(u32::MAX))
        .and_then(|v| usize::try_from(v).ok())
        .ok_or(ParseError::Header {
            name: "Content-Length",
            offset,
            reason: "Content-Length must be 1*DIGIT within 32 bits",
        })
}

impl<'a> Message<'a> {
    /// Parse one message from a datagram (or a frame cut by [`frame_len`]).
    ///
    /// Leading CRLFs are skipped. The header section must end with an empty
    /// line. Content-Length, when present, delimits the body; otherwise the
    /// body is the rest of `buf`.
    pub fn parse(buf: &'a [u8]) -> Result<Message<'a>, ParseError> {
        if buf.len() > MAX_MESSAGE_LEN {
            return Err(ParseError::TooLarge {
                limit: MAX_MESSAGE_LEN,
            });
        }
        let start = leading_keepalive(buf);
        if start >= buf.len() {
            return Err(ParseError::Incomplete {
                what: "no start line",
            });
        }
        let lf = find_lf(buf, start).ok_or(ParseError::Incomplete {
            what: "start line not terminated",
        })?;
        let line_end = if lf > start && buf.get(lf - 1) == Some(&b'\r') {
            lf - 1
        } else {
            lf
        };
        let start_line = parse_start_line(buf, start, line_end)?;
        let start_line_end = lf + 1;

        let mut headers = HeaderList::new();
        let mut content_length: Option<usize> = None;
        let mut pos = start_line_end;
        let headers_end;
        let body_start;
        loop {
            let lf = find_lf(buf, pos).ok_or(ParseError::Incomplete {
                what: "no empty line after the header section",
            })?;
            let content_end = if lf > pos && buf.get(lf - 1) == Some(&b'\r') {
                lf - 1
            } else {
                lf
            };
            if content_end == pos {
                finish_entry(buf, &mut headers, &mut content_length)?;
                headers_end = pos;
                body_start = lf + 1;
                break;
            }
            match buf.get(pos) {
                Some(b' ' | b'\t') => match headers.last_mut() {
                    Some(e) => {
                        e.value_len = (content_end - e.value_start as usize) as u32;
                        e.line_end = (lf + 1) as u32;
                    }
                    None => {
                        return Err(ParseError::HeaderLine {
                            offset: pos,
                            reason: "continuation line before the first header",
                        });
                    }
                },
                _ => {
                    finish_entry(buf, &mut headers, &mut content_length)?;
                    let line = buf.get(pos..content_end).unwrap_or(&[]);
                    let name_len = line.iter().take_while(|&&b| lex::is_token(b)).count();
                    if name_len == 0 {
                        return Err(ParseError::HeaderLine {
                            offset: pos,
                            reason: "invalid header name",
                        });
                    }
                    let mut i = name_len;
                    while matches!(line.get(i), Some(b' ' | b'\t')) {
                        i += 1;
                    }
                    if line.get(i) != Some(&b':') {
                        return Err(ParseError::HeaderLine {
                            offset: pos + i,
                            reason: "expected ':' after header name",
                        });
                    }
                    i += 1;
                    while matches!(line.get(i), Some(b' ' | b'\t')) {
                        i += 1;
                    }
                    let name_len16 =
                        u16::try_from(name_len).map_err(|_| ParseError::HeaderLine {
                            offset: pos,
                            reason: "header name too long",
                        })?;
                    if headers.as_slice().len() >= MAX_HEADERS {
                        return Err(ParseError::TooManyHeaders { limit: MAX_HEADERS });
                    }
                    let kind = HeaderName::from_bytes(line.get(..name_len).unwrap_or(&[]));
                    headers.push(Entry {
                        line_start: pos as u32,
                        value_start: (pos + i) as u32,
                        value_len: (content_end - (pos + i)) as u32,
                        line_end: (lf + 1) as u32,
                        name_len: name_len16,
                        kind,
                    });
                }
            }
            pos = lf + 1;
        }
        let available = buf.len() - body_start;
        let body_end = match content_length {
            Some(cl) if cl > available => {
                return Err(ParseError::TruncatedBody {
                    declared: cl,
                    available,
                });
            }
            Some(cl) => body_start + cl,
            None => buf.len(),
        };
        Ok(Message {
            buf,
            start,
            start_line,
            start_line_end,
            headers,
            headers_end,
            body_start,
            body_end,
            content_length,
        })
    }

    /// The whole buffer given to [`Message::parse`].
    pub fn buffer(&self) -> &'a [u8] {
        self.buf
    }
    /// The message bytes, from the start line to the end of the body.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf.get(self.start..self.body_end).unwrap_or(&[])
    }
    /// Bytes of `buf` consumed by this message (leading CRLFs included).
    pub fn consumed(&self) -> usize {
        self.body_end
    }
    /// Bytes after the body (a second message in one datagram, RFC 4475
    /// `dblreq`: they must be ignored on datagram transports).
    pub fn trailing(&self) -> &'a [u8] {
        self.buf.get(self.body_end..).unwrap_or(&[])
    }
    /// The start line.
    pub fn start_line(&self) -> &StartLine<'a> {
        &self.start_line
    }
    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start_line, StartLine::Request(_))
    }
    /// The request line, for requests.
    pub fn request_line(&self) -> Option<&RequestLine<'a>> {
        match &self.start_line {
            StartLine::Request(r) => Some(r),
            StartLine::Response(_) => None,
        }
    }
    /// The method of a request.
    pub fn method(&self) -> Option<Method<'a>> {
        self.request_line().map(|r| r.method)
    }
    /// The Request-URI of a request.
    pub fn request_uri(&self) -> Option<&Uri<'a>> {
        self.request_line().map(|r| &r.uri)
    }
    /// The status code of a response.
    pub fn status_code(&self) -> Option<u16> {
        match &self.start_line {
            StartLine::Response(s) => Some(s.code),
            StartLine::Request(_) => None,
        }
    }
    /// The reason phrase of a response.
    pub fn reason_phrase(&self) -> Option<&'a [u8]> {
        match &self.start_line {
            StartLine::Response(s) => Some(s.reason),
            StartLine::Request(_) => None,
        }
    }
    /// The body (empty if none).
    pub fn body(&self) -> &'a [u8] {
        self.buf.get(self.body_start..self.body_end).unwrap_or(&[])
    }
    /// The Content-Length value, if the header was present.
    pub fn content_length(&self) -> Option<usize> {
        self.content_length
    }

    pub(crate) fn entries(&self) -> &[Entry] {
        self.headers.as_slice()
    }
    pub(crate) fn start_offset(&self) -> usize {
        self.start
    }
    pub(crate) fn start_line_end(&self) -> usize {
        self.start_line_end
    }
    /// Byte offset of the empty line that ends the header section.
    pub fn headers_end(&self) -> usize {
        self.headers_end
    }
    pub(crate) fn body_range(&self) -> core::ops::Range<usize> {
        self.body_start..self.body_end
    }

    pub(crate) fn view(&self, e: &Entry) -> Header<'a> {
        let ls = e.line_start as usize;
        let vs = e.value_start as usize;
        Header {
            name: self.buf.get(ls..ls + e.name_len as usize).unwrap_or(&[]),
            kind: e.kind,
            value: self.buf.get(vs..vs + e.value_len as usize).unwrap_or(&[]),
            value_offset: vs,
            line: ls..e.line_end as usize,
        }
    }

    /// All header lines in order.
    pub fn headers(&self) -> impl Iterator<Item = Header<'a>> + '_ {
        self.entries().iter().map(|e| self.view(e))
    }
    /// Number of header lines.
    pub fn header_count(&self) -> usize {
        self.entries().len()
    }
    /// Header lines of a known kind, in order.
    pub fn headers_of(&self, kind: HeaderName) -> impl Iterator<Item = Header<'a>> + '_ {
        self.entries()
            .iter()
            .filter(move |e| e.kind == kind)
            .map(|e| self.view(e))
    }
    /// The first header line of a known kind.
    pub fn header(&self, kind: HeaderName) -> Option<Header<'a>> {
        self.headers_of(kind).next()
    }
    /// Header lines by name as bytes (case-insensitive; compact forms of
    /// known names match too).
    pub fn headers_named<'s>(&'s self, name: &'s [u8]) -> impl Iterator<Item = Header<'a>> + 's {
        let kind = HeaderName::from_bytes(name);
        let buf = self.buf;
        self.entries()
            .iter()
            .filter(move |e| {
                e.kind == kind
                    && (kind != HeaderName::Other || {
                        let s = e.line_start as usize;
                        buf.get(s..s + e.name_len as usize)
                            .is_some_and(|n| n.eq_ignore_ascii_case(name))
                    })
            })
            .map(|e| self.view(e))
    }

    fn required(&self, kind: HeaderName) -> Result<Header<'a>, ParseError> {
        self.header(kind).ok_or(ParseError::Missing {
            name: kind.as_str(),
        })
    }

    fn cursor(&self, h: &Header<'a>) -> Cursor<'a> {
        Cursor::new(h.value, h.value_offset, h.kind.as_str())
    }

    /// All Via values in order (several per line and several lines).
    pub fn vias(&self) -> ValueIter<'_, 'a, Via<'a>> {
        ValueIter::new(self, HeaderName::Via, Via::parse_at)
    }
    /// The topmost Via value.
    pub fn top_via(&self) -> Result<Via<'a>, ParseError> {
        self.vias()
            .next()
            .unwrap_or(Err(ParseError::Missing { name: "Via" }))
    }
    /// The From header.
    pub fn from(&self) -> Result<NameAddr<'a>, ParseError> {
        let h = self.required(HeaderName::From)?;
        NameAddr::parse_single(&mut self.cursor(&h))
    }
    /// The To header.
    pub fn to(&self) -> Result<NameAddr<'a>, ParseError> {
        let h = self.required(HeaderName::To)?;
        NameAddr::parse_single(&mut self.cursor(&h))
    }
    /// The Call-ID value.
    pub fn call_id(&self) -> Result<&'a [u8], ParseError> {
        let h = self.required(HeaderName::CallId)?;
        simple::call_id(&mut self.cursor(&h))
    }
    /// The CSeq header.
    pub fn cseq(&self) -> Result<CSeq<'a>, ParseError> {
        let h = self.required(HeaderName::CSeq)?;
        CSeq::parse_at(&mut self.cursor(&h))
    }
    /// Max-Forwards (None when absent; an error when not 0–255).
    pub fn max_forwards(&self) -> Result<Option<u8>, ParseError> {
        match self.header(HeaderName::MaxForwards) {
            None => Ok(None),
            Some(h) => simple::max_forwards(&mut self.cursor(&h)).map(Some),
        }
    }
    /// Tokens of a comma-separated list header, across all its lines, in
    /// order: option tags of Require / Proxy-Require / Supported /
    /// Unsupported, methods of Allow, event packages of Allow-Events.
    pub fn tokens(&self, kind: HeaderName) -> ValueIter<'_, 'a, &'a [u8]> {
        ValueIter::new(self, kind, crate::header::tokens::token_at)
    }
    /// The Expires header in seconds (None when absent; saturates above
    /// 2^32-1).
    pub fn expires(&self) -> Result<Option<u32>, ParseError> {
        match self.header(HeaderName::Expires) {
            None => Ok(None),
            Some(h) => crate::header::tokens::delta_seconds(&mut self.cursor(&h)).map(Some),
        }
    }
    /// Contact values in order (`*` included).
    pub fn contacts(&self) -> ValueIter<'_, 'a, Contact<'a>> {
        ValueIter::new(self, HeaderName::Contact, Contact::parse_at)
    }
    /// Route values in order.
    pub fn routes(&self) -> ValueIter<'_, 'a, NameAddr<'a>> {
        ValueIter::new(self, HeaderName::Route, NameAddr::parse_at)
    }
    /// Record-Route values in order.
    pub fn record_routes(&self) -> ValueIter<'_, 'a, NameAddr<'a>> {
        ValueIter::new(self, HeaderName::RecordRoute, NameAddr::parse_at)
    }
    /// Credentials or challenges: `kind` is one of Authorization,
    /// Proxy-Authorization, WWW-Authenticate, Proxy-Authenticate. One item
    /// per header line.
    pub fn auth(
        &self,
        kind: HeaderName,
    ) -> impl Iterator<Item = Result<Auth<'a>, ParseError>> + '_ {
        self.headers_of(kind)
            .map(move |h| Auth::parse_at(&mut self.cursor(&h)))
    }
}

fn finish_entry(
    buf: &[u8],
    headers: &mut HeaderList,
    content_length: &mut Option<usize>,
) -> Result<(), ParseError> {
    let Some(e) = headers.last_mut() else {
        return Ok(());
    };
    let vs = e.value_start as usize;
    let raw = buf.get(vs..vs + e.value_len as usize).unwrap_or(&[]);
    let lead = raw.iter().take_while(|&&b| lex::is_lws(b)).count();
    let trimmed = lex::trim_lws(raw);
    e.value_start = (vs + lead) as u32;
    e.value_len = trimmed.len() as u32;
    if e.kind == HeaderName::ContentLength {
        let offset = vs + lead;
        let v = parse_content_length(trimmed, offset)?;
        match *content_length {
            Some(prev) if prev != v => {
                return Err(ParseError::Header {
                    name: "Content-Length",
                    offset,
                    reason: "conflicting Content-Length values",
                });
            }
            _ => *content_length = Some(v),
        }
    }
    Ok(())
}

/// Frame a message on a stream transport (RFC 3261 §18.3).
///
/// Returns `Ok(None)` while more bytes are needed, `Ok(Some(n))` when the
/// first `n` bytes of `buf` hold one complete message, *including* any
/// leading CRLF keep-alives (which [`Message::parse`] skips). A buffer of
/// only CR/LF bytes returns `Ok(None)`: consume those with
/// [`leading_keepalive`] (and answer a double-CRLF ping with a CRLF pong,
/// RFC 5626 §3.5.1). A header section without Content-Length is
/// [`ParseError::MissingContentLength`]; one longer than `max_header`
/// bytes without an end is [`ParseError::TooLarge`].
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, ParseError> {
    frame_len_limited(buf, 64 * 1024)
}

/// [`frame_len`] with an explicit header-section size limit.
pub fn frame_len_limited(buf: &[u8], max_header: usize) -> Result<Option<usize>, ParseError> {
    let start = leading_keepalive(buf);
    let mut pos = start;
    let mut cl: Option<usize> = None;
    // Byte range of a Content-Length value being collected (it may be
    // folded onto continuation lines).
    let mut pending: Option<(usize, usize)> = None;
    let mut first = true;
    let settle = |pending: &mut Option<(usize, usize)>, cl: &mut Option<usize>| {
        let Some((s, e)) = pending.take() else {
            return Ok(());
        };
        let raw = buf.get(s..e).unwrap_or(&[]);
        let lead = raw.iter().take_while(|&&b| lex::is_lws(b)).count();
        let v = parse_content_length(lex::trim_lws(raw), s + lead)?;
        if cl.is_some_and(|p| p != v) {
            return Err(ParseError::Header {
                name: "Content-Length",
                offset: s + lead,
                reason: "conflicting Content-Length values",
            });
        }
        *cl = Some(v);
        Ok(())
    };
    loop {
        let Some(lf) = find_lf(buf, pos) else {
            if buf.len() - start > max_header {
                return Err(ParseError::TooLarge { limit: max_header });
            }
            return Ok(None);
        };
        if lf - start > max_header {
            return Err(ParseError::TooLarge { limit: max_header });
        }
        let content_end = if lf > pos && buf.get(lf - 1) == Some(&b'\r') {
            lf - 1
        } else {
            lf
        };
        let line = buf.get(pos..content_end).unwrap_or(&[]);
        let continuation = matches!(line.first(), Some(b' ' | b'\t'));
        if !continuation {
            settle(&mut pending, &mut cl)?;
        }
        if content_end == pos && !first {
            let body_start = lf + 1;
            let cl = cl.ok_or(ParseError::MissingContentLength)?;
            let total = body_start
                .checked_add(cl)
                .ok_or(ParseError::TooLarge { limit: usize::MAX })?;
            return Ok(if buf.len() >= total {
                Some(total)
            } else {
                None
            });
        }
        if !first {
            if continuation {
                if let Some((_, e)) = pending.as_mut() {
                    *e = content_end;
                }
            } else {
                let name_len = line.iter().take_while(|&&b| lex::is_token(b)).count();
                let name = line.get(..name_len).unwrap_or(&[]);
                if HeaderName::from_bytes(name) == HeaderName::ContentLength
                    && let Some(c) = line.iter().position(|&b| b == b':')
                {
                    pending = Some((pos + c + 1, content_end));
                }
            }
        }
        first = false;
        pos = lf + 1;
    }
}
