//! The media runtime relays RTP-like datagrams between port pairs opened
//! through `call`, on both backends: nothing lost, payload intact,
//! rewritten in place with trailer room; ports opened and closed while
//! traffic flows; ports stay on their core; bind failures reach the
//! service; commands, generated datagrams and timers; prompt shutdown.

mod media_support;

use ferrovox_runtime::Backend;
use ferrovox_runtime::media::{MediaRuntime, MediaRuntimeConfig, start_media};
use media_support::*;
use std::io;
use std::net::UdpSocket;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

fn start(backend: Backend, threads: usize) -> MediaRuntime<PairRelay> {
    let config = MediaRuntimeConfig {
        backend,
        threads,
        interface: "127.0.0.1".parse().expect("ip"),
        ..MediaRuntimeConfig::default()
    };
    start_media(config, PairRelay::new).expect("start media runtime")
}

/// Endpoints A and B relayed through (p1, p2) on `core`.
struct Flow {
    a: UdpSocket,
    b: UdpSocket,
    p1: u16,
    p2: u16,
    core: usize,
    sent: u32,
    got_a: u32,
    got_b: u32,
}

impl Flow {
    fn open(rt: &MediaRuntime<PairRelay>, core: usize) -> Flow {
        let ports = free_ports(2);
        let (a, b) = (endpoint(), endpoint());
        let (aa, ba) = (a.local_addr().expect("a"), b.local_addr().expect("b"));
        let (p1, p2) = (ports[0], ports[1]);
        rt.call(core, move |s| s.add_pair(p1, aa, p2, ba))
            .expect("open pair");
        Flow {
            a,
            b,
            p1,
            p2,
            core,
            sent: 0,
            got_a: 0,
            got_b: 0,
        }
    }

    /// Send `count` packets each way, at most `window` unanswered, and
    /// check every one arrives, in order, intact, from the right port.
    fn pump(&mut self, count: u32, window: u32) {
        let mut pkt = [0u8; 172];
        let mut rx = [0u8; 2048];
        let end = self.sent + count;
        while self.sent < end {
            let burst = window.min(end - self.sent);
            for _ in 0..burst {
                packet(self.sent, 0xa0, &mut pkt);
                self.a.send_to(&pkt, relay_addr(self.p1)).expect("send a");
                packet(self.sent, 0xb0, &mut pkt);
                self.b.send_to(&pkt, relay_addr(self.p2)).expect("send b");
                self.sent += 1;
            }
            while self.got_b < self.sent {
                let (n, from) = self.b.recv_from(&mut rx).unwrap_or_else(|e| {
                    panic!("B lost packets: {} of {} ({e})", self.got_b, self.sent)
                });
                assert_eq!(from, relay_addr(self.p2), "B hears from P2");
                let (seq, tag) = check_relayed(&rx[..n], self.core);
                assert_eq!((seq, tag), (self.got_b, 0xa0), "A->B in order");
                self.got_b += 1;
            }
            while self.got_a < self.sent {
                let (n, from) = self.a.recv_from(&mut rx).unwrap_or_else(|e| {
                    panic!("A lost packets: {} of {} ({e})", self.got_a, self.sent)
                });
                assert_eq!(from, relay_addr(self.p1), "A hears from P1");
                let (seq, tag) = check_relayed(&rx[..n], self.core);
                assert_eq!((seq, tag), (self.got_a, 0xb0), "B->A in order");
                self.got_a += 1;
            }
        }
    }

    fn close(&self, rt: &MediaRuntime<PairRelay>) {
        let (p1, p2) = (self.p1, self.p2);
        rt.call(self.core, move |s| s.remove_pair(p1, p2))
            .expect("close pair");
    }

    /// Nothing comes back through the pair (it is closed).
    fn assert_silent(&self) {
        let mut pkt = [0u8; 172];
        packet(0, 0xa0, &mut pkt);
        let _ = self.a.send_to(&pkt, relay_addr(self.p1));
        self.b
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let mut rx = [0u8; 2048];
        assert!(
            self.b.recv_from(&mut rx).is_err(),
            "a closed pair must not relay"
        );
        self.b
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
    }
}

/// Counters are published once per core loop iteration, so a read right after traffic or a
/// command may lag: poll until `settled` holds (or 5 s pass, and the caller's asserts fail).
fn stats_when(
    rt: &MediaRuntime<PairRelay>,
    settled: impl Fn(&ferrovox_runtime::media::MediaRuntimeStats) -> bool,
) -> ferrovox_runtime::media::MediaRuntimeStats {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut stats = rt.stats();
    while !settled(&stats) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        stats = rt.stats();
    }
    stats
}

fn relays_10k_each_way(backend: Backend) {
    let rt = start(backend, 1);
    let mut flow = Flow::open(&rt, 0);
    flow.pump(10_000, 32);
    let (min_room, received) = rt.call(0, |s| (s.min_room, s.received)).expect("call");
    assert!(min_room >= 64, "trailer room {min_room} < 64");
    assert_eq!(received, 20_000);
    let stats = stats_when(&rt, |s| s.rx_packets >= 20_000 && s.forwarded >= 20_000);
    assert_eq!(stats.rx_packets, 20_000);
    assert_eq!(stats.forwarded, 20_000, "{stats:?}");
    assert_eq!(
        stats.send_dropped + stats.errors + stats.truncated,
        0,
        "{stats:?}"
    );
    assert_eq!(stats.ports_open, 2);
    rt.shutdown().expect("shutdown");
}

fn opens_and_closes_ports_while_traffic_flows(backend: Backend) {
    let rt = start(backend, 1);
    let mut steady = Flow::open(&rt, 0);
    for round in 0..10 {
        steady.pump(500, 32);
        let mut extra = Flow::open(&rt, 0);
        extra.pump(20, 8);
        steady.pump(100, 32);
        extra.close(&rt);
        extra.assert_silent();
        steady.pump(100, 32);
        if round % 2 == 0 {
            // Close and open again in one command: on io_uring the old
            // socket is still being cancelled when the new open arrives.
            let (p1, p2) = (extra.p1, extra.p2);
            let (aa, ba) = (
                extra.a.local_addr().expect("a"),
                extra.b.local_addr().expect("b"),
            );
            rt.call(0, move |s| s.add_pair(p1, aa, p2, ba))
                .expect("reopen");
            rt.call(0, move |s| {
                s.remove_pair(p1, p2);
                s.add_pair(p1, aa, p2, ba);
            })
            .expect("close+open");
            extra.sent = 0;
            extra.got_a = 0;
            extra.got_b = 0;
            let errors = rt.call(0, |s| s.port_errors.clone()).expect("call");
            assert!(errors.is_empty(), "{errors:?} {:?}", rt.stats());
            extra.pump(20, 8);
            extra.close(&rt);
        }
    }
    steady.pump(500, 32);
    let stats = stats_when(&rt, |s| s.ports_open == 2);
    assert_eq!(stats.ports_open, 2, "{stats:?}");
    assert_eq!(stats.port_errors, 0, "{stats:?}");
    rt.shutdown().expect("shutdown");
}

fn pairs_stay_on_their_core(backend: Backend) {
    let rt = start(backend, 2);
    let mut flows: Vec<Flow> = (0..6).map(|i| Flow::open(&rt, i % 2)).collect();
    for _ in 0..5 {
        for f in flows.iter_mut() {
            f.pump(200, 16);
        }
    }
    for core in 0..2 {
        let received = rt.call(core, |s| s.received).expect("call");
        assert_eq!(received, 3 * 5 * 200 * 2, "core {core}");
    }
    let stats = stats_when(&rt, |s| s.per_core_rx_packets == [6000, 6000]);
    assert_eq!(stats.per_core_rx_packets, vec![6000, 6000], "{stats:?}");
    rt.shutdown().expect("shutdown");
}

fn port_in_use_is_reported_to_the_service(backend: Backend) {
    let rt = start(backend, 2);
    let taken = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let q = taken.local_addr().expect("addr").port();
    let other = free_ports(1)[0];
    let a = endpoint().local_addr().expect("a");
    rt.call(0, move |s| s.add_pair(q, a, other, a))
        .expect("call");
    let errors = rt.call(0, |s| s.port_errors.clone()).expect("call");
    assert_eq!(errors, vec![(q, io::ErrorKind::AddrInUse)]);
    // The same port on another core: in use too (by core 0 this time).
    rt.call(1, move |s| s.add_pair(other, a, other, a))
        .expect("call");
    let errors = rt.call(1, |s| s.port_errors.clone()).expect("call");
    assert_eq!(errors.first(), Some(&(other, io::ErrorKind::AddrInUse)));
    let stats = stats_when(&rt, |s| s.port_errors >= 2);
    assert!(stats.port_errors >= 2, "{stats:?}");
    rt.shutdown().expect("shutdown");
}

struct ThreadWaker(std::thread::Thread);
impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        assert!(Instant::now() < deadline, "future never completed");
        std::thread::park_timeout(Duration::from_millis(100));
    }
}

fn commands_transmits_and_timers(backend: Backend) {
    let rt = start(backend, 2);
    assert!(rt.call(5, |_| ()).is_err(), "no such core");
    // A panicking command is an error for its caller; the core lives on.
    let r = rt.call(1, |_: &mut PairRelay| -> u32 { panic!("boom") });
    assert!(r.is_err());
    assert_eq!(rt.call(1, |s| s.core).expect("core alive"), 1);
    // call_async: awaited and waited on.
    let pending = rt.call_async(0, |s| s.core + 40).expect("post");
    assert_eq!(block_on(pending).expect("async"), 40);
    let pending = rt.call_async(1, |s| s.core + 40).expect("post");
    assert_eq!(pending.wait().expect("wait"), 41);
    rt.post(0, |s| s.received += 1000).expect("post");
    assert_eq!(rt.call(0, |s| s.received).expect("call"), 1000);

    // poll_transmit and a timer send from an open port.
    let flow = Flow::open(&rt, 1);
    let dest = flow.b.local_addr().expect("b");
    let p2 = flow.p2;
    rt.call(1, move |s| s.inject(p2, dest, b"generated".to_vec()))
        .expect("inject");
    let mut rx = [0u8; 64];
    let (n, from) = flow.b.recv_from(&mut rx).expect("generated datagram");
    assert_eq!((&rx[..n], from), (&b"generated"[..], relay_addr(p2)));
    let at = Instant::now() + Duration::from_millis(30);
    rt.call(1, move |s| s.inject_at(at, p2, dest, b"timed".to_vec()))
        .expect("inject_at");
    let (n, _) = flow.b.recv_from(&mut rx).expect("timed datagram");
    assert_eq!(&rx[..n], b"timed");
    assert!(Instant::now() >= at);
    let stats = stats_when(&rt, |s| s.transmitted >= 1 && s.timeouts >= 1);
    assert!(stats.transmitted >= 1 && stats.timeouts >= 1, "{stats:?}");
    rt.shutdown().expect("shutdown");
}

fn shutdown_is_prompt_and_frees_ports(backend: Backend) {
    let rt = start(backend, 2);
    let ports = free_ports(1000);
    let a = endpoint();
    let aa = a.local_addr().expect("a");
    for (i, chunk) in ports.chunks(2).enumerate() {
        let (p1, p2) = (chunk[0], chunk[1]);
        rt.call(i % 2, move |s| s.add_pair(p1, aa, p2, aa))
            .expect("open");
    }
    let mut pkt = [0u8; 172];
    for (i, &p) in ports.iter().enumerate() {
        packet(i as u32, 1, &mut pkt);
        a.send_to(&pkt, relay_addr(p)).expect("send");
    }
    let _ = rt.call(0, |_| ());
    let _ = rt.call(1, |_| ());
    assert_eq!(rt.stats().ports_open, 1000);
    let started = Instant::now();
    rt.shutdown().expect("shutdown");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    for &p in ports.iter().take(50) {
        UdpSocket::bind(("127.0.0.1", p)).expect("port free after shutdown");
    }
}

on_both_backends!(
    relays_10k_each_way,
    opens_and_closes_ports_while_traffic_flows,
    pairs_stay_on_their_core,
    port_in_use_is_reported_to_the_service,
    commands_transmits_and_timers,
    shutdown_is_prompt_and_frees_ports,
);
