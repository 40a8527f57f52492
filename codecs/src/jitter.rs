//! Adaptive RTP jitter buffer, sans-IO: the caller passes the time in.
//!
//! Packets (SSRC, sequence number, RTP timestamp, payload; RFC 3550 § 5.1)
//! are [`pushed`](JitterBuffer::push) as they arrive and frames are
//! [`popped`](JitterBuffer::pop) once per frame period on the receiver's
//! playout clock. Time is a receiver sample clock: `now` counts ticks of
//! the stream's RTP clock rate on the *receiver's* clock (e.g. a sound-card
//! sample counter, or elapsed time × clock rate, see [`ticks_from_nanos`]).
//! Nothing here reads a clock, sleeps or allocates after construction.
//!
//! Model. Every arriving packet has a *transit* `now − timestamp` (the
//! relative transit time of RFC 3550 § 6.4.1 / A.8, in RTP ticks, with
//! both counters unwrapped to 64 bits). At each pop the frame at the
//! playout cursor `next_ts` is played, so the *playout offset* is
//! `P = now − next_ts` and a packet's *headroom* (how long it waited in the
//! buffer) is `P − transit`. Over a sliding window of recent packets
//! ([`JitterConfig::window`]):
//! - jitter = max transit − min transit (the max ignoring the
//!   [`JitterConfig::outliers`] largest), target delay = jitter + margin,
//!   clamped to `[min_delay_ms, max_delay_ms]`;
//! - depth = `P − min transit` (how long the fastest packets wait);
//! - worst headroom `h = P − max transit`.
//!
//! Adaptation keeps `margin ≤ h ≤ margin + 1.5 frames`:
//! - **grow** (immediately): if `h < margin` (packets arrive close to or
//!   after their playout time) or depth < minimum, the pop returns
//!   [`Playout::Inserted`] without advancing the cursor: the caller plays a
//!   concealment/stretched frame and the whole schedule slips one frame;
//! - **shrink** (slowly): if `h > margin + 1.5 frames`, one frame is
//!   dropped, at most once every [`JitterConfig::shrink_interval`] pops
//!   (freely during a silence gap between talkspurts, where nothing
//!   audible is lost). A jitter burst leaves the window only after
//!   `window` packets, so depth decays one frame at a time after a quiet
//!   spell.
//!
//! Clock drift needs no separate mechanism: a sender clock running fast
//! makes transits shrink steadily, so headroom grows until a frame is
//! dropped; a slow sender makes them grow until a frame is inserted
//! (1 % drift at 20 ms frames: one frame per 100).
//!
//! Irregular arrivals:
//! - **late** (the cursor already passed it): dropped and counted, its
//!   transit still enters the window so the buffer grows;
//! - **duplicate** (same sequence number already queued or just played):
//!   dropped and counted;
//! - **reordered**: queued by sequence number, played in order, counted;
//! - **sequence/timestamp wrap**: 16-bit sequence numbers and 32-bit
//!   timestamps are unwrapped against the newest values (RFC 3550 A.1);
//! - **talkspurts** (DTX, RFC 3551 § 4.1): a timestamp jump consistent
//!   with the arrival gap, sequence numbers contiguous, plays
//!   [`Playout::Silence`] through the gap, not loss;
//! - **resync**: an SSRC change, a timestamp jump inconsistent with the
//!   arrival time (transit changes by more than
//!   [`JitterConfig::resync_ms`]) or a sequence jump beyond the buffer
//!   capacity flushes the buffer and starts over (counted);
//! - **loss**: a missing frame while later packets are queued is
//!   [`Playout::Missing`] (the caller conceals, e.g. with
//!   [`crate::plc`] or [`crate::opus::OpusDecoder::conceal`]); with
//!   nothing queued at all the pop is [`Playout::Empty`].
//!
//! Counters ([`JitterStats`]) follow RFC 3611 § 4.7 (VoIP metrics) in
//! spirit: `lost` counts sequence numbers never played (so a late packet
//! was also lost for playout), `late` those that arrived after their
//! turn, `discarded` adaptive drops.
//!
//! Not implemented: time-scale modification (the caller stretches or
//! conceals on [`Playout::Inserted`]), variable packet durations within a
//! stream (one `frame_ticks` per stream), RTCP generation.

use crate::CodecError;

/// Converts elapsed nanoseconds to ticks of `clock_rate` (for callers
/// driving the buffer from `Instant`).
pub fn ticks_from_nanos(nanos: u128, clock_rate: u32) -> u64 {
    (nanos * clock_rate as u128 / 1_000_000_000) as u64
}

/// Jitter-buffer settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// RTP clock rate of the stream (ticks per second).
    pub clock_rate: u32,
    /// RTP ticks per packet (e.g. 160 for 20 ms at 8000).
    pub frame_ticks: u32,
    /// Lower bound of the playout delay.
    pub min_delay_ms: u32,
    /// Upper bound of the playout delay.
    pub max_delay_ms: u32,
    /// Delay before playout starts (and after a resync).
    pub initial_delay_ms: u32,
    /// Safety headroom kept above the worst recent packet.
    pub margin_ms: u32,
    /// Packets in the jitter window (about `window × ptime` of history).
    pub window: usize,
    /// Largest transits in the window ignored as outliers (a single very
    /// late packet is dropped rather than growing the buffer for the
    /// whole window). 0 makes the buffer cover the worst packet.
    pub outliers: usize,
    /// Minimum pops between two shrink drops.
    pub shrink_interval: u32,
    /// Largest payload accepted (slot size, bytes).
    pub max_payload: usize,
    /// Transit change that counts as a timestamp jump (resync).
    pub resync_ms: u32,
}

impl JitterConfig {
    /// Defaults for `clock_rate` and `frame_ticks`: delay 20–300 ms
    /// starting at 60 ms, 5 ms margin, 100-packet window ignoring its 2
    /// largest transits (the 98th percentile), at most one
    /// shrink per 25 pops (0.5 s at 20 ms), 1500-byte payloads, resync on
    /// a 1 s transit jump.
    pub fn new(clock_rate: u32, frame_ticks: u32) -> Self {
        Self {
            clock_rate,
            frame_ticks,
            min_delay_ms: 20,
            max_delay_ms: 300,
            initial_delay_ms: 60,
            margin_ms: 5,
            window: 100,
            outliers: 2,
            shrink_interval: 25,
            max_payload: 1500,
            resync_ms: 1000,
        }
    }
}

/// Counters since construction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets accepted into the buffer.
    pub received: u64,
    /// Frames played ([`Playout::Frame`]).
    pub played: u64,
    /// Packets that arrived after their playout time (dropped).
    pub late: u64,
    /// Sequence numbers skipped at playout (never played).
    pub lost: u64,
    /// Duplicate packets (dropped).
    pub duplicate: u64,
    /// Packets that arrived out of order but in time.
    pub reordered: u64,
    /// Frames dropped to shrink the delay (jitter subsided, or a fast
    /// sender clock).
    pub discarded: u64,
    /// Frames inserted to grow the delay (jitter rose, or a slow sender
    /// clock).
    pub inserted: u64,
    /// Pops that found the frame missing ([`Playout::Missing`]).
    pub concealed: u64,
    /// Pops with nothing queued ([`Playout::Empty`]).
    pub empty: u64,
    /// Flushes after an SSRC change or timestamp/sequence jump.
    pub resyncs: u64,
}

/// What [`JitterBuffer::push`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Queued for playout.
    Queued,
    /// Queued, but after a later sequence number.
    Reordered,
    /// Arrived after its playout time; dropped.
    Late,
    /// Already queued or played; dropped.
    Duplicate,
    /// Started a new stream (SSRC change or jump); the buffer was flushed
    /// and this packet queued.
    Resync,
}

/// What to play for one frame period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Playout {
    /// Playout has not started (initial delay still building).
    Buffering,
    /// A packet: its payload is in the front `len` bytes of the output.
    Frame {
        /// RTP sequence number.
        seq: u16,
        /// RTP timestamp.
        timestamp: u32,
        /// Payload length written.
        len: usize,
    },
    /// The packet for this frame is missing (lost or late): conceal.
    Missing {
        /// The timestamp the missing frame would have had.
        timestamp: u32,
    },
    /// A gap between talkspurts (sequence numbers contiguous, timestamps
    /// jump): play comfort noise or silence.
    Silence {
        /// The timestamp of the silent frame.
        timestamp: u32,
    },
    /// The buffer grows by one frame: play a concealment or stretched
    /// frame; the same timestamp is due again on the next pop.
    Inserted {
        /// The timestamp that was held back.
        timestamp: u32,
    },
    /// Nothing queued (end of stream, DTX without a following packet yet,
    /// or an underrun).
    Empty,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Free,
    Queued,
    Played,
}

#[derive(Debug)]
struct Slot {
    state: SlotState,
    seq: i64,
    ts: i64,
    len: usize,
    data: Box<[u8]>,
}

const PLAYED_BITS: usize = 1024;
const MAX_OUTLIERS: usize = 16;

/// Unwraps a 16-bit sequence number against a 64-bit reference.
fn unwrap_seq(reference: i64, seq: u16) -> i64 {
    reference + i64::from(seq.wrapping_sub(reference as u16) as i16)
}

/// Unwraps a 32-bit timestamp against a 64-bit reference.
fn unwrap_ts(reference: i64, ts: u32) -> i64 {
    reference + i64::from(ts.wrapping_sub(reference as u32) as i32)
}

/// The adaptive jitter buffer. See the module docs.
#[derive(Debug)]
pub struct JitterBuffer {
    cfg: JitterConfig,
    frame: i64,
    margin: i64,
    min_delay: i64,
    max_delay: i64,
    initial_delay: i64,
    resync: i64,
    slots: Vec<Slot>,
    transits: Vec<i64>,
    transit_pos: usize,
    transit_len: usize,
    // Stream state.
    active: bool,
    ssrc: u32,
    highest_seq: i64,
    highest_ts: i64,
    last_transit: i64,
    first_arrival: u64,
    queued: usize,
    // Playout state.
    playing: bool,
    next_seq: i64,
    next_ts: i64,
    last_played_seq: Option<i64>,
    /// One bit per sequence number (mod 1024) played recently, to tell a
    /// duplicate of a played packet from a late one after its slot was
    /// reused.
    played_bits: [u64; PLAYED_BITS / 64],
    since_shrink: u32,
    offset: i64,
    stats: JitterStats,
}

impl JitterBuffer {
    /// A buffer for one stream; validates the configuration and allocates
    /// every slot up front.
    pub fn new(cfg: &JitterConfig) -> Result<Self, CodecError> {
        let bad = |name, reason| Err(CodecError::InvalidParameter { name, reason });
        if cfg.clock_rate == 0 || cfg.frame_ticks == 0 {
            return bad("clock_rate/frame_ticks", "must be non-zero");
        }
        if cfg.min_delay_ms > cfg.max_delay_ms || cfg.max_delay_ms > 5000 {
            return bad("delay", "need min_delay_ms ≤ max_delay_ms ≤ 5000");
        }
        if cfg.window == 0 || cfg.window > 10_000 {
            return bad("window", "must be 1..=10000 packets");
        }
        if cfg.outliers > MAX_OUTLIERS || cfg.outliers >= cfg.window {
            return bad("outliers", "must be below the window and at most 16");
        }
        if cfg.max_payload == 0 || cfg.max_payload > 65_535 {
            return bad("max_payload", "must be 1..=65535 bytes");
        }
        let ms = |v: u32| i64::from(v) * i64::from(cfg.clock_rate) / 1000;
        let frame = i64::from(cfg.frame_ticks);
        let max_delay = ms(cfg.max_delay_ms);
        // Room for the deepest buffer plus early packets and reordering.
        let capacity = ((max_delay / frame) as usize + 16).next_power_of_two();
        let slots = (0..capacity)
            .map(|_| Slot {
                state: SlotState::Free,
                seq: -1,
                ts: 0,
                len: 0,
                data: vec![0u8; cfg.max_payload].into_boxed_slice(),
            })
            .collect();
        Ok(Self {
            cfg: *cfg,
            frame,
            margin: ms(cfg.margin_ms),
            min_delay: ms(cfg.min_delay_ms),
            max_delay,
            initial_delay: ms(cfg
                .initial_delay_ms
                .clamp(cfg.min_delay_ms, cfg.max_delay_ms)),
            resync: ms(cfg.resync_ms).max(max_delay),
            slots,
            transits: vec![0; cfg.window],
            transit_pos: 0,
            transit_len: 0,
            active: false,
            ssrc: 0,
            highest_seq: 0,
            highest_ts: 0,
            last_transit: 0,
            first_arrival: 0,
            queued: 0,
            playing: false,
            next_seq: 0,
            next_ts: 0,
            last_played_seq: None,
            played_bits: [0; PLAYED_BITS / 64],
            since_shrink: 0,
            offset: 0,
            stats: JitterStats::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &JitterConfig {
        &self.cfg
    }

    /// Counters.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Packets currently queued.
    pub fn queued(&self) -> usize {
        self.queued
    }

    fn ticks_to_ms(&self, ticks: i64) -> f64 {
        ticks as f64 * 1000.0 / f64::from(self.cfg.clock_rate)
    }

    /// (min, max) transit over the window, the max ignoring the
    /// `outliers` largest values (kept in a small sorted array; the window
    /// is scanned once).
    fn window_min_max(&self) -> Option<(i64, i64)> {
        let w = &self.transits[..self.transit_len];
        let min = w.iter().copied().min()?;
        let skip = self.cfg.outliers.min(w.len() - 1).min(MAX_OUTLIERS);
        // top[0] ≥ top[1] ≥ … : the skip+1 largest values.
        let mut top = [i64::MIN; MAX_OUTLIERS + 1];
        for &t in w {
            if t > top[skip] {
                let mut i = skip;
                while i > 0 && top[i - 1] < t {
                    top[i] = top[i - 1];
                    i -= 1;
                }
                top[i] = t;
            }
        }
        Some((min, top[skip]))
    }

    /// Jitter over the window (max − min transit), in ms.
    pub fn jitter_ms(&self) -> f64 {
        self.window_min_max()
            .map_or(0.0, |(lo, hi)| self.ticks_to_ms(hi.saturating_sub(lo)))
    }

    /// Target playout delay (jitter + margin, within the bounds), in ms.
    pub fn target_ms(&self) -> f64 {
        self.ticks_to_ms(self.target_ticks())
    }

    fn target_ticks(&self) -> i64 {
        match self.window_min_max() {
            Some((lo, hi)) => hi
                .saturating_sub(lo)
                .saturating_add(self.margin)
                .clamp(self.min_delay, self.max_delay),
            None => self.initial_delay,
        }
    }

    /// Current playout delay of the fastest recent packets (time they
    /// wait between arrival and playout), in ms; 0 before playout starts.
    pub fn depth_ms(&self) -> f64 {
        if !self.playing {
            return 0.0;
        }
        self.window_min_max().map_or(0.0, |(lo, _)| {
            self.ticks_to_ms(self.offset.saturating_sub(lo))
        })
    }

    fn slot_index(&self, seq: i64) -> usize {
        (seq.rem_euclid(self.slots.len() as i64)) as usize
    }

    fn record_transit(&mut self, transit: i64) {
        self.transits[self.transit_pos] = transit;
        self.transit_pos = (self.transit_pos + 1) % self.transits.len();
        self.transit_len = (self.transit_len + 1).min(self.transits.len());
        self.last_transit = transit;
    }

    fn flush(&mut self) {
        for s in &mut self.slots {
            s.state = SlotState::Free;
            s.seq = -1;
        }
        self.queued = 0;
        self.transit_len = 0;
        self.transit_pos = 0;
        self.playing = false;
        self.last_played_seq = None;
        self.played_bits = [0; PLAYED_BITS / 64];
        self.since_shrink = 0;
    }

    fn bit(seq: i64) -> (usize, u64) {
        let b = seq.rem_euclid(PLAYED_BITS as i64) as usize;
        (b / 64, 1u64 << (b % 64))
    }

    fn was_played(&self, seq: i64) -> bool {
        let (w, m) = Self::bit(seq);
        self.last_played_seq
            .is_some_and(|p| seq <= p && p - seq < PLAYED_BITS as i64)
            && self.played_bits[w] & m != 0
    }

    /// Marks `seq` as played and the sequence numbers skipped since the
    /// previous one as not played.
    fn mark_played(&mut self, seq: i64) {
        let from = self
            .last_played_seq
            .map_or(seq, |p| (p + 1).max(seq - PLAYED_BITS as i64));
        for s in from..seq {
            let (w, m) = Self::bit(s);
            self.played_bits[w] &= !m;
        }
        let (w, m) = Self::bit(seq);
        self.played_bits[w] |= m;
        self.last_played_seq = Some(seq);
    }

    fn start_stream(&mut self, now: u64, ssrc: u32, seq: u16, ts: u32) {
        self.flush();
        self.active = true;
        self.ssrc = ssrc;
        self.highest_seq = i64::from(seq);
        self.highest_ts = i64::from(ts);
        self.next_seq = i64::from(seq);
        self.next_ts = i64::from(ts);
        self.first_arrival = now;
        self.last_transit = (now as i64).wrapping_sub(i64::from(ts));
    }

    /// Offers an arriving packet at receiver time `now`. Errors only if
    /// the payload exceeds [`JitterConfig::max_payload`].
    pub fn push(
        &mut self,
        now: u64,
        ssrc: u32,
        seq: u16,
        timestamp: u32,
        payload: &[u8],
    ) -> Result<Arrival, CodecError> {
        if payload.len() > self.cfg.max_payload {
            return Err(CodecError::PacketTooLarge {
                len: payload.len(),
                max: self.cfg.max_payload,
            });
        }
        let mut outcome = Arrival::Queued;
        if !self.active {
            self.start_stream(now, ssrc, seq, timestamp);
        } else if ssrc != self.ssrc {
            self.start_stream(now, ssrc, seq, timestamp);
            self.stats.resyncs += 1;
            outcome = Arrival::Resync;
        }
        let mut seq_ext = unwrap_seq(self.highest_seq, seq);
        let mut ts_ext = unwrap_ts(self.highest_ts, timestamp);
        let mut transit = (now as i64).wrapping_sub(ts_ext);
        let capacity = self.slots.len() as i64;
        let seq_jump = seq_ext - self.next_seq >= capacity;
        if outcome != Arrival::Resync
            && (transit.saturating_sub(self.last_transit).unsigned_abs() > self.resync as u64
                || seq_jump)
        {
            self.start_stream(now, ssrc, seq, timestamp);
            self.stats.resyncs += 1;
            outcome = Arrival::Resync;
            seq_ext = i64::from(seq);
            ts_ext = i64::from(timestamp);
            transit = (now as i64).wrapping_sub(ts_ext);
        }
        let idx = self.slot_index(seq_ext);
        let slot_has_it =
            self.slots[idx].seq == seq_ext && self.slots[idx].state != SlotState::Free;
        if slot_has_it || self.was_played(seq_ext) {
            self.stats.duplicate += 1;
            return Ok(Arrival::Duplicate);
        }
        let before_cursor = self.playing && (seq_ext < self.next_seq || ts_ext < self.next_ts);
        let already_played = self.last_played_seq.is_some_and(|p| seq_ext <= p);
        if before_cursor || already_played {
            self.stats.late += 1;
            self.record_transit(transit);
            return Ok(Arrival::Late);
        }
        if outcome == Arrival::Queued && seq_ext < self.highest_seq {
            self.stats.reordered += 1;
            outcome = Arrival::Reordered;
        }
        if !self.playing && seq_ext < self.next_seq {
            // An earlier packet arrived before playout started.
            self.next_seq = seq_ext;
            self.next_ts = ts_ext;
        }
        let slot = &mut self.slots[idx];
        if slot.state == SlotState::Queued {
            // Only reachable for a packet a whole capacity ahead of a stale
            // one; the stale packet can never play.
            self.queued -= 1;
        }
        slot.state = SlotState::Queued;
        slot.seq = seq_ext;
        slot.ts = ts_ext;
        slot.len = payload.len();
        slot.data[..payload.len()].copy_from_slice(payload);
        self.queued += 1;
        self.stats.received += 1;
        if seq_ext > self.highest_seq {
            self.highest_seq = seq_ext;
        }
        if ts_ext > self.highest_ts {
            self.highest_ts = ts_ext;
        }
        self.record_transit(transit);
        Ok(outcome)
    }

    /// The queued packet for sequence number `seq`, if any.
    fn queued_at(&self, seq: i64) -> Option<usize> {
        let idx = self.slot_index(seq);
        let s = &self.slots[idx];
        (s.state == SlotState::Queued && s.seq == seq).then_some(idx)
    }

    /// Discards queued packets whose timestamp the cursor has passed.
    fn skip_stale(&mut self) {
        while let Some(idx) = self.queued_at(self.next_seq) {
            if self.slots[idx].ts >= self.next_ts {
                break;
            }
            self.slots[idx].state = SlotState::Free;
            self.queued -= 1;
            self.stats.late += 1;
            self.next_seq += 1;
        }
    }

    /// The earliest queued packet after the cursor: (seq, ts).
    fn next_queued(&self) -> Option<(i64, i64)> {
        if self.queued == 0 {
            return None;
        }
        (self.next_seq..self.next_seq + self.slots.len() as i64)
            .find_map(|s| self.queued_at(s).map(|i| (s, self.slots[i].ts)))
    }

    /// The frame for this playout period at receiver time `now`; a
    /// packet's payload goes to the front of `out`. Call once per frame
    /// period.
    pub fn pop(&mut self, now: u64, out: &mut [u8]) -> Result<Playout, CodecError> {
        if !self.active {
            return Ok(Playout::Buffering);
        }
        if !self.playing {
            if now.saturating_sub(self.first_arrival) < self.initial_delay as u64 {
                return Ok(Playout::Buffering);
            }
            self.playing = true;
            self.since_shrink = 0;
        }
        self.since_shrink = self.since_shrink.saturating_add(1);
        self.skip_stale();
        self.offset = (now as i64).wrapping_sub(self.next_ts);
        let in_gap = self
            .next_queued()
            .is_some_and(|(s, t)| s == self.next_seq && t > self.next_ts);
        if let Some((lo, hi)) = self.window_min_max() {
            let depth = self.offset.saturating_sub(lo);
            let headroom = self.offset.saturating_sub(hi);
            let grow = (headroom < self.margin || depth < self.min_delay)
                && depth.saturating_add(self.frame) <= self.max_delay;
            if grow {
                self.stats.inserted += 1;
                return Ok(Playout::Inserted {
                    timestamp: self.next_ts as u32,
                });
            }
            let shrink = (headroom > self.margin + self.frame + self.frame / 2
                || depth > self.max_delay)
                && depth.saturating_sub(self.frame) >= self.min_delay
                && (in_gap || self.since_shrink >= self.cfg.shrink_interval);
            if shrink {
                self.since_shrink = 0;
                if let Some(idx) = self.queued_at(self.next_seq)
                    && self.slots[idx].ts == self.next_ts
                {
                    self.slots[idx].state = SlotState::Played;
                    self.queued -= 1;
                    self.mark_played(self.next_seq);
                    self.next_seq += 1;
                }
                self.stats.discarded += 1;
                self.next_ts += self.frame;
                self.offset = (now as i64).wrapping_sub(self.next_ts);
                self.skip_stale();
            }
        }
        let timestamp = self.next_ts as u32;
        loop {
            let Some((s, t)) = self.next_queued() else {
                self.next_ts += self.frame;
                self.stats.empty += 1;
                return Ok(Playout::Empty);
            };
            let idx = self.slot_index(s);
            if t < self.next_ts {
                // Behind the cursor (a timestamp inconsistent with its
                // sequence number): it can no longer play.
                self.slots[idx].state = SlotState::Free;
                self.queued -= 1;
                self.stats.late += 1;
                self.next_seq = s + 1;
                continue;
            }
            if t == self.next_ts {
                let len = self.slots[idx].len;
                let got = out.len();
                let dst = out
                    .get_mut(..len)
                    .ok_or(CodecError::OutputTooSmall { needed: len, got })?;
                dst.copy_from_slice(&self.slots[idx].data[..len]);
                self.slots[idx].state = SlotState::Played;
                self.queued -= 1;
                if let Some(p) = self.last_played_seq {
                    self.stats.lost += (s - p - 1).max(0) as u64;
                }
                self.mark_played(s);
                self.stats.played += 1;
                self.next_seq = s + 1;
                self.next_ts += self.frame;
                return Ok(Playout::Frame {
                    seq: s as u16,
                    timestamp,
                    len,
                });
            }
            self.next_ts += self.frame;
            if s == self.next_seq {
                // Contiguous sequence, later timestamp: a silence gap.
                return Ok(Playout::Silence { timestamp });
            }
            // The packet for this frame is missing; later ones exist.
            self.next_seq += 1;
            self.stats.concealed += 1;
            return Ok(Playout::Missing { timestamp });
        }
    }
}
