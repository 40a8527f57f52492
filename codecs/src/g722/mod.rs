//! ITU-T G.722 (09/2012) 7 kHz audio coding within 64 kbit/s: sub-band
//! ADPCM at mode 1 (64 kbit/s, 6 bits lower band + 2 bits upper band).
//!
//! Implemented, following the block structure of the recommendation:
//! - § 3.1 / § 4.1 transmit and receive quadrature mirror filters
//!   (24-tap QMF, [`qmf`]);
//! - § 3.2–3.6 lower and upper sub-band ADPCM encoders (blocks 1L–4L,
//!   1H–4H) in [`encoder`];
//! - § 4.2–4.4 lower and upper sub-band ADPCM decoders (blocks 5L, 6L,
//!   5H, 6H) in [`decoder`], for modes 1, 2 and 3 (64, 56 and 48 kbit/s of
//!   audio; the data bits of modes 2/3 are ignored);
//! - the shared adaptive quantiser scale factors and pole-zero predictor
//!   (blocks 3L/3H and 4) in [`band`], with the quantiser tables of
//!   Tables 6–10 in [`tables`].
//!
//! Octets are unpacked, one per 16 kHz sample pair, upper-band bits in the
//! two most significant bits, as carried by RTP (RFC 3551 § 4.5.2).
//!
//! Not implemented: encoding in modes 2 and 3 (inserting auxiliary data),
//! the ITU test-vector mode that bypasses the QMF, and the packet-loss
//! concealment of G.722 Appendices III/IV.

pub mod band;
pub mod decoder;
pub mod encoder;
pub mod qmf;
pub mod tables;

pub use decoder::{G722Decoder, Mode};
pub use encoder::G722Encoder;

/// Audio sampling rate of G.722, in Hz.
pub const G722_SAMPLE_RATE: u32 = 16_000;

/// RTP clock rate for G.722: **8000**, although the audio is sampled at
/// 16 kHz. RFC 3551 § 4.5.2 keeps the value from RFC 1890, which got it
/// wrong, for backward compatibility; SDP advertises `G722/8000` and RTP
/// timestamps advance by 8000 per second (one tick per octet).
pub const G722_RTP_CLOCK_RATE: u32 = 8000;

/// 16 kHz samples in a 20 ms frame.
pub const FRAME_SAMPLES_20MS: usize = 320;

/// Octets in a 20 ms frame at 64 kbit/s.
pub const FRAME_BYTES_20MS: usize = 160;
