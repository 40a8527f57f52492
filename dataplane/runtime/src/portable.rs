//! The portable backend: epoll, `recvmmsg` and `sendmmsg`.
//!
//! UDP sockets are watched level-triggered; a readable socket is read
//! with `recvmmsg` batches of `recv_batch` datagrams into preallocated
//! buffers (at most four batches per wake-up, so one flooded socket does
//! not starve the others; level triggering brings the rest back).
//! Transmits collect in a batch of `recv_batch` reused buffers and leave
//! with one `sendmmsg` per socket when the batch is full or at the end of
//! the iteration. TCP sockets, listeners and the eventfd are
//! edge-triggered.

use crate::Service;
use crate::core_thread::{CoreParts, CoreThread, Driver};
use crate::cores::Ready;
use crate::epoll::Epoll;
use crate::error::RuntimeError;
use crate::mmsg::MmsgBatch;
use crate::net::{drain_error_queue, is_icmp_errno};
use crate::stats::CoreCounters;
use crate::token::Token;
use std::io;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

/// recvmmsg batches per readable socket per iteration.
const MAX_BATCHES_PER_WAKE: usize = 4;

pub(crate) fn run<S: Service>(
    parts: CoreParts,
    make_service: impl FnOnce() -> S,
    ready: &mut Ready,
) -> Result<(), RuntimeError> {
    let setup = |what| move |source| RuntimeError::Setup { what, source };
    let epoll = Epoll::new().map_err(setup("epoll_create1"))?;
    for (i, endpoint) in parts.udp.iter().enumerate() {
        epoll
            .add(
                endpoint.socket.as_raw_fd(),
                libc::EPOLLIN as u32,
                Token::Udp(i as u32).encode(),
            )
            .map_err(setup("epoll_ctl (UDP)"))?;
    }
    for (i, listener) in parts.listeners.iter().enumerate() {
        epoll
            .add(
                listener.as_raw_fd(),
                (libc::EPOLLIN | libc::EPOLLET) as u32,
                Token::Listener(i as u32).encode(),
            )
            .map_err(setup("epoll_ctl (TCP listener)"))?;
    }
    if let Some(me) = parts.shared.cores.get(parts.index) {
        epoll
            .add(
                me.wake.fd(),
                (libc::EPOLLIN | libc::EPOLLET) as u32,
                Token::Wake.encode(),
            )
            .map_err(setup("epoll_ctl (eventfd)"))?;
    }
    let batch = parts.limits.recv_batch;
    let mut rx = RecvBatch::new(batch, parts.limits.max_datagram);
    let mut io = PortableIo {
        send: SendBatch::new(
            batch,
            parts.udp.iter().map(|e| e.socket.as_raw_fd()).collect(),
        ),
        epoll,
    };
    let mut core = CoreThread::new(parts, make_service());
    ready.ok();

    // SAFETY: epoll_event is plain old data; zero is a valid value.
    let mut events: Vec<libc::epoll_event> = vec![unsafe { mem::zeroed() }; 256];
    let mut now = Instant::now();
    loop {
        if core.shared.is_shutting_down() {
            break;
        }
        core.run_timers(now);
        core.sweep_idle(&mut io, now);
        core.drain(&mut io, now);
        io.send.flush(&mut core.counters);
        // A failure reported by the flush is handed to the service now.
        core.drain(&mut io, now);
        io.send.flush(&mut core.counters);
        core.flush_tcp(&mut io, now);
        core.publish();

        core.counters.syscalls += 1;
        let n = io
            .epoll
            .wait_until(&mut events, core.next_deadline(), now)
            .map_err(|source| RuntimeError::CoreFailed {
                core: core.index,
                what: "epoll_wait",
                source,
            })?;
        now = Instant::now();
        if n > 0 {
            core.counters.batches += 1;
        }
        for ev in events.iter().take(n) {
            let flags = ev.events;
            let Some(token) = Token::decode(ev.u64) else {
                continue;
            };
            match token {
                Token::Udp(i) => {
                    let i = i as usize;
                    if flags & libc::EPOLLERR as u32 != 0 {
                        core.udp_error_queue(i);
                    }
                    if flags & libc::EPOLLIN as u32 != 0 {
                        receive_udp(&mut core, &mut io, &mut rx, i, now);
                    }
                }
                Token::Listener(i) => core.on_accept(i as usize, &mut io, now),
                Token::Conn { index, generation } => {
                    let readable =
                        flags & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP) as u32 != 0;
                    let writable = flags & libc::EPOLLOUT as u32 != 0;
                    let failed = flags & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0;
                    core.on_conn_event(index, generation, readable, writable, failed, &mut io, now);
                    core.drain(&mut io, now);
                }
                Token::Wake => core.on_wake(&mut io, now),
                _ => {}
            }
        }
    }
    core.close_all(&mut io);
    Ok(())
}

/// Read a readable UDP socket in batches and hand each datagram to the
/// service, draining transmits after every batch.
fn receive_udp<S: Service>(
    core: &mut CoreThread<S>,
    io: &mut PortableIo,
    rx: &mut RecvBatch,
    socket: usize,
    now: Instant,
) {
    let Some(fd) = core.udp.get(socket).map(|e| e.socket.as_raw_fd()) else {
        return;
    };
    for _ in 0..MAX_BATCHES_PER_WAKE {
        core.counters.syscalls += 1;
        let got = match rx.receive(fd) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.raw_os_error().is_some_and(is_icmp_errno) => {
                // A queued ICMP error surfaced here; datagrams may follow.
                core.udp_error_queue(socket);
                continue;
            }
            Err(e) => {
                tracing::debug!(error = %e, "recvmmsg failed");
                core.counters.errors += 1;
                return;
            }
        };
        for k in 0..got {
            match rx.datagram(k) {
                Some((bytes, from)) => core.deliver_udp(bytes, from, now),
                None => core.counters.errors += 1,
            }
        }
        core.drain(io, now);
        if got < rx.capacity() {
            return;
        }
    }
}

/// The epoll instance and the UDP send batch.
struct PortableIo {
    epoll: Epoll,
    send: SendBatch,
}

impl Driver for PortableIo {
    fn transmit_buffer(&mut self) -> &mut Vec<u8> {
        self.send.buffer()
    }

    fn queue_udp(&mut self, socket: usize, dest: SocketAddr, counters: &mut CoreCounters) {
        self.send.queue(socket, dest, counters);
    }

    fn take_udp_errors(&mut self, into: &mut Vec<SocketAddr>) {
        into.append(&mut self.send.failed);
    }

    fn watch(&mut self, fd: RawFd, token: Token) -> io::Result<()> {
        let events = libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET;
        self.epoll.add(fd, events as u32, token.encode())
    }

    fn unwatch(&mut self, _fd: RawFd, _token: Token) {
        // Closing the socket removes it from the epoll set.
    }
}

/// Preallocated `recvmmsg` state: `capacity` datagram buffers of
/// `slot` bytes and their headers.
struct RecvBatch {
    slot: usize,
    data: Box<[u8]>,
    msgs: MmsgBatch,
}

impl RecvBatch {
    fn new(capacity: usize, slot: usize) -> RecvBatch {
        RecvBatch {
            slot,
            data: vec![0u8; capacity * slot].into_boxed_slice(),
            msgs: MmsgBatch::new(capacity),
        }
    }

    fn capacity(&self) -> usize {
        self.msgs.capacity()
    }

    /// One `recvmmsg` on `fd`: how many datagrams arrived.
    fn receive(&mut self, fd: RawFd) -> io::Result<usize> {
        let base = self.data.as_mut_ptr();
        for k in 0..self.capacity() {
            // k * slot + slot <= capacity * slot = data.len(): inside `data`.
            self.msgs
                .prepare_recv(k, base.wrapping_add(k * self.slot), self.slot);
        }
        // SAFETY: every header was just pointed at its own `slot` bytes of
        // `data`, a boxed slice owned by `self` that is not otherwise
        // referenced during the call.
        unsafe { self.msgs.recv(fd, self.capacity()) }
    }

    /// Datagram `k` of the last receive and its source; None when it was
    /// truncated (longer than `max_message`) or has no IP source.
    fn datagram(&self, k: usize) -> Option<(&[u8], SocketAddr)> {
        if self.msgs.truncated(k) {
            return None;
        }
        let from = self.msgs.source(k)?;
        let start = k * self.slot;
        let len = self.msgs.transferred(k).min(self.slot);
        Some((self.data.get(start..start + len)?, from))
    }
}

/// Transmits waiting for `sendmmsg`: reused buffers, their socket and
/// destination; the headers are pointed at them at each flush.
struct SendBatch {
    fds: Vec<RawFd>,
    bufs: Vec<Vec<u8>>,
    sockets: Vec<usize>,
    dests: Vec<SocketAddr>,
    len: usize,
    msgs: MmsgBatch,
    /// Destinations ICMP errors were read for while sending.
    failed: Vec<SocketAddr>,
}

impl SendBatch {
    fn new(capacity: usize, fds: Vec<RawFd>) -> SendBatch {
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        SendBatch {
            fds,
            bufs: (0..capacity).map(|_| Vec::with_capacity(2048)).collect(),
            sockets: vec![0; capacity],
            dests: vec![unspecified; capacity],
            len: 0,
            msgs: MmsgBatch::new(capacity),
            failed: Vec::new(),
        }
    }

    fn buffer(&mut self) -> &mut Vec<u8> {
        // `len` < capacity always: queue flushes when the batch fills.
        let i = self.len.min(self.bufs.len() - 1);
        &mut self.bufs[i]
    }

    fn queue(&mut self, socket: usize, dest: SocketAddr, counters: &mut CoreCounters) {
        let i = self.len;
        if i >= self.bufs.len() {
            return;
        }
        self.sockets[i] = socket;
        self.dests[i] = dest;
        self.len += 1;
        if self.len == self.bufs.len() {
            self.flush(counters);
        }
    }

    /// Send everything queued: one `sendmmsg` run per socket.
    fn flush(&mut self, counters: &mut CoreCounters) {
        if self.len == 0 {
            return;
        }
        for socket in 0..self.fds.len() {
            let mut count = 0;
            for slot in 0..self.len {
                if self.sockets[slot] != socket {
                    continue;
                }
                let buf = &self.bufs[slot];
                self.msgs
                    .prepare_send(count, buf.as_ptr(), buf.len(), self.dests[slot]);
                count += 1;
            }
            if count > 0 {
                self.send_all(self.fds[socket], count, counters);
            }
        }
        self.len = 0;
    }

    fn send_all(&mut self, fd: RawFd, count: usize, counters: &mut CoreCounters) {
        let mut sent = 0;
        let mut retried = false;
        while sent < count {
            counters.syscalls += 1;
            // SAFETY: headers 0..count were pointed by `flush` just now at
            // `bufs` payloads, which stay alive and unmodified until this
            // returns.
            let err = match unsafe { self.msgs.send(fd, sent..count) } {
                Ok(r) => {
                    for k in sent..sent + r {
                        counters.tx_messages += 1;
                        counters.tx_bytes += self.msgs.transferred(k) as u64;
                    }
                    sent += r;
                    retried = false;
                    continue;
                }
                Err(err) => err,
            };
            match err.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::EAGAIN) => {
                    // Socket buffer full: UDP is lossy, SIP retransmits.
                    counters.dropped += (count - sent) as u64;
                    return;
                }
                Some(code) if is_icmp_errno(code) && !retried => {
                    // A pending ICMP error was returned instead of sending;
                    // read the queue, then send the same datagram again.
                    retried = true;
                    let failed = &mut self.failed;
                    counters.syscalls += drain_error_queue(fd, |a| failed.push(a));
                }
                _ => {
                    tracing::debug!(error = %err, "sendmmsg failed");
                    counters.errors += 1;
                    sent += 1;
                    retried = false;
                }
            }
        }
    }
}
