//! Per-packet cost of the relay core's transcoding path, 20 ms packets:
//! PCMU → Opus and Opus → PCMU through `Relay::handle_packet` and
//! `Relay::poll_transmit` (RTP parse, latch, pipeline, RTP header of the
//! output, queue), beside raw libopus doing the codec work of the same
//! frame (encode of the 8 kHz PCM / decode of the Opus packet at 8 kHz —
//! the relay runs libopus at 8 kHz toward and from G.711, so neither
//! direction resamples). The overhead over raw libopus is the figure
//! (target ≤ 15 %).
//!
//! Besides criterion's own runs, a paired measurement times the relay path
//! and raw libopus alternately on the same frames (so load changes on the
//! shared machine hit both alike) and prints the medians.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferrovox_codecs::g711::{decode_ulaw, encode_ulaw};
use ferrovox_codecs::opus::{MAX_PACKET_BYTES, OpusConfig, OpusEncoder};
use ferrovox_codecs::signal::SpeechLike;
use ferrovox_codecs::transcode::Codec;
use ferrovox_media::{Action, Relay, RelayConfig, StreamOptions, TranscodeSpec};

const PAIRED_ROUNDS: usize = 3000;
const CALLER: &str = "192.0.2.10:5004";
const CALLEE: &str = "198.51.100.20:6000";

fn addr(s: &str) -> SocketAddr {
    match s.parse() {
        Ok(a) => a,
        Err(e) => panic!("{s}: {e}"),
    }
}

fn median(v: &mut [Duration]) -> f64 {
    v.sort_unstable();
    v.get(v.len() / 2).map_or(0.0, |d| d.as_secs_f64() * 1e6)
}

/// A relay with one call transcoding PCMU (caller) ↔ Opus (callee).
fn relay() -> (Relay, u16, u16) {
    let now = Instant::now();
    let mut r = match Relay::new(RelayConfig {
        port_min: 40000,
        port_max: 40009,
        ..RelayConfig::default()
    }) {
        Ok(r) => r,
        Err(e) => panic!("relay: {e}"),
    };
    let call = r.create_call(now);
    let setup = (|| {
        let (la, lb) = (r.add_leg(call)?, r.add_leg(call)?);
        let a = r.add_stream(
            la,
            StreamOptions {
                remote_rtp: Some(addr(CALLER)),
                ..StreamOptions::default()
            },
            now,
        )?;
        let b = r.add_stream(
            lb,
            StreamOptions {
                remote_rtp: Some(addr(CALLEE)),
                ..StreamOptions::default()
            },
            now,
        )?;
        r.connect(a, b)?;
        let opus = Codec::Opus { sample_rate: 48000 };
        r.set_transcode(
            a,
            Some(TranscodeSpec::new(
                (0, Codec::Pcmu, 20),
                (111, opus, 20),
                None,
                None,
            )),
        )?;
        r.set_transcode(
            b,
            Some(TranscodeSpec::new(
                (111, opus, 20),
                (0, Codec::Pcmu, 20),
                None,
                None,
            )),
        )?;
        Ok::<_, ferrovox_media::RelayError>((r.local_ports(a)?.rtp, r.local_ports(b)?.rtp))
    })();
    match setup {
        Ok((pa, pb)) => (r, pa, pb),
        Err(e) => panic!("setup: {e}"),
    }
}

fn header(pt: u8, seq: u16, ts: u32, ssrc: u32) -> [u8; 12] {
    let mut h = [0u8; 12];
    h[0] = 0x80;
    h[1] = pt;
    h[2..4].copy_from_slice(&seq.to_be_bytes());
    h[4..8].copy_from_slice(&ts.to_be_bytes());
    h[8..12].copy_from_slice(&ssrc.to_be_bytes());
    h
}

struct Input {
    /// µ-law frames and the 8 kHz PCM they decode to.
    ulaw: Vec<[u8; 160]>,
    pcm8: Vec<[i16; 160]>,
    /// Opus packets (narrowband, from the 8 kHz speech).
    opus: Vec<Vec<u8>>,
}

fn input() -> Input {
    let mut speech = vec![0i16; 8000];
    SpeechLike::new(8000, 7).fill(&mut speech);
    let mut enc = match OpusEncoder::new(&OpusConfig::voip(8000)) {
        Ok(e) => e,
        Err(e) => panic!("opus: {e}"),
    };
    let mut ulaw = Vec::new();
    let mut pcm8 = Vec::new();
    let mut opus = Vec::new();
    let mut packet = [0u8; MAX_PACKET_BYTES];
    for f in speech.chunks_exact(160) {
        let mut c = [0u8; 160];
        let mut p = [0i16; 160];
        if encode_ulaw(f, &mut c)
            .and_then(|_| decode_ulaw(&c, &mut p))
            .is_err()
        {
            panic!("g711");
        }
        ulaw.push(c);
        pcm8.push(p);
        match enc.encode(f, &mut packet) {
            Ok(n) => opus.push(packet[..n].to_vec()),
            Err(e) => panic!("opus: {e}"),
        }
    }
    Input { ulaw, pcm8, opus }
}

/// Drives one direction of the relay: builds packet `k` into `buf` and
/// transcodes it; returns the packets sent.
struct Driver {
    relay: Relay,
    ports: (u16, u16),
    /// Caller and callee addresses.
    from: (SocketAddr, SocketAddr),
    buf: Vec<u8>,
    out: Vec<u8>,
    /// Packets sent so far per direction (each its own continuous timeline).
    ka: u32,
    kb: u32,
}

impl Driver {
    fn pcmu_to_opus(&mut self, input: &Input) -> usize {
        let k = self.ka;
        self.ka += 1;
        let j = k as usize % input.ulaw.len();
        self.buf.clear();
        self.buf
            .extend_from_slice(&header(0, k as u16, k * 160, 0xa));
        self.buf.extend_from_slice(&input.ulaw[j]);
        self.run(self.ports.0, self.from.0)
    }

    fn opus_to_pcmu(&mut self, input: &Input) -> usize {
        let k = self.kb;
        self.kb += 1;
        let j = k as usize % input.opus.len();
        self.buf.clear();
        self.buf
            .extend_from_slice(&header(111, k as u16, k * 960, 0xb));
        self.buf.extend_from_slice(&input.opus[j]);
        self.run(self.ports.1, self.from.1)
    }

    fn run(&mut self, port: u16, from: SocketAddr) -> usize {
        let now = Instant::now();
        let mut sent = 0;
        if let Action::Consumed { queued: 1.. } =
            self.relay
                .handle_packet(port, from, black_box(&mut self.buf), now)
        {
            while let Some(t) = self.relay.poll_transmit(&mut self.out) {
                sent += black_box(t.len).min(1);
            }
        }
        sent
    }
}

fn driver() -> Driver {
    let (relay, pa, pb) = relay();
    Driver {
        relay,
        ports: (pa, pb),
        from: (addr(CALLER), addr(CALLEE)),
        buf: Vec::with_capacity(2048),
        out: vec![0u8; 2048],
        ka: 0,
        kb: 0,
    }
}

fn transcode(c: &mut Criterion) {
    let input = input();
    let mut group = c.benchmark_group("relay_transcode");
    group.throughput(Throughput::Elements(1));

    let mut d = driver();
    assert_eq!(d.pcmu_to_opus(&input), 1, "PCMU→Opus emits a packet");
    assert_eq!(d.opus_to_pcmu(&input), 1, "Opus→PCMU emits a packet");
    group.bench_function("relay_pcmu_to_opus_20ms", |b| {
        b.iter(|| d.pcmu_to_opus(&input))
    });
    group.bench_function("relay_opus_to_pcmu_20ms", |b| {
        b.iter(|| d.opus_to_pcmu(&input))
    });

    let mut raw_enc = raw_encoder();
    let mut raw_dec = raw_decoder();
    let mut packet = [0u8; MAX_PACKET_BYTES];
    let mut pcm = [0i16; 160];
    let mut i = 0usize;
    group.bench_function("raw_libopus_encode8k_20ms", |b| {
        b.iter(|| {
            i = (i + 1) % input.pcm8.len();
            raw_enc.encode(black_box(&input.pcm8[i]), &mut packet)
        })
    });
    group.bench_function("raw_libopus_decode8k_20ms", |b| {
        b.iter(|| {
            i = (i + 1) % input.opus.len();
            raw_dec.decode(black_box(&input.opus[i]), &mut pcm, false)
        })
    });
    group.finish();

    // Paired medians.
    let mut d = driver();
    let mut raw_enc = raw_encoder();
    let mut raw_dec = raw_decoder();
    let (mut t_enc, mut r_enc, mut t_dec, mut r_dec) = (
        Vec::with_capacity(PAIRED_ROUNDS),
        Vec::with_capacity(PAIRED_ROUNDS),
        Vec::with_capacity(PAIRED_ROUNDS),
        Vec::with_capacity(PAIRED_ROUNDS),
    );
    let mut sent = 0usize;
    for k in 0..PAIRED_ROUNDS {
        let j = k % input.pcm8.len();
        let mut relay_side = |d: &mut Driver| {
            let t0 = Instant::now();
            sent += d.pcmu_to_opus(&input);
            let t1 = Instant::now();
            sent += d.opus_to_pcmu(&input);
            (t1 - t0, t1.elapsed())
        };
        let mut raw_side = || {
            let t0 = Instant::now();
            let _ = black_box(raw_enc.encode(&input.pcm8[j], &mut packet));
            let t1 = Instant::now();
            let _ = black_box(raw_dec.decode(&input.opus[j % input.opus.len()], &mut pcm, false));
            (t1 - t0, t1.elapsed())
        };
        let (te, td, re, rd) = if k % 2 == 0 {
            let (te, td) = relay_side(&mut d);
            let (re, rd) = raw_side();
            (te, td, re, rd)
        } else {
            let (re, rd) = raw_side();
            let (te, td) = relay_side(&mut d);
            (te, td, re, rd)
        };
        t_enc.push(te);
        t_dec.push(td);
        r_enc.push(re);
        r_dec.push(rd);
    }
    assert_eq!(sent, 2 * PAIRED_ROUNDS, "one packet out per packet in");
    let (te, re, td, rd) = (
        median(&mut t_enc),
        median(&mut r_enc),
        median(&mut t_dec),
        median(&mut r_dec),
    );
    eprintln!(
        "paired medians through the relay core, {PAIRED_ROUNDS} rounds: \
         PCMU→Opus {te:.2} µs vs raw libopus encode (8 kHz) {re:.2} µs ({:+.1} %); \
         Opus→PCMU {td:.2} µs vs raw libopus decode (8 kHz) {rd:.2} µs ({:+.1} %)",
        100.0 * (te / re - 1.0),
        100.0 * (td / rd - 1.0)
    );
    // A bidirectional call costs one packet each way every 20 ms.
    eprintln!(
        "relay-core capacity: {:.0} bidirectional PCMU↔Opus calls per core (20 ms / {:.2} µs per call-packet-pair; socket IO not included)",
        20_000.0 / (te + td),
        te + td
    );
}

/// libopus as the relay's encoder is configured (VoIP, 12 kbit/s,
/// complexity 5, 8 kHz).
fn raw_encoder() -> opus2::Encoder {
    let cfg = OpusConfig::voip(8000);
    let mut e = match opus2::Encoder::new(8000, opus2::Channels::Mono, opus2::Application::Voip) {
        Ok(e) => e,
        Err(e) => panic!("libopus encoder: {e}"),
    };
    let set = e
        .set_bitrate(opus2::Bitrate::Bits(cfg.bitrate as i32))
        .and_then(|()| e.set_complexity(i32::from(cfg.complexity)));
    if let Err(err) = set {
        panic!("libopus ctl: {err}");
    }
    e
}

fn raw_decoder() -> opus2::Decoder {
    match opus2::Decoder::new(8000, opus2::Channels::Mono) {
        Ok(d) => d,
        Err(e) => panic!("libopus decoder: {e}"),
    }
}

criterion_group!(benches, transcode);
criterion_main!(benches);
