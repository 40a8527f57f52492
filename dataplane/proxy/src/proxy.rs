//! The [`Proxy`] object: state, the public input/output methods, the pump
//! that moves transaction-layer output and events into the proxy, and the
//! proxy's own timers.

use crate::address::Local;
use crate::branch_id;
use crate::config::ProxyConfig;
use crate::context::{Branch, BranchState, Context};
use crate::dialog::Dialogs;
use crate::event::{DialogEndReason, ProxyEvent, ProxyStats};
use crate::policy::Policy;
use crate::slab::{Handle, Slab};
use crate::timers::{ProxyTimer, TimerEntry, TimerHeap};
use ferrovox_sip::transaction::{
    ClientInviteState, Event, Output, Peer, TransactionId, TransactionLayer, TransactionState,
};
use std::collections::VecDeque;
use std::time::Instant;

/// Kinds of transaction user tokens (top two bits).
pub(crate) const KIND_CONTEXT: u64 = 1;
pub(crate) const KIND_BRANCH: u64 = 2;
pub(crate) const KIND_PROBE: u64 = 3;

#[derive(Debug, Clone, Copy)]
struct Pending {
    dest: Peer,
    start: usize,
    end: usize,
}

/// An OPTIONS probe in flight.
#[derive(Debug, Default)]
pub(crate) struct Probe {
    pub token: u64,
    pub dest: Option<Peer>,
    pub done: bool,
}

/// A sans-IO, transaction-stateful SIP proxy (RFC 3261 §16). See the
/// [crate docs](crate).
#[derive(Debug)]
pub struct Proxy<P> {
    pub(crate) config: ProxyConfig,
    pub(crate) policy: P,
    pub(crate) local: Local,
    pub(crate) layer: TransactionLayer,
    pub(crate) contexts: Slab<Context>,
    pub(crate) branches: Slab<Branch>,
    pub(crate) probes: Slab<Probe>,
    pub(crate) dialogs: Dialogs,
    pub(crate) timers: TimerHeap,
    out: VecDeque<Pending>,
    out_arena: Vec<u8>,
    pub(crate) events: VecDeque<ProxyEvent>,
    layer_events: VecDeque<Event>,
    /// Rewrite output (forwarded requests and responses).
    pub(crate) buf: Vec<u8>,
    /// §16.4 fix-up output.
    pub(crate) fix: Vec<u8>,
    /// The Via being added.
    pub(crate) via: Vec<u8>,
    /// The Record-Route being added.
    pub(crate) rr: Vec<u8>,
    /// Source IP as text for received=.
    pub(crate) ip_text: Vec<u8>,
    /// The SDP the policy writes ([`crate::Policy::media`]).
    pub(crate) media_body: Vec<u8>,
    /// A request with the policy's SDP.
    pub(crate) media_msg: Vec<u8>,
    pub(crate) stats: ProxyStats,
    pub(crate) probe_seq: u64,
}

impl<P: Policy> Proxy<P> {
    /// A proxy with this configuration and policy.
    pub fn new(config: ProxyConfig, policy: P) -> Self {
        Proxy {
            local: Local::new(&config),
            layer: TransactionLayer::new(config.transaction),
            config,
            policy,
            contexts: Slab::new(),
            branches: Slab::new(),
            probes: Slab::new(),
            dialogs: Dialogs::new(),
            timers: TimerHeap::default(),
            out: VecDeque::new(),
            out_arena: Vec::new(),
            events: VecDeque::new(),
            layer_events: VecDeque::new(),
            buf: Vec::with_capacity(4096),
            fix: Vec::new(),
            via: Vec::with_capacity(128),
            rr: Vec::with_capacity(128),
            ip_text: Vec::with_capacity(48),
            media_body: Vec::new(),
            media_msg: Vec::new(),
            stats: ProxyStats::default(),
            probe_seq: 0,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &ProxyConfig {
        &self.config
    }

    /// A message (request or response) received from `from`. Bad input
    /// never panics: a malformed request gets a stateless 400 naming the
    /// problem (or is dropped if no response is possible); a malformed
    /// response is dropped and counted.
    pub fn handle_message(&mut self, bytes: &[u8], from: Peer, now: Instant) {
        let start = ferrovox_sip::leading_keepalive(bytes);
        let rest = bytes.get(start..).unwrap_or(&[]);
        if rest.is_empty() {
            return; // keep-alive
        }
        if rest.len() >= 8
            && rest
                .get(..8)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/2.0 "))
        {
            self.on_response(bytes, now);
        } else {
            self.on_request(bytes, from, now);
        }
        self.pump(now);
    }

    /// Fire every timer due at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.layer.handle_timeout(now);
        self.pump(now);
        while let Some(e) = self.peek_timer().filter(|e| e.at <= now) {
            self.timers.pop();
            self.fire(e, now);
            self.pump(now);
        }
    }

    /// The earliest time [`Proxy::handle_timeout`] must be called.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let ours = self.peek_timer().map(|e| e.at);
        match (self.layer.poll_timeout(), ours) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Next message to send: writes it into `buf` (cleared first) and
    /// returns where it goes.
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<Peer> {
        let Some(p) = self.out.pop_front() else {
            self.out_arena.clear();
            return None;
        };
        buf.clear();
        buf.extend_from_slice(self.out_arena.get(p.start..p.end).unwrap_or(&[]));
        if self.out.is_empty() {
            self.out_arena.clear();
        }
        Some(p.dest)
    }

    /// The runtime could not deliver to `dest` (ICMP unreachable, TCP
    /// connect refused/reset): client transactions towards it fail (503,
    /// failover), probes towards it report `None`.
    pub fn transport_error(&mut self, dest: Peer, now: Instant) {
        let mut victims: Vec<TransactionId> = self
            .branches
            .handles()
            .filter(|(_, b)| b.dest == Some(dest) && b.txn_alive && b.state != BranchState::Done)
            .filter_map(|(_, b)| b.txn)
            .collect();
        let probes: Vec<Handle> = self
            .probes
            .handles()
            .filter(|(_, p)| p.dest == Some(dest) && !p.done)
            .map(|(h, _)| h)
            .collect();
        for id in victims.drain(..) {
            let _ = self.layer.transport_error(id, now);
            self.pump(now);
        }
        for h in probes {
            self.finish_probe(h, None);
        }
        self.pump(now);
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<ProxyEvent> {
        self.events.pop_front()
    }

    /// Counters and gauges.
    pub fn stats(&self) -> ProxyStats {
        let mut s = self.stats;
        s.active_transactions = self.layer.len() as u64;
        s.active_contexts = self.contexts.len() as u64;
        s.active_dialogs = self.dialogs.len() as u64;
        s.memory_bytes = self.memory_bytes() as u64;
        s
    }

    /// Estimated heap bytes held (transactions, contexts, branches,
    /// dialogs, timers, buffers).
    pub fn memory_bytes(&self) -> usize {
        let contexts: usize = self
            .contexts
            .values()
            .map(Context::heap_bytes)
            .sum::<usize>()
            + self.contexts.capacity() * (std::mem::size_of::<Context>() + 8);
        let branches = self.branches.capacity() * (std::mem::size_of::<Branch>() + 8);
        let probes = self.probes.capacity() * (std::mem::size_of::<Probe>() + 8);
        let buffers = self.buf.capacity()
            + self.fix.capacity()
            + self.via.capacity()
            + self.rr.capacity()
            + self.ip_text.capacity()
            + self.media_body.capacity()
            + self.media_msg.capacity()
            + self.out_arena.capacity()
            + self.out.capacity() * std::mem::size_of::<Pending>();
        self.layer.memory_bytes()
            + contexts
            + branches
            + probes
            + self.dialogs.memory_bytes()
            + self.timers.capacity() * std::mem::size_of::<TimerEntry>()
            + self.local.memory_bytes()
            + buffers
    }

    /// The policy.
    pub fn policy(&self) -> &P {
        &self.policy
    }

    /// The policy, mutably (e.g. to update routes).
    pub fn policy_mut(&mut self) -> &mut P {
        &mut self.policy
    }

    // ----- output ------------------------------------------------------

    /// Queue the rewrite buffer for `dest`.
    pub(crate) fn queue_buf(&mut self, dest: Peer) {
        let start = self.out_arena.len();
        self.out_arena.extend_from_slice(&self.buf);
        self.out.push_back(Pending {
            dest,
            start,
            end: self.out_arena.len(),
        });
    }

    /// Move transaction-layer output into the proxy's queue and act on
    /// its events until both are empty.
    pub(crate) fn pump(&mut self, now: Instant) {
        loop {
            while let Some(o) = self.layer.poll_output() {
                match o {
                    Output::Transmit(t) => {
                        let start = self.out_arena.len();
                        self.out_arena.extend_from_slice(t.bytes);
                        self.out.push_back(Pending {
                            dest: t.dest,
                            start,
                            end: self.out_arena.len(),
                        });
                    }
                    Output::Event(e) => self.layer_events.push_back(e),
                }
            }
            let Some(e) = self.layer_events.pop_front() else {
                break;
            };
            self.on_layer_event(e, now);
        }
    }

    fn on_layer_event(&mut self, e: Event, now: Instant) {
        let (id, user) = match e {
            Event::Timeout { id, user, .. }
            | Event::TransportError { id, user }
            | Event::Terminated { id, user } => (id, user),
        };
        let (kind, h) = Handle::from_token(user);
        match (kind, e) {
            (KIND_BRANCH, Event::Timeout { .. }) => self.branch_failed(h, id, 408, now),
            (KIND_BRANCH, Event::TransportError { .. }) => self.branch_failed(h, id, 503, now),
            (KIND_BRANCH, Event::Terminated { .. }) => self.branch_terminated(h, id),
            (KIND_CONTEXT, Event::Terminated { .. }) => {
                if let Some(ctx) = self.contexts.get_mut(h)
                    && ctx.server == Some(id)
                {
                    ctx.server_alive = false;
                    self.maybe_free_context(h);
                }
            }
            (KIND_PROBE, Event::Timeout { .. } | Event::TransportError { .. }) => {
                self.finish_probe(h, None)
            }
            (KIND_PROBE, Event::Terminated { .. }) => {
                self.finish_probe(h, None);
                self.probes.remove(h);
            }
            _ => {}
        }
    }

    pub(crate) fn finish_probe(&mut self, h: Handle, status: Option<u16>) {
        let Some(p) = self.probes.get_mut(h) else {
            return;
        };
        if p.done {
            return;
        }
        p.done = true;
        let token = p.token;
        self.events
            .push_back(ProxyEvent::ProbeResult { token, status });
    }

    // ----- proxy timers ------------------------------------------------

    fn timer_live(&self, e: &TimerEntry) -> bool {
        match e.kind {
            ProxyTimer::Dialog => self.dialogs.get(e.handle()).is_some(),
            _ => self
                .branches
                .get(e.handle())
                .is_some_and(|b| b.timer_seq == e.seq),
        }
    }

    fn peek_timer(&mut self) -> Option<TimerEntry> {
        let branches = &self.branches;
        let dialogs = &self.dialogs;
        self.timers.peek_live(|e| match e.kind {
            ProxyTimer::Dialog => dialogs.get(e.handle()).is_some(),
            _ => branches
                .get(e.handle())
                .is_some_and(|b| b.timer_seq == e.seq),
        })
    }

    /// Arm the single timer slot of branch `h`.
    pub(crate) fn arm_branch(&mut self, h: Handle, kind: ProxyTimer, at: Instant) {
        let Some(b) = self.branches.get_mut(h) else {
            return;
        };
        b.timer_seq = b.timer_seq.wrapping_add(1);
        let seq = b.timer_seq;
        self.push_timer(TimerEntry {
            at,
            kind,
            index: h.index,
            generation: h.generation,
            seq,
        });
    }

    /// Cancel the timer of branch `h`.
    pub(crate) fn disarm_branch(&mut self, h: Handle) {
        if let Some(b) = self.branches.get_mut(h) {
            b.timer_seq = b.timer_seq.wrapping_add(1);
        }
    }

    pub(crate) fn push_timer(&mut self, e: TimerEntry) {
        self.timers.push(e);
        let live = self.branches.len() + self.dialogs.len();
        if self.timers.len() > 4 * live + 64 {
            let branches = &self.branches;
            let dialogs = &self.dialogs;
            self.timers.compact(|e| match e.kind {
                ProxyTimer::Dialog => dialogs.get(e.handle()).is_some(),
                _ => branches
                    .get(e.handle())
                    .is_some_and(|b| b.timer_seq == e.seq),
            });
        }
    }

    fn fire(&mut self, e: TimerEntry, now: Instant) {
        if !self.timer_live(&e) {
            return;
        }
        let h = e.handle();
        match e.kind {
            ProxyTimer::Dialog => self.dialog_timer(h, now),
            ProxyTimer::BranchResponse => self.branch_no_response(h, now),
            ProxyTimer::TimerC => self.branch_timer_c(h, now),
            ProxyTimer::CancelWait => self.branch_cancel_wait(h, now),
            ProxyTimer::Reap => {
                let Some(txn) = self.branches.get(h).and_then(|b| b.txn) else {
                    return;
                };
                if matches!(
                    self.layer.state(txn),
                    Some(TransactionState::ClientInvite(
                        ClientInviteState::Calling | ClientInviteState::Proceeding
                    ))
                ) {
                    let _ = self.layer.transport_error(txn, now);
                }
            }
        }
    }

    fn dialog_timer(&mut self, h: Handle, now: Instant) {
        let Some(last) = self.dialogs.get(h).and_then(|d| d.last_used) else {
            return;
        };
        let due = last + self.config.dialog_timeout;
        if due > now {
            self.push_timer(TimerEntry {
                at: due,
                kind: ProxyTimer::Dialog,
                index: h.index,
                generation: h.generation,
                seq: 0,
            });
            return;
        }
        if let Some((call_id, started)) = self.dialogs.remove(h) {
            self.media_timeout(&call_id, now);
            self.events.push_back(ProxyEvent::DialogEnded {
                call_id,
                duration: now.saturating_duration_since(started),
                reason: DialogEndReason::Timeout,
            });
        }
    }

    /// Track the dialog a 2xx to an INVITE created.
    pub(crate) fn dialog_started(&mut self, call_id: &[u8], a: &[u8], b: &[u8], now: Instant) {
        if !self.config.dialog_tracking {
            return;
        }
        if let Some(h) = self.dialogs.start(call_id, a, b, now) {
            self.push_timer(TimerEntry {
                at: now + self.config.dialog_timeout,
                kind: ProxyTimer::Dialog,
                index: h.index,
                generation: h.generation,
                seq: 0,
            });
            self.events.push_back(ProxyEvent::DialogStarted {
                call_id: String::from_utf8_lossy(call_id).into_owned(),
            });
        }
    }

    /// In-dialog traffic; a BYE ends the dialog.
    pub(crate) fn dialog_traffic(
        &mut self,
        call_id: &[u8],
        a: &[u8],
        b: &[u8],
        bye: bool,
        now: Instant,
    ) {
        if !self.config.dialog_tracking {
            return;
        }
        let Some(h) = self.dialogs.touch(call_id, a, b, now) else {
            return;
        };
        if bye && let Some((call_id, started)) = self.dialogs.remove(h) {
            self.events.push_back(ProxyEvent::DialogEnded {
                call_id,
                duration: now.saturating_duration_since(started),
                reason: DialogEndReason::Bye,
            });
        }
    }

    /// Generated To tag for responses to a request.
    pub(crate) fn tag_for(&self, msg: &ferrovox_sip::Message<'_>) -> [u8; 16] {
        let call_id = msg.call_id().unwrap_or(b"");
        let from = msg.from().ok();
        let from_tag = from.as_ref().and_then(|f| f.tag()).unwrap_or(b"");
        let cseq = msg.cseq().map_or(0, |c| c.seq);
        branch_id::to_tag(self.config.branch_salt, call_id, from_tag, cseq)
    }

    /// A To tag for a reply to bytes that did not parse: stable for retransmissions of them.
    pub(crate) fn salvage_tag(&self, bytes: &[u8]) -> [u8; 16] {
        branch_id::to_tag(self.config.branch_salt, bytes, b"", 0)
    }

    pub(crate) fn count_reply(&mut self, code: u16) {
        let class = usize::from(code / 100).saturating_sub(1);
        if let Some(c) = self.stats.replies_by_class.get_mut(class) {
            *c += 1;
        }
    }
}
