//! Measurement helpers for tests and benchmarks: frequency estimation
//! (interpolated zero crossings for single tones, Goertzel sweep for
//! mixtures), Goertzel tone power, delay alignment, and segmental SNR.
//! These are instruments, not part of any codec; they never allocate.

use core::f64::consts::PI;

/// Frequency of a single tone from rising zero crossings, each located by
/// linear interpolation between the straddling samples. `None` if fewer
/// than two crossings are found.
pub fn zero_crossing_frequency(samples: &[i16], rate: u32) -> Option<f64> {
    let mut first: Option<f64> = None;
    let mut last = 0.0;
    let mut count = 0usize;
    for (i, w) in samples.windows(2).enumerate() {
        let (a, b) = (w[0] as f64, w[1] as f64);
        if a < 0.0 && b >= 0.0 {
            let t = i as f64 + (-a) / (b - a);
            if first.is_none() {
                first = Some(t);
            }
            last = t;
            count += 1;
        }
    }
    let first = first?;
    if count < 2 || last <= first {
        return None;
    }
    Some((count - 1) as f64 * rate as f64 / (last - first))
}

/// Mean power of the component of `samples` at `freq` (Goertzel), scaled
/// so that a sine of peak A at exactly `freq` reads A²/2.
pub fn goertzel_power(samples: &[i16], rate: u32, freq: f64) -> f64 {
    let n = samples.len();
    if n == 0 {
        return 0.0;
    }
    let w = 2.0 * PI * freq / rate as f64;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = x as f64 + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let p = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * p / (n as f64 * n as f64)
}

/// The frequency in `[lo, hi]` with the largest Goertzel power, searched
/// with `step` Hz and refined by parabolic interpolation of the peak.
pub fn dominant_frequency(samples: &[i16], rate: u32, lo: f64, hi: f64, step: f64) -> f64 {
    let step = if step > 0.0 { step } else { 1.0 };
    let mut best_f = lo;
    let mut best_p = f64::MIN;
    let mut f = lo;
    while f <= hi {
        let p = goertzel_power(samples, rate, f);
        if p > best_p {
            best_p = p;
            best_f = f;
        }
        f += step;
    }
    let pl = goertzel_power(samples, rate, best_f - step);
    let pr = goertzel_power(samples, rate, best_f + step);
    let denom = pl - 2.0 * best_p + pr;
    if denom < 0.0 {
        best_f + 0.5 * step * (pl - pr) / denom
    } else {
        best_f
    }
}

/// The delay `d` in `0..=max_delay` that maximises the normalised
/// correlation of `test[d..]` with `reference`.
pub fn best_delay(reference: &[i16], test: &[i16], max_delay: usize) -> usize {
    let mut best = 0;
    let mut best_c = f64::MIN;
    for d in 0..=max_delay.min(test.len()) {
        let n = reference.len().min(test.len() - d);
        let (mut xy, mut yy) = (0.0, 0.0);
        for i in 0..n {
            let x = reference[i] as f64;
            let y = test[i + d] as f64;
            xy += x * y;
            yy += y * y;
        }
        let c = if yy > 0.0 { xy / yy.sqrt() } else { 0.0 };
        if c > best_c {
            best_c = c;
            best = d;
        }
    }
    best
}

/// Segmental SNR in dB of `test` against `reference` (already aligned):
/// the mean over `seg_len`-sample segments of 10·log10(Σx²/Σ(x−y)²), each
/// clamped to [−10, 35] dB as is customary, skipping segments whose
/// reference RMS is below `min_rms` (silence says nothing about a codec).
/// `None` if no segment qualifies.
pub fn segmental_snr(reference: &[i16], test: &[i16], seg_len: usize, min_rms: f64) -> Option<f64> {
    if seg_len == 0 {
        return None;
    }
    let n = reference.len().min(test.len());
    let mut total = 0.0;
    let mut segments = 0usize;
    let mut start = 0;
    while start + seg_len <= n {
        let (mut sig, mut err) = (0.0, 0.0);
        for i in start..start + seg_len {
            let x = reference[i] as f64;
            let e = x - test[i] as f64;
            sig += x * x;
            err += e * e;
        }
        start += seg_len;
        if (sig / seg_len as f64).sqrt() < min_rms {
            continue;
        }
        let snr = if err == 0.0 {
            35.0
        } else {
            (10.0 * (sig / err).log10()).clamp(-10.0, 35.0)
        };
        total += snr;
        segments += 1;
    }
    if segments == 0 {
        None
    } else {
        Some(total / segments as f64)
    }
}
