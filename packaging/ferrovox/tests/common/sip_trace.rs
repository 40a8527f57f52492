//! SIPp peers whose messages the test reads: starting one that traces them, the messages of
//! its `-trace_msg` file with their headers and SDP, and the INFO that cues a waiting
//! scenario to its next step.
//!
//! Only as much SIP as the tests assert on; a message the trace mangles fails the test with
//! its text rather than being parsed leniently.

use super::media::{Diagnostics, PEER};
use ferrovox_testkit::ports::free_udp_port;
use ferrovox_testkit::sipp::{Scenario, Sipp, harness_scenario};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;
use tokio::net::UdpSocket;

/// How long a step of a SIPp call may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// A SIPp peer running the harness's `scenario` on `sip`, its messages traced to `trace`.
pub fn traced_sipp(scenario: &str, sip: SocketAddr, trace: &Path) -> Sipp {
    Sipp::new(Scenario::File(harness_scenario(scenario)), sip)
        .arg("-mp")
        .arg(sipp_media_port().to_string())
        .arg("-trace_msg")
        .arg("-message_file")
        .arg(trace.display().to_string())
}

/// A `-mp` for SIPp, which binds it and the port two above (audio and video) even when the
/// scenario's SDP names other ports (its default, 6000, collides with concurrent tests).
pub fn sipp_media_port() -> u16 {
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

/// One SIP message from a SIPp `-trace_msg` file (or off the wire, with LF line ends).
#[derive(Debug, Clone)]
pub struct TracedMessage {
    pub received: bool,
    pub text: String,
}

impl TracedMessage {
    pub fn first_line(&self) -> &str {
        self.text.lines().next().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
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

    /// The CSeq with its whitespace normalised: `"1 INVITE"`.
    pub fn cseq(&self) -> String {
        self.header("CSeq")
            .map(|c| c.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    }

    /// The method of the CSeq (a response's request).
    pub fn cseq_method(&self) -> &str {
        self.header("CSeq")
            .and_then(|c| c.split_whitespace().nth(1))
            .unwrap_or_default()
    }

    pub fn body(&self) -> &str {
        self.text.split_once("\n\n").map_or("", |(_, body)| body)
    }

    /// The body's length as sent (the trace has LF line ends; the wire had CRLF).
    pub fn body_len(&self) -> usize {
        let body = self.body().trim_end_matches('\n');
        body.lines().map(|l| l.len() + 2).sum()
    }

    /// The body's lines starting with `prefix` (`"c="`, `"o="`).
    pub fn sdp_lines(&self, prefix: &str) -> Vec<&str> {
        self.body()
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with(prefix))
            .collect()
    }

    /// The audio stream's address: the media-level `c=` if any, else the session's.
    pub fn audio_endpoint(&self) -> SocketAddr {
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
pub fn traced_messages(path: &Path) -> Vec<TracedMessage> {
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

/// The first message in the trace at `path` that `matches`, once it is there; after [`WAIT`]
/// the test fails with `what` and `diagnostics`.
pub async fn wait_for_message(
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

/// The `tag` parameter of a From or To header value.
pub fn tag_param(header: &str) -> String {
    header
        .split(';')
        .find_map(|p| p.trim().strip_prefix("tag="))
        .unwrap_or_else(|| panic!("no tag in {header}"))
        .to_owned()
}

/// The INFO that tells a waiting UAC scenario to go on (re-INVITE, hang up), sent straight to
/// the UAC in the dialog `ok` established: the Call-ID is what SIPp matches it by.
pub async fn cue(uac: SocketAddr, ok: &TracedMessage) {
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
        nonce = super::nonce(),
        from = ok.header("To").unwrap(),
        to = ok.header("From").unwrap(),
        call_id = ok.header("Call-ID").unwrap(),
    );
    socket.send_to(info.as_bytes(), uac).await.unwrap();
}

/// A finished or running SIPp's errors.log, from its work directory.
pub fn sipp_errors(work_dir: &Path) -> String {
    std::fs::read_to_string(work_dir.join("errors.log")).unwrap_or_default()
}
