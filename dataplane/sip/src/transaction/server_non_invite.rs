//! Non-INVITE server transaction (RFC 3261 §17.2.2, Figure 8).
//!
//! Trying: created by a request other than INVITE and ACK (CANCEL
//! included, §9.2); retransmissions are absorbed silently. A provisional
//! response from the TU moves to Proceeding, where retransmissions are
//! answered with it. A final response moves to Completed, where
//! retransmissions are answered with it until Timer J (64·T1 on UDP, 0 on
//! reliable transports); further responses from the TU are refused.
//!
//! Not here: the §9.2 semantics of CANCEL (answering 200 to the CANCEL,
//! 487 to the INVITE) belong to the TU; the layer only tells it which
//! INVITE transaction a CANCEL matches.

use super::layer::TransactionLayer;
use super::timer::Timer;
use super::{Peer, TransactionError, TransactionId, TransactionState, key::KeyRef};
use std::time::Instant;

/// States of Figure 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerNonInviteState {
    /// Request received, nothing sent.
    Trying,
    /// A provisional response was sent.
    Proceeding,
    /// A final response was sent (Timer J).
    Completed,
}

impl TransactionLayer {
    pub(super) fn server_non_invite_new(
        &mut self,
        key: &KeyRef<'_>,
        source: Peer,
        _now: Instant,
    ) -> Result<TransactionId, TransactionError> {
        let idx = self.insert(
            key,
            TransactionState::ServerNonInvite(ServerNonInviteState::Trying),
            source,
            0,
            Vec::new(),
        )?;
        Ok(self.id_of(idx))
    }

    pub(super) fn server_non_invite_retransmission(
        &mut self,
        idx: u32,
        state: ServerNonInviteState,
    ) {
        match state {
            ServerNonInviteState::Trying => {}
            ServerNonInviteState::Proceeding | ServerNonInviteState::Completed => {
                self.send_buf(idx)
            }
        }
    }

    pub(super) fn server_non_invite_respond(
        &mut self,
        idx: u32,
        state: ServerNonInviteState,
        code: u16,
        response: &[u8],
        now: Instant,
    ) -> Result<(), TransactionError> {
        use ServerNonInviteState::*;
        if state == Completed {
            return Err(TransactionError::InvalidState {
                state: TransactionState::ServerNonInvite(state),
                action: "sending a response after the final one",
            });
        }
        let reliable = self.reliable(idx);
        if code >= 200 && reliable {
            // Timer J is zero: nothing to keep.
            self.send_bytes(idx, response);
            self.terminate(idx);
            return Ok(());
        }
        if let Some(t) = self.txn_mut(idx) {
            t.buf.clear();
            t.buf.extend_from_slice(response);
        }
        self.send_buf(idx);
        if code < 200 {
            self.set_state(idx, TransactionState::ServerNonInvite(Proceeding));
        } else {
            self.set_state(idx, TransactionState::ServerNonInvite(Completed));
            let t1 = self.config.t1;
            self.arm(idx, Timer::J, now + t1 * 64);
        }
        Ok(())
    }

    pub(super) fn server_non_invite_timer(
        &mut self,
        idx: u32,
        state: ServerNonInviteState,
        timer: Timer,
        _fired: Instant,
        _now: Instant,
    ) {
        if (state, timer) == (ServerNonInviteState::Completed, Timer::J) {
            self.terminate(idx);
        }
    }
}
