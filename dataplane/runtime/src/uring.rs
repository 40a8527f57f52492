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
//! Buffer lifetimes: the buffer ring and its buffers are `mmap`ed by
//! [`ProvidedBuffers`], which is created before the ring and dropped
//! after it; at shutdown every in-flight request is cancelled and the
//! cancellation awaited before anything is freed, and if that cannot be
//! confirmed (or the thread is panicking) the mappings are leaked rather
//! than unmapped under the kernel's feet.

use crate::Service;
use crate::core_thread::{CoreParts, CoreThread, Driver};
use crate::cores::Ready;
use crate::error::RuntimeError;
use crate::net::{SOCKADDR_MAX, drain_error_queue, is_icmp_errno, read_sockaddr, write_sockaddr};
use crate::stats::CoreCounters;
use crate::token::Token;
use io_uring::types::{CancelBuilder, Fd, RecvMsgOut, SubmitArgs, Timespec};
use io_uring::{IoUring, cqueue, opcode, squeue};
use std::io;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// Buffer group id of the core's provided-buffer ring.
const BUFFER_GROUP: u16 = 1;
/// Bytes io_uring puts before the name in a multishot RecvMsg buffer
/// (`struct io_uring_recvmsg_out`: four u32).
const RECVMSG_OUT: usize = 16;
/// Longest sleep without a deadline.
const MAX_SLEEP: Duration = Duration::from_secs(1);
const SQ_ENTRIES: u32 = 512;

fn build_ring(cq_entries: u32) -> io::Result<IoUring> {
    let mut builder = IoUring::builder();
    builder
        .setup_cqsize(cq_entries)
        .setup_submit_all()
        .setup_single_issuer()
        .setup_defer_taskrun();
    match builder.build(SQ_ENTRIES) {
        Ok(ring) => Ok(ring),
        Err(e) => {
            tracing::debug!(error = %e, "io_uring DEFER_TASKRUN refused, trying COOP_TASKRUN");
            let mut builder = IoUring::builder();
            builder
                .setup_cqsize(cq_entries)
                .setup_submit_all()
                .setup_coop_taskrun();
            builder.build(SQ_ENTRIES)
        }
    }
}

pub(crate) fn run<S: Service>(
    parts: CoreParts,
    make_service: impl FnOnce() -> S,
    ready: &mut Ready,
) -> Result<(), RuntimeError> {
    let batch = parts.limits.recv_batch;
    let entries = (batch * 8).next_power_of_two().clamp(64, 4096);
    let buf_size = (RECVMSG_OUT + SOCKADDR_MAX + parts.limits.max_datagram).next_multiple_of(64);
    // Declared before `io` (which owns the ring) so that it is dropped
    // after the ring.
    let mut buffers =
        ProvidedBuffers::new(entries as u16, buf_size).map_err(|source| RuntimeError::Setup {
            what: "mmap of receive buffers",
            source,
        })?;
    let ring = build_ring((entries as u32 * 4).max(4096)).map_err(|source| {
        RuntimeError::IoUringUnavailable {
            what: "io_uring_setup",
            source,
        }
    })?;
    // SAFETY: the ring memory (`entries` BufRing entries, page-aligned)
    // belongs to `buffers`, which outlives the ring (see above) and is
    // leaked when the kernel might still use it.
    unsafe {
        ring.submitter().register_buf_ring_with_flags(
            buffers.ring_addr(),
            entries as u16,
            BUFFER_GROUP,
            0,
        )
    }
    .map_err(|source| RuntimeError::IoUringUnavailable {
        what: "provided buffer ring (kernel 5.19+)",
        source,
    })?;
    if !ring.params().is_feature_ext_arg() {
        return Err(RuntimeError::IoUringUnavailable {
            what: "IORING_FEAT_EXT_ARG (kernel 5.11+)",
            source: io::Error::from(io::ErrorKind::Unsupported),
        });
    }

    // SAFETY: msghdr is plain old data; all-zero is a valid empty header.
    let mut recv_hdr: Box<libc::msghdr> = Box::new(unsafe { mem::zeroed() });
    recv_hdr.msg_namelen = SOCKADDR_MAX as u32;
    let mut io = UringIo {
        ring,
        recv_hdr,
        fds: parts.udp.iter().map(|e| e.socket.as_raw_fd()).collect(),
        slots: Vec::new(),
        free: Vec::new(),
        current: None,
        in_flight_sends: 0,
        failed: Vec::new(),
        extra_syscalls: 0,
    };
    let wake_fd = parts.shared.cores.get(parts.index).map(|c| c.wake.fd());
    let listener_fds: Vec<RawFd> = parts.listeners.iter().map(|l| l.as_raw_fd()).collect();
    let pollin = libc::POLLIN as u32;
    for i in 0..io.fds.len() {
        io.arm_recv(i);
    }
    if let Some(fd) = wake_fd {
        io.arm_poll(fd, Token::Wake, pollin);
    }
    for (i, &fd) in listener_fds.iter().enumerate() {
        io.arm_poll(fd, Token::Listener(i as u32), pollin);
    }
    // Submit the arming now: an unsupported multishot RecvMsg fails at
    // once, before the core reports itself running.
    io.ring
        .submit()
        .map_err(|source| RuntimeError::IoUringUnavailable {
            what: "io_uring_enter",
            source,
        })?;
    let mut cqes: Vec<(u64, i32, u32)> = Vec::with_capacity(4096);
    cqes.extend(
        io.ring
            .completion()
            .map(|e| (e.user_data(), e.result(), e.flags())),
    );
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
            let more = cqueue::more(flags);
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
                    let Some(bid) = cqueue::buffer_select(flags) else {
                        core.counters.errors += 1;
                        continue;
                    };
                    match buffers
                        .get(bid, res as usize)
                        .and_then(|b| RecvMsgOut::parse(b, &io.recv_hdr).ok())
                    {
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
                    buffers.recycle(bid);
                    since_drain += 1;
                    if since_drain >= batch {
                        core.drain(&mut io, now);
                        since_drain = 0;
                    }
                }
                Some(Token::Send(slot)) => io.complete_send(slot, res, &mut core.counters),
                Some(Token::Wake) => {
                    if !more && let Some(fd) = wake_fd {
                        io.arm_poll(fd, Token::Wake, pollin);
                    }
                    if res >= 0 {
                        core.on_wake(&mut io, now);
                    }
                }
                Some(Token::Listener(i)) => {
                    if !more && let Some(&fd) = listener_fds.get(i as usize) {
                        io.arm_poll(fd, Token::Listener(i), pollin);
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
        buffers.publish();
        core.counters.syscalls += mem::take(&mut io.extra_syscalls) + 1;
        core.publish();

        let wait = core
            .next_deadline()
            .map_or(MAX_SLEEP, |t| t.saturating_duration_since(now))
            .min(MAX_SLEEP);
        let timespec = Timespec::new()
            .sec(wait.as_secs())
            .nsec(wait.subsec_nanos());
        let args = SubmitArgs::new().timespec(&timespec);
        let want = io.in_flight_sends as usize + 1;
        match io.ring.submitter().submit_with_args(want, &args) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY)
                ) => {}
            Err(source) => {
                return Err(RuntimeError::CoreFailed {
                    core: core.index,
                    what: "io_uring_enter",
                    source,
                });
            }
        }
        now = Instant::now();
        cqes.clear();
        cqes.extend(
            io.ring
                .completion()
                .map(|e| (e.user_data(), e.result(), e.flags())),
        );
    }
    core.close_all(&mut io);
    if !io.cancel_everything() {
        tracing::warn!(
            core = core.index,
            "io_uring cancellation not confirmed: leaking the receive buffers"
        );
        buffers.leak();
    }
    drop(io);
    drop(buffers);
    Ok(())
}

/// A send slot: everything a `SendMsg` SQE points at, boxed so it never
/// moves while the request is in flight.
struct SendSlot {
    buf: Vec<u8>,
    name: libc::sockaddr_storage,
    iov: libc::iovec,
    msg: libc::msghdr,
    socket: usize,
    dest: SocketAddr,
    retried: bool,
}

/// The ring and the send slots. Field order matters: the ring is dropped
/// first, before the memory its requests point at.
struct UringIo {
    ring: IoUring,
    /// Template for multishot RecvMsg (name length, no control data).
    recv_hdr: Box<libc::msghdr>,
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
    /// Enters made to make room in a full submission queue.
    extra_syscalls: u64,
}

impl UringIo {
    /// Push an SQE, submitting to make room when the queue is full.
    /// False when it could not be queued.
    ///
    /// Callers guarantee every pointer in `entry` stays valid until its
    /// completion is reaped.
    fn push(&mut self, entry: &squeue::Entry) -> bool {
        for _ in 0..4 {
            // SAFETY: the entry's pointers outlive the request (callers'
            // guarantee, see each call site).
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                return true;
            }
            self.extra_syscalls += 1;
            if let Err(e) = self.ring.submit() {
                tracing::debug!(error = %e, "io_uring submit to make room failed");
            }
        }
        false
    }

    fn arm_recv(&mut self, socket: usize) {
        let Some(&fd) = self.fds.get(socket) else {
            return;
        };
        // The header is boxed in `self` and outlives the ring; the kernel
        // copies it when the request is prepared. Buffers come from the
        // provided ring.
        let entry = opcode::RecvMsgMulti::new(Fd(fd), &*self.recv_hdr, BUFFER_GROUP)
            .build()
            .user_data(Token::Recv(socket as u32).encode());
        if !self.push(&entry) {
            tracing::warn!(socket, "cannot arm multishot RecvMsg");
        }
    }

    fn arm_poll(&mut self, fd: RawFd, token: Token, mask: u32) -> bool {
        // A poll request points at nothing but the descriptor.
        let entry = opcode::PollAdd::new(Fd(fd), mask)
            .multi(true)
            .build()
            .user_data(token.encode());
        self.push(&entry)
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
        let namelen = write_sockaddr(slot.dest, &mut slot.name);
        slot.iov = libc::iovec {
            iov_base: slot.buf.as_mut_ptr().cast(),
            iov_len: slot.buf.len(),
        };
        // SAFETY: msghdr is plain old data; all-zero is valid.
        slot.msg = unsafe { mem::zeroed() };
        slot.msg.msg_name = (&mut slot.name as *mut libc::sockaddr_storage).cast();
        slot.msg.msg_namelen = namelen;
        slot.msg.msg_iov = &mut slot.iov;
        slot.msg.msg_iovlen = 1;
        // The slot is boxed (its address is stable), out of the free list
        // and not handed out again until this request's completion is
        // reaped (`complete_send`), so msg, iov, name and buf stay valid
        // and unmodified while the kernel uses them.
        let entry = opcode::SendMsg::new(Fd(fd), &slot.msg)
            .flags(libc::MSG_DONTWAIT as u32)
            .build()
            .user_data(Token::Send(s).encode());
        if self.push(&entry) {
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
    fn cancel_everything(&mut self) -> bool {
        let entry = opcode::AsyncCancel2::new(CancelBuilder::any())
            .build()
            .user_data(Token::Cancel.encode());
        if !self.push(&entry) {
            return false;
        }
        let mut confirmed = false;
        for _ in 0..10 {
            let timespec = Timespec::new().nsec(100_000_000);
            let args = SubmitArgs::new().timespec(&timespec);
            let _ = self.ring.submitter().submit_with_args(1, &args);
            for e in self.ring.completion() {
                if Token::decode(e.user_data()) == Some(Token::Cancel) {
                    confirmed = true;
                }
            }
            if confirmed {
                // One more pass runs the cancelled requests' deferred
                // completions.
                let timespec = Timespec::new().nsec(10_000_000);
                let args = SubmitArgs::new().timespec(&timespec);
                let _ = self.ring.submitter().submit_with_args(1, &args);
                self.ring.completion().for_each(drop);
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
                            name: crate::net::empty_storage(),
                            iov: libc::iovec {
                                iov_base: std::ptr::null_mut(),
                                iov_len: 0,
                            },
                            // SAFETY: msghdr is plain old data; zero is valid.
                            msg: unsafe { mem::zeroed() },
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
        if self.arm_poll(fd, token, mask) {
            Ok(())
        } else {
            Err(io::Error::other("io_uring submission queue full"))
        }
    }

    fn unwatch(&mut self, _fd: RawFd, token: Token) {
        // The poll request holds its own reference to the socket: remove
        // it so the socket is really closed.
        let entry = opcode::PollRemove::new(token.encode())
            .build()
            .user_data(Token::Ignore.encode());
        let _ = self.push(&entry);
    }
}

/// One `io_uring_buf` entry of a provided-buffer ring (the kernel ABI;
/// the `resv` field of entry 0 is the ring's tail).
#[repr(C)]
struct RawBufEntry {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

/// An anonymous memory mapping.
struct Mapping {
    ptr: *mut u8,
    len: usize,
    leaked: bool,
}

impl Mapping {
    fn new(len: usize) -> io::Result<Mapping> {
        // SAFETY: an anonymous private mapping at an address the kernel
        // chooses; nothing else refers to it.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping {
            ptr: ptr.cast(),
            len,
            leaked: false,
        })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.leaked {
            return;
        }
        // SAFETY: `ptr`/`len` describe a mapping made by `Mapping::new`
        // and not unmapped yet; the owner guarantees the kernel no longer
        // uses it (otherwise it is leaked).
        unsafe {
            libc::munmap(self.ptr.cast(), self.len);
        }
    }
}

/// The provided-buffer ring (`IORING_REGISTER_PBUF_RING`) and its
/// buffers: `entries` buffers of `buf_size` bytes, buffer id = index.
struct ProvidedBuffers {
    ring: Mapping,
    data: Mapping,
    entries: u16,
    buf_size: usize,
    /// Our tail (published with `publish`).
    tail: u16,
}

impl ProvidedBuffers {
    fn new(entries: u16, buf_size: usize) -> io::Result<ProvidedBuffers> {
        debug_assert!(entries.is_power_of_two());
        let ring = Mapping::new(usize::from(entries) * mem::size_of::<RawBufEntry>())?;
        let data = Mapping::new(usize::from(entries) * buf_size)?;
        let mut buffers = ProvidedBuffers {
            ring,
            data,
            entries,
            buf_size,
            tail: 0,
        };
        for bid in 0..entries {
            buffers.recycle(bid);
        }
        buffers.publish();
        Ok(buffers)
    }

    fn ring_addr(&self) -> u64 {
        self.ring.ptr as u64
    }

    /// The first `len` bytes of buffer `bid`, which the kernel handed us.
    fn get(&self, bid: u16, len: usize) -> Option<&[u8]> {
        if bid >= self.entries || len > self.buf_size {
            return None;
        }
        // SAFETY: bid < entries and len <= buf_size keep the range inside
        // the data mapping; the kernel gave this buffer to us with the
        // completion and does not write it again before `recycle`.
        Some(unsafe {
            std::slice::from_raw_parts(self.data.ptr.add(usize::from(bid) * self.buf_size), len)
        })
    }

    /// Give buffer `bid` back to the kernel (visible after `publish`).
    fn recycle(&mut self, bid: u16) {
        if bid >= self.entries {
            return;
        }
        let index = usize::from(self.tail & (self.entries - 1));
        // SAFETY: index < entries keeps the entry inside the ring mapping;
        // the slot at our unpublished tail is not read by the kernel (it
        // reads only entries before the published tail), and the three
        // fields written leave `resv` (entry 0's tail) alone.
        unsafe {
            let entry = self.ring.ptr.cast::<RawBufEntry>().add(index);
            std::ptr::addr_of_mut!((*entry).addr)
                .write(self.data.ptr as u64 + (usize::from(bid) * self.buf_size) as u64);
            std::ptr::addr_of_mut!((*entry).len).write(self.buf_size as u32);
            std::ptr::addr_of_mut!((*entry).bid).write(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    /// Publish recycled buffers to the kernel.
    fn publish(&self) {
        // SAFETY: the tail is the u16 at offset 14 of the ring (entry 0's
        // `resv`), inside the mapping and 2-byte aligned (the mapping is
        // page-aligned); the kernel reads it concurrently, so it is
        // written atomically with release ordering (the entries written
        // before must be visible first).
        let tail = unsafe {
            &*(self
                .ring
                .ptr
                .add(mem::offset_of!(RawBufEntry, resv))
                .cast::<AtomicU16>())
        };
        tail.store(self.tail, Ordering::Release);
    }

    /// Never unmap: the kernel may still write into these buffers.
    fn leak(&mut self) {
        self.ring.leaked = true;
        self.data.leaked = true;
    }
}

impl Drop for ProvidedBuffers {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Unwinding skipped the cancellation: requests may be live.
            self.leak();
        }
    }
}
