//! Property-style robustness: random and mangled Authorization values must
//! never panic and never authenticate.

mod common;

use common::*;
use ferrovox_registrar::AuthResult;
use ferrovox_sip::Message;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const PIECES: &[&str] = &[
    "Digest ",
    "digest ",
    "Basic ",
    "username=",
    "realm=",
    "nonce=",
    "uri=",
    "response=",
    "cnonce=",
    "nc=",
    "qop=",
    "algorithm=",
    "opaque=",
    "stale=",
    "\"",
    "\\\"",
    ",",
    " ",
    "=",
    "auth",
    "auth-int",
    "MD5",
    "MD5-sess",
    "SHA-256",
    "SHA-256-sess",
    "00000001",
    "ffffffff",
    "zzzzzzzz",
    "\"example.com\"",
    "\"alice\"",
    "sip:example.com",
    "0123456789abcdef",
    "é",
    "\u{0}",
    "\t",
    ";",
    "<",
    ">",
    "%",
    "\"\"",
    ",,",
    "==",
];

fn random_value(rng: &mut Rng) -> String {
    let mut s = String::new();
    for _ in 0..rng.below(24) {
        s.push_str(rng.pick(PIECES));
    }
    s
}

/// A structurally valid answer with one field replaced by noise.
fn mangled_answer(rng: &mut Rng, ch: &Challenge) -> String {
    let good = answer(ch, "REGISTER", "sip:example.com", "alice", "wonderland", 1);
    let fields: Vec<&str> = good.trim_start_matches("Digest ").split(", ").collect();
    let victim = rng.below(fields.len());
    let mut out = String::from("Digest ");
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if i == victim {
            let name = f.split('=').next().unwrap_or("x");
            out.push_str(name);
            out.push('=');
            let noise = random_value(rng).replace(['\r', '\n'], "");
            // The `x` keeps the noise from equalling the original value.
            out.push_str(&format!("\"x{}\"", noise.replace(['"', '\\'], "")));
        } else {
            out.push_str(f);
        }
    }
    out
}

#[test]
fn random_authorization_headers_never_panic_or_authenticate() {
    let w = world();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let src = peer("192.0.2.10:5060");
    let first = w.register(&Reg::new("alice", "<sip:alice@192.0.2.10>").bytes(), src);
    let ch = challenge_for(&first, "MD5");
    let mut parsed = 0;
    for i in 0..6_000u32 {
        let value = if i % 2 == 0 {
            random_value(&mut rng)
        } else {
            mangled_answer(&mut rng, &ch)
        };
        // Spread the sources so throttling does not hide later cases.
        let source = peer(&format!(
            "10.{}.{}.{}:5060",
            i >> 16,
            (i >> 8) & 0xff,
            i & 0xff
        ));
        let mut reg = Reg::new("alice", "<sip:alice@192.0.2.10>");
        reg.cseq = 2;
        reg.authorization = vec![value.clone()];
        let wire = reg.bytes();
        let Ok(msg) = Message::parse(&wire) else {
            continue;
        };
        parsed += 1;
        let reply = w.registrar.register(&msg, source, w.now, w.wall);
        assert_ne!(reply.code, 200, "garbage authenticated: {value:?}");
        let result = w.registrar.authenticate(&msg, source, true, w.now, w.wall);
        assert!(!matches!(result, AuthResult::Ok { .. }), "{value:?}");
    }
    assert!(
        parsed > 3_000,
        "most inputs reached the registrar ({parsed})"
    );
}

#[test]
fn random_bytes_in_digest_fields_never_panic() {
    let w = world();
    let mut rng = Rng(42);
    let src = peer("192.0.2.10:5060");
    for _ in 0..5_000 {
        let len = rng.below(80);
        let noise: String = (0..len)
            .map(|_| char::from(b' ' + (rng.below(95) as u8)))
            .filter(|c| *c != '"' && *c != '\\')
            .collect();
        let value = format!(
            "Digest username=\"{noise}\", realm=\"example.com\", nonce=\"{noise}\", uri=\"{noise}\", response=\"{noise}\", nc={}, cnonce=\"{noise}\", qop=auth",
            rng.pick(&["00000001", "1", "ffffffff", "0x000001", "-0000001"])
        );
        let mut reg = Reg::new("alice", "<sip:alice@192.0.2.10>");
        reg.authorization = vec![value];
        let wire = reg.bytes();
        if let Ok(msg) = Message::parse(&wire) {
            assert_ne!(w.registrar.register(&msg, src, w.now, w.wall).code, 200);
        }
    }
}
