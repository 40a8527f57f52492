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
//! ```
//! use std::net::IpAddr;
//! use ferrovox_sdp::SessionDescription;
//! use ferrovox_sdp::rewrite::{AddressRewrite, rewrite_addresses};
//!
//! let offer = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\n\
//! t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
//! let mut sdp = SessionDescription::parse(offer.as_bytes())?;
//! let relay: IpAddr = "203.0.113.5".parse().unwrap();
//! rewrite_addresses(&mut sdp, &AddressRewrite::all(relay));
//! sdp.media[0].port = 30000;
//! assert!(sdp.to_string().contains("c=IN IP4 203.0.113.5\r\n"));
//! assert!(sdp.to_string().contains("m=audio 30000 RTP/AVP 0\r\n"));
//! # Ok::<(), ferrovox_sdp::ParseError>(())
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
