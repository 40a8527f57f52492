//! ferrovox-runtime: the thread-per-core IO runtime that drives sans-IO
//! protocol cores (the SIP proxy) over UDP and TCP.
//!
//! # Public API
//!
//! - [`Service`]: the protocol core, one instance per core thread, created
//!   *inside* that thread by the factory given to [`start`] (it need not
//!   be `Send`). Bytes and an `Instant` in ([`Service::on_message`],
//!   [`Service::on_timeout`], [`Service::on_transport_error`]); datagrams
//!   out ([`Service::poll_transmit`]) and the next deadline
//!   ([`Service::poll_timeout`]).
//! - [`RuntimeConfig`] / [`Backend`]: listen addresses, thread count,
//!   batch size, socket buffers, TCP limits, which backend.
//! - [`start`] binds every socket (a bind failure is returned at once,
//!   naming the address), starts the core threads and returns a
//!   [`Runtime`]: actual listen addresses, [`RuntimeStats`] summed over
//!   cores, and [`Runtime::shutdown`].
//!
//! # Design
//!
//! **Thread per core, nothing shared on the UDP path.** Each of the N core
//! threads owns its [`Service`], its own UDP socket on every UDP listen
//! address (`SO_REUSEPORT`: the kernel hashes a source 4-tuple to one
//! socket of the group, so a given caller always lands on the same core),
//! its own TCP listener on every TCP listen address (`SO_REUSEPORT` too;
//! an accepted connection belongs to the core that accepted it), and a
//! **private UDP socket** on an ephemeral port of the same IP
//! ([`CoreContext::via_udp`]).
//!
//! **The Via address routes responses home.** A stateful proxy keeps a
//! client transaction on the core that forwarded the request. If it sent
//! the request from the shared listen port, the downstream response would
//! be hashed to an arbitrary core. So a transmit to a UDP peer is sent
//! from the core's private socket when the message is a request (its
//! first bytes are not `SIP/2.0 `), and the proxy puts `via_udp` in its
//! Via header: the response comes back to that exact socket, on the core
//! that holds the transaction. Responses (first bytes `SIP/2.0 `) go out
//! of the listen socket, so a caller sees its answers come from the
//! address it sent to. When the destination's address family differs
//! from `via_udp`'s, the listen socket of the destination's family is
//! used; with none, the transmit fails with
//! [`Service::on_transport_error`].
//!
//! **Backends** (same behaviour, chosen by [`RuntimeConfig::backend`]):
//! - [`Backend::IoUring`] (production): one ring per core
//!   (`SINGLE_ISSUER | DEFER_TASKRUN`), a multishot `RecvMsg` per UDP
//!   socket fed by a provided-buffer ring (no per-packet submission, no
//!   per-packet copy: the service reads the kernel-filled buffer, which is
//!   recycled right after), UDP sends as `SendMsg` SQEs with
//!   `MSG_DONTWAIT` (they complete inline, so their buffers are reusable
//!   after the next enter), and exactly one `io_uring_enter`
//!   (`submit_with_args`, timeout = the service's next deadline) per loop
//!   iteration, submitting every send of the iteration and waiting for the
//!   next input at once. TCP sockets, listeners and the wake-up eventfd are
//!   watched with multishot `PollAdd` and read/written with plain
//!   non-blocking syscalls (deliberately: TCP is not the hot path, and the
//!   connection code is then shared with the portable backend).
//! - [`Backend::Portable`]: epoll (level-triggered for UDP, edge-triggered
//!   for TCP), `recvmmsg` batches of [`RuntimeConfig::recv_batch`] into
//!   preallocated buffers, `sendmmsg` batches grouped per socket.
//!
//! **Per message:** no allocation (receive buffers and transmit buffers
//! are reused; [`Service::poll_transmit`] writes into a reused `Vec`), no
//! lock, `Instant::now()` once per loop iteration. Transmits are drained
//! after every batch of inputs (at most `recv_batch` messages) and after
//! timeouts. Counters are plain per-core fields published to atomics once
//! per iteration.
//!
//! **UDP errors:** sockets set `IP_RECVERR`/`IPV6_RECVERR`, so an ICMP
//! error (port unreachable...) for a datagram we sent is read from the
//! socket's error queue and reported as
//! [`Service::on_transport_error`] with the original destination: the
//! proxy can fail over at once instead of waiting for Timer B/F. A send
//! refused with `EAGAIN` (socket buffer full) is dropped and counted in
//! [`RuntimeStats::dropped`]: SIP over UDP retransmits.
//!
//! **TCP** (RFC 3261 §18.3): framing with [`ferrovox_sip::frame_len`]
//! (partial reads, several messages per read; bad framing or a message
//! above [`RuntimeConfig::max_message`] closes the connection); a
//! CRLFCRLF keep-alive ping is answered with CRLF (RFC 5626 §4.4.1), bare
//! CRLFs between messages are ignored. A transmit to a TCP peer goes on
//! an open connection to that address when there is one **on any core**:
//! a shared registry maps address → (core, connection), and the bytes are
//! handed to the owning core through its inbox (a mutex-protected queue
//! plus the core's eventfd; off the UDP hot path). With no connection the
//! sending core connects (non-blocking), queues until connected, and
//! reports a failure with [`Service::on_transport_error`]. Idle
//! connections close after [`RuntimeConfig::tcp_idle_timeout`]; each
//! connection's output queue is bounded by
//! [`RuntimeConfig::tcp_output_limit`] and overflow closes it.
//!
//! **Shutdown:** a shared flag plus a write to every core's eventfd;
//! [`Runtime::shutdown`] joins every thread. The io_uring backend cancels
//! every in-flight request and waits for the cancellations before it
//! frees the buffers the kernel could still write.
//!
//! **One plumbing, two runtimes.** The SIP runtime and the media runtime
//! ([`media`]) share: the core set, thread start-up (ready handshake,
//! pinning) and join (`cores`), the token bit layout (`token`), the
//! per-core counters (`stats`), the io_uring ring, provided buffers and
//! SQE helpers (`ring`), the epoll wrapper (`epoll`), the
//! `recvmmsg`/`sendmmsg` header batches (`mmsg`) and socket set-up
//! (`net`). What differs is each side's loop: SIP reads ICMP errors and
//! carries TCP; media forwards in place out of the receive buffer and
//! opens and closes thousands of ports.
//!
//! # Not done (deliberately or yet)
//!
//! - TLS, WebSocket, SCTP transports: a transmit to such a peer is
//!   reported with [`Service::on_transport_error`].
//! - Errors on a connection owned by another core are reported to the
//!   owning core's service, not to the core that queued the bytes.
//! - `SO_REUSEPORT` lets another process of the same user join a listen
//!   port; bind without it is not offered since every core needs it.
//! - With several UDP listen addresses of one family, responses leave from
//!   the first of them (not necessarily the one the request came in on).
//! - No CPU-steering (`SO_INCOMING_CPU`, BPF reuseport programs), no
//!   registered files/buffers for sends, no zero-copy send.

#![warn(missing_docs)]

mod config;
mod core_thread;
mod cores;
mod epoll;
mod error;
pub mod media;
mod mmsg;
mod net;
mod portable;
mod ring;
mod runtime;
mod shared;
mod stats;
mod tcp;
mod token;
mod uring;

use ferrovox_sip::transaction::{Peer, Transport};
use std::net::SocketAddr;
use std::time::Instant;

pub use config::{Backend, ParseBackendError, RuntimeConfig};
pub use error::RuntimeError;
pub use runtime::{Runtime, start};
pub use stats::RuntimeStats;

/// A sans-IO protocol core driven by the runtime: one instance per core
/// thread, created inside that thread (so it need not be `Send`).
pub trait Service: 'static {
    /// One whole SIP message: a UDP datagram, or one framed TCP message.
    /// `now` is read once per batch of inputs.
    fn on_message(&mut self, bytes: &[u8], from: Peer, now: Instant);
    /// Called when [`Service::poll_timeout`] is due (`now` >= it).
    fn on_timeout(&mut self, now: Instant);
    /// The next instant [`Service::on_timeout`] should be called at.
    fn poll_timeout(&mut self) -> Option<Instant>;
    /// The next message to send: write it into `buf` (empty on entry;
    /// reused, so its capacity survives) and return its destination.
    /// Drained after every batch of inputs and after timeouts.
    fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<Peer>;
    /// Sending to `dest` failed: TCP connect refused, reset or output
    /// overflow; an ICMP error for a UDP datagram sent to `dest`; a
    /// transport this runtime does not carry.
    fn on_transport_error(&mut self, dest: Peer, now: Instant);
}

/// What a core's service is told when it is created.
#[derive(Debug, Clone)]
pub struct CoreContext {
    /// This core's index, `0..cores`.
    pub core: usize,
    /// How many core threads run.
    pub cores: usize,
    /// The actual bound listen addresses (ports resolved when 0 was asked
    /// for), the same on every core.
    pub listen: Vec<(Transport, SocketAddr)>,
    /// This core's private UDP socket: requests sent to UDP peers leave
    /// from it, so it is the address to put in the Via header. Bound to
    /// the IP of the first UDP listen address: when that is unspecified
    /// (`0.0.0.0`), so is this IP, and the service must advertise its
    /// own address with this port.
    pub via_udp: SocketAddr,
}
