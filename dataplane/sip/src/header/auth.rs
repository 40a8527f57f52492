//! Authorization, Proxy-Authorization (RFC 3261 §20.7, §20.28),
//! WWW-Authenticate and Proxy-Authenticate (§20.44, §20.27), per §25.1:
//! `auth-scheme LWS auth-param *(COMMA auth-param)` with
//! `auth-param = token EQUAL (token / quoted-string)`.
//!
//! Values are borrowed; quoted values keep their escapes (use
//! [`AuthParam::unescaped`]). Not implemented: Digest computation (that is
//! the authentication module's job), token68 forms from HTTP.

use crate::error::ParseError;
use crate::parse::lex::{self, Cursor};
use std::borrow::Cow;

/// Credentials or a challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Auth<'a> {
    /// The scheme, e.g. `Digest`.
    pub scheme: &'a [u8],
    params: &'a [u8],
}

/// One auth-param.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthParam<'a> {
    /// Name.
    pub name: &'a [u8],
    /// Value without quotes, escapes kept.
    pub value: &'a [u8],
    /// Whether the value was a quoted-string.
    pub quoted: bool,
}

impl<'a> AuthParam<'a> {
    /// The logical value (escapes removed if it was quoted).
    pub fn unescaped(&self) -> Cow<'a, [u8]> {
        if self.quoted {
            lex::unescape_quoted(self.value)
        } else {
            Cow::Borrowed(self.value)
        }
    }
}

fn next_auth_param<'a>(cur: &mut Cursor<'a>) -> Result<AuthParam<'a>, ParseError> {
    cur.skip_lws();
    let name = cur.token("expected auth-param name")?;
    cur.expect_sep(b'=', "expected '=' in auth-param")?;
    if cur.peek() == Some(b'"') {
        let q = cur.quoted_string()?;
        Ok(AuthParam {
            name,
            value: lex::strip_quotes(q),
            quoted: true,
        })
    } else {
        let value = cur.token("expected auth-param value")?;
        Ok(AuthParam {
            name,
            value,
            quoted: false,
        })
    }
}

impl<'a> Auth<'a> {
    /// Parse a stand-alone value (`name` labels errors).
    pub fn parse(value: &'a [u8], name: &'static str) -> Result<Auth<'a>, ParseError> {
        Auth::parse_at(&mut Cursor::new(value, 0, name))
    }

    pub(crate) fn parse_at(cur: &mut Cursor<'a>) -> Result<Auth<'a>, ParseError> {
        cur.skip_lws();
        let scheme = cur.token("expected auth scheme")?;
        let before = cur.pos;
        cur.skip_lws();
        if cur.pos == before && !cur.eof() {
            return Err(cur.err("expected white space after auth scheme"));
        }
        let start = cur.pos;
        if !cur.eof() {
            loop {
                next_auth_param(cur)?;
                if !cur.eat_sep(b',') {
                    break;
                }
            }
            cur.skip_lws();
            if !cur.eof() {
                return Err(cur.err("expected ',' between auth-params"));
            }
        }
        Ok(Auth {
            scheme,
            params: cur.slice(start, cur.pos),
        })
    }

    /// Parameters in order.
    pub fn params(&self) -> impl Iterator<Item = AuthParam<'a>> + 'a {
        let mut cur = Cursor::new(self.params, 0, "");
        let mut first = true;
        core::iter::from_fn(move || {
            cur.skip_lws();
            if cur.eof() || (!first && !cur.eat_sep(b',')) {
                return None;
            }
            first = false;
            next_auth_param(&mut cur).ok()
        })
    }

    /// Look a parameter up by name (case-insensitive).
    pub fn get(&self, name: &[u8]) -> Option<AuthParam<'a>> {
        self.params().find(|p| p.name.eq_ignore_ascii_case(name))
    }
}
