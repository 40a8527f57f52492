//! Transcoding in the relay core: "relay when you can, transcode when you
//! must".
//!
//! A stream whose endpoint sends a codec the peer's endpoint does not
//! receive gets a [`TranscodeSpec`] ([`crate::Relay::set_transcode`]): what
//! it receives is then decoded, concealed over gaps, resampled,
//! re-packetised and encoded by the codecs crate's
//! [`ferrovox_codecs::transcode::Transcoder`] instead of being forwarded.
//! One direction, one instance; a call that transcodes both ways has one
//! on each stream. Streams without a spec stay on the zero-copy path.
//!
//! - Input: only the negotiated payload type (`input_pt`) is decoded, and
//!   the telephone-event payload type (`input_event_pt`) is carried across
//!   as RFC 4733 events (durations and timestamps rescaled to the output
//!   clock, never through the audio path). Anything else (comfort noise, a
//!   payload type nobody negotiated, short or garbage frames) is dropped
//!   and counted as [`crate::DropReason::Transcode`]; it never reaches the
//!   decoder state, so a bad packet costs nothing but the drop.
//! - Gaps: a lost packet (a gap in the input timestamps, up to 120 ms) is
//!   filled by concealment — G.711 Appendix I for PCM inputs, libopus PLC
//!   and FEC for Opus — so the output stays one packet per packet time;
//!   longer gaps (DTX, a new talkspurt) move the output timeline and mark
//!   the next packet. Reordered packets that arrive after their slot was
//!   concealed are dropped (counted as stale in [`TranscodeStats`]).
//! - Output: the relay's own SSRC (random), sequence numbers (random start,
//!   +1 per packet) and timestamps (the input timeline rescaled to the
//!   output clock, plus a random offset). A new input SSRC, a timestamp
//!   more than 200 ms behind the last one, or a run of stale timestamps
//!   (a sender that restarted its clock), rebuilds the
//!   pipeline and the output timeline continues from where it was, advanced
//!   by the wall-clock time since the last output packet.
//! - Rates: Opus towards G.711 decodes at 8 kHz and G.711 towards Opus
//!   encodes narrowband Opus from 8 kHz (libopus runs at 8 kHz, the RTP
//!   clock stays 48 kHz), so neither direction resamples;
//!   [`TranscodeSpec::new`] picks the rates.
//!
//! Output packets are queued (a fixed ring of
//! [`TX_QUEUE_PACKETS`] slots allocated once with the relay) and drained
//! with [`crate::Relay::poll_transmit`], which also SRTP-protects them when
//! the peer speaks SRTP. Nothing is allocated per packet (the codecs crate
//! sizes its buffers at construction; libopus works in its own state).
//!
//! RTCP received on a transcoding stream is terminated (it describes a
//! stream the peer never sees) and not regenerated: the relay sends no
//! SR/RR of its own for transcoded streams yet.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use ferrovox_codecs::CodecError;
pub use ferrovox_codecs::transcode::{Codec, Leg};
use ferrovox_codecs::transcode::{OutPacket, PacketKind, Transcoder, TranscoderConfig};

use crate::rtp::RTP_HEADER_LEN;

/// Output packets the relay holds before [`crate::Relay::poll_transmit`]
/// drains them; beyond it, output packets are dropped and counted.
pub const TX_QUEUE_PACKETS: usize = 64;

/// Largest transcoded packet (header + payload) the queue holds.
pub const TX_SLOT_BYTES: usize = 1500;

/// Consecutive stale input packets after which the sender is taken to
/// have restarted its timestamps (the pipeline is rebuilt).
const STALE_RESET: u32 = 25;

/// What one stream's endpoint sends and what its peer's endpoint is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TranscodeSpec {
    /// Payload type of the audio the endpoint sends.
    pub input_pt: u8,
    /// Its format (the packet time is informative).
    pub input: Leg,
    /// telephone-event payload type the endpoint sends, if negotiated.
    pub input_event_pt: Option<u8>,
    /// Payload type of the audio sent to the peer.
    pub output_pt: u8,
    /// Its format and packet time.
    pub output: Leg,
    /// telephone-event payload type toward the peer; `None` drops events
    /// (they are still reported as [`crate::Event::Dtmf`]).
    pub output_event_pt: Option<u8>,
}

impl TranscodeSpec {
    /// A spec between two codecs, choosing the Opus rates that avoid
    /// resampling: an Opus side runs at the other side's audio rate (8 kHz
    /// toward G.711, 16 kHz toward G.722, 48 kHz toward Opus). `input` and
    /// `output` are (payload type, codec, packet time in ms); the Opus
    /// `sample_rate` given is replaced.
    pub fn new(
        input: (u8, Codec, u32),
        output: (u8, Codec, u32),
        input_event_pt: Option<u8>,
        output_event_pt: Option<u8>,
    ) -> Self {
        let rate_toward = |other: Codec| match other {
            Codec::Pcmu | Codec::Pcma => 8000,
            Codec::G722 => 16000,
            Codec::Opus { .. } => 48000,
        };
        let fix = |c: Codec, other: Codec| match c {
            Codec::Opus { .. } => Codec::Opus {
                sample_rate: rate_toward(other),
            },
            c => c,
        };
        Self {
            input_pt: input.0 & 0x7f,
            input: Leg {
                codec: fix(input.1, output.1),
                ptime_ms: input.2,
            },
            input_event_pt: input_event_pt.map(|p| p & 0x7f),
            output_pt: output.0 & 0x7f,
            output: Leg {
                codec: fix(output.1, input.1),
                ptime_ms: output.2,
            },
            output_event_pt: output_event_pt.map(|p| p & 0x7f),
        }
    }

    fn config(&self) -> TranscoderConfig {
        TranscoderConfig::new(self.input, self.output)
    }
}

/// Counters of one transcoding direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TranscodeStats {
    /// Audio payloads decoded.
    pub packets_in: u64,
    /// Audio packets sent (queued).
    pub packets_out: u64,
    /// Telephone-event packets carried across.
    pub events: u64,
    /// Payloads dropped: undecodable (bad length, garbage Opus), or a
    /// payload type other than the negotiated audio and telephone-event.
    pub dropped: u64,
    /// Telephone events dropped because the peer has no telephone-event.
    pub events_dropped: u64,
    /// Input samples synthesised by concealment (PLC or Opus FEC).
    pub concealed_samples: u64,
    /// Input packets behind the timeline (reordered after concealment,
    /// duplicates), ignored.
    pub stale: u64,
    /// Gaps too long to conceal (DTX, talkspurts): timeline jumps.
    pub jumps: u64,
    /// Pipeline rebuilds (new input SSRC, restarted timestamps).
    pub resets: u64,
    /// Output packets lost because the transmit queue was full.
    pub queue_full: u64,
}

/// One direction's pipeline and output RTP state.
#[derive(Debug)]
pub(crate) struct DirTranscoder {
    spec: TranscodeSpec,
    tc: Transcoder,
    /// Totals of pipelines replaced by resets.
    base: ferrovox_codecs::transcode::TranscodeStats,
    in_ssrc: Option<u32>,
    /// Timestamp of the last audio payload received.
    last_in_ts: u32,
    out_ssrc: u32,
    seq: u16,
    ts_off: u32,
    last_out: Option<(u32, Instant)>,
    stale_run: u32,
    payload: Vec<u8>,
    stats: TranscodeStats,
}

/// Why a packet was not transcoded.
pub(crate) enum TranscodeDrop {
    /// Not decodable or not negotiated.
    Unusable,
}

impl DirTranscoder {
    pub(crate) fn new(spec: TranscodeSpec) -> Result<Self, CodecError> {
        let tc = Transcoder::new(&spec.config())?;
        Ok(Self {
            spec,
            tc,
            base: Default::default(),
            in_ssrc: None,
            last_in_ts: 0,
            out_ssrc: rand::random(),
            seq: rand::random(),
            ts_off: rand::random(),
            last_out: None,
            stale_run: 0,
            payload: vec![0; TX_SLOT_BYTES],
            stats: TranscodeStats::default(),
        })
    }

    pub(crate) fn spec(&self) -> &TranscodeSpec {
        &self.spec
    }

    /// Payloads dropped so far.
    #[inline]
    pub(crate) fn dropped(&self) -> u64 {
        self.stats.dropped
    }

    pub(crate) fn stats(&self) -> TranscodeStats {
        let (b, t) = (self.base, self.tc.stats());
        TranscodeStats {
            concealed_samples: b.concealed_samples + t.concealed_samples,
            stale: b.stale + t.stale,
            jumps: b.jumps + t.jumps,
            ..self.stats
        }
    }

    /// Rebuilds the pipeline for a new input timeline; the output timeline
    /// continues after the last packet sent, advanced by the time since.
    #[cold]
    fn reset(&mut self, first_ts: u32, now: Instant) -> Result<(), CodecError> {
        let tc = Transcoder::new(&self.spec.config())?;
        let old = std::mem::replace(&mut self.tc, tc);
        let t = old.stats();
        self.base.concealed_samples += t.concealed_samples;
        self.base.stale += t.stale;
        self.base.jumps += t.jumps;
        self.stats.resets += 1;
        self.stale_run = 0;
        if let Some((last_ts, at)) = self.last_out {
            let out_clock = u64::from(self.spec.output.codec.rtp_clock());
            let in_clock = u64::from(self.spec.input.codec.rtp_clock()).max(1);
            let elapsed = now.saturating_duration_since(at);
            let ticks = (elapsed.as_micros() as u64 * out_clock / 1_000_000) as u32;
            let ticks = ticks.max(self.tc.output_ticks_per_packet());
            // The new pipeline starts its output at first_ts rescaled.
            let start = (u64::from(first_ts) * out_clock / in_clock) as u32;
            self.ts_off = last_ts.wrapping_add(ticks).wrapping_sub(start);
        }
        Ok(())
    }

    /// Transcodes one received RTP packet (`payload` of payload type `pt`)
    /// into `tx`. Returns the number of packets queued.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push(
        &mut self,
        pt: u8,
        marker: bool,
        ssrc: u32,
        ts: u32,
        payload: &[u8],
        now: Instant,
        dest: TxDest,
        tx: &mut TxQueue,
    ) -> Result<usize, TranscodeDrop> {
        let is_event = Some(pt) == self.spec.input_event_pt;
        if (pt != self.spec.input_pt && !is_event) || payload.len() > self.payload.len() {
            self.stats.dropped += 1;
            return Err(TranscodeDrop::Unusable);
        }
        if is_event && self.spec.output_event_pt.is_none() {
            self.stats.events_dropped += 1;
            return Ok(0);
        }
        // A new source, a run of stale packets, or a jump back by more than
        // 200 ms (beyond useful reordering: that slot was concealed long
        // ago): a restarted timeline.
        let back = self.last_in_ts.wrapping_sub(ts) as i32;
        let restarted = !is_event
            && self.in_ssrc.is_some()
            && i64::from(back) > i64::from(self.spec.input.codec.rtp_clock() / 5);
        let new_timeline =
            self.in_ssrc.is_some_and(|s| s != ssrc) || self.stale_run >= STALE_RESET || restarted;
        if new_timeline && self.reset(ts, now).is_err() {
            self.stats.dropped += 1;
            return Err(TranscodeDrop::Unusable);
        }
        self.in_ssrc = Some(ssrc);
        // The payload is in the receive buffer the output could be written
        // over; one copy of at most a packet keeps the borrows apart.
        let n = payload.len();
        self.payload[..n].copy_from_slice(payload);
        let Self {
            spec,
            tc,
            payload,
            out_ssrc,
            seq,
            ts_off,
            last_out,
            stale_run,
            stats,
            ..
        } = self;
        let mut queued = 0usize;
        let mut emit = |p: &OutPacket<'_>| {
            let pt = match p.kind {
                PacketKind::Audio => spec.output_pt,
                PacketKind::Event => spec.output_event_pt.unwrap_or(spec.output_pt),
            };
            let ts = p.timestamp.wrapping_add(*ts_off);
            if tx.push(dest, p.marker, pt, *seq, ts, *out_ssrc, p.payload) {
                *seq = seq.wrapping_add(1);
                *last_out = Some((ts, now));
                queued += 1;
                match p.kind {
                    PacketKind::Audio => stats.packets_out += 1,
                    PacketKind::Event => stats.events += 1,
                }
            } else {
                stats.queue_full += 1;
            }
        };
        let payload = &payload[..n];
        let result = if is_event {
            tc.push_event(ts, marker, payload, &mut emit).map(|()| 0)
        } else {
            let stale_before = tc.stats().stale;
            let r = tc.push_audio(ts, payload, &mut emit);
            if r.is_ok() {
                if tc.stats().stale > stale_before {
                    *stale_run += 1;
                } else {
                    *stale_run = 0;
                    stats.packets_in += 1;
                }
            }
            r
        };
        match result {
            Ok(_) => {
                if !is_event {
                    self.last_in_ts = ts;
                }
                Ok(queued)
            }
            Err(_) => {
                stats.dropped += 1;
                // Packets already queued before the error still go out.
                if queued > 0 {
                    Ok(queued)
                } else {
                    Err(TranscodeDrop::Unusable)
                }
            }
        }
    }
}

/// Where a queued packet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TxDest {
    pub(crate) from_port: u16,
    pub(crate) to: SocketAddr,
    /// The receiving stream's slot (drops are counted there).
    pub(crate) slot: u32,
    /// The peer's slot and generation (its SRTP context protects).
    pub(crate) peer: u32,
    pub(crate) peer_gen: u32,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct TxMeta {
    pub(crate) dest: TxDest,
    pub(crate) index: usize,
    pub(crate) len: usize,
}

/// A fixed ring of packet slots, allocated once.
#[derive(Debug)]
pub(crate) struct TxQueue {
    data: Vec<u8>,
    meta: VecDeque<TxMeta>,
    head: usize,
}

impl TxQueue {
    pub(crate) fn new() -> Self {
        Self {
            data: Vec::new(),
            meta: VecDeque::with_capacity(TX_QUEUE_PACKETS),
            head: 0,
        }
    }

    /// Writes an RTP packet into the next free slot; `false` when full or
    /// too large.
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        dest: TxDest,
        marker: bool,
        pt: u8,
        seq: u16,
        ts: u32,
        ssrc: u32,
        payload: &[u8],
    ) -> bool {
        let len = RTP_HEADER_LEN + payload.len();
        if self.meta.len() >= TX_QUEUE_PACKETS || len > TX_SLOT_BYTES {
            return false;
        }
        if self.data.is_empty() {
            // First use: the only allocation, once per relay.
            self.data = vec![0; TX_QUEUE_PACKETS * TX_SLOT_BYTES];
        }
        let index = (self.head + self.meta.len()) % TX_QUEUE_PACKETS;
        let Some(slot) = self
            .data
            .get_mut(index * TX_SLOT_BYTES..index * TX_SLOT_BYTES + len)
        else {
            return false;
        };
        slot[0] = 0x80;
        slot[1] = (u8::from(marker) << 7) | (pt & 0x7f);
        slot[2..4].copy_from_slice(&seq.to_be_bytes());
        slot[4..8].copy_from_slice(&ts.to_be_bytes());
        slot[8..12].copy_from_slice(&ssrc.to_be_bytes());
        slot[RTP_HEADER_LEN..].copy_from_slice(payload);
        self.meta.push_back(TxMeta { dest, index, len });
        true
    }

    /// The oldest packet and its bytes.
    pub(crate) fn pop(&mut self) -> Option<(TxMeta, &[u8])> {
        let m = self.meta.pop_front()?;
        self.head = (self.head + 1) % TX_QUEUE_PACKETS;
        let start = m.index * TX_SLOT_BYTES;
        Some((m, self.data.get(start..start + m.len)?))
    }

    pub(crate) fn len(&self) -> usize {
        self.meta.len()
    }
}
