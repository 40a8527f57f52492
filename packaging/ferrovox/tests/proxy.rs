//! `ferrovox proxy` with real SIPp peers: the issue's proxy acceptance — 10,000 calls at
//! 200 calls/s through each IO backend, TCP on one side, caller CANCEL, busy callee, no answer,
//! and carrier failover (503, and a dead gateway found by OPTIONS probing).

mod common;

use common::proxy::ProxyProcess;
use ferrovox_testkit::ports::{free_udp_tcp_port, loopback};
use ferrovox_testkit::sipp::{Scenario, Sipp, SippOutcome, harness_scenario};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn uas(scenario: PathBuf) -> (ferrovox_testkit::sipp::SippRun, SocketAddr) {
    let addr = loopback(free_udp_tcp_port());
    let run = Sipp::new(Scenario::File(scenario), addr)
        .spawn()
        .expect("start the SIPp UAS");
    (run, addr)
}

fn uac(scenario: PathBuf, proxy: SocketAddr, rate: f64, calls: u64) -> Sipp {
    Sipp::new(Scenario::File(scenario), loopback(free_udp_tcp_port()))
        .remote(proxy)
        .rate(rate)
        .calls(calls)
        .arg("-default_behaviors")
        .arg("all,-abortunexp")
}

fn finish(uac: Sipp, within: Duration, proxy: &ProxyProcess) -> SippOutcome {
    uac.spawn()
        .expect("start the SIPp UAC")
        .wait(within)
        .unwrap_or_else(|e| panic!("UAC did not finish: {e}\nproxy:\n{}", proxy.stderr()))
}

fn assert_all_succeeded(outcome: &SippOutcome, calls: u64, proxy: &ProxyProcess) {
    assert_eq!(
        (
            outcome.stats.successful_calls(),
            outcome.stats.failed_calls()
        ),
        (calls, 0),
        "UAC {:?}: {}\nproxy stderr:\n{}",
        outcome.status,
        outcome.errors,
        proxy.stderr()
    );
}

/// The lab's Record-Route-aware UAC and UAS through the proxy in benchmark mode.
fn ten_thousand_calls(backend: &str) {
    let (uas_run, uas_addr) = uas(harness_scenario("uas_rr.xml"));
    let proxy = ProxyProcess::start(
        "",
        &[
            "--next-hop",
            &format!("sip:{uas_addr}"),
            "--backend",
            backend,
            "--threads",
            "2",
        ],
    );
    assert!(proxy.stdout().contains(backend), "{}", proxy.stdout());
    let outcome = finish(
        uac(harness_scenario("uac_rr.xml"), proxy.addr, 200.0, 10_000),
        Duration::from_secs(180),
        &proxy,
    );
    assert_all_succeeded(&outcome, 10_000, &proxy);
    let uas_outcome = uas_run.stop().expect("UAS stops");
    assert_eq!(uas_outcome.stats.successful_calls(), 10_000);
    proxy.stop();
}

#[test]
fn ten_thousand_calls_at_200_per_second_through_io_uring() {
    ten_thousand_calls("io-uring");
}

#[test]
fn ten_thousand_calls_at_200_per_second_through_the_portable_backend() {
    ten_thousand_calls("portable");
}

/// A caller on TCP, a callee on UDP: double Record-Route, responses back on the caller's
/// connection, in-dialog ACK and BYE routed by the route set across transports.
#[test]
fn a_tcp_caller_reaches_a_udp_callee() {
    let (uas_run, uas_addr) = uas(harness_scenario("uas_rr.xml"));
    let proxy = ProxyProcess::start("", &["--next-hop", &format!("sip:{uas_addr}")]);
    let outcome = finish(
        uac(harness_scenario("uac_rr.xml"), proxy.addr, 20.0, 100)
            .arg("-t")
            .arg("t1"),
        Duration::from_secs(60),
        &proxy,
    );
    assert_all_succeeded(&outcome, 100, &proxy);
    drop(uas_run);
    proxy.stop();
}

#[test]
fn a_caller_cancelling_while_ringing_gets_487_and_its_cancel_200() {
    let (uas_run, uas_addr) = uas(harness_scenario("uas_ring_no_answer.xml"));
    let proxy = ProxyProcess::start("", &["--next-hop", &format!("sip:{uas_addr}")]);
    let outcome = finish(
        uac(harness_scenario("uac_cancel.xml"), proxy.addr, 5.0, 5),
        Duration::from_secs(60),
        &proxy,
    );
    assert_all_succeeded(&outcome, 5, &proxy);
    let uas_outcome = uas_run.stop().expect("UAS stops");
    assert_eq!(
        uas_outcome.stats.successful_calls(),
        5,
        "the callee saw the CANCEL and its 487 was ACKed"
    );
    proxy.stop();
}

#[test]
fn a_busy_callee_486_reaches_the_caller() {
    let (uas_run, uas_addr) = uas(harness_scenario("uas_busy.xml"));
    let proxy = ProxyProcess::start("", &["--next-hop", &format!("sip:{uas_addr}")]);
    let outcome = finish(
        uac(harness_scenario("uac_expect_486.xml"), proxy.addr, 5.0, 5),
        Duration::from_secs(60),
        &proxy,
    );
    assert_all_succeeded(&outcome, 5, &proxy);
    let uas_outcome = uas_run.stop().expect("UAS stops");
    assert_eq!(
        uas_outcome.stats.successful_calls(),
        5,
        "the callee got the ACK for its 486 (from the proxy's client transaction)"
    );
    proxy.stop();
}

#[test]
fn ringing_without_answer_ends_in_408_and_the_callee_is_cancelled() {
    let (uas_run, uas_addr) = uas(harness_scenario("uas_ring_no_answer.xml"));
    let proxy = ProxyProcess::start(
        "invite_timeout_s = 2",
        &["--next-hop", &format!("sip:{uas_addr}")],
    );
    let started = Instant::now();
    let outcome = finish(
        uac(harness_scenario("uac_expect_408.xml"), proxy.addr, 2.0, 3)
            .arg("-recv_timeout")
            .arg("20000"),
        Duration::from_secs(60),
        &proxy,
    );
    assert_all_succeeded(&outcome, 3, &proxy);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "408 only after the INVITE timeout"
    );
    let uas_outcome = uas_run.stop().expect("UAS stops");
    assert_eq!(
        uas_outcome.stats.successful_calls(),
        3,
        "the proxy cancelled the ringing callee"
    );
    proxy.stop();
}

fn carrier_config(first: SocketAddr, second: SocketAddr, probe_first: bool) -> String {
    format!(
        r#"require_auth = false
branch_response_timeout_ms = 4000

[[sip.gateways]]
name = "first"
address = "{first}"
probe = {probe_first}

[[sip.gateways]]
name = "second"
address = "{second}"

[[sip.routes]]
prefix = "+1"
gateways = ["first", "second"]

[sip.health]
probe_interval_ms = 300
probe_timeout_ms = 250
down_after = 2
"#
    )
}

#[test]
fn a_503_from_the_first_gateway_moves_the_call_to_the_second() {
    let (first_run, first) = uas(harness_scenario("uas_unavailable.xml"));
    let (second_run, second) = uas(harness_scenario("uas_rr.xml"));
    let proxy = ProxyProcess::start(&carrier_config(first, second, false), &[]);
    let outcome = finish(
        uac(harness_scenario("uac_rr.xml"), proxy.addr, 10.0, 10)
            .arg("-s")
            .arg("+15551234"),
        Duration::from_secs(60),
        &proxy,
    );
    assert_all_succeeded(&outcome, 10, &proxy);
    let first_outcome = first_run.stop().expect("first gateway stops");
    let second_outcome = second_run.stop().expect("second gateway stops");
    // Each 503 also counts against the gateway's health (down after 2), so later calls may
    // skip it; the first calls were offered to it and its 503s were ACKed.
    assert!(
        (2..=10).contains(&first_outcome.stats.successful_calls()),
        "the first gateway answered {} calls with 503",
        first_outcome.stats.successful_calls()
    );
    assert_eq!(second_outcome.stats.successful_calls(), 10);
    proxy.stop();
}

/// A gateway that swallows everything and answers nothing (host up, SIP dead).
struct BlackHole {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<String>>>,
}

impl BlackHole {
    fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::downgrade(&received);
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            loop {
                let Some(sink) = sink.upgrade() else { return };
                if let Ok(n) = socket.recv(&mut buf) {
                    let text = String::from_utf8_lossy(&buf[..n]);
                    let method = text.split(' ').next().unwrap_or_default().to_owned();
                    sink.lock().unwrap().push(method);
                }
            }
        });
        Self { addr, received }
    }

    fn methods(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }
}

#[test]
fn a_dead_gateway_found_by_probing_is_skipped_and_calls_go_straight_to_the_second() {
    let dead = BlackHole::start();
    let (second_run, second) = uas(harness_scenario("uas_rr.xml"));
    let proxy = ProxyProcess::start(&carrier_config(dead.addr, second, true), &[]);
    // Two unanswered probes (300 ms apart, 250 ms timeout) take it out of rotation.
    let deadline = Instant::now() + Duration::from_secs(10);
    while dead.methods().iter().filter(|m| *m == "OPTIONS").count() < 3 {
        assert!(Instant::now() < deadline, "no probes: {:?}", dead.methods());
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = Instant::now();
    let outcome = finish(
        uac(harness_scenario("uac_rr.xml"), proxy.addr, 10.0, 10)
            .arg("-s")
            .arg("+15551234"),
        Duration::from_secs(60),
        &proxy,
    );
    assert_all_succeeded(&outcome, 10, &proxy);
    assert!(
        dead.methods().iter().all(|m| m == "OPTIONS"),
        "only probes reached the dead gateway: {:?}",
        dead.methods()
    );
    assert!(
        started.elapsed() < Duration::from_secs(4 + 2),
        "no call waited for the dead gateway's 4 s response timeout: {:?}",
        started.elapsed()
    );
    drop(second_run);
    proxy.stop();
}
