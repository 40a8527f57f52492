//! Responses from the network (RFC 3261 §16.7): matched to the branch's
//! client transaction, then relayed upstream through the server
//! transaction — provisionals (except 100) and every 2xx at once, other
//! finals kept until the response context decides. Responses matching no
//! transaction are relayed statelessly only when they answer a request
//! this proxy forwarded statelessly; OPTIONS probes report here too.

use crate::address::via_response_peer;
use crate::branch_id;
use crate::context::BranchState;
use crate::media::ResponseMedia;
use crate::policy::Policy;
use crate::proxy::{KIND_BRANCH, KIND_PROBE, Probe, Proxy};
use crate::slab::Handle;
use crate::timers::ProxyTimer;
use ferrovox_sip::rewrite::{Body, ResponseEdits, rewrite_response};
use ferrovox_sip::transaction::{Peer, ResponseOutcome, TransactionId};
use ferrovox_sip::validate::{ResponseInfo, validate_response};
use ferrovox_sip::{Message, Method};
use std::time::Instant;
use tracing::debug;

impl<P: Policy> Proxy<P> {
    pub(crate) fn on_response(&mut self, bytes: &[u8], now: Instant) {
        self.stats.responses += 1;
        let Ok(msg) = Message::parse(bytes) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        let info = match validate_response(&msg) {
            Ok(i) => i,
            Err(e) => {
                debug!(error = %e, "invalid response dropped");
                self.stats.dropped_malformed += 1;
                return;
            }
        };
        match self.layer.handle_response(&msg, now) {
            Ok(ResponseOutcome::Deliver { id, user }) => {
                let (kind, h) = Handle::from_token(user);
                match kind {
                    KIND_BRANCH => self.on_branch_response(h, id, &msg, &info, now),
                    KIND_PROBE if info.code >= 200 => self.finish_probe(h, Some(info.code)),
                    _ => {}
                }
            }
            Ok(ResponseOutcome::Absorbed { .. }) => self.stats.retransmissions_absorbed += 1,
            Ok(ResponseOutcome::Stray) => self.on_stray_response(&msg, &info, now),
            Err(e) => {
                debug!(error = %e, "response refused by the transaction layer");
                self.stats.dropped_malformed += 1;
            }
        }
    }

    fn on_branch_response(
        &mut self,
        bh: Handle,
        txn: TransactionId,
        msg: &Message<'_>,
        info: &ResponseInfo<'_>,
        now: Instant,
    ) {
        let Some(b) = self.branches.get_mut(bh) else {
            return;
        };
        if b.txn != Some(txn) {
            return; // the response to a CANCEL we sent
        }
        let Some(ctx_h) = b.context else { return };
        let code = info.code;
        let Some(ctx) = self.contexts.get(ctx_h) else {
            return;
        };
        let (is_invite, final_sent) = (ctx.is_invite, ctx.final_sent);
        match code {
            100..=199 => {
                let was_done = b.state == BranchState::Done;
                if b.state == BranchState::Trying {
                    b.state = BranchState::Proceeding;
                }
                let (cancel_pending, cancel_sent) = (b.cancel_pending, b.cancel_sent);
                if was_done {
                    return;
                }
                if is_invite {
                    if cancel_pending {
                        if self.send_cancel(bh, now) {
                            self.arm_branch(
                                bh,
                                ProxyTimer::CancelWait,
                                now + self.config.branch_response_timeout,
                            );
                        }
                    } else if !cancel_sent {
                        // Timer C, reset by every provisional (§16.7 step 2).
                        self.arm_branch(bh, ProxyTimer::TimerC, now + self.config.invite_timeout);
                    }
                } else {
                    // Timer F of the transaction bounds the rest.
                    self.disarm_branch(bh);
                }
                if code > 100 && !final_sent {
                    self.relay(ctx_h, msg, now);
                }
            }
            200..=299 => {
                self.relay(ctx_h, msg, now);
                if is_invite && let Some(to_tag) = info.to.tag() {
                    let from_tag = info.from.tag().unwrap_or(b"");
                    self.dialog_started(info.call_id, from_tag, to_tag, now);
                }
                self.branch_done(bh, code, false, None, now);
                if let Some(ctx) = self.contexts.get_mut(ctx_h)
                    && !ctx.final_sent
                {
                    ctx.final_sent = true;
                    ctx.cancelled = true;
                    if is_invite {
                        // §16.7 step 10: cancel the other branches.
                        self.cancel_branches(ctx_h, Some(bh), now);
                    }
                }
                self.maybe_free_context(ctx_h);
            }
            _ => {
                if b.state == BranchState::Done {
                    return; // decided already (Timer C, cancel wait)
                }
                self.branch_done(bh, code, false, Some(msg), now);
                if final_sent {
                    return;
                }
                if code >= 600 && is_invite {
                    // §16.7 step 5: no new branches, cancel the others;
                    // the 6xx is the best response whatever comes next.
                    if let Some(ctx) = self.contexts.get_mut(ctx_h) {
                        ctx.cancelled = true;
                    }
                    self.cancel_branches(ctx_h, Some(bh), now);
                    self.send_best(ctx_h, now);
                } else {
                    self.after_branch_final(ctx_h, now);
                }
            }
        }
    }

    /// Relay a response upstream through the context's server transaction
    /// (our Via removed); statelessly by the next Via when that
    /// transaction is gone.
    fn relay(&mut self, ctx_h: Handle, msg: &Message<'_>, now: Instant) {
        let Some(ctx) = self.contexts.get(ctx_h) else {
            return;
        };
        let (request_sdp, initial_invite) = (ctx.request_sdp, ctx.initial_invite);
        let media = self.response_media(msg, Some(request_sdp), now);
        if media != ResponseMedia::NoMedia
            && initial_invite
            && let Some(ctx) = self.contexts.get_mut(ctx_h)
        {
            ctx.media = true;
        }
        let edits = ResponseEdits {
            body: (media == ResponseMedia::Replaced).then_some(Body {
                content_type: None,
                bytes: &self.media_body,
            }),
            ..ResponseEdits::default()
        };
        if let Err(e) = rewrite_response(msg, &edits, &mut self.buf) {
            debug!(error = %e, "response could not be rewritten");
            return;
        }
        let server = self
            .contexts
            .get(ctx_h)
            .filter(|c| c.server_alive)
            .and_then(|c| c.server);
        let sent = server.is_some_and(|id| self.layer.respond(id, &self.buf, now).is_ok());
        if sent {
            self.stats.responses_relayed += 1;
        } else {
            self.relay_by_via(msg);
        }
    }

    /// Send the rewritten response in `buf` to where the Via below ours
    /// says (§18.2.2).
    fn relay_by_via(&mut self, msg: &Message<'_>) {
        let Some(dest) = msg
            .vias()
            .nth(1)
            .and_then(Result::ok)
            .and_then(|v| via_response_peer(&v))
        else {
            return;
        };
        self.stats.responses_relayed += 1;
        self.queue_buf(dest);
    }

    /// A response matching no client transaction: relayed statelessly if
    /// our Via (with a branch of ours) is on top and it can matter
    /// upstream — a response to a request forwarded statelessly (CANCEL)
    /// or a late 2xx to an INVITE. Otherwise discarded (RFC 6026 §7.1).
    fn on_stray_response(&mut self, msg: &Message<'_>, info: &ResponseInfo<'_>, now: Instant) {
        self.stats.stray_responses += 1;
        let ours = self.local.is_local_via(&info.top_via)
            && info
                .top_via
                .branch
                .and_then(branch_id::branch_hash)
                .is_some();
        if !ours || (info.cseq.method == Method::Invite && !(200..300).contains(&info.code)) {
            return;
        }
        // A 2xx retransmitted after the transaction ended must carry the
        // same rewritten SDP as the first one.
        let media = self.response_media(msg, None, now);
        let edits = ResponseEdits {
            body: (media == ResponseMedia::Replaced).then_some(Body {
                content_type: None,
                bytes: &self.media_body,
            }),
            ..ResponseEdits::default()
        };
        if rewrite_response(msg, &edits, &mut self.buf).is_ok() {
            self.relay_by_via(msg);
        }
    }

    /// Send an OPTIONS probe (for gateway health) to `uri` via `dest`; the
    /// result comes back as [`crate::ProxyEvent::ProbeResult`] with
    /// `token`: the final status, or `None` on timeout (Timer F) or
    /// transport error.
    pub fn send_probe(&mut self, uri: &str, dest: Peer, token: u64, now: Instant) {
        self.probe_seq = self.probe_seq.wrapping_add(1);
        let Some(h) = self.probes.insert(|p: &mut Probe| {
            p.token = token;
            p.dest = Some(dest);
            p.done = false;
        }) else {
            self.events.push_back(crate::ProxyEvent::ProbeResult {
                token,
                status: None,
            });
            return;
        };
        let id = branch_id::mix(self.config.branch_salt, self.probe_seq);
        let mut b = std::mem::take(&mut self.buf);
        b.clear();
        b.extend_from_slice(b"OPTIONS ");
        b.extend_from_slice(uri.as_bytes());
        b.extend_from_slice(b" SIP/2.0\r\nVia: ");
        b.extend_from_slice(self.local.via_prefix(dest.transport));
        branch_id::write_branch(&mut b, id, 0);
        b.extend_from_slice(b";rport\r\nMax-Forwards: 70\r\nFrom: <sip:ferrovox@");
        b.extend_from_slice(self.config.via_udp.to_string().as_bytes());
        b.extend_from_slice(b">;tag=");
        branch_id::write_hex(&mut b, id.rotate_left(32));
        b.extend_from_slice(b"\r\nTo: <");
        b.extend_from_slice(uri.as_bytes());
        b.extend_from_slice(b">\r\nCall-ID: ");
        branch_id::write_hex(&mut b, id);
        b.extend_from_slice(b"@ferrovox\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
        let sent = self.layer.send_request(&b, dest, h.token(KIND_PROBE), now);
        self.buf = b;
        if let Err(e) = sent {
            debug!(error = %e, uri, "probe could not be sent");
            self.finish_probe(h, None);
            self.probes.remove(h);
        }
        self.pump(now);
    }
}
