//! Requests from the network (RFC 3261 §16.3 validation, §16.4 Route
//! pre-processing, §16.5 target choice, §16.10 CANCEL, ACK for 2xx and
//! other in-dialog requests).
//!
//! Order of checks: admission → parse/validate (400) → Max-Forwards (483)
//! → Proxy-Require (420) → loop detection (482) → transaction matching
//! (retransmissions and non-2xx ACKs absorbed here) → §16.4 → routing.
//! The error replies before transaction matching are stateless; answers
//! decided by the policy go through the server transaction.

use crate::address::{reply_peer, uri_peer, write_ip};
use crate::branch_id::{self, RequestIdentity};
use crate::context::{Context, Targets};
use crate::media::{MediaFlags, RequestMedia};
use crate::policy::has_sdp;
use crate::policy::{Admission, Decision, Policy, RouteRequest};
use crate::proxy::{KIND_CONTEXT, Proxy};
use crate::routes::{self, RoutePrep};
use ferrovox_sip::build::ResponseBuilder;
use ferrovox_sip::rewrite::{RequestEdits, Source, rewrite_request_from};
use ferrovox_sip::transaction::{Peer, RequestOutcome, TransactionId};
use ferrovox_sip::validate::{RequestInfo, validate_request};
use ferrovox_sip::{HeaderName, Message, Method, Uri};
use std::time::Instant;
use tracing::debug;

/// Methods whose out-of-dialog requests get a Record-Route (they create
/// dialogs).
fn creates_dialog(m: Method<'_>) -> bool {
    matches!(m, Method::Invite | Method::Subscribe | Method::Refer)
}

impl<P: Policy> Proxy<P> {
    pub(crate) fn on_request(&mut self, bytes: &[u8], from: Peer, now: Instant) {
        self.stats.requests += 1;
        match self.policy.admit(from, now) {
            Admission::Accept => {}
            Admission::Reject { code, reason } => {
                self.stats.dropped_admission += 1;
                if let Ok(msg) = Message::parse(bytes)
                    && msg.method().is_some_and(|m| m != Method::Ack)
                {
                    let dest = msg.top_via().map_or(from, |v| reply_peer(&v, from));
                    self.reply_stateless(&msg, dest, code, reason.as_bytes(), &[]);
                }
                return;
            }
            Admission::Drop => {
                self.stats.dropped_admission += 1;
                return;
            }
        }
        let msg = match Message::parse(bytes) {
            Ok(m) if m.is_request() => m,
            Ok(_) => return,
            Err(e) => {
                self.stats.dropped_malformed += 1;
                let reason = e.to_string();
                let tag = self.salvage_tag(bytes);
                let mut buf = std::mem::take(&mut self.buf);
                let answered = crate::salvage::reply(bytes, &reason, &tag, &mut buf);
                self.buf = buf;
                if answered {
                    debug!(%from.addr, error = %e, "unparseable request answered");
                    self.count_reply(if self.buf.starts_with(b"SIP/2.0 505") {
                        505
                    } else {
                        400
                    });
                    self.queue_buf(from);
                } else {
                    debug!(%from.addr, error = %e, "unparseable request dropped");
                }
                return;
            }
        };
        let info = match validate_request(&msg) {
            Ok(i) => i,
            Err(e) => {
                self.stats.dropped_malformed += 1;
                debug!(%from.addr, error = %e, "invalid request");
                if msg.method() != Some(Method::Ack) {
                    let dest = msg.top_via().map_or(from, |v| reply_peer(&v, from));
                    let reason = format!("{} ({e})", e.reason_phrase());
                    self.reply_stateless(&msg, dest, e.status_code(), reason.as_bytes(), &[]);
                }
                return;
            }
        };
        let method = info.cseq.method;
        let is_ack = method == Method::Ack;
        let reply_to = reply_peer(&info.top_via, from);
        if info.max_forwards == Some(0) {
            if !is_ack {
                self.reply_stateless(&msg, reply_to, 483, b"Too Many Hops", &[]);
            }
            return;
        }
        if !is_ack && method != Method::Cancel && msg.header(HeaderName::ProxyRequire).is_some() {
            let mut unsupported = Vec::new();
            for t in msg.tokens(HeaderName::ProxyRequire).flatten() {
                if !unsupported.is_empty() {
                    unsupported.extend_from_slice(b", ");
                }
                unsupported.extend_from_slice(t);
            }
            if unsupported.is_empty() {
                unsupported.extend_from_slice(b"unknown");
            }
            self.reply_stateless(
                &msg,
                reply_to,
                420,
                b"Bad Extension",
                &[(b"Unsupported", &unsupported)],
            );
            return;
        }
        let Some(rl) = msg.request_line() else {
            return;
        };
        let ident = RequestIdentity {
            request_uri: rl.uri_raw,
            call_id: info.call_id,
            cseq: info.cseq.seq,
            from_tag: info.from.tag().unwrap_or(b""),
            to_tag: info.to.tag().unwrap_or(b""),
        };
        if self.is_loop(&msg, &ident) {
            self.stats.loops += 1;
            if !is_ack {
                self.reply_stateless(&msg, reply_to, 482, b"Loop Detected", &[]);
            }
            return;
        }
        let hash = branch_id::request_hash(self.config.branch_salt, &info.top_via, &ident);
        let outcome = match self
            .layer
            .handle_request_validated(&msg, &info, reply_to, now)
        {
            Ok(o) => o,
            Err(e) => {
                debug!(error = %e, "request refused by the transaction layer");
                self.stats.dropped_malformed += 1;
                return;
            }
        };
        match outcome {
            RequestOutcome::Retransmission { .. } | RequestOutcome::AckAbsorbed { .. } => {
                self.stats.retransmissions_absorbed += 1;
            }
            RequestOutcome::Stateless { .. } => self.on_ack(&msg, &info, from, hash, now),
            RequestOutcome::New { id, cancels } if method == Method::Cancel => {
                self.on_cancel(&msg, &info, id, cancels, from, hash, now)
            }
            RequestOutcome::New { id, .. } => self.on_new(&msg, &info, id, from, hash, now),
        }
    }

    /// §16.3 step 4: a Via of ours whose branch hash equals the hash this
    /// request (with the Via below ours as its top) would get.
    fn is_loop(&self, msg: &Message<'_>, ident: &RequestIdentity<'_>) -> bool {
        let mut ours: Option<u64> = None;
        for v in msg.vias() {
            let Ok(v) = v else { return false };
            if let Some(h) = ours
                && branch_id::request_hash(self.config.branch_salt, &v, ident) == h
            {
                return true;
            }
            ours = if self.local.is_local_via(&v) {
                v.branch.and_then(branch_id::branch_hash)
            } else {
                None
            };
        }
        false
    }

    /// A stateless response to `msg` sent to `dest`.
    pub(crate) fn reply_stateless(
        &mut self,
        msg: &Message<'_>,
        dest: Peer,
        code: u16,
        reason: &[u8],
        headers: &[(&[u8], &[u8])],
    ) {
        let tag = self.tag_for(msg);
        let mut buf = std::mem::take(&mut self.buf);
        let built = ResponseBuilder::new(code, reason)
            .to_tag(&tag)
            .headers(headers)
            .write(msg, &mut buf);
        self.buf = buf;
        match built {
            Ok(()) => {
                self.count_reply(code);
                self.queue_buf(dest);
            }
            Err(e) => debug!(error = %e, code, "could not build a stateless reply"),
        }
    }

    /// A response generated here, sent through server transaction `id`.
    pub(crate) fn reply_through(
        &mut self,
        id: TransactionId,
        msg: &Message<'_>,
        code: u16,
        reason: &[u8],
        headers: &[(&[u8], &[u8])],
        now: Instant,
    ) {
        let tag = self.tag_for(msg);
        let mut buf = std::mem::take(&mut self.buf);
        let built = ResponseBuilder::new(code, reason)
            .to_tag(&tag)
            .headers(headers)
            .write(msg, &mut buf)
            .map_err(ferrovox_sip::transaction::TransactionError::from)
            .and_then(|()| self.layer.respond(id, &buf, now));
        self.buf = buf;
        match built {
            Ok(()) => self.count_reply(code),
            Err(e) => debug!(error = %e, code, "could not answer through the server transaction"),
        }
    }

    /// Drop a server transaction without answering (policy said Drop, or
    /// a CANCEL forwarded statelessly). The layer has no "abandon" call;
    /// a transport error terminates the transaction silently.
    fn abandon(&mut self, id: TransactionId, now: Instant) {
        let _ = self.layer.transport_error(id, now);
    }

    /// Run §16.4 on `msg` and call `then` with the request to forward
    /// (fixed up when needed) and the decisions.
    fn with_routes(
        &mut self,
        msg: &Message<'_>,
        info: &RequestInfo<'_>,
        then: impl FnOnce(&mut Self, &Message<'_>, &RoutePrep<'_>),
    ) -> bool {
        let prep = match routes::prepare(
            &self.local,
            msg,
            info.max_forwards,
            self.config.max_forwards_limit,
        ) {
            Ok(p) => p,
            Err(_) => return false,
        };
        if !prep.needs_fixup() {
            then(self, msg, &prep);
            return true;
        }
        let mut fix = std::mem::take(&mut self.fix);
        routes::write_fixup(msg, &prep, &mut fix);
        let ok = match Message::parse(&fix) {
            Ok(fixed) => {
                then(self, &fixed, &prep);
                true
            }
            Err(e) => {
                debug!(error = %e, "route fix-up produced an unparseable request");
                false
            }
        };
        if self.fix.capacity() < fix.capacity() {
            self.fix = fix;
        }
        ok
    }

    /// Whether the Request-URI of `msg` designates this proxy.
    fn ruri_is_local(&self, msg: &Message<'_>) -> bool {
        matches!(msg.request_uri(), Some(Uri::Sip(u)) if self.local.is_local_uri(u))
    }

    /// Where an in-dialog request goes: the first Route left, else the
    /// Request-URI unless it is this proxy. `Err(404)` when the request has
    /// no Route at all or nowhere to go but here; `Err(478)` for a next hop
    /// that is not an IP address.
    fn in_dialog_dest(&self, msg: &Message<'_>, prep: &RoutePrep<'_>) -> Result<Peer, u16> {
        if !prep.had_routes {
            return Err(404);
        }
        if prep.next_route.is_some() {
            return prep.route_dest().ok_or(478);
        }
        if self.ruri_is_local(msg) {
            return Err(404);
        }
        match msg.request_uri() {
            Some(Uri::Sip(u)) => uri_peer(u).ok_or(478),
            _ => Err(416),
        }
    }

    /// ACK for a 2xx (or a stray ACK): routed by its Route set,
    /// statelessly (Kamailio: `has_totag → loose_route → t_relay`, else
    /// dropped).
    fn on_ack(
        &mut self,
        msg: &Message<'_>,
        info: &RequestInfo<'_>,
        from: Peer,
        hash: u64,
        now: Instant,
    ) {
        let Some(to_tag) = info.to.tag() else {
            return;
        };
        let from_tag = info.from.tag().unwrap_or(b"");
        self.dialog_traffic(info.call_id, from_tag, to_tag, false, now);
        self.with_routes(msg, info, |this, m, prep| {
            let Ok(dest) = this.in_dialog_dest(m, prep) else {
                return;
            };
            if this.request_media(m, now) == RequestMedia::Replaced {
                let rewritten = std::mem::take(&mut this.media_msg);
                match Message::parse(&rewritten) {
                    Ok(r) => this.forward_stateless(&r, prep, from, dest, hash),
                    Err(e) => debug!(error = %e, "ACK with new SDP does not parse: dropped"),
                }
                this.media_msg = rewritten;
            } else {
                this.forward_stateless(m, prep, from, dest, hash);
            }
        });
    }

    /// Forward `msg` without a transaction (ACK for 2xx, unmatched CANCEL),
    /// with branch number 0 of `hash`.
    pub(crate) fn forward_stateless(
        &mut self,
        msg: &Message<'_>,
        prep: &RoutePrep<'_>,
        from: Peer,
        dest: Peer,
        hash: u64,
    ) {
        self.via.clear();
        self.via
            .extend_from_slice(self.local.via_prefix(dest.transport));
        branch_id::write_branch(&mut self.via, hash, 0);
        self.via.extend_from_slice(b";rport");
        write_ip(from.addr.ip(), &mut self.ip_text);
        let edits = RequestEdits {
            via: Some(&self.via),
            record_route: None,
            decrement_max_forwards: true,
            remove_top_route: prep.single_pass_strip(),
            request_uri: None,
            body: None,
        };
        let source = Source {
            ip: &self.ip_text,
            port: from.addr.port(),
        };
        match rewrite_request_from(msg, &edits, Some(source), &mut self.buf) {
            Ok(()) => {
                self.stats.forwarded += 1;
                self.queue_buf(dest);
            }
            Err(e) => debug!(error = %e, "stateless forward failed"),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_cancel(
        &mut self,
        msg: &Message<'_>,
        info: &RequestInfo<'_>,
        id: TransactionId,
        cancels: Option<TransactionId>,
        from: Peer,
        hash: u64,
        now: Instant,
    ) {
        if let Some(invite) = cancels {
            // §16.10: 200 to the CANCEL at once, then cancel the branches.
            self.reply_through(id, msg, 200, b"OK", &[], now);
            let (kind, h) = crate::slab::Handle::from_token(self.layer.user(invite).unwrap_or(0));
            if kind == KIND_CONTEXT {
                self.cancel_context(h, now);
            }
            return;
        }
        // No response context: forward statelessly where the policy says.
        self.abandon(id, now);
        self.with_routes(msg, info, |this, m, prep| {
            let route_dest = prep.route_dest();
            let request_uri_is_local = this.ruri_is_local(m);
            let (Some(method), Some(rl)) = (m.method(), m.request_line()) else {
                return;
            };
            let req = RouteRequest {
                msg: m,
                source: from,
                method,
                request_uri: rl.uri_raw,
                request_uri_is_local,
                route_dest,
            };
            match this.policy.route(&req, now) {
                Decision::Forward(plan) => {
                    if let Some(t) = plan.groups.first().and_then(|g| g.first()) {
                        this.forward_stateless(m, prep, from, t.dest, hash);
                    }
                }
                Decision::Respond {
                    code,
                    reason,
                    headers,
                } => {
                    let dest = m.top_via().map_or(from, |v| reply_peer(&v, from));
                    let hs: Vec<(&[u8], &[u8])> = headers
                        .iter()
                        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
                        .collect();
                    this.reply_stateless(m, dest, code, reason.as_bytes(), &hs);
                }
                Decision::Drop => {}
            }
        });
    }

    fn on_new(
        &mut self,
        msg: &Message<'_>,
        info: &RequestInfo<'_>,
        id: TransactionId,
        from: Peer,
        hash: u64,
        now: Instant,
    ) {
        let in_dialog = info.to.tag().is_some();
        if in_dialog {
            let from_tag = info.from.tag().unwrap_or(b"");
            let to_tag = info.to.tag().unwrap_or(b"");
            let bye = info.cseq.method == Method::Bye;
            self.dialog_traffic(info.call_id, from_tag, to_tag, bye, now);
        }
        let ok = self.with_routes(msg, info, |this, m, prep| {
            let plan = if in_dialog {
                match this.in_dialog_dest(m, prep) {
                    Ok(dest) => Targets::Direct(dest),
                    Err(code) => {
                        let reason: &[u8] = match code {
                            404 => b"Not here",
                            416 => b"Unsupported URI Scheme",
                            _ => b"Unresolvable destination",
                        };
                        this.reply_through(id, m, code, reason, &[], now);
                        return;
                    }
                }
            } else {
                let (Some(method), Some(rl)) = (m.method(), m.request_line()) else {
                    return;
                };
                let req = RouteRequest {
                    msg: m,
                    source: from,
                    method,
                    request_uri: rl.uri_raw,
                    request_uri_is_local: this.ruri_is_local(m),
                    route_dest: prep.route_dest(),
                };
                match this.policy.route(&req, now) {
                    Decision::Forward(plan) => Targets::Plan(plan),
                    Decision::Respond {
                        code,
                        reason,
                        headers,
                    } => {
                        let hs: Vec<(&[u8], &[u8])> = headers
                            .iter()
                            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
                            .collect();
                        this.reply_through(id, m, code, reason.as_bytes(), &hs, now);
                        return;
                    }
                    Decision::Drop => {
                        this.abandon(id, now);
                        return;
                    }
                }
            };
            if (0..plan.groups()).all(|g| plan.group_len(g) == 0) {
                this.reply_through(id, m, 500, b"Server Internal Error - no target", &[], now);
                return;
            }
            let method = m.method().unwrap_or(Method::Options);
            let record_route = this.config.record_route && !in_dialog && creates_dialog(method);
            if in_dialog && method == Method::Bye {
                this.media_bye(m, now);
            }
            let request_sdp = has_sdp(m);
            let media = this.request_media(m, now);
            let flags = MediaFlags {
                request_sdp,
                initial_invite: !in_dialog && method == Method::Invite,
                seen: media != RequestMedia::NoMedia,
            };
            match media {
                RequestMedia::NoMedia | RequestMedia::Kept => {
                    this.proxy_request(m, prep, id, from, hash, plan, record_route, flags, now);
                }
                RequestMedia::Reject { code, reason } => {
                    this.reply_through(id, m, code, reason.as_bytes(), &[], now);
                }
                RequestMedia::Replaced => {
                    let rewritten = std::mem::take(&mut this.media_msg);
                    match Message::parse(&rewritten) {
                        Ok(r) => this.proxy_request(
                            &r,
                            prep,
                            id,
                            from,
                            hash,
                            plan,
                            record_route,
                            flags,
                            now,
                        ),
                        Err(e) => {
                            debug!(error = %e, "request with new SDP does not parse");
                            this.reply_through(id, m, 500, b"Server Internal Error", &[], now);
                            if flags.initial_invite {
                                this.media_ended_failed(m, 500, now);
                            }
                        }
                    }
                    this.media_msg = rewritten;
                }
            }
        });
        if !ok {
            self.reply_through(id, msg, 400, b"Bad Request - Malformed Route", &[], now);
        }
    }

    /// Create the response context for server transaction `id` and start
    /// the first group.
    #[allow(clippy::too_many_arguments)]
    fn proxy_request(
        &mut self,
        msg: &Message<'_>,
        prep: &RoutePrep<'_>,
        id: TransactionId,
        from: Peer,
        hash: u64,
        plan: Targets,
        record_route: bool,
        media: MediaFlags,
        now: Instant,
    ) {
        let is_invite = msg.method() == Some(Method::Invite);
        let remove_top_route = prep.single_pass_strip();
        let bytes = msg.as_bytes();
        let Some(h) = self.contexts.insert(|c: &mut Context| {
            c.reset();
            c.server = Some(id);
            c.server_alive = true;
            c.is_invite = is_invite;
            c.request.extend_from_slice(bytes);
            c.remove_top_route = remove_top_route;
            c.record_route = record_route;
            c.source = Some(from);
            c.hash = hash;
            c.targets = plan;
            c.request_sdp = media.request_sdp;
            c.initial_invite = media.initial_invite;
            c.media = media.initial_invite && media.seen;
        }) else {
            self.reply_through(id, msg, 503, b"Service Unavailable", &[], now);
            if media.initial_invite && media.seen {
                self.media_ended_failed(msg, 503, now);
            }
            return;
        };
        let _ = self.layer.set_user(id, h.token(KIND_CONTEXT));
        self.start_group(h, msg, now);
        self.after_branch_final(h, now);
    }
}
