//! The io_uring backend.
//!
//! Per core: one ring (`SINGLE_ISSUER | DEFER_TASKRUN`, falling back to
//! `COOP_TASKRUN`), one provided-buffer ring shared by the core's UDP
//! sockets, one multishot `RecvMsg` per UDP socket (re-armed only when the
//! kernel ends it: buffer ring empty, error), multishot `PollAdd` for the
//! eventfd, the TCP listeners and connections.
//!
//! One loop iteration = one `io_uring_enter`: it submits the iteration's
//! SQEs (UDP sends, re-arms) and waits for `sends + 1` completions with a
//! timeout at the service's next deadline. UDP sends carry
//! `MSG_DONTWAIT`, so io_uring completes each one inline during that very
//! enter (sent, or `-EAGAIN` = dropped) instead of parking it: the wait
//! therefore really waits for one *input*, and a send slot (buffer,
//! `msghdr`, `iovec`, address — boxed, never moved) is reusable as soon as
//! its completion is reaped.
//!
//! The ring, its provided buffers and the SQE plumbing are
//! [`crate::ring`]'s, shared with the media backend.

use crate::Service;
use crate::core_thread::{CoreParts, CoreThread, Driver};
use crate::cores::Ready;
use crate::error::RuntimeError;
use crate::net::{SOCKADDR_MAX, drain_error_queue, is_icmp_errno, read_sockaddr};
use crate::ring::{self, Cqe, RECVMSG_OUT, Ring, RingSpec, SendHeader};
use crate::stats::CoreCounters;
use crate::token::Token;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

/// Buffer group id of the core's provided-buffer ring.
const BUFFER_GROUP: u16 = 1;
const SQ_ENTRIES: u32 = 512;

pub(crate) fn run<S: Service>(
    parts: CoreParts,
    make_service: impl FnOnce() -> S,
    ready: &mut Ready,
) -> Result<(), RuntimeError> {
    let batch = parts.limits.recv_batch;
    let entries = (batch * 8).next_power_of_two().clamp(64, 4096);
    let buf_size = (RECVMSG_OUT + SOCKADDR_MAX + parts.limits.max_datagram).next_multiple_of(64);
    let ring = Ring::new(&RingSpec {
        sq_entries: SQ_ENTRIES,
        cq_entries: (entries as u32 * 4).max(4096),
        buffers: entries as u16,
        buffer_size: buf_size,
        fill: buf_size,
        group: BUFFER_GROUP,
        mmap_what: "mmap of receive buffers",
    })?;
    let mut io = UringIo {
        ring,
        fds: parts.udp.iter().map(|e| e.socket.as_raw_fd()).collect(),
        slots: Vec::new(),
        free: Vec::new(),
        current: None,
        in_flight_sends: 0,
        failed: Vec::new(),
    };
    let wake_fd = parts.shared.cores.get(parts.index).map(|c| c.wake.fd());
    let listener_fds: Vec<RawFd> = parts.listeners.iter().map(|l| l.as_raw_fd()).collect();
    let pollin = libc::POLLIN as u32;
    for i in 0..io.fds.len() {
        io.arm_recv(i);
    }
    if let Some(fd) = wake_fd {
        io.ring.arm_poll(fd, Token::Wake.encode(), pollin);
    }
    for (i, &fd) in listener_fds.iter().enumerate() {
        io.ring
            .arm_poll(fd, Token::Listener(i as u32).encode(), pollin);
    }
    // Submit the arming now: an unsupported multishot RecvMsg fails at
    // once, before the core reports itself running.
    io.ring
        .submit()
        .map_err(|source| RuntimeError::IoUringUnavailable {
            what: "io_uring_enter",
            source,
        })?;
    let mut cqes: Vec<Cqe> = Vec::with_capacity(4096);
    io.ring.reap(&mut cqes);
    if cqes.iter().any(|&(data, res, _)| {
        matches!(Token::decode(data), Some(Token::Recv(_))) && res == -libc::EINVAL
    }) {
        return Err(RuntimeError::IoUringUnavailable {
            what: "multishot RecvMsg (kernel 6.0+)",
            source: io::Error::from_raw_os_error(libc::EINVAL),
        });
    }

    let mut core = CoreThread::new(parts, make_service());
    ready.ok();

    let mut recv_armed = vec![true; io.fds.len()];
    let mut now = Instant::now();
    loop {
        // Completions reaped at start-up or in the last iteration.
        if !cqes.is_empty() {
            core.counters.batches += 1;
        }
        let mut since_drain = 0;
        for &(data, res, flags) in &cqes {
            let more = ring::more(flags);
            match Token::decode(data) {
                Some(Token::Recv(i)) => {
                    let i = i as usize;
                    if !more && let Some(armed) = recv_armed.get_mut(i) {
                        *armed = false;
                    }
                    if res < 0 {
                        match -res {
                            // Buffer ring ran dry: the datagrams wait in
                            // the socket until the re-arm below.
                            libc::ENOBUFS | libc::ECANCELED => {}
                            e if is_icmp_errno(e) => core.udp_error_queue(i),
                            e => {
                                tracing::debug!(errno = e, "multishot RecvMsg failed");
                                core.counters.errors += 1;
                            }
                        }
                        continue;
                    }
                    let Some(bid) = ring::buffer_id(flags) else {
                        core.counters.errors += 1;
                        continue;
                    };
                    match io.ring.received(bid, res) {
                        Some(msg)
                            if !msg.is_payload_truncated() && !msg.is_name_data_truncated() =>
                        {
                            match read_sockaddr(msg.name_data()) {
                                Some(from) => core.deliver_udp(msg.payload_data(), from, now),
                                None => core.counters.errors += 1,
                            }
                        }
                        _ => core.counters.errors += 1,
                    }
                    io.ring.buffers.recycle(bid);
                    since_drain += 1;
                    if since_drain >= batch {
                        core.drain(&mut io, now);
                        since_drain = 0;
                    }
                }
                Some(Token::Send(slot)) => io.complete_send(slot, res, &mut core.counters),
                Some(Token::Wake) => {
                    if !more && let Some(fd) = wake_fd {
                        io.ring.arm_poll(fd, Token::Wake.encode(), pollin);
                    }
                    if res >= 0 {
                        core.on_wake(&mut io, now);
                    }
                }
                Some(Token::Listener(i)) => {
                    if !more && let Some(&fd) = listener_fds.get(i as usize) {
                        io.ring.arm_poll(fd, Token::Listener(i).encode(), pollin);
                    }
                    if res >= 0 {
                        core.on_accept(i as usize, &mut io, now);
                    }
                }
                Some(token @ Token::Conn { index, generation }) => {
                    if res >= 0 {
                        let mask = res as u32;
                        let readable = mask
                            & (libc::POLLIN | libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR)
                                as u32
                            != 0;
                        let writable = mask & libc::POLLOUT as u32 != 0;
                        let failed = mask & (libc::POLLERR | libc::POLLHUP) as u32 != 0;
                        core.on_conn_event(
                            index, generation, readable, writable, failed, &mut io, now,
                        );
                        core.drain(&mut io, now);
                    }
                    if !more
                        && res != -libc::ECANCELED
                        && let Some(fd) = core.conn_fd(index, generation)
                    {
                        let _ = io.watch(fd, token);
                    }
                }
                _ => {}
            }
        }
        if core.shared.is_shutting_down() {
            break;
        }
        core.run_timers(now);
        core.sweep_idle(&mut io, now);
        core.drain(&mut io, now);
        core.flush_tcp(&mut io, now);
        for (i, armed) in recv_armed.iter_mut().enumerate() {
            if !*armed {
                io.arm_recv(i);
                *armed = true;
            }
        }
        io.ring.buffers.publish();
        core.counters.syscalls += io.ring.take_extra_syscalls() + 1;
        core.publish();

        let want = io.in_flight_sends as usize + 1;
        io.ring
            .enter(want, core.next_deadline(), now)
            .map_err(|source| RuntimeError::CoreFailed {
                core: core.index,
                what: "io_uring_enter",
                source,
            })?;
        now = Instant::now();
        io.ring.reap(&mut cqes);
    }
    core.close_all(&mut io);
    if !io.cancel_everything() {
        tracing::warn!(
            core = core.index,
            "io_uring cancellation not confirmed: leaking the receive buffers"
        );
        io.ring.buffers.leak();
    }
    // The ring and its buffers go before the sockets (in `core`) close.
    drop(io);
    Ok(())
}

/// A send slot: the payload and its `SendMsg` header, boxed so it never
/// moves while the request is in flight.
struct SendSlot {
    buf: Vec<u8>,
    header: SendHeader,
    socket: usize,
    dest: SocketAddr,
    retried: bool,
}

/// The ring and the send slots.
struct UringIo {
    ring: Ring,
    /// UDP socket descriptors, by socket index.
    fds: Vec<RawFd>,
    /// Boxed: an in-flight request points into its slot, which must not
    /// move when the vector grows.
    #[allow(clippy::vec_box)]
    slots: Vec<Box<SendSlot>>,
    free: Vec<u32>,
    /// The slot handed out by `transmit_buffer`, not yet queued.
    current: Option<u32>,
    /// SendMsg SQEs pushed whose completion is not reaped yet.
    in_flight_sends: u32,
    /// Destinations ICMP errors were read for while sending.
    failed: Vec<SocketAddr>,
}

impl UringIo {
    fn arm_recv(&mut self, socket: usize) {
        let Some(&fd) = self.fds.get(socket) else {
            return;
        };
        if !self.ring.arm_recv(fd, Token::Recv(socket as u32).encode()) {
            tracing::warn!(socket, "cannot arm multishot RecvMsg");
        }
    }

    /// Queue slot `s` (buffer filled, socket and destination set).
    fn submit_send(&mut self, s: u32, counters: &mut CoreCounters) {
        let Some(slot) = self.slots.get_mut(s as usize) else {
            return;
        };
        let Some(&fd) = self.fds.get(slot.socket) else {
            counters.errors += 1;
            self.free.push(s);
            return;
        };
        let slot = &mut **slot;
        slot.header
            .prepare(slot.buf.as_mut_ptr(), slot.buf.len(), slot.dest);
        // The slot is boxed (its address is stable), out of the free list
        // and not handed out again until this request's completion is
        // reaped (`complete_send`), so header, iovec, name and buf stay
        // valid and unmodified while the kernel uses them.
        if self.ring.send(fd, &slot.header, Token::Send(s).encode()) {
            self.in_flight_sends += 1;
        } else {
            counters.dropped += 1;
            self.free.push(s);
        }
    }

    fn complete_send(&mut self, s: u32, res: i32, counters: &mut CoreCounters) {
        self.in_flight_sends = self.in_flight_sends.saturating_sub(1);
        let Some(slot) = self.slots.get_mut(s as usize) else {
            return;
        };
        if res >= 0 {
            counters.tx_messages += 1;
            counters.tx_bytes += res as u64;
            self.free.push(s);
            return;
        }
        let errno = -res;
        if errno == libc::EAGAIN {
            counters.dropped += 1;
        } else if is_icmp_errno(errno) && !slot.retried {
            // A pending ICMP error was returned instead of sending: read
            // the error queue, then send the same datagram again.
            slot.retried = true;
            if let Some(&fd) = self.fds.get(slot.socket) {
                let failed = &mut self.failed;
                counters.syscalls += drain_error_queue(fd, |a| failed.push(a));
            }
            self.submit_send(s, counters);
            return;
        } else {
            tracing::debug!(errno, "UDP SendMsg failed");
            counters.errors += 1;
        }
        self.free.push(s);
    }

    /// Cancel every in-flight request and wait for the cancellation;
    /// true when it was confirmed.
    ///
    /// Unlike the media backend, this does not track each request's end:
    /// the SIP core's requests are few and owned by the ring, so the
    /// cancellation's own completion plus one more pass (for the
    /// cancelled requests' deferred completions) is taken as the end.
    fn cancel_everything(&mut self) -> bool {
        if !self.ring.cancel_all(Token::Cancel.encode()) {
            return false;
        }
        let mut cqes = Vec::new();
        for _ in 0..10 {
            let _ = self.ring.wait(1, Duration::from_millis(100));
            self.ring.reap(&mut cqes);
            if cqes
                .iter()
                .any(|&(data, _, _)| Token::decode(data) == Some(Token::Cancel))
            {
                let _ = self.ring.wait(1, Duration::from_millis(10));
                self.ring.reap(&mut cqes);
                return true;
            }
        }
        false
    }
}

impl Driver for UringIo {
    fn transmit_buffer(&mut self) -> &mut Vec<u8> {
        let s = match self.current {
            Some(s) => s,
            None => {
                let s = match self.free.pop() {
                    Some(s) => s,
                    None => {
                        self.slots.push(Box::new(SendSlot {
                            buf: Vec::with_capacity(2048),
                            header: SendHeader::new(),
                            socket: 0,
                            dest: SocketAddr::from(([0, 0, 0, 0], 0)),
                            retried: false,
                        }));
                        (self.slots.len() - 1) as u32
                    }
                };
                self.current = Some(s);
                s
            }
        };
        &mut self.slots[s as usize].buf
    }

    fn queue_udp(&mut self, socket: usize, dest: SocketAddr, counters: &mut CoreCounters) {
        let Some(s) = self.current.take() else {
            return;
        };
        if let Some(slot) = self.slots.get_mut(s as usize) {
            slot.socket = socket;
            slot.dest = dest;
            slot.retried = false;
        }
        self.submit_send(s, counters);
    }

    fn take_udp_errors(&mut self, into: &mut Vec<SocketAddr>) {
        into.append(&mut self.failed);
    }

    fn watch(&mut self, fd: RawFd, token: Token) -> io::Result<()> {
        let mask = (libc::POLLIN | libc::POLLOUT | libc::POLLRDHUP) as u32;
        if self.ring.arm_poll(fd, token.encode(), mask) {
            Ok(())
        } else {
            Err(io::Error::other("io_uring submission queue full"))
        }
    }

    fn unwatch(&mut self, _fd: RawFd, token: Token) {
        // The poll request holds its own reference to the socket: remove
        // it so the socket is really closed.
        let _ = self
            .ring
            .remove_poll(token.encode(), Token::Ignore.encode());
    }
}
