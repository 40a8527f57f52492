//! Media anchoring for the SIP edge: what Kamailio's `rtpengine_manage()` does, as the
//! proxy's media hooks ([`ferrovox_proxy::Policy::media`] and `media_ended`) talking to an
//! rtpengine-compatible relay over the ng protocol (UDP, bencode) — ferrovox's own media node
//! or rtpengine itself.
//!
//! Which command each message becomes (rtpengine_manage's rules):
//! - INVITE, re-INVITE or UPDATE with SDP → `offer`; its 18x/2xx with SDP → `answer`.
//! - 18x/2xx with SDP to an INVITE without SDP (RFC 3264 late offer) → `offer` from the
//!   callee, answered by the ACK (or PRACK) with SDP → `answer`.
//! - BYE, the final failure of the initial INVITE (486, a CANCEL's 487, ...) and a dialog
//!   timeout → `delete`.
//!
//! Tags as the module sends them: `from-tag` is always the offerer's tag. For an offer in a
//! request and an answer in a response that is the From tag (and `to-tag` the To tag); for
//! an offer in a response or an answer in a request (ACK, PRACK) the two are swapped.
//! `via-branch` is the branch of the sender's Via (the module's `via-branch=auto`). Every
//! offer and answer asks for `replace: [origin, session-connection]` and `ICE: remove`, the
//! flags a typical `rtpengine_manage("replace-origin replace-session-connection ICE=remove")`
//! passes.
//!
//! Failures: an offer the relay cannot take is refused upstream instead of being forwarded
//! with media that bypasses the relay — **503 Service Unavailable** when the relay does not
//! answer (unreachable, timeout: the caller or an upstream proxy may retry elsewhere) and
//! **488 Not Acceptable Here** when it answers with an error (the SDP cannot be anchored).
//! Kamailio configurations do the same with `if (!rtpengine_manage()) { sl_send_reply(...) }`.
//! A failed answer cannot be refused (the callee has answered already): the response goes on
//! unchanged and a warning is logged, as with the module.
//!
//! Blocking: each command is a request/response exchange done synchronously on the SIP core
//! thread that handles the message, like the module blocking its Kamailio worker. Each
//! attempt waits `timeout`; the same datagram (same cookie, which ng relays use to answer
//! retransmissions from a cache) is resent up to `retries` times. A relay that refuses the
//! datagram (ICMP port unreachable, seen at once on a connected socket) fails the command
//! without waiting. A relay that timed out on every attempt is skipped for
//! [`DISABLED_FOR`] (the module's `rtpengine_disable_tout`), so a dead relay costs one
//! timeout per core, not one per call.

use super::config::MediaRelayConfig;
use crate::ng::bencode::{self, Value};
use ferrovox_proxy::{MediaAction, MediaEnd, MediaMessage};
use ferrovox_sip::Method;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// After every attempt of a command timed out, commands fail at once for this long.
pub const DISABLED_FOR: Duration = Duration::from_secs(10);

/// ng replies are one datagram; rtpengine's SDPs stay far below this.
const REPLY_BUFFER: usize = 65_535;

#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    #[error("media relay {relay}: no reply within {attempts} attempts of {timeout:?}")]
    Timeout {
        relay: SocketAddr,
        attempts: u32,
        timeout: Duration,
    },
    #[error("media relay {relay} is unreachable: {source}")]
    Unreachable {
        relay: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("media relay {relay} skipped for {left:?} after it stopped answering")]
    Disabled { relay: SocketAddr, left: Duration },
    #[error("media relay {relay}: malformed reply: {reason}")]
    BadReply { relay: SocketAddr, reason: String },
    #[error("media relay {relay} refused {command}: {reason}")]
    Refused {
        relay: SocketAddr,
        command: &'static str,
        reason: String,
    },
    #[error("media relay socket: {0}")]
    Socket(#[source] std::io::Error),
}

impl AnchorError {
    /// The relay answered, with an error: the request itself is the problem.
    fn is_refusal(&self) -> bool {
        matches!(self, AnchorError::Refused { .. })
    }
}

/// What one ng command is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Offer,
    Answer,
}

/// One core's ng client.
pub struct MediaAnchor {
    config: MediaRelayConfig,
    socket: Result<UdpSocket, String>,
    /// Distinguishes this anchor's cookies from other cores' and earlier runs'.
    cookie_prefix: String,
    sequence: u64,
    disabled_until: Option<Instant>,
    datagram: Vec<u8>,
    reply: Vec<u8>,
}

/// A UDP socket connected to `relay`, on an ephemeral port of the matching family.
pub fn connect(relay: SocketAddr) -> std::io::Result<UdpSocket> {
    let local: SocketAddr = if relay.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local)?;
    socket.connect(relay)?;
    Ok(socket)
}

impl MediaAnchor {
    /// An anchor for core `core`. A socket that cannot be opened (checked once at start-up,
    /// so practically never) makes every offer fail with 503 and an error logged.
    pub fn new(config: MediaRelayConfig, core: usize) -> Self {
        let socket = connect(config.relay).map_err(|e| e.to_string());
        if let Err(error) = &socket {
            tracing::error!(relay = %config.relay, %error, "media relay socket; calls will be refused");
        }
        let nonce: u32 = rand::random();
        Self {
            config,
            socket,
            cookie_prefix: format!("fv{nonce:08x}c{core}_"),
            sequence: 0,
            disabled_until: None,
            datagram: Vec::with_capacity(2048),
            reply: vec![0; REPLY_BUFFER],
        }
    }

    /// `Policy::media`: the ng command for this SDP, and the relay's SDP in `body`.
    pub fn media(&mut self, m: &MediaMessage<'_>, body: &mut Vec<u8>, now: Instant) -> MediaAction {
        let (op, swapped) = match (m.status, m.method) {
            // An answer in a request (ACK, PRACK): the offerer is the To side.
            (None, Method::Ack | Method::Prack) => (Op::Answer, true),
            (None, _) => (Op::Offer, false),
            // A response to a request without SDP carries the offer (late offer).
            (Some(_), Method::Invite) if m.request_had_sdp == Some(false) => (Op::Offer, true),
            (Some(_), _) => (Op::Answer, false),
        };
        let to_tag = m.to_tag.unwrap_or_default();
        let (from_tag, to_tag) = if swapped {
            (to_tag, m.from_tag)
        } else {
            (m.from_tag, to_tag)
        };
        let command = match op {
            Op::Offer => "offer",
            Op::Answer => "answer",
        };
        let mut entries = vec![
            ("command", Value::bytes(command)),
            ("call-id", Value::bytes(m.call_id)),
            ("from-tag", Value::bytes(from_tag)),
            ("sdp", Value::bytes(m.body)),
            (
                "replace",
                Value::List(vec![
                    Value::bytes("origin"),
                    Value::bytes("session-connection"),
                ]),
            ),
            ("ICE", Value::bytes("remove")),
        ];
        if !to_tag.is_empty() {
            entries.push(("to-tag", Value::bytes(to_tag)));
        }
        if !m.via_branch.is_empty() {
            entries.push(("via-branch", Value::bytes(m.via_branch)));
        }
        let call_id = String::from_utf8_lossy(m.call_id);
        match self.exchange(command, Value::dict(entries), now) {
            Ok(reply) => match reply.get("sdp") {
                Some(Value::Bytes(sdp)) => {
                    body.extend_from_slice(sdp);
                    MediaAction::Replace
                }
                _ => {
                    let error = AnchorError::BadReply {
                        relay: self.config.relay,
                        reason: format!("{command} reply without an SDP"),
                    };
                    self.fail(op, m, &call_id, &error)
                }
            },
            Err(error) => self.fail(op, m, &call_id, &error),
        }
    }

    fn fail(
        &self,
        op: Op,
        m: &MediaMessage<'_>,
        call_id: &str,
        error: &AnchorError,
    ) -> MediaAction {
        let status = m.status;
        if op == Op::Offer && m.is_request() {
            tracing::warn!(%call_id, %error, "media offer failed: request refused");
            if error.is_refusal() {
                MediaAction::Reject {
                    code: 488,
                    reason: "Not Acceptable Here",
                }
            } else {
                MediaAction::Reject {
                    code: 503,
                    reason: "Service Unavailable",
                }
            }
        } else {
            tracing::warn!(%call_id, ?status, %error, "media anchoring failed: SDP passed on unchanged");
            MediaAction::Keep
        }
    }

    /// `Policy::media_ended`: `delete`.
    pub fn ended(&mut self, end: &MediaEnd<'_>, now: Instant) {
        let mut entries = vec![
            ("command", Value::bytes("delete")),
            ("call-id", Value::bytes(end.call_id)),
        ];
        if let Some(tag) = end.from_tag.filter(|t| !t.is_empty()) {
            entries.push(("from-tag", Value::bytes(tag)));
        }
        if let Some(tag) = end.to_tag.filter(|t| !t.is_empty()) {
            entries.push(("to-tag", Value::bytes(tag)));
        }
        let call_id = String::from_utf8_lossy(end.call_id);
        match self.exchange("delete", Value::dict(entries), now) {
            Ok(_) => tracing::debug!(%call_id, reason = ?end.reason, "media deleted"),
            // A call the relay does not have (its offer failed, it never had SDP, it was
            // deleted already): nothing to free.
            Err(error @ AnchorError::Refused { .. }) => {
                tracing::debug!(%call_id, reason = ?end.reason, %error, "media delete refused");
            }
            Err(error) => tracing::warn!(%call_id, %error, "media delete failed"),
        }
    }

    /// Sends `message` and waits for the reply with the same cookie; `Err` for no reply or a
    /// `result: error` reply.
    fn exchange(
        &mut self,
        command: &'static str,
        message: Value,
        now: Instant,
    ) -> Result<Value, AnchorError> {
        let relay = self.config.relay;
        let outcome = self.exchange_inner(command, &message, now);
        let result = match &outcome {
            Ok(_) => "ok",
            Err(AnchorError::Refused { .. }) => "error",
            Err(AnchorError::Timeout { .. } | AnchorError::Disabled { .. }) => "timeout",
            Err(_) => "unreachable",
        };
        metrics::counter!(
            "ferrovox_sip_media_relay_commands_total",
            "command" => command,
            "result" => result
        )
        .increment(1);
        if let Err(AnchorError::Timeout { .. }) = &outcome {
            self.disabled_until = Some(now + DISABLED_FOR);
            tracing::error!(%relay, skipped_for = ?DISABLED_FOR, "media relay not answering");
        }
        outcome
    }

    fn exchange_inner(
        &mut self,
        command: &'static str,
        message: &Value,
        now: Instant,
    ) -> Result<Value, AnchorError> {
        let relay = self.config.relay;
        if let Some(until) = self.disabled_until {
            if now < until {
                return Err(AnchorError::Disabled {
                    relay,
                    left: until - now,
                });
            }
            self.disabled_until = None;
        }
        let socket = match &self.socket {
            Ok(socket) => socket,
            Err(reason) => {
                return Err(AnchorError::Socket(std::io::Error::other(reason.clone())));
            }
        };
        self.sequence += 1;
        self.datagram.clear();
        self.datagram
            .extend_from_slice(self.cookie_prefix.as_bytes());
        self.datagram
            .extend_from_slice(self.sequence.to_string().as_bytes());
        let cookie_end = self.datagram.len();
        self.datagram.push(b' ');
        message.encode(&mut self.datagram);
        let attempts = self.config.retries + 1;
        for _ in 0..attempts {
            match socket.send(&self.datagram) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                    return Err(AnchorError::Unreachable { relay, source: e });
                }
                Err(e) => return Err(AnchorError::Socket(e)),
            }
            let deadline = Instant::now() + self.config.timeout;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                socket
                    .set_read_timeout(Some(left))
                    .map_err(AnchorError::Socket)?;
                let n = match socket.recv(&mut self.reply) {
                    Ok(n) => n,
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        break;
                    }
                    Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                        return Err(AnchorError::Unreachable { relay, source: e });
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(AnchorError::Socket(e)),
                };
                let datagram = &self.reply[..n];
                let cookie = &self.datagram[..cookie_end];
                // A late reply to an earlier command that timed out: not ours.
                let Some(body) = datagram
                    .strip_prefix(cookie)
                    .and_then(|rest| rest.strip_prefix(b" "))
                else {
                    continue;
                };
                let reply = bencode::decode(body).map_err(|e| AnchorError::BadReply {
                    relay,
                    reason: e.to_string(),
                })?;
                return match reply.get("result").and_then(Value::as_str) {
                    Some("ok") => Ok(reply),
                    Some("error") => Err(AnchorError::Refused {
                        relay,
                        command,
                        reason: reply
                            .get("error-reason")
                            .and_then(Value::as_str)
                            .unwrap_or("no reason given")
                            .to_owned(),
                    }),
                    other => Err(AnchorError::BadReply {
                        relay,
                        reason: format!("result {other:?}"),
                    }),
                };
            }
        }
        Err(AnchorError::Timeout {
            relay,
            attempts,
            timeout: self.config.timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrovox_proxy::MediaEndReason;
    use ferrovox_sip::Message;
    use std::sync::mpsc;

    const SDP: &[u8] = b"v=0\r\nc=IN IP4 192.0.2.10\r\nm=audio 4000 RTP/AVP 0\r\n";
    const RELAYED: &[u8] = b"v=0\r\nc=IN IP4 203.0.113.7\r\nm=audio 30000 RTP/AVP 0\r\n";

    /// A relay on a thread: records each datagram (cookie, decoded message) and answers
    /// with `reply(message, attempt)`; `None` stays silent.
    struct FakeRelay {
        addr: SocketAddr,
        seen: mpsc::Receiver<(String, Value)>,
    }

    impl FakeRelay {
        fn start(reply: impl Fn(&Value, usize) -> Option<Value> + Send + 'static) -> Self {
            Self::start_raw(move |cookie, message, attempt| {
                reply(message, attempt)
                    .map(|answer| datagram(cookie, &answer))
                    .into_iter()
                    .collect()
            })
        }

        /// Answers with the datagrams `reply(cookie, message, attempt)` returns.
        fn start_raw(reply: impl Fn(&str, &Value, usize) -> Vec<Vec<u8>> + Send + 'static) -> Self {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            let addr = socket.local_addr().unwrap();
            let (tx, seen) = mpsc::channel();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65_535];
                let mut attempt = 0;
                while let Ok((n, from)) = socket.recv_from(&mut buf) {
                    let datagram = &buf[..n];
                    let space = datagram.iter().position(|b| *b == b' ').unwrap();
                    let cookie = String::from_utf8_lossy(&datagram[..space]).into_owned();
                    let message = bencode::decode(&datagram[space + 1..]).unwrap();
                    attempt += 1;
                    let answers = reply(&cookie, &message, attempt);
                    if tx.send((cookie, message)).is_err() {
                        return;
                    }
                    for answer in answers {
                        let _ = socket.send_to(&answer, from);
                    }
                }
            });
            Self { addr, seen }
        }

        fn next(&self) -> (String, Value) {
            self.seen
                .recv_timeout(Duration::from_secs(5))
                .expect("a command at the relay")
        }
    }

    fn datagram(cookie: &str, message: &Value) -> Vec<u8> {
        let mut out = format!("{cookie} ").into_bytes();
        message.encode(&mut out);
        out
    }

    fn ok_with_sdp(_: &Value, _: usize) -> Option<Value> {
        Some(Value::dict([
            ("result", Value::bytes("ok")),
            ("sdp", Value::bytes(RELAYED)),
        ]))
    }

    fn anchor(relay: SocketAddr, timeout: Duration) -> MediaAnchor {
        MediaAnchor::new(
            MediaRelayConfig {
                relay,
                timeout,
                retries: 2,
            },
            3,
        )
    }

    fn text(value: Option<&Value>) -> Option<String> {
        value.and_then(Value::as_str).map(str::to_owned)
    }

    const INVITE: &[u8] = b"INVITE sip:b@192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKv1\r\nFrom: <sip:a@x>;tag=A\r\nTo: <sip:b@x>\r\nCall-ID: call-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";

    /// A MediaMessage for `status`/`method` with the given tags, over a parsed stand-in.
    fn media<'a>(
        msg: &'a Message<'a>,
        method: Method<'a>,
        status: Option<u16>,
        to_tag: Option<&'a [u8]>,
        request_had_sdp: Option<bool>,
    ) -> MediaMessage<'a> {
        MediaMessage {
            msg,
            method,
            status,
            call_id: b"call-1",
            from_tag: b"A",
            to_tag,
            via_branch: b"z9hG4bKv1",
            request_had_sdp,
            body: SDP,
        }
    }

    #[test]
    fn offers_and_answers_carry_the_modules_tags_and_flags_and_return_the_relays_sdp() {
        let relay = FakeRelay::start(ok_with_sdp);
        let mut anchor = anchor(relay.addr, Duration::from_secs(2));
        let msg = Message::parse(INVITE).unwrap();
        let now = Instant::now();

        let mut body = Vec::new();
        let offer = media(&msg, Method::Invite, None, None, None);
        assert_eq!(anchor.media(&offer, &mut body, now), MediaAction::Replace);
        assert_eq!(body, RELAYED);
        let (cookie, sent) = relay.next();
        assert!(
            cookie.starts_with("fv") && cookie.contains("c3_"),
            "{cookie}"
        );
        assert_eq!(text(sent.get("command")).as_deref(), Some("offer"));
        assert_eq!(text(sent.get("call-id")).as_deref(), Some("call-1"));
        assert_eq!(text(sent.get("from-tag")).as_deref(), Some("A"));
        assert_eq!(sent.get("to-tag"), None, "an initial offer has no to-tag");
        assert_eq!(text(sent.get("via-branch")).as_deref(), Some("z9hG4bKv1"));
        assert_eq!(text(sent.get("ICE")).as_deref(), Some("remove"));
        assert_eq!(
            sent.get("replace"),
            Some(&Value::List(vec![
                Value::bytes("origin"),
                Value::bytes("session-connection")
            ]))
        );
        assert_eq!(sent.get("sdp"), Some(&Value::bytes(SDP)));

        // The 200's SDP answers: From side offered.
        let mut body = Vec::new();
        let answer = media(&msg, Method::Invite, Some(200), Some(b"B"), Some(true));
        assert_eq!(anchor.media(&answer, &mut body, now), MediaAction::Replace);
        let (second_cookie, sent) = relay.next();
        assert_ne!(second_cookie, cookie, "one cookie per command");
        assert_eq!(
            (
                text(sent.get("command")),
                text(sent.get("from-tag")),
                text(sent.get("to-tag"))
            ),
            (Some("answer".into()), Some("A".into()), Some("B".into()))
        );

        // Late offer: the 200 offers from the To side, the ACK answers from the From side,
        // so both name the callee's tag as from-tag.
        for (method, status, expected) in [
            (Method::Invite, Some(200), "offer"),
            (Method::Ack, None, "answer"),
        ] {
            let late = media(&msg, method, status, Some(b"B"), status.map(|_| false));
            assert_eq!(
                anchor.media(&late, &mut Vec::new(), now),
                MediaAction::Replace
            );
            let (_, sent) = relay.next();
            assert_eq!(
                (
                    text(sent.get("command")),
                    text(sent.get("from-tag")),
                    text(sent.get("to-tag"))
                ),
                (Some(expected.into()), Some("B".into()), Some("A".into())),
                "{method:?} {status:?}"
            );
        }

        // A re-INVITE from the callee offers with its own tag first.
        let reinvite = MediaMessage {
            from_tag: b"B",
            ..media(&msg, Method::Invite, None, Some(b"A"), None)
        };
        anchor.media(&reinvite, &mut Vec::new(), now);
        let (_, sent) = relay.next();
        assert_eq!(
            (
                text(sent.get("command")),
                text(sent.get("from-tag")),
                text(sent.get("to-tag"))
            ),
            (Some("offer".into()), Some("B".into()), Some("A".into()))
        );

        // The end: delete with the BYE's tags.
        anchor.ended(
            &MediaEnd {
                call_id: b"call-1",
                from_tag: Some(b"B"),
                to_tag: Some(b"A"),
                reason: MediaEndReason::Bye,
            },
            now,
        );
        let (_, sent) = relay.next();
        assert_eq!(
            (
                text(sent.get("command")),
                text(sent.get("call-id")),
                text(sent.get("from-tag"))
            ),
            (
                Some("delete".into()),
                Some("call-1".into()),
                Some("B".into())
            )
        );
    }

    #[test]
    fn a_relay_error_refuses_the_offer_with_488_but_lets_an_answer_through() {
        let relay = FakeRelay::start(|_, _| {
            Some(Value::dict([
                ("result", Value::bytes("error")),
                ("error-reason", Value::bytes("Failed to parse SDP")),
            ]))
        });
        let mut anchor = anchor(relay.addr, Duration::from_secs(2));
        let msg = Message::parse(INVITE).unwrap();
        let now = Instant::now();
        let offer = media(&msg, Method::Invite, None, None, None);
        assert_eq!(
            anchor.media(&offer, &mut Vec::new(), now),
            MediaAction::Reject {
                code: 488,
                reason: "Not Acceptable Here"
            }
        );
        let answer = media(&msg, Method::Invite, Some(200), Some(b"B"), Some(true));
        let mut body = Vec::new();
        assert_eq!(anchor.media(&answer, &mut body, now), MediaAction::Keep);
        assert!(body.is_empty());
        // A refusal is an answer: the relay is not skipped afterwards.
        assert_eq!(
            anchor.media(&offer, &mut Vec::new(), now),
            MediaAction::Reject {
                code: 488,
                reason: "Not Acceptable Here"
            }
        );
        assert_eq!(relay.seen.try_iter().count(), 3);
    }

    #[test]
    fn an_unreachable_relay_refuses_offers_with_503_at_once() {
        // A port nobody listens on: the connected socket sees ICMP port unreachable.
        let closed = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut anchor = anchor(closed, Duration::from_secs(5));
        let msg = Message::parse(INVITE).unwrap();
        let started = Instant::now();
        let offer = media(&msg, Method::Invite, None, None, None);
        assert_eq!(
            anchor.media(&offer, &mut Vec::new(), started),
            MediaAction::Reject {
                code: 503,
                reason: "Service Unavailable"
            }
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_silent_relay_gets_every_retry_then_is_skipped() {
        let relay = FakeRelay::start(|_, _| None);
        let mut anchor = anchor(relay.addr, Duration::from_millis(100));
        let msg = Message::parse(INVITE).unwrap();
        let now = Instant::now();
        let offer = media(&msg, Method::Invite, None, None, None);
        assert_eq!(
            anchor.media(&offer, &mut Vec::new(), now),
            MediaAction::Reject {
                code: 503,
                reason: "Service Unavailable"
            }
        );
        let elapsed = now.elapsed();
        assert!(
            elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2),
            "three attempts of 100 ms took {elapsed:?}"
        );
        let cookies: Vec<String> = (0..3).map(|_| relay.next().0).collect();
        assert!(
            cookies.iter().all(|c| *c == cookies[0]),
            "retries resend the same cookie: {cookies:?}"
        );
        // Skipped now: refused at once, nothing sent.
        let again = Instant::now();
        assert_eq!(
            anchor.media(&offer, &mut Vec::new(), again),
            MediaAction::Reject {
                code: 503,
                reason: "Service Unavailable"
            }
        );
        assert!(again.elapsed() < Duration::from_millis(50));
        assert!(relay.seen.recv_timeout(Duration::from_millis(200)).is_err());
        // After DISABLED_FOR it is tried again.
        anchor.media(&offer, &mut Vec::new(), again + DISABLED_FOR);
        relay.next();
    }

    #[test]
    fn a_lost_reply_is_recovered_by_a_retry_and_stale_replies_are_ignored() {
        // The first attempt goes unanswered; the retry gets a stale reply to some other
        // command first (another cookie, a wrong SDP), then its own.
        let relay = FakeRelay::start_raw(|cookie, message, attempt| {
            if attempt < 2 {
                return Vec::new();
            }
            let stale = Value::dict([
                ("result", Value::bytes("ok")),
                ("sdp", Value::bytes("v=0 stale")),
            ]);
            vec![
                datagram("fv00000000c3_999", &stale),
                datagram(cookie, &ok_with_sdp(message, attempt).unwrap()),
            ]
        });
        let mut anchor = anchor(relay.addr, Duration::from_millis(200));
        let msg = Message::parse(INVITE).unwrap();
        let offer = media(&msg, Method::Invite, None, None, None);
        let mut body = Vec::new();
        assert_eq!(
            anchor.media(&offer, &mut body, Instant::now()),
            MediaAction::Replace
        );
        assert_eq!(body, RELAYED);
        let (first, _) = relay.next();
        let (second, _) = relay.next();
        assert_eq!(first, second, "the retry resends the same cookie");
    }
}
