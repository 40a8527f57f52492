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

use common::Appliance;
use common::media::{
    Diagnostics, INTERFACE, NgTap, PACKETS, PEER, RTP_RANGE_LEN, free_port_range, ng,
    relay_both_ways, start_relay,
};
use common::proxy::ProxyProcess;
use common::sip_trace::{
    TracedMessage, WAIT, cue, sipp_media_port, tag_param, traced_messages, traced_sipp,
    wait_for_message,
};
use ferrovox_testkit::ports::{free_udp_port, free_udp_tcp_port, loopback};
use ferrovox_testkit::sipp::{Scenario, Sipp, harness_scenario};
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_anchors_invite_reinvite_and_bye_on_the_relay_and_frees_failed_calls() {
    let dir = tempfile::tempdir().unwrap();
    let (node, rtp_range) = start_relay(dir.path(), &[]).await;
    let tap = NgTap::start(node.ng).await;

    let caller_rtp = UdpSocket::bind((PEER, 0)).await.unwrap();
    let callee_rtp = UdpSocket::bind((PEER, 0)).await.unwrap();
    let caller_addr = caller_rtp.local_addr().unwrap();
    let callee_addr = callee_rtp.local_addr().unwrap();

    let uas_sip = loopback(free_udp_tcp_port());
    let uas_trace = dir.path().join("uas_messages.log");
    let uas = traced_sipp("uas_anchor.xml", uas_sip, &uas_trace)
        .arg("-set")
        .arg("callee_rtp")
        .arg(callee_addr.port().to_string())
        .spawn()
        .expect("start the SIPp UAS");
    let proxy = anchoring_proxy("", uas_sip, tap.addr);
    let uac_trace = dir.path().join("uac_messages.log");
    let uac_sip = loopback(free_udp_tcp_port());
    let uac = traced_sipp("uac_anchor.xml", uac_sip, &uac_trace)
        .remote(proxy.addr)
        .calls(1)
        .arg("-set")
        .arg("caller_rtp")
        .arg(caller_addr.port().to_string())
        .spawn()
        .expect("start the SIPp UAC");
    let proxy_stderr = || proxy.stderr();
    let diagnostics = Diagnostics {
        tap: &tap,
        signalling: ("proxy stderr", &proxy_stderr),
        relay: &node,
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
            "{what} names port {}, outside the relay's range {rtp_range:?}",
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
    assert_eq!(
        relay_both_ways(&caller_rtp, relay_for_caller, &callee_rtp, relay_for_callee).await,
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
    .arg(sipp_media_port().to_string())
    .spawn()
    .expect("start the busy UAS");
    let busy_proxy = anchoring_proxy("", busy_uas_sip, tap.addr);
    let busy_uac_trace = dir.path().join("busy_uac_messages.log");
    let busy = traced_sipp(
        "uac_expect_486.xml",
        loopback(free_udp_tcp_port()),
        &busy_uac_trace,
    )
    .remote(busy_proxy.addr)
    .calls(1)
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
        let proxy = anchoring_proxy(&extra.join("\n"), callee_addr, relay);
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
    let nonce = common::nonce();
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

/// `ferrovox proxy` on a free UDP port and one thread, `sip` added to its [sip] table,
/// forwarding to `next_hop` with media anchored on the ng relay at `relay`; its banner must
/// name the relay.
fn anchoring_proxy(sip: &str, next_hop: SocketAddr, relay: SocketAddr) -> ProxyProcess {
    let proxy = ProxyProcess::start_udp(
        sip,
        &[
            "--threads",
            "1",
            "--next-hop",
            &format!("sip:{next_hop}"),
            "--media-relay",
            &format!("udp:{relay}"),
        ],
    );
    assert!(
        proxy.stdout().contains("anchored on the ng relay"),
        "the banner names the relay:\n{}",
        proxy.stdout()
    );
    proxy
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
