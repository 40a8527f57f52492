//! ferrovox-sdp: a sans-IO SDP library for the media relay.
//!
//! - [`SessionDescription::parse`] reads RFC 4566 / RFC 8866 descriptions
//!   into an owned [`model`] with typed [`attribute`]s (rtpmap, fmtp,
//!   direction, rtcp, ICE, SDES [`crypto`], DTLS setup/fingerprint, ssrc,
//!   BUNDLE) and keeps everything else verbatim, in order.
//! - [`write`]: `Display` / [`SessionDescription::to_bytes`] produce
//!   canonical CRLF text; parse → write → parse is the identity on the
//!   model.
//! - [`rewrite`]: what an anchoring relay does to an offer or answer
//!   (addresses, ports, rtcp, ICE and SDES removal, RTP/AVP ↔ RTP/SAVP,
//!   direction, rtcp-mux), [`codec`] manipulation (strip, add, mask) and
//!   [`origin::OriginTracker`] for `o=` versioning (RFC 3264 §8).
//! - [`offer_answer`]: RFC 3264 answer checks, codec negotiation and the
//!   "do these two legs share a codec" decision.
//!
//! No sockets, clocks, threads or async; errors are values; nothing panics
//! on input.
//!
//! An rtpengine-style `offer` toward the callee, then the `answer` back:
//!
//! ```
//! use std::net::IpAddr;
//! use ferrovox_sdp::SessionDescription;
//! use ferrovox_sdp::codec::{CodecSelector, strip_codecs};
//! use ferrovox_sdp::offer_answer::check_answer;
//! use ferrovox_sdp::origin::{OriginTracker, Side};
//! use ferrovox_sdp::rewrite::{
//!     AddressRewrite, RtcpEndpoint, remove_ice, rewrite_addresses, set_media_endpoint,
//! };
//!
//! let offer = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\n\
//! t=0 0\r\nm=audio 4000 RTP/AVP 0 18 101\r\na=rtpmap:101 telephone-event/8000\r\n\
//! a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijkl\r\n";
//! let relay: IpAddr = "203.0.113.5".parse()?;
//! let mut origins = OriginTracker::new(); // stored with the call
//!
//! // Offer: parse, anchor, filter, stamp, write.
//! let received = SessionDescription::parse(offer.as_bytes())?;
//! let mut out = received.clone();
//! rewrite_addresses(&mut out, &AddressRewrite::all(relay));
//! remove_ice(&mut out);
//! set_media_endpoint(&mut out.media[0], relay, 30000, RtcpEndpoint::Separate { port: 30001 });
//! strip_codecs(&mut out.media[0], CodecSelector::Names(&["G729"]));
//! origins.stamp(Side::Callee, &mut out);
//! let body = out.to_string();
//! assert!(body.contains("c=IN IP4 203.0.113.5\r\n"));
//! assert!(body.contains("m=audio 30000 RTP/AVP 0 101\r\n"));
//! assert!(body.contains("a=rtcp:30001 IN IP4 203.0.113.5\r\n"));
//! assert!(!body.contains("a=ice-"));
//!
//! // Answer from the callee: check it against what we sent.
//! let answer = "v=0\r\no=- 9 9 IN IP4 10.9.9.9\r\ns=-\r\nc=IN IP4 10.9.9.9\r\nt=0 0\r\n\
//! m=audio 5000 RTP/AVP 0\r\n";
//! let answer = SessionDescription::parse(answer.as_bytes())?;
//! let streams = check_answer(&out, &answer)?;
//! assert_eq!(streams[0].codecs()[0].encoding, "PCMU");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod attribute;
pub mod codec;
pub mod crypto;
pub mod error;
mod lex;
pub mod model;
pub mod offer_answer;
pub mod origin;
pub mod parse;
pub mod rewrite;
pub mod write;

pub use attribute::{Attribute, Direction};
pub use error::{ErrorKind, ParseError, RewriteError};
pub use model::{Connection, MediaDescription, Origin, SessionDescription};
