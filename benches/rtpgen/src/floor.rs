//! The floor: the least work a relay can do, to measure the others against.
//!
//! One media socket, `recvmmsg` up to 64 datagrams, look each source address up in a map,
//! re-address the datagram to the peer, `sendmmsg` the batch back out. No RTP parsing, no
//! rewriting, no timers. The same single socket is advertised for every call, so calls are
//! told apart by their source address: every generator socket must belong to one side of
//! one socket pair (several calls may share a pair; they then map to the same peer).
//!
//! Control: the floor answers a minimal ng itself, so the generator drives it exactly like
//! ferrovox and rtpengine: `ping`; `offer` (remembers the offerer's SDP address, answers an
//! SDP with the floor's media address); `answer` (records the answerer's address and maps the
//! two sides to each other); `delete` (forgets the call; a mapping shared with another call
//! stays); `statistics` (relayed and dropped counts). Anything else is an error reply.
//!
//! Deliberately not done: latching (the SDP addresses are trusted), RTCP, IPv6, more than one
//! thread.

use crate::bencode::{self, Value};
use crate::ng::{media_endpoint, pcmu_sdp};
use crate::sys::{self, Batch, Epoll};
use std::collections::HashMap;
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;

/// Datagrams per `recvmmsg`/`sendmmsg`.
pub const BATCH: usize = 64;

/// The floor's forwarding state and ng answers (no sockets: [`serve`] owns those).
#[derive(Debug, Default)]
pub struct FloorTable {
    media: Option<SocketAddrV4>,
    peers: HashMap<SocketAddrV4, SocketAddrV4>,
    /// call-id → (offerer address, answerer address once answered).
    calls: HashMap<String, (SocketAddrV4, Option<SocketAddrV4>)>,
    pub relayed: u64,
    pub dropped: u64,
    /// Fault injection for tests: drop every n-th datagram (0: never).
    pub drop_every: u64,
    seen: u64,
}

fn error(reason: &str) -> Value {
    Value::dict([
        ("result", Value::str("error")),
        ("error-reason", Value::str(reason)),
    ])
}

impl FloorTable {
    /// A table that advertises `media` in every SDP it answers.
    pub fn new(media: SocketAddrV4) -> Self {
        Self {
            media: Some(media),
            ..Self::default()
        }
    }

    /// Where a datagram from `from` goes, if anywhere.
    pub fn peer(&self, from: SocketAddrV4) -> Option<SocketAddrV4> {
        self.peers.get(&from).copied()
    }

    /// Where the next datagram (from `from`) goes: [`FloorTable::peer`], except that every
    /// `drop_every`-th datagram is dropped.
    pub fn route(&mut self, from: SocketAddrV4) -> Option<SocketAddrV4> {
        self.seen += 1;
        if self.drop_every > 0 && self.seen.is_multiple_of(self.drop_every) {
            return None;
        }
        self.peer(from)
    }

    fn sdp_address(message: &Value) -> Result<SocketAddrV4, Value> {
        let sdp = message
            .get("sdp")
            .and_then(Value::as_str)
            .ok_or_else(|| error("No SDP body"))?;
        match media_endpoint(sdp).map_err(error)?.0 {
            SocketAddr::V4(addr) => Ok(addr),
            SocketAddr::V6(_) => Err(error("IPv6 media is not supported by the floor")),
        }
    }

    fn reply_with_sdp(&self) -> Value {
        let media = self
            .media
            .map_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)), SocketAddr::V4);
        Value::dict([
            ("result", Value::str("ok")),
            ("sdp", Value::str(&pcmu_sdp(media, 1))),
        ])
    }

    /// Executes one ng command.
    pub fn command(&mut self, message: &Value) -> Value {
        let call_id = message
            .get("call-id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        match message.get("command").and_then(Value::as_str) {
            Some("ping") => Value::dict([("result", Value::str("pong"))]),
            Some("offer") => {
                let Some(call_id) = call_id else {
                    return error("No call-id in message");
                };
                match Self::sdp_address(message) {
                    Ok(offerer) => {
                        self.calls.insert(call_id, (offerer, None));
                        self.reply_with_sdp()
                    }
                    Err(reply) => reply,
                }
            }
            Some("answer") => {
                let Some(call_id) = call_id else {
                    return error("No call-id in message");
                };
                let answerer = match Self::sdp_address(message) {
                    Ok(addr) => addr,
                    Err(reply) => return reply,
                };
                let Some(call) = self.calls.get_mut(&call_id) else {
                    return error("Unknown call-id");
                };
                call.1 = Some(answerer);
                let offerer = call.0;
                self.peers.insert(offerer, answerer);
                self.peers.insert(answerer, offerer);
                self.reply_with_sdp()
            }
            Some("delete") => {
                let Some(call_id) = call_id else {
                    return error("No call-id in message");
                };
                let Some((offerer, answerer)) = self.calls.remove(&call_id) else {
                    return error("Unknown call-id");
                };
                let still_used =
                    |addr: SocketAddrV4,
                     calls: &HashMap<_, (SocketAddrV4, Option<SocketAddrV4>)>| {
                        calls.values().any(|(o, a)| *o == addr || *a == Some(addr))
                    };
                if let Some(answerer) = answerer
                    && !still_used(offerer, &self.calls)
                    && !still_used(answerer, &self.calls)
                {
                    self.peers.remove(&offerer);
                    self.peers.remove(&answerer);
                }
                Value::dict([("result", Value::str("ok"))])
            }
            Some("statistics") => Value::dict([
                ("result", Value::str("ok")),
                ("relayed", Value::Int(self.relayed as i64)),
                ("dropped", Value::Int(self.dropped as i64)),
                ("calls", Value::Int(self.calls.len() as i64)),
            ]),
            Some(other) => error(&format!("Unsupported command '{other}'")),
            None => error("No command specified"),
        }
    }

    /// Answers one ng datagram; `None` when it has no cookie.
    pub fn answer_datagram(&mut self, datagram: &[u8]) -> Option<Vec<u8>> {
        let space = datagram.iter().position(|b| *b == b' ')?;
        if space == 0 {
            return None;
        }
        let reply = match bencode::decode(&datagram[space + 1..]) {
            Ok(message @ Value::Dict(_)) => self.command(&message),
            Ok(_) => error("Message is not a dictionary"),
            Err(e) => error(&format!("Failed to decode bencode: {e}")),
        };
        let mut out = datagram[..=space].to_vec();
        reply.encode_into(&mut out);
        Some(out)
    }
}

/// Serves the floor on `media` and `ng` until the process is killed.
/// `drop_every` > 0 drops every n-th datagram (fault injection for the generator's tests).
pub fn serve(
    media: UdpSocket,
    ng: UdpSocket,
    socket_buffer: usize,
    drop_every: u64,
) -> std::io::Result<()> {
    let media_addr = match media.local_addr()? {
        SocketAddr::V4(addr) => addr,
        SocketAddr::V6(_) => {
            return Err(std::io::Error::other(
                "the floor's media socket must be IPv4",
            ));
        }
    };
    media.set_nonblocking(true)?;
    ng.set_nonblocking(true)?;
    sys::set_socket_buffers(media.as_raw_fd(), socket_buffer);
    let mut table = FloorTable::new(media_addr);
    table.drop_every = drop_every;
    let mut epoll = Epoll::new(4)?;
    const MEDIA: u64 = 1;
    const NG: u64 = 2;
    epoll.add(media.as_raw_fd(), MEDIA)?;
    epoll.add(ng.as_raw_fd(), NG)?;
    let mut batch = Batch::new(BATCH);
    let mut ng_buffer = vec![0u8; 65536];
    let mut ready = Vec::with_capacity(4);
    loop {
        ready.clear();
        ready.extend(epoll.wait(-1)?);
        for &token in &ready {
            if token == NG {
                while let Ok((n, from)) = ng.recv_from(&mut ng_buffer) {
                    if let Some(reply) = table.answer_datagram(&ng_buffer[..n]) {
                        let _ = ng.send_to(&reply, from);
                    }
                }
                continue;
            }
            loop {
                let n = batch.receive(media.as_raw_fd())?;
                if n == 0 {
                    break;
                }
                let mut kept = 0;
                for i in 0..n {
                    let peer = batch.get(i).and_then(|(_, from)| table.route(from));
                    match peer {
                        Some(to) => {
                            batch.readdress(i, to);
                            batch.keep(i, kept);
                            kept += 1;
                        }
                        None => table.dropped += 1,
                    }
                }
                batch.truncate(kept);
                let sent = batch.send(media.as_raw_fd()).unwrap_or(0);
                table.relayed += sent as u64;
                table.dropped += (kept - sent) as u64;
                if n < batch.capacity() {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(table: &mut FloorTable, pairs: Vec<(&str, Value)>) -> Value {
        table.command(&Value::dict(pairs))
    }

    #[test]
    fn offer_and_answer_map_the_two_sides_to_each_other_and_delete_forgets_them() {
        let media: SocketAddrV4 = "127.0.0.1:29000".parse().unwrap();
        let mut table = FloorTable::new(media);
        let a: SocketAddrV4 = "127.0.0.1:5000".parse().unwrap();
        let b: SocketAddrV4 = "127.0.0.1:6000".parse().unwrap();
        let offer = command(
            &mut table,
            vec![
                ("command", Value::str("offer")),
                ("call-id", Value::str("c1")),
                ("sdp", Value::str(&pcmu_sdp(a.into(), 1))),
            ],
        );
        let sdp = offer.get("sdp").and_then(Value::as_str).unwrap();
        assert_eq!(media_endpoint(sdp).unwrap().0, SocketAddr::V4(media));
        assert_eq!(table.peer(a), None, "not mapped before the answer");
        command(
            &mut table,
            vec![
                ("command", Value::str("answer")),
                ("call-id", Value::str("c1")),
                ("sdp", Value::str(&pcmu_sdp(b.into(), 1))),
            ],
        );
        assert_eq!((table.peer(a), table.peer(b)), (Some(b), Some(a)));
        command(
            &mut table,
            vec![
                ("command", Value::str("delete")),
                ("call-id", Value::str("c1")),
            ],
        );
        assert_eq!(table.peer(a), None);
    }

    #[test]
    fn bad_ng_datagrams_get_error_replies_not_panics() {
        let mut table = FloorTable::default();
        assert_eq!(table.answer_datagram(b"nocookie"), None);
        let reply = table.answer_datagram(b"c1 d7:command5:offere").unwrap();
        assert!(String::from_utf8_lossy(&reply).contains("error"));
        let reply = table.answer_datagram(b"c2 garbage").unwrap();
        assert!(reply.starts_with(b"c2 d"));
        let reply = table.answer_datagram(b"c3 d7:command4:pinge").unwrap();
        assert_eq!(reply, b"c3 d6:result4:ponge".to_vec());
    }
}
