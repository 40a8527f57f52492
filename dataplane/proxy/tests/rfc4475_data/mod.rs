//! RFC 4475 torture messages shared by the proxy's tests.
//!
//! The §3.1.1 fixtures the parser's tests keep in `dataplane/sip/tests/common` are included
//! from there unchanged (`sip`); the messages the parser's `rfc4475.rs` writes inline — the
//! other valid ones and every §3.1.2 invalid one — are copied here (same texts, same `msg`
//! conventions: `\n` becomes CRLF, `{CL}` the body length). [`valid`] and [`invalid`] list
//! them all by their RFC names.

#![allow(dead_code)]

#[path = "../../../sip/tests/common/mod.rs"]
pub mod sip;

pub use sip::{SDP, msg};

/// A named torture message.
pub struct Torture {
    /// The RFC 4475 name (`wsinv`, `clerr`, ...).
    pub name: &'static str,
    /// The wire bytes.
    pub bytes: Vec<u8>,
}

fn t(name: &'static str, bytes: Vec<u8>) -> Torture {
    Torture { name, bytes }
}

/// §3.1.1 messages (and the §3.1.2 ones the RFC calls acceptable: baddate, badbranch),
/// plus the application-layer ones that parse (§3.3: unksm2, regaut01, cparam).
pub fn valid() -> Vec<Torture> {
    vec![
        t("wsinv", sip::wsinv()),
        t("intmeth", sip::intmeth()),
        t("esc01", sip::esc01()),
        t("escnull", sip::escnull()),
        t("esc02", sip::esc02()),
        t("lwsdisp", sip::lwsdisp()),
        t("longreq", sip::longreq()),
        t("dblreq", sip::dblreq()),
        t("semiuri", sip::semiuri()),
        t("transports", sip::transports()),
        t("mpart01", sip::mpart01()),
        t("unreason", sip::unreason()),
        t("noreason", sip::noreason()),
        t("novelsc", novelsc()),
        t("unksm2", unksm2()),
        t("inv2543", inv2543()),
        t("zeromf", zeromf()),
        t("regescrt", regescrt()),
        t("baddate", baddate()),
        t("badbranch", badbranch()),
        t("cparam01", cparam01()),
        t("cparam02", cparam02()),
        t("regaut01", regaut01()),
    ]
}

/// §3.1.2 invalid messages.
pub fn invalid() -> Vec<Torture> {
    vec![
        t("badinv01", badinv01()),
        t("clerr", clerr()),
        t("ncl", ncl()),
        t("scalar02", scalar02()),
        t("quotbal", quotbal()),
        t("ltgtruri", ltgtruri()),
        t("lwsruri", lwsruri()),
        t("lwsstart", lwsstart()),
        t("trws", trws()),
        t("escruri", escruri()),
        t("regbadct", regbadct()),
        t("badaspec", badaspec()),
        t("baddn", baddn()),
        t("badvers", badvers()),
        t("mismatch01", mismatch01()),
        t("mismatch02", mismatch02()),
        t("bigcode", bigcode()),
        t("multi01", multi01()),
        t("multi01-comma", multi01_comma()),
        t("insuf", insuf()),
        t("mcl01", mcl01()),
        t("scalar1024", scalar1024()),
    ]
}

// ---- §3.1.1 and others that must be accepted ----

/// novelsc: a Request-URI with a novel scheme.
pub fn novelsc() -> Vec<u8> {
    msg("OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0
To: sip:user@example.com
From: sip:caller@example.com;tag=384
Max-Forwards: 3
Call-ID: novelsc.asdfasser0q239nwsdfasdkl34
CSeq: 3923423 OPTIONS
Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234
Content-Length: 0

")
}

/// unksm2: an unknown URI scheme in To (addr-spec form), http in From.
pub fn unksm2() -> Vec<u8> {
    msg("REGISTER sip:example.com SIP/2.0
To: isbn:2983792873
From: <http://www.example.com>;tag=3234233
Call-ID: unksm2.daksdj@hyphenated-host.example.com
CSeq: 234902 REGISTER
Max-Forwards: 70
Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw
Contact: <name@127.0.0.1>
l: 0

")
}

/// inv2543: an RFC 2543 request (no branch, no Max-Forwards, no From tag).
pub fn inv2543() -> Vec<u8> {
    msg("INVITE sip:UserB@example.com SIP/2.0
Via: SIP/2.0/UDP iftgw.example.com
From: <sip:+13035551111@ift.client.example.net;user=phone>
Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>
To: sip:+16505552222@ss1.example.net;user=phone
Call-ID: inv2543.1717@ift.client.example.com
CSeq: 56 INVITE
Content-Type: application/sdp

")
}

/// zeromf: Max-Forwards 0.
pub fn zeromf() -> Vec<u8> {
    msg("OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=3ghsd41
Call-ID: zeromf.1234ksdfak3j2erwedfsASdf
CSeq: 35 OPTIONS
Max-Forwards: 0
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bK29jfdns
Content-Length: 0

")
}

/// regescrt: a Contact URI with escaped headers inside <>.
pub fn regescrt() -> Vec<u8> {
    msg("REGISTER sip:example.com SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=8
Max-Forwards: 70
Call-ID: regescrt.k345asrl3fdbv@192.0.2.1
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
M: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>
L:0

")
}

/// The body of the parser's `req_with`: the §3.1.2 request-line tests.
pub fn req_with(start: &str, extra: &str) -> Vec<u8> {
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

/// baddate: a non-GMT Date (to be accepted).
pub fn baddate() -> Vec<u8> {
    req_with(
        "INVITE sip:user@example.com SIP/2.0",
        "Date: Fri, 01 Jan 2010 16:00:00 EST\n",
    )
}

/// badbranch: the bare magic cookie as branch (accepted, RFC 2543 matching).
pub fn badbranch() -> Vec<u8> {
    msg("OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK
Accept: application/sdp
Call-ID: badbranch.sadonfo23i420jv0as0derf3j3n
CSeq: 8 OPTIONS
l: 0

")
}

/// cparam01: an addr-spec Contact whose `;unknownparam` is a header parameter.
pub fn cparam01() -> Vec<u8> {
    msg("REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe
To: sip:watson@example.com
Call-ID: cparam01.70710@saturn.example.com
CSeq: 2 REGISTER
Contact: sip:+19725552222@gw1.example.net;unknownparam
l: 0

")
}

/// cparam02: the same in name-addr form with a header parameter.
pub fn cparam02() -> Vec<u8> {
    let text = String::from_utf8(cparam01()).expect("utf-8").replace(
        "Contact: sip:+19725552222@gw1.example.net;unknownparam",
        "Contact: <sip:+19725552222@gw1.example.net;unknownparam>;audio",
    );
    text.into_bytes()
}

/// regaut01: credentials with an unknown scheme.
pub fn regaut01() -> Vec<u8> {
    msg("REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=87321hj23128
Max-Forwards: 8
Call-ID: regaut01.0ha0isndaksdj
CSeq: 9338 REGISTER
Via: SIP/2.0/TCP 192.0.2.253;branch=z9hG4bKkdjuw
Authorization: NoOneKnowsThisScheme opaque-data=here
Content-Length:0

")
}

// ---- §3.1.2 invalid messages ----

/// badinv01: empty parameters and stray commas in Via and Contact.
pub fn badinv01() -> Vec<u8> {
    msg(&("INVITE sip:user@example.com SIP/2.0
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
        + SDP))
}

/// clerr: Content-Length larger than the message.
pub fn clerr() -> Vec<u8> {
    msg(&("INVITE sip:user@example.com SIP/2.0
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
        + SDP))
}

/// ncl: negative Content-Length.
pub fn ncl() -> Vec<u8> {
    msg(&("INVITE sip:user@example.com SIP/2.0
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
        + SDP))
}

/// scalar02: CSeq > 2^32-1, Max-Forwards > 255, expires > 2^32-1.
pub fn scalar02() -> Vec<u8> {
    msg("REGISTER sip:example.com SIP/2.0
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

")
}

/// quotbal: unterminated quoted display name.
pub fn quotbal() -> Vec<u8> {
    msg("INVITE sip:user@example.com SIP/2.0
To: \"Mr. J. User <sip:j.user@example.com>
From: sip:caller@example.net;tag=93334
Max-Forwards: 10
Call-ID: quotbal.aksdj
Contact: <sip:caller@host59.example.net>
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234
Content-Length: 0

")
}

/// ltgtruri: Request-URI in angle brackets.
pub fn ltgtruri() -> Vec<u8> {
    req_with("INVITE <sip:user@example.com> SIP/2.0", "")
}

/// lwsruri: LWS inside the Request-URI.
pub fn lwsruri() -> Vec<u8> {
    req_with("INVITE sip:user@example.com; lr SIP/2.0", "")
}

/// lwsstart: several SPs between request-line elements.
pub fn lwsstart() -> Vec<u8> {
    req_with("INVITE  sip:user@example.com  SIP/2.0", "")
}

/// trws: SP after the SIP version.
pub fn trws() -> Vec<u8> {
    options_cseq(req_with(
        "OPTIONS sip:remote-target@example.com SIP/2.0  ",
        "",
    ))
}

/// `req_with`'s CSeq made to match an OPTIONS request line, so that the request line is the
/// message's only defect.
fn options_cseq(bytes: Vec<u8>) -> Vec<u8> {
    String::from_utf8(bytes)
        .expect("utf-8")
        .replace("CSeq: 8 INVITE", "CSeq: 8 OPTIONS")
        .into_bytes()
}

/// escruri: headers in the Request-URI.
pub fn escruri() -> Vec<u8> {
    req_with(
        "INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0",
        "",
    )
}

/// regbadct: a Contact addr-spec with URI headers outside <>.
pub fn regbadct() -> Vec<u8> {
    msg("REGISTER sip:example.com SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=998332
Max-Forwards: 70
Call-ID: regbadct.k345asrl3fdbv@10.0.0.1
CSeq: 1 REGISTER
Via: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw
Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E
l: 0

")
}

/// badaspec: white space inside <addr-spec>.
pub fn badaspec() -> Vec<u8> {
    msg("OPTIONS sip:user@example.org SIP/2.0
Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234
Max-Forwards: 70
From: \"Bell, Alexander\" <sip:a.g.bell@example.com>;tag=433423
To: \"Watson, Thomas\" < sip:t.watson@example.org >
Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3
Accept: application/sdp
CSeq: 3923239 OPTIONS
l: 0

")
}

/// baddn: unquoted display name with a comma.
pub fn baddn() -> Vec<u8> {
    msg("OPTIONS sip:t.watson@example.org SIP/2.0
Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards:      70
From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43
To:      Watson, Thomas <sip:t.watson@example.org>
Call-ID: baddn.31415@c.example.com
Accept: application/sdp
CSeq:    3923239 OPTIONS
l: 0

")
}

/// badvers: SIP/7.0 (505 Version Not Supported).
pub fn badvers() -> Vec<u8> {
    options_cseq(req_with("OPTIONS sip:t.watson@example.org SIP/7.0", ""))
}

/// mismatch01: CSeq method differs from the request method.
pub fn mismatch01() -> Vec<u8> {
    req_with("OPTIONS sip:user@example.com SIP/2.0", "")
}

/// mismatch02: unknown method with a mismatching CSeq method.
pub fn mismatch02() -> Vec<u8> {
    req_with("NEWMETHOD sip:user@example.com SIP/2.0", "")
}

/// bigcode: a response with a status code far out of range.
pub fn bigcode() -> Vec<u8> {
    msg("SIP/2.0 4294967301 better not break the receiver
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i
CSeq: 353494 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0

")
}

/// multi01: several values in single-valued headers.
pub fn multi01() -> Vec<u8> {
    msg("INVITE sip:user@company.com SIP/2.0
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

")
}

/// multi01, second form: two comma-separated Call-ID values on one line.
pub fn multi01_comma() -> Vec<u8> {
    String::from_utf8(req_with("INVITE sip:user@example.com SIP/2.0", ""))
        .expect("utf-8")
        .replace("Call-ID: inv.0ha0isndaksdjasdf3234nas", "Call-ID: a@b, c@d")
        .into_bytes()
}

/// insuf: missing To, From, Call-ID, Max-Forwards.
pub fn insuf() -> Vec<u8> {
    msg(&("INVITE sip:user@example.com SIP/2.0
CSeq: 193942 INVITE
Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf
Content-Type: application/sdp
l: {CL}

"
    .to_owned()
        + SDP))
}

/// mcl01: conflicting Content-Length values.
pub fn mcl01() -> Vec<u8> {
    msg("OPTIONS sip:user@example.com SIP/2.0
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
")
}

/// scalar1024 (reconstructed): a response whose CSeq and Retry-After overflow.
pub fn scalar1024() -> Vec<u8> {
    msg("SIP/2.0 503 Service Unavailable
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129
To: <sip:user@example.com>
From: <sip:other@example.net>;tag=2easdjfejw
CSeq: 9292394834772304023312 OPTIONS
Call-ID: scalar1024.39I32sdfrwerfwev
Retry-After: 949302838503028349304023988
Warning: 1812 overture \"In Progress\"
Content-Length: 0

")
}
