//! §16.3 checks (400, 483, 420, 482), §16.4 Route pre-processing (strict
//! router, single and double Record-Route), Record-Route across
//! transports, RFC 3581 received/rport, Max-Forwards capping, in-dialog
//! routing by the Route set.

mod common;

use common::*;
use ferrovox_proxy::{Admission, Decision, NextHop, Peer, Policy, RouteRequest};
use std::time::{Duration, Instant};

fn harness() -> Harness<NextHop> {
    Harness::new(config(), NextHop::new(bob()))
}

fn options(extra: &str, max_forwards: u32) -> String {
    format!(
        "OPTIONS sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKo1;rport\r\n\
Max-Forwards: {max_forwards}\r\n\
From: <sip:alice@example.com>;tag=a1\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: o1\r\n\
CSeq: 7 OPTIONS\r\n\
{extra}Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn max_forwards_zero_gets_483_even_for_options() {
    let mut h = harness();
    let r = one(h.input(&options("", 0), alice()), alice());
    assert_eq!(r.status(), Some(483));
    assert_eq!(h.proxy.stats().active_transactions, 0, "stateless");
}

#[test]
fn max_forwards_above_limit_is_capped() {
    let mut h = harness();
    let fwd = one(h.input(&options("", 200), alice()), bob());
    assert_eq!(fwd.header("Max-Forwards").unwrap(), "69");
    let fwd = one(
        h.input(&options("", 30).replace("o1", "o2"), alice()),
        bob(),
    );
    assert_eq!(fwd.header("Max-Forwards").unwrap(), "29");
}

#[test]
fn proxy_require_gets_420_with_unsupported() {
    let mut h = harness();
    let r = one(
        h.input(&options("Proxy-Require: foo, bar\r\n", 70), alice()),
        alice(),
    );
    assert_eq!(r.status(), Some(420));
    assert_eq!(r.header("Unsupported").unwrap(), "foo, bar");
}

#[test]
fn malformed_request_gets_400_naming_the_problem() {
    let mut h = harness();
    let bad = options("", 70).replace("CSeq: 7 OPTIONS", "CSeq: seven OPTIONS");
    let r = one(h.input(&bad, alice()), alice());
    assert_eq!(r.status(), Some(400));
    assert!(r.start_line().contains("CSeq"), "{}", r.start_line());
    let missing = options("", 70).replace("Call-ID: o1\r\n", "");
    let r = one(h.input(&missing, alice()), alice());
    assert_eq!(r.status(), Some(400));
    assert!(r.start_line().contains("Call-ID"), "{}", r.start_line());
    // Not SIP at all: nothing to answer; dropped and counted.
    assert!(h.input("\u{1}\u{2}garbage\r\n\r\n", alice()).is_empty());
    assert!(
        h.input("SIP/2.0 200 OK\r\nVia: x\r\n\r\n", bob())
            .is_empty()
    );
    assert_eq!(h.proxy.stats().dropped_malformed, 4);
    // Keep-alives are ignored silently.
    assert!(h.input("\r\n\r\n", alice()).is_empty());
    assert_eq!(h.proxy.stats().dropped_malformed, 4);
}

#[test]
fn loop_is_detected_and_spiral_is_not() {
    let mut h = harness();
    let out = h.input(&invite("l1", "z9hG4bKl1"), alice());
    let fwd = out.iter().find(|s| s.is_request("INVITE")).unwrap().clone();
    // The next hop sends it straight back, Request-URI unchanged: a loop.
    let back = h.input(&fwd.text, bob());
    let r = one(back, bob());
    assert_eq!(r.status(), Some(482));
    assert_eq!(h.proxy.stats().loops, 1);
    // Same request with a new Request-URI: a spiral, forwarded again.
    let spiral = fwd.text.replace(
        "INVITE sip:bob@example.com",
        "INVITE sip:bob@biloxi.example.com",
    );
    let out = h.input(&spiral, bob());
    assert!(
        out.iter()
            .any(|s| s.is_request("INVITE") && s.dest == bob()),
        "{out:#?}"
    );
}

#[test]
fn received_is_stamped_and_responses_follow_section_18_2_2() {
    let mut h = harness();
    let req = invite("r1", "z9hG4bKr1").replace(
        "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKr1;rport",
        "Via: SIP/2.0/UDP alice.example.com:5062;branch=z9hG4bKr1",
    );
    let from = udp("192.0.2.10:40000");
    let out = h.input(&req, from);
    let trying = out.iter().find(|s| s.status() == Some(100)).unwrap();
    // No rport: the received address and the sent-by port.
    assert_eq!(trying.dest, udp("192.0.2.10:5062"));
    let fwd = out.iter().find(|s| s.is_request("INVITE")).unwrap();
    assert_eq!(
        fwd.vias()[1],
        "SIP/2.0/UDP alice.example.com:5062;branch=z9hG4bKr1;received=192.0.2.10"
    );
    // With rport: back to the source port.
    let mut h = harness();
    let out = h.input(&invite("r2", "z9hG4bKr2"), udp("192.0.2.10:40000"));
    let trying = out.iter().find(|s| s.status() == Some(100)).unwrap();
    assert_eq!(trying.dest, udp("192.0.2.10:40000"));
    let fwd = out.iter().find(|s| s.is_request("INVITE")).unwrap();
    assert_eq!(
        fwd.vias()[1],
        "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKr2;rport=40000;received=192.0.2.10"
    );
    let ringing = one(
        h.input(&respond(fwd, 180, "Ringing", "b"), bob()),
        udp("192.0.2.10:40000"),
    );
    assert_eq!(ringing.status(), Some(180));
}

struct ToTcp;
impl Policy for ToTcp {
    fn route(&mut self, _req: &RouteRequest<'_>, _now: Instant) -> Decision {
        Decision::Forward(ferrovox_proxy::ForwardPlan::single(
            ferrovox_proxy::Target::to_peer(tcp("127.0.0.1:5090")),
        ))
    }
}

#[test]
fn udp_to_tcp_gets_double_record_route_and_both_routes_are_removed_later() {
    let mut h = Harness::new(config(), ToTcp);
    let out = h.input(&invite("d1", "z9hG4bKd1"), alice());
    let fwd = out.iter().find(|s| s.is_request("INVITE")).unwrap().clone();
    assert_eq!(fwd.dest, tcp("127.0.0.1:5090"));
    assert_eq!(
        fwd.header("Record-Route").unwrap(),
        "<sip:127.0.0.1:5070;transport=tcp;lr>, <sip:127.0.0.1:5070;transport=udp;lr>"
    );
    assert!(fwd.vias()[0].starts_with("SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK"));
    let ok = respond(&fwd, 200, "OK", "t1");
    assert_eq!(
        one(h.input(&ok, tcp("127.0.0.1:5090")), alice()).status(),
        Some(200)
    );
    // BYE from the TCP side with the callee's route set: both values are
    // ours and removed; the request goes to the caller's Contact over UDP.
    let bye = "BYE sip:alice@192.0.2.10:5060 SIP/2.0\r\n\
Via: SIP/2.0/TCP 127.0.0.1:5090;branch=z9hG4bKtb1\r\n\
Route: <sip:127.0.0.1:5070;transport=tcp;lr>, <sip:127.0.0.1:5070;transport=udp;lr>\r\n\
Max-Forwards: 70\r\n\
From: Bob <sip:bob@example.com>;tag=t1\r\n\
To: Alice <sip:alice@example.com>;tag=a1\r\n\
Call-ID: d1\r\n\
CSeq: 2 BYE\r\n\
Content-Length: 0\r\n\r\n";
    let fbye = one(h.input(bye, tcp("127.0.0.1:5090")), alice());
    assert_eq!(fbye.header("Route"), None);
    assert!(fbye.vias()[0].starts_with("SIP/2.0/UDP 127.0.0.1:5071;"));
    assert_eq!(
        fbye.header("Record-Route"),
        None,
        "no RR on in-dialog requests"
    );
}

#[test]
fn strict_router_request_uri_is_restored_from_the_last_route() {
    let mut h = harness();
    let req = "BYE sip:127.0.0.1:5070;lr SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKs1;rport\r\n\
Route: <sip:198.51.100.9;lr>, <sip:bob@127.0.0.1:5080>\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@example.com>;tag=a1\r\n\
To: Bob <sip:bob@example.com>;tag=b1\r\n\
Call-ID: s1\r\n\
CSeq: 2 BYE\r\n\
Content-Length: 0\r\n\r\n";
    let fwd = one(h.input(req, alice()), udp("198.51.100.9:5060"));
    assert_eq!(fwd.start_line(), "BYE sip:bob@127.0.0.1:5080 SIP/2.0");
    assert_eq!(fwd.header("Route").unwrap(), "<sip:198.51.100.9;lr>");
    assert_eq!(fwd.header("Max-Forwards").unwrap(), "69");
}

#[test]
fn in_dialog_without_route_is_404_and_ack_is_dropped() {
    let mut h = harness();
    let bye = "BYE sip:bob@127.0.0.1:5080 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKn1;rport\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@example.com>;tag=a1\r\n\
To: Bob <sip:bob@example.com>;tag=b1\r\n\
Call-ID: n1\r\n\
CSeq: 2 BYE\r\n\
Content-Length: 0\r\n\r\n";
    let r = one(h.input(bye, alice()), alice());
    assert_eq!(r.status(), Some(404));
    let ack = bye.replace("BYE", "ACK").replace("z9hG4bKn1", "z9hG4bKn2");
    assert!(h.input(&ack, alice()).is_empty());
    // Only our Route and the Request-URI is us: 404 too.
    let to_us = bye
        .replace("BYE sip:bob@127.0.0.1:5080", "BYE sip:127.0.0.1:5070")
        .replace(
            "Max-Forwards: 70\r\n",
            "Route: <sip:127.0.0.1:5070;lr>\r\nMax-Forwards: 70\r\n",
        )
        .replace("z9hG4bKn1", "z9hG4bKn3");
    assert_eq!(one(h.input(&to_us, alice()), alice()).status(), Some(404));
}

#[test]
fn unmatched_cancel_is_forwarded_statelessly() {
    let mut h = harness();
    let cancel = "CANCEL sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKu1;rport\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@example.com>;tag=a1\r\n\
To: Bob <sip:bob@example.com>\r\n\
Call-ID: u1\r\n\
CSeq: 1 CANCEL\r\n\
Content-Length: 0\r\n\r\n";
    let fwd = one(h.input(cancel, alice()), bob());
    assert!(fwd.is_request("CANCEL"));
    assert_eq!(h.proxy.stats().active_transactions, 0);
    // Its 200 comes back matching no transaction and is relayed by Via.
    let ok = respond(&fwd, 200, "OK", "");
    let up = one(h.input(&ok, bob()), alice());
    assert_eq!(up.status(), Some(200));
    assert_eq!(up.vias().len(), 1);
}

struct Limited;
impl Policy for Limited {
    fn admit(&mut self, from: Peer, _now: Instant) -> Admission {
        if from == alice() {
            Admission::Reject {
                code: 503,
                reason: "Rate Limited",
            }
        } else {
            Admission::Drop
        }
    }
    fn route(&mut self, _req: &RouteRequest<'_>, _now: Instant) -> Decision {
        Decision::Drop
    }
}

#[test]
fn admission_rejects_and_drops_before_anything_else() {
    let mut h = Harness::new(config(), Limited);
    let r = one(h.input(&invite("a1", "z9hG4bKad"), alice()), alice());
    assert_eq!(r.status(), Some(503));
    assert!(h.input(&invite("a2", "z9hG4bKad2"), bob()).is_empty());
    assert_eq!(h.proxy.stats().dropped_admission, 2);
    assert_eq!(h.proxy.stats().active_transactions, 0);
    h.advance(Duration::from_secs(1));
}
