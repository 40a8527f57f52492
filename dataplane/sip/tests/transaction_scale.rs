//! 50,000 concurrent transactions of all four kinds, on UDP and TCP,
//! driven to completion by the layer's one timer heap: everything
//! terminates exactly once, the table ends empty, the heap stays bounded
//! and `poll_timeout` is always the earliest live timer.

#[path = "transaction_support.rs"]
mod support;

use ferrovox_sip::Message;
use ferrovox_sip::transaction::{
    Config, Event, RequestOutcome, ResponseOutcome, TransactionLayer, Transport,
};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use support::*;

const N: usize = 50_000;

#[test]
fn fifty_thousand_transactions_one_timer_heap() {
    let mut l = TransactionLayer::new(Config::default());
    let t0 = Instant::now();
    let mut now = t0;
    let mut created = HashSet::new();
    let mut terminated = HashSet::new();
    let mut timeouts = 0usize;
    let mut sent = 0usize;
    let mut max_live = 0usize;
    let mut max_heap = 0usize;
    let mut peak_mem = 0usize;
    let mut checks = 0usize;

    let collect = |l: &mut TransactionLayer,
                   terminated: &mut HashSet<_>,
                   timeouts: &mut usize,
                   sent: &mut usize| {
        let d = drain(l);
        *sent += d.sent.len();
        for e in d.events {
            match e {
                Event::Terminated { id, .. } => assert!(terminated.insert(id), "twice: {id:?}"),
                Event::Timeout { .. } => *timeouts += 1,
                Event::TransportError { .. } => unreachable!(),
            }
        }
    };

    // Phase 1: create N transactions, 0.1 ms apart (a 5 s ramp), firing
    // due timers as time advances.
    for i in 0..N {
        now = t0 + Duration::from_micros(100 * i as u64);
        while let Some(t) = l.poll_timeout().filter(|&t| t <= now) {
            l.handle_timeout(t);
        }
        collect(&mut l, &mut terminated, &mut timeouts, &mut sent);
        let branch = format!("z9hG4bK{i:08x}");
        let call_id = format!("call-{i}");
        let tcp_ = i % 10 >= 8;
        let (transport, p) = if tcp_ {
            ("TCP", peer(5060, Transport::Tcp))
        } else {
            ("UDP", peer(5060, Transport::Udp))
        };
        let req = |method| {
            Req {
                method,
                branch: Some(&branch),
                transport,
                call_id: &call_id,
                ..Req::default()
            }
            .bytes()
        };
        match i % 5 {
            // INVITE client, unanswered → Timer B.
            0 => {
                created.insert(l.send_request(&req("INVITE"), p, i as u64, now).unwrap());
            }
            // non-INVITE client answered at once → Timer K.
            1 => {
                let r = req("OPTIONS");
                created.insert(l.send_request(&r, p, i as u64, now).unwrap());
                let ok = response(&r, 200, Some("x"));
                assert!(matches!(
                    l.handle_response(&Message::parse(&ok).unwrap(), now)
                        .unwrap(),
                    ResponseOutcome::Deliver { .. }
                ));
            }
            // INVITE server answered 486, ACK never comes → Timer H.
            2 => {
                let r = req("INVITE");
                let RequestOutcome::New { id, .. } = l
                    .handle_request(&Message::parse(&r).unwrap(), p, now)
                    .unwrap()
                else {
                    panic!()
                };
                created.insert(id);
                l.respond(id, &response(&r, 486, Some("s")), now).unwrap();
            }
            // non-INVITE server answered 200 → Timer J.
            3 => {
                let r = req("REGISTER");
                let RequestOutcome::New { id, .. } = l
                    .handle_request(&Message::parse(&r).unwrap(), p, now)
                    .unwrap()
                else {
                    panic!()
                };
                created.insert(id);
                l.respond(id, &response(&r, 200, Some("s")), now).unwrap();
            }
            // INVITE server answered 200 → Accepted, Timer L.
            _ => {
                let r = req("INVITE");
                let RequestOutcome::New { id, .. } = l
                    .handle_request(&Message::parse(&r).unwrap(), p, now)
                    .unwrap()
                else {
                    panic!()
                };
                created.insert(id);
                l.respond(id, &response(&r, 200, Some("s")), now).unwrap();
            }
        }
        collect(&mut l, &mut terminated, &mut timeouts, &mut sent);
        max_live = max_live.max(l.len());
        max_heap = max_heap.max(l.timer_entries());
        if i.is_multiple_of(1000) {
            assert_eq!(l.poll_timeout(), l.earliest_timer_by_scan());
            peak_mem = peak_mem.max(l.memory_bytes());
            checks += 1;
        }
    }

    // Phase 2: only timers are left.
    let mut steps = 0usize;
    while let Some(t) = l.poll_timeout() {
        assert!(t >= now, "timers never go back in time");
        if steps.is_multiple_of(997) {
            assert_eq!(Some(t), l.earliest_timer_by_scan());
            checks += 1;
        }
        now = t;
        l.handle_timeout(now);
        collect(&mut l, &mut terminated, &mut timeouts, &mut sent);
        max_heap = max_heap.max(l.timer_entries());
        steps += 1;
    }

    assert_eq!(created.len(), N);
    assert_eq!(terminated, created, "every transaction terminated once");
    assert!(l.is_empty());
    assert_eq!(l.poll_timeout(), None);
    assert_eq!(l.earliest_timer_by_scan(), None);
    // B for the INVITE clients, H for the unacknowledged INVITE servers.
    assert_eq!(timeouts, 2 * N / 5);
    // At most two live timers per transaction plus bounded stale entries.
    assert!(max_heap <= 4 * max_live + 64, "{max_heap} vs {max_live}");
    // The last transaction ends 64*T1 after the ramp.
    assert!(now - t0 <= Duration::from_secs(5 + 32 + 1));
    eprintln!(
        "scale: {N} txns, peak live {max_live}, peak heap {max_heap}, {sent} sends, \
         {steps} timer steps, {checks} min checks, peak memory {peak_mem} B \
         ({} B/txn incl. table), slot {} B",
        peak_mem / max_live.max(1),
        TransactionLayer::slot_size()
    );
}
