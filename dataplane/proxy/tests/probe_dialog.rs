//! OPTIONS probes (gateway health) and dialog tracking events.

mod common;

use common::*;
use ferrovox_proxy::{DialogEndReason, NextHop, ProxyEvent};
use std::time::Duration;

fn harness() -> Harness<NextHop> {
    Harness::new(config(), NextHop::new(bob()))
}

#[test]
fn probe_answered_reports_status() {
    let mut h = harness();
    let gw = udp("198.51.100.1:5060");
    h.proxy.send_probe("sip:gw1@198.51.100.1", gw, 42, h.now);
    let probe = one(h.drain(), gw);
    assert_eq!(probe.start_line(), "OPTIONS sip:gw1@198.51.100.1 SIP/2.0");
    assert_eq!(probe.header("CSeq").unwrap(), "1 OPTIONS");
    assert!(probe.header("From").unwrap().contains(";tag="));
    assert!(h.input(&respond(&probe, 200, "OK", "g"), gw).is_empty());
    assert_eq!(
        h.events(),
        vec![ProxyEvent::ProbeResult {
            token: 42,
            status: Some(200)
        }]
    );
    // Nothing else is reported when the transaction ends.
    h.advance(Duration::from_secs(10));
    assert!(h.events().is_empty());
}

#[test]
fn silent_probe_reports_none_after_timer_f() {
    let mut h = harness();
    let gw = udp("198.51.100.2:5060");
    h.proxy.send_probe("sip:198.51.100.2", gw, 7, h.now);
    h.drain();
    let log = h.advance(Duration::from_secs(31));
    assert!(
        log.iter().all(|(_, s)| s.is_request("OPTIONS")),
        "Timer E retransmits"
    );
    assert!(h.events().is_empty());
    h.advance(Duration::from_secs(2));
    assert_eq!(
        h.events(),
        vec![ProxyEvent::ProbeResult {
            token: 7,
            status: None
        }]
    );
}

#[test]
fn probe_to_unreachable_gateway_reports_none_at_once() {
    let mut h = harness();
    let gw = udp("198.51.100.3:5060");
    h.proxy.send_probe("sip:198.51.100.3", gw, 9, h.now);
    h.drain();
    h.proxy.transport_error(gw, h.now);
    assert_eq!(
        h.events(),
        vec![ProxyEvent::ProbeResult {
            token: 9,
            status: None
        }]
    );
}

fn establish(h: &mut Harness<NextHop>, call_id: &str) {
    let out = h.input(&invite(call_id, &format!("z9hG4bK{call_id}")), alice());
    let fwd = out.into_iter().find(|s| s.is_request("INVITE")).unwrap();
    h.input(&respond(&fwd, 200, "OK", "b1"), bob());
}

fn reinvite_from_callee(call_id: &str, cseq: u32) -> String {
    format!(
        "INVITE sip:alice@192.0.2.10:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKre{cseq};rport\r\n\
Route: <sip:127.0.0.1:5070;lr>\r\n\
Max-Forwards: 70\r\n\
From: Bob <sip:bob@example.com>;tag=b1\r\n\
To: Alice <sip:alice@example.com>;tag=a1\r\n\
Call-ID: {call_id}\r\n\
CSeq: {cseq} INVITE\r\n\
Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn dialog_times_out_without_in_dialog_traffic() {
    let mut cfg = config();
    cfg.dialog_timeout = Duration::from_secs(600);
    let mut h = Harness::new(cfg, NextHop::new(bob()));
    establish(&mut h, "t1");
    assert_eq!(h.events().len(), 1);
    // In-dialog traffic at 400 s (from the callee's side) keeps it alive.
    h.advance(Duration::from_secs(400));
    let out = h.input(&reinvite_from_callee("t1", 2), bob());
    assert!(
        out.iter()
            .any(|s| s.is_request("INVITE") && s.dest == alice())
    );
    h.advance(Duration::from_secs(599));
    assert!(h.events().is_empty(), "refreshed at 400 s");
    assert_eq!(h.proxy.stats().active_dialogs, 1);
    h.advance(Duration::from_secs(2));
    assert_eq!(
        h.events(),
        vec![ProxyEvent::DialogEnded {
            call_id: "t1".into(),
            duration: Duration::from_secs(1000),
            reason: DialogEndReason::Timeout
        }]
    );
    assert_eq!(h.proxy.stats().active_dialogs, 0);
}

#[test]
fn dialog_tracking_can_be_switched_off() {
    let mut cfg = config();
    cfg.dialog_tracking = false;
    let mut h = Harness::new(cfg, NextHop::new(bob()));
    establish(&mut h, "o1");
    assert!(h.events().is_empty());
    assert_eq!(h.proxy.stats().active_dialogs, 0);
}

#[test]
fn stats_count_what_happened() {
    let mut h = harness();
    establish(&mut h, "s1");
    let s = h.proxy.stats();
    assert_eq!(s.requests, 1);
    assert_eq!(s.responses, 1);
    assert_eq!(s.forwarded, 1);
    assert_eq!(s.responses_relayed, 1);
    assert_eq!(s.active_dialogs, 1);
    assert!(s.memory_bytes > 0);
}
