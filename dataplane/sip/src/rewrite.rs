//! Forwarding rewrites without re-serialising untouched headers
//! (RFC 3261 §16.6 request forwarding, §16.7 response processing,
//! §18.2.1 received, RFC 3581 rport).
//!
//! The output is assembled into a caller-provided `Vec<u8>` (cleared, then
//! reused across messages so the steady state does not allocate). A small
//! fixed list of splices (byte range → replacement) is built from the
//! parsed message, sorted, and the bytes between splices are copied with
//! one `extend_from_slice` each. New header lines (Via, Record-Route,
//! Max-Forwards, Content-Length, Content-Type when absent) are written right
//! after the start line, so they precede every existing header of the same
//! name, as §16.6 steps 4 and 8 require.
//!
//! Request edits ([`RequestEdits`]): replace the Request-URI, prepend a
//! Via, insert a Record-Route, decrement Max-Forwards (insert
//! `Max-Forwards: 70` when absent; refuse with [`RewriteError::TooManyHops`]
//! at 0), remove the top Route value (the caller decides whether it points
//! at this proxy, §16.4), stamp `received`/`rport` on the previous top Via,
//! replace the body with Content-Length (and optionally Content-Type)
//! adjusted. Content-Length is always present in the output.
//!
//! Response edits ([`ResponseEdits`]): remove the top Via value (the whole
//! line when it holds one value), replace the body.
//!
//! Bytes after the message (RFC 4475 `dblreq`) are not copied. Not
//! implemented: strict-routing fix-ups (§16.4 / §16.6 step 6), Path, SDP
//! rewriting (a caller passes the new body).
//!
//! [`stateless_branch`] computes a deterministic branch for a stateless
//! proxy (§16.11).

use crate::error::ParseError;
use crate::header::name_addr::NameAddr;
use crate::header::via::Via;
use crate::parse::header::{Entry, HeaderName};
use crate::parse::lex::Cursor;
use crate::parse::message::Message;
use thiserror::Error;

/// Why a rewrite could not be done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RewriteError {
    /// A header the rewrite needs is malformed or missing.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Max-Forwards is already 0: answer 483 Too Many Hops (§16.3 step 3).
    #[error("Max-Forwards is 0; answer 483 Too Many Hops")]
    TooManyHops,
    /// The edit needs a request (or a response) and got the other kind.
    #[error("wrong kind of message for this edit: expected a {expected}")]
    WrongKind {
        /// "request" or "response".
        expected: &'static str,
    },
    /// A value supplied by the caller would break the message framing.
    #[error("caller-supplied {what} contains CR, LF or NUL")]
    InvalidValue {
        /// Which value.
        what: &'static str,
    },
}

/// A replacement body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Body<'x> {
    /// New Content-Type value; `None` keeps the existing header.
    pub content_type: Option<&'x [u8]>,
    /// New body bytes.
    pub bytes: &'x [u8],
}

/// Where a request came from, to stamp on its top Via (§18.2.1, RFC 3581).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source<'x> {
    /// Source IP address as text (IPv6 without brackets).
    pub ip: &'x [u8],
    /// Source port.
    pub port: u16,
}

/// Edits applied when forwarding a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestEdits<'x> {
    /// via-parm of the new top Via (e.g. `SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK..`).
    pub via: Option<&'x [u8]>,
    /// Record-Route value (e.g. `<sip:192.0.2.1;lr>`).
    pub record_route: Option<&'x [u8]>,
    /// Decrement Max-Forwards, inserting `Max-Forwards: 70` if absent.
    pub decrement_max_forwards: bool,
    /// Remove the topmost Route value.
    pub remove_top_route: bool,
    /// New Request-URI.
    pub request_uri: Option<&'x [u8]>,
    /// New body.
    pub body: Option<Body<'x>>,
}

/// Edits applied when forwarding a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseEdits<'x> {
    /// Remove the topmost Via value (the proxy's own, §16.7 step 3).
    pub remove_top_via: bool,
    /// New body.
    pub body: Option<Body<'x>>,
}

impl Default for ResponseEdits<'_> {
    fn default() -> Self {
        ResponseEdits {
            remove_top_via: true,
            body: None,
        }
    }
}

#[derive(Clone, Copy)]
enum Repl<'x> {
    Nothing,
    Bytes(&'x [u8]),
    Num(usize),
    /// `=port` after a valueless rport, or `;received=ip`.
    Prefixed(&'static [u8], &'x [u8]),
    TopInsert,
}

#[derive(Clone, Copy)]
struct Splice<'x> {
    start: usize,
    end: usize,
    repl: Repl<'x>,
}

const MAX_SPLICES: usize = 16;

struct Splices<'x> {
    items: [Splice<'x>; MAX_SPLICES],
    len: usize,
}

impl<'x> Splices<'x> {
    fn new() -> Self {
        Splices {
            items: [Splice {
                start: 0,
                end: 0,
                repl: Repl::Nothing,
            }; MAX_SPLICES],
            len: 0,
        }
    }
    fn push(&mut self, start: usize, end: usize, repl: Repl<'x>) {
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = Splice { start, end, repl };
            self.len += 1;
        }
    }
    fn sorted(&mut self) -> &[Splice<'x>] {
        let items = self.items.get_mut(..self.len).unwrap_or(&mut []);
        // Stable insertion sort: a handful of items.
        for i in 1..items.len() {
            let mut j = i;
            while j > 0 && items[j - 1].start > items[j].start {
                items.swap(j - 1, j);
                j -= 1;
            }
        }
        items
    }
}

fn check_value(v: &[u8], what: &'static str) -> Result<(), RewriteError> {
    if v.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
        Err(RewriteError::InvalidValue { what })
    } else {
        Ok(())
    }
}

pub(crate) fn write_num(out: &mut Vec<u8>, mut n: usize) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        if let Some(slot) = tmp.get_mut(i) {
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.extend_from_slice(tmp.get(i..).unwrap_or(&[]));
}

fn port_digits(mut port: u16, buf: &mut [u8; 5]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(slot) = buf.get_mut(i) {
            *slot = b'0' + (port % 10) as u8;
        }
        port /= 10;
        if port == 0 || i == 0 {
            break;
        }
    }
    buf.get(i..).unwrap_or(&[])
}

fn write_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Range to delete to drop the first value of a list header whose value
/// starts at `e`, given the cursor just after that first value.
fn first_value_removal(e: &Entry, cur: &mut Cursor<'_>) -> (usize, usize) {
    cur.skip_lws();
    if cur.peek() == Some(b',') {
        cur.bump();
        cur.skip_lws();
        (e.value_start as usize, cur.base + cur.pos)
    } else {
        (e.line_start as usize, e.line_end as usize)
    }
}

fn first_entry(msg: &Message<'_>, kind: HeaderName) -> Option<Entry> {
    msg.entries().iter().find(|e| e.kind == kind).copied()
}

fn cursor_for<'a>(msg: &Message<'a>, e: &Entry) -> Cursor<'a> {
    let h = msg.view(e);
    Cursor::new(h.value, h.value_offset, e.kind.as_str())
}

fn body_splices<'x>(
    msg: &Message<'_>,
    body: &Body<'x>,
    sp: &mut Splices<'x>,
) -> Result<(), RewriteError> {
    if let Some(ct) = body.content_type {
        check_value(ct, "Content-Type")?;
        if let Some(e) = first_entry(msg, HeaderName::ContentType) {
            let s = e.value_start as usize;
            sp.push(s, s + e.value_len as usize, Repl::Bytes(ct));
        }
    }
    for e in msg
        .entries()
        .iter()
        .filter(|e| e.kind == HeaderName::ContentLength)
    {
        let s = e.value_start as usize;
        sp.push(s, s + e.value_len as usize, Repl::Num(body.bytes.len()));
    }
    let r = msg.body_range();
    sp.push(r.start, r.end, Repl::Bytes(body.bytes));
    Ok(())
}

fn offset_in(buf: &[u8], sub: &[u8]) -> usize {
    (sub.as_ptr() as usize).saturating_sub(buf.as_ptr() as usize)
}

/// Splices stamping `received`/`rport` on the top Via (which starts at
/// entry `e`), following §18.2.1 and RFC 3581 §4.
fn source_splices<'x>(
    msg: &Message<'_>,
    via: &Via<'_>,
    src: &Source<'x>,
    port_text: &'x [u8],
    sp: &mut Splices<'x>,
) {
    let buf = msg.buffer();
    let via_end = offset_in(buf, via.raw) + via.raw.len();
    let host_matches = crate::parse::lex::strip_brackets(via.host_raw) == src.ip;
    // rport's value first: when a valueless rport ends the Via, both edits land at the same
    // offset and `;received=` must follow `rport=port`, not split it.
    if via.rport == Some(None)
        && let Some(p) = via
            .params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(b"rport"))
    {
        let at = offset_in(buf, p.name) + p.name.len();
        sp.push(at, at, Repl::Prefixed(b"=", port_text));
    }
    if via.received.is_none() && (!host_matches || via.rport.is_some()) {
        sp.push(via_end, via_end, Repl::Prefixed(b";received=", src.ip));
    }
}

fn emit(msg: &Message<'_>, splices: &[Splice<'_>], top: &dyn Fn(&mut Vec<u8>), out: &mut Vec<u8>) {
    let buf = msg.buffer();
    let end = msg.consumed();
    let mut pos = msg.start_offset();
    for s in splices {
        if s.start < pos {
            continue; // overlapping edit (cannot happen with valid input)
        }
        out.extend_from_slice(buf.get(pos..s.start).unwrap_or(&[]));
        match s.repl {
            Repl::Nothing => {}
            Repl::Bytes(b) => out.extend_from_slice(b),
            Repl::Num(n) => write_num(out, n),
            Repl::Prefixed(p, b) => {
                out.extend_from_slice(p);
                out.extend_from_slice(b);
            }
            Repl::TopInsert => top(out),
        }
        pos = s.end;
    }
    out.extend_from_slice(buf.get(pos..end).unwrap_or(&[]));
}

/// Forward a request: apply `edits` to `msg` and write the result into
/// `out` (cleared first). `source`, when given, stamps received/rport on
/// the request's top Via before the new Via is prepended.
pub fn rewrite_request_from(
    msg: &Message<'_>,
    edits: &RequestEdits<'_>,
    source: Option<Source<'_>>,
    out: &mut Vec<u8>,
) -> Result<(), RewriteError> {
    let rl = msg.request_line().ok_or(RewriteError::WrongKind {
        expected: "request",
    })?;
    out.clear();
    let mut sp = Splices::new();
    let mut port_buf = [0u8; 5];
    let port_text;
    if let Some(uri) = edits.request_uri {
        check_value(uri, "Request-URI")?;
        if uri.is_empty() || uri.contains(&b' ') {
            return Err(RewriteError::InvalidValue {
                what: "Request-URI",
            });
        }
        sp.push(rl.uri_range.start, rl.uri_range.end, Repl::Bytes(uri));
    }
    if let Some(v) = edits.via {
        check_value(v, "Via")?;
    }
    if let Some(v) = edits.record_route {
        check_value(v, "Record-Route")?;
    }
    let hs = msg.start_line_end();
    sp.push(hs, hs, Repl::TopInsert);

    let mut insert_mf = false;
    if edits.decrement_max_forwards {
        match first_entry(msg, HeaderName::MaxForwards) {
            None => insert_mf = true,
            Some(e) => {
                let mf = crate::header::simple::max_forwards(&mut cursor_for(msg, &e))?;
                if mf == 0 {
                    return Err(RewriteError::TooManyHops);
                }
                let s = e.value_start as usize;
                sp.push(s, s + e.value_len as usize, Repl::Num(usize::from(mf - 1)));
            }
        }
    }
    if edits.remove_top_route
        && let Some(e) = first_entry(msg, HeaderName::Route)
    {
        let mut cur = cursor_for(msg, &e);
        NameAddr::parse_at(&mut cur)?;
        let (s, t) = first_value_removal(&e, &mut cur);
        sp.push(s, t, Repl::Nothing);
    }
    if let Some(src) = source {
        check_value(src.ip, "source IP")?;
        port_text = port_digits(src.port, &mut port_buf);
        let via = msg.top_via()?;
        source_splices(msg, &via, &src, port_text, &mut sp);
    }
    let has_cl = msg.content_length().is_some();
    let has_ct = first_entry(msg, HeaderName::ContentType).is_some();
    if let Some(b) = &edits.body {
        body_splices(msg, b, &mut sp)?;
    }
    let body_len = edits.body.map_or(msg.body().len(), |b| b.bytes.len());
    let new_ct = edits.body.and_then(|b| b.content_type).filter(|_| !has_ct);

    out.reserve(msg.as_bytes().len() + 256);
    let top = |out: &mut Vec<u8>| {
        if let Some(v) = edits.via {
            write_header(out, b"Via", v);
        }
        if let Some(rr) = edits.record_route {
            write_header(out, b"Record-Route", rr);
        }
        if insert_mf {
            out.extend_from_slice(b"Max-Forwards: 70\r\n");
        }
        if let Some(ct) = new_ct {
            write_header(out, b"Content-Type", ct);
        }
        if !has_cl {
            out.extend_from_slice(b"Content-Length: ");
            write_num(out, body_len);
            out.extend_from_slice(b"\r\n");
        }
    };
    emit(msg, sp.sorted(), &top, out);
    Ok(())
}

/// [`rewrite_request_from`] without a source to stamp.
pub fn rewrite_request(
    msg: &Message<'_>,
    edits: &RequestEdits<'_>,
    out: &mut Vec<u8>,
) -> Result<(), RewriteError> {
    rewrite_request_from(msg, edits, None, out)
}

/// Forward a response: apply `edits` and write the result into `out`.
pub fn rewrite_response(
    msg: &Message<'_>,
    edits: &ResponseEdits<'_>,
    out: &mut Vec<u8>,
) -> Result<(), RewriteError> {
    if msg.is_request() {
        return Err(RewriteError::WrongKind {
            expected: "response",
        });
    }
    out.clear();
    let mut sp = Splices::new();
    let hs = msg.start_line_end();
    sp.push(hs, hs, Repl::TopInsert);
    if edits.remove_top_via {
        let e = first_entry(msg, HeaderName::Via).ok_or(ParseError::Missing { name: "Via" })?;
        let mut cur = cursor_for(msg, &e);
        Via::parse_at(&mut cur)?;
        let (s, t) = first_value_removal(&e, &mut cur);
        sp.push(s, t, Repl::Nothing);
    }
    let has_cl = msg.content_length().is_some();
    let has_ct = first_entry(msg, HeaderName::ContentType).is_some();
    if let Some(b) = &edits.body {
        body_splices(msg, b, &mut sp)?;
    }
    let body_len = edits.body.map_or(msg.body().len(), |b| b.bytes.len());
    let new_ct = edits.body.and_then(|b| b.content_type).filter(|_| !has_ct);
    let top = |out: &mut Vec<u8>| {
        if let Some(ct) = new_ct {
            write_header(out, b"Content-Type", ct);
        }
        if !has_cl {
            out.extend_from_slice(b"Content-Length: ");
            write_num(out, body_len);
            out.extend_from_slice(b"\r\n");
        }
    };
    out.reserve(msg.as_bytes().len() + 64);
    emit(msg, sp.sorted(), &top, out);
    Ok(())
}

/// A deterministic RFC 3261 branch for a stateless proxy (§16.11): the
/// magic cookie followed by 16 hex digits of a 64-bit FNV-1a hash of
/// `salt`, the top Via value as written (its branch and sent-by), the
/// Request-URI, Call-ID, CSeq number and From tag. Retransmissions get the
/// same branch; so do a CANCEL and the non-2xx ACK of an INVITE (the method
/// and To tag are left out on purpose), as §16.11 requires. `salt` should be
/// a per-instance secret so branches are not predictable.
pub fn stateless_branch(msg: &Message<'_>, salt: u64) -> Result<[u8; 23], ParseError> {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    fn feed(mut h: u64, bytes: &[u8]) -> u64 {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(PRIME);
        }
        // Field separator so ("ab","c") and ("a","bc") differ.
        (h ^ 0xff).wrapping_mul(PRIME)
    }
    let rl = msg.request_line().ok_or(ParseError::StartLine {
        offset: 0,
        reason: "expected a request",
    })?;
    let via = msg.top_via()?;
    let cseq = msg.cseq()?;
    let from = msg.from()?;
    let mut h = feed(OFFSET, &salt.to_le_bytes());
    h = feed(h, via.raw);
    h = feed(h, rl.uri_raw);
    h = feed(h, msg.call_id()?);
    h = feed(h, &cseq.seq.to_le_bytes());
    h = feed(h, from.tag().unwrap_or(&[]));
    let mut out = [0u8; 23];
    let (cookie, hex) = out.split_at_mut(7);
    cookie.copy_from_slice(crate::header::via::MAGIC_COOKIE);
    for (i, slot) in hex.iter_mut().enumerate() {
        let nibble = (h >> (60 - 4 * i)) & 0xf;
        *slot = b"0123456789abcdef"[nibble as usize];
    }
    Ok(out)
}
