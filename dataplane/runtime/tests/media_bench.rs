//! CPU per relayed packet of the media runtime, both backends, against a
//! minimal `recvmmsg`/`sendmmsg` relay (one socket, no logic: the floor),
//! on loopback. Ignored by default; run it in release:
//!
//! ```text
//! cargo test --release -p ferrovox-runtime --test media_bench -- --ignored --nocapture
//! ```
//!
//! One paced sender thread (`sendmmsg`, 1 ms ticks) spreads `RATE`
//! packets/s over 1,000 port pairs (both directions), two sink threads
//! count what comes out. Everything shares this machine's cores with the
//! relay: the sender's and sinks' CPU is not counted, but they compete
//! with it. Relay CPU = time on CPU (`/proc/self/task/*/schedstat`) of
//! the relay's threads over the measurement window.

mod media_support;

use ferrovox_runtime::Backend;
use ferrovox_runtime::media::{MediaRuntimeConfig, start_media};
use media_support::*;
use socket2::{Domain, Protocol, Socket, Type};
use std::mem;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

const PAIRS: usize = 1000;
const BATCH: usize = 32;

fn rate() -> u64 {
    std::env::var("MEDIA_BENCH_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000)
}

fn secs() -> u64 {
    std::env::var("MEDIA_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

fn udp(addr: &str) -> UdpSocket {
    let addr: SocketAddr = addr.parse().expect("addr");
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).expect("socket");
    let _ = s.set_recv_buffer_size(4 << 20);
    let _ = s.set_send_buffer_size(4 << 20);
    s.bind(&addr.into()).expect("bind");
    s.into()
}

/// Nanoseconds on CPU of this process's threads whose name starts with
/// `prefix`.
fn cpu_ns(prefix: &str) -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task")
        .expect("tasks")
        .flatten()
    {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !name.starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("schedstat")).unwrap_or_default();
        total += stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
}

fn sockaddr(addr: SocketAddr) -> libc::sockaddr_in {
    let SocketAddr::V4(v4) = addr else {
        panic!("IPv4 only")
    };
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(v4.ip().octets()),
        },
        sin_zero: [0; 8],
    }
}

/// Paced sender: `rate` packets/s round-robin over `dests`, until `stop`.
fn sender(dests: Vec<SocketAddr>, rate: u64, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) {
    let socket = udp("127.0.0.1:0");
    let names: Vec<libc::sockaddr_in> = dests.iter().map(|&d| sockaddr(d)).collect();
    let mut payload = [0u8; 172];
    packet(0, 0xa0, &mut payload);
    let per_tick = (rate / 1000).max(1) as usize;
    let mut iovs = vec![
        libc::iovec {
            iov_base: payload.as_mut_ptr().cast(),
            iov_len: payload.len(),
        };
        per_tick
    ];
    // SAFETY: mmsghdr is plain old data; all-zero is valid.
    let mut msgs: Vec<libc::mmsghdr> = (0..per_tick).map(|_| unsafe { mem::zeroed() }).collect();
    let mut next = 0usize;
    let mut tick = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        for (k, m) in msgs.iter_mut().enumerate() {
            m.msg_hdr.msg_name = (&names[next] as *const libc::sockaddr_in).cast_mut().cast();
            m.msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_in>() as u32;
            m.msg_hdr.msg_iov = &mut iovs[k];
            m.msg_hdr.msg_iovlen = 1;
            next = (next + 1) % names.len();
        }
        let mut at = 0;
        while at < per_tick {
            // SAFETY: the headers point at `names`, `iovs` and `payload`,
            // all alive and unmodified during the call.
            let r = unsafe {
                libc::sendmmsg(
                    socket.as_raw_fd(),
                    msgs.as_mut_ptr().add(at),
                    (per_tick - at) as u32,
                    0,
                )
            };
            if r <= 0 {
                break;
            }
            at += r as usize;
        }
        sent.fetch_add(at as u64, Ordering::Relaxed);
        tick += Duration::from_millis(1);
        let now = Instant::now();
        if tick > now {
            thread::sleep(tick - now);
        }
    }
}

/// `BATCH` receive buffers of `SIZE` bytes and their `recvmmsg` headers.
/// The buffers, iovecs and headers live on the heap and are never
/// resized, so the headers' pointers stay valid when this moves.
struct RecvHeaders<const SIZE: usize> {
    _bufs: Vec<[u8; SIZE]>,
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
}

impl<const SIZE: usize> RecvHeaders<SIZE> {
    fn new() -> Self {
        let mut bufs = vec![[0u8; SIZE]; BATCH];
        let mut iovs: Vec<libc::iovec> = bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            })
            .collect();
        // SAFETY: mmsghdr is plain old data; all-zero is valid.
        let mut msgs: Vec<libc::mmsghdr> = (0..BATCH).map(|_| unsafe { mem::zeroed() }).collect();
        for (m, iov) in msgs.iter_mut().zip(iovs.iter_mut()) {
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
        }
        RecvHeaders {
            _bufs: bufs,
            iovs,
            msgs,
        }
    }

    /// Wait for datagrams (at least one, `MSG_WAITFORONE`; the socket's
    /// read timeout bounds the wait): how many arrived.
    fn recv(&mut self, socket: &UdpSocket) -> usize {
        // SAFETY: the headers point at `iovs` and the buffers, alive and
        // not otherwise referenced during the call.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                self.msgs.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        usize::try_from(n).unwrap_or(0)
    }

    /// Datagram `k` of the last receive, as an iovec to send it with.
    fn datagram(&self, k: usize) -> libc::iovec {
        libc::iovec {
            iov_base: self.iovs[k].iov_base,
            iov_len: self.msgs[k].msg_len as usize,
        }
    }
}

/// Counts datagrams on `socket` until `stop`.
fn sink(socket: UdpSocket, stop: Arc<AtomicBool>, got: Arc<AtomicU64>) {
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let mut rx = RecvHeaders::<256>::new();
    while !stop.load(Ordering::Relaxed) {
        let n = rx.recv(&socket);
        got.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// The floor: one socket, recvmmsg (MSG_WAITFORONE) + sendmmsg to `to`.
fn floor_relay(socket: UdpSocket, to: SocketAddr, stop: Arc<AtomicBool>) {
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let name = sockaddr(to);
    let mut rx = RecvHeaders::<2048>::new();
    let mut out: Vec<libc::iovec> = (0..BATCH).map(|k| rx.datagram(k)).collect();
    // SAFETY: mmsghdr is plain old data; all-zero is valid.
    let mut sends: Vec<libc::mmsghdr> = (0..BATCH).map(|_| unsafe { mem::zeroed() }).collect();
    while !stop.load(Ordering::Relaxed) {
        let n = rx.recv(&socket);
        for k in 0..n {
            out[k] = rx.datagram(k);
            let h = &mut sends[k].msg_hdr;
            h.msg_name = (&name as *const libc::sockaddr_in).cast_mut().cast();
            h.msg_namelen = mem::size_of::<libc::sockaddr_in>() as u32;
            h.msg_iov = &mut out[k];
            h.msg_iovlen = 1;
        }
        if n == 0 {
            continue;
        }
        // SAFETY: the headers point at `out` (iovecs into the receive
        // buffers) and `name`, alive and unmodified during the call.
        unsafe { libc::sendmmsg(socket.as_raw_fd(), sends.as_mut_ptr(), n as u32, 0) };
    }
}

struct Outcome {
    /// Packets sent during the measurement window.
    window_sent: u64,
    /// Packets sent after the warm-up, and received after it.
    sent: u64,
    got: u64,
    /// Relay CPU during the window.
    cpu_ns: u64,
    secs: f64,
}

impl Outcome {
    fn print(&self, what: &str) {
        let window = self.window_sent.max(1);
        let pps = window as f64 / self.secs;
        let loss = 1.0 - self.got as f64 / self.sent.max(1) as f64;
        println!(
            "{what:<26} {pps:>8.0} pkt/s  CPU {:>6.2} us/pkt  ({:>5.1}% of a core)  loss {:.3}% ({} of {})",
            self.cpu_ns as f64 / 1000.0 / window as f64,
            self.cpu_ns as f64 / 1e9 / self.secs * 100.0,
            loss * 100.0,
            self.sent.saturating_sub(self.got),
            self.sent,
        );
    }
}

/// Run traffic to `dests` (sinks count the output) and measure the CPU
/// of the threads named `relay_threads*` over the window.
fn measure(dests: Vec<SocketAddr>, sinks: Vec<UdpSocket>, relay_threads: &str) -> Outcome {
    let stop_send = Arc::new(AtomicBool::new(false));
    let stop_sink = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let got = Arc::new(AtomicU64::new(0));
    let sinks: Vec<_> = sinks
        .into_iter()
        .map(|s| {
            let (stop, got) = (stop_sink.clone(), got.clone());
            thread::Builder::new()
                .name("bench-sink".into())
                .spawn(move || sink(s, stop, got))
                .expect("spawn")
        })
        .collect();
    let sender_thread = {
        let (stop, sent) = (stop_send.clone(), sent.clone());
        let rate = rate();
        thread::Builder::new()
            .name("bench-sender".into())
            .spawn(move || sender(dests, rate, stop, sent))
            .expect("spawn")
    };
    thread::sleep(Duration::from_secs(2));
    let (sent0, got0, cpu0, t0) = (
        sent.load(Ordering::Relaxed),
        got.load(Ordering::Relaxed),
        cpu_ns(relay_threads),
        Instant::now(),
    );
    thread::sleep(Duration::from_secs(secs()));
    let (sent1, cpu1, t1) = (
        sent.load(Ordering::Relaxed),
        cpu_ns(relay_threads),
        Instant::now(),
    );
    stop_send.store(true, Ordering::Relaxed);
    sender_thread.join().expect("sender");
    // Let the last packets through before counting.
    thread::sleep(Duration::from_millis(300));
    let got1 = got.load(Ordering::Relaxed);
    let sent_total = sent.load(Ordering::Relaxed);
    stop_sink.store(true, Ordering::Relaxed);
    for s in sinks {
        s.join().expect("sink");
    }
    Outcome {
        window_sent: sent1 - sent0,
        sent: sent_total - sent0,
        got: got1 - got0,
        cpu_ns: cpu1 - cpu0,
        secs: (t1 - t0).as_secs_f64(),
    }
}

fn run_floor() {
    let relay = udp("127.0.0.1:0");
    let sink_socket = udp("127.0.0.1:0");
    let to = sink_socket.local_addr().expect("sink");
    let dest = relay.local_addr().expect("relay");
    let stop = Arc::new(AtomicBool::new(false));
    let t = {
        let stop = stop.clone();
        thread::Builder::new()
            .name("floor-relay".into())
            .spawn(move || floor_relay(relay, to, stop))
            .expect("spawn")
    };
    let outcome = measure(vec![dest], vec![sink_socket], "floor-relay");
    stop.store(true, Ordering::Relaxed);
    t.join().expect("floor");
    outcome.print("floor (1 socket)");
}

fn run_media(backend: Backend, threads: usize) {
    let config = MediaRuntimeConfig {
        backend,
        threads,
        interface: "127.0.0.1".parse().expect("ip"),
        socket_buffer: 1 << 20,
        ..MediaRuntimeConfig::default()
    };
    let rt = start_media(config, PairRelay::new).expect("start");
    let (sink_a, sink_b) = (udp("127.0.0.1:0"), udp("127.0.0.1:0"));
    let (aa, ba) = (
        sink_a.local_addr().expect("a"),
        sink_b.local_addr().expect("b"),
    );
    let ports = free_ports(2 * PAIRS);
    for (i, pair) in ports.chunks(2).enumerate() {
        let (p1, p2) = (pair[0], pair[1]);
        rt.call(i % threads, move |s| s.add_pair(p1, aa, p2, ba))
            .expect("open");
    }
    let dests = ports.iter().map(|&p| relay_addr(p)).collect();
    let before = rt.stats();
    let outcome = measure(dests, vec![sink_a, sink_b], "ferrovox-media");
    let after = rt.stats();
    outcome.print(&format!("{backend} x{threads} ({PAIRS} pairs)"));
    println!(
        "    syscalls/pkt {:.3}  batches/pkt {:.3}  send_dropped {}  rearms {}",
        (after.syscalls - before.syscalls) as f64
            / (after.rx_packets - before.rx_packets).max(1) as f64,
        (after.batches - before.batches) as f64
            / (after.rx_packets - before.rx_packets).max(1) as f64,
        after.send_dropped,
        after.rearms,
    );
    rt.shutdown().expect("shutdown");
}

#[test]
#[ignore = "measurement: run in release with --ignored --nocapture"]
fn media_relay_cpu_per_packet() {
    println!(
        "rate {} pkt/s, {} s per run, {PAIRS} pairs; sender and sinks share the machine",
        rate(),
        secs()
    );
    run_floor();
    run_media(Backend::Portable, 1);
    run_media(Backend::IoUring, 1);
    run_media(Backend::Portable, 2);
    run_media(Backend::IoUring, 2);
    run_floor();
}
