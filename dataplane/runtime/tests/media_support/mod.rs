//! A trivial pair relay for the media runtime tests, and helpers.
//!
//! A pair (P1, P2) with endpoints A and B: a datagram arriving on P1 is
//! forwarded from P2 to B, one arriving on P2 from P1 to A. On the way the
//! relay rewrites byte 0 with its core index (the "header rewrite") and
//! appends the 4-byte trailer `TRLR` in the spare room after the packet.

#![allow(dead_code)]

use ferrovox_runtime::media::{DatagramAction, DatagramService, MediaCoreContext, PortChange};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

pub const TRAILER: &[u8; 4] = b"TRLR";

#[path = "../support/backends.rs"]
mod backends;

pub struct PairRelay {
    pub core: usize,
    /// port -> (send from, send to)
    routes: HashMap<u16, (u16, SocketAddr)>,
    changes: VecDeque<PortChange>,
    pub port_errors: Vec<(u16, io::ErrorKind)>,
    /// Smallest spare room seen after a datagram.
    pub min_room: usize,
    pub received: u64,
    /// Generated datagrams to send: (from, to, bytes).
    out: VecDeque<(u16, SocketAddr, Vec<u8>)>,
    deadline: Option<Instant>,
    /// Sent at the deadline.
    timed: Option<(u16, SocketAddr, Vec<u8>)>,
}

impl PairRelay {
    pub fn new(ctx: MediaCoreContext) -> Self {
        PairRelay {
            core: ctx.core,
            routes: HashMap::with_capacity(4096),
            changes: VecDeque::with_capacity(4096),
            port_errors: Vec::new(),
            min_room: usize::MAX,
            received: 0,
            out: VecDeque::new(),
            deadline: None,
            timed: None,
        }
    }

    /// Relay between `a` (behind `p1`) and `b` (behind `p2`).
    pub fn add_pair(&mut self, p1: u16, a: SocketAddr, p2: u16, b: SocketAddr) {
        self.routes.insert(p1, (p2, b));
        self.routes.insert(p2, (p1, a));
        self.changes.push_back(PortChange::Open(p1));
        self.changes.push_back(PortChange::Open(p2));
    }

    pub fn remove_pair(&mut self, p1: u16, p2: u16) {
        self.routes.remove(&p1);
        self.routes.remove(&p2);
        self.changes.push_back(PortChange::Close(p1));
        self.changes.push_back(PortChange::Close(p2));
    }

    /// Send `bytes` from `from` to `to` (through poll_transmit).
    pub fn inject(&mut self, from: u16, to: SocketAddr, bytes: Vec<u8>) {
        self.out.push_back((from, to, bytes));
    }

    /// Send `bytes` from `from` to `to` at `at` (through a timeout).
    pub fn inject_at(&mut self, at: Instant, from: u16, to: SocketAddr, bytes: Vec<u8>) {
        self.deadline = Some(at);
        self.timed = Some((from, to, bytes));
    }
}

impl DatagramService for PairRelay {
    fn on_datagram(
        &mut self,
        port: u16,
        _src: SocketAddr,
        buf: &mut [u8],
        len: usize,
        _now: Instant,
    ) -> DatagramAction {
        self.received += 1;
        self.min_room = self.min_room.min(buf.len() - len);
        let Some(&(from_port, to)) = self.routes.get(&port) else {
            return DatagramAction::Drop;
        };
        if len == 0 || buf.len() < len + TRAILER.len() {
            return DatagramAction::Drop;
        }
        buf[0] = self.core as u8;
        buf[len..len + TRAILER.len()].copy_from_slice(TRAILER);
        DatagramAction::Forward {
            from_port,
            to,
            len: len + TRAILER.len(),
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        if self.deadline.is_some_and(|d| d <= now) {
            self.deadline = None;
            if let Some(t) = self.timed.take() {
                self.out.push_back(t);
            }
        }
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.deadline
    }

    fn poll_port_change(&mut self) -> Option<PortChange> {
        self.changes.pop_front()
    }

    fn on_port_error(&mut self, port: u16, error: &io::Error) {
        self.port_errors.push((port, error.kind()));
        // Forget the routes through that port.
        self.routes.remove(&port);
    }

    fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<(u16, SocketAddr)> {
        let (from, to, bytes) = self.out.pop_front()?;
        buf.extend_from_slice(&bytes);
        Some((from, to))
    }
}

/// `n` distinct ports, free a moment ago on 127.0.0.1, taken from below
/// the ephemeral range (so that the tests' own ephemeral sockets do not
/// grab them in between), from a per-process starting point.
pub fn free_ports(n: usize) -> Vec<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let _ = NEXT.compare_exchange(
        0,
        12_000 + (std::process::id() % 60) * 300,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    let mut ports = Vec::with_capacity(n);
    while ports.len() < n {
        let p = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 12_000 + (p - 12_000) % 20_000;
        if UdpSocket::bind(("127.0.0.1", port as u16)).is_ok() {
            ports.push(port as u16);
        }
    }
    ports
}

pub fn endpoint() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind endpoint");
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    s
}

pub fn relay_addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// An RTP-sized test packet: 12-byte header with `seq`, then a pattern.
pub fn packet(seq: u32, tag: u8, buf: &mut [u8; 172]) {
    buf[0] = 0x80;
    buf[1] = tag;
    buf[2..6].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in buf[12..].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(7) ^ tag ^ (seq as u8);
    }
}

/// Check a relayed packet: byte 0 = `core`, the rest as sent, `TRLR`
/// appended; returns its sequence number and tag.
pub fn check_relayed(bytes: &[u8], core: usize) -> (u32, u8) {
    assert_eq!(bytes.len(), 172 + TRAILER.len(), "relayed length");
    assert_eq!(bytes[0], core as u8, "rewritten byte (core)");
    assert_eq!(&bytes[172..], TRAILER, "trailer");
    let tag = bytes[1];
    let seq = u32::from_be_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]);
    let mut expected = [0u8; 172];
    packet(seq, tag, &mut expected);
    assert_eq!(&bytes[1..172], &expected[1..], "payload intact");
    (seq, tag)
}
