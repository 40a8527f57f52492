//! The media hooks (`Policy::media`, `Policy::media_ended`) that media
//! anchoring builds on: which messages the policy sees, with what context,
//! how a new body is forwarded, a refused offer, and every way a call's
//! media ends — on a fake clock with literal messages.

mod common;

use common::*;
use ferrovox_proxy::{
    Decision, ForwardPlan, MediaAction, MediaEnd, MediaEndReason, MediaMessage, Policy,
    ProxyConfig, RouteRequest, Target,
};
use ferrovox_sip::build::ResponseBuilder;
use std::time::{Duration, Instant};

/// What the policy was shown, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    method: String,
    status: Option<u16>,
    call_id: String,
    from_tag: String,
    to_tag: Option<String>,
    via_branch: String,
    request_had_sdp: Option<bool>,
    body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Ended {
    call_id: String,
    from_tag: Option<String>,
    to_tag: Option<String>,
    reason: MediaEndReason,
}

/// Forwards to bob; answers every SDP with `relay <n>` (n counts the
/// calls), or refuses offers when `refuse` is set.
#[derive(Debug, Default)]
struct Anchoring {
    seen: Vec<Seen>,
    ended: Vec<Ended>,
    refuse: Option<(u16, &'static str)>,
    keep: bool,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Policy for Anchoring {
    fn route(&mut self, _req: &RouteRequest<'_>, _now: Instant) -> Decision {
        Decision::Forward(ForwardPlan::single(Target::to_peer(bob())))
    }

    fn media(&mut self, m: &MediaMessage<'_>, body: &mut Vec<u8>, _now: Instant) -> MediaAction {
        assert!(body.is_empty(), "the body buffer starts empty");
        self.seen.push(Seen {
            method: text(m.method.as_bytes()),
            status: m.status,
            call_id: text(m.call_id),
            from_tag: text(m.from_tag),
            to_tag: m.to_tag.map(text),
            via_branch: text(m.via_branch),
            request_had_sdp: m.request_had_sdp,
            body: text(m.body),
        });
        if let Some((code, reason)) = self.refuse {
            return MediaAction::Reject { code, reason };
        }
        if self.keep {
            return MediaAction::Keep;
        }
        body.extend_from_slice(
            format!("v=0\r\nc=IN IP4 203.0.113.{}\r\n", self.seen.len()).as_bytes(),
        );
        MediaAction::Replace
    }

    fn media_ended(&mut self, end: &MediaEnd<'_>, _now: Instant) {
        self.ended.push(Ended {
            call_id: text(end.call_id),
            from_tag: end.from_tag.map(text),
            to_tag: end.to_tag.map(text),
            reason: end.reason,
        });
    }
}

const SDP: &str = "v=0\r\nc=IN IP4 192.0.2.10\r\nm=audio 4000 RTP/AVP 0\r\n";

fn harness() -> Harness<Anchoring> {
    Harness::new(config(), Anchoring::default())
}

fn with_body(message: &str, body: &str) -> String {
    let (head, _) = message
        .split_once("Content-Length:")
        .expect("a Content-Length");
    format!(
        "{head}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn invite_sdp(call_id: &str, body: Option<&str>) -> String {
    let plain = format!(
        "INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKinv-{call_id};rport\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@example.com>;tag=a1\r\n\
To: Bob <sip:bob@example.com>\r\n\
Call-ID: {call_id}\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@192.0.2.10:5060>\r\n\
Content-Length: 0\r\n\r\n"
    );
    match body {
        Some(b) => with_body(&plain, b),
        None => plain,
    }
}

/// The callee's response, with an SDP body when given.
fn reply(req: &Sent, code: u16, reason: &str, to_tag: &str, body: Option<&str>) -> String {
    let m = req.msg();
    let rr: Vec<String> = req.headers("Record-Route");
    let mut headers: Vec<(&[u8], &[u8])> = rr
        .iter()
        .map(|v| (&b"Record-Route"[..], v.as_bytes()))
        .collect();
    headers.push((b"Contact", b"<sip:bob@127.0.0.1:5080>"));
    let mut b = ResponseBuilder::new(code, reason.as_bytes()).headers(&headers);
    if !to_tag.is_empty() {
        b = b.to_tag(to_tag.as_bytes());
    }
    if let Some(body) = body {
        b = b.body(b"application/sdp", body.as_bytes());
    }
    let mut out = Vec::new();
    b.write(&m, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// An in-dialog request from the caller (`a1` → `b1`) through the proxy's
/// Record-Route.
fn in_dialog(method: &str, call_id: &str, cseq: u32, branch: &str, body: Option<&str>) -> String {
    let plain = format!(
        "{method} sip:bob@127.0.0.1:5080 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch={branch};rport\r\n\
Route: <sip:127.0.0.1:5070;lr>\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@example.com>;tag=a1\r\n\
To: Bob <sip:bob@example.com>;tag=b1\r\n\
Call-ID: {call_id}\r\n\
CSeq: {cseq} {method}\r\n\
Content-Length: 0\r\n\r\n"
    );
    match body {
        Some(b) => with_body(&plain, b),
        None => plain,
    }
}

fn body_of(sent: &Sent) -> String {
    let m = sent.msg();
    text(m.body())
}

/// The Content-Length header matches the body and Content-Type is kept.
fn assert_framed(sent: &Sent) {
    let body = body_of(sent);
    assert_eq!(
        sent.header("Content-Length").unwrap(),
        body.len().to_string(),
        "{}",
        sent.text
    );
    assert_eq!(sent.headers("Content-Type"), vec!["application/sdp"]);
}

/// INVITE with SDP → 180 → 200 with SDP; returns the forwarded INVITE.
fn answered_call(h: &mut Harness<Anchoring>, call_id: &str) -> Sent {
    let out = h.input(&invite_sdp(call_id, Some(SDP)), alice());
    let fwd = out.into_iter().find(|s| s.is_request("INVITE")).unwrap();
    one(
        h.input(&reply(&fwd, 180, "Ringing", "b1", None), bob()),
        alice(),
    );
    one(
        h.input(&reply(&fwd, 200, "OK", "b1", Some(SDP)), bob()),
        alice(),
    );
    fwd
}

#[test]
fn an_offer_and_its_answer_go_through_the_policy_and_carry_its_sdp() {
    let mut h = harness();
    let out = h.input(&invite_sdp("m1", Some(SDP)), alice());
    let fwd = out.iter().find(|s| s.is_request("INVITE")).unwrap().clone();
    assert_eq!(body_of(&fwd), "v=0\r\nc=IN IP4 203.0.113.1\r\n");
    assert_framed(&fwd);
    // The proxy's own edits are still there.
    assert_eq!(fwd.vias().len(), 2);
    assert_eq!(fwd.header("Max-Forwards").unwrap(), "69");
    assert!(fwd.header("Record-Route").is_some());

    // A provisional without SDP is not shown; a 183 with SDP and the 200
    // are, as answers to an offer.
    one(
        h.input(&reply(&fwd, 180, "Ringing", "b1", None), bob()),
        alice(),
    );
    let early = one(
        h.input(
            &reply(&fwd, 183, "Session Progress", "b1", Some(SDP)),
            bob(),
        ),
        alice(),
    );
    assert_eq!(body_of(&early), "v=0\r\nc=IN IP4 203.0.113.2\r\n");
    assert_framed(&early);
    let ok = one(
        h.input(&reply(&fwd, 200, "OK", "b1", Some(SDP)), bob()),
        alice(),
    );
    assert_eq!(body_of(&ok), "v=0\r\nc=IN IP4 203.0.113.3\r\n");
    assert_framed(&ok);
    assert_eq!(ok.vias().len(), 1, "our Via is still removed");

    let seen = &h.proxy.policy().seen;
    let offer = Seen {
        method: "INVITE".into(),
        status: None,
        call_id: "m1".into(),
        from_tag: "a1".into(),
        to_tag: None,
        via_branch: "z9hG4bKinv-m1".into(),
        request_had_sdp: None,
        body: SDP.into(),
    };
    let answer = |status| Seen {
        status: Some(status),
        to_tag: Some("b1".into()),
        request_had_sdp: Some(true),
        ..offer.clone()
    };
    assert_eq!(seen, &vec![offer.clone(), answer(183), answer(200)]);
    assert!(h.proxy.policy().ended.is_empty());
}

#[test]
fn a_late_offer_in_the_200_is_answered_in_the_ack() {
    let mut h = harness();
    let out = h.input(&invite_sdp("m2", None), alice());
    let fwd = out.into_iter().find(|s| s.is_request("INVITE")).unwrap();
    assert!(h.proxy.policy().seen.is_empty(), "no SDP, nothing shown");
    let ok = one(
        h.input(&reply(&fwd, 200, "OK", "b1", Some(SDP)), bob()),
        alice(),
    );
    assert_eq!(body_of(&ok), "v=0\r\nc=IN IP4 203.0.113.1\r\n");
    let ack = in_dialog("ACK", "m2", 1, "z9hG4bKack-m2", Some(SDP));
    let fack = one(h.input(&ack, alice()), bob());
    assert!(fack.is_request("ACK"));
    assert_eq!(body_of(&fack), "v=0\r\nc=IN IP4 203.0.113.2\r\n");
    assert_framed(&fack);
    assert_eq!(fack.header("Route"), None, "our Route is still removed");
    let seen = &h.proxy.policy().seen;
    assert_eq!(
        (seen[0].status, seen[0].request_had_sdp),
        (Some(200), Some(false)),
        "the 200 carries an offer"
    );
    assert_eq!(
        (
            seen[1].method.as_str(),
            seen[1].to_tag.as_deref(),
            seen[1].via_branch.as_str()
        ),
        ("ACK", Some("b1"), "z9hG4bKack-m2")
    );
}

#[test]
fn re_invite_and_update_offers_and_answers_are_shown_but_their_failure_ends_nothing() {
    let mut h = harness();
    answered_call(&mut h, "m3");
    let reinvite = in_dialog("INVITE", "m3", 2, "z9hG4bKre-m3", Some(SDP));
    let out = h.input(&reinvite, alice());
    let fwd = out.into_iter().find(|s| s.is_request("INVITE")).unwrap();
    assert_eq!(body_of(&fwd), "v=0\r\nc=IN IP4 203.0.113.3\r\n");
    assert_framed(&fwd);
    // The callee refuses the re-INVITE: the call goes on, its media too.
    let out = h.input(&reply(&fwd, 488, "Not Acceptable Here", "", None), bob());
    assert!(
        out.iter()
            .any(|s| s.status() == Some(488) && s.dest == alice())
    );
    assert!(
        h.proxy.policy().ended.is_empty(),
        "{:?}",
        h.proxy.policy().ended
    );

    let update = in_dialog("UPDATE", "m3", 3, "z9hG4bKup-m3", Some(SDP));
    let out = h.input(&update, alice());
    let fwd = out.into_iter().find(|s| s.is_request("UPDATE")).unwrap();
    assert_eq!(body_of(&fwd), "v=0\r\nc=IN IP4 203.0.113.4\r\n");
    let ok = one(
        h.input(&reply(&fwd, 200, "OK", "", Some(SDP)), bob()),
        alice(),
    );
    assert_eq!(body_of(&ok), "v=0\r\nc=IN IP4 203.0.113.5\r\n");
    let seen = &h.proxy.policy().seen;
    let methods: Vec<(&str, Option<u16>, Option<&str>)> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.status, s.to_tag.as_deref()))
        .collect();
    assert_eq!(
        methods,
        [
            ("INVITE", None, None),
            ("INVITE", Some(200), Some("b1")),
            ("INVITE", None, Some("b1")),
            ("UPDATE", None, Some("b1")),
            ("UPDATE", Some(200), Some("b1")),
        ]
    );
}

#[test]
fn a_refused_offer_is_answered_with_the_policys_status_and_not_forwarded() {
    let mut h = harness();
    h.proxy.policy_mut().refuse = Some((503, "Media Relay Unavailable"));
    let out = h.input(&invite_sdp("m4", Some(SDP)), alice());
    assert!(
        out.iter().all(|s| s.dest == alice()),
        "nothing goes to the callee: {out:#?}"
    );
    let refused = out.iter().find(|s| s.status() == Some(503)).unwrap();
    assert!(refused.start_line().ends_with("Media Relay Unavailable"));
    assert_eq!(h.proxy.stats().forwarded, 0);
    // The retransmitted INVITE is absorbed by the transaction (no second
    // offer to the relay) and gets the same answer.
    let again = h.input(&invite_sdp("m4", Some(SDP)), alice());
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].status(), Some(503));
    assert_eq!(h.proxy.policy().seen.len(), 1);
}

#[test]
fn a_refused_answer_or_ack_still_goes_on_unchanged() {
    let mut h = harness();
    h.proxy.policy_mut().keep = true;
    let out = h.input(&invite_sdp("m5", Some(SDP)), alice());
    let fwd = out.into_iter().find(|s| s.is_request("INVITE")).unwrap();
    assert_eq!(body_of(&fwd), SDP, "Keep forwards the body as it came");
    h.proxy.policy_mut().refuse = Some((500, "Relay Error"));
    let ok = one(
        h.input(&reply(&fwd, 200, "OK", "b1", Some(SDP)), bob()),
        alice(),
    );
    assert_eq!((ok.status(), body_of(&ok)), (Some(200), SDP.to_owned()));
    let ack = in_dialog("ACK", "m5", 1, "z9hG4bKack-m5", Some(SDP));
    let fack = one(h.input(&ack, alice()), bob());
    assert_eq!(body_of(&fack), SDP);
}

#[test]
fn a_bye_ends_the_media_with_its_tags() {
    let mut h = harness();
    answered_call(&mut h, "m6");
    let bye = "BYE sip:alice@192.0.2.10:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKbye-m6;rport\r\n\
Route: <sip:127.0.0.1:5070;lr>\r\n\
Max-Forwards: 70\r\n\
From: Bob <sip:bob@example.com>;tag=b1\r\n\
To: Alice <sip:alice@example.com>;tag=a1\r\n\
Call-ID: m6\r\n\
CSeq: 1 BYE\r\n\
Content-Length: 0\r\n\r\n";
    let fbye = one(h.input(bye, bob()), alice());
    assert!(fbye.is_request("BYE"));
    assert_eq!(
        h.proxy.policy().ended,
        vec![Ended {
            call_id: "m6".into(),
            from_tag: Some("b1".into()),
            to_tag: Some("a1".into()),
            reason: MediaEndReason::Bye,
        }]
    );
    // A BYE retransmission is absorbed: no second end.
    h.input(bye, bob());
    assert_eq!(h.proxy.policy().ended.len(), 1);
}

#[test]
fn a_failed_or_cancelled_initial_invite_ends_the_media() {
    let mut h = harness();
    let out = h.input(&invite_sdp("m7", Some(SDP)), alice());
    let fwd = out.into_iter().find(|s| s.is_request("INVITE")).unwrap();
    let out = h.input(&reply(&fwd, 486, "Busy Here", "b1", None), bob());
    assert!(
        out.iter()
            .any(|s| s.status() == Some(486) && s.dest == alice())
    );
    let failed = |call_id: &str, code| Ended {
        call_id: call_id.into(),
        from_tag: Some("a1".into()),
        to_tag: None,
        reason: MediaEndReason::Failed { code },
    };
    assert_eq!(h.proxy.policy().ended, vec![failed("m7", 486)]);

    // Cancelled while ringing: ends with the 487.
    let out = h.input(&invite_sdp("m8", Some(SDP)), alice());
    let fwd = out.into_iter().find(|s| s.is_request("INVITE")).unwrap();
    h.input(&reply(&fwd, 180, "Ringing", "b8", None), bob());
    let cancel = "CANCEL sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKinv-m8;rport\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@example.com>;tag=a1\r\n\
To: Bob <sip:bob@example.com>\r\n\
Call-ID: m8\r\n\
CSeq: 1 CANCEL\r\n\
Content-Length: 0\r\n\r\n";
    h.input(cancel, alice());
    assert_eq!(
        h.proxy.policy().ended.len(),
        1,
        "nothing ends before the 487"
    );
    let out = h.input(&reply(&fwd, 487, "Request Terminated", "b8", None), bob());
    assert!(
        out.iter()
            .any(|s| s.status() == Some(487) && s.dest == alice())
    );
    assert_eq!(h.proxy.policy().ended[1], failed("m8", 487));

    // No answer at all: the 408 the proxy generates ends it too.
    let out = h.input(&invite_sdp("m9", Some(SDP)), alice());
    assert!(out.iter().any(|s| s.is_request("INVITE")));
    h.advance(Duration::from_secs(6));
    assert_eq!(h.proxy.policy().ended[2], failed("m9", 408));

    // A call whose SDP the policy never saw ends without a notification.
    let out = h.input(&invite_sdp("m10", None), alice());
    let fwd = out.into_iter().find(|s| s.is_request("INVITE")).unwrap();
    h.input(&reply(&fwd, 404, "Not Found", "b10", None), bob());
    assert_eq!(h.proxy.policy().ended.len(), 3);
}

#[test]
fn a_late_offer_call_that_fails_after_an_early_offer_ends_the_media() {
    let mut h = harness();
    let out = h.input(&invite_sdp("m11", None), alice());
    let fwd = out.into_iter().find(|s| s.is_request("INVITE")).unwrap();
    h.input(
        &reply(&fwd, 183, "Session Progress", "b1", Some(SDP)),
        bob(),
    );
    h.input(&reply(&fwd, 603, "Decline", "b1", None), bob());
    assert_eq!(
        h.proxy
            .policy()
            .ended
            .iter()
            .map(|e| e.reason)
            .collect::<Vec<_>>(),
        [MediaEndReason::Failed { code: 603 }]
    );
}

#[test]
fn a_silent_dialog_ends_the_media_when_it_times_out() {
    let config = ProxyConfig {
        dialog_timeout: Duration::from_secs(60),
        ..config()
    };
    let mut h = Harness::new(config, Anchoring::default());
    answered_call(&mut h, "m12");
    h.advance(Duration::from_secs(59));
    assert!(h.proxy.policy().ended.is_empty());
    h.advance(Duration::from_secs(2));
    assert_eq!(
        h.proxy.policy().ended,
        vec![Ended {
            call_id: "m12".into(),
            from_tag: None,
            to_tag: None,
            reason: MediaEndReason::DialogTimeout,
        }]
    );
}

#[test]
fn messages_without_sdp_or_of_other_methods_are_not_shown() {
    let mut h = harness();
    // A MESSAGE whose body is labelled SDP is not an offer.
    let message = with_body(
        "MESSAGE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKmsg;rport\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@example.com>;tag=a1\r\n\
To: Bob <sip:bob@example.com>\r\n\
Call-ID: m13\r\n\
CSeq: 1 MESSAGE\r\n\
Content-Length: 0\r\n\r\n",
        SDP,
    );
    let out = h.input(&message, alice());
    let fwd = out.into_iter().find(|s| s.is_request("MESSAGE")).unwrap();
    assert_eq!(body_of(&fwd), SDP);
    // An INVITE whose body is not SDP.
    let other = invite_sdp("m14", Some(SDP)).replace("application/sdp", "text/plain");
    let out = h.input(&other, alice());
    let fwd = out.into_iter().find(|s| s.is_request("INVITE")).unwrap();
    assert_eq!(body_of(&fwd), SDP);
    // Content-Type parameters and case do not hide SDP.
    let param =
        invite_sdp("m15", Some(SDP)).replace("application/sdp", "Application/SDP;charset=utf-8");
    let out = h.input(&param, alice());
    let fwd = out.into_iter().find(|s| s.is_request("INVITE")).unwrap();
    assert_ne!(body_of(&fwd), SDP);
    assert_eq!(h.proxy.policy().seen.len(), 1);
}
