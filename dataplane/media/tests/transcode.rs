//! Transcoding in the relay core: PCMU ↔ Opus through `handle_packet` and
//! `poll_transmit`, checked by decoding the output independently with the
//! codecs crate and measuring the tone; events carried across; losses
//! concealed; malformed payloads dropped and counted, never a panic.

mod common;

use common::*;
use ferrovox_codecs::g711::{decode_ulaw, encode_ulaw};
use ferrovox_codecs::measure::zero_crossing_frequency;
use ferrovox_codecs::opus::{OpusConfig, OpusDecoder, OpusEncoder};
use ferrovox_codecs::signal::sine;
use ferrovox_codecs::transcode::Codec;
use ferrovox_media::rtp::RtpPacket;
use ferrovox_media::{Action, DropReason, Relay, StreamOptions, TranscodeSpec};
use std::time::{Duration, Instant};

const OPUS: Codec = Codec::Opus { sample_rate: 48000 };

/// Caller sends PCMU (pt 0, te 101), callee sends Opus (pt 111, te 110).
fn transcoding_call(r: &mut Relay, t0: Instant) -> TwoLegs {
    let legs = two_legs(
        r,
        t0,
        StreamOptions {
            telephone_event_pt: Some(101),
            ..StreamOptions::default()
        },
        StreamOptions {
            clock_rate: 48000,
            telephone_event_pt: Some(110),
            ..StreamOptions::default()
        },
    );
    let a_to_b = TranscodeSpec::new((0, Codec::Pcmu, 20), (111, OPUS, 20), Some(101), Some(110));
    let b_to_a = TranscodeSpec::new((111, OPUS, 20), (0, Codec::Pcmu, 20), Some(110), Some(101));
    r.set_transcode(legs.a, Some(a_to_b)).unwrap();
    r.set_transcode(legs.b, Some(b_to_a)).unwrap();
    legs
}

fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80, pt];
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&ts.to_be_bytes());
    v.extend_from_slice(&ssrc.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// `n` 20 ms frames of a 1 kHz tone at `rate`.
fn tone(rate: u32, n: usize) -> Vec<Vec<i16>> {
    let frame = (rate / 50) as usize;
    let mut phase = 0.0;
    (0..n)
        .map(|_| {
            let mut f = vec![0i16; frame];
            phase = sine(&mut f, rate, 1000.0, 8000.0, phase);
            f
        })
        .collect()
}

fn drain(r: &mut Relay) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while let Some(t) = r.poll_transmit(&mut buf) {
        out.push(buf[..t.len].to_vec());
    }
    out
}

#[test]
fn pcmu_tone_reaches_the_callee_as_opus_and_back() {
    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap();
    let legs = transcoding_call(&mut r, t0);
    let (pa, pb) = (
        r.local_ports(legs.a).unwrap(),
        r.local_ports(legs.b).unwrap(),
    );

    // A → B: PCMU in, Opus out.
    let mut sent = Vec::new();
    for (i, frame) in tone(8000, 50).iter().enumerate() {
        let mut ulaw = [0u8; 160];
        encode_ulaw(frame, &mut ulaw).unwrap();
        let mut p = packet(0, 100 + i as u16, 1000 + 160 * i as u32, 0xa, &ulaw);
        let now = t0 + Duration::from_millis(20 * i as u64);
        let action = r.handle_packet(pa.rtp, addr(CALLER), &mut p, now);
        assert_eq!(action, Action::Consumed { queued: 1 }, "packet {i}");
        sent.extend(drain(&mut r));
    }
    assert_eq!(sent.len(), 50);
    let mut dec = OpusDecoder::new(48000).unwrap();
    let mut pcm = Vec::new();
    let first = RtpPacket::parse(&sent[0]).unwrap();
    assert!(first.marker());
    for (i, p) in sent.iter().enumerate() {
        let p = RtpPacket::parse(p).unwrap();
        assert_eq!(p.payload_type(), 111);
        assert_eq!(p.ssrc(), first.ssrc());
        assert_eq!(p.sequence(), first.sequence().wrapping_add(i as u16));
        assert_eq!(
            p.timestamp(),
            first.timestamp().wrapping_add(960 * i as u32),
            "48 kHz clock"
        );
        let mut out = vec![0i16; 960];
        let n = dec.decode(p.payload(), &mut out).unwrap();
        pcm.extend_from_slice(&out[..n]);
    }
    let f = zero_crossing_frequency(&pcm[960 * 10..], 48000).unwrap();
    assert!((f - 1000.0).abs() < 10.0, "A→B tone at {f} Hz");

    // B → A: Opus in, PCMU out.
    let mut enc = OpusEncoder::new(&OpusConfig::voip(48000)).unwrap();
    let mut got = Vec::new();
    for (i, frame) in tone(48000, 50).iter().enumerate() {
        let mut opus = [0u8; 1500];
        let n = enc.encode(frame, &mut opus).unwrap();
        let mut p = packet(111, 7 + i as u16, 960 * i as u32, 0xb, &opus[..n]);
        let now = t0 + Duration::from_millis(20 * i as u64);
        let action = r.handle_packet(pb.rtp, addr(CALLEE), &mut p, now);
        assert_eq!(action, Action::Consumed { queued: 1 }, "packet {i}");
        got.extend(drain(&mut r));
    }
    assert_eq!(got.len(), 50);
    let mut pcm = Vec::new();
    for p in &got {
        let p = RtpPacket::parse(p).unwrap();
        assert_eq!((p.payload_type(), p.payload().len()), (0, 160));
        let mut out = [0i16; 160];
        decode_ulaw(p.payload(), &mut out).unwrap();
        pcm.extend_from_slice(&out);
    }
    let f = zero_crossing_frequency(&pcm[1600..], 8000).unwrap();
    assert!((f - 1000.0).abs() < 10.0, "B→A tone at {f} Hz");

    let stats = r.stats(legs.a).unwrap();
    assert_eq!(stats.forwarded_packets, 50);
    let ts = r.transcode_stats(legs.a).unwrap().unwrap();
    assert_eq!((ts.packets_in, ts.packets_out, ts.dropped), (50, 50, 0));
}

#[test]
fn telephone_events_cross_with_rescaled_durations() {
    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap();
    let legs = transcoding_call(&mut r, t0);
    let pa = r.local_ports(legs.a).unwrap();
    let ulaw = [0xffu8; 160];
    let mut p = packet(0, 1, 8000, 0xa, &ulaw);
    assert!(matches!(
        r.handle_packet(pa.rtp, addr(CALLER), &mut p, t0),
        Action::Consumed { .. }
    ));
    let audio = drain(&mut r);
    let audio_ts = RtpPacket::parse(&audio[0]).unwrap().timestamp();
    // Event '5', 800 ticks at 8 kHz, at timestamp 8160.
    let mut ev = packet(101, 2, 8160, 0xa, &[5, 0x80 | 10, 0x03, 0x20]);
    let action = r.handle_packet(pa.rtp, addr(CALLER), &mut ev, t0);
    assert_eq!(action, Action::Consumed { queued: 1 });
    let out = drain(&mut r);
    let p = RtpPacket::parse(&out[0]).unwrap();
    assert_eq!(p.payload_type(), 110);
    assert_eq!(p.timestamp(), audio_ts.wrapping_add(960), "mapped timeline");
    let payload = p.payload();
    assert_eq!(payload[0], 5);
    assert_eq!(payload[1] & 0x80, 0x80, "end bit kept");
    assert_eq!(u16::from_be_bytes([payload[2], payload[3]]), 4800, "×6");
    // The relay still reports the digit.
    assert!(std::iter::from_fn(|| r.poll_event()).any(|e| matches!(
        e,
        ferrovox_media::Event::Dtmf { dtmf, .. } if dtmf.event == 5
    )));
}

#[test]
fn a_lost_packet_is_concealed_and_the_cadence_holds() {
    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap();
    let legs = transcoding_call(&mut r, t0);
    let pa = r.local_ports(legs.a).unwrap();
    let mut out = Vec::new();
    for (i, frame) in tone(8000, 20).iter().enumerate() {
        if i == 7 || i == 12 || i == 13 {
            continue; // lost
        }
        let mut ulaw = [0u8; 160];
        encode_ulaw(frame, &mut ulaw).unwrap();
        let mut p = packet(0, i as u16, 160 * i as u32, 0xa, &ulaw);
        r.handle_packet(pa.rtp, addr(CALLER), &mut p, t0);
        out.extend(drain(&mut r));
    }
    assert_eq!(out.len(), 20, "one packet per 20 ms, gaps included");
    let ts: Vec<u32> = out
        .iter()
        .map(|p| RtpPacket::parse(p).unwrap().timestamp())
        .collect();
    assert!(ts.windows(2).all(|w| w[1].wrapping_sub(w[0]) == 960));
    let stats = r.transcode_stats(legs.a).unwrap().unwrap();
    assert_eq!(stats.concealed_samples, 3 * 160);
}

#[test]
fn a_new_source_keeps_the_output_continuous() {
    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap();
    let legs = transcoding_call(&mut r, t0);
    let pa = r.local_ports(legs.a).unwrap();
    let ulaw = [0x55u8; 160];
    let mut out = Vec::new();
    for i in 0..10u32 {
        let (ssrc, ts) = if i < 5 {
            (0xa, 160 * i)
        } else {
            (0xbeef, 90_000_000 + 160 * i)
        };
        let mut p = packet(0, i as u16 * 3, ts, ssrc, &ulaw);
        let now = t0 + Duration::from_millis(20 * u64::from(i));
        r.handle_packet(pa.rtp, addr(CALLER), &mut p, now);
        out.extend(drain(&mut r));
    }
    assert_eq!(out.len(), 10);
    let p: Vec<_> = out.iter().map(|p| RtpPacket::parse(p).unwrap()).collect();
    assert!(p.iter().all(|x| x.ssrc() == p[0].ssrc()));
    for w in p.windows(2) {
        assert_eq!(w[1].sequence(), w[0].sequence().wrapping_add(1));
        assert_eq!(w[1].timestamp().wrapping_sub(w[0].timestamp()), 960);
    }
    assert!(p[5].marker(), "the new source starts a talkspurt");
    assert_eq!(
        r.transcode_stats(legs.a).unwrap().unwrap().resets,
        1,
        "one rebuild"
    );
}

#[test]
fn malformed_payloads_are_dropped_and_counted_never_a_panic() {
    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap();
    let legs = transcoding_call(&mut r, t0);
    let (pa, pb) = (
        r.local_ports(legs.a).unwrap(),
        r.local_ports(legs.b).unwrap(),
    );
    let bad_pcmu: [&[u8]; 4] = [&[], &[0x7f; 7], &[0; 161], &[1; 1400]];
    for (i, payload) in bad_pcmu.iter().enumerate() {
        let mut p = packet(0, i as u16, 160 * i as u32, 0xa, payload);
        assert_eq!(
            r.handle_packet(pa.rtp, addr(CALLER), &mut p, t0),
            Action::Drop(DropReason::Transcode),
            "PCMU payload of {} bytes",
            payload.len()
        );
    }
    // An unnegotiated payload type (comfort noise) on a transcoded stream.
    let mut cn = packet(13, 9, 0, 0xa, &[40]);
    assert_eq!(
        r.handle_packet(pa.rtp, addr(CALLER), &mut cn, t0),
        Action::Drop(DropReason::Transcode)
    );
    // A truncated event.
    let mut ev = packet(101, 10, 0, 0xa, &[5, 0x80]);
    assert_eq!(
        r.handle_packet(pa.rtp, addr(CALLER), &mut ev, t0),
        Action::Drop(DropReason::Transcode)
    );
    let dropped = r.stats(legs.a).unwrap().dropped.get(DropReason::Transcode);
    assert_eq!(dropped, 6);

    // Garbage Opus: deterministic pseudo-random payloads of every length.
    let mut x = 0x1234_5678u32;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let mut seen = (0, 0);
    for i in 0..2000u32 {
        let len = (next() % 300) as usize;
        let payload: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let mut p = packet(111, i as u16, 960 * i, 0xb, &payload);
        let now = t0 + Duration::from_millis(20 * u64::from(i));
        match r.handle_packet(pb.rtp, addr(CALLEE), &mut p, now) {
            Action::Consumed { .. } => seen.0 += 1,
            Action::Drop(DropReason::Transcode) => seen.1 += 1,
            other => panic!("{other:?}"),
        }
        for p in drain(&mut r) {
            let p = RtpPacket::parse(&p).unwrap();
            assert_eq!(p.payload_type(), 0);
            assert_eq!(p.payload().len() % 80, 0, "whole 10 ms PCMU frames");
        }
    }
    assert!(seen.1 > 0, "garbage was rejected: {seen:?}");
    // Every rejected payload is counted once, on the stream and in the
    // transcoder; some were rejected after the gap before them had been
    // concealed and sent (consumed, yet counted as drops).
    let stats = r.transcode_stats(legs.b).unwrap().unwrap();
    let on_stream = r.stats(legs.b).unwrap().dropped.get(DropReason::Transcode);
    assert_eq!(on_stream, stats.dropped);
    assert!(stats.dropped >= seen.1 && stats.dropped <= 2000);
    // The stream still transcodes good audio afterwards.
    let mut enc = OpusEncoder::new(&OpusConfig::voip(48000)).unwrap();
    let mut opus = [0u8; 1500];
    let n = enc.encode(&tone(48000, 1)[0], &mut opus).unwrap();
    let mut p = packet(111, 3000, 960 * 2000, 0xb, &opus[..n]);
    let now = t0 + Duration::from_secs(40);
    assert!(matches!(
        r.handle_packet(pb.rtp, addr(CALLEE), &mut p, now),
        Action::Consumed { queued: 1.. }
    ));
    drain(&mut r);
}

#[test]
fn rtcp_of_a_transcoded_stream_is_terminated_and_relaying_resumes_without_a_spec() {
    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap();
    let legs = transcoding_call(&mut r, t0);
    let pa = r.local_ports(legs.a).unwrap();
    let mut report = rr(0xa, 0x99, 0, 0, 10, 0);
    assert_eq!(
        r.handle_packet(pa.rtcp, addr("192.0.2.10:5005"), &mut report, t0),
        Action::Consumed { queued: 0 }
    );
    r.set_transcode(legs.a, None).unwrap();
    r.set_transcode(legs.b, None).unwrap();
    let mut p = rtp(0, 1, 160, 0xa);
    assert!(matches!(
        r.handle_packet(pa.rtp, addr(CALLER), &mut p, t0),
        Action::Forward { len: 172, .. }
    ));
}
