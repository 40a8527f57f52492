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

use common::media::{
    Diagnostics, INTERFACE, NgTap, PACKETS, PEER, ng, relay_both_ways, start_relay,
};
use common::sip_trace::{WAIT, cue, tag_param, traced_sipp, wait_for_message};
use ferrovox_testkit::ports::{free_udp_port, free_udp_tcp_port, loopback};
use ferrovox_testkit::process::ChildGuard;
use serde_json::{Value as Json, json};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::net::UdpSocket;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kamailio_rtpengine_anchors_a_sipp_call_on_ferrovox() {
    let dir = tempfile::tempdir().unwrap();

    // ferrovox's media node, its ng port behind the recording tap.
    let (node, rtp_range) =
        start_relay(dir.path(), &["--log-level", "info,ferrovox_node=debug"]).await;
    let tap = NgTap::start(node.ng).await;

    // The RTP endpoints the SDPs name: sockets the test owns.
    let caller_rtp = UdpSocket::bind((PEER, 0)).await.unwrap();
    let callee_rtp = UdpSocket::bind((PEER, 0)).await.unwrap();
    let caller_addr = caller_rtp.local_addr().unwrap();
    let callee_addr = callee_rtp.local_addr().unwrap();

    // The callee, then Kamailio relaying to it, then the caller.
    let uas_sip = loopback(free_udp_tcp_port());
    let uas_trace = dir.path().join("uas_messages.log");
    let uas = traced_sipp("uas_rtpengine.xml", uas_sip, &uas_trace)
        .arg("-set")
        .arg("callee_rtp")
        .arg(callee_addr.port().to_string())
        .spawn()
        .expect("start the SIPp UAS");
    let kamailio = Kamailio::start(dir.path(), tap.addr, uas_sip).await;
    let uac_trace = dir.path().join("uac_messages.log");
    let uac_sip = loopback(free_udp_tcp_port());
    let uac = traced_sipp("uac_rtpengine.xml", uac_sip, &uac_trace)
        .remote(kamailio.addr)
        .calls(1)
        .arg("-set")
        .arg("caller_rtp")
        .arg(caller_addr.port().to_string())
        .spawn()
        .expect("start the SIPp UAC");
    let kamailio_log = || kamailio.log();
    let diagnostics = Diagnostics {
        tap: &tap,
        signalling: ("kamailio", &kamailio_log),
        relay: &node,
        uac: uac.work_dir().to_owned(),
        uas: uas.work_dir().to_owned(),
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
            "{what} names port {}, outside ferrovox's range {rtp_range:?}",
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
    assert_eq!(
        relay_both_ways(&caller_rtp, relay_for_caller, &callee_rtp, relay_for_callee).await,
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
    cue(uac_sip, &ok).await;
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
                    nonce = common::nonce(),
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
