//! The media (RTP/RTCP) side of the runtime: thread-per-core UDP relaying
//! over thousands of dynamically opened ports.
//!
//! # Public API
//!
//! - [`DatagramService`]: the media core of one core thread (typically a
//!   wrapper around `ferrovox_media::Relay`), created inside that thread
//!   by the factory given to [`start_media`] (it need not be `Send`). A
//!   datagram in ([`DatagramService::on_datagram`]), a decision out
//!   ([`DatagramAction`]): forward the same buffer, rewritten in place,
//!   out of another port of the same core, or drop it. Ports to open and
//!   close come out of [`DatagramService::poll_port_change`], extra
//!   datagrams (generated RTP, transcoder output) out of
//!   [`DatagramService::poll_transmit`], the next deadline out of
//!   [`DatagramService::poll_timeout`]; a port that cannot be bound is
//!   reported back with [`DatagramService::on_port_error`].
//! - [`MediaRuntimeConfig`]: backend, threads, the interface media ports
//!   bind to, batch, buffer and socket sizes, the command timeout.
//! - [`start_media`] starts the core threads and returns a
//!   [`MediaRuntime`]: [`MediaRuntime::call`] runs a closure on one core's
//!   service inside that core's thread and returns its result (the path
//!   for every control operation: ng offer/answer/delete, bus commands),
//!   [`MediaRuntime::call_async`] does the same without blocking (a
//!   [`Pending`] that can be waited on or `.await`ed),
//!   [`MediaRuntime::post`] without a result; [`MediaRuntime::stats`] and
//!   [`MediaRuntime::shutdown`].
//!
//! # Design
//!
//! **Ports belong to cores.** Each core thread owns the sockets of the
//! ports its service opened (one plain UDP socket per port, bound to
//! [`MediaRuntimeConfig::interface`], no `SO_REUSEPORT`): a datagram for a
//! port is received, decided on and forwarded by that one thread, out of
//! another socket of the same thread. Nothing is shared and nothing is
//! locked on the packet path. Which core owns which port is the service's
//! business (the node shards calls by Call-ID to cores and gives each core
//! a disjoint slice of the port range); a port already open on another
//! core (or by another process) fails to bind and is reported with
//! [`DatagramService::on_port_error`].
//!
//! **Commands** reach a core through its inbox (a mutex-protected queue
//! plus an eventfd the core's loop watches): off the packet path. A
//! command runs between two batches; the port changes it caused are then
//! applied (sockets bound or closed, bind failures reported to the
//! service) *before* the caller of [`MediaRuntime::call`] gets its result,
//! so a following `call` sees the outcome.
//!
//! **Backends** (same behaviour, chosen by [`MediaRuntimeConfig::backend`]):
//! - [`crate::Backend::IoUring`] (production): one ring per core
//!   (`SINGLE_ISSUER | DEFER_TASKRUN`), one provided-buffer ring per core
//!   ([`MediaRuntimeConfig::buffers`] buffers of
//!   [`MediaRuntimeConfig::buffer_size`] bytes) shared by all of the
//!   core's sockets, one multishot `RecvMsg` per socket. A forward is zero
//!   copy: the kernel-filled buffer is rewritten in place by the service
//!   and handed to a `SendMsg` SQE (`MSG_DONTWAIT`); it goes back to the
//!   buffer ring when that send completes. Exactly one `io_uring_enter`
//!   per loop iteration submits every forward of the iteration and waits
//!   for the next input. Closing a port cancels its multishot receive and
//!   closes the socket only when the receive's last completion arrived.
//! - [`crate::Backend::Portable`]: epoll (level-triggered) over the core's
//!   sockets, `recvmmsg` into a per-core pool of buffers per ready socket,
//!   forwards kept in their receive buffer (no copy) and sent with one
//!   `sendmmsg` per sending socket at the end of the iteration (or when
//!   the pool runs low).
//!
//! **Per forwarded packet:** no allocation, no lock, no copy, no syscall
//! of its own on io_uring (amortised in the iteration's single enter);
//! `Instant::now()` once per loop iteration; counters in plain per-core
//! fields published to atomics once per iteration.
//!
//! # Not done (yet)
//!
//! - Registered files / fixed buffers for the sends, `SO_INCOMING_CPU`,
//!   `SO_BUSY_POLL`; GSO/GRO batching.
//! - ICMP errors (`IP_RECVERR`) are not read on media sockets: a dead peer
//!   is detected by the relay's media timeout.
//! - A send refused with `EAGAIN` (socket buffer full) is dropped and
//!   counted ([`MediaRuntimeStats::send_dropped`]): RTP is loss tolerant.
//! - A panic inside a command is caught (the caller gets an error, the
//!   core keeps running, the service may be left half-changed); a panic in
//!   a packet callback ends the core thread.

mod command;
mod config;
mod core;
mod portable;
mod runtime;
mod stats;
mod uring;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

pub use command::Pending;
pub use config::MediaRuntimeConfig;
pub use runtime::{MediaRuntime, start_media};
pub use stats::MediaRuntimeStats;

/// The media core of one core thread: created inside that thread by the
/// factory given to [`start_media`], so it need not be `Send`.
pub trait DatagramService: 'static {
    /// A datagram arrived on `port` (owned by this core) from `src`:
    /// `buf[..len]` is the packet; `buf` has spare capacity after it (at
    /// least [`MediaRuntimeConfig::trailer_room`] bytes, for SRTP
    /// trailers). Rewrite it in place and return
    /// [`DatagramAction::Forward`] to send `buf[..len']` from `from_port`
    /// (a port open on this core) to `to`, or [`DatagramAction::Drop`].
    /// `now` is read once per loop iteration.
    fn on_datagram(
        &mut self,
        port: u16,
        src: SocketAddr,
        buf: &mut [u8],
        len: usize,
        now: Instant,
    ) -> DatagramAction;

    /// Called when [`DatagramService::poll_timeout`] is due.
    fn on_timeout(&mut self, now: Instant);

    /// The next instant [`DatagramService::on_timeout`] should be called at.
    fn poll_timeout(&mut self) -> Option<Instant>;

    /// The next socket to open or close. Drained at start-up, after every
    /// command, after every batch of datagrams and after timeouts.
    fn poll_port_change(&mut self) -> Option<PortChange> {
        None
    }

    /// Opening `port` failed (bind: address in use, permission...). The
    /// port is not open; the service should release it (and fail the
    /// command that wanted it, or try another port).
    fn on_port_error(&mut self, port: u16, error: &io::Error) {
        let _ = (port, error);
    }

    /// A socket the service bound itself for `port` (with
    /// [`bind_media_port`]), asked for when [`PortChange::Open`] is
    /// applied: the runtime adopts it instead of binding. A service that
    /// must know at once whether a port is free (to take another one, as
    /// an ng offer does when another process holds a port) binds while it
    /// runs the command. `None` (the default): the runtime binds.
    fn take_bound_socket(&mut self, port: u16) -> Option<std::net::UdpSocket> {
        let _ = port;
        None
    }

    /// An extra datagram to send (generated RTP, transcoder output):
    /// write it into `buf` (empty on entry, capacity kept) and return the
    /// port to send it from (open on this core) and the destination.
    /// Drained after every batch, command and timeout.
    fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<(u16, SocketAddr)> {
        let _ = buf;
        None
    }
}

/// What to do with a received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatagramAction {
    /// Send `buf[..len]` from local port `from_port` to `to`.
    Forward {
        /// A port open on this core (usually not the receiving one).
        from_port: u16,
        /// Destination.
        to: SocketAddr,
        /// Length of the (rewritten) datagram, at most `buf.len()`.
        len: usize,
    },
    /// Nothing to send.
    Drop,
}

/// A socket to open or close on the calling core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortChange {
    /// Bind a UDP socket to `(interface, port)` and start receiving.
    /// Opening a port that is already open is a no-op.
    Open(u16),
    /// Stop receiving on the port and close its socket. Closing a port
    /// that is not open is a no-op.
    Close(u16),
}

/// What a core's service is told when it is created.
#[derive(Debug, Clone)]
pub struct MediaCoreContext {
    /// This core's index, `0..cores`.
    pub core: usize,
    /// How many core threads run.
    pub cores: usize,
    /// The address media sockets bind to.
    pub interface: IpAddr,
    /// The socket buffer size to give [`bind_media_port`].
    pub socket_buffer: usize,
}

/// Binds a media socket the way the runtime does (non-blocking,
/// close-on-exec, `SO_RCVBUF`/`SO_SNDBUF` of `buffer` bytes when not 0,
/// no `SO_REUSEPORT`), for [`DatagramService::take_bound_socket`].
pub fn bind_media_port(
    interface: IpAddr,
    port: u16,
    buffer: usize,
) -> io::Result<std::net::UdpSocket> {
    core::bind_media(interface, port, buffer).map(std::net::UdpSocket::from)
}
