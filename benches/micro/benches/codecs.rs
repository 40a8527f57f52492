//! Per-20 ms-frame cost of the media codecs: G.711 µ-law encode/decode
//! (160 samples), G.722 encode/decode (320 samples / 160 octets) and DTMF
//! detection (160 samples at 8 kHz), and 8→48 kHz / 48→8 kHz resampling.
//! Inputs are the crate's deterministic
//! speech-like signal, so the work matches a live call.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferrovox_codecs::dtmf::{DetectorConfig, DtmfDetector};
use ferrovox_codecs::g711::{decode_ulaw, encode_ulaw};
use ferrovox_codecs::g722::{G722Decoder, G722Encoder};
use ferrovox_codecs::resample::{FrameResampler, Rate};
use ferrovox_codecs::signal::SpeechLike;

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

criterion_group!(benches, g711, g722, dtmf, resample);
criterion_main!(benches);
