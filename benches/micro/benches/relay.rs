//! RTP relay hot path (ferrovox-media): per-packet relay decision
//! (port-indexed lookup, RTP validation, latch check, counters) plus the
//! in-place header rewrite (SSRC/seq/timestamp/PT) for a 172-byte PCMU
//! packet, with 1,000 two-leg calls set up and confirmed. `round_robin`
//! cycles through all 1,000 calls' ports (table entries mostly out of L1);
//! `one_call` keeps hitting one; `rtcp_rr` is a 32-byte RR (compound
//! validation + report-block capture).

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferrovox_media::{Action, Relay, RelayConfig, StreamOptions};

const SSRC: u32 = 0x1234_5678;

fn pcmu(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
    let mut v = vec![0x80, 0];
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&ts.to_be_bytes());
    v.extend_from_slice(&ssrc.to_be_bytes());
    v.resize(172, 0xd5);
    v
}

struct Setup {
    relay: Relay,
    /// (caller RTP port, caller source) per call.
    ports: Vec<(u16, SocketAddr)>,
    now: Instant,
}

fn setup() -> Setup {
    let now = Instant::now();
    let mut relay = Relay::new(RelayConfig {
        port_min: 30000,
        port_max: 39999,
        ..RelayConfig::default()
    })
    .unwrap();
    let mut ports = Vec::new();
    for i in 0..1000u32 {
        let caller: SocketAddr = format!("10.{}.{}.1:5004", i / 250, i % 250)
            .parse()
            .unwrap();
        let callee: SocketAddr = format!("10.100.{}.2:6000", i % 250).parse().unwrap();
        let call = relay.create_call(now);
        let (la, lb) = (relay.add_leg(call).unwrap(), relay.add_leg(call).unwrap());
        let opts = StreamOptions {
            telephone_event_pt: Some(101),
            ..StreamOptions::default()
        };
        let a = relay
            .add_stream(
                la,
                StreamOptions {
                    remote_rtp: Some(caller),
                    ..opts
                },
                now,
            )
            .unwrap();
        let b = relay
            .add_stream(
                lb,
                StreamOptions {
                    remote_rtp: Some(callee),
                    ..opts
                },
                now,
            )
            .unwrap();
        relay.connect(a, b).unwrap();
        let pa = relay.local_ports(a).unwrap().rtp;
        // Confirm the caller's source.
        for s in 0..5 {
            let mut p = pcmu(s, 160 * u32::from(s), SSRC);
            assert!(matches!(
                relay.handle_packet(pa, caller, &mut p, now),
                Action::Forward { .. }
            ));
        }
        ports.push((pa, caller));
    }
    Setup { relay, ports, now }
}

fn relay(c: &mut Criterion) {
    let mut s = setup();
    let mut group = c.benchmark_group("relay");
    group.throughput(Throughput::Elements(1));
    // Same SSRC as during setup: the steady state (no source switch), so
    // re-sending the buffer in place is representative.
    let mut buf = pcmu(100, 16000, SSRC);

    let mut i = 0usize;
    group.bench_function("forward_pcmu_172B_round_robin_1000_calls", |b| {
        b.iter(|| {
            let (port, src) = s.ports[i];
            i = if i == 999 { 0 } else { i + 1 };
            let a = s.relay.handle_packet(port, src, black_box(&mut buf), s.now);
            black_box(a)
        })
    });
    let (port, src) = s.ports[500];
    group.bench_function("forward_pcmu_172B_one_call", |b| {
        b.iter(|| black_box(s.relay.handle_packet(port, src, black_box(&mut buf), s.now)))
    });
    let mut rr = vec![0x81, 201, 0, 7, 0, 0, 0, 1, 0, 0, 0, 2, 5, 0, 0, 9];
    rr.extend_from_slice(&[0, 1, 0, 10, 0, 0, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0]);
    let rtcp_port = port + 1;
    let rtcp_src = SocketAddr::new(src.ip(), src.port() + 1);
    group.bench_function("rtcp_rr_32B", |b| {
        b.iter(|| {
            black_box(
                s.relay
                    .handle_packet(rtcp_port, rtcp_src, black_box(&mut rr), s.now),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, relay);
criterion_main!(benches);
