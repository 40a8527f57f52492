//! Deterministic mutation testing: 100k random mutations of valid RTP,
//! RTCP and telephone-event packets, fed to the relay on random ports of
//! the range (mux and non-mux streams, confirmed and learning latches) from
//! random sources, and to the parsers directly, interleaved with random
//! signalling operations (re-anchor, block, mux changes, PT maps, delete,
//! create, reconnect), never panic; a forwarded packet always has the
//! length it came in with and still parses.

mod common;

use common::*;
use ferrovox_media::rtcp::{Compound, rewrite_sender_ssrc, validate};
use ferrovox_media::rtp::RtpPacket;
use ferrovox_media::{Action, Relay, RelayConfig, StreamOptions, demux, dtmf};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// xorshift64*: tiny, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(6) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = rng.next() as u8;
            }
            2 => v.truncate(rng.below(len + 1)),
            3 => {
                let i = rng.below(len + 1);
                v.insert(i, rng.next() as u8);
            }
            4 if len > 1 => {
                // Header bytes are where the structure is.
                let i = rng.below(len.min(16));
                v[i] = [0x80, 0xbf, 0xa0, 0x9f, 0x8f, 0xff, 0, 200, 201, 202, 203][rng.below(11)];
            }
            _ => {
                let extra = rng.below(8);
                v.extend((0..extra).map(|_| rng.next() as u8));
            }
        }
    }
    v
}

fn corpus() -> Vec<Vec<u8>> {
    let mut sdes = vec![0x81, 202, 0, 3, 0, 0, 0, 1, 1, 3, b'a', b'b', b'c', 0, 0, 0];
    let mut compound = rr(1, 2, 10, -3, 1000, 20);
    compound.append(&mut sdes);
    compound.extend_from_slice(&[0x81, 203, 0, 2, 0, 0, 0, 1, 3, b'b', b'y', b'e']);
    let mut ext = rtp(96, 1, 2, 3);
    ext[0] = 0xb1; // padding + extension + 1 CSRC
    ext.splice(12..12, [0, 0, 0, 9, 0xbe, 0xde, 0, 1, 1, 2, 3, 4]);
    let last = ext.len() - 1;
    ext[last] = 4;
    vec![
        rtp(0, 65535, 0xffff_ff00, 7),
        rtp(101, 1, 1, 7),
        dtmf(101, 2, 8000, 7, 3, true, 400),
        rr(7, 8, 1, 2, 3, 4),
        compound,
        ext,
        vec![0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42],
    ]
}

#[test]
fn mutated_packets_never_panic() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let t0 = Instant::now();
    let mut r = Relay::new(RelayConfig {
        port_min: 40000,
        port_max: 40063,
        confirm_packets: 2,
        silence_timeout: Some(Duration::from_millis(300)),
        media_timeout: Some(Duration::from_secs(2)),
        final_timeout: Some(Duration::from_secs(30)),
        ..config()
    })
    .unwrap();
    let te = StreamOptions {
        telephone_event_pt: Some(101),
        ..StreamOptions::default()
    };
    let mux = StreamOptions {
        rtcp_mux: true,
        ..te
    };
    let mut calls = Vec::new();
    for i in 0..8 {
        let c = two_legs(&mut r, t0, if i % 2 == 0 { te } else { mux }, mux);
        r.set_pt_map(c.b, &[(0, 8), (101, 96)]).unwrap();
        calls.push(c);
    }
    let corpus = corpus();
    let sources: Vec<SocketAddr> = [
        CALLER,
        CALLEE,
        "192.0.2.10:5005",
        "198.51.100.20:6001",
        "203.0.113.1:1",
    ]
    .iter()
    .map(|s| addr(s))
    .collect();
    let mut now = t0;
    let mut forwarded = 0;
    for i in 0..100_000u32 {
        let base = &corpus[rng.below(corpus.len())];
        let mut pkt = mutate(&mut rng, base);
        // Parsers directly.
        let _ = demux::classify(&pkt);
        if let Ok(p) = RtpPacket::parse(&pkt) {
            let _ = (p.payload(), p.extension(), p.csrc(0), p.marker());
            let _ = dtmf::EventPayload::parse(p.payload());
        }
        let _ = validate(&pkt);
        for p in Compound::new(&pkt).flatten() {
            let _ = p.report_blocks().count();
            let _ = p.sender_info();
            for (_, items) in p.sdes_chunks() {
                let _ = items.count();
            }
            if let Some((ssrcs, reason)) = p.bye() {
                let _ = (ssrcs.count(), reason);
            }
        }
        let mut copy = pkt.clone();
        rewrite_sender_ssrc(&mut copy, 1, 2);
        // The relay, on any port of (and around) the range.
        let port = 39998 + rng.below(70) as u16;
        let src = sources[rng.below(sources.len())];
        let len = pkt.len();
        if let Action::Forward { len: out, .. } = r.handle_packet(port, src, &mut pkt, now) {
            assert_eq!(out, len);
            assert!(RtpPacket::parse(&pkt).is_ok() || validate(&pkt).is_ok());
            forwarded += 1;
        }
        if i % 1000 == 0 {
            now += Duration::from_millis(250);
            r.handle_timeout(now);
            while r.poll_event().is_some() {}
        }
        if i % 97 == 0 {
            signalling_step(&mut r, &mut rng, &mut calls, &sources, now);
        }
    }
    assert!(forwarded > 1000, "forwarded {forwarded}");
}

/// One random signalling operation; errors are fine, panics are not.
fn signalling_step(
    r: &mut Relay,
    rng: &mut Rng,
    calls: &mut Vec<TwoLegs>,
    sources: &[SocketAddr],
    now: Instant,
) {
    let pick = |rng: &mut Rng, calls: &[TwoLegs]| {
        let c = &calls[rng.below(calls.len())];
        if rng.below(2) == 0 { c.a } else { c.b }
    };
    if calls.is_empty() {
        calls.push(two_legs(
            r,
            now,
            StreamOptions::default(),
            StreamOptions::default(),
        ));
        return;
    }
    let src = Some(sources[rng.below(sources.len())]);
    let _ = match rng.below(9) {
        0 => r.set_remote(pick(rng, calls), src, None),
        1 => r.reanchor(pick(rng, calls)),
        2 => r.set_blocked(pick(rng, calls), rng.below(2) == 0),
        3 => r.set_rtcp_mux(pick(rng, calls), rng.below(2) == 0),
        4 => r.set_telephone_event(pick(rng, calls), Some(rng.next() as u8)),
        5 => r.set_pt_map(pick(rng, calls), &[(rng.next() as u8, rng.next() as u8)]),
        6 => {
            let c = calls.swap_remove(rng.below(calls.len()));
            r.delete_call(c.call)
        }
        7 => {
            let (x, y) = (pick(rng, calls), pick(rng, calls));
            r.connect(x, y)
        }
        _ => {
            // May fail on port exhaustion: the range is small.
            let call = r.create_call(now);
            let legs = (r.add_leg(call).unwrap(), r.add_leg(call).unwrap());
            let opts = StreamOptions {
                remote_rtp: src,
                rtcp_mux: rng.below(2) == 0,
                strict_source: rng.below(4) == 0,
                telephone_event_pt: Some(101),
                ..StreamOptions::default()
            };
            match (
                r.add_stream(legs.0, opts, now),
                r.add_stream(legs.1, opts, now),
            ) {
                (Ok(a), Ok(b)) => {
                    r.connect(a, b).unwrap();
                    calls.push(TwoLegs { call, a, b });
                    Ok(())
                }
                _ => r.delete_call(call),
            }
        }
    };
    if !calls.is_empty() {
        let s = pick(rng, calls);
        let _ = r.stats(s);
    }
}
