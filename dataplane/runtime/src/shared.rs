//! What the SIP cores share on top of [`crate::cores::CoreSet`]: the
//! inbox items handed between cores and the registry of open TCP
//! connections (address → owning core), used only off the UDP path.

use crate::cores::{CoreSet, lock};
use crate::stats::PublishedCounters;
use crate::token::Token;
use std::collections::HashMap;
use std::net::SocketAddr;
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

/// Open TCP connections by peer address, on any core.
pub(crate) type Registry = Mutex<HashMap<SocketAddr, ConnRef>>;

/// Everything the SIP cores share.
pub(crate) type Shared = CoreSet<InboxItem, PublishedCounters, Registry>;

impl Shared {
    /// The TCP connection registry, locked.
    pub(crate) fn registry(&self) -> MutexGuard<'_, HashMap<SocketAddr, ConnRef>> {
        lock(&self.extra)
    }
}
