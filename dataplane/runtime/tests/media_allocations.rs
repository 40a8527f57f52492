//! The media packet path allocates nothing per forwarded packet once
//! warm: a counting global allocator watches steady relaying through 50
//! port pairs on each backend. (Alone in its test binary so no other
//! test's allocations are counted.)

mod media_support;

use ferrovox_runtime::Backend;
use ferrovox_runtime::media::{MediaRuntimeConfig, start_media};
use ferrovox_testkit::counting_alloc::{CountingAllocator, allocations_during};
use media_support::*;
use std::net::UdpSocket;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const PAIRS: usize = 50;

/// Send `rounds` packets on every pair (A side) and wait for all of them
/// at B, 16 pairs at a time; no allocation in here.
fn relay(a: &UdpSocket, b: &UdpSocket, ports: &[u16], rounds: u32) -> u64 {
    let mut pkt = [0u8; 172];
    let mut rx = [0u8; 2048];
    let mut relayed = 0;
    for round in 0..rounds {
        for chunk in ports.chunks(2 * 16) {
            for pair in chunk.chunks(2) {
                packet(round, 0xa0, &mut pkt);
                a.send_to(&pkt, relay_addr(pair[0])).expect("send");
            }
            for _ in 0..chunk.len() / 2 {
                let (n, _) = b.recv_from(&mut rx).expect("relayed packet");
                assert_eq!(n, 176);
                relayed += 1;
            }
        }
    }
    relayed
}

#[test]
fn media_forwarding_allocates_nothing_per_packet() {
    for backend in [Backend::IoUring, Backend::Portable] {
        let config = MediaRuntimeConfig {
            backend,
            threads: 1,
            interface: "127.0.0.1".parse().expect("ip"),
            ..MediaRuntimeConfig::default()
        };
        let rt = start_media(config, PairRelay::new).expect("start");
        let ports = free_ports(2 * PAIRS);
        let (a, b) = (endpoint(), endpoint());
        let (aa, ba) = (a.local_addr().expect("a"), b.local_addr().expect("b"));
        for pair in ports.chunks(2) {
            let (p1, p2) = (pair[0], pair[1]);
            rt.call(0, move |s| s.add_pair(p1, aa, p2, ba))
                .expect("open");
        }
        relay(&a, &b, &ports, 40);
        let (relayed, allocations) = allocations_during(|| relay(&a, &b, &ports, 200));
        assert_eq!(relayed, 200 * PAIRS as u64);
        assert!(
            allocations == 0,
            "{backend}: {allocations} allocations for {relayed} forwarded packets"
        );
        rt.shutdown().expect("shutdown");
    }
}
