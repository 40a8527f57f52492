//! SRTP (ferrovox-media's `srtp` module on rtc-srtp), AES_CM_128_HMAC_SHA1_80 on a
//! 172-byte PCMU packet (12-byte header + 160 bytes of payload): `protect_rtp`
//! (encrypt + tag), `unprotect_rtp` (tag check + replay window + decrypt; each packet is
//! fresh, protected outside the timed part), and the relay path RTP -> SRTP
//! (`Relay::handle_datagram`: relay decision, header rewrite, then protect). rtc-srtp
//! returns each result in a new buffer: these numbers include one allocation and one
//! copy per protect/unprotect.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Instant;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ferrovox_media::srtp::{SrtpInbound, SrtpOutbound};
use ferrovox_media::{
    Action, Relay, RelayConfig, SRTP_MAX_OVERHEAD, SrtpKey, SrtpKeys, SrtpSuite, StreamOptions,
};

const SUITE: SrtpSuite = SrtpSuite::AesCm128HmacSha1_80;

fn pcmu(seq: u16) -> Vec<u8> {
    let mut v = vec![0x80, 0];
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    v.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    v.resize(172, 0xd5);
    v.resize(172 + SRTP_MAX_OVERHEAD, 0);
    v
}

fn bench_srtp(c: &mut Criterion) {
    let key = SrtpKey::random(SUITE);
    let mut group = c.benchmark_group("srtp");
    group.throughput(Throughput::Elements(1));

    let mut outbound = SrtpOutbound::new(&key).unwrap();
    let mut seq = 0u16;
    group.bench_function("protect_rtp_160", |b| {
        b.iter_batched_ref(
            || {
                seq = seq.wrapping_add(1);
                pcmu(seq)
            },
            |buf| black_box(outbound.protect_rtp(buf, 172)),
            BatchSize::SmallInput,
        )
    });

    let mut sender = SrtpOutbound::new(&key).unwrap();
    let mut inbound = SrtpInbound::new(&key).unwrap();
    let mut seq = 0u16;
    group.bench_function("unprotect_rtp_160", |b| {
        b.iter_batched_ref(
            || {
                seq = seq.wrapping_add(1);
                let mut buf = pcmu(seq);
                let n = sender.protect_rtp(&mut buf, 172).unwrap();
                buf.truncate(n);
                buf
            },
            |buf| {
                let r = inbound.unprotect_rtp(buf);
                assert!(r.is_ok());
                black_box(r)
            },
            BatchSize::SmallInput,
        )
    });

    // Relay: a plain caller, an SRTP callee.
    let now = Instant::now();
    let mut relay = Relay::new(RelayConfig {
        port_min: 30000,
        port_max: 30099,
        confirm_packets: 1,
        ..RelayConfig::default()
    })
    .unwrap();
    let caller: SocketAddr = "192.0.2.10:5004".parse().unwrap();
    let call = relay.create_call(now);
    let (la, lb) = (relay.add_leg(call).unwrap(), relay.add_leg(call).unwrap());
    let a = relay
        .add_stream(
            la,
            StreamOptions {
                remote_rtp: Some(caller),
                ..StreamOptions::default()
            },
            now,
        )
        .unwrap();
    let b = relay.add_stream(lb, StreamOptions::default(), now).unwrap();
    relay.connect(a, b).unwrap();
    relay
        .set_remote(b, Some("198.51.100.20:6000".parse().unwrap()), None)
        .unwrap();
    relay
        .set_srtp(
            b,
            Some(&SrtpKeys {
                inbound: Some(SrtpKey::random(SUITE)),
                outbound: Some(key.clone()),
            }),
        )
        .unwrap();
    let port = relay.local_ports(a).unwrap().rtp;
    let mut seq = 0u16;
    group.bench_function("relay_rtp_to_srtp_160", |b| {
        b.iter_batched_ref(
            || {
                seq = seq.wrapping_add(1);
                pcmu(seq)
            },
            |buf| {
                let action = relay.handle_datagram(port, caller, buf, 172, now);
                assert!(matches!(action, Action::Forward { len: 182, .. }));
                black_box(action)
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_srtp);
criterion_main!(benches);
