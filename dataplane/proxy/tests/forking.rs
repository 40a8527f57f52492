//! Serial failover between groups and parallel forking within a group
//! (RFC 3261 §16.7): best-response choice, CANCEL of the losers, 6xx,
//! transport errors, branch results reported to the policy.

mod common;

use common::*;
use ferrovox_proxy::{Decision, ForwardPlan, Target};
use std::time::Duration;

fn gw(n: u8) -> ferrovox_proxy::Peer {
    udp(&format!("198.51.100.{n}:5060"))
}

fn start(h: &mut Harness<Scripted>, call_id: &str) -> Vec<Sent> {
    let out = h.input(&invite(call_id, "z9hG4bKf1"), alice());
    assert_eq!(out[0].status(), Some(100));
    out.into_iter().filter(|s| s.is_request("INVITE")).collect()
}

#[test]
fn serial_failover_on_503_then_call_completes() {
    let mut h = Harness::new(config(), Scripted::forward(vec![vec![gw(1)], vec![gw(2)]]));
    let first = start(&mut h, "f1");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].dest, gw(1));
    let out = h.input(&respond(&first[0], 503, "Service Unavailable", "g1"), gw(1));
    // ACK to gateway 1, INVITE to gateway 2, nothing to the caller.
    assert!(out.iter().any(|s| s.is_request("ACK") && s.dest == gw(1)));
    let second = out
        .iter()
        .find(|s| s.is_request("INVITE"))
        .expect("failover")
        .clone();
    assert_eq!(second.dest, gw(2));
    assert!(out.iter().all(|s| s.dest != alice()));
    assert_ne!(second.top_branch(), first[0].top_branch());
    assert_eq!(second.header("Max-Forwards").unwrap(), "69");
    assert_eq!(
        second.header("Record-Route").unwrap(),
        "<sip:127.0.0.1:5070;lr>"
    );
    let ok = one(h.input(&respond(&second, 200, "OK", "g2"), gw(2)), alice());
    assert_eq!(ok.status(), Some(200));
    assert_eq!(h.proxy.policy().results, vec![(gw(1), 503), (gw(2), 200)]);
}

#[test]
fn transport_error_fails_over_at_once() {
    let mut h = Harness::new(config(), Scripted::forward(vec![vec![gw(1)], vec![gw(2)]]));
    start(&mut h, "f2");
    h.proxy.transport_error(gw(1), h.now);
    let out = h.drain();
    let second = one(out, gw(2));
    assert!(second.is_request("INVITE"));
    assert_eq!(h.proxy.policy().results, vec![(gw(1), 503)]);
    let ok = one(h.input(&respond(&second, 200, "OK", "g2"), gw(2)), alice());
    assert_eq!(ok.status(), Some(200));
}

#[test]
fn timeout_fails_over_and_every_group_silent_gives_408() {
    let mut h = Harness::new(config(), Scripted::forward(vec![vec![gw(1)], vec![gw(2)]]));
    start(&mut h, "f3");
    let log = h.advance(Duration::from_secs(11));
    let second = log
        .iter()
        .find(|(_, s)| s.is_request("INVITE") && s.dest == gw(2))
        .unwrap();
    assert_eq!(second.0, 5000);
    let up = log.iter().find(|(_, s)| s.dest == alice()).unwrap();
    assert_eq!(up.0, 10_000);
    assert_eq!(up.1.status(), Some(408));
    assert_eq!(h.proxy.policy().results, vec![(gw(1), 408), (gw(2), 408)]);
}

#[test]
fn non_failover_code_ends_the_search() {
    let mut h = Harness::new(config(), Scripted::forward(vec![vec![gw(1)], vec![gw(2)]]));
    let first = start(&mut h, "f4");
    let out = h.input(&respond(&first[0], 404, "Not Found", "g1"), gw(1));
    assert!(out.iter().all(|s| s.dest != gw(2)));
    let up = out.iter().find(|s| s.dest == alice()).unwrap();
    assert_eq!(up.status(), Some(404));
}

#[test]
fn last_group_503_reaches_caller_as_500() {
    let mut h = Harness::new(config(), Scripted::forward(vec![vec![gw(1)]]));
    let first = start(&mut h, "f5");
    let out = h.input(&respond(&first[0], 503, "Service Unavailable", "g1"), gw(1));
    let up = out.iter().find(|s| s.dest == alice()).unwrap();
    assert_eq!(up.status(), Some(500), "§16.7 step 6");
    assert_eq!(up.header("Call-ID").unwrap(), "f5");
}

#[test]
fn parallel_fork_200_wins_and_other_branch_is_cancelled() {
    let mut h = Harness::new(config(), Scripted::forward(vec![vec![gw(1), gw(2)]]));
    let forks = start(&mut h, "f6");
    assert_eq!(forks.len(), 2);
    let (a, b) = (&forks[0], &forks[1]);
    assert_eq!((a.dest, b.dest), (gw(1), gw(2)));
    assert_ne!(a.top_branch(), b.top_branch());
    h.input(&respond(b, 180, "Ringing", "g2"), gw(2));
    let out = h.input(&respond(a, 486, "Busy Here", "g1"), gw(1));
    assert!(
        out.iter().all(|s| s.dest != alice()),
        "486 waits for the other branch"
    );
    let out = h.input(&respond(b, 200, "OK", "g2"), gw(2));
    assert_eq!(out.iter().filter(|s| s.dest == alice()).count(), 1);
    assert_eq!(
        out.iter().find(|s| s.dest == alice()).unwrap().status(),
        Some(200)
    );
    // Both branches are done: no CANCEL needed; now a fork where the
    // other branch is still ringing.
    let mut h = Harness::new(config(), Scripted::forward(vec![vec![gw(1), gw(2)]]));
    let forks = start(&mut h, "f7");
    h.input(&respond(&forks[0], 180, "Ringing", "g1"), gw(1));
    let out = h.input(&respond(&forks[1], 200, "OK", "g2"), gw(2));
    let cancel = out
        .iter()
        .find(|s| s.is_request("CANCEL"))
        .expect("loser cancelled");
    assert_eq!(cancel.dest, gw(1));
    assert_eq!(cancel.top_branch(), forks[0].top_branch());
    assert!(
        out.iter()
            .any(|s| s.status() == Some(200) && s.dest == alice())
    );
    // The loser's 487 is ACKed and not relayed.
    let out = h.input(&respond(&forks[0], 487, "Request Terminated", "g1"), gw(1));
    assert!(out.iter().all(|s| s.dest == gw(1)));
}

#[test]
fn six_xx_cancels_the_other_branches() {
    let mut h = Harness::new(
        config(),
        Scripted::forward(vec![vec![gw(1), gw(2)], vec![gw(3)]]),
    );
    let forks = start(&mut h, "f8");
    h.input(&respond(&forks[1], 180, "Ringing", "g2"), gw(2));
    let out = h.input(&respond(&forks[0], 603, "Decline", "g1"), gw(1));
    assert!(
        out.iter()
            .any(|s| s.is_request("CANCEL") && s.dest == gw(2))
    );
    assert!(
        out.iter()
            .any(|s| s.status() == Some(603) && s.dest == alice())
    );
    assert!(
        out.iter().all(|s| s.dest != gw(3)),
        "no new group after a 6xx"
    );
}

#[test]
fn best_response_prefers_lower_class_and_challenges() {
    let mut h = Harness::new(config(), Scripted::forward(vec![vec![gw(1), gw(2), gw(3)]]));
    let forks = start(&mut h, "f9");
    h.input(
        &respond(&forks[0], 500, "Server Internal Error", "g1"),
        gw(1),
    );
    h.input(&respond(&forks[1], 486, "Busy Here", "g2"), gw(2));
    let out = h.input(
        &respond(&forks[2], 407, "Proxy Authentication Required", "g3"),
        gw(3),
    );
    let up = out.iter().find(|s| s.dest == alice()).unwrap();
    assert_eq!(up.status(), Some(407));
}

#[test]
fn policy_can_answer_and_rewrite_the_request_uri() {
    let mut h = Harness::new(
        config(),
        Scripted {
            decision: Decision::Respond {
                code: 401,
                reason: "Unauthorized".into(),
                headers: vec![(
                    "WWW-Authenticate".into(),
                    "Digest realm=\"x\", nonce=\"n\"".into(),
                )],
            },
            results: Vec::new(),
            routed: 0,
        },
    );
    let out = h.input(&invite("p1", "z9hG4bKp1"), alice());
    let ch = out.iter().find(|s| s.status() == Some(401)).unwrap();
    assert_eq!(ch.dest, alice());
    assert_eq!(
        ch.header("WWW-Authenticate").unwrap(),
        "Digest realm=\"x\", nonce=\"n\""
    );
    assert!(ch.header("To").unwrap().contains(";tag="));

    let mut h = Harness::new(
        config(),
        Scripted {
            decision: Decision::Forward(ForwardPlan::single(Target {
                uri: "sip:+15550100@198.51.100.7".into(),
                dest: gw(7),
            })),
            results: Vec::new(),
            routed: 0,
        },
    );
    let out = h.input(&invite("p2", "z9hG4bKp2"), alice());
    let fwd = out.iter().find(|s| s.is_request("INVITE")).unwrap();
    assert_eq!(fwd.dest, gw(7));
    assert_eq!(
        fwd.start_line(),
        "INVITE sip:+15550100@198.51.100.7 SIP/2.0"
    );
}
