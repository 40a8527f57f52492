//! RFC 4475 torture tests: §3.1.1 valid messages must parse and give the
//! expected typed values; §3.1.2 invalid messages must be rejected (by the
//! parser or by validation) with an error that names what is wrong, except
//! where the RFC calls a message valid-but-odd, which must be accepted.

mod common;

use common::*;
use ferrovox_sip::validate::{validate_request, validate_response};
use ferrovox_sip::{
    Contact, Header, HeaderName, Host, Message, Method, ParseError, Uri, pct_decode,
    unescape_quoted,
};
use std::net::Ipv4Addr;

fn unfold(h: &Header<'_>) -> Vec<u8> {
    let mut v = Vec::new();
    h.unfolded().write_to(&mut v);
    v
}

#[test]
fn wsinv_whitespace_folding_and_case() {
    let buf = wsinv();
    let m = Message::parse(&buf).expect("wsinv parses");
    let info = validate_request(&m).expect("wsinv validates");
    assert_eq!(m.method(), Some(Method::Invite));
    let to = m.to().unwrap();
    assert_eq!(to.tag(), Some(&b"1918181833n"[..]));
    assert_eq!(to.uri_raw, b"sip:vivekg@chair-dnrc.example.com");
    let from = m.from().unwrap();
    assert_eq!(from.tag(), Some(&b"98asjd8"[..]));
    assert_eq!(from.display_name, Some(&br#""J Rosenberg \\\"""#[..]));
    assert_eq!(
        &*from.display_name_unquoted().unwrap(),
        br#"J Rosenberg \""#
    );
    assert_eq!(info.max_forwards, Some(68));
    assert_eq!(info.cseq.seq, 9);
    assert_eq!(info.cseq.method, Method::Invite);
    let vias: Vec<_> = m.vias().map(|v| v.unwrap()).collect();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[0].transport, b"UDP");
    assert_eq!(vias[0].host, Host::V4(Ipv4Addr::new(192, 0, 2, 2)));
    assert_eq!(vias[0].rport, Some(None));
    assert_eq!(vias[0].branch, Some(&b"390skdjuw"[..]));
    assert_eq!(vias[1].transport, b"TCP");
    assert_eq!(vias[1].host, Host::Domain(b"spindle.example.com"));
    assert_eq!(vias[1].branch, Some(&b"z9hG4bK9ikj8"[..]));
    assert_eq!(vias[2].host, Host::V4(Ipv4Addr::new(192, 168, 255, 111)));
    assert_eq!(vias[2].branch, Some(&b"z9hG4bK30239"[..]));
    let contacts: Vec<_> = m.contacts().map(|c| c.unwrap()).collect();
    assert_eq!(contacts.len(), 1);
    match contacts[0] {
        Contact::Addr { addr, q, .. } => {
            assert_eq!(q, Some(330));
            assert_eq!(
                &*addr.display_name_unquoted().unwrap(),
                br#"Quoted string """#
            );
            assert_eq!(addr.params.get(b"newparam"), Some(Some(&b"newvalue"[..])));
            assert_eq!(addr.params.get(b"secondparam"), Some(None));
        }
        Contact::Star => panic!("not a star"),
    }
    let route = m.routes().next().unwrap().unwrap();
    assert!(route.uri.as_sip().unwrap().lr());
    assert_eq!(m.header(HeaderName::Subject).unwrap().value, b"");
    let nf = m.headers_named(b"newfangledheader").next().unwrap();
    assert_eq!(unfold(&nf), b"newfangled value continued newfangled value");
    assert_eq!(m.body(), SDP.replace('\n', "\r\n").as_bytes());
}

#[test]
fn intmeth_unknown_method_and_odd_characters() {
    let buf = intmeth();
    let m = Message::parse(&buf).expect("intmeth parses");
    let info = validate_request(&m).expect("intmeth validates");
    let method = b"!interesting-Method0123456789_*+`.%indeed'~";
    assert_eq!(m.method(), Some(Method::Other(method)));
    assert_eq!(info.cseq.method, Method::Other(method));
    let ruri = m.request_uri().unwrap().as_sip().unwrap();
    assert_eq!(
        ruri.user,
        Some(&b"1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"[..])
    );
    assert_eq!(
        ruri.password,
        Some(&b"&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"[..])
    );
    assert_eq!(ruri.host, Host::Domain(b"example.com"));
    assert_eq!(info.top_via.branch, Some(&b"z9hG4bK-.!%66*_+`'~"[..]));
    assert_eq!(
        info.to.display_name_unquoted().unwrap().as_ref(),
        b"BEL:\x07 NUL:\x00 DEL:\x7f"
    );
    assert_eq!(
        info.from.display_name,
        Some(&b"token1~` token2'+_ token3*%!.-"[..])
    );
    assert_eq!(info.from.tag(), Some(&b"_token~1'+`*%!-."[..]));
    assert_eq!(
        info.call_id,
        br#"intmeth.word%ZK-!.*_+'@word`~)(><:\/"][?}{"#
    );
    assert_eq!(info.max_forwards, Some(255));
    let ext = m.headers().find(|h| h.kind == HeaderName::Other).unwrap();
    assert_eq!(ext.name, b"extensionHeader-!.%*+_`'~");
}

#[test]
fn esc01_escapes_are_kept_and_decodable() {
    let buf = esc01();
    let m = Message::parse(&buf).unwrap();
    validate_request(&m).unwrap();
    let ruri = m.request_uri().unwrap().as_sip().unwrap();
    assert_eq!(ruri.user, Some(&b"sips%3Auser%40example.com"[..]));
    assert_eq!(&*pct_decode(ruri.user.unwrap()), b"sips:user@example.com");
    assert_eq!(ruri.host, Host::Domain(b"example.net"));
    let to = m.to().unwrap();
    assert_eq!(
        &*pct_decode(to.uri.as_sip().unwrap().user.unwrap()),
        b"user"
    );
    let from = m.from().unwrap();
    assert_eq!(
        &*pct_decode(from.uri.as_sip().unwrap().user.unwrap()),
        b"I have spaces"
    );
    let c = m.contacts().next().unwrap().unwrap();
    let cu = c.addr().unwrap().uri.as_sip().unwrap().params;
    let params: Vec<_> = cu.iter().collect();
    assert_eq!(params[0], (&b"%6C%72"[..], None));
    assert_eq!(&*pct_decode(params[1].1.unwrap()), b"value%41");
    assert_eq!(m.header(HeaderName::ContentType).unwrap().name, b"C");
}

#[test]
fn escnull_escaped_nul_in_user() {
    let buf = escnull();
    let m = Message::parse(&buf).unwrap();
    validate_request(&m).unwrap();
    let users: Vec<Vec<u8>> = m
        .contacts()
        .map(|c| {
            pct_decode(
                c.unwrap()
                    .addr()
                    .unwrap()
                    .uri
                    .as_sip()
                    .unwrap()
                    .user
                    .unwrap(),
            )
            .into_owned()
        })
        .collect();
    assert_eq!(users, vec![vec![0u8], vec![0u8, 0u8]]);
    assert_eq!(m.content_length(), Some(0));
}

#[test]
fn esc02_percent_in_method_is_not_an_escape() {
    let buf = esc02();
    let m = Message::parse(&buf).unwrap();
    let info = validate_request(&m).unwrap();
    assert_eq!(m.method(), Some(Method::Other(b"RE%47IST%45R")));
    assert_ne!(m.method(), Some(Method::Register));
    assert_eq!(info.to.display_name_unquoted().unwrap().as_ref(), b"%Z%45");
    assert_eq!(m.contacts().count(), 3);
}

#[test]
fn lwsdisp_no_space_before_angle() {
    let buf = lwsdisp();
    let m = Message::parse(&buf).unwrap();
    let info = validate_request(&m).unwrap();
    assert_eq!(info.from.display_name, Some(&b"caller"[..]));
    assert_eq!(info.from.tag(), Some(&b"323"[..]));
}

#[test]
fn longreq_long_values_and_many_vias() {
    let buf = longreq();
    let m = Message::parse(&buf).unwrap();
    let info = validate_request(&m).unwrap();
    assert!(m.header_count() > 32, "exercises the spilled header index");
    assert_eq!(info.via_count, 34);
    let vias: Vec<_> = m.vias().map(|v| v.unwrap()).collect();
    assert_eq!(vias[0].host, Host::Domain(b"sip29.example.com"));
    assert_eq!(vias[33].host, Host::Domain(b"sip30.example.com"));
    assert_eq!(info.to.uri.as_sip().unwrap().port, Some(6000));
    assert_eq!(info.from.tag(), Some(&b"12982982982982982982982"[..]));
    assert_eq!(m.body().len(), SDP.len() + SDP.lines().count());
}

#[test]
fn dblreq_only_first_message_counts() {
    let buf = dblreq();
    let m = Message::parse(&buf).unwrap();
    validate_request(&m).unwrap();
    assert_eq!(m.method(), Some(Method::Register));
    assert_eq!(m.body(), b"");
    assert!(m.trailing().starts_with(b"\r\nINVITE sip:joe@example.com"));
    // The second message is itself valid once the leading CRLF is skipped.
    let second = Message::parse(m.trailing()).unwrap();
    assert_eq!(second.method(), Some(Method::Invite));
}

#[test]
fn semiuri_semicolon_in_user_and_addr_spec_params() {
    let buf = semiuri();
    let m = Message::parse(&buf).unwrap();
    let info = validate_request(&m).unwrap();
    let ruri = m.request_uri().unwrap().as_sip().unwrap();
    assert_eq!(ruri.user, Some(&b"user;par=u%40example.net"[..]));
    assert_eq!(ruri.host, Host::Domain(b"example.com"));
    assert!(ruri.params.0.is_empty());
    assert!(!info.from.bracketed);
    assert_eq!(info.from.uri_raw, b"sip:caller@example.org");
    assert_eq!(info.from.tag(), Some(&b"33242"[..]));
    let accept = m.header(HeaderName::Accept).unwrap();
    assert_eq!(
        unfold(&accept),
        b"application/sdp, application/pkcs7-mime, multipart/mixed, multipart/signed, message/sip, message/sipfrag"
    );
}

#[test]
fn transports_all_transport_tokens() {
    let buf = transports();
    let m = Message::parse(&buf).unwrap();
    validate_request(&m).unwrap();
    let t: Vec<&[u8]> = m.vias().map(|v| v.unwrap().transport).collect();
    assert_eq!(t, vec![&b"UDP"[..], b"SCTP", b"TLS", b"UNKNOWN", b"TCP"]);
    assert_eq!(m.call_id().unwrap(), b"transports.kijh4akdnaqjkwendsasfdj");
}

#[test]
fn mpart01_binary_multipart_body_framed_by_length() {
    let buf = mpart01();
    let m = Message::parse(&buf).unwrap();
    validate_request(&m).unwrap();
    assert!(m.body().ends_with(MPART_BINARY));
    assert_eq!(m.body().len(), m.content_length().unwrap());
    assert!(m.trailing().is_empty());
    let v = m.top_via().unwrap();
    assert_eq!(v.port, Some(5070));
    assert_eq!(v.rport, Some(None));
    assert_eq!(m.header(HeaderName::Identity).unwrap().value.len(), 172);
}

#[test]
fn unreason_utf8_reason_phrase() {
    let buf = unreason();
    let m = Message::parse(&buf).unwrap();
    let info = validate_response(&m).unwrap();
    assert_eq!(info.code, 200);
    let reason = std::str::from_utf8(m.reason_phrase().unwrap()).unwrap();
    assert!(reason.starts_with("= 2**3 * 5**2 "));
    assert!(reason.ends_with("\u{43f}\u{440}\u{43e}\u{441}\u{442}\u{43e}\u{435}"));
}

#[test]
fn noreason_empty_reason_phrase() {
    let buf = noreason();
    let m = Message::parse(&buf).unwrap();
    validate_response(&m).unwrap();
    assert_eq!(m.status_code(), Some(100));
    assert_eq!(m.reason_phrase(), Some(&b""[..]));
}

// ---- §3.1.1 others that must be accepted ----

/// novelsc: a Request-URI with a novel scheme.
#[test]
fn novelsc_novel_scheme_request_uri() {
    let buf = msg("OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0
To: sip:user@example.com
From: sip:caller@example.com;tag=384
Max-Forwards: 3
Call-ID: novelsc.asdfasser0q239nwsdfasdkl34
CSeq: 3923423 OPTIONS
Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234
Content-Length: 0

");
    let m = Message::parse(&buf).unwrap();
    validate_request(&m).unwrap();
    assert_eq!(
        m.request_uri(),
        Some(&Uri::Other {
            scheme: b"soap.beep",
            rest: b"//192.0.2.103:3002"
        })
    );
}

/// unksm2: an unknown URI scheme in To (addr-spec form).
#[test]
fn unksm2_unknown_scheme_in_to() {
    let buf = msg("REGISTER sip:example.com SIP/2.0
To: isbn:2983792873
From: <http://www.example.com>;tag=3234233
Call-ID: unksm2.daksdj@hyphenated-host.example.com
CSeq: 234902 REGISTER
Max-Forwards: 70
Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw
Contact: <name@127.0.0.1>
l: 0

");
    let m = Message::parse(&buf).unwrap();
    let info = validate_request(&m).unwrap();
    assert_eq!(
        info.to.uri,
        Uri::Other {
            scheme: b"isbn",
            rest: b"2983792873"
        }
    );
    // "name@127.0.0.1" has no scheme: the Contact itself is malformed.
    assert!(m.contacts().next().unwrap().is_err());
}

/// inv2543: an RFC 2543 request (no branch, no Max-Forwards) is accepted;
/// the missing Max-Forwards is reported.
#[test]
fn inv2543_old_style_request() {
    let buf = msg("INVITE sip:UserB@example.com SIP/2.0
Via: SIP/2.0/UDP iftgw.example.com
From: <sip:+13035551111@ift.client.example.net;user=phone>
Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>
To: sip:+16505552222@ss1.example.net;user=phone
Call-ID: inv2543.1717@ift.client.example.com
CSeq: 56 INVITE
Content-Type: application/sdp

");
    let m = Message::parse(&buf).unwrap();
    let info = validate_request(&m).unwrap();
    assert_eq!(info.max_forwards, None);
    assert_eq!(info.top_via.branch, None);
    assert!(!info.top_via.has_rfc3261_branch());
    assert_eq!(info.from.tag(), None);
    let rr = m.record_routes().next().unwrap().unwrap();
    assert_eq!(
        rr.uri.as_sip().unwrap().maddr(),
        Some(&b"ss1.example.com"[..])
    );
}

/// zeromf: Max-Forwards 0 parses (the proxy answers 483).
#[test]
fn zeromf_zero_max_forwards_parses() {
    let buf = msg("OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=3ghsd41
Call-ID: zeromf.1234ksdfak3j2erwedfsASdf
CSeq: 35 OPTIONS
Max-Forwards: 0
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bK29jfdns
Content-Length: 0

");
    let m = Message::parse(&buf).unwrap();
    assert_eq!(validate_request(&m).unwrap().max_forwards, Some(0));
}

/// regescrt: a Contact URI with escaped headers is fine inside <>.
#[test]
fn regescrt_uri_headers_in_brackets() {
    let buf = msg("REGISTER sip:example.com SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=8
Max-Forwards: 70
Call-ID: regescrt.k345asrl3fdbv@192.0.2.1
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
M: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>
L:0

");
    let m = Message::parse(&buf).unwrap();
    let c = m.contacts().next().unwrap().unwrap();
    let u = c.addr().unwrap().uri.as_sip().unwrap();
    let hdrs: Vec<_> = u.header_pairs().collect();
    assert_eq!(
        hdrs,
        vec![(&b"Route"[..], &b"%3Csip:sip.example.com%3E"[..])]
    );
}

// ---- §3.1.2 invalid messages ----

fn req_with(start: &str, extra: &str) -> Vec<u8> {
    msg(&format!(
        "{start}
To: sip:j.user@example.com
From: sip:caller@example.net;tag=134161461246
Max-Forwards: 7
Call-ID: inv.0ha0isndaksdjasdf3234nas
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw
{extra}l: 0

"
    ))
}

fn header_err(e: ParseError) -> &'static str {
    match e {
        ParseError::Header { name, .. } => name,
        other => panic!("expected a header error, got {other:?}"),
    }
}

/// badinv01: empty parameters and stray commas in Via and Contact.
#[test]
fn badinv01_extraneous_separators() {
    let buf = msg(&("INVITE sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=134161461246
Max-Forwards: 7
Call-ID: badinv01.0ha0isndaksdjasdf3234nas
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;;,;,,
Contact: \"Joe\" <sip:joe@example.org>;;;;
Content-Length: {CL}
Content-Type: application/sdp

"
    .to_owned()
        + SDP));
    let m = Message::parse(&buf).unwrap();
    let e = validate_request(&m).unwrap_err();
    assert_eq!(header_err(e), "Via");
    assert_eq!(e.status_code(), 400);
    assert!(m.contacts().next().unwrap().is_err());
}

/// clerr: Content-Length larger than the message.
#[test]
fn clerr_content_length_too_large() {
    let buf = msg(&("INVITE sip:user@example.com SIP/2.0
Max-Forwards: 80
To: sip:j.user@example.com
From: sip:caller@example.net;tag=93942939o2
Contact: <sip:caller@hungry.example.net>
Call-ID: clerr.0ha0isndaksdjweiafasdk3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523
Content-Type: application/sdp
Content-Length: 9999

"
    .to_owned()
        + SDP));
    let e = Message::parse(&buf).unwrap_err();
    assert!(
        matches!(e, ParseError::TruncatedBody { declared: 9999, .. }),
        "{e:?}"
    );
    assert_eq!(e.status_code(), 400);
    assert_eq!(e.header_name(), Some("Content-Length"));
}

/// ncl: negative Content-Length.
#[test]
fn ncl_negative_content_length() {
    let buf = msg(&("INVITE sip:user@example.com SIP/2.0
Max-Forwards: 254
To: sip:j.user@example.com
From: sip:caller@example.net;tag=32394234
Call-ID: ncl.0ha0isndaksdj2193423r542w35
CSeq: 0 INVITE
Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw
Contact: <sip:caller@example53.example.net>
Content-Type: application/sdp
Content-Length: -999

"
    .to_owned()
        + SDP));
    let e = Message::parse(&buf).unwrap_err();
    assert_eq!(header_err(e), "Content-Length");
}

/// scalar02: CSeq > 2^32-1, Max-Forwards > 255, expires > 2^32-1.
#[test]
fn scalar02_overlarge_scalars() {
    let buf = msg("REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3
To: <sip:user@example.com>
From: <sip:user@example.com>;tag=239232jh3
CSeq: 36893488147419103232 REGISTER
Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32
Max-Forwards: 300
Expires: 1000000000000000000000000000000000000000
Contact: <sip:user@host129.example.com>
  ;expires=280297596632815
Content-Length: 0

");
    let m = Message::parse(&buf).unwrap();
    let e = validate_request(&m).unwrap_err();
    assert_eq!(header_err(e), "CSeq");
    assert_eq!(header_err(m.max_forwards().unwrap_err()), "Max-Forwards");
    match m.contacts().next().unwrap().unwrap() {
        Contact::Addr { expires, .. } => assert_eq!(expires, Some(u32::MAX)),
        Contact::Star => panic!(),
    }
}

/// quotbal: unterminated quoted display name.
#[test]
fn quotbal_unterminated_quote() {
    let buf = msg("INVITE sip:user@example.com SIP/2.0
To: \"Mr. J. User <sip:j.user@example.com>
From: sip:caller@example.net;tag=93334
Max-Forwards: 10
Call-ID: quotbal.aksdj
Contact: <sip:caller@host59.example.net>
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234
Content-Length: 0

");
    let m = Message::parse(&buf).unwrap();
    let e = validate_request(&m).unwrap_err();
    assert_eq!(header_err(e), "To");
    assert!(e.to_string().contains("unterminated"), "{e}");
}

/// ltgtruri: Request-URI in angle brackets.
#[test]
fn ltgtruri_brackets_around_request_uri() {
    let e = Message::parse(&req_with("INVITE <sip:user@example.com> SIP/2.0", "")).unwrap_err();
    assert!(matches!(e, ParseError::Uri { offset: 7, .. }), "{e:?}");
}

/// lwsruri: LWS inside the Request-URI.
#[test]
fn lwsruri_space_in_request_uri() {
    let e = Message::parse(&req_with("INVITE sip:user@example.com; lr SIP/2.0", "")).unwrap_err();
    assert!(
        matches!(e, ParseError::StartLine { .. } | ParseError::Uri { .. }),
        "{e:?}"
    );
}

/// lwsstart: several SPs between request-line elements.
#[test]
fn lwsstart_multiple_spaces() {
    let e = Message::parse(&req_with("INVITE  sip:user@example.com  SIP/2.0", "")).unwrap_err();
    assert!(
        matches!(e, ParseError::StartLine { offset: 7, .. }),
        "{e:?}"
    );
}

/// trws: SP after the SIP version.
#[test]
fn trws_trailing_space_in_request_line() {
    let e = Message::parse(&req_with(
        "OPTIONS sip:remote-target@example.com SIP/2.0  ",
        "",
    ))
    .unwrap_err();
    assert!(matches!(e, ParseError::StartLine { .. }), "{e:?}");
}

/// escruri: headers in the Request-URI.
#[test]
fn escruri_headers_in_request_uri() {
    let e = Message::parse(&req_with(
        "INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0",
        "",
    ))
    .unwrap_err();
    assert!(matches!(e, ParseError::Uri { .. }), "{e:?}");
}

/// baddate: non-GMT Date; RFC 4475 allows accepting it (Date is not
/// interpreted by this crate).
#[test]
fn baddate_accepted() {
    let buf = req_with(
        "INVITE sip:user@example.com SIP/2.0",
        "Date: Fri, 01 Jan 2010 16:00:00 EST\n",
    );
    let m = Message::parse(&buf).unwrap();
    validate_request(&m).unwrap();
    assert_eq!(
        m.header(HeaderName::Date).unwrap().value,
        b"Fri, 01 Jan 2010 16:00:00 EST"
    );
}

/// regbadct: a Contact addr-spec with URI headers must be in <>.
#[test]
fn regbadct_unbracketed_uri_with_headers() {
    let buf = msg("REGISTER sip:example.com SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=998332
Max-Forwards: 70
Call-ID: regbadct.k345asrl3fdbv@10.0.0.1
CSeq: 1 REGISTER
Via: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw
Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E
l: 0

");
    let m = Message::parse(&buf).unwrap();
    let e = m.contacts().next().unwrap().unwrap_err();
    assert_eq!(header_err(e), "Contact");
}

/// badaspec: white space inside <addr-spec>.
#[test]
fn badaspec_spaces_inside_brackets() {
    let buf = msg("OPTIONS sip:user@example.org SIP/2.0
Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234
Max-Forwards: 70
From: \"Bell, Alexander\" <sip:a.g.bell@example.com>;tag=433423
To: \"Watson, Thomas\" < sip:t.watson@example.org >
Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3
Accept: application/sdp
CSeq: 3923239 OPTIONS
l: 0

");
    let m = Message::parse(&buf).unwrap();
    assert!(m.from().is_ok(), "comma inside quotes is fine");
    assert_eq!(header_err(validate_request(&m).unwrap_err()), "To");
}

/// baddn: unquoted display name with a comma.
#[test]
fn baddn_non_token_display_name() {
    let buf = msg("OPTIONS sip:t.watson@example.org SIP/2.0
Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards:      70
From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43
To:      Watson, Thomas <sip:t.watson@example.org>
Call-ID: baddn.31415@c.example.com
Accept: application/sdp
CSeq:    3923239 OPTIONS
l: 0

");
    let m = Message::parse(&buf).unwrap();
    let e = validate_request(&m).unwrap_err();
    assert!(matches!(header_err(e), "From" | "To"));
}

/// badvers: SIP/7.0 → 505.
#[test]
fn badvers_unknown_version_is_505() {
    let e = Message::parse(&req_with("OPTIONS sip:t.watson@example.org SIP/7.0", "")).unwrap_err();
    assert!(matches!(e, ParseError::Version { .. }), "{e:?}");
    assert_eq!(e.status_code(), 505);
    assert_eq!(e.reason_phrase(), "Version Not Supported");
}

/// mismatch01: CSeq method differs from the request method.
#[test]
fn mismatch01_cseq_method() {
    let buf = req_with("OPTIONS sip:user@example.com SIP/2.0", "");
    let m = Message::parse(&buf).unwrap();
    let e = validate_request(&m).unwrap_err();
    assert!(matches!(e, ParseError::CSeqMethodMismatch { .. }), "{e:?}");
    assert_eq!(e.status_code(), 400);
    assert_eq!(e.header_name(), Some("CSeq"));
}

/// mismatch02: unknown method with a mismatching CSeq method.
#[test]
fn mismatch02_unknown_method_cseq() {
    let buf = req_with("NEWMETHOD sip:user@example.com SIP/2.0", "");
    let m = Message::parse(&buf).unwrap();
    assert_eq!(m.method(), Some(Method::Other(b"NEWMETHOD")));
    assert!(matches!(
        validate_request(&m).unwrap_err(),
        ParseError::CSeqMethodMismatch { .. }
    ));
}

/// bigcode: a status code far out of range.
#[test]
fn bigcode_overlarge_status_code() {
    let buf = msg("SIP/2.0 4294967301 better not break the receiver
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i
CSeq: 353494 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0

");
    assert!(matches!(
        Message::parse(&buf).unwrap_err(),
        ParseError::StartLine { .. }
    ));
    let low = String::from_utf8(buf.clone())
        .unwrap()
        .replace("4294967301", "099");
    assert!(Message::parse(low.as_bytes()).is_err());
    let high = String::from_utf8(buf).unwrap().replace("4294967301", "700");
    assert!(Message::parse(high.as_bytes()).is_err());
}

/// badbranch: bare magic cookie as branch: accepted, flagged.
#[test]
fn badbranch_bare_magic_cookie() {
    let buf = msg("OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK
Accept: application/sdp
Call-ID: badbranch.sadonfo23i420jv0as0derf3j3n
CSeq: 8 OPTIONS
l: 0

");
    let m = Message::parse(&buf).unwrap();
    let info = validate_request(&m).unwrap();
    assert_eq!(info.top_via.branch, Some(&b"z9hG4bK"[..]));
    assert!(!info.top_via.has_rfc3261_branch());
}

/// multi01: several values in single-valued headers.
#[test]
fn multi01_duplicate_single_headers() {
    let buf = msg("INVITE sip:user@company.com SIP/2.0
Contact: <sip:caller@host25.example.net>
Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw
Max-Forwards: 70
CSeq: 5 INVITE
Call-ID: multi01.98asdh@192.0.2.1
CSeq: 59 INVITE
Call-ID: multi01.98asdh@192.0.2.2
From: sip:caller@example.com;tag=3413415
To: sip:user@example.com
To: sip:other@example.net
From: sip:caller@example.net;tag=2923420123
l: 0

");
    let m = Message::parse(&buf).unwrap();
    assert!(matches!(
        validate_request(&m).unwrap_err(),
        ParseError::Duplicate { .. }
    ));
    // Comma-separated second values in one line are rejected too.
    let buf = req_with("INVITE sip:user@example.com SIP/2.0", "");
    let text = String::from_utf8(buf)
        .unwrap()
        .replace("Call-ID: inv.0ha0isndaksdjasdf3234nas", "Call-ID: a@b, c@d");
    let m = Message::parse(text.as_bytes()).unwrap();
    assert_eq!(header_err(validate_request(&m).unwrap_err()), "Call-ID");
}

/// insuf: missing To, From, Call-ID, Max-Forwards.
#[test]
fn insuf_missing_mandatory_headers() {
    let buf = msg(&("INVITE sip:user@example.com SIP/2.0
CSeq: 193942 INVITE
Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf
Content-Type: application/sdp
l: {CL}

"
    .to_owned()
        + SDP));
    let m = Message::parse(&buf).unwrap();
    let e = validate_request(&m).unwrap_err();
    assert!(matches!(e, ParseError::Missing { .. }), "{e:?}");
    assert_eq!(e.status_code(), 400);
}

/// mcl01: conflicting Content-Length values.
#[test]
fn mcl01_conflicting_content_lengths() {
    let buf = msg("OPTIONS sip:user@example.com SIP/2.0
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423
To: <sip:user@example.com>
From: <sip:other@example.net>;tag=3923942
Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf
CSeq: 15932 OPTIONS
Content-Length: 13
Max-Forwards: 60
Content-Length: 5
Content-Type: text/plain

There's no way to know how many octets are supposed to be here.
");
    assert_eq!(
        header_err(Message::parse(&buf).unwrap_err()),
        "Content-Length"
    );
}

#[test]
fn unescape_helper_matches_display_names() {
    assert_eq!(&*unescape_quoted(br#""a\"b\\c""#), br#"a"b\c"#);
}

/// scalar1024 (reconstructed): a response whose CSeq and Retry-After
/// overflow; the CSeq error makes it invalid.
#[test]
fn scalar1024_overlarge_response_scalars() {
    let buf = msg("SIP/2.0 503 Service Unavailable
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129
To: <sip:user@example.com>
From: <sip:other@example.net>;tag=2easdjfejw
CSeq: 9292394834772304023312 OPTIONS
Call-ID: scalar1024.39I32sdfrwerfwev
Retry-After: 949302838503028349304023988
Warning: 1812 overture \"In Progress\"
Content-Length: 0

");
    let m = Message::parse(&buf).unwrap();
    assert_eq!(header_err(validate_response(&m).unwrap_err()), "CSeq");
    assert_eq!(m.top_via().unwrap().received, Some(&b"192.0.2.129"[..]));
}

/// cparam01/cparam02: Contact URI parameters versus header parameters.
#[test]
fn cparam_uri_versus_header_params() {
    let buf = msg("REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe
To: sip:watson@example.com
Call-ID: cparam01.70710@saturn.example.com
CSeq: 2 REGISTER
Contact: sip:+19725552222@gw1.example.net;unknownparam
l: 0

");
    let m = Message::parse(&buf).unwrap();
    validate_request(&m).unwrap();
    let c = m.contacts().next().unwrap().unwrap();
    let a = c.addr().unwrap();
    assert!(
        a.uri.as_sip().unwrap().params.0.is_empty(),
        "addr-spec: ;param is a header param"
    );
    assert_eq!(a.params.get(b"unknownparam"), Some(None));

    let buf2 = String::from_utf8(buf).unwrap().replace(
        "Contact: sip:+19725552222@gw1.example.net;unknownparam",
        "Contact: <sip:+19725552222@gw1.example.net;unknownparam>;audio",
    );
    let m = Message::parse(buf2.as_bytes()).unwrap();
    let c = m.contacts().next().unwrap().unwrap();
    let a = c.addr().unwrap();
    assert_eq!(
        a.uri.as_sip().unwrap().params.get(b"unknownparam"),
        Some(None)
    );
    assert_eq!(a.params.get(b"audio"), Some(None));
}

/// regaut01 (§3.4): credentials with an unknown scheme still parse (the
/// registrar answers 401 with a challenge it understands).
#[test]
fn regaut01_unknown_auth_scheme() {
    let buf = msg("REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=87321hj23128
Max-Forwards: 8
Call-ID: regaut01.0ha0isndaksdj
CSeq: 9338 REGISTER
Via: SIP/2.0/TCP 192.0.2.253;branch=z9hG4bKkdjuw
Authorization: NoOneKnowsThisScheme opaque-data=here
Content-Length:0

");
    let m = Message::parse(&buf).unwrap();
    validate_request(&m).unwrap();
    let a = m.auth(HeaderName::Authorization).next().unwrap().unwrap();
    assert_eq!(a.scheme, b"NoOneKnowsThisScheme");
    assert_eq!(a.get(b"opaque-data").unwrap().value, b"here");
}
