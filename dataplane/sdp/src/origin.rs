//! `o=` line management for a relay that sends its own descriptions
//! (RFC 3264 §8, RFC 4566 §5.2).
//!
//! Toward each side the relay must keep `o=` stable except for the
//! session version, which must grow by one each time the description
//! changes and stay the same when an identical description is sent again
//! (a re-INVITE refresh, a retransmitted offer). Upstream versions cannot
//! be copied: the relay's rewriting can hide or create changes.
//!
//! [`OriginTracker`] remembers, per side, the origin it first sent and
//! the last description it sent; [`OriginTracker::stamp`] fixes up the
//! next one. Not covered: persisting the tracker (it is plain data the
//! caller stores with the call).

use crate::model::{Origin, SessionDescription};

/// The side a description is sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Toward the calling party (the one that sent the initial INVITE).
    Caller,
    /// Toward the called party.
    Callee,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Sent {
    /// Origin as last sent (username, id, address pinned at first send).
    origin: Origin,
    /// Canonical text of the last description, with version 0.
    content: String,
}

/// Per-side memory of the last `o=` and description sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginTracker {
    caller: Option<Sent>,
    callee: Option<Sent>,
}

impl OriginTracker {
    /// A tracker that has sent nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The session version last sent to `side`.
    pub fn last_version(&self, side: Side) -> Option<u64> {
        self.slot(side).as_ref().map(|s| s.origin.session_version)
    }

    fn slot(&self, side: Side) -> &Option<Sent> {
        match side {
            Side::Caller => &self.caller,
            Side::Callee => &self.callee,
        }
    }

    /// Prepares `sdp` to be sent to `side` and records it; returns the
    /// session version written.
    ///
    /// - First description to this side: its `o=` is kept as is and
    ///   becomes the pinned origin.
    /// - Later ones: username, sess-id, nettype, addrtype and address are
    ///   reset to the pinned values; the version is the last one sent if
    ///   the description (ignoring the version) is identical to the last
    ///   one sent, else the last one plus one (saturating at 2^64−1).
    pub fn stamp(&mut self, side: Side, sdp: &mut SessionDescription) -> u64 {
        let slot = match side {
            Side::Caller => &mut self.caller,
            Side::Callee => &mut self.callee,
        };
        let version = match slot {
            None => sdp.origin.session_version,
            Some(last) => {
                let pinned_version = last.origin.session_version;
                sdp.origin = last.origin.clone();
                if content(sdp) == last.content {
                    pinned_version
                } else {
                    pinned_version.saturating_add(1)
                }
            }
        };
        sdp.origin.session_version = version;
        *slot = Some(Sent {
            origin: sdp.origin.clone(),
            content: content(sdp),
        });
        version
    }
}

/// Canonical text with the version zeroed.
fn content(sdp: &SessionDescription) -> String {
    let mut probe = sdp.clone();
    probe.origin.session_version = 0;
    probe.to_string()
}
