//! Media anchoring hooks ([`crate::Policy::media`] and
//! [`crate::Policy::media_ended`]): which forwarded messages carry SDP
//! worth showing the policy, the body rewrite when it returns a new one,
//! and the end-of-media notifications.
//!
//! What is offered follows Kamailio's `rtpengine_manage`: INVITE, UPDATE,
//! PRACK and ACK requests with SDP; 18x/2xx responses with SDP to INVITE or
//! UPDATE. Nothing is looked at for messages without a body, so the hooks
//! cost nothing (no allocation, no header search) on that path. Multipart
//! bodies are not unpacked (not `application/sdp`, so not offered).

use crate::policy::{MediaAction, MediaEnd, MediaEndReason, MediaMessage, Policy, has_sdp};
use crate::proxy::Proxy;
use crate::slab::Handle;
use ferrovox_sip::rewrite::{Body, RequestEdits, rewrite_request_from};
use ferrovox_sip::{Message, Method};
use std::time::Instant;
use tracing::debug;

/// What the policy made of a request's SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestMedia {
    /// No SDP the policy is shown: forward the request as it is.
    NoMedia,
    /// The policy saw the SDP and kept it.
    Kept,
    /// The rewritten request is in `Proxy::media_msg`.
    Replaced,
    /// Answer with this status instead of forwarding.
    Reject { code: u16, reason: &'static str },
}

/// What a proxied request's context must know about its media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MediaFlags {
    /// The request carried SDP.
    pub request_sdp: bool,
    /// It is an initial INVITE.
    pub initial_invite: bool,
    /// The policy saw its SDP.
    pub seen: bool,
}

/// What the policy made of a response's SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseMedia {
    /// No SDP the policy is shown.
    NoMedia,
    /// The policy saw the SDP and kept it.
    Kept,
    /// The new body is in `Proxy::media_body`.
    Replaced,
}

fn media_method(m: Method<'_>, request: bool) -> bool {
    if request {
        matches!(
            m,
            Method::Invite | Method::Update | Method::Prack | Method::Ack
        )
    } else {
        matches!(m, Method::Invite | Method::Update)
    }
}

impl<P: Policy> Proxy<P> {
    /// Show a request about to be forwarded to the policy when it carries
    /// SDP; a replacement body is written into a rewritten copy of the
    /// request in `media_msg`.
    pub(crate) fn request_media(&mut self, msg: &Message<'_>, now: Instant) -> RequestMedia {
        if !has_sdp(msg) {
            return RequestMedia::NoMedia;
        }
        let Ok(cseq) = msg.cseq() else {
            return RequestMedia::NoMedia;
        };
        if !media_method(cseq.method, true) {
            return RequestMedia::NoMedia;
        }
        let (Ok(call_id), Ok(from), Ok(to)) = (msg.call_id(), msg.from(), msg.to()) else {
            return RequestMedia::NoMedia;
        };
        let via_branch = msg.top_via().ok().and_then(|v| v.branch).unwrap_or(b"");
        let message = MediaMessage {
            msg,
            method: cseq.method,
            status: None,
            call_id,
            from_tag: from.tag().unwrap_or(b""),
            to_tag: to.tag(),
            via_branch,
            request_had_sdp: None,
            body: msg.body(),
        };
        let mut body = std::mem::take(&mut self.media_body);
        body.clear();
        let action = self.policy.media(&message, &mut body, now);
        let outcome = match action {
            MediaAction::Keep => RequestMedia::Kept,
            MediaAction::Reject { .. } if cseq.method == Method::Ack => {
                debug!("media refused for an ACK: forwarded unchanged");
                RequestMedia::Kept
            }
            MediaAction::Reject { code, reason } => RequestMedia::Reject { code, reason },
            MediaAction::Replace => {
                let edits = RequestEdits {
                    body: Some(Body {
                        content_type: None,
                        bytes: &body,
                    }),
                    ..RequestEdits::default()
                };
                match rewrite_request_from(msg, &edits, None, &mut self.media_msg) {
                    Ok(()) => RequestMedia::Replaced,
                    Err(e) => {
                        debug!(error = %e, "new SDP could not be written: forwarded unchanged");
                        RequestMedia::Kept
                    }
                }
            }
        };
        self.media_body = body;
        outcome
    }

    /// Show a response about to be relayed upstream to the policy when it
    /// carries SDP.
    pub(crate) fn response_media(
        &mut self,
        msg: &Message<'_>,
        request_had_sdp: Option<bool>,
        now: Instant,
    ) -> ResponseMedia {
        if !has_sdp(msg) {
            return ResponseMedia::NoMedia;
        }
        let Some(status) = msg.status_code() else {
            return ResponseMedia::NoMedia;
        };
        let Ok(cseq) = msg.cseq() else {
            return ResponseMedia::NoMedia;
        };
        if !media_method(cseq.method, false) || !(101..300).contains(&status) {
            return ResponseMedia::NoMedia;
        }
        let (Ok(call_id), Ok(from), Ok(to)) = (msg.call_id(), msg.from(), msg.to()) else {
            return ResponseMedia::NoMedia;
        };
        let via_branch = msg
            .vias()
            .nth(1)
            .and_then(Result::ok)
            .and_then(|v| v.branch)
            .unwrap_or(b"");
        let message = MediaMessage {
            msg,
            method: cseq.method,
            status: Some(status),
            call_id,
            from_tag: from.tag().unwrap_or(b""),
            to_tag: to.tag(),
            via_branch,
            request_had_sdp,
            body: msg.body(),
        };
        let mut body = std::mem::take(&mut self.media_body);
        body.clear();
        let action = self.policy.media(&message, &mut body, now);
        self.media_body = body;
        match action {
            MediaAction::Replace => ResponseMedia::Replaced,
            MediaAction::Keep => ResponseMedia::Kept,
            MediaAction::Reject { code, .. } => {
                debug!(
                    code,
                    status, "media refused for a response: relayed unchanged"
                );
                ResponseMedia::Kept
            }
        }
    }

    /// A BYE is being forwarded.
    pub(crate) fn media_bye(&mut self, msg: &Message<'_>, now: Instant) {
        let (Ok(call_id), Ok(from), Ok(to)) = (msg.call_id(), msg.from(), msg.to()) else {
            return;
        };
        self.policy.media_ended(
            &MediaEnd {
                call_id,
                from_tag: from.tag(),
                to_tag: to.tag(),
                reason: MediaEndReason::Bye,
            },
            now,
        );
    }

    /// An initial INVITE whose SDP the policy saw was answered `code`
    /// here before any context existed.
    pub(crate) fn media_ended_failed(&mut self, msg: &Message<'_>, code: u16, now: Instant) {
        let (Ok(call_id), Ok(from)) = (msg.call_id(), msg.from()) else {
            return;
        };
        self.policy.media_ended(
            &MediaEnd {
                call_id,
                from_tag: from.tag(),
                to_tag: None,
                reason: MediaEndReason::Failed { code },
            },
            now,
        );
    }

    /// The final non-2xx response `code` goes upstream for context
    /// `ctx_h`: the end of the call's media when it is an initial INVITE
    /// whose SDP (or its responses') the policy saw.
    pub(crate) fn media_failed(&mut self, ctx_h: Handle, code: u16, now: Instant) {
        let Some(ctx) = self.contexts.get_mut(ctx_h) else {
            return;
        };
        if !ctx.media || code < 300 {
            return;
        }
        ctx.media = false;
        let request = std::mem::take(&mut ctx.request);
        if let Ok(m) = Message::parse(&request) {
            self.media_ended_failed(&m, code, now);
        }
        if let Some(ctx) = self.contexts.get_mut(ctx_h) {
            ctx.request = request;
        }
    }

    /// A tracked dialog timed out.
    pub(crate) fn media_timeout(&mut self, call_id: &str, now: Instant) {
        self.policy.media_ended(
            &MediaEnd {
                call_id: call_id.as_bytes(),
                from_tag: None,
                to_tag: None,
                reason: MediaEndReason::DialogTimeout,
            },
            now,
        );
    }
}
