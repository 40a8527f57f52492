//! Typed, lazy, borrowed access to header values (RFC 3261 §20, grammar
//! §25.1).
//!
//! Nothing here runs at [`crate::Message::parse`] time: each accessor parses
//! the raw value when asked, returns views that borrow the message buffer,
//! and reports errors with the header name and the absolute byte offset.
//! Folded values are handled in place (LWS includes folds).
//!
//! Files: [`params`] (generic-param lists), [`via`], [`name_addr`]
//! (From/To/Route/Record-Route/Contact), [`cseq`], [`simple`] (Call-ID,
//! Max-Forwards), [`auth`] (Authorization & co.), [`tokens`] (option-tag
//! and method lists, Expires).

pub mod auth;
pub mod cseq;
pub mod name_addr;
pub mod params;
pub mod simple;
pub mod tokens;
pub mod via;

use crate::error::ParseError;
use crate::parse::header::HeaderName;
use crate::parse::lex::Cursor;
use crate::parse::message::Message;

/// Iterates the comma-separated values of every header line of one kind,
/// in message order (e.g. all Vias). Stops after the first error.
pub struct ValueIter<'m, 'a, T> {
    msg: &'m Message<'a>,
    kind: HeaderName,
    idx: usize,
    cur: Option<Cursor<'a>>,
    done: bool,
    parse: fn(&mut Cursor<'a>) -> Result<T, ParseError>,
}

impl<'m, 'a, T> ValueIter<'m, 'a, T> {
    pub(crate) fn new(
        msg: &'m Message<'a>,
        kind: HeaderName,
        parse: fn(&mut Cursor<'a>) -> Result<T, ParseError>,
    ) -> Self {
        ValueIter {
            msg,
            kind,
            idx: 0,
            cur: None,
            done: false,
            parse,
        }
    }
}

impl<'a, T> Iterator for ValueIter<'_, 'a, T> {
    type Item = Result<T, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.cur.is_none() {
            let entries = self.msg.entries();
            let e = loop {
                let e = entries.get(self.idx)?;
                self.idx += 1;
                if e.kind == self.kind {
                    break e;
                }
            };
            let h = self.msg.view(e);
            self.cur = Some(Cursor::new(h.value, h.value_offset, self.kind.as_str()));
        }
        let cur = self.cur.as_mut()?;
        match (self.parse)(cur) {
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
            Ok(v) => {
                cur.skip_lws();
                if cur.eof() {
                    self.cur = None;
                } else if cur.peek() == Some(b',') {
                    cur.bump();
                } else {
                    self.done = true;
                    return Some(Err(cur.err("expected ',' or end of value")));
                }
                Some(Ok(v))
            }
        }
    }
}
