//! Issue 4 acceptance: Kamailio with its `rtpengine` module pointed at ferrovox's ng port,
//! and a SIPp call through it. The 200 OK the caller receives carries the relay's address,
//! RTP from both sides passes through ferrovox, and the BYE deletes the call.
//!
//! SIPp does the signalling (benches/testkit/scenarios/u{a,as}c_rtpengine.xml); the SDP of
//! each side names a UDP socket the test owns, so the test sends and receives the RTP itself
//! and checks every packet's source. Kamailio's ng traffic goes through a small tap in the
//! test that forwards it to ferrovox and records each command and reply, so a wrong ng reply
//! fails the test with the exact exchange.
//!
//! ferrovox anchors media on 127.0.0.2 while the SIPp peers advertise 127.0.0.1, so the
//! relay's address in the SDP cannot be mistaken for an endpoint's.

mod common;

use common::Appliance;
use ferrovox_testkit::ports::{free_udp_port, free_udp_tcp_port, loopback};
use ferrovox_testkit::process::ChildGuard;
use ferrovox_testkit::sipp::{Scenario, Sipp, SippRun, harness_scenario};
use serde_json::{Value as Json, json};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// Where ferrovox anchors media: a loopback address no SIPp peer uses.
const INTERFACE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// The SIPp peers' (and the test's RTP sockets') address.
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Ports in ferrovox's --rtp-ports range.
const RTP_RANGE_LEN: u16 = 40;
/// RTP packets sent each way.
const PACKETS: u16 = 50;
const WAIT: Duration = Duration::from_secs(20);
/// Distinguishes the test's own ng cookies and SIP probes.
static NONCE: AtomicU64 = AtomicU64::new(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kamailio_rtpengine_anchors_a_sipp_call_on_ferrovox() {
    let dir = tempfile::tempdir().unwrap();

    // ferrovox's media node, its ng port behind the recording tap.
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
            "--log-level",
            "info,ferrovox_node=debug",
        ],
        &[],
    )
    .await;
    let tap = NgTap::start(node.ng).await;

    // The RTP endpoints the SDPs name: sockets the test owns.
    let caller_rtp = UdpSocket::bind((PEER, 0)).await.unwrap();
    let callee_rtp = UdpSocket::bind((PEER, 0)).await.unwrap();
    let caller_addr = caller_rtp.local_addr().unwrap();
    let callee_addr = callee_rtp.local_addr().unwrap();

    // The callee, then Kamailio relaying to it, then the caller.
    let uas_sip = loopback(free_udp_tcp_port());
    let uas_trace = dir.path().join("uas_messages.log");
    let uas = Sipp::new(
        Scenario::File(harness_scenario("uas_rtpengine.xml")),
        uas_sip,
    )
    .arg("-mp")
    .arg(sipp_media_port().to_string())
    .arg("-set")
    .arg("callee_rtp")
    .arg(callee_addr.port().to_string())
    .arg("-trace_msg")
    .arg("-message_file")
    .arg(uas_trace.display().to_string())
    .spawn()
    .expect("start the SIPp UAS");
    let kamailio = Kamailio::start(dir.path(), tap.addr, uas_sip).await;
    let uac_trace = dir.path().join("uac_messages.log");
    let uac_sip = loopback(free_udp_tcp_port());
    let uac = Sipp::new(
        Scenario::File(harness_scenario("uac_rtpengine.xml")),
        uac_sip,
    )
    .remote(kamailio.addr)
    .calls(1)
    .arg("-mp")
    .arg(sipp_media_port().to_string())
    .arg("-set")
    .arg("caller_rtp")
    .arg(caller_addr.port().to_string())
    .arg("-trace_msg")
    .arg("-message_file")
    .arg(uac_trace.display().to_string())
    .spawn()
    .expect("start the SIPp UAC");
    let diagnostics = Diagnostics {
        node: &node,
        kamailio: &kamailio,
        tap: &tap,
        uac: &uac,
        uas: &uas,
    };

    // (1) The 200 OK the caller got, and the INVITE the callee got, name ferrovox.
    let ok = wait_for_message(&uac_trace, "the caller's 200 OK", &diagnostics, |m| {
        m.received && m.first_line().starts_with("SIP/2.0 200") && m.cseq_method() == "INVITE"
    })
    .await;
    let invite = wait_for_message(&uas_trace, "the callee's INVITE", &diagnostics, |m| {
        m.received && m.first_line().starts_with("INVITE ")
    })
    .await;
    let relay_for_caller = ok.audio_endpoint();
    let relay_for_callee = invite.audio_endpoint();
    for (what, relay) in [
        ("the 200 OK to the caller", relay_for_caller),
        ("the INVITE to the callee", relay_for_callee),
    ] {
        assert_eq!(relay.ip(), INTERFACE, "{what} does not name ferrovox");
        assert!(
            rtp_range.contains(&relay.port()),
            "{what} names port {}, outside ferrovox's range {rtp_first}-{rtp_last}",
            relay.port()
        );
    }
    assert_ne!(
        relay_for_caller, relay_for_callee,
        "one relay port per side"
    );
    for message in [&ok, &invite] {
        let connections = message.sdp_lines("c=");
        assert!(
            !connections.is_empty()
                && connections
                    .iter()
                    .all(|c| *c == format!("c=IN IP4 {INTERFACE}")),
            "every c= line names ferrovox (replace-session-connection):\n{}",
            message.text
        );
        let origin = message.sdp_lines("o=");
        assert!(
            origin.len() == 1 && origin[0].ends_with(&format!(" IN IP4 {INTERFACE}")),
            "the o= line names ferrovox (replace-origin):\n{}",
            message.text
        );
    }
    let call_id = ok.header("Call-ID").expect("Call-ID").to_owned();
    assert_eq!(invite.header("Call-ID"), Some(call_id.as_str()));

    // (2) RTP both ways through ferrovox: each packet arrives from the relay port the SDP
    // named to its receiver, unchanged.
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
        "RTP caller->callee, callee->caller through ferrovox\n{}",
        diagnostics.render()
    );

    // ferrovox's own account of the call: each side's stream received our packets from the
    // address its SDP offered, on the port ferrovox advertised to it.
    let listed = ng(node.ng, json!({"command": "list"})).await;
    assert!(
        listed["calls"]
            .as_array()
            .is_some_and(|calls| calls.contains(&json!(call_id))),
        "ng list during the call: {listed}"
    );
    let query = ng(node.ng, json!({"command": "query", "call-id": call_id})).await;
    assert_eq!(query["result"], "ok", "ng query: {query}");
    let from_tag = tag_param(ok.header("From").unwrap());
    let to_tag = tag_param(ok.header("To").unwrap());
    for (tag, local, endpoint) in [
        (&from_tag, relay_for_caller, caller_addr),
        (&to_tag, relay_for_callee, callee_addr),
    ] {
        let stream = &query["tags"][tag]["medias"][0]["streams"][0];
        assert_eq!(
            (
                stream["local port"].as_u64(),
                stream["endpoint"]["address"].as_str(),
                stream["endpoint"]["port"].as_u64(),
                stream["stats"]["packets"].as_u64(),
            ),
            (
                Some(u64::from(local.port())),
                Some(endpoint.ip().to_string().as_str()),
                Some(u64::from(endpoint.port())),
                Some(u64::from(PACKETS)),
            ),
            "ng query, tag {tag}: {query}"
        );
    }
    assert_eq!(
        query["totals"]["RTP"]["packets"].as_u64(),
        Some(2 * u64::from(PACKETS)),
        "ng query totals: {query}"
    );

    // (3) The BYE: cued, the caller hangs up, its call completes and ferrovox forgets it.
    hang_up_cue(uac_sip, &ok).await;
    let outcome = uac
        .wait(WAIT)
        .unwrap_or_else(|e| panic!("the UAC did not finish: {e}\n{}", kamailio.log()));
    assert_eq!(
        (
            outcome.stats.successful_calls(),
            outcome.stats.failed_calls()
        ),
        (1, 0),
        "UAC {:?}: {}\nkamailio:\n{}",
        outcome.status,
        outcome.errors,
        kamailio.log()
    );
    let gone = ferrovox_testkit::wait::until("ng list without the call", WAIT, || {
        let call_id = call_id.clone();
        async move {
            let listed = ng(node.ng, json!({"command": "list"})).await;
            let calls = listed["calls"].as_array()?;
            (!calls.contains(&json!(call_id))).then_some(())
        }
    })
    .await;
    if let Err(error) = gone {
        panic!(
            "{error}\nng exchanges:\n{}\nkamailio:\n{}",
            tap.render(),
            kamailio.log()
        );
    }

    // What Kamailio's rtpengine module asked, and that ferrovox answered each without error.
    let exchanges = tap.exchanges();
    let commands: Vec<&str> = exchanges
        .iter()
        .filter(|e| e.request["call-id"] == json!(call_id))
        .map(|e| e.command())
        .collect();
    assert_eq!(
        commands,
        ["offer", "answer", "delete"],
        "ng commands for the call:\n{}",
        tap.render()
    );
    for exchange in &exchanges {
        let result = exchange.reply.as_ref().map(|r| r["result"].clone());
        assert!(
            matches!(result.as_ref().and_then(Json::as_str), Some("ok" | "pong")),
            "ferrovox answered {} with {:?}\nrequest: {}\nall ng exchanges:\n{}",
            exchange.command(),
            exchange.reply,
            exchange.request,
            tap.render()
        );
    }
    let offer = exchanges.iter().find(|e| e.command() == "offer").unwrap();
    assert_eq!(
        (
            &offer.request["from-tag"],
            &offer.request["ICE"],
            &offer.request["replace"]
        ),
        (
            &json!(from_tag),
            &json!("remove"),
            &json!(["origin", "session-connection"])
        ),
        "the offer Kamailio sent: {}",
        offer.request
    );
    let metrics = ferrovox_testkit::wait::http_get(&node.media_url("/metrics"))
        .await
        .unwrap()
        .1;
    for command in ["offer", "answer", "delete"] {
        assert!(
            metrics.lines().any(|line| {
                line.starts_with("ferrovox_ng_commands_total{")
                    && line.contains(&format!("command=\"{command}\""))
                    && line.contains("result=\"ok\"")
            }),
            "/metrics counts the {command}:\n{metrics}"
        );
    }
    eprintln!("ng exchanges:\n{}", tap.render());

    let uas_outcome = uas.stop().expect("UAS stops");
    assert_eq!(uas_outcome.stats.successful_calls(), 1, "the callee's call");
    kamailio.stop();
    assert!(node.interrupt().success());
}

/// Sends `PACKETS` RTP packets with `ssrc` from `from` to `relay_in`, and receives them on
/// `at`, each from `relay_out`. The number that arrived intact, or what went wrong.
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
        let received = tokio::time::timeout(left, at.recv_from(&mut buf)).await;
        let Ok(received) = received else {
            let count = seen.iter().filter(|s| **s).count();
            return Err(format!(
                "{count} of {PACKETS} packets with SSRC {ssrc:#x} arrived within 5 s"
            ));
        };
        let (n, source) = received.map_err(|e| format!("receive: {e}"))?;
        if source != relay_out {
            return Err(format!(
                "a packet came from {source}, not from ferrovox's {relay_out}"
            ));
        }
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        if n < 12 || u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]) != ssrc {
            // The other direction's packets are not this exchange's business.
            continue;
        }
        if buf[..n] != rtp_packet(ssrc, seq)[..] || seq >= PACKETS {
            return Err(format!("packet {seq} was altered: {:02x?}", &buf[..n]));
        }
        seen[usize::from(seq)] = true;
    }
    Ok(PACKETS)
}

/// An RTP packet: version 2, PCMU, 20 ms of silence.
fn rtp_packet(ssrc: u32, seq: u16) -> Vec<u8> {
    let mut packet = vec![0x80, 0x00];
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    packet.extend_from_slice(&ssrc.to_be_bytes());
    packet.extend_from_slice(&[0xff; 160]);
    packet
}

/// `FIRST-LAST` for ferrovox's --rtp-ports: `len` consecutive UDP ports free on `ip` a
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

/// A `-mp` for SIPp, which binds it and the port two above (audio and video) even when, as
/// here, the scenario's SDP names other ports.
fn sipp_media_port() -> u16 {
    for _ in 0..100 {
        let port = free_udp_port();
        if let Some(video) = port.checked_add(2)
            && std::net::UdpSocket::bind((PEER, port)).is_ok()
            && std::net::UdpSocket::bind((PEER, video)).is_ok()
        {
            return port;
        }
    }
    panic!("no free UDP port p with p+2 free after 100 tries")
}

/// One ng command straight to ferrovox (JSON encoding), and its reply.
async fn ng(addr: SocketAddr, command: Json) -> Json {
    let socket = UdpSocket::bind((PEER, 0)).await.unwrap();
    let cookie = format!("t{}", NONCE.fetch_add(1, Ordering::Relaxed));
    let datagram = format!("{cookie} {command}");
    socket.send_to(datagram.as_bytes(), addr).await.unwrap();
    let mut buf = vec![0u8; 65536];
    let n = tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("no ng reply to {command} within 5 s"))
        .unwrap();
    let reply = std::str::from_utf8(&buf[..n]).unwrap();
    let body = reply
        .strip_prefix(&format!("{cookie} "))
        .unwrap_or_else(|| panic!("ng reply without our cookie: {reply}"));
    serde_json::from_str(body).unwrap_or_else(|e| panic!("ng reply is not JSON ({e}): {body}"))
}

/// The INFO that tells the UAC scenario to hang up, sent straight to the UAC: the call's
/// Call-ID is what SIPp matches it by.
async fn hang_up_cue(uac: SocketAddr, ok: &TracedMessage) {
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

/// The `tag` parameter of a From or To header value.
fn tag_param(header: &str) -> String {
    header
        .split(';')
        .find_map(|p| p.trim().strip_prefix("tag="))
        .unwrap_or_else(|| panic!("no tag in {header}"))
        .to_owned()
}

/// Kamailio with benches/testkit/kamailio/rtpengine.cfg, in the foreground, in its own
/// process group (its children are stopped with it).
struct Kamailio {
    child: ChildGuard,
    addr: SocketAddr,
    log: PathBuf,
}

impl Kamailio {
    async fn start(dir: &Path, ng: SocketAddr, next_hop: SocketAddr) -> Self {
        let run_dir = dir.join("kamailio");
        std::fs::create_dir_all(&run_dir).unwrap();
        let config = ferrovox_testkit::repo_root().join("benches/testkit/kamailio/rtpengine.cfg");
        let addr = loopback(free_udp_port());
        let log = dir.join("kamailio.log");
        let mut command = Command::new("kamailio");
        command
            .args(["-DD", "-E", "-m", "64", "-M", "16", "-x", "tlsf"])
            .arg("-Y")
            .arg(&run_dir)
            .arg("-w")
            .arg(&run_dir)
            .arg("-f")
            .arg(&config)
            .arg("-A")
            .arg(format!("LISTEN=udp:{addr}"))
            .arg("-A")
            .arg(format!("NG_SOCK=\"udp:{ng}\""))
            .arg("-A")
            .arg(format!("NEXT_HOP=\"sip:{next_hop}\""))
            .process_group(0)
            .current_dir(&run_dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("kamailio.stdout")).unwrap())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = ChildGuard::new(
            "kamailio",
            command
                .spawn()
                .expect("start kamailio (is the kamailio package installed?)"),
        );
        let mut kamailio = Self { child, addr, log };
        // Ready once it answers SIP: an OPTIONS with Max-Forwards 0 gets its 483.
        let probe = UdpSocket::bind((PEER, 0)).await.unwrap();
        let ready = ferrovox_testkit::wait::until("Kamailio answering SIP", WAIT, || {
            let probe = &probe;
            async move {
                let options = format!(
                    "OPTIONS sip:probe@{addr} SIP/2.0\r\n\
                     Via: SIP/2.0/UDP {local};branch=z9hG4bK-probe{nonce}\r\n\
                     From: <sip:probe@{local}>;tag=probe\r\n\
                     To: <sip:probe@{addr}>\r\n\
                     Call-ID: probe-{nonce}@{local}\r\n\
                     CSeq: 1 OPTIONS\r\n\
                     Max-Forwards: 0\r\n\
                     Content-Length: 0\r\n\r\n",
                    local = probe.local_addr().unwrap(),
                    nonce = NONCE.fetch_add(1, Ordering::Relaxed),
                );
                probe.send_to(options.as_bytes(), addr).await.ok()?;
                let mut buf = [0u8; 4096];
                let n = tokio::time::timeout(Duration::from_millis(250), probe.recv(&mut buf))
                    .await
                    .ok()?
                    .ok()?;
                buf[..n].starts_with(b"SIP/2.0 483").then_some(())
            }
        })
        .await;
        if let Err(error) = ready {
            let exited = kamailio.child.try_wait().ok().flatten();
            panic!("{error} (exit: {exited:?})\n{}", kamailio.log());
        }
        kamailio
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM: Kamailio stops its children and exits within 10 s.
    fn stop(mut self) {
        self.child.signal("TERM").expect("SIGTERM to kamailio");
        let status = self.child.wait_timeout(Duration::from_secs(10)).unwrap();
        assert!(
            status.is_some(),
            "kamailio ignored SIGTERM for 10 s\n{}",
            self.log()
        );
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            if let Ok(None) = self.child.try_wait() {
                let _ = self.child.signal("TERM");
                let _ = self.child.wait_timeout(Duration::from_secs(5));
            }
            // Whatever is left of the group it leads (children of a killed main process).
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A UDP forwarder between Kamailio and ferrovox's ng port that records every command and
/// reply, decoded from bencode.
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

impl NgExchange {
    fn command(&self) -> &str {
        self.request["command"].as_str().unwrap_or("?")
    }
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
    let mut at = 0;
    let message = decode_bencode(body, &mut at)
        .unwrap_or_else(|| json!({"undecodable": String::from_utf8_lossy(body)}));
    (cookie, message)
}

fn decode_bencode(data: &[u8], at: &mut usize) -> Option<Json> {
    match *data.get(*at)? {
        b'i' => {
            let end = *at + data[*at..].iter().position(|b| *b == b'e')?;
            let number = std::str::from_utf8(&data[*at + 1..end])
                .ok()?
                .parse::<i64>()
                .ok()?;
            *at = end + 1;
            Some(json!(number))
        }
        b'l' => {
            *at += 1;
            let mut items = Vec::new();
            while *data.get(*at)? != b'e' {
                items.push(decode_bencode(data, at)?);
            }
            *at += 1;
            Some(Json::Array(items))
        }
        b'd' => {
            *at += 1;
            let mut map = serde_json::Map::new();
            while *data.get(*at)? != b'e' {
                let key = decode_bencode(data, at)?;
                let value = decode_bencode(data, at)?;
                map.insert(key.as_str()?.to_owned(), value);
            }
            *at += 1;
            Some(Json::Object(map))
        }
        b'0'..=b'9' => {
            let colon = *at + data[*at..].iter().position(|b| *b == b':')?;
            let len: usize = std::str::from_utf8(&data[*at..colon]).ok()?.parse().ok()?;
            let bytes = data.get(colon + 1..colon + 1 + len)?;
            *at = colon + 1 + len;
            Some(Json::String(String::from_utf8_lossy(bytes).into_owned()))
        }
        _ => None,
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

    fn cseq_method(&self) -> &str {
        self.header("CSeq")
            .and_then(|c| c.split_whitespace().nth(1))
            .unwrap_or_default()
    }

    /// The body's lines starting with `prefix` (`"c="`, `"o="`).
    fn sdp_lines(&self, prefix: &str) -> Vec<&str> {
        let body = self.text.split_once("\n\n").map_or("", |(_, body)| body);
        body.lines()
            .map(str::trim)
            .filter(|l| l.starts_with(prefix))
            .collect()
    }

    /// The audio stream's address: the media-level `c=` if any, else the session's.
    fn audio_endpoint(&self) -> SocketAddr {
        let body = self.text.split_once("\n\n").map_or("", |(_, body)| body);
        let mut address = None;
        let mut port = None;
        for line in body.lines().map(str::trim) {
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

/// Everything worth showing when a step fails.
struct Diagnostics<'a> {
    node: &'a Appliance,
    kamailio: &'a Kamailio,
    tap: &'a NgTap,
    uac: &'a SippRun,
    uas: &'a SippRun,
}

impl Diagnostics<'_> {
    fn render(&self) -> String {
        let read =
            |dir: &Path, name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        format!(
            "ng exchanges:\n{}\nkamailio:\n{}\nferrovox stderr:\n{}\nUAC errors:\n{}\nUAS errors:\n{}",
            self.tap.render(),
            self.kamailio.log(),
            self.node.stderr(),
            read(self.uac.work_dir(), "errors.log"),
            read(self.uas.work_dir(), "errors.log"),
        )
    }
}
