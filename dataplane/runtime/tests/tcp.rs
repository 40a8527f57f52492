//! TCP through both backends: framing, keep-alive, replies on the same
//! connection, outbound connections and their reuse (also from another
//! core), connect failures, idle timeout.

mod common;

use common::*;
use ferrovox_runtime::{Backend, start};
use ferrovox_sip::transaction::Transport;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::thread::sleep;
use std::time::{Duration, Instant};

on_both_backends!(
    framing_keepalive_and_replies_on_the_same_connection,
    transmit_to_an_unconnected_peer_opens_one_connection_and_reuses_it,
    refused_connect_is_a_transport_error,
    idle_connection_is_closed,
    another_core_sends_on_the_connection_it_does_not_own,
    peer_that_does_not_read_is_cut_off_at_the_output_limit,
);

fn message(call: &str, body: &str) -> Vec<u8> {
    format!(
        "MESSAGE sip:a@example.com SIP/2.0\r\nCall-ID: {call}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s
}

/// Read from `s` until `done` holds for what was read.
fn read_until(s: &mut TcpStream, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !done(&got) {
        match s.read(&mut buf) {
            Ok(0) => panic!(
                "connection closed; read so far: {:?}",
                String::from_utf8_lossy(&got)
            ),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!(
                "read failed ({e}); read so far: {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    got
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

fn received(
    events: &std::sync::mpsc::Receiver<Event>,
    n: usize,
) -> Vec<(Vec<u8>, ferrovox_sip::transaction::Peer)> {
    let mut out = Vec::new();
    while out.len() < n {
        let m = wait_for(events, Duration::from_secs(5), |e| match e {
            Event::Message { bytes, from, .. } => Some((bytes.clone(), *from)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("only {} of {n} messages reached the service", out.len()));
        out.push(m);
    }
    out
}

fn framing_keepalive_and_replies_on_the_same_connection(backend: Backend) {
    let (rt, events) = start_on(
        backend,
        1,
        &[(Transport::Tcp, "127.0.0.1:0")],
        Script::recording(),
    );
    let server = listen_addr(&rt, Transport::Tcp);
    let mut s = connect(server);
    let me = s.local_addr().expect("addr");

    // Three messages in one write.
    let (a, b, c) = (
        message("a", "one"),
        message("b", ""),
        message("c", "three!"),
    );
    let mut burst = a.clone();
    burst.extend_from_slice(&b);
    burst.extend_from_slice(&c);
    s.write_all(&burst).expect("write");
    let got = received(&events, 3);
    assert_eq!(
        got.iter().map(|(m, _)| m.clone()).collect::<Vec<_>>(),
        vec![a, b, c]
    );
    for (_, from) in &got {
        assert_eq!((from.addr, from.transport), (me, Transport::Tcp));
    }
    let replies = read_until(&mut s, |r| count(r, b"SIP/2.0 200 OK") == 3);
    assert_eq!(count(&replies, b"Content-Length: 0\r\n\r\n"), 3);

    // One message over three writes, with a bare CRLF before it.
    let d = message("d", "split body");
    let mut split = b"\r\n".to_vec();
    split.extend_from_slice(&d);
    for part in [&split[..7], &split[7..30], &split[30..]] {
        s.write_all(part).expect("write");
        s.flush().expect("flush");
        sleep(Duration::from_millis(30));
    }
    let got = received(&events, 1);
    assert_eq!(got[0].0, d);
    read_until(&mut s, |r| count(r, b"SIP/2.0 200 OK") == 1);

    // Keep-alive ping: CRLFCRLF answered by exactly CRLF.
    s.write_all(b"\r\n\r\n").expect("ping");
    let pong = read_until(&mut s, |r| r.len() >= 2);
    assert_eq!(pong, b"\r\n");
    let stats = stats_until(&rt, |s| s.tcp_pings == 1);
    assert_eq!(stats.tcp_pings, 1);
    assert_eq!(stats.tcp_accepted, 1);
    assert_eq!(stats.rx_messages, 4);

    // Bad framing (no Content-Length) closes the connection.
    s.write_all(b"MESSAGE sip:a@example.com SIP/2.0\r\nCall-ID: x\r\n\r\n")
        .expect("write");
    let mut buf = [0u8; 64];
    assert_eq!(s.read(&mut buf).expect("read"), 0, "closed on bad framing");
    rt.shutdown().expect("shutdown");
}

fn transmit_to_an_unconnected_peer_opens_one_connection_and_reuses_it(backend: Backend) {
    let (rt, events) = start_udp_tcp(backend, 1, Script::recording());
    let udp = listen_addr(&rt, Transport::Udp);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let target = listener.local_addr().expect("addr");
    trigger_send(udp, "tcp", target);
    let (mut conn, _) = listener.accept().expect("the runtime connects");
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let first = read_until(&mut conn, |r| r.ends_with(b"\r\n\r\n"));
    assert_eq!(first, OPTIONS);

    // The peer answers on that connection: the service sees it from the
    // address it sent to.
    conn.write_all(b"SIP/2.0 200 OK\r\nCall-ID: out\r\nContent-Length: 0\r\n\r\n")
        .expect("answer");
    let (bytes, from) = wait_for(&events, Duration::from_secs(5), |e| match e {
        Event::Message { bytes, from, .. } if from.transport == Transport::Tcp => {
            Some((bytes.clone(), *from))
        }
        _ => None,
    })
    .expect("response over the outbound connection");
    assert!(bytes.starts_with(b"SIP/2.0 200 OK"));
    assert_eq!(from.addr, target);

    // A second transmit reuses the connection.
    trigger_send(udp, "tcp", target);
    let second = read_until(&mut conn, |r| r.ends_with(b"\r\n\r\n"));
    assert_eq!(second, OPTIONS);
    listener.set_nonblocking(true).expect("nonblocking");
    assert_eq!(
        listener.accept().map(|_| ()).map_err(|e| e.kind()),
        Err(ErrorKind::WouldBlock),
        "no second connection"
    );
    let stats = stats_until(&rt, |s| s.tcp_connected == 1);
    assert_eq!((stats.tcp_connected, stats.tcp_open), (1, 1));
    rt.shutdown().expect("shutdown");
}

fn refused_connect_is_a_transport_error(backend: Backend) {
    let (rt, events) = start_udp_tcp(backend, 1, Script::default());
    let udp = listen_addr(&rt, Transport::Udp);
    let dead = closed_tcp_port();
    trigger_send(udp, "tcp", dead);
    let dest = wait_for(&events, Duration::from_secs(5), |e| match e {
        Event::TransportError { dest, .. } => Some(*dest),
        _ => None,
    })
    .expect("connect refused reported");
    assert_eq!((dest.addr, dest.transport), (dead, Transport::Tcp));
    let stats = stats_until(&rt, |s| s.tcp_open == 0 && s.transport_errors == 1);
    assert_eq!(stats.tcp_open, 0);
    assert_eq!(stats.transport_errors, 1);
    rt.shutdown().expect("shutdown");
}

fn idle_connection_is_closed(backend: Backend) {
    let (factory, _events) = service(Script::default());
    let mut cfg = config(backend, 1, &[(Transport::Tcp, "127.0.0.1:0")]);
    cfg.tcp_idle_timeout = Duration::from_millis(300);
    let rt = start(cfg, factory).expect("start");
    let mut s = connect(listen_addr(&rt, Transport::Tcp));
    s.write_all(&message("idle", "")).expect("write");
    read_until(&mut s, |r| count(r, b"SIP/2.0 200 OK") == 1);
    let quiet_since = Instant::now();
    let mut buf = [0u8; 64];
    assert_eq!(s.read(&mut buf).expect("read"), 0, "closed by the runtime");
    let idle = quiet_since.elapsed();
    assert!(
        idle >= Duration::from_millis(200),
        "closed after only {idle:?}"
    );
    assert!(idle < Duration::from_secs(4), "closed only after {idle:?}");
    let stats = stats_until(&rt, |s| s.tcp_open == 0);
    assert_eq!(stats.tcp_open, 0);
    rt.shutdown().expect("shutdown");
}

fn another_core_sends_on_the_connection_it_does_not_own(backend: Backend) {
    let (rt, events) = start_udp_tcp(backend, 2, Script::recording());
    let udp = listen_addr(&rt, Transport::Udp);
    let mut s = connect(listen_addr(&rt, Transport::Tcp));
    let me = s.local_addr().expect("addr");
    s.write_all(&message("hello", "")).expect("write");
    let owner = wait_for(&events, Duration::from_secs(5), |e| match e {
        Event::Message { core, from, .. } if from.transport == Transport::Tcp => Some(*core),
        _ => None,
    })
    .expect("message over TCP");
    read_until(&mut s, |r| count(r, b"SIP/2.0 200 OK") == 1);

    // Triggers from fresh UDP sockets until one lands on the other core.
    let mut triggers = 0;
    let mut from_other_core = 0;
    for _ in 0..64 {
        let t = UdpSocket::bind("127.0.0.1:0").expect("bind");
        t.send_to(format!("SEND tcp {me}").as_bytes(), udp)
            .expect("trigger");
        triggers += 1;
        let core = wait_for(&events, Duration::from_secs(5), |e| match e {
            Event::Message { core, bytes, .. } if bytes.starts_with(b"SEND ") => Some(*core),
            _ => None,
        })
        .expect("trigger received");
        if core != owner {
            from_other_core += 1;
            if from_other_core == 2 {
                break;
            }
        }
    }
    assert!(from_other_core > 0, "no trigger reached the other core");
    let got = read_until(&mut s, |r| count(r, OPTIONS) == triggers);
    assert_eq!(
        count(&got, OPTIONS),
        triggers,
        "every transmit used the one connection"
    );
    let stats = stats_until(&rt, |s| s.tcp_open == 1);
    assert_eq!(
        (stats.tcp_accepted, stats.tcp_connected, stats.tcp_open),
        (1, 0, 1)
    );
    rt.shutdown().expect("shutdown");
}

fn peer_that_does_not_read_is_cut_off_at_the_output_limit(backend: Backend) {
    let (factory, events) = service(Script::default());
    let mut cfg = config(
        backend,
        1,
        &[
            (Transport::Udp, "127.0.0.1:0"),
            (Transport::Tcp, "127.0.0.1:0"),
        ],
    );
    cfg.tcp_output_limit = 1 << 20;
    let rt = start(cfg, factory).expect("start");
    let udp = listen_addr(&rt, Transport::Udp);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let target = listener.local_addr().expect("addr");
    let trigger = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let send_big = || {
        trigger
            .send_to(format!("SEND tcp {target} 524288").as_bytes(), udp)
            .expect("trigger");
    };
    send_big();
    let (_stalled, _) = listener.accept().expect("the runtime connects");
    // Never read: the kernel buffers fill, then the runtime's queue.
    let mut cut_off = None;
    for _ in 0..200 {
        send_big();
        cut_off = wait_for(&events, Duration::from_millis(50), |e| match e {
            Event::TransportError { dest, .. } => Some(*dest),
            _ => None,
        });
        if cut_off.is_some() {
            break;
        }
    }
    let dest = cut_off.expect("overflow reported as a transport error");
    assert_eq!((dest.addr, dest.transport), (target, Transport::Tcp));
    let stats = stats_until(&rt, |s| s.tcp_open == 0);
    assert_eq!(stats.tcp_open, 0, "the overloaded connection is closed");
    rt.shutdown().expect("shutdown");
}
