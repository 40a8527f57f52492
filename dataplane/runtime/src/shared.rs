//! What the cores share: the shutdown flag, each core's wake-up eventfd,
//! inbox and published counters, and the registry of open TCP
//! connections (address → owning core), used only off the UDP path.

use crate::net::EventFd;
use crate::stats::PublishedCounters;
use crate::token::Token;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Work handed from one core to another.
#[derive(Debug)]
pub(crate) enum InboxItem {
    /// Bytes for a TCP connection the receiving core owns (`token`).
    Deliver {
        dest: SocketAddr,
        token: Token,
        bytes: Vec<u8>,
        origin: usize,
    },
    /// The connection was gone when the bytes reached its owner: the
    /// originating core connects itself.
    Undeliverable { dest: SocketAddr, bytes: Vec<u8> },
}

/// A connection in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnRef {
    pub(crate) core: usize,
    pub(crate) token: Token,
}

/// One core's shared parts.
#[derive(Debug)]
pub(crate) struct CoreShared {
    pub(crate) wake: EventFd,
    pub(crate) inbox: Mutex<VecDeque<InboxItem>>,
    pub(crate) counters: PublishedCounters,
}

/// Everything the cores share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) shutdown: AtomicBool,
    pub(crate) cores: Vec<CoreShared>,
    pub(crate) registry: Mutex<HashMap<SocketAddr, ConnRef>>,
}

/// Lock, ignoring poisoning: the data behind these locks (queues, a map)
/// stays consistent even if a holder panicked.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Ask every core to stop.
    pub(crate) fn request_shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        for core in &self.cores {
            core.wake.wake();
        }
    }

    /// Hand `item` to core `core`, waking it when its inbox was empty (a
    /// non-empty inbox has a wake-up pending already: the owner reads the
    /// eventfd before it empties the inbox).
    pub(crate) fn post(&self, core: usize, item: InboxItem) {
        let Some(target) = self.cores.get(core) else {
            return;
        };
        let was_empty = {
            let mut inbox = lock(&target.inbox);
            let was_empty = inbox.is_empty();
            inbox.push_back(item);
            was_empty
        };
        if was_empty {
            target.wake.wake();
        }
    }
}
