//! The RFC 4475 torture messages (`rfc4475_data`) through the sans-IO proxy with the
//! [`NextHop`] policy on a fake clock.
//!
//! Valid requests are proxied: forwarded to the next hop with this proxy's Via on top,
//! Max-Forwards decremented and the rest intact — or, where a proxy must answer instead, the
//! answer RFC 3261 asks for; never 400. Invalid requests are answered 400 (505 for an unknown
//! SIP version, RFC 3261 §8.2.2 / RFC 4475 badvers), or dropped only when no response can be
//! built; nothing invalid is forwarded. Responses that match no transaction are dropped.
//! Every message is also fed cut and truncated at many points: no panic, and whatever the
//! proxy sends still parses.

mod common;
mod rfc4475_data;

use common::{alice, bob, config, tcp, udp};
use ferrovox_proxy::{NextHop, Peer, Proxy};
use ferrovox_sip::{HeaderName, Message};
use rfc4475_data::Torture;
use std::time::{Duration, Instant};

/// A proxy forwarding everything to [`bob`], on a fake clock, keeping output as bytes (some
/// messages carry binary bodies).
struct Rig {
    proxy: Proxy<NextHop>,
    now: Instant,
    buf: Vec<u8>,
}

/// One message the proxy sent.
struct Out {
    dest: Peer,
    bytes: Vec<u8>,
}

impl Out {
    fn msg(&self) -> Message<'_> {
        Message::parse(&self.bytes).unwrap_or_else(|e| {
            panic!(
                "the proxy sent an unparseable message ({e}):\n{}",
                String::from_utf8_lossy(&self.bytes)
            )
        })
    }

    fn start_line(&self) -> String {
        let text = String::from_utf8_lossy(&self.bytes);
        text.split("\r\n").next().unwrap_or("").to_owned()
    }

    fn status(&self) -> Option<u16> {
        self.msg().status_code()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

impl Rig {
    fn new() -> Self {
        Rig {
            proxy: Proxy::new(config(), NextHop::new(bob())),
            now: Instant::now(),
            buf: Vec::new(),
        }
    }

    fn input(&mut self, bytes: &[u8], from: Peer) -> Vec<Out> {
        self.proxy.handle_message(bytes, from, self.now);
        self.drain()
    }

    fn drain(&mut self) -> Vec<Out> {
        let mut out = Vec::new();
        while let Some(dest) = self.proxy.poll_transmit(&mut self.buf) {
            out.push(Out {
                dest,
                bytes: self.buf.clone(),
            });
        }
        out
    }

    /// Runs every timer due within `d`; what was sent meanwhile.
    fn advance(&mut self, d: Duration) -> Vec<Out> {
        let until = self.now + d;
        let mut out = Vec::new();
        while let Some(at) = self.proxy.poll_timeout() {
            if at > until {
                break;
            }
            self.now = self.now.max(at);
            self.proxy.handle_timeout(self.now);
            out.extend(self.drain());
        }
        self.now = until;
        out
    }
}

fn torture(list: Vec<Torture>, name: &str) -> Vec<u8> {
    list.into_iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no torture message {name}"))
        .bytes
}

fn valid(name: &str) -> Vec<u8> {
    torture(rfc4475_data::valid(), name)
}

fn invalid(name: &str) -> Vec<u8> {
    torture(rfc4475_data::invalid(), name)
}

/// The peer a message comes from: over TCP when its top Via says so (the transport the
/// sender would really use), else over UDP; the address is the same.
fn sender(bytes: &[u8]) -> Peer {
    let text = String::from_utf8_lossy(bytes);
    let top_via = text
        .split("\r\n")
        .find(|l| {
            let l = l.trim_start().to_ascii_lowercase();
            l.starts_with("via") || l.starts_with("v:") || l.starts_with("v ")
        })
        .unwrap_or("");
    // wsinv folds its Via over lines; look at the next lines too.
    let tail: String = text
        .split("\r\n")
        .skip_while(|l| *l != top_via)
        .take(3)
        .collect();
    if tail.to_ascii_uppercase().contains("TCP") && !top_via.contains("UDP") {
        tcp("192.0.2.10:5060")
    } else {
        alice()
    }
}

/// A valid request was forwarded to the next hop, and only that (a 100 Trying back to the
/// sender aside); returns the forwarded message after checking what every proxied request
/// must show: same method, Request-URI, Call-ID, CSeq and body; one Via more, ours on top,
/// the sender's below it with its branch; Max-Forwards one less than received (capped at
/// 70, 70 when absent).
fn assert_forwarded(name: &str, input: &[u8], out: Vec<Out>, source: Peer) -> Out {
    let original = Message::parse(input).unwrap_or_else(|e| panic!("{name} parses: {e}"));
    let (forwarded, rest): (Vec<Out>, Vec<Out>) = out.into_iter().partition(|o| o.dest == bob());
    for o in &rest {
        assert_eq!(
            (o.status(), o.dest.addr.ip()),
            (Some(100), source.addr.ip()),
            "{name}: only a 100 Trying may go back, got {}",
            o.text()
        );
    }
    assert_eq!(
        forwarded.len(),
        1,
        "{name}: forwarded once to the next hop, sent {:?}",
        forwarded.iter().map(Out::text).collect::<Vec<_>>()
    );
    let fwd = forwarded.into_iter().next().unwrap();
    let m = fwd.msg();
    assert_eq!(m.method(), original.method(), "{name}: method");
    assert_eq!(
        m.request_line().unwrap().uri_raw,
        original.request_line().unwrap().uri_raw,
        "{name}: Request-URI unchanged"
    );
    assert_eq!(m.call_id().unwrap(), original.call_id().unwrap(), "{name}");
    assert_eq!(
        m.cseq().unwrap().seq,
        original.cseq().unwrap().seq,
        "{name}: CSeq"
    );
    assert_eq!(m.body(), original.body(), "{name}: body byte for byte");
    let vias: Vec<_> = m.vias().map(|v| v.expect("our Vias parse")).collect();
    let before: Vec<_> = original.vias().map(|v| v.unwrap()).collect();
    assert_eq!(vias.len(), before.len() + 1, "{name}: one Via added");
    let top = String::from_utf8_lossy(vias[0].raw);
    assert!(
        top.starts_with("SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bK"),
        "{name}: our Via on top: {top}"
    );
    assert_eq!(
        vias[1].branch, before[0].branch,
        "{name}: the sender's Via below ours"
    );
    assert_eq!(vias[1].host_raw, before[0].host_raw, "{name}");
    let expected_mf = match original.max_forwards().unwrap() {
        Some(mf) => mf.min(70) - 1,
        None => 70,
    };
    assert_eq!(
        m.max_forwards().unwrap(),
        Some(expected_mf),
        "{name}: Max-Forwards"
    );
    fwd
}

/// Exactly one final response, going back to the sender, with this status (a 100 Trying to
/// an INVITE before it aside).
fn assert_answered(name: &str, out: &[Out], source: Peer, code: u16) {
    let out: Vec<&Out> = out
        .iter()
        .filter(|o| code == 100 || o.status() != Some(100))
        .collect();
    assert_eq!(
        out.len(),
        1,
        "{name}: one response expected, sent {:?}",
        out.iter().map(|o| o.text()).collect::<Vec<_>>()
    );
    let r = out[0];
    assert_eq!(
        r.dest.addr.ip(),
        source.addr.ip(),
        "{name}: back to the sender"
    );
    assert!(
        r.start_line().starts_with(&format!("SIP/2.0 {code} ")),
        "{name}: expected {code}, got {}",
        r.start_line()
    );
}

/// Feed the named valid request and check it is forwarded.
fn forwards(name: &str) -> Out {
    let bytes = valid(name);
    let from = sender(&bytes);
    let mut rig = Rig::new();
    let out = rig.input(&bytes, from);
    assert_forwarded(name, &bytes, out, from)
}

// ---- §3.1.1 valid messages ----

/// wsinv carries a To tag, so it is an in-dialog re-INVITE routed by its Route set alone
/// (policy is not asked, §16.4/§16.6 loose routing). Its Route names a host name and the
/// proxy does no DNS (crate docs): 478 Unresolvable destination — a routing answer, not a
/// parse failure. With the Route's host written as an IP, the same message (all its odd
/// white space, folding and case intact) is forwarded there with the Route kept.
#[test]
fn wsinv_is_routed_by_its_route_set() {
    let bytes = valid("wsinv");
    let mut rig = Rig::new();
    let out = rig.input(&bytes, alice());
    assert!(
        out.iter().all(|o| o.status() != Some(400)),
        "never 400: {:?}",
        out.iter().map(Out::text).collect::<Vec<_>>()
    );
    assert_answered("wsinv", &out, alice(), 478);

    let routable = String::from_utf8(bytes)
        .unwrap()
        .replace("sip:services.example.com;lr", "sip:127.0.0.1:5080;lr");
    let mut rig = Rig::new();
    let out = rig.input(routable.as_bytes(), alice());
    let fwd = assert_forwarded("wsinv (IP route)", routable.as_bytes(), out, alice());
    let m = fwd.msg();
    assert_eq!(
        m.header(HeaderName::Route).map(|h| h.value.to_vec()),
        Some(b"<sip:127.0.0.1:5080;lr;unknownwith=value;unknown-no-value>".to_vec()),
        "a Route not ours stays"
    );
    assert!(
        fwd.text()
            .contains("NewFangledHeader:   newfangled value\r\n continued"),
        "unknown folded headers pass untouched:\n{}",
        fwd.text()
    );
}

#[test]
fn intmeth_unknown_method_is_forwarded_with_max_forwards_capped() {
    let fwd = forwards("intmeth");
    assert!(
        fwd.text()
            .contains("extensionHeader-!.%*+_`'~:\u{feff}\u{5927}\u{505c}\u{96fb}"),
        "the extension header passes untouched"
    );
}

#[test]
fn esc01_is_forwarded_with_escapes_untouched_and_record_routed() {
    let fwd = forwards("esc01");
    assert!(
        fwd.start_line()
            .starts_with("INVITE sip:sips%3Auser%40example.com@example.net "),
        "{}",
        fwd.start_line()
    );
    assert!(
        fwd.msg().header(HeaderName::RecordRoute).is_some(),
        "an out-of-dialog INVITE is record-routed"
    );
}

#[test]
fn escnull_register_is_forwarded() {
    forwards("escnull");
}

#[test]
fn esc02_percent_method_is_forwarded_as_an_unknown_method() {
    let fwd = forwards("esc02");
    assert!(fwd.start_line().starts_with("RE%47IST%45R "));
}

#[test]
fn lwsdisp_is_forwarded() {
    forwards("lwsdisp");
}

#[test]
fn longreq_with_34_vias_is_forwarded() {
    let fwd = forwards("longreq");
    assert_eq!(fwd.msg().vias().count(), 35);
}

/// dblreq: a datagram holding a REGISTER then an INVITE. Only the first message counts
/// (RFC 3261 §18.3: bytes after the body of a datagram are discarded).
#[test]
fn dblreq_forwards_only_the_first_request() {
    let fwd = forwards("dblreq");
    assert!(fwd.start_line().starts_with("REGISTER "));
    assert!(
        !fwd.text().contains("INVITE sip:joe@example.com"),
        "the second request is not smuggled along:\n{}",
        fwd.text()
    );
}

#[test]
fn semiuri_is_forwarded() {
    forwards("semiuri");
}

#[test]
fn transports_is_forwarded() {
    forwards("transports");
}

/// mpart01's binary multipart body is framed by Content-Length and passes byte for byte. Its
/// Route (`<sip:127.0.0.1:5080>`, no `lr`) is not ours: kept (strict routing towards the
/// next hop is not done, crate docs).
#[test]
fn mpart01_binary_body_is_forwarded_intact() {
    let fwd = forwards("mpart01");
    assert!(fwd.bytes.ends_with(rfc4475_data::sip::MPART_BINARY));
}

/// unreason: a 200 with a UTF-8 reason phrase. Alone it matches no transaction and its top
/// Via is not ours: discarded (§18.1.2). As the answer to a request the proxy forwarded, it
/// is relayed upstream with the reason phrase byte for byte.
#[test]
fn unreason_is_relayed_with_its_reason_phrase() {
    let bytes = valid("unreason");
    let mut rig = Rig::new();
    assert!(
        rig.input(&bytes, bob()).is_empty(),
        "stray response dropped"
    );

    let caller = udp("192.0.2.198:5060");
    let invite = rfc4475_data::msg(
        "INVITE sip:user@example.edu SIP/2.0
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Max-Forwards: 70
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu
Call-ID: unreason.1234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
Contact: <sip:user@host198.example.com>
Content-Length: 0

",
    );
    let out = rig.input(&invite, caller);
    let fwd = assert_forwarded("unreason's INVITE", &invite, out, caller);
    let vias: String = fwd
        .msg()
        .vias()
        .map(|v| format!("Via: {}\r\n", String::from_utf8_lossy(v.unwrap().raw)))
        .collect();
    let response = String::from_utf8(bytes).unwrap().replace(
        "Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\r\n",
        &vias,
    );
    let out = rig.input(response.as_bytes(), bob());
    assert_eq!(out.len(), 1, "the 200 is relayed");
    let relayed = &out[0];
    assert_eq!(relayed.dest.addr, caller.addr);
    let unreason_line = String::from_utf8(valid("unreason"))
        .unwrap()
        .split("\r\n")
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(relayed.start_line(), unreason_line);
    assert_eq!(relayed.msg().vias().count(), 1, "our Via removed");
    assert_eq!(
        relayed.msg().body(),
        Message::parse(response.as_bytes()).unwrap().body()
    );
}

/// noreason: a 100 with an empty reason phrase matching no transaction; a 100 is never
/// forwarded anyway (§16.7 step 5). Nothing is sent.
#[test]
fn noreason_stray_100_is_absorbed() {
    let mut rig = Rig::new();
    assert!(rig.input(&valid("noreason"), bob()).is_empty());
}

/// novelsc: a novel Request-URI scheme. The policy (NextHop) knows where to send it, so the
/// proxy forwards it unchanged (RFC 4475: "a proxy ... would forward it if it had a route";
/// 416 only when it cannot route it).
#[test]
fn novelsc_novel_scheme_is_forwarded() {
    let fwd = forwards("novelsc");
    assert!(
        fwd.start_line()
            .starts_with("OPTIONS soap.beep://192.0.2.103:3002 ")
    );
}

/// unksm2: unknown schemes in To/From and a scheme-less Contact in a REGISTER. Judging them
/// is the registrar's job (§3.3.3 of RFC 4475 has it answer 400/416); a proxy relays.
#[test]
fn unksm2_register_is_relayed_to_the_registrar() {
    forwards("unksm2");
}

/// inv2543: RFC 2543 style (no branch, no Max-Forwards, no From tag, no Content-Length on
/// UDP). Forwarded with Max-Forwards 70 added (§16.6 step 3).
#[test]
fn inv2543_old_style_invite_is_forwarded() {
    forwards("inv2543");
}

/// zeromf: Max-Forwards 0 on an OPTIONS: 483 Too Many Hops (§16.3 step 3; answering as a
/// UAS is only a MAY).
#[test]
fn zeromf_gets_483() {
    let bytes = valid("zeromf");
    let mut rig = Rig::new();
    let out = rig.input(&bytes, alice());
    assert_answered("zeromf", &out, alice(), 483);
}

#[test]
fn regescrt_is_forwarded() {
    forwards("regescrt");
}

/// baddate: a non-GMT Date is the UAS's business; RFC 4475 asks to accept it.
#[test]
fn baddate_is_forwarded_with_its_date() {
    let fwd = forwards("baddate");
    assert!(
        fwd.text()
            .contains("Date: Fri, 01 Jan 2010 16:00:00 EST\r\n")
    );
}

/// badbranch: the bare magic cookie is an RFC 2543 branch, not an error.
#[test]
fn badbranch_is_forwarded() {
    forwards("badbranch");
}

#[test]
fn cparam_registers_are_forwarded() {
    forwards("cparam01");
    forwards("cparam02");
}

/// regaut01: credentials in an unknown scheme are for someone else: relayed untouched.
#[test]
fn regaut01_is_forwarded_with_its_credentials() {
    let fwd = forwards("regaut01");
    assert!(
        fwd.text()
            .contains("Authorization: NoOneKnowsThisScheme opaque-data=here\r\n")
    );
}

/// Every valid message: never a 400, never a panic, and on a fresh proxy something happens
/// (forwarded or answered) for every request.
#[test]
fn no_valid_message_gets_400() {
    for t in rfc4475_data::valid() {
        let mut rig = Rig::new();
        let from = sender(&t.bytes);
        let out = rig.input(&t.bytes, from);
        for o in &out {
            assert_ne!(o.status(), Some(400), "{}: {}", t.name, o.text());
        }
        let is_request = !t.bytes.starts_with(b"SIP/2.0 ");
        assert_eq!(
            !out.is_empty(),
            is_request,
            "{}: requests are acted on, stray responses dropped",
            t.name
        );
    }
}

// ---- §3.1.2 invalid messages ----

/// Feed an invalid request; it must be answered `code` and not forwarded.
fn rejects(name: &str, code: u16) {
    let bytes = invalid(name);
    let from = sender(&bytes);
    let mut rig = Rig::new();
    let out = rig.input(&bytes, from);
    assert!(
        out.iter().all(|o| o.dest != bob()),
        "{name}: nothing forwarded"
    );
    assert_answered(name, &out, from, code);
    let later = rig.advance(Duration::from_secs(64));
    assert!(
        later.iter().all(|o| o.dest != bob()),
        "{name}: nothing forwarded later either"
    );
}

/// badinv01: empty Via parameters and stray commas. The Via cannot be parsed, so the 400
/// goes to the packet's source.
#[test]
fn badinv01_gets_400() {
    rejects("badinv01", 400);
}

/// clerr: Content-Length beyond the datagram; §18.3: "If the message is a request, the
/// element SHOULD generate a 400 (Bad Request) response".
#[test]
fn clerr_gets_400() {
    rejects("clerr", 400);
}

/// ncl: negative Content-Length.
#[test]
fn ncl_gets_400() {
    rejects("ncl", 400);
}

/// scalar02: CSeq above 2^32-1, Max-Forwards above 255.
#[test]
fn scalar02_gets_400() {
    rejects("scalar02", 400);
}

#[test]
fn quotbal_gets_400() {
    rejects("quotbal", 400);
}

#[test]
fn ltgtruri_gets_400() {
    rejects("ltgtruri", 400);
}

#[test]
fn lwsruri_gets_400() {
    rejects("lwsruri", 400);
}

#[test]
fn lwsstart_gets_400() {
    rejects("lwsstart", 400);
}

#[test]
fn trws_gets_400() {
    rejects("trws", 400);
}

#[test]
fn escruri_gets_400() {
    rejects("escruri", 400);
}

/// regbadct: a Contact addr-spec with URI headers and no brackets. RFC 4475 asks the
/// element that processes the REGISTER to answer 400 — the registrar. A proxy forwarding a
/// REGISTER for another domain does not interpret its Contact (§16.6 leaves it untouched),
/// so it goes on to the registrar downstream unchanged.
#[test]
fn regbadct_is_forwarded_to_the_registrar() {
    let bytes = invalid("regbadct");
    let from = sender(&bytes);
    let mut rig = Rig::new();
    let out = rig.input(&bytes, from);
    assert_forwarded("regbadct", &bytes, out, from);
}

#[test]
fn badaspec_gets_400() {
    rejects("badaspec", 400);
}

#[test]
fn baddn_gets_400() {
    rejects("baddn", 400);
}

/// badvers: SIP/7.0 — 505 Version Not Supported (RFC 3261 §8.2.2 via RFC 4475).
#[test]
fn badvers_gets_505() {
    rejects("badvers", 505);
}

#[test]
fn mismatch01_gets_400() {
    rejects("mismatch01", 400);
}

#[test]
fn mismatch02_gets_400() {
    rejects("mismatch02", 400);
}

#[test]
fn multi01_gets_400() {
    rejects("multi01", 400);
    rejects("multi01-comma", 400);
}

/// insuf: To, From, Call-ID and Max-Forwards missing; the Via is fine, so a 400 can go back.
#[test]
fn insuf_gets_400() {
    rejects("insuf", 400);
}

#[test]
fn mcl01_gets_400() {
    rejects("mcl01", 400);
}

/// bigcode, scalar1024: invalid responses are never answered nor relayed.
#[test]
fn invalid_responses_are_dropped() {
    for name in ["bigcode", "scalar1024"] {
        let mut rig = Rig::new();
        assert!(rig.input(&invalid(name), bob()).is_empty(), "{name}");
        assert!(rig.input(&invalid(name), alice()).is_empty(), "{name}");
    }
}

// ---- robustness ----

/// A small deterministic generator (xorshift64*), so a failure names a reproducible cut.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}

/// Every message truncated at every length, and split at random points into two or three
/// pieces fed one after the other (datagrams cut by a broken middlebox), from UDP and TCP
/// peers, then every timer run: no panic, and whatever the proxy sends parses.
#[test]
fn cut_and_truncated_messages_never_panic() {
    let mut rng = Rng(0x4475_4475_4475_4475);
    let all: Vec<Torture> = rfc4475_data::valid()
        .into_iter()
        .chain(rfc4475_data::invalid())
        .collect();
    let peers = [alice(), tcp("192.0.2.10:5060"), bob()];
    let mut sent = 0usize;
    for t in &all {
        let mut rig = Rig::new();
        let bytes = &t.bytes;
        let mut pieces: Vec<Vec<u8>> = (0..=bytes.len()).map(|n| bytes[..n].to_vec()).collect();
        for _ in 0..64 {
            let a = rng.below(bytes.len() + 1);
            let b = a + rng.below(bytes.len() - a + 1);
            pieces.push(bytes[..a].to_vec());
            pieces.push(bytes[a..b].to_vec());
            pieces.push(bytes[b..].to_vec());
        }
        for (i, piece) in pieces.iter().enumerate() {
            let from = peers[i % peers.len()];
            for o in rig.input(piece, from) {
                let _ = o.msg();
                sent += 1;
            }
            if i % 97 == 0 {
                for o in rig.advance(Duration::from_millis(500)) {
                    let _ = o.msg();
                }
            }
        }
        for o in rig.advance(Duration::from_secs(3600)) {
            let _ = o.msg();
        }
        assert_eq!(
            rig.proxy.stats().active_transactions,
            0,
            "{}: every transaction ends once its timers ran",
            t.name
        );
    }
    assert!(sent > 0, "some prefixes were whole enough to act on");
}
