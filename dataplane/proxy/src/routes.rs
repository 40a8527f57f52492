//! Route pre-processing (RFC 3261 §16.4) and the next hop of a request
//! routed by its Route set (§16.6 steps 6–7, loose routing only).
//!
//! - A Request-URI that is a Record-Route URI this proxy inserted (an
//!   `lr` URI with no user part designating this proxy, arriving with a
//!   Route set — what a strict router upstream produces) is replaced by
//!   the last Route value, which is removed.
//! - Top Route values designating this proxy are removed (one for a single
//!   Record-Route, two for a double one).
//! - Max-Forwards above the configured limit is lowered to it.
//!
//! The common case (at most one Route of ours on top, Max-Forwards within
//! the limit) needs no extra pass: [`ferrovox_sip::rewrite::RequestEdits`]
//! removes the top Route while forwarding. Anything else is written once
//! into a fix-up buffer ([`write_fixup`]) and parsed again.
//!
//! Not done: strict-routing *towards* a next hop (§16.6 step 7: a Route
//! without `lr` is still used as a loose next hop), `maddr` handling in
//! the Request-URI (§16.5).

use crate::address::{Local, uri_peer};
use ferrovox_sip::transaction::Peer;
use ferrovox_sip::{HeaderName, Message, NameAddr, ParseError, Uri};

/// What §16.4 decided for a request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoutePrep<'a> {
    /// The request arrived with at least one Route value.
    pub had_routes: bool,
    /// Strict-router fix: the last Route value becomes the Request-URI.
    pub strict: Option<NameAddr<'a>>,
    /// Number of top Route values that designate this proxy (removed).
    pub strip: usize,
    /// The first Route value left after the removals.
    pub next_route: Option<NameAddr<'a>>,
    /// Route values left (after strip and the strict fix).
    pub remaining: usize,
    /// Max-Forwards to write instead of the received (too high) one.
    pub lower_max_forwards: Option<u8>,
}

impl RoutePrep<'_> {
    /// Whether the request must be rewritten before forwarding.
    pub fn needs_fixup(&self) -> bool {
        self.strict.is_some() || self.strip > 1 || self.lower_max_forwards.is_some()
    }

    /// Whether the single-pass rewrite removes the top Route.
    pub fn single_pass_strip(&self) -> bool {
        !self.needs_fixup() && self.strip == 1
    }

    /// Where the first remaining Route value points (IP literals only).
    pub fn route_dest(&self) -> Option<Peer> {
        self.next_route
            .and_then(|r| r.uri.as_sip().and_then(uri_peer))
    }
}

fn is_local(local: &Local, na: &NameAddr<'_>) -> bool {
    na.uri.as_sip().is_some_and(|u| local.is_local_uri(u))
}

/// Run §16.4 on `msg`. `max_forwards` is what validation read; `limit`
/// the configured maximum.
pub(crate) fn prepare<'a>(
    local: &Local,
    msg: &Message<'a>,
    max_forwards: Option<u8>,
    limit: u32,
) -> Result<RoutePrep<'a>, ParseError> {
    // The first three values and the last one are all §16.4 needs.
    let mut first: [Option<NameAddr<'a>>; 3] = [None; 3];
    let mut last = None;
    let mut n = 0usize;
    for r in msg.routes() {
        let r = r?;
        if let Some(slot) = first.get_mut(n) {
            *slot = Some(r);
        }
        last = Some(r);
        n += 1;
    }
    let strict = match (msg.request_uri(), last) {
        (Some(Uri::Sip(u)), Some(l)) if u.user.is_none() && u.lr() && local.is_local_uri(u) => {
            Some(l)
        }
        _ => None,
    };
    let usable = if strict.is_some() { n - 1 } else { n };
    let mut strip = 0;
    while strip < usable.min(2)
        && first
            .get(strip)
            .copied()
            .flatten()
            .is_some_and(|r| is_local(local, &r))
    {
        strip += 1;
    }
    let next_route = if strip < usable {
        first.get(strip).copied().flatten()
    } else {
        None
    };
    let lower_max_forwards = match max_forwards {
        Some(mf) if u32::from(mf) > limit => Some(u8::try_from(limit).unwrap_or(u8::MAX)),
        _ => None,
    };
    Ok(RoutePrep {
        had_routes: n > 0,
        strict,
        strip,
        next_route,
        remaining: usable - strip,
        lower_max_forwards,
    })
}

fn push_num(out: &mut Vec<u8>, n: u8) {
    use std::io::Write;
    let _ = write!(out, "{n}");
}

/// Write `msg` with the §16.4 decisions applied into `out` (cleared
/// first): the new Request-URI, one Route line holding the values left
/// (where the first Route line was), the lowered Max-Forwards. Everything
/// else is copied verbatim.
pub(crate) fn write_fixup(msg: &Message<'_>, prep: &RoutePrep<'_>, out: &mut Vec<u8>) {
    out.clear();
    let buf = msg.buffer();
    let Some(rl) = msg.request_line() else {
        return;
    };
    let start = ferrovox_sip::leading_keepalive(buf);
    let headers_start = msg
        .headers()
        .next()
        .map_or(msg.headers_end(), |h| h.line.start);
    out.extend_from_slice(buf.get(start..rl.uri_range.start).unwrap_or(&[]));
    match &prep.strict {
        Some(s) => out.extend_from_slice(s.uri_raw),
        None => out.extend_from_slice(rl.uri_raw),
    }
    out.extend_from_slice(buf.get(rl.uri_range.end..headers_start).unwrap_or(&[]));
    let mut routes_written = false;
    for h in msg.headers() {
        match h.kind {
            HeaderName::Route => {
                if routes_written {
                    continue;
                }
                routes_written = true;
                if prep.remaining == 0 {
                    continue;
                }
                out.extend_from_slice(b"Route: ");
                let keep = msg.routes().flatten().skip(prep.strip).take(prep.remaining);
                for (i, r) in keep.enumerate() {
                    if i > 0 {
                        out.extend_from_slice(b", ");
                    }
                    out.extend_from_slice(r.raw);
                }
                out.extend_from_slice(b"\r\n");
            }
            HeaderName::MaxForwards if prep.lower_max_forwards.is_some() => {
                out.extend_from_slice(b"Max-Forwards: ");
                push_num(out, prep.lower_max_forwards.unwrap_or(70));
                out.extend_from_slice(b"\r\n");
            }
            _ => {
                let end = h.value_offset + h.value.len();
                out.extend_from_slice(buf.get(h.line.start..end).unwrap_or(&[]));
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(buf.get(msg.headers_end()..msg.consumed()).unwrap_or(&[]));
}
