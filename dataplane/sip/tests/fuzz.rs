//! Deterministic mutation testing: 100k random mutations of the valid
//! corpus (RFC 4475 messages and a typical INVITE) must never panic in any
//! entry point (`fuzz_parse` drives them all), and whenever a mutant still
//! validates, the proxy rewrite of it must parse and validate again with
//! exactly one more Via and the same dialog identifiers; and stream
//! framing (`frame_len`) agrees with datagram parsing.

mod common;

use ferrovox_sip::rewrite::{RequestEdits, ResponseEdits, rewrite_request, rewrite_response};
use ferrovox_sip::validate::{validate_request, validate_response};
use ferrovox_sip::{Message, frame_len, fuzz_parse};

/// xorshift64*: tiny, deterministic, good enough for mutation choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const INTERESTING: &[u8] = b":;,\"<>\r\n \t\\%@[]=?/0123456789z\x00\xff";

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = v.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(len + 1);
                let b = INTERESTING[rng.below(INTERESTING.len())];
                v.insert(i, b);
            }
            2 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below(16.min(len - i));
                v.drain(i..i + n);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below(32.min(len - i));
                let chunk = v[i..i + n].to_vec();
                let at = rng.below(v.len() + 1);
                v.splice(at..at, chunk);
            }
            4 if len > 0 => {
                v.truncate(rng.below(len));
            }
            5 if len > 0 => {
                let i = rng.below(len);
                v[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            _ => {
                // Swap a digit run for a huge number (scalar overflow paths).
                if let Some(i) = v.iter().position(|b| b.is_ascii_digit()) {
                    let at = i + rng.below(len - i);
                    v.splice(at..at, b"99999999999999999999".iter().copied());
                }
            }
        }
    }
    v
}

fn check_properties(data: &[u8]) {
    fuzz_parse(data);
    let Ok(m) = Message::parse(data) else { return };
    // Stream framing agrees with datagram parsing whenever Content-Length
    // is present.
    if m.content_length().is_some() {
        assert_eq!(
            frame_len(data),
            Ok(Some(m.consumed())),
            "frame_len disagrees with parse"
        );
    }
    let mut out = Vec::new();
    if let Ok(info) = validate_request(&m) {
        let edits = RequestEdits {
            via: Some(b"SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKmut"),
            record_route: Some(b"<sip:192.0.2.1;lr>"),
            decrement_max_forwards: true,
            ..RequestEdits::default()
        };
        match rewrite_request(&m, &edits, &mut out) {
            Ok(()) => {
                let o = Message::parse(&out).expect("rewritten request parses");
                let oi = validate_request(&o).expect("rewritten request validates");
                assert_eq!(oi.via_count, info.via_count + 1);
                assert_eq!(oi.call_id, info.call_id);
                assert_eq!(oi.cseq, info.cseq);
                assert_eq!(oi.from.tag(), info.from.tag());
                assert_eq!(
                    oi.max_forwards,
                    Some(info.max_forwards.map_or(70, |n| n - 1))
                );
                assert_eq!(o.body(), m.body());
            }
            Err(e) => assert_eq!(info.max_forwards, Some(0), "unexpected rewrite error {e:?}"),
        }
    } else if let Ok(info) = validate_response(&m) {
        rewrite_response(&m, &ResponseEdits::default(), &mut out).expect("response rewrite");
        let o = Message::parse(&out).expect("rewritten response parses");
        assert_eq!(o.vias().filter(|v| v.is_ok()).count(), info.via_count - 1);
        assert_eq!(o.body(), m.body());
    }
}

#[test]
fn hundred_thousand_mutations_never_panic_and_keep_invariants() {
    let corpus = common::valid_corpus();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut parsed = 0usize;
    for iter in 0..100_000u32 {
        let seed = &corpus[rng.below(corpus.len())];
        let data = mutate(&mut rng, seed);
        if Message::parse(&data).is_ok() {
            parsed += 1;
        }
        let r = std::panic::catch_unwind(|| check_properties(&data));
        if r.is_err() {
            panic!(
                "iteration {iter}: input {:?}",
                String::from_utf8_lossy(&data)
            );
        }
    }
    // The mutations must keep a fair share parseable, or the test would
    // only exercise the first error path.
    assert!(parsed > 20_000, "only {parsed} mutants parsed");
}

#[test]
fn every_prefix_of_every_corpus_message_is_handled() {
    for m in common::valid_corpus() {
        for cut in 0..m.len() {
            check_properties(&m[..cut]);
        }
        check_properties(&m);
    }
}
