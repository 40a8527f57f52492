//! In-band DTMF detection over 8 kHz PCM (ITU-T Q.24 style), block based.
//!
//! Blocks of [`DetectorConfig::block_len`] samples (102 by default,
//! 12.75 ms) are analysed every half block (51 samples, 6.4 ms): two lanes
//! of Goertzel filters run half a block apart, each over the eight Q.23 row
//! and column frequencies plus the column tones' second harmonics. A block
//! *hits* digit (r, c) when the strongest row and column tones:
//! - are each at least [`DetectorConfig::min_level_dbm0`];
//! - respect the twist limits: the low tone may exceed the high tone by at
//!   most [`DetectorConfig::normal_twist_db`] and the high tone may exceed
//!   the low one by at most [`DetectorConfig::reverse_twist_db`];
//! - each exceed every other tone of their group by
//!   [`DetectorConfig::relative_peak_db`];
//! - together carry at least [`DetectorConfig::min_tone_to_total`] of the
//!   block's total power (rejects speech and noise, whose energy is spread,
//!   and blocks only partly filled by a tone: for those the ratio is
//!   roughly the filled fraction);
//! - and the high tone's second harmonic is at least
//!   −[`DetectorConfig::second_harmonic_db`] dB below it (pure DTMF has
//!   none, voiced speech does). The low tones' second harmonics
//!   (1394–1882 Hz) fall among the column tones and are not tested.
//!
//! A digit *begins* after [`DetectorConfig::min_on_blocks`] consecutive
//! hits (default 4) and *ends* after [`DetectorConfig::min_off_blocks`]
//! consecutive blocks that do not hit it (default 3, bridging a short
//! dropout). Minimum duration with the defaults: a tone of 305 samples
//! (38.1 ms) or more always contains four consecutive whole blocks, so
//! 40 ms digits are accepted at any alignment; a block hits only if roughly
//! two thirds of it is tone, and a tone of 160 samples (20 ms) overlaps at
//! most three consecutive block positions that much, so 20 ms digits are
//! rejected. Q.24 requires acceptance at 40 ms and leaves 20–40 ms to the
//! implementation. Start and end are absolute sample positions of the
//! first and last hit blocks (within about half a block of the tone's
//! edges); [`DtmfReport::Ended`] arrives about three half-blocks after the
//! tone stops.
//!
//! Frequency tolerance comes from the Goertzel main lobe and the
//! relative-peak test: ±1.5 % (Q.24's must-accept) is accepted; ±5 % is
//! rejected for the closely spaced low group.
//!
//! Not implemented: explicit frequency-deviation measurement, adaptive
//! talk-off protection, and sample rates other than 8 kHz.

use super::goertzel::GoertzelBank;
use super::{COL_FREQS, Digit, ROW_FREQS};
use crate::CodecError;
use crate::signal::dbm0_to_peak;

/// Sample rate the detector works at.
pub const DETECTOR_SAMPLE_RATE: u32 = 8000;

/// Detector thresholds. [`Default`] gives values typical of Q.24
/// (North American) requirements.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorConfig {
    /// Samples per analysis block (default 102).
    pub block_len: usize,
    /// Minimum level of each tone, dBm0 (default −36).
    pub min_level_dbm0: f64,
    /// How much stronger the low (row) tone may be than the high one, dB
    /// (default 8).
    pub normal_twist_db: f64,
    /// How much stronger the high (column) tone may be than the low one,
    /// dB (default 4).
    pub reverse_twist_db: f64,
    /// Margin of the strongest tone over the others of its group, dB
    /// (default 6).
    pub relative_peak_db: f64,
    /// Minimum fraction of block power in the two tones (default 0.79).
    pub min_tone_to_total: f64,
    /// Maximum level of the high tone's second harmonic relative to the
    /// tone, dB (default −12: the harmonic must be at least 12 dB weaker).
    pub second_harmonic_db: f64,
    /// Consecutive (half-block spaced) hits before a digit begins
    /// (default 4).
    pub min_on_blocks: u32,
    /// Consecutive (half-block spaced) non-hits before a digit ends
    /// (default 3).
    pub min_off_blocks: u32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            block_len: 102,
            min_level_dbm0: -36.0,
            normal_twist_db: 8.0,
            reverse_twist_db: 4.0,
            relative_peak_db: 6.0,
            min_tone_to_total: 0.79,
            second_harmonic_db: -12.0,
            min_on_blocks: 4,
            min_off_blocks: 3,
        }
    }
}

/// What the detector reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfReport {
    /// A digit has been present for the minimum duration.
    Began {
        /// The digit.
        digit: Digit,
        /// Sample position of the first block in which it was heard.
        start: u64,
    },
    /// A digit has gone away.
    Ended {
        /// The digit.
        digit: Digit,
        /// Sample position of the first block in which it was heard.
        start: u64,
        /// Sample position just past the last block in which it was heard.
        end: u64,
    },
}

/// Streaming DTMF detector; feed it any number of samples per call.
#[derive(Debug, Clone)]
pub struct DtmfDetector {
    block_len: usize,
    min_power: f32,
    normal_twist: f32,
    reverse_twist: f32,
    relative_peak: f32,
    min_tone_to_total: f32,
    second_harmonic: f32,
    min_on: u32,
    min_off: u32,
    lanes: [Lane; 2],
    position: u64,
    run_digit: Option<Digit>,
    run_len: u32,
    run_start: u64,
    active: Option<(Digit, u64)>,
    last_hit_end: u64,
    misses: u32,
}

fn db_ratio(db: f64) -> f32 {
    10f64.powf(db / 10.0) as f32
}

fn invalid(name: &'static str, reason: &'static str) -> CodecError {
    CodecError::InvalidParameter { name, reason }
}

impl DtmfDetector {
    /// A detector with the given thresholds.
    pub fn new(config: &DetectorConfig) -> Result<Self, CodecError> {
        if !(40..=1000).contains(&config.block_len) {
            return Err(invalid("block_len", "must be 40..=1000 samples"));
        }
        let finite = [
            config.min_level_dbm0,
            config.normal_twist_db,
            config.reverse_twist_db,
            config.relative_peak_db,
            config.second_harmonic_db,
        ];
        if finite.iter().any(|v| !v.is_finite()) {
            return Err(invalid("thresholds", "must be finite"));
        }
        if !(config.min_tone_to_total > 0.0 && config.min_tone_to_total <= 2.0) {
            return Err(invalid("min_tone_to_total", "must be in (0, 2]"));
        }
        if config.min_on_blocks == 0 || config.min_off_blocks == 0 {
            return Err(invalid("min_on_blocks/min_off_blocks", "must be ≥ 1"));
        }
        let peak = dbm0_to_peak(config.min_level_dbm0);
        let rate = DETECTOR_SAMPLE_RATE;
        Ok(Self {
            block_len: config.block_len,
            min_power: (peak * peak / 2.0) as f32,
            normal_twist: db_ratio(config.normal_twist_db),
            reverse_twist: db_ratio(config.reverse_twist_db),
            relative_peak: db_ratio(config.relative_peak_db),
            min_tone_to_total: config.min_tone_to_total as f32,
            second_harmonic: db_ratio(config.second_harmonic_db),
            min_on: config.min_on_blocks,
            min_off: config.min_off_blocks,
            lanes: [Lane::new(rate, 0), Lane::new(rate, config.block_len / 2)],
            position: 0,
            run_digit: None,
            run_len: 0,
            run_start: 0,
            active: None,
            last_hit_end: 0,
            misses: 0,
        })
    }

    /// Feeds 8 kHz samples; calls `report` for every digit beginning or
    /// ending within them.
    pub fn process(&mut self, pcm: &[i16], mut report: impl FnMut(DtmfReport)) {
        for &s in pcm {
            let x = f32::from(s);
            self.position += 1;
            for lane in 0..2 {
                if self.lanes[lane].push(x, self.block_len) {
                    let hit = self.classify_block(&self.lanes[lane]);
                    self.lanes[lane].reset();
                    let start = self.position - self.block_len as u64;
                    self.advance(hit, start, &mut report);
                }
            }
        }
    }

    /// Ends the stream: reports the end of a digit still in progress.
    pub fn finish(&mut self, mut report: impl FnMut(DtmfReport)) {
        if let Some((digit, start)) = self.active.take() {
            report(DtmfReport::Ended {
                digit,
                start,
                end: self.last_hit_end,
            });
        }
        self.run_digit = None;
        self.run_len = 0;
        self.misses = 0;
    }

    /// The digit currently sounding, if any.
    pub fn active(&self) -> Option<Digit> {
        self.active.map(|(d, _)| d)
    }

    /// Applies the per-block tests; returns the digit the block hits.
    fn classify_block(&self, lane: &Lane) -> Option<Digit> {
        let n = self.block_len as f32;
        let norm = 2.0 / (n * n);
        let row_p: [f32; 4] = core::array::from_fn(|i| lane.bank.magnitude_squared(i) * norm);
        let col_p: [f32; 4] = core::array::from_fn(|i| lane.bank.magnitude_squared(COL + i) * norm);
        let r = argmax(&row_p);
        let c = argmax(&col_p);
        let (low, high) = (row_p[r], col_p[c]);
        if low < self.min_power || high < self.min_power {
            return None;
        }
        if low > high * self.normal_twist || high > low * self.reverse_twist {
            return None;
        }
        let dominates = |p: &[f32; 4], best: usize| {
            p.iter()
                .enumerate()
                .all(|(i, &v)| i == best || v * self.relative_peak <= p[best])
        };
        if !dominates(&row_p, r) || !dominates(&col_p, c) {
            return None;
        }
        let total = lane.energy / n;
        if low + high < self.min_tone_to_total * total {
            return None;
        }
        let high2 = lane.bank.magnitude_squared(COL_H2 + c) * norm;
        if high2 > high * self.second_harmonic {
            return None;
        }
        Digit::at(r, c)
    }

    fn advance(&mut self, hit: Option<Digit>, start: u64, report: &mut impl FnMut(DtmfReport)) {
        if hit == self.run_digit {
            self.run_len = self.run_len.saturating_add(1);
        } else {
            self.run_digit = hit;
            self.run_len = 1;
            self.run_start = start;
        }
        if let Some((digit, start)) = self.active {
            if hit == Some(digit) {
                self.misses = 0;
                self.last_hit_end = self.position;
            } else {
                self.misses += 1;
                if self.misses >= self.min_off {
                    report(DtmfReport::Ended {
                        digit,
                        start,
                        end: self.last_hit_end,
                    });
                    self.active = None;
                }
            }
        }
        if self.active.is_none()
            && let Some(digit) = self.run_digit
            && self.run_len >= self.min_on
        {
            self.active = Some((digit, self.run_start));
            self.last_hit_end = self.position;
            self.misses = 0;
            report(DtmfReport::Began {
                digit,
                start: self.run_start,
            });
        }
    }
}

/// One set of filters over blocks starting at a fixed phase: rows 0–3,
/// columns 4–7, column second harmonics 8–11.
#[derive(Debug, Clone)]
struct Lane {
    bank: GoertzelBank<12>,
    energy: f32,
    count: usize,
    skip: usize,
}

const COL: usize = 4;
const COL_H2: usize = 8;

impl Lane {
    fn new(rate: u32, skip: usize) -> Self {
        let mut freqs = [0.0; 12];
        for i in 0..4 {
            freqs[i] = ROW_FREQS[i];
            freqs[COL + i] = COL_FREQS[i];
            freqs[COL_H2 + i] = 2.0 * COL_FREQS[i];
        }
        Self {
            bank: GoertzelBank::new(freqs, rate),
            energy: 0.0,
            count: 0,
            skip,
        }
    }

    /// Feeds a sample; true when a block is complete.
    #[inline]
    fn push(&mut self, x: f32, block_len: usize) -> bool {
        if self.skip > 0 {
            self.skip -= 1;
            return false;
        }
        self.bank.push(x);
        self.energy += x * x;
        self.count += 1;
        self.count == block_len
    }

    fn reset(&mut self) {
        self.bank.reset();
        self.energy = 0.0;
        self.count = 0;
    }
}

fn argmax(p: &[f32; 4]) -> usize {
    let mut best = 0;
    for i in 1..4 {
        if p[i] > p[best] {
            best = i;
        }
    }
    best
}
