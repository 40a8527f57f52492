//! Transaction matching keys (RFC 3261 §17.1.3, §17.2.3, §9.2).
//!
//! - Server, RFC 3261 (top Via branch starts with `z9hG4bK`): branch,
//!   sent-by (host compared case-insensitively, port defaulted to 5060 /
//!   5061 for TLS when absent) and method, where ACK uses INVITE so it
//!   matches the INVITE transaction, and CANCEL keeps its own method so it
//!   gets its own transaction. Looking up a CANCEL's INVITE (§9.2) is the
//!   same key with method INVITE ([`KeyRef::with_method`]).
//! - Server, RFC 2543 fallback (no cookie): Request-URI, From tag,
//!   Call-ID, CSeq number, top Via (byte-for-byte) and method class (INVITE
//!   for INVITE and ACK). The To tag is stored but not hashed: a request
//!   other than ACK must carry the To tag of the request that created the
//!   transaction; an ACK must carry the To tag of the response the
//!   transaction sent (checked by the layer after the lookup).
//! - Client: branch of the top Via and the CSeq method.
//!
//! A [`KeyRef`] borrows the message; its 64-bit hash (keyed SipHash from
//! [`std::hash::RandomState`], so remote parties cannot force collisions)
//! indexes the table and the owned encoding ([`KeyRef::encode`]) is stored
//! once per transaction for the equality check. A lookup allocates nothing.
//!
//! Not implemented: §19.1.4 URI equivalence for the RFC 2543 Request-URI
//! (compared as written), and the §17.2.3 rule that merged requests be
//! matched by the TU.

use super::TransactionError;
use crate::header::via::Via;
use crate::parse::message::Message;
use crate::parse::method::Method;
use crate::validate::RequestInfo;
use std::hash::{BuildHasher, Hasher};

/// Kind tags in the encoding.
const SERVER: u8 = 1;
const CLIENT: u8 = 2;
const LEGACY: u8 = 3;

/// A borrowed transaction key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRef<'a> {
    tag: u8,
    /// sent-by port (server) or CSeq number (legacy).
    num: u32,
    /// method class, then branch/host (server), branch (client) or
    /// Request-URI, From tag, Call-ID, top Via (legacy).
    parts: [&'a [u8]; 5],
    n: u8,
    /// To tag (legacy only, not hashed).
    to_tag: &'a [u8],
}

/// The method a server transaction is keyed by: ACK → INVITE.
fn server_method<'a>(m: Method<'a>) -> &'a [u8] {
    match m {
        Method::Ack => b"INVITE",
        other => other.as_bytes(),
    }
}

fn default_port(transport: &[u8]) -> u16 {
    if transport.eq_ignore_ascii_case(b"TLS") || transport.eq_ignore_ascii_case(b"WSS") {
        5061
    } else {
        5060
    }
}

impl<'a> KeyRef<'a> {
    /// The server-transaction key of a request (§17.2.3). Checks that the
    /// CSeq method equals the request method.
    pub fn server(msg: &Message<'a>) -> Result<KeyRef<'a>, TransactionError> {
        let method = msg.method().ok_or(TransactionError::NotARequest)?;
        let cseq = msg.cseq()?;
        if cseq.method != method {
            return Err(TransactionError::CSeqMethodMismatch);
        }
        let via = msg.top_via()?;
        Self::server_from(method, cseq.seq, &via, msg, || {
            Ok((
                msg.from()?.tag().unwrap_or(&[]),
                msg.to()?.tag().unwrap_or(&[]),
                msg.call_id()?,
            ))
        })
    }

    /// [`KeyRef::server`] from what [`validate_request`] already parsed
    /// (no header is parsed again).
    ///
    /// [`validate_request`]: crate::validate::validate_request
    pub fn server_validated(
        msg: &Message<'a>,
        info: &RequestInfo<'a>,
    ) -> Result<KeyRef<'a>, TransactionError> {
        let method = msg.method().ok_or(TransactionError::NotARequest)?;
        if info.cseq.method != method {
            return Err(TransactionError::CSeqMethodMismatch);
        }
        Self::server_from(method, info.cseq.seq, &info.top_via, msg, || {
            Ok((
                info.from.tag().unwrap_or(&[]),
                info.to.tag().unwrap_or(&[]),
                info.call_id,
            ))
        })
    }

    /// `legacy` yields (From tag, To tag, Call-ID), needed only without
    /// the magic cookie.
    fn server_from(
        method: Method<'a>,
        seq: u32,
        via: &Via<'a>,
        msg: &Message<'a>,
        legacy: impl FnOnce() -> Result<(&'a [u8], &'a [u8], &'a [u8]), TransactionError>,
    ) -> Result<KeyRef<'a>, TransactionError> {
        let class = server_method(method);
        if via.has_rfc3261_branch() {
            let branch = via.branch.unwrap_or(&[]);
            return Ok(KeyRef {
                tag: SERVER,
                num: u32::from(via.port.unwrap_or_else(|| default_port(via.transport))),
                parts: [class, branch, via.host_raw, &[], &[]],
                n: 3,
                to_tag: &[],
            });
        }
        let (from_tag, to_tag, call_id) = legacy()?;
        let ruri = msg.request_line().map_or(&[][..], |r| r.uri_raw);
        Ok(KeyRef {
            tag: LEGACY,
            num: seq,
            parts: [class, ruri, from_tag, call_id, via.raw],
            n: 5,
            to_tag,
        })
    }

    /// The client-transaction key of a request we send or a response we
    /// receive (§17.1.3): top Via branch and CSeq method. `None` when the
    /// top Via has no branch (a response that cannot match).
    pub fn client(msg: &Message<'a>) -> Result<Option<KeyRef<'a>>, TransactionError> {
        let via = msg.top_via()?;
        let cseq = msg.cseq()?;
        Ok(via.branch.map(|branch| KeyRef {
            tag: CLIENT,
            num: 0,
            parts: [cseq.method.as_bytes(), branch, &[], &[], &[]],
            n: 2,
            to_tag: &[],
        }))
    }

    /// The client-transaction key from a known method and branch (what a
    /// proxy just wrote into the request it forwards).
    pub fn client_parts(method: &'a [u8], branch: &'a [u8]) -> KeyRef<'a> {
        KeyRef {
            tag: CLIENT,
            num: 0,
            parts: [method, branch, &[], &[], &[]],
            n: 2,
            to_tag: &[],
        }
    }

    /// The same key with another method class (CANCEL → its INVITE, §9.2).
    pub fn with_method(mut self, method: &'a [u8]) -> KeyRef<'a> {
        self.parts[0] = method;
        self
    }

    /// Whether this is an RFC 2543 (no magic cookie) server key.
    pub fn is_legacy(&self) -> bool {
        self.tag == LEGACY
    }

    /// The To tag of an RFC 2543 request (empty otherwise).
    pub fn to_tag(&self) -> &'a [u8] {
        self.to_tag
    }

    fn parts(&self) -> &[&'a [u8]] {
        self.parts.get(..usize::from(self.n)).unwrap_or(&[])
    }

    /// Index of the part compared case-insensitively (the sent-by host).
    fn folded_part(&self) -> Option<usize> {
        (self.tag == SERVER).then_some(2)
    }

    /// The 64-bit hash of the key under `state`.
    pub fn hash<S: BuildHasher>(&self, state: &S) -> u64 {
        let mut h = state.build_hasher();
        h.write_u8(self.tag);
        h.write_u32(self.num);
        let folded = self.folded_part();
        for (i, p) in self.parts().iter().enumerate() {
            h.write_usize(p.len());
            if Some(i) == folded {
                let mut chunk = [0u8; 64];
                for piece in p.chunks(chunk.len()) {
                    let dst = chunk.get_mut(..piece.len()).unwrap_or(&mut []);
                    for (d, s) in dst.iter_mut().zip(piece) {
                        *d = s.to_ascii_lowercase();
                    }
                    h.write(dst);
                }
            } else {
                h.write(p);
            }
        }
        h.finish()
    }

    /// The owned encoding stored in the transaction: tag, number, then each
    /// part (and for RFC 2543 keys the To tag) as u32 length + bytes; the
    /// case-insensitive part is stored lower-cased.
    pub fn encode(&self) -> Box<[u8]> {
        let parts = self.parts();
        let len = 5
            + parts.iter().map(|p| 4 + p.len()).sum::<usize>()
            + if self.is_legacy() {
                4 + self.to_tag.len()
            } else {
                0
            };
        let mut out = Vec::with_capacity(len);
        out.push(self.tag);
        out.extend_from_slice(&self.num.to_le_bytes());
        let folded = self.folded_part();
        let mut put = |p: &[u8], fold: bool| {
            out.extend_from_slice(&(p.len() as u32).to_le_bytes());
            if fold {
                out.extend(p.iter().map(u8::to_ascii_lowercase));
            } else {
                out.extend_from_slice(p);
            }
        };
        for (i, p) in parts.iter().enumerate() {
            put(p, Some(i) == folded);
        }
        if self.is_legacy() {
            put(self.to_tag, false);
        }
        out.into_boxed_slice()
    }

    /// Whether an owned encoding equals this key (the trailing RFC 2543 To
    /// tag is not compared).
    pub fn matches(&self, owned: &[u8]) -> bool {
        let mut r = Reader(owned);
        if r.byte() != Some(self.tag) || r.u32() != Some(self.num) {
            return false;
        }
        let folded = self.folded_part();
        self.parts()
            .iter()
            .enumerate()
            .all(|(i, p)| match r.part() {
                Some(o) if Some(i) == folded => o.eq_ignore_ascii_case(p),
                Some(o) => o == *p,
                None => false,
            })
    }
}

/// The To tag stored in an RFC 2543 owned key (`None` for other keys).
pub(crate) fn stored_to_tag(owned: &[u8]) -> Option<&[u8]> {
    let mut r = Reader(owned);
    if r.byte()? != LEGACY {
        return None;
    }
    r.u32()?;
    for _ in 0..5 {
        r.part()?;
    }
    r.part()
}

struct Reader<'b>(&'b [u8]);

impl<'b> Reader<'b> {
    fn take(&mut self, n: usize) -> Option<&'b [u8]> {
        let (a, b) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = b;
        Some(a)
    }
    fn byte(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }
    fn u32(&mut self) -> Option<u32> {
        let b: [u8; 4] = self.take(4)?.try_into().ok()?;
        Some(u32::from_le_bytes(b))
    }
    fn part(&mut self) -> Option<&'b [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

/// A `BuildHasher` for maps keyed by an already-computed 64-bit hash.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PassThrough;

/// The hasher of [`PassThrough`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl BuildHasher for PassThrough {
    type Hasher = PassThroughHasher;
    fn build_hasher(&self) -> PassThroughHasher {
        PassThroughHasher(0)
    }
}
