//! G.722 mode-1 (64 kbit/s) decoder: lower sub-band 6-bit inverse
//! quantiser for the output (block 5L INVQBL, RECONS; 6L LIMIT) with the
//! 4-bit path for adaptation (2L, 3L, 4L), upper sub-band (2H, 5H, 6H, 3H,
//! 4H) and receive QMF, § 4.

use super::band::Band;
use super::qmf::QmfSynthesis;
use super::tables::{QM2, QM4, QM6};
use crate::CodecError;

/// Stateful G.722 64 kbit/s decoder. Allocation-free; create one per
/// stream.
#[derive(Debug, Clone)]
pub struct G722Decoder {
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
    /// A new decoder in the reset state.
    pub fn new() -> Self {
        Self {
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
        // 5L INVQBL (6-bit, mode 1), RECONS, 6L LIMIT.
        let dl = (band.det * QM6[il as usize]) >> 15;
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
