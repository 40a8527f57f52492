//! Malformed input: errors with line and field, never panics.

mod common;

use common::{FIXTURES, fixture_bytes};
use ferrovox_sdp::attribute::Direction;
use ferrovox_sdp::codec::{CodecSelector, NewCodec, add_codec, strip_codecs};
use ferrovox_sdp::crypto::Crypto;
use ferrovox_sdp::offer_answer::check_answer;
use ferrovox_sdp::origin::{OriginTracker, Side};
use ferrovox_sdp::rewrite::{
    AddressRewrite, RtcpEndpoint, make_plain, make_sdes, remove_ice, rewrite_addresses,
    set_direction, set_media_endpoint,
};
use ferrovox_sdp::{ErrorKind, ParseError, SessionDescription};

const GOOD: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

fn err(text: &str) -> ParseError {
    SessionDescription::parse(text.as_bytes()).expect_err(text)
}

/// GOOD with line `n` (1-based) replaced.
fn with_line(n: usize, line: &str) -> String {
    GOOD.lines()
        .enumerate()
        .map(|(i, l)| {
            if i + 1 == n {
                format!("{line}\r\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

#[test]
fn good_base_parses() {
    assert!(SessionDescription::parse(GOOD.as_bytes()).is_ok());
}

#[test]
fn missing_version_line() {
    let e = err(&GOOD.replacen("v=0\r\n", "", 1));
    assert_eq!(
        (e.line, e.field, e.kind),
        (1, "v=", ErrorKind::VersionFirst)
    );
    assert_eq!(err("").kind, ErrorKind::Empty);
    assert_eq!(err("\r\n\r\n").kind, ErrorKind::Empty);
    assert_eq!(
        err(&with_line(1, "v=1")).kind,
        ErrorKind::UnsupportedVersion
    );
}

#[test]
fn missing_mandatory_lines() {
    let e = err(&GOOD.replacen("o=- 1 1 IN IP4 192.0.2.1\r\n", "", 1));
    // Reported just after the last line (5 lines remain).
    assert_eq!((e.line, e.field, e.kind), (6, "o=", ErrorKind::MissingLine));
    assert_eq!(err(&GOOD.replacen("s=-\r\n", "", 1)).field, "s=");
    assert_eq!(err(&GOOD.replacen("t=0 0\r\n", "", 1)).field, "t=");
    let e = err(&GOOD.replacen("c=IN IP4 192.0.2.1\r\n", "", 1));
    assert_eq!((e.field, e.kind), ("c=", ErrorKind::MissingLine));
    // A disabled stream needs no connection.
    let ok = GOOD
        .replacen("c=IN IP4 192.0.2.1\r\n", "", 1)
        .replace("m=audio 4000", "m=audio 0");
    assert!(SessionDescription::parse(ok.as_bytes()).is_ok());
}

#[test]
fn bad_media_lines() {
    let e = err(&with_line(6, "m=audio 70000 RTP/AVP 0"));
    assert_eq!(
        (e.line, e.field, e.kind),
        (6, "m= port", ErrorKind::OutOfRange)
    );
    let e = err(&with_line(6, "m=audio 65536 RTP/AVP 0"));
    assert_eq!(e.kind, ErrorKind::OutOfRange);
    assert_eq!(
        err(&with_line(6, "m=audio abc RTP/AVP 0")).kind,
        ErrorKind::InvalidNumber
    );
    assert_eq!(
        err(&with_line(6, "m=audio -1 RTP/AVP 0")).kind,
        ErrorKind::InvalidNumber
    );
    assert_eq!(err(&with_line(6, "m=audio 4000 RTP/AVP")).field, "m= fmt");
    assert_eq!(err(&with_line(6, "m=audio 4000")).field, "m= proto");
    assert_eq!(err(&with_line(6, "m=audio")).field, "m= port");
    assert_eq!(
        err(&with_line(6, "m=audio 4000/x RTP/AVP 0")).field,
        "m= port count"
    );
    let e = err(&with_line(6, "m=audio 4000 RTP/AVP 0 128"));
    assert_eq!(
        (e.field, e.kind),
        ("m= fmt payload type", ErrorKind::OutOfRange)
    );
    assert_eq!(
        err(&with_line(6, "m=audio 4000 RTP/AVP PCMU")).kind,
        ErrorKind::InvalidNumber
    );
    let e = err(&with_line(6, "m=audio 4000 RTP/AVP 0 8 0"));
    assert_eq!((e.field, e.kind), ("m= fmt", ErrorKind::Duplicate));
    // "08" is payload type 8 as well.
    assert_eq!(
        err(&with_line(6, "m=audio 4000 RTP/AVP 8 08")).kind,
        ErrorKind::Duplicate
    );
}

#[test]
fn bad_session_lines() {
    assert_eq!(
        err(&with_line(2, "o=- 1 1 IN IP4")).field,
        "o= unicast-address"
    );
    assert_eq!(
        err(&with_line(2, "o=- 1 IN IP4 192.0.2.1")).field,
        "o= sess-version"
    );
    assert_eq!(
        err(&with_line(2, "o=- x 1 IN IP4 192.0.2.1")).field,
        "o= sess-id"
    );
    let e = err(&with_line(2, "o=- 1 18446744073709551616 IN IP4 192.0.2.1"));
    assert_eq!(
        (e.line, e.field, e.kind),
        (2, "o= sess-version", ErrorKind::OutOfRange)
    );
    assert_eq!(
        err(&with_line(2, "o=- 1 1 IN IP4 192.0.2.1 extra")).kind,
        ErrorKind::TrailingField
    );
    assert_eq!(err(&with_line(4, "c=IN IP4")).field, "c=");
    assert_eq!(
        err(&with_line(4, "c=IN IP4 224.0.0.1/300")).field,
        "connection TTL"
    );
    assert_eq!(err(&with_line(5, "t=0")).field, "t= stop");
    assert_eq!(
        err(&with_line(5, "r=7d 1h 0 25h")).kind,
        ErrorKind::Misplaced
    );
    assert_eq!(err(&with_line(3, "x=unknown")).kind, ErrorKind::UnknownType);
    assert_eq!(err(&with_line(3, "S=-")).kind, ErrorKind::Syntax);
    assert_eq!(err(&with_line(3, "no equals")).kind, ErrorKind::Syntax);
    assert_eq!(err(&with_line(3, "b=AS")).field, "b= bandwidth");
    assert_eq!(err(&with_line(3, "b=AS:fast")).field, "b= bandwidth");
}

#[test]
fn duplicates_and_misplaced_lines() {
    let dup = GOOD.replacen("s=-\r\n", "s=-\r\ns=again\r\n", 1);
    let e = err(&dup);
    assert_eq!((e.line, e.field, e.kind), (4, "s=", ErrorKind::Duplicate));
    let e = err(&format!("{GOOD}o=- 2 2 IN IP4 192.0.2.1\r\n"));
    assert_eq!((e.line, e.kind), (7, ErrorKind::Misplaced));
    assert_eq!(err(&format!("{GOOD}v=0\r\n")).kind, ErrorKind::Misplaced);
    assert_eq!(
        err(&format!("{GOOD}i=a\r\ni=b\r\n")).kind,
        ErrorKind::Duplicate
    );
}

#[test]
fn bad_attributes_name_line_and_field() {
    let e = err(&format!("{GOOD}a=rtpmap:0 PCMU/eight\r\n"));
    assert_eq!(
        (e.line, e.field, e.kind),
        (7, "a=rtpmap clock rate", ErrorKind::InvalidNumber)
    );
    assert_eq!(
        err(&format!("{GOOD}a=rtpmap:300 PCMU/8000\r\n")).kind,
        ErrorKind::OutOfRange
    );
    assert_eq!(err(&format!("{GOOD}a=rtcp:99999\r\n")).field, "a=rtcp port");
    assert_eq!(err(&format!("{GOOD}a=ptime:twenty\r\n")).field, "a=ptime");
    assert_eq!(err(&format!("{GOOD}a=setup:sideways\r\n")).field, "a=setup");
    assert_eq!(
        err(&format!("{GOOD}a=fingerprint:sha-256 ZZ:00\r\n")).field,
        "a=fingerprint value"
    );
    assert_eq!(
        err(&format!("{GOOD}a=crypto:1 AES_CM_128_HMAC_SHA1_80\r\n")).field,
        "a=crypto key-params"
    );
    assert_eq!(
        err(&format!(
            "{GOOD}a=candidate:1 1 udp 1 192.0.2.1 70000 typ host\r\n"
        ))
        .field,
        "a=candidate port"
    );
    assert_eq!(
        err(&format!("{GOOD}a=ssrc:notanumber cname:x\r\n")).field,
        "a=ssrc id"
    );
    assert_eq!(
        err(&format!("{GOOD}a=rtcp-mux:yes\r\n")).kind,
        ErrorKind::TrailingField
    );
    assert_eq!(err(&format!("{GOOD}a=\r\n")).field, "a= name");
    assert_eq!(
        err(&format!("{GOOD}a=mid\r\n")).kind,
        ErrorKind::MissingField
    );
}

#[test]
fn non_utf8_and_control_bytes() {
    let mut bytes = GOOD.as_bytes().to_vec();
    bytes.extend_from_slice(b"a=tool:\xff\xfe\r\n");
    let e = SessionDescription::parse(&bytes).unwrap_err();
    assert_eq!((e.line, e.kind), (7, ErrorKind::NotUtf8));
    let e = err(&format!("{GOOD}a=tool:x\ry\r\n"));
    assert_eq!((e.line, e.kind), (7, ErrorKind::Syntax));
    let e = err(&format!("{GOOD}a=tool:x\0y\r\n"));
    assert_eq!(e.kind, ErrorKind::Syntax);
}

#[test]
fn error_messages_say_what_and_where() {
    let e = err(&with_line(6, "m=audio 70000 RTP/AVP 0"));
    assert_eq!(e.to_string(), "SDP line 6, m= port: number out of range");
}

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
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b"\0",
    b" ",
    b"/",
    b":",
    b"=",
    b"|",
    b";",
    b"\xff",
    b"\xc3",
    b"99999999999999999999",
    b"65536",
    b"128",
    b"-1",
    b"2^",
    b"m=",
    b"a=",
    b"c=IN IP4 ",
    b"a=rtpmap:",
    b"a=crypto:1 ",
    b"a=candidate:",
    b"inline:",
    b"/127/3",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(6) {
            0 => {
                if at < out.len() {
                    out[at] = rng.next() as u8;
                }
            }
            1 => {
                let len = rng.below(16).min(out.len() - at.min(out.len()));
                out.drain(at..at + len);
            }
            2 => {
                let chunk = INTERESTING[rng.below(INTERESTING.len())];
                out.splice(at..at, chunk.iter().copied());
            }
            3 => {
                // Duplicate a slice elsewhere (repeats lines, fields).
                let from = rng.below(out.len());
                let len = rng.below(40).min(out.len() - from);
                let piece: Vec<u8> = out[from..from + len].to_vec();
                let at = at.min(out.len());
                out.splice(at..at, piece);
            }
            4 => out.truncate(at),
            _ => {
                if at < out.len() {
                    out[at] = out[at].wrapping_add(1 + rng.below(3) as u8);
                }
            }
        }
    }
    out
}

/// What an anchoring relay does to an offer: every rewrite in the crate.
fn relay_pipeline(sdp: &SessionDescription, to_srtp: bool) -> SessionDescription {
    let ip = "203.0.113.5".parse().expect("literal");
    let mut r = sdp.clone();
    rewrite_addresses(&mut r, &AddressRewrite::all(ip));
    remove_ice(&mut r);
    for m in &mut r.media {
        if m.is_rejected() {
            continue;
        }
        set_media_endpoint(m, ip, 30000, RtcpEndpoint::Separate { port: 30001 });
        make_plain(m);
        if m.is_rtp() {
            let pcma = NewCodec {
                encoding: "PCMA",
                clock_rate: 8000,
                channels: None,
                fmtp: None,
                payload_type: None,
            };
            if add_codec(m, &pcma).is_ok() {
                strip_codecs(m, CodecSelector::Names(&["PCMU"]));
            }
            if to_srtp {
                let _ = make_sdes(
                    m,
                    vec![Crypto::inline(1, "AES_CM_128_HMAC_SHA1_80", "QUJD")],
                );
            }
        }
        set_direction(m, Direction::SendOnly);
    }
    OriginTracker::new().stamp(Side::Callee, &mut r);
    r
}

#[test]
fn hundred_thousand_mutations_never_panic_and_round_trip_when_accepted() {
    let fixtures: Vec<Vec<u8>> = FIXTURES.iter().map(|n| fixture_bytes(n)).collect();
    let mut rng = Rng(0x5eed_f00d_cafe_d00d);
    let (mut accepted, mut rejected) = (0u32, 0u32);
    for i in 0..100_000 {
        let input = mutate(&mut rng, &fixtures[i % fixtures.len()]);
        match SessionDescription::parse(&input) {
            Ok(sdp) => {
                accepted += 1;
                // Whatever is accepted must survive the writer.
                let again = SessionDescription::parse(sdp.to_string().as_bytes())
                    .unwrap_or_else(|e| panic!("re-parse of accepted mutation {i} failed: {e}"));
                assert_eq!(again, sdp, "mutation {i} changed across write");
                // And whatever the relay does to it still parses.
                let rewritten = relay_pipeline(&sdp, i % 2 == 0);
                if let Err(e) = SessionDescription::parse(rewritten.to_string().as_bytes()) {
                    panic!("rewritten mutation {i} does not parse: {e}\n{rewritten}");
                }
                // Offer/answer checks on arbitrary pairs return values.
                let _ = check_answer(&sdp, &rewritten);
            }
            Err(e) => {
                rejected += 1;
                assert!(e.line >= 1, "error without a line: {e}");
            }
        }
    }
    // Both outcomes are exercised.
    assert!(
        accepted > 1000 && rejected > 1000,
        "accepted {accepted}, rejected {rejected}"
    );
}
