//! Heap allocations per call on the fast path (INVITE/100/180/200/ACK/
//! BYE/200 through NextHop), counted with a counting allocator once the
//! proxy is warm. The bound guards against regressions; the figure is
//! printed for the benchmark report.

mod common;

use common::*;
use ferrovox_proxy::NextHop;
use ferrovox_testkit::counting_alloc::{CountingAllocator, allocations};
use std::time::Duration;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Feed one message; returns (allocations counted while the proxy handled
/// it and its output was drained, the message sent elsewhere than back to
/// `from`). Copies made for the test happen outside the count.
fn step(
    h: &mut Harness<NextHop>,
    msg: &str,
    from: ferrovox_proxy::Peer,
    buf: &mut Vec<u8>,
    last: &mut Vec<u8>,
) -> (usize, Option<Sent>) {
    let before = allocations();
    h.proxy.handle_message(msg.as_bytes(), from, h.now);
    let mut last_dest = None;
    while let Some(dest) = h.proxy.poll_transmit(buf) {
        if dest != from {
            last.clear();
            last.extend_from_slice(buf);
            last_dest = Some(dest);
        }
    }
    while h.proxy.poll_event().is_some() {}
    let counted = (allocations() - before) as usize;
    let sent = last_dest.map(|dest| Sent {
        dest,
        text: String::from_utf8_lossy(last).into_owned(),
    });
    (counted, sent)
}

/// One call; the allocations the proxy made for it.
fn call(h: &mut Harness<NextHop>, i: usize, buf: &mut Vec<u8>, last: &mut Vec<u8>) -> usize {
    let call_id = format!("al{i}");
    let inv = invite(&call_id, &format!("z9hG4bKal{i}"));
    let ack = format!(
        "ACK sip:bob@127.0.0.1:5080 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKac{i};rport\r\n\
Route: <sip:127.0.0.1:5070;lr>\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@example.com>;tag=a1\r\n\
To: Bob <sip:bob@example.com>;tag=b1\r\n\
Call-ID: {call_id}\r\n\
CSeq: 1 ACK\r\n\
Content-Length: 0\r\n\r\n"
    );
    let bye = ack
        .replace("ACK sip", "BYE sip")
        .replace("1 ACK", "2 BYE")
        .replace("z9hG4bKac", "z9hG4bKby");
    let (mut total, fwd) = step(h, &inv, alice(), buf, last);
    let fwd = fwd.expect("INVITE forwarded");
    for (code, reason, tag) in [
        (100, "Trying", ""),
        (180, "Ringing", "b1"),
        (200, "OK", "b1"),
    ] {
        let r = respond(&fwd, code, reason, tag);
        total += step(h, &r, bob(), buf, last).0;
    }
    total += step(h, &ack, alice(), buf, last).0;
    let (n, fbye) = step(h, &bye, alice(), buf, last);
    total += n;
    let bye_ok = respond(&fbye.expect("BYE forwarded"), 200, "OK", "");
    total + step(h, &bye_ok, bob(), buf, last).0
}

#[test]
fn allocations_per_call_on_the_fast_path() {
    let mut h = Harness::new(config(), NextHop::new(bob()));
    let mut buf = Vec::with_capacity(4096);
    let mut last = Vec::with_capacity(4096);
    // Warm up: buffers, tables and heaps reach their working size.
    for i in 0..2000 {
        call(&mut h, i, &mut buf, &mut last);
        h.advance(Duration::from_millis(20));
    }
    let n = 500;
    let mut total = 0;
    for i in 2000..2000 + n {
        total += call(&mut h, i, &mut buf, &mut last);
        h.advance(Duration::from_millis(20));
    }
    let per_call = total as f64 / n as f64;
    eprintln!("heap allocations per call (INVITE/100/180/200/ACK/BYE/200): {per_call:.1}");
    // 13 today: per transaction pair the layer's two owned keys, the
    // forwarded request it keeps, the provisional/final it keeps for
    // retransmission; NextHop's plan (two Vecs); the dialog key and the
    // two event Call-IDs.
    assert!(per_call <= 16.0, "{per_call} allocations per call");
}
