//! The proxy's own timers (§16.6 step 11 Timer C, the branch response
//! timeout, reaping abandoned branches, dialog expiry) in one binary heap
//! keyed by deadline, next to the transaction layer's heap. Entries are
//! cancelled lazily: each carries the generation of the timer slot it was
//! armed in, and an entry whose slot moved on is skipped when it reaches
//! the top. The heap is compacted when stale entries dominate.

use crate::slab::Handle;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// What a proxy timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ProxyTimer {
    /// No response at all from a branch (Kamailio `fr_timer`).
    BranchResponse,
    /// Timer C: a provisional but no final (Kamailio `fr_inv_timer`).
    TimerC,
    /// A CANCEL was sent for the branch: the 487 must come by then.
    CancelWait,
    /// A finished branch whose INVITE client transaction would otherwise
    /// never end (Proceeding has no transaction timer).
    Reap,
    /// Dialog expiry check.
    Dialog,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerEntry {
    pub at: Instant,
    pub kind: ProxyTimer,
    pub index: u32,
    pub generation: u32,
    /// Generation of the owner's timer slot when armed.
    pub seq: u32,
}

impl TimerEntry {
    pub fn handle(&self) -> Handle {
        Handle {
            index: self.index,
            generation: self.generation,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct TimerHeap {
    heap: BinaryHeap<Reverse<TimerEntry>>,
}

impl TimerHeap {
    pub fn push(&mut self, e: TimerEntry) {
        self.heap.push(Reverse(e));
    }

    /// Drop stale entries at the top, then peek.
    pub fn peek_live(&mut self, live: impl Fn(&TimerEntry) -> bool) -> Option<TimerEntry> {
        while let Some(Reverse(e)) = self.heap.peek() {
            if live(e) {
                return Some(*e);
            }
            self.heap.pop();
        }
        None
    }

    pub fn pop(&mut self) -> Option<TimerEntry> {
        self.heap.pop().map(|Reverse(e)| e)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn capacity(&self) -> usize {
        self.heap.capacity()
    }

    /// Keep only live entries (called when stale ones outnumber live ones).
    pub fn compact(&mut self, live: impl Fn(&TimerEntry) -> bool) {
        self.heap.retain(|Reverse(e)| live(e));
    }
}
