//! REGISTER exchanges end to end (RFC 3261 §10.3) through the public API.

mod common;

use common::*;
use ferrovox_registrar::{
    Algorithm, AuthResult, Credential, Destination, RegistrarConfig, ThrottleConfig, digest::ha1,
};
use ferrovox_sip::Message;
use ferrovox_sip::transaction::{Peer, Transport};
use std::net::SocketAddr;

const ALICE_SRC: &str = "192.0.2.10:5060";
const ALICE_CONTACT: &str = "<sip:alice@192.0.2.10:5060>";

fn no_auth_world() -> World {
    let mut config = RegistrarConfig::new(REALM, SECRET);
    config.require_auth = false;
    world_with(config)
}

/// Replace each nonce="..." by a placeholder.
fn mask_nonces(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(i) = rest.find("nonce=\"") {
        out.push_str(&rest[..i + 7]);
        rest = &rest[i + 7..];
        let end = rest.find('"').unwrap_or(rest.len());
        out.push_str("NONCE");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[test]
fn unauthenticated_register_gets_sha256_then_md5_challenges() {
    let w = world();
    let reply = w.register(&Reg::new("alice", ALICE_CONTACT).bytes(), peer(ALICE_SRC));
    assert_eq!((reply.code, reply.reason), (401, "Unauthorized"));
    let chs = challenges(&reply, "WWW-Authenticate");
    let algs: Vec<&str> = chs.iter().map(|c| c.algorithm.as_str()).collect();
    assert_eq!(algs, ["SHA-256", "MD5"]);
    for c in &chs {
        assert_eq!(c.realm, REALM);
        assert_eq!(c.qop, "auth");
        assert!(!c.stale);
        assert!(!c.nonce.is_empty() && !c.opaque.is_empty());
    }
    // Nothing was bound.
    assert!(
        w.registrar
            .lookup("sip:alice@example.com", w.now)
            .is_empty()
    );
}

#[test]
fn md5_exchange_binds_the_contact() {
    let w = world();
    let reg = Reg::new("alice", ALICE_CONTACT);
    let ok = register_with_auth(&w, &reg, "wonderland", "MD5", peer(ALICE_SRC));
    assert_eq!(ok.code, 200);
    let contacts: Vec<&str> = ok.headers_named("Contact").collect();
    assert_eq!(contacts, ["<sip:alice@192.0.2.10:5060>;expires=3600"]);
    assert_eq!(ok.header("Date"), Some("Tue, 14 Nov 2023 22:13:20 GMT"));
    let bindings = w.registrar.lookup("sip:alice@example.com", w.now);
    assert_eq!(bindings.len(), 1);
    assert_eq!(bindings[0].contact, "sip:alice@192.0.2.10:5060");
    assert_eq!(bindings[0].received, None);
    assert_eq!(bindings[0].cseq, 2);
    // The 200 can be written as a response to the request.
    let wire = Reg::new("alice", ALICE_CONTACT).bytes();
    let msg = Message::parse(&wire).expect("parses");
    let mut out = Vec::new();
    ok.write(&msg, b"totag", &mut out).expect("writes");
    let resp = Message::parse(&out).expect("response parses");
    assert_eq!(resp.status_code(), Some(200));
    assert_eq!(resp.contacts().count(), 1);
    assert_eq!(resp.to().expect("To").tag(), Some(&b"totag"[..]));
}

#[test]
fn sha256_exchange_with_stored_ha1() {
    let w = world();
    w.credentials.insert(
        "carol",
        REALM,
        Credential {
            ha1_sha256: Some(ha1(Algorithm::Sha256, "carol", REALM, "s3cret")),
            ..Credential::default()
        },
    );
    let reg = Reg::new("carol", "<sip:carol@192.0.2.20:5062>");
    let ok = register_with_auth(&w, &reg, "s3cret", "SHA-256", peer("192.0.2.20:5062"));
    assert_eq!(ok.code, 200);
    assert_eq!(w.registrar.lookup("sip:carol@example.com", w.now).len(), 1);
    // An MD5 answer cannot be checked against a SHA-256-only credential.
    let w2 = world();
    w2.credentials.insert(
        "carol",
        REALM,
        Credential {
            ha1_sha256: Some(ha1(Algorithm::Sha256, "carol", REALM, "s3cret")),
            ..Credential::default()
        },
    );
    let refused = register_with_auth(&w2, &reg, "s3cret", "MD5", peer("192.0.2.20:5062"));
    assert_eq!(refused.code, 401);
}

#[test]
fn md5_ha1_credential_works() {
    let w = world();
    w.credentials.insert(
        "dave",
        REALM,
        Credential {
            ha1_md5: Some(ha1(Algorithm::Md5, "dave", REALM, "pw")),
            ..Credential::default()
        },
    );
    let reg = Reg::new("dave", "<sip:dave@192.0.2.30>");
    let ok = register_with_auth(&w, &reg, "pw", "MD5", peer("192.0.2.30:5060"));
    assert_eq!(ok.code, 200);
}

#[test]
fn wrong_password_and_unknown_user_get_identical_challenges() {
    let w = world();
    let wrong = register_with_auth(
        &w,
        &Reg::new("alice", ALICE_CONTACT),
        "guess",
        "MD5",
        peer("198.51.100.1:5060"),
    );
    let unknown = register_with_auth(
        &w,
        &Reg::new("mallory", "<sip:mallory@192.0.2.10:5060>"),
        "guess",
        "MD5",
        peer("198.51.100.2:5060"),
    );
    assert_eq!(wrong.code, 401);
    assert_eq!((wrong.code, wrong.reason), (unknown.code, unknown.reason));
    assert_eq!(wrong.headers.len(), unknown.headers.len());
    for ((n1, v1), (n2, v2)) in wrong.headers.iter().zip(&unknown.headers) {
        assert_eq!(n1, n2);
        assert_eq!(v1.len(), v2.len(), "same length, byte for byte shape");
        assert_eq!(mask_nonces(v1), mask_nonces(v2));
    }
    // Fresh nonces each time.
    let n1 = challenges(&wrong, "WWW-Authenticate")[0].nonce.clone();
    let n2 = challenges(&unknown, "WWW-Authenticate")[0].nonce.clone();
    assert_ne!(n1, n2);
    assert!(!challenges(&wrong, "WWW-Authenticate")[0].stale);
}

#[test]
fn reused_nonce_count_is_refused_and_a_higher_one_accepted() {
    let w = world();
    let src = peer(ALICE_SRC);
    let first = w.register(&Reg::new("alice", ALICE_CONTACT).bytes(), src);
    let ch = challenge_for(&first, "SHA-256");
    let mut reg = Reg::new("alice", ALICE_CONTACT);
    reg.cseq = 2;
    reg.authorization = vec![answer(
        &ch,
        "REGISTER",
        "sip:example.com",
        "alice",
        "wonderland",
        1,
    )];
    assert_eq!(w.register(&reg.bytes(), src).code, 200);
    // The same credentials again (a replay, even with a new CSeq).
    reg.cseq = 3;
    let replay = w.register(&reg.bytes(), src);
    assert_eq!(replay.code, 401);
    assert!(
        challenges(&replay, "WWW-Authenticate")
            .iter()
            .all(|c| c.stale)
    );
    // The client's next request counts up: accepted.
    reg.cseq = 4;
    reg.authorization = vec![answer(
        &ch,
        "REGISTER",
        "sip:example.com",
        "alice",
        "wonderland",
        2,
    )];
    assert_eq!(w.register(&reg.bytes(), src).code, 200);
    // Replays are not failures: the source is not blocked after many.
    for _ in 0..10 {
        assert_eq!(w.register(&reg.bytes(), src).code, 401);
    }
    assert!(!w.registrar.is_blocked(src.addr.ip(), w.now));
}

#[test]
fn expired_nonce_gives_stale_true_only_with_the_right_password() {
    let mut w = world();
    let src = peer(ALICE_SRC);
    let first = w.register(&Reg::new("alice", ALICE_CONTACT).bytes(), src);
    let ch = challenge_for(&first, "MD5");
    w.advance(301);
    let mut reg = Reg::new("alice", ALICE_CONTACT);
    reg.cseq = 2;
    reg.authorization = vec![answer(
        &ch,
        "REGISTER",
        "sip:example.com",
        "alice",
        "wonderland",
        1,
    )];
    let stale = w.register(&reg.bytes(), src);
    assert_eq!(stale.code, 401);
    let chs = challenges(&stale, "WWW-Authenticate");
    assert!(chs.iter().all(|c| c.stale));
    assert_ne!(chs[1].nonce, ch.nonce);
    // Retrying with the new nonce succeeds.
    reg.cseq = 3;
    reg.authorization = vec![answer(
        &chs[1],
        "REGISTER",
        "sip:example.com",
        "alice",
        "wonderland",
        1,
    )];
    assert_eq!(w.register(&reg.bytes(), src).code, 200);
    // A wrong password on an expired nonce is not told "stale".
    w.advance(301);
    reg.cseq = 4;
    reg.authorization = vec![answer(
        &chs[1],
        "REGISTER",
        "sip:example.com",
        "alice",
        "nope",
        2,
    )];
    let wrong = w.register(&reg.bytes(), src);
    assert_eq!(wrong.code, 401);
    assert!(
        challenges(&wrong, "WWW-Authenticate")
            .iter()
            .all(|c| !c.stale)
    );
}

#[test]
fn nonce_from_another_secret_is_stale_for_the_right_password() {
    let w = world();
    let mut other_config = RegistrarConfig::new(REALM, [1; 32]);
    other_config.require_auth = true;
    let other = world_with(other_config);
    let src = peer(ALICE_SRC);
    let ch = challenge_for(
        &other.register(&Reg::new("alice", ALICE_CONTACT).bytes(), src),
        "MD5",
    );
    let mut reg = Reg::new("alice", ALICE_CONTACT);
    reg.cseq = 2;
    reg.authorization = vec![answer(
        &ch,
        "REGISTER",
        "sip:example.com",
        "alice",
        "wonderland",
        1,
    )];
    let reply = w.register(&reg.bytes(), src);
    assert_eq!(reply.code, 401);
    assert!(challenges(&reply, "WWW-Authenticate")[0].stale);
}

#[test]
fn registrars_sharing_the_secret_accept_each_others_nonces() {
    let a = world();
    let b = world();
    let src = peer(ALICE_SRC);
    let ch = challenge_for(
        &a.register(&Reg::new("alice", ALICE_CONTACT).bytes(), src),
        "SHA-256",
    );
    let mut reg = Reg::new("alice", ALICE_CONTACT);
    reg.cseq = 2;
    reg.authorization = vec![answer(
        &ch,
        "REGISTER",
        "sip:example.com",
        "alice",
        "wonderland",
        1,
    )];
    assert_eq!(b.register(&reg.bytes(), src).code, 200);
}

#[test]
fn legacy_md5_without_qop_is_accepted_once_per_nonce() {
    let w = world();
    let src = peer(ALICE_SRC);
    let ch = challenge_for(
        &w.register(&Reg::new("alice", ALICE_CONTACT).bytes(), src),
        "MD5",
    );
    let mut reg = Reg::new("alice", ALICE_CONTACT);
    reg.cseq = 2;
    reg.authorization = vec![answer_legacy(
        &ch,
        "REGISTER",
        "sip:example.com",
        "alice",
        "wonderland",
    )];
    assert_eq!(w.register(&reg.bytes(), src).code, 200);
    reg.cseq = 3;
    let again = w.register(&reg.bytes(), src);
    assert_eq!(again.code, 401);
    assert!(challenges(&again, "WWW-Authenticate")[0].stale);
}

#[test]
fn authenticated_user_must_own_the_aor() {
    let w = world();
    let src = peer(ALICE_SRC);
    let ch = challenge_for(
        &w.register(&Reg::new("bob", ALICE_CONTACT).bytes(), src),
        "MD5",
    );
    let mut reg = Reg::new("bob", ALICE_CONTACT);
    reg.cseq = 2;
    // Alice's credentials, Bob's AOR.
    reg.authorization = vec![answer(
        &ch,
        "REGISTER",
        "sip:example.com",
        "alice",
        "wonderland",
        1,
    )];
    let reply = w.register(&reg.bytes(), src);
    assert_eq!((reply.code, reply.reason), (403, "Forbidden"));
    assert!(w.registrar.lookup("sip:bob@example.com", w.now).is_empty());
}

#[test]
fn digest_uri_must_name_the_request_uri() {
    let w = world();
    let src = peer(ALICE_SRC);
    let ch = challenge_for(
        &w.register(&Reg::new("alice", ALICE_CONTACT).bytes(), src),
        "MD5",
    );
    let mut reg = Reg::new("alice", ALICE_CONTACT);
    reg.cseq = 2;
    reg.authorization = vec![answer(
        &ch,
        "REGISTER",
        "sip:elsewhere.example.net",
        "alice",
        "wonderland",
        1,
    )];
    assert_eq!(w.register(&reg.bytes(), src).code, 401);
}

#[test]
fn credentials_for_another_realm_are_ignored_without_counting() {
    let w = world();
    let src = peer(ALICE_SRC);
    let foreign = common::Challenge {
        realm: "other.example".into(),
        nonce: "abc".into(),
        opaque: String::new(),
        algorithm: "MD5".into(),
        qop: "auth".into(),
        stale: false,
    };
    let mut reg = Reg::new("alice", ALICE_CONTACT);
    reg.authorization = vec![answer(
        &foreign,
        "REGISTER",
        "sip:example.com",
        "alice",
        "x",
        1,
    )];
    for _ in 0..10 {
        let reply = w.register(&reg.bytes(), src);
        assert_eq!(reply.code, 401);
        assert!(!challenges(&reply, "WWW-Authenticate")[0].stale);
    }
    assert!(!w.registrar.is_blocked(src.addr.ip(), w.now));
}

#[test]
fn expires_header_parameter_and_limits() {
    let w = no_auth_world();
    let src = peer(ALICE_SRC);
    // Expires header applies.
    let mut reg = Reg::new("alice", ALICE_CONTACT);
    reg.expires = Some(120);
    let ok = w.register(&reg.bytes(), src);
    assert_eq!(ok.code, 200);
    assert_eq!(
        ok.header("Contact"),
        Some("<sip:alice@192.0.2.10:5060>;expires=120")
    );
    // The contact parameter beats the header.
    reg.cseq = 2;
    reg.contacts = vec!["<sip:alice@192.0.2.10:5060>;expires=300".into()];
    assert_eq!(
        w.register(&reg.bytes(), src).header("Contact"),
        Some("<sip:alice@192.0.2.10:5060>;expires=300")
    );
    // Too long is clamped to max-expires.
    reg.cseq = 3;
    reg.contacts = vec![ALICE_CONTACT.into()];
    reg.expires = Some(86_400);
    assert_eq!(
        w.register(&reg.bytes(), src).header("Contact"),
        Some("<sip:alice@192.0.2.10:5060>;expires=3600")
    );
    // Too short is refused with Min-Expires, and nothing changes.
    reg.cseq = 4;
    reg.expires = Some(30);
    let brief = w.register(&reg.bytes(), src);
    assert_eq!((brief.code, brief.reason), (423, "Interval Too Brief"));
    assert_eq!(brief.header("Min-Expires"), Some("60"));
    assert_eq!(
        w.registrar.lookup("sip:alice@example.com", w.now)[0].expires_in(w.now),
        3600
    );
    // expires=0 removes.
    reg.cseq = 5;
    reg.expires = None;
    reg.contacts = vec!["<sip:alice@192.0.2.10:5060>;expires=0".into()];
    let removed = w.register(&reg.bytes(), src);
    assert_eq!(removed.code, 200);
    assert_eq!(removed.header("Contact"), None);
    assert!(
        w.registrar
            .lookup("sip:alice@example.com", w.now)
            .is_empty()
    );
}

#[test]
fn bindings_lapse_and_remaining_time_counts_down() {
    let mut w = no_auth_world();
    let src = peer(ALICE_SRC);
    let mut reg = Reg::new("alice", ALICE_CONTACT);
    reg.expires = Some(100);
    assert_eq!(w.register(&reg.bytes(), src).code, 200);
    w.advance(40);
    // A query (no Contact) lists what is bound with the time left.
    let mut query = Reg::new("alice", "");
    query.cseq = 2;
    let listed = w.register(&query.bytes(), src);
    assert_eq!(listed.code, 200);
    assert_eq!(
        listed.header("Contact"),
        Some("<sip:alice@192.0.2.10:5060>;expires=60")
    );
    w.advance(61);
    assert!(
        w.registrar
            .lookup("sip:alice@example.com", w.now)
            .is_empty()
    );
    assert_eq!(w.registrar.purge_expired(w.now), 1);
}

#[test]
fn several_contacts_and_star_removal() {
    let w = no_auth_world();
    let src = peer(ALICE_SRC);
    let mut desk = Reg::new("alice", "<sip:alice@192.0.2.10:5060>;q=0.5");
    desk.contacts.push("<sip:alice@192.0.2.11:5060>;q=1".into());
    assert_eq!(w.register(&desk.bytes(), src).code, 200);
    let mut mobile = Reg::new("alice", "<sip:alice@203.0.113.5:5060>");
    mobile.call_id = "mobile-1".into();
    let ok = w.register(&mobile.bytes(), peer("203.0.113.5:5060"));
    let listed: Vec<&str> = ok.headers_named("Contact").collect();
    assert_eq!(
        listed,
        [
            "<sip:alice@192.0.2.10:5060>;expires=3600;q=0.5",
            "<sip:alice@192.0.2.11:5060>;expires=3600;q=1",
            "<sip:alice@203.0.113.5:5060>;expires=3600",
        ]
    );
    // Lookup orders by preference (no q counts as 1), stable otherwise.
    let order: Vec<String> = w
        .registrar
        .lookup("sip:alice@example.com", w.now)
        .into_iter()
        .map(|b| b.contact)
        .collect();
    assert_eq!(
        order,
        [
            "sip:alice@192.0.2.11:5060",
            "sip:alice@203.0.113.5:5060",
            "sip:alice@192.0.2.10:5060"
        ]
    );
    // `*` needs Expires: 0 and must stand alone.
    let mut star = Reg::new("alice", "*");
    star.cseq = 2;
    assert_eq!(w.register(&star.bytes(), src).code, 400);
    star.expires = Some(0);
    star.contacts.push(ALICE_CONTACT.into());
    assert_eq!(w.register(&star.bytes(), src).code, 400);
    star.contacts = vec!["*".into()];
    let cleared = w.register(&star.bytes(), src);
    assert_eq!(cleared.code, 200);
    assert_eq!(cleared.header("Contact"), None);
    assert!(
        w.registrar
            .lookup("sip:alice@example.com", w.now)
            .is_empty()
    );
}

#[test]
fn star_removal_respects_cseq_ordering() {
    let w = no_auth_world();
    let src = peer(ALICE_SRC);
    let mut reg = Reg::new("alice", ALICE_CONTACT);
    reg.cseq = 10;
    assert_eq!(w.register(&reg.bytes(), src).code, 200);
    let mut star = Reg::new("alice", "*");
    star.expires = Some(0);
    star.cseq = 10;
    assert_eq!(w.register(&star.bytes(), src).code, 500);
    assert_eq!(w.registrar.lookup("sip:alice@example.com", w.now).len(), 1);
    star.cseq = 11;
    assert_eq!(w.register(&star.bytes(), src).code, 200);
}

#[test]
fn out_of_order_cseq_on_the_same_call_id_fails() {
    let w = no_auth_world();
    let src = peer(ALICE_SRC);
    let mut reg = Reg::new("alice", ALICE_CONTACT);
    reg.cseq = 5;
    assert_eq!(w.register(&reg.bytes(), src).code, 200);
    for stale_cseq in [5, 4] {
        reg.cseq = stale_cseq;
        reg.expires = Some(600);
        let reply = w.register(&reg.bytes(), src);
        assert_eq!((reply.code, reply.reason), (500, "Server Internal Error"));
    }
    assert_eq!(
        w.registrar.lookup("sip:alice@example.com", w.now)[0].expires_in(w.now),
        3600
    );
    // A different Call-ID (a rebooted phone) replaces the binding.
    reg.call_id = "after-reboot".into();
    reg.cseq = 1;
    assert_eq!(w.register(&reg.bytes(), src).code, 200);
    let b = w.registrar.lookup("sip:alice@example.com", w.now);
    assert_eq!((b.len(), b[0].call_id.as_str()), (1, "after-reboot"));
}

#[test]
fn nat_source_is_stored_and_used_as_destination() {
    let w = no_auth_world();
    // The phone believes it is 10.0.0.5:5060; the REGISTER came from a NAT.
    let nat = peer("198.51.100.7:40000");
    let reg = Reg::new("alice", "<sip:alice@10.0.0.5:5060;transport=udp>");
    assert_eq!(w.register(&reg.bytes(), nat).code, 200);
    let b = &w.registrar.lookup("sip:alice@example.com", w.now)[0];
    assert_eq!(b.received, Some(nat.addr));
    let targets = w.registrar.targets("sip:alice@example.com", w.now);
    assert_eq!(
        targets[0].request_uri,
        "sip:alice@10.0.0.5:5060;transport=udp"
    );
    assert_eq!(targets[0].destination, Destination::Peer(nat));
    // A phone with a public address: no `received`, destination from the
    // contact.
    let direct = peer("192.0.2.10:5060");
    let bob = Reg::new("bob", "<sip:bob@192.0.2.10:5060>");
    assert_eq!(w.register(&bob.bytes(), direct).code, 200);
    let b = &w.registrar.lookup("sip:bob@example.com", w.now)[0];
    assert_eq!(b.received, None);
    assert_eq!(
        w.registrar.targets("sip:bob@example.com", w.now)[0].destination,
        Destination::Peer(direct)
    );
}

#[test]
fn tcp_registration_keeps_its_connection_address() {
    let w = no_auth_world();
    let addr: SocketAddr = "192.0.2.10:49152".parse().expect("addr");
    let src = Peer::new(addr, Transport::Tcp);
    let reg = Reg::new("alice", "<sip:alice@192.0.2.10:5060;transport=tcp>");
    assert_eq!(w.register(&reg.bytes(), src).code, 200);
    assert_eq!(
        w.registrar.targets("sip:alice@example.com", w.now)[0].destination,
        Destination::Peer(src)
    );
}

#[test]
fn lookup_ignores_port_parameters_and_host_case() {
    let w = no_auth_world();
    let reg = Reg::new("alice", "<sip:alice@127.0.0.1:5080>");
    // Register to the AOR sip:alice@127.0.0.1 (To with an IP host).
    let wire = String::from_utf8(reg.bytes())
        .expect("utf-8")
        .replace("To: <sip:alice@example.com>", "To: <sip:alice@127.0.0.1>");
    assert_eq!(
        w.register(wire.as_bytes(), peer("127.0.0.1:5080")).code,
        200
    );
    for uri in [
        "sip:alice@127.0.0.1",
        "sip:alice@127.0.0.1:5070",
        "sip:alice@127.0.0.1:5070;transport=udp",
        "sips:alice@127.0.0.1",
    ] {
        assert_eq!(w.registrar.lookup(uri, w.now).len(), 1, "{uri}");
    }
    assert!(w.registrar.lookup("sip:alice@127.0.0.2", w.now).is_empty());
    assert!(w.registrar.lookup("sip:Alice@127.0.0.1", w.now).is_empty());
    assert!(w.registrar.lookup("not a uri", w.now).is_empty());
    // Host names compare without case.
    let bob = Reg::new("bob", "<sip:bob@192.0.2.30>");
    let wire = String::from_utf8(bob.bytes()).expect("utf-8").replace(
        "To: <sip:bob@example.com>",
        "To: <sip:bob@Example.COM:5060>",
    );
    assert_eq!(
        w.register(wire.as_bytes(), peer("192.0.2.30:5060")).code,
        200
    );
    assert_eq!(
        w.registrar.lookup("sip:bob@example.com:5070", w.now).len(),
        1
    );
}

#[test]
fn failing_sources_are_blocked_then_released() {
    let mut w = world();
    let attacker = peer("198.51.100.66:5060");
    let mut last = None;
    for i in 0..5 {
        let reg = Reg::new("alice", ALICE_CONTACT);
        let reply = register_with_auth(&w, &reg, &format!("guess{i}"), "SHA-256", attacker);
        last = Some(reply.code);
        if i < 4 {
            assert_eq!(reply.code, 401, "failure {i} is challenged");
        }
    }
    assert_eq!(last, Some(403));
    assert!(w.registrar.is_blocked(attacker.addr.ip(), w.now));
    // Blocked: even an unauthenticated request is refused without a challenge.
    let blocked = w.register(&Reg::new("alice", ALICE_CONTACT).bytes(), attacker);
    assert_eq!((blocked.code, blocked.reason), (403, "Forbidden"));
    // INVITE authentication reports Throttled.
    let invite = invite_bytes(None);
    let msg = Message::parse(&invite).expect("parses");
    assert!(matches!(
        w.registrar.authenticate(&msg, attacker, true, w.now, w.wall),
        AuthResult::Throttled(r) if r.code == 403
    ));
    // Others are not affected.
    let ok = register_with_auth(
        &w,
        &Reg::new("alice", ALICE_CONTACT),
        "wonderland",
        "MD5",
        peer(ALICE_SRC),
    );
    assert_eq!(ok.code, 200);
    // After the block period the source may try again.
    w.advance(301);
    assert!(!w.registrar.is_blocked(attacker.addr.ip(), w.now));
    let mut reg = Reg::new("alice", ALICE_CONTACT);
    reg.call_id = "after-block".into();
    let ok = register_with_auth(&w, &reg, "wonderland", "MD5", attacker);
    assert_eq!(ok.code, 200);
}

#[test]
fn failure_table_is_bounded_and_keeps_blocked_sources() {
    let mut config = RegistrarConfig::new(REALM, SECRET);
    config.throttle = ThrottleConfig {
        capacity: 8,
        ..ThrottleConfig::default()
    };
    let w = world_with(config);
    let attacker = peer("198.51.100.66:5060");
    for i in 0..5 {
        register_with_auth(
            &w,
            &Reg::new("alice", ALICE_CONTACT),
            &format!("g{i}"),
            "MD5",
            attacker,
        );
    }
    assert!(w.registrar.is_blocked(attacker.addr.ip(), w.now));
    // Many other sources fail once each.
    for i in 0..200u32 {
        let src = peer(&format!("203.0.{}.{}:5060", i / 250, i % 250 + 1));
        register_with_auth(&w, &Reg::new("alice", ALICE_CONTACT), "nope", "MD5", src);
    }
    assert!(w.registrar.is_blocked(attacker.addr.ip(), w.now));
    let mut table = ferrovox_registrar::throttle::FailureThrottle::new(ThrottleConfig {
        capacity: 100,
        ..ThrottleConfig::default()
    });
    let now = w.now;
    for i in 0..100_000u32 {
        table.record_failure(std::net::IpAddr::from(i.to_be_bytes()), now);
    }
    assert!(table.len() <= 100);
}

fn invite_bytes(proxy_authorization: Option<&str>) -> Vec<u8> {
    let mut s = String::from(
        "INVITE sip:bob@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-inv\r\n\
         Max-Forwards: 70\r\n\
         To: <sip:bob@example.com>\r\n\
         From: <sip:alice@example.com>;tag=inv1\r\n\
         Call-ID: call-1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:alice@192.0.2.10:5060>\r\n",
    );
    if let Some(a) = proxy_authorization {
        s.push_str(&format!("Proxy-Authorization: {a}\r\n"));
    }
    s.push_str("Content-Length: 0\r\n\r\n");
    s.into_bytes()
}

#[test]
fn invite_is_authenticated_with_407_and_proxy_authorization() {
    let w = world();
    let src = peer(ALICE_SRC);
    let wire = invite_bytes(None);
    let msg = Message::parse(&wire).expect("parses");
    let AuthResult::Challenge(reply) = w.registrar.authenticate(&msg, src, true, w.now, w.wall)
    else {
        panic!("expected a challenge");
    };
    assert_eq!(
        (reply.code, reply.reason),
        (407, "Proxy Authentication Required")
    );
    assert_eq!(reply.headers_named("WWW-Authenticate").count(), 0);
    let chs = challenges(&reply, "Proxy-Authenticate");
    assert_eq!(chs.len(), 2);
    let auth = answer(
        &chs[0],
        "INVITE",
        "sip:bob@example.com",
        "alice",
        "wonderland",
        1,
    );
    let wire = invite_bytes(Some(&auth));
    let msg = Message::parse(&wire).expect("parses");
    assert_eq!(
        w.registrar.authenticate(&msg, src, true, w.now, w.wall),
        AuthResult::Ok {
            username: "alice".into()
        }
    );
    // The same credentials in Authorization do not count for a proxy.
    let wire = String::from_utf8(invite_bytes(Some(&auth)))
        .expect("utf-8")
        .replace("Proxy-Authorization", "Authorization");
    let msg = Message::parse(wire.as_bytes()).expect("parses");
    assert!(matches!(
        w.registrar.authenticate(&msg, src, true, w.now, w.wall),
        AuthResult::Challenge(_)
    ));
}

#[test]
fn unsupported_required_extension_is_refused() {
    let w = no_auth_world();
    let mut reg = Reg::new("alice", ALICE_CONTACT);
    reg.extra.push("Require: gruu, path".into());
    let reply = w.register(&reg.bytes(), peer(ALICE_SRC));
    assert_eq!((reply.code, reply.reason), (420, "Bad Extension"));
    assert_eq!(reply.header("Unsupported"), Some("gruu"));
}

#[test]
fn path_is_stored_and_echoed_when_supported() {
    let w = no_auth_world();
    let mut reg = Reg::new("alice", ALICE_CONTACT);
    reg.extra.push("Path: <sip:edge.example.com;lr>".into());
    reg.extra.push("Supported: path".into());
    let reply = w.register(&reg.bytes(), peer("192.0.2.99:5060"));
    assert_eq!(reply.code, 200);
    assert_eq!(reply.header("Path"), Some("<sip:edge.example.com;lr>"));
    let t = &w.registrar.targets("sip:alice@example.com", w.now)[0];
    assert_eq!(t.route, ["<sip:edge.example.com;lr>"]);
}

#[test]
fn non_sip_to_and_malformed_requests() {
    let w = no_auth_world();
    let reg = Reg::new("alice", ALICE_CONTACT);
    let tel = String::from_utf8(reg.bytes())
        .expect("utf-8")
        .replace("To: <sip:alice@example.com>", "To: <tel:+15551234567>");
    assert_eq!(w.register(tel.as_bytes(), peer(ALICE_SRC)).code, 404);
    let no_call_id = String::from_utf8(reg.bytes())
        .expect("utf-8")
        .replace("Call-ID: reg-alice\r\n", "");
    assert_eq!(w.register(no_call_id.as_bytes(), peer(ALICE_SRC)).code, 400);
    let bad_expires = String::from_utf8(reg.bytes())
        .expect("utf-8")
        .replace("Content-Length", "Expires: soon\r\nContent-Length");
    assert_eq!(
        w.register(bad_expires.as_bytes(), peer(ALICE_SRC)).code,
        400
    );
    let invite = invite_bytes(None);
    let msg = Message::parse(&invite).expect("parses");
    assert_eq!(
        w.registrar
            .register(&msg, peer(ALICE_SRC), w.now, w.wall)
            .code,
        405
    );
}

#[test]
fn too_many_contacts_are_refused() {
    let w = no_auth_world();
    let mut reg = Reg::new("alice", ALICE_CONTACT);
    reg.contacts = (1..=11)
        .map(|i| format!("<sip:alice@192.0.2.{i}:5060>"))
        .collect();
    assert_eq!(w.register(&reg.bytes(), peer(ALICE_SRC)).code, 403);
    assert!(
        w.registrar
            .lookup("sip:alice@example.com", w.now)
            .is_empty()
    );
}

#[test]
fn options_reply_lists_methods() {
    let w = world();
    let reply = w.registrar.options_reply();
    assert_eq!(reply.code, 200);
    assert!(
        reply
            .header("Allow")
            .is_some_and(|a| a.contains("REGISTER"))
    );
    assert_eq!(reply.header("Accept"), Some("application/sdp"));
}

#[test]
fn registrar_is_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ferrovox_registrar::Registrar>();
    let w = std::sync::Arc::new(no_auth_world());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let w = w.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    let mut reg = Reg::new(&format!("user{t}"), "");
                    reg.contacts = vec![format!("<sip:user{t}@192.0.2.{}:5060>", i + 1)];
                    reg.call_id = format!("c{t}-{i}");
                    let src = peer(&format!("192.0.2.{}:5060", i + 1));
                    assert_eq!(w.register(&reg.bytes(), src).code, 200);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    for t in 0..4 {
        assert_eq!(
            w.registrar
                .lookup(&format!("sip:user{t}@example.com"), w.now)
                .len(),
            10,
        );
    }
}

#[test]
fn comma_separated_contacts_and_instance_parameter() {
    let w = no_auth_world();
    let reg = Reg::new(
        "alice",
        "<sip:alice@192.0.2.10:5060>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\";expires=600, \
         \"Desk\" <sip:alice@192.0.2.11:5060>;q=0.7",
    );
    let reply = w.register(&reg.bytes(), peer(ALICE_SRC));
    assert_eq!(reply.code, 200);
    let listed: Vec<&str> = reply.headers_named("Contact").collect();
    assert_eq!(
        listed,
        [
            "<sip:alice@192.0.2.10:5060>;expires=600",
            "<sip:alice@192.0.2.11:5060>;expires=3600;q=0.7"
        ]
    );
    let b = w.registrar.lookup("sip:alice@example.com", w.now);
    let first = b.iter().find(|b| b.contact.ends_with(".10:5060"));
    assert_eq!(
        first.and_then(|b| b.instance.as_deref()),
        Some("<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>")
    );
}
