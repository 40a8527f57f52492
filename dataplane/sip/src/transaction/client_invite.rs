//! INVITE client transaction (RFC 3261 §17.1.1, Figure 5; RFC 6026 §8.4
//! Accepted state and Timer M), the ACK for non-2xx final responses
//! (§17.1.1.3) and CANCEL construction (§9.1).
//!
//! Calling: the INVITE is retransmitted on Timer A (T1, doubling, UDP
//! only); Timer B (64·T1) reports [`super::Event::Timeout`] (the TU acts as
//! on a 408). A provisional response moves to Proceeding (no more
//! retransmissions, no timeout: a proxy runs Timer C in its core). A 2xx
//! is passed up and moves to Accepted (Timer M, 64·T1, every 2xx
//! retransmission passed up so the TU can ACK it) — or terminates when
//! RFC 6026 is switched off. A 300–699 is passed up, acknowledged with an
//! ACK built here, and moves to Completed, where retransmissions of the
//! response are absorbed and answered with the same ACK until Timer D
//! (32 s on UDP, 0 on reliable transports).
//!
//! Not here: the ACK for a 2xx (a new transaction-less request built by the
//! UAC core, §13.2.2.4), Timer C (§16.6 step 11).

use super::layer::TransactionLayer;
use super::timer::Timer;
use super::{Event, ResponseOutcome, TransactionError, TransactionState};
use crate::parse::header::HeaderName;
use crate::parse::message::Message;
use crate::rewrite::write_num;
use std::time::{Duration, Instant};

/// States of Figure 5 (+ RFC 6026 Accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientInviteState {
    /// INVITE sent, no response yet (Timers A, B).
    Calling,
    /// A provisional response arrived.
    Proceeding,
    /// A 300–699 arrived and was acknowledged (Timer D).
    Completed,
    /// A 2xx arrived (RFC 6026, Timer M).
    Accepted,
}

fn copy_line(buf: &[u8], h: &crate::Header<'_>, out: &mut Vec<u8>) {
    let end = h.value_offset + h.value.len();
    out.extend_from_slice(buf.get(h.line.start..end).unwrap_or(&[]));
    out.extend_from_slice(b"\r\n");
}

/// Shared by ACK and CANCEL: Request-URI, single top Via, Route headers,
/// Max-Forwards 70, From, To (from `to_from`), Call-ID, CSeq number with
/// `method`, empty body.
fn build_from(
    request: &Message<'_>,
    method: &[u8],
    to_from: &Message<'_>,
    out: &mut Vec<u8>,
) -> Result<(), TransactionError> {
    let rl = request
        .request_line()
        .ok_or(TransactionError::NotARequest)?;
    let via = request.top_via()?;
    let cseq = request.cseq()?;
    let from = request
        .header(HeaderName::From)
        .ok_or(crate::ParseError::Missing { name: "From" })?;
    let to = to_from
        .header(HeaderName::To)
        .ok_or(crate::ParseError::Missing { name: "To" })?;
    let call_id = request
        .header(HeaderName::CallId)
        .ok_or(crate::ParseError::Missing { name: "Call-ID" })?;
    out.clear();
    out.reserve(384);
    out.extend_from_slice(method);
    out.push(b' ');
    out.extend_from_slice(rl.uri_raw);
    out.extend_from_slice(b" SIP/2.0\r\nVia: ");
    out.extend_from_slice(via.raw);
    out.extend_from_slice(b"\r\n");
    let rbuf = request.buffer();
    for h in request.headers_of(HeaderName::Route) {
        copy_line(rbuf, &h, out);
    }
    out.extend_from_slice(b"Max-Forwards: 70\r\n");
    copy_line(rbuf, &from, out);
    copy_line(to_from.buffer(), &to, out);
    copy_line(rbuf, &call_id, out);
    out.extend_from_slice(b"CSeq: ");
    write_num(out, cseq.seq as usize);
    out.push(b' ');
    out.extend_from_slice(method);
    out.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
    Ok(())
}

/// The ACK for a non-2xx final `response` to INVITE `request`
/// (§17.1.1.3): same Request-URI, the request's top Via only, its Route
/// headers, From, Call-ID and CSeq number (method ACK), and the To of the
/// response (with its tag). Written into `out` (cleared first).
pub fn build_ack(
    request: &Message<'_>,
    response: &Message<'_>,
    out: &mut Vec<u8>,
) -> Result<(), TransactionError> {
    if response.is_request() {
        return Err(TransactionError::NotAResponse);
    }
    build_from(request, b"ACK", response, out)
}

/// A CANCEL for `request` (§9.1): same Request-URI, top Via only, Route
/// headers, From, To, Call-ID and CSeq number (method CANCEL). Written into
/// `out` (cleared first).
pub fn build_cancel(request: &Message<'_>, out: &mut Vec<u8>) -> Result<(), TransactionError> {
    build_from(request, b"CANCEL", request, out)
}

impl TransactionLayer {
    pub(super) fn client_invite_response(
        &mut self,
        idx: u32,
        state: ClientInviteState,
        code: u16,
        msg: &Message<'_>,
        now: Instant,
    ) -> Result<ResponseOutcome, TransactionError> {
        use ClientInviteState::*;
        let id = self.id_of(idx);
        let user = self.txn(idx).map_or(0, |t| t.user);
        let deliver = ResponseOutcome::Deliver { id, user };
        let t1 = self.config.t1;
        match (state, code) {
            (Calling | Proceeding, 100..=199) => {
                self.set_state(idx, TransactionState::ClientInvite(Proceeding));
                self.disarm(idx, 0);
                self.disarm(idx, 1);
                Ok(deliver)
            }
            (Calling | Proceeding, 200..=299) => {
                if self.config.rfc6026 {
                    self.set_state(idx, TransactionState::ClientInvite(Accepted));
                    self.disarm(idx, 0);
                    if let Some(t) = self.txn_mut(idx) {
                        t.buf = Vec::new();
                    }
                    self.arm(idx, Timer::M, now + t1 * 64);
                } else {
                    self.terminate(idx);
                }
                Ok(deliver)
            }
            (Calling | Proceeding, _) => {
                let mut ack = std::mem::take(&mut self.scratch);
                let built = match self.txn(idx) {
                    Some(t) => Message::parse(&t.buf)
                        .map_err(TransactionError::from)
                        .and_then(|req| build_ack(&req, msg, &mut ack)),
                    None => Err(TransactionError::UnknownTransaction),
                };
                if let Err(e) = built {
                    self.scratch = ack;
                    return Err(e);
                }
                // The request is no longer needed: keep the ACK instead.
                if let Some(t) = self.txn_mut(idx) {
                    t.buf.clear();
                    t.buf.extend_from_slice(&ack);
                    t.buf.shrink_to_fit();
                }
                self.scratch = ack;
                self.send_buf(idx);
                self.set_state(idx, TransactionState::ClientInvite(Completed));
                self.disarm(idx, 0);
                if self.reliable(idx) {
                    self.terminate(idx);
                } else {
                    let d = Duration::from_secs(32).max(t1 * 64);
                    self.arm(idx, Timer::D, now + d);
                }
                Ok(deliver)
            }
            (Completed, 300..=699) => {
                self.send_buf(idx);
                Ok(ResponseOutcome::Absorbed { id })
            }
            (Accepted, 200..=299) => Ok(deliver),
            (Completed | Accepted, _) => Ok(ResponseOutcome::Absorbed { id }),
        }
    }

    pub(super) fn client_invite_timer(
        &mut self,
        idx: u32,
        state: ClientInviteState,
        timer: Timer,
        fired: Instant,
        now: Instant,
    ) {
        use ClientInviteState::*;
        match (state, timer) {
            (Calling, Timer::A) => {
                self.send_buf(idx);
                let n = self.txn_mut(idx).map_or(1, |t| {
                    t.retx = t.retx.saturating_add(1);
                    t.retx
                });
                let interval = self.config.t1 * (1u32 << n.min(16));
                let at = Self::next_at(fired, interval, now);
                self.arm(idx, Timer::A, at);
            }
            (Calling, Timer::B) => {
                let id = self.id_of(idx);
                let user = self.txn(idx).map_or(0, |t| t.user);
                self.emit(Event::Timeout {
                    id,
                    user,
                    timer: Timer::B,
                });
                self.terminate(idx);
            }
            (Completed, Timer::D) | (Accepted, Timer::M) => self.terminate(idx),
            _ => {}
        }
    }
}
