//! Opus (RFC 6716) through the system libopus, mono, for VoIP legs.
//!
//! [`OpusEncoder`] and [`OpusDecoder`] wrap libopus (via the `opus2`
//! bindings, linked dynamically against Debian's `libopus-dev` found by
//! `pkg-config`) with the settings a telephony leg needs:
//! - internal sample rates 8, 16 and 48 kHz (RFC 6716 § 2 lists the
//!   narrowband … fullband audio bandwidths; the codec itself accepts other
//!   rates, this crate does not), one channel;
//! - frame durations 10, 20, 40 and 60 ms (RFC 6716 § 2.1.4; 2.5/5 ms CELT
//!   frames are not offered);
//! - bitrate, complexity (0–10), in-band FEC (the SILK LBRR frames of
//!   RFC 6716 § 4.2.4, used only when the configured packet-loss
//!   percentage is non-zero), DTX (§ 2.1.9), and the expected packet-loss
//!   percentage.
//!
//! RTP (RFC 7587): the RTP clock rate is **always 48000**
//! ([`OPUS_RTP_CLOCK_RATE`], § 4.1) whatever rate the codec runs at, so a
//! 20 ms packet advances the RTP timestamp by 960 even if it was encoded
//! from 160 samples at 8 kHz; SDP says `opus/48000/2` (§ 7) although the
//! stream is mono. Use [`rtp_ticks`] to convert.
//!
//! Losses: [`OpusDecoder::conceal`] runs libopus packet-loss concealment
//! for a missing frame, and [`OpusDecoder::decode_fec`] rebuilds a missing
//! frame from the FEC (LBRR) data carried in the *next* packet, falling
//! back to concealment when that packet carries none (RFC 6716 § 4.2.4,
//! RFC 7587 § 3.2).
//!
//! Buffers belong to the caller and nothing is allocated per frame:
//! encoding writes into a caller slice (at most [`MAX_PACKET_BYTES`]
//! useful), decoding into a caller slice of at least the packet's duration
//! (up to [`MAX_FRAME_MS`]). libopus keeps its working memory on the stack.
//!
//! Errors are typed: a frame of the wrong length is
//! [`CodecError::BadInputLength`], a corrupt packet is
//! [`CodecError::Opus`] with [`OpusErrorKind::InvalidPacket`].
//!
//! Not implemented: stereo, multistream/surround, the 2.5/5 ms frame
//! sizes, CBR-constrained modes beyond the VBR switch, DRED/deep PLC of
//! libopus ≥ 1.5, and the RFC 7587 SDP fmtp parameters (the signalling
//! layer maps `maxplaybackrate`, `useinbandfec`, `usedtx` etc. onto
//! [`OpusConfig`]).

use opus2::{Application, Bitrate, Channels};

use crate::CodecError;
use crate::error::OpusErrorKind;

/// RTP clock rate of Opus: always 48000, regardless of the encoder's or
/// decoder's sample rate (RFC 7587 § 4.1).
pub const OPUS_RTP_CLOCK_RATE: u32 = 48_000;

/// Largest packet a single encode may produce that libopus recommends
/// reserving room for (the libopus documentation suggests 4000 bytes;
/// one 20 ms frame is at most 1275 bytes, RFC 6716 § 3.2.1).
pub const MAX_PACKET_BYTES: usize = 4000;

/// Longest duration an Opus packet can carry (RFC 6716 § 3.2.5).
pub const MAX_FRAME_MS: u32 = 120;

/// Converts a number of samples at `sample_rate` to Opus RTP timestamp
/// ticks (48 kHz).
pub fn rtp_ticks(samples: usize, sample_rate: u32) -> u32 {
    (samples as u64 * OPUS_RTP_CLOCK_RATE as u64 / sample_rate.max(1) as u64) as u32
}

/// The libopus application mode (`OPUS_APPLICATION_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpusApplication {
    /// Speech-optimised (SILK/hybrid favoured): the telephony default.
    Voip,
    /// General audio.
    Audio,
    /// Lowest delay (CELT only; no FEC, since FEC is a SILK feature).
    LowDelay,
}

/// Encoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusConfig {
    /// Sample rate of the PCM handed to the encoder: 8000, 16000 or 48000.
    pub sample_rate: u32,
    /// Frame duration: 10, 20, 40 or 60 ms.
    pub frame_ms: u32,
    /// Target bitrate in bit/s, 6000..=510000 (RFC 6716 § 2.1.1).
    pub bitrate: u32,
    /// Computational complexity 0..=10 (higher: better quality, more CPU).
    pub complexity: u8,
    /// Use variable bitrate (libopus default); `false` gives CBR.
    pub vbr: bool,
    /// Emit in-band FEC (LBRR) for the previous frame (RFC 6716 § 4.2.4).
    pub fec: bool,
    /// Discontinuous transmission: on silence the encoder emits tiny
    /// packets (≤ 2 bytes, which need not be sent) about every 400 ms.
    pub dtx: bool,
    /// Expected packet loss in percent, 0..=100; drives how much FEC is
    /// spent. FEC is only produced when this is non-zero.
    pub packet_loss_percent: u8,
    /// Application mode.
    pub application: OpusApplication,
}

impl OpusConfig {
    /// VoIP defaults at `sample_rate`: 20 ms frames, 12 kbit/s narrowband,
    /// 20 kbit/s wideband, 32 kbit/s fullband, complexity 5, VBR, no FEC,
    /// no DTX, 0 % loss.
    pub fn voip(sample_rate: u32) -> Self {
        let bitrate = match sample_rate {
            8000 => 12_000,
            16000 => 20_000,
            _ => 32_000,
        };
        Self {
            sample_rate,
            frame_ms: 20,
            bitrate,
            complexity: 5,
            vbr: true,
            fec: false,
            dtx: false,
            packet_loss_percent: 0,
            application: OpusApplication::Voip,
        }
    }

    /// Samples in one frame at the configured rate.
    pub fn frame_samples(&self) -> usize {
        (self.sample_rate * self.frame_ms / 1000) as usize
    }
}

pub(crate) fn check_rate(sample_rate: u32) -> Result<(), CodecError> {
    match sample_rate {
        8000 | 16000 | 48000 => Ok(()),
        _ => Err(CodecError::InvalidParameter {
            name: "sample_rate",
            reason: "Opus legs run at 8000, 16000 or 48000 Hz",
        }),
    }
}

fn opus_err(e: opus2::Error) -> CodecError {
    use opus2::ErrorCode as C;
    let kind = match e.code() {
        C::BadArg => OpusErrorKind::BadArg,
        C::BufferTooSmall => OpusErrorKind::BufferTooSmall,
        C::InternalError => OpusErrorKind::Internal,
        C::InvalidPacket => OpusErrorKind::InvalidPacket,
        C::Unimplemented => OpusErrorKind::Unimplemented,
        C::InvalidState => OpusErrorKind::InvalidState,
        C::AllocFail => OpusErrorKind::AllocFail,
        C::Unknown => OpusErrorKind::Unknown,
    };
    CodecError::Opus {
        function: e.function(),
        kind,
    }
}

/// A mono Opus encoder with fixed frame duration.
#[derive(Debug)]
pub struct OpusEncoder {
    inner: opus2::Encoder,
    config: OpusConfig,
    frame_samples: usize,
}

impl OpusEncoder {
    /// Creates and configures an encoder; every setting is validated.
    pub fn new(config: &OpusConfig) -> Result<Self, CodecError> {
        check_rate(config.sample_rate)?;
        if !matches!(config.frame_ms, 10 | 20 | 40 | 60) {
            return Err(CodecError::InvalidParameter {
                name: "frame_ms",
                reason: "must be 10, 20, 40 or 60",
            });
        }
        if !(6000..=510_000).contains(&config.bitrate) {
            return Err(CodecError::InvalidParameter {
                name: "bitrate",
                reason: "must be 6000..=510000 bit/s",
            });
        }
        if config.complexity > 10 {
            return Err(CodecError::InvalidParameter {
                name: "complexity",
                reason: "must be 0..=10",
            });
        }
        if config.packet_loss_percent > 100 {
            return Err(CodecError::InvalidParameter {
                name: "packet_loss_percent",
                reason: "must be 0..=100",
            });
        }
        let app = match config.application {
            OpusApplication::Voip => Application::Voip,
            OpusApplication::Audio => Application::Audio,
            OpusApplication::LowDelay => Application::LowDelay,
        };
        let mut inner =
            opus2::Encoder::new(config.sample_rate, Channels::Mono, app).map_err(opus_err)?;
        inner
            .set_bitrate(Bitrate::Bits(config.bitrate as i32))
            .map_err(opus_err)?;
        inner
            .set_complexity(i32::from(config.complexity))
            .map_err(opus_err)?;
        inner.set_vbr(config.vbr).map_err(opus_err)?;
        inner.set_inband_fec(config.fec).map_err(opus_err)?;
        inner.set_dtx(config.dtx).map_err(opus_err)?;
        inner
            .set_packet_loss_perc(i32::from(config.packet_loss_percent))
            .map_err(opus_err)?;
        Ok(Self {
            inner,
            config: *config,
            frame_samples: config.frame_samples(),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &OpusConfig {
        &self.config
    }

    /// Samples per frame (the exact input length of [`Self::encode`]).
    pub fn frame_samples(&self) -> usize {
        self.frame_samples
    }

    /// RTP timestamp increment per packet (48 kHz ticks).
    pub fn rtp_ticks_per_frame(&self) -> u32 {
        rtp_ticks(self.frame_samples, self.config.sample_rate)
    }

    /// Encodes one frame of exactly [`Self::frame_samples`] samples into
    /// `out`; returns the packet length. With DTX on, a packet of 1–2
    /// bytes means "silence, nothing worth sending" (it need not be
    /// transmitted).
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        if pcm.len() != self.frame_samples {
            return Err(CodecError::BadInputLength {
                len: pcm.len(),
                multiple: self.frame_samples,
            });
        }
        if out.is_empty() {
            return Err(CodecError::OutputTooSmall {
                needed: MAX_PACKET_BYTES,
                got: 0,
            });
        }
        self.inner.encode(pcm, out).map_err(opus_err)
    }

    /// Changes the target bitrate (bit/s, 6000..=510000).
    pub fn set_bitrate(&mut self, bitrate: u32) -> Result<(), CodecError> {
        if !(6000..=510_000).contains(&bitrate) {
            return Err(CodecError::InvalidParameter {
                name: "bitrate",
                reason: "must be 6000..=510000 bit/s",
            });
        }
        self.inner
            .set_bitrate(Bitrate::Bits(bitrate as i32))
            .map_err(opus_err)?;
        self.config.bitrate = bitrate;
        Ok(())
    }

    /// Changes the expected packet-loss percentage (0..=100), e.g. from
    /// RTCP receiver reports.
    pub fn set_packet_loss_percent(&mut self, percent: u8) -> Result<(), CodecError> {
        if percent > 100 {
            return Err(CodecError::InvalidParameter {
                name: "packet_loss_percent",
                reason: "must be 0..=100",
            });
        }
        self.inner
            .set_packet_loss_perc(i32::from(percent))
            .map_err(opus_err)?;
        self.config.packet_loss_percent = percent;
        Ok(())
    }

    /// Whether the encoder is currently in DTX (silence) state.
    pub fn in_dtx(&mut self) -> Result<bool, CodecError> {
        self.inner.get_in_dtx().map_err(opus_err)
    }

    /// Encoder look-ahead in samples at the configured rate (the codec's
    /// algorithmic delay).
    pub fn lookahead(&mut self) -> Result<usize, CodecError> {
        self.inner
            .get_lookahead()
            .map(|v| v.max(0) as usize)
            .map_err(opus_err)
    }
}

/// A mono Opus decoder with loss concealment and FEC recovery.
#[derive(Debug)]
pub struct OpusDecoder {
    inner: opus2::Decoder,
    sample_rate: u32,
}

impl OpusDecoder {
    /// A decoder producing PCM at `sample_rate` (8000, 16000 or 48000);
    /// it decodes packets from encoders at any rate.
    pub fn new(sample_rate: u32) -> Result<Self, CodecError> {
        check_rate(sample_rate)?;
        let inner = opus2::Decoder::new(sample_rate, Channels::Mono).map_err(opus_err)?;
        Ok(Self { inner, sample_rate })
    }

    /// Output sample rate.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Samples (at the decoder's rate) that `packet` decodes to; errors
    /// on an invalid TOC/frame-count header (RFC 6716 § 3.1, § 3.2.5).
    pub fn packet_samples(&self, packet: &[u8]) -> Result<usize, CodecError> {
        if packet.is_empty() {
            return Err(CodecError::PayloadTooShort { needed: 1, got: 0 });
        }
        match opus2::packet::get_nb_samples(packet, self.sample_rate).map_err(opus_err)? {
            // A code-3 packet announcing zero frames (RFC 6716 § 3.2.5, R5).
            0 => Err(CodecError::Opus {
                function: "opus_packet_get_nb_samples",
                kind: OpusErrorKind::InvalidPacket,
            }),
            n => Ok(n),
        }
    }

    /// Decodes `packet` into the front of `out` (which must hold the
    /// packet's whole duration); returns the number of samples.
    pub fn decode(&mut self, packet: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        let needed = self.packet_samples(packet)?;
        if out.len() < needed {
            return Err(CodecError::OutputTooSmall {
                needed,
                got: out.len(),
            });
        }
        self.inner
            .decode(packet, &mut out[..needed], false)
            .map_err(opus_err)
    }

    fn check_loss_len(&self, out: &[i16]) -> Result<(), CodecError> {
        // libopus conceals in multiples of 2.5 ms, up to 120 ms.
        let quantum = (self.sample_rate / 400) as usize;
        let max = (self.sample_rate * MAX_FRAME_MS / 1000) as usize;
        if out.is_empty() || !out.len().is_multiple_of(quantum) || out.len() > max {
            return Err(CodecError::BadInputLength {
                len: out.len(),
                multiple: quantum,
            });
        }
        Ok(())
    }

    /// Packet-loss concealment: fills all of `out` (the missing duration,
    /// a multiple of 2.5 ms up to 120 ms) with extrapolated audio that
    /// fades out over consecutive losses; returns `out.len()`.
    pub fn conceal(&mut self, out: &mut [i16]) -> Result<usize, CodecError> {
        self.check_loss_len(out)?;
        self.inner.decode(&[], out, false).map_err(opus_err)
    }

    /// Recovers the missing frame that precedes `next_packet` from the
    /// FEC data in `next_packet`; `out` is the missing duration (as for
    /// [`Self::conceal`]). Without FEC data libopus conceals instead.
    /// Afterwards decode `next_packet` itself normally.
    pub fn decode_fec(&mut self, next_packet: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        self.check_loss_len(out)?;
        self.packet_samples(next_packet)?;
        self.inner.decode(next_packet, out, true).map_err(opus_err)
    }

    /// Pitch period (samples at 48 kHz) of the last decoded frame, 0 if
    /// unvoiced or unknown.
    pub fn last_pitch(&mut self) -> Result<u32, CodecError> {
        self.inner
            .get_pitch()
            .map(|p| p.max(0) as u32)
            .map_err(opus_err)
    }

    /// Resets the decoder state (e.g. after an SSRC change).
    pub fn reset(&mut self) -> Result<(), CodecError> {
        self.inner.reset_state().map_err(opus_err)
    }
}
