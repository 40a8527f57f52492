//! Answers to requests the parser rejects (RFC 4475 §3.1.2: an element must answer a
//! malformed request with 400 when it can, not drop it).
//!
//! When `Message::parse` fails there is no parsed message to build a response from, so the
//! headers a response must echo (Via, From, To, Call-ID, CSeq, §8.2.6.2) are copied verbatim
//! from the raw lines, and the response goes back to the packet's source address (the Via
//! may be the broken part). A request line whose version is not SIP/2.0 gets 505. Nothing is
//! sent when the bytes do not look like a request or carry no Via.

/// Header names (full and compact, lowercase) a response echoes.
const ECHOED: &[&[u8]] = &[
    b"via", b"v", b"from", b"f", b"to", b"t", b"call-id", b"i", b"cseq",
];

/// Largest request this looks into; anything longer is dropped silently.
const MAX_SCAN: usize = 16 * 1024;

/// Writes a 400 (or 505) for the unparseable request `bytes` into `out`; `false` when none
/// can be made.
pub(crate) fn reply(bytes: &[u8], reason: &str, to_tag: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    let bytes = &bytes[..bytes.len().min(MAX_SCAN)];
    let mut lines = bytes
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let Some(request_line) = lines.next() else {
        return false;
    };
    if request_line.starts_with(b"SIP/") || !request_line.contains(&b' ') {
        return false; // a response, or not SIP at all
    }
    let version = request_line.rsplit(|&b| b == b' ').next().unwrap_or(b"");
    let (code, phrase): (u16, &str) = if version.len() > 4
        && version[..4].eq_ignore_ascii_case(b"SIP/")
        && !version.eq_ignore_ascii_case(b"SIP/2.0")
    {
        (505, "Version Not Supported")
    } else {
        (400, reason)
    };
    let mut headers = Vec::with_capacity(512);
    let mut copying = false;
    let mut has_via = false;
    let mut has_to = false;
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if copying {
                headers.extend_from_slice(line);
                headers.extend_from_slice(b"\r\n");
            }
            continue;
        }
        let name = line
            .iter()
            .position(|&b| b == b':')
            .map(|colon| line[..colon].trim_ascii());
        copying = name.is_some_and(|name| {
            ECHOED
                .iter()
                .any(|echoed| name.eq_ignore_ascii_case(echoed))
        });
        if copying {
            let name = name.unwrap_or_default();
            has_via |= name.eq_ignore_ascii_case(b"via") || name.eq_ignore_ascii_case(b"v");
            let is_to = name.eq_ignore_ascii_case(b"to") || name.eq_ignore_ascii_case(b"t");
            has_to |= is_to;
            headers.extend_from_slice(line);
            if is_to && !contains_tag(line) && !to_tag.is_empty() {
                headers.extend_from_slice(b";tag=");
                headers.extend_from_slice(to_tag);
            }
            headers.extend_from_slice(b"\r\n");
        }
    }
    if !has_via || !has_to {
        return false;
    }
    out.extend_from_slice(format!("SIP/2.0 {code} ").as_bytes());
    // The reason phrase is ours, but keep it one clean line.
    out.extend(phrase.bytes().take(120).map(|b| {
        if b.is_ascii_graphic() || b == b' ' {
            b
        } else {
            b'?'
        }
    }));
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&headers);
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    true
}

fn contains_tag(line: &[u8]) -> bool {
    line.windows(5).any(|w| w.eq_ignore_ascii_case(b";tag="))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(request: &str) -> Option<String> {
        let mut out = Vec::new();
        reply(request.as_bytes(), "Bad Request", b"t1", &mut out)
            .then(|| String::from_utf8(out).unwrap())
    }

    #[test]
    fn a_malformed_request_gets_400_echoing_the_headers() {
        let text = answer(
            "INVITE sip:user@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
             To: <sip:user@example.com>\r\nFrom: <sip:c@example.net>;tag=9\r\nCall-ID: x\r\n\
             CSeq: 1 INVITE\r\nContent-Length: 9999\r\n\r\n",
        )
        .unwrap();
        assert!(text.starts_with("SIP/2.0 400 Bad Request\r\n"), "{text}");
        assert!(text.contains("Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"));
        assert!(text.contains("To: <sip:user@example.com>;tag=t1\r\n"));
        assert!(text.contains("CSeq: 1 INVITE\r\n") && text.ends_with("Content-Length: 0\r\n\r\n"));
        assert!(
            ferrovox_sip::Message::parse(text.as_bytes()).is_ok(),
            "{text}"
        );
    }

    #[test]
    fn another_version_gets_505_and_responses_or_garbage_get_nothing() {
        let text = answer(
            "OPTIONS sip:t@example.com SIP/7.0\r\nVia: SIP/7.0/UDP h;branch=z9hG4bK1\r\n\
             To: <sip:t@example.com>\r\nCall-ID: y\r\nCSeq: 1 OPTIONS\r\n\r\n",
        )
        .unwrap();
        assert!(text.starts_with("SIP/2.0 505 "), "{text}");
        assert!(answer("SIP/2.0 200 OK\r\nVia: x\r\nTo: y\r\n\r\n").is_none());
        assert!(answer("\u{1}\u{2}garbage").is_none());
        assert!(
            answer("INVITE sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\n\r\n").is_none(),
            "no Via"
        );
    }
}
