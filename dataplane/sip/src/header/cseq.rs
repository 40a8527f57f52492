//! CSeq (RFC 3261 §20.16, §8.1.1.5): `1*DIGIT LWS Method`.
//!
//! The number must fit 32 bits (RFC 4475 `scalar02` has 2^65); leading
//! zeros and folds are accepted (RFC 4475 `wsinv`). Checking the method
//! against the request line is [`crate::validate`]'s job.

use crate::error::ParseError;
use crate::parse::lex::{self, Cursor};
use crate::parse::method::Method;

/// A CSeq value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'a> {
    /// Sequence number.
    pub seq: u32,
    /// Method.
    pub method: Method<'a>,
}

impl<'a> CSeq<'a> {
    /// Parse a stand-alone value.
    pub fn parse(value: &'a [u8]) -> Result<CSeq<'a>, ParseError> {
        CSeq::parse_at(&mut Cursor::new(value, 0, "CSeq"))
    }

    pub(crate) fn parse_at(cur: &mut Cursor<'a>) -> Result<CSeq<'a>, ParseError> {
        cur.skip_lws();
        let start = cur.pos;
        let digits = cur.take_while(|b| b.is_ascii_digit());
        let seq = lex::parse_u64(digits)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| cur.err_at(start, "sequence number must be 1*DIGIT within 32 bits"))?;
        let before = cur.pos;
        cur.skip_lws();
        if cur.pos == before {
            return Err(cur.err("expected white space after sequence number"));
        }
        let method = Method::from_bytes(cur.token("expected method")?);
        cur.skip_lws();
        if !cur.eof() {
            return Err(cur.err("trailing data after method"));
        }
        Ok(CSeq { seq, method })
    }
}
