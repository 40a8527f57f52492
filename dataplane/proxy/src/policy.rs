//! What the proxy asks its owner: admission, routing, branch outcomes
//! ([`Policy`]), and the fixed next-hop policy used for benchmarks
//! ([`NextHop`]).

use ferrovox_sip::transaction::Peer;
use ferrovox_sip::{Message, Method};
use std::time::Instant;

/// Whether a message's body is an SDP (`Content-Type: application/sdp`,
/// parameters allowed) and not empty. Cheap: no allocation, one header
/// lookup only when there is a body at all.
pub(crate) fn has_sdp(msg: &Message<'_>) -> bool {
    if msg.body().is_empty() {
        return false;
    }
    let Some(ct) = msg.header(ferrovox_sip::HeaderName::ContentType) else {
        return false;
    };
    let value = ct.value;
    let media_type = value
        .split(|&b| b == b';')
        .next()
        .unwrap_or(value)
        .trim_ascii();
    media_type.eq_ignore_ascii_case(b"application/sdp")
}

/// Routing and admission decisions, called synchronously from the proxy's
/// input methods.
pub trait Policy {
    /// Cheap admission check for every incoming request before anything
    /// else (rate limiting, allow-lists). Default: accept.
    fn admit(&mut self, from: Peer, now: Instant) -> Admission {
        let _ = (from, now);
        Admission::Accept
    }

    /// Where an out-of-dialog request (no To tag) should go. Called after
    /// validation, Max-Forwards, loop detection and Route pre-processing
    /// (§16.4); also for a CANCEL that matches no transaction (forwarded
    /// statelessly to the first target). In-dialog requests follow their
    /// Route set and never reach the policy.
    fn route(&mut self, req: &RouteRequest<'_>, now: Instant) -> Decision;

    /// The outcome of every branch: final status (or 408 for a timeout,
    /// 503 for a transport error), for passive gateway health. Default:
    /// nothing.
    fn branch_result(&mut self, target: &Target, status: u16, now: Instant) {
        let _ = (target, status, now);
    }

    /// A message with an SDP body is about to be forwarded (media
    /// anchoring, Kamailio's `rtpengine_manage`): requests going downstream
    /// (INVITE, re-INVITE, UPDATE, PRACK, ACK for a 2xx) and 18x/2xx to an
    /// INVITE or UPDATE going upstream. Called once per request, before
    /// any branch is started (every branch and failover group then carries
    /// the same body), and for every relayed response including 2xx
    /// retransmissions. Requests are offered only once routing decided to
    /// forward them (not when the policy answers them itself).
    ///
    /// Write a replacement into `body` (empty on entry) and return
    /// [`MediaAction::Replace`]: Content-Length is rewritten, Content-Type
    /// stays. [`MediaAction::Reject`] answers a request (not an ACK) with
    /// that status instead of forwarding it; for an ACK or a response it
    /// means the same as [`MediaAction::Keep`] (the message goes on
    /// unchanged: there is no one to answer). Default: keep.
    fn media(
        &mut self,
        message: &MediaMessage<'_>,
        body: &mut Vec<u8>,
        now: Instant,
    ) -> MediaAction {
        let _ = (message, body, now);
        MediaAction::Keep
    }

    /// The media of a call can be freed: a BYE is being forwarded, the
    /// initial INVITE of a call whose SDP went through [`Policy::media`]
    /// got its final non-2xx response (a CANCEL ends as 487 this way), or
    /// a tracked dialog timed out. Default: nothing.
    fn media_ended(&mut self, end: &MediaEnd<'_>, now: Instant) {
        let _ = (end, now);
    }
}

/// A message with SDP that the proxy is about to forward
/// ([`Policy::media`]).
#[derive(Debug, Clone, Copy)]
pub struct MediaMessage<'a> {
    /// The message as it will be forwarded (before the proxy's own Via,
    /// Record-Route and Max-Forwards edits of a request; a response still
    /// carries the proxy's Via on top).
    pub msg: &'a Message<'a>,
    /// The CSeq method (for a response: the method it answers).
    pub method: Method<'a>,
    /// `None` for a request going downstream; the status code of a
    /// response going upstream.
    pub status: Option<u16>,
    /// Call-ID.
    pub call_id: &'a [u8],
    /// The From tag (the caller's for requests from the caller and their
    /// responses; the callee's for requests the callee sends in-dialog).
    pub from_tag: &'a [u8],
    /// The To tag; `None` for an initial request.
    pub to_tag: Option<&'a [u8]>,
    /// The branch of the Via of the request's sender (for a request its
    /// top Via, for a response the Via below the proxy's); empty when it
    /// has none.
    pub via_branch: &'a [u8],
    /// For a response: whether the request it answers carried SDP
    /// (`Some(false)`: an offer in the response, RFC 3264 late offer);
    /// `None` for requests, and for a response whose request is no longer
    /// known (a 2xx retransmission after the transaction ended).
    pub request_had_sdp: Option<bool>,
    /// The SDP.
    pub body: &'a [u8],
}

impl MediaMessage<'_> {
    /// Whether this is a request (going downstream).
    pub fn is_request(&self) -> bool {
        self.status.is_none()
    }
}

/// The answer of [`Policy::media`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaAction {
    /// Forward the body unchanged.
    Keep,
    /// Forward with the body the policy wrote.
    Replace,
    /// Answer the request with this status instead of forwarding it (e.g.
    /// 503 when the media relay does not answer). Ignored for ACKs and
    /// responses.
    Reject {
        /// Status code.
        code: u16,
        /// Reason phrase.
        reason: &'static str,
    },
}

/// The end of a call's media ([`Policy::media_ended`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaEnd<'a> {
    /// Call-ID.
    pub call_id: &'a [u8],
    /// The From tag of the ending message (the BYE's sender, or the
    /// caller's for a failed INVITE); `None` for a dialog timeout.
    pub from_tag: Option<&'a [u8]>,
    /// The To tag, when known.
    pub to_tag: Option<&'a [u8]>,
    /// Why.
    pub reason: MediaEndReason,
}

/// Why a call's media ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaEndReason {
    /// A BYE is being forwarded.
    Bye,
    /// The initial INVITE failed with this final status (487 when
    /// cancelled).
    Failed {
        /// The status sent upstream.
        code: u16,
    },
    /// The tracked dialog saw no traffic for `dialog_timeout`.
    DialogTimeout,
}

/// The answer of [`Policy::admit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Process the request.
    Accept,
    /// Answer statelessly with this status (ACKs are dropped instead).
    Reject {
        /// Status code (e.g. 503).
        code: u16,
        /// Reason phrase.
        reason: &'static str,
    },
    /// Ignore the request.
    Drop,
}

/// A request the policy must route.
#[derive(Debug, Clone, Copy)]
pub struct RouteRequest<'a> {
    /// The request (after Route pre-processing: a strict router's
    /// Request-URI fixed, this proxy's Route values removed).
    pub msg: &'a Message<'a>,
    /// Where it came from.
    pub source: Peer,
    /// Its method.
    pub method: Method<'a>,
    /// Its Request-URI as written.
    pub request_uri: &'a [u8],
    /// Whether the Request-URI designates this proxy.
    pub request_uri_is_local: bool,
    /// The address of the top Route value that remained after removing
    /// this proxy's own (a pre-loaded route), when it is an IP address.
    pub route_dest: Option<Peer>,
}

/// The answer of [`Policy::route`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Forward. Groups are tried in order (serial forking / failover);
    /// targets within a group in parallel.
    Forward(ForwardPlan),
    /// Answer the request here (e.g. 401 with WWW-Authenticate, 200 to
    /// REGISTER with Contact headers, 404, 403, 503).
    Respond {
        /// Status code.
        code: u16,
        /// Reason phrase.
        reason: String,
        /// Extra headers `(name, value)`.
        headers: Vec<(String, String)>,
    },
    /// Say nothing.
    Drop,
}

/// Targets of a forwarded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardPlan {
    /// Groups tried in order; the targets of one group in parallel.
    pub groups: Vec<Vec<Target>>,
    /// Final status codes on which the next group is tried (default: 408,
    /// 500–599). Transport errors and branch response timeouts always fail
    /// over.
    pub failover_on: Vec<u16>,
}

impl ForwardPlan {
    /// The default failover codes: 408 and 500–599.
    pub fn default_failover() -> Vec<u16> {
        std::iter::once(408).chain(500..600).collect()
    }

    /// One target, no failover group.
    pub fn single(target: Target) -> Self {
        ForwardPlan {
            groups: vec![vec![target]],
            failover_on: Vec::new(),
        }
    }

    /// Groups with the default failover codes.
    pub fn serial(groups: Vec<Vec<Target>>) -> Self {
        ForwardPlan {
            groups,
            failover_on: Self::default_failover(),
        }
    }
}

/// One branch destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Request-URI to send with; empty keeps the Request-URI unchanged
    /// (no allocation on the fast path).
    pub uri: String,
    /// Where to send: next hop address and transport.
    pub dest: Peer,
}

impl Target {
    /// A target keeping the Request-URI unchanged.
    pub fn to_peer(dest: Peer) -> Self {
        Target {
            uri: String::new(),
            dest,
        }
    }
}

/// Sends every out-of-dialog request to one fixed next hop, Request-URI
/// unchanged: the benchmark-mode equivalent of Kamailio's
/// `$du = "sip:127.0.0.1:5080"; t_relay()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextHop {
    /// The next hop.
    pub target: Peer,
}

impl NextHop {
    /// A policy forwarding to `target`.
    pub fn new(target: Peer) -> Self {
        NextHop { target }
    }
}

impl Policy for NextHop {
    fn route(&mut self, _req: &RouteRequest<'_>, _now: Instant) -> Decision {
        Decision::Forward(ForwardPlan::single(Target::to_peer(self.target)))
    }
}
