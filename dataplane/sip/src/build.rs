//! Generating responses to a request (RFC 3261 §8.2.6, §16.3 stateless
//! error responses, §17.2.1 100 Trying).
//!
//! [`ResponseBuilder`] writes `SIP/2.0 code reason`, then copies the
//! request's Via lines (all, in order, verbatim — §8.2.6.2), From, To (adding
//! a tag when the request's To has none and the response is not 100),
//! Call-ID and CSeq lines verbatim, Timestamp for 100 (§8.2.6.1), extra
//! headers, Content-Type/Content-Length and the body, into a reusable
//! buffer. It works on requests that failed validation too: missing
//! headers are skipped, so a stateless 400 can always be produced for
//! anything [`crate::Message::parse`] accepted.
//!
//! Not implemented: adding `received`/`rport` to the copied top Via (do that
//! on the request with [`crate::rewrite`] semantics if needed), Warning
//! headers, SIP-ETag/Contact policy: pass them as extra headers.

use crate::parse::header::HeaderName;
use crate::parse::message::Message;
use crate::rewrite::{RewriteError, write_num};

/// Builder for a response to a request.
#[derive(Debug, Clone, Copy)]
pub struct ResponseBuilder<'x> {
    code: u16,
    reason: &'x [u8],
    to_tag: Option<&'x [u8]>,
    headers: &'x [(&'x [u8], &'x [u8])],
    body: Option<(&'x [u8], &'x [u8])>,
}

impl<'x> ResponseBuilder<'x> {
    /// A response with this status code and reason phrase.
    pub fn new(code: u16, reason: &'x [u8]) -> Self {
        ResponseBuilder {
            code,
            reason,
            to_tag: None,
            headers: &[],
            body: None,
        }
    }

    /// The tag to add to To when the request's To has none (ignored for
    /// 100 Trying, §8.2.6.2).
    pub fn to_tag(mut self, tag: &'x [u8]) -> Self {
        self.to_tag = Some(tag);
        self
    }

    /// Extra `(name, value)` headers, written after the copied ones.
    pub fn headers(mut self, headers: &'x [(&'x [u8], &'x [u8])]) -> Self {
        self.headers = headers;
        self
    }

    /// A body with its Content-Type.
    pub fn body(mut self, content_type: &'x [u8], body: &'x [u8]) -> Self {
        self.body = Some((content_type, body));
        self
    }

    /// Write the response to `req` into `out` (cleared first).
    pub fn write(&self, req: &Message<'_>, out: &mut Vec<u8>) -> Result<(), RewriteError> {
        if !req.is_request() {
            return Err(RewriteError::WrongKind {
                expected: "request",
            });
        }
        if !(100..=699).contains(&self.code) {
            return Err(RewriteError::InvalidValue {
                what: "status code",
            });
        }
        let bad = |v: &[u8]| v.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0));
        if bad(self.reason) {
            return Err(RewriteError::InvalidValue {
                what: "reason phrase",
            });
        }
        if self
            .to_tag
            .is_some_and(|t| t.is_empty() || !t.iter().all(|&b| crate::parse::lex::is_token(b)))
        {
            return Err(RewriteError::InvalidValue { what: "To tag" });
        }
        for (n, v) in self.headers {
            if n.is_empty() || !n.iter().all(|&b| crate::parse::lex::is_token(b)) || bad(v) {
                return Err(RewriteError::InvalidValue {
                    what: "extra header",
                });
            }
        }
        if let Some((ct, _)) = self.body
            && bad(ct)
        {
            return Err(RewriteError::InvalidValue {
                what: "Content-Type",
            });
        }
        out.clear();
        out.reserve(512);
        out.extend_from_slice(b"SIP/2.0 ");
        write_num(out, usize::from(self.code));
        out.push(b' ');
        out.extend_from_slice(self.reason);
        out.extend_from_slice(b"\r\n");
        let buf = req.buffer();
        let copy_line = |out: &mut Vec<u8>, h: &crate::Header<'_>| {
            let end = h.value_offset + h.value.len();
            out.extend_from_slice(buf.get(h.line.start..end).unwrap_or(&[]));
        };
        for h in req.headers() {
            match h.kind {
                HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::CSeq => {
                    copy_line(out, &h);
                    out.extend_from_slice(b"\r\n");
                }
                HeaderName::Timestamp if self.code == 100 => {
                    copy_line(out, &h);
                    out.extend_from_slice(b"\r\n");
                }
                HeaderName::To => {
                    copy_line(out, &h);
                    if let Some(tag) = self.to_tag
                        && self.code != 100
                        && req.to().is_ok_and(|to| to.tag().is_none())
                    {
                        out.extend_from_slice(b";tag=");
                        out.extend_from_slice(tag);
                    }
                    out.extend_from_slice(b"\r\n");
                }
                _ => {}
            }
        }
        for (n, v) in self.headers {
            out.extend_from_slice(n);
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        let body: &[u8] = match self.body {
            Some((ct, b)) => {
                out.extend_from_slice(b"Content-Type: ");
                out.extend_from_slice(ct);
                out.extend_from_slice(b"\r\n");
                b
            }
            None => &[],
        };
        out.extend_from_slice(b"Content-Length: ");
        write_num(out, body.len());
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(body);
        Ok(())
    }
}
