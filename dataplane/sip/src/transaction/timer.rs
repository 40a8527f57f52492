//! Transaction timers (RFC 3261 §17 and table 4 of Appendix A; RFC 6026
//! §8.4 Timer L and §8.7 Timer M) and the one timer heap all transactions
//! share.
//!
//! | Timer | Transaction | Value (UDP) | Reliable |
//! |-------|-------------|-------------|----------|
//! | A | INVITE client retransmit | T1, doubling | not used |
//! | B | INVITE client timeout | 64·T1 | 64·T1 |
//! | D | INVITE client wait for response retransmits | 32 s (≥ 64·T1) | 0 |
//! | E | non-INVITE client retransmit | T1 doubling to T2; T2 in Proceeding | not used |
//! | F | non-INVITE client timeout | 64·T1 | 64·T1 |
//! | G | INVITE server final response retransmit | T1 doubling to T2 | not used |
//! | H | INVITE server wait for ACK | 64·T1 | 64·T1 |
//! | I | INVITE server wait for ACK retransmits | T4 | 0 |
//! | J | non-INVITE server wait for request retransmits | 64·T1 | 0 |
//! | K | non-INVITE client wait for response retransmits | T4 | 0 |
//! | L | INVITE server Accepted (RFC 6026) | 64·T1 | 64·T1 |
//! | M | INVITE client Accepted (RFC 6026) | 64·T1 | 64·T1 |
//!
//! Zero timers are not armed: the transaction terminates at once.
//!
//! The heap holds `(deadline, transaction index, sequence)` entries, at
//! most two live ones per transaction (a retransmission slot: A/E/G/100
//! Trying; a lifetime slot: B/D/F/H/I/J/K/L/M). Cancelling or re-arming a
//! slot bumps its generation in the transaction, which makes older entries
//! stale; stale entries are dropped when they reach the top (so
//! [`super::TransactionLayer::poll_timeout`] is the true earliest live
//! deadline) and the heap is compacted when stale entries outnumber
//! live ones. Thousands of transactions cost thousands of entries; there is
//! no task or thread per transaction.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Instant;

/// The RFC 3261 / RFC 6026 transaction timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// INVITE client request retransmission.
    A,
    /// INVITE client transaction timeout.
    B,
    /// INVITE client wait time for response retransmissions.
    D,
    /// Non-INVITE client request retransmission.
    E,
    /// Non-INVITE client transaction timeout.
    F,
    /// INVITE server final response retransmission.
    G,
    /// INVITE server wait time for ACK receipt.
    H,
    /// INVITE server wait time for ACK retransmissions.
    I,
    /// Non-INVITE server wait time for request retransmissions.
    J,
    /// Non-INVITE client wait time for response retransmissions.
    K,
    /// INVITE server wait in Accepted (RFC 6026).
    L,
    /// INVITE client wait in Accepted (RFC 6026).
    M,
    /// 200 ms before a server INVITE transaction sends 100 Trying itself
    /// (§17.2.1, with [`super::TryingPolicy::After200ms`]).
    Trying,
}

impl Timer {
    /// The slot the timer occupies in its transaction: 0 for the
    /// retransmission timers (and 100 Trying), 1 for the others.
    pub(crate) fn slot(self) -> usize {
        match self {
            Timer::A | Timer::E | Timer::G | Timer::Trying => 0,
            _ => 1,
        }
    }
}

/// One heap entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub at: Instant,
    pub index: u32,
    /// Generation of the transaction slot when armed.
    pub txn_gen: u32,
    /// Generation of the timer slot when armed.
    pub timer_gen: u32,
    pub timer: Timer,
}

impl Ord for Entry {
    /// Reversed so that `BinaryHeap` (a max-heap) pops the earliest.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .at
            .cmp(&self.at)
            .then_with(|| other.index.cmp(&self.index))
            .then_with(|| other.timer_gen.cmp(&self.timer_gen))
            .then_with(|| other.txn_gen.cmp(&self.txn_gen))
            .then_with(|| other.timer.slot().cmp(&self.timer.slot()))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A min-heap of timer entries with lazy deletion (the caller says which
/// entries are live).
#[derive(Debug, Default)]
pub(crate) struct TimerHeap {
    heap: BinaryHeap<Entry>,
}

impl TimerHeap {
    pub fn push(&mut self, e: Entry) {
        self.heap.push(e);
    }

    /// Drop stale entries from the top.
    pub fn pop_stale(&mut self, live: impl Fn(&Entry) -> bool) {
        while let Some(top) = self.heap.peek() {
            if live(top) {
                break;
            }
            self.heap.pop();
        }
    }

    pub fn peek(&self) -> Option<&Entry> {
        self.heap.peek()
    }

    pub fn pop(&mut self) -> Option<Entry> {
        self.heap.pop()
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Rebuild keeping only live entries.
    pub fn compact(&mut self, live: impl Fn(&Entry) -> bool) {
        self.heap.retain(live);
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.heap.iter()
    }
}
