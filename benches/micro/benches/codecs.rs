//! Per-20 ms-frame cost of the media codecs: G.711 µ-law encode/decode
//! (160 samples), G.722 encode/decode (320 samples / 160 octets) and DTMF
//! detection (160 samples at 8 kHz), 8→48 kHz / 48→8 kHz resampling,
//! Opus encode/decode at 8 and 48 kHz (complexity 5 and 10), and the
//! PCMU→Opus / Opus→PCMU transcoder with the raw libopus encode/decode of
//! the same frame beside it (the transcoder's overhead over the codec work
//! it cannot avoid is the figure to watch).
//! Inputs are the crate's deterministic
//! speech-like signal, so the work matches a live call.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferrovox_codecs::dtmf::{DetectorConfig, DtmfDetector};
use ferrovox_codecs::g711::{decode_ulaw, encode_ulaw};
use ferrovox_codecs::g722::{G722Decoder, G722Encoder};
use ferrovox_codecs::opus::{MAX_PACKET_BYTES, OpusConfig, OpusDecoder, OpusEncoder};
use ferrovox_codecs::resample::{FrameResampler, Rate};
use ferrovox_codecs::signal::SpeechLike;
use ferrovox_codecs::transcode::{Codec, Leg, Transcoder, TranscoderConfig};

/// One second of speech-like audio at `rate`, cut into 20 ms frames by
/// the benches (cycling through them).
fn speech(rate: u32) -> Vec<i16> {
    let mut v = vec![0i16; rate as usize];
    SpeechLike::new(rate, 7).fill(&mut v);
    v
}

fn g711(c: &mut Criterion) {
    let pcm = speech(8000);
    let frames: Vec<&[i16]> = pcm.chunks_exact(160).collect();
    let mut codes = [0u8; 160];
    let mut out = [0i16; 160];
    let mut group = c.benchmark_group("g711");
    group.throughput(Throughput::Elements(160));
    let mut i = 0;
    group.bench_function("ulaw_encode_20ms", |b| {
        b.iter(|| {
            i = (i + 1) % frames.len();
            encode_ulaw(black_box(frames[i]), &mut codes)
        })
    });
    let encoded: Vec<[u8; 160]> = frames
        .iter()
        .map(|f| {
            let mut c = [0u8; 160];
            let _ = encode_ulaw(f, &mut c);
            c
        })
        .collect();
    group.bench_function("ulaw_decode_20ms", |b| {
        b.iter(|| {
            i = (i + 1) % encoded.len();
            decode_ulaw(black_box(&encoded[i]), &mut out)
        })
    });
    group.finish();
}

fn g722(c: &mut Criterion) {
    let pcm = speech(16000);
    let frames: Vec<&[i16]> = pcm.chunks_exact(320).collect();
    let mut group = c.benchmark_group("g722");
    group.throughput(Throughput::Elements(320));
    let mut enc = G722Encoder::new();
    let mut codes = [0u8; 160];
    let mut i = 0;
    group.bench_function("encode_20ms", |b| {
        b.iter(|| {
            i = (i + 1) % frames.len();
            enc.encode(black_box(frames[i]), &mut codes)
        })
    });
    let mut enc = G722Encoder::new();
    let encoded: Vec<[u8; 160]> = frames
        .iter()
        .map(|f| {
            let mut c = [0u8; 160];
            let _ = enc.encode(f, &mut c);
            c
        })
        .collect();
    let mut dec = G722Decoder::new();
    let mut out = [0i16; 320];
    group.bench_function("decode_20ms", |b| {
        b.iter(|| {
            i = (i + 1) % encoded.len();
            dec.decode(black_box(&encoded[i]), &mut out)
        })
    });
    group.finish();
}

fn dtmf(c: &mut Criterion) {
    let pcm = speech(8000);
    let frames: Vec<&[i16]> = pcm.chunks_exact(160).collect();
    let mut det = match DtmfDetector::new(&DetectorConfig::default()) {
        Ok(d) => d,
        Err(e) => panic!("default detector config rejected: {e}"),
    };
    let mut group = c.benchmark_group("dtmf");
    group.throughput(Throughput::Elements(160));
    let mut i = 0;
    let mut reports = 0u32;
    group.bench_function("detect_20ms", |b| {
        b.iter(|| {
            i = (i + 1) % frames.len();
            det.process(black_box(frames[i]), |_| reports += 1);
        })
    });
    group.finish();
    black_box(reports);
}

fn resample(c: &mut Criterion) {
    let pcm = speech(8000);
    let frames: Vec<&[i16]> = pcm.chunks_exact(160).collect();
    let (mut up, mut down) = match (
        FrameResampler::new(Rate::Hz8000, Rate::Hz48000, 20),
        FrameResampler::new(Rate::Hz48000, Rate::Hz8000, 20),
    ) {
        (Ok(u), Ok(d)) => (u, d),
        _ => panic!("8/48 kHz resamplers rejected"),
    };
    let mut wide = [0i16; 960];
    let mut narrow = [0i16; 160];
    let mut group = c.benchmark_group("resample");
    group.throughput(Throughput::Elements(160));
    let mut i = 0;
    group.bench_function("8k_to_48k_20ms", |b| {
        b.iter(|| {
            i = (i + 1) % frames.len();
            up.process(black_box(frames[i]), &mut wide)
        })
    });
    group.bench_function("48k_to_8k_20ms", |b| {
        b.iter(|| down.process(black_box(&wide), &mut narrow))
    });
    group.finish();
}

const PAIRED_ROUNDS: usize = 2000;

/// Median in µs.
fn median(v: &mut [Duration]) -> f64 {
    v.sort_unstable();
    v.get(v.len() / 2).map_or(0.0, |d| d.as_secs_f64() * 1e6)
}

fn opus_config(rate: u32, complexity: u8) -> OpusConfig {
    OpusConfig {
        complexity,
        ..OpusConfig::voip(rate)
    }
}

/// The speech at `rate` encoded into 20 ms Opus packets.
fn opus_packets(rate: u32, complexity: u8) -> Vec<Vec<u8>> {
    let pcm = speech(rate);
    let mut enc = match OpusEncoder::new(&opus_config(rate, complexity)) {
        Ok(e) => e,
        Err(e) => panic!("opus encoder: {e}"),
    };
    let mut buf = [0u8; MAX_PACKET_BYTES];
    pcm.chunks_exact(rate as usize / 50)
        .map(|f| match enc.encode(f, &mut buf) {
            Ok(n) => buf[..n].to_vec(),
            Err(e) => panic!("opus encode: {e}"),
        })
        .collect()
}

fn raw_encoder(rate: u32, complexity: u8) -> opus2::Encoder {
    let cfg = opus_config(rate, complexity);
    let mut e = match opus2::Encoder::new(rate, opus2::Channels::Mono, opus2::Application::Voip) {
        Ok(e) => e,
        Err(e) => panic!("libopus encoder: {e}"),
    };
    let set = e
        .set_bitrate(opus2::Bitrate::Bits(cfg.bitrate as i32))
        .and_then(|()| e.set_complexity(i32::from(complexity)));
    if let Err(err) = set {
        panic!("libopus ctl: {err}");
    }
    e
}

fn opus(c: &mut Criterion) {
    let mut group = c.benchmark_group("opus");
    for rate in [8000u32, 48000] {
        let pcm = speech(rate);
        let n = rate as usize / 50;
        let frames: Vec<&[i16]> = pcm.chunks_exact(n).collect();
        group.throughput(Throughput::Elements(n as u64));
        for complexity in [5u8, 10] {
            let mut enc = match OpusEncoder::new(&opus_config(rate, complexity)) {
                Ok(e) => e,
                Err(e) => panic!("opus encoder: {e}"),
            };
            let mut packet = [0u8; MAX_PACKET_BYTES];
            let mut i = 0;
            group.bench_function(format!("encode_20ms_{}k_c{complexity}", rate / 1000), |b| {
                b.iter(|| {
                    i = (i + 1) % frames.len();
                    enc.encode(black_box(frames[i]), &mut packet)
                })
            });
            let packets = opus_packets(rate, complexity);
            let mut dec = match OpusDecoder::new(rate) {
                Ok(d) => d,
                Err(e) => panic!("opus decoder: {e}"),
            };
            let mut out = vec![0i16; n];
            group.bench_function(format!("decode_20ms_{}k_c{complexity}", rate / 1000), |b| {
                b.iter(|| {
                    i = (i + 1) % packets.len();
                    dec.decode(black_box(&packets[i]), &mut out)
                })
            });
        }
    }
    group.finish();
}

/// PCMU 20 ms ↔ Opus 20 ms (complexity 5) through the transcoder, with
/// Opus at 48 kHz (resampling 8↔48 kHz) and at 8 kHz (no resampling),
/// each beside raw libopus doing the codec work of the same frame.
fn transcode(c: &mut Criterion) {
    let pcm8 = speech(8000);
    let ulaw: Vec<[u8; 160]> = pcm8
        .chunks_exact(160)
        .map(|f| {
            let mut c = [0u8; 160];
            let _ = encode_ulaw(f, &mut c);
            c
        })
        .collect();
    let pcmu = Leg {
        codec: Codec::Pcmu,
        ptime_ms: 20,
    };
    let mut group = c.benchmark_group("transcode");
    group.throughput(Throughput::Elements(160));
    for rate in [48000u32, 8000] {
        let opus = Leg {
            codec: Codec::Opus { sample_rate: rate },
            ptime_ms: 20,
        };
        let n = rate as usize / 50;
        let ticks = 960u32;
        let (mut to_opus, mut to_pcmu) = match (
            Transcoder::new(&TranscoderConfig::new(pcmu, opus)),
            Transcoder::new(&TranscoderConfig::new(opus, pcmu)),
        ) {
            (Ok(a), Ok(b)) => (a, b),
            _ => panic!("transcoders rejected"),
        };
        // Both directions really transcode (one packet out per packet in).
        let mut check = 0usize;
        match to_opus.push_audio(0, &ulaw[0], |_| check += 1) {
            Ok(1) => {}
            other => panic!("PCMU→Opus: {other:?}"),
        }
        let mut i = 0;
        let mut ts = 0u32;
        let mut bytes = 0usize;
        group.bench_function(format!("pcmu_to_opus{}k_20ms", rate / 1000), |b| {
            b.iter(|| {
                i = (i + 1) % ulaw.len();
                ts = ts.wrapping_add(160);
                to_opus.push_audio(ts, black_box(&ulaw[i]), |p| bytes += p.payload.len())
            })
        });
        // Raw libopus on the frames the transcoder hands its encoder: the
        // µ-law-decoded speech, resampled to the Opus rate.
        let mut up = match FrameResampler::new(
            Rate::Hz8000,
            Rate::from_hz(rate).unwrap_or(Rate::Hz48000),
            20,
        ) {
            Ok(r) => r,
            Err(e) => panic!("resampler: {e}"),
        };
        let mut wide = vec![0i16; ulaw.len() * n];
        let mut narrow = [0i16; 160];
        for (codes, dst) in ulaw.iter().zip(wide.chunks_exact_mut(n)) {
            let _ = decode_ulaw(codes, &mut narrow);
            if let Err(e) = up.process(&narrow, dst) {
                panic!("resample: {e}");
            }
        }
        let frames: Vec<&[i16]> = wide.chunks_exact(n).collect();
        let mut raw = raw_encoder(rate, 5);
        let mut packet = [0u8; MAX_PACKET_BYTES];
        group.bench_function(format!("raw_libopus_encode{}k_20ms", rate / 1000), |b| {
            b.iter(|| {
                i = (i + 1) % frames.len();
                raw.encode(black_box(frames[i]), &mut packet)
            })
        });
        // Opus packets of that same audio (what a PCMU→Opus leg sends).
        let mut enc = match OpusEncoder::new(&opus_config(rate, 5)) {
            Ok(e) => e,
            Err(e) => panic!("opus encoder: {e}"),
        };
        let packets: Vec<Vec<u8>> = frames
            .iter()
            .map(|f| match enc.encode(f, &mut packet) {
                Ok(len) => packet[..len].to_vec(),
                Err(e) => panic!("opus encode: {e}"),
            })
            .collect();
        match to_pcmu.push_audio(0, &packets[0], |_| check += 1) {
            Ok(1) => {}
            other => panic!("Opus→PCMU: {other:?}"),
        }
        // Paired medians: transcoder and raw libopus timed alternately on
        // the same frames, so load changes on the shared machine hit both
        // alike (criterion's separate runs can differ by 1.5× under load).
        {
            let (mut p_to_opus, mut p_to_pcmu) = match (
                Transcoder::new(&TranscoderConfig::new(pcmu, opus)),
                Transcoder::new(&TranscoderConfig::new(opus, pcmu)),
            ) {
                (Ok(a), Ok(b)) => (a, b),
                _ => panic!("transcoders rejected"),
            };
            let mut t_enc = Vec::with_capacity(PAIRED_ROUNDS);
            let mut r_enc = Vec::with_capacity(PAIRED_ROUNDS);
            let mut t_dec = Vec::with_capacity(PAIRED_ROUNDS);
            let mut r_dec = Vec::with_capacity(PAIRED_ROUNDS);
            let mut paired_enc = raw_encoder(rate, 5);
            let mut paired_dec = match opus2::Decoder::new(rate, opus2::Channels::Mono) {
                Ok(d) => d,
                Err(e) => panic!("libopus decoder: {e}"),
            };
            let mut out = vec![0i16; n];
            let mut emitted = 0usize;
            for k in 0..PAIRED_ROUNDS {
                let j = k % ulaw.len();
                let (enc_ts, dec_ts) = (k as u32 * 160, k as u32 * ticks);
                let p = &packets[j % packets.len()];
                // Alternate which side runs first, so neither always
                // inherits the other's warm caches.
                let mut timed = |first: bool| {
                    let t0 = Instant::now();
                    if first {
                        if let Ok(m) =
                            p_to_opus.push_audio(enc_ts, &ulaw[j], |q| bytes += q.payload.len())
                        {
                            emitted += m;
                        }
                    } else {
                        let _ = black_box(paired_enc.encode(frames[j % frames.len()], &mut packet));
                    }
                    let t1 = Instant::now();
                    if first {
                        if let Ok(m) = p_to_pcmu.push_audio(dec_ts, p, |q| bytes += q.payload.len())
                        {
                            emitted += m;
                        }
                    } else {
                        let _ = black_box(paired_dec.decode(p, &mut out, false));
                    }
                    (t1 - t0, t1.elapsed())
                };
                let order = k % 2 == 0;
                let (a_enc, a_dec) = timed(order);
                let (b_enc, b_dec) = timed(!order);
                let ((te, td), (re, rd)) = if order {
                    ((a_enc, a_dec), (b_enc, b_dec))
                } else {
                    ((b_enc, b_dec), (a_enc, a_dec))
                };
                t_enc.push(te);
                r_enc.push(re);
                t_dec.push(td);
                r_dec.push(rd);
            }
            assert_eq!(emitted, 2 * PAIRED_ROUNDS, "every push emitted one packet");
            let (te, re, td, rd) = (
                median(&mut t_enc),
                median(&mut r_enc),
                median(&mut t_dec),
                median(&mut r_dec),
            );
            eprintln!(
                "paired medians, Opus at {} kHz, {PAIRED_ROUNDS} rounds: PCMU→Opus {te:.1} µs vs raw encode {re:.1} µs ({:+.1} %); Opus→PCMU {td:.1} µs vs raw decode {rd:.1} µs ({:+.1} %)",
                rate / 1000,
                100.0 * (te / re - 1.0),
                100.0 * (td / rd - 1.0)
            );
        }
        let mut ts = 0u32;
        group.bench_function(format!("opus{}k_to_pcmu_20ms", rate / 1000), |b| {
            b.iter(|| {
                i = (i + 1) % packets.len();
                ts = ts.wrapping_add(ticks);
                to_pcmu.push_audio(ts, black_box(&packets[i]), |p| bytes += p.payload.len())
            })
        });
        let mut raw_dec = match opus2::Decoder::new(rate, opus2::Channels::Mono) {
            Ok(d) => d,
            Err(e) => panic!("libopus decoder: {e}"),
        };
        let mut out = vec![0i16; n];
        group.bench_function(format!("raw_libopus_decode{}k_20ms", rate / 1000), |b| {
            b.iter(|| {
                i = (i + 1) % packets.len();
                raw_dec.decode(black_box(&packets[i]), &mut out, false)
            })
        });
        black_box(bytes);
    }
    group.finish();
}

criterion_group!(benches, g711, g722, dtmf, resample, opus, transcode);
criterion_main!(benches);
