//! ferrovox-rtpgen: an RTP load generator that sets calls up over rtpengine's ng protocol
//! (so it drives ferrovox's media node, rtpengine and the floor relay alike), and the relay
//! capacity runner built on it.
//!
//! - [`session::run`] — one generator session: `offer`/`answer` per call ([`ng`]), latching
//!   warm-up, paced RTP from several sender threads with `sendmmsg` ([`sender`]), `recvmmsg`
//!   receivers on `epoll` checking SSRC, sequence, timestamp, loss, duplicates, reordering and
//!   RFC 3550 jitter per flow ([`receiver`], [`stats`]), then `delete`; returns a
//!   [`session::SessionReport`] including the generator's own CPU and, optionally, the relay's.
//! - [`capacity::run`] — every SUT ([`sut`]) at every rate, CPU per relayed packet from
//!   `/proc` (`ferrovox_testkit::cpu`), a markdown table with ratios to rtpengine and to the floor, and the
//!   highest loss-free rate per SUT.
//! - [`transcode::run`] — a transcoding session: A speaks PCMU only, B Opus only (ng `codec`
//!   strip/transcode), both directions checked for codec, sequence and loss; the relay's CPU per
//!   transcoded call. [`capacity::run_transcoding`] runs it for every SUT at every call count.
//! - [`floor`] — the minimal recvmmsg/sendmmsg relay (`rtp-floor` binary) that answers a
//!   minimal ng itself.
//! - [`bencode`], [`rtp`], [`flow`], [`sys`] — the pieces: bencode, RTP header and probe,
//!   flow table and pacing phases, Linux syscall wrappers.
//!
//! Deliberately not done: SRTP, RTCP, codecs other than PCMU and (transcoding runs) Opus, IPv6 media, io_uring, and
//! driving media through SIP (ng only).

pub mod bencode;
pub mod capacity;
pub mod floor;
pub mod flow;
pub mod ng;
pub mod receiver;
pub mod rtp;
pub mod sender;
pub mod session;
pub mod stats;
pub mod sut;
pub mod sys;
pub mod transcode;
