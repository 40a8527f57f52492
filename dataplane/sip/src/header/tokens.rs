//! Comma-separated token lists and delta-seconds: Require, Proxy-Require,
//! Supported, Unsupported (RFC 3261 §20.32, §20.29, §20.37, §20.40: option
//! tags), Allow (§20.5: methods), Allow-Events (RFC 6665), and Expires
//! (§20.19: delta-seconds).
//!
//! Option-tag semantics (which tags a proxy must understand, §16.3 step 4)
//! are the caller's policy.

use crate::error::ParseError;
use crate::parse::lex::{self, Cursor};

/// One token of a list (the iterator handles commas).
pub(crate) fn token_at<'a>(cur: &mut Cursor<'a>) -> Result<&'a [u8], ParseError> {
    cur.skip_lws();
    cur.token("expected a token")
}

/// `delta-seconds`; values beyond 2^32-1 saturate (RFC 4475 `scalar02`
/// suggests treating them as the default instead: the caller decides).
pub(crate) fn delta_seconds(cur: &mut Cursor<'_>) -> Result<u32, ParseError> {
    cur.skip_lws();
    let start = cur.pos;
    let digits = cur.take_while(|b| b.is_ascii_digit());
    if digits.is_empty() {
        return Err(cur.err_at(start, "expected delta-seconds"));
    }
    cur.skip_lws();
    if !cur.eof() {
        return Err(cur.err("delta-seconds must be 1*DIGIT"));
    }
    Ok(lex::parse_u64(digits).map_or(u32::MAX, |n| u32::try_from(n).unwrap_or(u32::MAX)))
}
