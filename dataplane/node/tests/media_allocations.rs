//! The node's relay allocates nothing per forwarded packet: calls set up over ng on the
//! media cores (the node's `MediaCores`, io_uring and portable), then a counting global
//! allocator watches steady relaying through 20 calls in both directions. Alone in its test
//! binary so no other test's allocations are counted; the test thread does blocking socket
//! IO only while it counts.

use ferrovox_node::MediaCores;
use ferrovox_node::MediaCoresConfig;
use ferrovox_node::ng::bencode::Value;
use ferrovox_runtime::Backend;
use ferrovox_testkit::counting_alloc::{CountingAllocator, allocations};
use std::net::UdpSocket;
use std::time::Duration;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const CALLS: usize = 20;

/// One call's two relay-facing ports and its two endpoints.
struct Call {
    caller_facing: u16,
    callee_facing: u16,
}

fn sdp(port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )
}

fn audio_port(reply: &Value) -> u16 {
    let Some(Value::Bytes(sdp)) = reply.get("sdp") else {
        panic!("no sdp in {reply:?}")
    };
    let sdp = String::from_utf8_lossy(sdp);
    let line = sdp
        .lines()
        .find(|l| l.starts_with("m=audio "))
        .expect("m=audio");
    line.split(' ').nth(1).expect("port").parse().expect("port")
}

async fn set_up(cores: &MediaCores, id: usize, caller: u16, callee: u16) -> Call {
    let message = |entries: Vec<(&str, String)>| {
        Value::dict(entries.into_iter().map(|(k, v)| (k, Value::bytes(v))))
    };
    let call_id = format!("alloc-{id}@test");
    let offer = cores
        .execute(
            "offer".into(),
            message(vec![
                ("command", "offer".into()),
                ("call-id", call_id.clone()),
                ("from-tag", "a".into()),
                ("sdp", sdp(caller)),
            ]),
        )
        .await;
    let answer = cores
        .execute(
            "answer".into(),
            message(vec![
                ("command", "answer".into()),
                ("call-id", call_id),
                ("from-tag", "a".into()),
                ("to-tag", "b".into()),
                ("sdp", sdp(callee)),
            ]),
        )
        .await;
    Call {
        callee_facing: audio_port(&offer),
        caller_facing: audio_port(&answer),
    }
}

fn endpoint() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    socket
}

/// `rounds` packets each way on every call; returns how many arrived. No allocation here.
fn relay(calls: &[Call], caller: &UdpSocket, callee: &UdpSocket, rounds: u16) -> u64 {
    let mut packet = [0u8; 172];
    let mut received = [0u8; 2048];
    let mut relayed = 0;
    for round in 0..rounds {
        for (from, to, ssrc) in [(caller, callee, 0xa), (callee, caller, 0xb)] {
            for (i, call) in calls.iter().enumerate() {
                packet[0] = 0x80;
                packet[2..4].copy_from_slice(&round.to_be_bytes());
                packet[4..8].copy_from_slice(&(u32::from(round) * 160).to_be_bytes());
                packet[8..12].copy_from_slice(&(ssrc * 1000 + i as u32).to_be_bytes());
                let port = if ssrc == 0xa {
                    call.caller_facing
                } else {
                    call.callee_facing
                };
                // A SocketAddr, not ("127.0.0.1", port): resolving a tuple allocates.
                let to_relay = std::net::SocketAddr::from(([127, 0, 0, 1], port));
                from.send_to(&packet, to_relay).expect("send");
            }
            for _ in calls {
                let (n, _) = to.recv_from(&mut received).expect("a relayed packet");
                assert_eq!(n, 172);
                relayed += 1;
            }
        }
    }
    relayed
}

#[tokio::test(flavor = "current_thread")]
async fn relaying_allocates_nothing_per_packet_on_either_backend() {
    for (backend, range) in [
        (Backend::IoUring, (44000, 44199)),
        (Backend::Portable, (44200, 44399)),
    ] {
        let (cores, _events) = MediaCores::start(&MediaCoresConfig {
            backend,
            threads: 2,
            interface: "127.0.0.1".parse().expect("ip"),
            port_first: range.0,
            port_last: range.1,
        })
        .expect("media cores");
        // Every call's caller shares one socket and every callee another: the relay latches
        // onto each call's source port, which is the same for all calls here.
        let (caller, callee) = (endpoint(), endpoint());
        let caller_port = caller.local_addr().expect("addr").port();
        let callee_port = callee.local_addr().expect("addr").port();
        let mut calls = Vec::new();
        for id in 0..CALLS {
            calls.push(set_up(&cores, id, caller_port, callee_port).await);
        }
        // Warm up: latching, first-packet paths, buffer rings.
        assert_eq!(relay(&calls, &caller, &callee, 20), 2 * 20 * CALLS as u64);
        let before = allocations();
        let relayed = relay(&calls, &caller, &callee, 200);
        let allocations = allocations() - before;
        assert_eq!(relayed, 2 * 200 * CALLS as u64);
        assert_eq!(
            allocations, 0,
            "{backend}: {allocations} allocations for {relayed} relayed packets"
        );
        cores.shutdown();
    }
}
