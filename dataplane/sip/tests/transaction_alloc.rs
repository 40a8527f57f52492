//! Allocation and memory figures of the transaction layer, counted by a
//! per-thread counting allocator: matching a retransmitted request or a
//! response to an existing transaction allocates nothing (the key is
//! hashed from the borrowed message; output goes to a reused arena);
//! creating a transaction allocates only its owned key and buffer.

#[path = "transaction_support.rs"]
mod support;

use ferrovox_sip::Message;
use ferrovox_sip::transaction::{
    Config, RequestOutcome, ResponseOutcome, TransactionLayer, TryingPolicy,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Instant;
use support::*;

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

fn branch_req(method: &str, i: usize) -> Vec<u8> {
    let branch = format!("z9hG4bK{i:08}");
    Req {
        method,
        branch: Some(&branch),
        ..Req::default()
    }
    .bytes()
}

#[test]
fn matching_retransmissions_and_responses_does_not_allocate() {
    let mut l = TransactionLayer::new(Config::default());
    let t0 = Instant::now();
    for i in 0..1000 {
        let r = branch_req("INVITE", i);
        l.handle_request(&Message::parse(&r).unwrap(), udp(), t0)
            .unwrap();
    }
    let client = branch_req("OPTIONS", 5000);
    l.send_request(&client, udp(), 0, t0).unwrap();
    drain(&mut l);
    let retrans = branch_req("INVITE", 500);
    let m = Message::parse(&retrans).unwrap();
    let trying = response(&client, 100, None);
    let resp = Message::parse(&trying).unwrap();
    // Warm up the output arena and queue.
    l.handle_request(&m, udp(), t0).unwrap();
    drain(&mut l);
    let n = allocations(|| {
        for _ in 0..100 {
            let o = l.handle_request(&m, udp(), t0).unwrap();
            assert!(matches!(o, RequestOutcome::Retransmission { .. }));
            let o = l.handle_response(&resp, t0).unwrap();
            assert!(matches!(o, ResponseOutcome::Deliver { .. }));
            while l.poll_output().is_some() {}
        }
    });
    assert_eq!(n, 0, "matching allocated {n} times");
}

#[test]
fn creating_a_transaction_allocates_its_key_and_buffer_only() {
    let mut l = TransactionLayer::new(Config::default());
    let t0 = Instant::now();
    // Grow the table, index and heap first, then free the slots.
    for i in 0..64 {
        let r = branch_req("OPTIONS", i);
        let id = l.send_request(&r, udp(), 0, t0).unwrap();
        l.transport_error(id, t0).unwrap();
    }
    drain(&mut l);
    let r = branch_req("OPTIONS", 1000);
    let n = allocations(|| {
        l.send_request(&r, udp(), 0, t0).unwrap();
        while l.poll_output().is_some() {}
    });
    assert!(n <= 2, "client create allocated {n} times");
    // Size the scratch buffer the 100 Trying is built in.
    let warm = branch_req("INVITE", 999);
    let RequestOutcome::New { id, .. } = l
        .handle_request(&Message::parse(&warm).unwrap(), udp(), t0)
        .unwrap()
    else {
        panic!()
    };
    l.transport_error(id, t0).unwrap();
    while l.poll_output().is_some() {}
    let inv = branch_req("INVITE", 1001);
    let m = Message::parse(&inv).unwrap();
    let n = allocations(|| {
        l.handle_request(&m, udp(), t0).unwrap();
        while l.poll_output().is_some() {}
    });
    // The key only: the 100 Trying is built in scratch space and not kept.
    assert_eq!(n, 1, "server create allocated {n} times");
}

/// Memory per live transaction by kind (printed for the report).
#[test]
fn memory_per_transaction() {
    let t0 = Instant::now();
    let n = 10_000;
    let measure = |f: &dyn Fn(&mut TransactionLayer, usize)| {
        let mut l = TransactionLayer::new(Config {
            trying: TryingPolicy::Immediate,
            ..Config::default()
        });
        let empty = l.memory_bytes();
        for i in 0..n {
            f(&mut l, i);
        }
        drain(&mut l);
        assert_eq!(l.len(), n);
        (l.memory_bytes() - empty) / n
    };
    let client_invite = measure(&|l, i| {
        l.send_request(&branch_req("INVITE", i), udp(), 0, t0)
            .unwrap();
    });
    let server_invite = measure(&|l, i| {
        let r = branch_req("INVITE", i);
        l.handle_request(&Message::parse(&r).unwrap(), udp(), t0)
            .unwrap();
    });
    let server_final = measure(&|l, i| {
        let r = branch_req("INVITE", i);
        let RequestOutcome::New { id, .. } = l
            .handle_request(&Message::parse(&r).unwrap(), udp(), t0)
            .unwrap()
        else {
            panic!()
        };
        l.respond(id, &response(&r, 486, Some("x")), t0).unwrap();
    });
    let server_accepted = measure(&|l, i| {
        let r = branch_req("INVITE", i);
        let RequestOutcome::New { id, .. } = l
            .handle_request(&Message::parse(&r).unwrap(), udp(), t0)
            .unwrap()
        else {
            panic!()
        };
        l.respond(id, &response(&r, 200, Some("x")), t0).unwrap();
    });
    let req_len = branch_req("INVITE", 0).len();
    eprintln!(
        "slot {} B; per live transaction incl. key, buffer, index and timers: \
         client INVITE (Calling, {req_len} B request) {client_invite} B, \
         server INVITE Proceeding (100 Trying sent, not kept) {server_invite} B, \
         Completed (486 kept) {server_final} B, Accepted (nothing kept) {server_accepted} B",
        TransactionLayer::slot_size()
    );
    assert!(server_accepted < 400);
    assert!(client_invite < 2 * req_len + 400);
}
