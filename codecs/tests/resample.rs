//! Streaming resampler: tones keep their frequency and level across
//! 8→48→8, 16→8 and 8→16 kHz, out-of-band content is filtered when
//! downsampling, and frame-size errors are typed.

use ferrovox_codecs::CodecError;
use ferrovox_codecs::measure::{goertzel_power, zero_crossing_frequency};
use ferrovox_codecs::resample::{FrameResampler, Rate};
use ferrovox_codecs::signal::sine;

fn tone(rate: Rate, freq: f64, peak: f64, seconds: usize) -> Vec<i16> {
    let mut v = vec![0i16; rate.hz() as usize * seconds];
    sine(&mut v, rate.hz(), freq, peak, 0.0);
    v
}

/// Runs `pcm` through a resampler in 20 ms frames.
fn run(from: Rate, to: Rate, pcm: &[i16]) -> Vec<i16> {
    let mut r = FrameResampler::new(from, to, 20).expect("supported pair");
    let mut out = vec![0i16; pcm.len() / r.input_len() * r.output_len()];
    let out_len = r.output_len();
    for (frame, dst) in pcm
        .chunks_exact(r.input_len())
        .zip(out.chunks_exact_mut(out_len))
    {
        assert_eq!(r.process(frame, dst), Ok(out_len));
    }
    out
}

fn rms(s: &[i16]) -> f64 {
    (s.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
}

/// Frequency and level (dB relative to `peak`) of a steady tone, skipping
/// the first 200 ms (resampler delay and start-up).
fn measure(pcm: &[i16], rate: Rate, peak: f64) -> (f64, f64) {
    let skip = rate.hz() as usize / 5;
    let steady = &pcm[skip..];
    let f = zero_crossing_frequency(steady, rate.hz()).expect("tone present");
    let level = 20.0 * (rms(steady) * 2f64.sqrt() / peak).log10();
    (f, level)
}

#[test]
fn one_khz_survives_8_to_48_to_8() {
    let peak = 10000.0;
    let input = tone(Rate::Hz8000, 1000.0, peak, 2);
    let up = run(Rate::Hz8000, Rate::Hz48000, &input);
    assert_eq!(up.len(), input.len() * 6);
    let (f, level) = measure(&up, Rate::Hz48000, peak);
    assert!((f - 1000.0).abs() < 0.5, "8→48: {f:.3} Hz");
    assert!(level.abs() < 0.5, "8→48: level {level:.2} dB");
    let down = run(Rate::Hz48000, Rate::Hz8000, &up);
    assert_eq!(down.len(), input.len());
    let (f, level) = measure(&down, Rate::Hz8000, peak);
    assert!((f - 1000.0).abs() < 0.5, "8→48→8: {f:.3} Hz");
    assert!(level.abs() < 0.5, "8→48→8: level {level:.2} dB");
}

#[test]
fn one_khz_survives_16_to_8_and_8_to_16() {
    let peak = 10000.0;
    let wide = tone(Rate::Hz16000, 1000.0, peak, 2);
    let narrow = run(Rate::Hz16000, Rate::Hz8000, &wide);
    let (f, level) = measure(&narrow, Rate::Hz8000, peak);
    assert!((f - 1000.0).abs() < 0.5, "16→8: {f:.3} Hz");
    assert!(level.abs() < 0.5, "16→8: level {level:.2} dB");
    let back = run(Rate::Hz8000, Rate::Hz16000, &narrow);
    let (f, level) = measure(&back, Rate::Hz16000, peak);
    assert!((f - 1000.0).abs() < 0.5, "16→8→16: {f:.3} Hz");
    assert!(level.abs() < 0.5, "16→8→16: level {level:.2} dB");
}

#[test]
fn downsampling_removes_content_above_the_new_nyquist() {
    // 6 kHz at 16 kHz would alias to 2 kHz at 8 kHz without filtering.
    let peak = 10000.0;
    let wide = tone(Rate::Hz16000, 6000.0, peak, 1);
    let narrow = run(Rate::Hz16000, Rate::Hz8000, &wide);
    let steady = &narrow[1600..];
    let alias = goertzel_power(steady, 8000, 2000.0);
    let alias_db = 10.0 * (alias / (peak * peak / 2.0)).log10();
    assert!(alias_db < -40.0, "2 kHz alias at {alias_db:.1} dB");
    let total_db = 20.0 * (rms(steady) * 2f64.sqrt() / peak).log10();
    assert!(total_db < -40.0, "residual at {total_db:.1} dB");
}

#[test]
fn frame_sizes_and_errors() {
    let mut r = FrameResampler::new(Rate::Hz8000, Rate::Hz48000, 20).expect("supported");
    assert_eq!((r.input_len(), r.output_len()), (160, 960));
    let mut out = [0i16; 960];
    assert_eq!(
        r.process(&[0i16; 150], &mut out),
        Err(CodecError::BadInputLength {
            len: 150,
            multiple: 160
        })
    );
    assert_eq!(
        r.process(&[0i16; 160], &mut out[..900]),
        Err(CodecError::OutputTooSmall {
            needed: 960,
            got: 900
        })
    );
    assert!(FrameResampler::new(Rate::Hz8000, Rate::Hz16000, 15).is_err());
    let mut same = FrameResampler::new(Rate::Hz16000, Rate::Hz16000, 10).expect("identity");
    let frame: Vec<i16> = (0..160).map(|i| i as i16).collect();
    let mut copy = [0i16; 160];
    assert_eq!(same.process(&frame, &mut copy), Ok(160));
    assert_eq!(&copy[..], &frame[..]);
    let rates = [Rate::Hz8000, Rate::Hz16000, Rate::Hz48000];
    for from in rates {
        for to in rates {
            for ms in [10u32, 20, 30, 60] {
                let r = FrameResampler::new(from, to, ms)
                    .unwrap_or_else(|e| panic!("{from:?}→{to:?} {ms} ms: {e}"));
                assert_eq!(r.input_len(), (from.hz() * ms / 1000) as usize);
                assert_eq!(r.output_len(), (to.hz() * ms / 1000) as usize);
            }
        }
    }
    assert_eq!(Rate::from_hz(44100), None);
    assert_eq!(Rate::from_hz(48000), Some(Rate::Hz48000));
}
