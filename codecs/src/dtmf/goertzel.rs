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
