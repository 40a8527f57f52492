//! The backend-independent half of a core thread: the service, the
//! sockets, the TCP connections and what to do with each input and each
//! transmit. The backends ([`crate::portable`], [`crate::uring`]) own the
//! waiting and the UDP system calls and call in here through [`Driver`].

use crate::Service;
use crate::net::{self, same_family};
use crate::shared::{ConnRef, InboxItem, Shared};
use crate::stats::CoreCounters;
use crate::tcp::{self, Connection, Connections};
use crate::token::Token;
use ferrovox_sip::transaction::{Peer, Transport};
use socket2::Socket;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::mem;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a backend offers the shared core logic.
pub(crate) trait Driver {
    /// The buffer the next transmit is written into (empty, capacity
    /// kept). Until [`Driver::queue_udp`] the same buffer is returned.
    fn transmit_buffer(&mut self) -> &mut Vec<u8>;
    /// Send what the transmit buffer holds from UDP socket `socket` to
    /// `dest` (now or at the end of the batch).
    fn queue_udp(&mut self, socket: usize, dest: SocketAddr, counters: &mut CoreCounters);
    /// Destinations the UDP send path learned ICMP errors for.
    fn take_udp_errors(&mut self, into: &mut Vec<SocketAddr>);
    /// Watch a TCP socket for readability and writability (edge-triggered).
    fn watch(&mut self, fd: RawFd, token: Token) -> io::Result<()>;
    /// Stop watching a TCP socket about to be closed.
    fn unwatch(&mut self, fd: RawFd, token: Token);
}

/// Sizes and limits a core works with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) recv_batch: usize,
    /// Largest TCP frame.
    pub(crate) max_message: usize,
    /// Largest UDP datagram received (`max_message`, at most 65535).
    pub(crate) max_datagram: usize,
    pub(crate) tcp_idle_timeout: Duration,
    pub(crate) tcp_output_limit: usize,
}

/// A UDP socket of a core and the address it is bound to.
#[derive(Debug)]
pub(crate) struct UdpEndpoint {
    pub(crate) socket: Socket,
    pub(crate) local: SocketAddr,
}

/// What the runtime hands a core thread.
#[derive(Debug)]
pub(crate) struct CoreParts {
    pub(crate) index: usize,
    pub(crate) shared: Arc<Shared>,
    /// Listen sockets in listen order, then the private socket (last).
    pub(crate) udp: Vec<UdpEndpoint>,
    pub(crate) listeners: Vec<Socket>,
    pub(crate) limits: Limits,
}

/// A core's state apart from the backend.
pub(crate) struct CoreThread<S> {
    pub(crate) service: S,
    pub(crate) index: usize,
    pub(crate) shared: Arc<Shared>,
    pub(crate) udp: Vec<UdpEndpoint>,
    pub(crate) listeners: Vec<Socket>,
    pub(crate) counters: CoreCounters,
    pub(crate) limits: Limits,
    conns: Connections,
    private_udp: usize,
    listen_v4: Option<usize>,
    listen_v6: Option<usize>,
    /// Transport errors to report once the transmits are drained.
    failed: Vec<Peer>,
    udp_failed: Vec<SocketAddr>,
    inbox: VecDeque<InboxItem>,
    read_buf: Box<[u8]>,
    scratch: Vec<u32>,
    next_sweep: Option<Instant>,
}

impl<S: Service> CoreThread<S> {
    pub(crate) fn new(parts: CoreParts, service: S) -> Self {
        let listen_count = parts.udp.len().saturating_sub(1);
        let listen_v4 = parts.udp[..listen_count]
            .iter()
            .position(|e| e.local.is_ipv4());
        let listen_v6 = parts.udp[..listen_count]
            .iter()
            .position(|e| e.local.is_ipv6());
        CoreThread {
            service,
            index: parts.index,
            shared: parts.shared,
            private_udp: listen_count,
            udp: parts.udp,
            listeners: parts.listeners,
            counters: CoreCounters::default(),
            limits: parts.limits,
            conns: Connections::default(),
            listen_v4,
            listen_v6,
            failed: Vec::new(),
            udp_failed: Vec::new(),
            inbox: VecDeque::new(),
            read_buf: vec![0; 64 << 10].into_boxed_slice(),
            scratch: Vec::new(),
            next_sweep: None,
        }
    }

    /// Publish the counters for [`crate::Runtime::stats`].
    pub(crate) fn publish(&mut self) {
        self.counters.tcp_open = self.conns.len() as u64;
        if let Some(me) = self.shared.cores.get(self.index) {
            me.counters.publish(&self.counters);
        }
    }

    /// One UDP datagram for the service.
    #[inline]
    pub(crate) fn deliver_udp(&mut self, bytes: &[u8], from: SocketAddr, now: Instant) {
        self.counters.rx_messages += 1;
        self.counters.rx_bytes += bytes.len() as u64;
        self.service
            .on_message(bytes, Peer::new(from, Transport::Udp), now);
    }

    /// Call the service's timeout when it is due.
    pub(crate) fn run_timers(&mut self, now: Instant) {
        if let Some(t) = self.service.poll_timeout()
            && t <= now
        {
            self.counters.timeouts += 1;
            self.service.on_timeout(now);
        }
    }

    /// When the loop must wake up at the latest: the service's timeout
    /// or the next idle-connection sweep.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        let service = self.service.poll_timeout();
        match (service, self.next_sweep) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Drain the service's transmits: UDP to the driver, TCP onto
    /// connections; then report transport errors (which may produce more
    /// transmits, hence the rounds).
    pub(crate) fn drain<D: Driver>(&mut self, d: &mut D, now: Instant) {
        for _round in 0..16 {
            loop {
                let buf = d.transmit_buffer();
                buf.clear();
                let Some(peer) = self.service.poll_transmit(buf) else {
                    break;
                };
                match peer.transport {
                    Transport::Udp => match self.udp_socket_for(buf, peer.addr) {
                        Some(socket) => d.queue_udp(socket, peer.addr, &mut self.counters),
                        None => {
                            self.counters.errors += 1;
                            self.failed.push(peer);
                        }
                    },
                    Transport::Tcp => {
                        let bytes = mem::take(buf);
                        self.send_tcp(peer.addr, &bytes, d, now);
                        *d.transmit_buffer() = bytes;
                    }
                    _ => self.failed.push(peer),
                }
            }
            d.take_udp_errors(&mut self.udp_failed);
            for addr in self.udp_failed.drain(..) {
                self.failed.push(Peer::new(addr, Transport::Udp));
            }
            if self.failed.is_empty() {
                return;
            }
            let mut failed = mem::take(&mut self.failed);
            for peer in failed.drain(..) {
                self.counters.transport_errors += 1;
                self.service.on_transport_error(peer, now);
            }
            self.failed = failed;
        }
    }

    /// Which UDP socket a transmit leaves from: requests from the
    /// private socket, responses from the listen socket (see the crate
    /// documentation), falling back on any socket of the right family.
    #[inline]
    fn udp_socket_for(&self, bytes: &[u8], dest: SocketAddr) -> Option<usize> {
        let is_response = bytes.starts_with(b"SIP/2.0 ");
        let private = self
            .udp
            .get(self.private_udp)
            .filter(|e| same_family(e.local, dest))
            .map(|_| self.private_udp);
        let listen = if dest.is_ipv4() {
            self.listen_v4
        } else {
            self.listen_v6
        };
        if is_response {
            listen.or(private)
        } else {
            private.or(listen)
        }
    }

    /// Read UDP socket `socket`'s error queue: every original destination
    /// found is reported with `on_transport_error` at the next drain.
    pub(crate) fn udp_error_queue(&mut self, socket: usize) {
        let Some(endpoint) = self.udp.get(socket) else {
            return;
        };
        let failed = &mut self.failed;
        self.counters.syscalls += net::drain_error_queue(endpoint.socket.as_raw_fd(), |addr| {
            failed.push(Peer::new(addr, Transport::Udp));
        });
    }

    fn send_tcp<D: Driver>(&mut self, dest: SocketAddr, bytes: &[u8], d: &mut D, now: Instant) {
        if let Some(index) = self.conns.find(dest) {
            self.queue_on(index, bytes, d);
            return;
        }
        let remote = self.shared.registry().get(&dest).copied();
        if let Some(r) = remote
            && r.core != self.index
        {
            self.shared.post(
                r.core,
                InboxItem::Deliver {
                    dest,
                    token: r.token,
                    bytes: bytes.to_vec(),
                    origin: self.index,
                },
            );
            return;
        }
        self.connect_and_queue(dest, bytes, d, now);
    }

    fn queue_on<D: Driver>(&mut self, index: u32, bytes: &[u8], d: &mut D) {
        let limit = self.limits.tcp_output_limit;
        let Some(conn) = self.conns.at(index) else {
            self.counters.dropped += 1;
            return;
        };
        if conn.queue(bytes, limit) {
            self.counters.tx_messages += 1;
            self.counters.tx_bytes += bytes.len() as u64;
            self.conns.mark_dirty(index);
        } else {
            tracing::debug!(peer = %conn.peer, "TCP output queue overflow: closing");
            self.counters.errors += 1;
            self.close_conn(index, d, true);
        }
    }

    fn connect_and_queue<D: Driver>(
        &mut self,
        dest: SocketAddr,
        bytes: &[u8],
        d: &mut D,
        now: Instant,
    ) {
        self.counters.syscalls += 1;
        let socket = match net::connect_tcp(dest) {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(%dest, error = %e, "TCP connect failed");
                self.failed.push(Peer::new(dest, Transport::Tcp));
                return;
            }
        };
        let Some(index) = self.add_conn(Connection::new(socket, dest, true, now), d) else {
            self.failed.push(Peer::new(dest, Transport::Tcp));
            return;
        };
        self.counters.tcp_connected += 1;
        self.queue_on(index, bytes, d);
    }

    /// Store and watch a new connection, and register it for the other
    /// cores.
    fn add_conn<D: Driver>(&mut self, conn: Connection, d: &mut D) -> Option<u32> {
        let fd = conn.socket.as_raw_fd();
        let peer = conn.peer;
        let token = self.conns.insert(conn)?;
        let Token::Conn { index, .. } = token else {
            return None;
        };
        if let Err(e) = d.watch(fd, token) {
            tracing::warn!(%peer, error = %e, "cannot watch TCP connection");
            self.conns.remove(index);
            return None;
        }
        self.shared.registry().insert(
            peer,
            ConnRef {
                core: self.index,
                token,
            },
        );
        if self.next_sweep.is_none() {
            self.next_sweep = Some(Instant::now() + self.sweep_interval());
        }
        Some(index)
    }

    fn sweep_interval(&self) -> Duration {
        (self.limits.tcp_idle_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
    }

    /// Close a connection; `report` tells the service sending to its peer
    /// failed.
    fn close_conn<D: Driver>(&mut self, index: u32, d: &mut D, report: bool) {
        let Some((conn, token)) = self.conns.remove(index) else {
            return;
        };
        d.unwatch(conn.socket.as_raw_fd(), token);
        {
            let mut registry = self.shared.registry();
            if registry.get(&conn.peer)
                == Some(&ConnRef {
                    core: self.index,
                    token,
                })
            {
                registry.remove(&conn.peer);
            }
        }
        if report {
            self.failed.push(Peer::new(conn.peer, Transport::Tcp));
        }
        tracing::trace!(peer = %conn.peer, report, "TCP connection closed");
    }

    /// A listener is readable: accept everything pending.
    pub(crate) fn on_accept<D: Driver>(&mut self, listener: usize, d: &mut D, now: Instant) {
        loop {
            let Some(l) = self.listeners.get(listener) else {
                return;
            };
            self.counters.syscalls += 1;
            match l.accept() {
                Ok((socket, addr)) => {
                    let Some(peer) = addr.as_socket() else {
                        continue;
                    };
                    if socket.set_nonblocking(true).is_err() {
                        self.counters.errors += 1;
                        continue;
                    }
                    let _ = socket.set_tcp_nodelay(true);
                    if self
                        .add_conn(Connection::new(socket, peer, false, now), d)
                        .is_some()
                    {
                        self.counters.tcp_accepted += 1;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if e.kind() == io::ErrorKind::Interrupted
                        || e.raw_os_error() == Some(libc::ECONNABORTED) => {}
                Err(e) => {
                    // EMFILE and friends: the next edge retries.
                    tracing::warn!(error = %e, "TCP accept failed");
                    self.counters.errors += 1;
                    return;
                }
            }
        }
    }

    /// The fd of a live connection token (for re-arming a poll).
    pub(crate) fn conn_fd(&mut self, index: u32, generation: u32) -> Option<RawFd> {
        self.conns
            .get_mut(index, generation)
            .map(|c| c.socket.as_raw_fd())
    }

    /// Readiness of a TCP connection.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_conn_event<D: Driver>(
        &mut self,
        index: u32,
        generation: u32,
        readable: bool,
        writable: bool,
        failed: bool,
        d: &mut D,
        now: Instant,
    ) {
        let Some(conn) = self.conns.get_mut(index, generation) else {
            return;
        };
        if conn.connecting {
            if !writable && !failed {
                return;
            }
            match conn.socket.take_error() {
                Ok(None) if writable => {
                    conn.connecting = false;
                    conn.last_activity = now;
                    tracing::trace!(peer = %conn.peer, "TCP connected");
                    self.conns.mark_dirty(index);
                }
                other => {
                    tracing::debug!(peer = %conn.peer, result = ?other, "TCP connect failed");
                    self.counters.errors += 1;
                    self.close_conn(index, d, true);
                    return;
                }
            }
        }
        if readable || failed {
            self.read_conn(index, d, now);
        }
        if writable
            && let Some(conn) = self.conns.get_mut(index, generation)
            && let Err(e) = conn.flush(now, &mut self.counters.syscalls)
        {
            tracing::debug!(peer = %conn.peer, error = %e, "TCP write failed");
            self.counters.errors += 1;
            self.close_conn(index, d, true);
        }
    }

    fn read_conn<D: Driver>(&mut self, index: u32, d: &mut D, now: Instant) {
        loop {
            let Some(conn) = self.conns.at(index) else {
                return;
            };
            self.counters.syscalls += 1;
            let n = match (&conn.socket).read(&mut self.read_buf) {
                Ok(0) => {
                    let report = conn.pending_output() > 0;
                    self.close_conn(index, d, report);
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::debug!(peer = %conn.peer, error = %e, "TCP read failed");
                    self.counters.errors += 1;
                    self.close_conn(index, d, true);
                    return;
                }
            };
            conn.input
                .extend_from_slice(self.read_buf.get(..n).unwrap_or(&[]));
            conn.last_activity = now;
            let peer = Peer::new(conn.peer, Transport::Tcp);
            let mut pings = 0;
            let service = &mut self.service;
            let counters = &mut self.counters;
            let framed = tcp::cut_frames(&conn.input, self.limits.max_message, &mut pings, |m| {
                counters.rx_messages += 1;
                counters.rx_bytes += m.len() as u64;
                service.on_message(m, peer, now);
            });
            match framed {
                Ok(consumed) => {
                    conn.input.drain(..consumed);
                }
                Err(e) => {
                    tracing::debug!(peer = %peer.addr, error = %e, "TCP framing error: closing");
                    self.counters.errors += 1;
                    self.close_conn(index, d, false);
                    return;
                }
            }
            if pings > 0 {
                self.counters.tcp_pings += pings;
                for _ in 0..pings {
                    // A pong is two bytes: it cannot overflow a sane limit,
                    // and a connection that does is closed by queue_on.
                    self.queue_pong(index, d);
                }
            }
            if n < self.read_buf.len() {
                // A short read drained the socket: the next byte brings a
                // new edge.
                return;
            }
        }
    }

    fn queue_pong<D: Driver>(&mut self, index: u32, d: &mut D) {
        let limit = self.limits.tcp_output_limit;
        let Some(conn) = self.conns.at(index) else {
            return;
        };
        if conn.queue(b"\r\n", limit) {
            self.conns.mark_dirty(index);
        } else {
            self.close_conn(index, d, true);
        }
    }

    /// Write the output queued on connections during this iteration.
    pub(crate) fn flush_tcp<D: Driver>(&mut self, d: &mut D, now: Instant) {
        while let Some(index) = self.conns.pop_dirty() {
            let Some(conn) = self.conns.at(index) else {
                continue;
            };
            if conn.connecting {
                continue;
            }
            if let Err(e) = conn.flush(now, &mut self.counters.syscalls) {
                tracing::debug!(peer = %conn.peer, error = %e, "TCP write failed");
                self.counters.errors += 1;
                self.close_conn(index, d, true);
            }
        }
    }

    /// Close connections idle for longer than the idle timeout (a connect
    /// still pending then counts as failed).
    pub(crate) fn sweep_idle<D: Driver>(&mut self, d: &mut D, now: Instant) {
        let Some(due) = self.next_sweep else {
            return;
        };
        if now < due {
            return;
        }
        let mut idle = mem::take(&mut self.scratch);
        if let Some(cutoff) = now.checked_sub(self.limits.tcp_idle_timeout) {
            self.conns.idle_since(cutoff, &mut idle);
        }
        for index in idle.drain(..) {
            let report = self
                .conns
                .at(index)
                .is_some_and(|c| c.connecting || c.pending_output() > 0);
            tracing::debug!(index, "TCP connection idle: closing");
            self.close_conn(index, d, report);
        }
        self.scratch = idle;
        self.next_sweep = if self.conns.is_empty() {
            None
        } else {
            Some(now + self.sweep_interval())
        };
    }

    /// The eventfd fired: read it, then take the inbox.
    pub(crate) fn on_wake<D: Driver>(&mut self, d: &mut D, now: Instant) {
        let shared = Arc::clone(&self.shared);
        let Some(me) = shared.cores.get(self.index) else {
            return;
        };
        self.counters.syscalls += 1;
        me.take_inbox(&mut self.inbox);
        while let Some(item) = self.inbox.pop_front() {
            match item {
                InboxItem::Deliver {
                    dest,
                    token,
                    bytes,
                    origin,
                } => {
                    let live = match token {
                        Token::Conn { index, generation } => self
                            .conns
                            .get_mut(index, generation)
                            .filter(|c| c.peer == dest)
                            .map(|_| index),
                        _ => None,
                    };
                    match live {
                        Some(index) => self.queue_on(index, &bytes, d),
                        None if origin != self.index => {
                            self.shared
                                .post(origin, InboxItem::Undeliverable { dest, bytes });
                        }
                        None => self.connect_and_queue(dest, &bytes, d, now),
                    }
                }
                InboxItem::Undeliverable { dest, bytes } => match self.conns.find(dest) {
                    Some(index) => self.queue_on(index, &bytes, d),
                    None => self.connect_and_queue(dest, &bytes, d, now),
                },
            }
        }
    }

    /// Close every connection (shutdown).
    pub(crate) fn close_all<D: Driver>(&mut self, d: &mut D) {
        let mut all = mem::take(&mut self.scratch);
        self.conns.all(&mut all);
        for index in all.drain(..) {
            self.close_conn(index, d, false);
        }
        self.scratch = all;
        self.failed.clear();
        self.publish();
    }
}
