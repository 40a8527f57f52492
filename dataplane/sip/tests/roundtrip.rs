//! Property test: generated messages round-trip. Random but RFC-valid requests — every
//! method, compact and full header names, folded lines, bare-LF line ends, several Vias on one
//! line or many, IPv6 hosts, quoted display names, parameters, bodies — are written out,
//! parsed, and every typed accessor must give back what was generated; a proxy rewrite of the
//! parsed message must parse again with one Via more and Max-Forwards one less.

use ferrovox_sip::Message;
use ferrovox_sip::rewrite::{RequestEdits, rewrite_request};

/// xorshift64*: deterministic, so a failure names its seed and replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
    fn token(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-.!%*_+`'~";
        (0..len.max(1))
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
    fn alnum(&mut self, len: usize) -> String {
        (0..len.max(1))
            .map(|_| (b'a' + self.below(26) as u8) as char)
            .collect()
    }
}

struct Generated {
    text: Vec<u8>,
    method: &'static str,
    call_id: String,
    cseq: u32,
    from_tag: String,
    branches: Vec<String>,
    max_forwards: u8,
    body: Vec<u8>,
}

fn generate(rng: &mut Rng) -> Generated {
    let method = rng.pick(&[
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "REGISTER",
        "OPTIONS",
        "INFO",
        "UPDATE",
        "MESSAGE",
        "SUBSCRIBE",
        "NOTIFY",
        "REFER",
        "PRACK",
        "PUBLISH",
    ]);
    let eol = if rng.chance(20) { "\n" } else { "\r\n" };
    let host = match rng.below(3) {
        0 => format!("{}.example.com", rng.alnum(6)),
        1 => format!("192.0.2.{}", rng.below(255)),
        _ => "[2001:db8::1]".to_owned(),
    };
    let user = rng.alnum(5);
    let ruri = format!("sip:{user}@{host}:{}", 1024 + rng.below(60000));
    let call_id = format!("{}@{}", rng.token(12), rng.alnum(4));
    let cseq = rng.below(u32::MAX as u64) as u32;
    let from_tag = rng.token(8);
    let max_forwards = rng.below(71) as u8;
    let vias = 1 + rng.below(4) as usize;
    let branches: Vec<String> = (0..vias)
        .map(|_| format!("z9hG4bK{}", rng.alnum(10)))
        .collect();
    let mut headers: Vec<String> = Vec::new();
    // Vias: one line each, or comma-separated on one line, compact or full name.
    let via_values: Vec<String> = branches
        .iter()
        .map(|b| {
            let transport = rng.pick(&["UDP", "TCP", "TLS"]);
            let rport = if rng.chance(50) { ";rport" } else { "" };
            format!(
                "SIP/2.0/{transport} {host}:{};branch={b}{rport}",
                5060 + rng.below(100)
            )
        })
        .collect();
    if rng.chance(50) {
        let name = if rng.chance(50) { "v" } else { "Via" };
        headers.push(format!("{name}: {}", via_values.join(", ")));
    } else {
        for value in &via_values {
            let name = if rng.chance(50) { "v" } else { "Via" };
            headers.push(format!("{name}: {value}"));
        }
    }
    let display = match rng.below(3) {
        0 => String::new(),
        1 => format!("{} ", rng.alnum(4)),
        _ => format!("\"{} \\\"q\\\" {}\" ", rng.alnum(3), rng.alnum(3)),
    };
    let from = if rng.chance(50) { "f" } else { "From" };
    headers.push(format!(
        "{from}: {display}<sip:{}@{host}>;tag={from_tag}",
        rng.alnum(4)
    ));
    let to = if rng.chance(50) { "t" } else { "To" };
    headers.push(format!("{to}: <{ruri}>"));
    let call = if rng.chance(50) { "i" } else { "Call-ID" };
    headers.push(format!("{call}: {call_id}"));
    headers.push(format!("CSeq: {cseq} {method}"));
    headers.push(format!("Max-Forwards: {max_forwards}"));
    if rng.chance(50) {
        let m = if rng.chance(50) { "m" } else { "Contact" };
        headers.push(format!(
            "{m}: <sip:{}@{host}>;expires={}",
            rng.alnum(3),
            rng.below(3600)
        ));
    }
    if rng.chance(40) {
        // A folded line: continuation starts with whitespace.
        headers.push(format!("Subject: {}{eol}  {}", rng.alnum(5), rng.alnum(5)));
    }
    for _ in 0..rng.below(4) {
        headers.push(format!("X-{}: {}", rng.alnum(4), rng.token(10)));
    }
    // Shuffle everything but keep the Via order among themselves.
    for i in (1..headers.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        let (a, b) = (&headers[i], &headers[j]);
        let via = |h: &String| h.starts_with("v:") || h.starts_with("Via:");
        if !via(a) && !via(b) {
            headers.swap(i, j);
        }
    }
    let body: Vec<u8> = if rng.chance(50) {
        format!("v=0{eol}o=- 1 1 IN IP4 192.0.2.1{eol}s=-{eol}").into_bytes()
    } else {
        Vec::new()
    };
    let length_name = if rng.chance(50) {
        "l"
    } else {
        "Content-Length"
    };
    headers.push(format!("{length_name}: {}", body.len()));
    let mut text = format!("{method} {ruri} SIP/2.0{eol}").into_bytes();
    for header in &headers {
        text.extend_from_slice(header.as_bytes());
        text.extend_from_slice(eol.as_bytes());
    }
    text.extend_from_slice(eol.as_bytes());
    text.extend_from_slice(&body);
    Generated {
        text,
        method,
        call_id,
        cseq,
        from_tag,
        branches,
        max_forwards,
        body,
    }
}

#[test]
fn generated_requests_round_trip_through_parse_and_rewrite() {
    let mut out = Vec::with_capacity(4096);
    for seed in 1..=5_000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let g = generate(&mut rng);
        let shown = String::from_utf8_lossy(&g.text).into_owned();
        let msg = Message::parse(&g.text).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{shown}"));
        let context = || format!("seed {seed}:\n{shown}");
        assert_eq!(
            msg.method().map(|m| m.as_bytes()),
            Some(g.method.as_bytes()),
            "{}",
            context()
        );
        assert_eq!(
            msg.call_id().unwrap(),
            g.call_id.as_bytes(),
            "{}",
            context()
        );
        let cseq = msg.cseq().unwrap();
        assert_eq!(cseq.seq, g.cseq, "{}", context());
        assert_eq!(
            msg.from().unwrap().tag(),
            Some(g.from_tag.as_bytes()),
            "{}",
            context()
        );
        assert_eq!(
            msg.max_forwards().unwrap(),
            Some(g.max_forwards),
            "{}",
            context()
        );
        let branches: Vec<Vec<u8>> = msg
            .vias()
            .map(|v| v.unwrap().branch.unwrap().to_vec())
            .collect();
        let expected: Vec<Vec<u8>> = g.branches.iter().map(|b| b.clone().into_bytes()).collect();
        assert_eq!(branches, expected, "{}", context());
        assert_eq!(msg.body(), &g.body[..], "{}", context());

        if g.max_forwards == 0 {
            continue; // a proxy answers 483 instead of forwarding
        }
        let edits = RequestEdits {
            via: Some(b"SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bKproxy"),
            record_route: Some(b"<sip:203.0.113.1;lr>"),
            decrement_max_forwards: true,
            ..RequestEdits::default()
        };
        rewrite_request(&msg, &edits, &mut out).unwrap_or_else(|e| panic!("{e}: {}", context()));
        let forwarded = Message::parse(&out).unwrap_or_else(|e| {
            panic!(
                "{e}: rewritten\n{}\nfrom {}",
                String::from_utf8_lossy(&out),
                context()
            )
        });
        assert_eq!(
            forwarded.vias().count(),
            g.branches.len() + 1,
            "{}",
            context()
        );
        assert_eq!(
            forwarded.max_forwards().unwrap(),
            Some(g.max_forwards - 1),
            "{}",
            context()
        );
        assert_eq!(forwarded.call_id().unwrap(), g.call_id.as_bytes());
        assert_eq!(forwarded.body(), &g.body[..]);
    }
}
