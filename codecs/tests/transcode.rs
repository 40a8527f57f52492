//! Transcoder: tone preservation across every codec pair, exact output
//! timestamps, packet counts on ptime changes, RFC 4733 events with
//! rescaled durations, gap concealment and timeline jumps, Opus FEC,
//! typed errors.

use ferrovox_codecs::dtmf::{Digit, TelephoneEvent};
use ferrovox_codecs::g711::{decode_alaw, decode_ulaw, encode_alaw, encode_ulaw};
use ferrovox_codecs::g722::{G722Decoder, G722Encoder};
use ferrovox_codecs::measure::dominant_frequency;
use ferrovox_codecs::opus::{MAX_PACKET_BYTES, OpusConfig, OpusDecoder, OpusEncoder};
use ferrovox_codecs::signal::{level_dbfs, sine};
use ferrovox_codecs::transcode::{Codec, Leg, OutPacket, PacketKind, Transcoder, TranscoderConfig};
use ferrovox_codecs::{CodecError, OpusErrorKind};

const OPUS48: Codec = Codec::Opus { sample_rate: 48000 };

#[derive(Debug, Clone)]
struct Out {
    kind: PacketKind,
    ts: u32,
    marker: bool,
    payload: Vec<u8>,
}

fn collect(v: &mut Vec<Out>) -> impl FnMut(&OutPacket<'_>) + '_ {
    |p| {
        v.push(Out {
            kind: p.kind,
            ts: p.timestamp,
            marker: p.marker,
            payload: p.payload.to_vec(),
        })
    }
}

fn tone(rate: u32, ms: u32) -> Vec<i16> {
    let mut v = vec![0i16; (rate * ms / 1000) as usize];
    sine(
        &mut v,
        rate,
        1000.0,
        32767.0 * 10f64.powf(-10.0 / 20.0),
        0.0,
    );
    v
}

/// Encodes `pcm` (at the codec's rate) into (timestamp, payload) packets
/// of `ptime` ms starting at timestamp `ts0`.
fn packetise(codec: Codec, ptime: u32, pcm: &[i16], ts0: u32) -> Vec<(u32, Vec<u8>)> {
    let n = (codec.audio_rate() * ptime / 1000) as usize;
    let ticks = codec.rtp_clock() * ptime / 1000;
    let mut g722 = G722Encoder::new();
    let mut opus = match codec {
        Codec::Opus { sample_rate } => Some(
            OpusEncoder::new(&OpusConfig {
                frame_ms: ptime,
                ..OpusConfig::voip(sample_rate)
            })
            .expect("valid"),
        ),
        _ => None,
    };
    pcm.chunks_exact(n)
        .enumerate()
        .map(|(i, f)| {
            let mut buf = vec![0u8; MAX_PACKET_BYTES];
            let len = match codec {
                Codec::Pcmu => encode_ulaw(f, &mut buf).expect("sized"),
                Codec::Pcma => encode_alaw(f, &mut buf).expect("sized"),
                Codec::G722 => g722.encode(f, &mut buf).expect("sized"),
                Codec::Opus { .. } => opus
                    .as_mut()
                    .expect("opus")
                    .encode(f, &mut buf)
                    .expect("sized"),
            };
            buf.truncate(len);
            (ts0.wrapping_add(i as u32 * ticks), buf)
        })
        .collect()
}

/// Decodes audio packets of `codec` back to PCM at its rate.
fn depacketise(codec: Codec, packets: &[Out]) -> Vec<i16> {
    let mut pcm = Vec::new();
    let mut g722 = G722Decoder::new();
    let mut opus = match codec {
        Codec::Opus { sample_rate } => Some(OpusDecoder::new(sample_rate).expect("valid")),
        _ => None,
    };
    let mut buf = vec![0i16; 48000 / 1000 * 120];
    for p in packets.iter().filter(|p| p.kind == PacketKind::Audio) {
        let n = match codec {
            Codec::Pcmu => decode_ulaw(&p.payload, &mut buf).expect("sized"),
            Codec::Pcma => decode_alaw(&p.payload, &mut buf).expect("sized"),
            Codec::G722 => g722.decode(&p.payload, &mut buf).expect("sized"),
            Codec::Opus { .. } => opus
                .as_mut()
                .expect("opus")
                .decode(&p.payload, &mut buf)
                .expect("valid"),
        };
        pcm.extend_from_slice(&buf[..n]);
    }
    pcm
}

fn transcode(cfg: &TranscoderConfig, input: &[(u32, Vec<u8>)]) -> (Transcoder, Vec<Out>) {
    let mut t = Transcoder::new(cfg).expect("valid config");
    let mut out = Vec::new();
    for (ts, p) in input {
        t.push_audio(*ts, p, collect(&mut out))
            .expect("valid payload");
    }
    (t, out)
}

fn name(c: Codec) -> String {
    match c {
        Codec::Pcmu => "PCMU".into(),
        Codec::Pcma => "PCMA".into(),
        Codec::G722 => "G722".into(),
        Codec::Opus { sample_rate } => format!("Opus@{}k", sample_rate / 1000),
    }
}

#[test]
fn every_codec_pair_keeps_a_1khz_tone_with_exact_timestamps() {
    let codecs = [
        Codec::Pcmu,
        Codec::Pcma,
        Codec::G722,
        OPUS48,
        Codec::Opus { sample_rate: 8000 },
    ];
    for a in codecs {
        for b in codecs {
            let pcm = tone(a.audio_rate(), 1000);
            let ts0 = 0xFFFF_F000; // wraps during the second
            let input = packetise(a, 20, &pcm, ts0);
            let cfg = TranscoderConfig::new(
                Leg {
                    codec: a,
                    ptime_ms: 20,
                },
                Leg {
                    codec: b,
                    ptime_ms: 20,
                },
            );
            let (t, out) = transcode(&cfg, &input);
            // 50 packets in, 50 out; timestamps start at the rescaled
            // input timestamp and advance by exactly 20 ms of the output
            // clock (160 at 8000 — G.722 too — and 960 at 48000).
            assert_eq!(out.len(), 50, "{} → {}", name(a), name(b));
            let step = b.rtp_clock() / 50;
            assert_eq!(t.output_ticks_per_packet(), step);
            let first =
                (u64::from(ts0) * u64::from(b.rtp_clock()) / u64::from(a.rtp_clock())) as u32;
            assert_eq!(out[0].ts, first);
            for (k, p) in out.iter().enumerate() {
                assert_eq!(p.ts, first.wrapping_add(k as u32 * step), "packet {k}");
                assert_eq!(p.marker, k == 0);
            }
            let decoded = depacketise(b, &out);
            let rate = b.audio_rate();
            let tail = &decoded[rate as usize / 5..];
            let f = dominant_frequency(tail, rate, 900.0, 1100.0, 1.0);
            let level = level_dbfs(tail);
            eprintln!(
                "{} → {}: {f:.2} Hz, {level:.2} dBFS (in −10.00), delay {:.2} ms",
                name(a),
                name(b),
                t.delay_ms()
            );
            assert!(
                (f - 1000.0).abs() < 3.0,
                "{} → {}: {f:.2} Hz",
                name(a),
                name(b)
            );
            assert!(
                (level + 10.0).abs() < 2.0,
                "{} → {}: {level:.2} dBFS",
                name(a),
                name(b)
            );
        }
    }
}

#[test]
fn ptime_change_produces_the_right_packet_count() {
    // (input leg, output leg, input packets, expected output packets)
    let cases = [
        (Codec::Pcmu, 20, Codec::Pcma, 30, 60, 40),
        (Codec::Pcmu, 20, OPUS48, 40, 60, 30),
        (Codec::G722, 20, Codec::Pcmu, 40, 50, 25),
        (OPUS48, 60, Codec::Pcmu, 20, 20, 60),
        (OPUS48, 20, Codec::G722, 30, 30, 20),
        (Codec::Pcma, 30, Codec::G722, 10, 20, 60),
    ];
    for (a, pa, b, pb, n_in, n_out) in cases {
        let pcm = tone(a.audio_rate(), pa * n_in);
        let input = packetise(a, pa, &pcm, 1234);
        assert_eq!(input.len(), n_in as usize);
        let cfg = TranscoderConfig::new(
            Leg {
                codec: a,
                ptime_ms: pa,
            },
            Leg {
                codec: b,
                ptime_ms: pb,
            },
        );
        let (t, out) = transcode(&cfg, &input);
        let step = b.rtp_clock() * pb / 1000;
        eprintln!(
            "{} {pa} ms × {n_in} → {} {pb} ms: {} packets, step {step}",
            name(a),
            name(b),
            out.len()
        );
        assert_eq!(out.len(), n_out, "{} {pa} → {} {pb}", name(a), name(b));
        assert_eq!(t.stats().packets_out, n_out as u64);
        for w in out.windows(2) {
            assert_eq!(w[1].ts.wrapping_sub(w[0].ts), step);
        }
        let expected_len = match b {
            Codec::Pcmu | Codec::Pcma => (8 * pb) as usize,
            Codec::G722 => (8 * pb) as usize,
            Codec::Opus { .. } => 0,
        };
        if expected_len > 0 {
            assert!(out.iter().all(|p| p.payload.len() == expected_len));
        }
    }
}

#[test]
fn dtmf_event_crosses_with_rescaled_duration_and_timestamp() {
    // (input, output, input duration, expected output duration)
    let cases = [
        (Codec::Pcmu, OPUS48, 800u16, 4800u16),
        (OPUS48, Codec::Pcmu, 4800, 800),
        (Codec::G722, OPUS48, 1000, 6000),
        (Codec::Pcmu, Codec::G722, 800, 800),
        (Codec::Pcmu, OPUS48, 12_000, u16::MAX), // 72000 saturates
    ];
    for (a, b, dur_in, dur_out) in cases {
        let pcm = tone(a.audio_rate(), 200);
        let ts0 = 40_000;
        let input = packetise(a, 20, &pcm, ts0);
        let cfg = TranscoderConfig::new(
            Leg {
                codec: a,
                ptime_ms: 20,
            },
            Leg {
                codec: b,
                ptime_ms: 20,
            },
        );
        let (mut t, mut out) = transcode(&cfg, &input);
        let audio_packets = out.len();
        // Event starts 200 ms after the first audio packet; two blocks in
        // one payload (§ 2.5.1.5): '5' ending and '#' starting.
        let ev_ts = ts0 + a.rtp_clock() / 5;
        let mut payload = Vec::new();
        payload.extend_from_slice(
            &TelephoneEvent::dtmf(Digit::D5, true, 10, dur_in)
                .expect("valid")
                .to_bytes(),
        );
        payload.extend_from_slice(
            &TelephoneEvent::dtmf(Digit::Hash, false, 12, dur_in / 2)
                .expect("valid")
                .to_bytes(),
        );
        t.push_event(ev_ts, true, &payload, collect(&mut out))
            .expect("valid event");
        assert_eq!(out.len(), audio_packets + 1, "events bypass the audio path");
        let ev = &out[audio_packets];
        assert_eq!(ev.kind, PacketKind::Event);
        assert!(ev.marker);
        let out_ts0 = (u64::from(ts0) * u64::from(b.rtp_clock()) / u64::from(a.rtp_clock())) as u32;
        assert_eq!(
            ev.ts,
            out_ts0 + b.rtp_clock() / 5,
            "{} → {}",
            name(a),
            name(b)
        );
        let events: Vec<TelephoneEvent> = TelephoneEvent::parse_all(&ev.payload)
            .expect("valid")
            .collect();
        eprintln!(
            "{} → {}: event ts {} → {}, durations {dur_in} → {} / {}",
            name(a),
            name(b),
            ev_ts,
            ev.ts,
            events[0].duration,
            events[1].duration
        );
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].digit(), Some(Digit::D5));
        assert!(events[0].end);
        assert_eq!(events[0].volume(), 10);
        assert_eq!(events[0].duration, dur_out);
        assert_eq!(events[1].digit(), Some(Digit::Hash));
        assert!(!events[1].end);
        assert_eq!(events[1].volume(), 12);
        let half =
            (u64::from(dur_in / 2) * u64::from(b.rtp_clock())).div_ceil(u64::from(a.rtp_clock()));
        assert_eq!(u64::from(events[1].duration), half.min(65_535));
        assert_eq!(t.stats().events, 1);
    }
}

#[test]
fn gaps_are_concealed_and_long_gaps_jump_the_timeline() {
    let pcm = tone(8000, 4000);
    let mut input = packetise(Codec::Pcmu, 20, &pcm, 8000);
    // Packet 20 lost (at 400 ms): concealed, timeline continuous.
    input.remove(20);
    // Packets 100..150 missing (1 s from 2 s on): a timeline jump.
    input.drain(99..149);
    let cfg = TranscoderConfig::new(
        Leg {
            codec: Codec::Pcmu,
            ptime_ms: 20,
        },
        Leg {
            codec: OPUS48,
            ptime_ms: 20,
        },
    );
    let (t, out) = transcode(&cfg, &input);
    let s = t.stats();
    eprintln!("gaps: {s:?}");
    assert_eq!(s.concealed_samples, 160);
    assert_eq!(s.jumps, 1);
    // Until the jump, one output packet per 20 ms including the lost one.
    let jump_at = out
        .iter()
        .position(|p| p.marker && p.ts != out[0].ts)
        .expect("a marked packet after the jump");
    for w in out[..jump_at].windows(2) {
        assert_eq!(w[1].ts.wrapping_sub(w[0].ts), 960);
    }
    assert_eq!(jump_at, 100, "packets 0..100 out, the lost one concealed");
    // Packet 150 (the first after the gap) maps exactly onto the output
    // timeline: 150 × 960 ticks after the first output timestamp.
    assert_eq!(out[jump_at].ts, out[0].ts + 150 * 960);
    for w in out[jump_at..].windows(2) {
        assert_eq!(w[1].ts.wrapping_sub(w[0].ts), 960);
        assert!(!w[1].marker);
    }
    assert_eq!(out.len(), 150);
    // The concealed stretch still reads 1 kHz.
    let decoded = depacketise(OPUS48, &out[..jump_at]);
    let around = &decoded[48 * 360..48 * 460];
    let f = dominant_frequency(around, 48000, 900.0, 1100.0, 1.0);
    eprintln!("across the concealed packet: {f:.2} Hz");
    assert!((f - 1000.0).abs() < 3.0);
}

#[test]
fn g722_and_opus_inputs_conceal_a_lost_packet() {
    for a in [Codec::G722, Codec::Pcma, Codec::Opus { sample_rate: 8000 }] {
        let pcm = tone(a.audio_rate(), 1000);
        let mut input = packetise(a, 20, &pcm, 777);
        input.remove(20);
        let cfg = TranscoderConfig::new(
            Leg {
                codec: a,
                ptime_ms: 20,
            },
            Leg {
                codec: Codec::Pcmu,
                ptime_ms: 20,
            },
        );
        let (t, out) = transcode(&cfg, &input);
        let s = t.stats();
        assert_eq!(
            s.concealed_samples as u32,
            a.audio_rate() / 50,
            "{}",
            name(a)
        );
        assert_eq!((out.len(), s.jumps), (50, 0), "{}", name(a));
        for w in out.windows(2) {
            assert_eq!(w[1].ts.wrapping_sub(w[0].ts), 160);
        }
        let decoded = depacketise(Codec::Pcmu, &out);
        let f = dominant_frequency(&decoded[2800..4000], 8000, 900.0, 1100.0, 1.0);
        eprintln!(
            "{} with a lost packet → PCMU: {f:.2} Hz across the gap",
            name(a)
        );
        assert!((f - 1000.0).abs() < 3.0);
    }
}

#[test]
fn opus_fec_recovers_a_lost_input_packet() {
    let pcm = tone(16000, 1000);
    let mut enc = OpusEncoder::new(&OpusConfig {
        fec: true,
        packet_loss_percent: 20,
        ..OpusConfig::voip(16000)
    })
    .expect("valid");
    let mut input: Vec<(u32, Vec<u8>)> = pcm
        .chunks_exact(320)
        .enumerate()
        .map(|(i, f)| {
            let mut buf = vec![0u8; MAX_PACKET_BYTES];
            let n = enc.encode(f, &mut buf).expect("sized");
            buf.truncate(n);
            (i as u32 * 960, buf)
        })
        .collect();
    input.remove(25);
    let cfg = TranscoderConfig::new(
        Leg {
            codec: Codec::Opus { sample_rate: 16000 },
            ptime_ms: 20,
        },
        Leg {
            codec: Codec::Pcmu,
            ptime_ms: 20,
        },
    );
    let (t, out) = transcode(&cfg, &input);
    let s = t.stats();
    eprintln!("opus fec: {s:?}");
    assert_eq!(s.fec_recovered, 1);
    assert_eq!(s.concealed_samples, 320);
    assert_eq!(out.len(), 50);
    for w in out.windows(2) {
        assert_eq!(w[1].ts.wrapping_sub(w[0].ts), 160);
    }
}

#[test]
fn stale_and_bad_input() {
    let cfg = TranscoderConfig::new(
        Leg {
            codec: Codec::Pcmu,
            ptime_ms: 20,
        },
        Leg {
            codec: OPUS48,
            ptime_ms: 20,
        },
    );
    let mut t = Transcoder::new(&cfg).expect("valid");
    let mut out = Vec::new();
    t.push_audio(0, &[0xFF; 160], collect(&mut out))
        .expect("ok");
    // A duplicate is ignored.
    assert_eq!(t.push_audio(0, &[0xFF; 160], collect(&mut out)), Ok(0));
    assert_eq!(t.stats().stale, 1);
    assert_eq!(
        t.push_audio(160, &[0xFF; 100], collect(&mut out)),
        Err(CodecError::BadPayloadLength {
            len: 100,
            reason: "G.711/G.722 payloads must be a multiple of 10 ms"
        })
    );
    assert_eq!(
        t.push_audio(160, &[], collect(&mut out)),
        Err(CodecError::PayloadTooShort { needed: 1, got: 0 })
    );
    assert!(
        t.push_event(160, false, &[1, 2, 3], collect(&mut out))
            .is_err()
    );
    let mut back = Transcoder::new(&TranscoderConfig::new(cfg.output, cfg.input)).expect("valid");
    let err = back.push_audio(0, &[0x03, 0x00], collect(&mut out));
    assert!(
        matches!(
            err,
            Err(CodecError::Opus {
                kind: OpusErrorKind::InvalidPacket,
                ..
            })
        ),
        "{err:?}"
    );
    for bad in [
        TranscoderConfig::new(
            Leg {
                codec: Codec::Pcmu,
                ptime_ms: 25,
            },
            cfg.output,
        ),
        TranscoderConfig::new(
            cfg.input,
            Leg {
                codec: Codec::Opus { sample_rate: 44100 },
                ptime_ms: 20,
            },
        ),
        TranscoderConfig::new(
            cfg.input,
            Leg {
                codec: OPUS48,
                ptime_ms: 30, // Opus has no 30 ms frame
            },
        ),
    ] {
        assert!(Transcoder::new(&bad).is_err());
    }
}

#[test]
fn opus_dtx_output_suppresses_silence_and_keeps_the_timeline() {
    // 1 s of tone, 2 s of µ-law silence, 0.5 s of tone.
    let mut pcm = tone(8000, 1000);
    pcm.extend(std::iter::repeat_n(0i16, 16_000));
    pcm.extend(tone(8000, 500));
    let input = packetise(Codec::Pcmu, 20, &pcm, 0);
    let mut cfg = TranscoderConfig::new(
        Leg {
            codec: Codec::Pcmu,
            ptime_ms: 20,
        },
        Leg {
            codec: OPUS48,
            ptime_ms: 20,
        },
    );
    cfg.opus.dtx = true;
    let (t, out) = transcode(&cfg, &input);
    let s = t.stats();
    eprintln!("opus DTX output: {s:?}");
    // Every 20 ms either went out or was suppressed.
    assert_eq!(s.packets_out + s.dtx_suppressed, 175);
    // libopus 1.3.1: 84 of the 100 silent frames (DTX starts after ≈ 200 ms
    // and refreshes every 400 ms).
    assert!(
        s.dtx_suppressed >= 75,
        "silence suppressed ({})",
        s.dtx_suppressed
    );
    // Emitted packets stay on the 960-tick grid; after each suppressed
    // stretch the next packet is marked.
    for w in out.windows(2) {
        let step = w[1].ts.wrapping_sub(w[0].ts);
        assert_eq!(step % 960, 0);
        assert_eq!(
            w[1].marker,
            step > 960,
            "marker iff a stretch was suppressed"
        );
    }
    assert_eq!(out.last().map(|p| p.ts), Some(174 * 960));
}

#[test]
fn arbitrary_input_never_panics() {
    // Random payloads (lengths 0..400, random bytes) and timestamps into
    // every input codec: each call returns Ok or a typed error.
    use ferrovox_codecs::signal::Rng;
    let mut rng = Rng::new(5);
    let codecs = [Codec::Pcmu, Codec::Pcma, Codec::G722, OPUS48];
    for a in codecs {
        let cfg = TranscoderConfig::new(
            Leg {
                codec: a,
                ptime_ms: 20,
            },
            Leg {
                codec: Codec::Opus { sample_rate: 8000 },
                ptime_ms: 20,
            },
        );
        let mut t = Transcoder::new(&cfg).expect("valid");
        let (mut ok, mut err) = (0, 0);
        let mut ts = 0u32;
        for k in 0..3000u32 {
            let len = match k % 3 {
                0 => 160,
                _ => (rng.next_u64() % 400) as usize,
            };
            let payload: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            ts = if rng.uniform() < 0.8 {
                ts.wrapping_add(160 * a.rtp_clock() / 8000)
            } else {
                rng.next_u64() as u32
            };
            let r = if k % 50 == 0 {
                t.push_event(ts, k % 100 == 0, &payload, |_| {}).map(|()| 0)
            } else {
                t.push_audio(ts, &payload, |_| {})
            };
            if r.is_ok() { ok += 1 } else { err += 1 }
        }
        eprintln!("{}: {ok} accepted, {err} typed errors", name(a));
        assert!(ok > 0 && err > 0);
    }
}
