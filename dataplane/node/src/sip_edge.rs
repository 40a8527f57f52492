//! What the node's SIP port answers today, decided without IO (the socket tasks in
//! [`crate::sip_socket`] only move bytes).
//!
//! The node has no routing yet (the stateful proxy, registrar and media anchoring arrive with
//! the SIP issue), so it is a stateless user-agent server of its own address:
//! - OPTIONS → 200 OK, with Allow/Accept/Supported: what keep-alive probes and carrier
//!   monitoring expect (RFC 3261 §11);
//! - a malformed request → the status the parser names (400, 505, 513) with its reason, when
//!   enough of the request is readable to answer; otherwise it is dropped;
//! - CANCEL → 481 (no transaction exists to cancel), ACK → nothing (RFC 3261 §17.2.3);
//! - any other request → 501 Not Implemented with Allow (RFC 3261 §21.5.2);
//! - responses are dropped: the node sent no request;
//! - a double-CRLF keep-alive ping gets a single CRLF pong (RFC 5626 §4.4.1).
//!
//! Responses are stateless, so a retransmitted request gets the same answer, same To tag
//! included (the tag is a hash of the request, not random).

use ferrovox_sip::build::ResponseBuilder;
use ferrovox_sip::rewrite::stateless_branch;
use ferrovox_sip::validate::validate_request;
use ferrovox_sip::{Message, Method};

/// The methods this node answers with something other than 501.
pub const ALLOW: &[u8] = b"OPTIONS, ACK, CANCEL";

/// What to do with one received message.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send the response written into the caller's buffer.
    Respond { code: u16, method: String },
    /// Send a single CRLF (keep-alive pong).
    Pong,
    /// Send nothing.
    Drop { why: &'static str },
}

/// Decides how to answer `datagram`; a response, if any, is written to `out`.
pub fn answer(datagram: &[u8], salt: u64, out: &mut Vec<u8>) -> Verdict {
    out.clear();
    if !datagram.is_empty() && datagram.iter().all(|b| *b == b'\r' || *b == b'\n') {
        return if datagram.len() >= 4 {
            Verdict::Pong
        } else {
            Verdict::Drop {
                why: "keep-alive pong",
            }
        };
    }
    let message = match Message::parse(datagram) {
        Ok(message) => message,
        Err(error) if error.status_code() == 505 => return answer_bad_version(datagram, salt, out),
        Err(_) => return Verdict::Drop { why: "unparseable" },
    };
    let Some(method) = message.method() else {
        return Verdict::Drop {
            why: "response without a request",
        };
    };
    let method_name = String::from_utf8_lossy(method_token(&method, &message)).into_owned();
    let tag = to_tag(&message, salt);
    let (code, reason): (u16, std::borrow::Cow<'static, [u8]>) = match validate_request(&message) {
        Err(error) => (
            error.status_code(),
            error.reason_phrase().as_bytes().to_vec().into(),
        ),
        Ok(_) => match method {
            Method::Ack => return Verdict::Drop { why: "ACK" },
            Method::Options => (200, b"OK"[..].into()),
            Method::Cancel => (481, b"Call/Transaction Does Not Exist"[..].into()),
            _ => (501, b"Not Implemented"[..].into()),
        },
    };
    let headers: &[(&[u8], &[u8])] = &[
        (b"Allow", ALLOW),
        (b"Accept", b"application/sdp"),
        (b"Supported", b"path, outbound"),
        (
            b"Server",
            concat!("ferrovox/", env!("CARGO_PKG_VERSION")).as_bytes(),
        ),
    ];
    let builder = ResponseBuilder::new(code, &reason)
        .to_tag(&tag)
        .headers(headers);
    match builder.write(&message, out) {
        Ok(()) => Verdict::Respond {
            code,
            method: method_name,
        },
        Err(_) => Verdict::Drop {
            why: "cannot build a response",
        },
    }
}

/// RFC 3261 §8.2.1 wants 505 for another SIP version. The parser rejects such a request, so
/// its headers are read from a copy whose request line says SIP/2.0; the answer itself still
/// tells the client its version is not supported.
fn answer_bad_version(datagram: &[u8], salt: u64, out: &mut Vec<u8>) -> Verdict {
    let line_end = datagram
        .iter()
        .position(|b| *b == b'\n')
        .unwrap_or(datagram.len());
    let line = datagram[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&datagram[..line_end]);
    let Some(space) = line.iter().rposition(|b| *b == b' ') else {
        return Verdict::Drop { why: "unparseable" };
    };
    if !line[space + 1..].starts_with(b"SIP/") {
        return Verdict::Drop { why: "unparseable" };
    }
    let mut patched = Vec::with_capacity(datagram.len() + 8);
    patched.extend_from_slice(&line[..space + 1]);
    patched.extend_from_slice(b"SIP/2.0");
    patched.extend_from_slice(&datagram[line.len()..]);
    let Ok(message) = Message::parse(&patched) else {
        return Verdict::Drop { why: "unparseable" };
    };
    let Some(method) = message.method() else {
        return Verdict::Drop { why: "unparseable" };
    };
    let method_name = String::from_utf8_lossy(method_token(&method, &message)).into_owned();
    let tag = to_tag(&message, salt);
    let builder = ResponseBuilder::new(505, b"Version Not Supported").to_tag(&tag);
    match builder.write(&message, out) {
        Ok(()) => Verdict::Respond {
            code: 505,
            method: method_name,
        },
        Err(_) => Verdict::Drop {
            why: "cannot build a response",
        },
    }
}

fn method_token<'a>(method: &Method<'a>, message: &Message<'a>) -> &'a [u8] {
    match method {
        Method::Other(token) => token,
        _ => message
            .as_bytes()
            .split(|b| *b == b' ')
            .next()
            .unwrap_or(b"UNKNOWN"),
    }
}

/// A To tag derived from the request, so retransmissions get the same one.
fn to_tag(message: &Message<'_>, salt: u64) -> Vec<u8> {
    match stateless_branch(message, salt) {
        // The branch is "z9hG4bK" + 16 hex digits; the digits make a good tag.
        Ok(branch) => branch[7..].to_vec(),
        Err(_) => format!("{salt:016x}").into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, extra: &str) -> Vec<u8> {
        format!(
            "{method} sip:ferrovox@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-1;rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:probe@127.0.0.1>;tag=abc\r\n\
             To: <sip:ferrovox@127.0.0.1>\r\n\
             Call-ID: call-1@127.0.0.1\r\n\
             CSeq: 7 {method}\r\n\
             {extra}Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    fn respond(datagram: &[u8]) -> (Verdict, String) {
        let mut out = Vec::new();
        let verdict = answer(datagram, 42, &mut out);
        (verdict, String::from_utf8(out).unwrap())
    }

    #[test]
    fn options_gets_200_with_capabilities_and_a_stable_tag() {
        let (verdict, text) = respond(&request("OPTIONS", ""));
        assert_eq!(
            verdict,
            Verdict::Respond {
                code: 200,
                method: "OPTIONS".into()
            }
        );
        assert!(text.starts_with("SIP/2.0 200 OK\r\n"), "{text}");
        assert!(
            text.contains("Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-1;rport\r\n"),
            "{text}"
        );
        assert!(
            text.contains("CSeq: 7 OPTIONS\r\n") && text.contains("Call-ID: call-1@127.0.0.1\r\n")
        );
        assert!(text.contains("Allow: OPTIONS, ACK, CANCEL\r\n"));
        assert!(text.contains("To: <sip:ferrovox@127.0.0.1>;tag="), "{text}");
        let (_, again) = respond(&request("OPTIONS", ""));
        assert_eq!(text, again, "a retransmission gets the same answer");
    }

    #[test]
    fn unsupported_methods_get_501_cancel_481_and_ack_nothing() {
        let (verdict, text) = respond(&request("INVITE", ""));
        assert_eq!(
            verdict,
            Verdict::Respond {
                code: 501,
                method: "INVITE".into()
            }
        );
        assert!(
            text.starts_with("SIP/2.0 501 Not Implemented\r\n"),
            "{text}"
        );
        assert!(text.contains("Allow: OPTIONS, ACK, CANCEL\r\n"));
        assert_eq!(
            respond(&request("CANCEL", "")).0,
            Verdict::Respond {
                code: 481,
                method: "CANCEL".into()
            }
        );
        assert_eq!(
            respond(&request("FOO", "")).0,
            Verdict::Respond {
                code: 501,
                method: "FOO".into()
            }
        );
        assert_eq!(respond(&request("ACK", "")).0, Verdict::Drop { why: "ACK" });
    }

    #[test]
    fn malformed_requests_get_the_parsers_status() {
        let missing_call_id = String::from_utf8(request("OPTIONS", ""))
            .unwrap()
            .replace("Call-ID: call-1@127.0.0.1\r\n", "");
        let (verdict, text) = respond(missing_call_id.as_bytes());
        assert!(
            matches!(verdict, Verdict::Respond { code: 400, .. }),
            "{verdict:?}"
        );
        assert!(text.starts_with("SIP/2.0 400 "), "{text}");

        let mismatched = String::from_utf8(request("OPTIONS", ""))
            .unwrap()
            .replace("CSeq: 7 OPTIONS", "CSeq: 7 INVITE");
        assert!(matches!(
            respond(mismatched.as_bytes()).0,
            Verdict::Respond { code: 400, .. }
        ));

        let version = String::from_utf8(request("OPTIONS", ""))
            .unwrap()
            .replace("SIP/2.0\r\nVia", "SIP/7.0\r\nVia");
        assert!(
            matches!(
                respond(version.as_bytes()).0,
                Verdict::Respond { code: 505, .. }
            ),
            "{:?}",
            respond(version.as_bytes())
        );
    }

    #[test]
    fn garbage_responses_and_keepalives() {
        assert_eq!(
            respond(b"\x00\x01garbage").0,
            Verdict::Drop { why: "unparseable" }
        );
        assert_eq!(
            respond(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n").0,
            Verdict::Drop {
                why: "response without a request"
            }
        );
        assert_eq!(respond(b"\r\n\r\n").0, Verdict::Pong);
        assert!(matches!(respond(b"\r\n").0, Verdict::Drop { .. }));
    }
}
