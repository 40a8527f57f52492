//! A measurement, not a check (`cargo test -p ferrovox-runtime --test
//! throughput -- --ignored --nocapture`): one client keeps a window of
//! requests in flight against an echo core and reports messages per
//! second, system calls and loop iterations per message for each backend.
//! Debug builds measure the runtime's syscall economy, not its CPU cost.

use ferrovox_runtime::{Backend, CoreContext, RuntimeConfig, Service, start};
use ferrovox_sip::transaction::{Peer, Transport};
use std::collections::VecDeque;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

struct Echo {
    pending: VecDeque<Peer>,
}

impl Service for Echo {
    fn on_message(&mut self, _bytes: &[u8], from: Peer, _now: Instant) {
        self.pending.push_back(from);
    }
    fn on_timeout(&mut self, _now: Instant) {}
    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }
    fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<Peer> {
        let peer = self.pending.pop_front()?;
        buf.extend_from_slice(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n");
        Some(peer)
    }
    fn on_transport_error(&mut self, _dest: Peer, _now: Instant) {}
}

#[test]
#[ignore = "measurement; run with --ignored --nocapture"]
fn echo_throughput_and_syscalls_per_message() {
    const MESSAGES: usize = 200_000;
    for window in [1usize, 64, 256] {
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
            socket2::SockRef::from(&c)
                .set_recv_buffer_size(4 << 20)
                .expect("rcvbuf");
            let msg = b"OPTIONS sip:a@example.com SIP/2.0\r\nContent-Length: 0\r\n\r\n";
            let mut buf = [0u8; 512];
            let started = Instant::now();
            let (mut sent, mut received) = (0, 0);
            while sent < window {
                c.send_to(msg, server).expect("send");
                sent += 1;
            }
            while received < MESSAGES {
                c.recv_from(&mut buf).expect("reply");
                received += 1;
                if sent < MESSAGES {
                    c.send_to(msg, server).expect("send");
                    sent += 1;
                }
            }
            let elapsed = started.elapsed();
            std::thread::sleep(Duration::from_millis(1200));
            let s = rt.stats();
            eprintln!(
                "{backend:>8} window {window:>3}: {:>7.0} msg/s, {:.3} syscalls/msg, {:.2} msg/iteration, dropped {}",
                MESSAGES as f64 / elapsed.as_secs_f64(),
                s.syscalls as f64 / s.rx_messages as f64,
                s.rx_messages as f64 / s.batches.max(1) as f64,
                s.dropped
            );
            rt.shutdown().expect("shutdown");
        }
    }
}
