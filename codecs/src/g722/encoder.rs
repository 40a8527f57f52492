//! G.722 mode-1 (64 kbit/s) encoder: transmit QMF, lower sub-band 6-bit
//! ADPCM (blocks 1L SUBTRA/QUANTL, 2L INVQAL, 3L, 4L) and upper sub-band
//! 2-bit ADPCM (blocks 1H SUBTRA/QUANTH, 2H INVQAH, 3H, 4H), § 3.

use super::band::Band;
use super::qmf::QmfAnalysis;
use super::tables::{IHN, IHP, ILN, ILP, Q2, Q6, QM2, QM4};
use crate::CodecError;

/// Stateful G.722 64 kbit/s encoder. Allocation-free; create one per
/// stream.
#[derive(Debug, Clone)]
pub struct G722Encoder {
    qmf: QmfAnalysis,
    low: Band,
    high: Band,
}

impl Default for G722Encoder {
    fn default() -> Self {
        Self::new()
    }
}

#[inline]
fn sat16(x: i32) -> i32 {
    x.clamp(i16::MIN as i32, i16::MAX as i32)
}

impl G722Encoder {
    /// A new encoder in the reset state.
    pub fn new() -> Self {
        Self {
            qmf: QmfAnalysis::default(),
            low: Band::lower(),
            high: Band::upper(),
        }
    }

    /// Encodes 16 kHz `pcm` (an even number of samples) into `out`, one
    /// octet per sample pair; returns the number of octets written.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        if !pcm.len().is_multiple_of(2) {
            return Err(CodecError::BadInputLength {
                len: pcm.len(),
                multiple: 2,
            });
        }
        let needed = pcm.len() / 2;
        if out.len() < needed {
            return Err(CodecError::OutputTooSmall {
                needed,
                got: out.len(),
            });
        }
        for (o, pair) in out.iter_mut().zip(pcm.chunks_exact(2)) {
            let (xlow, xhigh) = self.qmf.split(pair[0], pair[1]);
            let il = self.encode_low(xlow);
            let ih = self.encode_high(xhigh);
            *o = (ih << 6) | il;
        }
        Ok(needed)
    }

    /// Lower sub-band: returns the 6-bit code I_L.
    #[inline]
    fn encode_low(&mut self, xlow: i32) -> u8 {
        let band = &mut self.low;
        // 1L SUBTRA.
        let el = sat16(xlow - band.s);
        // 1L QUANTL: magnitude (one's complement for negatives) against
        // the scaled decision levels.
        let wd = if el >= 0 { el } else { -(el + 1) };
        let mut i = 1;
        while i < 30 && wd >= (Q6[i] * band.det) >> 12 {
            i += 1;
        }
        let il = if el < 0 { ILN[i] } else { ILP[i] };
        // 2L INVQAL: 4-bit inverse quantiser feeding the predictor.
        let il4 = (il >> 2) as usize;
        let dlt = (band.det * QM4[il4]) >> 15;
        // 3L, 4L.
        band.adapt_scale_lower(il4);
        band.update_predictor(dlt);
        il
    }

    /// Upper sub-band: returns the 2-bit code I_H.
    #[inline]
    fn encode_high(&mut self, xhigh: i32) -> u8 {
        let band = &mut self.high;
        // 1H SUBTRA.
        let eh = sat16(xhigh - band.s);
        // 1H QUANTH.
        let wd = if eh >= 0 { eh } else { -(eh + 1) };
        let mih = if wd >= (Q2 * band.det) >> 12 { 2 } else { 1 };
        let ih = if eh < 0 { IHN[mih] } else { IHP[mih] };
        // 2H INVQAH.
        let dh = (band.det * QM2[ih as usize]) >> 15;
        // 3H, 4H.
        band.adapt_scale_upper(ih as usize);
        band.update_predictor(dh);
        ih
    }
}
