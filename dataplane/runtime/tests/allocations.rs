//! The UDP path allocates nothing per message once warm: a counting
//! global allocator watches a steady echo on each backend. (Alone in its
//! test binary so no other test's allocations are counted.)

use ferrovox_runtime::{Backend, CoreContext, RuntimeConfig, Service, start};
use ferrovox_sip::transaction::{Peer, Transport};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const RESPONSE: &[u8] = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n";

/// Answers every message without allocating.
struct Echo {
    pending: VecDeque<Peer>,
}

impl Service for Echo {
    fn on_message(&mut self, _bytes: &[u8], from: Peer, _now: Instant) {
        if self.pending.len() < self.pending.capacity() {
            self.pending.push_back(from);
        }
    }
    fn on_timeout(&mut self, _now: Instant) {}
    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }
    fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<Peer> {
        let peer = self.pending.pop_front()?;
        buf.extend_from_slice(RESPONSE);
        Some(peer)
    }
    fn on_transport_error(&mut self, _dest: Peer, _now: Instant) {}
}

fn exchange(c: &UdpSocket, server: SocketAddr, count: usize) {
    const WINDOW: usize = 32;
    let msg = b"OPTIONS sip:a@example.com SIP/2.0\r\nContent-Length: 0\r\n\r\n";
    let mut buf = [0u8; 512];
    let (mut sent, mut received) = (0, 0);
    while sent < WINDOW.min(count) {
        c.send_to(msg, server).expect("send");
        sent += 1;
    }
    while received < count {
        c.recv_from(&mut buf).expect("reply");
        received += 1;
        if sent < count {
            c.send_to(msg, server).expect("send");
            sent += 1;
        }
    }
}

#[test]
fn udp_echo_allocates_nothing_per_message() {
    for backend in [Backend::IoUring, Backend::Portable] {
        let config = RuntimeConfig {
            backend,
            threads: 1,
            listen: vec![(Transport::Udp, "127.0.0.1:0".parse().expect("addr"))],
            ..RuntimeConfig::default()
        };
        let rt = start(config, |_: CoreContext| Echo {
            pending: VecDeque::with_capacity(1024),
        })
        .expect("start");
        let server = rt.listen_addrs()[0].1;
        let c = UdpSocket::bind("127.0.0.1:0").expect("bind");
        c.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        exchange(&c, server, 2_000);
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        const MESSAGES: u64 = 5_000;
        exchange(&c, server, MESSAGES as usize);
        let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
        assert!(
            allocations == 0,
            "{backend}: {allocations} allocations for {MESSAGES} messages"
        );
        rt.shutdown().expect("shutdown");
    }
}
