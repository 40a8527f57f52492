//! Non-INVITE client transaction (RFC 3261 §17.1.2, Figure 6).
//!
//! Trying: the request is retransmitted on Timer E (T1 doubling up to T2,
//! UDP only); Timer F (64·T1) reports [`super::Event::Timeout`] (the TU
//! acts as on a 408). A provisional response moves to Proceeding, where
//! Timer E keeps firing every T2. A final response is passed up and moves
//! to Completed, which absorbs response retransmissions until Timer K (T4
//! on UDP, 0 on reliable transports). Responses other than the first final
//! one are absorbed in Completed.
//!
//! Not here: RFC 4320/4321 changes (408 handling for non-INVITE).

use super::layer::TransactionLayer;
use super::timer::Timer;
use super::{Event, ResponseOutcome, TransactionState};
use std::time::Instant;

/// States of Figure 6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientNonInviteState {
    /// Request sent, no response yet (Timers E, F).
    Trying,
    /// A provisional response arrived (Timer E at T2, F).
    Proceeding,
    /// A final response arrived (Timer K).
    Completed,
}

impl TransactionLayer {
    pub(super) fn client_non_invite_response(
        &mut self,
        idx: u32,
        state: ClientNonInviteState,
        code: u16,
        now: Instant,
    ) -> ResponseOutcome {
        use ClientNonInviteState::*;
        let id = self.id_of(idx);
        let user = self.txn(idx).map_or(0, |t| t.user);
        match state {
            Trying | Proceeding if code < 200 => {
                self.set_state(idx, TransactionState::ClientNonInvite(Proceeding));
                ResponseOutcome::Deliver { id, user }
            }
            Trying | Proceeding => {
                self.set_state(idx, TransactionState::ClientNonInvite(Completed));
                self.disarm(idx, 0);
                if self.reliable(idx) {
                    self.terminate(idx);
                } else {
                    if let Some(t) = self.txn_mut(idx) {
                        t.buf = Vec::new();
                    }
                    let t4 = self.config.t4;
                    self.arm(idx, Timer::K, now + t4);
                }
                ResponseOutcome::Deliver { id, user }
            }
            Completed => ResponseOutcome::Absorbed { id },
        }
    }

    pub(super) fn client_non_invite_timer(
        &mut self,
        idx: u32,
        state: ClientNonInviteState,
        timer: Timer,
        fired: Instant,
        now: Instant,
    ) {
        use ClientNonInviteState::*;
        match (state, timer) {
            (Trying | Proceeding, Timer::E) => {
                self.send_buf(idx);
                let n = self.txn_mut(idx).map_or(1, |t| {
                    t.retx = t.retx.saturating_add(1);
                    t.retx
                });
                let (t1, t2) = (self.config.t1, self.config.t2);
                let interval = if state == Proceeding {
                    t2
                } else {
                    (t1 * (1u32 << n.min(16))).min(t2)
                };
                let at = Self::next_at(fired, interval, now);
                self.arm(idx, Timer::E, at);
            }
            (Trying | Proceeding, Timer::F) => {
                let id = self.id_of(idx);
                let user = self.txn(idx).map_or(0, |t| t.user);
                self.emit(Event::Timeout {
                    id,
                    user,
                    timer: Timer::F,
                });
                self.terminate(idx);
            }
            (Completed, Timer::K) => self.terminate(idx),
            _ => {}
        }
    }
}
