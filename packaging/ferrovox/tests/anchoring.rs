//! Issue 4 item 8: `ferrovox proxy --media-relay` anchors every call's media on an ng relay by
//! itself, as Kamailio's `rtpengine_manage()` does — here on a `ferrovox media` node.
//!
//! SIPp does the signalling (benches/testkit/scenarios/u{a,as}c_anchor.xml: INVITE, re-INVITE,
//! BYE; uac_expect_486.xml/uas_busy.xml: a busy callee); the SDP of each side names a UDP
//! socket the test owns, so the test sends and receives the RTP itself. The proxy's ng traffic
//! goes through a tap in the test that records each command and reply, so the exact exchange
//! is asserted and shown when something fails.
//!
//! The relay anchors media on 127.0.0.2 while the SIPp peers advertise 127.0.0.1, so the
//! relay's address in an SDP cannot be mistaken for an endpoint's.

mod common;

use common::{Appliance, BINARY};
use ferrovox_node::ng::bencode::{self, Value};
use ferrovox_testkit::ports::{free_udp_port, free_udp_tcp_port, loopback};
use ferrovox_testkit::process::ChildGuard;
use ferrovox_testkit::sipp::{Scenario, Sipp, harness_scenario};
use serde_json::{Value as Json, json};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// Where the relay anchors media: a loopback address no SIPp peer uses.
const INTERFACE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// The SIPp peers' (and the test's RTP sockets') address.
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const RTP_RANGE_LEN: u16 = 40;
/// RTP packets sent each way.
const PACKETS: u16 = 50;
const WAIT: Duration = Duration::from_secs(20);
static NONCE: AtomicU64 = AtomicU64::new(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_anchors_invite_reinvite_and_bye_on_the_relay_and_frees_failed_calls() {
    let dir = tempfile::tempdir().unwrap();
    let (rtp_first, rtp_last) = free_port_range(INTERFACE, RTP_RANGE_LEN);
    let rtp_range = rtp_first..=rtp_last;
    let node = Appliance::start(
        "media",
        dir.path(),
        &[
            "--interface",
            &INTERFACE.to_string(),
            "--rtp-ports",
            &format!("{rtp_first}-{rtp_last}"),
            "--sip",
            "off",
        ],
        &[],
    )
    .await;
    let tap = NgTap::start(node.ng).await;

    let caller_rtp = UdpSocket::bind((PEER, 0)).await.unwrap();
    let callee_rtp = UdpSocket::bind((PEER, 0)).await.unwrap();
    let caller_addr = caller_rtp.local_addr().unwrap();
    let callee_addr = callee_rtp.local_addr().unwrap();

    let uas_sip = loopback(free_udp_tcp_port());
    let uas_trace = dir.path().join("uas_messages.log");
    let uas = Sipp::new(Scenario::File(harness_scenario("uas_anchor.xml")), uas_sip)
        .arg("-mp")
        .arg(sipp_media_port())
        .arg("-set")
        .arg("callee_rtp")
        .arg(callee_addr.port().to_string())
        .arg("-trace_msg")
        .arg("-message_file")
        .arg(uas_trace.display().to_string())
        .spawn()
        .expect("start the SIPp UAS");
    let proxy = ProxyProcess::start(&[
        "--next-hop",
        &format!("sip:{uas_sip}"),
        "--media-relay",
        &format!("udp:{}", tap.addr),
    ]);
    let uac_trace = dir.path().join("uac_messages.log");
    let uac_sip = loopback(free_udp_tcp_port());
    let uac = Sipp::new(Scenario::File(harness_scenario("uac_anchor.xml")), uac_sip)
        .arg("-mp")
        .arg(sipp_media_port())
        .remote(proxy.addr)
        .calls(1)
        .arg("-set")
        .arg("caller_rtp")
        .arg(caller_addr.port().to_string())
        .arg("-trace_msg")
        .arg("-message_file")
        .arg(uac_trace.display().to_string())
        .spawn()
        .expect("start the SIPp UAC");
    let diagnostics = Diagnostics {
        proxy: &proxy,
        node: &node,
        tap: &tap,
        uac: uac.work_dir().to_owned(),
        uas: uas.work_dir().to_owned(),
    };

    // (1) The INVITE the callee got and the 200 OK the caller got name the relay.
    let ok = wait_for_message(&uac_trace, "the caller's 200 OK", &diagnostics, |m| {
        m.received && m.first_line().starts_with("SIP/2.0 200") && m.cseq() == "1 INVITE"
    })
    .await;
    let invite = wait_for_message(&uas_trace, "the callee's INVITE", &diagnostics, |m| {
        m.received && m.first_line().starts_with("INVITE ") && m.cseq() == "1 INVITE"
    })
    .await;
    let relay_for_caller = ok.audio_endpoint();
    let relay_for_callee = invite.audio_endpoint();
    for (what, relay, message) in [
        ("the 200 OK to the caller", relay_for_caller, &ok),
        ("the INVITE to the callee", relay_for_callee, &invite),
    ] {
        assert_eq!(
            relay.ip(),
            INTERFACE,
            "{what} does not name the relay:\n{}",
            message.text
        );
        assert!(
            rtp_range.contains(&relay.port()),
            "{what} names port {}, outside the relay's range {rtp_first}-{rtp_last}",
            relay.port()
        );
        // replace origin and session-connection, and a Content-Length that fits the SDP.
        let origin = message.sdp_lines("o=");
        assert!(
            origin.len() == 1 && origin[0].ends_with(&format!(" IN IP4 {INTERFACE}")),
            "{what}: the o= line names the relay:\n{}",
            message.text
        );
        assert_eq!(
            message
                .header("Content-Length")
                .and_then(|l| l.parse::<usize>().ok()),
            Some(message.body_len()),
            "{what}: Content-Length matches the new SDP:\n{}",
            message.text
        );
    }
    assert_ne!(
        relay_for_caller, relay_for_callee,
        "one relay port per side"
    );
    let call_id = ok.header("Call-ID").expect("Call-ID").to_owned();
    let from_tag = tag_param(ok.header("From").unwrap());
    let to_tag = tag_param(ok.header("To").unwrap());

    // (2) RTP both ways through the relay, seen by the relay's own counters.
    let to_callee = relay_rtp(
        &caller_rtp,
        relay_for_caller,
        &callee_rtp,
        relay_for_callee,
        0x1111_1111,
    )
    .await;
    let to_caller = relay_rtp(
        &callee_rtp,
        relay_for_callee,
        &caller_rtp,
        relay_for_caller,
        0x2222_2222,
    )
    .await;
    assert_eq!(
        (to_callee, to_caller),
        (Ok(PACKETS), Ok(PACKETS)),
        "RTP caller->callee, callee->caller through the relay\n{}",
        diagnostics.render()
    );
    let query = ng(node.ng, json!({"command": "query", "call-id": call_id})).await;
    assert_eq!(query["result"], "ok", "ng query: {query}");
    for (tag, local, endpoint) in [
        (&from_tag, relay_for_caller, caller_addr),
        (&to_tag, relay_for_callee, callee_addr),
    ] {
        let stream = &query["tags"][tag]["medias"][0]["streams"][0];
        assert_eq!(
            (
                stream["local port"].as_u64(),
                stream["endpoint"]["port"].as_u64(),
                stream["stats"]["packets"].as_u64(),
            ),
            (
                Some(u64::from(local.port())),
                Some(u64::from(endpoint.port())),
                Some(u64::from(PACKETS)),
            ),
            "ng query, tag {tag}: {query}"
        );
    }

    // (3) The re-INVITE keeps the relay's ports on both sides.
    cue(uac_sip, &ok).await;
    let reinvite_ok = wait_for_message(
        &uac_trace,
        "the caller's 200 to its re-INVITE",
        &diagnostics,
        |m| m.received && m.first_line().starts_with("SIP/2.0 200") && m.cseq() == "2 INVITE",
    )
    .await;
    let reinvite = wait_for_message(&uas_trace, "the callee's re-INVITE", &diagnostics, |m| {
        m.received && m.first_line().starts_with("INVITE ") && m.cseq() == "2 INVITE"
    })
    .await;
    assert_eq!(
        (reinvite_ok.audio_endpoint(), reinvite.audio_endpoint()),
        (relay_for_caller, relay_for_callee),
        "the re-INVITE and its answer keep the relay's ports\n{}",
        tap.render()
    );

    // (4) The BYE deletes the call from the relay.
    cue(uac_sip, &ok).await;
    let outcome = uac
        .wait(WAIT)
        .unwrap_or_else(|e| panic!("the UAC did not finish: {e}\n{}", diagnostics.render()));
    assert_eq!(
        (
            outcome.stats.successful_calls(),
            outcome.stats.failed_calls()
        ),
        (1, 0),
        "UAC {:?}: {}\n{}",
        outcome.status,
        outcome.errors,
        diagnostics.render()
    );
    assert!(
        !listed(node.ng).await.contains(&call_id),
        "ng list after the BYE still holds the call\n{}",
        tap.render()
    );
    assert_eq!(
        tap.commands_for(&call_id),
        [
            ("offer", from_tag.clone()),
            ("answer", from_tag.clone()),
            ("offer", from_tag.clone()),
            ("answer", from_tag.clone()),
            ("delete", from_tag.clone()),
        ],
        "ng commands (and from-tags) for the call:\n{}",
        tap.render()
    );
    tap.assert_all_ok();
    let offer = tap.first(&call_id, "offer");
    assert_eq!(
        (&offer["ICE"], &offer["replace"]),
        (&json!("remove"), &json!(["origin", "session-connection"])),
        "the offer's flags: {offer}"
    );
    uas.stop().expect("UAS stops");

    // (5) A busy callee: the offer made for the INVITE is deleted when the 486 goes back.
    let busy_uas_sip = loopback(free_udp_tcp_port());
    let busy_uas = Sipp::new(
        Scenario::File(harness_scenario("uas_busy.xml")),
        busy_uas_sip,
    )
    .arg("-mp")
    .arg(sipp_media_port())
    .spawn()
    .expect("start the busy UAS");
    let busy_proxy = ProxyProcess::start(&[
        "--next-hop",
        &format!("sip:{busy_uas_sip}"),
        "--media-relay",
        &format!("udp:{}", tap.addr),
    ]);
    let busy_uac_trace = dir.path().join("busy_uac_messages.log");
    let busy = Sipp::new(
        Scenario::File(harness_scenario("uac_expect_486.xml")),
        loopback(free_udp_tcp_port()),
    )
    .arg("-mp")
    .arg(sipp_media_port())
    .remote(busy_proxy.addr)
    .calls(1)
    .arg("-trace_msg")
    .arg("-message_file")
    .arg(busy_uac_trace.display().to_string())
    .spawn()
    .expect("start the busy UAC")
    .wait(WAIT)
    .expect("the busy call finishes");
    assert_eq!(
        busy.stats.successful_calls(),
        1,
        "the caller got its 486: {}\n{}",
        busy.errors,
        busy_proxy.stderr()
    );
    let busy_call_id = traced_messages(&busy_uac_trace)
        .iter()
        .find_map(|m| m.header("Call-ID").map(str::to_owned))
        .expect("the busy call's Call-ID");
    let commands: Vec<&str> = tap
        .commands_for(&busy_call_id)
        .into_iter()
        .map(|(command, _)| command)
        .collect();
    assert_eq!(commands, ["offer", "delete"], "{}", tap.render());
    tap.assert_all_ok();
    assert!(
        listed(node.ng).await.is_empty(),
        "no call left on the relay\n{}",
        tap.render()
    );
    let _ = busy_uas.stop();
    eprintln!("ng exchanges:\n{}", tap.render());

    busy_proxy.stop();
    proxy.stop();
    assert!(node.interrupt().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_or_silent_relay_refuses_the_invite_with_503_quickly() {
    // Nobody listens on `closed`; `silent` receives and never answers.
    let closed = loopback(free_udp_port());
    let silent = UdpSocket::bind((PEER, 0)).await.unwrap();
    let callee = UdpSocket::bind((PEER, 0)).await.unwrap();
    let callee_addr = callee.local_addr().unwrap();
    for (relay, extra, limit) in [
        (closed, &[][..], Duration::from_millis(500)),
        (
            silent.local_addr().unwrap(),
            &["media_relay_timeout_ms = 200", "media_relay_retries = 1"][..],
            Duration::from_millis(1500),
        ),
    ] {
        let proxy = ProxyProcess::start_with(
            &extra.join("\n"),
            &[
                "--next-hop",
                &format!("sip:{callee_addr}"),
                "--media-relay",
                &format!("udp:{relay}"),
            ],
        );
        let caller = UdpSocket::bind((PEER, 0)).await.unwrap();
        let started = Instant::now();
        caller
            .send_to(
                invite_with_sdp(caller.local_addr().unwrap()).as_bytes(),
                proxy.addr,
            )
            .await
            .unwrap();
        let mut final_status = None;
        let mut buf = vec![0u8; 65536];
        while final_status.is_none() {
            let received = tokio::time::timeout(Duration::from_secs(10), caller.recv(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("no final response within 10 s\n{}", proxy.stderr()))
                .unwrap();
            let text = String::from_utf8_lossy(&buf[..received]).into_owned();
            let status: u16 = text
                .get(8..11)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("not a response: {text}"));
            if status >= 200 {
                final_status = Some((status, started.elapsed(), text));
            }
        }
        let (status, took, text) = final_status.unwrap();
        assert_eq!(status, 503, "relay {relay}: {text}\n{}", proxy.stderr());
        eprintln!("relay {relay}: 503 after {took:?}");
        assert!(
            took < limit,
            "relay {relay}: the 503 took {took:?} (limit {limit:?})"
        );
        let mut probe = [0u8; 2048];
        assert!(
            tokio::time::timeout(Duration::from_millis(200), callee.recv(&mut probe))
                .await
                .is_err(),
            "the INVITE must not reach the callee with unanchored media"
        );
        proxy.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_node_with_media_relay_local_anchors_on_its_own_relay() {
    let dir = tempfile::tempdir().unwrap();
    let (rtp_first, rtp_last) = free_port_range(INTERFACE, RTP_RANGE_LEN);
    let callee = UdpSocket::bind((PEER, 0)).await.unwrap();
    let callee_addr = callee.local_addr().unwrap();
    let next_hop = format!("sip:{callee_addr}");
    let node = Appliance::start(
        "media",
        dir.path(),
        &[
            "--interface",
            &INTERFACE.to_string(),
            "--rtp-ports",
            &format!("{rtp_first}-{rtp_last}"),
        ],
        &[
            ("FERROVOX_SIP_MEDIA_RELAY", "local"),
            ("FERROVOX_SIP_NEXT_HOP", &next_hop),
        ],
    )
    .await;
    let caller = UdpSocket::bind((PEER, 0)).await.unwrap();
    let invite = invite_with_sdp(caller.local_addr().unwrap());
    caller.send_to(invite.as_bytes(), node.sip).await.unwrap();

    // The callee's INVITE names the node's own relay, which holds the call.
    let mut buf = vec![0u8; 65536];
    let n = tokio::time::timeout(WAIT, callee.recv(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("no INVITE at the callee\n{}", node.stderr()))
        .unwrap();
    let forwarded = TracedMessage {
        received: true,
        text: String::from_utf8_lossy(&buf[..n]).replace("\r\n", "\n"),
    };
    assert!(
        forwarded.first_line().starts_with("INVITE "),
        "{}",
        forwarded.text
    );
    let relay = forwarded.audio_endpoint();
    assert_eq!(relay.ip(), INTERFACE, "{}", forwarded.text);
    assert!(
        (rtp_first..=rtp_last).contains(&relay.port()),
        "{}",
        forwarded.text
    );
    let call_id = forwarded.header("Call-ID").unwrap().to_owned();
    assert!(listed(node.ng).await.contains(&call_id));

    // The callee is busy: the 486 reaches the caller and the relay forgets the call.
    // Responses go where the proxy's Via says: each core has its own port.
    let proxy_via: SocketAddr = forwarded
        .header("Via")
        .and_then(|v| v.split_whitespace().nth(1))
        .and_then(|sent_by| sent_by.split(';').next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no proxy Via in\n{}", forwarded.text));
    let busy = busy_response(&forwarded);
    callee.send_to(busy.as_bytes(), proxy_via).await.unwrap();
    let got_486 = ferrovox_testkit::wait::until("the 486 at the caller", WAIT, || {
        let caller = &caller;
        async move {
            let mut buf = vec![0u8; 65536];
            let n = tokio::time::timeout(Duration::from_millis(200), caller.recv(&mut buf))
                .await
                .ok()?
                .ok()?;
            buf[..n].starts_with(b"SIP/2.0 486").then_some(())
        }
    })
    .await;
    got_486.unwrap_or_else(|e| panic!("{e}\n{}", node.stderr()));
    assert!(
        !listed(node.ng).await.contains(&call_id),
        "the relay still holds the failed call\n{}",
        node.stderr()
    );
    assert!(node.interrupt().success());
}

/// A 486 to a request as the callee got it: its Vias, From, To with a tag, Call-ID, CSeq.
fn busy_response(request: &TracedMessage) -> String {
    let mut response = String::from("SIP/2.0 486 Busy Here\r\n");
    for line in request.text.lines().take_while(|l| !l.trim().is_empty()) {
        let name = line
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match name.as_str() {
            "via" | "from" | "call-id" | "cseq" => {
                response.push_str(line);
                response.push_str("\r\n");
            }
            "to" => {
                response.push_str(line);
                response.push_str(";tag=busy\r\n");
            }
            _ => {}
        }
    }
    response.push_str("Content-Length: 0\r\n\r\n");
    response
}

fn invite_with_sdp(caller: SocketAddr) -> String {
    let nonce = NONCE.fetch_add(1, Ordering::Relaxed);
    let sdp = format!(
        "v=0\r\no=caller 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n",
        ip = caller.ip()
    );
    format!(
        "INVITE sip:callee@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {caller};branch=z9hG4bK-dead{nonce};rport\r\n\
         From: <sip:caller@{caller}>;tag=dead{nonce}\r\n\
         To: <sip:callee@127.0.0.1>\r\n\
         Call-ID: dead-relay-{nonce}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@{caller}>\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// `ferrovox proxy` on a free port with `--backend portable` and `args`.
struct ProxyProcess {
    child: ChildGuard,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl ProxyProcess {
    fn start(args: &[&str]) -> Self {
        Self::start_with("", args)
    }

    /// `sip` is added to the [sip] table of the configuration file.
    fn start_with(sip: &str, args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let addr = loopback(free_udp_tcp_port());
        let config_path = dir.path().join("ferrovox.toml");
        std::fs::write(
            &config_path,
            format!("[sip]\nlisten = \"udp:{addr}\"\n{sip}\n"),
        )
        .unwrap();
        let mut command = Command::new(BINARY);
        command
            .arg("proxy")
            .arg("--config")
            .arg(&config_path)
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--threads", "1"])
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.path().join("stdout")).unwrap())
            .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap());
        for (name, _) in std::env::vars() {
            if name.starts_with("FERROVOX_") {
                command.env_remove(name);
            }
        }
        let child = ChildGuard::new("ferrovox proxy", command.spawn().expect("spawn ferrovox"));
        let proxy = Self { child, addr, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !proxy.stdout().contains("Press Ctrl-C") {
            assert!(
                Instant::now() < deadline,
                "ferrovox proxy did not start\nstdout:\n{}\nstderr:\n{}",
                proxy.stdout(),
                proxy.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            proxy.stdout().contains("anchored on the ng relay"),
            "the banner names the relay:\n{}",
            proxy.stdout()
        );
        proxy
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdout")).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    fn stop(mut self) {
        self.child.signal("INT").expect("SIGINT");
        let status = self
            .child
            .wait_timeout(Duration::from_secs(10))
            .expect("wait");
        match status {
            Some(status) => assert!(status.success(), "{status:?}\n{}", self.stderr()),
            None => panic!("the proxy ignored Ctrl-C\n{}", self.stderr()),
        }
    }
}

/// `FIRST-LAST` for the relay's --rtp-ports: `len` consecutive UDP ports free on `ip` a
/// moment ago, from an even port the kernel picked.
fn free_port_range(ip: IpAddr, len: u16) -> (u16, u16) {
    for _ in 0..100 {
        let first = std::net::UdpSocket::bind((ip, 0))
            .and_then(|s| s.local_addr())
            .unwrap_or_else(|e| panic!("cannot bind a UDP port on {ip}: {e}"))
            .port()
            & !1;
        let Some(last) = first.checked_add(len - 1) else {
            continue;
        };
        let held: Result<Vec<_>, _> = (first..=last)
            .map(|port| std::net::UdpSocket::bind((ip, port)))
            .collect();
        if held.is_ok() {
            return (first, last);
        }
    }
    panic!("no {len} consecutive free UDP ports on {ip} after 100 tries")
}

/// A `-mp` for SIPp, which binds it and the port two above even when the scenario's SDP
/// names other ports (its default, 6000, collides with concurrent tests).
fn sipp_media_port() -> String {
    for _ in 0..100 {
        let port = free_udp_port();
        if let Some(video) = port.checked_add(2)
            && std::net::UdpSocket::bind((PEER, port)).is_ok()
            && std::net::UdpSocket::bind((PEER, video)).is_ok()
        {
            return port.to_string();
        }
    }
    panic!("no free UDP port p with p+2 free after 100 tries")
}

/// Sends `PACKETS` RTP packets with `ssrc` from `from` to `relay_in` and receives them on
/// `at`, each from `relay_out`: the number that arrived intact, or what went wrong.
async fn relay_rtp(
    from: &UdpSocket,
    relay_in: SocketAddr,
    at: &UdpSocket,
    relay_out: SocketAddr,
    ssrc: u32,
) -> Result<u16, String> {
    for seq in 0..PACKETS {
        from.send_to(&rtp_packet(ssrc, seq), relay_in)
            .await
            .map_err(|e| format!("send to {relay_in}: {e}"))?;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = vec![false; usize::from(PACKETS)];
    let mut buf = [0u8; 2048];
    while seen.iter().any(|s| !s) {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(received) = tokio::time::timeout(left, at.recv_from(&mut buf)).await else {
            let count = seen.iter().filter(|s| **s).count();
            return Err(format!(
                "{count} of {PACKETS} packets with SSRC {ssrc:#x} arrived within 5 s"
            ));
        };
        let (n, source) = received.map_err(|e| e.to_string())?;
        if source != relay_out {
            return Err(format!(
                "a packet came from {source}, not the relay's {relay_out}"
            ));
        }
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        if buf[..n] != rtp_packet(ssrc, seq)[..] {
            return Err(format!("packet {seq} changed on the way"));
        }
        if let Some(slot) = seen.get_mut(usize::from(seq)) {
            *slot = true;
        }
    }
    Ok(PACKETS)
}

/// PCMU, 20 ms of silence.
fn rtp_packet(ssrc: u32, seq: u16) -> Vec<u8> {
    let mut packet = vec![0x80, 0x00];
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    packet.extend_from_slice(&ssrc.to_be_bytes());
    packet.extend_from_slice(&[0xff; 160]);
    packet
}

/// One JSON ng command to the relay, its reply.
async fn ng(addr: SocketAddr, command: Json) -> Json {
    let socket = UdpSocket::bind((PEER, 0)).await.unwrap();
    let cookie = format!("t{}", NONCE.fetch_add(1, Ordering::Relaxed));
    socket
        .send_to(format!("{cookie} {command}").as_bytes(), addr)
        .await
        .unwrap();
    let mut buf = vec![0u8; 65536];
    let n = tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("no ng reply to {command} within 5 s"))
        .unwrap();
    let reply = std::str::from_utf8(&buf[..n]).unwrap();
    let body = reply.strip_prefix(&format!("{cookie} ")).unwrap();
    serde_json::from_str(body).unwrap()
}

/// The call-ids the relay holds.
async fn listed(addr: SocketAddr) -> Vec<String> {
    let reply = ng(addr, json!({"command": "list", "limit": 1000})).await;
    reply["calls"]
        .as_array()
        .unwrap_or_else(|| panic!("ng list: {reply}"))
        .iter()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect()
}

/// The INFO that tells the UAC scenario to go on (re-INVITE, then BYE), sent straight to it.
async fn cue(uac: SocketAddr, ok: &TracedMessage) {
    let socket = UdpSocket::bind((PEER, 0)).await.unwrap();
    let local = socket.local_addr().unwrap();
    let info = format!(
        "INFO sip:sipp@{uac} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-cue{nonce}\r\n\
         From: {from}\r\n\
         To: {to}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INFO\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n",
        nonce = NONCE.fetch_add(1, Ordering::Relaxed),
        from = ok.header("To").unwrap(),
        to = ok.header("From").unwrap(),
        call_id = ok.header("Call-ID").unwrap(),
    );
    socket.send_to(info.as_bytes(), uac).await.unwrap();
}

fn tag_param(header: &str) -> String {
    header
        .split(';')
        .find_map(|p| p.trim().strip_prefix("tag="))
        .unwrap_or_else(|| panic!("no tag in {header}"))
        .to_owned()
}

/// A UDP forwarder between the proxy and the relay's ng port that records every command and
/// reply.
struct NgTap {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<NgExchange>>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Clone)]
struct NgExchange {
    cookie: String,
    request: Json,
    reply: Option<Json>,
}

impl NgTap {
    async fn start(ng: SocketAddr) -> Self {
        let downstream = UdpSocket::bind((PEER, 0)).await.unwrap();
        let upstream = UdpSocket::bind((PEER, 0)).await.unwrap();
        upstream.connect(ng).await.unwrap();
        let addr = downstream.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::<NgExchange>::new()));
        let task_log = log.clone();
        let task = tokio::spawn(async move {
            let mut clients: HashMap<String, SocketAddr> = HashMap::new();
            let mut down = vec![0u8; 65536];
            let mut up = vec![0u8; 65536];
            loop {
                tokio::select! {
                    received = downstream.recv_from(&mut down) => {
                        let Ok((n, client)) = received else { continue };
                        let (cookie, request) = split_ng(&down[..n]);
                        clients.insert(cookie.clone(), client);
                        task_log.lock().unwrap().push(NgExchange { cookie, request, reply: None });
                        let _ = upstream.send(&down[..n]).await;
                    }
                    received = upstream.recv(&mut up) => {
                        let Ok(n) = received else { continue };
                        let (cookie, reply) = split_ng(&up[..n]);
                        if let Some(client) = clients.get(&cookie) {
                            let _ = downstream.send_to(&up[..n], client).await;
                        }
                        let mut log = task_log.lock().unwrap();
                        if let Some(exchange) =
                            log.iter_mut().rev().find(|e| e.cookie == cookie && e.reply.is_none())
                        {
                            exchange.reply = Some(reply);
                        }
                    }
                }
            }
        });
        Self { addr, log, task }
    }

    fn exchanges(&self) -> Vec<NgExchange> {
        self.log.lock().unwrap().clone()
    }

    /// (command, from-tag) of every command for `call_id`, in order.
    fn commands_for(&self, call_id: &str) -> Vec<(&'static str, String)> {
        self.exchanges()
            .iter()
            .filter(|e| e.request["call-id"] == json!(call_id))
            .map(|e| {
                let command = match e.request["command"].as_str() {
                    Some("offer") => "offer",
                    Some("answer") => "answer",
                    Some("delete") => "delete",
                    _ => "other",
                };
                (
                    command,
                    e.request["from-tag"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }

    fn first(&self, call_id: &str, command: &str) -> Json {
        self.exchanges()
            .into_iter()
            .find(|e| {
                e.request["call-id"] == json!(call_id) && e.request["command"] == json!(command)
            })
            .map(|e| e.request)
            .unwrap_or_else(|| panic!("no {command} for {call_id}\n{}", self.render()))
    }

    fn assert_all_ok(&self) {
        for exchange in self.exchanges() {
            let result = exchange.reply.as_ref().map(|r| r["result"].clone());
            assert!(
                matches!(result.as_ref().and_then(Json::as_str), Some("ok")),
                "the relay answered {} with {:?}\n{}",
                exchange.request,
                exchange.reply,
                self.render()
            );
        }
    }

    fn render(&self) -> String {
        self.exchanges()
            .iter()
            .map(|e| {
                format!(
                    "  -> {}\n  <- {}\n",
                    e.request,
                    e.reply
                        .as_ref()
                        .map_or_else(|| "(no reply)".to_owned(), Json::to_string)
                )
            })
            .collect()
    }
}

impl Drop for NgTap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An ng datagram's cookie and its bencode message as JSON (byte strings as text).
fn split_ng(datagram: &[u8]) -> (String, Json) {
    let space = datagram
        .iter()
        .position(|b| *b == b' ')
        .unwrap_or(datagram.len());
    let cookie = String::from_utf8_lossy(&datagram[..space]).into_owned();
    let body = datagram.get(space + 1..).unwrap_or_default();
    let message = bencode::decode(body).map_or_else(
        |e| json!({"undecodable": e.to_string()}),
        |value| to_json(&value),
    );
    (cookie, message)
}

fn to_json(value: &Value) -> Json {
    match value {
        Value::Integer(i) => json!(i),
        Value::Bytes(bytes) => Json::String(String::from_utf8_lossy(bytes).into_owned()),
        Value::List(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Dict(map) => Json::Object(
            map.iter()
                .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), to_json(v)))
                .collect(),
        ),
    }
}

/// One SIP message from a SIPp `-trace_msg` file.
#[derive(Debug, Clone)]
struct TracedMessage {
    received: bool,
    text: String,
}

impl TracedMessage {
    fn first_line(&self) -> &str {
        self.text.lines().next().unwrap_or_default()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.text
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.trim()
                    .eq_ignore_ascii_case(name)
                    .then_some(value.trim())
            })
    }

    fn cseq(&self) -> String {
        self.header("CSeq")
            .map(|c| c.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    }

    fn body(&self) -> &str {
        self.text.split_once("\n\n").map_or("", |(_, body)| body)
    }

    /// The body's length as sent (the trace has LF line ends; the wire had CRLF).
    fn body_len(&self) -> usize {
        let body = self.body().trim_end_matches('\n');
        body.lines().map(|l| l.len() + 2).sum()
    }

    fn sdp_lines(&self, prefix: &str) -> Vec<&str> {
        self.body()
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with(prefix))
            .collect()
    }

    /// The audio stream's address: the media-level `c=` if any, else the session's.
    fn audio_endpoint(&self) -> SocketAddr {
        let mut address = None;
        let mut port = None;
        for line in self.body().lines().map(str::trim) {
            if let Some(c) = line.strip_prefix("c=IN IP4 ") {
                address = c
                    .split('/')
                    .next()
                    .and_then(|a| a.trim().parse::<IpAddr>().ok());
            } else if let Some(m) = line.strip_prefix("m=") {
                let mut fields = m.split_whitespace();
                if port.is_some() || fields.next() != Some("audio") {
                    continue;
                }
                port = fields.next().and_then(|p| p.parse::<u16>().ok());
            }
        }
        match (address, port) {
            (Some(ip), Some(port)) => SocketAddr::new(ip, port),
            _ => panic!("no audio address in the SDP of\n{}", self.text),
        }
    }
}

/// The messages of a SIPp `-trace_msg` file, in order.
fn traced_messages(path: &Path) -> Vec<TracedMessage> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_default()
        .replace("\r\n", "\n");
    text.split("-----------------------------------------------")
        .filter_map(|block| {
            let mut parts = block.splitn(3, '\n');
            let _timestamp = parts.next()?;
            let direction = parts.next()?;
            let message = parts.next()?.trim_start_matches('\n').trim_end();
            (!message.is_empty()).then(|| TracedMessage {
                received: direction.contains("received"),
                text: format!("{message}\n"),
            })
        })
        .collect()
}

async fn wait_for_message(
    path: &Path,
    what: &str,
    diagnostics: &Diagnostics<'_>,
    matches: impl Fn(&TracedMessage) -> bool,
) -> TracedMessage {
    let found = ferrovox_testkit::wait::until(what, WAIT, || {
        let message = traced_messages(path).into_iter().find(|m| matches(m));
        async move { message }
    })
    .await;
    found.unwrap_or_else(|error| panic!("{error}\n{}", diagnostics.render()))
}

struct Diagnostics<'a> {
    proxy: &'a ProxyProcess,
    node: &'a Appliance,
    tap: &'a NgTap,
    uac: PathBuf,
    uas: PathBuf,
}

impl Diagnostics<'_> {
    fn render(&self) -> String {
        let read =
            |dir: &Path, name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        format!(
            "ng exchanges:\n{}\nproxy stderr:\n{}\nrelay stderr:\n{}\nUAC errors:\n{}\nUAS errors:\n{}",
            self.tap.render(),
            self.proxy.stderr(),
            self.node.stderr(),
            read(&self.uac, "errors.log"),
            read(&self.uas, "errors.log"),
        )
    }
}
