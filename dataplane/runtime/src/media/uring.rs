//! The io_uring media backend.
//!
//! Per core: one ring (`SINGLE_ISSUER | DEFER_TASKRUN`, falling back to
//! `COOP_TASKRUN`), one provided-buffer ring shared by all of the core's
//! sockets, one multishot `RecvMsg` per socket (re-armed only when the
//! kernel ends it: buffer ring empty...), a multishot `PollAdd` on the
//! core's eventfd.
//!
//! **Forward in place.** A received datagram stays in its provided buffer:
//! the service rewrites it there, and a `SendMsg` SQE (`MSG_DONTWAIT`, so
//! it completes inline during the enter that submits it) sends it from
//! the forwarding socket. Each buffer id has its own preallocated
//! `msghdr`/`iovec`/address (a buffer is in at most one send), so nothing
//! is built or allocated per packet. The buffer returns to the ring when
//! the send's completion is reaped.
//!
//! **One enter per iteration** submits the iteration's sends and re-arms
//! and waits for `sends + 1` completions (the sends complete inline, the
//! one more is the next input) with a timeout at the service's deadline.
//!
//! **Closing a port** cancels its multishot receive; the socket is closed
//! (and its slot reused) only after the receive's last completion, and
//! always after an enter, so an SQE queued earlier in the iteration never
//! refers to a closed (or reused) descriptor.
//!
//! Buffer lifetimes: the buffer ring and its buffers are `mmap`ed by
//! [`ProvidedBuffers`], created before the ring and dropped after it; at
//! shutdown every request is cancelled and the cancellation awaited before
//! anything is freed (leaked if that cannot be confirmed).

use super::core::{MediaCore, MediaToken, PortIo, SlotState, bind_media};
use super::runtime::MediaCoreParts;
use super::{DatagramAction, DatagramService};
use crate::cores::Ready;
use crate::error::RuntimeError;
use crate::net::{self, SOCKADDR_MAX, write_sockaddr};
use io_uring::types::{CancelBuilder, Fd, RecvMsgOut, SubmitArgs, Timespec};
use io_uring::{IoUring, cqueue, opcode, squeue};
use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// Buffer group id of the core's provided-buffer ring.
const BUFFER_GROUP: u16 = 7;
/// Bytes io_uring puts before the name in a multishot RecvMsg buffer.
const RECVMSG_OUT: usize = 16;
/// Where the payload starts in a buffer: header, then the name area.
const PAYLOAD_OFFSET: usize = RECVMSG_OUT + SOCKADDR_MAX;
/// Longest sleep without a deadline.
const MAX_SLEEP: Duration = Duration::from_secs(1);

fn build_ring(sq_entries: u32, cq_entries: u32) -> io::Result<IoUring> {
    let mut builder = IoUring::builder();
    builder
        .setup_cqsize(cq_entries)
        .setup_submit_all()
        .setup_single_issuer()
        .setup_defer_taskrun();
    match builder.build(sq_entries) {
        Ok(ring) => Ok(ring),
        Err(e) => {
            tracing::debug!(error = %e, "io_uring DEFER_TASKRUN refused, trying COOP_TASKRUN");
            let mut builder = IoUring::builder();
            builder
                .setup_cqsize(cq_entries)
                .setup_submit_all()
                .setup_coop_taskrun();
            builder.build(sq_entries)
        }
    }
}

pub(crate) fn run<S: DatagramService>(
    parts: MediaCoreParts<S>,
    make_service: impl FnOnce() -> S,
    ready: &mut Ready,
) -> Result<(), RuntimeError> {
    let config = parts.config.clone();
    let count = config.buffers;
    let batch = config.recv_batch.clamp(1, 1024);
    let unavailable = |what| move |source| RuntimeError::IoUringUnavailable { what, source };
    // Declared before `io` (which owns the ring): dropped after it.
    let mut buffers = ProvidedBuffers::new(
        count as u16,
        config.buffer_size,
        config.buffer_size - config.trailer_room,
    )
    .map_err(|source| RuntimeError::Setup {
        what: "mmap of media buffers",
        source,
    })?;
    let sq = (count as u32).clamp(256, 4096);
    let ring =
        build_ring(sq, (count as u32 * 4).max(4096)).map_err(unavailable("io_uring_setup"))?;
    // SAFETY: the ring memory (`count` entries, page-aligned) belongs to
    // `buffers`, which outlives the ring (declared first, dropped last)
    // and is leaked when the kernel might still use it.
    unsafe {
        ring.submitter().register_buf_ring_with_flags(
            buffers.ring_addr(),
            count as u16,
            BUFFER_GROUP,
            0,
        )
    }
    .map_err(unavailable("provided buffer ring (kernel 5.19+)"))?;
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
        forwards: ForwardHeaders::new(count, &buffers),
        tx: Vec::new(),
        tx_free: Vec::new(),
        armed: Vec::new(),
        rearm: Vec::with_capacity(1024),
        to_close: Vec::new(),
        in_flight: 0,
        extra_syscalls: 0,
    };
    probe_multishot(&mut io)?;
    let wake_fd = parts.shared.cores.get(parts.ctx.core).map(|c| c.wake.fd());
    let pollin = libc::POLLIN as u32;
    if let Some(fd) = wake_fd {
        io.arm_poll(fd, MediaToken::Wake, pollin);
    }
    let mut core = MediaCore::new(
        make_service(),
        parts.ctx.core,
        parts.shared.clone(),
        config.interface,
        config.socket_buffer,
    );
    core.apply_port_changes(&mut io);
    ready.ok();

    let mut cqes: Vec<(u64, i32, u32)> = Vec::with_capacity(8192);
    let mut closing: Vec<(u32, u32)> = Vec::new();
    let mut rearming: Vec<(u32, u32)> = Vec::with_capacity(1024);
    let mut now = Instant::now();
    loop {
        if !cqes.is_empty() {
            core.counters.batches += 1;
        }
        let mut since_drain = 0;
        for &(data, res, flags) in &cqes {
            match MediaToken::decode(data) {
                Some(MediaToken::Port { slot, generation }) => {
                    io.on_recv(&mut core, &mut buffers, slot, generation, res, flags, now);
                    since_drain += 1;
                    if since_drain >= batch {
                        io.drain_service(&mut core);
                        since_drain = 0;
                    }
                }
                Some(MediaToken::Forward(bid)) => {
                    io.in_flight = io.in_flight.saturating_sub(1);
                    count_send(&mut core, res, false);
                    buffers.recycle(bid as u16);
                }
                Some(MediaToken::Transmit(s)) => {
                    io.in_flight = io.in_flight.saturating_sub(1);
                    count_send(&mut core, res, true);
                    io.tx_free.push(s);
                }
                Some(MediaToken::Wake) => {
                    if !cqueue::more(flags)
                        && let Some(fd) = wake_fd
                    {
                        io.arm_poll(fd, MediaToken::Wake, pollin);
                    }
                    if res >= 0 {
                        core.run_commands(&mut io);
                        io.drain_service(&mut core);
                    }
                }
                _ => {}
            }
        }
        if core.shared.is_shutting_down() {
            break;
        }
        core.run_timers(now);
        io.drain_service(&mut core);
        mem::swap(&mut rearming, &mut io.rearm);
        for (slot, generation) in rearming.drain(..) {
            if let Some((_, fd)) = core.ports.live(slot, generation) {
                core.counters.rearms += 1;
                io.arm_recv(slot, generation, fd);
            }
        }
        buffers.publish();
        core.counters.syscalls += mem::take(&mut io.extra_syscalls) + 1;
        core.publish();

        let wait = core
            .service
            .poll_timeout()
            .map_or(MAX_SLEEP, |t| t.saturating_duration_since(now))
            .min(MAX_SLEEP);
        let timespec = Timespec::new()
            .sec(wait.as_secs())
            .nsec(wait.subsec_nanos());
        let args = SubmitArgs::new().timespec(&timespec);
        let want = io.in_flight as usize + 1;
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
        // Sockets whose receive ended: once every SQE that named them has
        // been submitted (the kernel then holds its own reference to the
        // file), they can be closed. (An enter refused with EBUSY leaves
        // the queue full: wait for the next one.)
        if io.ring.submission().is_empty() {
            mem::swap(&mut closing, &mut io.to_close);
        }
        for (slot, generation) in closing.drain(..) {
            match core.ports.get(slot, generation).map(|s| (s.state, s.fd)) {
                Some((SlotState::Closing, _)) => core.finish_close(slot, generation),
                // Opened again while closing, and its receive has ended.
                Some((SlotState::Open, fd)) if !io.is_armed(slot) => {
                    io.arm_recv(slot, generation, fd);
                }
                _ => {}
            }
        }
        cqes.clear();
        cqes.extend(
            io.ring
                .completion()
                .map(|e| (e.user_data(), e.result(), e.flags())),
        );
    }
    let confirmed = io.cancel_everything();
    drop(io);
    core.close_all();
    if !confirmed {
        tracing::warn!(
            core = core.index,
            "io_uring cancellation not confirmed: leaking the media buffers"
        );
        buffers.leak();
    }
    drop(buffers);
    Ok(())
}

fn count_send<S>(core: &mut MediaCore<S>, res: i32, transmit: bool) {
    if res >= 0 {
        if transmit {
            core.counters.transmitted += 1;
        } else {
            core.counters.forwarded += 1;
            core.counters.forwarded_bytes += res as u64;
        }
    } else if res == -libc::EAGAIN || res == -libc::ENOBUFS {
        core.counters.send_dropped += 1;
    } else {
        core.counters.errors += 1;
    }
}

/// Check that multishot RecvMsg works (kernel 6.0+) on a throw-away
/// loopback socket, before the core reports itself running.
fn probe_multishot(io: &mut UringIo) -> Result<(), RuntimeError> {
    let unavailable = |what| move |source| RuntimeError::IoUringUnavailable { what, source };
    let socket = bind_media(IpAddr::V4(Ipv4Addr::LOCALHOST), 0, 0).map_err(|source| {
        RuntimeError::Setup {
            what: "media probe socket",
            source,
        }
    })?;
    let probe = MediaToken::Port {
        slot: 0,
        generation: 0,
    };
    let entry = opcode::RecvMsgMulti::new(Fd(socket.as_raw_fd()), &*io.recv_hdr, BUFFER_GROUP)
        .build()
        .user_data(probe.encode());
    let cancel = opcode::AsyncCancel::new(probe.encode())
        .build()
        .user_data(MediaToken::Ignore.encode());
    if !io.push(&entry) || !io.push(&cancel) {
        return Err(RuntimeError::Config("io_uring submission queue too small"));
    }
    let mut ended = None;
    for _ in 0..10 {
        let timespec = Timespec::new().nsec(100_000_000);
        let args = SubmitArgs::new().timespec(&timespec);
        match io.ring.submitter().submit_with_args(1, &args) {
            Ok(_) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME) | Some(libc::EINTR)) => {}
            Err(source) => return Err(unavailable("io_uring_enter")(source)),
        }
        for e in io.ring.completion() {
            if e.user_data() == probe.encode() && !cqueue::more(e.flags()) {
                ended = Some(e.result());
            }
        }
        if ended.is_some() {
            break;
        }
    }
    match ended {
        Some(res) if res == -libc::EINVAL => Err(RuntimeError::IoUringUnavailable {
            what: "multishot RecvMsg (kernel 6.0+)",
            source: io::Error::from_raw_os_error(libc::EINVAL),
        }),
        Some(_) => Ok(()),
        None => Err(RuntimeError::IoUringUnavailable {
            what: "multishot RecvMsg cancellation",
            source: io::Error::from(io::ErrorKind::TimedOut),
        }),
    }
}

/// The `sendmsg` header of a forward out of one provided buffer: points at
/// its own `iovec` and address (stable: they live in a boxed slice that
/// never moves) and at the buffer's payload.
struct ForwardHeader {
    msg: libc::msghdr,
    iov: libc::iovec,
    name: libc::sockaddr_storage,
}

/// One [`ForwardHeader`] per buffer id.
struct ForwardHeaders(Box<[ForwardHeader]>);

impl ForwardHeaders {
    fn new(count: usize, buffers: &ProvidedBuffers) -> ForwardHeaders {
        let mut headers: Box<[ForwardHeader]> = (0..count)
            .map(|_| ForwardHeader {
                // SAFETY: msghdr is plain old data; all-zero is valid.
                msg: unsafe { mem::zeroed() },
                iov: libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                },
                name: net::empty_storage(),
            })
            .collect();
        for (bid, h) in headers.iter_mut().enumerate() {
            h.iov.iov_base = buffers.payload_ptr(bid as u16).cast();
            h.msg.msg_iov = &mut h.iov;
            h.msg.msg_iovlen = 1;
            h.msg.msg_name = (&mut h.name as *mut libc::sockaddr_storage).cast();
        }
        ForwardHeaders(headers)
    }
}

/// A `poll_transmit` send: buffer and header, boxed so they never move
/// while the request is in flight.
struct TxSlot {
    buf: Vec<u8>,
    msg: libc::msghdr,
    iov: libc::iovec,
    name: libc::sockaddr_storage,
}

/// The ring and what its requests point at. Field order matters: the ring
/// is dropped first.
struct UringIo {
    ring: IoUring,
    /// Template for multishot RecvMsg (name length, no control data).
    recv_hdr: Box<libc::msghdr>,
    forwards: ForwardHeaders,
    #[allow(clippy::vec_box)]
    tx: Vec<Box<TxSlot>>,
    tx_free: Vec<u32>,
    /// Whether slot `i`'s multishot receive is live.
    armed: Vec<bool>,
    /// Receives the kernel ended (slot, generation), re-armed at the end
    /// of the iteration.
    rearm: Vec<(u32, u32)>,
    /// Slots whose socket can be closed after the next enter.
    to_close: Vec<(u32, u32)>,
    /// Send SQEs whose completion is not reaped yet.
    in_flight: u32,
    /// Enters made to make room in a full submission queue.
    extra_syscalls: u64,
}

impl PortIo for UringIo {
    fn arm(&mut self, slot: u32, generation: u32, fd: RawFd) -> io::Result<()> {
        if self.arm_recv(slot, generation, fd) {
            Ok(())
        } else {
            Err(io::Error::other("io_uring submission queue full"))
        }
    }

    fn disarm(&mut self, slot: u32, generation: u32, _fd: RawFd) -> bool {
        if self.is_armed(slot) {
            // The receive's last completion (ECANCELED) closes the socket.
            let target = MediaToken::Port { slot, generation }.encode();
            let entry = opcode::AsyncCancel::new(target)
                .build()
                .user_data(MediaToken::Ignore.encode());
            if self.push(&entry) {
                return false;
            }
        }
        // Not receiving (or the cancel could not be queued: the receive
        // then ends when the socket closes): close after the next enter.
        self.to_close.push((slot, generation));
        false
    }
}

impl UringIo {
    /// Push an SQE, submitting to make room when the queue is full. False
    /// when it could not be queued.
    ///
    /// Callers guarantee every pointer in `entry` stays valid and unmoved
    /// until its completion is reaped.
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

    fn arm_recv(&mut self, slot: u32, generation: u32, fd: RawFd) -> bool {
        // The header is boxed in `self` and outlives the ring (the kernel
        // copies it when the request is prepared); buffers come from the
        // provided ring.
        let entry = opcode::RecvMsgMulti::new(Fd(fd), &*self.recv_hdr, BUFFER_GROUP)
            .build()
            .user_data(MediaToken::Port { slot, generation }.encode());
        let ok = self.push(&entry);
        let i = slot as usize;
        if i >= self.armed.len() {
            self.armed.resize(i + 1, false);
        }
        self.armed[i] = ok;
        ok
    }

    fn is_armed(&self, slot: u32) -> bool {
        self.armed.get(slot as usize).copied().unwrap_or(false)
    }

    fn arm_poll(&mut self, fd: RawFd, token: MediaToken, mask: u32) -> bool {
        // A poll request points at nothing but the descriptor.
        let entry = opcode::PollAdd::new(Fd(fd), mask)
            .multi(true)
            .build()
            .user_data(token.encode());
        self.push(&entry)
    }

    /// A completion of slot `slot`'s multishot receive.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn on_recv<S: DatagramService>(
        &mut self,
        core: &mut MediaCore<S>,
        buffers: &mut ProvidedBuffers,
        slot: u32,
        generation: u32,
        res: i32,
        flags: u32,
        now: Instant,
    ) {
        let state = core.ports.get(slot, generation).map(|s| (s.state, s.port));
        if !cqueue::more(flags) && state.is_some() {
            if let Some(a) = self.armed.get_mut(slot as usize) {
                *a = false;
            }
            match state {
                Some((SlotState::Open, _)) => self.rearm.push((slot, generation)),
                Some((SlotState::Closing, _)) => self.to_close.push((slot, generation)),
                _ => {}
            }
        }
        if res < 0 {
            match -res {
                // Buffer ring ran dry: datagrams wait in the socket until
                // the re-arm. ECANCELED: the port is closing.
                libc::ENOBUFS | libc::ECANCELED => {}
                e => {
                    tracing::debug!(errno = e, "media multishot RecvMsg failed");
                    core.counters.errors += 1;
                }
            }
            return;
        }
        let Some(bid) = cqueue::buffer_select(flags) else {
            core.counters.errors += 1;
            return;
        };
        let Some((SlotState::Open, port)) = state else {
            // A datagram for a closing port.
            buffers.recycle(bid);
            return;
        };
        let parsed = buffers
            .get(bid, res as usize)
            .and_then(|b| RecvMsgOut::parse(b, &self.recv_hdr).ok())
            .map(|m| {
                (
                    m.is_payload_truncated() || m.is_name_data_truncated(),
                    net::read_sockaddr(m.name_data()),
                    m.payload_data().len(),
                )
            });
        let (src, len) = match parsed {
            Some((false, Some(src), len)) => (src, len),
            Some((true, _, _)) => {
                core.counters.truncated += 1;
                buffers.recycle(bid);
                return;
            }
            _ => {
                core.counters.errors += 1;
                buffers.recycle(bid);
                return;
            }
        };
        core.counters.rx_packets += 1;
        core.counters.rx_bytes += len as u64;
        let buf = buffers.payload_mut(bid);
        let room = buf.len();
        match core.service.on_datagram(port, src, buf, len, now) {
            DatagramAction::Forward { from_port, to, len } => match core.ports.open_fd(from_port) {
                Some((_, _, fd)) => self.forward(core, buffers, bid, fd, to, len.min(room)),
                None => {
                    core.counters.bad_port += 1;
                    buffers.recycle(bid);
                }
            },
            DatagramAction::Drop => {
                core.counters.dropped += 1;
                buffers.recycle(bid);
            }
        }
    }

    /// Send buffer `bid`'s payload (`len` bytes) from `fd` to `to`.
    #[inline]
    fn forward<S>(
        &mut self,
        core: &mut MediaCore<S>,
        buffers: &mut ProvidedBuffers,
        bid: u16,
        fd: RawFd,
        to: SocketAddr,
        len: usize,
    ) {
        let Some(h) = self.forwards.0.get_mut(usize::from(bid)) else {
            buffers.recycle(bid);
            return;
        };
        h.msg.msg_namelen = write_sockaddr(to, &mut h.name);
        h.iov.iov_len = len;
        // The header lives in a boxed slice (stable address) and points at
        // its own iovec and name and at buffer `bid`, which we own until
        // this send's completion is reaped (then it is recycled): nothing
        // the request refers to moves or changes while it is in flight.
        let entry = opcode::SendMsg::new(Fd(fd), &h.msg)
            .flags(libc::MSG_DONTWAIT as u32)
            .build()
            .user_data(MediaToken::Forward(u32::from(bid)).encode());
        if self.push(&entry) {
            self.in_flight += 1;
        } else {
            core.counters.send_dropped += 1;
            buffers.recycle(bid);
        }
    }

    /// Port changes and extra datagrams the service has.
    fn drain_service<S: DatagramService>(&mut self, core: &mut MediaCore<S>) {
        core.apply_port_changes(self);
        loop {
            let s = match self.tx_free.pop() {
                Some(s) => s,
                None => {
                    self.tx.push(Box::new(TxSlot {
                        buf: Vec::with_capacity(2048),
                        // SAFETY: msghdr is plain old data; zero is valid.
                        msg: unsafe { mem::zeroed() },
                        iov: libc::iovec {
                            iov_base: std::ptr::null_mut(),
                            iov_len: 0,
                        },
                        name: net::empty_storage(),
                    }));
                    (self.tx.len() - 1) as u32
                }
            };
            let slot = &mut *self.tx[s as usize];
            slot.buf.clear();
            let Some((from_port, to)) = core.service.poll_transmit(&mut slot.buf) else {
                self.tx_free.push(s);
                break;
            };
            let Some((_, _, fd)) = core.ports.open_fd(from_port) else {
                core.counters.bad_port += 1;
                self.tx_free.push(s);
                continue;
            };
            slot.msg.msg_namelen = write_sockaddr(to, &mut slot.name);
            slot.iov = libc::iovec {
                iov_base: slot.buf.as_mut_ptr().cast(),
                iov_len: slot.buf.len(),
            };
            slot.msg.msg_name = (&mut slot.name as *mut libc::sockaddr_storage).cast();
            slot.msg.msg_iov = &mut slot.iov;
            slot.msg.msg_iovlen = 1;
            // The slot is boxed (stable address) and off the free list
            // until this request's completion is reaped, so its header,
            // iovec, name and buffer stay valid and unchanged meanwhile.
            let entry = opcode::SendMsg::new(Fd(fd), &slot.msg)
                .flags(libc::MSG_DONTWAIT as u32)
                .build()
                .user_data(MediaToken::Transmit(s).encode());
            if self.push(&entry) {
                self.in_flight += 1;
            } else {
                core.counters.send_dropped += 1;
                self.tx_free.push(s);
            }
        }
        core.apply_port_changes(self);
    }

    /// Cancel every in-flight request and wait until each has ended (its
    /// last completion reaped: the kernel then holds no reference to its
    /// socket or buffer); true when that was confirmed.
    fn cancel_everything(&mut self) -> bool {
        let entry = opcode::AsyncCancel2::new(CancelBuilder::any())
            .build()
            .user_data(MediaToken::Shutdown.encode());
        if !self.push(&entry) {
            return false;
        }
        let mut confirmed = false;
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            let timespec = Timespec::new().nsec(20_000_000);
            let args = SubmitArgs::new().timespec(&timespec);
            let _ = self.ring.submitter().submit_with_args(1, &args);
            for e in self.ring.completion() {
                match MediaToken::decode(e.user_data()) {
                    Some(MediaToken::Shutdown) => confirmed = true,
                    Some(MediaToken::Port { slot, .. }) if !cqueue::more(e.flags()) => {
                        if let Some(a) = self.armed.get_mut(slot as usize) {
                            *a = false;
                        }
                    }
                    Some(MediaToken::Forward(_) | MediaToken::Transmit(_)) => {
                        self.in_flight = self.in_flight.saturating_sub(1);
                    }
                    _ => {}
                }
            }
            if confirmed && self.in_flight == 0 && !self.armed.iter().any(|&a| a) {
                return true;
            }
        }
        false
    }
}

/// One `io_uring_buf` entry of a provided-buffer ring (kernel ABI; the
/// `resv` field of entry 0 is the ring's tail).
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

/// The provided-buffer ring and its buffers: `entries` buffers of
/// `buf_size` bytes (buffer id = index), of which the kernel may fill the
/// first `fill` bytes; the rest is trailer room for the service.
struct ProvidedBuffers {
    ring: Mapping,
    data: Mapping,
    entries: u16,
    buf_size: usize,
    fill: usize,
    /// Our tail (published with `publish`).
    tail: u16,
}

impl ProvidedBuffers {
    fn new(entries: u16, buf_size: usize, fill: usize) -> io::Result<ProvidedBuffers> {
        debug_assert!(entries.is_power_of_two());
        debug_assert!(fill > PAYLOAD_OFFSET && fill <= buf_size);
        let ring = Mapping::new(usize::from(entries) * mem::size_of::<RawBufEntry>())?;
        let data = Mapping::new(usize::from(entries) * buf_size)?;
        let mut buffers = ProvidedBuffers {
            ring,
            data,
            entries,
            buf_size,
            fill,
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

    /// Where buffer `bid`'s payload starts (bid < entries).
    fn payload_ptr(&self, bid: u16) -> *mut u8 {
        let offset = usize::from(bid.min(self.entries - 1)) * self.buf_size + PAYLOAD_OFFSET;
        self.data.ptr.wrapping_add(offset)
    }

    /// The first `len` bytes of buffer `bid`, which the kernel handed us.
    fn get(&self, bid: u16, len: usize) -> Option<&[u8]> {
        if bid >= self.entries || len > self.fill {
            return None;
        }
        // SAFETY: bid < entries and len <= fill <= buf_size keep the range
        // inside the data mapping; the kernel gave this buffer to us with
        // the completion and does not write it again before `recycle`.
        Some(unsafe {
            std::slice::from_raw_parts(self.data.ptr.add(usize::from(bid) * self.buf_size), len)
        })
    }

    /// Buffer `bid` from its payload to its end (trailer room included).
    fn payload_mut(&mut self, bid: u16) -> &mut [u8] {
        if bid >= self.entries {
            return &mut [];
        }
        // SAFETY: bid < entries keeps [payload, end of buffer) inside the
        // data mapping; the buffer is ours (handed over by a completion,
        // not recycled yet) and `&mut self` makes this the only reference.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.data
                    .ptr
                    .add(usize::from(bid) * self.buf_size + PAYLOAD_OFFSET),
                self.buf_size - PAYLOAD_OFFSET,
            )
        }
    }

    /// Give buffer `bid` back to the kernel (visible after `publish`).
    #[inline]
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
            std::ptr::addr_of_mut!((*entry).len).write(self.fill as u32);
            std::ptr::addr_of_mut!((*entry).bid).write(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    /// Publish recycled buffers to the kernel.
    fn publish(&self) {
        // SAFETY: the tail is the u16 at offset 14 of the ring (entry 0's
        // `resv`), inside the mapping and 2-byte aligned (page-aligned
        // mapping); the kernel reads it concurrently, so it is written
        // atomically with release ordering (entries first).
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
