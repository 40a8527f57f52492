//! UDP through both backends: echo under load, the request/response
//! socket split, spreading callers over cores, ICMP errors.

mod common;

use common::*;
use ferrovox_runtime::{Backend, start};
use ferrovox_sip::transaction::Transport;
use std::collections::{HashMap, HashSet};
use std::net::UdpSocket;
use std::time::Duration;

on_both_backends!(
    echo_answers_ten_thousand_messages,
    requests_leave_from_the_private_socket_and_responses_from_the_listen_socket,
    callers_spread_over_cores_and_each_stays_on_one,
    icmp_port_unreachable_is_a_transport_error,
    deep_window_with_tiny_batches_loses_nothing,
);

fn client() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind client");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    // Room for a deep window of replies (the default holds ~250).
    socket2::SockRef::from(&s)
        .set_recv_buffer_size(4 << 20)
        .expect("SO_RCVBUF");
    s
}

fn request(call: &str) -> Vec<u8> {
    format!("OPTIONS sip:a@example.com SIP/2.0\r\nCall-ID: {call}\r\nContent-Length: 0\r\n\r\n")
        .into_bytes()
}

fn echo_answers_ten_thousand_messages(backend: Backend) {
    echo(backend, 32, 10_000, 64);
}

/// recv_batch 1 gives the io_uring backend its smallest buffer ring (64
/// buffers): a window of 500 runs it dry (multishot ends with ENOBUFS and
/// is re-armed) and makes the portable backend read one datagram per call.
fn deep_window_with_tiny_batches_loses_nothing(backend: Backend) {
    echo(backend, 1, 5_000, 500);
}

fn echo(backend: Backend, recv_batch: usize, total: usize, window: usize) {
    let (factory, _events) = service(Script::default());
    let mut cfg = config(backend, 1, &[(Transport::Udp, "127.0.0.1:0")]);
    cfg.recv_batch = recv_batch;
    let rt = start(cfg, factory).expect("start");
    let server = listen_addr(&rt, Transport::Udp);
    let c = client();
    let msg = request("echo");
    let mut sent = 0;
    let mut received = 0;
    let mut buf = [0u8; 2048];
    while sent < window {
        c.send_to(&msg, server).expect("send");
        sent += 1;
    }
    while received < total {
        let (n, from) = c.recv_from(&mut buf).unwrap_or_else(|e| {
            panic!(
                "reply {received} of {total} missing: {e}; client rcvbuf {:?}; runtime {:?}",
                socket2::SockRef::from(&c).recv_buffer_size(),
                rt.stats()
            )
        });
        assert_eq!(from, server, "replies come from the listen address");
        assert!(buf[..n].starts_with(b"SIP/2.0 200 OK"));
        received += 1;
        if sent < total {
            c.send_to(&msg, server).expect("send");
            sent += 1;
        }
    }
    let stats = stats_until(&rt, |s| {
        s.rx_messages >= total as u64 && s.tx_messages >= total as u64
    });
    assert_eq!(stats.rx_messages, total as u64);
    assert_eq!(stats.tx_messages, total as u64);
    assert!(stats.rx_bytes >= (total * msg.len()) as u64);
    assert_eq!(stats.errors, 0);
    assert!(stats.syscalls > 0 && stats.batches > 0);
    rt.shutdown().expect("shutdown");
}

fn requests_leave_from_the_private_socket_and_responses_from_the_listen_socket(backend: Backend) {
    let downstream = client();
    let script = Script {
        downstream: Some(downstream.local_addr().expect("addr")),
        ..Script::default()
    };
    let (rt, _events) = start_udp(backend, 2, script);
    let server = listen_addr(&rt, Transport::Udp);
    let vias = rt.via_udp_addrs().to_vec();
    assert_eq!(vias.len(), 2);
    for via in &vias {
        assert_eq!(via.ip(), server.ip(), "private sockets share the listen IP");
        assert_ne!(via.port(), server.port());
    }
    let callers: Vec<UdpSocket> = (0..8).map(|_| client()).collect();
    for (i, c) in callers.iter().enumerate() {
        c.send_to(&request(&format!("call-{i}")), server)
            .expect("send");
    }
    let mut buf = [0u8; 2048];
    for _ in 0..callers.len() {
        let (n, from) = downstream.recv_from(&mut buf).expect("forwarded request");
        assert!(
            vias.contains(&from),
            "forwarded request came from {from}, not a private socket {vias:?}"
        );
        let call = call_id(&buf[..n]).expect("Call-ID").to_vec();
        // The downstream answers whoever sent it: the private socket.
        let mut response = b"SIP/2.0 200 OK\r\nCall-ID: ".to_vec();
        response.extend_from_slice(&call);
        response.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
        downstream.send_to(&response, from).expect("answer");
    }
    for (i, c) in callers.iter().enumerate() {
        let (n, from) = c.recv_from(&mut buf).expect("response back to the caller");
        assert_eq!(from, server, "responses leave from the listen address");
        assert_eq!(call_id(&buf[..n]), Some(format!("call-{i}").as_bytes()));
    }
    rt.shutdown().expect("shutdown");
}

fn callers_spread_over_cores_and_each_stays_on_one(backend: Backend) {
    let (rt, _events) = start_udp(backend, 2, Script::default());
    let server = listen_addr(&rt, Transport::Udp);
    let callers: Vec<UdpSocket> = (0..32).map(|_| client()).collect();
    let mut cores_of_caller: HashMap<usize, HashSet<usize>> = HashMap::new();
    let mut buf = [0u8; 2048];
    for round in 0..3 {
        for (i, c) in callers.iter().enumerate() {
            c.send_to(&request(&format!("c{i}-{round}")), server)
                .expect("send");
        }
        for (i, c) in callers.iter().enumerate() {
            let (n, _) = c.recv_from(&mut buf).expect("reply");
            let core = core_of(&buf[..n]).expect("X-Core");
            cores_of_caller.entry(i).or_default().insert(core);
        }
    }
    for (caller, cores) in &cores_of_caller {
        assert_eq!(cores.len(), 1, "caller {caller} landed on cores {cores:?}");
    }
    let used: HashSet<usize> = cores_of_caller.values().flatten().copied().collect();
    assert_eq!(used.len(), 2, "32 callers all hashed to one core");
    let stats = stats_until(&rt, |s| s.rx_messages >= 96);
    assert_eq!(stats.per_core_rx_messages.len(), 2);
    assert!(stats.per_core_rx_messages.iter().all(|&n| n > 0));
    assert_eq!(stats.per_core_rx_messages.iter().sum::<u64>(), 96);
    rt.shutdown().expect("shutdown");
}

fn icmp_port_unreachable_is_a_transport_error(backend: Backend) {
    let (rt, events) = start_udp(backend, 1, Script::default());
    let server = listen_addr(&rt, Transport::Udp);
    let dead = closed_udp_port();
    let c = client();
    c.send_to(format!("SEND udp {dead}").as_bytes(), server)
        .expect("send");
    let dest = wait_for(&events, Duration::from_secs(3), |e| match e {
        Event::TransportError { dest, .. } => Some(*dest),
        _ => None,
    })
    .expect("ICMP port unreachable reported");
    assert_eq!(dest.addr, dead);
    assert_eq!(dest.transport, Transport::Udp);
    // The socket still works afterwards.
    c.send_to(&request("after"), server).expect("send");
    let mut buf = [0u8; 2048];
    let (n, _) = c.recv_from(&mut buf).expect("reply after the ICMP error");
    assert!(buf[..n].starts_with(b"SIP/2.0 200 OK"));
    rt.shutdown().expect("shutdown");
}
