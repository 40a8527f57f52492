//! The portable media backend: epoll, `recvmmsg`, `sendmmsg`.
//!
//! Sockets are watched level-triggered. A readable socket is read with
//! `recvmmsg` into free buffers of the core's pool (at most
//! [`MAX_BATCHES_PER_WAKE`] batches per wake-up, so a flooded port does
//! not starve the others); each datagram goes to the service in its pool
//! buffer. A forward keeps that buffer (no copy) on the pending list; at
//! the end of the iteration (or when the pool runs low) the pending list
//! is sorted by sending socket (order kept per socket) and sent with one
//! `sendmmsg` per socket, and the buffers go back to the pool. Datagrams
//! from `poll_transmit` are copied into a pool buffer and join the list.

use super::core::{MediaCore, MediaToken, PortIo};
use super::runtime::MediaCoreParts;
use super::{DatagramAction, DatagramService};
use crate::cores::Ready;
use crate::epoll::Epoll;
use crate::error::RuntimeError;
use crate::mmsg::MmsgBatch;
use std::io;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::Instant;

/// recvmmsg batches per readable socket per wake-up.
const MAX_BATCHES_PER_WAKE: usize = 4;
/// Most messages per sendmmsg (UIO_MAXIOV).
const MAX_SENDMMSG: usize = 1024;

pub(crate) fn run<S: DatagramService>(
    parts: MediaCoreParts<S>,
    make_service: impl FnOnce() -> S,
    ready: &mut Ready,
) -> Result<(), RuntimeError> {
    let setup = |what| move |source| RuntimeError::Setup { what, source };
    let epoll = Epoll::new().map_err(setup("epoll_create1"))?;
    let core_index = parts.ctx.core;
    if let Some(me) = parts.shared.cores.get(core_index) {
        epoll
            .add(
                me.wake.fd(),
                (libc::EPOLLIN | libc::EPOLLET) as u32,
                MediaToken::Wake.encode(),
            )
            .map_err(setup("epoll_ctl (eventfd)"))?;
    }
    let config = &parts.config;
    let count = config.buffers;
    let batch = config.recv_batch.clamp(1, 1024).min(count / 2);
    let mut io = PortableIo {
        epoll,
        pool: Pool::new(count, config.buffer_size),
        rx: RecvBatch {
            bufs: Vec::with_capacity(batch),
            msgs: MmsgBatch::new(batch),
        },
        max_payload: config.buffer_size - config.trailer_room,
        scratch: Vec::with_capacity(config.buffer_size),
        out: Vec::with_capacity(count),
        seq: 0,
        tx: MmsgBatch::new(count),
    };
    let mut core = MediaCore::new(
        make_service(),
        core_index,
        parts.shared.clone(),
        config.interface,
        config.socket_buffer,
    );
    core.apply_port_changes(&mut io);
    ready.ok();

    // SAFETY: epoll_event is plain old data; zero is a valid value.
    let mut events: Vec<libc::epoll_event> = vec![unsafe { mem::zeroed() }; 512];
    let mut now = Instant::now();
    loop {
        if core.shared.is_shutting_down() {
            break;
        }
        core.run_timers(now);
        io.drain_service(&mut core);
        io.flush(&mut core);
        core.publish();

        core.counters.syscalls += 1;
        let n = io
            .epoll
            .wait_until(&mut events, core.service.poll_timeout(), now)
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
            match MediaToken::decode(ev.u64) {
                Some(MediaToken::Port { slot, generation }) => {
                    if let Some((port, fd)) = core.ports.live(slot, generation) {
                        io.receive(&mut core, port, fd, now);
                    }
                }
                Some(MediaToken::Wake) => {
                    // Forwards queued so far leave before the command
                    // can close their sockets.
                    io.flush(&mut core);
                    core.run_commands(&mut io);
                    io.drain_service(&mut core);
                }
                _ => {}
            }
        }
    }
    io.flush(&mut core);
    core.close_all();
    Ok(())
}

/// A forward or transmit waiting for `sendmmsg`.
#[derive(Clone, Copy)]
struct Outgoing {
    slot: u32,
    generation: u32,
    /// Queue order (sorting keeps it per socket).
    seq: u32,
    buf: u32,
    len: u32,
    transmit: bool,
    to: SocketAddr,
}

/// The core's packet buffers: `count` of `size` bytes, and the free ones.
struct Pool {
    size: usize,
    data: Box<[u8]>,
    free: Vec<u32>,
}

impl Pool {
    fn new(count: usize, size: usize) -> Pool {
        Pool {
            size,
            data: vec![0u8; count * size].into_boxed_slice(),
            free: (0..count as u32).rev().collect(),
        }
    }

    fn buf(&mut self, buf: u32) -> &mut [u8] {
        let start = buf as usize * self.size;
        &mut self.data[start..start + self.size]
    }
}

/// `recvmmsg` headers and the pool buffers taken for the call (`bufs`).
struct RecvBatch {
    bufs: Vec<u32>,
    msgs: MmsgBatch,
}

impl RecvBatch {
    fn capacity(&self) -> usize {
        self.msgs.capacity()
    }
}

struct PortableIo {
    epoll: Epoll,
    pool: Pool,
    rx: RecvBatch,
    /// Largest datagram accepted: buffer size minus trailer room.
    max_payload: usize,
    /// `poll_transmit` writes here; copied into a pool buffer.
    scratch: Vec<u8>,
    /// Pending sends (each holds a distinct pool buffer, so never more
    /// than the pool's size: no reallocation).
    out: Vec<Outgoing>,
    seq: u32,
    /// sendmmsg headers, one per pool buffer.
    tx: MmsgBatch,
}

impl PortIo for PortableIo {
    fn arm(&mut self, slot: u32, generation: u32, fd: RawFd) -> io::Result<()> {
        self.epoll.add(
            fd,
            libc::EPOLLIN as u32,
            MediaToken::Port { slot, generation }.encode(),
        )
    }

    fn disarm(&mut self, _slot: u32, _generation: u32, _fd: RawFd) -> bool {
        // Closing the socket removes it from the epoll set; sends still
        // queued from it are dropped at the flush (generation check).
        true
    }
}

impl PortableIo {
    /// Read a readable socket in batches and hand each datagram to the
    /// service.
    fn receive<S: DatagramService>(
        &mut self,
        core: &mut MediaCore<S>,
        port: u16,
        fd: RawFd,
        now: Instant,
    ) {
        for _ in 0..MAX_BATCHES_PER_WAKE {
            if self.pool.free.len() < self.rx.capacity() {
                self.flush(core);
            }
            let n = self.rx.capacity().min(self.pool.free.len());
            if n == 0 {
                return;
            }
            self.rx.bufs.clear();
            for k in 0..n {
                let Some(b) = self.pool.free.pop() else {
                    break;
                };
                self.rx.bufs.push(b);
                let start = b as usize * self.pool.size;
                let base = self.pool.data[start..start + self.pool.size].as_mut_ptr();
                self.rx.msgs.prepare_recv(k, base, self.pool.size);
            }
            core.counters.syscalls += 1;
            // SAFETY: headers 0..n were just pointed at distinct pool
            // buffers taken off the free list (nothing else refers to
            // them until they are handed to the service below).
            let got = match unsafe { self.rx.msgs.recv(fd, n) } {
                Ok(got) => got,
                Err(e) => {
                    self.pool.free.extend_from_slice(&self.rx.bufs);
                    match e.kind() {
                        io::ErrorKind::WouldBlock => return,
                        io::ErrorKind::Interrupted => continue,
                        _ => {
                            tracing::debug!(error = %e, "media recvmmsg failed");
                            core.counters.errors += 1;
                            return;
                        }
                    }
                }
            };
            for k in 0..n {
                let b = self.rx.bufs[k];
                if k >= got {
                    self.pool.free.push(b);
                    continue;
                }
                let len = self.rx.msgs.transferred(k);
                if self.rx.msgs.truncated(k) || len > self.max_payload {
                    core.counters.truncated += 1;
                    self.pool.free.push(b);
                    continue;
                }
                let Some(src) = self.rx.msgs.source(k) else {
                    core.counters.errors += 1;
                    self.pool.free.push(b);
                    continue;
                };
                core.counters.rx_packets += 1;
                core.counters.rx_bytes += len as u64;
                let action = core
                    .service
                    .on_datagram(port, src, self.pool.buf(b), len, now);
                match action {
                    DatagramAction::Forward { from_port, to, len } => {
                        let len = len.min(self.pool.size);
                        match core.ports.open_fd(from_port) {
                            Some((slot, generation, _)) => self.queue(Outgoing {
                                slot,
                                generation,
                                seq: 0,
                                buf: b,
                                len: len as u32,
                                transmit: false,
                                to,
                            }),
                            None => {
                                core.counters.bad_port += 1;
                                self.pool.free.push(b);
                            }
                        }
                    }
                    DatagramAction::Drop => {
                        core.counters.dropped += 1;
                        self.pool.free.push(b);
                    }
                }
            }
            self.drain_service(core);
            if got < n {
                return;
            }
        }
    }

    #[inline]
    fn queue(&mut self, mut o: Outgoing) {
        o.seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        self.out.push(o);
    }

    /// Port changes and extra datagrams the service has.
    fn drain_service<S: DatagramService>(&mut self, core: &mut MediaCore<S>) {
        core.apply_port_changes(self);
        loop {
            self.scratch.clear();
            let Some((from_port, to)) = core.service.poll_transmit(&mut self.scratch) else {
                break;
            };
            if self.scratch.len() > self.pool.size {
                core.counters.errors += 1;
                continue;
            }
            let Some((slot, generation, _)) = core.ports.open_fd(from_port) else {
                core.counters.bad_port += 1;
                continue;
            };
            if self.pool.free.is_empty() {
                self.flush(core);
            }
            let Some(b) = self.pool.free.pop() else {
                core.counters.send_dropped += 1;
                continue;
            };
            let len = self.scratch.len();
            self.pool.buf(b)[..len].copy_from_slice(&self.scratch);
            self.queue(Outgoing {
                slot,
                generation,
                seq: 0,
                buf: b,
                len: len as u32,
                transmit: true,
                to,
            });
        }
        core.apply_port_changes(self);
    }

    /// Send everything pending: one `sendmmsg` per sending socket.
    fn flush<S: DatagramService>(&mut self, core: &mut MediaCore<S>) {
        if self.out.is_empty() {
            return;
        }
        self.out
            .sort_unstable_by_key(|o| (o.slot, o.generation, o.seq));
        let size = self.pool.size;
        let base = self.pool.data.as_mut_ptr();
        for (k, o) in self.out.iter().enumerate() {
            // o.buf < count, so the buffer lies inside the pool's data
            // (count * size bytes).
            let ptr = base.wrapping_add(o.buf as usize * size);
            self.tx.prepare_send(k, ptr, o.len as usize, o.to);
        }
        let total = self.out.len();
        let mut i = 0;
        while i < total {
            let (slot, generation) = (self.out[i].slot, self.out[i].generation);
            let mut j = i + 1;
            while j < total && self.out[j].slot == slot && self.out[j].generation == generation {
                j += 1;
            }
            match core.ports.live(slot, generation) {
                Some((_, fd)) => self.send_run(core, fd, i, j),
                None => core.counters.bad_port += (j - i) as u64,
            }
            i = j;
        }
        for o in &self.out {
            self.pool.free.push(o.buf);
        }
        self.out.clear();
        self.seq = 0;
    }

    fn send_run<S: DatagramService>(
        &mut self,
        core: &mut MediaCore<S>,
        fd: RawFd,
        start: usize,
        end: usize,
    ) {
        let mut at = start;
        while at < end {
            let count = (end - at).min(MAX_SENDMMSG);
            core.counters.syscalls += 1;
            // SAFETY: headers at..at + count were pointed by `flush` just
            // now at pool buffers that stay alive and unmodified until
            // this returns.
            let err = match unsafe { self.tx.send(fd, at..at + count) } {
                Ok(r) => {
                    for k in at..at + r {
                        if self.out[k].transmit {
                            core.counters.transmitted += 1;
                        } else {
                            core.counters.forwarded += 1;
                            core.counters.forwarded_bytes += self.tx.transferred(k) as u64;
                        }
                    }
                    at += r;
                    continue;
                }
                Err(err) => err,
            };
            // Unlike the SIP backend, no ICMP retry: media sockets do not
            // ask for IP_RECVERR (a dead peer is found by the relay's media
            // timeout), so an error here is about this one datagram.
            match err.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::EAGAIN) => {
                    core.counters.send_dropped += (end - at) as u64;
                    return;
                }
                _ => {
                    // An error for the first message (ICMP error pending,
                    // unreachable destination...): skip it.
                    tracing::debug!(error = %err, "media sendmmsg failed");
                    core.counters.errors += 1;
                    at += 1;
                }
            }
        }
    }
}
