//! Single-token headers: Call-ID (RFC 3261 §20.8, `word ["@" word]`) and
//! Max-Forwards (§20.22, `1*DIGIT`, accepted range 0–255; RFC 4475
//! `scalar02` has 300).

use crate::error::ParseError;
use crate::parse::lex::{self, Cursor};

pub(crate) fn call_id<'a>(cur: &mut Cursor<'a>) -> Result<&'a [u8], ParseError> {
    cur.skip_lws();
    let start = cur.pos;
    let v = cur.take_while(|b| lex::is_word(b) || b == b'@');
    let mut parts = v.split(|&b| b == b'@');
    let left = parts.next().unwrap_or(&[]);
    let ok = !left.is_empty()
        && match (parts.next(), parts.next()) {
            (None, _) => true,
            (Some(r), None) => !r.is_empty(),
            _ => false,
        };
    if !ok {
        return Err(cur.err_at(start, "Call-ID must be word [\"@\" word]"));
    }
    cur.skip_lws();
    if !cur.eof() {
        return Err(cur.err("only one Call-ID allowed"));
    }
    Ok(v)
}

pub(crate) fn max_forwards(cur: &mut Cursor<'_>) -> Result<u8, ParseError> {
    cur.skip_lws();
    let start = cur.pos;
    let digits = cur.take_while(|b| b.is_ascii_digit());
    cur.skip_lws();
    if !cur.eof() {
        return Err(cur.err("Max-Forwards must be 1*DIGIT"));
    }
    lex::parse_u64(digits)
        .and_then(|n| u8::try_from(n).ok())
        .ok_or_else(|| cur.err_at(start, "Max-Forwards must be 0-255"))
}

/// Parse a stand-alone Call-ID value.
pub fn parse_call_id(value: &[u8]) -> Result<&[u8], ParseError> {
    call_id(&mut Cursor::new(value, 0, "Call-ID"))
}

/// Parse a stand-alone Max-Forwards value.
pub fn parse_max_forwards(value: &[u8]) -> Result<u8, ParseError> {
    max_forwards(&mut Cursor::new(value, 0, "Max-Forwards"))
}
