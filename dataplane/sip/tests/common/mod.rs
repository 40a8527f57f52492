//! RFC 4475 torture-test messages, rewritten from the RFC's descriptions
//! (the exact bytes differ; each keeps the property the RFC tests). Line
//! ends are written as `\n` and turned into CRLF by [`msg`]; `{CL}` is
//! replaced by the real body length.

#![allow(dead_code)]

/// Turn a fixture into wire bytes: LF → CRLF, `{CL}` → body length.
pub fn msg(text: &str) -> Vec<u8> {
    msg_bytes(text, &[])
}

/// Like [`msg`], with raw bytes appended to the (converted) body.
pub fn msg_bytes(text: &str, extra_body: &[u8]) -> Vec<u8> {
    let crlf = text.replace('\n', "\r\n");
    let mut out = crlf.into_bytes();
    out.extend_from_slice(extra_body);
    let pos = out.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    if let Some(body_start) = pos {
        let body_len = out.len() - body_start;
        let needle = b"{CL}";
        if let Some(at) = out.windows(4).position(|w| w == needle) {
            let n = body_len.to_string();
            out.splice(at..at + 4, n.bytes());
        }
    }
    out
}

pub const SDP: &str = "v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.3
s=-
c=IN IP4 192.0.2.4
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
";

/// §3.1.1.1 wsinv: white space everywhere, folding, odd case, compact
/// forms, escapes in a quoted display name, leading zeros, empty Subject.
pub fn wsinv() -> Vec<u8> {
    msg(
        &(r#"INVITE sip:vivekg@chair-dnrc.example.com;unknown-param=value SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : {CL}
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;rport;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \"\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33

"#
        .to_owned()
            + SDP),
    )
}

/// §3.1.1.2 intmeth: unknown method made of every token character, odd
/// but legal characters in URI user/password, Call-ID, params, header
/// names; escaped control characters in a quoted display name.
pub fn intmeth() -> Vec<u8> {
    msg("!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0
Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~
To: \"BEL:\\\u{7} NUL:\\\u{0} DEL:\\\u{7f}\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>
From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"\u{440}\u{430}\u{431}\u{43e}\u{442}\u{430}\u{44e}\u{449}\u{438}\u{439}\";tag=_token~1'+`*%!-.
Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{
CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~
Max-Forwards: 255
extensionHeader-!.%*+_`'~:\u{feff}\u{5927}\u{505c}\u{96fb}
Content-Length: 0

")
}

/// §3.1.1.3 esc01: escaped characters in Request-URI user, To, From and in
/// Contact URI parameter names and values.
pub fn esc01() -> Vec<u8> {
    msg(&("INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
To: sip:%75se%72@example.com
From: <sip:I%20have%20spaces@example.net>;tag=938
Max-Forwards: 87
i: esc01.239409asdfakjkn23onasd0-3234
CSeq: 234234 INVITE
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
C: application/sdp
Contact:
  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>
Content-Length: {CL}

"
    .to_owned()
        + SDP))
}

/// §3.1.1.4 escnull: escaped NUL (%00) in URI user parts.
pub fn escnull() -> Vec<u8> {
    msg("REGISTER sip:example.com SIP/2.0
To: sip:null-%00-null@example.com
From: sip:null-%00-null@example.com;tag=839923423
Max-Forwards: 70
Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
Contact: <sip:%00@host5.example.com>
Contact: <sip:%00%00@host5.example.com>
L:0

")
}

/// §3.1.1.5 esc02: `%` in a method token is NOT an escape (the method is
/// an unknown one, not REGISTER); `%Z` in a quoted display name is legal.
pub fn esc02() -> Vec<u8> {
    msg("RE%47IST%45R sip:registrar.example.com SIP/2.0
To: \"%Z%45\" <sip:resource@example.com>
From: \"%Z%45\" <sip:resource@example.com>;tag=f232jadfj23
Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf
Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209793
Contact: <sip:alias1@host1.example.com>
Contact: <sip:%35%35%35%31%32%31%32@host.example.com>
Contact: <sip:alias3@host3.example.com>
CSeq: 29 RE%47IST%45R
Max-Forwards: 70
Content-Length: 0

")
}

/// §3.1.1.6 lwsdisp: no LWS between a token display name and `<`.
pub fn lwsdisp() -> Vec<u8> {
    msg("OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: caller<sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: lwsdisp.1234abcd@funky.example.com
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw
l: 0

")
}

/// §3.1.1.7 longreq: very long values, a long header name, and many Via
/// values (34) spread over lines and commas; >32 header lines so the
/// header index spills to the heap.
pub fn longreq() -> Vec<u8> {
    let long = "longvalue".repeat(40);
    let mut s = String::new();
    s.push_str("INVITE sip:user@example.com SIP/2.0\n");
    s.push_str(&format!(
        "To: \"I have a user name of {long} proportion\" <sip:user@example.com:6000;unknownparam1=verylonguristuff{long};longparamnamesthatarenotspecifiedinanyrfcbutareusedin{long}=shortvalue>\n"
    ));
    s.push_str(&format!(
        "From: sip:amazinglylongcallername{long}@example.net;tag=12982982982982982982982;unknownheaderparam{long}=unknowheaderparamvalue{long};unknownValuelessparamname\n"
    ));
    s.push_str(&format!("Call-ID: longreq.one{long}\n"));
    s.push_str("CSeq: 3882340 INVITE\n");
    s.push_str(&format!("Unknown-{long}-Name: unknown-{long}-value; unknown-{long}-parameter-name = unknown-{long}-parameter-value\n"));
    for i in (0..30).rev() {
        let name = ["Via", "V", "v", "VIA"][i % 4];
        s.push_str(&format!(
            "{name}: SIP/2.0/TCP sip{i}.example.com;branch=z9hG4bK{i}longreq\n"
        ));
    }
    s.push_str("Via: SIP/2.0/TCP sip33.example.com;branch=z9hG4bKa, SIP/2.0/TCP sip32.example.com;branch=z9hG4bKb,\n SIP/2.0/TCP sip31.example.com;branch=z9hG4bKc, SIP/2.0/TCP sip30.example.com;branch=z9hG4bKd\n");
    s.push_str("Max-Forwards: 70\n");
    s.push_str(&format!(
        "Contact: <sip:amazinglylongcallername{long}@host5.example.net>\n"
    ));
    s.push_str("Content-Type: application/sdp\nl: {CL}\n\n");
    s.push_str(SDP);
    msg(&s)
}

/// §3.1.1.8 dblreq: two requests in one datagram; only the first counts.
pub fn dblreq() -> Vec<u8> {
    msg(&("REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=43251j3j324
Max-Forwards: 8
I: dblreq.0ha0isndaksdj99sdfafnl3lk233412
Contact: sip:j.user@host.example.com
CSeq: 8 REGISTER
Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492
Content-Length: 0


INVITE sip:joe@example.com SIP/2.0
t: sip:joe@example.com
From: sip:caller@example.net;tag=141334
Max-Forwards: 8
Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234
Content-Type: application/sdp
Content-Length: 150

"
    .to_owned()
        + SDP))
}

/// §3.1.1.9 semiuri: `;` inside the Request-URI user part; addr-spec From
/// whose `;tag` is a header parameter; a folded Accept list.
pub fn semiuri() -> Vec<u8> {
    msg("OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Call-ID: semiuri.0ha0isndaksdj
CSeq: 8 OPTIONS
Accept: application/sdp, application/pkcs7-mime,
        multipart/mixed, multipart/signed,
        message/sip, message/sipfrag
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw
l: 0

")
}

/// §3.1.1.10 transports: Vias with UDP, SCTP, TLS, an unknown transport
/// and TCP.
pub fn transports() -> Vec<u8> {
    msg("OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: <sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID:  transports.kijh4akdnaqjkwendsasfdj
Accept: application/sdp
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw
Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf
Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj
Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en
Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee
l: 0

")
}

/// The binary part of mpart01 (includes NUL, CR, LF bytes).
pub const MPART_BINARY: &[u8] = b"0\x82\x01\x0b\x06\x09*\x86H\x86\xf7\r\x01\x07\x02\xa0\x82\x00\r\n\x00\xff\r\n\r\n--7a9cbec.3a0--\r\n";

/// §3.1.1.11 mpart01: multipart body with binary content (must be framed
/// by Content-Length, never scanned).
pub fn mpart01() -> Vec<u8> {
    msg_bytes("MESSAGE sip:kumiko@example.org SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport
Max-Forwards: 70
Route: <sip:127.0.0.1:5080>
Identity: r5mwreLuyDRYBi/0TiPwEsY3rEVsk/G2WxhgTV1PF7hHuLIK0YWVKZhKv9Mj8UeXqkMVbnVq37CD+813gvYjcBUaZngQmXc9WNZSDNGCzA+fWl9MEUHWIZo1CeJebdY/XlgKeTa0Olvq0rt70Q5jiSfbqMJmQFteeivUhkMWYUA=
Contact: <sip:fluffy@127.0.0.1:5070>
To: <sip:kumiko@example.org>
From: <sip:fluffy@example.com>;tag=2fb0dcc9
Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..
CSeq: 1 MESSAGE
Content-Transfer-Encoding: binary
Content-Type: multipart/mixed;boundary=7a9cbec.3a0
Date: Thu, 09 Aug 2018 23:55:10 GMT
User-Agent: SIPimp.org/0.2.5 (curses)
Content-Length: {CL}

--7a9cbec.3a0
Content-Type: text/plain
Content-Transfer-Encoding: binary

Hello
--7a9cbec.3a0
Content-Type: application/pkcs7-signature;name=smime.p7s
Content-Transfer-Encoding: binary
Content-Disposition: attachment;handling=required;filename=smime.p7s

", MPART_BINARY)
}

/// §3.1.1.12 unreason: UTF-8 and odd characters in a reason phrase.
pub fn unreason() -> Vec<u8> {
    msg(&("SIP/2.0 200 = 2**3 * 5**2 \u{43d}\u{43e} \u{441}\u{442}\u{43e} \u{434}\u{435}\u{432}\u{44f}\u{43d}\u{43e}\u{441}\u{442}\u{43e} \u{434}\u{435}\u{432}\u{44f}\u{442}\u{44c} - \u{43f}\u{440}\u{43e}\u{441}\u{442}\u{43e}\u{435}
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Call-ID: unreason.1234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: {CL}
Content-Type: application/sdp
Contact: <sip:user@host198.example.com>

"
    .to_owned()
        + SDP))
}

/// §3.1.1.13 noreason: empty reason phrase (the SP after the code stays).
pub fn noreason() -> Vec<u8> {
    msg("SIP/2.0 100 
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: noreason.asndj203insdf99223ndf
CSeq: 35 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>

")
}

/// A typical INVITE through one proxy (~900 bytes with SDP).
pub fn typical_invite() -> Vec<u8> {
    msg("INVITE sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds8;received=192.0.2.11
Record-Route: <sip:proxy1.atlanta.example.com;lr>
Route: <sip:proxy2.biloxi.example.com;lr>
Max-Forwards: 69
To: Bob <sip:bob@biloxi.example.com>
From: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.atlanta.example.com
CSeq: 314159 INVITE
Contact: <sip:alice@pc33.atlanta.example.com:5060;transport=udp>
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY
Supported: replaces, timer
User-Agent: ferrovox-test/1.0
Content-Type: application/sdp
Content-Length: {CL}

v=0
o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com
s=Session SDP
c=IN IP4 192.0.2.101
t=0 0
m=audio 49172 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
a=sendrecv
")
}

/// All valid fixtures, for mutation tests.
pub fn valid_corpus() -> Vec<Vec<u8>> {
    vec![
        wsinv(),
        intmeth(),
        esc01(),
        escnull(),
        esc02(),
        lwsdisp(),
        longreq(),
        dblreq(),
        semiuri(),
        transports(),
        mpart01(),
        unreason(),
        noreason(),
        typical_invite(),
    ]
}
