//! A SIP echo core for the UDP measurements: it answers every message
//! with `200 OK` without allocating (the queue of peers to answer is
//! preallocated and bounded), and a client that keeps a window of
//! requests in flight.

use ferrovox_runtime::{Backend, CoreContext, Runtime, RuntimeConfig, Service, start};
use ferrovox_sip::transaction::{Peer, Transport};
use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const RESPONSE: &[u8] = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n";
const REQUEST: &[u8] = b"OPTIONS sip:a@example.com SIP/2.0\r\nContent-Length: 0\r\n\r\n";

/// Answers every message (up to 1024 waiting answers) without allocating.
pub struct Echo {
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

/// One echo core of `backend` on an ephemeral UDP port of 127.0.0.1:
/// the runtime and its address.
pub fn echo_runtime(backend: Backend) -> (Runtime, SocketAddr) {
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
    (rt, server)
}

/// A client socket with room for a deep window of replies.
pub fn echo_client() -> UdpSocket {
    let c = UdpSocket::bind("127.0.0.1:0").expect("bind");
    c.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    socket2::SockRef::from(&c)
        .set_recv_buffer_size(4 << 20)
        .expect("rcvbuf");
    c
}

/// Send `count` requests to `server` keeping `window` in flight, and
/// wait for every answer. Allocates nothing.
pub fn exchange(c: &UdpSocket, server: SocketAddr, window: usize, count: usize) {
    let mut buf = [0u8; 512];
    let (mut sent, mut received) = (0, 0);
    while sent < window.min(count) {
        c.send_to(REQUEST, server).expect("send");
        sent += 1;
    }
    while received < count {
        c.recv_from(&mut buf).expect("reply");
        received += 1;
        if sent < count {
            c.send_to(REQUEST, server).expect("send");
            sent += 1;
        }
    }
}
