//! The backend-independent half of a media core thread: the service, the
//! port table (port → socket slot), commands and port changes. The
//! backends ([`super::uring`], [`super::portable`]) own the waiting and
//! the packet system calls and call in here through [`PortIo`].

use super::command::Command;
use super::stats::{MediaCounters, PublishedMediaCounters};
use super::{DatagramService, PortChange};
use crate::cores::CoreSet;
use crate::net;
use crate::token;
use socket2::Socket;
use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

/// A boxed command for a core's service.
pub(crate) type BoxedCommand<S> = Box<dyn Command<S>>;

/// Everything the media cores share (off the packet path): their
/// inboxes carry commands for the services.
pub(crate) type MediaShared<S> = CoreSet<BoxedCommand<S>, PublishedMediaCounters>;

/// user_data / epoll data, in the layout of [`crate::token`] (kind,
/// generation, index) with the media runtime's own kinds. A separate
/// enum from the SIP `Token` on purpose: the two never share a ring or
/// an epoll set, and each backend's `match` stays exhaustive over the
/// kinds it can actually receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MediaToken {
    /// The core's eventfd.
    Wake,
    /// Socket slot `slot` (generation `gen`): readable (epoll) or its
    /// multishot receive (io_uring).
    Port { slot: u32, generation: u32 },
    /// A forward out of provided buffer `bid` (io_uring).
    Forward(u32),
    /// A `poll_transmit` send slot (io_uring).
    Transmit(u32),
    /// Completions nobody waits for (a port's cancellation).
    Ignore,
    /// The shutdown cancellation.
    Shutdown,
}

/// Most socket slots a core can have.
pub(crate) const MAX_SLOTS: usize = token::MAX_INDEX as usize;

impl MediaToken {
    #[inline]
    pub(crate) fn encode(self) -> u64 {
        let (kind, generation, index) = match self {
            MediaToken::Wake => (1, 0, 0),
            MediaToken::Port { slot, generation } => (2, generation, slot),
            MediaToken::Forward(b) => (3, 0, b),
            MediaToken::Transmit(s) => (4, 0, s),
            MediaToken::Ignore => (5, 0, 0),
            MediaToken::Shutdown => (6, 0, 0),
        };
        token::pack(kind, generation, index)
    }

    #[inline]
    pub(crate) fn decode(data: u64) -> Option<MediaToken> {
        let (kind, generation, index) = token::unpack(data);
        Some(match kind {
            1 => MediaToken::Wake,
            2 => MediaToken::Port {
                slot: index,
                generation,
            },
            3 => MediaToken::Forward(index),
            4 => MediaToken::Transmit(index),
            5 => MediaToken::Ignore,
            6 => MediaToken::Shutdown,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotState {
    Free,
    Open,
    /// Receive being cancelled (io_uring): the socket is closed when the
    /// kernel is done with it. Opening the port meanwhile revives it (same
    /// socket: nothing sent to the port in between is lost).
    Closing,
}

/// A socket slot.
#[derive(Debug)]
pub(crate) struct PortSlot {
    pub(crate) port: u16,
    pub(crate) generation: u32,
    pub(crate) state: SlotState,
    pub(crate) socket: Option<Socket>,
    pub(crate) fd: RawFd,
}

const NO_SLOT: u32 = u32::MAX;

/// Port → slot, and the slots.
pub(crate) struct PortTable {
    by_port: Box<[u32]>,
    pub(crate) slots: Vec<PortSlot>,
    free: Vec<u32>,
    pub(crate) open: usize,
}

impl PortTable {
    fn new() -> PortTable {
        PortTable {
            by_port: vec![NO_SLOT; 65536].into_boxed_slice(),
            slots: Vec::new(),
            free: Vec::new(),
            open: 0,
        }
    }

    /// The open socket of `port`: (slot, generation, fd).
    #[inline]
    pub(crate) fn open_fd(&self, port: u16) -> Option<(u32, u32, RawFd)> {
        let slot = self.by_port[usize::from(port)];
        let s = self.slots.get(slot as usize)?;
        (s.state == SlotState::Open).then_some((slot, s.generation, s.fd))
    }

    /// Slot `slot` if it is open with generation `generation`: (port, fd).
    #[inline]
    pub(crate) fn live(&self, slot: u32, generation: u32) -> Option<(u16, RawFd)> {
        let s = self.slots.get(slot as usize)?;
        (s.generation == generation && s.state == SlotState::Open).then_some((s.port, s.fd))
    }

    /// Slot `slot` with generation `generation`, in any state.
    pub(crate) fn get(&self, slot: u32, generation: u32) -> Option<&PortSlot> {
        self.slots
            .get(slot as usize)
            .filter(|s| s.generation == generation && s.state != SlotState::Free)
    }
}

/// What a backend does when ports open and close.
pub(crate) trait PortIo {
    /// Start receiving on a newly bound socket.
    fn arm(&mut self, slot: u32, generation: u32, fd: RawFd) -> io::Result<()>;
    /// Stop receiving. True: the socket can be closed at once. False: the
    /// backend calls [`MediaCore::finish_close`] once the kernel is done
    /// with it.
    fn disarm(&mut self, slot: u32, generation: u32, fd: RawFd) -> bool;
}

/// Bind a media socket: non-blocking, buffers sized, no SO_REUSEPORT,
/// no IP_RECVERR (a dead peer is found by the relay's media timeout).
pub(crate) fn bind_media(ip: IpAddr, port: u16, buffer: usize) -> io::Result<Socket> {
    let addr = SocketAddr::new(ip, port);
    let socket = net::udp_socket(addr, buffer)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// A core's state apart from the backend.
pub(crate) struct MediaCore<S> {
    pub(crate) service: S,
    pub(crate) index: usize,
    pub(crate) shared: Arc<MediaShared<S>>,
    pub(crate) ports: PortTable,
    pub(crate) counters: MediaCounters,
    interface: IpAddr,
    socket_buffer: usize,
    commands: VecDeque<BoxedCommand<S>>,
}

impl<S: DatagramService> MediaCore<S> {
    pub(crate) fn new(
        service: S,
        index: usize,
        shared: Arc<MediaShared<S>>,
        interface: IpAddr,
        socket_buffer: usize,
    ) -> Self {
        MediaCore {
            service,
            index,
            shared,
            ports: PortTable::new(),
            counters: MediaCounters::default(),
            interface,
            socket_buffer,
            commands: VecDeque::with_capacity(64),
        }
    }

    pub(crate) fn publish(&mut self) {
        self.counters.ports_open = self.ports.open as u64;
        if let Some(me) = self.shared.cores.get(self.index) {
            me.counters.publish(&self.counters);
        }
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

    /// The eventfd fired: run every queued command, applying the port
    /// changes of each before its caller gets the result.
    pub(crate) fn run_commands(&mut self, io: &mut impl PortIo) {
        let shared = Arc::clone(&self.shared);
        let Some(me) = shared.cores.get(self.index) else {
            return;
        };
        self.counters.syscalls += 1;
        me.take_inbox(&mut self.commands);
        while let Some(mut cmd) = self.commands.pop_front() {
            self.counters.commands += 1;
            let service = &mut self.service;
            let ran = catch_unwind(AssertUnwindSafe(|| cmd.run(service)));
            self.apply_port_changes(io);
            // Publish before answering, so a caller of `call` sees the ports its command
            // opened in `stats()` (off the packet path: commands are rare).
            self.publish();
            match ran {
                Ok(()) => cmd.finish(),
                Err(_) => {
                    tracing::error!(core = self.index, "media command panicked");
                    self.counters.errors += 1;
                    // Dropping the command closes its reply unanswered.
                    drop(cmd);
                }
            }
        }
    }

    /// Open and close the sockets the service asks for.
    pub(crate) fn apply_port_changes(&mut self, io: &mut impl PortIo) {
        while let Some(change) = self.service.poll_port_change() {
            match change {
                PortChange::Open(port) => self.open_port(port, io),
                PortChange::Close(port) => self.close_port(port, io),
            }
        }
    }

    fn open_port(&mut self, port: u16, io: &mut impl PortIo) {
        let existing = self.ports.by_port[usize::from(port)];
        if let Some(s) = self.ports.slots.get_mut(existing as usize) {
            match s.state {
                SlotState::Open => return,
                SlotState::Closing => {
                    s.state = SlotState::Open;
                    self.ports.open += 1;
                    self.counters.ports_opened += 1;
                    return;
                }
                SlotState::Free => {}
            }
        }
        if self.ports.slots.len() >= MAX_SLOTS && self.ports.free.is_empty() {
            self.port_failed(port, &io::Error::other("too many ports on one core"));
            return;
        }
        let bound = self.service.take_bound_socket(port).map(Socket::from);
        let socket =
            match bound.map_or_else(|| bind_media(self.interface, port, self.socket_buffer), Ok) {
                Ok(s) => s,
                Err(e) => {
                    self.port_failed(port, &e);
                    return;
                }
            };
        let fd = socket.as_raw_fd();
        let slot = match self.ports.free.pop() {
            Some(slot) => slot,
            None => {
                self.ports.slots.push(PortSlot {
                    port,
                    generation: 0,
                    state: SlotState::Free,
                    socket: None,
                    fd: -1,
                });
                (self.ports.slots.len() - 1) as u32
            }
        };
        let s = &mut self.ports.slots[slot as usize];
        s.generation = s.generation.wrapping_add(1);
        let generation = s.generation;
        s.port = port;
        s.state = SlotState::Open;
        s.socket = Some(socket);
        s.fd = fd;
        self.ports.by_port[usize::from(port)] = slot;
        if let Err(e) = io.arm(slot, generation, fd) {
            self.release(slot);
            self.port_failed(port, &e);
            return;
        }
        self.ports.open += 1;
        self.counters.ports_opened += 1;
    }

    fn port_failed(&mut self, port: u16, e: &io::Error) {
        tracing::debug!(core = self.index, port, error = %e, "media port cannot be opened");
        self.counters.port_errors += 1;
        self.service.on_port_error(port, e);
    }

    fn close_port(&mut self, port: u16, io: &mut impl PortIo) {
        let slot = self.ports.by_port[usize::from(port)];
        let Some(s) = self.ports.slots.get_mut(slot as usize) else {
            return;
        };
        match s.state {
            SlotState::Free | SlotState::Closing => {}
            SlotState::Open => {
                s.state = SlotState::Closing;
                let (generation, fd) = (s.generation, s.fd);
                self.ports.open -= 1;
                self.counters.ports_closed += 1;
                if io.disarm(slot, generation, fd) {
                    self.finish_close(slot, generation);
                }
            }
        }
    }

    /// The kernel is done with slot `slot`'s socket: close it (unless
    /// the port was opened again meanwhile).
    pub(crate) fn finish_close(&mut self, slot: u32, generation: u32) {
        let Some(s) = self.ports.slots.get(slot as usize) else {
            return;
        };
        if s.generation == generation && s.state == SlotState::Closing {
            self.release(slot);
        }
    }

    fn release(&mut self, slot: u32) {
        let s = &mut self.ports.slots[slot as usize];
        s.state = SlotState::Free;
        s.socket = None;
        s.fd = -1;
        if self.ports.by_port[usize::from(s.port)] == slot {
            self.ports.by_port[usize::from(s.port)] = NO_SLOT;
        }
        self.ports.free.push(slot);
    }

    /// Close every socket (shutdown, after the backend stopped using them).
    pub(crate) fn close_all(&mut self) {
        for slot in 0..self.ports.slots.len() {
            if self.ports.slots[slot].state != SlotState::Free {
                self.release(slot as u32);
            }
        }
        self.ports.open = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_tokens_round_trip() {
        for t in [
            MediaToken::Wake,
            MediaToken::Port {
                slot: MAX_SLOTS as u32,
                generation: u32::MAX,
            },
            MediaToken::Port {
                slot: 3,
                generation: 1,
            },
            MediaToken::Forward(4095),
            MediaToken::Transmit(17),
            MediaToken::Ignore,
            MediaToken::Shutdown,
        ] {
            assert_eq!(MediaToken::decode(t.encode()), Some(t));
        }
        assert_eq!(MediaToken::decode(0), None);
    }
}
