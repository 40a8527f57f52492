//! Energy voice-activity detection for loudest-speaker mixing.
//!
//! Each frame's RMS level is measured in dBFS (see [`crate::signal`]). A
//! frame is voice when its level exceeds both an absolute threshold and a
//! tracked noise floor by a margin. The floor is the minimum frame level
//! over the last [`FLOOR_WINDOWS`] completed sub-windows plus the current
//! one (minimum statistics; 5–6 s with the defaults), so steady background
//! noise (including comfort noise) stops counting as voice within a few
//! seconds while pauses in speech keep the floor low. Activity is held for a
//! hangover of frames after the last voice frame so that word endings and
//! short gaps do not make the mixer flap. [`loudest_speaker`] picks the
//! active participant with the highest smoothed level.
//!
//! Not implemented: spectral or pitch-based VAD (G.729 Annex B, WebRTC),
//! and any decision smoothing beyond hangover.

use crate::CodecError;
use crate::signal::{SILENCE_DBFS, level_dbfs};

/// VAD parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct VadConfig {
    /// Frames quieter than this are never voice (default −45 dBFS).
    pub threshold_dbfs: f64,
    /// Voice must exceed the noise floor by this much (default 9 dB).
    pub floor_margin_db: f64,
    /// Frames per noise-floor sub-window (default 50, 1 s with 20 ms
    /// frames).
    pub floor_window_frames: u32,
    /// Frames activity is held after the last voice frame (default 10,
    /// 200 ms with 20 ms frames).
    pub hangover_frames: u32,
    /// Weight of the newest frame in the smoothed level (default 0.3).
    pub smoothing: f64,
}

impl Default for VadConfig {
    fn default() -> Self {
        Self {
            threshold_dbfs: -45.0,
            floor_margin_db: 9.0,
            floor_window_frames: 50,
            hangover_frames: 10,
            smoothing: 0.3,
        }
    }
}

/// The outcome for one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VadDecision {
    /// Voice or hangover.
    pub active: bool,
    /// This frame's level, dBFS.
    pub level_dbfs: f64,
    /// Exponentially smoothed level, dBFS (for ranking speakers).
    pub smoothed_dbfs: f64,
}

/// Completed sub-windows the noise floor remembers.
pub const FLOOR_WINDOWS: usize = 5;

/// Per-participant VAD state.
#[derive(Debug, Clone)]
pub struct Vad {
    config: VadConfig,
    window_mins: [f64; FLOOR_WINDOWS],
    next_window: usize,
    current_min: f64,
    frames_in_window: u32,
    hang: u32,
    smoothed_power: f64,
}

impl Vad {
    /// A VAD with the given parameters.
    pub fn new(config: &VadConfig) -> Result<Self, CodecError> {
        let all_finite = [
            config.threshold_dbfs,
            config.floor_margin_db,
            config.smoothing,
        ]
        .iter()
        .all(|v| v.is_finite());
        if !all_finite || config.floor_margin_db < 0.0 || config.floor_window_frames == 0 {
            return Err(CodecError::InvalidParameter {
                name: "VadConfig",
                reason: "values must be finite, margin non-negative, window non-zero",
            });
        }
        if !(config.smoothing > 0.0 && config.smoothing <= 1.0) {
            return Err(CodecError::InvalidParameter {
                name: "smoothing",
                reason: "must be in (0, 1]",
            });
        }
        Ok(Self {
            config: config.clone(),
            window_mins: [SILENCE_DBFS; FLOOR_WINDOWS],
            next_window: 0,
            current_min: f64::INFINITY,
            frames_in_window: 0,
            hang: 0,
            smoothed_power: 0.0,
        })
    }

    /// Current noise-floor estimate, dBFS.
    pub fn noise_floor_dbfs(&self) -> f64 {
        self.window_mins
            .iter()
            .fold(self.current_min, |a, &b| a.min(b))
    }

    /// Classifies one frame (any length; 20 ms is typical).
    pub fn process(&mut self, frame: &[i16]) -> VadDecision {
        let level = level_dbfs(frame);
        let c = &self.config;
        let voice =
            level >= c.threshold_dbfs && level >= self.noise_floor_dbfs() + c.floor_margin_db;
        // Minimum statistics over sub-windows.
        self.current_min = self.current_min.min(level);
        self.frames_in_window += 1;
        if self.frames_in_window >= c.floor_window_frames {
            self.window_mins[self.next_window] = self.current_min;
            self.next_window = (self.next_window + 1) % FLOOR_WINDOWS;
            self.current_min = f64::INFINITY;
            self.frames_in_window = 0;
        }
        // Hangover: held for `hangover_frames` frames after the last voice.
        let active = if voice {
            self.hang = c.hangover_frames;
            true
        } else if self.hang > 0 {
            self.hang -= 1;
            true
        } else {
            false
        };
        let power = 10f64.powf(level / 10.0);
        self.smoothed_power += c.smoothing * (power - self.smoothed_power);
        let smoothed_dbfs = if self.smoothed_power > 0.0 {
            (10.0 * self.smoothed_power.log10()).max(SILENCE_DBFS)
        } else {
            SILENCE_DBFS
        };
        VadDecision {
            active,
            level_dbfs: level,
            smoothed_dbfs,
        }
    }
}

/// Index of the active participant with the highest smoothed level, or
/// `None` if nobody is active.
pub fn loudest_speaker(decisions: &[VadDecision]) -> Option<usize> {
    decisions
        .iter()
        .enumerate()
        .filter(|(_, d)| d.active)
        .max_by(|a, b| a.1.smoothed_dbfs.total_cmp(&b.1.smoothed_dbfs))
        .map(|(i, _)| i)
}
