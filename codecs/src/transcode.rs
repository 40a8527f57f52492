//! One-direction RTP payload transcoder between PCMU, PCMA, G.722 and
//! Opus: decode → (conceal gaps) → resample → repacketise → encode.
//!
//! A [`Transcoder`] converts the payloads of one RTP stream (codec A,
//! packet time *a*) into payloads of another (codec B, packet time *b*);
//! a call needs one instance per direction. The caller hands in each
//! received payload with its RTP timestamp (in order, e.g. from
//! [`crate::jitter`]) and receives output payloads with their RTP
//! timestamps through a callback; RTP headers, SSRCs and sequence numbers
//! belong to the caller.
//!
//! Clocks (RFC 3551 § 4.5, RFC 7587 § 4.1): PCMU/PCMA tick at 8000 Hz
//! with 8 kHz audio; G.722 ticks at **8000** Hz although its audio is
//! 16 kHz (RFC 3551 § 4.5.2); Opus always ticks at **48000** Hz whatever
//! rate it runs at. Output timestamps start at the first input timestamp
//! rescaled to the output clock and advance by exactly one output packet
//! time per packet (`b × clock / 1000` ticks), so the output timeline is
//! the input timeline rescaled: `out = out₀ + (in − in₀) · clock_B /
//! clock_A`.
//!
//! Pipeline:
//! 1. decode the payload (G.711 tables, [`G722Decoder`], [`OpusDecoder`]);
//! 2. a gap in the input timestamps (a lost packet, at most
//!    [`TranscoderConfig::max_conceal_ms`]) is filled by concealment:
//!    G.711 Appendix I ([`Plc`]) for PCMU/PCMA/G.722 (decoded PCM), libopus
//!    PLC for Opus, and libopus FEC from the arriving packet for the last
//!    lost Opus frame (RFC 6716 § 4.2.4). A longer gap (DTX silence, a
//!    new talkspurt) is a timeline jump: the pending partial packet is
//!    dropped, the output timeline jumps by the rescaled gap and the next
//!    output packet carries the marker bit (RFC 3551 § 4.1);
//! 3. resample between the codec rates ([`FrameResampler`]) in blocks of
//!    gcd(*a*, *b*) ms (20 ms for 20 ms ↔ 20 ms);
//! 4. cut into output packets of *b* ms and encode. With Opus DTX on the
//!    output, packets of ≤ 2 bytes are not emitted (the timeline still
//!    advances and the next packet is marked).
//!
//! RFC 4733 telephone events bypass the audio path
//! ([`Transcoder::push_event`]): each event block keeps its code, E bit
//! and volume, its duration is rescaled to the output clock (saturating at
//! 65535 ticks; longer events must be segmented by the sender, § 2.5.2.3)
//! and the packet's timestamp is mapped onto the output timeline.
//!
//! The output audio lags its timestamps by the pipeline delay (3.75 ms of
//! G.711 Appendix I for PCM-decoded inputs, plus the resampler's delay;
//! see [`Transcoder::delay_ms`]). Nothing is allocated per packet: every
//! buffer is sized at construction.
//!
//! Not implemented: input G.711/G.722 packets that are not a multiple of
//! 10 ms, stereo, SSRC or sequence handling (the jitter buffer's job),
//! RFC 2198 redundancy, and carrying comfort-noise (RFC 3389) payloads.

use crate::CodecError;
use crate::dtmf::TelephoneEvent;
use crate::dtmf::rfc4733::EVENT_LEN;
use crate::g711::{decode_alaw, decode_ulaw, encode_alaw, encode_ulaw};
use crate::g722::{G722Decoder, G722Encoder};
use crate::opus::{MAX_PACKET_BYTES, OPUS_RTP_CLOCK_RATE, OpusConfig, OpusDecoder, OpusEncoder};
use crate::plc::Plc;
use crate::resample::{FrameResampler, Rate};

/// A payload format on one side of the transcoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// G.711 µ-law, 8 kHz, clock 8000.
    Pcmu,
    /// G.711 A-law, 8 kHz, clock 8000.
    Pcma,
    /// G.722 64 kbit/s, 16 kHz audio, clock 8000.
    G722,
    /// Opus, mono, clock 48000, coded/decoded at `sample_rate` (8000,
    /// 16000 or 48000).
    ///
    /// An Opus packet decodes at any of these rates, so on the input side
    /// choose the *output* codec's rate (8000 towards G.711, 16000
    /// towards G.722): libopus then delivers that rate itself and the
    /// transcoder's resampling stage is a copy (Opus → PCMU per 20 ms in
    /// `benches/micro`: 6.8 µs decoding at 8 kHz against 55 µs decoding at
    /// 48 kHz and resampling). On the
    /// output side the rate bounds the coded bandwidth: 8000 gives
    /// narrowband Opus, enough for audio that came from G.711.
    Opus {
        /// The rate the codec runs at on this side.
        sample_rate: u32,
    },
}

impl Codec {
    /// Audio sampling rate in Hz.
    pub fn audio_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma => 8000,
            Codec::G722 => 16000,
            Codec::Opus { sample_rate } => sample_rate,
        }
    }

    /// RTP clock rate in Hz.
    pub fn rtp_clock(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma | Codec::G722 => 8000,
            Codec::Opus { .. } => OPUS_RTP_CLOCK_RATE,
        }
    }
}

/// One side: codec and packet time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leg {
    /// The payload format.
    pub codec: Codec,
    /// Packet time in ms (10..=120, a multiple of 10; Opus output: 10,
    /// 20, 40 or 60). On the input side it is informative only: packet
    /// durations are taken from the payloads.
    pub ptime_ms: u32,
}

/// Transcoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TranscoderConfig {
    /// The received format.
    pub input: Leg,
    /// The sent format.
    pub output: Leg,
    /// Opus encoder settings when the output is Opus (its `sample_rate`
    /// and `frame_ms` are taken from `output`).
    pub opus: OpusConfig,
    /// Longest input gap filled by concealment; longer gaps are timeline
    /// jumps. Default 120 ms (G.711 Appendix I is silent after 60 ms).
    pub max_conceal_ms: u32,
}

impl TranscoderConfig {
    /// `input` → `output` with VoIP Opus defaults and 120 ms concealment.
    pub fn new(input: Leg, output: Leg) -> Self {
        Self {
            input,
            output,
            opus: OpusConfig::voip(output.codec.audio_rate()),
            max_conceal_ms: 120,
        }
    }
}

/// Whether an output packet carries audio or a telephone event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// Encoded audio in the output codec.
    Audio,
    /// An RFC 4733 telephone-event payload.
    Event,
}

/// One output payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutPacket<'a> {
    /// Audio or event.
    pub kind: PacketKind,
    /// RTP timestamp on the output clock.
    pub timestamp: u32,
    /// RTP marker bit (first packet after a timeline jump or DTX pause;
    /// for events, the caller's marker passed through).
    pub marker: bool,
    /// The payload.
    pub payload: &'a [u8],
}

/// Counters since construction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TranscodeStats {
    /// Audio payloads accepted.
    pub packets_in: u64,
    /// Audio payloads emitted.
    pub packets_out: u64,
    /// Audio packets not emitted because Opus DTX made them ≤ 2 bytes.
    pub dtx_suppressed: u64,
    /// Input samples synthesised by concealment (PLC or FEC).
    pub concealed_samples: u64,
    /// Opus frames recovered from FEC.
    pub fec_recovered: u64,
    /// Gaps longer than `max_conceal_ms` (timeline jumps).
    pub jumps: u64,
    /// Payloads behind the expected timestamp (duplicates or stale),
    /// ignored.
    pub stale: u64,
    /// Telephone-event payloads carried across.
    pub events: u64,
}

#[derive(Debug)]
enum Decoder {
    Pcmu,
    Pcma,
    G722(Box<G722Decoder>),
    Opus(OpusDecoder),
}

#[derive(Debug)]
enum Encoder {
    Pcmu,
    Pcma,
    G722(Box<G722Encoder>),
    Opus(OpusEncoder),
}

/// Most telephone events in one payload (§ 2.5.1.5 allows several).
const MAX_EVENTS: usize = 16;

/// The transcoder. See the module docs.
#[derive(Debug)]
pub struct Transcoder {
    cfg: TranscoderConfig,
    decoder: Decoder,
    plc: Option<Plc>,
    encoder: Encoder,
    resampler: FrameResampler,
    in_rate: u32,
    out_rate: u32,
    in_clock: u32,
    out_clock: u32,
    in_block: usize,
    rs_block: usize,
    out_frame: usize,
    out_frame_ticks: u32,
    max_conceal_samples: usize,
    dec_buf: Vec<i16>,
    in_buf: Vec<i16>,
    in_len: usize,
    out_buf: Vec<i16>,
    out_len: usize,
    pkt_buf: Vec<u8>,
    ev_buf: [u8; MAX_EVENTS * EVENT_LEN],
    started: bool,
    in_anchor: u32,
    out_anchor: u32,
    in_next_ts: u32,
    out_next_ts: u32,
    marker: bool,
    stats: TranscodeStats,
}

impl Transcoder {
    /// Builds the decoder, concealer, resampler and encoder and sizes
    /// every buffer.
    pub fn new(cfg: &TranscoderConfig) -> Result<Self, CodecError> {
        let (input, output) = (cfg.input, cfg.output);
        for leg in [input, output] {
            if !(10..=120).contains(&leg.ptime_ms) || !leg.ptime_ms.is_multiple_of(10) {
                return Err(CodecError::InvalidParameter {
                    name: "ptime_ms",
                    reason: "must be 10..=120 and a multiple of 10",
                });
            }
            if let Codec::Opus { sample_rate } = leg.codec {
                crate::opus::check_rate(sample_rate)?;
            }
        }
        let in_rate = input.codec.audio_rate();
        let out_rate = output.codec.audio_rate();
        let rate = |hz| {
            Rate::from_hz(hz).ok_or(CodecError::InvalidParameter {
                name: "sample_rate",
                reason: "must be 8000, 16000 or 48000",
            })
        };
        // Resample in blocks of gcd(ptime in, ptime out) — 20 ms for a
        // 20 ms ↔ 20 ms leg, halving the calls — or 10 ms if the resampler
        // cannot use that size.
        let block_ms = gcd(input.ptime_ms, output.ptime_ms);
        let resampler = match FrameResampler::new(rate(in_rate)?, rate(out_rate)?, block_ms) {
            Ok(r) => r,
            Err(_) => FrameResampler::new(rate(in_rate)?, rate(out_rate)?, 10)?,
        };
        let decoder = match input.codec {
            Codec::Pcmu => Decoder::Pcmu,
            Codec::Pcma => Decoder::Pcma,
            Codec::G722 => Decoder::G722(Box::default()),
            Codec::Opus { sample_rate } => Decoder::Opus(OpusDecoder::new(sample_rate)?),
        };
        let plc = match input.codec {
            Codec::Opus { .. } => None,
            c => Some(Plc::new(c.audio_rate())?),
        };
        let out_frame = (out_rate * output.ptime_ms / 1000) as usize;
        let encoder = match output.codec {
            Codec::Pcmu => Encoder::Pcmu,
            Codec::Pcma => Encoder::Pcma,
            Codec::G722 => Encoder::G722(Box::default()),
            Codec::Opus { sample_rate } => Encoder::Opus(OpusEncoder::new(&OpusConfig {
                sample_rate,
                frame_ms: output.ptime_ms,
                ..cfg.opus
            })?),
        };
        let in_block = (in_rate / 100) as usize;
        let rs_block = resampler.input_len();
        let out_block = resampler.output_len();
        let max_decode = (in_rate * crate::opus::MAX_FRAME_MS / 1000) as usize;
        Ok(Self {
            cfg: *cfg,
            decoder,
            plc,
            encoder,
            resampler,
            in_rate,
            out_rate,
            in_clock: input.codec.rtp_clock(),
            out_clock: output.codec.rtp_clock(),
            in_block,
            rs_block,
            out_frame,
            out_frame_ticks: output.codec.rtp_clock() * output.ptime_ms / 1000,
            max_conceal_samples: (u64::from(in_rate) * u64::from(cfg.max_conceal_ms) / 1000)
                as usize,
            dec_buf: vec![0; max_decode],
            in_buf: vec![0; max_decode + rs_block],
            in_len: 0,
            out_buf: vec![0; out_frame + out_block],
            out_len: 0,
            pkt_buf: vec![0; MAX_PACKET_BYTES.max(out_frame)],
            ev_buf: [0; MAX_EVENTS * EVENT_LEN],
            started: false,
            in_anchor: 0,
            out_anchor: 0,
            in_next_ts: 0,
            out_next_ts: 0,
            marker: true,
            stats: TranscodeStats::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TranscoderConfig {
        &self.cfg
    }

    /// Counters.
    pub fn stats(&self) -> TranscodeStats {
        self.stats
    }

    /// Output RTP ticks per output packet.
    pub fn output_ticks_per_packet(&self) -> u32 {
        self.out_frame_ticks
    }

    /// Delay of the audio behind its timestamps, in ms: G.711 Appendix I's
    /// 3.75 ms for PCM-decoded inputs plus the resampler's delay (codec
    /// look-ahead of Opus not included).
    pub fn delay_ms(&self) -> f64 {
        let plc = self
            .plc
            .as_ref()
            .map_or(0.0, |p| p.delay() as f64 * 1000.0 / f64::from(self.in_rate));
        plc + self.resampler.delay() as f64 * 1000.0 / f64::from(self.out_rate)
    }

    /// Maps an input timestamp onto the output timeline.
    fn map_ts(&self, ts: u32) -> u32 {
        let d = i64::from(ts.wrapping_sub(self.in_anchor) as i32);
        let scaled = d * i64::from(self.out_clock) / i64::from(self.in_clock);
        self.out_anchor.wrapping_add(scaled as u32)
    }

    fn start(&mut self, ts: u32) {
        self.started = true;
        self.in_anchor = ts;
        self.out_anchor =
            (u64::from(ts) * u64::from(self.out_clock) / u64::from(self.in_clock)) as u32;
        self.in_next_ts = ts;
        self.out_next_ts = self.out_anchor;
        self.marker = true;
    }

    /// Input samples → input RTP ticks.
    fn samples_to_ticks(&self, samples: usize) -> u32 {
        (samples as u64 * u64::from(self.in_clock) / u64::from(self.in_rate)) as u32
    }

    fn ticks_to_samples(&self, ticks: u32) -> usize {
        (u64::from(ticks) * u64::from(self.in_rate) / u64::from(self.in_clock)) as usize
    }

    /// Transcodes one received audio payload with RTP timestamp
    /// `timestamp`; output packets go to `emit`. Returns the number of
    /// audio packets emitted.
    pub fn push_audio(
        &mut self,
        timestamp: u32,
        payload: &[u8],
        mut emit: impl FnMut(&OutPacket<'_>),
    ) -> Result<usize, CodecError> {
        if payload.is_empty() {
            return Err(CodecError::PayloadTooShort { needed: 1, got: 0 });
        }
        // Validate and measure before touching any state.
        let samples = match &self.decoder {
            Decoder::Pcmu | Decoder::Pcma => payload.len(),
            Decoder::G722(_) => payload.len() * 2,
            Decoder::Opus(d) => d.packet_samples(payload)?,
        };
        if self.plc.is_some() && !samples.is_multiple_of(self.in_block) {
            return Err(CodecError::BadPayloadLength {
                len: payload.len(),
                reason: "G.711/G.722 payloads must be a multiple of 10 ms",
            });
        }
        if samples > self.dec_buf.len() {
            return Err(CodecError::BadPayloadLength {
                len: payload.len(),
                reason: "payload longer than 120 ms",
            });
        }
        if !self.started {
            self.start(timestamp);
        }
        let gap = timestamp.wrapping_sub(self.in_next_ts) as i32;
        if gap < 0 {
            self.stats.stale += 1;
            return Ok(0);
        }
        let mut emitted = 0;
        if gap > 0 {
            let missing = self.ticks_to_samples(gap as u32);
            if missing > self.max_conceal_samples {
                self.jump(timestamp);
            } else {
                emitted += self.conceal_gap(missing, payload, samples, &mut emit)?;
            }
        }
        let mut dec = core::mem::take(&mut self.dec_buf);
        let result = self.decode_into(payload, &mut dec[..samples]);
        let result = result.and_then(|()| self.feed(&dec[..samples], &mut emit));
        self.dec_buf = dec;
        emitted += result?;
        self.in_next_ts = timestamp.wrapping_add(self.samples_to_ticks(samples));
        self.stats.packets_in += 1;
        Ok(emitted)
    }

    fn decode_into(&mut self, payload: &[u8], out: &mut [i16]) -> Result<(), CodecError> {
        match &mut self.decoder {
            Decoder::Pcmu => {
                decode_ulaw(payload, out)?;
            }
            Decoder::Pcma => {
                decode_alaw(payload, out)?;
            }
            Decoder::G722(d) => {
                d.decode(payload, out)?;
            }
            Decoder::Opus(d) => {
                d.decode(payload, out)?;
            }
        }
        if let Some(plc) = self.plc.as_mut() {
            plc.good_frame(out)?;
        }
        Ok(())
    }

    /// Drops pending audio and re-anchors the output timeline at
    /// `timestamp` (a gap too long to conceal).
    fn jump(&mut self, timestamp: u32) {
        let out_ts = self.map_ts(timestamp);
        self.in_anchor = timestamp;
        self.out_anchor = out_ts;
        self.out_next_ts = out_ts;
        self.in_next_ts = timestamp;
        self.in_len = 0;
        self.out_len = 0;
        self.marker = true;
        self.stats.jumps += 1;
    }

    /// Conceals `missing` input samples before `payload` (of `samples`
    /// samples), in 10 ms units; the last Opus frame from FEC when it fits.
    fn conceal_gap(
        &mut self,
        missing: usize,
        payload: &[u8],
        samples: usize,
        emit: &mut impl FnMut(&OutPacket<'_>),
    ) -> Result<usize, CodecError> {
        let is_opus = matches!(self.decoder, Decoder::Opus(_));
        // PLC works in 10 ms units, libopus in 2.5 ms units.
        let quantum = if is_opus {
            (self.in_rate / 400) as usize
        } else {
            self.in_block
        };
        let missing = missing - missing % quantum;
        let fec_len = if is_opus && missing >= samples && samples <= self.in_block * 6 {
            samples
        } else {
            0
        };
        let mut remaining = missing - fec_len;
        let mut emitted = 0;
        let mut dec = core::mem::take(&mut self.dec_buf);
        let mut result = Ok(());
        while remaining > 0 && result.is_ok() {
            let n = remaining.min(self.in_block);
            let out = &mut dec[..n];
            result = match (&mut self.decoder, self.plc.as_mut()) {
                (Decoder::Opus(d), _) => d.conceal(out).map(|_| ()),
                (_, Some(p)) => p.conceal(out),
                (_, None) => {
                    out.fill(0);
                    Ok(())
                }
            };
            if result.is_ok() {
                match self.feed(&dec[..n], emit) {
                    Ok(k) => emitted += k,
                    Err(e) => result = Err(e),
                }
            }
            remaining -= n;
        }
        if result.is_ok() && fec_len > 0 {
            if let Decoder::Opus(d) = &mut self.decoder {
                result = d.decode_fec(payload, &mut dec[..fec_len]).map(|_| ());
            }
            if result.is_ok() {
                self.stats.fec_recovered += 1;
                match self.feed(&dec[..fec_len], emit) {
                    Ok(k) => emitted += k,
                    Err(e) => result = Err(e),
                }
            }
        }
        self.dec_buf = dec;
        result?;
        self.stats.concealed_samples += missing as u64;
        Ok(emitted)
    }

    /// Appends decoded input PCM, resamples whole blocks and
    /// encodes whole output packets.
    fn feed(
        &mut self,
        pcm: &[i16],
        emit: &mut impl FnMut(&OutPacket<'_>),
    ) -> Result<usize, CodecError> {
        let mut emitted = 0;
        let mut src = pcm;
        // Fast path: nothing buffered, so whole blocks are resampled
        // straight from the decoded PCM into the output buffer.
        if self.in_len == 0 {
            while src.len() >= self.rs_block {
                emitted += self.resample_block(&src[..self.rs_block], emit)?;
                src = &src[self.rs_block..];
            }
        }
        while !src.is_empty() {
            let room = self.in_buf.len() - self.in_len;
            let take = room.min(src.len());
            self.in_buf[self.in_len..self.in_len + take].copy_from_slice(&src[..take]);
            self.in_len += take;
            src = &src[take..];
            while self.in_len >= self.rs_block {
                let in_buf = core::mem::take(&mut self.in_buf);
                let r = self.resample_block(&in_buf[..self.rs_block], emit);
                self.in_buf = in_buf;
                self.in_buf.copy_within(self.rs_block..self.in_len, 0);
                self.in_len -= self.rs_block;
                emitted += r?;
            }
        }
        Ok(emitted)
    }

    /// Resamples one block into the output buffer (which always has room
    /// for a block) and encodes a packet when one is complete.
    fn resample_block(
        &mut self,
        block: &[i16],
        emit: &mut impl FnMut(&OutPacket<'_>),
    ) -> Result<usize, CodecError> {
        let n = self
            .resampler
            .process(block, &mut self.out_buf[self.out_len..])?;
        self.out_len += n;
        if self.out_len >= self.out_frame {
            return self.encode_frame(emit);
        }
        Ok(0)
    }

    /// Encodes the first output frame of `out_buf` and emits it.
    fn encode_frame(&mut self, emit: &mut impl FnMut(&OutPacket<'_>)) -> Result<usize, CodecError> {
        let frame = &self.out_buf[..self.out_frame];
        let len = match &mut self.encoder {
            Encoder::Pcmu => encode_ulaw(frame, &mut self.pkt_buf)?,
            Encoder::Pcma => encode_alaw(frame, &mut self.pkt_buf)?,
            Encoder::G722(e) => e.encode(frame, &mut self.pkt_buf)?,
            Encoder::Opus(e) => e.encode(frame, &mut self.pkt_buf)?,
        };
        self.out_buf.copy_within(self.out_frame..self.out_len, 0);
        self.out_len -= self.out_frame;
        let timestamp = self.out_next_ts;
        self.out_next_ts = self.out_next_ts.wrapping_add(self.out_frame_ticks);
        let dtx = matches!(&self.encoder, Encoder::Opus(e) if e.config().dtx) && len <= 2;
        if dtx {
            self.stats.dtx_suppressed += 1;
            self.marker = true;
            return Ok(0);
        }
        emit(&OutPacket {
            kind: PacketKind::Audio,
            timestamp,
            marker: self.marker,
            payload: &self.pkt_buf[..len],
        });
        self.marker = false;
        self.stats.packets_out += 1;
        Ok(1)
    }

    /// Carries an RFC 4733 telephone-event payload (one or more 4-octet
    /// events) across: durations rescaled to the output clock, timestamp
    /// mapped onto the output timeline, `marker` passed through. Emits
    /// exactly one packet.
    pub fn push_event(
        &mut self,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
        mut emit: impl FnMut(&OutPacket<'_>),
    ) -> Result<(), CodecError> {
        let events = TelephoneEvent::parse_all(payload)?;
        if payload.len() > self.ev_buf.len() {
            return Err(CodecError::BadPayloadLength {
                len: payload.len(),
                reason: "more than 16 events in one payload",
            });
        }
        if !self.started {
            self.start(timestamp);
        }
        let (num, den) = (u64::from(self.out_clock), u64::from(self.in_clock));
        let mut len = 0;
        for ev in events {
            let scaled = (u64::from(ev.duration) * num + den / 2) / den;
            let duration = scaled.min(u64::from(u16::MAX)) as u16;
            let out = TelephoneEvent::new(ev.event, ev.end, ev.volume(), duration)?;
            len += out.write(&mut self.ev_buf[len..])?;
        }
        self.stats.events += 1;
        emit(&OutPacket {
            kind: PacketKind::Event,
            timestamp: self.map_ts(timestamp),
            marker,
            payload: &self.ev_buf[..len],
        });
        Ok(())
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}
