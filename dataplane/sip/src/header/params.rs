//! `*( SEMI generic-param )` lists (RFC 3261 §25.1: `generic-param = token
//! [ EQUAL gen-value ]`, `gen-value = token / host / quoted-string`).
//!
//! Parsing validates the list and keeps it raw; [`Params::iter`] re-lexes
//! the validated slice on demand. LWS (folds included) is allowed around
//! `;` and `=` (RFC 4475 `wsinv`). Empty parameters (`;;`) are errors
//! (RFC 4475 `badinv01`).

use crate::error::ParseError;
use crate::parse::lex::{self, Cursor};

/// One parameter. `value` is raw: a quoted-string keeps its quotes (see
/// [`crate::unescape_quoted`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    /// The name, as written.
    pub name: &'a [u8],
    /// The value, if any.
    pub value: Option<&'a [u8]>,
}

/// A validated parameter list, raw (starts at the first `;`, or empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Params<'a>(pub(crate) &'a [u8]);

fn is_lenient_value(b: u8) -> bool {
    lex::is_token(b) || matches!(b, b':' | b'[' | b']')
}

/// Parse one `SEMI generic-param` if the next non-LWS byte is `;`.
///
/// Strict form (`lenient == false`): the value is a token, an IPv6
/// reference in brackets, or a quoted-string, as §25.1 says. Lenient form
/// additionally accepts `:` anywhere, for Via's unbracketed IPv6
/// `received` (§20.42) and for re-lexing already validated lists.
pub(crate) fn next_param_ext<'a>(
    cur: &mut Cursor<'a>,
    lenient: bool,
) -> Result<Option<Param<'a>>, ParseError> {
    if !cur.eat_sep(b';') {
        return Ok(None);
    }
    cur.skip_lws();
    let name = cur.token("expected parameter name")?;
    let value = if cur.eat_sep(b'=') {
        cur.skip_lws();
        let start = cur.pos;
        if cur.peek() == Some(b'"') {
            Some(cur.quoted_string()?)
        } else if lenient {
            let v = cur.take_while(is_lenient_value);
            if v.is_empty() {
                return Err(cur.err("expected parameter value"));
            }
            Some(v)
        } else if cur.peek() == Some(b'[') {
            cur.bump();
            cur.take_while(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
            if cur.peek() != Some(b']') {
                return Err(cur.err("unterminated IPv6 reference in parameter"));
            }
            cur.bump();
            Some(cur.slice(start, cur.pos))
        } else {
            Some(cur.token("expected parameter value")?)
        }
    } else {
        None
    };
    Ok(Some(Param { name, value }))
}

/// Strict [`next_param_ext`].
pub(crate) fn next_param<'a>(cur: &mut Cursor<'a>) -> Result<Option<Param<'a>>, ParseError> {
    next_param_ext(cur, false)
}

impl<'a> Params<'a> {
    /// Parse a whole parameter list at the cursor (possibly empty).
    pub(crate) fn parse(cur: &mut Cursor<'a>) -> Result<Params<'a>, ParseError> {
        let start = cur.pos;
        let mut end = start;
        while next_param(cur)?.is_some() {
            end = cur.pos;
        }
        cur.pos = end;
        Ok(Params(cur.slice(start, end)))
    }

    /// The raw text of the list.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// Iterate parameters in order.
    pub fn iter(&self) -> ParamIter<'a> {
        ParamIter {
            cur: Cursor::new(self.0, 0, ""),
        }
    }

    /// Look a parameter up by name (case-insensitive): `None` if absent,
    /// `Some(None)` if present without a value.
    pub fn get(&self, name: &[u8]) -> Option<Option<&'a [u8]>> {
        self.iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value)
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Iterator over a validated [`Params`].
#[derive(Clone)]
pub struct ParamIter<'a> {
    cur: Cursor<'a>,
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = Param<'a>;
    fn next(&mut self) -> Option<Param<'a>> {
        next_param_ext(&mut self.cur, true).ok().flatten()
    }
}
