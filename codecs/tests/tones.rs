//! Call-progress tones (frequencies, levels, cadence measured from the
//! output) and comfort noise (level, flatness, determinism).

use ferrovox_codecs::measure::{dominant_frequency, goertzel_power, zero_crossing_frequency};
use ferrovox_codecs::noise::{ComfortNoise, dbov_to_dbfs, rfc3389_level_from_dbfs};
use ferrovox_codecs::signal::{level_dbfs, power_to_dbm0};
use ferrovox_codecs::tone::{CallProgress, ToneGenerator, ToneSpec, tone_plan};

const RATE: u32 = 8000;

fn render(spec: &ToneSpec, seconds: f64) -> Vec<i16> {
    let mut g = ToneGenerator::new(RATE, spec).expect("valid spec");
    let mut out = vec![0i16; (seconds * RATE as f64) as usize];
    // 20 ms frames, as the media path pulls them.
    for frame in out.chunks_mut(160) {
        g.fill(frame);
    }
    out
}

/// (start, end) sample indices of bursts: runs of non-zero samples, with
/// gaps shorter than 5 ms (zero crossings) bridged.
fn bursts(pcm: &[i16]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (i, &s) in pcm.iter().enumerate() {
        if s == 0 {
            continue;
        }
        match out.last_mut() {
            Some(last) if i - last.1 < 40 => last.1 = i + 1,
            _ => out.push((i, i + 1)),
        }
    }
    out
}

fn ms(samples: usize) -> f64 {
    samples as f64 * 1000.0 / RATE as f64
}

/// Asserts the measured on/off pattern repeats `cadence` (±2 ms), over
/// the bursts that are complete within the rendered signal.
fn assert_cadence(pcm: &[i16], cadence: &[(u32, u32)], what: &str) {
    let b = bursts(pcm);
    let pattern: Vec<u32> = cadence.iter().flat_map(|&(on, off)| [on, off]).collect();
    assert!(b.len() > cadence.len(), "{what}: only {} bursts", b.len());
    // sin(0) = 0, so the first non-zero sample is sample 1.
    assert!(
        b[0].0 <= 1,
        "{what}: tone starts at once, not at {}",
        b[0].0
    );
    for (i, w) in b.windows(2).enumerate() {
        let on = ms(w[0].1 - w[0].0);
        let off = ms(w[1].0 - w[0].1);
        let want_on = pattern[(2 * i) % pattern.len()] as f64;
        let want_off = pattern[(2 * i + 1) % pattern.len()] as f64;
        assert!(
            (on - want_on).abs() <= 2.0,
            "{what}: burst {i} on {on} ms, want {want_on}"
        );
        assert!(
            (off - want_off).abs() <= 2.0,
            "{what}: gap {i} off {off} ms, want {want_off}"
        );
    }
}

/// Asserts each expected frequency is present at the spec level and is
/// the local spectral peak (±1 Hz).
fn assert_frequencies(burst: &[i16], spec: &ToneSpec, what: &str) {
    for &f in spec.freqs {
        let peak = dominant_frequency(burst, RATE, f - 19.0, f + 19.0, 0.5);
        assert!(
            (peak - f).abs() < 1.0,
            "{what}: component {f} Hz measured at {peak:.2} Hz"
        );
        let level = power_to_dbm0(goertzel_power(burst, RATE, f));
        assert!(
            (level - spec.level_dbm0).abs() < 0.5,
            "{what}: {f} Hz at {level:.2} dBm0, want {}",
            spec.level_dbm0
        );
    }
    // Nothing else: a frequency away from all components is > 30 dB down.
    let probe = spec.freqs.iter().fold(0.0f64, |a, &f| a.max(f)) + 150.0;
    let stray = power_to_dbm0(goertzel_power(burst, RATE, probe));
    assert!(
        stray < spec.level_dbm0 - 30.0,
        "{what}: {stray:.1} dBm0 at {probe} Hz"
    );
}

#[test]
fn us_ringback_is_440_480_two_on_four_off() {
    let plan = tone_plan("us").expect("US plan");
    let spec = plan.tone(CallProgress::Ringback);
    assert_eq!(spec.freqs, &[440.0, 480.0]);
    let pcm = render(spec, 13.0);
    assert_cadence(&pcm, &[(2000, 4000)], "US ringback");
    assert_frequencies(&pcm[800..15200], spec, "US ringback");
}

#[test]
fn us_busy_is_480_620_half_second_cadence() {
    let spec = tone_plan("US").expect("US plan").tone(CallProgress::Busy);
    let pcm = render(spec, 5.2);
    assert_cadence(&pcm, &[(500, 500)], "US busy");
    assert_eq!(bursts(&pcm).len(), 6, "5.2 s of busy holds 6 bursts");
    assert_frequencies(&pcm[200..3800], spec, "US busy");
}

#[test]
fn us_dial_is_350_440_continuous() {
    let spec = tone_plan("US").expect("US plan").tone(CallProgress::Dial);
    let pcm = render(spec, 5.0);
    assert_eq!(bursts(&pcm), vec![(1, pcm.len())], "dial tone never stops");
    assert_frequencies(&pcm[..16000], spec, "US dial");
    assert_frequencies(&pcm[24000..], spec, "US dial (late)");
}

#[test]
fn other_countries_come_from_the_same_table() {
    let gb = tone_plan("GB").expect("GB plan");
    let pcm = render(gb.tone(CallProgress::Ringback), 7.0);
    assert_cadence(&pcm, &[(400, 200), (400, 2000)], "GB ringback");
    assert_frequencies(
        &pcm[400..3000],
        gb.tone(CallProgress::Ringback),
        "GB ringback",
    );

    let de = tone_plan("de").expect("DE plan");
    let pcm = render(de.tone(CallProgress::Busy), 3.0);
    assert_cadence(&pcm, &[(480, 480)], "DE busy");
    // Single tone: zero crossings measure it directly.
    let f = zero_crossing_frequency(&pcm[100..3700], RATE).expect("tone");
    assert!((f - 425.0).abs() < 0.5, "DE busy at {f:.3} Hz");

    assert!(tone_plan("XX").is_none());
}

#[test]
fn invalid_specs_are_rejected() {
    let bad = [
        ToneSpec {
            freqs: &[],
            level_dbm0: -10.0,
            cadence: &[],
        },
        ToneSpec {
            freqs: &[5000.0],
            level_dbm0: -10.0,
            cadence: &[],
        },
        ToneSpec {
            freqs: &[400.0],
            level_dbm0: 3.0,
            cadence: &[],
        },
        ToneSpec {
            freqs: &[400.0],
            level_dbm0: -10.0,
            cadence: &[(0, 100)],
        },
        ToneSpec {
            freqs: &[1.0, 2.0, 3.0, 4.0, 5.0],
            level_dbm0: -10.0,
            cadence: &[],
        },
    ];
    for spec in bad {
        assert!(ToneGenerator::new(RATE, &spec).is_err(), "{spec:?}");
    }
}

#[test]
fn comfort_noise_has_the_requested_level_and_is_white() {
    for level in [-70.0, -55.0, -40.0] {
        let mut cn = ComfortNoise::new(level, 9).expect("valid level");
        let mut pcm = vec![0i16; RATE as usize * 2];
        cn.fill(&mut pcm);
        let measured = level_dbfs(&pcm);
        // Rounding to integers adds 1/12 LSB² of noise: irrelevant above
        // −80 dBFS.
        assert!(
            (measured - level).abs() < 0.3,
            "asked {level} dBFS, got {measured:.2}"
        );
        if level == -40.0 {
            // Flat spectrum: Goertzel power averaged over 62 blocks of 256
            // samples and 20 frequencies in a low and a high band agree
            // within 1 dB (estimation spread is ~0.2 dB).
            let band = |lo: f64| {
                pcm.chunks_exact(256)
                    .flat_map(|b| {
                        (0..20).map(move |k| goertzel_power(b, RATE, lo + 25.0 * k as f64))
                    })
                    .sum::<f64>()
            };
            let ratio_db = 10.0 * (band(300.0) / band(3000.0)).log10();
            assert!(ratio_db.abs() < 1.0, "low/high band ratio {ratio_db:.2} dB");
        }
    }
}

#[test]
fn comfort_noise_is_deterministic_per_seed() {
    let render = |seed| {
        let mut cn = ComfortNoise::new(-50.0, seed).expect("valid");
        let mut pcm = [0i16; 480];
        cn.fill(&mut pcm);
        pcm
    };
    assert_eq!(render(1), render(1));
    assert_ne!(render(1), render(2));
}

#[test]
fn rfc3389_levels() {
    // 0 dBov is a full-scale square wave: a full-scale sine is −3 dBov.
    assert!((dbov_to_dbfs(-3.0103)).abs() < 1e-3);
    assert_eq!(rfc3389_level_from_dbfs(-57.0), 60);
    let cn = ComfortNoise::from_rfc3389_level(60, 1).expect("valid");
    let mut pcm = vec![0i16; 16000];
    let mut cn2 = cn.clone();
    cn2.fill(&mut pcm);
    let measured = level_dbfs(&pcm);
    assert!(
        (measured - dbov_to_dbfs(-60.0)).abs() < 0.5,
        "{measured:.2} dBFS"
    );
    assert!(
        ComfortNoise::from_rfc3389_level(5, 1).is_err(),
        "−5 dBov is not comfort noise"
    );
    assert!(ComfortNoise::from_rfc3389_level(200, 1).is_err());
    assert!(ComfortNoise::new(f64::NAN, 1).is_err());
}
