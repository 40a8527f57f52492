//! The node's relay on the thread-per-core media runtime (`ferrovox_runtime::media`).
//!
//! - **Calls are sharded by Call-ID.** Each core thread owns one [`Relay`] over its own slice
//!   of the configured port range and one [`RelayCommands`] (the ng call map) over it; the
//!   Call-ID's hash picks the core, so every command and every packet of a call meets the
//!   same single-threaded relay. Nothing on the packet path is shared or locked, and a
//!   forward is the kernel's buffer rewritten in place (see the runtime's module doc).
//! - **Ports are bound while the command runs** ([`CorePorts`]): an offer knows at once
//!   whether a pair is free and takes the next one when another process holds a port; the
//!   bound sockets are handed to the runtime ([`DatagramService::take_bound_socket`]).
//! - **ng commands** reach a core through [`MediaRuntime::call_async`]: the ng task decodes
//!   the datagram, the core runs the command between two batches of packets, the ng task
//!   encodes the reply. `list` asks every core and merges the answers.
//! - **Events** (media timeout, final timeout, DTMF) go from the cores to a tokio task over
//!   an unbounded channel and are published on the bus there: the packet path never waits
//!   for the bus.

use crate::ng::bencode::Value;
use crate::ng::relay_commands::{CallEvent, MediaPorts, RelayCommands};
use crate::ng::{Commands, error_reply};
use ferrovox_media::ports::{PortAllocator, PortPair};
use ferrovox_media::{Action, Relay, RelayConfig, RelayError};
use ferrovox_runtime::media::{
    DatagramAction, DatagramService, MediaCoreContext, MediaRuntime, MediaRuntimeConfig,
    MediaRuntimeStats, PortChange, bind_media_port, start_media,
};
use ferrovox_runtime::{Backend, RuntimeError};
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Mutex;
use std::time::Instant;
use tokio::sync::mpsc;

/// How the node's media cores run.
#[derive(Debug, Clone)]
pub struct MediaCoresConfig {
    pub backend: Backend,
    /// Core threads; 0 = one per available CPU.
    pub threads: usize,
    pub interface: IpAddr,
    pub port_first: u16,
    pub port_last: u16,
}

#[derive(Debug, thiserror::Error)]
pub enum MediaCoresError {
    #[error("cannot set up the relay on ports {first}-{last}: {source}")]
    Relay {
        first: u16,
        last: u16,
        #[source]
        source: RelayError,
    },
    #[error("cannot start the media runtime: {0}")]
    Runtime(#[from] RuntimeError),
}

/// How long an ng command may wait for its core (a core runs commands between batches of
/// packets: far below this unless it is stuck).
const COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The running media cores.
pub struct MediaCores {
    runtime: MediaRuntime<RelayCore>,
}

impl MediaCores {
    /// Starts one relay per core over a disjoint slice of the port range; the cores' call
    /// events come out of `events`.
    pub fn start(
        config: &MediaCoresConfig,
    ) -> Result<(Self, mpsc::UnboundedReceiver<CallEvent>), MediaCoresError> {
        let wanted = match config.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let slices = port_slices(config.port_first, config.port_last, wanted);
        // Built here so a bad range fails start-up with its name, not inside a core thread.
        let relays = slices
            .iter()
            .map(|&(first, last)| {
                Relay::new(RelayConfig {
                    port_min: first,
                    port_max: last,
                    ..RelayConfig::default()
                })
                .map(Some)
                .map_err(|source| MediaCoresError::Relay {
                    first: config.port_first,
                    last: config.port_last,
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let relays = Mutex::new(relays);
        let (events, received) = mpsc::unbounded_channel();
        let runtime_config = MediaRuntimeConfig {
            backend: config.backend,
            threads: slices.len(),
            interface: config.interface,
            ..MediaRuntimeConfig::default()
        };
        let interface = config.interface;
        let runtime = start_media(runtime_config, move |ctx: MediaCoreContext| {
            let relay = relays
                .lock()
                .ok()
                .and_then(|mut relays| relays.get_mut(ctx.core).and_then(Option::take));
            // start_media creates exactly `slices.len()` cores, each once.
            let relay = relay.expect("one relay per media core");
            RelayCore::new(relay, interface, ctx.socket_buffer, events.clone())
        })?;
        tracing::info!(
            backend = %runtime.backend(),
            cores = runtime.cores(),
            ports = %format!("{}-{}", config.port_first, config.port_last),
            "media cores started"
        );
        Ok((Self { runtime }, received))
    }

    /// Runs one decoded ng command on the core its Call-ID belongs to (`list` on all).
    pub async fn execute(&self, command: String, message: Value) -> Value {
        match command.as_str() {
            "ping" => Value::dict([("result", Value::bytes("pong"))]),
            "list" => self.list(message).await,
            _ => {
                let core = message
                    .get("call-id")
                    .and_then(Value::as_str)
                    .map_or(0, |call_id| core_of(call_id, self.runtime.cores()));
                self.on_core(core, command, message).await
            }
        }
    }

    async fn on_core(&self, core: usize, command: String, message: Value) -> Value {
        let pending = self.runtime.call_async(core, move |relay: &mut RelayCore| {
            let reply = relay.commands.execute(&command, &message, Instant::now());
            relay.forward_events();
            reply
        });
        let outcome = match pending {
            Ok(pending) => match tokio::time::timeout(COMMAND_TIMEOUT, pending).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    tracing::warn!(core, "media core did not answer an ng command in time");
                    return error_reply("Media core busy: command timed out");
                }
            },
            Err(error) => Err(error),
        };
        outcome.unwrap_or_else(|error| {
            tracing::warn!(core, %error, "media core did not run an ng command");
            error_reply(format!("Media core unavailable: {error}"))
        })
    }

    async fn list(&self, message: Value) -> Value {
        let limit = match crate::ng::relay_commands::list_limit(&message) {
            Ok(limit) => limit,
            Err(error) => return error_reply(error.to_string()),
        };
        let mut calls = Vec::new();
        for core in 0..self.runtime.cores() {
            let reply = self.on_core(core, "list".to_owned(), message.clone()).await;
            match reply.get("calls") {
                Some(Value::List(ids)) => calls.extend(ids.iter().cloned()),
                _ => return reply,
            }
        }
        calls.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        calls.truncate(limit);
        Value::dict([
            ("result", Value::bytes("ok")),
            ("calls", Value::List(calls)),
        ])
    }

    pub fn stats(&self) -> MediaRuntimeStats {
        self.runtime.stats()
    }

    /// Stops the cores and closes every media socket (blocking: joins the threads).
    pub fn shutdown(self) {
        if let Err(error) = self.runtime.shutdown() {
            tracing::warn!(%error, "media cores did not stop cleanly");
        }
    }
}

/// The core that owns `call_id`'s media: a fixed hash (the same in every run, so a
/// restarted node shards the same way) modulo the core count.
fn core_of(call_id: &str, cores: usize) -> usize {
    let mut hasher = std::hash::DefaultHasher::new();
    call_id.hash(&mut hasher);
    (hasher.finish() % cores.max(1) as u64) as usize
}

/// Splits `[first, last]` into at most `cores` disjoint ranges of whole RTP/RTCP pairs
/// (even RTP port, odd RTCP port), as even as possible; fewer slices when the range holds
/// fewer pairs than cores.
fn port_slices(first: u16, last: u16, cores: usize) -> Vec<(u16, u16)> {
    // The relay's own allocator says which pairs the range holds.
    let Ok(all) = PortAllocator::new(first, last) else {
        // Let Relay::new name the problem.
        return vec![(first, last)];
    };
    let pairs = all.capacity() as u32;
    let cores = (cores.max(1) as u32).min(pairs);
    (0..cores)
        .map(|i| {
            let from = all.pair(pairs * i / cores).rtp;
            let to = all.pair(pairs * (i + 1) / cores - 1).rtcp;
            (from, to)
        })
        .collect()
}

/// One core's media: the ng call map over the core's relay.
pub struct RelayCore {
    commands: RelayCommands<CorePorts>,
    events: mpsc::UnboundedSender<CallEvent>,
}

impl RelayCore {
    fn new(
        relay: Relay,
        interface: IpAddr,
        socket_buffer: usize,
        events: mpsc::UnboundedSender<CallEvent>,
    ) -> Self {
        let ports = CorePorts {
            interface,
            socket_buffer,
            bound: Vec::new(),
            changes: VecDeque::new(),
        };
        Self {
            commands: RelayCommands::new(relay, interface, ports),
            events,
        }
    }

    /// Applies the relay's events to the call map and hands what is to be published to
    /// the node's event task (an empty queue costs one check).
    fn forward_events(&mut self) {
        while let Some(event) = self.commands.relay_mut().poll_event() {
            if let Some(call_event) = self.commands.handle_event(event)
                && self.events.send(call_event).is_err()
            {
                tracing::debug!("call event dropped: the node is stopping");
            }
        }
    }
}

impl DatagramService for RelayCore {
    fn on_datagram(
        &mut self,
        port: u16,
        src: SocketAddr,
        buf: &mut [u8],
        len: usize,
        now: Instant,
    ) -> DatagramAction {
        let action = self
            .commands
            .relay_mut()
            .handle_datagram(port, src, buf, len, now);
        // DTMF events come from packets.
        self.forward_events();
        match action {
            Action::Forward { from_port, to, len } => {
                DatagramAction::Forward { from_port, to, len }
            }
            // Transcoder output leaves through poll_transmit.
            Action::Drop(_) | Action::Consumed { .. } => DatagramAction::Drop,
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        self.commands.relay_mut().handle_timeout(now);
        self.forward_events();
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.commands.relay().poll_timeout()
    }

    fn poll_port_change(&mut self) -> Option<PortChange> {
        self.commands.ports_mut().changes.pop_front()
    }

    fn take_bound_socket(&mut self, port: u16) -> Option<UdpSocket> {
        let bound = &mut self.commands.ports_mut().bound;
        let index = bound.iter().position(|(p, _)| *p == port)?;
        Some(bound.swap_remove(index).1)
    }

    fn on_port_error(&mut self, port: u16, error: &io::Error) {
        // The port was bound by the command; only the runtime's own limits fail here.
        tracing::warn!(port, %error, "media port could not be armed: its stream gets no media");
    }

    fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<(u16, SocketAddr)> {
        buf.resize(TRANSMIT_BUFFER, 0);
        match self.commands.relay_mut().poll_transmit(buf) {
            Some(t) => {
                buf.truncate(t.len);
                Some((t.from_port, t.to))
            }
            None => {
                buf.clear();
                None
            }
        }
    }
}

/// Room for one transcoded packet and its SRTP trailer.
const TRANSMIT_BUFFER: usize =
    ferrovox_media::transcode::TX_SLOT_BYTES + ferrovox_media::SRTP_MAX_OVERHEAD;

/// A core's media ports: bound while the ng command runs, handed to the runtime after it.
pub struct CorePorts {
    interface: IpAddr,
    socket_buffer: usize,
    /// Bound sockets the runtime has not adopted yet.
    bound: Vec<(u16, UdpSocket)>,
    changes: VecDeque<PortChange>,
}

impl MediaPorts for CorePorts {
    fn open(&mut self, pair: PortPair) -> io::Result<()> {
        let rtp = bind_media_port(self.interface, pair.rtp, self.socket_buffer)?;
        // On failure the RTP socket is dropped, i.e. closed, with the error.
        let rtcp = bind_media_port(self.interface, pair.rtcp, self.socket_buffer)?;
        self.bound.push((pair.rtp, rtp));
        self.bound.push((pair.rtcp, rtcp));
        self.changes.push_back(PortChange::Open(pair.rtp));
        self.changes.push_back(PortChange::Open(pair.rtcp));
        tracing::trace!(rtp = pair.rtp, rtcp = pair.rtcp, "media ports bound");
        Ok(())
    }

    fn close(&mut self, pair: PortPair) {
        for port in [pair.rtp, pair.rtcp] {
            // A pair opened and closed by the same command never reaches the runtime.
            let pending = self.bound.len();
            self.bound.retain(|(p, _)| *p != port);
            if self.bound.len() < pending {
                self.changes.retain(|c| *c != PortChange::Open(port));
            } else {
                self.changes.push_back(PortChange::Close(port));
            }
        }
        tracing::trace!(rtp = pair.rtp, rtcp = pair.rtcp, "media ports closed");
    }
}

#[cfg(test)]
mod tests {
    //! The media cores on real UDP sockets (127.0.0.1): ng over its socket, SRTP checked by
    //! an SRTP implementation that shares no code with the node's ([`SrtpOracle`]).

    use super::*;
    use crate::ng::bencode;
    use crate::ng::srtp_oracle::SrtpOracle;
    use ferrovox_sdp::SessionDescription;
    use std::time::Duration;
    use tokio::net::UdpSocket;
    use tokio::sync::watch;

    const WAIT: Duration = Duration::from_secs(5);

    struct Running {
        ng: UdpSocket,
        ng_addr: SocketAddr,
        stop: watch::Sender<bool>,
        task: tokio::task::JoinHandle<()>,
    }

    /// The media cores and the ng task, as the node runs them (one core: the test relies on
    /// nothing about sharding).
    async fn start(port_min: u16, port_max: u16) -> Running {
        let (cores, _events) = MediaCores::start(&MediaCoresConfig {
            backend: Backend::IoUring,
            threads: 1,
            interface: "127.0.0.1".parse().unwrap(),
            port_first: port_min,
            port_last: port_max,
        })
        .unwrap();
        let ng = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let ng_addr = ng.local_addr().unwrap();
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(crate::ng_socket::serve(
            ng,
            std::sync::Arc::new(cores),
            stopped,
            std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
        ));
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

    #[test]
    fn port_slices_are_disjoint_whole_pairs_covering_the_range() {
        assert_eq!(
            port_slices(30000, 30009, 2),
            vec![(30000, 30003), (30004, 30009)]
        );
        assert_eq!(
            port_slices(30001, 30010, 2),
            vec![(30002, 30005), (30006, 30009)]
        );
        assert_eq!(
            port_slices(30000, 30001, 4),
            vec![(30000, 30001)],
            "one pair, one core"
        );
        let slices = port_slices(30000, 60000, 3);
        assert_eq!(slices.len(), 3);
        assert_eq!(slices[0].0, 30000);
        assert_eq!(slices[2].1, 59999);
        for w in slices.windows(2) {
            assert_eq!(w[0].1 + 1, w[1].0);
            assert_eq!(w[1].0 % 2, 0);
        }
    }

    #[test]
    fn a_call_id_always_lands_on_the_same_core_and_calls_spread() {
        assert_eq!(core_of("abc@host", 4), core_of("abc@host", 4));
        let mut per_core = [0usize; 4];
        for i in 0..4000 {
            per_core[core_of(&format!("call-{i}@10.0.0.1"), 4)] += 1;
        }
        assert!(
            per_core.iter().all(|n| (800..1200).contains(n)),
            "{per_core:?}"
        );
    }
}
