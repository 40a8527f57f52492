//! A call through the proxy with NextHop: INVITE/100/180/200/ACK/BYE/200,
//! retransmissions on both sides, non-2xx final responses, CANCEL and
//! timeouts — all on a fake clock with literal messages.

mod common;

use common::*;
use ferrovox_proxy::{NextHop, ProxyEvent};
use std::time::Duration;

fn harness() -> Harness<NextHop> {
    Harness::new(config(), NextHop::new(bob()))
}

/// INVITE in; returns (100 to caller, forwarded INVITE).
fn start_call(h: &mut Harness<NextHop>, call_id: &str) -> (Sent, Sent) {
    let out = h.input(&invite(call_id, "z9hG4bKa1"), alice());
    assert_eq!(out.len(), 2, "{out:#?}");
    let trying = out
        .iter()
        .find(|s| s.status() == Some(100))
        .unwrap()
        .clone();
    let fwd = out.iter().find(|s| s.is_request("INVITE")).unwrap().clone();
    (trying, fwd)
}

#[test]
fn basic_call_through_next_hop() {
    let mut h = harness();
    let (trying, fwd) = start_call(&mut h, "c1");
    assert_eq!(trying.dest, alice());
    assert_eq!(fwd.dest, bob());
    // §16.6: Via added on top (private UDP port, rport), RR with the shared
    // listen address, Max-Forwards decremented, R-URI unchanged, body kept.
    let vias = fwd.vias();
    assert_eq!(vias.len(), 2);
    assert!(
        vias[0].starts_with("SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bK"),
        "{}",
        vias[0]
    );
    assert!(vias[0].ends_with(";rport"));
    assert_eq!(
        fwd.header("Record-Route").unwrap(),
        "<sip:127.0.0.1:5070;lr>"
    );
    assert_eq!(fwd.header("Max-Forwards").unwrap(), "69");
    assert_eq!(fwd.start_line(), "INVITE sip:bob@example.com SIP/2.0");
    assert!(fwd.text.ends_with("\r\n\r\nv=0\n"));
    // RFC 3581: with rport asked for, the caller's Via gets rport and
    // received (even when the address matches).
    assert_eq!(
        vias[1],
        "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKa1;rport=5060;received=192.0.2.10"
    );

    // 100 from the callee is hop-by-hop; 180 and 200 go to the caller
    // with our Via removed.
    assert!(h.input(&respond(&fwd, 100, "Trying", ""), bob()).is_empty());
    let ringing = one(
        h.input(&respond(&fwd, 180, "Ringing", "b1"), bob()),
        alice(),
    );
    assert_eq!(ringing.status(), Some(180));
    assert_eq!(ringing.vias(), vec![vias[1].clone()]);
    let ok = one(h.input(&respond(&fwd, 200, "OK", "b1"), bob()), alice());
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.vias().len(), 1);
    assert_eq!(
        ok.header("Record-Route").unwrap(),
        "<sip:127.0.0.1:5070;lr>"
    );
    assert_eq!(
        h.events(),
        vec![ProxyEvent::DialogStarted {
            call_id: "c1".into()
        }]
    );

    // ACK for the 2xx follows the Route set, statelessly.
    let ack = "ACK sip:bob@127.0.0.1:5080 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKack1;rport\r\n\
Route: <sip:127.0.0.1:5070;lr>\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@example.com>;tag=a1\r\n\
To: Bob <sip:bob@example.com>;tag=b1\r\n\
Call-ID: c1\r\n\
CSeq: 1 ACK\r\n\
Content-Length: 0\r\n\r\n";
    let fack = one(h.input(ack, alice()), bob());
    assert!(fack.is_request("ACK"));
    assert_eq!(fack.header("Route"), None, "our Route is removed");
    assert_eq!(fack.vias().len(), 2);
    assert_eq!(fack.header("Max-Forwards").unwrap(), "69");

    // BYE from the callee towards the caller, through the proxy.
    let bye = "BYE sip:alice@192.0.2.10:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKbye1;rport\r\n\
Route: <sip:127.0.0.1:5070;lr>\r\n\
Max-Forwards: 70\r\n\
From: Bob <sip:bob@example.com>;tag=b1\r\n\
To: Alice <sip:alice@example.com>;tag=a1\r\n\
Call-ID: c1\r\n\
CSeq: 1 BYE\r\n\
Content-Length: 0\r\n\r\n";
    h.now += Duration::from_secs(30);
    let fbye = one(h.input(bye, bob()), alice());
    assert!(fbye.is_request("BYE"));
    assert_eq!(fbye.start_line(), "BYE sip:alice@192.0.2.10:5060 SIP/2.0");
    match h.events().as_slice() {
        [
            ProxyEvent::DialogEnded {
                call_id, duration, ..
            },
        ] => {
            assert_eq!(call_id, "c1");
            assert_eq!(*duration, Duration::from_secs(30));
        }
        other => panic!("{other:?}"),
    }
    let bye_ok = one(h.input(&respond(&fbye, 200, "OK", ""), alice()), bob());
    assert_eq!(bye_ok.status(), Some(200));
    assert_eq!(bye_ok.vias().len(), 1);
    assert_eq!(h.proxy.stats().active_dialogs, 0);

    // Everything drains: transactions end, contexts are freed.
    h.advance(Duration::from_secs(64));
    let s = h.proxy.stats();
    assert_eq!(s.active_transactions, 0);
    assert_eq!(s.active_contexts, 0);
    assert_eq!(h.proxy.poll_timeout(), None);
}

#[test]
fn retransmitted_invite_is_absorbed_and_retransmissions_follow_timer_a() {
    let mut h = harness();
    let (_, fwd) = start_call(&mut h, "c2");
    // The caller retransmits: answered with 100 again, not forwarded again.
    h.now += Duration::from_millis(500);
    let again = h.input(&invite("c2", "z9hG4bKa1"), alice());
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].status(), Some(100));
    assert_eq!(again[0].dest, alice());
    // Timer A on the forwarded INVITE: 500 ms, then 1 s, 2 s (t0 + 0.5,
    // 1.5, 3.5 s); our 500 ms step above was not a timer, so run from t0.
    let mut h2 = harness();
    let (_, fwd2) = start_call(&mut h2, "c2");
    let log = h2.advance(Duration::from_millis(4000));
    let times: Vec<u128> = log.iter().map(|(t, _)| *t).collect();
    assert_eq!(times, vec![500, 1500, 3500]);
    assert!(
        log.iter()
            .all(|(_, s)| s.text == fwd2.text && s.dest == bob())
    );
    // A provisional stops them.
    h2.input(&respond(&fwd2, 180, "Ringing", "b2"), bob());
    assert!(h2.advance(Duration::from_secs(20)).is_empty());
    drop(fwd);
}

#[test]
fn response_retransmissions_are_relayed_or_absorbed() {
    let mut h = harness();
    let (_, fwd) = start_call(&mut h, "c3");
    let ringing = respond(&fwd, 180, "Ringing", "b3");
    assert_eq!(h.input(&ringing, bob()).len(), 1);
    assert_eq!(
        h.input(&ringing, bob()).len(),
        1,
        "provisional retransmissions are relayed"
    );
    let ok = respond(&fwd, 200, "OK", "b3");
    assert_eq!(one(h.input(&ok, bob()), alice()).status(), Some(200));
    // The callee retransmits its 2xx (no ACK yet): relayed each time
    // (RFC 6026 Accepted), the dialog is started once.
    assert_eq!(one(h.input(&ok, bob()), alice()).status(), Some(200));
    assert_eq!(h.events().len(), 1);
}

#[test]
fn busy_reaches_caller_and_ack_is_generated_downstream() {
    let mut h = harness();
    let (_, fwd) = start_call(&mut h, "c4");
    let busy = respond(&fwd, 486, "Busy Here", "b4");
    let out = h.input(&busy, bob());
    assert_eq!(out.len(), 2, "{out:#?}");
    let ack = out.iter().find(|s| s.is_request("ACK")).unwrap();
    assert_eq!(ack.dest, bob());
    assert_eq!(
        ack.top_branch(),
        fwd.top_branch(),
        "non-2xx ACK shares the INVITE branch"
    );
    let up = out.iter().find(|s| s.status() == Some(486)).unwrap();
    assert_eq!(up.dest, alice());
    assert_eq!(up.vias().len(), 1);
    // A retransmitted 486 is absorbed and re-ACKed, not relayed again.
    let again = h.input(&busy, bob());
    assert_eq!(again.len(), 1);
    assert!(again[0].is_request("ACK"));
    // The caller's ACK for the 486 is absorbed by the server transaction.
    let ack_up = "ACK sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKa1;rport\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@example.com>;tag=a1\r\n\
To: Bob <sip:bob@example.com>;tag=b4\r\n\
Call-ID: c4\r\n\
CSeq: 1 ACK\r\n\
Content-Length: 0\r\n\r\n";
    assert!(h.input(ack_up, alice()).is_empty());
}

fn cancel(call_id: &str) -> String {
    format!(
        "CANCEL sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKa1;rport\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@example.com>;tag=a1\r\n\
To: Bob <sip:bob@example.com>\r\n\
Call-ID: {call_id}\r\n\
CSeq: 1 CANCEL\r\n\
Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn cancel_while_ringing() {
    let mut h = harness();
    let (_, fwd) = start_call(&mut h, "c5");
    h.input(&respond(&fwd, 180, "Ringing", "b5"), bob());
    let out = h.input(&cancel("c5"), alice());
    assert_eq!(out.len(), 2, "{out:#?}");
    let ok = out.iter().find(|s| s.status() == Some(200)).unwrap();
    assert_eq!(ok.dest, alice());
    assert_eq!(ok.header("CSeq").unwrap(), "1 CANCEL");
    let fcancel = out.iter().find(|s| s.is_request("CANCEL")).unwrap();
    assert_eq!(fcancel.dest, bob());
    assert_eq!(fcancel.top_branch(), fwd.top_branch());
    // The callee confirms the CANCEL and terminates the INVITE.
    assert!(h.input(&respond(fcancel, 200, "OK", ""), bob()).is_empty());
    let out = h.input(&respond(&fwd, 487, "Request Terminated", "b5"), bob());
    let up = out.iter().find(|s| s.status() == Some(487)).unwrap();
    assert_eq!(up.dest, alice());
    assert!(out.iter().any(|s| s.is_request("ACK") && s.dest == bob()));
}

#[test]
fn cancel_before_any_provisional_waits_for_one() {
    let mut h = harness();
    let (_, fwd) = start_call(&mut h, "c6");
    let out = h.input(&cancel("c6"), alice());
    // 200 to the CANCEL only: a CANCEL cannot be sent before a provisional.
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].status(), Some(200));
    // The first provisional releases the CANCEL (and is not relayed: the
    // call is being cancelled? it is relayed — the caller may still ring).
    let out = h.input(&respond(&fwd, 180, "Ringing", "b6"), bob());
    let fcancel = out
        .iter()
        .find(|s| s.is_request("CANCEL"))
        .expect("CANCEL sent");
    assert_eq!(fcancel.top_branch(), fwd.top_branch());
    let out = h.input(&respond(&fwd, 487, "Request Terminated", "b6"), bob());
    assert!(
        out.iter()
            .any(|s| s.status() == Some(487) && s.dest == alice())
    );
}

#[test]
fn cancel_before_provisional_and_silence_gives_487_after_branch_timeout() {
    let mut h = harness();
    start_call(&mut h, "c7");
    h.input(&cancel("c7"), alice());
    let log = h.advance(Duration::from_secs(6));
    // The 487 at 5 s (then Timer G retransmits it: the caller sends no ACK
    // in this test).
    let up: Vec<_> = log.iter().filter(|(_, s)| s.dest == alice()).collect();
    assert_eq!(up[0].0, 5000, "{up:#?}");
    assert!(up.iter().all(|(_, s)| s.status() == Some(487)));
    assert!(
        log.iter()
            .all(|(t, s)| !s.is_request("INVITE") || *t < 5000)
    );
    // No more INVITE retransmissions after the branch was stopped.
    assert!(
        h.advance(Duration::from_secs(10))
            .iter()
            .all(|(_, s)| s.dest == alice())
    );
}

#[test]
fn silent_next_hop_gives_408_after_branch_response_timeout() {
    let mut h = harness();
    start_call(&mut h, "c8");
    let log = h.advance(Duration::from_secs(40));
    let up: Vec<_> = log.iter().filter(|(_, s)| s.dest == alice()).collect();
    assert!(!up.is_empty());
    assert_eq!(up[0].0, 5000);
    assert_eq!(up[0].1.status(), Some(408));
    let invites = log.iter().filter(|(_, s)| s.is_request("INVITE")).count();
    assert_eq!(invites, 3, "Timer A stops with the branch: {log:#?}");
}

#[test]
fn ringing_without_answer_hits_timer_c() {
    let mut cfg = config();
    cfg.invite_timeout = Duration::from_secs(60);
    let mut h = Harness::new(cfg, NextHop::new(bob()));
    let (_, fwd) = start_call(&mut h, "c9");
    h.now += Duration::from_secs(1);
    h.input(&respond(&fwd, 180, "Ringing", "b9"), bob());
    let log = h.advance(Duration::from_secs(61));
    let cancel = log
        .iter()
        .find(|(_, s)| s.is_request("CANCEL"))
        .expect("CANCEL");
    assert_eq!(cancel.0, 61_000);
    assert_eq!(cancel.1.dest, bob());
    let up = log
        .iter()
        .find(|(_, s)| s.dest == alice())
        .expect("final upstream");
    assert_eq!(up.0, 61_000);
    assert_eq!(up.1.status(), Some(408));
    // The callee's late 487 is ACKed by the transaction, not relayed.
    let out = h.input(&respond(&fwd, 487, "Request Terminated", "b9"), bob());
    assert!(out.iter().all(|s| s.dest == bob()), "{out:#?}");
}

#[test]
fn provisional_resets_timer_c() {
    let mut cfg = config();
    cfg.invite_timeout = Duration::from_secs(60);
    let mut h = Harness::new(cfg, NextHop::new(bob()));
    let (_, fwd) = start_call(&mut h, "c10");
    h.input(&respond(&fwd, 180, "Ringing", "b10"), bob());
    h.advance(Duration::from_secs(50));
    h.input(&respond(&fwd, 183, "Session Progress", "b10"), bob());
    let log = h.advance(Duration::from_secs(59));
    assert!(log.iter().all(|(_, s)| !s.is_request("CANCEL")), "{log:#?}");
    let log = h.advance(Duration::from_secs(2));
    assert!(
        log.iter()
            .any(|(t, s)| s.is_request("CANCEL") && *t == 110_000)
    );
}
