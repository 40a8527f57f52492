//! Test harness: a proxy on a fake clock, literal SIP messages, and
//! helpers that play the caller and the callee.
#![allow(dead_code)]

use ferrovox_proxy::{
    Decision, ForwardPlan, Peer, Policy, Proxy, ProxyConfig, ProxyEvent, RouteRequest, Target,
    Transport,
};
use ferrovox_sip::build::ResponseBuilder;
use ferrovox_sip::{HeaderName, Message};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub fn udp(addr: &str) -> Peer {
    Peer::new(addr.parse::<SocketAddr>().unwrap(), Transport::Udp)
}

pub fn tcp(addr: &str) -> Peer {
    Peer::new(addr.parse::<SocketAddr>().unwrap(), Transport::Tcp)
}

/// Alice, the caller.
pub fn alice() -> Peer {
    udp("192.0.2.10:5060")
}

/// The default next hop / callee.
pub fn bob() -> Peer {
    udp("127.0.0.1:5080")
}

pub fn config() -> ProxyConfig {
    ProxyConfig {
        listen: vec![
            (Transport::Udp, "127.0.0.1:5070".parse().unwrap()),
            (Transport::Tcp, "127.0.0.1:5070".parse().unwrap()),
        ],
        via_udp: "127.0.0.1:5071".parse().unwrap(),
        ..ProxyConfig::default()
    }
}

/// A policy answering with a fixed decision and recording branch results.
#[derive(Debug, Clone)]
pub struct Scripted {
    pub decision: Decision,
    pub results: Vec<(Peer, u16)>,
    pub routed: usize,
}

impl Scripted {
    pub fn forward(groups: Vec<Vec<Peer>>) -> Self {
        Scripted {
            decision: Decision::Forward(ForwardPlan::serial(
                groups
                    .into_iter()
                    .map(|g| g.into_iter().map(Target::to_peer).collect())
                    .collect(),
            )),
            results: Vec::new(),
            routed: 0,
        }
    }
}

impl Policy for Scripted {
    fn route(&mut self, _req: &RouteRequest<'_>, _now: Instant) -> Decision {
        self.routed += 1;
        self.decision.clone()
    }
    fn branch_result(&mut self, target: &Target, status: u16, _now: Instant) {
        self.results.push((target.dest, status));
    }
}

/// A message sent by the proxy.
#[derive(Debug, Clone)]
pub struct Sent {
    pub dest: Peer,
    pub text: String,
}

impl Sent {
    pub fn msg(&self) -> Message<'_> {
        Message::parse(self.text.as_bytes()).unwrap()
    }
    pub fn start_line(&self) -> &str {
        self.text.lines().next().unwrap_or("")
    }
    pub fn is_request(&self, method: &str) -> bool {
        self.start_line().starts_with(&format!("{method} "))
    }
    pub fn status(&self) -> Option<u16> {
        self.start_line()
            .strip_prefix("SIP/2.0 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse().ok())
    }
    /// Values of every header line with this (full) name.
    pub fn headers(&self, name: &str) -> Vec<String> {
        let m = self.msg();
        m.headers_named(name.as_bytes())
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
            .collect()
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers(name).into_iter().next()
    }
    pub fn vias(&self) -> Vec<String> {
        self.msg()
            .vias()
            .map(|v| String::from_utf8_lossy(v.unwrap().raw).into_owned())
            .collect()
    }
    pub fn top_branch(&self) -> String {
        let m = self.msg();
        let v = m.top_via().unwrap();
        String::from_utf8_lossy(v.branch.unwrap()).into_owned()
    }
}

pub struct Harness<P: Policy> {
    pub proxy: Proxy<P>,
    pub t0: Instant,
    pub now: Instant,
    buf: Vec<u8>,
}

impl<P: Policy> Harness<P> {
    pub fn new(config: ProxyConfig, policy: P) -> Self {
        let t0 = Instant::now();
        Harness {
            proxy: Proxy::new(config, policy),
            t0,
            now: t0,
            buf: Vec::new(),
        }
    }

    /// Feed a message; return what the proxy sent.
    pub fn input(&mut self, text: &str, from: Peer) -> Vec<Sent> {
        self.proxy.handle_message(text.as_bytes(), from, self.now);
        self.drain()
    }

    pub fn drain(&mut self) -> Vec<Sent> {
        let mut out = Vec::new();
        while let Some(dest) = self.proxy.poll_transmit(&mut self.buf) {
            out.push(Sent {
                dest,
                text: String::from_utf8_lossy(&self.buf).into_owned(),
            });
        }
        out
    }

    pub fn events(&mut self) -> Vec<ProxyEvent> {
        std::iter::from_fn(|| self.proxy.poll_event()).collect()
    }

    /// Run timers up to `now + d`; return (ms since t0, message) for each
    /// message sent.
    pub fn advance(&mut self, d: Duration) -> Vec<(u128, Sent)> {
        let until = self.now + d;
        let mut log = Vec::new();
        while let Some(t) = self.proxy.poll_timeout() {
            if t > until {
                break;
            }
            assert!(t >= self.now, "timer in the past");
            self.now = t;
            self.proxy.handle_timeout(t);
            for s in self.drain() {
                log.push(((t - self.t0).as_millis(), s));
            }
        }
        self.now = until;
        log
    }
}

pub fn invite(call_id: &str, branch: &str) -> String {
    format!(
        "INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch={branch};rport\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@example.com>;tag=a1\r\n\
To: Bob <sip:bob@example.com>\r\n\
Call-ID: {call_id}\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@192.0.2.10:5060>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\n"
    )
}

/// The callee's response to a request the proxy forwarded: Vias, From,
/// To (with `to_tag`), Call-ID, CSeq and Record-Route copied, a Contact.
pub fn respond(req: &Sent, code: u16, reason: &str, to_tag: &str) -> String {
    let m = req.msg();
    let rr: Vec<String> = m
        .headers_of(HeaderName::RecordRoute)
        .map(|h| String::from_utf8_lossy(h.value).into_owned())
        .collect();
    let mut headers: Vec<(&[u8], &[u8])> = rr
        .iter()
        .map(|v| (&b"Record-Route"[..], v.as_bytes()))
        .collect();
    headers.push((b"Contact", b"<sip:bob@127.0.0.1:5080>"));
    let mut out = Vec::new();
    let mut b = ResponseBuilder::new(code, reason.as_bytes()).headers(&headers);
    if !to_tag.is_empty() {
        b = b.to_tag(to_tag.as_bytes());
    }
    b.write(&m, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// Exactly one message in `sent`, going to `dest`.
pub fn one(sent: Vec<Sent>, dest: Peer) -> Sent {
    assert_eq!(sent.len(), 1, "expected one message, got {sent:#?}");
    let s = sent.into_iter().next().unwrap();
    assert_eq!(s.dest, dest, "wrong destination for {}", s.text);
    s
}
