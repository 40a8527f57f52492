//! Character classes and a bounds-checked cursor for the RFC 3261 §25.1
//! grammar (token, word, quoted-string, LWS/SWS, user, password, paramchar,
//! hname/hvalue).
//!
//! Header values handed to the typed parsers may contain folds (CRLF or LF
//! followed by SP/HTAB). The message splitter guarantees that any CR or LF
//! inside a value is part of such a fold, so the cursor treats CR and LF as
//! linear white space; that is what lets typed parsing work on the raw,
//! un-normalised slice without allocating.
//!
//! The cursor never indexes out of bounds: every read goes through `get`.

use crate::error::ParseError;

const TOKEN: u16 = 1;
const WORD: u16 = 1 << 1;
const USER: u16 = 1 << 2;
const PASSWORD: u16 = 1 << 3;
const PARAM: u16 = 1 << 4;
const HNV: u16 = 1 << 5;
const HOST: u16 = 1 << 6;
const SCHEME: u16 = 1 << 7;

const fn build_table() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let alnum = c.is_ascii_alphanumeric();
        let mark = matches!(
            c,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        );
        let unreserved = alnum || mark;
        let mut f = 0u16;
        if alnum
            || matches!(
                c,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            )
        {
            f |= TOKEN | WORD;
        }
        if matches!(
            c,
            b'(' | b')'
                | b'<'
                | b'>'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'{'
                | b'}'
        ) {
            f |= WORD;
        }
        // '%' is accepted in the URI classes and checked for two hex digits
        // by the URI parser.
        if unreserved
            || c == b'%'
            || matches!(c, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/')
        {
            f |= USER;
        }
        if unreserved || c == b'%' || matches!(c, b'&' | b'=' | b'+' | b'$' | b',') {
            f |= PASSWORD;
        }
        if unreserved || c == b'%' || matches!(c, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$') {
            f |= PARAM;
        }
        if unreserved || c == b'%' || matches!(c, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$') {
            f |= HNV;
        }
        if alnum || matches!(c, b'-' | b'.' | b'_') {
            f |= HOST;
        }
        if alnum || matches!(c, b'+' | b'-' | b'.') {
            f |= SCHEME;
        }
        t[i] = f;
        i += 1;
    }
    t
}

static TABLE: [u16; 256] = build_table();

#[inline]
fn class(b: u8) -> u16 {
    TABLE[b as usize]
}

/// `token` character (RFC 3261 §25.1).
#[inline]
pub fn is_token(b: u8) -> bool {
    class(b) & TOKEN != 0
}
/// `word` character (Call-ID).
#[inline]
pub fn is_word(b: u8) -> bool {
    class(b) & WORD != 0
}
/// Character allowed in a URI `user` (escapes checked separately).
#[inline]
pub fn is_user(b: u8) -> bool {
    class(b) & USER != 0
}
/// Character allowed in a URI `password`.
#[inline]
pub fn is_password(b: u8) -> bool {
    class(b) & PASSWORD != 0
}
/// `paramchar` (URI parameter names and values).
#[inline]
pub fn is_paramchar(b: u8) -> bool {
    class(b) & PARAM != 0
}
/// `hname` / `hvalue` character (URI headers).
#[inline]
pub fn is_hnv(b: u8) -> bool {
    class(b) & HNV != 0
}
/// Character of a hostname or IPv4 address.
#[inline]
pub fn is_host(b: u8) -> bool {
    class(b) & HOST != 0
}
/// Character of a URI scheme after the first.
#[inline]
pub fn is_scheme(b: u8) -> bool {
    class(b) & SCHEME != 0
}
/// Linear white space as seen inside a (possibly folded) header value.
#[inline]
pub fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// True when every byte satisfies `f` and the slice is non-empty.
pub fn all(s: &[u8], f: impl Fn(u8) -> bool) -> bool {
    !s.is_empty() && s.iter().all(|&b| f(b))
}

/// Trim linear white space (including folds) at both ends.
pub fn trim_lws(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if is_lws(*first) {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if is_lws(*last) {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// Parse 1*DIGIT as u64, None on overflow or non-digit or empty.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

/// A bounds-checked cursor over a header value (or URI). Errors carry
/// `base + pos` as offset and `name` as the header name.
#[derive(Clone, Copy)]
pub(crate) struct Cursor<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
    pub base: usize,
    pub name: &'static str,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8], base: usize, name: &'static str) -> Self {
        Cursor {
            buf,
            pos: 0,
            base,
            name,
        }
    }

    #[inline]
    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    #[inline]
    pub fn peek_at(&self, n: usize) -> Option<u8> {
        self.buf.get(self.pos + n).copied()
    }

    #[inline]
    pub fn eof(&self) -> bool {
        self.pos >= self.buf.len()
    }

    #[inline]
    pub fn bump(&mut self) {
        self.pos += 1;
    }

    pub fn slice(&self, from: usize, to: usize) -> &'a [u8] {
        self.buf.get(from..to).unwrap_or(&[])
    }

    pub fn err(&self, reason: &'static str) -> ParseError {
        ParseError::Header {
            name: self.name,
            offset: self.base + self.pos,
            reason,
        }
    }

    pub fn err_at(&self, pos: usize, reason: &'static str) -> ParseError {
        ParseError::Header {
            name: self.name,
            offset: self.base + pos,
            reason,
        }
    }

    /// Skip linear white space, folds included.
    #[inline]
    pub fn skip_lws(&mut self) {
        while let Some(b) = self.peek() {
            if is_lws(b) {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    /// Skip LWS, then consume `b` if it is next; otherwise leave the cursor
    /// where it was.
    pub fn eat_sep(&mut self, b: u8) -> bool {
        let save = self.pos;
        self.skip_lws();
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            self.pos = save;
            false
        }
    }

    /// Consume `b` surrounded by optional LWS, or fail.
    pub fn expect_sep(&mut self, b: u8, reason: &'static str) -> Result<(), ParseError> {
        self.skip_lws();
        if self.peek() == Some(b) {
            self.pos += 1;
            self.skip_lws();
            Ok(())
        } else {
            Err(self.err(reason))
        }
    }

    pub fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if f(b) {
                self.pos += 1;
            } else {
                break;
            }
        }
        self.slice(start, self.pos)
    }

    /// 1*token-char.
    pub fn token(&mut self, reason: &'static str) -> Result<&'a [u8], ParseError> {
        let t = self.take_while(is_token);
        if t.is_empty() {
            Err(self.err(reason))
        } else {
            Ok(t)
        }
    }

    /// A quoted-string starting at the cursor (which must be on `"`).
    /// Returns the slice including both quotes. Escapes (`\` followed by any
    /// byte but CR/LF) are skipped; folded LWS inside is allowed.
    pub fn quoted_string(&mut self) -> Result<&'a [u8], ParseError> {
        let start = self.pos;
        if self.peek() != Some(b'"') {
            return Err(self.err("expected quoted string"));
        }
        self.pos += 1;
        loop {
            match self.peek() {
                None => return Err(self.err_at(start, "unterminated quoted string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(self.slice(start, self.pos));
                }
                Some(b'\\') => match self.peek_at(1) {
                    Some(b'\r') | Some(b'\n') | None => {
                        return Err(self.err("bad escape in quoted string"));
                    }
                    Some(_) => self.pos += 2,
                },
                Some(_) => self.pos += 1,
            }
        }
    }
}

/// Remove the surrounding quotes of a quoted-string (if present) without
/// unescaping. Use [`unescape_quoted`] for the logical value.
pub fn strip_quotes(s: &[u8]) -> &[u8] {
    match s {
        [b'"', inner @ .., b'"'] => inner,
        other => other,
    }
}

/// The logical content of a quoted-string: quotes removed and `\x` pairs
/// replaced by `x`. Borrows when there is nothing to unescape.
pub fn unescape_quoted(s: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let inner = strip_quotes(s);
    if !inner.contains(&b'\\') {
        return std::borrow::Cow::Borrowed(inner);
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut it = inner.iter();
    while let Some(&b) = it.next() {
        if b == b'\\' {
            if let Some(&n) = it.next() {
                out.push(n);
            }
        } else {
            out.push(b);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Decode `%HH` escapes (RFC 3261 §19.1.2). Borrows when there is nothing to
/// decode; a `%` not followed by two hex digits is kept as is.
pub fn pct_decode(s: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !s.contains(&b'%') {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b == b'%'
            && let (Some(h), Some(l)) = (
                s.get(i + 1).and_then(|&c| hex(c)),
                s.get(i + 2).and_then(|&c| hex(c)),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    std::borrow::Cow::Owned(out)
}

pub(crate) fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Pieces of a header value with every fold (and the white space around it)
/// replaced by a single SP, as RFC 3261 §7.3.1 allows. Iterating yields
/// borrowed slices; nothing is allocated.
#[derive(Clone, Debug)]
pub struct Unfolded<'a> {
    rest: &'a [u8],
    pending_space: bool,
}

impl<'a> Unfolded<'a> {
    /// Normalise `value` lazily.
    pub fn new(value: &'a [u8]) -> Self {
        Unfolded {
            rest: value,
            pending_space: false,
        }
    }

    /// Append the normalised value to `out`.
    pub fn write_to(self, out: &mut Vec<u8>) {
        for piece in self {
            out.extend_from_slice(piece);
        }
    }
}

impl<'a> Iterator for Unfolded<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.pending_space {
            self.pending_space = false;
            return Some(b" ");
        }
        if self.rest.is_empty() {
            return None;
        }
        match memchr::memchr2(b'\r', b'\n', self.rest) {
            None => {
                let r = self.rest;
                self.rest = &[];
                Some(r)
            }
            Some(i) => {
                let (head, tail) = self.rest.split_at(i);
                // Trim WSP before the fold and all LWS after it.
                let mut h = head;
                while let [rest @ .., b' ' | b'\t'] = h {
                    h = rest;
                }
                let mut t = tail;
                while let [b' ' | b'\t' | b'\r' | b'\n', rest @ ..] = t {
                    t = rest;
                }
                self.rest = t;
                self.pending_space = !t.is_empty();
                if h.is_empty() { self.next() } else { Some(h) }
            }
        }
    }
}

/// Remove surrounding `[` `]` if present.
pub fn strip_brackets(s: &[u8]) -> &[u8] {
    match s {
        [b'[', inner @ .., b']'] => inner,
        other => other,
    }
}
