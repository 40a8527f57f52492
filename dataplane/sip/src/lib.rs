//! ferrovox-sip: a sans-IO, zero-copy SIP message parser and in-place
//! rewriter (RFC 3261).
//!
//! - [`Message::parse`] splits a datagram (or a stream frame cut by
//!   [`frame_len`]) into start line, header index and body, borrowing the
//!   input. Only the start line and Content-Length are interpreted eagerly.
//! - Typed header access is lazy ([`Message::vias`], [`Message::from`],
//!   [`Message::cseq`], ... and the types in [`header`]).
//! - [`validate`] performs the checks a proxy needs before acting
//!   (RFC 3261 §8.2, §16.3).
//! - [`rewrite`] produces forwarded requests/responses into a reusable
//!   buffer, copying untouched spans verbatim.
//! - [`build`] writes responses to a request (stateless 100/400/483...).
//! - [`transaction`] is the sans-IO transaction layer (RFC 3261 §17,
//!   RFC 6026): matching, the four state machines, one timer heap.
//!
//! No sockets, clocks, threads or async; no panics on input. The parser
//! is written by hand for this product's hot path.
//!
//! A stateless proxy hop, end to end:
//!
//! ```
//! use ferrovox_sip::build::ResponseBuilder;
//! use ferrovox_sip::rewrite::{RequestEdits, rewrite_request, stateless_branch};
//! use ferrovox_sip::validate::validate_request;
//! use ferrovox_sip::Message;
//!
//! let wire = b"INVITE sip:bob@example.com SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK776\r\n\
//! Max-Forwards: 70\r\n\
//! To: <sip:bob@example.com>\r\n\
//! From: Alice <sip:alice@example.com>;tag=1928\r\n\
//! Call-ID: a84b4c76e66710\r\n\
//! CSeq: 1 INVITE\r\n\
//! Content-Length: 0\r\n\r\n";
//! let mut out = Vec::with_capacity(2048); // reused for every message
//! let msg = Message::parse(wire)?;
//! let info = match validate_request(&msg) {
//!     Ok(info) => info,
//!     Err(e) => {
//!         // Stateless error response, e.g. 400 naming the bad header.
//!         ResponseBuilder::new(e.status_code(), e.reason_phrase().as_bytes())
//!             .to_tag(b"f3rr0")
//!             .write(&msg, &mut out)?;
//!         return Ok(());
//!     }
//! };
//! assert_eq!(info.top_via.branch, Some(&b"z9hG4bK776"[..]));
//! assert_eq!(info.from.tag(), Some(&b"1928"[..]));
//! let branch = stateless_branch(&msg, 0x5eed)?;
//! let mut via = b"SIP/2.0/UDP 203.0.113.1;branch=".to_vec();
//! via.extend_from_slice(&branch);
//! let edits = RequestEdits {
//!     via: Some(&via),
//!     record_route: Some(b"<sip:203.0.113.1;lr>"),
//!     decrement_max_forwards: true,
//!     ..RequestEdits::default()
//! };
//! rewrite_request(&msg, &edits, &mut out)?;
//! let fwd = Message::parse(&out)?;
//! assert_eq!(fwd.max_forwards()?, Some(69));
//! assert_eq!(fwd.vias().count(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod build;
pub mod error;
pub mod header;
pub mod parse;
pub mod rewrite;
pub mod transaction;
pub mod validate;

pub use error::{ParseError, Result};
pub use header::{
    ValueIter,
    auth::{Auth, AuthParam},
    cseq::CSeq,
    name_addr::{Contact, NameAddr},
    params::{Param, Params},
    simple::{parse_call_id, parse_max_forwards},
    via::Via,
};
pub use parse::header::{Header, HeaderName};
pub use parse::host::Host;
pub use parse::lex::{Unfolded, pct_decode, unescape_quoted};
pub use parse::message::{
    Message, RequestLine, StartLine, StatusLine, frame_len, frame_len_limited, leading_keepalive,
};
pub use parse::method::Method;
pub use parse::uri::{SipUri, Uri, UriParams};
pub use rewrite::RewriteError;

/// Entry point for fuzzers (`cargo fuzz` target body): parses `data` and
/// exercises every typed accessor, validation, the rewriter and the
/// response builder. Must never panic.
pub fn fuzz_parse(data: &[u8]) {
    let _ = frame_len(data);
    let Ok(msg) = Message::parse(data) else {
        return;
    };
    for h in msg.headers() {
        let mut v = Vec::new();
        h.unfolded().write_to(&mut v);
    }
    for v in msg.vias() {
        let _ = v;
    }
    for c in msg.contacts() {
        let _ = c;
    }
    for r in msg.routes().chain(msg.record_routes()) {
        let _ = r;
    }
    for kind in [
        HeaderName::Authorization,
        HeaderName::ProxyAuthorization,
        HeaderName::WwwAuthenticate,
        HeaderName::ProxyAuthenticate,
    ] {
        for a in msg.auth(kind).flatten() {
            for p in a.params() {
                let _ = p.unescaped();
            }
        }
    }
    let _ = (
        msg.from(),
        msg.to(),
        msg.call_id(),
        msg.cseq(),
        msg.max_forwards(),
    );
    let mut out = Vec::new();
    if msg.is_request() {
        let _ = validate::validate_request(&msg);
        let edits = rewrite::RequestEdits {
            via: Some(b"SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKfuzz"),
            record_route: Some(b"<sip:192.0.2.1;lr>"),
            decrement_max_forwards: true,
            remove_top_route: true,
            request_uri: Some(b"sip:target@192.0.2.2"),
            body: None,
        };
        if rewrite::rewrite_request(&msg, &edits, &mut out).is_ok() {
            let _ = Message::parse(&out);
        }
        let _ = build::ResponseBuilder::new(400, b"Bad Request")
            .to_tag(b"fuzz")
            .write(&msg, &mut out);
    } else {
        let _ = validate::validate_response(&msg);
        let _ = rewrite::rewrite_response(&msg, &rewrite::ResponseEdits::default(), &mut out);
    }
}
