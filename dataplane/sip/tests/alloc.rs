//! The hot path does not allocate: parsing a typical INVITE (fewer than 32
//! header lines), reading its typed headers, validating it and rewriting it
//! into a buffer that already has capacity perform zero heap allocations,
//! counted by a per-thread counting allocator. A message with more than 32
//! header lines is shown to allocate, so the counter is known to work.

mod common;

use ferrovox_sip::rewrite::{RequestEdits, rewrite_request};
use ferrovox_sip::validate::validate_request;
use ferrovox_sip::{HeaderName, Message};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCS.with(Cell::get);
    f();
    ALLOCS.with(Cell::get) - before
}

#[test]
fn proxy_hot_path_does_not_allocate() {
    let buf = common::typical_invite();
    let edits = RequestEdits {
        via: Some(b"SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bKproxy1"),
        record_route: Some(b"<sip:203.0.113.1;lr>"),
        decrement_max_forwards: true,
        ..RequestEdits::default()
    };
    let mut out = Vec::with_capacity(4096);
    let n = allocations(|| {
        let m = Message::parse(&buf).unwrap();
        let via = m.top_via().unwrap();
        assert!(via.has_rfc3261_branch());
        assert_eq!(m.cseq().unwrap().seq, 314159);
        assert!(m.from().unwrap().tag().is_some());
        assert_eq!(m.contacts().count(), 1);
        assert_eq!(m.tokens(HeaderName::Supported).count(), 2);
        validate_request(&m).unwrap();
        rewrite_request(&m, &edits, &mut out).unwrap();
    });
    assert_eq!(n, 0, "hot path allocated {n} times");
    assert!(!out.is_empty());
}

#[test]
fn counter_sees_the_spilled_header_index() {
    let buf = common::longreq();
    let n = allocations(|| {
        let m = Message::parse(&buf).unwrap();
        assert!(m.header_count() > 32);
    });
    assert!(n >= 1);
}
