//! `ferrovox-codecs`: pure telephony codecs and signal processing for the
//! ferrovox media server.
//!
//! Everything in this crate is synchronous, performs no IO, spawns no threads
//! and allocates nothing on the per-frame encode/decode/detect paths: the
//! caller hands in input slices and pre-sized output slices, and every
//! stateful object allocates (if at all) only when constructed.
//!
//! Modules:
//! - [`g711`]: ITU-T G.711 µ-law and A-law, table driven in both directions.
//! - [`g722`]: ITU-T G.722 sub-band ADPCM: 64 kbit/s encoder, decoder for
//!   modes 1–3; bit-exact with ffmpeg's implementation.
//! - [`dtmf`]: RFC 4733 telephone-event payloads, in-band DTMF generation
//!   and Goertzel-based DTMF detection.
//! - [`tone`]: call-progress tones (dial, ringback, busy) driven by per-country
//!   cadence tables.
//! - [`noise`]: comfort-noise generation at a given level.
//! - [`vad`]: frame-energy voice activity detection with hangover, for
//!   loudest-speaker mixing.
//! - [`jitter`]: sans-IO adaptive RTP jitter buffer (late, duplicate,
//!   reordered packets, wrap, resync, clock drift) driven by a sample clock.
//! - [`opus`]: Opus (RFC 6716) through the system libopus: encoder and
//!   decoder wrappers with FEC, DTX, loss concealment, RTP clock 48000
//!   (RFC 7587).
//! - [`plc`]: G.711 Appendix I packet-loss concealment (pitch-period
//!   repetition, overlap-add, attenuation) for 8 and 16 kHz PCM.
//! - [`resample`]: streaming 8/16/48 kHz conversion on fixed-size frames
//!   (wraps `rubato`).
//! - [`transcode`]: PCMU/PCMA/G.722/Opus payload transcoding (decode,
//!   conceal, resample, repacketise, encode) with RTP timestamp rescaling
//!   and RFC 4733 events carried across.
//! - [`signal`]: level conventions (dBm0, dBFS) and deterministic synthetic
//!   test signals (speech-like harmonics).
//! - [`measure`]: measurement helpers (frequency estimation, segmental SNR,
//!   alignment) used by tests and benchmarks.
//!
//! A 20 ms G.722 frame round trip, then DTMF detection on 8 kHz PCM:
//!
//! ```
//! use ferrovox_codecs::dtmf::{DetectorConfig, Digit, DtmfDetector, DtmfGenerator, DtmfReport};
//! use ferrovox_codecs::g722::{G722Decoder, G722Encoder};
//!
//! let pcm = [0i16; 320]; // 20 ms at 16 kHz
//! let mut octets = [0u8; 160];
//! let mut decoded = [0i16; 320];
//! G722Encoder::new().encode(&pcm, &mut octets)?;
//! G722Decoder::new().decode(&octets, &mut decoded)?;
//!
//! let mut tone = [0i16; 800]; // 100 ms of '5' at −20 dBm0 per tone
//! DtmfGenerator::new(8000, Digit::D5, -20.0, 100)?.fill(&mut tone);
//! let mut detector = DtmfDetector::new(&DetectorConfig::default())?;
//! let mut heard = None;
//! detector.process(&tone, |r| {
//!     if let DtmfReport::Began { digit, .. } = r {
//!         heard = Some(digit);
//!     }
//! });
//! assert_eq!(heard, Some(Digit::D5));
//! # Ok::<(), ferrovox_codecs::CodecError>(())
//! ```
//!
//! The only system dependency is libopus (Debian `libopus-dev`, located
//! with `pkg-config`), used by [`opus`].
//!
//! Not here: RTP header packetisation (other than the 4-byte
//! telephone-event payload), sockets, timers or any other IO.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod dtmf;
mod error;
pub mod g711;
pub mod g722;
pub mod jitter;
pub mod measure;
pub mod noise;
pub mod opus;
pub mod plc;
pub mod resample;
pub mod signal;
pub mod tone;
pub mod transcode;
pub mod vad;

pub use error::{CodecError, OpusErrorKind};
