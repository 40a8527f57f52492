//! The media node's IO: the ng control socket, one UDP socket per allocated media port,
//! and the relay's timers, all driven by one tokio task that owns the relay.
//!
//! - Sockets: [`MediaSockets`] binds the RTP and RTCP ports of a pair on the node's
//!   interface when the ng commands create a stream, and closes them when the call is
//!   deleted. A bind failure becomes an ng error reply.
//! - Packets: each media socket has a small reader task that copies datagrams into a
//!   bounded channel, with [`SRTP_MAX_OVERHEAD`] spare bytes after each for the trailer
//!   SRTP protection adds; the media task hands them to
//!   [`ferrovox_media::Relay::handle_datagram`] with the node's clock and sends forwards
//!   with a non-blocking `send_to` on the socket of `from_port` (a full socket buffer drops
//!   the packet and counts it). A transcoding stream's datagram is consumed by the relay
//!   instead ([`Action::Consumed`]); the packets its transcoder produced are drained with
//!   [`ferrovox_media::Relay::poll_transmit`] and sent the same way. The relay is never
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
use ferrovox_media::ports::PortPair;
use ferrovox_media::{Action, SRTP_MAX_OVERHEAD};
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

/// Room for one transcoded packet and its SRTP trailer.
const TRANSMIT_BUFFER: usize = ferrovox_media::transcode::TX_SLOT_BYTES + SRTP_MAX_OVERHEAD;

/// Datagrams waiting for the media task before readers wait (UDP buffers absorb the rest).
const INBOUND_QUEUE: usize = 4096;

/// One received media datagram: `data[..len]`, followed by room for an SRTP trailer.
pub(crate) struct Inbound {
    port: u16,
    src: SocketAddr,
    data: Vec<u8>,
    len: usize,
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
                let mut data = Vec::with_capacity(length + SRTP_MAX_OVERHEAD);
                data.extend_from_slice(&buffer[..length]);
                data.resize(length + SRTP_MAX_OVERHEAD, 0);
                let datagram = Inbound {
                    port,
                    src,
                    data,
                    len: length,
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
    let action = commands.relay_mut().handle_datagram(
        datagram.port,
        datagram.src,
        &mut datagram.data,
        datagram.len,
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
        Action::Consumed { queued } => {
            if queued > 0 {
                send_transcoded(commands);
            }
        }
    }
}

/// Sends what the relay's transcoders produced (each packet from its stream's socket).
fn send_transcoded(commands: &mut RelayCommands<MediaSockets>) {
    let mut out = [0u8; TRANSMIT_BUFFER];
    while let Some(t) = commands.relay_mut().poll_transmit(&mut out) {
        let Some(socket) = commands.ports().socket(t.from_port) else {
            tracing::debug!(
                from_port = t.from_port,
                "transcoded packet from a port without a socket"
            );
            continue;
        };
        let bytes = out.get(..t.len).unwrap_or(&out);
        if let Err(error) = socket.try_send_to(bytes, t.to) {
            metrics::counter!("ferrovox_media_send_errors_total").increment(1);
            tracing::trace!(%error, to = %t.to, from_port = t.from_port, "media send failed");
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

#[cfg(test)]
mod tests {
    //! The media task on real UDP sockets (127.0.0.1): ng over its socket, SRTP checked by
    //! an SRTP implementation that shares no code with the node's ([`SrtpOracle`]).

    use super::*;
    use crate::ng::bencode::{self, Value};
    use crate::ng::relay_commands::RelayCommands;
    use crate::ng::srtp_oracle::SrtpOracle;
    use ferrovox_contract::MemoryBus;
    use ferrovox_media::{Relay, RelayConfig};
    use ferrovox_sdp::SessionDescription;
    use std::time::Duration;

    const WAIT: Duration = Duration::from_secs(5);

    struct Running {
        ng: UdpSocket,
        ng_addr: SocketAddr,
        stop: watch::Sender<bool>,
        task: tokio::task::JoinHandle<()>,
    }

    async fn start(port_min: u16, port_max: u16) -> Running {
        let interface: IpAddr = "127.0.0.1".parse().unwrap();
        let relay = Relay::new(RelayConfig {
            port_min,
            port_max,
            ..RelayConfig::default()
        })
        .unwrap();
        let (sockets, inbound) = MediaSockets::new(interface);
        let ng = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let ng_addr = ng.local_addr().unwrap();
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(MediaTask {
            ng,
            commands: RelayCommands::new(relay, interface, sockets),
            inbound,
            stop: stopped,
            alive: Arc::new(AtomicBool::new(true)),
            bus: Arc::new(MemoryBus::new()),
            node_id: NodeId::new("srtp-test").unwrap(),
        }));
        Running {
            ng: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            ng_addr,
            stop,
            task,
        }
    }

    async fn ng(node: &Running, entries: &[(&str, &str)]) -> Value {
        let mut datagram = b"k1 ".to_vec();
        Value::dict(entries.iter().map(|(k, v)| (*k, Value::bytes(v)))).encode(&mut datagram);
        node.ng.send_to(&datagram, node.ng_addr).await.unwrap();
        let mut buffer = vec![0u8; 65_536];
        let (n, _) = tokio::time::timeout(WAIT, node.ng.recv_from(&mut buffer))
            .await
            .expect("ng reply")
            .unwrap();
        bencode::decode(buffer[..n].strip_prefix(b"k1 ").unwrap()).unwrap()
    }

    fn sdp_of(reply: &Value) -> SessionDescription {
        assert_eq!(
            reply.get("result").and_then(Value::as_str),
            Some("ok"),
            "{reply:?}"
        );
        let Some(Value::Bytes(sdp)) = reply.get("sdp") else {
            panic!("no sdp in {reply:?}")
        };
        SessionDescription::parse(sdp).unwrap()
    }

    fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
        let mut p = vec![0x80, 0];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend((0..160).map(|i: u16| (i.wrapping_mul(7) ^ seq) as u8));
        p
    }

    async fn receive(socket: &UdpSocket) -> Vec<u8> {
        let mut buffer = [0u8; 2048];
        let (n, _) = tokio::time::timeout(WAIT, socket.recv_from(&mut buffer))
            .await
            .expect("a relayed packet")
            .unwrap();
        buffer[..n].to_vec()
    }

    #[tokio::test]
    async fn plain_caller_and_sdes_callee_over_udp() {
        let node = start(48800, 48899).await;
        let caller = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let callee = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let caller_rtcp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let callee_rtcp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = |s: &UdpSocket| s.local_addr().unwrap().port();
        let (caller_port, callee_port) = (port(&caller), port(&callee));
        let (caller_rtcp_port, callee_rtcp_port) = (port(&caller_rtcp), port(&callee_rtcp));
        let caller_sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {caller_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtcp:{caller_rtcp_port}\r\n"
        );
        let offer = ng(
            &node,
            &[
                ("command", "offer"),
                ("call-id", "srtp-udp"),
                ("from-tag", "a"),
                ("transport-protocol", "RTP/SAVP"),
                ("sdp", &caller_sdp),
            ],
        )
        .await;
        let to_callee = sdp_of(&offer);
        assert_eq!(to_callee.media[0].proto, "RTP/SAVP");
        let node_key = to_callee.media[0]
            .crypto()
            .find(|c| c.suite == "AES_CM_128_HMAC_SHA1_80")
            .expect("an AES_CM_128_HMAC_SHA1_80 line");
        let (node_tag, node_key) = (node_key.tag, node_key.keys[0].key_salt_bytes().unwrap());

        // The callee's own key: 30 bytes, base64 "MDEy...".
        let callee_key: Vec<u8> = (b'0'..).take(30).collect();
        let callee_b64 = "MDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xN";
        let callee_sdp = format!(
            "v=0\r\no=- 2 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {callee_port} RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtcp:{callee_rtcp_port}\r\na=crypto:{node_tag} AES_CM_128_HMAC_SHA1_80 inline:{callee_b64}\r\n"
        );
        let answer = ng(
            &node,
            &[
                ("command", "answer"),
                ("call-id", "srtp-udp"),
                ("from-tag", "a"),
                ("to-tag", "b"),
                ("sdp", &callee_sdp),
            ],
        )
        .await;
        let to_caller = sdp_of(&answer);
        assert_eq!(to_caller.media[0].proto, "RTP/AVP");
        assert_eq!(to_caller.media[0].crypto().count(), 0);
        let (caller_facing, callee_facing) = (to_caller.media[0].port, to_callee.media[0].port);

        // A -> B: plain RTP in, SRTP out that the independent implementation decrypts
        // and authenticates with the key the offer announced.
        let toward_callee = SrtpOracle::new(&node_key, 10);
        for seq in 100..120 {
            let sent = rtp(seq, 0xa11ce);
            caller
                .send_to(&sent, ("127.0.0.1", caller_facing))
                .await
                .unwrap();
            let got = receive(&callee).await;
            assert_eq!(got.len(), sent.len() + 10, "80-bit tag");
            assert_ne!(got[12..172], sent[12..], "payload encrypted");
            assert_eq!(
                toward_callee.unprotect_rtp(&got, 0),
                Some(sent),
                "seq {seq}"
            );
        }
        // B -> A: SRTP under the callee's key in, plain RTP out.
        let from_callee = SrtpOracle::new(&callee_key, 10);
        for seq in 7..27 {
            let sent = rtp(seq, 0xb0b);
            let srtp = from_callee.protect_rtp(&sent, 0);
            callee
                .send_to(&srtp, ("127.0.0.1", callee_facing))
                .await
                .unwrap();
            assert_eq!(receive(&caller).await, sent, "seq {seq}");
        }
        // SRTCP from B reaches A as RTCP; A's RTCP reaches B as SRTCP.
        let report = [
            0x81, 201, 0, 7, 0, 0, 0x0b, 0x0b, 0, 0x0a, 0x11, 0xce, 0, 0, 0, 0, 0, 0, 0, 119, 0, 0,
            0, 3, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let srtcp = from_callee.protect_rtcp(&report, 1);
        callee_rtcp
            .send_to(&srtcp, ("127.0.0.1", callee_facing + 1))
            .await
            .unwrap();
        assert_eq!(receive(&caller_rtcp).await, report.to_vec());
        caller_rtcp
            .send_to(&report, ("127.0.0.1", caller_facing + 1))
            .await
            .unwrap();
        let got = receive(&callee_rtcp).await;
        assert_eq!(got.len(), report.len() + 14, "E|index and an 80-bit tag");
        let (plain, _index) = toward_callee.unprotect_rtcp(&got).expect("authentic SRTCP");
        assert_eq!(plain, report.to_vec());

        // A forged packet from B is dropped, and counted as an error.
        let mut forged = from_callee.protect_rtp(&rtp(27, 0xb0b), 0);
        forged[30] ^= 0xff;
        callee
            .send_to(&forged, ("127.0.0.1", callee_facing))
            .await
            .unwrap();
        let mut buffer = [0u8; 2048];
        assert!(
            tokio::time::timeout(Duration::from_millis(300), caller.recv_from(&mut buffer))
                .await
                .is_err(),
            "the forged packet must not reach the caller"
        );
        let query = ng(&node, &[("command", "query"), ("call-id", "srtp-udp")]).await;
        let total = query
            .get("totals")
            .and_then(|t| t.get("RTP"))
            .and_then(|t| t.get("errors"));
        assert_eq!(total, Some(&Value::Integer(1)), "{query:?}");

        let _ = node.stop.send(true);
        let _ = node.task.await;
    }
}
