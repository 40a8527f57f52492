//! The media side of an anchored-call test: the addresses and port range a `ferrovox media`
//! relay anchors on, RTP the test sends and checks itself, ng commands straight to the relay,
//! and [`NgTap`], which records the ng traffic between the signalling and the relay.
//!
//! The relay anchors on [`INTERFACE`] while SIPp and the test's sockets use [`PEER`], so a
//! relay address in an SDP cannot be mistaken for an endpoint's.

use super::Appliance;
use super::sip_trace::sipp_errors;
use ferrovox_node::ng::bencode::{self, Value};
use serde_json::{Value as Json, json};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// Where ferrovox anchors media: a loopback address no SIPp peer uses.
pub const INTERFACE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// The SIPp peers' (and the test's RTP sockets') address.
pub const PEER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Ports in the relay's --rtp-ports range.
pub const RTP_RANGE_LEN: u16 = 40;
/// RTP packets [`relay_rtp`] sends each way.
pub const PACKETS: u16 = 50;

/// `FIRST-LAST` for the relay's --rtp-ports: `len` consecutive UDP ports free on `ip` a
/// moment ago, from an even port the kernel picked.
pub fn free_port_range(ip: IpAddr, len: u16) -> (u16, u16) {
    for _ in 0..100 {
        let first = std::net::UdpSocket::bind((ip, 0))
            .and_then(|s| s.local_addr())
            .unwrap_or_else(|e| panic!("cannot bind a UDP port on {ip}: {e}"))
            .port()
            & !1;
        let Some(last) = first.checked_add(len - 1) else {
            continue;
        };
        let held: Result<Vec<_>, _> = (first..=last)
            .map(|port| std::net::UdpSocket::bind((ip, port)))
            .collect();
        if held.is_ok() {
            return (first, last);
        }
    }
    panic!("no {len} consecutive free UDP ports on {ip} after 100 tries")
}

/// `ferrovox media` anchoring on [`INTERFACE`] over a free port range, SIP off, `extra`
/// appended to its arguments; and that range.
pub async fn start_relay(dir: &Path, extra: &[&str]) -> (Appliance, RangeInclusive<u16>) {
    let (first, last) = free_port_range(INTERFACE, RTP_RANGE_LEN);
    let interface = INTERFACE.to_string();
    let range = format!("{first}-{last}");
    let args = [
        &[
            "--interface",
            &interface,
            "--rtp-ports",
            &range,
            "--sip",
            "off",
        ][..],
        extra,
    ]
    .concat();
    let node = Appliance::start("media", dir, &args, &[]).await;
    (node, first..=last)
}

/// [`relay_rtp`] caller to callee, then callee to caller, each side sending to the relay
/// port the SDP named to it.
pub async fn relay_both_ways(
    caller: &UdpSocket,
    relay_for_caller: SocketAddr,
    callee: &UdpSocket,
    relay_for_callee: SocketAddr,
) -> (Result<u16, String>, Result<u16, String>) {
    let to_callee = relay_rtp(
        caller,
        relay_for_caller,
        callee,
        relay_for_callee,
        0x1111_1111,
    )
    .await;
    let to_caller = relay_rtp(
        callee,
        relay_for_callee,
        caller,
        relay_for_caller,
        0x2222_2222,
    )
    .await;
    (to_callee, to_caller)
}

/// Sends [`PACKETS`] RTP packets with `ssrc` from `from` to `relay_in`, and receives them on
/// `at`, each from `relay_out`. The number that arrived intact, or what went wrong.
pub async fn relay_rtp(
    from: &UdpSocket,
    relay_in: SocketAddr,
    at: &UdpSocket,
    relay_out: SocketAddr,
    ssrc: u32,
) -> Result<u16, String> {
    for seq in 0..PACKETS {
        from.send_to(&rtp_packet(ssrc, seq), relay_in)
            .await
            .map_err(|e| format!("send to {relay_in}: {e}"))?;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = vec![false; usize::from(PACKETS)];
    let mut buf = [0u8; 2048];
    while seen.iter().any(|s| !s) {
        let left = deadline.saturating_duration_since(Instant::now());
        let received = tokio::time::timeout(left, at.recv_from(&mut buf)).await;
        let Ok(received) = received else {
            let count = seen.iter().filter(|s| **s).count();
            return Err(format!(
                "{count} of {PACKETS} packets with SSRC {ssrc:#x} arrived within 5 s"
            ));
        };
        let (n, source) = received.map_err(|e| format!("receive: {e}"))?;
        if source != relay_out {
            return Err(format!(
                "a packet came from {source}, not from the relay's {relay_out}"
            ));
        }
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        if n < 12 || u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]) != ssrc {
            // The other direction's packets are not this exchange's business.
            continue;
        }
        if buf[..n] != rtp_packet(ssrc, seq)[..] || seq >= PACKETS {
            return Err(format!("packet {seq} was altered: {:02x?}", &buf[..n]));
        }
        seen[usize::from(seq)] = true;
    }
    Ok(PACKETS)
}

/// An RTP packet: version 2, PCMU, 20 ms of silence.
pub fn rtp_packet(ssrc: u32, seq: u16) -> Vec<u8> {
    let mut packet = vec![0x80, 0x00];
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    packet.extend_from_slice(&ssrc.to_be_bytes());
    packet.extend_from_slice(&[0xff; 160]);
    packet
}

/// One ng command straight to the relay (JSON encoding), and its reply.
pub async fn ng(addr: SocketAddr, command: Json) -> Json {
    let socket = UdpSocket::bind((PEER, 0)).await.unwrap();
    let cookie = format!("t{}", super::nonce());
    let datagram = format!("{cookie} {command}");
    socket.send_to(datagram.as_bytes(), addr).await.unwrap();
    let mut buf = vec![0u8; 65536];
    let n = tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("no ng reply to {command} within 5 s"))
        .unwrap();
    let reply = std::str::from_utf8(&buf[..n]).unwrap();
    let body = reply
        .strip_prefix(&format!("{cookie} "))
        .unwrap_or_else(|| panic!("ng reply without our cookie: {reply}"));
    serde_json::from_str(body).unwrap_or_else(|e| panic!("ng reply is not JSON ({e}): {body}"))
}

/// A UDP forwarder between the signalling (Kamailio, `ferrovox proxy`) and the relay's ng
/// port that records every command and reply, decoded from bencode.
pub struct NgTap {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<NgExchange>>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Clone)]
pub struct NgExchange {
    pub cookie: String,
    pub request: Json,
    pub reply: Option<Json>,
}

impl NgExchange {
    pub fn command(&self) -> &str {
        self.request["command"].as_str().unwrap_or("?")
    }
}

impl NgTap {
    pub async fn start(ng: SocketAddr) -> Self {
        let downstream = UdpSocket::bind((PEER, 0)).await.unwrap();
        let upstream = UdpSocket::bind((PEER, 0)).await.unwrap();
        upstream.connect(ng).await.unwrap();
        let addr = downstream.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::<NgExchange>::new()));
        let task_log = log.clone();
        let task = tokio::spawn(async move {
            let mut clients: HashMap<String, SocketAddr> = HashMap::new();
            let mut down = vec![0u8; 65536];
            let mut up = vec![0u8; 65536];
            loop {
                tokio::select! {
                    received = downstream.recv_from(&mut down) => {
                        let Ok((n, client)) = received else { continue };
                        let (cookie, request) = split_ng(&down[..n]);
                        clients.insert(cookie.clone(), client);
                        task_log.lock().unwrap().push(NgExchange { cookie, request, reply: None });
                        let _ = upstream.send(&down[..n]).await;
                    }
                    received = upstream.recv(&mut up) => {
                        let Ok(n) = received else { continue };
                        let (cookie, reply) = split_ng(&up[..n]);
                        if let Some(client) = clients.get(&cookie) {
                            let _ = downstream.send_to(&up[..n], client).await;
                        }
                        let mut log = task_log.lock().unwrap();
                        if let Some(exchange) =
                            log.iter_mut().rev().find(|e| e.cookie == cookie && e.reply.is_none())
                        {
                            exchange.reply = Some(reply);
                        }
                    }
                }
            }
        });
        Self { addr, log, task }
    }

    pub fn exchanges(&self) -> Vec<NgExchange> {
        self.log.lock().unwrap().clone()
    }

    /// (command, from-tag) of every command for `call_id`, in order.
    pub fn commands_for(&self, call_id: &str) -> Vec<(&'static str, String)> {
        self.exchanges()
            .iter()
            .filter(|e| e.request["call-id"] == json!(call_id))
            .map(|e| {
                let command = match e.request["command"].as_str() {
                    Some("offer") => "offer",
                    Some("answer") => "answer",
                    Some("delete") => "delete",
                    _ => "other",
                };
                (
                    command,
                    e.request["from-tag"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }

    /// The first `command` request for `call_id`.
    pub fn first(&self, call_id: &str, command: &str) -> Json {
        self.exchanges()
            .into_iter()
            .find(|e| {
                e.request["call-id"] == json!(call_id) && e.request["command"] == json!(command)
            })
            .map(|e| e.request)
            .unwrap_or_else(|| panic!("no {command} for {call_id}\n{}", self.render()))
    }

    /// Every command so far got a reply with result "ok".
    pub fn assert_all_ok(&self) {
        for exchange in self.exchanges() {
            let result = exchange.reply.as_ref().map(|r| r["result"].clone());
            assert!(
                matches!(result.as_ref().and_then(Json::as_str), Some("ok")),
                "the relay answered {} with {:?}\n{}",
                exchange.request,
                exchange.reply,
                self.render()
            );
        }
    }

    pub fn render(&self) -> String {
        self.exchanges()
            .iter()
            .map(|e| {
                format!(
                    "  -> {}\n  <- {}\n",
                    e.request,
                    e.reply
                        .as_ref()
                        .map_or_else(|| "(no reply)".to_owned(), Json::to_string)
                )
            })
            .collect()
    }
}

impl Drop for NgTap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An ng datagram's cookie and its bencode message as JSON (byte strings as text).
fn split_ng(datagram: &[u8]) -> (String, Json) {
    let space = datagram
        .iter()
        .position(|b| *b == b' ')
        .unwrap_or(datagram.len());
    let cookie = String::from_utf8_lossy(&datagram[..space]).into_owned();
    let body = datagram.get(space + 1..).unwrap_or_default();
    let message = bencode::decode(body).map_or_else(
        |e| json!({"undecodable": String::from_utf8_lossy(body), "error": e.to_string()}),
        |value| to_json(&value),
    );
    (cookie, message)
}

fn to_json(value: &Value) -> Json {
    match value {
        Value::Integer(i) => json!(i),
        Value::Bytes(bytes) => Json::String(String::from_utf8_lossy(bytes).into_owned()),
        Value::List(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Dict(map) => Json::Object(
            map.iter()
                .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), to_json(v)))
                .collect(),
        ),
    }
}

/// Everything worth showing when a step of an anchored SIPp call fails.
pub struct Diagnostics<'a> {
    pub tap: &'a NgTap,
    /// What carries the signalling between the SIPp peers (Kamailio, `ferrovox proxy`): a
    /// heading and its log, read afresh at each render.
    pub signalling: (&'static str, &'a dyn Fn() -> String),
    /// The `ferrovox media` node the call is anchored on.
    pub relay: &'a Appliance,
    /// The SIPp peers' work directories.
    pub uac: PathBuf,
    pub uas: PathBuf,
}

impl Diagnostics<'_> {
    pub fn render(&self) -> String {
        let (heading, log) = self.signalling;
        format!(
            "ng exchanges:\n{}\n{heading}:\n{}\nrelay stderr:\n{}\nUAC errors:\n{}\nUAS errors:\n{}",
            self.tap.render(),
            log(),
            self.relay.stderr(),
            sipp_errors(&self.uac),
            sipp_errors(&self.uas),
        )
    }
}
