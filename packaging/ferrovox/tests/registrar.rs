//! Acceptance of the registrar behind `ferrovox proxy` (issue 3) with real phones: baresip
//! registers with digest through the proxy, a wrong password is refused, failed
//! authentications block their source, and a registered user is called through the proxy
//! (407 to the caller, forked to the callee's contact, answered, hung up).
//!
//! Every test runs on the default io-uring backend; registration also on the portable one.
//!
//! Interoperability: the edge challenges with MD5 alone by default (`sip.digest_sha256`
//! adds SHA-256) because Debian's baresip 1.0 (libre 1.x) fails on a challenge list that
//! contains an algorithm it does not know ("Register: Function not implemented") instead of
//! answering the one it knows; these phones register and call straight through the proxy.

use ferrovox_testkit::baresip::{Account, Baresip, Event, Options};
use ferrovox_testkit::ports::{free_tcp_port, free_udp_tcp_port, loopback};
use ferrovox_testkit::process::ChildGuard;
use md5::Md5;
use sha2::{Digest, Sha256};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

const BINARY: &str = env!("CARGO_BIN_EXE_ferrovox");
const REALM: &str = "ferrovox";
const ALICE_PASSWORD: &str = "alice-secret";
const BOB_PASSWORD: &str = "bob-secret";
const WAIT: Duration = Duration::from_secs(20);

/// A running `ferrovox proxy` with alice and bob as users, on a free loopback port.
struct Proxy {
    child: ChildGuard,
    sip: SocketAddr,
    _dir: tempfile::TempDir,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Proxy {
    async fn start(backend: &str) -> Self {
        Self::start_with(backend, false).await
    }

    /// `sha256`: challenge with SHA-256 (first) and MD5, not MD5 alone.
    async fn start_with(backend: &str, sha256: bool) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let sip = loopback(free_udp_tcp_port());
        let config = dir.path().join("ferrovox.toml");
        std::fs::write(
            &config,
            format!(
                "[sip]\n\
                 listen = \"udp:{sip},tcp:{sip}\"\n\
                 backend = \"{backend}\"\n\
                 threads = 2\n\
                 realm = \"{REALM}\"\n\
                 require_auth = true\n\
                 digest_sha256 = {sha256}\n\
                 \n\
                 [[sip.users]]\n\
                 username = \"alice\"\n\
                 password = \"{ALICE_PASSWORD}\"\n\
                 \n\
                 [[sip.users]]\n\
                 username = \"bob\"\n\
                 password = \"{BOB_PASSWORD}\"\n"
            ),
        )
        .expect("write config");
        let stdout = dir.path().join("proxy.stdout");
        let stderr = dir.path().join("proxy.stderr");
        let mut command = Command::new(BINARY);
        command
            .arg("proxy")
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path())
            .args([
                "--log-level",
                "info,ferrovox_node=debug,ferrovox_proxy=debug",
            ])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"));
        for (name, _) in std::env::vars() {
            if name.starts_with("FERROVOX_") {
                command.env_remove(name);
            }
        }
        let child = ChildGuard::new("ferrovox proxy", command.spawn().expect("spawn ferrovox"));
        let proxy = Self {
            child,
            sip,
            _dir: dir,
            stdout,
            stderr,
        };
        let up = ferrovox_testkit::wait::until("the proxy's banner", WAIT, || {
            let text = std::fs::read_to_string(&proxy.stdout).unwrap_or_default();
            async move { text.contains("Press Ctrl-C to stop.").then_some(()) }
        })
        .await;
        if let Err(e) = up {
            panic!("ferrovox proxy did not come up: {e}\n{}", proxy.logs());
        }
        proxy
    }

    fn logs(&self) -> String {
        format!(
            "proxy stdout:\n{}\nproxy stderr:\n{}",
            std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        )
    }

    /// An account of `user` on 127.0.0.1 registering through `outbound`.
    fn account(user: &str, password: &str, outbound: SocketAddr) -> Account {
        Account {
            user: user.into(),
            domain: "127.0.0.1".into(),
            password: Some(password.into()),
            outbound: Some(outbound),
            regint: 600,
        }
    }

    /// A phone registering and calling through the proxy.
    async fn phone(&self, user: &str, password: &str) -> Baresip {
        self.phone_via(user, password, self.sip).await
    }

    /// A phone sending straight to `outbound`.
    async fn phone_via(&self, user: &str, password: &str, outbound: SocketAddr) -> Baresip {
        let sip = loopback(free_udp_tcp_port());
        self.phone_at(sip, user, password, outbound).await
    }

    async fn phone_at(
        &self,
        sip: SocketAddr,
        user: &str,
        password: &str,
        outbound: SocketAddr,
    ) -> Baresip {
        // baresip binds TLS on the SIP port + 1.
        let control = loop {
            let port = free_tcp_port();
            if port != sip.port() + 1 {
                break loopback(port);
            }
        };
        Baresip::start_with(
            sip,
            control,
            &[Self::account(user, password, outbound)],
            Options {
                auto_answer: true,
                sip_trace: true,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("baresip {user} starts: {e}"))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
        let _ = self.child.signal("INT");
        let _ = self.child.wait_timeout(Duration::from_secs(5));
    }
}

// ---- 1. registration with the right password ----

async fn phones_register(backend: &str) {
    let proxy = Proxy::start(backend).await;
    let alice = proxy.phone("alice", ALICE_PASSWORD).await;
    let bob = proxy.phone("bob", BOB_PASSWORD).await;
    for (phone, user) in [(&alice, "alice"), (&bob, "bob")] {
        phone
            .wait_registered(user, WAIT)
            .await
            .unwrap_or_else(|e| panic!("{user}: {e}\n{}", proxy.logs()));
        let info = phone.reginfo().unwrap();
        assert!(
            info.contains(&format!("sip:{user}@127.0.0.1")),
            "reginfo names {user}'s account: {info}"
        );
        // Challenged first, answered with credentials, then accepted with the binding.
        let log = phone.log();
        assert!(
            log.contains("SIP/2.0 401 Unauthorized"),
            "{user} was challenged:\n{log}"
        );
        assert!(
            log.contains("Authorization: Digest"),
            "{user} answered with digest credentials:\n{log}"
        );
        assert!(
            log.contains("SIP/2.0 200 OK") && log.contains("200 OK () [1 binding]"),
            "{user}'s REGISTER got a 200 with its binding:\n{log}"
        );
    }
}

#[tokio::test]
async fn phones_with_the_right_password_register() {
    phones_register("io-uring").await;
}

#[tokio::test]
async fn phones_with_the_right_password_register_on_the_portable_backend() {
    phones_register("portable").await;
}

// ---- 2. a wrong password ----

#[tokio::test]
async fn a_phone_with_a_wrong_password_is_not_registered() {
    let proxy = Proxy::start("io-uring").await;
    let mallory = proxy.phone("alice", "not-alices-password").await;
    // baresip answers the challenge once; the second 401 ends its attempt.
    let info = mallory
        .wait_command("reginfo", "", WAIT, |info| {
            info.lines()
                .any(|l| l.contains("sip:alice@127.0.0.1") && l.contains("ERR"))
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", proxy.logs()));
    assert!(
        !info.split_whitespace().any(|w| w == "OK"),
        "not registered: {info}"
    );
    let log = mallory.log();
    assert!(
        log.contains("Authorization: Digest"),
        "the phone did answer the challenge (with the wrong password):\n{log}"
    );
    assert!(
        log.matches("SIP/2.0 401 Unauthorized").count() >= 2,
        "its credentials were refused with another 401:\n{log}"
    );
    assert!(!log.contains("SIP/2.0 200 OK"), "never accepted:\n{log}");
}

// ---- 3. throttling, from a raw socket ----

/// A REGISTER client on a plain UDP socket.
struct RawClient {
    socket: UdpSocket,
    proxy: SocketAddr,
    cseq: u32,
    call_id: String,
}

/// A received response: the status line and the header lines as written.
#[derive(Debug, Clone)]
struct Response {
    status_line: String,
    headers: Vec<(String, String)>,
    raw: String,
}

impl Response {
    fn parse(raw: &str) -> Self {
        let head = raw.split("\r\n\r\n").next().unwrap_or("");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("").to_owned();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        Self {
            status_line,
            headers,
            raw: raw.to_owned(),
        }
    }

    fn code(&self) -> u16 {
        self.status_line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The challenges with their nonce values blanked.
    fn challenges_without_nonce(&self) -> Vec<String> {
        self.all("WWW-Authenticate")
            .iter()
            .map(|c| {
                let nonce = param(c, "nonce").unwrap_or_default();
                c.replace(&nonce, "<nonce>")
            })
            .collect()
    }
}

/// A parameter of a Digest challenge (`name=value` or `name="value"`).
fn param(challenge: &str, name: &str) -> Option<String> {
    let rest = challenge.strip_prefix("Digest")?;
    rest.split(',').find_map(|p| {
        let (n, v) = p.trim().split_once('=')?;
        (n.trim().eq_ignore_ascii_case(name)).then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn hex_digest(algorithm: &str, text: &str) -> String {
    match algorithm {
        "MD5" => hex::encode(Md5::digest(text.as_bytes())),
        "SHA-256" => hex::encode(Sha256::digest(text.as_bytes())),
        other => panic!("unexpected algorithm {other}"),
    }
}

impl RawClient {
    fn new(proxy: SocketAddr) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        Self {
            socket,
            proxy,
            cseq: 0,
            call_id: format!("throttle-{}", uuid::Uuid::new_v4()),
        }
    }

    /// Sends a REGISTER for `user` (with `authorization` if given) and returns the final
    /// response (provisional ones are skipped).
    fn register(&mut self, user: &str, authorization: Option<String>) -> Response {
        self.cseq += 1;
        let local = self.socket.local_addr().unwrap();
        let branch = format!(
            "z9hG4bK-raw-{}-{}",
            self.cseq,
            uuid::Uuid::new_v4().simple()
        );
        let auth = authorization
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{user}@127.0.0.1>;tag=raw{cseq}\r\n\
             To: <sip:{user}@127.0.0.1>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} REGISTER\r\n\
             Contact: <sip:{user}@{local}>\r\n\
             Expires: 600\r\n\
             {auth}\
             Content-Length: 0\r\n\r\n",
            cseq = self.cseq,
            call_id = self.call_id,
        );
        self.socket
            .send_to(request.as_bytes(), self.proxy)
            .expect("send REGISTER");
        let mut buf = vec![0u8; 65_536];
        loop {
            let (n, _) = self.socket.recv_from(&mut buf).unwrap_or_else(|e| {
                panic!("no response to REGISTER #{} ({e}):\n{request}", self.cseq)
            });
            let response = Response::parse(&String::from_utf8_lossy(&buf[..n]));
            if response.code() >= 200 {
                return response;
            }
        }
    }

    /// Credentials answering `challenge` for `user` with `password` (qop=auth, nc=1).
    fn credentials(challenge: &str, user: &str, password: &str) -> String {
        let realm = param(challenge, "realm").expect("realm");
        let nonce = param(challenge, "nonce").expect("nonce");
        let opaque = param(challenge, "opaque").expect("opaque");
        let algorithm = param(challenge, "algorithm").unwrap_or_else(|| "MD5".into());
        let uri = "sip:127.0.0.1";
        let cnonce = "0a4f113b";
        let nc = "00000001";
        let ha1 = hex_digest(&algorithm, &format!("{user}:{realm}:{password}"));
        let ha2 = hex_digest(&algorithm, &format!("REGISTER:{uri}"));
        let response = hex_digest(
            &algorithm,
            &format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"),
        );
        format!(
            "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
             response=\"{response}\", algorithm={algorithm}, cnonce=\"{cnonce}\", \
             opaque=\"{opaque}\", qop=auth, nc={nc}"
        )
    }
}

/// The challenges pick: SHA-256 first, MD5 second (RFC 8760); `index` chooses.
fn challenge(response: &Response, index: usize) -> String {
    let all = response.all("WWW-Authenticate");
    assert_eq!(
        all.len(),
        2,
        "one challenge per algorithm: {}",
        response.raw
    );
    all[index].clone()
}

#[tokio::test]
async fn failed_authentications_block_the_source_and_unknown_users_look_like_wrong_passwords() {
    let proxy = Proxy::start_with("io-uring", true).await;
    let mut client = RawClient::new(proxy.sip);

    let first = client.register("alice", None);
    assert_eq!(first.code(), 401, "unauthenticated: {}", first.raw);
    assert_eq!(first.status_line, "SIP/2.0 401 Unauthorized");
    assert!(param(&challenge(&first, 0), "algorithm").as_deref() == Some("SHA-256"));
    assert!(param(&challenge(&first, 1), "algorithm").as_deref() == Some("MD5"));

    // Failure 1: a user that does not exist.
    let unknown = client.register(
        "nobody",
        Some(RawClient::credentials(
            &challenge(&first, 1),
            "nobody",
            "guess",
        )),
    );
    assert_eq!(unknown.code(), 401, "unknown user: {}", unknown.raw);

    // Failure 2: alice with a wrong password: the very same answer.
    let wrong = client.register(
        "alice",
        Some(RawClient::credentials(
            &challenge(&unknown, 1),
            "alice",
            "guess",
        )),
    );
    assert_eq!(wrong.code(), 401, "wrong password: {}", wrong.raw);
    assert_eq!(wrong.status_line, unknown.status_line);
    assert_eq!(
        wrong.challenges_without_nonce(),
        unknown.challenges_without_nonce(),
        "identical challenges apart from the nonce"
    );
    assert_eq!(
        wrong.challenges_without_nonce(),
        first.challenges_without_nonce()
    );
    let names =
        |r: &Response| -> Vec<String> { r.headers.iter().map(|(n, _)| n.clone()).collect() };
    assert_eq!(names(&wrong), names(&unknown), "the same header lines");
    assert_ne!(
        param(&challenge(&wrong, 0), "nonce"),
        param(&challenge(&unknown, 0), "nonce"),
        "every challenge has a fresh nonce"
    );

    // Failures 3 and 4 (SHA-256 this time) are still challenged.
    let mut last = wrong;
    for guess in ["guess3", "guess4"] {
        last = client.register(
            "alice",
            Some(RawClient::credentials(&challenge(&last, 0), "alice", guess)),
        );
        assert_eq!(last.code(), 401, "failure {guess}: {}", last.raw);
        assert_eq!(
            last.challenges_without_nonce(),
            unknown.challenges_without_nonce()
        );
    }

    // Failure 5 blocks the source: the request that reaches the limit is already refused.
    let fifth = client.register(
        "alice",
        Some(RawClient::credentials(
            &challenge(&last, 1),
            "alice",
            "guess5",
        )),
    );
    assert_eq!(
        fifth.status_line, "SIP/2.0 403 Forbidden",
        "the fifth failure within 60 s blocks: {}",
        fifth.raw
    );
    assert!(
        fifth.all("WWW-Authenticate").is_empty(),
        "no challenge when blocked"
    );

    // Blocked: even the right password is refused, and so is a bare REGISTER.
    let right = client.register(
        "alice",
        Some(RawClient::credentials(
            &challenge(&last, 1),
            "alice",
            ALICE_PASSWORD,
        )),
    );
    assert_eq!(
        right.status_line, "SIP/2.0 403 Forbidden",
        "the right password from a blocked source: {}",
        right.raw
    );
    let bare = client.register("alice", None);
    assert_eq!(bare.status_line, "SIP/2.0 403 Forbidden", "{}", bare.raw);

    // The block is per source IP: another socket on 127.0.0.1 is the same source.
    let mut neighbour = RawClient::new(proxy.sip);
    assert_eq!(neighbour.register("bob", None).code(), 403);
}

// ---- 4. a call through the proxy ----

fn call_event(kind: &'static str) -> impl Fn(&Event) -> bool {
    move |e| e.kind == kind
}

#[tokio::test]
async fn alice_calls_bob_through_the_proxy() {
    let proxy = Proxy::start("io-uring").await;
    let alice = proxy.phone("alice", ALICE_PASSWORD).await;
    let bob = proxy.phone("bob", BOB_PASSWORD).await;
    for (phone, user) in [(&alice, "alice"), (&bob, "bob")] {
        phone
            .wait_registered(user, WAIT)
            .await
            .unwrap_or_else(|e| panic!("{user}: {e}\n{}", proxy.logs()));
    }

    alice
        .command("dial", "sip:bob@127.0.0.1")
        .unwrap_or_else(|e| panic!("dial: {e}"));
    let established = alice
        .wait_event(
            "alice's call established",
            WAIT,
            call_event("CALL_ESTABLISHED"),
        )
        .await
        .unwrap_or_else(|e| panic!("alice: {e}\nbob's log:\n{}\n{}", bob.log(), proxy.logs()));
    assert!(
        established.peer.contains("bob"),
        "alice talks to bob: {established:?}"
    );
    let incoming = bob
        .wait_event(
            "bob's call established",
            WAIT,
            call_event("CALL_ESTABLISHED"),
        )
        .await
        .unwrap_or_else(|e| panic!("bob: {e}\n{}", proxy.logs()));
    assert!(
        incoming.peer.contains("alice"),
        "bob talks to alice: {incoming:?}"
    );
    // The proxy forked the INVITE to bob's registered contact (Request-URI rewritten to it).
    let bob_log = bob.log();
    assert!(
        bob_log.contains("INVITE sip:bob-"),
        "bob received the INVITE at his contact:\n{bob_log}"
    );
    // The proxy asked alice to authenticate, and she did.
    let alice_log = alice.log();
    assert!(
        alice_log.contains("407 Proxy Authentication Required"),
        "alice was challenged with 407:\n{alice_log}"
    );
    assert!(
        alice_log.contains("Proxy-Authorization: Digest"),
        "alice answered with credentials:\n{alice_log}"
    );
    // Both phones show the call.
    for (phone, user) in [(&alice, "alice"), (&bob, "bob")] {
        let calls = phone
            .wait_command("listcalls", "", WAIT, |l| !no_active_calls(l))
            .await
            .unwrap_or_else(|e| panic!("{user}: {e}"));
        assert!(
            calls.contains("ESTABLISHED"),
            "{user} lists an established call: {calls}"
        );
    }

    alice.command("hangup", "").expect("hangup");
    for (phone, user) in [(&alice, "alice"), (&bob, "bob")] {
        phone
            .wait_event(
                &format!("{user}'s call closed"),
                WAIT,
                call_event("CALL_CLOSED"),
            )
            .await
            .unwrap_or_else(|e| panic!("{user}: {e}\n{}", proxy.logs()));
        phone
            .wait_command("listcalls", "", WAIT, no_active_calls)
            .await
            .unwrap_or_else(|e| panic!("{user}: {e}"));
    }
    // Bob's call ended because alice hung up (a BYE relayed by the proxy), not by a timeout.
    let closed = bob
        .events()
        .into_iter()
        .find(|e| e.kind == "CALL_CLOSED")
        .unwrap();
    assert!(
        closed.param.contains("Connection reset by peer") || closed.param.contains("BYE"),
        "bob's call closed by alice's BYE: {closed:?}"
    );
}

/// baresip's `listcalls` without calls: "no active calls" or "Active calls (0)" by version.
fn no_active_calls(listing: &str) -> bool {
    listing.contains("no active calls") || listing.contains("Active calls (0)")
}

/// An unauthenticated INVITE carrying a pre-loaded Route to some other address must still be
/// challenged: otherwise anyone can use the proxy as an open relay towards any address
/// (e.g. a carrier gateway).
#[tokio::test]
async fn a_preloaded_route_does_not_bypass_authentication() {
    let proxy = Proxy::start("io-uring").await;
    let caller = UdpSocket::bind("127.0.0.1:0").expect("bind");
    caller
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let target = UdpSocket::bind("127.0.0.1:0").expect("bind");
    target
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let local = caller.local_addr().unwrap();
    let elsewhere = target.local_addr().unwrap();
    let invite = format!(
        "INVITE sip:bob@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-preloaded-1;rport\r\n\
         Route: <sip:{elsewhere};lr>\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:mallory@127.0.0.1>;tag=m1\r\n\
         To: <sip:bob@127.0.0.1>\r\n\
         Call-ID: preloaded-route-{}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:mallory@{local}>\r\n\
         Content-Length: 0\r\n\r\n",
        uuid::Uuid::new_v4()
    );
    caller.send_to(invite.as_bytes(), proxy.sip).unwrap();
    let mut buf = vec![0u8; 65_536];
    let final_response = loop {
        let (n, _) = caller
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("no final response to the INVITE ({e})"));
        let response = Response::parse(&String::from_utf8_lossy(&buf[..n]));
        if response.code() >= 200 {
            break response;
        }
    };
    let leaked = target
        .recv_from(&mut buf)
        .ok()
        .map(|(n, _)| String::from_utf8_lossy(&buf[..n]).into_owned());
    assert_eq!(
        leaked, None,
        "the unauthenticated INVITE was relayed to the Route's address"
    );
    assert_eq!(
        final_response.status_line, "SIP/2.0 407 Proxy Authentication Required",
        "{}",
        final_response.raw
    );
}
