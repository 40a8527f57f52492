//! The Goertzel algorithm: a second-order IIR resonator that evaluates one
//! DFT bin (at any frequency, not only integer bins) over a block in
//! O(N) with one multiply per sample. Used by DTMF detection; 32-bit float
//! arithmetic is ample for 8 kHz telephony blocks of ~100 samples.

use core::f64::consts::PI;

/// A single-frequency Goertzel filter.
#[derive(Debug, Clone, Copy)]
pub struct Goertzel {
    coeff: f32,
    s1: f32,
    s2: f32,
}

impl Goertzel {
    /// A filter for `freq` Hz at `sample_rate` Hz.
    pub fn new(freq: f64, sample_rate: u32) -> Self {
        let w = 2.0 * PI * freq / f64::from(sample_rate.max(1));
        Self {
            coeff: (2.0 * w.cos()) as f32,
            s1: 0.0,
            s2: 0.0,
        }
    }

    /// Feeds one sample.
    #[inline]
    pub fn push(&mut self, x: f32) {
        let s0 = x + self.coeff * self.s1 - self.s2;
        self.s2 = self.s1;
        self.s1 = s0;
    }

    /// |X(f)|² of the samples pushed since the last reset.
    #[inline]
    pub fn magnitude_squared(&self) -> f32 {
        self.s1 * self.s1 + self.s2 * self.s2 - self.coeff * self.s1 * self.s2
    }

    /// Clears the state for a new block.
    #[inline]
    pub fn reset(&mut self) {
        self.s1 = 0.0;
        self.s2 = 0.0;
    }
}

/// `N` Goertzel filters updated together (structure of arrays, so the
/// per-sample update vectorises).
#[derive(Debug, Clone, Copy)]
pub struct GoertzelBank<const N: usize> {
    coeff: [f32; N],
    s1: [f32; N],
    s2: [f32; N],
}

impl<const N: usize> GoertzelBank<N> {
    /// Filters for `freqs` Hz at `sample_rate` Hz.
    pub fn new(freqs: [f64; N], sample_rate: u32) -> Self {
        let rate = f64::from(sample_rate.max(1));
        Self {
            coeff: freqs.map(|f| (2.0 * (2.0 * PI * f / rate).cos()) as f32),
            s1: [0.0; N],
            s2: [0.0; N],
        }
    }

    /// Feeds one sample to every filter.
    #[inline]
    pub fn push(&mut self, x: f32) {
        for i in 0..N {
            let s0 = x + self.coeff[i] * self.s1[i] - self.s2[i];
            self.s2[i] = self.s1[i];
            self.s1[i] = s0;
        }
    }

    /// |X(f)|² of filter `i` (0 if out of range).
    #[inline]
    pub fn magnitude_squared(&self, i: usize) -> f32 {
        match (self.s1.get(i), self.s2.get(i), self.coeff.get(i)) {
            (Some(&s1), Some(&s2), Some(&c)) => s1 * s1 + s2 * s2 - c * s1 * s2,
            _ => 0.0,
        }
    }

    /// Clears every filter.
    #[inline]
    pub fn reset(&mut self) {
        self.s1 = [0.0; N];
        self.s2 = [0.0; N];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bank_matches_single_filters() {
        let freqs = [697.0, 1209.0, 2418.0];
        let mut bank = GoertzelBank::new(freqs, 8000);
        let mut singles = freqs.map(|f| Goertzel::new(f, 8000));
        for n in 0..102 {
            let x = (2.0 * PI * 697.0 * n as f64 / 8000.0).sin() as f32 * 1000.0;
            bank.push(x);
            for g in &mut singles {
                g.push(x);
            }
        }
        for (i, g) in singles.iter().enumerate() {
            assert_eq!(bank.magnitude_squared(i), g.magnitude_squared());
        }
        // The 697 Hz filter sees the 697 Hz tone: (A·N/2)² = (1000·51)².
        let p = bank.magnitude_squared(0);
        assert!((p / (51_000.0f32 * 51_000.0) - 1.0).abs() < 0.01, "{p}");
        assert!(bank.magnitude_squared(1) < p / 100.0);
        assert_eq!(bank.magnitude_squared(3), 0.0);
    }
}
