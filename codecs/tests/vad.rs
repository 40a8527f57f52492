//! Energy VAD: measured levels, thresholds, hangover timing, noise-floor
//! tracking, speech-like activity, and loudest-speaker choice.

use ferrovox_codecs::noise::ComfortNoise;
use ferrovox_codecs::signal::{SpeechLike, level_dbfs, sine};
use ferrovox_codecs::vad::{Vad, VadConfig, VadDecision, loudest_speaker};

const RATE: u32 = 8000;
const FRAME: usize = 160;

fn tone_frame(dbfs: f64, phase: f64) -> ([i16; FRAME], f64) {
    let mut f = [0i16; FRAME];
    let peak = 32767.0 * 10f64.powf(dbfs / 20.0);
    let ph = sine(&mut f, RATE, 1000.0, peak, phase);
    (f, ph)
}

fn vad() -> Vad {
    Vad::new(&VadConfig::default()).expect("valid config")
}

#[test]
fn levels_are_measured_in_dbfs() {
    let mut v = vad();
    let (f, _) = tone_frame(-20.0, 0.0);
    let d = v.process(&f);
    assert!((d.level_dbfs + 20.0).abs() < 0.05, "{:.3}", d.level_dbfs);
    assert!(d.active);
    assert!(
        (level_dbfs(&[i16::MAX, i16::MIN]) - 3.01).abs() < 0.01,
        "square wave +3 dBFS"
    );
    assert!(!vad().process(&[0i16; FRAME]).active);
}

#[test]
fn threshold_and_hangover() {
    let cfg = VadConfig::default();
    let mut v = vad();
    // Below the absolute threshold: never active.
    let (quiet, _) = tone_frame(-50.0, 0.0);
    for _ in 0..20 {
        assert!(!v.process(&quiet).active);
    }
    // Speech for 10 frames, then silence: active for exactly the hangover.
    let mut ph = 0.0;
    for _ in 0..10 {
        let (f, p) = tone_frame(-25.0, ph);
        ph = p;
        assert!(v.process(&f).active);
    }
    let mut held = 0;
    while v.process(&[0i16; FRAME]).active {
        held += 1;
        assert!(held <= 100, "never released");
    }
    assert_eq!(
        held, cfg.hangover_frames,
        "frames held after the last voice frame"
    );
}

#[test]
fn steady_background_noise_stops_counting_as_voice() {
    // Loud steady noise (−35 dBFS, above the absolute threshold): active
    // at first, then the floor catches up within a few seconds.
    let mut v = vad();
    let mut cn = ComfortNoise::new(-35.0, 4).expect("valid");
    let mut frame = [0i16; FRAME];
    let mut last = Vec::new();
    for _ in 0..500 {
        cn.fill(&mut frame);
        last.push(v.process(&frame).active);
    }
    assert!(last[0], "sudden noise onset first looks like voice");
    assert!(
        last[300..].iter().all(|a| !a),
        "after 6 s steady noise is background"
    );
    // The floor is a minimum of frame levels, so it sits slightly (≈1 dB
    // for 160-sample frames of white noise) below the mean level.
    let floor = v.noise_floor_dbfs();
    assert!((-37.0..=-35.0).contains(&floor), "floor {floor:.1}");
    // Speech 15 dB above that noise is still voice.
    let (f, _) = tone_frame(-20.0, 0.0);
    assert!(v.process(&f).active);
}

#[test]
fn speech_like_talk_spurts_are_active_and_gaps_are_not() {
    // 2 s of speech-like signal, then 2 s of −60 dBFS comfort noise, four
    // times over.
    for seed in 1..=3 {
        let mut speech = SpeechLike::new(RATE, seed);
        let mut noise = ComfortNoise::new(-60.0, seed).expect("valid");
        let mut v = vad();
        let (mut loud, mut loud_active, mut gap, mut gap_active) = (0, 0, 0, 0);
        let mut frame = [0i16; FRAME];
        for _ in 0..4 {
            for _ in 0..100 {
                speech.fill(&mut frame);
                let d = v.process(&frame);
                if d.level_dbfs > -35.0 {
                    loud += 1;
                    loud_active += u32::from(d.active);
                }
            }
            for _ in 0..100 {
                noise.fill(&mut frame);
                gap += 1;
                gap_active += u32::from(v.process(&frame).active);
            }
        }
        assert!(loud > 100, "seed {seed}: only {loud} loud frames");
        assert_eq!(
            loud_active, loud,
            "seed {seed}: every loud speech frame is voice"
        );
        // Only the hangover (10 frames of each 100-frame gap) may be active.
        assert!(
            gap_active <= 4 * VadConfig::default().hangover_frames,
            "seed {seed}: {gap_active} of {gap} gap frames active"
        );
    }
}

#[test]
fn loudest_speaker_is_the_loudest_active_participant() {
    let mut vads: Vec<Vad> = (0..4).map(|_| vad()).collect();
    let levels = [-30.0, -18.0, -24.0, -80.0];
    let mut last = Vec::new();
    let mut phases = [0.0; 4];
    for _ in 0..30 {
        last = vads
            .iter_mut()
            .zip(levels)
            .zip(phases.iter_mut())
            .map(|((v, l), ph)| {
                let (f, p) = tone_frame(l, *ph);
                *ph = p;
                v.process(&f)
            })
            .collect::<Vec<VadDecision>>();
    }
    assert_eq!(loudest_speaker(&last), Some(1));
    assert!(!last[3].active);
    assert!((last[1].smoothed_dbfs + 18.0).abs() < 0.1);
    // Everybody goes quiet: during the hangover the loudest is still
    // participant 1; once it has run out nobody is chosen.
    let mut silent = Vec::new();
    for frame in 0..=VadConfig::default().hangover_frames {
        silent = vads.iter_mut().map(|v| v.process(&[0i16; FRAME])).collect();
        if frame == 0 {
            assert_eq!(
                loudest_speaker(&silent),
                Some(1),
                "hangover keeps the speaker"
            );
        }
    }
    assert!(silent.iter().all(|d| !d.active));
    assert_eq!(loudest_speaker(&silent), None);
}

#[test]
fn bad_config_is_rejected() {
    assert!(
        Vad::new(&VadConfig {
            smoothing: 0.0,
            ..VadConfig::default()
        })
        .is_err()
    );
    assert!(
        Vad::new(&VadConfig {
            threshold_dbfs: f64::NAN,
            ..VadConfig::default()
        })
        .is_err()
    );
    assert!(
        Vad::new(&VadConfig {
            floor_window_frames: 0,
            ..VadConfig::default()
        })
        .is_err()
    );
}
