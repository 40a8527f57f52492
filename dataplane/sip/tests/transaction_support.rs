//! Helpers shared by the transaction tests (included with `#[path]`; as a
//! test crate of its own it only checks that the helpers work).

#![allow(dead_code)]

use ferrovox_sip::Message;
use ferrovox_sip::build::ResponseBuilder;
use ferrovox_sip::transaction::{Event, Output, Peer, TransactionLayer, Transport};
use std::time::Duration;

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn peer(port: u16, transport: Transport) -> Peer {
    Peer::new(([192, 0, 2, 1], port).into(), transport)
}

pub fn udp() -> Peer {
    peer(5060, Transport::Udp)
}

pub fn tcp() -> Peer {
    peer(5060, Transport::Tcp)
}

/// A request with configurable top Via, CSeq and To tag.
#[derive(Debug, Clone)]
pub struct Req<'a> {
    pub method: &'a str,
    pub branch: Option<&'a str>,
    pub sent_by: &'a str,
    pub transport: &'a str,
    pub cseq: u32,
    pub to_tag: Option<&'a str>,
    pub call_id: &'a str,
    pub uri: &'a str,
}

impl Default for Req<'_> {
    fn default() -> Self {
        Req {
            method: "INVITE",
            branch: Some("z9hG4bK74bf9"),
            sent_by: "pc33.atlanta.example.com",
            transport: "UDP",
            cseq: 314159,
            to_tag: None,
            call_id: "3848276298220188511@atlanta.example.com",
            uri: "sip:bob@biloxi.example.com",
        }
    }
}

impl Req<'_> {
    pub fn bytes(&self) -> Vec<u8> {
        let branch = self
            .branch
            .map(|b| format!(";branch={b}"))
            .unwrap_or_default();
        let to_tag = self.to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
        format!(
            "{m} {uri} SIP/2.0\r\n\
Via: SIP/2.0/{tr} {sb}{branch}\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKdownstream\r\n\
Route: <sip:p1.example.com;lr>\r\n\
Route: <sip:p2.example.com;lr>\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>{to_tag}\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
Call-ID: {cid}\r\n\
CSeq: {cseq} {m}\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
Content-Length: 0\r\n\r\n",
            m = self.method,
            uri = self.uri,
            tr = self.transport,
            sb = self.sent_by,
            cid = self.call_id,
            cseq = self.cseq,
        )
        .into_bytes()
    }
}

/// A response to `req` (its Vias, From, To + `to_tag`, Call-ID, CSeq).
pub fn response(req: &[u8], code: u16, to_tag: Option<&str>) -> Vec<u8> {
    let msg = Message::parse(req).expect("request parses");
    let mut out = Vec::new();
    let mut b = ResponseBuilder::new(code, b"Reason");
    if let Some(t) = to_tag {
        b = b.to_tag(t.as_bytes());
    }
    b.write(&msg, &mut out).expect("response builds");
    out
}

/// Everything the layer wants done, copied out.
#[derive(Debug, Default)]
pub struct Drained {
    pub sent: Vec<(Peer, Vec<u8>)>,
    pub events: Vec<Event>,
}

impl Drained {
    pub fn first_lines(&self) -> Vec<String> {
        self.sent.iter().map(|(_, b)| first_line(b)).collect()
    }
}

pub fn drain(layer: &mut TransactionLayer) -> Drained {
    let mut d = Drained::default();
    while let Some(o) = layer.poll_output() {
        match o {
            Output::Transmit(t) => d.sent.push((t.dest, t.bytes.to_vec())),
            Output::Event(e) => d.events.push(e),
        }
    }
    d
}

pub fn first_line(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    s.lines().next().unwrap_or("").to_string()
}

#[test]
fn helpers_build_valid_messages() {
    let req = Req::default().bytes();
    let m = Message::parse(&req).unwrap();
    ferrovox_sip::validate::validate_request(&m).unwrap();
    let resp = response(&req, 486, Some("abc"));
    let r = Message::parse(&resp).unwrap();
    assert_eq!(r.to().unwrap().tag(), Some(&b"abc"[..]));
}
