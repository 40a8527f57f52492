//! The SIP edge's routing policy: what Kamailio's request route does in a typical carrier
//! config, as one [`Policy`] implementation.
//!
//! Order for an out-of-dialog request: per-source rate limit (pike) → REGISTER answered by
//! the registrar → OPTIONS to the proxy itself answered 200 → benchmark next hop (everything
//! goes there) → a blocked source gets 403 → callers outside every trunk authenticate (407)
//! as a configured user → a pre-loaded Route is followed → a registered user's contacts are
//! forked to in parallel →
//! carrier prefix routes with failover through their gateways → 404.

use super::anchor::MediaAnchor;
use super::shared::Shared;
use ferrovox_proxy::{
    Admission, Decision, ForwardPlan, MediaAction, MediaEnd, MediaMessage, Policy, RouteRequest,
    Target,
};
use ferrovox_registrar::{AuthResult, Destination, Reply};
use ferrovox_routing::{LimitAction, RateLimiter, Verdict};
use ferrovox_sip::Method;
use ferrovox_sip::transaction::Peer;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

pub struct EdgePolicy {
    shared: Arc<Shared>,
    /// Per core: SO_REUSEPORT sends one source's datagrams to one core.
    pike: Option<RateLimiter>,
    /// Per core: its own ng socket, used synchronously.
    anchor: Option<MediaAnchor>,
}

impl EdgePolicy {
    pub fn new(shared: Arc<Shared>, core: usize, now: Instant) -> Self {
        let pike = if shared.pike.enabled {
            // The configuration was validated when the edge started.
            RateLimiter::new(shared.pike, now).ok()
        } else {
            None
        };
        let anchor = shared
            .media_relay
            .map(|relay| MediaAnchor::new(relay, core));
        Self {
            shared,
            pike,
            anchor,
        }
    }
}

fn respond(reply: Reply) -> Decision {
    Decision::Respond {
        code: reply.code,
        reason: reply.reason.to_owned(),
        headers: reply.headers,
    }
}

fn status(code: u16, reason: &str) -> Decision {
    Decision::Respond {
        code,
        reason: reason.to_owned(),
        headers: Vec::new(),
    }
}

impl Policy for EdgePolicy {
    fn admit(&mut self, from: Peer, now: Instant) -> Admission {
        let Some(pike) = self.pike.as_mut() else {
            return Admission::Accept;
        };
        // Trusted sources are not rate limited: carriers' trunks, and this host itself
        // (benchmark load generators and local services cannot be remote attackers).
        let ip = from.addr.ip();
        if ip.is_loopback() || self.shared.is_trunk_source(ip) {
            return Admission::Accept;
        }
        match pike.check(ip, now) {
            Verdict::Allow => Admission::Accept,
            Verdict::Limit => match pike.on_limit() {
                LimitAction::Drop => Admission::Drop,
                LimitAction::Reply { .. } => Admission::Reject {
                    code: 503,
                    reason: "Service Unavailable",
                },
            },
        }
    }

    fn route(&mut self, req: &RouteRequest<'_>, now: Instant) -> Decision {
        let shared = &self.shared;
        let registrar = &shared.registrar;
        match req.method {
            Method::Register if req.request_uri_is_local || shared.next_hop.is_none() => {
                return respond(registrar.register(req.msg, req.source, now, SystemTime::now()));
            }
            // OPTIONS to the proxy itself (keep-alives, probes); to a user it is forwarded.
            Method::Options
                if req.request_uri_is_local
                    && !shared.is_local_user(&String::from_utf8_lossy(req.request_uri)) =>
            {
                return respond(registrar.options_reply());
            }
            _ => {}
        }
        if let Some(hop) = shared.next_hop {
            return forward(Target::to_peer(hop));
        }
        if registrar.is_blocked(req.source.addr.ip(), now) {
            return status(403, "Forbidden");
        }
        let routing = shared.routing();
        let from_trunk = routing
            .trunks
            .trunk_for_source(req.source.addr.ip())
            .is_some();
        if shared.require_auth && !from_trunk && needs_auth(req.method) {
            match registrar.authenticate(req.msg, req.source, true, now, SystemTime::now()) {
                AuthResult::Ok { .. } => {}
                AuthResult::Challenge(reply) | AuthResult::Throttled(reply) => {
                    return respond(reply);
                }
            }
        }
        // A pre-loaded Route is followed only after authentication: otherwise anyone could
        // relay calls through this proxy to any address.
        if let Some(dest) = req.route_dest {
            return forward(Target::to_peer(dest));
        }
        let ruri = String::from_utf8_lossy(req.request_uri);
        let targets: Vec<Target> = registrar
            .targets(&ruri, now)
            .into_iter()
            .filter_map(|target| match target.destination {
                Destination::Peer(dest) => Some(Target {
                    uri: target.request_uri,
                    dest,
                }),
                // Host names in contacts are not resolved (no DNS on the signalling path).
                Destination::Resolve { .. } => None,
            })
            .collect();
        if !targets.is_empty() {
            return Decision::Forward(ForwardPlan {
                groups: vec![targets],
                failover_on: Vec::new(),
            });
        }
        if shared.is_local_user(&ruri) {
            return status(480, "Temporarily Unavailable");
        }
        let plan = routing.routes.plan(&ruri, &routing.health, now);
        let Some(first) = plan.first() else {
            return status(404, "Not Found");
        };
        let failover_on = (300..700).filter(|&c| first.should_failover(c)).collect();
        Decision::Forward(ForwardPlan {
            groups: plan
                .iter()
                .map(|gateway| {
                    vec![Target {
                        uri: gateway.request_uri.clone(),
                        dest: gateway.peer(),
                    }]
                })
                .collect(),
            failover_on,
        })
    }

    fn branch_result(&mut self, target: &Target, status: u16, now: Instant) {
        let routing = self.shared.routing();
        if let Some(&gateway) = routing.gateway_by_addr.get(&target.dest.addr) {
            routing.health.report(gateway, Some(status), now);
        }
    }

    fn media(
        &mut self,
        message: &MediaMessage<'_>,
        body: &mut Vec<u8>,
        now: Instant,
    ) -> MediaAction {
        match self.anchor.as_mut() {
            Some(anchor) => anchor.media(message, body, now),
            None => MediaAction::Keep,
        }
    }

    fn media_ended(&mut self, end: &MediaEnd<'_>, now: Instant) {
        if let Some(anchor) = self.anchor.as_mut() {
            anchor.ended(end, now);
        }
    }
}

fn forward(target: Target) -> Decision {
    Decision::Forward(ForwardPlan::single(target))
}

/// Requests that start something a caller pays for or that reaches a user: authenticated.
/// CANCEL and ACK cannot be challenged (RFC 3261 §22.1).
fn needs_auth(method: Method<'_>) -> bool {
    !matches!(method, Method::Ack | Method::Cancel | Method::Bye)
}
