//! Request and response validation a proxy or UAS needs before acting
//! (RFC 3261 §8.1.1, §8.2.1–§8.2.2 syntax part, §16.3 steps 1–3).
//!
//! Implements:
//! - mandatory headers: To, From, CSeq, Call-ID, Via (≥ 1); Max-Forwards is
//!   mandatory in requests but accepted when absent for compatibility with
//!   RFC 2543 elements, and reported ([`RequestInfo::max_forwards`] is
//!   `None`);
//! - single-valued headers (To, From, CSeq, Call-ID, Max-Forwards) must
//!   appear on one line and carry one value (RFC 4475 `multi01`);
//! - every mandatory header is parsed; a malformed one is an error naming
//!   it; all Via values are parsed;
//! - the CSeq method must equal the request method (§8.1.1.5; RFC 4475
//!   `mismatch01`/`mismatch02`). This holds for ACK and CANCEL too: their
//!   CSeq *method* is ACK/CANCEL, and only their sequence *number* is taken
//!   from the INVITE (§17.1.1.3, §9.1) — a rule across transactions that the
//!   transaction layer checks, not this module.
//!
//! Not implemented: Require/Proxy-Require option-tag checks (§8.2.2.3,
//! §16.3 step 4), loop detection, Max-Forwards == 0 handling (the proxy
//! answers 483), Request-URI scheme policy, Date/Expires range checks.

use crate::error::ParseError;
use crate::header::{cseq::CSeq, name_addr::NameAddr, via::Via};
use crate::parse::header::HeaderName;
use crate::parse::message::Message;

/// What a validated request says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestInfo<'a> {
    /// Call-ID value.
    pub call_id: &'a [u8],
    /// CSeq.
    pub cseq: CSeq<'a>,
    /// From.
    pub from: NameAddr<'a>,
    /// To.
    pub to: NameAddr<'a>,
    /// Topmost Via.
    pub top_via: Via<'a>,
    /// Number of Via values.
    pub via_count: usize,
    /// Max-Forwards, `None` when the header is absent.
    pub max_forwards: Option<u8>,
}

/// What a validated response says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseInfo<'a> {
    /// Status code.
    pub code: u16,
    /// Call-ID value.
    pub call_id: &'a [u8],
    /// CSeq.
    pub cseq: CSeq<'a>,
    /// From.
    pub from: NameAddr<'a>,
    /// To.
    pub to: NameAddr<'a>,
    /// Topmost Via.
    pub top_via: Via<'a>,
    /// Number of Via values.
    pub via_count: usize,
}

fn single(msg: &Message<'_>, kind: HeaderName) -> Result<(), ParseError> {
    let mut it = msg.headers_of(kind);
    match (it.next(), it.next()) {
        (None, _) => Err(ParseError::Missing {
            name: kind.as_str(),
        }),
        (Some(_), Some(second)) => Err(ParseError::Duplicate {
            name: kind.as_str(),
            offset: second.line.start,
        }),
        (Some(_), None) => Ok(()),
    }
}

struct Common<'a> {
    call_id: &'a [u8],
    cseq: CSeq<'a>,
    from: NameAddr<'a>,
    to: NameAddr<'a>,
    top_via: Via<'a>,
    via_count: usize,
}

fn common<'a>(msg: &Message<'a>) -> Result<Common<'a>, ParseError> {
    for kind in [
        HeaderName::To,
        HeaderName::From,
        HeaderName::CSeq,
        HeaderName::CallId,
    ] {
        single(msg, kind)?;
    }
    let mut top_via = None;
    let mut via_count = 0;
    for v in msg.vias() {
        let v = v?;
        via_count += 1;
        if top_via.is_none() {
            top_via = Some(v);
        }
    }
    let top_via = top_via.ok_or(ParseError::Missing { name: "Via" })?;
    Ok(Common {
        to: msg.to()?,
        from: msg.from()?,
        cseq: msg.cseq()?,
        call_id: msg.call_id()?,
        top_via,
        via_count,
    })
}

/// Validate a request (see the module doc for the checks).
pub fn validate_request<'a>(msg: &Message<'a>) -> Result<RequestInfo<'a>, ParseError> {
    let method = msg.method().ok_or(ParseError::StartLine {
        offset: 0,
        reason: "expected a request",
    })?;
    let c = common(msg)?;
    if c.cseq.method != method {
        let offset = msg.header(HeaderName::CSeq).map_or(0, |h| h.value_offset);
        return Err(ParseError::CSeqMethodMismatch { offset });
    }
    let max_forwards = match msg.header(HeaderName::MaxForwards) {
        None => None,
        Some(_) => {
            let mut it = msg.headers_of(HeaderName::MaxForwards).skip(1);
            if let Some(second) = it.next() {
                return Err(ParseError::Duplicate {
                    name: "Max-Forwards",
                    offset: second.line.start,
                });
            }
            msg.max_forwards()?
        }
    };
    Ok(RequestInfo {
        call_id: c.call_id,
        cseq: c.cseq,
        from: c.from,
        to: c.to,
        top_via: c.top_via,
        via_count: c.via_count,
        max_forwards,
    })
}

/// Validate a response: mandatory headers present, single and well-formed.
pub fn validate_response<'a>(msg: &Message<'a>) -> Result<ResponseInfo<'a>, ParseError> {
    let code = msg.status_code().ok_or(ParseError::StartLine {
        offset: 0,
        reason: "expected a response",
    })?;
    let c = common(msg)?;
    Ok(ResponseInfo {
        code,
        call_id: c.call_id,
        cseq: c.cseq,
        from: c.from,
        to: c.to,
        top_via: c.top_via,
        via_count: c.via_count,
    })
}
