//! RFC 3261 §17 state machines (Figures 5–8, RFC 6026 Accepted), exact
//! timer schedules on a fake clock, absorption of retransmissions, ACK
//! generation, reliable-transport variants, and transaction matching
//! (§17.1.3, §17.2.3, §9.2).

#[path = "transaction_support.rs"]
mod support;

use ferrovox_sip::Message;
use ferrovox_sip::transaction::{
    ClientInviteState, ClientNonInviteState, Config, Event, RequestOutcome, ResponseOutcome,
    ServerInviteState, ServerNonInviteState, Timer, TransactionError, TransactionId,
    TransactionLayer, TransactionState, TryingPolicy,
};
use std::time::{Duration, Instant};
use support::*;

/// Fire timers until none is left (or the next is after `until`),
/// recording (offset from `t0`, what was output) at each firing.
fn run(
    layer: &mut TransactionLayer,
    t0: Instant,
    until: Option<Instant>,
) -> Vec<(Duration, Drained)> {
    let mut log = Vec::new();
    while let Some(t) = layer.poll_timeout() {
        if until.is_some_and(|u| t > u) {
            break;
        }
        assert_eq!(Some(t), layer.earliest_timer_by_scan());
        layer.handle_timeout(t);
        log.push((t - t0, drain(layer)));
    }
    log
}

/// Offsets (in ms) at which something was sent.
fn send_times(log: &[(Duration, Drained)]) -> Vec<u128> {
    log.iter()
        .filter(|(_, d)| !d.sent.is_empty())
        .map(|(t, _)| t.as_millis())
        .collect()
}

fn events(log: &[(Duration, Drained)]) -> Vec<(u128, Event)> {
    log.iter()
        .flat_map(|(t, d)| d.events.iter().map(move |e| (t.as_millis(), *e)))
        .collect()
}

fn layer() -> TransactionLayer {
    TransactionLayer::new(Config::default())
}

fn new_id(o: RequestOutcome) -> TransactionId {
    match o {
        RequestOutcome::New { id, .. } => id,
        other => panic!("expected New, got {other:?}"),
    }
}

fn deliver_id(o: ResponseOutcome) -> TransactionId {
    match o {
        ResponseOutcome::Deliver { id, .. } => id,
        other => panic!("expected Deliver, got {other:?}"),
    }
}

// ----- INVITE client (Figure 5) ---------------------------------------

#[test]
fn invite_client_udp_retransmits_then_times_out_at_64_t1() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = Req::default().bytes();
    let id = l.send_request(&req, udp(), 7, t0).unwrap();
    let d = drain(&mut l);
    assert_eq!(d.sent.len(), 1);
    assert_eq!(d.sent[0], (udp(), req.clone()));
    assert_eq!(
        l.state(id),
        Some(TransactionState::ClientInvite(ClientInviteState::Calling))
    );
    let log = run(&mut l, t0, None);
    assert_eq!(send_times(&log), [500, 1500, 3500, 7500, 15500, 31500]);
    for (_, d) in &log {
        for (_, b) in &d.sent {
            assert_eq!(b, &req, "retransmissions are the original bytes");
        }
    }
    assert_eq!(
        events(&log),
        [
            (
                32000,
                Event::Timeout {
                    id,
                    user: 7,
                    timer: Timer::B
                }
            ),
            (32000, Event::Terminated { id, user: 7 }),
        ]
    );
    assert!(l.is_empty());
    assert_eq!(l.state(id), None);
}

#[test]
fn invite_client_tcp_has_no_retransmissions() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = Req {
        transport: "TCP",
        ..Req::default()
    }
    .bytes();
    let id = l.send_request(&req, tcp(), 0, t0).unwrap();
    assert_eq!(drain(&mut l).sent.len(), 1);
    let log = run(&mut l, t0, None);
    assert!(send_times(&log).is_empty());
    assert_eq!(
        events(&log)[0],
        (
            32000,
            Event::Timeout {
                id,
                user: 0,
                timer: Timer::B
            }
        )
    );
    assert!(l.is_empty());
}

#[test]
fn invite_client_non_2xx_generates_ack_and_absorbs_retransmissions() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = Req::default().bytes();
    let id = l.send_request(&req, udp(), 1, t0).unwrap();
    drain(&mut l);
    // 180 at 0.2 s: Proceeding, no more retransmissions, no Timer B.
    let ringing = response(&req, 180, Some("a6c85cf"));
    let r = Message::parse(&ringing).unwrap();
    assert_eq!(
        l.handle_response(&r, t0 + ms(200)).unwrap(),
        ResponseOutcome::Deliver { id, user: 1 }
    );
    assert_eq!(
        l.state(id),
        Some(TransactionState::ClientInvite(
            ClientInviteState::Proceeding
        ))
    );
    assert_eq!(l.poll_timeout(), None);
    // A retransmitted 180 is still passed up.
    assert_eq!(deliver_id(l.handle_response(&r, t0 + ms(300)).unwrap()), id);

    // 486 at 1 s: passed up, ACK sent, Completed with Timer D (32 s).
    let busy = response(&req, 486, Some("a6c85cf"));
    let b = Message::parse(&busy).unwrap();
    let t1 = t0 + ms(1000);
    assert_eq!(deliver_id(l.handle_response(&b, t1).unwrap()), id);
    let d = drain(&mut l);
    assert_eq!(d.sent.len(), 1);
    let ack = d.sent[0].1.clone();
    let text = String::from_utf8(ack.clone()).unwrap();
    assert_eq!(
        text,
        "ACK sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK74bf9\r\n\
Route: <sip:p1.example.com;lr>\r\n\
Route: <sip:p2.example.com;lr>\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n\
Call-ID: 3848276298220188511@atlanta.example.com\r\n\
CSeq: 314159 ACK\r\n\
Content-Length: 0\r\n\r\n"
    );
    ferrovox_sip::validate::validate_request(&Message::parse(&ack).unwrap()).unwrap();
    assert_eq!(
        l.state(id),
        Some(TransactionState::ClientInvite(ClientInviteState::Completed))
    );
    // Retransmitted 486: absorbed, the same ACK re-sent.
    assert_eq!(
        l.handle_response(&b, t1 + ms(500)).unwrap(),
        ResponseOutcome::Absorbed { id }
    );
    assert_eq!(drain(&mut l).sent, [(udp(), ack)]);
    // Timer D.
    let log = run(&mut l, t0, None);
    assert!(send_times(&log).is_empty());
    assert_eq!(events(&log), [(33000, Event::Terminated { id, user: 1 })]);
    assert!(l.is_empty());
}

#[test]
fn invite_client_final_in_calling_and_tcp_timer_d_zero() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = Req {
        transport: "TCP",
        ..Req::default()
    }
    .bytes();
    let id = l.send_request(&req, tcp(), 0, t0).unwrap();
    drain(&mut l);
    let busy = response(&req, 603, Some("x"));
    let b = Message::parse(&busy).unwrap();
    assert_eq!(deliver_id(l.handle_response(&b, t0 + ms(10)).unwrap()), id);
    let d = drain(&mut l);
    assert_eq!(d.first_lines(), ["ACK sip:bob@biloxi.example.com SIP/2.0"]);
    assert_eq!(d.events, [Event::Terminated { id, user: 0 }]);
    assert!(l.is_empty());
    assert_eq!(l.poll_timeout(), None);
    // A late retransmission matches nothing.
    assert_eq!(
        l.handle_response(&b, t0 + ms(20)).unwrap(),
        ResponseOutcome::Stray
    );
}

#[test]
fn invite_client_2xx_accepted_passes_retransmissions_up_without_ack() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = Req::default().bytes();
    let id = l.send_request(&req, udp(), 3, t0).unwrap();
    drain(&mut l);
    let ok = response(&req, 200, Some("t1"));
    let m = Message::parse(&ok).unwrap();
    assert_eq!(deliver_id(l.handle_response(&m, t0 + ms(100)).unwrap()), id);
    assert_eq!(
        l.state(id),
        Some(TransactionState::ClientInvite(ClientInviteState::Accepted))
    );
    assert!(drain(&mut l).sent.is_empty(), "no ACK for 2xx here");
    // 2xx retransmission (and a 2xx from another fork) go to the TU.
    assert_eq!(deliver_id(l.handle_response(&m, t0 + ms(600)).unwrap()), id);
    let fork = response(&req, 200, Some("t2"));
    assert_eq!(
        deliver_id(
            l.handle_response(&Message::parse(&fork).unwrap(), t0 + ms(700))
                .unwrap()
        ),
        id
    );
    let log = run(&mut l, t0, None);
    assert!(send_times(&log).is_empty(), "no INVITE retransmission");
    assert_eq!(events(&log), [(32100, Event::Terminated { id, user: 3 })]);
}

#[test]
fn invite_client_2xx_terminates_without_rfc6026() {
    let mut l = TransactionLayer::new(Config {
        rfc6026: false,
        ..Config::default()
    });
    let t0 = Instant::now();
    let req = Req::default().bytes();
    let id = l.send_request(&req, udp(), 0, t0).unwrap();
    drain(&mut l);
    let ok = response(&req, 200, Some("t1"));
    let m = Message::parse(&ok).unwrap();
    assert_eq!(deliver_id(l.handle_response(&m, t0 + ms(100)).unwrap()), id);
    assert_eq!(drain(&mut l).events, [Event::Terminated { id, user: 0 }]);
    assert_eq!(
        l.handle_response(&m, t0 + ms(600)).unwrap(),
        ResponseOutcome::Stray
    );
}

#[test]
fn cancel_is_built_from_the_invite_after_a_provisional() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = Req::default().bytes();
    let inv = l.send_request(&req, udp(), 9, t0).unwrap();
    drain(&mut l);
    assert!(matches!(
        l.cancel(inv, t0),
        Err(TransactionError::InvalidState { .. })
    ));
    let ringing = response(&req, 180, Some("tt"));
    l.handle_response(&Message::parse(&ringing).unwrap(), t0 + ms(100))
        .unwrap();
    let can = l.cancel(inv, t0 + ms(200)).unwrap();
    assert_ne!(can, inv);
    assert_eq!(l.user(can), Some(9));
    let d = drain(&mut l);
    let text = String::from_utf8(d.sent[0].1.clone()).unwrap();
    assert!(text.starts_with("CANCEL sip:bob@biloxi.example.com SIP/2.0\r\n"));
    assert!(text.contains("Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK74bf9\r\n"));
    assert!(text.contains("\r\nTo: Bob <sip:bob@biloxi.example.com>\r\n"));
    assert!(text.contains("\r\nCSeq: 314159 CANCEL\r\n"));
    assert_eq!(text.matches("Via:").count(), 1);
    // Same branch, different CSeq method: the responses go to their own
    // transactions (§17.1.3).
    let cancel_ok = response(&d.sent[0].1, 200, Some("tt"));
    assert_eq!(
        deliver_id(
            l.handle_response(&Message::parse(&cancel_ok).unwrap(), t0 + ms(300))
                .unwrap()
        ),
        can
    );
    let terminated = response(&req, 487, Some("tt"));
    assert_eq!(
        deliver_id(
            l.handle_response(&Message::parse(&terminated).unwrap(), t0 + ms(310))
                .unwrap()
        ),
        inv
    );
    let d = drain(&mut l);
    assert_eq!(d.first_lines(), ["ACK sip:bob@biloxi.example.com SIP/2.0"]);
    run(&mut l, t0, None);
    assert!(l.is_empty());
}

// ----- non-INVITE client (Figure 6) -----------------------------------

#[test]
fn non_invite_client_udp_timer_e_caps_at_t2_and_f_times_out() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = Req {
        method: "OPTIONS",
        ..Req::default()
    }
    .bytes();
    let id = l.send_request(&req, udp(), 5, t0).unwrap();
    assert_eq!(drain(&mut l).sent.len(), 1);
    let log = run(&mut l, t0, None);
    assert_eq!(
        send_times(&log),
        [
            500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert_eq!(
        events(&log),
        [
            (
                32000,
                Event::Timeout {
                    id,
                    user: 5,
                    timer: Timer::F
                }
            ),
            (32000, Event::Terminated { id, user: 5 })
        ]
    );
}

#[test]
fn non_invite_client_proceeding_retransmits_every_t2_then_timer_k() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = Req {
        method: "BYE",
        to_tag: Some("x"),
        ..Req::default()
    }
    .bytes();
    let id = l.send_request(&req, udp(), 0, t0).unwrap();
    drain(&mut l);
    let trying = response(&req, 100, None);
    assert_eq!(
        deliver_id(
            l.handle_response(&Message::parse(&trying).unwrap(), t0 + ms(200))
                .unwrap()
        ),
        id
    );
    assert_eq!(
        l.state(id),
        Some(TransactionState::ClientNonInvite(
            ClientNonInviteState::Proceeding
        ))
    );
    let log = run(&mut l, t0, Some(t0 + ms(30_000)));
    assert_eq!(
        send_times(&log),
        [500, 4500, 8500, 12500, 16500, 20500, 24500, 28500]
    );
    let ok = response(&req, 200, None);
    let okm = Message::parse(&ok).unwrap();
    assert_eq!(
        deliver_id(l.handle_response(&okm, t0 + ms(30_000)).unwrap()),
        id
    );
    assert_eq!(
        l.state(id),
        Some(TransactionState::ClientNonInvite(
            ClientNonInviteState::Completed
        ))
    );
    assert_eq!(
        l.handle_response(&okm, t0 + ms(31_000)).unwrap(),
        ResponseOutcome::Absorbed { id }
    );
    let log = run(&mut l, t0, None);
    assert!(send_times(&log).is_empty());
    // Timer K = T4 = 5 s; Timer F no longer fires.
    assert_eq!(events(&log), [(35000, Event::Terminated { id, user: 0 })]);
}

#[test]
fn non_invite_client_tcp_timer_k_zero() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = Req {
        method: "REGISTER",
        transport: "TCP",
        ..Req::default()
    }
    .bytes();
    let id = l.send_request(&req, tcp(), 0, t0).unwrap();
    drain(&mut l);
    assert!(l.poll_timeout().is_some()); // Timer F only
    let ok = response(&req, 200, Some("r"));
    l.handle_response(&Message::parse(&ok).unwrap(), t0 + ms(50))
        .unwrap();
    assert_eq!(drain(&mut l).events, [Event::Terminated { id, user: 0 }]);
    assert_eq!(l.poll_timeout(), None);
}

// ----- INVITE server (Figure 7) ---------------------------------------

#[test]
fn invite_server_trying_provisional_and_request_absorption() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = Req::default().bytes();
    let m = Message::parse(&req).unwrap();
    let id = new_id(l.handle_request(&m, udp(), t0).unwrap());
    assert_eq!(
        l.state(id),
        Some(TransactionState::ServerInvite(
            ServerInviteState::Proceeding
        ))
    );
    let d = drain(&mut l);
    assert_eq!(d.sent.len(), 1);
    assert_eq!(first_line(&d.sent[0].1), "SIP/2.0 100 Trying");
    assert_eq!(d.sent[0].0, udp());
    // Retransmitted INVITE → the same 100 again (rebuilt, byte-identical).
    assert_eq!(
        l.handle_request(&m, udp(), t0 + ms(500)).unwrap(),
        RequestOutcome::Retransmission { id }
    );
    assert_eq!(drain(&mut l).sent, d.sent);
    assert_eq!(l.retransmit_buffer(id), Some(&[][..]), "100 not kept");
    // TU sends 180 → retransmissions now get the 180.
    l.respond(id, &response(&req, 180, Some("s1")), t0 + ms(600))
        .unwrap();
    assert_eq!(drain(&mut l).first_lines(), ["SIP/2.0 180 Reason"]);
    l.handle_request(&m, udp(), t0 + ms(1500)).unwrap();
    assert_eq!(drain(&mut l).first_lines(), ["SIP/2.0 180 Reason"]);
    assert_eq!(l.poll_timeout(), None, "no timers in Proceeding");
}

#[test]
fn invite_server_non_2xx_timer_g_and_h_without_ack() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = Req::default().bytes();
    let m = Message::parse(&req).unwrap();
    let id = new_id(l.handle_request(&m, udp(), t0).unwrap());
    drain(&mut l);
    let busy = response(&req, 486, Some("s1"));
    l.respond(id, &busy, t0).unwrap();
    assert_eq!(drain(&mut l).sent, [(udp(), busy.clone())]);
    assert_eq!(
        l.state(id),
        Some(TransactionState::ServerInvite(ServerInviteState::Completed))
    );
    // A second final response is refused.
    assert!(matches!(
        l.respond(id, &response(&req, 500, Some("s1")), t0),
        Err(TransactionError::InvalidState { .. })
    ));
    // INVITE retransmission in Completed → the 486 again.
    l.handle_request(&m, udp(), t0 + ms(100)).unwrap();
    assert_eq!(drain(&mut l).sent, [(udp(), busy.clone())]);
    let log = run(&mut l, t0, None);
    assert_eq!(
        send_times(&log),
        [
            500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert_eq!(
        events(&log),
        [
            (
                32000,
                Event::Timeout {
                    id,
                    user: 0,
                    timer: Timer::H
                }
            ),
            (32000, Event::Terminated { id, user: 0 })
        ]
    );
}

#[test]
fn invite_server_ack_confirms_and_timer_i() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = Req::default().bytes();
    let m = Message::parse(&req).unwrap();
    let id = new_id(l.handle_request(&m, udp(), t0).unwrap());
    drain(&mut l);
    l.respond(id, &response(&req, 404, Some("s1")), t0).unwrap();
    drain(&mut l);
    let log = run(&mut l, t0, Some(t0 + ms(600)));
    assert_eq!(send_times(&log), [500]);
    // The ACK for a non-2xx carries the INVITE's branch.
    let ack = Req {
        method: "ACK",
        to_tag: Some("s1"),
        ..Req::default()
    }
    .bytes();
    let am = Message::parse(&ack).unwrap();
    assert_eq!(
        l.handle_request(&am, udp(), t0 + ms(1000)).unwrap(),
        RequestOutcome::AckAbsorbed { id }
    );
    assert_eq!(
        l.state(id),
        Some(TransactionState::ServerInvite(ServerInviteState::Confirmed))
    );
    assert_eq!(
        l.handle_request(&am, udp(), t0 + ms(1200)).unwrap(),
        RequestOutcome::AckAbsorbed { id }
    );
    assert_eq!(
        l.handle_request(&m, udp(), t0 + ms(1300)).unwrap(),
        RequestOutcome::Retransmission { id }
    );
    assert!(drain(&mut l).sent.is_empty(), "Confirmed absorbs silently");
    let log = run(&mut l, t0, None);
    assert!(send_times(&log).is_empty(), "Timer G stopped");
    assert_eq!(events(&log), [(6000, Event::Terminated { id, user: 0 })]);
}

#[test]
fn invite_server_tcp_no_timer_g_and_timer_i_zero() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = Req {
        transport: "TCP",
        ..Req::default()
    }
    .bytes();
    let m = Message::parse(&req).unwrap();
    let id = new_id(l.handle_request(&m, tcp(), t0).unwrap());
    drain(&mut l);
    l.respond(id, &response(&req, 480, Some("s1")), t0).unwrap();
    drain(&mut l);
    let ack = Req {
        method: "ACK",
        transport: "TCP",
        to_tag: Some("s1"),
        ..Req::default()
    }
    .bytes();
    assert_eq!(
        l.handle_request(&Message::parse(&ack).unwrap(), tcp(), t0 + ms(5000))
            .unwrap(),
        RequestOutcome::AckAbsorbed { id }
    );
    assert_eq!(drain(&mut l).events, [Event::Terminated { id, user: 0 }]);
    assert!(l.is_empty());
    // Without the ACK, TCP only has Timer H.
    let id = new_id(l.handle_request(&m, tcp(), t0).unwrap());
    l.respond(id, &response(&req, 480, Some("s1")), t0).unwrap();
    drain(&mut l);
    let log = run(&mut l, t0, None);
    assert!(send_times(&log).is_empty());
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].0, ms(32000));
}

#[test]
fn invite_server_2xx_accepted_and_ack_for_2xx_goes_to_core() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = Req::default().bytes();
    let m = Message::parse(&req).unwrap();
    let id = new_id(l.handle_request(&m, udp(), t0).unwrap());
    drain(&mut l);
    let ok = response(&req, 200, Some("s1"));
    l.respond(id, &ok, t0 + ms(100)).unwrap();
    assert_eq!(drain(&mut l).sent, [(udp(), ok.clone())]);
    assert_eq!(
        l.state(id),
        Some(TransactionState::ServerInvite(ServerInviteState::Accepted))
    );
    // INVITE retransmission absorbed silently (the core retransmits 2xx).
    assert_eq!(
        l.handle_request(&m, udp(), t0 + ms(200)).unwrap(),
        RequestOutcome::Retransmission { id }
    );
    assert!(drain(&mut l).sent.is_empty());
    // The core's 2xx retransmission passes through.
    l.respond(id, &ok, t0 + ms(600)).unwrap();
    assert_eq!(drain(&mut l).sent.len(), 1);
    // ACK for the 2xx: new branch, NOT matched to the INVITE transaction.
    let ack = Req {
        method: "ACK",
        branch: Some("z9hG4bKnewack"),
        to_tag: Some("s1"),
        ..Req::default()
    }
    .bytes();
    assert_eq!(
        l.handle_request(&Message::parse(&ack).unwrap(), udp(), t0 + ms(700))
            .unwrap(),
        RequestOutcome::Stateless { matched: None }
    );
    assert_eq!(l.len(), 1);
    let log = run(&mut l, t0, None);
    assert_eq!(events(&log), [(32100, Event::Terminated { id, user: 0 })]);
}

#[test]
fn invite_server_2xx_terminates_without_rfc6026() {
    let mut l = TransactionLayer::new(Config {
        rfc6026: false,
        ..Config::default()
    });
    let t0 = Instant::now();
    let req = Req::default().bytes();
    let m = Message::parse(&req).unwrap();
    let id = new_id(l.handle_request(&m, udp(), t0).unwrap());
    l.respond(id, &response(&req, 200, Some("s1")), t0).unwrap();
    let d = drain(&mut l);
    assert_eq!(
        d.first_lines(),
        ["SIP/2.0 100 Trying", "SIP/2.0 200 Reason"]
    );
    assert_eq!(d.events, [Event::Terminated { id, user: 0 }]);
    assert!(matches!(
        l.respond(id, &response(&req, 200, Some("s1")), t0),
        Err(TransactionError::UnknownTransaction)
    ));
    // The retransmitted INVITE now starts a new transaction: the TU/core
    // recognises it by dialog state (§13.3.1.4).
    assert!(matches!(
        l.handle_request(&m, udp(), t0 + ms(10)).unwrap(),
        RequestOutcome::New { .. }
    ));
}

#[test]
fn trying_policies() {
    let t0 = Instant::now();
    let req = Req::default().bytes();
    let m = Message::parse(&req).unwrap();
    // After 200 ms: sent only if the TU has not answered provisionally.
    let mut l = TransactionLayer::new(Config {
        trying: TryingPolicy::After200ms,
        ..Config::default()
    });
    new_id(l.handle_request(&m, udp(), t0).unwrap());
    assert!(drain(&mut l).sent.is_empty());
    assert_eq!(l.poll_timeout(), Some(t0 + ms(200)));
    l.handle_timeout(t0 + ms(200));
    assert_eq!(drain(&mut l).first_lines(), ["SIP/2.0 100 Trying"]);

    let mut l = TransactionLayer::new(Config {
        trying: TryingPolicy::After200ms,
        ..Config::default()
    });
    let id = new_id(l.handle_request(&m, udp(), t0).unwrap());
    l.respond(id, &response(&req, 183, Some("a")), t0 + ms(50))
        .unwrap();
    assert_eq!(drain(&mut l).first_lines(), ["SIP/2.0 183 Reason"]);
    assert_eq!(l.poll_timeout(), None);

    let mut l = TransactionLayer::new(Config {
        trying: TryingPolicy::Never,
        ..Config::default()
    });
    let id = new_id(l.handle_request(&m, udp(), t0).unwrap());
    l.handle_request(&m, udp(), t0 + ms(500)).unwrap();
    assert!(drain(&mut l).sent.is_empty());
    assert_eq!(l.state(id).map(|s| s.is_client()), Some(false));
}

// ----- non-INVITE server (Figure 8) -----------------------------------

#[test]
fn non_invite_server_udp_absorbs_and_timer_j() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = Req {
        method: "OPTIONS",
        ..Req::default()
    }
    .bytes();
    let m = Message::parse(&req).unwrap();
    let id = new_id(l.handle_request(&m, udp(), t0).unwrap());
    assert!(drain(&mut l).sent.is_empty(), "no 100 for non-INVITE");
    // Trying: retransmissions absorbed silently.
    assert_eq!(
        l.handle_request(&m, udp(), t0 + ms(500)).unwrap(),
        RequestOutcome::Retransmission { id }
    );
    assert!(drain(&mut l).sent.is_empty());
    l.respond(id, &response(&req, 100, None), t0 + ms(600))
        .unwrap();
    assert_eq!(
        l.state(id),
        Some(TransactionState::ServerNonInvite(
            ServerNonInviteState::Proceeding
        ))
    );
    drain(&mut l);
    l.handle_request(&m, udp(), t0 + ms(1500)).unwrap();
    assert_eq!(drain(&mut l).first_lines(), ["SIP/2.0 100 Reason"]);
    let ok = response(&req, 200, Some("z"));
    l.respond(id, &ok, t0 + ms(2000)).unwrap();
    assert_eq!(drain(&mut l).sent, [(udp(), ok.clone())]);
    l.handle_request(&m, udp(), t0 + ms(3500)).unwrap();
    assert_eq!(drain(&mut l).sent, [(udp(), ok.clone())]);
    assert!(matches!(
        l.respond(id, &response(&req, 500, Some("z")), t0 + ms(4000)),
        Err(TransactionError::InvalidState { .. })
    ));
    let log = run(&mut l, t0, None);
    assert!(
        send_times(&log).is_empty(),
        "no response retransmission timer"
    );
    assert_eq!(events(&log), [(34000, Event::Terminated { id, user: 0 })]);
}

#[test]
fn non_invite_server_tcp_timer_j_zero() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = Req {
        method: "MESSAGE",
        transport: "TCP",
        ..Req::default()
    }
    .bytes();
    let id = new_id(
        l.handle_request(&Message::parse(&req).unwrap(), tcp(), t0)
            .unwrap(),
    );
    l.respond(id, &response(&req, 202, Some("z")), t0).unwrap();
    let d = drain(&mut l);
    assert_eq!(d.first_lines(), ["SIP/2.0 202 Reason"]);
    assert_eq!(d.events, [Event::Terminated { id, user: 0 }]);
    assert_eq!(l.poll_timeout(), None);
}

// ----- matching (§17.1.3, §17.2.3, §9.2) ------------------------------

#[test]
fn cancel_gets_its_own_transaction_and_names_the_invite() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = Req::default().bytes();
    let inv_id = new_id(
        l.handle_request(&Message::parse(&inv).unwrap(), udp(), t0)
            .unwrap(),
    );
    let cancel = Req {
        method: "CANCEL",
        ..Req::default()
    }
    .bytes();
    let cm = Message::parse(&cancel).unwrap();
    let RequestOutcome::New { id, cancels } = l.handle_request(&cm, udp(), t0 + ms(10)).unwrap()
    else {
        panic!("CANCEL must create a transaction")
    };
    assert_ne!(id, inv_id);
    assert_eq!(cancels, Some(inv_id));
    assert_eq!(
        l.state(id),
        Some(TransactionState::ServerNonInvite(
            ServerNonInviteState::Trying
        ))
    );
    assert_eq!(
        l.handle_request(&cm, udp(), t0 + ms(20)).unwrap(),
        RequestOutcome::Retransmission { id }
    );
    // A CANCEL for nothing still gets a transaction (the TU answers 481).
    let stray = Req {
        method: "CANCEL",
        branch: Some("z9hG4bKother"),
        ..Req::default()
    }
    .bytes();
    assert!(matches!(
        l.handle_request(&Message::parse(&stray).unwrap(), udp(), t0)
            .unwrap(),
        RequestOutcome::New { cancels: None, .. }
    ));
    assert_eq!(l.len(), 3);
}

#[test]
fn rfc3261_matching_by_branch_sent_by_and_method() {
    let mut l = layer();
    let t0 = Instant::now();
    let base = Req {
        method: "OPTIONS",
        sent_by: "Host.Example.COM",
        ..Req::default()
    };
    let a = new_id(
        l.handle_request(&Message::parse(&base.bytes()).unwrap(), udp(), t0)
            .unwrap(),
    );
    // Same branch, host in other case and the default port written out:
    // the same transaction.
    let same = Req {
        sent_by: "host.example.com:5060",
        ..base.clone()
    };
    assert_eq!(
        l.handle_request(&Message::parse(&same.bytes()).unwrap(), udp(), t0)
            .unwrap(),
        RequestOutcome::Retransmission { id: a }
    );
    // Different sent-by (another port, another host): new transactions.
    for sent_by in ["host.example.com:5070", "other.example.com"] {
        let r = Req {
            sent_by,
            ..base.clone()
        };
        assert!(matches!(
            l.handle_request(&Message::parse(&r.bytes()).unwrap(), udp(), t0)
                .unwrap(),
            RequestOutcome::New { .. }
        ));
    }
    // Same branch and sent-by, different method: new transaction.
    let info = Req {
        method: "INFO",
        ..base.clone()
    };
    assert!(matches!(
        l.handle_request(&Message::parse(&info.bytes()).unwrap(), udp(), t0)
            .unwrap(),
        RequestOutcome::New { .. }
    ));
    // Other fields do not matter under RFC 3261 matching.
    let odd = Req {
        cseq: 1,
        call_id: "different",
        ..base.clone()
    };
    assert_eq!(
        l.handle_request(&Message::parse(&odd.bytes()).unwrap(), udp(), t0)
            .unwrap(),
        RequestOutcome::Retransmission { id: a }
    );
    assert_eq!(l.len(), 4);
}

#[test]
fn rfc2543_fallback_matching() {
    let mut l = layer();
    let t0 = Instant::now();
    let base = Req {
        branch: None,
        ..Req::default()
    };
    let inv = base.bytes();
    let m = Message::parse(&inv).unwrap();
    let id = new_id(l.handle_request(&m, udp(), t0).unwrap());
    assert_eq!(
        l.handle_request(&m, udp(), t0 + ms(500)).unwrap(),
        RequestOutcome::Retransmission { id }
    );
    // A non-cookie branch is treated the same way (no magic cookie).
    let weird = Req {
        branch: Some("1234"),
        ..Req::default()
    };
    assert!(matches!(
        l.handle_request(&Message::parse(&weird.bytes()).unwrap(), udp(), t0)
            .unwrap(),
        RequestOutcome::New { .. }
    ));
    // Each of Request-URI, CSeq, Call-ID, To tag differing: new.
    for r in [
        Req {
            cseq: 2,
            ..base.clone()
        },
        Req {
            call_id: "other-call",
            ..base.clone()
        },
        Req {
            uri: "sip:carol@biloxi.example.com",
            ..base.clone()
        },
        Req {
            to_tag: Some("zz"),
            ..base.clone()
        },
        Req {
            sent_by: "other.example.com",
            ..base.clone()
        },
    ] {
        let bytes = r.bytes();
        let msg = Message::parse(&bytes).unwrap();
        match l.handle_request(&msg, udp(), t0) {
            Ok(RequestOutcome::New { id: other, .. }) => assert_ne!(other, id),
            // Same key but another To tag: refused as a duplicate key.
            Err(TransactionError::Duplicate) => assert_eq!(r.to_tag, Some("zz")),
            other => panic!("{r:?}: {other:?}"),
        }
    }
    // CANCEL finds the INVITE by the same fields.
    let cancel = Req {
        method: "CANCEL",
        ..base.clone()
    }
    .bytes();
    let RequestOutcome::New { cancels, .. } = l
        .handle_request(&Message::parse(&cancel).unwrap(), udp(), t0)
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(cancels, Some(id));
    // Final response with To tag s9; the ACK must carry that tag.
    l.respond(id, &response(&inv, 486, Some("s9")), t0 + ms(600))
        .unwrap();
    let wrong = Req {
        method: "ACK",
        to_tag: Some("nope"),
        ..base.clone()
    }
    .bytes();
    assert_eq!(
        l.handle_request(&Message::parse(&wrong).unwrap(), udp(), t0 + ms(700))
            .unwrap(),
        RequestOutcome::Stateless { matched: None }
    );
    let ack = Req {
        method: "ACK",
        to_tag: Some("s9"),
        ..base.clone()
    }
    .bytes();
    assert_eq!(
        l.handle_request(&Message::parse(&ack).unwrap(), udp(), t0 + ms(700))
            .unwrap(),
        RequestOutcome::AckAbsorbed { id }
    );
}

#[test]
fn client_matching_by_branch_and_cseq_method() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = Req {
        method: "SUBSCRIBE",
        ..Req::default()
    }
    .bytes();
    let id = l.send_request(&req, udp(), 0, t0).unwrap();
    // A response whose top Via branch differs is stray.
    let other = Req {
        method: "SUBSCRIBE",
        branch: Some("z9hG4bKzzz"),
        ..Req::default()
    }
    .bytes();
    let stray = response(&other, 200, Some("a"));
    assert_eq!(
        l.handle_response(&Message::parse(&stray).unwrap(), t0)
            .unwrap(),
        ResponseOutcome::Stray
    );
    // Same branch, other CSeq method: stray.
    let notify = Req {
        method: "NOTIFY",
        ..Req::default()
    }
    .bytes();
    assert_eq!(
        l.handle_response(&Message::parse(&response(&notify, 200, None)).unwrap(), t0)
            .unwrap(),
        ResponseOutcome::Stray
    );
    // A response without a branch cannot match.
    let nob = Req {
        method: "SUBSCRIBE",
        branch: None,
        ..Req::default()
    }
    .bytes();
    assert_eq!(
        l.handle_response(&Message::parse(&response(&nob, 200, None)).unwrap(), t0)
            .unwrap(),
        ResponseOutcome::Stray
    );
    let ok = response(&req, 202, Some("a"));
    assert_eq!(
        deliver_id(
            l.handle_response(&Message::parse(&ok).unwrap(), t0)
                .unwrap()
        ),
        id
    );
}

// ----- API errors -----------------------------------------------------

#[test]
fn api_errors_are_values() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = Req::default().bytes();
    let id = l.send_request(&req, udp(), 0, t0).unwrap();
    assert_eq!(
        l.send_request(&req, udp(), 0, t0),
        Err(TransactionError::Duplicate)
    );
    let ack = Req {
        method: "ACK",
        ..Req::default()
    }
    .bytes();
    assert_eq!(
        l.send_request(&ack, udp(), 0, t0),
        Err(TransactionError::AckNotATransaction)
    );
    let nob = Req {
        branch: Some("abc"),
        ..Req::default()
    }
    .bytes();
    assert_eq!(
        l.send_request(&nob, udp(), 0, t0),
        Err(TransactionError::MissingBranch)
    );
    assert!(matches!(
        l.send_request(b"garbage", udp(), 0, t0),
        Err(TransactionError::Parse(_))
    ));
    assert!(matches!(
        l.respond(id, &response(&req, 200, None), t0),
        Err(TransactionError::InvalidState { .. })
    ));
    let resp = response(&req, 200, None);
    assert_eq!(
        l.handle_request(&Message::parse(&resp).unwrap(), udp(), t0),
        Err(TransactionError::NotARequest)
    );
    assert_eq!(
        l.handle_response(&Message::parse(&req).unwrap(), t0),
        Err(TransactionError::NotAResponse)
    );
    // CSeq method mismatch.
    let bad = String::from_utf8(req.clone())
        .unwrap()
        .replace("CSeq: 314159 INVITE", "CSeq: 314159 BYE");
    assert_eq!(
        l.handle_request(&Message::parse(bad.as_bytes()).unwrap(), udp(), t0),
        Err(TransactionError::CSeqMethodMismatch)
    );
    // Transport error terminates and reports.
    l.transport_error(id, t0).unwrap();
    assert_eq!(
        drain(&mut l).events,
        [
            Event::TransportError { id, user: 0 },
            Event::Terminated { id, user: 0 }
        ]
    );
    assert_eq!(
        l.transport_error(id, t0),
        Err(TransactionError::UnknownTransaction)
    );
    // A stale id never aliases a new transaction in the same slot.
    let id2 = l.send_request(&req, udp(), 0, t0).unwrap();
    assert_ne!(id, id2);
    assert_eq!(l.state(id), None);
    assert!(l.state(id2).is_some());
    assert!(matches!(
        l.respond(id2, b"not a response", t0),
        Err(TransactionError::BadStatusLine)
    ));
}

#[test]
fn ack_reusing_the_invite_branch_in_accepted_goes_to_the_tu() {
    // RFC 6026: ACKs matching a transaction in Accepted are passed up.
    let mut l = layer();
    let t0 = Instant::now();
    let req = Req::default().bytes();
    let id = new_id(
        l.handle_request(&Message::parse(&req).unwrap(), udp(), t0)
            .unwrap(),
    );
    l.respond(id, &response(&req, 200, Some("s1")), t0).unwrap();
    let ack = Req {
        method: "ACK",
        to_tag: Some("s1"),
        ..Req::default()
    }
    .bytes();
    assert_eq!(
        l.handle_request(&Message::parse(&ack).unwrap(), udp(), t0 + ms(50))
            .unwrap(),
        RequestOutcome::Stateless { matched: Some(id) }
    );
    assert_eq!(
        l.state(id),
        Some(TransactionState::ServerInvite(ServerInviteState::Accepted))
    );
}

#[test]
fn ipv6_sent_by_with_and_without_default_port() {
    let mut l = layer();
    let t0 = Instant::now();
    let a = Req {
        method: "OPTIONS",
        sent_by: "[2001:db8::1]",
        ..Req::default()
    }
    .bytes();
    let b = Req {
        method: "OPTIONS",
        sent_by: "[2001:db8::1]:5060",
        ..Req::default()
    }
    .bytes();
    let id = new_id(
        l.handle_request(&Message::parse(&a).unwrap(), udp(), t0)
            .unwrap(),
    );
    assert_eq!(
        l.handle_request(&Message::parse(&b).unwrap(), udp(), t0)
            .unwrap(),
        RequestOutcome::Retransmission { id }
    );
}

#[test]
fn late_handle_timeout_sends_one_retransmission_not_a_burst() {
    let mut l = layer();
    let t0 = Instant::now();
    let req = Req::default().bytes();
    l.send_request(&req, udp(), 0, t0).unwrap();
    drain(&mut l);
    // The caller oversleeps until 10 s: one retransmission, the next one
    // T1·2 after now (not in the past).
    l.handle_timeout(t0 + ms(10_000));
    assert_eq!(drain(&mut l).sent.len(), 1);
    assert_eq!(l.poll_timeout(), Some(t0 + ms(11_000)));
    assert_eq!(l.earliest_timer_by_scan(), Some(t0 + ms(11_000)));
}

#[test]
fn delayed_trying_is_sent_early_on_a_retransmission_and_only_once_by_the_timer() {
    let mut l = TransactionLayer::new(Config {
        trying: TryingPolicy::After200ms,
        ..Config::default()
    });
    let t0 = Instant::now();
    let req = Req::default().bytes();
    let m = Message::parse(&req).unwrap();
    new_id(l.handle_request(&m, udp(), t0).unwrap());
    assert!(drain(&mut l).sent.is_empty());
    l.handle_request(&m, udp(), t0 + ms(100)).unwrap();
    assert_eq!(drain(&mut l).first_lines(), ["SIP/2.0 100 Trying"]);
    l.handle_timeout(t0 + ms(200));
    assert!(drain(&mut l).sent.is_empty(), "already sent");
    l.handle_request(&m, udp(), t0 + ms(600)).unwrap();
    assert_eq!(drain(&mut l).first_lines(), ["SIP/2.0 100 Trying"]);
}

#[test]
fn send_request_prepared_skips_the_parse_but_behaves_the_same() {
    use ferrovox_sip::Method;
    let mut l = layer();
    let t0 = Instant::now();
    let req = Req::default().bytes();
    let id = l
        .send_request_prepared(&req, Method::Invite, b"z9hG4bK74bf9", udp(), 4, t0)
        .unwrap();
    assert_eq!(drain(&mut l).sent, [(udp(), req.clone())]);
    // Same key as send_request would have made.
    assert_eq!(
        l.send_request(&req, udp(), 4, t0),
        Err(TransactionError::Duplicate)
    );
    let busy = response(&req, 486, Some("b"));
    assert_eq!(
        deliver_id(
            l.handle_response(&Message::parse(&busy).unwrap(), t0 + ms(100))
                .unwrap()
        ),
        id
    );
    assert_eq!(
        drain(&mut l).first_lines(),
        ["ACK sip:bob@biloxi.example.com SIP/2.0"]
    );
    assert_eq!(
        l.send_request_prepared(&req, Method::Ack, b"z9hG4bKx", udp(), 0, t0),
        Err(TransactionError::AckNotATransaction)
    );
    for bad in [&b"z9hG4bK"[..], b"abc", b"z9hG4bK a"] {
        assert_eq!(
            l.send_request_prepared(&req, Method::Bye, bad, udp(), 0, t0),
            Err(TransactionError::MissingBranch)
        );
    }
}

#[test]
fn handle_request_validated_uses_the_same_keys() {
    use ferrovox_sip::validate::validate_request;
    let mut l = layer();
    let t0 = Instant::now();
    for branch in [Some("z9hG4bKvalid"), None] {
        let inv = Req {
            branch,
            ..Req::default()
        }
        .bytes();
        let m = Message::parse(&inv).unwrap();
        let info = validate_request(&m).unwrap();
        let id = new_id(l.handle_request_validated(&m, &info, udp(), t0).unwrap());
        assert_eq!(
            l.handle_request(&m, udp(), t0).unwrap(),
            RequestOutcome::Retransmission { id }
        );
        assert_eq!(
            l.handle_request_validated(&m, &info, udp(), t0).unwrap(),
            RequestOutcome::Retransmission { id }
        );
        let cancel = Req {
            method: "CANCEL",
            branch,
            ..Req::default()
        }
        .bytes();
        let cm = Message::parse(&cancel).unwrap();
        let cinfo = validate_request(&cm).unwrap();
        assert!(matches!(
            l.handle_request_validated(&cm, &cinfo, udp(), t0).unwrap(),
            RequestOutcome::New { cancels: Some(c), .. } if c == id
        ));
        l.respond(id, &response(&inv, 486, Some("v")), t0).unwrap();
        let ack = Req {
            method: "ACK",
            branch,
            to_tag: Some("v"),
            ..Req::default()
        }
        .bytes();
        let am = Message::parse(&ack).unwrap();
        let ainfo = validate_request(&am).unwrap();
        assert_eq!(
            l.handle_request_validated(&am, &ainfo, udp(), t0).unwrap(),
            RequestOutcome::AckAbsorbed { id }
        );
    }
}
