//! Message layer, typed headers, URIs, auth and framing: each test states
//! the property it checks.

mod common;

use common::*;
use ferrovox_sip::{
    Auth, CSeq, Contact, HeaderName, Host, Message, Method, NameAddr, ParseError, SipUri, Uri, Via,
    frame_len, frame_len_limited, leading_keepalive, parse_call_id, parse_max_forwards,
};
use std::net::{Ipv4Addr, Ipv6Addr};

fn req(headers: &str) -> Vec<u8> {
    msg(&format!(
        "INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1
To: <sip:bob@example.com>
From: <sip:alice@example.com>;tag=a
Call-ID: c1@example.com
CSeq: 1 INVITE
Max-Forwards: 70
{headers}Content-Length: 0

"
    ))
}

#[test]
fn bare_lf_and_crlf_parse_the_same() {
    let crlf = typical_invite();
    let lf: Vec<u8> = String::from_utf8(crlf.clone())
        .unwrap()
        .replace("\r\n", "\n")
        .into_bytes();
    // Content-Length counts CRLF bytes in the SDP; fix it for the LF copy.
    let a = Message::parse(&crlf).unwrap();
    let lf_fixed = String::from_utf8(lf).unwrap().replace(
        &format!("Content-Length: {}", a.body().len()),
        &format!(
            "Content-Length: {}",
            a.body().len() - a.body().iter().filter(|&&c| c == b'\r').count()
        ),
    );
    let b = Message::parse(lf_fixed.as_bytes()).unwrap();
    assert_eq!(a.header_count(), b.header_count());
    for (x, y) in a.headers().zip(b.headers()) {
        assert_eq!(x.name, y.name);
        if x.kind == HeaderName::ContentLength {
            continue;
        }
        assert_eq!(x.value, y.value);
        assert_eq!(x.kind, y.kind);
    }
    assert_eq!(a.top_via().unwrap().branch, b.top_via().unwrap().branch);
    assert_eq!(
        b.body(),
        String::from_utf8(a.body().to_vec())
            .unwrap()
            .replace("\r\n", "\n")
            .as_bytes()
    );
}

#[test]
fn leading_crlf_is_skipped() {
    let mut buf = b"\r\n\r\n".to_vec();
    buf.extend_from_slice(&typical_invite());
    let m = Message::parse(&buf).unwrap();
    assert_eq!(m.method(), Some(Method::Invite));
    assert!(m.as_bytes().starts_with(b"INVITE "));
    assert_eq!(m.consumed(), buf.len());
}

#[test]
fn compact_forms_and_case_insensitive_names() {
    let table: &[(&str, HeaderName)] = &[
        ("i", HeaderName::CallId),
        ("m", HeaderName::Contact),
        ("f", HeaderName::From),
        ("t", HeaderName::To),
        ("v", HeaderName::Via),
        ("l", HeaderName::ContentLength),
        ("c", HeaderName::ContentType),
        ("k", HeaderName::Supported),
        ("s", HeaderName::Subject),
        ("e", HeaderName::ContentEncoding),
        ("o", HeaderName::Event),
        ("u", HeaderName::AllowEvents),
        ("r", HeaderName::ReferTo),
        ("b", HeaderName::ReferredBy),
        ("x", HeaderName::SessionExpires),
        ("a", HeaderName::AcceptContact),
        ("j", HeaderName::RejectContact),
        ("d", HeaderName::RequestDisposition),
        ("y", HeaderName::Identity),
        ("q", HeaderName::Other),
        ("cAlL-iD", HeaderName::CallId),
        ("RECORD-ROUTE", HeaderName::RecordRoute),
        ("www-authenticate", HeaderName::WwwAuthenticate),
        ("Max-Forward", HeaderName::Other),
        ("X-Custom", HeaderName::Other),
    ];
    for kind in HeaderName::ALL {
        let canon = kind.as_str();
        assert_eq!(HeaderName::from_bytes(canon.as_bytes()), kind, "{canon}");
        assert_eq!(
            HeaderName::from_bytes(canon.to_ascii_lowercase().as_bytes()),
            kind
        );
        assert_eq!(
            HeaderName::from_bytes(format!("{canon}x").as_bytes()),
            HeaderName::Other
        );
    }
    for (name, kind) in table {
        assert_eq!(HeaderName::from_bytes(name.as_bytes()), *kind, "{name}");
        let upper = name.to_ascii_uppercase();
        assert_eq!(HeaderName::from_bytes(upper.as_bytes()), *kind, "{upper}");
    }
    let buf = req("X-Custom: one\nx-custom: two\n");
    let m = Message::parse(&buf).unwrap();
    let vals: Vec<&[u8]> = m.headers_named(b"X-CUSTOM").map(|h| h.value).collect();
    assert_eq!(vals, vec![&b"one"[..], b"two"]);
    assert_eq!(m.headers_named(b"i").count(), 1);
}

#[test]
fn header_line_errors_carry_offsets() {
    let buf = req("NoColonHere\n");
    let e = Message::parse(&buf).unwrap_err();
    let at = buf.windows(11).position(|w| w == b"NoColonHere").unwrap();
    assert_eq!(
        e,
        ParseError::HeaderLine {
            offset: at + 11,
            reason: "expected ':' after header name"
        }
    );

    let e = Message::parse(b"INVITE sip:a@b SIP/2.0\r\n folded-first: x\r\n\r\n").unwrap_err();
    assert!(
        matches!(e, ParseError::HeaderLine { offset: 24, .. }),
        "{e:?}"
    );

    let e = Message::parse(b"INVITE sip:a@b SIP/2.0\r\n: empty\r\n\r\n").unwrap_err();
    assert!(
        matches!(e, ParseError::HeaderLine { offset: 24, .. }),
        "{e:?}"
    );

    let e = Message::parse(b"INVITE sip:a@b SIP/2.0\r\nVia: x\r\n").unwrap_err();
    assert!(matches!(e, ParseError::Incomplete { .. }), "{e:?}");
    assert!(matches!(
        Message::parse(b"").unwrap_err(),
        ParseError::Incomplete { .. }
    ));
    assert!(matches!(
        Message::parse(b"\r\n\r\n").unwrap_err(),
        ParseError::Incomplete { .. }
    ));
}

#[test]
fn typed_header_errors_name_the_header_and_point_into_the_buffer() {
    let buf = req("");
    let text = String::from_utf8(buf)
        .unwrap()
        .replace("CSeq: 1 INVITE", "CSeq: x INVITE");
    let m = Message::parse(text.as_bytes()).unwrap();
    let e = m.cseq().unwrap_err();
    let at = text.find("CSeq: x").unwrap() + 6;
    assert_eq!(e.header_name(), Some("CSeq"));
    assert_eq!(e.offset(), Some(at));
    assert_eq!(e.status_code(), 400);

    let text = text.replace("branch=z9hG4bK1", "branch=z9hG4bK1;ttl=300");
    let m = Message::parse(text.as_bytes()).unwrap();
    let e = m.top_via().unwrap_err();
    assert_eq!(e.header_name(), Some("Via"));
    assert_eq!(e.offset(), Some(text.find(";ttl").unwrap()));
}

#[test]
fn body_without_content_length_is_the_rest_of_the_datagram() {
    let buf =
        b"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n\r\nhello\r\n".to_vec();
    let m = Message::parse(&buf).unwrap();
    assert_eq!(m.body(), b"hello\r\n");
    assert_eq!(m.content_length(), None);
    // Identical duplicate Content-Length values are tolerated.
    let buf = b"MESSAGE sip:a@b SIP/2.0\r\nl: 2\r\nContent-Length: 2\r\n\r\nhi".to_vec();
    assert_eq!(Message::parse(&buf).unwrap().body(), b"hi");
    let buf = b"MESSAGE sip:a@b SIP/2.0\r\nl: 99999999999\r\n\r\nhi".to_vec();
    assert!(matches!(
        Message::parse(&buf).unwrap_err(),
        ParseError::Header {
            name: "Content-Length",
            ..
        }
    ));
}

#[test]
fn start_line_variants() {
    let ok: &[&[u8]] = &[
        b"SIP/2.0 180 Ringing\r\n\r\n",
        b"SIP/2.0 699 \r\n\r\n",
        b"SIP/2.0 100\r\n\r\n",
        b"sip/2.0 200 OK\r\n\r\n",
        b"OPTIONS tel:+1-201-555-0123 SIP/2.0\r\n\r\n",
        b"OPTIONS sips:[2001:db8::1]:5061 SIP/2.0\r\n\r\n",
    ];
    for b in ok {
        Message::parse(b).unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(b)));
    }
    let bad: &[(&[u8], &str)] = &[
        (b"SIP/2.0 20 OK\r\n\r\n", "two-digit code"),
        (b"SIP/2.0 2000 OK\r\n\r\n", "four-digit code"),
        (b"SIP/2.0 099 x\r\n\r\n", "code below 100"),
        (b"SIP/2.0 OK 200\r\n\r\n", "non-numeric code"),
        (b"INVITE sip:a@b\r\n\r\n", "no version"),
        (b"INVITE sip:a@b SIP/2.0 \r\n\r\n", "trailing SP"),
        (b"INVITE sip:a@b HTTP/1.1\r\n\r\n", "other protocol"),
        (b"INV ITE sip:a@b SIP/2.0\r\n\r\n", "space in method"),
        (b"INVITE sip:a@b:99999 SIP/2.0\r\n\r\n", "port overflow"),
        (b"INVITE sip:a@b%zz SIP/2.0\r\n\r\n", "bad host"),
        (b" INVITE sip:a@b SIP/2.0\r\n\r\n", "leading SP"),
    ];
    for (b, why) in bad {
        assert!(Message::parse(b).is_err(), "{why}");
    }
    assert!(matches!(
        Message::parse(b"SIP/3.0 200 OK\r\n\r\n").unwrap_err(),
        ParseError::Version { .. }
    ));
}

#[test]
fn via_forms() {
    let v = Via::parse(b"SIP/2.0/TLS [2001:db8::9]:5061;branch=z9hG4bKabc;received=[2001:db8::1];rport=4000;maddr=224.2.0.1;ttl=16;x=\"a,b\"").unwrap();
    assert_eq!(v.transport, b"TLS");
    assert_eq!(v.host, Host::V6("2001:db8::9".parse::<Ipv6Addr>().unwrap()));
    assert_eq!(v.host_raw, b"[2001:db8::9]");
    assert_eq!(v.port, Some(5061));
    assert_eq!(v.received, Some(&b"[2001:db8::1]"[..]));
    assert_eq!(v.rport, Some(Some(4000)));
    assert_eq!(v.maddr, Some(&b"224.2.0.1"[..]));
    assert_eq!(v.ttl, Some(16));
    assert_eq!(v.params.get(b"X"), Some(Some(&b"\"a,b\""[..])));
    assert!(v.has_rfc3261_branch());
    assert!(!v.is_udp());

    for bad in [
        &b"SIP/2.0/UDP"[..],
        b"SIP/2.0 UDP host",
        b"SIP/2.0/UDPhost",
        b"SIP/2.0/UDP host:70000",
        b"SIP/2.0/UDP host;ttl=256",
        b"SIP/2.0/UDP host;rport=x",
        b"SIP/2.0/UDP host;received=example.com",
        b"SIP/2.0/UDP host;branch=\"q\"",
        b"SIP/2.0/UDP host;",
        b"SIP/2.0/UDP [::1",
        b"SIP/2.0/UDP 1.2.3.456",
    ] {
        assert!(Via::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }

    // Several per line and several lines, in order; a quoted comma does not split.
    let buf = req(
        "Via: SIP/2.0/TCP b.example.com;x=\"1,2\" , SIP/2.0/UDP c.example.com:5070\nv: SIP/2.0/SCTP d.example.com\n",
    );
    let m = Message::parse(&buf).unwrap();
    let hosts: Vec<_> = m.vias().map(|v| v.unwrap().host_raw).collect();
    assert_eq!(
        hosts,
        vec![
            &b"192.0.2.1"[..],
            b"b.example.com",
            b"c.example.com",
            b"d.example.com"
        ]
    );
    // A trailing comma is an error, reported after the good values.
    let buf = req("Via: SIP/2.0/TCP b.example.com,\n");
    let m = Message::parse(&buf).unwrap();
    let r: Vec<_> = m.vias().collect();
    assert_eq!(r.len(), 3);
    assert!(r[2].is_err());
}

#[test]
fn name_addr_forms() {
    let n = NameAddr::parse(
        b"\"A \\\"q\\\" B\" <sip:a@example.com;transport=tcp>;tag=x;foo",
        "To",
    )
    .unwrap();
    assert_eq!(&*n.display_name_unquoted().unwrap(), b"A \"q\" B");
    assert!(n.bracketed);
    assert_eq!(n.uri.as_sip().unwrap().transport(), Some(&b"tcp"[..]));
    assert_eq!(n.tag(), Some(&b"x"[..]));
    assert_eq!(n.params.get(b"foo"), Some(None));

    let n = NameAddr::parse(b"<sip:a@b>;x=[2001:db8::1];y=\"a:b\"", "To").unwrap();
    assert_eq!(n.params.get(b"x"), Some(Some(&b"[2001:db8::1]"[..])));
    let n = NameAddr::parse(b"sip:a@example.com;transport=tcp;tag=y", "From").unwrap();
    assert!(!n.bracketed);
    assert_eq!(n.uri_raw, b"sip:a@example.com");
    assert_eq!(n.params.get(b"transport"), Some(Some(&b"tcp"[..])));
    assert_eq!(n.tag(), Some(&b"y"[..]));

    let n = NameAddr::parse(b"Alice Smith <sips:alice@[::1]:5061>", "From").unwrap();
    assert_eq!(n.display_name, Some(&b"Alice Smith"[..]));
    let u = n.uri.as_sip().unwrap();
    assert!(u.secure);
    assert_eq!(u.host, Host::V6(Ipv6Addr::LOCALHOST));

    for bad in [
        &b"<sip:a@b"[..],
        b"\"unterminated <sip:a@b>",
        b"< sip:a@b>",
        b"sip:a@b?x=y",
        b"Bell, A <sip:a@b>",
        b"<sip:a@b>;",
        b"<sip:a@b>;tag=a:b",
        b"<sip:a@b>;x=[::1",
        b"<sip:a@b> junk",
        b"",
        b"<>",
    ] {
        assert!(
            NameAddr::parse(bad, "To").is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn contact_lists_star_expires_q() {
    let buf = req(
        "Contact: \"Doe, John\" <sip:j@a.example.com;x=1,2>;expires=60;q=0.5, <sip:k@b.example.com>;q=1\nm: sip:l@c.example.com\n",
    );
    // "x=1,2" is not a valid uri-parameter value: the comma must be inside <> — it is, but
    // ',' is not a paramchar, so the URI is rejected.
    let m = Message::parse(&buf).unwrap();
    assert!(m.contacts().next().unwrap().is_err());

    let buf = req(
        "Contact: \"Doe, John\" <sip:j@a.example.com;x=1>;expires=60;q=0.5, <sip:k@b.example.com>;q=1\nm: sip:l@c.example.com;expires=0\n",
    );
    let m = Message::parse(&buf).unwrap();
    let cs: Vec<_> = m.contacts().map(|c| c.unwrap()).collect();
    assert_eq!(cs.len(), 3);
    match cs[0] {
        Contact::Addr { addr, expires, q } => {
            assert_eq!(&*addr.display_name_unquoted().unwrap(), b"Doe, John");
            assert_eq!(expires, Some(60));
            assert_eq!(q, Some(500));
        }
        Contact::Star => panic!(),
    }
    assert!(matches!(
        cs[1],
        Contact::Addr {
            q: Some(1000),
            expires: None,
            ..
        }
    ));
    assert!(matches!(
        cs[2],
        Contact::Addr {
            expires: Some(0),
            ..
        }
    ));

    let buf = req("Contact: *\n");
    let m = Message::parse(&buf).unwrap();
    assert_eq!(
        m.contacts().map(|c| c.unwrap()).collect::<Vec<_>>(),
        vec![Contact::Star]
    );

    for bad in [
        "Contact: <sip:a@b>;q=1.5\n",
        "Contact: <sip:a@b>;q=0.1234\n",
        "Contact: <sip:a@b>;expires=soon\n",
        "Contact: *, <sip:a@b>\n",
    ] {
        let buf = req(bad);
        let m = Message::parse(&buf).unwrap();
        assert!(m.contacts().any(|c| c.is_err()), "{bad}");
    }
}

#[test]
fn routes_in_order_across_lines() {
    let buf = req(
        "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\nRoute: <sip:p3.example.com;lr>\nRecord-Route: <sip:rr.example.com;lr>\n",
    );
    let m = Message::parse(&buf).unwrap();
    let hosts: Vec<_> = m
        .routes()
        .map(|r| r.unwrap().uri.as_sip().unwrap().host_raw)
        .collect();
    assert_eq!(
        hosts,
        vec![&b"p1.example.com"[..], b"p2.example.com", b"p3.example.com"]
    );
    assert_eq!(m.record_routes().count(), 1);
}

#[test]
fn sip_uri_components() {
    let u = SipUri::parse(b"sips:alice:secret@atlanta.example.com:5061;transport=tls;lr;maddr=10.0.0.1;ttl=5;user=phone;method=INVITE?subject=project%20x&priority=urgent").unwrap();
    assert!(u.secure);
    assert_eq!(u.user, Some(&b"alice"[..]));
    assert_eq!(u.password, Some(&b"secret"[..]));
    assert_eq!(u.host, Host::Domain(b"atlanta.example.com"));
    assert_eq!(u.port, Some(5061));
    assert_eq!(u.transport(), Some(&b"tls"[..]));
    assert!(u.lr());
    assert_eq!(u.maddr(), Some(&b"10.0.0.1"[..]));
    assert_eq!(u.ttl(), Some(5));
    assert_eq!(u.user_param(), Some(&b"phone"[..]));
    assert_eq!(u.method_param(), Some(&b"INVITE"[..]));
    let h: Vec<_> = u.header_pairs().collect();
    assert_eq!(
        h,
        vec![
            (&b"subject"[..], &b"project%20x"[..]),
            (&b"priority"[..], &b"urgent"[..])
        ]
    );

    let u = SipUri::parse(b"SIP:192.0.2.4").unwrap();
    assert!(!u.secure);
    assert_eq!(u.user, None);
    assert_eq!(u.host, Host::V4(Ipv4Addr::new(192, 0, 2, 4)));
    assert!(!u.lr());

    for bad in [
        &b"sip:"[..],
        b"sip:@host",
        b"sip:user@",
        b"sip:user@host:",
        b"sip:us%4@host",
        b"sip:us er@host",
        b"sip:host;=x",
        b"sip:host;a=",
        b"sip:host?",
        b"sip:host?a",
        b"sip:host>",
        b"sip:[::1",
        b"sip:[zz::1]",
        b"sip:1.2.3.4.5",
        b"sip:host..com",
        b"http://x",
        b"1sip:host",
    ] {
        assert!(
            SipUri::parse(bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    assert!(matches!(
        Uri::parse(b"tel:+1-201-555-0123").unwrap(),
        Uri::Other { scheme: b"tel", .. }
    ));
    assert!(Uri::parse(b"tel:").is_err());
    assert!(Uri::parse(b"<sip:a@b>").is_err());
}

#[test]
fn auth_headers() {
    let buf = req(
        "Authorization: Digest username=\"bob\", realm=\"biloxi.com\",\n nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"sip:bob@biloxi.com\", qop=auth, nc=00000001, cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\", opaque=\"5ccc,069\\\"c9c\"\nWWW-Authenticate: Digest realm=\"atlanta.com\", nonce=\"84a4cc6f3082121f32b42a2187831a9e\", algorithm=MD5, qop=\"auth,auth-int\"\n",
    );
    let m = Message::parse(&buf).unwrap();
    let a = m.auth(HeaderName::Authorization).next().unwrap().unwrap();
    assert_eq!(a.scheme, b"Digest");
    assert_eq!(a.get(b"USERNAME").unwrap().value, b"bob");
    assert_eq!(a.get(b"nc").unwrap().value, b"00000001");
    assert!(!a.get(b"qop").unwrap().quoted);
    let opaque = a.get(b"opaque").unwrap();
    assert_eq!(opaque.value, b"5ccc,069\\\"c9c");
    assert_eq!(&*opaque.unescaped(), b"5ccc,069\"c9c");
    assert_eq!(a.params().count(), 9);
    let w = m.auth(HeaderName::WwwAuthenticate).next().unwrap().unwrap();
    assert_eq!(w.get(b"qop").unwrap().value, b"auth,auth-int");
    assert_eq!(w.get(b"algorithm").unwrap().value, b"MD5");

    for bad in [
        &b"Digest realm"[..],
        b"Digest realm=\"x",
        b"Digest a=b c=d",
        b"Digest a=b,",
        b"",
        b"Digest,a=b",
    ] {
        assert!(
            Auth::parse(bad, "Authorization").is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    assert_eq!(
        Auth::parse(b"Basic", "Authorization")
            .unwrap()
            .params()
            .count(),
        0
    );
}

#[test]
fn cseq_call_id_max_forwards() {
    let c = CSeq::parse(b"4711 ACK").unwrap();
    assert_eq!((c.seq, c.method), (4711, Method::Ack));
    assert_eq!(CSeq::parse(b"4294967295 BYE").unwrap().seq, u32::MAX);
    for bad in [
        &b"4294967296 BYE"[..],
        b"1",
        b"1INVITE",
        b"x INVITE",
        b"1 INVITE extra",
        b"-1 BYE",
    ] {
        assert!(
            CSeq::parse(bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    assert_eq!(parse_call_id(b" abc@host ").unwrap(), b"abc@host");
    for bad in [&b""[..], b"a@", b"@b", b"a@b@c", b"a b", b"a@b, c@d"] {
        assert!(
            parse_call_id(bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    assert_eq!(parse_max_forwards(b"0").unwrap(), 0);
    assert_eq!(parse_max_forwards(b"255").unwrap(), 255);
    for bad in [&b"256"[..], b"-1", b"", b"7 0", b"0x10"] {
        assert!(
            parse_max_forwards(bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn unfolded_normalises_lws_lazily() {
    let buf = req("Subject: first  \n   second\n\tthird\n");
    let m = Message::parse(&buf).unwrap();
    let h = m.header(HeaderName::Subject).unwrap();
    assert_eq!(h.value, b"first  \r\n   second\r\n\tthird");
    let pieces: Vec<&[u8]> = h.unfolded().collect();
    assert_eq!(pieces, vec![&b"first"[..], b" ", b"second", b" ", b"third"]);
}

#[test]
fn frame_len_for_stream_transports() {
    let one = typical_invite();
    let mut two = b"\r\n\r\n".to_vec();
    two.extend_from_slice(&one);
    two.extend_from_slice(&one);
    // Every strict prefix of the first message needs more bytes.
    for cut in 0..one.len() + 4 {
        assert_eq!(frame_len(&two[..cut]).unwrap(), None, "prefix {cut}");
    }
    let n = frame_len(&two).unwrap().unwrap();
    assert_eq!(n, one.len() + 4);
    let m = Message::parse(&two[..n]).unwrap();
    assert_eq!(m.consumed(), n);
    assert_eq!(frame_len(&two[n..]).unwrap(), Some(one.len()));
    assert_eq!(leading_keepalive(b"\r\n\r\nINVITE"), 4);
    assert_eq!(frame_len(b"\r\n\r\n").unwrap(), None);
    assert_eq!(
        frame_len(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n").unwrap_err(),
        ParseError::MissingContentLength
    );
    assert!(frame_len(b"OPTIONS sip:a@b SIP/2.0\r\nl: -1\r\n\r\n").is_err());
    assert!(frame_len(b"OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\nContent-Length: 2\r\n\r\n").is_err());
    let mut big = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'X', 200));
    assert!(matches!(
        frame_len_limited(&big, 100).unwrap_err(),
        ParseError::TooLarge { limit: 100 }
    ));
    // A folded Content-Length is still found.
    let folded = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length:\r\n  3\r\nVia: x\r\n\r\nabcdef";
    assert_eq!(frame_len(folded).unwrap(), Some(folded.len() - 3));
    assert_eq!(Message::parse(folded).unwrap().body(), b"abc");
    // Compact form and bare LF.
    assert_eq!(
        frame_len(b"OPTIONS sip:a@b SIP/2.0\nl:3\n\nabcdef").unwrap(),
        Some(32)
    );
}

#[test]
fn headers_expose_ranges() {
    let buf = typical_invite();
    let m = Message::parse(&buf).unwrap();
    for h in m.headers() {
        assert_eq!(
            &buf[h.value_offset..h.value_offset + h.value.len()],
            h.value
        );
        assert_eq!(&buf[h.line.start..h.line.start + h.name.len()], h.name);
        assert_eq!(&buf[h.line.end - 2..h.line.end], b"\r\n");
    }
    assert_eq!(&buf[m.headers_end()..m.headers_end() + 2], b"\r\n");
    assert!(
        buf.len() > 850 && buf.len() < 1000,
        "typical INVITE is {} bytes",
        buf.len()
    );
}

#[test]
fn token_lists_and_expires() {
    let buf = req(
        "Require: 100rel, timer\nProxy-Require: sec-agree\nk: replaces,\n  timer\nSupported: path\nAllow: INVITE, ACK ,BYE\nExpires: 3600\n",
    );
    let m = Message::parse(&buf).unwrap();
    let req_tags: Vec<_> = m.tokens(HeaderName::Require).map(|t| t.unwrap()).collect();
    assert_eq!(req_tags, vec![&b"100rel"[..], b"timer"]);
    let sup: Vec<_> = m
        .tokens(HeaderName::Supported)
        .map(|t| t.unwrap())
        .collect();
    assert_eq!(sup, vec![&b"replaces"[..], b"timer", b"path"]);
    assert_eq!(m.tokens(HeaderName::ProxyRequire).count(), 1);
    assert_eq!(
        m.tokens(HeaderName::Allow)
            .map(|t| t.unwrap())
            .collect::<Vec<_>>(),
        vec![&b"INVITE"[..], b"ACK", b"BYE"]
    );
    assert_eq!(m.tokens(HeaderName::Unsupported).count(), 0);
    assert_eq!(m.expires().unwrap(), Some(3600));

    let buf = req("Require: 100rel,,timer\nExpires: 1000000000000000000000\n");
    let m = Message::parse(&buf).unwrap();
    assert!(m.tokens(HeaderName::Require).any(|t| t.is_err()));
    assert_eq!(m.expires().unwrap(), Some(u32::MAX));
    let buf = req("Expires: soon\n");
    assert_eq!(
        Message::parse(&buf)
            .unwrap()
            .expires()
            .unwrap_err()
            .header_name(),
        Some("Expires")
    );
}

#[test]
fn header_count_is_bounded() {
    let ok = req(&"X: 1\n".repeat(1000));
    assert_eq!(Message::parse(&ok).unwrap().header_count(), 1007);
    let many = req(&"X: 1\n".repeat(1100));
    let e = Message::parse(&many).unwrap_err();
    assert_eq!(e, ParseError::TooManyHeaders { limit: 1024 });
    assert_eq!(e.status_code(), 513);
}

#[test]
fn bare_lf_header_sections_match_crlf_across_the_corpus() {
    for crlf in valid_corpus() {
        let a = Message::parse(&crlf).unwrap();
        // Rewrite only the header section's line ends; the body is unchanged.
        let head = &crlf[..a.headers_end()];
        let mut lf: Vec<u8> = Vec::new();
        let mut i = 0;
        while i < head.len() {
            if head[i] == b'\r' && head.get(i + 1) == Some(&b'\n') {
                i += 1;
                continue;
            }
            lf.push(head[i]);
            i += 1;
        }
        let body_and_rest = &crlf[a.headers_end() + 2..];
        lf.push(b'\n');
        lf.extend_from_slice(body_and_rest);
        let b = Message::parse(&lf).unwrap();
        assert_eq!(a.header_count(), b.header_count());
        for (x, y) in a.headers().zip(b.headers()) {
            assert_eq!(x.name, y.name);
            let (mut ux, mut uy) = (Vec::new(), Vec::new());
            x.unfolded().write_to(&mut ux);
            y.unfolded().write_to(&mut uy);
            assert_eq!(ux, uy);
        }
        assert_eq!(a.body(), b.body());
        assert_eq!(a.vias().count(), b.vias().count());
        assert_eq!(
            a.from().ok().map(|f| f.tag()),
            b.from().ok().map(|f| f.tag())
        );
    }
}
