//! G.711 Appendix I concealment: error energy against zero fill on voiced
//! signals, fade-out of long losses, smooth merges, speech-like losses.

use ferrovox_codecs::CodecError;
use ferrovox_codecs::plc::Plc;
use ferrovox_codecs::signal::{Rng, SpeechLike, sine};

/// A steady voiced sound: 20 harmonics of 137 Hz (a non-integer period
/// at 8 and 16 kHz), amplitudes falling as 1/k.
fn voiced(rate: u32, samples: usize) -> Vec<i16> {
    let mut acc = vec![0f64; samples];
    let mut part = vec![0i16; samples];
    for k in 1..=20 {
        let f = 137.0 * k as f64;
        if f > 0.45 * rate as f64 {
            break;
        }
        sine(&mut part, rate, f, 4000.0 / k as f64, 0.7 * k as f64);
        for (a, &p) in acc.iter_mut().zip(&part) {
            *a += p as f64;
        }
    }
    acc.iter().map(|&a| a.round() as i16).collect()
}

/// Runs `x` through the concealer in `frame`-sample frames, losing those
/// for which `lost(i)` holds; returns the (delayed) output.
fn conceal(rate: u32, x: &[i16], frame: usize, lost: impl Fn(usize) -> bool) -> Vec<i16> {
    let mut plc = Plc::new(rate).expect("valid rate");
    let mut y = x.to_vec();
    for (i, f) in y.chunks_exact_mut(frame).enumerate() {
        if lost(i) {
            plc.conceal(f).expect("10 ms multiple");
        } else {
            plc.good_frame(f).expect("10 ms multiple");
        }
    }
    y
}

fn sq(e: f64) -> f64 {
    e * e
}

/// Error energies over the lost span plus 10 ms of merge: (concealed,
/// zero fill). The concealed output is compared after removing the
/// 3.75 ms delay.
fn errors(rate: u32, x: &[i16], y: &[i16], start: usize, end: usize, d: usize) -> (f64, f64) {
    let merge = rate as usize / 100;
    let plc: f64 = (start..end + merge)
        .map(|n| sq(y[n + d] as f64 - x[n] as f64))
        .sum();
    let zero: f64 = (start..end).map(|n| sq(x[n] as f64)).sum();
    (plc, zero)
}

fn max_delta(x: &[i16]) -> f64 {
    x.windows(2)
        .map(|w| (w[1] as f64 - w[0] as f64).abs())
        .fold(0.0, f64::max)
}

#[test]
fn voiced_losses_conceal_far_better_than_zero_fill() {
    for rate in [8000u32, 16000] {
        let frame = rate as usize / 50; // 20 ms
        let x = voiced(rate, rate as usize);
        let d = Plc::new(rate).expect("valid").delay();
        // Measured: 1 frame 10.1 / 18.0 dB, 2 frames 5.4 / 8.6 dB, 3 frames
        // 3.2 / 4.5 dB (8 / 16 kHz). 8 kHz is worse because the integer
        // pitch (58) misses the true 58.4-sample period by more; longer
        // losses are dominated by the prescribed attenuation (20 % per
        // 10 ms, silence after 60 ms), which zero fill shares at the end.
        let thresholds: [(usize, f64); 3] = if rate == 8000 {
            [(1, 8.0), (2, 4.0), (3, 2.0)]
        } else {
            [(1, 15.0), (2, 7.0), (3, 3.5)]
        };
        for (lost_frames, min_gain_db) in thresholds {
            let first = 25;
            let y = conceal(rate, &x, frame, |i| {
                (first..first + lost_frames).contains(&i)
            });
            let (start, end) = (first * frame, (first + lost_frames) * frame);
            let (e_plc, e_zero) = errors(rate, &x, &y, start, end, d);
            let gain = 10.0 * (e_zero / e_plc).log10();
            let delta = max_delta(&y[start + d - frame..end + d + frame]);
            let delta_ref = max_delta(&x);
            eprintln!(
                "{rate} Hz, {lost_frames} × 20 ms lost: concealment beats zero fill by {gain:.1} dB; max step {delta:.0} (signal {delta_ref:.0})"
            );
            assert!(
                gain > min_gain_db,
                "{rate} Hz, {lost_frames} lost: {gain:.1} dB"
            );
            // No discontinuity spike at the start or the merge.
            assert!(
                delta <= 1.1 * delta_ref,
                "{rate} Hz, {lost_frames} lost: step {delta:.0} vs {delta_ref:.0}"
            );
        }
    }
}

/// A low-passed voiced sound (harmonics falling as 1/k²): its natural
/// sample-to-sample steps are small next to its amplitude, so any splice
/// without overlap-add would show as a spike.
fn smooth_voiced(rate: u32, samples: usize) -> Vec<i16> {
    let mut acc = vec![0f64; samples];
    let mut part = vec![0i16; samples];
    for k in 1..=8 {
        sine(
            &mut part,
            rate,
            137.0 * k as f64,
            9000.0 / (k * k) as f64,
            0.7 * k as f64,
        );
        for (a, &p) in acc.iter_mut().zip(&part) {
            *a += p as f64;
        }
    }
    acc.iter().map(|&a| a.round() as i16).collect()
}

#[test]
fn long_losses_fade_to_silence_and_merge_smoothly() {
    let rate = 8000;
    let frame = 80; // 10 ms units
    let x = smooth_voiced(rate, 8000);
    let first = 40;
    let lost = 12; // 120 ms
    let y = conceal(rate, &x, frame, |i| (first..first + lost).contains(&i));
    let d = Plc::new(rate).expect("valid").delay();
    let start = first * frame + d;
    let unit_energy: Vec<f64> = (0..lost)
        .map(|u| {
            y[start + u * frame..start + (u + 1) * frame]
                .iter()
                .map(|&s| sq(s as f64))
                .sum::<f64>()
                / frame as f64
        })
        .collect();
    let reference: f64 = x[..frame].iter().map(|&s| sq(s as f64)).sum::<f64>() / frame as f64;
    let rel: Vec<String> = unit_energy
        .iter()
        .map(|e| format!("{:.1}", 10.0 * (e / reference).max(1e-12).log10()))
        .collect();
    eprintln!(
        "per-10 ms energy relative to the signal, dB: {}",
        rel.join(" ")
    );
    // First 10 ms at full level (within 2 dB); then falling by 20 % of
    // amplitude per 10 ms.
    assert!((10.0 * (unit_energy[0] / reference).log10()).abs() < 2.0);
    for u in 2..6 {
        assert!(unit_energy[u] < unit_energy[u - 1], "unit {u} attenuated");
    }
    // Silent after 60 ms.
    assert!(
        y[start + 6 * frame..start + lost * frame]
            .iter()
            .all(|&s| s == 0)
    );
    // The fade into the loss and the merge back into real speech ramp
    // without a step: the largest step stays within the signal's own,
    // whereas resuming abruptly after the silence would jump by up to the
    // signal's amplitude.
    let end = start + lost * frame;
    let delta = max_delta(&y[start - frame..end + 2 * frame]);
    let natural = max_delta(&x);
    let abrupt = (0..frame)
        .map(|i| (x[first * frame + lost * frame + i] as f64).abs())
        .fold(0.0, f64::max);
    eprintln!(
        "long loss: max step {delta:.0}, signal's own {natural:.0}, abrupt resume up to {abrupt:.0}"
    );
    assert!(
        delta <= 1.1 * natural,
        "merge step {delta:.0} vs {natural:.0}"
    );
    assert!(abrupt > 3.0 * natural, "the test would catch a splice");
    // Merge length: 1/4 pitch + 4 ms per extra 10 ms, at most 10 ms; the
    // output equals the (delayed) input afterwards.
    assert!(
        (end + frame..end + 4 * frame).all(|n| y[n] == x[n - d]),
        "real speech resumes after the merge"
    );
}

#[test]
fn speech_like_losses_reduce_error_against_zero_fill() {
    let rate = 8000;
    let frame = 160;
    let mut x = vec![0i16; 8000 * 10];
    SpeechLike::new(rate, 17).fill(&mut x);
    let mut rng = Rng::new(4);
    let lost: Vec<bool> = (0..x.len() / frame).map(|_| rng.uniform() < 0.05).collect();
    let y = conceal(rate, &x, frame, |i| lost[i]);
    let d = 30;
    let (mut e_plc, mut e_zero, mut count) = (0.0, 0.0, 0);
    for (i, _) in lost
        .iter()
        .enumerate()
        .filter(|(i, l)| **l && *i + 1 < lost.len())
    {
        let (p, z) = errors(rate, &x, &y, i * frame, (i + 1) * frame, d);
        e_plc += p;
        e_zero += z;
        count += 1;
    }
    let gain = 10.0 * (e_zero / e_plc).log10();
    eprintln!(
        "speech-like, {count} of {} frames lost: {gain:.1} dB better than zero fill",
        lost.len()
    );
    assert!(count >= 15);
    assert!(gain > 3.0, "{gain:.1} dB");
}

#[test]
fn sizes_and_rates_are_checked() {
    assert!(matches!(
        Plc::new(48000),
        Err(CodecError::InvalidParameter { .. })
    ));
    let mut plc = Plc::new(8000).expect("valid");
    assert_eq!(plc.delay(), 30);
    assert_eq!(plc.unit(), 80);
    let mut f = [0i16; 100];
    assert_eq!(
        plc.good_frame(&mut f),
        Err(CodecError::BadInputLength {
            len: 100,
            multiple: 80
        })
    );
    assert_eq!(
        plc.conceal(&mut f[..0]),
        Err(CodecError::BadInputLength {
            len: 0,
            multiple: 80
        })
    );
    // The pitch detector finds the 137 Hz period (58.4 samples).
    let x = voiced(8000, 1600);
    let mut f = x.clone();
    plc.good_frame(&mut f).expect("ok");
    let mut out = [0i16; 80];
    plc.conceal(&mut out).expect("ok");
    assert!((58..=59).contains(&plc.pitch()), "pitch {}", plc.pitch());
    assert_eq!(plc.erased_units(), 1);
}
