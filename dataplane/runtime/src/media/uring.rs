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
//! The ring, its provided buffers and the SQE plumbing are
//! [`crate::ring`]'s, shared with the SIP backend. At shutdown every
//! request is cancelled and each one's end awaited before anything is
//! freed (leaked if that cannot be confirmed).

use super::core::{MediaCore, MediaToken, PortIo, SlotState, bind_media};
use super::runtime::MediaCoreParts;
use super::{DatagramAction, DatagramService};
use crate::cores::Ready;
use crate::error::RuntimeError;
use crate::net::{self, SOCKADDR_MAX};
use crate::ring::{self, Cqe, RECVMSG_OUT, Ring, RingSpec, SendHeader};
use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

/// Buffer group id of the core's provided-buffer ring.
const BUFFER_GROUP: u16 = 7;
/// Where the payload starts in a buffer: header, then the name area.
const PAYLOAD_OFFSET: usize = RECVMSG_OUT + SOCKADDR_MAX;

pub(crate) fn run<S: DatagramService>(
    parts: MediaCoreParts<S>,
    make_service: impl FnOnce() -> S,
    ready: &mut Ready,
) -> Result<(), RuntimeError> {
    let config = parts.config.clone();
    let count = config.buffers;
    let batch = config.recv_batch.clamp(1, 1024);
    debug_assert!(config.buffer_size - config.trailer_room > PAYLOAD_OFFSET);
    let ring = Ring::new(&RingSpec {
        sq_entries: (count as u32).clamp(256, 4096),
        cq_entries: (count as u32 * 4).max(4096),
        buffers: count as u16,
        buffer_size: config.buffer_size,
        fill: config.buffer_size - config.trailer_room,
        group: BUFFER_GROUP,
        mmap_what: "mmap of media buffers",
    })?;
    let mut io = UringIo {
        ring,
        forwards: (0..count)
            .map(|_| SendHeader::new())
            .collect::<Vec<_>>()
            .into_boxed_slice(),
        tx: Vec::new(),
        tx_free: Vec::new(),
        armed: Vec::new(),
        rearm: Vec::with_capacity(1024),
        to_close: Vec::new(),
        in_flight: 0,
    };
    probe_multishot(&mut io)?;
    let wake_fd = parts.shared.cores.get(parts.ctx.core).map(|c| c.wake.fd());
    let pollin = libc::POLLIN as u32;
    if let Some(fd) = wake_fd {
        io.ring.arm_poll(fd, MediaToken::Wake.encode(), pollin);
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

    let mut cqes: Vec<Cqe> = Vec::with_capacity(8192);
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
                    io.on_recv(&mut core, slot, generation, res, flags, now);
                    since_drain += 1;
                    if since_drain >= batch {
                        io.drain_service(&mut core);
                        since_drain = 0;
                    }
                }
                Some(MediaToken::Forward(bid)) => {
                    io.in_flight = io.in_flight.saturating_sub(1);
                    count_send(&mut core, res, false);
                    io.ring.buffers.recycle(bid as u16);
                }
                Some(MediaToken::Transmit(s)) => {
                    io.in_flight = io.in_flight.saturating_sub(1);
                    count_send(&mut core, res, true);
                    io.tx_free.push(s);
                }
                Some(MediaToken::Wake) => {
                    if !ring::more(flags)
                        && let Some(fd) = wake_fd
                    {
                        io.ring.arm_poll(fd, MediaToken::Wake.encode(), pollin);
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
        io.ring.buffers.publish();
        core.counters.syscalls += io.ring.take_extra_syscalls() + 1;
        core.publish();

        let want = io.in_flight as usize + 1;
        let deadline = core.service.poll_timeout();
        io.ring
            .enter(want, deadline, now)
            .map_err(|source| RuntimeError::CoreFailed {
                core: core.index,
                what: "io_uring_enter",
                source,
            })?;
        now = Instant::now();
        // Sockets whose receive ended: once every SQE that named them has
        // been submitted (the kernel then holds its own reference to the
        // file), they can be closed. (An enter refused with EBUSY leaves
        // the queue full: wait for the next one.)
        if io.ring.all_submitted() {
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
        io.ring.reap(&mut cqes);
    }
    let confirmed = io.cancel_everything();
    if !confirmed {
        tracing::warn!(
            core = core.index,
            "io_uring cancellation not confirmed: leaking the media buffers"
        );
        io.ring.buffers.leak();
    }
    // The ring and its buffers go before the sockets close.
    drop(io);
    core.close_all();
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
/// loopback socket, before the core reports itself running. (The SIP
/// backend checks the first completions of its listen sockets' receives
/// instead: a media core starts with no socket at all.)
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
    }
    .encode();
    if !io.ring.arm_recv(socket.as_raw_fd(), probe)
        || !io.ring.cancel(probe, MediaToken::Ignore.encode())
    {
        return Err(RuntimeError::Config("io_uring submission queue too small"));
    }
    let mut ended = None;
    let mut cqes = Vec::new();
    for _ in 0..10 {
        match io.ring.wait(1, Duration::from_millis(100)) {
            Ok(()) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME) | Some(libc::EINTR)) => {}
            Err(source) => return Err(unavailable("io_uring_enter")(source)),
        }
        io.ring.reap(&mut cqes);
        for &(data, res, flags) in &cqes {
            if data == probe && !ring::more(flags) {
                ended = Some(res);
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

/// A `poll_transmit` send: buffer and header, boxed so they never move
/// while the request is in flight.
struct TxSlot {
    buf: Vec<u8>,
    header: SendHeader,
}

/// The ring and what its requests point at besides the provided buffers.
struct UringIo {
    ring: Ring,
    /// The `sendmsg` header of a forward out of each provided buffer (a
    /// buffer is in at most one send; a boxed slice never moves).
    forwards: Box<[SendHeader]>,
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
        // The receive's last completion (ECANCELED) closes the socket.
        if self.is_armed(slot)
            && self.ring.cancel(
                MediaToken::Port { slot, generation }.encode(),
                MediaToken::Ignore.encode(),
            )
        {
            return false;
        }
        // Not receiving (or the cancel could not be queued: the receive
        // then ends when the socket closes): close after the next enter.
        self.to_close.push((slot, generation));
        false
    }
}

impl UringIo {
    fn arm_recv(&mut self, slot: u32, generation: u32, fd: RawFd) -> bool {
        let ok = self
            .ring
            .arm_recv(fd, MediaToken::Port { slot, generation }.encode());
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

    /// A completion of slot `slot`'s multishot receive.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn on_recv<S: DatagramService>(
        &mut self,
        core: &mut MediaCore<S>,
        slot: u32,
        generation: u32,
        res: i32,
        flags: u32,
        now: Instant,
    ) {
        let state = core.ports.get(slot, generation).map(|s| (s.state, s.port));
        if !ring::more(flags) && state.is_some() {
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
        let Some(bid) = ring::buffer_id(flags) else {
            core.counters.errors += 1;
            return;
        };
        let Some((SlotState::Open, port)) = state else {
            // A datagram for a closing port.
            self.ring.buffers.recycle(bid);
            return;
        };
        let parsed = self.ring.received(bid, res).map(|m| {
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
                self.ring.buffers.recycle(bid);
                return;
            }
            _ => {
                core.counters.errors += 1;
                self.ring.buffers.recycle(bid);
                return;
            }
        };
        core.counters.rx_packets += 1;
        core.counters.rx_bytes += len as u64;
        let buf = self.ring.buffers.tail_mut(bid, PAYLOAD_OFFSET);
        let room = buf.len();
        match core.service.on_datagram(port, src, buf, len, now) {
            DatagramAction::Forward { from_port, to, len } => match core.ports.open_fd(from_port) {
                Some((_, _, fd)) => self.forward(core, bid, fd, to, len.min(room)),
                None => {
                    core.counters.bad_port += 1;
                    self.ring.buffers.recycle(bid);
                }
            },
            DatagramAction::Drop => {
                core.counters.dropped += 1;
                self.ring.buffers.recycle(bid);
            }
        }
    }

    /// Send buffer `bid`'s payload (`len` bytes) from `fd` to `to`.
    #[inline]
    fn forward<S>(
        &mut self,
        core: &mut MediaCore<S>,
        bid: u16,
        fd: RawFd,
        to: SocketAddr,
        len: usize,
    ) {
        let payload = self.ring.buffers.ptr_at(bid, PAYLOAD_OFFSET);
        let Some(h) = self.forwards.get_mut(usize::from(bid)) else {
            self.ring.buffers.recycle(bid);
            return;
        };
        h.prepare(payload, len, to);
        // The header lives in a boxed slice (stable address) and points at
        // its own iovec and name and at buffer `bid`, which we own until
        // this send's completion is reaped (then it is recycled): nothing
        // the request refers to moves or changes while it is in flight.
        if self
            .ring
            .send(fd, h, MediaToken::Forward(u32::from(bid)).encode())
        {
            self.in_flight += 1;
        } else {
            core.counters.send_dropped += 1;
            self.ring.buffers.recycle(bid);
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
                        header: SendHeader::new(),
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
            slot.header
                .prepare(slot.buf.as_mut_ptr(), slot.buf.len(), to);
            // The slot is boxed (stable address) and off the free list
            // until this request's completion is reaped, so its header,
            // iovec, name and buffer stay valid and unchanged meanwhile.
            if self
                .ring
                .send(fd, &slot.header, MediaToken::Transmit(s).encode())
            {
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
    /// socket or buffer); true when that was confirmed. (The SIP backend
    /// settles for the cancellation's completion: see its comment.)
    fn cancel_everything(&mut self) -> bool {
        if !self.ring.cancel_all(MediaToken::Shutdown.encode()) {
            return false;
        }
        let mut confirmed = false;
        let mut cqes = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            let _ = self.ring.wait(1, Duration::from_millis(20));
            self.ring.reap(&mut cqes);
            for &(data, _, flags) in &cqes {
                match MediaToken::decode(data) {
                    Some(MediaToken::Shutdown) => confirmed = true,
                    Some(MediaToken::Port { slot, .. }) if !ring::more(flags) => {
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
