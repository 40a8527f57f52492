//! ITU-T G.711 (11/1988) pulse code modulation: µ-law (§ 3, Tables 2a/2b)
//! and A-law (§ 2, Tables 1a/1b), both directions table driven.
//!
//! Linear samples are 16-bit two's complement. The decoders map each of the
//! 256 character signals to the G.711 decoder output value scaled to 16 bits
//! (µ-law ×4 from the 8159-unit scale, A-law ×8 from the 4096-unit scale), so
//! the extremes are ±32124 (µ-law) and ±32256 (A-law).
//!
//! The encoders follow the decision levels of G.711 as implemented by the
//! ITU-T G.191 Software Tool Library (`g711.c`): the input is truncated to
//! 14 bits (µ-law) or 13 bits (A-law) and negative values use the one's
//! complement magnitude, which makes the quantiser symmetric. Encoding goes
//! through a 16384-entry (µ-law) or 8192-entry (A-law) table indexed by the
//! truncated sample; decoding through a 256-entry table. All tables are
//! computed at compile time.
//!
//! µ-law has two codes for zero: 0xFF (+0) and 0x7F (−0). Both decode to 0;
//! encoding 0 yields 0xFF, and negative inputs that truncate to magnitude
//! zero (−1..−4) yield 0x7F, as in G.191.
//!
//! Not implemented: the direct µ-law ↔ A-law conversion tables of G.711
//! Tables 3 and 4 (transcode by decoding and re-encoding instead), and
//! G.711 Appendix II (comfort noise payload). Appendix I packet-loss
//! concealment is in [`crate::plc`].

use crate::CodecError;

/// Samples per 20 ms frame at G.711's 8 kHz rate.
pub const FRAME_SAMPLES_20MS: usize = 160;

/// RTP clock rate of PCMU/PCMA (RFC 3551 § 4.5.14).
pub const G711_RTP_CLOCK_RATE: u32 = 8000;

const fn ulaw_decode_one(code: u8) -> i16 {
    let u = !code;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0F) as i32;
    // (mantissa·8 + bias 132) << exponent, minus the bias: G.711 µ-law with
    // the 14-bit scale multiplied by 4.
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn alaw_decode_one(code: u8) -> i16 {
    let a = code ^ 0x55;
    let exponent = ((a >> 4) & 0x07) as i32;
    let mantissa = (a & 0x0F) as i32;
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    if a & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

/// µ-law encoding of a 14-bit sample (`x >> 2` of the 16-bit input),
/// G.191 `ulaw_compress`.
const fn ulaw_encode_14(v: i32) -> u8 {
    let negative = v < 0;
    let mut absno = if negative { !v } else { v } + 33;
    if absno > 0x1FFF {
        absno = 0x1FFF;
    }
    let mut i = absno >> 6;
    let mut segno = 1;
    while i != 0 {
        segno += 1;
        i >>= 1;
    }
    let high = 8 - segno;
    let low = 0x0F - ((absno >> segno) & 0x0F);
    let out = (high << 4) | low;
    if negative {
        out as u8
    } else {
        (out | 0x80) as u8
    }
}

/// A-law encoding of a 13-bit sample (`x >> 3` of the 16-bit input),
/// G.191 `alaw_compress`.
const fn alaw_encode_13(v: i32) -> u8 {
    let negative = v < 0;
    let mut ix = (if negative { !v } else { v }) >> 1;
    if ix > 15 {
        let mut iexp = 1;
        while ix > 16 + 15 {
            ix >>= 1;
            iexp += 1;
        }
        ix -= 16;
        ix += iexp << 4;
    }
    if !negative {
        ix |= 0x80;
    }
    (ix ^ 0x55) as u8
}

const ULAW_DECODE: [i16; 256] = {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ulaw_decode_one(i as u8);
        i += 1;
    }
    t
};

const ALAW_DECODE: [i16; 256] = {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alaw_decode_one(i as u8);
        i += 1;
    }
    t
};

/// Indexed by `(x >> 2) + 8192`.
static ULAW_ENCODE: [u8; 16384] = {
    let mut t = [0u8; 16384];
    let mut i = 0;
    while i < 16384 {
        t[i] = ulaw_encode_14(i as i32 - 8192);
        i += 1;
    }
    t
};

/// Indexed by `(x >> 3) + 4096`.
static ALAW_ENCODE: [u8; 8192] = {
    let mut t = [0u8; 8192];
    let mut i = 0;
    while i < 8192 {
        t[i] = alaw_encode_13(i as i32 - 4096);
        i += 1;
    }
    t
};

/// Encodes one linear sample to µ-law.
#[inline]
pub fn linear_to_ulaw(sample: i16) -> u8 {
    ULAW_ENCODE[((sample >> 2) as i32 + 8192) as usize]
}

/// Decodes one µ-law code to linear.
#[inline]
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_DECODE[code as usize]
}

/// Encodes one linear sample to A-law.
#[inline]
pub fn linear_to_alaw(sample: i16) -> u8 {
    ALAW_ENCODE[((sample >> 3) as i32 + 4096) as usize]
}

/// Decodes one A-law code to linear.
#[inline]
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_DECODE[code as usize]
}

fn check_out(needed: usize, got: usize) -> Result<(), CodecError> {
    if got < needed {
        Err(CodecError::OutputTooSmall { needed, got })
    } else {
        Ok(())
    }
}

/// Encodes `pcm` to µ-law into the front of `out`; returns the number of
/// bytes written (`pcm.len()`).
pub fn encode_ulaw(pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
    check_out(pcm.len(), out.len())?;
    for (o, &s) in out.iter_mut().zip(pcm) {
        *o = linear_to_ulaw(s);
    }
    Ok(pcm.len())
}

/// Decodes µ-law `codes` into the front of `out`; returns the number of
/// samples written (`codes.len()`).
pub fn decode_ulaw(codes: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
    check_out(codes.len(), out.len())?;
    for (o, &c) in out.iter_mut().zip(codes) {
        *o = ulaw_to_linear(c);
    }
    Ok(codes.len())
}

/// Encodes `pcm` to A-law into the front of `out`; returns the number of
/// bytes written (`pcm.len()`).
pub fn encode_alaw(pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
    check_out(pcm.len(), out.len())?;
    for (o, &s) in out.iter_mut().zip(pcm) {
        *o = linear_to_alaw(s);
    }
    Ok(pcm.len())
}

/// Decodes A-law `codes` into the front of `out`; returns the number of
/// samples written (`codes.len()`).
pub fn decode_alaw(codes: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
    check_out(codes.len(), out.len())?;
    for (o, &c) in out.iter_mut().zip(codes) {
        *o = alaw_to_linear(c);
    }
    Ok(codes.len())
}

/// G.711 companding law, for code that handles both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Law {
    /// µ-law (PCMU, North America and Japan).
    Ulaw,
    /// A-law (PCMA, elsewhere).
    Alaw,
}

impl Law {
    /// Encodes with this law; see [`encode_ulaw`].
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        match self {
            Law::Ulaw => encode_ulaw(pcm, out),
            Law::Alaw => encode_alaw(pcm, out),
        }
    }

    /// Decodes with this law; see [`decode_ulaw`].
    pub fn decode(self, codes: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        match self {
            Law::Ulaw => decode_ulaw(codes, out),
            Law::Alaw => decode_alaw(codes, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_output_is_an_error() {
        let mut out = [0u8; 3];
        assert_eq!(
            encode_ulaw(&[0; 4], &mut out),
            Err(CodecError::OutputTooSmall { needed: 4, got: 3 })
        );
        let mut pcm = [0i16; 1];
        assert_eq!(
            decode_alaw(&[0; 2], &mut pcm),
            Err(CodecError::OutputTooSmall { needed: 2, got: 1 })
        );
    }
}
