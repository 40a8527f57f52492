//! INVITE server transaction (RFC 3261 §17.2.1, Figure 7; RFC 6026 §8.5–
//! §8.7 Accepted state and Timer L).
//!
//! Proceeding: created by an INVITE; 100 Trying is sent at once, after
//! 200 ms unless the TU answered provisionally first, or never
//! ([`super::TryingPolicy`]). Retransmitted INVITEs are answered with the
//! last provisional response. A 2xx from the TU is sent and moves to
//! Accepted (RFC 6026: INVITE retransmissions absorbed, further 2xx from the
//! TU — its own retransmissions, §13.3.1.4 — passed to the transport, ACKs
//! handed to the TU, Timer L 64·T1) or terminates (RFC 3261 alone). A
//! 300–699 is sent and moves to Completed: Timer G retransmits it (T1
//! doubling to T2, UDP only), INVITE retransmissions re-send it, Timer H
//! (64·T1) without an ACK reports [`super::Event::Timeout`]. The ACK moves
//! to Confirmed, which absorbs ACK retransmissions until Timer I (T4 on
//! UDP, 0 on reliable transports).
//!
//! Not here: the UAS core's 2xx retransmission timer (§13.3.1.4) and
//! RFC 3262 reliable provisionals.

use super::layer::{FLAG_TRYING_REBUILD, FLAG_TRYING_UNSENT, TransactionLayer};
use super::timer::Timer;
use super::{
    Event, Peer, RequestOutcome, TransactionError, TransactionState, TryingPolicy, key::KeyRef,
};
use crate::build::ResponseBuilder;
use crate::parse::message::Message;
use std::time::{Duration, Instant};

/// States of Figure 7 (+ RFC 6026 Accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerInviteState {
    /// INVITE received, no final response yet.
    Proceeding,
    /// A 300–699 was sent (Timers G, H).
    Completed,
    /// The ACK arrived (Timer I).
    Confirmed,
    /// A 2xx was sent (RFC 6026, Timer L).
    Accepted,
}

impl TransactionLayer {
    pub(super) fn server_invite_new(
        &mut self,
        key: &KeyRef<'_>,
        msg: &Message<'_>,
        source: Peer,
        now: Instant,
    ) -> Result<RequestOutcome, TransactionError> {
        let policy = self.trying_policy();
        // The 100 Trying sent at once is not kept: a retransmitted INVITE
        // (identical bytes) rebuilds the identical 100. Only the delayed one
        // is prebuilt and kept, as the INVITE is gone when Timer Trying fires.
        let mut buf = Vec::new();
        let mut flags = 0;
        match policy {
            TryingPolicy::Immediate => {
                ResponseBuilder::new(100, b"Trying").write(msg, &mut self.scratch)?;
                flags = FLAG_TRYING_REBUILD;
            }
            TryingPolicy::After200ms => {
                ResponseBuilder::new(100, b"Trying").write(msg, &mut buf)?;
                buf.shrink_to_fit();
                flags = FLAG_TRYING_UNSENT;
            }
            TryingPolicy::Never => {}
        }
        let idx = self.insert(
            key,
            TransactionState::ServerInvite(ServerInviteState::Proceeding),
            source,
            0,
            buf,
        )?;
        if let Some(t) = self.txn_mut(idx) {
            t.flags = flags;
        }
        match policy {
            TryingPolicy::Immediate => self.send_scratch(idx),
            TryingPolicy::After200ms => {
                self.arm(idx, Timer::Trying, now + Duration::from_millis(200));
            }
            TryingPolicy::Never => {}
        }
        Ok(RequestOutcome::New {
            id: self.id_of(idx),
            cancels: None,
        })
    }

    /// A retransmitted INVITE.
    pub(super) fn server_invite_retransmission(
        &mut self,
        idx: u32,
        state: ServerInviteState,
        msg: &Message<'_>,
    ) {
        match state {
            ServerInviteState::Proceeding | ServerInviteState::Completed => {
                let Some(t) = self.txn_mut(idx) else { return };
                if !t.buf.is_empty() {
                    t.flags &= !FLAG_TRYING_UNSENT;
                    self.send_buf(idx);
                } else if t.flags & FLAG_TRYING_REBUILD != 0
                    && ResponseBuilder::new(100, b"Trying")
                        .write(msg, &mut self.scratch)
                        .is_ok()
                {
                    self.send_scratch(idx);
                }
            }
            ServerInviteState::Confirmed | ServerInviteState::Accepted => {}
        }
    }

    /// An ACK matched to INVITE server transaction `idx`.
    pub(super) fn server_invite_ack(&mut self, idx: u32, now: Instant) -> RequestOutcome {
        let id = self.id_of(idx);
        match self.txn(idx).map(|t| t.state) {
            Some(TransactionState::ServerInvite(ServerInviteState::Completed)) => {
                self.set_state(
                    idx,
                    TransactionState::ServerInvite(ServerInviteState::Confirmed),
                );
                self.disarm(idx, 0);
                if self.reliable(idx) {
                    self.terminate(idx);
                } else {
                    let t4 = self.config.t4;
                    self.arm(idx, Timer::I, now + t4);
                }
                RequestOutcome::AckAbsorbed { id }
            }
            Some(TransactionState::ServerInvite(ServerInviteState::Confirmed)) => {
                RequestOutcome::AckAbsorbed { id }
            }
            // Accepted (RFC 6026: pass ACKs to the TU), or an ACK before
            // any final response.
            Some(TransactionState::ServerInvite(_)) => {
                RequestOutcome::Stateless { matched: Some(id) }
            }
            _ => RequestOutcome::Stateless { matched: None },
        }
    }

    pub(super) fn server_invite_respond(
        &mut self,
        idx: u32,
        state: ServerInviteState,
        code: u16,
        response: &[u8],
        now: Instant,
    ) -> Result<(), TransactionError> {
        use ServerInviteState::*;
        let t1 = self.config.t1;
        match (state, code) {
            (Proceeding, 100..=199) => {
                self.disarm(idx, 0);
                if let Some(t) = self.txn_mut(idx) {
                    t.flags = 0;
                    t.buf.clear();
                    t.buf.extend_from_slice(response);
                }
                self.send_buf(idx);
            }
            (Proceeding, 200..=299) => {
                self.send_bytes(idx, response);
                self.disarm(idx, 0);
                if self.config.rfc6026 {
                    self.set_state(idx, TransactionState::ServerInvite(Accepted));
                    if let Some(t) = self.txn_mut(idx) {
                        t.buf = Vec::new();
                    }
                    self.arm(idx, Timer::L, now + t1 * 64);
                } else {
                    self.terminate(idx);
                }
            }
            (Proceeding, _) => {
                if let Some(t) = self.txn_mut(idx) {
                    t.flags = 0;
                    t.buf.clear();
                    t.buf.extend_from_slice(response);
                }
                self.send_buf(idx);
                self.set_state(idx, TransactionState::ServerInvite(Completed));
                if self.reliable(idx) {
                    self.disarm(idx, 0);
                } else {
                    self.arm(idx, Timer::G, now + t1);
                }
                self.arm(idx, Timer::H, now + t1 * 64);
            }
            (Accepted, 200..=299) => self.send_bytes(idx, response),
            (state, _) => {
                return Err(TransactionError::InvalidState {
                    state: TransactionState::ServerInvite(state),
                    action: "sending this response",
                });
            }
        }
        Ok(())
    }

    pub(super) fn server_invite_timer(
        &mut self,
        idx: u32,
        state: ServerInviteState,
        timer: Timer,
        fired: Instant,
        now: Instant,
    ) {
        use ServerInviteState::*;
        match (state, timer) {
            (Proceeding, Timer::Trying)
                if self
                    .txn(idx)
                    .is_some_and(|t| t.flags & FLAG_TRYING_UNSENT != 0) =>
            {
                if let Some(t) = self.txn_mut(idx) {
                    t.flags &= !FLAG_TRYING_UNSENT;
                }
                self.send_buf(idx);
            }
            (Completed, Timer::G) => {
                self.send_buf(idx);
                let n = self.txn_mut(idx).map_or(1, |t| {
                    t.retx = t.retx.saturating_add(1);
                    t.retx
                });
                let (t1, t2) = (self.config.t1, self.config.t2);
                let interval = (t1 * (1u32 << n.min(16))).min(t2);
                let at = Self::next_at(fired, interval, now);
                self.arm(idx, Timer::G, at);
            }
            (Completed, Timer::H) => {
                let id = self.id_of(idx);
                let user = self.txn(idx).map_or(0, |t| t.user);
                self.emit(Event::Timeout {
                    id,
                    user,
                    timer: Timer::H,
                });
                self.terminate(idx);
            }
            (Confirmed, Timer::I) | (Accepted, Timer::L) => self.terminate(idx),
            _ => {}
        }
    }
}
