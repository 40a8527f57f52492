//! Call-progress tones (ITU-T E.180 and national specifications): dial,
//! ringback and busy, generated from per-country data tables of
//! frequencies, per-frequency level in dBm0 and on/off cadence.
//!
//! Countries are rows of [`TONE_PLANS`]; adding one is adding a row. The
//! built-in plans are the United States (ANSI T1.401: dial 350+440 Hz
//! continuous, ringback 440+480 Hz 2 s on / 4 s off, busy 480+620 Hz
//! 0.5 s / 0.5 s), the United Kingdom (dial 350+440 Hz continuous,
//! ringback 400+450 Hz 0.4/0.2/0.4/2.0 s, busy 400 Hz 0.375/0.375 s) and
//! Germany (425 Hz: dial continuous, ringback 1 s / 4 s, busy
//! 0.48/0.48 s).
//!
//! Not implemented: special information tones, call waiting, modulated
//! (multiplied) tones, and per-country level variations within a plan.

use core::f64::consts::TAU;

use crate::CodecError;
use crate::signal::{dbm0_to_peak, to_i16};

/// The tones a media server plays towards a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallProgress {
    /// Dial tone.
    Dial,
    /// Ringback (audible ringing).
    Ringback,
    /// Busy.
    Busy,
}

/// One tone: frequencies summed, each at `level_dbm0`, switched on and off
/// by `cadence`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToneSpec {
    /// Frequencies in Hz (1 to 4).
    pub freqs: &'static [f64],
    /// Level of each frequency component, dBm0.
    pub level_dbm0: f64,
    /// (on ms, off ms) pairs, repeated forever; empty means continuous.
    pub cadence: &'static [(u32, u32)],
}

/// A country's call-progress tones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TonePlan {
    /// ISO 3166-1 alpha-2 code.
    pub country: &'static str,
    /// Dial tone.
    pub dial: ToneSpec,
    /// Ringback tone.
    pub ringback: ToneSpec,
    /// Busy tone.
    pub busy: ToneSpec,
}

impl TonePlan {
    /// The spec of one tone of this plan.
    pub fn tone(&self, which: CallProgress) -> &ToneSpec {
        match which {
            CallProgress::Dial => &self.dial,
            CallProgress::Ringback => &self.ringback,
            CallProgress::Busy => &self.busy,
        }
    }
}

/// Built-in tone plans. Add a country by adding a row.
pub const TONE_PLANS: &[TonePlan] = &[
    TonePlan {
        country: "US",
        dial: ToneSpec {
            freqs: &[350.0, 440.0],
            level_dbm0: -13.0,
            cadence: &[],
        },
        ringback: ToneSpec {
            freqs: &[440.0, 480.0],
            level_dbm0: -19.0,
            cadence: &[(2000, 4000)],
        },
        busy: ToneSpec {
            freqs: &[480.0, 620.0],
            level_dbm0: -24.0,
            cadence: &[(500, 500)],
        },
    },
    TonePlan {
        country: "GB",
        dial: ToneSpec {
            freqs: &[350.0, 440.0],
            level_dbm0: -13.0,
            cadence: &[],
        },
        ringback: ToneSpec {
            freqs: &[400.0, 450.0],
            level_dbm0: -19.0,
            cadence: &[(400, 200), (400, 2000)],
        },
        busy: ToneSpec {
            freqs: &[400.0],
            level_dbm0: -19.0,
            cadence: &[(375, 375)],
        },
    },
    TonePlan {
        country: "DE",
        dial: ToneSpec {
            freqs: &[425.0],
            level_dbm0: -13.0,
            cadence: &[],
        },
        ringback: ToneSpec {
            freqs: &[425.0],
            level_dbm0: -13.0,
            cadence: &[(1000, 4000)],
        },
        busy: ToneSpec {
            freqs: &[425.0],
            level_dbm0: -13.0,
            cadence: &[(480, 480)],
        },
    },
];

/// Looks up a plan by ISO country code (case-insensitive).
pub fn tone_plan(country: &str) -> Option<&'static TonePlan> {
    TONE_PLANS
        .iter()
        .find(|p| p.country.eq_ignore_ascii_case(country))
}

const MAX_FREQS: usize = 4;

/// Generates a [`ToneSpec`] forever, following its cadence.
#[derive(Debug, Clone)]
pub struct ToneGenerator {
    spec: ToneSpec,
    rate: u32,
    steps: [f64; MAX_FREQS],
    phases: [f64; MAX_FREQS],
    peak: f64,
    /// Index into the cadence's on/off segments (2 per pair).
    segment: usize,
    /// Samples left in the current segment.
    left: u64,
}

impl ToneGenerator {
    /// A generator for `spec` at `sample_rate` Hz.
    pub fn new(sample_rate: u32, spec: &ToneSpec) -> Result<Self, CodecError> {
        if !(4000..=192_000).contains(&sample_rate) {
            return Err(CodecError::InvalidParameter {
                name: "sample_rate",
                reason: "must be 4000..=192000 Hz",
            });
        }
        if spec.freqs.is_empty() || spec.freqs.len() > MAX_FREQS {
            return Err(CodecError::InvalidParameter {
                name: "freqs",
                reason: "a tone has 1 to 4 frequencies",
            });
        }
        let nyquist = f64::from(sample_rate) / 2.0;
        if spec.freqs.iter().any(|&f| !(f > 0.0 && f < nyquist)) {
            return Err(CodecError::InvalidParameter {
                name: "freqs",
                reason: "must be between 0 and the Nyquist frequency",
            });
        }
        if !spec.level_dbm0.is_finite() || spec.level_dbm0 > 0.0 {
            return Err(CodecError::InvalidParameter {
                name: "level_dbm0",
                reason: "must be finite and at most 0 dBm0",
            });
        }
        if spec.cadence.iter().any(|&(on, _)| on == 0) {
            return Err(CodecError::InvalidParameter {
                name: "cadence",
                reason: "on periods must be non-zero",
            });
        }
        let mut steps = [0.0; MAX_FREQS];
        for (s, &f) in steps.iter_mut().zip(spec.freqs) {
            *s = TAU * f / f64::from(sample_rate);
        }
        let mut g = Self {
            spec: *spec,
            rate: sample_rate,
            steps,
            phases: [0.0; MAX_FREQS],
            peak: dbm0_to_peak(spec.level_dbm0),
            segment: 0,
            left: 0,
        };
        g.left = g.segment_len(0);
        Ok(g)
    }

    fn segment_len(&self, segment: usize) -> u64 {
        match self.spec.cadence.get(segment / 2) {
            None => u64::MAX,
            Some(&(on, off)) => {
                let ms = if segment.is_multiple_of(2) { on } else { off };
                u64::from(ms) * u64::from(self.rate) / 1000
            }
        }
    }

    /// Whether the tone is currently sounding.
    pub fn is_on(&self) -> bool {
        self.segment.is_multiple_of(2)
    }

    /// Fills `out` with the next samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        let n = self.spec.freqs.len();
        for o in out {
            while self.left == 0 {
                self.segment = (self.segment + 1) % (2 * self.spec.cadence.len().max(1));
                self.left = self.segment_len(self.segment);
            }
            self.left -= 1;
            if self.is_on() {
                let mut v = 0.0;
                for (ph, step) in self.phases[..n].iter_mut().zip(&self.steps[..n]) {
                    v += ph.sin();
                    *ph = (*ph + step) % TAU;
                }
                *o = to_i16(self.peak * v);
            } else {
                // Restart phases so every burst begins identically.
                self.phases = [0.0; MAX_FREQS];
                *o = 0;
            }
        }
    }
}
