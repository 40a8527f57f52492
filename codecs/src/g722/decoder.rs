//! G.722 decoder: lower sub-band inverse quantiser for the output (block
//! 5L INVQBL with the 6-, 5- or 4-bit table of mode 1, 2 or 3; RECONS; 6L
//! LIMIT) with the 4-bit path for adaptation (2L, 3L, 4L), upper sub-band
//! (2H, 5H, 6H, 3H, 4H) and receive QMF, § 4.
//!
//! In modes 2 and 3 the transmitter uses the one or two least significant
//! bits of each octet for auxiliary data (§ 1.3); the decoder ignores them.
//! The octet stream itself is unchanged.

use super::band::Band;
use super::qmf::QmfSynthesis;
use super::tables::{QM2, QM4, QM5, QM6};
use crate::CodecError;

/// G.722 operating mode (§ 1.3): audio bit rate of the 64 kbit/s octet
/// stream, the rest being auxiliary data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Mode 1: 64 kbit/s audio, all 6 lower-band bits (RTP G.722).
    #[default]
    Kbps64,
    /// Mode 2: 56 kbit/s audio, lower-band LSB is data.
    Kbps56,
    /// Mode 3: 48 kbit/s audio, two lower-band LSBs are data.
    Kbps48,
}

/// Stateful G.722 decoder. Allocation-free; create one per stream.
#[derive(Debug, Clone)]
pub struct G722Decoder {
    mode: Mode,
    qmf: QmfSynthesis,
    low: Band,
    high: Band,
}

impl Default for G722Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl G722Decoder {
    /// A new mode-1 (64 kbit/s) decoder in the reset state.
    pub fn new() -> Self {
        Self::with_mode(Mode::Kbps64)
    }

    /// A new decoder for `mode` in the reset state.
    pub fn with_mode(mode: Mode) -> Self {
        Self {
            mode,
            qmf: QmfSynthesis::default(),
            low: Band::lower(),
            high: Band::upper(),
        }
    }

    /// Decodes `codes` (one octet per 16 kHz sample pair) into `out`;
    /// returns the number of samples written (`2 * codes.len()`).
    pub fn decode(&mut self, codes: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        let needed = codes.len() * 2;
        if out.len() < needed {
            return Err(CodecError::OutputTooSmall {
                needed,
                got: out.len(),
            });
        }
        for (pair, &code) in out.chunks_exact_mut(2).zip(codes) {
            let rlow = self.decode_low(code & 0x3F);
            let rhigh = self.decode_high(code >> 6);
            let (a, b) = self.qmf.merge(rlow, rhigh);
            pair[0] = a;
            pair[1] = b;
        }
        Ok(needed)
    }

    #[inline]
    fn decode_low(&mut self, il: u8) -> i32 {
        let band = &mut self.low;
        // 5L INVQBL (6-, 5- or 4-bit by mode), RECONS, 6L LIMIT.
        let q = match self.mode {
            Mode::Kbps64 => QM6[il as usize],
            Mode::Kbps56 => QM5[(il >> 1) as usize],
            Mode::Kbps48 => QM4[(il >> 2) as usize],
        };
        let dl = (band.det * q) >> 15;
        let rl = (band.s + dl).clamp(-16384, 16383);
        // 2L INVQAL (4-bit) for adaptation; 3L; 4L.
        let il4 = (il >> 2) as usize;
        let dlt = (band.det * QM4[il4]) >> 15;
        band.adapt_scale_lower(il4);
        band.update_predictor(dlt);
        rl
    }

    #[inline]
    fn decode_high(&mut self, ih: u8) -> i32 {
        let band = &mut self.high;
        // 2H INVQAH, 5H RECONS, 6H LIMIT.
        let dh = (band.det * QM2[ih as usize]) >> 15;
        let rh = (band.s + dh).clamp(-16384, 16383);
        // 3H, 4H.
        band.adapt_scale_upper(ih as usize);
        band.update_predictor(dh);
        rh
    }
}
