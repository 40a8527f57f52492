//! The transaction table: storage, matching, dispatch to the four state
//! machines, the shared timer heap and the output queue (RFC 3261 §17.1.3,
//! §17.2.3, §17.1.4, §17.2.4).
//!
//! Storage is a slab of slots (index + generation = [`TransactionId`]) and
//! a hash index from the 64-bit key hash to the slot, with collisions
//! chained through the transactions. Outgoing bytes are copied into one
//! reusable arena that [`TransactionLayer::poll_output`] lends out and
//! clears when the queue is empty, so the steady state does not allocate
//! for output.

use super::key::{KeyRef, PassThrough, stored_to_tag};
use super::timer::{Entry, Timer, TimerHeap};
use super::{
    ClientInviteState, ClientNonInviteState, Config, Event, Output, Peer, RequestOutcome,
    ResponseOutcome, TransactionError, TransactionId, TransactionState, Transmit, TryingPolicy,
};
use crate::parse::message::Message;
use crate::parse::method::Method;
use std::collections::{HashMap, VecDeque};
use std::hash::RandomState;
use std::time::{Duration, Instant};

const NONE: u32 = u32::MAX;

/// Flag: the prebuilt 100 Trying in `buf` has not been sent yet.
pub(super) const FLAG_TRYING_UNSENT: u8 = 1;
/// Flag: a 100 Trying was sent but not kept; a retransmitted INVITE in
/// Proceeding is answered with a 100 rebuilt from it (byte-identical).
pub(super) const FLAG_TRYING_REBUILD: u8 = 2;

/// One transaction.
#[derive(Debug)]
pub(super) struct Txn {
    pub state: TransactionState,
    pub flags: u8,
    /// Retransmissions done by the A/E/G timer.
    pub retx: u8,
    /// Generations of the two timer slots.
    pub timer_gen: [u32; 2],
    /// Next transaction in the same hash chain.
    pub next: u32,
    pub hash: u64,
    pub user: u64,
    pub peer: Peer,
    /// Owned matching key ([`KeyRef::encode`]).
    pub key: Box<[u8]>,
    /// What to (re)transmit: the request, then the ACK (client INVITE);
    /// the request (client non-INVITE); the last response (server; empty
    /// until the TU answers, the immediate 100 Trying is not kept).
    pub buf: Vec<u8>,
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    txn: Option<Txn>,
}

#[derive(Debug, Clone, Copy)]
enum Pending {
    Transmit {
        id: TransactionId,
        dest: Peer,
        start: usize,
        end: usize,
    },
    Event(Event),
}

/// All transactions of one SIP element (see the [module docs](super)).
#[derive(Debug)]
pub struct TransactionLayer {
    pub(super) config: Config,
    slots: Vec<Slot>,
    free: Vec<u32>,
    index: HashMap<u64, u32, PassThrough>,
    hasher: RandomState,
    timers: TimerHeap,
    out: VecDeque<Pending>,
    arena: Vec<u8>,
    pub(super) scratch: Vec<u8>,
    live: usize,
}

fn is_live(slots: &[Slot], e: &Entry) -> bool {
    slots.get(e.index as usize).is_some_and(|s| {
        s.generation == e.txn_gen
            && s.txn
                .as_ref()
                .is_some_and(|t| t.timer_gen.get(e.timer.slot()).copied() == Some(e.timer_gen))
    })
}

/// The status code of a serialized response (`SIP/2.0 NNN ...`).
pub(super) fn status_code(bytes: &[u8]) -> Option<u16> {
    let start = crate::parse::message::leading_keepalive(bytes);
    let b = bytes.get(start..)?;
    if !b.get(..8)?.eq_ignore_ascii_case(b"SIP/2.0 ") {
        return None;
    }
    let digits = b.get(8..11)?;
    if !digits.iter().all(u8::is_ascii_digit) || !matches!(b.get(11), Some(b' ' | b'\r' | b'\n')) {
        return None;
    }
    let code = digits
        .iter()
        .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
    (100..=699).contains(&code).then_some(code)
}

impl TransactionLayer {
    /// An empty layer. T1 is kept within 1 ms – 1 h (so retransmission
    /// timers always advance and no deadline arithmetic can overflow), T2
    /// within T1 – 1 day and T4 within 0 – 1 day.
    pub fn new(mut config: Config) -> Self {
        const HOUR: Duration = Duration::from_secs(3600);
        const DAY: Duration = Duration::from_secs(86_400);
        config.t1 = config.t1.clamp(Duration::from_millis(1), HOUR);
        config.t2 = config.t2.clamp(config.t1, DAY);
        config.t4 = config.t4.min(DAY);
        TransactionLayer {
            config,
            slots: Vec::new(),
            free: Vec::new(),
            index: HashMap::with_hasher(PassThrough),
            hasher: RandomState::new(),
            timers: TimerHeap::default(),
            out: VecDeque::new(),
            arena: Vec::new(),
            scratch: Vec::new(),
            live: 0,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Number of live transactions.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether there are no live transactions.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    // ----- table -----------------------------------------------------

    pub(super) fn txn(&self, idx: u32) -> Option<&Txn> {
        self.slots.get(idx as usize).and_then(|s| s.txn.as_ref())
    }

    pub(super) fn txn_mut(&mut self, idx: u32) -> Option<&mut Txn> {
        self.slots
            .get_mut(idx as usize)
            .and_then(|s| s.txn.as_mut())
    }

    pub(super) fn id_of(&self, idx: u32) -> TransactionId {
        TransactionId {
            index: idx,
            generation: self.slots.get(idx as usize).map_or(0, |s| s.generation),
        }
    }

    fn resolve(&self, id: TransactionId) -> Option<u32> {
        self.slots
            .get(id.index as usize)
            .filter(|s| s.generation == id.generation && s.txn.is_some())
            .map(|_| id.index)
    }

    fn find(&self, key: &KeyRef<'_>) -> Option<u32> {
        self.find_hashed(key, key.hash(&self.hasher))
    }

    fn find_hashed(&self, key: &KeyRef<'_>, h: u64) -> Option<u32> {
        let mut idx = *self.index.get(&h)?;
        while idx != NONE {
            let t = self.txn(idx)?;
            if key.matches(&t.key) {
                return Some(idx);
            }
            idx = t.next;
        }
        None
    }

    pub(super) fn insert(
        &mut self,
        key: &KeyRef<'_>,
        state: TransactionState,
        peer: Peer,
        user: u64,
        buf: Vec<u8>,
    ) -> Result<u32, TransactionError> {
        let hash = key.hash(&self.hasher);
        if self.find_hashed(key, hash).is_some() {
            return Err(TransactionError::Duplicate);
        }
        let next = self.index.get(&hash).copied().unwrap_or(NONE);
        let txn = Txn {
            state,
            flags: 0,
            retx: 0,
            timer_gen: [0, 0],
            next,
            hash,
            user,
            peer,
            key: key.encode(),
            buf,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                if let Some(s) = self.slots.get_mut(i as usize) {
                    s.txn = Some(txn);
                }
                i
            }
            None => {
                let i = u32::try_from(self.slots.len())
                    .ok()
                    .filter(|&i| i != NONE)
                    .ok_or(TransactionError::Duplicate)?;
                self.slots.push(Slot {
                    generation: 0,
                    txn: Some(txn),
                });
                i
            }
        };
        self.index.insert(hash, idx);
        self.live += 1;
        Ok(idx)
    }

    /// Remove a transaction (Terminated) and report it to the TU.
    pub(super) fn terminate(&mut self, idx: u32) {
        let id = self.id_of(idx);
        let Some(slot) = self.slots.get_mut(idx as usize) else {
            return;
        };
        let Some(txn) = slot.txn.take() else {
            return;
        };
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(idx);
        self.live -= 1;
        // Unlink from the hash chain.
        if self.index.get(&txn.hash) == Some(&idx) {
            if txn.next == NONE {
                self.index.remove(&txn.hash);
            } else {
                self.index.insert(txn.hash, txn.next);
            }
        } else {
            let mut cur = self.index.get(&txn.hash).copied().unwrap_or(NONE);
            while cur != NONE {
                let Some(t) = self.txn_mut(cur) else { break };
                if t.next == idx {
                    t.next = txn.next;
                    break;
                }
                cur = t.next;
            }
        }
        self.out
            .push_back(Pending::Event(Event::Terminated { id, user: txn.user }));
    }

    pub(super) fn emit(&mut self, e: Event) {
        self.out.push_back(Pending::Event(e));
    }

    // ----- timers ----------------------------------------------------

    /// Arm `timer` of transaction `idx` at `at` (replacing whatever was in
    /// its slot).
    pub(super) fn arm(&mut self, idx: u32, timer: Timer, at: Instant) {
        let Some(s) = self.slots.get_mut(idx as usize) else {
            return;
        };
        let txn_gen = s.generation;
        let Some(t) = s.txn.as_mut() else { return };
        let Some(g) = t.timer_gen.get_mut(timer.slot()) else {
            return;
        };
        *g = g.wrapping_add(1);
        let timer_gen = *g;
        self.timers.push(Entry {
            at,
            index: idx,
            txn_gen,
            timer_gen,
            timer,
        });
        if self.timers.len() > 4 * self.live + 64 {
            let slots = &self.slots;
            self.timers.compact(|e| is_live(slots, e));
        }
    }

    /// Cancel whatever timer is in `slot` (0 retransmission, 1 lifetime).
    pub(super) fn disarm(&mut self, idx: u32, slot: usize) {
        if let Some(g) = self.txn_mut(idx).and_then(|t| t.timer_gen.get_mut(slot)) {
            *g = g.wrapping_add(1);
        }
    }

    /// The next retransmission deadline: `interval` after the deadline that
    /// just fired, or after `now` when the caller is running late.
    pub(super) fn next_at(fired: Instant, interval: Duration, now: Instant) -> Instant {
        let at = fired + interval;
        if at <= now { now + interval } else { at }
    }

    /// The earliest time [`TransactionLayer::handle_timeout`] must be called
    /// (the exact earliest live timer; `None` when no timer is armed).
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let slots = &self.slots;
        self.timers.pop_stale(|e| is_live(slots, e));
        self.timers.peek().map(|e| e.at)
    }

    /// Fire every timer due at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        loop {
            let slots = &self.slots;
            self.timers.pop_stale(|e| is_live(slots, e));
            let Some(e) = self.timers.peek().copied().filter(|e| e.at <= now) else {
                break;
            };
            self.timers.pop();
            self.disarm(e.index, e.timer.slot());
            let Some(state) = self.txn(e.index).map(|t| t.state) else {
                continue;
            };
            match state {
                TransactionState::ClientInvite(s) => {
                    self.client_invite_timer(e.index, s, e.timer, e.at, now)
                }
                TransactionState::ClientNonInvite(s) => {
                    self.client_non_invite_timer(e.index, s, e.timer, e.at, now)
                }
                TransactionState::ServerInvite(s) => {
                    self.server_invite_timer(e.index, s, e.timer, e.at, now)
                }
                TransactionState::ServerNonInvite(s) => {
                    self.server_non_invite_timer(e.index, s, e.timer, e.at, now)
                }
            }
        }
    }

    /// Slow check for tests: the earliest live timer found by scanning the
    /// whole heap (must equal [`TransactionLayer::poll_timeout`]).
    #[doc(hidden)]
    pub fn earliest_timer_by_scan(&self) -> Option<Instant> {
        self.timers
            .iter()
            .filter(|e| is_live(&self.slots, e))
            .map(|e| e.at)
            .min()
    }

    /// Entries in the timer heap, live and stale (for tests and metrics).
    pub fn timer_entries(&self) -> usize {
        self.timers.len()
    }

    // ----- output ----------------------------------------------------

    /// Queue `buf` of transaction `idx` for sending to its peer.
    pub(super) fn send_buf(&mut self, idx: u32) {
        let id = self.id_of(idx);
        let Some(t) = self.slots.get(idx as usize).and_then(|s| s.txn.as_ref()) else {
            return;
        };
        let start = self.arena.len();
        self.arena.extend_from_slice(&t.buf);
        self.out.push_back(Pending::Transmit {
            id,
            dest: t.peer,
            start,
            end: self.arena.len(),
        });
    }

    /// Queue the scratch buffer for sending to the peer of transaction
    /// `idx`.
    pub(super) fn send_scratch(&mut self, idx: u32) {
        let id = self.id_of(idx);
        let Some(dest) = self.txn(idx).map(|t| t.peer) else {
            return;
        };
        let start = self.arena.len();
        self.arena.extend_from_slice(&self.scratch);
        self.out.push_back(Pending::Transmit {
            id,
            dest,
            start,
            end: self.arena.len(),
        });
    }

    /// Queue arbitrary bytes for sending to the peer of transaction `idx`.
    pub(super) fn send_bytes(&mut self, idx: u32, bytes: &[u8]) {
        let id = self.id_of(idx);
        let Some(dest) = self.txn(idx).map(|t| t.peer) else {
            return;
        };
        let start = self.arena.len();
        self.arena.extend_from_slice(bytes);
        self.out.push_back(Pending::Transmit {
            id,
            dest,
            start,
            end: self.arena.len(),
        });
    }

    /// The next datagram to send or event for the TU. Drain it completely
    /// (until `None`) after every input: the bytes lent out stay valid only
    /// until the next call.
    pub fn poll_output(&mut self) -> Option<Output<'_>> {
        match self.out.pop_front() {
            None => {
                self.arena.clear();
                None
            }
            Some(Pending::Event(e)) => Some(Output::Event(e)),
            Some(Pending::Transmit {
                id,
                dest,
                start,
                end,
            }) => Some(Output::Transmit(Transmit {
                id,
                dest,
                bytes: self.arena.get(start..end).unwrap_or(&[]),
            })),
        }
    }

    // ----- inputs ----------------------------------------------------

    /// A request from the network, `source` being where responses go
    /// (the caller applies §18.2.2 / RFC 3581 to choose it; usually the
    /// packet's source address and transport).
    ///
    /// Matches it to a server transaction (§17.2.3): a retransmission is
    /// absorbed (the last response is re-sent), the ACK for a non-2xx final
    /// response is absorbed, an ACK matching nothing (the ACK for a 2xx) is
    /// returned as [`RequestOutcome::Stateless`], anything else creates a
    /// new server transaction ([`RequestOutcome::New`]; for a CANCEL it
    /// names the INVITE transaction it cancels, §9.2).
    pub fn handle_request(
        &mut self,
        msg: &Message<'_>,
        source: Peer,
        now: Instant,
    ) -> Result<RequestOutcome, TransactionError> {
        let key = KeyRef::server(msg)?;
        self.handle_request_keyed(msg, &key, source, now)
    }

    /// [`TransactionLayer::handle_request`] for a request the caller has
    /// already run through [`crate::validate::validate_request`]: the key
    /// is taken from `info` instead of parsing Via and CSeq again.
    pub fn handle_request_validated(
        &mut self,
        msg: &Message<'_>,
        info: &crate::validate::RequestInfo<'_>,
        source: Peer,
        now: Instant,
    ) -> Result<RequestOutcome, TransactionError> {
        let key = KeyRef::server_validated(msg, info)?;
        self.handle_request_keyed(msg, &key, source, now)
    }

    fn handle_request_keyed(
        &mut self,
        msg: &Message<'_>,
        key: &KeyRef<'_>,
        source: Peer,
        now: Instant,
    ) -> Result<RequestOutcome, TransactionError> {
        let key = *key;
        let method = msg.method().ok_or(TransactionError::NotARequest)?;
        let is_ack = method == Method::Ack;
        let found = self
            .find(&key)
            .filter(|&i| self.legacy_ok(i, &key, msg, is_ack));
        if is_ack {
            return Ok(match found {
                Some(idx) => self.server_invite_ack(idx, now),
                None => RequestOutcome::Stateless { matched: None },
            });
        }
        if let Some(idx) = found {
            let id = self.id_of(idx);
            match self.txn(idx).map(|t| t.state) {
                Some(TransactionState::ServerInvite(s)) => {
                    self.server_invite_retransmission(idx, s, msg)
                }
                Some(TransactionState::ServerNonInvite(s)) => {
                    self.server_non_invite_retransmission(idx, s)
                }
                _ => {}
            }
            return Ok(RequestOutcome::Retransmission { id });
        }
        match method {
            Method::Invite => self.server_invite_new(&key, msg, source, now),
            Method::Cancel => {
                let invite_key = key.with_method(b"INVITE");
                let cancels = self
                    .find(&invite_key)
                    .filter(|&i| self.legacy_ok(i, &invite_key, msg, false))
                    .filter(|&i| {
                        matches!(
                            self.txn(i).map(|t| t.state),
                            Some(TransactionState::ServerInvite(_))
                        )
                    })
                    .map(|i| self.id_of(i));
                let id = self.server_non_invite_new(&key, source, now)?;
                Ok(RequestOutcome::New { id, cancels })
            }
            _ => {
                let id = self.server_non_invite_new(&key, source, now)?;
                Ok(RequestOutcome::New { id, cancels: None })
            }
        }
    }

    /// The To-tag rule of the RFC 2543 fallback (§17.2.3): a request other
    /// than ACK carries the To tag of the request that created the
    /// transaction; an ACK carries the To tag of the response it sent.
    fn legacy_ok(&self, idx: u32, key: &KeyRef<'_>, msg: &Message<'_>, is_ack: bool) -> bool {
        if !key.is_legacy() {
            return true;
        }
        let Some(t) = self.txn(idx) else { return false };
        if is_ack {
            let sent = Message::parse(&t.buf)
                .ok()
                .and_then(|r| r.to().ok().and_then(|to| to.tag()));
            let ack = msg.to().ok().and_then(|to| to.tag());
            sent.is_some() && sent == ack
        } else {
            stored_to_tag(&t.key) == Some(key.to_tag())
        }
    }

    /// A response from the TU, sent through server transaction `id`
    /// (§17.2.1, §17.2.2). `response` is the serialized response; it is
    /// copied (kept for retransmission when the state machine needs it).
    pub fn respond(
        &mut self,
        id: TransactionId,
        response: &[u8],
        now: Instant,
    ) -> Result<(), TransactionError> {
        let idx = self
            .resolve(id)
            .ok_or(TransactionError::UnknownTransaction)?;
        let code = status_code(response).ok_or(TransactionError::BadStatusLine)?;
        match self.txn(idx).map(|t| t.state) {
            Some(TransactionState::ServerInvite(s)) => {
                self.server_invite_respond(idx, s, code, response, now)
            }
            Some(TransactionState::ServerNonInvite(s)) => {
                self.server_non_invite_respond(idx, s, code, response, now)
            }
            Some(state) => Err(TransactionError::InvalidState {
                state,
                action: "responding through a client transaction",
            }),
            None => Err(TransactionError::UnknownTransaction),
        }
    }

    /// Start a client transaction (§17.1.1, §17.1.2) for `request` (the
    /// serialized request, whose top Via carries this element's
    /// `z9hG4bK` branch), sent to `dest`. `user` is an opaque token returned
    /// in every outcome and event of the transaction. The request is queued
    /// for sending at once.
    pub fn send_request(
        &mut self,
        request: &[u8],
        dest: Peer,
        user: u64,
        now: Instant,
    ) -> Result<TransactionId, TransactionError> {
        let msg = Message::parse(request)?;
        let method = msg.method().ok_or(TransactionError::NotARequest)?;
        let via = msg.top_via()?;
        if msg.cseq()?.method != method {
            return Err(TransactionError::CSeqMethodMismatch);
        }
        let branch = via.branch.unwrap_or(&[]);
        self.start_client(msg.as_bytes(), method, branch, dest, user, now)
    }

    /// [`TransactionLayer::send_request`] without parsing `request`: the
    /// caller states its method and top Via branch (a proxy that has just
    /// written them with [`crate::rewrite::rewrite_request`] knows both),
    /// saving a full parse of the message on the forwarding path. The
    /// request bytes are trusted to carry that method (also in CSeq) and
    /// that branch in the top Via; they are parsed later only if an ACK or
    /// CANCEL has to be built from them.
    pub fn send_request_prepared(
        &mut self,
        request: &[u8],
        method: Method<'_>,
        branch: &[u8],
        dest: Peer,
        user: u64,
        now: Instant,
    ) -> Result<TransactionId, TransactionError> {
        self.start_client(request, method, branch, dest, user, now)
    }

    fn start_client(
        &mut self,
        request: &[u8],
        method: Method<'_>,
        branch: &[u8],
        dest: Peer,
        user: u64,
        now: Instant,
    ) -> Result<TransactionId, TransactionError> {
        if method == Method::Ack {
            return Err(TransactionError::AckNotATransaction);
        }
        let cookie = crate::header::via::MAGIC_COOKIE;
        if branch.len() <= cookie.len()
            || !branch.starts_with(cookie)
            || !branch.iter().all(|&b| crate::parse::lex::is_token(b))
        {
            return Err(TransactionError::MissingBranch);
        }
        let key = KeyRef::client_parts(method.as_bytes(), branch);
        let reliable = dest.transport.is_reliable();
        let t1 = self.config.t1;
        let (state, retx_timer, timeout_timer) = if method == Method::Invite {
            (
                TransactionState::ClientInvite(ClientInviteState::Calling),
                Timer::A,
                Timer::B,
            )
        } else {
            (
                TransactionState::ClientNonInvite(ClientNonInviteState::Trying),
                Timer::E,
                Timer::F,
            )
        };
        let idx = self.insert(&key, state, dest, user, request.to_vec())?;
        self.send_buf(idx);
        if !reliable {
            self.arm(idx, retx_timer, now + t1);
        }
        self.arm(idx, timeout_timer, now + t1 * 64);
        Ok(self.id_of(idx))
    }

    /// A response from the network, matched to a client transaction
    /// (§17.1.3) and run through its state machine.
    pub fn handle_response(
        &mut self,
        msg: &Message<'_>,
        now: Instant,
    ) -> Result<ResponseOutcome, TransactionError> {
        let code = msg.status_code().ok_or(TransactionError::NotAResponse)?;
        let Some(key) = KeyRef::client(msg)? else {
            return Ok(ResponseOutcome::Stray);
        };
        let Some(idx) = self.find(&key) else {
            return Ok(ResponseOutcome::Stray);
        };
        match self.txn(idx).map(|t| t.state) {
            Some(TransactionState::ClientInvite(s)) => {
                self.client_invite_response(idx, s, code, msg, now)
            }
            Some(TransactionState::ClientNonInvite(s)) => {
                Ok(self.client_non_invite_response(idx, s, code, now))
            }
            _ => Ok(ResponseOutcome::Stray),
        }
    }

    /// Send a CANCEL for client INVITE transaction `id` (§9.1) as a new
    /// client transaction to the same destination, with the same TU token.
    /// Only allowed once a provisional response arrived (Proceeding);
    /// before that the TU must wait (§9.1).
    pub fn cancel(
        &mut self,
        id: TransactionId,
        now: Instant,
    ) -> Result<TransactionId, TransactionError> {
        let idx = self
            .resolve(id)
            .ok_or(TransactionError::UnknownTransaction)?;
        let Some(t) = self.txn(idx) else {
            return Err(TransactionError::UnknownTransaction);
        };
        if t.state != TransactionState::ClientInvite(ClientInviteState::Proceeding) {
            return Err(TransactionError::InvalidState {
                state: t.state,
                action: "CANCEL",
            });
        }
        let (peer, user) = (t.peer, t.user);
        let mut scratch = std::mem::take(&mut self.scratch);
        let built = match self.txn(idx) {
            Some(t) => Message::parse(&t.buf)
                .map_err(TransactionError::from)
                .and_then(|m| super::build_cancel(&m, &mut scratch)),
            None => Err(TransactionError::UnknownTransaction),
        };
        let r = built.and_then(|()| self.send_request(&scratch, peer, user, now));
        self.scratch = scratch;
        r
    }

    /// The caller could not send a message of transaction `id` (§17.1.4,
    /// §17.2.4): the transaction terminates with [`Event::TransportError`].
    pub fn transport_error(
        &mut self,
        id: TransactionId,
        _now: Instant,
    ) -> Result<(), TransactionError> {
        let idx = self
            .resolve(id)
            .ok_or(TransactionError::UnknownTransaction)?;
        let user = self.txn(idx).map_or(0, |t| t.user);
        self.emit(Event::TransportError { id, user });
        self.terminate(idx);
        Ok(())
    }

    // ----- inspection ------------------------------------------------

    /// The state of a live transaction.
    pub fn state(&self, id: TransactionId) -> Option<TransactionState> {
        self.resolve(id).and_then(|i| self.txn(i)).map(|t| t.state)
    }

    /// The TU token of a live transaction.
    pub fn user(&self, id: TransactionId) -> Option<u64> {
        self.resolve(id).and_then(|i| self.txn(i)).map(|t| t.user)
    }

    /// Set the TU token of a live transaction (server transactions start
    /// with 0).
    pub fn set_user(&mut self, id: TransactionId, user: u64) -> Result<(), TransactionError> {
        let idx = self
            .resolve(id)
            .ok_or(TransactionError::UnknownTransaction)?;
        if let Some(t) = self.txn_mut(idx) {
            t.user = user;
        }
        Ok(())
    }

    /// The peer of a live transaction (destination of a client transaction,
    /// where responses of a server transaction go).
    pub fn peer(&self, id: TransactionId) -> Option<Peer> {
        self.resolve(id).and_then(|i| self.txn(i)).map(|t| t.peer)
    }

    /// The bytes a live transaction keeps for retransmission: the request
    /// (client, until a final response), the ACK (client INVITE,
    /// Completed), or the last response (server).
    pub fn retransmit_buffer(&self, id: TransactionId) -> Option<&[u8]> {
        self.resolve(id)
            .and_then(|i| self.txn(i))
            .map(|t| t.buf.as_slice())
    }

    /// Approximate heap and table memory in bytes: slots, owned keys and
    /// buffers (capacity), the hash index and the timer heap.
    pub fn memory_bytes(&self) -> usize {
        let per_slot = std::mem::size_of::<Slot>();
        let owned: usize = self
            .slots
            .iter()
            .filter_map(|s| s.txn.as_ref())
            .map(|t| t.key.len() + t.buf.capacity())
            .sum();
        self.slots.capacity() * per_slot
            + owned
            + self.index.capacity() * (std::mem::size_of::<(u64, u32)>() + 1)
            + self.timers.len() * std::mem::size_of::<Entry>()
            + self.free.capacity() * 4
    }

    /// `size_of` of one table slot (the fixed part of a transaction).
    pub fn slot_size() -> usize {
        std::mem::size_of::<Slot>()
    }

    pub(super) fn trying_policy(&self) -> TryingPolicy {
        self.config.trying
    }

    pub(super) fn set_state(&mut self, idx: u32, state: TransactionState) {
        if let Some(t) = self.txn_mut(idx) {
            t.state = state;
        }
    }

    pub(super) fn reliable(&self, idx: u32) -> bool {
        self.txn(idx)
            .is_some_and(|t| t.peer.transport.is_reliable())
    }
}
