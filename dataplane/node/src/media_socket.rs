//! The media node's IO: the ng control socket, one UDP socket per allocated media port,
//! and the relay's timers, all driven by one tokio task that owns the relay.
//!
//! - Sockets: [`MediaSockets`] binds the RTP and RTCP ports of a pair on the node's
//!   interface when the ng commands create a stream, and closes them when the call is
//!   deleted. A bind failure becomes an ng error reply.
//! - Packets: each media socket has a small reader task that copies datagrams into a
//!   bounded channel; the media task hands them to [`ferrovox_media::Relay::handle_packet`]
//!   with the node's clock and sends forwards with a non-blocking `send_to` on the socket of
//!   `from_port` (a full socket buffer drops the packet and counts it). The relay is never
//!   behind a `Mutex`: only the media task touches it.
//! - Timers: the task sleeps until [`ferrovox_media::Relay::poll_timeout`], runs
//!   `handle_timeout`, and drains the events: a media timeout deletes the call; timeouts and
//!   DTMF are published on the bus (`call.media_timeout`, `call.final_timeout`, `call.dtmf`).
//!
//! This is the simple, correct runtime. Not done here: the production io_uring
//! thread-per-core runtime (per-core relays, batched receive/send, no per-packet copy into
//! a channel) comes later; datagrams above [`MAX_MEDIA_DATAGRAM`] bytes are truncated.

use crate::ng::relay_commands::{MediaPorts, RelayCommands};
use crate::ng_socket;
use ferrovox_contract::{Bus, Event, NodeId};
use ferrovox_media::Action;
use ferrovox_media::ports::PortPair;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;

/// Largest media datagram relayed whole (RTP over UDP stays below the path MTU).
pub(crate) const MAX_MEDIA_DATAGRAM: usize = 4096;

/// Datagrams waiting for the media task before readers wait (UDP buffers absorb the rest).
const INBOUND_QUEUE: usize = 4096;

/// One received media datagram.
pub(crate) struct Inbound {
    port: u16,
    src: SocketAddr,
    data: Vec<u8>,
}

struct Open {
    socket: Arc<UdpSocket>,
    reader: AbortHandle,
}

/// The node's media sockets, keyed by local port.
pub(crate) struct MediaSockets {
    interface: IpAddr,
    open: HashMap<u16, Open>,
    inbound: mpsc::Sender<Inbound>,
}

impl MediaSockets {
    pub(crate) fn new(interface: IpAddr) -> (Self, mpsc::Receiver<Inbound>) {
        let (inbound, receiver) = mpsc::channel(INBOUND_QUEUE);
        (
            Self {
                interface,
                open: HashMap::new(),
                inbound,
            },
            receiver,
        )
    }

    fn socket(&self, port: u16) -> Option<&UdpSocket> {
        self.open.get(&port).map(|open| open.socket.as_ref())
    }

    fn bind(&mut self, port: u16) -> std::io::Result<()> {
        let socket = std::net::UdpSocket::bind(SocketAddr::new(self.interface, port))?;
        socket.set_nonblocking(true)?;
        let socket = Arc::new(UdpSocket::from_std(socket)?);
        let reader = tokio::spawn(read(socket.clone(), port, self.inbound.clone())).abort_handle();
        self.open.insert(port, Open { socket, reader });
        Ok(())
    }

    fn close_port(&mut self, port: u16) {
        if let Some(open) = self.open.remove(&port) {
            open.reader.abort();
        }
    }

    fn close_all(&mut self) {
        for (_, open) in self.open.drain() {
            open.reader.abort();
        }
    }
}

impl MediaPorts for MediaSockets {
    fn open(&mut self, pair: PortPair) -> std::io::Result<()> {
        self.bind(pair.rtp)?;
        if let Err(error) = self.bind(pair.rtcp) {
            self.close_port(pair.rtp);
            return Err(error);
        }
        tracing::trace!(rtp = pair.rtp, rtcp = pair.rtcp, "media ports open");
        Ok(())
    }

    fn close(&mut self, pair: PortPair) {
        self.close_port(pair.rtp);
        self.close_port(pair.rtcp);
        tracing::trace!(rtp = pair.rtp, rtcp = pair.rtcp, "media ports closed");
    }
}

async fn read(socket: Arc<UdpSocket>, port: u16, inbound: mpsc::Sender<Inbound>) {
    let mut buffer = vec![0u8; MAX_MEDIA_DATAGRAM];
    loop {
        match socket.recv_from(&mut buffer).await {
            Ok((length, src)) => {
                let datagram = Inbound {
                    port,
                    src,
                    data: buffer[..length].to_vec(),
                };
                if inbound.send(datagram).await.is_err() {
                    return;
                }
            }
            // ICMP errors from earlier sends surface here; they do not end the socket.
            Err(error) => tracing::trace!(%error, port, "media receive error"),
        }
    }
}

/// What the media task needs besides its sockets.
pub(crate) struct MediaTask {
    pub ng: UdpSocket,
    pub commands: RelayCommands<MediaSockets>,
    pub inbound: mpsc::Receiver<Inbound>,
    pub stop: watch::Receiver<bool>,
    pub alive: Arc<AtomicBool>,
    pub bus: Arc<dyn Bus>,
    pub node_id: NodeId,
}

pub(crate) async fn run(task: MediaTask) {
    let MediaTask {
        ng,
        mut commands,
        mut inbound,
        mut stop,
        alive,
        bus,
        node_id,
    } = task;
    let mut buffer = vec![0u8; ng_socket::MAX_DATAGRAM];
    loop {
        let deadline = commands.relay().poll_timeout();
        tokio::select! {
            _ = stop.changed() => break,
            received = ng.recv_from(&mut buffer) => {
                let (length, peer) = match received {
                    Ok(received) => received,
                    Err(error) => {
                        // ICMP errors from earlier replies surface here; they do not end the socket.
                        tracing::debug!(%error, "ng receive error");
                        continue;
                    }
                };
                let reply = ng_socket::reply(&buffer[..length], peer, &mut commands, Instant::now());
                if let Some(reply) = reply
                    && let Err(error) = ng.send_to(&reply, peer).await
                {
                    tracing::debug!(%error, %peer, "ng reply not sent");
                }
                // A command may have deleted calls whose timers were pending.
                drain_events(&mut commands, &bus, &node_id);
            }
            Some(mut datagram) = inbound.recv() => {
                relay_one(&mut commands, &mut datagram);
                // DTMF events come from packets (an empty queue costs one check).
                drain_events(&mut commands, &bus, &node_id);
            }
            _ = sleep_until(deadline), if deadline.is_some() => {
                commands.relay_mut().handle_timeout(Instant::now());
                drain_events(&mut commands, &bus, &node_id);
            }
        }
    }
    commands.ports_mut().close_all();
    alive.store(false, Ordering::Relaxed);
}

fn relay_one(commands: &mut RelayCommands<MediaSockets>, datagram: &mut Inbound) {
    let action = commands.relay_mut().handle_packet(
        datagram.port,
        datagram.src,
        &mut datagram.data,
        Instant::now(),
    );
    match action {
        Action::Forward { from_port, to, len } => {
            let Some(socket) = commands.ports().socket(from_port) else {
                tracing::debug!(from_port, "forward from a port without a socket");
                return;
            };
            let bytes = datagram.data.get(..len).unwrap_or(&datagram.data);
            if let Err(error) = socket.try_send_to(bytes, to) {
                metrics::counter!("ferrovox_media_send_errors_total").increment(1);
                tracing::trace!(%error, %to, from_port, "media send failed");
            }
        }
        Action::Drop(reason) => {
            tracing::trace!(port = datagram.port, src = %datagram.src, ?reason, "media dropped");
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline.into()).await;
    }
}

fn drain_events(commands: &mut RelayCommands<MediaSockets>, bus: &Arc<dyn Bus>, node: &NodeId) {
    while let Some(event) = commands.relay_mut().poll_event() {
        let Some(call_event) = commands.handle_event(event) else {
            continue;
        };
        let event = Event::new(call_event.event_type, node.as_str(), call_event.data);
        let bus = bus.clone();
        // Publishing never holds up the packet path.
        tokio::spawn(async move {
            if let Err(error) = bus.publish(&event).await {
                tracing::warn!(%error, event = event.event_type, "could not publish call event");
            }
        });
    }
}
