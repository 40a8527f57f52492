//! DTMF: RFC 4733 payloads, generation (measured frequencies, level and
//! duration) and detection (all digits through G.711, minimum duration,
//! levels, twist, frequency tolerance, talk-off on speech-like signals).

use ferrovox_codecs::CodecError;
use ferrovox_codecs::dtmf::rfc4733::{EVENT_FLASH, EVENT_LEN};
use ferrovox_codecs::dtmf::{
    DetectorConfig, Digit, DtmfDetector, DtmfGenerator, DtmfReport, TelephoneEvent,
};
use ferrovox_codecs::g711::Law;
use ferrovox_codecs::measure::{dominant_frequency, goertzel_power};
use ferrovox_codecs::signal::{SpeechLike, dbm0_to_peak, power_to_dbm0, sine, to_i16};

const RATE: u32 = 8000;

// ---------------------------------------------------------------- RFC 4733

#[test]
fn rfc4733_encodes_the_wire_layout() {
    // Digit 5, E=1, volume 10, duration 800 (100 ms at 8 kHz).
    let ev = TelephoneEvent::dtmf(Digit::D5, true, 10, 800).expect("valid event");
    assert_eq!(ev.to_bytes(), [0x05, 0x8A, 0x03, 0x20]);
    let mut buf = [0u8; 6];
    assert_eq!(ev.write(&mut buf), Ok(4));
    assert_eq!(&buf[..4], &[0x05, 0x8A, 0x03, 0x20]);
    assert_eq!(
        ev.write(&mut buf[..3]),
        Err(CodecError::OutputTooSmall { needed: 4, got: 3 })
    );
    let start = TelephoneEvent::new(EVENT_FLASH, false, 0, 0).expect("valid event");
    assert_eq!(start.to_bytes(), [16, 0x00, 0, 0]);
}

#[test]
fn rfc4733_decodes_fields_and_ignores_the_reserved_bit() {
    let ev = TelephoneEvent::parse(&[0x0B, 0xFF, 0xFF, 0xFE]).expect("valid payload");
    assert_eq!(ev.event, 11);
    assert_eq!(ev.digit(), Some(Digit::Hash));
    assert!(ev.end);
    assert_eq!(ev.volume(), 63);
    assert_eq!(ev.duration, 0xFFFE);
    let flash = TelephoneEvent::parse(&[16, 0x07, 0x00, 0xA0]).expect("valid payload");
    assert_eq!(flash.digit(), None);
    assert!(!flash.end);
    assert_eq!(flash.volume(), 7);
    assert_eq!(flash.duration, 160);
}

#[test]
fn rfc4733_round_trips_every_digit_and_volume() {
    for d in Digit::ALL {
        for volume in [0u8, 1, 20, 63] {
            for end in [false, true] {
                let ev = TelephoneEvent::dtmf(d, end, volume, 1234).expect("valid event");
                let back = TelephoneEvent::parse(&ev.to_bytes()).expect("own payload parses");
                assert_eq!(back, ev);
                assert_eq!(back.digit(), Some(d));
            }
        }
    }
}

#[test]
fn rfc4733_rejects_bad_payloads_and_parameters() {
    for len in 0..EVENT_LEN {
        assert_eq!(
            TelephoneEvent::parse(&[0u8; 8][..len]),
            Err(CodecError::PayloadTooShort {
                needed: 4,
                got: len
            })
        );
    }
    assert!(matches!(
        TelephoneEvent::parse(&[0u8; 6]),
        Err(CodecError::BadPayloadLength { len: 6, .. })
    ));
    assert!(matches!(
        TelephoneEvent::new(1, false, 64, 0),
        Err(CodecError::InvalidParameter { name: "volume", .. })
    ));
}

#[test]
fn rfc4733_parses_multiple_events_per_packet() {
    let mut payload = [0u8; 8];
    let a = TelephoneEvent::dtmf(Digit::D1, true, 10, 800).expect("valid");
    let b = TelephoneEvent::dtmf(Digit::D2, false, 12, 160).expect("valid");
    a.write(&mut payload[..4]).expect("room");
    b.write(&mut payload[4..]).expect("room");
    let all: Vec<_> = TelephoneEvent::parse_all(&payload)
        .expect("valid")
        .collect();
    assert_eq!(all, vec![a, b]);
}

// -------------------------------------------------------------- generation

fn generate(digit: Digit, level: f64, ms: u32) -> Vec<i16> {
    let mut g = DtmfGenerator::new(RATE, digit, level, ms).expect("valid generator");
    let mut out = vec![0i16; g.remaining()];
    assert_eq!(g.fill(&mut out), out.len());
    assert_eq!(
        g.fill(&mut [0i16; 10]),
        0,
        "generator stops after its duration"
    );
    out
}

#[test]
fn generator_produces_the_right_frequencies_level_and_duration() {
    for d in Digit::ALL {
        let pcm = generate(d, -20.0, 100);
        assert_eq!(pcm.len(), 800, "100 ms at 8 kHz");
        let (low, high) = d.frequencies();
        let fl = dominant_frequency(&pcm, RATE, 600.0, 1000.0, 5.0);
        let fh = dominant_frequency(&pcm, RATE, 1100.0, 1700.0, 5.0);
        assert!(
            (fl - low).abs() < 2.0,
            "{d:?}: low tone at {fl:.1} Hz, want {low}"
        );
        assert!(
            (fh - high).abs() < 2.0,
            "{d:?}: high tone at {fh:.1} Hz, want {high}"
        );
        for f in [low, high] {
            let level = power_to_dbm0(goertzel_power(&pcm, RATE, f));
            assert!(
                (level + 20.0).abs() < 0.3,
                "{d:?}: {f} Hz at {level:.2} dBm0"
            );
        }
    }
}

#[test]
fn generator_rejects_bad_parameters() {
    assert!(DtmfGenerator::new(RATE, Digit::D1, 0.0, 100).is_err());
    assert!(DtmfGenerator::new(RATE, Digit::D1, f64::NAN, 100).is_err());
    assert!(DtmfGenerator::new(100, Digit::D1, -20.0, 100).is_err());
    let g = DtmfGenerator::new(RATE, Digit::D1, -20.0, 100).expect("valid");
    assert!(g.with_twist(10.0).is_err());
}

// --------------------------------------------------------------- detection

fn detect(pcm: &[i16]) -> Vec<DtmfReport> {
    detect_with(pcm, &DetectorConfig::default())
}

fn detect_with(pcm: &[i16], config: &DetectorConfig) -> Vec<DtmfReport> {
    let mut det = DtmfDetector::new(config).expect("valid config");
    let mut reports = Vec::new();
    // 20 ms frames, as the media path delivers them.
    for frame in pcm.chunks(160) {
        det.process(frame, |r| reports.push(r));
    }
    det.finish(|r| reports.push(r));
    reports
}

/// (digit, start, end) of every completed digit, checking that each
/// `Began` is followed by its `Ended`.
fn digits(reports: &[DtmfReport]) -> Vec<(Digit, u64, u64)> {
    let mut out = Vec::new();
    let mut open: Option<(Digit, u64)> = None;
    for r in reports {
        match *r {
            DtmfReport::Began { digit, start } => {
                assert!(
                    open.is_none(),
                    "Began while {open:?} still open: {reports:?}"
                );
                open = Some((digit, start));
            }
            DtmfReport::Ended { digit, start, end } => {
                assert_eq!(
                    open,
                    Some((digit, start)),
                    "Ended without Began: {reports:?}"
                );
                assert!(end > start);
                out.push((digit, start, end));
                open = None;
            }
        }
    }
    assert!(open.is_none(), "digit left open: {reports:?}");
    out
}

/// Silence of `lead` samples, then each digit for `on_ms` followed by
/// `off_ms` of silence. Returns the signal and the true (start, end) of
/// each digit.
fn sequence(
    ds: &[Digit],
    level: f64,
    on_ms: u32,
    off_ms: u32,
    lead: usize,
) -> (Vec<i16>, Vec<(u64, u64)>) {
    let mut pcm = vec![0i16; lead];
    let mut spans = Vec::new();
    for &d in ds {
        let start = pcm.len() as u64;
        pcm.extend(generate(d, level, on_ms));
        spans.push((start, pcm.len() as u64));
        pcm.extend(std::iter::repeat_n(0i16, (RATE * off_ms / 1000) as usize));
    }
    (pcm, spans)
}

fn through_g711(pcm: &[i16], law: Law) -> Vec<i16> {
    let mut codes = vec![0u8; pcm.len()];
    let mut out = vec![0i16; pcm.len()];
    law.encode(pcm, &mut codes).expect("sized");
    law.decode(&codes, &mut out).expect("sized");
    out
}

#[test]
fn all_16_digits_through_g711_are_detected_in_order_with_timing() {
    let (clean, spans) = sequence(&Digit::ALL, -20.0, 50, 50, 0);
    for law in [Law::Ulaw, Law::Alaw] {
        for lead in [0usize, 37, 71, 101] {
            let mut pcm = vec![0i16; lead];
            pcm.extend(through_g711(&clean, law));
            let found = digits(&detect(&pcm));
            let got: String = found.iter().map(|(d, _, _)| d.to_char()).collect();
            assert_eq!(got, "0123456789*#ABCD", "{law:?}, lead {lead}");
            for ((_, start, end), (ts, te)) in found.iter().zip(&spans) {
                let (ts, te) = (ts + lead as u64, te + lead as u64);
                // Block granularity: within one 102-sample block.
                assert!(
                    start.abs_diff(ts) <= 102,
                    "{law:?} lead {lead}: start {start} vs {ts}"
                );
                assert!(
                    end.abs_diff(te) <= 102,
                    "{law:?} lead {lead}: end {end} vs {te}"
                );
            }
        }
    }
}

#[test]
fn twenty_ms_digits_are_rejected_and_forty_ms_accepted_at_every_alignment() {
    for lead in (0..102).step_by(3) {
        let (short, _) = sequence(&Digit::ALL, -20.0, 20, 100, lead);
        let found = detect(&through_g711(&short, Law::Ulaw));
        assert!(
            found.is_empty(),
            "20 ms digits detected at lead {lead}: {found:?}"
        );
        let (long, _) = sequence(&Digit::ALL, -20.0, 40, 100, lead);
        let found = digits(&detect(&through_g711(&long, Law::Ulaw)));
        let got: String = found.iter().map(|(d, _, _)| d.to_char()).collect();
        assert_eq!(got, "0123456789*#ABCD", "40 ms digits at lead {lead}");
    }
}

#[test]
fn level_threshold() {
    let ds = [Digit::D1, Digit::D9, Digit::Hash];
    let (quiet_ok, _) = sequence(&ds, -33.0, 60, 60, 0);
    assert_eq!(
        digits(&detect(&through_g711(&quiet_ok, Law::Alaw))).len(),
        3
    );
    let (too_quiet, _) = sequence(&ds, -40.0, 60, 60, 0);
    assert!(detect(&through_g711(&too_quiet, Law::Alaw)).is_empty());
}

fn twisted(digit: Digit, twist_db: f64) -> Vec<i16> {
    let mut g = DtmfGenerator::new(RATE, digit, -20.0, 80)
        .and_then(|g| g.with_twist(twist_db))
        .expect("valid");
    let mut pcm = vec![0i16; 800];
    g.fill(&mut pcm);
    pcm
}

#[test]
fn twist_limits() {
    for d in [Digit::D1, Digit::D0, Digit::D] {
        // High tone 3 dB stronger (reverse twist, limit 4) and 7 dB weaker
        // (normal twist, limit 8) are accepted.
        for ok in [3.0, -7.0] {
            assert_eq!(
                digits(&detect(&twisted(d, ok))).len(),
                1,
                "{d:?} twist {ok}"
            );
        }
        for bad in [5.5, -10.0] {
            assert!(detect(&twisted(d, bad)).is_empty(), "{d:?} twist {bad}");
        }
    }
}

#[test]
fn frequency_tolerance() {
    // Q.24: ±1.5 % must be accepted; the detector's Goertzel main lobe and
    // relative-peak test reject ±3.5 % for the tightly spaced low group.
    let tone = |d: Digit, dev: f64| {
        let (low, high) = d.frequencies();
        let peak = dbm0_to_peak(-20.0);
        let mut a = vec![0i16; 640];
        let mut b = vec![0i16; 640];
        sine(&mut a, RATE, low * (1.0 + dev), peak, 0.0);
        sine(&mut b, RATE, high * (1.0 + dev), peak, 0.3);
        a.iter()
            .zip(&b)
            .map(|(&x, &y)| to_i16(x as f64 + y as f64))
            .collect::<Vec<_>>()
    };
    for d in Digit::ALL {
        for dev in [-0.015, 0.015] {
            let found = digits(&detect(&tone(d, dev)));
            assert_eq!(found.len(), 1, "{d:?} at {dev:+} deviation: {found:?}");
            assert_eq!(found[0].0, d);
        }
    }
    for d in [Digit::D5, Digit::D8] {
        for dev in [-0.05, 0.05] {
            let found = digits(&detect(&tone(d, dev)));
            assert!(
                found.iter().all(|(x, _, _)| *x != d),
                "{d:?} accepted at {dev:+} deviation"
            );
        }
    }
}

#[test]
fn detection_does_not_depend_on_chunking() {
    let (pcm, _) = sequence(&[Digit::D4, Digit::Star, Digit::B], -20.0, 60, 60, 13);
    let reference = detect(&pcm);
    assert_eq!(digits(&reference).len(), 3);
    for chunk in [1usize, 37, 102, 1000] {
        let mut det = DtmfDetector::new(&DetectorConfig::default()).expect("valid");
        let mut reports = Vec::new();
        for c in pcm.chunks(chunk) {
            det.process(c, |r| reports.push(r));
        }
        det.finish(|r| reports.push(r));
        assert_eq!(reports, reference, "chunk size {chunk}");
    }
}

#[test]
fn speech_like_signals_cause_no_talk_off() {
    for seed in 1..=8u64 {
        let mut pcm = vec![0i16; RATE as usize * 10];
        SpeechLike::new(RATE, seed).fill(&mut pcm);
        for law in [Law::Ulaw, Law::Alaw] {
            let reports = detect(&through_g711(&pcm, law));
            assert!(
                reports.is_empty(),
                "seed {seed} {law:?}: talk-off {reports:?}"
            );
        }
    }
}

#[test]
fn digits_in_speech_are_still_found() {
    // A digit at −10 dBm0 over speech-like background 10+ dB weaker is
    // still detected (tone-to-total power stays above the threshold).
    let mut pcm = vec![0i16; RATE as usize * 2];
    SpeechLike::new(RATE, 3).fill(&mut pcm);
    for s in &mut pcm {
        *s /= 8;
    }
    let tone = generate(Digit::D7, -10.0, 100);
    for (i, &t) in tone.iter().enumerate() {
        let j = 4000 + i;
        pcm[j] = to_i16(pcm[j] as f64 + t as f64);
    }
    let found = digits(&detect(&pcm));
    assert_eq!(
        found.iter().map(|f| f.0).collect::<Vec<_>>(),
        vec![Digit::D7]
    );
}

#[test]
fn detector_rejects_bad_config() {
    let bad = [
        DetectorConfig {
            block_len: 10,
            ..DetectorConfig::default()
        },
        DetectorConfig {
            min_on_blocks: 0,
            ..DetectorConfig::default()
        },
        DetectorConfig {
            min_tone_to_total: 0.0,
            ..DetectorConfig::default()
        },
        DetectorConfig {
            relative_peak_db: f64::INFINITY,
            ..DetectorConfig::default()
        },
    ];
    for c in bad {
        assert!(DtmfDetector::new(&c).is_err(), "{c:?}");
    }
}

#[test]
fn talk_off_test_is_sensitive() {
    // The speech-like signals do contain DTMF-like moments: with the
    // tone-to-total power check disabled they trigger false digits. This
    // shows `speech_like_signals_cause_no_talk_off` exercises the checks.
    let loose = DetectorConfig {
        min_tone_to_total: 0.01,
        ..DetectorConfig::default()
    };
    let mut false_digits = 0;
    for seed in 1..=8u64 {
        let mut pcm = vec![0i16; RATE as usize * 10];
        SpeechLike::new(RATE, seed).fill(&mut pcm);
        false_digits += digits(&detect_with(&pcm, &loose)).len();
    }
    assert!(
        false_digits > 0,
        "loosened detector found nothing in speech"
    );
}
