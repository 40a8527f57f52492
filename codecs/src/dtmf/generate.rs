//! In-band DTMF generation (ITU-T Q.23 frequencies): the sum of the digit's
//! low- and high-group sines, each at a level in dBm0 (see
//! [`crate::signal`] for the dBm0 convention), for a given duration.
//! Optional twist makes the high tone stronger (positive) or weaker
//! (negative) than the low one.
//!
//! Not implemented: Q.24 level/frequency tolerance shaping or pre-emphasis.

use core::f64::consts::TAU;

use super::Digit;
use crate::CodecError;
use crate::signal::{dbm0_to_peak, to_i16};

/// Generates one DTMF digit into caller-supplied buffers.
#[derive(Debug, Clone)]
pub struct DtmfGenerator {
    digit: Digit,
    low_step: f64,
    high_step: f64,
    low_phase: f64,
    high_phase: f64,
    low_peak: f64,
    high_peak: f64,
    remaining: usize,
}

impl DtmfGenerator {
    /// A generator for `digit` at `sample_rate` Hz, each tone at
    /// `level_dbm0`, lasting `duration_ms` milliseconds.
    ///
    /// The two tones sum to at most twice a single tone's peak; levels
    /// above −3 dBm0 per tone clip and are rejected.
    pub fn new(
        sample_rate: u32,
        digit: Digit,
        level_dbm0: f64,
        duration_ms: u32,
    ) -> Result<Self, CodecError> {
        if !(4000..=192_000).contains(&sample_rate) {
            return Err(CodecError::InvalidParameter {
                name: "sample_rate",
                reason: "must be 4000..=192000 Hz",
            });
        }
        if !(level_dbm0.is_finite() && level_dbm0 <= -3.0) {
            return Err(CodecError::InvalidParameter {
                name: "level_dbm0",
                reason: "must be finite and at most −3 dBm0 per tone",
            });
        }
        let (low, high) = digit.frequencies();
        let rate = f64::from(sample_rate);
        let peak = dbm0_to_peak(level_dbm0);
        Ok(Self {
            digit,
            low_step: TAU * low / rate,
            high_step: TAU * high / rate,
            low_phase: 0.0,
            high_phase: 0.0,
            low_peak: peak,
            high_peak: peak,
            remaining: (u64::from(sample_rate) * u64::from(duration_ms) / 1000) as usize,
        })
    }

    /// Applies twist: the high tone is `twist_db` louder (negative: quieter)
    /// than the low tone, keeping the low tone's level.
    pub fn with_twist(mut self, twist_db: f64) -> Result<Self, CodecError> {
        if !(-20.0..=6.0).contains(&twist_db) {
            return Err(CodecError::InvalidParameter {
                name: "twist_db",
                reason: "must be −20..=6 dB",
            });
        }
        self.high_peak = self.low_peak * 10f64.powf(twist_db / 20.0);
        Ok(self)
    }

    /// The digit being generated.
    pub fn digit(&self) -> Digit {
        self.digit
    }

    /// Samples still to generate.
    pub fn remaining(&self) -> usize {
        self.remaining
    }

    /// Writes up to `out.len()` samples of the tone pair; returns how many
    /// were written (fewer at the end of the digit, 0 once finished).
    pub fn fill(&mut self, out: &mut [i16]) -> usize {
        let n = out.len().min(self.remaining);
        for o in &mut out[..n] {
            let v = self.low_peak * self.low_phase.sin() + self.high_peak * self.high_phase.sin();
            *o = to_i16(v);
            self.low_phase = (self.low_phase + self.low_step) % TAU;
            self.high_phase = (self.high_phase + self.high_step) % TAU;
        }
        self.remaining -= n;
        n
    }
}
