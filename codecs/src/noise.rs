//! Comfort noise: white Gaussian noise at a requested level, for filling
//! silence (muted or discontinuous-transmission legs) so that the far end
//! does not hear dead air. The level can be given in dBFS or as the RFC
//! 3389 § 3 comfort-noise level byte (−dBov, 0 dBov being the RMS of a
//! full-scale square wave, i.e. 32767 RMS).
//!
//! Not implemented: RFC 3389 spectral shaping (reflection coefficients),
//! G.711 Appendix II noise estimation, and any encoding of CN payloads
//! beyond the level byte.

use crate::CodecError;
use crate::signal::{Rng, to_i16};

/// Deterministic comfort-noise generator.
#[derive(Debug, Clone)]
pub struct ComfortNoise {
    rng: Rng,
    rms: f64,
}

impl ComfortNoise {
    /// Noise at `level_dbfs` (RMS relative to a full-scale sine, see
    /// [`crate::signal`]); must be between −127 and −10 dBFS.
    pub fn new(level_dbfs: f64, seed: u64) -> Result<Self, CodecError> {
        if !(-127.0..=-10.0).contains(&level_dbfs) {
            return Err(CodecError::InvalidParameter {
                name: "level_dbfs",
                reason: "must be −127..=−10 dBFS",
            });
        }
        let rms = 32767.0 / 2f64.sqrt() * 10f64.powf(level_dbfs / 20.0);
        Ok(Self {
            rng: Rng::new(seed),
            rms,
        })
    }

    /// Noise at the level carried by an RFC 3389 CN payload's first byte
    /// (0..=127, meaning 0..=−127 dBov). Levels above −10 dBov are
    /// rejected as they are not comfort noise.
    pub fn from_rfc3389_level(level: u8, seed: u64) -> Result<Self, CodecError> {
        if level > 127 {
            return Err(CodecError::InvalidParameter {
                name: "level",
                reason: "RFC 3389 levels are 0..=127 (−dBov)",
            });
        }
        Self::new(dbov_to_dbfs(-f64::from(level)), seed)
    }

    /// The target RMS in 16-bit units.
    pub fn rms(&self) -> f64 {
        self.rms
    }

    /// Fills `out` with noise.
    pub fn fill(&mut self, out: &mut [i16]) {
        for o in out {
            *o = to_i16(self.rms * self.rng.gaussian());
        }
    }
}

/// dBov (relative to a full-scale square wave, RMS 32767) to dBFS
/// (relative to a full-scale sine, RMS 32767/√2): +3.01 dB.
pub fn dbov_to_dbfs(dbov: f64) -> f64 {
    dbov + 10.0 * 2f64.log10()
}

/// The RFC 3389 level byte (−dBov, rounded, 0..=127) for an RMS level in
/// dBFS.
pub fn rfc3389_level_from_dbfs(level_dbfs: f64) -> u8 {
    let dbov = level_dbfs - 10.0 * 2f64.log10();
    (-dbov).round().clamp(0.0, 127.0) as u8
}
