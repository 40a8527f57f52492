//! G.722 quadrature mirror filters: the transmit QMF (§ 3.1) that splits
//! 16 kHz input into 8 kHz lower and upper sub-bands, and the receive QMF
//! (§ 4.1) that recombines them. Both use the 24-tap filter of Table 11.
//!
//! The 24-sample delay line is kept as two 12-sample histories, one for the
//! even and one for the odd taps; the filter is then two fixed-size
//! 12-term integer dot products per output pair (the same sums, in the
//! same integer arithmetic, as the recommendation's 24-sample line).

use super::tables::QMF_COEFFS;

/// Odd-tap coefficients h(2i + 1) = `QMF_COEFFS[11 − i]`, i = 0..11.
const QMF_ODD: [i32; 12] = {
    let mut t = [0; 12];
    let mut i = 0;
    while i < 12 {
        t[i] = QMF_COEFFS[11 - i];
        i += 1;
    }
    t
};

/// The last 12 values of one tap phase, oldest first.
#[derive(Debug, Clone, Default)]
struct History {
    x: [i32; 12],
}

impl History {
    #[inline]
    fn push(&mut self, v: i32) {
        self.x.copy_within(1.., 0);
        self.x[11] = v;
    }

    #[inline]
    fn dot(&self, coeffs: &[i32; 12]) -> i32 {
        self.x.iter().zip(coeffs).map(|(&x, &c)| x * c).sum()
    }
}

/// Transmit QMF: consumes sample pairs, yields (x_L, x_H).
#[derive(Debug, Clone, Default)]
pub struct QmfAnalysis {
    even: History,
    odd: History,
}

impl QmfAnalysis {
    /// Pushes input samples x(2n), x(2n+1) and returns the lower and upper
    /// sub-band samples for time n.
    #[inline]
    pub fn split(&mut self, first: i16, second: i16) -> (i32, i32) {
        self.even.push(first as i32);
        self.odd.push(second as i32);
        let sum_odd = self.even.dot(&QMF_COEFFS);
        let sum_even = self.odd.dot(&QMF_ODD);
        ((sum_even + sum_odd) >> 14, (sum_even - sum_odd) >> 14)
    }
}

/// Receive QMF: consumes (r_L, r_H) pairs, yields two 16 kHz samples.
#[derive(Debug, Clone, Default)]
pub struct QmfSynthesis {
    even: History,
    odd: History,
}

impl QmfSynthesis {
    /// Pushes the reconstructed sub-band samples and returns the output
    /// samples x(2n), x(2n+1).
    #[inline]
    pub fn merge(&mut self, rlow: i32, rhigh: i32) -> (i16, i16) {
        self.even.push(rlow + rhigh);
        self.odd.push(rlow - rhigh);
        let out2 = self.even.dot(&QMF_COEFFS);
        let out1 = self.odd.dot(&QMF_ODD);
        (sat16(out1 >> 11), sat16(out2 >> 11))
    }
}

#[inline]
fn sat16(x: i32) -> i16 {
    x.clamp(i16::MIN as i32, i16::MAX as i32) as i16
}
