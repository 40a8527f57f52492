//! Bad input never panics: mutated and truncated versions of every message
//! of a call, fed as requests and responses from several peers while
//! timers run. Deterministic (fixed-seed generator).

mod common;

use common::*;
use ferrovox_proxy::{Decision, ForwardPlan, Target};
use std::time::Duration;

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
}

fn corpus() -> Vec<String> {
    let mut h = Harness::new(config(), ferrovox_proxy::NextHop::new(bob()));
    let inv = invite("rb1", "z9hG4bKrb1");
    let out = h.input(&inv, alice());
    let fwd = out.iter().find(|s| s.is_request("INVITE")).unwrap().clone();
    let mut c = vec![
        inv.clone(),
        fwd.text.clone(),
        respond(&fwd, 180, "Ringing", "b"),
        respond(&fwd, 200, "OK", "b"),
        respond(&fwd, 486, "Busy Here", "b"),
        inv.replace("INVITE sip", "CANCEL sip").replace("1 INVITE", "1 CANCEL"),
        "ACK sip:127.0.0.1:5070;lr SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKx\r\n\
Route: <sip:127.0.0.1:5070;lr>, <sip:bob@127.0.0.1:5080>\r\nMax-Forwards: 70\r\n\
From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nCall-ID: rb1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
            .to_string(),
    ];
    c.push(c[0].replace("Max-Forwards: 70", "Max-Forwards: 0"));
    c
}

#[test]
fn mutated_messages_never_panic() {
    let corpus = corpus();
    let peers = [
        alice(),
        bob(),
        udp("198.51.100.1:5060"),
        tcp("127.0.0.1:5090"),
    ];
    let policy = Scripted {
        decision: Decision::Forward(ForwardPlan::serial(vec![
            vec![Target::to_peer(bob()), Target::to_peer(peers[2])],
            vec![Target {
                uri: "sip:x@198.51.100.1".into(),
                dest: peers[3],
            }],
        ])),
        results: Vec::new(),
        routed: 0,
    };
    let mut h = Harness::new(config(), policy);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let specials = [
        b'\r', b'\n', b':', b';', b',', b'<', b'>', b'=', b' ', b'0', 0xff, 0,
    ];
    for i in 0..20_000 {
        let base = corpus[rng.below(corpus.len())].as_bytes();
        let mut m = base.to_vec();
        for _ in 0..=rng.below(4) {
            match rng.below(4) {
                0 if !m.is_empty() => {
                    let at = rng.below(m.len());
                    m[at] = specials[rng.below(specials.len())];
                }
                1 if !m.is_empty() => {
                    let at = rng.below(m.len());
                    m.truncate(at);
                }
                2 => {
                    let at = rng.below(m.len() + 1);
                    let from = rng.below(base.len());
                    let len = rng.below(40).min(base.len() - from);
                    let piece = base[from..from + len].to_vec();
                    m.splice(at..at, piece);
                }
                _ if !m.is_empty() => {
                    let at = rng.below(m.len());
                    m.remove(at);
                }
                _ => {}
            }
        }
        let from = peers[rng.below(peers.len())];
        h.proxy.handle_message(&m, from, h.now);
        h.drain();
        if i % 7 == 0 {
            h.proxy
                .transport_error(peers[rng.below(peers.len())], h.now);
        }
        if i % 50 == 0 {
            h.advance(Duration::from_millis(rng.below(3000) as u64));
        }
        h.events();
    }
    // Everything still drains to nothing.
    h.advance(Duration::from_secs(400));
    h.events();
    let s = h.proxy.stats();
    assert_eq!(s.active_transactions, 0, "{s:?}");
    assert_eq!(s.active_contexts, 0, "{s:?}");
}
