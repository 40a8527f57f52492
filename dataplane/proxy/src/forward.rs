//! Forwarding (RFC 3261 §16.6) and the response context (§16.7, §16.8
//! Timer C, §16.10 CANCEL): branches, their timers, failover between
//! groups, choosing and sending the final response.

use crate::address::write_ip;
use crate::branch_id;
use crate::context::{Best, BranchState, Targets, rank};
use crate::policy::Policy;
use crate::proxy::{KIND_BRANCH, Proxy};
use crate::slab::Handle;
use crate::timers::ProxyTimer;
use ferrovox_sip::Message;
use ferrovox_sip::rewrite::{
    RequestEdits, ResponseEdits, Source, rewrite_request_from, rewrite_response,
};
use ferrovox_sip::transaction::{ClientInviteState, TransactionId, TransactionState};
use std::time::Instant;
use tracing::debug;

/// Free response contexts that keep their buffers for reuse.
const RETAINED_CONTEXTS: usize = 1024;

/// Reason phrases of responses this proxy generates.
pub(crate) fn reason(code: u16) -> &'static [u8] {
    match code {
        408 => b"Request Timeout",
        480 => b"Temporarily Unavailable",
        487 => b"Request Terminated",
        500 => b"Server Internal Error",
        503 => b"Service Unavailable",
        _ => b"Error",
    }
}

impl<P: Policy> Proxy<P> {
    /// Start every target of the context's current group (§16.6), using
    /// `msg` (the request as stored in the context).
    pub(crate) fn start_group(&mut self, ctx_h: Handle, msg: &Message<'_>, now: Instant) {
        let Some(ctx) = self.contexts.get_mut(ctx_h) else {
            return;
        };
        ctx.group_best = None;
        let group = ctx.group;
        let count = ctx.targets.group_len(group);
        for index in 0..count {
            self.start_branch(ctx_h, msg, group, index, now);
        }
    }

    fn start_branch(
        &mut self,
        ctx_h: Handle,
        msg: &Message<'_>,
        group: usize,
        index: usize,
        now: Instant,
    ) {
        let Some(ctx) = self.contexts.get(ctx_h) else {
            return;
        };
        let Some((dest, uri)) = ctx.targets.get(group, index) else {
            return;
        };
        let n = u32::try_from(ctx.branches.len()).unwrap_or(u32::MAX);
        let Some(source) = ctx.source else { return };
        // Via with this branch's id.
        self.via.clear();
        self.via
            .extend_from_slice(self.local.via_prefix(dest.transport));
        let branch_start = self.via.len();
        branch_id::write_branch(&mut self.via, ctx.hash, n);
        let branch_end = self.via.len();
        self.via.extend_from_slice(b";rport");
        if ctx.record_route {
            self.local
                .write_record_route(source.transport, dest.transport, &mut self.rr);
        }
        write_ip(source.addr.ip(), &mut self.ip_text);
        let edits = RequestEdits {
            via: Some(&self.via),
            record_route: ctx.record_route.then_some(self.rr.as_slice()),
            decrement_max_forwards: true,
            remove_top_route: ctx.remove_top_route,
            request_uri: (!uri.is_empty()).then_some(uri.as_bytes()),
            body: None,
        };
        let src = Source {
            ip: &self.ip_text,
            port: source.addr.port(),
        };
        let written = rewrite_request_from(msg, &edits, Some(src), &mut self.buf);
        let Some(bh) = self.branches.insert(|b| {
            b.reset();
            b.context = Some(ctx_h);
            b.dest = Some(dest);
            b.group = u16::try_from(group).unwrap_or(u16::MAX);
            b.index = u16::try_from(index).unwrap_or(u16::MAX);
        }) else {
            return;
        };
        if let Some(ctx) = self.contexts.get_mut(ctx_h) {
            ctx.branches.push(bh);
            ctx.pending += 1;
        }
        let sent = written
            .map_err(ferrovox_sip::transaction::TransactionError::from)
            .and_then(|()| {
                let method = msg.method().unwrap_or(ferrovox_sip::Method::Options);
                let branch = self.via.get(branch_start..branch_end).unwrap_or(&[]);
                self.layer.send_request_prepared(
                    &self.buf,
                    method,
                    branch,
                    dest,
                    bh.token(KIND_BRANCH),
                    now,
                )
            });
        match sent {
            Ok(txn) => {
                if let Some(b) = self.branches.get_mut(bh) {
                    b.txn = Some(txn);
                    b.txn_alive = true;
                }
                if let Some(ctx) = self.contexts.get_mut(ctx_h) {
                    ctx.live_branches += 1;
                }
                self.stats.forwarded += 1;
                self.arm_branch(
                    bh,
                    ProxyTimer::BranchResponse,
                    now + self.config.branch_response_timeout,
                );
            }
            Err(e) => {
                debug!(error = %e, "could not forward to a target");
                self.branch_done(bh, 500, true, None, now);
                self.branches.remove(bh);
            }
        }
    }

    /// Record the outcome of branch `bh`: state, timer, policy feedback,
    /// the context's best responses. `response` is the received final
    /// response (None when generated here).
    pub(crate) fn branch_done(
        &mut self,
        bh: Handle,
        code: u16,
        synthetic: bool,
        response: Option<&Message<'_>>,
        now: Instant,
    ) {
        let Some(b) = self.branches.get_mut(bh) else {
            return;
        };
        if b.state == BranchState::Done {
            return;
        }
        b.state = BranchState::Done;
        b.code = code;
        b.synthetic = synthetic;
        b.timer_seq = b.timer_seq.wrapping_add(1);
        let (group, index) = (usize::from(b.group), usize::from(b.index));
        let Some(ctx_h) = b.context else { return };
        let Some(ctx) = self.contexts.get_mut(ctx_h) else {
            return;
        };
        ctx.pending = ctx.pending.saturating_sub(1);
        let new = Best { code, synthetic };
        if usize::from(b.group) == ctx.group
            && ctx
                .group_best
                .is_none_or(|g| rank(code, synthetic) < rank(g.code, g.synthetic))
        {
            ctx.group_best = Some(new);
        }
        if ctx
            .best
            .is_none_or(|g| rank(code, synthetic) < rank(g.code, g.synthetic))
        {
            ctx.best = Some(new);
            if let Some(r) = response
                && rewrite_response(r, &ResponseEdits::default(), &mut ctx.best_bytes).is_err()
            {
                ctx.best = Some(Best {
                    code,
                    synthetic: true,
                });
            }
        }
        match &ctx.targets {
            Targets::Plan(p) => {
                if let Some(target) = p.groups.get(group).and_then(|g| g.get(index)) {
                    self.policy.branch_result(target, code, now);
                }
            }
            Targets::Direct(dest) => {
                let target = crate::Target::to_peer(*dest);
                self.policy.branch_result(&target, code, now);
            }
            Targets::None => {}
        }
    }

    /// A branch timed out (Timer B/F: 408) or failed in transport (503).
    pub(crate) fn branch_failed(
        &mut self,
        bh: Handle,
        txn: TransactionId,
        code: u16,
        now: Instant,
    ) {
        let Some(b) = self.branches.get(bh) else {
            return;
        };
        if b.txn != Some(txn) || b.state == BranchState::Done {
            return; // a CANCEL's transaction, or already decided
        }
        let Some(ctx_h) = b.context else { return };
        self.branch_done(bh, code, true, None, now);
        self.after_branch_final(ctx_h, now);
    }

    /// A branch's client transaction left the layer.
    pub(crate) fn branch_terminated(&mut self, bh: Handle, txn: TransactionId) {
        let Some(b) = self.branches.get_mut(bh) else {
            return;
        };
        if b.txn != Some(txn) {
            return;
        }
        b.txn_alive = false;
        let ctx_h = b.context;
        if b.state != BranchState::Done {
            // Ended without an outcome (cannot happen with RFC 6026 on);
            // count it as a timeout.
            b.state = BranchState::Done;
            b.code = 408;
            if let Some(ctx) = ctx_h.and_then(|h| self.contexts.get_mut(h)) {
                ctx.pending = ctx.pending.saturating_sub(1);
            }
        }
        self.branches.remove(bh);
        if let Some(h) = ctx_h {
            if let Some(ctx) = self.contexts.get_mut(h) {
                ctx.live_branches = ctx.live_branches.saturating_sub(1);
            }
            self.maybe_free_context(h);
        }
    }

    /// Free a context that has nothing left to do: its final response was
    /// sent (or its server transaction is gone) and no branch transaction
    /// is alive.
    pub(crate) fn maybe_free_context(&mut self, h: Handle) {
        let Some(ctx) = self.contexts.get(h) else {
            return;
        };
        if (ctx.final_sent || !ctx.server_alive) && ctx.live_branches == 0 {
            // Free slots keep their buffers for reuse, but only so many:
            // after a burst the memory goes back.
            let keep_buffers = self.contexts.free_len() < RETAINED_CONTEXTS;
            if let Some(ctx) = self.contexts.get_mut(h) {
                ctx.targets = Targets::None;
                if !keep_buffers {
                    ctx.request = Vec::new();
                    ctx.best_bytes = Vec::new();
                    ctx.branches = Vec::new();
                }
            }
            self.contexts.remove(h);
        }
    }

    /// After a branch outcome: fail over to the next group, or send the
    /// best final response when nothing is pending (§16.7 steps 4–6).
    pub(crate) fn after_branch_final(&mut self, ctx_h: Handle, now: Instant) {
        loop {
            let Some(ctx) = self.contexts.get_mut(ctx_h) else {
                return;
            };
            if ctx.final_sent {
                self.maybe_free_context(ctx_h);
                return;
            }
            if ctx.pending > 0 {
                return;
            }
            let failover = !ctx.cancelled
                && ctx.group + 1 < ctx.targets.groups()
                && ctx
                    .group_best
                    .is_none_or(|b| b.synthetic || ctx.targets.fails_over_on(b.code));
            if !failover {
                self.send_best(ctx_h, now);
                return;
            }
            ctx.group += 1;
            let request = std::mem::take(&mut ctx.request);
            match Message::parse(&request) {
                Ok(m) => self.start_group(ctx_h, &m, now),
                Err(_) => {
                    if let Some(ctx) = self.contexts.get_mut(ctx_h) {
                        ctx.request = request;
                    }
                    self.send_best(ctx_h, now);
                    return;
                }
            }
            if let Some(ctx) = self.contexts.get_mut(ctx_h) {
                ctx.request = request;
            }
        }
    }

    /// Send the best final response upstream (§16.7 step 6: 503 becomes
    /// 500; responses generated here for timeouts, transport errors and
    /// cancelled branches).
    pub(crate) fn send_best(&mut self, ctx_h: Handle, now: Instant) {
        let Some(ctx) = self.contexts.get_mut(ctx_h) else {
            return;
        };
        if ctx.final_sent {
            return;
        }
        ctx.final_sent = true;
        let Some(server) = ctx.server else { return };
        let best = ctx.best.unwrap_or(Best {
            code: 408,
            synthetic: true,
        });
        let sent_code = if best.code == 503 { 500 } else { best.code };
        self.media_failed(ctx_h, sent_code, now);
        let Some(ctx) = self.contexts.get_mut(ctx_h) else {
            return;
        };
        if best.synthetic {
            let request = std::mem::take(&mut ctx.request);
            if let Ok(m) = Message::parse(&request) {
                let code = if best.code == 503 { 500 } else { best.code };
                self.reply_through(server, &m, code, reason(code), &[], now);
            }
            if let Some(ctx) = self.contexts.get_mut(ctx_h) {
                ctx.request = request;
            }
        } else {
            let mut bytes = std::mem::take(&mut ctx.best_bytes);
            if best.code == 503 {
                // "SIP/2.0 503 <reason>\r\n" → "SIP/2.0 500 Server Internal Error\r\n"
                let line_end = bytes
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |i| i + 1);
                let mut fixed = b"SIP/2.0 500 Server Internal Error\r\n".to_vec();
                fixed.extend_from_slice(bytes.get(line_end..).unwrap_or(&[]));
                bytes = fixed;
            }
            match self.layer.respond(server, &bytes, now) {
                Ok(()) => self.stats.responses_relayed += 1,
                Err(e) => debug!(error = %e, "final response refused by the server transaction"),
            }
            if let Some(ctx) = self.contexts.get_mut(ctx_h) {
                ctx.best_bytes = bytes;
            }
        }
        self.maybe_free_context(ctx_h);
    }

    /// §16.10: the caller cancelled — CANCEL every branch without an
    /// outcome, start no new group. The final response (487 from the
    /// branches, or generated) follows when every branch is done.
    pub(crate) fn cancel_context(&mut self, ctx_h: Handle, now: Instant) {
        let Some(ctx) = self.contexts.get_mut(ctx_h) else {
            return;
        };
        ctx.cancelled = true;
        if ctx.final_sent || !ctx.is_invite {
            return;
        }
        self.cancel_branches(ctx_h, None, now);
    }

    /// CANCEL every pending branch of a context except `except`.
    pub(crate) fn cancel_branches(&mut self, ctx_h: Handle, except: Option<Handle>, now: Instant) {
        let count = self.contexts.get(ctx_h).map_or(0, |c| c.branches.len());
        for i in 0..count {
            let Some(bh) = self
                .contexts
                .get(ctx_h)
                .and_then(|c| c.branches.get(i).copied())
            else {
                break;
            };
            if Some(bh) != except {
                self.cancel_branch(bh, now);
            }
        }
    }

    /// CANCEL one branch (§9.1): at once when a provisional arrived,
    /// otherwise when one does (the branch response timer still runs).
    pub(crate) fn cancel_branch(&mut self, bh: Handle, now: Instant) {
        let Some(b) = self.branches.get_mut(bh) else {
            return;
        };
        if b.state == BranchState::Done || b.cancel_sent {
            return;
        }
        match b.state {
            BranchState::Trying => b.cancel_pending = true,
            BranchState::Proceeding => {
                if self.send_cancel(bh, now) {
                    self.arm_branch(
                        bh,
                        ProxyTimer::CancelWait,
                        now + self.config.branch_response_timeout,
                    );
                }
            }
            BranchState::Done => {}
        }
    }

    /// Send the CANCEL for a branch in Proceeding; whether it went out.
    pub(crate) fn send_cancel(&mut self, bh: Handle, now: Instant) -> bool {
        let Some(b) = self.branches.get_mut(bh) else {
            return false;
        };
        let Some(txn) = b.txn else { return false };
        if b.cancel_sent {
            return false;
        }
        match self.layer.cancel(txn, now) {
            Ok(_) => {
                if let Some(b) = self.branches.get_mut(bh) {
                    b.cancel_sent = true;
                    b.cancel_pending = false;
                }
                self.stats.forwarded += 1;
                true
            }
            Err(e) => {
                debug!(error = %e, "CANCEL refused");
                false
            }
        }
    }

    /// No response at all within `branch_response_timeout`: the branch
    /// counts as 408 (487 when the caller cancelled) and its transaction
    /// is stopped (no more retransmissions).
    pub(crate) fn branch_no_response(&mut self, bh: Handle, now: Instant) {
        let Some(b) = self.branches.get(bh) else {
            return;
        };
        if b.state != BranchState::Trying {
            return;
        }
        let (txn, ctx_h) = (b.txn, b.context);
        let cancelled = ctx_h
            .and_then(|h| self.contexts.get(h))
            .is_some_and(|c| c.cancelled);
        let code = if cancelled { 487 } else { 408 };
        self.branch_done(bh, code, true, None, now);
        if let Some(txn) = txn {
            let _ = self.layer.transport_error(txn, now);
        }
        if let Some(h) = ctx_h {
            self.after_branch_final(h, now);
        }
    }

    /// Timer C (§16.8): a provisional but no final within
    /// `invite_timeout`: CANCEL the branch and count it as 408 now.
    pub(crate) fn branch_timer_c(&mut self, bh: Handle, now: Instant) {
        let Some(b) = self.branches.get(bh) else {
            return;
        };
        if b.state != BranchState::Proceeding {
            return;
        }
        let ctx_h = b.context;
        self.send_cancel(bh, now);
        self.branch_done(bh, 408, true, None, now);
        self.arm_reap(bh, now);
        if let Some(h) = ctx_h {
            self.after_branch_final(h, now);
        }
    }

    /// The CANCEL of a branch got no final response in time: 487.
    pub(crate) fn branch_cancel_wait(&mut self, bh: Handle, now: Instant) {
        let Some(b) = self.branches.get(bh) else {
            return;
        };
        if b.state == BranchState::Done {
            return;
        }
        let ctx_h = b.context;
        self.branch_done(bh, 487, true, None, now);
        self.arm_reap(bh, now);
        if let Some(h) = ctx_h {
            self.after_branch_final(h, now);
        }
    }

    /// A finished branch whose INVITE transaction sits in Proceeding has
    /// no transaction timer left: end it after 64·T1 if no final came.
    fn arm_reap(&mut self, bh: Handle, now: Instant) {
        let alive_proceeding = self
            .branches
            .get(bh)
            .and_then(|b| b.txn)
            .and_then(|t| self.layer.state(t))
            .is_some_and(|s| {
                matches!(
                    s,
                    TransactionState::ClientInvite(
                        ClientInviteState::Calling | ClientInviteState::Proceeding
                    )
                )
            });
        if alive_proceeding {
            let t1 = self.layer.config().t1;
            self.arm_branch(bh, ProxyTimer::Reap, now + t1 * 64);
        }
    }
}
