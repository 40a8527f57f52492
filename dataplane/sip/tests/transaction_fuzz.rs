//! Property test: random interleavings (deterministic PRNG) of new
//! requests, retransmissions, TU responses, network responses, ACKs,
//! CANCELs, transport errors, corrupted messages and time jumps never
//! panic, keep `poll_timeout` equal to the earliest live timer, terminate
//! each transaction at most once, and — once the TU answers what it still
//! owes — always end with an empty table.

#[path = "transaction_support.rs"]
mod support;

use ferrovox_sip::Message;
use ferrovox_sip::transaction::{
    ClientInviteState, Config, Event, RequestOutcome, ResponseOutcome, ServerInviteState,
    ServerNonInviteState, TransactionId, TransactionLayer, TransactionState, Transport,
    TryingPolicy,
};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use support::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> Option<&'a T> {
        if v.is_empty() {
            None
        } else {
            v.get(self.below(v.len()))
        }
    }
}

#[derive(Default)]
struct World {
    /// Requests received from the network (for retransmission).
    received: Vec<(Vec<u8>, ferrovox_sip::transaction::Peer)>,
    /// The request of each transaction (to build responses from).
    request_of: HashMap<TransactionId, Vec<u8>>,
    ids: Vec<TransactionId>,
    created: HashSet<TransactionId>,
    terminated: HashSet<TransactionId>,
    /// Distinct states observed (coverage check).
    states: HashSet<String>,
}

impl World {
    fn created(&mut self, id: TransactionId, req: Vec<u8>) {
        assert!(self.created.insert(id), "id reused: {id:?}");
        self.ids.push(id);
        self.request_of.insert(id, req);
    }

    fn drain(&mut self, l: &mut TransactionLayer) {
        let d = drain(l);
        for (_, bytes) in &d.sent {
            // Everything the layer sends parses.
            Message::parse(bytes).expect("layer output parses");
        }
        for e in d.events {
            if let Event::Terminated { id, .. } = e {
                assert!(self.created.contains(&id));
                assert!(self.terminated.insert(id), "terminated twice");
            }
        }
    }
}

const METHODS: [&str; 6] = ["INVITE", "INVITE", "OPTIONS", "BYE", "CANCEL", "ACK"];
const CODES: [u16; 8] = [100, 180, 183, 200, 202, 404, 486, 603];

fn run_seed(seed: u64, steps: usize) -> HashSet<String> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let config = Config {
        trying: [
            TryingPolicy::Immediate,
            TryingPolicy::After200ms,
            TryingPolicy::Never,
        ][seed as usize % 3],
        rfc6026: seed.is_multiple_of(2),
        ..Config::default()
    };
    let mut l = TransactionLayer::new(config);
    let t0 = Instant::now();
    let mut now = t0;
    let mut w = World::default();
    let branches: Vec<String> = (0..40).map(|i| format!("z9hG4bKb{i}")).collect();
    let transports = [("UDP", Transport::Udp), ("TCP", Transport::Tcp)];

    for _ in 0..steps {
        let (tname, tr) = transports[rng.below(2)];
        let p = peer(5060 + rng.below(2) as u16, tr);
        match rng.below(14) {
            // A request from the network.
            0 | 1 => {
                let method = METHODS[rng.below(METHODS.len())];
                let branch = if rng.below(10) == 0 {
                    None
                } else {
                    rng.pick(&branches).map(String::as_str)
                };
                let to_tag = (method == "ACK" || method == "BYE").then_some("s");
                let req = Req {
                    method,
                    branch,
                    transport: tname,
                    cseq: 1 + rng.below(3) as u32,
                    to_tag,
                    ..Req::default()
                }
                .bytes();
                let m = Message::parse(&req).unwrap();
                if let Ok(RequestOutcome::New { id, cancels }) = l.handle_request(&m, p, now) {
                    assert_ne!(method, "ACK");
                    if let Some(c) = cancels {
                        assert!(matches!(
                            l.state(c),
                            Some(TransactionState::ServerInvite(_))
                        ));
                    }
                    w.created(id, req.clone());
                }
                w.received.push((req, p));
            }
            // A retransmission of something received.
            2 | 3 => {
                if let Some((req, p)) = rng.pick(&w.received).cloned() {
                    let m = Message::parse(&req).unwrap();
                    if let Ok(RequestOutcome::New { id, .. }) = l.handle_request(&m, p, now) {
                        w.created(id, req);
                    }
                }
            }
            // The TU responds on some transaction (maybe stale, maybe a
            // client one: errors are fine).
            4 | 5 => {
                if let Some(&id) = rng.pick(&w.ids) {
                    let req = w.request_of.get(&id).cloned().unwrap_or_default();
                    let code = CODES[rng.below(CODES.len())];
                    if let Ok(m) = Message::parse(&req)
                        && m.is_request()
                    {
                        let r = response(&req, code, Some("s"));
                        let _ = l.respond(id, &r, now);
                    }
                }
            }
            // A new client transaction.
            6 => {
                let method = ["INVITE", "OPTIONS", "MESSAGE"][rng.below(3)];
                let branch = format!("z9hG4bKc{}", rng.next() % 10_000);
                let req = Req {
                    method,
                    branch: Some(&branch),
                    transport: tname,
                    ..Req::default()
                }
                .bytes();
                if let Ok(id) = l.send_request(&req, p, rng.next(), now) {
                    w.created(id, req);
                }
            }
            // A network response to one of our requests.
            7 | 8 => {
                if let Some(&id) = rng.pick(&w.ids) {
                    let req = w.request_of.get(&id).cloned().unwrap_or_default();
                    let code = CODES[rng.below(CODES.len())];
                    if Message::parse(&req).is_ok_and(|m| m.is_request()) {
                        let r = response(&req, code, Some("t"));
                        let m = Message::parse(&r).unwrap();
                        match l.handle_response(&m, now).unwrap() {
                            ResponseOutcome::Deliver { id: got, .. }
                            | ResponseOutcome::Absorbed { id: got } => {
                                assert!(w.created.contains(&got))
                            }
                            ResponseOutcome::Stray => {}
                        }
                    }
                }
            }
            // CANCEL a client INVITE.
            9 => {
                if let Some(&id) = rng.pick(&w.ids)
                    && let Ok(c) = l.cancel(id, now)
                {
                    let bytes = l.retransmit_buffer(c).unwrap().to_vec();
                    w.created(c, bytes);
                }
            }
            // Transport error (rare).
            10 => {
                if rng.below(8) == 0
                    && let Some(&id) = rng.pick(&w.ids)
                {
                    let _ = l.transport_error(id, now);
                }
            }
            // A corrupted copy of a message from either direction.
            11 => {
                if let Some((req, p)) = rng.pick(&w.received).cloned() {
                    let mut b = req;
                    for _ in 0..1 + rng.below(4) {
                        let i = rng.below(b.len());
                        if let Some(x) = b.get_mut(i) {
                            *x = (rng.next() & 0xff) as u8;
                        }
                    }
                    if let Ok(m) = Message::parse(&b) {
                        if m.is_request() {
                            if let Ok(RequestOutcome::New { id, .. }) = l.handle_request(&m, p, now)
                            {
                                w.created(id, b.clone());
                            }
                        } else {
                            let _ = l.handle_response(&m, now);
                        }
                    }
                }
            }
            // Time passes.
            _ => {
                now += Duration::from_millis(rng.below(4000) as u64);
                l.handle_timeout(now);
            }
        }
        w.drain(&mut l);
        for id in &w.ids {
            if let Some(s) = l.state(*id) {
                w.states.insert(format!("{s:?}"));
            }
        }
        assert_eq!(l.poll_timeout(), l.earliest_timer_by_scan());
        assert_eq!(l.len(), w.created.len() - w.terminated.len());
    }

    // The TU answers what it still owes; the network answers pending
    // client INVITEs (a proxy's Timer C would CANCEL them).
    let live: Vec<TransactionId> = w
        .ids
        .iter()
        .copied()
        .filter(|id| !w.terminated.contains(id))
        .collect();
    for id in live {
        let req = w.request_of.get(&id).cloned().unwrap_or_default();
        match l.state(id) {
            Some(TransactionState::ServerInvite(ServerInviteState::Proceeding))
            | Some(TransactionState::ServerNonInvite(
                ServerNonInviteState::Trying | ServerNonInviteState::Proceeding,
            )) => {
                l.respond(id, &response(&req, 500, Some("s")), now)
                    .expect("final response accepted");
            }
            Some(TransactionState::ClientInvite(ClientInviteState::Proceeding)) => {
                let r = response(&req, 487, Some("t"));
                let out = l
                    .handle_response(&Message::parse(&r).unwrap(), now)
                    .unwrap();
                assert!(matches!(out, ResponseOutcome::Deliver { id: got, .. } if got == id));
            }
            _ => {}
        }
        w.drain(&mut l);
    }
    while let Some(t) = l.poll_timeout() {
        assert_eq!(Some(t), l.earliest_timer_by_scan());
        assert!(t >= now, "a due timer was left unfired");
        now = t;
        l.handle_timeout(now);
        w.drain(&mut l);
    }
    assert!(l.is_empty(), "seed {seed}: {} left", l.len());
    assert!(w.created.len() > 100, "seed {seed}: too few transactions");
    eprintln!(
        "seed {seed}: {} transactions, {} states seen",
        w.created.len(),
        w.states.len()
    );
    assert_eq!(w.created, w.terminated, "seed {seed}");
    w.states
}

#[test]
fn random_interleavings_end_with_an_empty_table() {
    let mut states = HashSet::new();
    for seed in 1..=30 {
        states.extend(run_seed(seed, 2000));
    }
    // All 14 states of Figures 5-8 + RFC 6026 were reached.
    assert_eq!(states.len(), 14, "{states:?}");
}
