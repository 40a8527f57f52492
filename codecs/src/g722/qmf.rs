//! G.722 quadrature mirror filters: the transmit QMF (§ 3.1) that splits
//! 16 kHz input into 8 kHz lower and upper sub-bands, and the receive QMF
//! (§ 4.1) that recombines them. Both use the 24-tap filter of Table 11.

use super::tables::QMF_COEFFS;

/// Transmit QMF: consumes sample pairs, yields (x_L, x_H).
#[derive(Debug, Clone, Default)]
pub struct QmfAnalysis {
    x: [i32; 24],
}

impl QmfAnalysis {
    /// Pushes input samples x(2n), x(2n+1) and returns the lower and upper
    /// sub-band samples for time n.
    #[inline]
    pub fn split(&mut self, first: i16, second: i16) -> (i32, i32) {
        self.x.copy_within(2.., 0);
        self.x[22] = first as i32;
        self.x[23] = second as i32;
        let mut sum_odd = 0i32;
        let mut sum_even = 0i32;
        for i in 0..12 {
            sum_odd += self.x[2 * i] * QMF_COEFFS[i];
            sum_even += self.x[2 * i + 1] * QMF_COEFFS[11 - i];
        }
        ((sum_even + sum_odd) >> 14, (sum_even - sum_odd) >> 14)
    }
}

/// Receive QMF: consumes (r_L, r_H) pairs, yields two 16 kHz samples.
#[derive(Debug, Clone, Default)]
pub struct QmfSynthesis {
    x: [i32; 24],
}

impl QmfSynthesis {
    /// Pushes the reconstructed sub-band samples and returns the output
    /// samples x(2n), x(2n+1).
    #[inline]
    pub fn merge(&mut self, rlow: i32, rhigh: i32) -> (i16, i16) {
        self.x.copy_within(2.., 0);
        self.x[22] = rlow + rhigh;
        self.x[23] = rlow - rhigh;
        let mut out1 = 0i32;
        let mut out2 = 0i32;
        for i in 0..12 {
            out2 += self.x[2 * i] * QMF_COEFFS[i];
            out1 += self.x[2 * i + 1] * QMF_COEFFS[11 - i];
        }
        (sat16(out1 >> 11), sat16(out2 >> 11))
    }
}

#[inline]
fn sat16(x: i32) -> i16 {
    x.clamp(i16::MIN as i32, i16::MAX as i32) as i16
}
