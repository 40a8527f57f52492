//! A scriptable test service and helpers shared by the integration tests.
//!
//! The service answers by what it receives:
//! - `SEND <udp|tcp> <addr> [body bytes]` (from anyone): send an OPTIONS
//!   request (with a body that long) to that peer.
//! - any other request: with a downstream set, forward it unchanged to the
//!   downstream peer (UDP) and remember who asked, by Call-ID; otherwise
//!   answer `200 OK` carrying `X-Core: <core>` to the sender.
//! - a response: forward it to whoever asked for that Call-ID.
//!
//! Every input is reported on the events channel when `record` is set.

#![allow(dead_code)]

use ferrovox_runtime::{Backend, CoreContext, RuntimeConfig, Service};
use ferrovox_sip::transaction::{Peer, Transport};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[path = "../support/backends.rs"]
mod backends;

#[derive(Debug, Clone)]
pub enum Event {
    Started {
        core: usize,
        ctx: CoreContext,
        deadline: Option<Instant>,
    },
    Message {
        core: usize,
        bytes: Vec<u8>,
        from: Peer,
        at: Instant,
    },
    TransportError {
        core: usize,
        dest: Peer,
    },
    Timeout {
        core: usize,
        at: Instant,
    },
}

#[derive(Debug, Clone, Default)]
pub struct Script {
    /// Report every input on the channel.
    pub record: bool,
    /// Forward requests here (UDP) instead of answering them.
    pub downstream: Option<SocketAddr>,
    /// Ask for one timeout this long after creation.
    pub timeout_after: Option<Duration>,
}

impl Script {
    /// Report every input, answer as usual.
    pub fn recording() -> Script {
        Script {
            record: true,
            ..Script::default()
        }
    }
}

pub struct TestService {
    core: usize,
    script: Script,
    events: mpsc::Sender<Event>,
    out: VecDeque<(Vec<u8>, Peer)>,
    /// Call-ID -> who sent the request we forwarded.
    upstream: HashMap<Vec<u8>, Peer>,
    deadline: Option<Instant>,
}

pub const OPTIONS: &[u8] =
    b"OPTIONS sip:t@example.com SIP/2.0\r\nCall-ID: out\r\nContent-Length: 0\r\n\r\n";

pub fn call_id(bytes: &[u8]) -> Option<&[u8]> {
    let text = std::str::from_utf8(bytes).ok()?;
    let line = text.lines().find(|l| l.starts_with("Call-ID: "))?;
    let value = &line["Call-ID: ".len()..];
    let start = value.as_ptr() as usize - bytes.as_ptr() as usize;
    bytes.get(start..start + value.len())
}

pub fn ok_response(core: usize, call: &[u8]) -> Vec<u8> {
    let mut r = format!("SIP/2.0 200 OK\r\nX-Core: {core}\r\nCall-ID: ").into_bytes();
    r.extend_from_slice(call);
    r.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
    r
}

/// The core named in an `X-Core:` header.
pub fn core_of(bytes: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(bytes).ok()?;
    let line = text.lines().find(|l| l.starts_with("X-Core: "))?;
    line["X-Core: ".len()..].trim().parse().ok()
}

impl Service for TestService {
    fn on_message(&mut self, bytes: &[u8], from: Peer, now: Instant) {
        if self.script.record {
            let _ = self.events.send(Event::Message {
                core: self.core,
                bytes: bytes.to_vec(),
                from,
                at: now,
            });
        }
        if let Some(cmd) = bytes.strip_prefix(b"SEND ") {
            let cmd = String::from_utf8_lossy(cmd);
            let mut words = cmd.split_whitespace();
            let transport = match words.next() {
                Some("tcp") => Transport::Tcp,
                _ => Transport::Udp,
            };
            let addr = words.next().and_then(|a| a.parse().ok());
            let body: usize = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            if let Some(addr) = addr {
                let bytes = if body == 0 {
                    OPTIONS.to_vec()
                } else {
                    let mut m = format!(
                        "OPTIONS sip:t@example.com SIP/2.0\r\nCall-ID: big\r\nContent-Length: {body}\r\n\r\n"
                    )
                    .into_bytes();
                    m.resize(m.len() + body, b'x');
                    m
                };
                self.out.push_back((bytes, Peer::new(addr, transport)));
            }
            return;
        }
        let call = call_id(bytes).unwrap_or(b"none").to_vec();
        if bytes.starts_with(b"SIP/2.0 ") {
            if let Some(up) = self.upstream.remove(&call) {
                self.out.push_back((bytes.to_vec(), up));
            }
            return;
        }
        match self.script.downstream {
            Some(down) => {
                self.upstream.insert(call, from);
                self.out
                    .push_back((bytes.to_vec(), Peer::new(down, Transport::Udp)));
            }
            None => self.out.push_back((ok_response(self.core, &call), from)),
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        self.deadline = None;
        let _ = self.events.send(Event::Timeout {
            core: self.core,
            at: now,
        });
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.deadline
    }

    fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<Peer> {
        let (bytes, peer) = self.out.pop_front()?;
        buf.extend_from_slice(&bytes);
        Some(peer)
    }

    fn on_transport_error(&mut self, dest: Peer, _now: Instant) {
        let _ = self.events.send(Event::TransportError {
            core: self.core,
            dest,
        });
    }
}

/// A factory for [`TestService`] and the receiving end of its events.
pub fn service(
    script: Script,
) -> (
    impl Fn(CoreContext) -> TestService + Send + Sync + 'static,
    mpsc::Receiver<Event>,
) {
    let (tx, rx) = mpsc::channel();
    let factory = move |ctx: CoreContext| {
        let deadline = script.timeout_after.map(|d| Instant::now() + d);
        let _ = tx.send(Event::Started {
            core: ctx.core,
            ctx: ctx.clone(),
            deadline,
        });
        TestService {
            core: ctx.core,
            script: script.clone(),
            events: tx.clone(),
            out: VecDeque::new(),
            upstream: HashMap::new(),
            deadline,
        }
    };
    (factory, rx)
}

pub fn config(backend: Backend, threads: usize, listen: &[(Transport, &str)]) -> RuntimeConfig {
    RuntimeConfig {
        backend,
        threads,
        listen: listen
            .iter()
            .map(|(t, a)| (*t, a.parse().expect("test address")))
            .collect(),
        ..RuntimeConfig::default()
    }
}

/// Start `threads` cores of `backend` listening on `listen`, running
/// [`TestService`] with `script`.
pub fn start_on(
    backend: Backend,
    threads: usize,
    listen: &[(Transport, &str)],
    script: Script,
) -> (ferrovox_runtime::Runtime, mpsc::Receiver<Event>) {
    let (factory, events) = service(script);
    let rt = ferrovox_runtime::start(config(backend, threads, listen), factory).expect("start");
    (rt, events)
}

/// [`start_on`] an ephemeral UDP port of 127.0.0.1.
pub fn start_udp(
    backend: Backend,
    threads: usize,
    script: Script,
) -> (ferrovox_runtime::Runtime, mpsc::Receiver<Event>) {
    start_on(backend, threads, &[(Transport::Udp, "127.0.0.1:0")], script)
}

/// [`start_on`] ephemeral UDP and TCP ports of 127.0.0.1.
pub fn start_udp_tcp(
    backend: Backend,
    threads: usize,
    script: Script,
) -> (ferrovox_runtime::Runtime, mpsc::Receiver<Event>) {
    let listen = [
        (Transport::Udp, "127.0.0.1:0"),
        (Transport::Tcp, "127.0.0.1:0"),
    ];
    start_on(backend, threads, &listen, script)
}

/// Ask the service behind UDP address `udp` to send an OPTIONS request
/// (`SEND <transport> <dest>`), from a throw-away socket.
pub fn trigger_send(udp: SocketAddr, transport: &str, dest: SocketAddr) {
    let trigger = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    trigger
        .send_to(format!("SEND {transport} {dest}").as_bytes(), udp)
        .expect("trigger");
}

/// The first event `pick` accepts within `timeout`.
pub fn wait_for<T>(
    rx: &mpsc::Receiver<Event>,
    timeout: Duration,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> Option<T> {
    let end = Instant::now() + timeout;
    loop {
        let left = end.checked_duration_since(Instant::now())?;
        match rx.recv_timeout(left) {
            Ok(e) => {
                if let Some(t) = pick(&e) {
                    return Some(t);
                }
            }
            Err(_) => return None,
        }
    }
}

pub fn listen_addr(rt: &ferrovox_runtime::Runtime, transport: Transport) -> SocketAddr {
    rt.listen_addrs()
        .iter()
        .find(|(t, _)| *t == transport)
        .map(|(_, a)| *a)
        .expect("listen address of that transport")
}

/// A port nothing listens on (bound, then released).
pub fn closed_udp_port() -> SocketAddr {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr")
}

pub fn closed_tcp_port() -> SocketAddr {
    let s = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr")
}

/// Poll the runtime's stats until `ok` holds (they are published once per
/// loop iteration) or 3 s pass; the last snapshot.
pub fn stats_until(
    rt: &ferrovox_runtime::Runtime,
    ok: impl Fn(&ferrovox_runtime::RuntimeStats) -> bool,
) -> ferrovox_runtime::RuntimeStats {
    let end = Instant::now() + Duration::from_secs(3);
    loop {
        let s = rt.stats();
        if ok(&s) || Instant::now() > end {
            return s;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
