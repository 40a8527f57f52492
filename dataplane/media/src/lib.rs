//! ferrovox-media: the sans-IO RTP/RTCP relay core.
//!
//! Bytes, the source address and `now: Instant` go in; actions and events
//! come out. No sockets, clocks, threads or async: the IO runtime owns the
//! sockets (one per local port) and the clock, the ng control handlers
//! (`offer`/`answer`/`delete`) own the signalling state.
//!
//! - [`rtp`]: zero-copy RTP fixed-header view (RFC 3550 §5.1) and in-place
//!   rewrite of SSRC/sequence/timestamp/payload type.
//! - [`rtcp`]: RTCP compound walk with length validation, SR/RR report
//!   blocks, SDES, BYE (RFC 3550 §6).
//! - [`demux`]: RTP/RTCP demultiplexing on one port (RFC 5761 §4) and
//!   STUN/DTLS recognition (RFC 7983).
//! - [`ports`]: even/odd port-pair allocator with a free list.
//! - [`dtmf`]: RFC 4733 telephone-event payload and de-duplication.
//! - [`relay`]: calls, legs and streams; the port-indexed forwarding
//!   table; symmetric latching with hijack protection; SSRC/seq/timestamp
//!   continuity; timeouts; counters; events; per-side SRTP
//!   ([`Relay::set_srtp`]): SRTP↔RTP and SRTP↔SRTP with different keys;
//!   per-direction transcoding ([`Relay::set_transcode`]) when the two
//!   sides share no codec, drained with [`Relay::poll_transmit`].
//! - [`transcode`]: the per-direction transcoding pipeline (codecs crate's
//!   transcoder) with its own SSRC/sequence/timestamp continuity.
//! - [`srtp`]: SDES-keyed SRTP/SRTCP (RFC 3711, RFC 4568),
//!   `AES_CM_128_HMAC_SHA1_80` and `_32`, on the `rtc-srtp` crate.
//!
//! The packet parsers are written by hand, without an RTP crate: this is
//! the per-packet hot path, and owning it keeps it allocation-free,
//! panic-free on any input and down to a few loads and stores per packet.
//! SRTP's cryptography is not written here (see [`srtp`]).
//!
//! Driving it, from signalling and from the IO loop:
//!
//! ```
//! use ferrovox_media::relay::{Action, Relay, RelayConfig, StreamOptions};
//! use std::time::Instant;
//!
//! let now = Instant::now();
//! let mut relay = Relay::new(RelayConfig { port_min: 40000, port_max: 40099, ..Default::default() })?;
//! // ng `offer`: a call, a leg per endpoint, a stream per m= line.
//! let call = relay.create_call(now);
//! let (caller, callee) = (relay.add_leg(call)?, relay.add_leg(call)?);
//! let offer = StreamOptions { remote_rtp: Some("192.0.2.10:5004".parse()?), ..Default::default() };
//! let a = relay.add_stream(caller, offer, now)?;
//! let b = relay.add_stream(callee, StreamOptions::default(), now)?;
//! relay.connect(a, b)?;
//! // The offer forwarded to the callee carries b's ports; the answer
//! // returned to the caller carries a's ports.
//! let b_ports = relay.local_ports(b)?;
//! // ng `answer`: the callee's address.
//! relay.set_remote(b, Some("198.51.100.20:6000".parse()?), None)?;
//! // IO loop: a datagram from the callee arrived on b's RTP port.
//! let mut buf = [0u8; 172];
//! buf[0] = 0x80;
//! match relay.handle_packet(b_ports.rtp, "198.51.100.20:6000".parse()?, &mut buf, now) {
//!     Action::Forward { from_port, to, len } => {
//!         assert_eq!(from_port, relay.local_ports(a)?.rtp);
//!         assert_eq!(to, "192.0.2.10:5004".parse()?);
//!         assert_eq!(len, 172); // send buf[..len] from from_port to `to`
//!     }
//!     Action::Drop(reason) => panic!("{reason:?}"),
//!     Action::Consumed { .. } => unreachable!("no transcoding on this call"),
//! }
//! // Timers: sleep until relay.poll_timeout(), call handle_timeout(now),
//! // drain poll_event(). ng `delete`:
//! relay.delete_call(call)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod demux;
pub mod dtmf;
pub mod ports;
pub mod relay;
pub mod rtcp;
pub mod rtp;
pub mod srtp;
pub mod transcode;

pub use relay::{
    Action, CallId, DropCounts, DropReason, Event, LegId, Relay, RelayConfig, RelayCounters,
    RelayError, SrtpKeys, StreamId, StreamOptions, StreamStats, Transmit,
};
pub use srtp::{SRTP_MAX_OVERHEAD, SrtpError, SrtpKey, SrtpSuite};
pub use transcode::{TranscodeSpec, TranscodeStats};
