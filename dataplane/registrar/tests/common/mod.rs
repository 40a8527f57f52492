//! A test client: builds REGISTER/INVITE requests, reads challenges and
//! answers them with its own digest arithmetic (md-5/sha2 directly, not the
//! crate's), so a shared mistake cannot make both sides agree.

#![allow(dead_code)]

use ferrovox_registrar::{
    Credential, MemoryCredentials, MemoryLocations, Registrar, RegistrarConfig, Reply,
};
use ferrovox_sip::transaction::{Peer, Transport};
use ferrovox_sip::{Auth, Message};
use md5::Md5;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const REALM: &str = "example.com";
pub const SECRET: [u8; 32] = [0x5a; 32];

pub struct World {
    pub registrar: Registrar,
    pub credentials: Arc<MemoryCredentials>,
    pub locations: Arc<MemoryLocations>,
    pub now: Instant,
    pub wall: SystemTime,
}

pub fn world_with(config: RegistrarConfig) -> World {
    let credentials = Arc::new(MemoryCredentials::new());
    credentials.insert("alice", REALM, Credential::password("wonderland"));
    credentials.insert("bob", REALM, Credential::password("builder"));
    let locations = Arc::new(MemoryLocations::default());
    let registrar = Registrar::new(config, credentials.clone(), locations.clone());
    World {
        registrar,
        credentials,
        locations,
        now: Instant::now(),
        wall: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    }
}

pub fn world() -> World {
    world_with(RegistrarConfig::new(REALM, SECRET))
}

impl World {
    pub fn advance(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
        self.wall += Duration::from_secs(secs);
    }

    pub fn register(&self, wire: &[u8], source: Peer) -> Reply {
        let msg = Message::parse(wire).expect("test message parses");
        self.registrar.register(&msg, source, self.now, self.wall)
    }
}

pub fn peer(addr: &str) -> Peer {
    let addr: SocketAddr = addr.parse().expect("test address");
    Peer::new(addr, Transport::Udp)
}

/// A REGISTER for `user` at example.com.
#[derive(Clone)]
pub struct Reg {
    pub user: String,
    pub contacts: Vec<String>,
    pub expires: Option<u32>,
    pub call_id: String,
    pub cseq: u32,
    pub authorization: Vec<String>,
    pub extra: Vec<String>,
}

impl Reg {
    pub fn new(user: &str, contact: &str) -> Reg {
        Reg {
            user: user.into(),
            contacts: if contact.is_empty() {
                Vec::new()
            } else {
                vec![contact.into()]
            },
            expires: None,
            call_id: format!("reg-{user}"),
            cseq: 1,
            authorization: Vec::new(),
            extra: Vec::new(),
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut s = String::new();
        s.push_str("REGISTER sip:example.com SIP/2.0\r\n");
        s.push_str("Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-test\r\n");
        s.push_str("Max-Forwards: 70\r\n");
        s.push_str(&format!("To: <sip:{}@example.com>\r\n", self.user));
        s.push_str(&format!("From: <sip:{}@example.com>;tag=f1\r\n", self.user));
        s.push_str(&format!("Call-ID: {}\r\n", self.call_id));
        s.push_str(&format!("CSeq: {} REGISTER\r\n", self.cseq));
        for c in &self.contacts {
            s.push_str(&format!("Contact: {c}\r\n"));
        }
        if let Some(e) = self.expires {
            s.push_str(&format!("Expires: {e}\r\n"));
        }
        for a in &self.authorization {
            s.push_str(&format!("Authorization: {a}\r\n"));
        }
        for x in &self.extra {
            s.push_str(x);
            s.push_str("\r\n");
        }
        s.push_str("Content-Length: 0\r\n\r\n");
        s.into_bytes()
    }
}

/// What a client reads from one challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: String,
    pub algorithm: String,
    pub qop: String,
    pub stale: bool,
}

pub fn challenges(reply: &Reply, header: &str) -> Vec<Challenge> {
    reply
        .headers_named(header)
        .map(|v| {
            let auth = Auth::parse(v.as_bytes(), "WWW-Authenticate").expect("challenge parses");
            assert!(auth.scheme.eq_ignore_ascii_case(b"Digest"));
            let get = |n: &[u8]| {
                auth.get(n)
                    .map(|p| String::from_utf8(p.unescaped().into_owned()).expect("utf-8"))
                    .unwrap_or_default()
            };
            Challenge {
                realm: get(b"realm"),
                nonce: get(b"nonce"),
                opaque: get(b"opaque"),
                algorithm: get(b"algorithm"),
                qop: get(b"qop"),
                stale: get(b"stale").eq_ignore_ascii_case("true"),
            }
        })
        .collect()
}

pub fn h(algorithm: &str, text: &str) -> String {
    if algorithm.eq_ignore_ascii_case("SHA-256") {
        hex::encode(Sha256::digest(text.as_bytes()))
    } else {
        hex::encode(Md5::digest(text.as_bytes()))
    }
}

/// An Authorization value answering `ch` with qop=auth.
pub fn answer(
    ch: &Challenge,
    method: &str,
    uri: &str,
    user: &str,
    password: &str,
    nc: u32,
) -> String {
    let alg = ch.algorithm.as_str();
    let cnonce = "0a4f113b";
    let nc = format!("{nc:08x}");
    let ha1 = h(alg, &format!("{user}:{}:{password}", ch.realm));
    let ha2 = h(alg, &format!("{method}:{uri}"));
    let response = h(alg, &format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", ch.nonce));
    format!(
        "Digest username=\"{user}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm={alg}, cnonce=\"{cnonce}\", opaque=\"{}\", \
         qop=auth, nc={nc}",
        ch.realm, ch.nonce, ch.opaque
    )
}

/// An RFC 2069-style Authorization value (no qop, MD5).
pub fn answer_legacy(
    ch: &Challenge,
    method: &str,
    uri: &str,
    user: &str,
    password: &str,
) -> String {
    let ha1 = h("MD5", &format!("{user}:{}:{password}", ch.realm));
    let ha2 = h("MD5", &format!("{method}:{uri}"));
    let response = h("MD5", &format!("{ha1}:{}:{ha2}", ch.nonce));
    format!(
        "Digest username=\"{user}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", response=\"{response}\"",
        ch.realm, ch.nonce
    )
}

/// The challenge for `algorithm` in a 401.
pub fn challenge_for(reply: &Reply, algorithm: &str) -> Challenge {
    challenges(reply, "WWW-Authenticate")
        .into_iter()
        .find(|c| c.algorithm == algorithm)
        .expect("challenge for algorithm")
}

/// Register `reg` for its user with `password` over `algorithm`: returns
/// the final reply.
pub fn register_with_auth(
    w: &World,
    reg: &Reg,
    password: &str,
    algorithm: &str,
    source: Peer,
) -> Reply {
    let first = w.register(&reg.bytes(), source);
    assert_eq!(first.code, 401, "unauthenticated REGISTER is challenged");
    let ch = challenge_for(&first, algorithm);
    let mut again = reg.clone();
    again.cseq += 1;
    again.authorization = vec![answer(
        &ch,
        "REGISTER",
        "sip:example.com",
        &reg.user,
        password,
        1,
    )];
    w.register(&again.bytes(), source)
}
