//! Proxy rewrites and the response builder: the output parses, carries the
//! intended edits, and every untouched header line is byte-identical.

mod common;

use common::*;
use ferrovox_sip::build::ResponseBuilder;
use ferrovox_sip::rewrite::{
    Body, RequestEdits, ResponseEdits, RewriteError, Source, rewrite_request, rewrite_request_from,
    rewrite_response,
};
use ferrovox_sip::validate::{validate_request, validate_response};
use ferrovox_sip::{HeaderName, Message, Method};

const MY_VIA: &[u8] = b"SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bKproxy1";
const MY_RR: &[u8] = b"<sip:203.0.113.1;lr>";

fn proxy_edits() -> RequestEdits<'static> {
    RequestEdits {
        via: Some(MY_VIA),
        record_route: Some(MY_RR),
        decrement_max_forwards: true,
        remove_top_route: false,
        request_uri: None,
        body: None,
    }
}

fn lines(m: &Message<'_>) -> Vec<(Vec<u8>, Vec<u8>)> {
    m.headers()
        .map(|h| (h.name.to_vec(), h.value.to_vec()))
        .collect()
}

#[test]
fn proxy_rewrite_adds_via_rr_and_decrements_max_forwards() {
    let buf = typical_invite();
    let m = Message::parse(&buf).unwrap();
    let mut out = Vec::new();
    rewrite_request(&m, &proxy_edits(), &mut out).unwrap();
    let o = Message::parse(&out).unwrap();
    let info = validate_request(&o).unwrap();
    assert_eq!(info.via_count, 3);
    assert_eq!(info.top_via.raw, MY_VIA);
    assert_eq!(info.max_forwards, Some(68));
    let rr: Vec<_> = o.record_routes().map(|r| r.unwrap().uri_raw).collect();
    assert_eq!(
        rr,
        vec![
            &b"sip:203.0.113.1;lr"[..],
            b"sip:proxy1.atlanta.example.com;lr"
        ]
    );
    assert_eq!(o.body(), m.body());
    // Every original header except Max-Forwards is present, in order, byte-identical.
    let before: Vec<_> = lines(&m)
        .into_iter()
        .filter(|(n, _)| n != b"Max-Forwards")
        .collect();
    let after: Vec<_> = lines(&o)
        .into_iter()
        .skip(2)
        .filter(|(n, _)| n != b"Max-Forwards")
        .collect();
    assert_eq!(before, after);
    assert_eq!(out.len(), buf.len() + MY_VIA.len() + 7 + MY_RR.len() + 16);
}

#[test]
fn rewrite_inserts_max_forwards_when_absent_and_refuses_zero() {
    let buf = msg("OPTIONS sip:a@example.com SIP/2.0
Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1
To: <sip:a@example.com>
From: <sip:b@example.com>;tag=1
Call-ID: x@y
CSeq: 1 OPTIONS
Content-Length: 0

");
    let m = Message::parse(&buf).unwrap();
    let mut out = Vec::new();
    rewrite_request(&m, &proxy_edits(), &mut out).unwrap();
    let o = Message::parse(&out).unwrap();
    assert_eq!(o.max_forwards().unwrap(), Some(70));

    let zero = String::from_utf8(buf)
        .unwrap()
        .replace("CSeq: 1 OPTIONS", "CSeq: 1 OPTIONS\r\nMax-Forwards: 0");
    let m = Message::parse(zero.as_bytes()).unwrap();
    assert_eq!(
        rewrite_request(&m, &proxy_edits(), &mut out).unwrap_err(),
        RewriteError::TooManyHops
    );
    let one = zero.replace("Max-Forwards: 0", "Max-Forwards: 1");
    let m = Message::parse(one.as_bytes()).unwrap();
    rewrite_request(&m, &proxy_edits(), &mut out).unwrap();
    assert_eq!(
        Message::parse(&out).unwrap().max_forwards().unwrap(),
        Some(0)
    );
}

#[test]
fn remove_top_route_and_replace_request_uri() {
    let buf = msg("INVITE sip:proxy.example.com;lr SIP/2.0
Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1
Route: <sip:me.example.com;lr>, <sip:next.example.com;lr>
Route: <sip:last.example.com;lr>
To: <sip:a@example.com>
From: <sip:b@example.com>;tag=1
Call-ID: x@y
CSeq: 1 INVITE
Max-Forwards: 10
Content-Length: 0

");
    let m = Message::parse(&buf).unwrap();
    let edits = RequestEdits {
        remove_top_route: true,
        request_uri: Some(b"sip:alice@192.0.2.7:5062;transport=tcp"),
        ..proxy_edits()
    };
    let mut out = Vec::new();
    rewrite_request(&m, &edits, &mut out).unwrap();
    let o = Message::parse(&out).unwrap();
    assert_eq!(
        o.request_line().unwrap().uri_raw,
        b"sip:alice@192.0.2.7:5062;transport=tcp"
    );
    let routes: Vec<_> = o.routes().map(|r| r.unwrap().uri_raw).collect();
    assert_eq!(
        routes,
        vec![&b"sip:next.example.com;lr"[..], b"sip:last.example.com;lr"]
    );
    assert!(out.windows(7).any(|w| w == b"Route: "));

    // Twice more: the single-value line disappears entirely.
    let m2 = Message::parse(&out).unwrap();
    let mut out2 = Vec::new();
    let only_route = RequestEdits {
        remove_top_route: true,
        ..RequestEdits::default()
    };
    rewrite_request(&m2, &only_route, &mut out2).unwrap();
    let m3 = Message::parse(&out2).unwrap();
    let mut out3 = Vec::new();
    rewrite_request(&m3, &only_route, &mut out3).unwrap();
    let o3 = Message::parse(&out3).unwrap();
    assert_eq!(o3.routes().count(), 0);
    assert_eq!(o3.header_count(), m3.header_count() - 1);
}

#[test]
fn body_replacement_adjusts_content_length_and_type() {
    let buf = typical_invite();
    let m = Message::parse(&buf).unwrap();
    let new_sdp = b"v=0\r\no=- 1 1 IN IP4 203.0.113.1\r\ns=-\r\nc=IN IP4 203.0.113.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";
    let edits = RequestEdits {
        body: Some(Body {
            content_type: Some(b"application/sdp;x=1"),
            bytes: new_sdp,
        }),
        ..proxy_edits()
    };
    let mut out = Vec::new();
    rewrite_request(&m, &edits, &mut out).unwrap();
    let o = Message::parse(&out).unwrap();
    assert_eq!(o.body(), new_sdp);
    assert_eq!(o.content_length(), Some(new_sdp.len()));
    assert_eq!(
        o.header(HeaderName::ContentType).unwrap().value,
        b"application/sdp;x=1"
    );
    assert!(o.trailing().is_empty());

    // Without Content-Length in the input, one is added (needed on TCP).
    let nocl = b"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nMax-Forwards: 5\r\n\r\nhello";
    let m = Message::parse(nocl).unwrap();
    rewrite_request(&m, &proxy_edits(), &mut out).unwrap();
    let o = Message::parse(&out).unwrap();
    assert_eq!(o.content_length(), Some(5));
    assert_eq!(o.body(), b"hello");
    let edits = RequestEdits {
        body: Some(Body {
            content_type: Some(b"text/plain"),
            bytes: b"bye",
        }),
        ..proxy_edits()
    };
    rewrite_request(&m, &edits, &mut out).unwrap();
    let o = Message::parse(&out).unwrap();
    assert_eq!((o.content_length(), o.body()), (Some(3), &b"bye"[..]));
    assert_eq!(
        o.header(HeaderName::ContentType).unwrap().value,
        b"text/plain"
    );
}

#[test]
fn source_stamping_received_and_rport() {
    let buf = msg("OPTIONS sip:a@example.com SIP/2.0
Via: SIP/2.0/UDP client.example.com:5060;rport;branch=z9hG4bK1
To: <sip:a@example.com>
From: <sip:b@example.com>;tag=1
Call-ID: x@y
CSeq: 1 OPTIONS
Max-Forwards: 70
Content-Length: 0

");
    let m = Message::parse(&buf).unwrap();
    let mut out = Vec::new();
    rewrite_request_from(
        &m,
        &proxy_edits(),
        Some(Source {
            ip: b"198.51.100.9",
            port: 40123,
        }),
        &mut out,
    )
    .unwrap();
    let o = Message::parse(&out).unwrap();
    let vias: Vec<_> = o.vias().map(|v| v.unwrap()).collect();
    assert_eq!(vias[1].received, Some(&b"198.51.100.9"[..]));
    assert_eq!(vias[1].rport, Some(Some(40123)));
    assert_eq!(vias[1].branch, Some(&b"z9hG4bK1"[..]));

    // A valueless rport at the end of the Via (what most phones send) gets its value before
    // the received parameter is appended.
    let last = String::from_utf8(buf.clone())
        .unwrap()
        .replace(";rport;branch=z9hG4bK1", ";branch=z9hG4bK1;rport");
    let m = Message::parse(last.as_bytes()).unwrap();
    rewrite_request_from(
        &m,
        &proxy_edits(),
        Some(Source {
            ip: b"198.51.100.9",
            port: 40123,
        }),
        &mut out,
    )
    .unwrap();
    assert!(
        String::from_utf8_lossy(&out)
            .contains("branch=z9hG4bK1;rport=40123;received=198.51.100.9\r\n"),
        "{}",
        String::from_utf8_lossy(&out)
    );

    // Host equals source and no rport: nothing is added.
    let same = String::from_utf8(buf)
        .unwrap()
        .replace("client.example.com:5060;rport;", "198.51.100.9;");
    let m = Message::parse(same.as_bytes()).unwrap();
    rewrite_request_from(
        &m,
        &RequestEdits::default(),
        Some(Source {
            ip: b"198.51.100.9",
            port: 5060,
        }),
        &mut out,
    )
    .unwrap();
    assert_eq!(
        Message::parse(&out).unwrap().top_via().unwrap().received,
        None
    );
}

#[test]
fn response_top_via_removal() {
    let buf = msg("SIP/2.0 200 OK
Via: SIP/2.0/UDP 203.0.113.1;branch=z9hG4bKproxy1
Via: SIP/2.0/UDP client.example.com;branch=z9hG4bK1
To: <sip:a@example.com>;tag=2
From: <sip:b@example.com>;tag=1
Call-ID: x@y
CSeq: 1 INVITE
Content-Length: 0

");
    let m = Message::parse(&buf).unwrap();
    let mut out = Vec::new();
    rewrite_response(&m, &ResponseEdits::default(), &mut out).unwrap();
    let o = Message::parse(&out).unwrap();
    let info = validate_response(&o).unwrap();
    assert_eq!(info.via_count, 1);
    assert_eq!(info.top_via.host_raw, b"client.example.com");
    assert_eq!(
        out.len(),
        buf.len() - b"Via: SIP/2.0/UDP 203.0.113.1;branch=z9hG4bKproxy1\r\n".len()
    );

    // Comma-separated Vias in one line: only the first value goes.
    let buf = msg("SIP/2.0 180 Ringing
v: SIP/2.0/UDP 203.0.113.1;branch=z9hG4bKproxy1 ,
   SIP/2.0/UDP client.example.com;branch=z9hG4bK1
To: <sip:a@example.com>;tag=2
From: <sip:b@example.com>;tag=1
Call-ID: x@y
CSeq: 1 INVITE
Content-Length: 0

");
    let m = Message::parse(&buf).unwrap();
    rewrite_response(&m, &ResponseEdits::default(), &mut out).unwrap();
    let o = Message::parse(&out).unwrap();
    let vias: Vec<_> = o.vias().map(|v| v.unwrap().host_raw).collect();
    assert_eq!(vias, vec![&b"client.example.com"[..]]);
    assert_eq!(o.header(HeaderName::Via).unwrap().name, b"v");

    let req = typical_invite();
    let m = Message::parse(&req).unwrap();
    assert_eq!(
        rewrite_response(&m, &ResponseEdits::default(), &mut out).unwrap_err(),
        RewriteError::WrongKind {
            expected: "response"
        }
    );
}

#[test]
fn caller_values_cannot_inject_headers() {
    let buf = typical_invite();
    let m = Message::parse(&buf).unwrap();
    let mut out = Vec::new();
    let bad = RequestEdits {
        via: Some(b"SIP/2.0/UDP x\r\nEvil: 1"),
        ..RequestEdits::default()
    };
    assert!(matches!(
        rewrite_request(&m, &bad, &mut out).unwrap_err(),
        RewriteError::InvalidValue { .. }
    ));
    let bad = RequestEdits {
        request_uri: Some(b"sip:a b"),
        ..RequestEdits::default()
    };
    assert!(rewrite_request(&m, &bad, &mut out).is_err());
    assert!(
        ResponseBuilder::new(200, b"OK\r\nX: y")
            .write(&m, &mut out)
            .is_err()
    );
    assert!(ResponseBuilder::new(99, b"x").write(&m, &mut out).is_err());
    assert!(
        ResponseBuilder::new(200, b"OK")
            .to_tag(b"a b")
            .write(&m, &mut out)
            .is_err()
    );
}

#[test]
fn output_buffer_is_reused() {
    let buf = typical_invite();
    let m = Message::parse(&buf).unwrap();
    let mut out = Vec::new();
    rewrite_request(&m, &proxy_edits(), &mut out).unwrap();
    let first = out.clone();
    let cap = out.capacity();
    let ptr = out.as_ptr();
    for _ in 0..10 {
        rewrite_request(&m, &proxy_edits(), &mut out).unwrap();
    }
    assert_eq!(out, first);
    assert_eq!(out.capacity(), cap);
    assert_eq!(out.as_ptr(), ptr);
}

#[test]
fn dblreq_rewrite_drops_the_second_message() {
    let buf = dblreq();
    let m = Message::parse(&buf).unwrap();
    let mut out = Vec::new();
    rewrite_request(&m, &proxy_edits(), &mut out).unwrap();
    let o = Message::parse(&out).unwrap();
    assert!(o.trailing().is_empty());
    assert_eq!(o.method(), Some(Method::Register));
}

#[test]
fn wsinv_rewrite_keeps_folded_headers_verbatim() {
    let buf = wsinv();
    let m = Message::parse(&buf).unwrap();
    let mut out = Vec::new();
    rewrite_request(
        &m,
        &RequestEdits {
            remove_top_route: true,
            ..proxy_edits()
        },
        &mut out,
    )
    .unwrap();
    let o = Message::parse(&out).unwrap();
    let info = validate_request(&o).unwrap();
    assert_eq!(info.max_forwards, Some(67));
    assert_eq!(info.via_count, 4);
    assert_eq!(o.routes().count(), 0);
    assert_eq!(o.from().unwrap().tag(), Some(&b"98asjd8"[..]));
    assert_eq!(o.body(), m.body());
}

#[test]
fn builder_100_trying_and_final_with_tag() {
    let buf = msg("INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bK1
v: SIP/2.0/UDP c.example.com;branch=z9hG4bK0
To: Bob <sip:bob@example.com>
f: <sip:alice@example.com>;tag=a
Call-ID: c1@example.com
CSeq: 7 INVITE
Timestamp: 54
Max-Forwards: 70
Content-Length: 0

");
    let req = Message::parse(&buf).unwrap();
    let mut out = Vec::new();
    ResponseBuilder::new(100, b"Trying")
        .to_tag(b"srv1")
        .write(&req, &mut out)
        .unwrap();
    let r = Message::parse(&out).unwrap();
    let info = validate_response(&r).unwrap();
    assert_eq!(info.code, 100);
    assert_eq!(info.to.tag(), None, "no To tag on 100");
    assert_eq!(info.via_count, 2);
    assert_eq!(r.header(HeaderName::Timestamp).unwrap().value, b"54");
    assert_eq!(info.cseq.seq, 7);

    ResponseBuilder::new(486, b"Busy Here")
        .to_tag(b"srv1")
        .headers(&[(&b"Retry-After"[..], &b"30"[..])])
        .write(&req, &mut out)
        .unwrap();
    let r = Message::parse(&out).unwrap();
    let info = validate_response(&r).unwrap();
    assert_eq!(info.to.tag(), Some(&b"srv1"[..]));
    assert_eq!(info.from.tag(), Some(&b"a"[..]));
    assert_eq!(info.call_id, b"c1@example.com");
    assert!(r.header(HeaderName::Timestamp).is_none());
    assert_eq!(r.headers_named(b"retry-after").next().unwrap().value, b"30");
    let vias: Vec<_> = r.vias().map(|v| v.unwrap().raw).collect();
    let rvias: Vec<_> = req.vias().map(|v| v.unwrap().raw).collect();
    assert_eq!(vias, rvias);

    // A To that already has a tag is left alone; a body is framed.
    let tagged = String::from_utf8(buf).unwrap().replace(
        "To: Bob <sip:bob@example.com>",
        "To: Bob <sip:bob@example.com>;tag=old",
    );
    let req = Message::parse(tagged.as_bytes()).unwrap();
    ResponseBuilder::new(200, b"OK")
        .to_tag(b"new")
        .body(b"text/plain", b"hi")
        .write(&req, &mut out)
        .unwrap();
    let r = Message::parse(&out).unwrap();
    assert_eq!(r.to().unwrap().tag(), Some(&b"old"[..]));
    assert_eq!(r.body(), b"hi");
    assert_eq!(
        r.header(HeaderName::ContentType).unwrap().value,
        b"text/plain"
    );
}

#[test]
fn builder_answers_invalid_requests_with_400() {
    // insuf-like request: the builder still answers with what is there.
    let buf = msg("INVITE sip:user@example.com SIP/2.0
CSeq: 193942 INVITE
Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf
l: 0

");
    let req = Message::parse(&buf).unwrap();
    let err = validate_request(&req).unwrap_err();
    let mut out = Vec::new();
    ResponseBuilder::new(err.status_code(), err.reason_phrase().as_bytes())
        .to_tag(b"x")
        .write(&req, &mut out)
        .unwrap();
    let r = Message::parse(&out).unwrap();
    assert_eq!(r.status_code(), Some(400));
    assert_eq!(r.top_via().unwrap().branch, Some(&b"z9hG4bKkdj.insuf"[..]));
    assert_eq!(r.cseq().unwrap().seq, 193942);
    assert!(r.to().is_err());
}

#[test]
fn wsinv_full_proxy_rewrite_and_response() {
    let buf = wsinv();
    let m = Message::parse(&buf).unwrap();
    let mut out = Vec::new();
    rewrite_request_from(
        &m,
        &RequestEdits {
            remove_top_route: true,
            request_uri: Some(b"sip:x@y"),
            ..proxy_edits()
        },
        Some(Source {
            ip: b"10.1.1.1",
            port: 999,
        }),
        &mut out,
    )
    .unwrap();
    let o = Message::parse(&out).unwrap();
    assert!(out.starts_with(b"INVITE sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bKproxy1\r\nRecord-Route: <sip:203.0.113.1;lr>\r\nTO :\r\n"));
    let second = o.vias().nth(1).unwrap().unwrap();
    assert_eq!(
        (second.rport, second.received),
        (Some(Some(999)), Some(&b"10.1.1.1"[..]))
    );
    let mut resp = Vec::new();
    ResponseBuilder::new(486, b"Busy Here")
        .to_tag(b"t")
        .write(&m, &mut resp)
        .unwrap();
    let r = Message::parse(&resp).unwrap();
    // wsinv's To already has a tag: kept, not doubled.
    assert_eq!(r.to().unwrap().tag(), Some(&b"1918181833n"[..]));
    assert_eq!(r.vias().count(), 3);
}

#[test]
fn stateless_branch_is_stable_and_matches_cancel() {
    use ferrovox_sip::rewrite::stateless_branch;
    let invite = typical_invite();
    let m = Message::parse(&invite).unwrap();
    let b1 = stateless_branch(&m, 42).unwrap();
    assert!(b1.starts_with(b"z9hG4bK"));
    assert!(b1[7..].iter().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(b1, stateless_branch(&m, 42).unwrap(), "retransmission");
    assert_ne!(b1, stateless_branch(&m, 43).unwrap(), "salt matters");
    // CANCEL and the non-2xx ACK of this INVITE share its branch.
    let text = String::from_utf8(invite.clone()).unwrap();
    let cancel = text
        .replacen("INVITE sip:", "CANCEL sip:", 1)
        .replace("CSeq: 314159 INVITE", "CSeq: 314159 CANCEL");
    let c = Message::parse(cancel.as_bytes()).unwrap();
    assert_eq!(stateless_branch(&c, 42).unwrap(), b1);
    let ack = text
        .replacen("INVITE sip:", "ACK sip:", 1)
        .replace("CSeq: 314159 INVITE", "CSeq: 314159 ACK")
        .replace(
            "To: Bob <sip:bob@biloxi.example.com>",
            "To: Bob <sip:bob@biloxi.example.com>;tag=x",
        );
    let a = Message::parse(ack.as_bytes()).unwrap();
    assert_eq!(stateless_branch(&a, 42).unwrap(), b1);
    // A different request gets a different branch.
    let other = text.replace("CSeq: 314159 INVITE", "CSeq: 314160 INVITE");
    let o = Message::parse(other.as_bytes()).unwrap();
    assert_ne!(stateless_branch(&o, 42).unwrap(), b1);
    // Usable as the new Via's branch.
    let via = format!(
        "SIP/2.0/UDP 203.0.113.1;branch={}",
        std::str::from_utf8(&b1).unwrap()
    );
    let mut out = Vec::new();
    rewrite_request(
        &m,
        &RequestEdits {
            via: Some(via.as_bytes()),
            ..RequestEdits::default()
        },
        &mut out,
    )
    .unwrap();
    assert!(
        Message::parse(&out)
            .unwrap()
            .top_via()
            .unwrap()
            .has_rfc3261_branch()
    );
}
