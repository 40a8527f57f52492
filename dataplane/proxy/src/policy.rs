//! What the proxy asks its owner: admission, routing, branch outcomes
//! ([`Policy`]), and the fixed next-hop policy used for benchmarks
//! ([`NextHop`]).

use ferrovox_sip::transaction::Peer;
use ferrovox_sip::{Message, Method};
use std::time::Instant;

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
