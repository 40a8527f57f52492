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

fn is_gen_value(b: u8) -> bool {
    lex::is_token(b) || matches!(b, b':' | b'[' | b']')
}

/// Parse one `SEMI generic-param` if the next non-LWS byte is `;`.
pub(crate) fn next_param<'a>(cur: &mut Cursor<'a>) -> Result<Option<Param<'a>>, ParseError> {
    if !cur.eat_sep(b';') {
        return Ok(None);
    }
    cur.skip_lws();
    let name = cur.token("expected parameter name")?;
    let value = if cur.eat_sep(b'=') {
        cur.skip_lws();
        if cur.peek() == Some(b'"') {
            Some(cur.quoted_string()?)
        } else {
            let v = cur.take_while(is_gen_value);
            if v.is_empty() {
                return Err(cur.err("expected parameter value"));
            }
            Some(v)
        }
    } else {
        None
    };
    Ok(Some(Param { name, value }))
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
        next_param(&mut self.cur).ok().flatten()
    }
}
