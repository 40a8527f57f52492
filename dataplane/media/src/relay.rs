//! The relay core: calls, legs, streams, the port-indexed forwarding table,
//! latching, continuity, timers, counters and events.
//!
//! # Forwarding table
//!
//! Streams live in a `Vec` with one entry per port pair of the configured
//! range, allocated once in [`Relay::new`]. A datagram received on local
//! port `p` is looked up at index `(p - base) / 2` (odd ports are the RTCP
//! half of the pair), so deciding what to do with a packet is one indexed
//! load: the entry holds the receiving stream's latch and counters, and an
//! *egress* cache with the peer stream's destination addresses and local
//! ports (the socket to send from), kept up to date whenever the peer's
//! destination changes (signalling or latching), plus the rewrite state.
//!
//! # Memory
//!
//! The table costs one entry (about 670 bytes, plus an 8-byte SRTP slot)
//! per port pair of the range, paid once at [`Relay::new`] (10,000 ports:
//! 5,000 entries, about 3.4 MB). An SRTP stream adds its boxed contexts
//! (allocated when signalling installs keys, never per packet).
//! A call adds a 96-byte record, its stream-index `Vec` (4 bytes per
//! stream) and one 24-byte timer entry. Nothing is allocated per plain RTP
//! packet (SRTP costs one allocation per protect or unprotect, see
//! [`crate::srtp`]): events go to a queue preallocated to
//! [`RelayConfig::event_capacity`]; when it is full, DTMF events (the only
//! ones raised by packets) are dropped and counted, while timer events
//! still grow it.
//!
//! # Timers
//!
//! One binary heap for all calls holds at most one live entry per call: its
//! next check (final timeout, media timeout, one-way silence). Packets only
//! store their arrival time in the stream; checks read it when they fire,
//! so the packet path never touches the heap. A one-way silence whose peer
//! was itself silent at the last check is noticed up to one silence period
//! late (checks of a silent stream repeat every period).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::demux::{PacketClass, classify};
use crate::dtmf::{DtmfEvent, DtmfTracker, EventPayload};
use crate::ports::{PortAllocator, PortError, PortPair};
use crate::rtcp::{self, ReportBlock};
use crate::rtp::{RtpHeaderMut, RtpPacket, seq_newer, ts_newer};
use crate::srtp::{SrtpError, SrtpInbound, SrtpKey, SrtpOutbound};
use crate::transcode::{DirTranscoder, TranscodeSpec, TranscodeStats, TxDest, TxQueue};

const NONE: u32 = u32::MAX;
const NO_PT: u8 = 0xff;

/// Relay configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayConfig {
    /// Lowest local port (rounded up to even).
    pub port_min: u16,
    /// Highest local port.
    pub port_max: u16,
    /// Consecutive packets from one source that confirm (and lock) a
    /// learned source. 1 locks on the first packet.
    pub confirm_packets: u32,
    /// No RTP on any stream of a call for this long → [`Event::MediaTimeout`].
    pub media_timeout: Option<Duration>,
    /// Calls are deleted this long after creation → [`Event::FinalTimeout`].
    pub final_timeout: Option<Duration>,
    /// No RTP received on a stream for this long while its peer is
    /// receiving → [`Event::OneWaySilence`].
    pub silence_timeout: Option<Duration>,
    /// Events buffered before the queue is full (drain with
    /// [`Relay::poll_event`]); DTMF events beyond it are dropped and
    /// counted in [`RelayCounters::events_dropped`].
    pub event_capacity: usize,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            port_min: 30000,
            port_max: 39999,
            confirm_packets: 5,
            media_timeout: Some(Duration::from_secs(60)),
            final_timeout: Some(Duration::from_secs(4 * 3600)),
            silence_timeout: Some(Duration::from_secs(10)),
            event_capacity: 1024,
        }
    }
}

/// Opaque call handle (index + generation: never valid again once the call
/// is deleted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId {
    index: u32,
    gen_: u32,
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call#{}.{}", self.index, self.gen_)
    }
}

/// One endpoint of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LegId {
    /// The call.
    pub call: CallId,
    /// Leg number within the call (0, 1, ...).
    pub index: u16,
}

/// One media stream of a leg (one m= line), owning a local port pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId {
    slot: u32,
    gen_: u32,
}

/// Why a packet was not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropReason {
    /// No active stream on the receiving port.
    UnknownPort = 0,
    /// Failed RTP/RTCP validation.
    Malformed = 1,
    /// STUN, DTLS or other non-RTP traffic.
    NotRtp = 2,
    /// Source address not the latched/locked one (hijack protection, strict
    /// source).
    SourceRejected = 3,
    /// The direction is blocked.
    Blocked = 4,
    /// The peer stream has no destination yet (or no peer).
    NoDestination = 5,
    /// SRTP/SRTCP that failed authentication: bad tag, too short, malformed
    /// or unencrypted SRTCP (forged, or keyed differently).
    SrtpUnauthenticated = 6,
    /// SRTP/SRTCP already received or older than the replay window.
    SrtpReplayed = 7,
    /// An SRTP side whose key is not known yet (received: the endpoint's
    /// `a=crypto` has not been seen; sent: the relay's key is not chosen).
    SrtpNoKey = 8,
    /// Protecting toward an SRTP endpoint failed (no room for the trailer
    /// in the buffer, or the key is worn out).
    SrtpProtectFailed = 9,
    /// On a transcoding stream: a payload the transcoder cannot use (a
    /// payload type other than the negotiated audio and telephone-event,
    /// a bad length, undecodable Opus), or a transcoded packet that did
    /// not fit the caller's buffer.
    Transcode = 10,
}

impl DropReason {
    /// Number of reasons.
    pub const COUNT: usize = 11;
    /// All reasons, in counter order.
    pub const ALL: [DropReason; Self::COUNT] = [
        Self::UnknownPort,
        Self::Malformed,
        Self::NotRtp,
        Self::SourceRejected,
        Self::Blocked,
        Self::NoDestination,
        Self::SrtpUnauthenticated,
        Self::SrtpReplayed,
        Self::SrtpNoKey,
        Self::SrtpProtectFailed,
        Self::Transcode,
    ];

    fn of_unprotect(e: SrtpError) -> DropReason {
        match e {
            SrtpError::Replayed => Self::SrtpReplayed,
            _ => Self::SrtpUnauthenticated,
        }
    }
}

/// Per-reason drop counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DropCounts([u64; DropReason::COUNT]);

impl DropCounts {
    /// Drops for one reason.
    pub fn get(&self, r: DropReason) -> u64 {
        self.0[r as usize]
    }
    /// All drops.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
    #[inline]
    fn bump(&mut self, r: DropReason) {
        self.0[r as usize] += 1;
    }
}

/// What the IO layer must do with the datagram it passed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send `buf[..len]` (rewritten in place) from local port `from_port`
    /// to `to`.
    Forward {
        /// Local port (socket) to send from.
        from_port: u16,
        /// Destination.
        to: SocketAddr,
        /// Bytes of the buffer to send.
        len: usize,
    },
    /// Discard the datagram (already counted).
    Drop(DropReason),
    /// The relay took the datagram in without forwarding it: RTP of a
    /// transcoding stream went into its pipeline (`queued` packets are now
    /// waiting in [`Relay::poll_transmit`]; 0 while a packet is being
    /// assembled), or RTCP of a transcoded stream was terminated.
    Consumed {
        /// Packets waiting to be sent.
        queued: usize,
    },
}

/// A packet for the IO layer to send, from [`Relay::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Local port (socket) to send from.
    pub from_port: u16,
    /// Destination.
    pub to: SocketAddr,
    /// Bytes of the caller's buffer to send.
    pub len: usize,
}

/// Something the signalling side should hear about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// No RTP on any stream of the call since `since`.
    MediaTimeout {
        /// The call (still present; delete it if policy says so).
        call: CallId,
        /// Last RTP (or call creation).
        since: Instant,
    },
    /// The call reached its final timeout and has been deleted.
    FinalTimeout {
        /// The deleted call.
        call: CallId,
    },
    /// `stream` has received no RTP since `since` while its peer still
    /// receives RTP (one-way audio).
    OneWaySilence {
        /// The call.
        call: CallId,
        /// The silent stream (media *from* its endpoint is missing).
        stream: StreamId,
        /// Last RTP on the stream (or its creation).
        since: Instant,
    },
    /// An RFC 4733 event received on `stream`, reported once.
    Dtmf {
        /// The call.
        call: CallId,
        /// The stream it was received on.
        stream: StreamId,
        /// The event.
        dtmf: DtmfEvent,
    },
}

/// Signalling-side errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RelayError {
    /// The call handle is stale or was never valid.
    #[error("unknown call")]
    UnknownCall,
    /// The stream handle is stale or was never valid.
    #[error("unknown stream")]
    UnknownStream,
    /// The leg index is not a leg of the call.
    #[error("unknown leg")]
    UnknownLeg,
    /// Streams of different calls cannot be connected.
    #[error("streams belong to different calls")]
    DifferentCalls,
    /// Port allocation failed.
    #[error(transparent)]
    Ports(#[from] PortError),
    /// A configured timeout is zero or longer than [`MAX_TIMEOUT`].
    #[error("timeouts must be between 1 ms and 10 years")]
    BadTimeout,
    /// An SRTP key could not be installed.
    #[error(transparent)]
    Srtp(#[from] SrtpError),
    /// The transcoding pipeline could not be built for these formats
    /// (unsupported packet time or rate).
    #[error("cannot transcode between these formats")]
    Transcode,
}

/// SRTP keys of a stream whose endpoint speaks SRTP (RFC 3711, keyed by
/// SDES). A side without a key drops its packets rather than pass them in
/// the clear.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SrtpKeys {
    /// The key the endpoint protects what it sends with (its `a=crypto`):
    /// what the stream receives is unprotected with it.
    pub inbound: Option<SrtpKey>,
    /// The key the relay protects what it sends the endpoint with (the
    /// relay's `a=crypto` in the SDP handed to the endpoint).
    pub outbound: Option<SrtpKey>,
}

/// SRTP contexts of one stream (boxed, off the forwarding table: plain
/// streams pay one pointer).
#[derive(Debug, Default)]
struct StreamSrtp {
    inbound: Option<SrtpInbound>,
    outbound: Option<SrtpOutbound>,
}

/// Longest accepted timeout (keeps `Instant` arithmetic far from overflow).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(10 * 365 * 86400);

/// Per-stream options, usually from the SDP of the leg's endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamOptions {
    /// Where the endpoint wants RTP (SDP c=/m=), if known.
    pub remote_rtp: Option<SocketAddr>,
    /// Where the endpoint wants RTCP (a=rtcp); default RTP port + 1, or
    /// the RTP address with rtcp-mux.
    pub remote_rtcp: Option<SocketAddr>,
    /// RTCP multiplexed on the RTP port (RFC 5761).
    pub rtcp_mux: bool,
    /// Accept packets only from the signalled address; never learn.
    pub strict_source: bool,
    /// RTP clock rate, for timestamp continuity across a source switch.
    pub clock_rate: u32,
    /// Payload type of telephone-event (RFC 4733) as received on this
    /// stream.
    pub telephone_event_pt: Option<u8>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            remote_rtp: None,
            remote_rtcp: None,
            rtcp_mux: false,
            strict_source: false,
            clock_rate: 8000,
            telephone_event_pt: None,
        }
    }
}

/// Counters and state of one stream (media received from its endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamStats {
    /// Local ports.
    pub local: PortPair,
    /// RTP packets received from an accepted source.
    pub rtp_packets: u64,
    /// RTP bytes received from an accepted source.
    pub rtp_bytes: u64,
    /// RTCP packets received from an accepted source.
    pub rtcp_packets: u64,
    /// RTCP bytes received from an accepted source.
    pub rtcp_bytes: u64,
    /// Packets forwarded to the peer.
    pub forwarded_packets: u64,
    /// Bytes forwarded to the peer.
    pub forwarded_bytes: u64,
    /// Drops by reason.
    pub dropped: DropCounts,
    /// Current RTP source/destination of the endpoint (latched or SDP).
    pub source: Option<SocketAddr>,
    /// Whether the source is confirmed (locked).
    pub confirmed: bool,
    /// SSRC currently received, and the SSRC sent out for it.
    pub ssrc: Option<(u32, u32)>,
    /// Last report block in the endpoint's RTCP (its reception quality of
    /// the media it gets from us: fraction lost, cumulative lost, jitter).
    pub remote_report: Option<ReportBlock>,
}

/// Relay-wide counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RelayCounters {
    /// Packets on a port with no active stream.
    pub unknown_port: u64,
    /// Packets forwarded.
    pub forwarded: u64,
    /// Packets dropped (all reasons, including unknown port).
    pub dropped: u64,
    /// Calls alive.
    pub calls: usize,
    /// DTMF events lost because the event queue was full (not drained).
    pub events_dropped: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Latch {
    addr: Option<SocketAddr>,
    count: u32,
    confirmed: bool,
    seen: bool,
}

impl Latch {
    /// `None`: reject. `Some(changed)`: accept; `changed` when the address
    /// was (re)learned.
    #[inline]
    fn check(&mut self, src: SocketAddr, strict: bool, confirm: u32) -> Option<bool> {
        if self.addr == Some(src) {
            self.seen = true;
            if !self.confirmed && !strict {
                self.count = self.count.saturating_add(1);
                self.confirmed = self.count >= confirm;
            }
            return Some(false);
        }
        if strict || self.confirmed {
            return None;
        }
        self.addr = Some(src);
        self.seen = true;
        self.count = 1;
        self.confirmed = confirm <= 1;
        Some(true)
    }

    fn reset(&mut self, addr: Option<SocketAddr>) {
        *self = Latch {
            addr,
            ..Latch::default()
        };
    }
}

/// Where what a stream receives goes: the peer's destination and ports.
#[derive(Debug, Clone, Copy, Default)]
struct Egress {
    to_rtp: Option<SocketAddr>,
    to_rtcp: Option<SocketAddr>,
    from_rtp: u16,
    from_rtcp: u16,
}

/// SSRC/sequence/timestamp mapping of one incoming direction so the
/// outgoing stream stays continuous across source switches.
#[derive(Debug, Clone, Copy, Default)]
struct Continuity {
    started: bool,
    in_ssrc: u32,
    out_ssrc: u32,
    seq_off: u16,
    ts_off: u32,
    prev: Option<(u32, u16, u32)>,
    max_seq: u16,
    max_ts: u32,
    last_at: Option<Instant>,
    switched_at: Option<Instant>,
}

/// After a source switch, packets of the previous SSRC arriving within
/// this window are late packets (mapped with the old offsets); later, the
/// previous SSRC coming back is a new switch.
const LATE_WINDOW: Duration = Duration::from_secs(1);

impl Continuity {
    #[inline]
    fn map(
        &mut self,
        ssrc: u32,
        seq: u16,
        ts: u32,
        now: Instant,
        clock_rate: u32,
    ) -> (u32, u16, u32) {
        if !self.started {
            *self = Continuity {
                started: true,
                in_ssrc: ssrc,
                out_ssrc: ssrc,
                max_seq: seq,
                max_ts: ts,
                last_at: Some(now),
                ..Continuity::default()
            };
            return (ssrc, seq, ts);
        }
        if ssrc != self.in_ssrc {
            if let Some((p_ssrc, p_seq, p_ts)) = self.prev
                && p_ssrc == ssrc
                && self
                    .switched_at
                    .is_some_and(|t| now.saturating_duration_since(t) < LATE_WINDOW)
            {
                // Late packet of the previous source: old offsets, no
                // switch back.
                return (
                    self.out_ssrc,
                    seq.wrapping_add(p_seq),
                    ts.wrapping_add(p_ts),
                );
            }
            self.switch(ssrc, seq, ts, now, clock_rate);
        }
        let os = seq.wrapping_add(self.seq_off);
        let ot = ts.wrapping_add(self.ts_off);
        if seq_newer(os, self.max_seq) {
            self.max_seq = os;
        }
        if ts_newer(ot, self.max_ts) {
            self.max_ts = ot;
        }
        self.last_at = Some(now);
        (self.out_ssrc, os, ot)
    }

    #[cold]
    fn switch(&mut self, ssrc: u32, seq: u16, ts: u32, now: Instant, clock_rate: u32) {
        let elapsed = self
            .last_at
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        let ticks = (elapsed.as_nanos() * u128::from(clock_rate) / 1_000_000_000) as u32;
        self.prev = Some((self.in_ssrc, self.seq_off, self.ts_off));
        self.switched_at = Some(now);
        self.in_ssrc = ssrc;
        self.seq_off = self.max_seq.wrapping_add(1).wrapping_sub(seq);
        self.ts_off = self.max_ts.wrapping_add(ticks.max(1)).wrapping_sub(ts);
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    rtp_packets: u64,
    rtp_bytes: u64,
    forwarded_packets: u64,
    forwarded_bytes: u64,
}

/// Counters off the RTP forwarding path (kept out of its cache lines).
#[derive(Debug, Clone, Copy, Default)]
struct ColdCounters {
    rtcp_packets: u64,
    rtcp_bytes: u64,
    dropped: DropCounts,
}

/// One forwarding-table entry (a port pair). Hot fields first.
#[derive(Debug, Clone)]
#[repr(C)]
struct Stream {
    active: bool,
    blocked: bool,
    strict: bool,
    rtcp_mux: bool,
    pt_rewrite: bool,
    te_pt: u8,
    gen_: u32,
    clock_rate: u32,
    egress: Egress,
    rtp_latch: Latch,
    cont: Continuity,
    last_rtp: Option<Instant>,
    counters: Counters,
    dtmf: DtmfTracker,
    // Cold: signalling, RTCP, timers.
    rtcp_latch: Latch,
    cold: ColdCounters,
    peer: u32,
    call: CallId,
    leg: u16,
    sdp_rtp: Option<SocketAddr>,
    sdp_rtcp: Option<SocketAddr>,
    report: Option<ReportBlock>,
    silence_reported: Option<Instant>,
    pt_map: [u8; 128],
}

impl Stream {
    fn empty() -> Self {
        Self {
            active: false,
            blocked: false,
            strict: false,
            rtcp_mux: false,
            pt_rewrite: false,
            te_pt: NO_PT,
            gen_: 0,
            clock_rate: 8000,
            egress: Egress::default(),
            rtp_latch: Latch::default(),
            cont: Continuity::default(),
            last_rtp: None,
            counters: Counters::default(),
            dtmf: DtmfTracker::default(),
            rtcp_latch: Latch::default(),
            cold: ColdCounters::default(),
            peer: NONE,
            call: CallId { index: 0, gen_: 0 },
            leg: 0,
            sdp_rtp: None,
            sdp_rtcp: None,
            report: None,
            silence_reported: None,
            pt_map: identity_map(),
        }
    }

    /// RTCP destination implied by the signalled addresses.
    fn default_rtcp(&self) -> Option<SocketAddr> {
        if self.rtcp_mux {
            return self.sdp_rtp;
        }
        self.sdp_rtcp.or_else(|| {
            self.sdp_rtp.map(|mut a| {
                a.set_port(a.port().wrapping_add(1));
                a
            })
        })
    }
}

fn identity_map() -> [u8; 128] {
    std::array::from_fn(|i| i as u8)
}

#[derive(Debug, Clone)]
struct Call {
    active: bool,
    gen_: u32,
    legs: u16,
    created: Instant,
    final_deadline: Option<Instant>,
    next_check: Option<Instant>,
    media_reported: Option<Instant>,
    streams: Vec<u32>,
}

/// The relay: all calls, their streams and the forwarding table.
#[derive(Debug)]
pub struct Relay {
    cfg: RelayConfig,
    ports: PortAllocator,
    /// Forwarding table: one entry per port pair.
    streams: Vec<Stream>,
    /// SRTP contexts, by forwarding-table slot; `None` for plain RTP.
    srtp: Vec<Option<Box<StreamSrtp>>>,
    /// Transcoding of what the slot receives; `None`: relayed as is.
    transcode: Vec<Option<Box<DirTranscoder>>>,
    /// Transcoded packets waiting for [`Relay::poll_transmit`].
    tx: TxQueue,
    calls: Vec<Call>,
    free_calls: Vec<u32>,
    timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    events: VecDeque<Event>,
    counters: RelayCounters,
}

impl Relay {
    /// Builds the forwarding table for the whole port range (the only
    /// large allocation).
    pub fn new(cfg: RelayConfig) -> Result<Self, RelayError> {
        let timeouts = [cfg.media_timeout, cfg.final_timeout, cfg.silence_timeout];
        if timeouts
            .into_iter()
            .flatten()
            .any(|t| t < Duration::from_millis(1) || t > MAX_TIMEOUT)
        {
            return Err(RelayError::BadTimeout);
        }
        let ports = PortAllocator::new(cfg.port_min, cfg.port_max)?;
        let n = ports.capacity();
        Ok(Self {
            streams: vec![Stream::empty(); n],
            srtp: (0..n).map(|_| None).collect(),
            transcode: (0..n).map(|_| None).collect(),
            tx: TxQueue::new(),
            calls: Vec::new(),
            free_calls: Vec::new(),
            timers: BinaryHeap::with_capacity(n.min(1 << 16)),
            events: VecDeque::with_capacity(cfg.event_capacity),
            counters: RelayCounters::default(),
            ports,
            cfg,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RelayConfig {
        &self.cfg
    }

    /// Relay-wide counters.
    pub fn counters(&self) -> RelayCounters {
        self.counters
    }

    /// Free port pairs.
    pub fn ports_available(&self) -> usize {
        self.ports.available()
    }

    /// Creates an empty call; its final timeout counts from `now`.
    pub fn create_call(&mut self, now: Instant) -> CallId {
        let call = Call {
            active: true,
            gen_: 0,
            legs: 0,
            created: now,
            final_deadline: self.cfg.final_timeout.map(|d| now + d),
            next_check: None,
            media_reported: None,
            streams: Vec::new(),
        };
        let index = match self.free_calls.pop() {
            Some(i) => {
                let gen_ = self.calls[i as usize].gen_.wrapping_add(1);
                self.calls[i as usize] = Call { gen_, ..call };
                i
            }
            None => {
                self.calls.push(call);
                (self.calls.len() - 1) as u32
            }
        };
        self.counters.calls += 1;
        let id = CallId {
            index,
            gen_: self.calls[index as usize].gen_,
        };
        self.schedule(index, now);
        id
    }

    /// Whether `call` is alive.
    pub fn has_call(&self, call: CallId) -> bool {
        self.call(call).is_ok()
    }

    fn call(&self, id: CallId) -> Result<&Call, RelayError> {
        match self.calls.get(id.index as usize) {
            Some(c) if c.active && c.gen_ == id.gen_ => Ok(c),
            _ => Err(RelayError::UnknownCall),
        }
    }

    fn call_mut(&mut self, id: CallId) -> Result<&mut Call, RelayError> {
        match self.calls.get_mut(id.index as usize) {
            Some(c) if c.active && c.gen_ == id.gen_ => Ok(c),
            _ => Err(RelayError::UnknownCall),
        }
    }

    /// Adds an endpoint to a call.
    pub fn add_leg(&mut self, call: CallId) -> Result<LegId, RelayError> {
        let c = self.call_mut(call)?;
        let index = c.legs;
        c.legs += 1;
        Ok(LegId { call, index })
    }

    /// The local port pair the next [`Relay::add_stream`] will take, so the
    /// IO layer can bind it first; `None` when the range is exhausted.
    pub fn next_ports(&self) -> Option<PortPair> {
        self.ports.peek()
    }

    /// The pair [`Relay::next_ports`] named cannot be bound now (another
    /// process holds a port of it): it goes to the back of the free list.
    pub fn defer_next_ports(&mut self) -> bool {
        self.ports.defer_next()
    }

    /// Adds a media stream to a leg, allocating its local port pair.
    pub fn add_stream(
        &mut self,
        leg: LegId,
        opts: StreamOptions,
        now: Instant,
    ) -> Result<StreamId, RelayError> {
        if leg.index >= self.call(leg.call)?.legs {
            return Err(RelayError::UnknownLeg);
        }
        let pair = self.ports.allocate()?;
        let slot = self
            .ports
            .slot_of(pair.rtp)
            .expect("allocated port is in range");
        let s = &mut self.streams[slot as usize];
        let gen_ = s.gen_.wrapping_add(1);
        *s = Stream::empty();
        s.active = true;
        s.gen_ = gen_;
        s.strict = opts.strict_source;
        s.rtcp_mux = opts.rtcp_mux;
        s.clock_rate = opts.clock_rate.max(1);
        s.te_pt = opts.telephone_event_pt.map_or(NO_PT, |p| p & 0x7f);
        s.call = leg.call;
        s.leg = leg.index;
        s.last_rtp = Some(now);
        s.sdp_rtp = opts.remote_rtp;
        s.sdp_rtcp = opts.remote_rtcp;
        s.rtp_latch.reset(opts.remote_rtp);
        let rtcp = s.default_rtcp();
        s.rtcp_latch.reset(rtcp);
        self.srtp[slot as usize] = None;
        self.transcode[slot as usize] = None;
        self.call_mut(leg.call)?.streams.push(slot);
        // The new stream's silence deadline may be earlier than the call's
        // next check.
        if let Some(t) = self.cfg.silence_timeout {
            self.arm(leg.call.index, now + t);
        }
        Ok(StreamId { slot, gen_ })
    }

    fn stream(&self, id: StreamId) -> Result<&Stream, RelayError> {
        match self.streams.get(id.slot as usize) {
            Some(s) if s.active && s.gen_ == id.gen_ => Ok(s),
            _ => Err(RelayError::UnknownStream),
        }
    }

    fn stream_mut(&mut self, id: StreamId) -> Result<&mut Stream, RelayError> {
        match self.streams.get_mut(id.slot as usize) {
            Some(s) if s.active && s.gen_ == id.gen_ => Ok(s),
            _ => Err(RelayError::UnknownStream),
        }
    }

    fn id_of(&self, slot: u32) -> StreamId {
        StreamId {
            slot,
            gen_: self.streams[slot as usize].gen_,
        }
    }

    /// Local port pair of a stream: goes into the SDP sent to this
    /// stream's own endpoint, which sends its media there.
    pub fn local_ports(&self, stream: StreamId) -> Result<PortPair, RelayError> {
        self.stream(stream)?;
        Ok(self.ports.pair(stream.slot))
    }

    /// Leg a stream belongs to.
    pub fn leg_of(&self, stream: StreamId) -> Result<LegId, RelayError> {
        let s = self.stream(stream)?;
        Ok(LegId {
            call: s.call,
            index: s.leg,
        })
    }

    /// Streams of a call, in creation order.
    pub fn streams_of(
        &self,
        call: CallId,
    ) -> Result<impl Iterator<Item = StreamId> + '_, RelayError> {
        let c = self.call(call)?;
        Ok(c.streams.iter().map(|&s| self.id_of(s)))
    }

    /// Connects two streams of one call: what `a` receives goes to `b`'s
    /// endpoint and vice versa. Previous partners are disconnected.
    pub fn connect(&mut self, a: StreamId, b: StreamId) -> Result<(), RelayError> {
        if self.stream(a)?.call != self.stream(b)?.call || a == b {
            return Err(RelayError::DifferentCalls);
        }
        for x in [a.slot, b.slot] {
            let old = self.streams[x as usize].peer;
            if old != NONE {
                self.streams[old as usize].peer = NONE;
                self.streams[old as usize].egress = Egress::default();
            }
        }
        self.streams[a.slot as usize].peer = b.slot;
        self.streams[b.slot as usize].peer = a.slot;
        self.refresh_egress(a.slot);
        self.refresh_egress(b.slot);
        Ok(())
    }

    /// Recomputes the egress cache of `slot`'s peer from `slot`'s
    /// destination and ports.
    fn refresh_egress(&mut self, slot: u32) {
        let s = &self.streams[slot as usize];
        let peer = s.peer;
        if peer == NONE {
            return;
        }
        let pair = self.ports.pair(slot);
        let e = Egress {
            to_rtp: s.rtp_latch.addr,
            to_rtcp: if s.rtcp_mux {
                s.rtp_latch.addr
            } else {
                s.rtcp_latch.addr
            },
            from_rtp: pair.rtp,
            from_rtcp: if s.rtcp_mux { pair.rtp } else { pair.rtcp },
        };
        self.streams[peer as usize].egress = e;
    }

    /// Sets the endpoint's signalled addresses (answer, re-INVITE). When
    /// the RTP address differs from the previous one the stream is
    /// *re-anchored*: learning restarts from the new address (a strict
    /// stream just moves to it). The outgoing SSRC/seq/timestamp stay
    /// continuous when the new source's SSRC differs.
    pub fn set_remote(
        &mut self,
        stream: StreamId,
        rtp: Option<SocketAddr>,
        rtcp: Option<SocketAddr>,
    ) -> Result<(), RelayError> {
        let s = self.stream_mut(stream)?;
        let reanchor = s.sdp_rtp != rtp || s.sdp_rtcp != rtcp;
        s.sdp_rtp = rtp;
        s.sdp_rtcp = rtcp;
        if reanchor {
            s.rtp_latch.reset(rtp);
            let d = s.default_rtcp();
            s.rtcp_latch.reset(d);
            self.refresh_egress(stream.slot);
        }
        Ok(())
    }

    /// Forces re-learning of the source (e.g. the endpoint re-INVITEd from
    /// behind a new NAT binding with an unchanged SDP address).
    pub fn reanchor(&mut self, stream: StreamId) -> Result<(), RelayError> {
        let s = self.stream_mut(stream)?;
        s.rtp_latch.reset(s.sdp_rtp);
        let d = s.default_rtcp();
        s.rtcp_latch.reset(d);
        self.refresh_egress(stream.slot);
        Ok(())
    }

    /// Enables or disables rtcp-mux for the stream's endpoint.
    pub fn set_rtcp_mux(&mut self, stream: StreamId, mux: bool) -> Result<(), RelayError> {
        let s = self.stream_mut(stream)?;
        if s.rtcp_mux != mux {
            s.rtcp_mux = mux;
            let d = s.default_rtcp();
            s.rtcp_latch.reset(d);
            self.refresh_egress(stream.slot);
        }
        Ok(())
    }

    /// Blocks (or unblocks) media received from the stream's endpoint:
    /// packets are dropped and counted as [`DropReason::Blocked`].
    pub fn set_blocked(&mut self, stream: StreamId, blocked: bool) -> Result<(), RelayError> {
        self.stream_mut(stream)?.blocked = blocked;
        Ok(())
    }

    /// Sets the telephone-event payload type (as received on the stream).
    pub fn set_telephone_event(
        &mut self,
        stream: StreamId,
        pt: Option<u8>,
    ) -> Result<(), RelayError> {
        self.stream_mut(stream)?.te_pt = pt.map_or(NO_PT, |p| p & 0x7f);
        Ok(())
    }

    /// Sets the payload-type renumbering applied to what the stream
    /// receives (`(received, sent)` pairs; others unchanged). An empty
    /// slice disables rewriting.
    pub fn set_pt_map(&mut self, stream: StreamId, map: &[(u8, u8)]) -> Result<(), RelayError> {
        let s = self.stream_mut(stream)?;
        s.pt_map = identity_map();
        for &(from, to) in map {
            s.pt_map[usize::from(from & 0x7f)] = to & 0x7f;
        }
        s.pt_rewrite = s.pt_map != identity_map();
        Ok(())
    }

    /// Makes the stream's endpoint an SRTP one with `keys`, or a plain RTP
    /// one (`None`). A direction whose key is unchanged keeps its context
    /// (rollover counter, replay window, SRTCP index); a new key starts a
    /// new one. Bridging is per side: a stream pair may be SRTP on one
    /// side and RTP on the other, or SRTP on both with different keys.
    pub fn set_srtp(
        &mut self,
        stream: StreamId,
        keys: Option<&SrtpKeys>,
    ) -> Result<(), RelayError> {
        self.stream(stream)?;
        let slot = stream.slot as usize;
        let Some(keys) = keys else {
            self.srtp[slot] = None;
            return Ok(());
        };
        let current = self.srtp[slot].take().unwrap_or_default();
        let inbound = match (&keys.inbound, current.inbound) {
            (Some(k), Some(c)) if c.key() == k => Some(c),
            (Some(k), _) => Some(SrtpInbound::new(k)?),
            (None, _) => None,
        };
        let outbound = match (&keys.outbound, current.outbound) {
            (Some(k), Some(c)) if c.key() == k => Some(c),
            (Some(k), _) => Some(SrtpOutbound::new(k)?),
            (None, _) => None,
        };
        self.srtp[slot] = Some(Box::new(StreamSrtp { inbound, outbound }));
        Ok(())
    }

    /// The stream's SRTP keys; `None` for a plain RTP endpoint.
    pub fn srtp_keys(&self, stream: StreamId) -> Result<Option<SrtpKeys>, RelayError> {
        self.stream(stream)?;
        Ok(self.srtp[stream.slot as usize]
            .as_deref()
            .map(|s| SrtpKeys {
                inbound: s.inbound.as_ref().map(|c| c.key().clone()),
                outbound: s.outbound.as_ref().map(|c| c.key().clone()),
            }))
    }

    /// Transcodes what `stream` receives before it goes to the peer's
    /// endpoint (`Some`), or relays it as is (`None`). An unchanged spec
    /// keeps the running pipeline; a new one starts a new pipeline and a
    /// new output SSRC. See [`crate::transcode`].
    pub fn set_transcode(
        &mut self,
        stream: StreamId,
        spec: Option<TranscodeSpec>,
    ) -> Result<(), RelayError> {
        self.stream(stream)?;
        let slot = stream.slot as usize;
        match spec {
            None => self.transcode[slot] = None,
            Some(spec) => {
                if self.transcode[slot]
                    .as_deref()
                    .is_some_and(|t| *t.spec() == spec)
                {
                    return Ok(());
                }
                let t = DirTranscoder::new(spec).map_err(|_| RelayError::Transcode)?;
                self.transcode[slot] = Some(Box::new(t));
            }
        }
        Ok(())
    }

    /// The transcoding spec of what `stream` receives; `None` when relayed.
    pub fn transcode_spec(&self, stream: StreamId) -> Result<Option<TranscodeSpec>, RelayError> {
        self.stream(stream)?;
        Ok(self.transcode[stream.slot as usize]
            .as_deref()
            .map(|t| *t.spec()))
    }

    /// Transcoding counters of what `stream` receives; `None` when relayed.
    pub fn transcode_stats(&self, stream: StreamId) -> Result<Option<TranscodeStats>, RelayError> {
        self.stream(stream)?;
        Ok(self.transcode[stream.slot as usize]
            .as_deref()
            .map(DirTranscoder::stats))
    }

    /// Packets waiting in [`Relay::poll_transmit`].
    pub fn pending_transmits(&self) -> usize {
        self.tx.len()
    }

    /// The next transcoded packet, copied into `out` (SRTP-protected when
    /// the peer speaks SRTP: leave [`crate::SRTP_MAX_OVERHEAD`] bytes of
    /// room); send `out[..len]` from `from_port` to `to`. Drain it after
    /// every [`Action::Consumed`] with `queued > 0`. A packet that does not
    /// fit `out`, or whose protection fails, is dropped and counted.
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> Option<Transmit> {
        loop {
            let (meta, bytes) = self.tx.pop()?;
            let d = meta.dest;
            let Some(dst) = out.get_mut(..bytes.len()) else {
                self.drop_stream(d.slot, DropReason::Transcode);
                continue;
            };
            dst.copy_from_slice(bytes);
            let len = bytes.len();
            // A peer deleted since the packet was queued has no context.
            let peer_alive = self
                .streams
                .get(d.peer as usize)
                .is_some_and(|p| p.active && p.gen_ == d.peer_gen);
            if !peer_alive {
                continue;
            }
            match self.protect(d.peer, out, len, false) {
                Ok(len) => {
                    return Some(Transmit {
                        from_port: d.from_port,
                        to: d.to,
                        len,
                    });
                }
                Err(r) => {
                    self.drop_stream(d.slot, r);
                }
            }
        }
    }

    /// Counters and state of a stream.
    pub fn stats(&self, stream: StreamId) -> Result<StreamStats, RelayError> {
        let s = self.stream(stream)?;
        let c = &s.counters;
        Ok(StreamStats {
            local: self.ports.pair(stream.slot),
            rtp_packets: c.rtp_packets,
            rtp_bytes: c.rtp_bytes,
            rtcp_packets: s.cold.rtcp_packets,
            rtcp_bytes: s.cold.rtcp_bytes,
            forwarded_packets: c.forwarded_packets,
            forwarded_bytes: c.forwarded_bytes,
            dropped: s.cold.dropped,
            source: s.rtp_latch.addr,
            confirmed: s.rtp_latch.confirmed,
            ssrc: s.cont.started.then_some((s.cont.in_ssrc, s.cont.out_ssrc)),
            remote_report: s.report,
        })
    }

    /// Deletes a call, releasing its ports (they go to the back of the
    /// free list).
    pub fn delete_call(&mut self, call: CallId) -> Result<(), RelayError> {
        self.call(call)?;
        self.delete_index(call.index);
        Ok(())
    }

    fn delete_index(&mut self, index: u32) {
        let c = &mut self.calls[index as usize];
        c.active = false;
        c.next_check = None;
        let streams = std::mem::take(&mut c.streams);
        for &slot in &streams {
            let s = &mut self.streams[slot as usize];
            s.active = false;
            s.peer = NONE;
            s.egress = Egress::default();
            self.srtp[slot as usize] = None;
            self.transcode[slot as usize] = None;
            let rtp = self.ports.pair(slot).rtp;
            self.ports.release(rtp);
        }
        // Keep the Vec's capacity for the next call in this slot.
        let mut streams = streams;
        streams.clear();
        self.calls[index as usize].streams = streams;
        self.free_calls.push(index);
        self.counters.calls -= 1;
    }

    // ---------------------------------------------------------------
    // Packet path
    // ---------------------------------------------------------------

    /// Decides what to do with a datagram received on `local_port` from
    /// `src`; rewrites `buf` in place when forwarding. Never panics; never
    /// allocates for plain RTP (see [`crate::srtp`] for SRTP's cost).
    ///
    /// `buf` is exactly the datagram, so there is no room to add an SRTP
    /// trailer: packets toward an SRTP endpoint are dropped
    /// ([`DropReason::SrtpProtectFailed`]). The IO layer uses
    /// [`Relay::handle_datagram`].
    #[inline]
    pub fn handle_packet(
        &mut self,
        local_port: u16,
        src: SocketAddr,
        buf: &mut [u8],
        now: Instant,
    ) -> Action {
        let len = buf.len();
        self.handle_datagram(local_port, src, buf, len, now)
    }

    /// [`Relay::handle_packet`] for a datagram of `len` bytes at the start
    /// of a larger buffer: protecting toward an SRTP endpoint grows the
    /// packet by up to [`crate::srtp::SRTP_MAX_OVERHEAD`] bytes, written
    /// after it. Send `buf[..len]` of the returned [`Action::Forward`].
    #[inline]
    pub fn handle_datagram(
        &mut self,
        local_port: u16,
        src: SocketAddr,
        buf: &mut [u8],
        len: usize,
        now: Instant,
    ) -> Action {
        let len = len.min(buf.len());
        let idx = u32::from(local_port).wrapping_sub(u32::from(self.ports.base()));
        let slot = idx >> 1;
        match self.streams.get(slot as usize) {
            Some(s) if s.active => {
                if idx & 1 == 1 {
                    if s.rtcp_mux {
                        return self.drop_stream(slot, DropReason::UnknownPort);
                    }
                    if matches!(classify(&buf[..len]), PacketClass::Stun | PacketClass::Dtls) {
                        return self.drop_stream(slot, DropReason::NotRtp);
                    }
                    return self.handle_rtcp(slot, src, buf, len, false);
                }
            }
            _ => {
                self.counters.unknown_port += 1;
                self.counters.dropped += 1;
                return Action::Drop(DropReason::UnknownPort);
            }
        }
        match classify(&buf[..len]) {
            PacketClass::Rtp => self.handle_rtp(slot, src, buf, len, now),
            PacketClass::Rtcp => self.handle_rtcp(slot, src, buf, len, true),
            PacketClass::Stun | PacketClass::Dtls => self.drop_stream(slot, DropReason::NotRtp),
            PacketClass::Unknown => self.drop_stream(slot, DropReason::Malformed),
        }
    }

    #[cold]
    fn drop_stream(&mut self, slot: u32, r: DropReason) -> Action {
        self.streams[slot as usize].cold.dropped.bump(r);
        self.counters.dropped += 1;
        Action::Drop(r)
    }

    /// Unprotects an SRTP/SRTCP packet received on `slot` in place (new
    /// length), or passes plain RTP through.
    #[inline]
    fn unprotect(&mut self, slot: u32, buf: &mut [u8], rtcp: bool) -> Result<usize, DropReason> {
        let Some(srtp) = self.srtp[slot as usize].as_deref_mut() else {
            return Ok(buf.len());
        };
        let Some(inbound) = srtp.inbound.as_mut() else {
            return Err(DropReason::SrtpNoKey);
        };
        let r = if rtcp {
            inbound.unprotect_rtcp(buf)
        } else {
            inbound.unprotect_rtp(buf)
        };
        r.map_err(DropReason::of_unprotect)
    }

    /// Protects `buf[..len]` for the endpoint of `peer` if it speaks SRTP
    /// (new length).
    #[inline]
    fn protect(
        &mut self,
        peer: u32,
        buf: &mut [u8],
        len: usize,
        rtcp: bool,
    ) -> Result<usize, DropReason> {
        let Some(srtp) = self
            .srtp
            .get_mut(peer as usize)
            .and_then(|s| s.as_deref_mut())
        else {
            return Ok(len);
        };
        let Some(outbound) = srtp.outbound.as_mut() else {
            return Err(DropReason::SrtpNoKey);
        };
        let r = if rtcp {
            outbound.protect_rtcp(buf, len)
        } else {
            outbound.protect_rtp(buf, len)
        };
        r.map_err(|_| DropReason::SrtpProtectFailed)
    }

    #[inline]
    fn handle_rtp(
        &mut self,
        slot: u32,
        src: SocketAddr,
        buf: &mut [u8],
        len: usize,
        now: Instant,
    ) -> Action {
        // Authenticate before anything else: a forged packet must not move
        // the latch, raise DTMF or reach the peer.
        let len = match self.unprotect(slot, &mut buf[..len], false) {
            Ok(n) => n,
            Err(r) => return self.drop_stream(slot, r),
        };
        let confirm = self.cfg.confirm_packets;
        let s = &mut self.streams[slot as usize];
        let (pt, seq, ts, ssrc, dtmf, marker, payload_at) = match RtpPacket::parse(&buf[..len]) {
            Ok(p) => {
                let pt = p.payload_type();
                let dtmf = if pt == s.te_pt {
                    EventPayload::parse(p.payload())
                } else {
                    None
                };
                let at = p.payload_offset();
                let end = at + p.payload().len();
                (
                    pt,
                    p.sequence(),
                    p.timestamp(),
                    p.ssrc(),
                    dtmf,
                    p.marker(),
                    (at, end),
                )
            }
            Err(_) => return self.drop_stream(slot, DropReason::Malformed),
        };
        let Some(changed) = s.rtp_latch.check(src, s.strict, confirm) else {
            return self.drop_stream(slot, DropReason::SourceRejected);
        };
        s.last_rtp = Some(now);
        s.counters.rtp_packets += 1;
        s.counters.rtp_bytes += len as u64;
        if changed {
            self.on_rtp_latched(slot);
        }
        let s = &mut self.streams[slot as usize];
        if let Some(d) = dtmf {
            let [a, b] = s.dtmf.on_packet(ts, d);
            let (call, gen_) = (s.call, s.gen_);
            for dtmf in [a, b].into_iter().flatten() {
                // Never grow the queue from the packet path.
                if self.events.len() < self.events.capacity() {
                    self.events.push_back(Event::Dtmf {
                        call,
                        stream: StreamId { slot, gen_ },
                        dtmf,
                    });
                } else {
                    self.counters.events_dropped += 1;
                }
            }
        }
        let s = &mut self.streams[slot as usize];
        if s.blocked {
            return self.drop_stream(slot, DropReason::Blocked);
        }
        let Some(to) = s.egress.to_rtp else {
            return self.drop_stream(slot, DropReason::NoDestination);
        };
        if let Some(t) = self.transcode[slot as usize].as_deref_mut() {
            let peer = s.peer;
            let dest = TxDest {
                from_port: s.egress.from_rtp,
                to,
                slot,
                peer,
                peer_gen: self.streams.get(peer as usize).map_or(0, |p| p.gen_),
            };
            let payload = buf.get(payload_at.0..payload_at.1).unwrap_or(&[]);
            let dropped = t.dropped();
            return match t.push(pt, marker, ssrc, ts, payload, now, dest, &mut self.tx) {
                Ok(queued) => {
                    let partly_dropped = t.dropped() != dropped;
                    let s = &mut self.streams[slot as usize];
                    if partly_dropped {
                        // Concealment before an undecodable payload went out.
                        s.cold.dropped.bump(DropReason::Transcode);
                        self.counters.dropped += 1;
                    }
                    s.counters.forwarded_packets += queued as u64;
                    self.counters.forwarded += queued as u64;
                    Action::Consumed { queued }
                }
                Err(_) => self.drop_stream(slot, DropReason::Transcode),
            };
        }
        let (o_ssrc, o_seq, o_ts) = s.cont.map(ssrc, seq, ts, now, s.clock_rate);
        let o_pt = if s.pt_rewrite {
            s.pt_map[usize::from(pt)]
        } else {
            pt
        };
        if let Some(mut h) = RtpHeaderMut::new(&mut buf[..len]) {
            h.set_ssrc(o_ssrc);
            h.set_sequence(o_seq);
            h.set_timestamp(o_ts);
            h.set_payload_type(o_pt);
        }
        let (peer, from_port) = (s.peer, s.egress.from_rtp);
        let len = match self.protect(peer, buf, len, false) {
            Ok(n) => n,
            Err(r) => return self.drop_stream(slot, r),
        };
        let s = &mut self.streams[slot as usize];
        s.counters.forwarded_packets += 1;
        s.counters.forwarded_bytes += len as u64;
        self.counters.forwarded += 1;
        Action::Forward { from_port, to, len }
    }

    #[cold]
    fn on_rtp_latched(&mut self, slot: u32) {
        let s = &mut self.streams[slot as usize];
        if !s.rtcp_mux
            && !s.rtcp_latch.seen
            && !s.strict
            && s.sdp_rtcp.is_none()
            && let Some(mut a) = s.rtp_latch.addr
        {
            // No RTCP seen yet: guess the NAT kept the port parity.
            a.set_port(a.port().wrapping_add(1));
            s.rtcp_latch.addr = Some(a);
        }
        self.refresh_egress(slot);
    }

    fn handle_rtcp(
        &mut self,
        slot: u32,
        src: SocketAddr,
        buf: &mut [u8],
        len: usize,
        on_rtp_port: bool,
    ) -> Action {
        let len = match self.unprotect(slot, &mut buf[..len], true) {
            Ok(n) => n,
            Err(r) => return self.drop_stream(slot, r),
        };
        let confirm = self.cfg.confirm_packets;
        let summary = match rtcp::validate(&buf[..len]) {
            Ok(s) => s,
            Err(_) => return self.drop_stream(slot, DropReason::Malformed),
        };
        let s = &mut self.streams[slot as usize];
        let use_rtp_latch = on_rtp_port || s.rtcp_mux;
        let latch = if use_rtp_latch {
            &mut s.rtp_latch
        } else {
            &mut s.rtcp_latch
        };
        let Some(changed) = latch.check(src, s.strict, confirm) else {
            return self.drop_stream(slot, DropReason::SourceRejected);
        };
        s.cold.rtcp_packets += 1;
        s.cold.rtcp_bytes += len as u64;
        if let Some(r) = summary.first_report {
            s.report = Some(r);
        }
        if changed {
            if use_rtp_latch {
                self.on_rtp_latched(slot);
            } else {
                self.refresh_egress(slot);
            }
        }
        let s = &mut self.streams[slot as usize];
        if s.blocked {
            return self.drop_stream(slot, DropReason::Blocked);
        }
        // RTCP about a transcoded direction describes packets the other
        // side never sees: terminated.
        let peer_transcodes = self
            .transcode
            .get(s.peer as usize)
            .is_some_and(Option::is_some);
        if self.transcode[slot as usize].is_some() || peer_transcodes {
            return Action::Consumed { queued: 0 };
        }
        // RTCP received on the RTP port goes out muxed only if the peer
        // uses rtcp-mux; otherwise to its RTCP destination.
        let Some(to) = s.egress.to_rtcp else {
            return self.drop_stream(slot, DropReason::NoDestination);
        };
        // Keep RTCP consistent with the SSRC mapping of both directions:
        // our sender SSRC as mapped on the way out, and report blocks about
        // the peer's outgoing SSRC turned back into what its source uses.
        let mapped = |c: &Continuity| {
            (c.started && (c.in_ssrc != c.out_ssrc || c.ts_off != 0))
                .then_some((c.in_ssrc, c.out_ssrc))
        };
        let sender = mapped(&s.cont);
        let sr_ts_offset = s.cont.ts_off;
        let peer = s.peer;
        let reported = if peer == NONE {
            None
        } else {
            mapped(&self.streams[peer as usize].cont).map(|(i, o)| (o, i))
        };
        if sender.is_some() || reported.is_some() {
            rtcp::rewrite_ssrcs(&mut buf[..len], sender, reported, sr_ts_offset);
        }
        let len = match self.protect(peer, buf, len, true) {
            Ok(n) => n,
            Err(r) => return self.drop_stream(slot, r),
        };
        let s = &mut self.streams[slot as usize];
        s.counters.forwarded_packets += 1;
        s.counters.forwarded_bytes += len as u64;
        self.counters.forwarded += 1;
        Action::Forward {
            from_port: s.egress.from_rtcp,
            to,
            len,
        }
    }

    // ---------------------------------------------------------------
    // Timers and events
    // ---------------------------------------------------------------

    /// Next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Earliest instant at which [`Relay::handle_timeout`] has work (may be
    /// early after a call was deleted; calling it early is harmless).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _, _))| *t)
    }

    /// Runs every check due at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((t, index, gen_))) = self.timers.peek() {
            if t > now {
                break;
            }
            self.timers.pop();
            let valid = matches!(
                self.calls.get(index as usize),
                Some(c) if c.active && c.gen_ == gen_ && c.next_check == Some(t)
            );
            if valid {
                self.calls[index as usize].next_check = None;
                self.check_call(index, now);
            }
        }
    }

    fn check_call(&mut self, index: u32, now: Instant) {
        let c = &self.calls[index as usize];
        let call = CallId {
            index,
            gen_: c.gen_,
        };
        if c.final_deadline.is_some_and(|d| d <= now) {
            self.delete_index(index);
            self.events.push_back(Event::FinalTimeout { call });
            return;
        }
        if let Some(t) = self.cfg.media_timeout {
            let last = c
                .streams
                .iter()
                .filter_map(|&s| self.streams[s as usize].last_rtp)
                .fold(c.created, Instant::max);
            if now >= last + t && c.media_reported != Some(last) {
                self.calls[index as usize].media_reported = Some(last);
                self.events
                    .push_back(Event::MediaTimeout { call, since: last });
            }
        }
        if let Some(t) = self.cfg.silence_timeout {
            let c = &self.calls[index as usize];
            for &slot in &c.streams {
                let s = &self.streams[slot as usize];
                if s.peer == NONE {
                    continue;
                }
                let p = &self.streams[s.peer as usize];
                let (Some(s_last), Some(p_last)) = (s.last_rtp, p.last_rtp) else {
                    continue;
                };
                // The peer is receiving: it got RTP recently (not just
                // created).
                let peer_alive = now < p_last + t && p.counters.rtp_packets > 0;
                if now >= s_last + t && peer_alive && s.silence_reported != Some(s_last) {
                    self.events.push_back(Event::OneWaySilence {
                        call,
                        stream: StreamId { slot, gen_: s.gen_ },
                        since: s_last,
                    });
                    self.streams[slot as usize].silence_reported = Some(s_last);
                }
            }
        }
        self.schedule(index, now);
    }

    /// Pushes the call's next check: the earliest future deadline among
    /// final timeout, media timeout and per-stream silence.
    fn schedule(&mut self, index: u32, now: Instant) {
        let c = &self.calls[index as usize];
        let future = |cand: Instant, period: Duration| if cand > now { cand } else { now + period };
        let mut next = c.final_deadline;
        let mut take = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        if let Some(t) = self.cfg.media_timeout {
            let last = c
                .streams
                .iter()
                .filter_map(|&s| self.streams[s as usize].last_rtp)
                .fold(c.created, Instant::max);
            take(future(last + t, t));
        }
        if let Some(t) = self.cfg.silence_timeout {
            for &slot in &c.streams {
                let s = &self.streams[slot as usize];
                if s.peer != NONE
                    && let Some(l) = s.last_rtp
                {
                    take(future(l + t, t));
                }
            }
        }
        if let Some(t) = next {
            self.arm(index, t);
        }
    }

    /// Makes sure the call is checked at `t` at the latest: pushes a new
    /// entry when `t` is earlier than the pending one (which then becomes
    /// stale and is skipped when popped).
    fn arm(&mut self, index: u32, t: Instant) {
        let c = &mut self.calls[index as usize];
        if c.next_check.is_none_or(|n| t < n) {
            c.next_check = Some(t);
            self.timers.push(Reverse((t, index, c.gen_)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuity_switch_wraps() {
        let t0 = Instant::now();
        let mut c = Continuity::default();
        assert_eq!(
            c.map(1, 65534, 0xffff_ff00, t0, 8000),
            (1, 65534, 0xffff_ff00)
        );
        assert_eq!(
            c.map(1, 65535, 0xffff_ffa0, t0 + Duration::from_millis(20), 8000),
            (1, 65535, 0xffff_ffa0)
        );
        // New SSRC 40 ms later: seq continues at 0, ts advances 320 and wraps.
        let (s, q, t) = c.map(2, 1000, 5000, t0 + Duration::from_millis(60), 8000);
        assert_eq!((s, q, t), (1, 0, 0xffff_ffa0u32.wrapping_add(320)));
        // Late packet of the old source keeps its own mapping.
        assert_eq!(
            c.map(1, 65533, 0xffff_fe60, t0, 8000),
            (1, 65533, 0xffff_fe60)
        );
        assert_eq!(
            c.map(2, 1001, 5160, t0 + Duration::from_millis(80), 8000),
            (1, 1, 0xffff_ffa0u32.wrapping_add(320 + 160))
        );
    }

    #[test]
    fn switching_back_to_an_earlier_ssrc_stays_continuous() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut c = Continuity::default();
        assert_eq!(c.map(0xa, 100, 1000, t0, 8000), (0xa, 100, 1000));
        assert_eq!(c.map(0xb, 7, 50, t0 + ms(20), 8000), (0xa, 101, 1160));
        assert_eq!(c.map(0xb, 8, 210, t0 + ms(40), 8000), (0xa, 102, 1320));
        // 0xa again, 2 s later (re-anchored back): a new switch, not a
        // late packet.
        let t = t0 + ms(2040);
        assert_eq!(c.map(0xa, 101, 1160, t, 8000), (0xa, 103, 1320 + 16000));
        assert_eq!(
            c.map(0xa, 102, 1320, t + ms(20), 8000),
            (0xa, 104, 1320 + 16160)
        );
    }

    #[test]
    fn latch_rules() {
        let a: SocketAddr = "192.0.2.1:4000".parse().unwrap();
        let b: SocketAddr = "198.51.100.7:6000".parse().unwrap();
        let mut l = Latch::default();
        l.reset(Some(a));
        assert_eq!(l.check(b, false, 2), Some(true));
        assert_eq!(l.check(a, false, 2), Some(true));
        assert_eq!(l.check(a, false, 2), Some(false));
        assert!(l.confirmed);
        assert_eq!(l.check(b, false, 2), None);
        let mut l = Latch::default();
        l.reset(Some(a));
        assert_eq!(l.check(b, true, 2), None);
        assert_eq!(l.check(a, true, 2), Some(false));
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// Memory per call: one table entry per stream (preallocated per port
    /// pair), the call record and its stream-index Vec.
    #[test]
    fn sizes() {
        let stream = std::mem::size_of::<Stream>();
        let call = std::mem::size_of::<Call>();
        println!(
            "Stream {stream} B, Call {call} B, Event {} B",
            std::mem::size_of::<Event>()
        );
        assert!(stream <= 672, "Stream grew to {stream} bytes");
        assert!(call <= 96, "Call grew to {call} bytes");
    }
}
