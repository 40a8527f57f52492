//! A media node relaying real RTP: ng `offer`/`answer`/`query`/`delete`/`list` over UDP,
//! then RTP between a fake caller and callee on 127.0.0.1 through the node's ports.

use ferrovox_contract::{Bus, MemoryBus, NodeId};
use ferrovox_node::ng::bencode::{self, Value};
use ferrovox_node::{MediaNode, NodeConfig};
use ferrovox_runtime::Backend;
use ferrovox_testkit::ports::{free_tcp_port, free_udp_port, loopback};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;

/// Each test gets its own media port range so tests running in parallel never share one.
/// Two io_uring cores: calls are sharded over them.
async fn start(node: &str, rtp_ports: &str) -> MediaNode {
    start_with(
        node,
        rtp_ports,
        Backend::IoUring,
        2,
        Arc::new(MemoryBus::new()),
    )
    .await
}

async fn start_on(node: &str, rtp_ports: &str, bus: Arc<MemoryBus>) -> MediaNode {
    start_with(node, rtp_ports, Backend::IoUring, 2, bus).await
}

/// One core: a tiny port range is not split between cores.
async fn start_one_core(node: &str, rtp_ports: &str) -> MediaNode {
    start_with(
        node,
        rtp_ports,
        Backend::Portable,
        1,
        Arc::new(MemoryBus::new()),
    )
    .await
}

async fn start_with(
    node: &str,
    rtp_ports: &str,
    backend: Backend,
    threads: usize,
    bus: Arc<MemoryBus>,
) -> MediaNode {
    let config = NodeConfig {
        node_id: NodeId::new(node).unwrap(),
        admin: loopback(free_tcp_port()),
        ng: loopback(free_udp_port()),
        interface: "127.0.0.1".parse().unwrap(),
        rtp_ports: rtp_ports.parse().unwrap(),
        sip: None,
        media_backend: backend,
        media_threads: threads,
    };
    MediaNode::start(config, bus, Arc::new(String::new))
        .await
        .unwrap()
}

/// An ng client: one socket, a cookie per request.
struct Ng {
    socket: UdpSocket,
    node: SocketAddr,
    next: u32,
}

impl Ng {
    async fn new(node: SocketAddr) -> Self {
        Self {
            socket: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            node,
            next: 0,
        }
    }

    async fn exchange(&mut self, message: &[u8]) -> Vec<u8> {
        self.next += 1;
        let cookie = format!("c{}", self.next);
        let mut datagram = format!("{cookie} ").into_bytes();
        datagram.extend_from_slice(message);
        self.socket.send_to(&datagram, self.node).await.unwrap();
        let mut buffer = vec![0u8; 65_536];
        let (n, _) =
            tokio::time::timeout(Duration::from_secs(5), self.socket.recv_from(&mut buffer))
                .await
                .expect("ng reply")
                .unwrap();
        let reply = &buffer[..n];
        let rest = reply
            .strip_prefix(format!("{cookie} ").as_bytes())
            .expect("cookie echoed");
        rest.to_vec()
    }

    async fn call(&mut self, entries: &[(&str, Value)]) -> Value {
        let message = Value::dict(entries.iter().cloned());
        let mut encoded = Vec::new();
        message.encode(&mut encoded);
        bencode::decode(&self.exchange(&encoded).await).unwrap()
    }

    async fn json(&mut self, message: serde_json::Value) -> serde_json::Value {
        let reply = self.exchange(message.to_string().as_bytes()).await;
        serde_json::from_slice(&reply).unwrap()
    }
}

fn s(text: &str) -> Value {
    Value::bytes(text)
}

fn list(items: &[&str]) -> Value {
    Value::List(items.iter().map(Value::bytes).collect())
}

fn text<'a>(reply: &'a Value, key: &str) -> &'a str {
    reply.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn ok_sdp(reply: &Value) -> String {
    assert_eq!(text(reply, "result"), "ok", "{reply:?}");
    text(reply, "sdp").to_owned()
}

fn error_reason(reply: &Value) -> String {
    assert_eq!(text(reply, "result"), "error", "{reply:?}");
    text(reply, "error-reason").to_owned()
}

fn int(value: &Value, path: &[&str]) -> i64 {
    let mut at = value;
    for key in path {
        at = match (at, key.parse::<usize>()) {
            (Value::List(items), Ok(i)) => &items[i],
            _ => at.get(key).unwrap_or_else(|| panic!("no {key} in {at:?}")),
        };
    }
    match at {
        Value::Integer(n) => *n,
        other => panic!("{other:?} is not an integer"),
    }
}

fn sdp(origin: &str, address: &str, port: u16, extra: &str) -> String {
    format!(
        "v=0\r\no=- 1000 1 IN IP4 {origin}\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n{extra}"
    )
}

/// The audio port of an SDP body.
fn audio_port(sdp: &str) -> u16 {
    sdp.lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no m=audio port in {sdp}"))
}

fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut packet = vec![0x80, 0];
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    packet.extend_from_slice(&ssrc.to_be_bytes());
    packet.extend((0..160).map(|i| (i as u16 + seq) as u8));
    packet
}

/// Sends 50 RTP packets from `from` to `to` and checks that `receiver` gets them all
/// from `relay_port`, in order and unchanged.
async fn relay_50(from: &UdpSocket, to: u16, receiver: &UdpSocket, relay_port: u16, ssrc: u32) {
    for seq in 1000..1050u16 {
        from.send_to(&rtp(seq, ssrc), ("127.0.0.1", to))
            .await
            .unwrap();
        let mut buffer = [0u8; 2048];
        let (n, source) =
            tokio::time::timeout(Duration::from_secs(5), receiver.recv_from(&mut buffer))
                .await
                .unwrap_or_else(|_| panic!("packet {seq} not relayed"))
                .unwrap();
        assert_eq!(source, loopback(relay_port), "sent from the node's port");
        assert_eq!(&buffer[..n], rtp(seq, ssrc).as_slice(), "packet {seq}");
    }
}

/// Whether `port` can be bound on 127.0.0.1 within a second (socket closing is
/// asynchronous: the reader task is aborted, then the socket dropped).
async fn port_frees_up(port: u16) -> bool {
    for _ in 0..50 {
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

async fn nothing_arrives(socket: &UdpSocket) -> bool {
    let mut buffer = [0u8; 2048];
    tokio::time::timeout(Duration::from_millis(300), socket.recv_from(&mut buffer))
        .await
        .is_err()
}

#[tokio::test]
async fn offer_answer_relays_rtp_both_ways_and_delete_closes_the_ports() {
    offer_answer_relay_delete(Backend::IoUring, 2, "41000-41099").await;
}

#[tokio::test]
async fn the_portable_backend_relays_the_same_way() {
    offer_answer_relay_delete(Backend::Portable, 2, "42000-42099").await;
}

async fn offer_answer_relay_delete(backend: Backend, threads: usize, range: &str) {
    let node = start_with(
        "media-1",
        range,
        backend,
        threads,
        Arc::new(MemoryBus::new()),
    )
    .await;
    let (first, last) = range.split_once('-').unwrap();
    let ports = first.parse::<u16>().unwrap()..=last.parse::<u16>().unwrap();
    let mut ng = Ng::new(node.ng_addr()).await;
    let caller = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let callee = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let caller_port = caller.local_addr().unwrap().port();
    let callee_port = callee.local_addr().unwrap().port();

    let offer = ng
        .call(&[
            ("command", s("offer")),
            ("call-id", s("call-1")),
            ("from-tag", s("alice")),
            ("sdp", s(&sdp("127.0.0.1", "127.0.0.1", caller_port, ""))),
        ])
        .await;
    let to_callee = ok_sdp(&offer);
    assert!(to_callee.contains("c=IN IP4 127.0.0.1\r\n"), "{to_callee}");
    let callee_facing = audio_port(&to_callee);
    assert!(ports.contains(&callee_facing), "{to_callee}");
    assert!(
        to_callee.contains(&format!("a=rtcp:{} IN IP4 127.0.0.1", callee_facing + 1)),
        "{to_callee}"
    );

    let answer = ng
        .call(&[
            ("command", s("answer")),
            ("call-id", s("call-1")),
            ("from-tag", s("alice")),
            ("to-tag", s("bob")),
            ("sdp", s(&sdp("127.0.0.1", "127.0.0.1", callee_port, ""))),
        ])
        .await;
    let to_caller = ok_sdp(&answer);
    assert!(to_caller.contains("c=IN IP4 127.0.0.1\r\n"), "{to_caller}");
    let caller_facing = audio_port(&to_caller);
    assert!(ports.contains(&caller_facing), "{to_caller}");
    assert_ne!(caller_facing, callee_facing);

    relay_50(&caller, caller_facing, &callee, callee_facing, 0x1111).await;
    relay_50(&callee, callee_facing, &caller, caller_facing, 0x2222).await;

    let query = ng
        .call(&[("command", s("query")), ("call-id", s("call-1"))])
        .await;
    assert_eq!(text(&query, "result"), "ok", "{query:?}");
    for tag in ["alice", "bob"] {
        let packets = int(
            &query,
            &[
                "tags", tag, "medias", "0", "streams", "0", "stats", "packets",
            ],
        );
        assert_eq!(packets, 50, "{tag}: {query:?}");
        let bytes = int(
            &query,
            &["tags", tag, "medias", "0", "streams", "0", "stats", "bytes"],
        );
        assert_eq!(bytes, 50 * 172, "{tag}");
    }
    assert_eq!(int(&query, &["totals", "RTP", "packets"]), 100);
    let listed = ng.call(&[("command", s("list"))]).await;
    assert_eq!(listed.get("calls"), Some(&list(&["call-1"])));

    let deleted = ng
        .call(&[
            ("command", s("delete")),
            ("call-id", s("call-1")),
            ("from-tag", s("alice")),
        ])
        .await;
    assert_eq!(text(&deleted, "result"), "ok", "{deleted:?}");
    assert_eq!(
        int(&deleted, &["totals", "RTP", "packets"]),
        100,
        "final stats"
    );
    let gone = ng
        .call(&[("command", s("query")), ("call-id", s("call-1"))])
        .await;
    assert_eq!(error_reason(&gone), "Unknown call-id");

    caller
        .send_to(&rtp(2000, 0x1111), ("127.0.0.1", caller_facing))
        .await
        .unwrap();
    assert!(nothing_arrives(&callee).await, "no relaying after delete");
    // The node's sockets are closed: the ports can be bound again.
    for port in [
        caller_facing,
        caller_facing + 1,
        callee_facing,
        callee_facing + 1,
    ] {
        assert!(
            port_frees_up(port).await,
            "port {port} still open after delete"
        );
    }
    let listed = ng.call(&[("command", s("list"))]).await;
    assert_eq!(listed.get("calls"), Some(&Value::List(Vec::new())));
    node.shutdown().await;
}

#[tokio::test]
async fn json_commands_relay_too() {
    let node = start("media-2", "41100-41199").await;
    let mut ng = Ng::new(node.ng_addr()).await;
    let caller = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let callee = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let caller_port = caller.local_addr().unwrap().port();
    let callee_port = callee.local_addr().unwrap().port();

    let offer = ng
        .json(serde_json::json!({
            "command": "offer", "call-id": "j1", "from-tag": "a",
            "sdp": sdp("127.0.0.1", "127.0.0.1", caller_port, ""),
        }))
        .await;
    assert_eq!(offer["result"], "ok", "{offer}");
    let callee_facing = audio_port(offer["sdp"].as_str().unwrap());
    let answer = ng
        .json(serde_json::json!({
            "command": "answer", "call-id": "j1", "from-tag": "a", "to-tag": "b",
            "sdp": sdp("127.0.0.1", "127.0.0.1", callee_port, ""),
        }))
        .await;
    assert_eq!(answer["result"], "ok", "{answer}");
    let caller_facing = audio_port(answer["sdp"].as_str().unwrap());

    relay_50(&caller, caller_facing, &callee, callee_facing, 7).await;
    let query = ng
        .json(serde_json::json!({"command": "query", "call-id": "j1"}))
        .await;
    assert_eq!(
        query["tags"]["a"]["medias"][0]["streams"][0]["stats"]["packets"], 50,
        "{query}"
    );
    assert_eq!(
        query["tags"]["b"]["medias"][0]["streams"][0]["stats"]["packets"],
        0
    );
    let deleted = ng
        .json(serde_json::json!({"command": "delete", "call-id": "j1"}))
        .await;
    assert_eq!(deleted["result"], "ok");
    let gone = ng
        .json(serde_json::json!({"command": "query", "call-id": "j1"}))
        .await;
    assert_eq!(gone["result"], "error");
    assert_eq!(gone["error-reason"], "Unknown call-id");
    node.shutdown().await;
}

#[tokio::test]
async fn flags_shape_the_sdp_and_reoffers_keep_their_ports() {
    let node = start("media-3", "41200-41299").await;
    let mut ng = Ng::new(node.ng_addr()).await;
    let ice = "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijkl\r\n\
               a=candidate:1 1 UDP 2130706431 192.0.2.10 4000 typ host\r\n";
    let offer = ng
        .call(&[
            ("command", s("offer")),
            ("call-id", s("f1")),
            ("from-tag", s("a")),
            ("ICE", s("remove")),
            ("rtcp-mux", list(&["offer"])),
            ("replace", list(&["origin", "session-connection"])),
            ("direction", list(&["internal", "external"])),
            ("sdp", s(&sdp("192.0.2.1", "192.0.2.10", 4000, ice))),
        ])
        .await;
    let out = ok_sdp(&offer);
    assert!(
        !out.contains("a=candidate") && !out.contains("a=ice-"),
        "{out}"
    );
    assert!(out.contains("a=rtcp-mux\r\n"), "{out}");
    assert!(out.contains("o=- 1000 1 IN IP4 127.0.0.1\r\n"), "{out}");
    assert!(!out.contains("192.0.2."), "no caller address left: {out}");
    let port = audio_port(&out);

    // Without the flags: the o= address stays, no rtcp-mux is invented.
    let plain = ng
        .call(&[
            ("command", s("offer")),
            ("call-id", s("f2")),
            ("from-tag", s("a")),
            ("sdp", s(&sdp("192.0.2.1", "192.0.2.10", 4000, ""))),
        ])
        .await;
    let plain = ok_sdp(&plain);
    assert!(plain.contains("o=- 1000 1 IN IP4 192.0.2.1\r\n"), "{plain}");
    assert!(!plain.contains("a=rtcp-mux"), "{plain}");

    // Re-offer from the same tag with a new caller address: same ports, version + 1.
    let reoffer = ng
        .call(&[
            ("command", s("offer")),
            ("call-id", s("f1")),
            ("from-tag", s("a")),
            ("ICE", s("remove")),
            ("rtcp-mux", list(&["offer"])),
            ("replace", list(&["origin", "session-connection"])),
            ("sdp", s(&sdp("192.0.2.1", "192.0.2.99", 4002, ice))),
        ])
        .await;
    let again = ok_sdp(&reoffer);
    assert_eq!(audio_port(&again), port, "{again}");
    assert!(
        again.contains("o=- 1000 1 IN IP4 127.0.0.1\r\n"),
        "unchanged SDP out: {again}"
    );
    let hold = ng
        .call(&[
            ("command", s("offer")),
            ("call-id", s("f1")),
            ("from-tag", s("a")),
            ("replace", list(&["origin"])),
            (
                "sdp",
                s(&sdp("192.0.2.1", "192.0.2.99", 4002, "a=sendonly\r\n")),
            ),
        ])
        .await;
    let hold = ok_sdp(&hold);
    assert_eq!(audio_port(&hold), port);
    assert!(
        hold.contains("o=- 1000 2 IN IP4 127.0.0.1\r\n"),
        "version bumped: {hold}"
    );
    assert!(hold.contains("a=sendonly"), "{hold}");
    node.shutdown().await;
}

#[tokio::test]
async fn bad_input_gets_error_replies_and_the_node_keeps_serving() {
    let node = start("media-4", "41300-41399").await;
    let mut ng = Ng::new(node.ng_addr()).await;
    let no_sdp = ng
        .call(&[
            ("command", s("offer")),
            ("call-id", s("b1")),
            ("from-tag", s("a")),
        ])
        .await;
    assert_eq!(error_reason(&no_sdp), "Missing SDP");
    let unknown = ng
        .call(&[
            ("command", s("answer")),
            ("call-id", s("nobody")),
            ("from-tag", s("a")),
            ("to-tag", s("b")),
            ("sdp", s(&sdp("127.0.0.1", "127.0.0.1", 5000, ""))),
        ])
        .await;
    assert_eq!(error_reason(&unknown), "Unknown call-id");
    let garbage = ng
        .call(&[
            ("command", s("offer")),
            ("call-id", s("b1")),
            ("from-tag", s("a")),
            ("sdp", s("this is not SDP")),
        ])
        .await;
    assert!(
        error_reason(&garbage).starts_with("Failed to parse SDP: "),
        "{garbage:?}"
    );
    let srtp = ng
        .call(&[
            ("command", s("offer")),
            ("call-id", s("b1")),
            ("from-tag", s("a")),
            ("transport-protocol", s("UDP/TLS/RTP/SAVP")),
            ("sdp", s(&sdp("127.0.0.1", "127.0.0.1", 5000, ""))),
        ])
        .await;
    assert!(
        error_reason(&srtp).contains("DTLS-SRTP is not implemented"),
        "{srtp:?}"
    );
    let wrong_type = ng
        .call(&[
            ("command", s("offer")),
            ("call-id", s("b1")),
            ("from-tag", Value::Integer(3)),
            ("sdp", s(&sdp("127.0.0.1", "127.0.0.1", 5000, ""))),
        ])
        .await;
    assert!(
        error_reason(&wrong_type).contains("from-tag"),
        "{wrong_type:?}"
    );

    let pong = ng.call(&[("command", s("ping"))]).await;
    assert_eq!(text(&pong, "result"), "pong");
    let listed = ng.call(&[("command", s("list"))]).await;
    assert_eq!(
        listed.get("calls"),
        Some(&Value::List(Vec::new())),
        "no half-made calls"
    );
    node.shutdown().await;
}

#[tokio::test]
async fn running_out_of_ports_is_an_error_reply() {
    // Two RTP/RTCP pairs: room for exactly one call.
    let node = start_one_core("media-5", "41400-41403").await;
    let mut ng = Ng::new(node.ng_addr()).await;
    let offer = |id: &'static str| {
        [
            ("command", s("offer")),
            ("call-id", s(id)),
            ("from-tag", s("a")),
            ("sdp", s(&sdp("127.0.0.1", "127.0.0.1", 5000, ""))),
        ]
    };
    ok_sdp(&ng.call(&offer("p1")).await);
    let second = ng.call(&offer("p2")).await;
    assert!(
        error_reason(&second).contains("Ran out of ports"),
        "{second:?}"
    );
    let deleted = ng
        .call(&[("command", s("delete")), ("call-id", s("p1"))])
        .await;
    assert_eq!(text(&deleted, "result"), "ok");
    ok_sdp(&ng.call(&offer("p2")).await);
    node.shutdown().await;
}

#[tokio::test]
async fn a_port_taken_by_another_process_is_skipped_and_fails_only_when_nothing_else_is_free() {
    // Four pairs; another process holds the second one's RTCP port.
    let node = start_one_core("media-6", "41500-41507").await;
    let _squatter = std::net::UdpSocket::bind("127.0.0.1:41503").unwrap();
    let mut ng = Ng::new(node.ng_addr()).await;
    let offer = |id: &'static str| {
        [
            ("command", s("offer")),
            ("call-id", s(id)),
            ("from-tag", s("a")),
            ("sdp", s(&sdp("127.0.0.1", "127.0.0.1", 5000, ""))),
        ]
    };
    let first = ng.call(&offer("q1")).await;
    let to_callee = ok_sdp(&first);
    assert_eq!(audio_port(&to_callee), 41504, "the busy pair is skipped");

    // One free pair and the busy one are left: the next offer fails, naming the port, and
    // closes the pair it had opened.
    let second = ng.call(&offer("q2")).await;
    let reason = error_reason(&second);
    assert!(
        reason.contains("Failed to open media port 41502"),
        "{reason}"
    );
    let listed = ng.call(&[("command", s("list"))]).await;
    assert_eq!(listed.get("calls"), Some(&list(&["q1"])));
    assert!(port_frees_up(41506).await, "port 41506 left open");
    node.shutdown().await;
}

#[tokio::test]
async fn dtmf_is_relayed_and_published_on_the_bus() {
    let bus = Arc::new(MemoryBus::new());
    let mut events = bus.subscribe("call.*").await.unwrap();
    let node = start_on("media-7", "41600-41699", bus.clone()).await;
    let mut ng = Ng::new(node.ng_addr()).await;
    let caller = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let callee = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let dtmf_sdp = |port| {
        sdp(
            "127.0.0.1",
            "127.0.0.1",
            port,
            "a=rtpmap:101 telephone-event/8000\r\n",
        )
        .replace("RTP/AVP 0", "RTP/AVP 0 101")
    };
    let offer = ng
        .call(&[
            ("command", s("offer")),
            ("call-id", s("d1")),
            ("from-tag", s("a")),
            ("sdp", s(&dtmf_sdp(caller.local_addr().unwrap().port()))),
        ])
        .await;
    let callee_facing = audio_port(&ok_sdp(&offer));
    let answer = ng
        .call(&[
            ("command", s("answer")),
            ("call-id", s("d1")),
            ("from-tag", s("a")),
            ("to-tag", s("b")),
            ("sdp", s(&dtmf_sdp(callee.local_addr().unwrap().port()))),
        ])
        .await;
    let caller_facing = audio_port(&ok_sdp(&answer));

    // RFC 4733 digit 5: two progress packets and an end packet, one timestamp.
    for (seq, flags, duration) in [(1u16, 0x0au8, 160u16), (2, 0x0a, 320), (3, 0x8a, 800)] {
        let mut packet = vec![0x80, 101];
        packet.extend_from_slice(&seq.to_be_bytes());
        packet.extend_from_slice(&8000u32.to_be_bytes());
        packet.extend_from_slice(&0x5555u32.to_be_bytes());
        packet.extend_from_slice(&[5, flags]);
        packet.extend_from_slice(&duration.to_be_bytes());
        caller
            .send_to(&packet, ("127.0.0.1", caller_facing))
            .await
            .unwrap();
        let mut buffer = [0u8; 2048];
        let (n, from) = tokio::time::timeout(Duration::from_secs(5), callee.recv_from(&mut buffer))
            .await
            .expect("DTMF packet relayed")
            .unwrap();
        assert_eq!(from, loopback(callee_facing));
        assert_eq!(&buffer[..n], packet.as_slice());
    }
    let event = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("call.dtmf published")
        .unwrap();
    assert_eq!(event.event_type, "call.dtmf");
    assert_eq!(event.publisher, "media-7");
    assert_eq!(event.data["call_id"], "d1");
    assert_eq!(event.data["source_tag"], "a");
    assert_eq!(event.data["digit"], "5");
    assert_eq!(event.data["duration"], 800);
    node.shutdown().await;
}
