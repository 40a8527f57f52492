//! Level conventions and deterministic synthetic signals.
//!
//! Levels:
//! - **dBm0** (ITU-T G.711 § 2/§ 3, O.133): the theoretical maximum sine of
//!   A-law is +3.14 dBm0, so a full-scale 16-bit sine (peak 32767) is taken
//!   as +3.14 dBm0 and 0 dBm0 is a sine of peak ≈ 22 831 (the convention of
//!   common telephony DSP code; µ-law's +3.17 dBm0 differs by 0.03 dB).
//! - **dBFS**: RMS relative to a full-scale sine (AES17), so a sine of
//!   peak 32767 reads 0 dBFS and silence reads [`SILENCE_DBFS`].
//!
//! Signals: [`SpeechLike`], a deterministic speech-like source (voiced
//! syllables of pitch-varying harmonics shaped by moving formants, with an
//! amplitude envelope, pauses and a little noise) used for codec quality,
//! DTMF talk-off and VAD tests; [`Rng`], a small deterministic PRNG.
//! This is not a speech model and makes no claim to perceptual realism.

use core::f64::consts::PI;

/// Level of a full-scale sine in dBm0 (A-law maximum, G.711 Table 5).
// The number is G.711's +3.14 dBm0, not an approximation of π.
#[allow(clippy::approx_constant)]
pub const FULL_SCALE_SINE_DBM0: f64 = 3.14;

/// Reported for an all-zero frame.
pub const SILENCE_DBFS: f64 = -100.0;

/// Peak amplitude (16-bit units) of a sine at `dbm0`.
pub fn dbm0_to_peak(dbm0: f64) -> f64 {
    32767.0 * 10f64.powf((dbm0 - FULL_SCALE_SINE_DBM0) / 20.0)
}

/// Level in dBm0 of a sine with the given peak amplitude.
pub fn peak_to_dbm0(peak: f64) -> f64 {
    20.0 * (peak / 32767.0).log10() + FULL_SCALE_SINE_DBM0
}

/// Mean power (sum of squares / n) in dBm0: a sine of peak P has power
/// P²/2.
pub fn power_to_dbm0(mean_power: f64) -> f64 {
    if mean_power <= 0.0 {
        return SILENCE_DBFS;
    }
    peak_to_dbm0((2.0 * mean_power).sqrt())
}

/// RMS level of `samples` in dBFS (full-scale sine = 0 dBFS).
pub fn level_dbfs(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return SILENCE_DBFS;
    }
    let energy: f64 = samples.iter().map(|&s| (s as f64) * (s as f64)).sum();
    mean_power_to_dbfs(energy / samples.len() as f64)
}

/// Converts a mean power (16-bit units squared) to dBFS.
pub fn mean_power_to_dbfs(mean_power: f64) -> f64 {
    const FULL_SCALE_SINE_POWER: f64 = 32767.0 * 32767.0 / 2.0;
    if mean_power <= 0.0 {
        SILENCE_DBFS
    } else {
        (10.0 * (mean_power / FULL_SCALE_SINE_POWER).log10()).max(SILENCE_DBFS)
    }
}

/// Rounds and saturates to 16 bits.
#[inline]
pub fn to_i16(x: f64) -> i16 {
    x.round().clamp(i16::MIN as f64, i16::MAX as f64) as i16
}

/// xorshift64* pseudo-random generator: deterministic, tiny, not
/// cryptographic.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeds the generator (any seed, including 0, is valid).
    pub fn new(seed: u64) -> Self {
        // SplitMix64 step so that nearby seeds diverge and 0 is usable.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self(if z == 0 { 1 } else { z })
    }

    /// Next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    #[inline]
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Approximately Gaussian (sum of four uniforms), zero mean, unit
    /// variance.
    #[inline]
    pub fn gaussian(&mut self) -> f64 {
        let s = self.uniform() + self.uniform() + self.uniform() + self.uniform();
        (s - 2.0) * 3f64.sqrt()
    }
}

const MAX_HARMONICS: usize = 48;
const CONTROL_INTERVAL: usize = 40;

/// Deterministic speech-like signal generator. See the module docs.
#[derive(Debug, Clone)]
pub struct SpeechLike {
    rate: f64,
    rng: Rng,
    phase: f64,
    harmonic_phase: [f64; MAX_HARMONICS],
    harmonic_gain: [f64; MAX_HARMONICS],
    // Pitch contour: f0 = base + depth·sin(2π·rate·t) per syllable.
    f0: f64,
    f0_start: f64,
    f0_end: f64,
    formants: [(f64, f64); 3],
    formant_targets: [(f64, f64); 3],
    // Syllable state.
    pos: usize,
    voiced_len: usize,
    pause_len: usize,
    peak: f64,
    noise_peak: f64,
    until_control: usize,
}

impl SpeechLike {
    /// A generator at `sample_rate` Hz (8000 or 16000 are typical) seeded
    /// with `seed`; the same seed always yields the same signal.
    pub fn new(sample_rate: u32, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let mut harmonic_phase = [0.0; MAX_HARMONICS];
        for p in &mut harmonic_phase {
            *p = rng.range(0.0, 2.0 * PI);
        }
        let mut s = Self {
            rate: sample_rate.max(1) as f64,
            rng,
            phase: 0.0,
            harmonic_phase,
            harmonic_gain: [0.0; MAX_HARMONICS],
            f0: 120.0,
            f0_start: 120.0,
            f0_end: 120.0,
            formants: [(500.0, 90.0), (1500.0, 120.0), (2500.0, 160.0)],
            formant_targets: [(500.0, 90.0), (1500.0, 120.0), (2500.0, 160.0)],
            pos: 0,
            voiced_len: 0,
            pause_len: 0,
            peak: 0.0,
            noise_peak: 0.0,
            until_control: 0,
        };
        s.new_syllable();
        s
    }

    fn new_syllable(&mut self) {
        let r = &mut self.rng;
        let ms = self.rate / 1000.0;
        self.pos = 0;
        self.voiced_len = (r.range(120.0, 380.0) * ms) as usize;
        self.pause_len = (r.range(30.0, 220.0) * ms) as usize;
        // Peak between -26 and -6 dBFS (as a sine peak).
        self.peak = 32767.0 * 10f64.powf(r.range(-26.0, -6.0) / 20.0);
        self.noise_peak = self.peak * 0.02;
        let base = r.range(90.0, 230.0);
        self.f0_start = base;
        self.f0_end = base * r.range(0.75, 1.3);
        self.formant_targets = [
            (r.range(280.0, 850.0), r.range(60.0, 120.0)),
            (r.range(850.0, 2300.0), r.range(80.0, 160.0)),
            (r.range(2300.0, 3300.0), r.range(120.0, 250.0)),
        ];
    }

    fn update_control(&mut self) {
        let t = self.pos as f64 / self.voiced_len.max(1) as f64;
        let t = t.min(1.0);
        // Pitch glides across the syllable with a little vibrato.
        self.f0 = self.f0_start + (self.f0_end - self.f0_start) * t;
        self.f0 *= 1.0 + 0.02 * (2.0 * PI * 5.0 * self.pos as f64 / self.rate).sin();
        // Formants move towards their targets.
        for (f, target) in self.formants.iter_mut().zip(self.formant_targets) {
            f.0 += 0.05 * (target.0 - f.0);
            f.1 += 0.05 * (target.1 - f.1);
        }
        let nyquist = self.rate / 2.0;
        let mut norm = 0.0;
        for k in 0..MAX_HARMONICS {
            let f = self.f0 * (k + 1) as f64;
            let g = if f >= 0.9 * nyquist {
                0.0
            } else {
                let mut g = 0.02;
                for (fc, bw) in self.formants {
                    let x = (f - fc) / bw;
                    g += 1.0 / (1.0 + x * x);
                }
                // Spectral tilt of the glottal source.
                g / (k + 1) as f64
            };
            self.harmonic_gain[k] = g;
            norm += g * g;
        }
        // Normalise so the voiced part has roughly the syllable's peak/√2 RMS.
        let scale = if norm > 0.0 {
            1.0 / (2.0 * norm).sqrt()
        } else {
            0.0
        };
        for g in &mut self.harmonic_gain {
            *g *= scale;
        }
    }

    /// Next sample as a float in 16-bit units.
    pub fn next_sample(&mut self) -> f64 {
        if self.pos >= self.voiced_len + self.pause_len {
            self.new_syllable();
        }
        if self.until_control == 0 {
            self.update_control();
            self.until_control = CONTROL_INTERVAL;
        }
        self.until_control -= 1;
        let noise = self.noise_peak * self.rng.gaussian();
        let v = if self.pos < self.voiced_len {
            // Raised-cosine syllable envelope.
            let t = self.pos as f64 / self.voiced_len as f64;
            let env = 0.5 - 0.5 * (2.0 * PI * t).cos();
            self.phase += 2.0 * PI * self.f0 / self.rate;
            if self.phase > 2.0 * PI {
                self.phase -= 2.0 * PI;
            }
            let mut acc = 0.0;
            for k in 0..MAX_HARMONICS {
                let g = self.harmonic_gain[k];
                if g != 0.0 {
                    acc += g * ((k + 1) as f64 * self.phase + self.harmonic_phase[k]).sin();
                }
            }
            env * self.peak * acc * 2f64.sqrt()
        } else {
            0.0
        };
        self.pos += 1;
        v + noise
    }

    /// Fills `out` with the next samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        for o in out {
            *o = to_i16(self.next_sample());
        }
    }
}

/// Fills `out` with a sine of `freq` Hz and peak `peak` at `rate` Hz,
/// starting at `phase` radians; returns the phase after the last sample.
pub fn sine(out: &mut [i16], rate: u32, freq: f64, peak: f64, phase: f64) -> f64 {
    let step = 2.0 * PI * freq / rate.max(1) as f64;
    let mut ph = phase;
    for o in out {
        *o = to_i16(peak * ph.sin());
        ph += step;
        if ph > 2.0 * PI {
            ph -= 2.0 * PI;
        }
    }
    ph
}
