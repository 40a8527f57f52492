//! Response contexts and branches (RFC 3261 §16.5–§16.7): the state a
//! stateful proxy keeps for one proxied request — its server transaction,
//! the forwarding plan, the branches (client transactions) and the best
//! final response so far — and the ranking that chooses the response sent
//! upstream.

use crate::policy::ForwardPlan;
use crate::slab::Handle;
use ferrovox_sip::transaction::{Peer, TransactionId};

/// One proxied request.
#[derive(Debug, Default)]
pub(crate) struct Context {
    /// The server transaction (`None` only while free).
    pub server: Option<TransactionId>,
    pub server_alive: bool,
    pub is_invite: bool,
    /// The request as received, after Route pre-processing (kept for later
    /// failover groups and for responses generated here).
    pub request: Vec<u8>,
    /// Remove the top Route value when forwarding `request`.
    pub remove_top_route: bool,
    /// Insert Record-Route.
    pub record_route: bool,
    /// Where the request came from (received/rport stamping, inbound
    /// transport for Record-Route).
    pub source: Option<Peer>,
    /// Loop-detection hash, the prefix of every branch of this context.
    pub hash: u64,
    pub targets: Targets,
    /// Index of the group being tried.
    pub group: usize,
    /// Branches of every group started so far (handles into the branch
    /// slab).
    pub branches: Vec<Handle>,
    /// Branches whose client transaction is still in the layer.
    pub live_branches: u32,
    /// Best final response so far.
    pub best: Option<Best>,
    /// Best final response of the group being tried.
    pub group_best: Option<Best>,
    /// Branches of the current group without an outcome yet.
    pub pending: u32,
    /// Rewritten bytes of the best response when it is a real one.
    pub best_bytes: Vec<u8>,
    /// A final response went upstream.
    pub final_sent: bool,
    /// CANCELled by the caller (or by a 2xx / 6xx): no new branches.
    pub cancelled: bool,
    /// The request carried SDP (so SDP in a response is an answer).
    pub request_sdp: bool,
    /// An initial INVITE (no To tag): its failure ends the call's media.
    pub initial_invite: bool,
    /// An initial INVITE whose SDP, or a response's, the policy saw
    /// ([`crate::Policy::media`]): a final failure is reported.
    pub media: bool,
}

impl Context {
    pub fn reset(&mut self) {
        self.server = None;
        self.server_alive = false;
        self.is_invite = false;
        self.request.clear();
        self.remove_top_route = false;
        self.record_route = false;
        self.hash = 0;
        self.targets = Targets::None;
        self.group = 0;
        self.branches.clear();
        self.live_branches = 0;
        self.best = None;
        self.group_best = None;
        self.pending = 0;
        self.source = None;
        self.best_bytes.clear();
        self.final_sent = false;
        self.cancelled = false;
        self.request_sdp = false;
        self.initial_invite = false;
        self.media = false;
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.request.capacity()
            + self.best_bytes.capacity()
            + self.branches.capacity() * std::mem::size_of::<Handle>()
            + self.targets.plan().map_or(0, |p| {
                p.failover_on.capacity() * 2
                    + p.groups
                        .iter()
                        .map(|g| {
                            g.capacity() * std::mem::size_of::<crate::Target>()
                                + g.iter().map(|t| t.uri.capacity()).sum::<usize>()
                        })
                        .sum::<usize>()
                    + p.groups.capacity() * std::mem::size_of::<Vec<crate::Target>>()
            })
    }
}

/// Where a context's branches go.
#[derive(Debug, Default)]
pub(crate) enum Targets {
    /// Nothing (free context).
    #[default]
    None,
    /// One next hop, Request-URI unchanged (in-dialog requests: no plan
    /// is allocated).
    Direct(Peer),
    /// The policy's plan.
    Plan(ForwardPlan),
}

impl Targets {
    pub fn plan(&self) -> Option<&ForwardPlan> {
        match self {
            Targets::Plan(p) => Some(p),
            _ => None,
        }
    }

    /// Number of groups.
    pub fn groups(&self) -> usize {
        match self {
            Targets::None => 0,
            Targets::Direct(_) => 1,
            Targets::Plan(p) => p.groups.len(),
        }
    }

    /// Number of targets in group `g`.
    pub fn group_len(&self, g: usize) -> usize {
        match self {
            Targets::None => 0,
            Targets::Direct(_) => usize::from(g == 0),
            Targets::Plan(p) => p.groups.get(g).map_or(0, Vec::len),
        }
    }

    /// Destination and Request-URI (empty: unchanged) of a target.
    pub fn get(&self, g: usize, i: usize) -> Option<(Peer, &str)> {
        match self {
            Targets::None => None,
            Targets::Direct(p) => (g == 0 && i == 0).then_some((*p, "")),
            Targets::Plan(p) => p
                .groups
                .get(g)
                .and_then(|grp| grp.get(i))
                .map(|t| (t.dest, t.uri.as_str())),
        }
    }

    /// Whether this final status moves on to the next group.
    pub fn fails_over_on(&self, code: u16) -> bool {
        self.plan().is_some_and(|p| p.failover_on.contains(&code))
    }
}

/// The best final response of a context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Best {
    pub code: u16,
    /// Generated here (timeout, transport error, cancel) rather than
    /// received.
    pub synthetic: bool,
}

/// Where a branch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum BranchState {
    /// Request sent, nothing back.
    #[default]
    Trying,
    /// A provisional response arrived.
    Proceeding,
    /// The branch has its outcome (final response, timeout, error).
    Done,
}

/// One client transaction of a context.
#[derive(Debug, Default)]
pub(crate) struct Branch {
    pub context: Option<Handle>,
    /// The INVITE / non-INVITE client transaction (not a CANCEL's).
    pub txn: Option<TransactionId>,
    pub txn_alive: bool,
    pub dest: Option<Peer>,
    pub group: u16,
    pub index: u16,
    pub state: BranchState,
    /// Final status (or 408/503/487 generated here).
    pub code: u16,
    pub synthetic: bool,
    /// The caller cancelled before any provisional arrived: send the
    /// CANCEL when one does (§9.1).
    pub cancel_pending: bool,
    pub cancel_sent: bool,
    /// Generation of this branch's timer slot.
    pub timer_seq: u32,
}

impl Branch {
    pub fn reset(&mut self) {
        *self = Branch {
            timer_seq: self.timer_seq.wrapping_add(1),
            ..Branch::default()
        };
    }
}

/// Ordering of final responses for §16.7 step 6 (lower is better): 6xx
/// first, then the lowest class; within 4xx, 401/407 first (so challenges
/// reach the caller) and 408 last; a response generated here loses to a
/// received one of equal rank.
pub(crate) fn rank(code: u16, synthetic: bool) -> (u8, u8, u8) {
    let class = match code / 100 {
        6 => 0,
        c @ 2..=5 => c as u8,
        _ => 9,
    };
    let within = match code {
        401 | 407 => 0,
        408 => 2,
        503 => 2,
        _ => 1,
    };
    (class, within, u8::from(synthetic))
}

#[cfg(test)]
mod tests {
    use super::rank;

    #[test]
    fn ranking_follows_16_7() {
        assert!(rank(603, false) < rank(302, false));
        assert!(rank(302, false) < rank(486, false));
        assert!(rank(407, false) < rank(486, false));
        assert!(rank(486, false) < rank(408, true));
        assert!(rank(404, false) < rank(500, false));
        assert!(rank(500, false) < rank(503, false));
        assert!(rank(487, false) < rank(487, true));
    }
}
