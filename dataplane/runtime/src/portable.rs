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
use crate::error::RuntimeError;
use crate::net::{self, drain_error_queue, is_icmp_errno, write_sockaddr};
use crate::stats::CoreCounters;
use crate::token::Token;
use std::io;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;

/// Longest sleep without a deadline (the eventfd wakes us for anything
/// else, this only bounds the damage of a lost wake-up).
const MAX_SLEEP_MS: i32 = 1000;
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
                Token::Udp(i as u32),
            )
            .map_err(setup("epoll_ctl (UDP)"))?;
    }
    for (i, listener) in parts.listeners.iter().enumerate() {
        epoll
            .add(
                listener.as_raw_fd(),
                (libc::EPOLLIN | libc::EPOLLET) as u32,
                Token::Listener(i as u32),
            )
            .map_err(setup("epoll_ctl (TCP listener)"))?;
    }
    if let Some(me) = parts.shared.cores.get(parts.index) {
        epoll
            .add(
                me.wake.fd(),
                (libc::EPOLLIN | libc::EPOLLET) as u32,
                Token::Wake,
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

        let timeout = match core.next_deadline() {
            None => MAX_SLEEP_MS,
            Some(t) => {
                let left = t.saturating_duration_since(now);
                // Round up: waking before the deadline only loops again.
                let ms = left.as_micros().div_ceil(1000);
                ms.min(MAX_SLEEP_MS as u128) as i32
            }
        };
        core.counters.syscalls += 1;
        let n = match io.epoll.wait(&mut events, timeout) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(source) => {
                return Err(RuntimeError::CoreFailed {
                    core: core.index,
                    what: "epoll_wait",
                    source,
                });
            }
        };
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
        self.epoll.add(fd, events as u32, token)
    }

    fn unwatch(&mut self, _fd: RawFd, _token: Token) {
        // Closing the socket removes it from the epoll set.
    }
}

struct Epoll(OwnedFd);

impl Epoll {
    fn new() -> io::Result<Epoll> {
        // SAFETY: plain syscall; the descriptor is owned below.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn add(&self, fd: RawFd, events: u32, token: Token) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events,
            u64: token.encode(),
        };
        // SAFETY: `ev` is a live epoll_event the kernel only reads.
        let rc = unsafe { libc::epoll_ctl(self.0.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn wait(&self, events: &mut [libc::epoll_event], timeout_ms: i32) -> io::Result<usize> {
        let max = events.len().min(i32::MAX as usize) as i32;
        // SAFETY: the kernel writes at most `max` entries into `events`,
        // a live, writable slice of that many epoll_event values.
        let n =
            unsafe { libc::epoll_wait(self.0.as_raw_fd(), events.as_mut_ptr(), max, timeout_ms) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

/// Preallocated `recvmmsg` state: `capacity` datagram buffers of
/// `slot` bytes, their iovecs, source addresses and headers. The headers
/// point into the other buffers, which are never resized after
/// construction (their heap memory does not move even when the struct
/// does).
struct RecvBatch {
    slot: usize,
    data: Box<[u8]>,
    iovs: Box<[libc::iovec]>,
    names: Box<[libc::sockaddr_storage]>,
    msgs: Box<[libc::mmsghdr]>,
}

impl RecvBatch {
    fn new(capacity: usize, slot: usize) -> RecvBatch {
        let mut batch = RecvBatch {
            slot,
            data: vec![0u8; capacity * slot].into_boxed_slice(),
            iovs: (0..capacity)
                .map(|_| libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                })
                .collect(),
            names: (0..capacity).map(|_| net::empty_storage()).collect(),
            // SAFETY: mmsghdr is plain old data; all-zero is valid.
            msgs: (0..capacity).map(|_| unsafe { mem::zeroed() }).collect(),
        };
        let base = batch.data.as_mut_ptr();
        for i in 0..capacity {
            // SAFETY: i * slot + slot <= capacity * slot = data.len(), so
            // the pointer stays inside `data`.
            batch.iovs[i].iov_base = unsafe { base.add(i * slot) }.cast();
            batch.iovs[i].iov_len = slot;
            let hdr = &mut batch.msgs[i].msg_hdr;
            hdr.msg_iov = &mut batch.iovs[i];
            hdr.msg_iovlen = 1;
            hdr.msg_name = (&mut batch.names[i] as *mut libc::sockaddr_storage).cast();
        }
        batch
    }

    fn capacity(&self) -> usize {
        self.msgs.len()
    }

    /// One `recvmmsg` on `fd`: how many datagrams arrived.
    fn receive(&mut self, fd: RawFd) -> io::Result<usize> {
        for m in self.msgs.iter_mut() {
            m.msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as u32;
            m.msg_hdr.msg_flags = 0;
            m.msg_len = 0;
        }
        // SAFETY: every header points at this struct's own iovec, name and
        // data buffers, which live as long as `self` and never move or
        // resize (boxed slices); the kernel writes at most `slot` bytes per
        // iovec and `msg_namelen` bytes per name. No Rust reference to
        // those buffers is alive during the call.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.msgs.as_mut_ptr(),
                self.msgs.len() as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// Datagram `k` of the last receive and its source; None when it was
    /// truncated (longer than `max_message`) or has no IP source.
    fn datagram(&self, k: usize) -> Option<(&[u8], SocketAddr)> {
        let m = self.msgs.get(k)?;
        if m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
            return None;
        }
        let from = net::read_sockaddr(net::storage_bytes(
            self.names.get(k)?,
            m.msg_hdr.msg_namelen,
        ))?;
        let start = k * self.slot;
        let len = (m.msg_len as usize).min(self.slot);
        Some((self.data.get(start..start + len)?, from))
    }
}

/// Transmits waiting for `sendmmsg`: reused buffers, their socket and
/// destination; the kernel headers are rebuilt at each flush.
struct SendBatch {
    fds: Vec<RawFd>,
    bufs: Vec<Vec<u8>>,
    sockets: Vec<usize>,
    dests: Vec<SocketAddr>,
    len: usize,
    iovs: Vec<libc::iovec>,
    names: Vec<libc::sockaddr_storage>,
    msgs: Vec<libc::mmsghdr>,
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
            iovs: Vec::with_capacity(capacity),
            names: (0..capacity).map(|_| net::empty_storage()).collect(),
            // SAFETY: mmsghdr is plain old data; all-zero is valid.
            msgs: (0..capacity).map(|_| unsafe { mem::zeroed() }).collect(),
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
            self.iovs.clear();
            for slot in 0..self.len {
                if self.sockets[slot] != socket {
                    continue;
                }
                let buf = &self.bufs[slot];
                self.iovs.push(libc::iovec {
                    iov_base: buf.as_ptr() as *mut libc::c_void,
                    iov_len: buf.len(),
                });
                let k = self.iovs.len() - 1;
                let namelen = write_sockaddr(self.dests[slot], &mut self.names[k]);
                let hdr = &mut self.msgs[k].msg_hdr;
                hdr.msg_name = (&mut self.names[k] as *mut libc::sockaddr_storage).cast();
                hdr.msg_namelen = namelen;
                hdr.msg_iovlen = 1;
            }
            let count = self.iovs.len();
            if count == 0 {
                continue;
            }
            // `iovs` does not grow past its capacity, so these addresses
            // are stable until the next flush.
            for k in 0..count {
                self.msgs[k].msg_hdr.msg_iov = &mut self.iovs[k];
            }
            self.send_all(self.fds[socket], count, counters);
        }
        self.len = 0;
    }

    fn send_all(&mut self, fd: RawFd, count: usize, counters: &mut CoreCounters) {
        let mut sent = 0;
        let mut retried = false;
        while sent < count {
            counters.syscalls += 1;
            // SAFETY: msgs[sent..count] are headers built by `flush` just
            // now; they point at `names`, `iovs` and the `bufs` payloads,
            // all alive and unmodified until this call returns. The kernel
            // only reads them (and writes msg_len).
            let r = unsafe {
                libc::sendmmsg(
                    fd,
                    self.msgs.as_mut_ptr().add(sent),
                    (count - sent) as u32,
                    libc::MSG_DONTWAIT,
                )
            };
            if r > 0 {
                let r = r as usize;
                for m in &self.msgs[sent..sent + r] {
                    counters.tx_messages += 1;
                    counters.tx_bytes += u64::from(m.msg_len);
                }
                sent += r;
                retried = false;
                continue;
            }
            let err = io::Error::last_os_error();
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
