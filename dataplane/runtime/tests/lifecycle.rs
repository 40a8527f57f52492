//! Start-up, timers and shutdown on both backends.

mod common;

use common::*;
use ferrovox_runtime::{Backend, RuntimeError, start};
use ferrovox_sip::transaction::Transport;
use std::net::{TcpListener, UdpSocket};
use std::time::{Duration, Instant};

on_both_backends!(
    timeout_fires_after_its_deadline,
    udp_port_in_use_is_a_bind_error_naming_the_address,
    tcp_port_in_use_is_a_bind_error_naming_the_address,
    shutdown_joins_every_core_promptly,
    context_tells_each_core_its_addresses,
);

fn timeout_fires_after_its_deadline(backend: Backend) {
    let (rt, events) = start_udp(
        backend,
        1,
        Script {
            timeout_after: Some(Duration::from_millis(50)),
            ..Script::default()
        },
    );
    let deadline = wait_for(&events, Duration::from_secs(2), |e| match e {
        Event::Started { deadline, .. } => *deadline,
        _ => None,
    })
    .expect("service created with a deadline");
    let fired = wait_for(&events, Duration::from_secs(3), |e| match e {
        Event::Timeout { at, .. } => Some(*at),
        _ => None,
    })
    .expect("on_timeout called");
    assert!(fired >= deadline, "fired {:?} early", deadline - fired);
    assert!(
        Instant::now() >= deadline,
        "the wall clock agrees the deadline passed"
    );
    let stats = stats_until(&rt, |s| s.timeouts == 1);
    assert_eq!(stats.timeouts, 1);
    rt.shutdown().expect("shutdown");
}

fn udp_port_in_use_is_a_bind_error_naming_the_address(backend: Backend) {
    let taken = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let (factory, _events) = service(Script::default());
    let mut cfg = config(backend, 2, &[]);
    cfg.listen = vec![(Transport::Udp, addr)];
    let err = start(cfg, factory).expect_err("port in use");
    match &err {
        RuntimeError::Bind {
            transport,
            addr: failed,
            ..
        } => assert_eq!((*transport, *failed), (Transport::Udp, addr)),
        other => panic!("not a bind error: {other:?}"),
    }
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

fn tcp_port_in_use_is_a_bind_error_naming_the_address(backend: Backend) {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let (factory, _events) = service(Script::default());
    let mut cfg = config(backend, 1, &[(Transport::Udp, "127.0.0.1:0")]);
    cfg.listen.push((Transport::Tcp, addr));
    let err = start(cfg, factory).expect_err("port in use");
    assert!(
        matches!(err, RuntimeError::Bind { transport: Transport::Tcp, addr: a, .. } if a == addr),
        "{err:?}"
    );
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

fn shutdown_joins_every_core_promptly(backend: Backend) {
    let (rt, events) = start_udp_tcp(backend, 4, Script::default());
    assert_eq!(rt.cores(), 4);
    assert_eq!(rt.backend(), backend);
    // An open TCP connection does not hold shutdown up.
    let _conn = std::net::TcpStream::connect(listen_addr(&rt, Transport::Tcp)).expect("connect");
    let started = Instant::now();
    rt.shutdown().expect("clean shutdown");
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1500), "shutdown took {took:?}");
    // Every service was dropped: its sender is gone once all cores ended.
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match events.recv_timeout(Duration::from_millis(100)) {
            Ok(_) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(_) if Instant::now() > deadline => panic!("services still alive"),
            Err(_) => {}
        }
    }
}

fn context_tells_each_core_its_addresses(backend: Backend) {
    let (rt, events) = start_udp_tcp(backend, 2, Script::default());
    let mut contexts = Vec::new();
    while contexts.len() < 2 {
        let ctx = wait_for(&events, Duration::from_secs(2), |e| match e {
            Event::Started { ctx, .. } => Some(ctx.clone()),
            _ => None,
        })
        .expect("both cores started");
        contexts.push(ctx);
    }
    contexts.sort_by_key(|c| c.core);
    for (i, ctx) in contexts.iter().enumerate() {
        assert_eq!((ctx.core, ctx.cores), (i, 2));
        assert_eq!(ctx.listen, rt.listen_addrs());
        assert_eq!(ctx.via_udp, rt.via_udp_addrs()[i]);
        assert!(
            ctx.listen.iter().all(|(_, a)| a.port() != 0),
            "ports resolved"
        );
    }
    assert_ne!(contexts[0].via_udp, contexts[1].via_udp);
    rt.shutdown().expect("shutdown");
}
