//! Memory per tracked dialog, measured with a counting allocator: 50,000
//! calls (INVITE/200/ACK through NextHop) at 500 calls/s of fake time, all
//! transactions left to end, then the live heap growth divided by the
//! number of dialogs. Everything the proxy holds for a dialog is counted
//! (dialog table, timer entries, and whatever transactions, contexts and
//! buffers leave behind).

mod common;

use common::*;
use ferrovox_proxy::NextHop;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const DIALOGS: usize = 50_000;

#[test]
fn fifty_thousand_dialogs_fit_in_two_kilobytes_each() {
    let mut h = Harness::new(config(), NextHop::new(bob()));
    let base = LIVE.load(Ordering::Relaxed);
    let mut buf = Vec::new();
    let mut peak = 0isize;
    for i in 0..DIALOGS {
        let call_id = format!("mem{i}");
        let inv = invite(&call_id, &format!("z9hG4bKm{i}"));
        h.proxy.handle_message(inv.as_bytes(), alice(), h.now);
        let mut fwd = None;
        while let Some(dest) = h.proxy.poll_transmit(&mut buf) {
            if dest == bob() {
                fwd = Some(Sent {
                    dest,
                    text: String::from_utf8_lossy(&buf).into_owned(),
                });
            }
        }
        let fwd = fwd.expect("forwarded");
        let ok = respond(&fwd, 200, "OK", "b1");
        h.proxy.handle_message(ok.as_bytes(), bob(), h.now);
        let ack = format!(
            "ACK sip:bob@127.0.0.1:5080 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKa{i};rport\r\n\
Route: <sip:127.0.0.1:5070;lr>\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@example.com>;tag=a1\r\n\
To: Bob <sip:bob@example.com>;tag=b1\r\n\
Call-ID: {call_id}\r\n\
CSeq: 1 ACK\r\n\
Content-Length: 0\r\n\r\n"
        );
        h.proxy.handle_message(ack.as_bytes(), alice(), h.now);
        while h.proxy.poll_transmit(&mut buf).is_some() {}
        while h.proxy.poll_event().is_some() {}
        // 500 calls per second.
        if i % 10 == 9 {
            h.advance(Duration::from_millis(20));
            peak = peak.max(LIVE.load(Ordering::Relaxed) - base);
        }
    }
    h.advance(Duration::from_secs(40));
    while h.proxy.poll_event().is_some() {}
    let stats = h.proxy.stats();
    assert_eq!(stats.active_dialogs as usize, DIALOGS);
    assert_eq!(stats.active_transactions, 0);
    assert_eq!(stats.active_contexts, 0);
    let held = LIVE.load(Ordering::Relaxed) - base;
    let per_dialog = held as f64 / DIALOGS as f64;
    eprintln!(
        "dialogs: {DIALOGS}; heap held after transactions ended: {held} B = {per_dialog:.0} B/dialog; \
         peak during the run (≈16,000 calls in transactions): {peak} B; proxy's own estimate: {} B = {:.0} B/dialog",
        stats.memory_bytes,
        stats.memory_bytes as f64 / DIALOGS as f64
    );
    assert!(per_dialog <= 2048.0, "{per_dialog} B per dialog");
}
