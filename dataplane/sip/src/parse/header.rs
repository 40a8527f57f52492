//! Header names (RFC 3261 §7.3, §20) and the raw header view.
//!
//! Implements: case-insensitive recognition of the header names this crate
//! knows, including every compact form registered with IANA (RFC 3261
//! §7.3.3 and the extensions that defined one: a/j/d RFC 3841, b RFC 3892,
//! o/u RFC 6665, r RFC 3515, x RFC 4028, y RFC 8224). Unknown names are
//! kept as [`HeaderName::Other`] and matched by bytes.
//!
//! Not implemented: the deprecated compact form `n` (Identity-Info).

/// A header name this crate recognises, or [`HeaderName::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum HeaderName {
    #[default]
    Other,
    Via,
    From,
    To,
    CallId,
    CSeq,
    MaxForwards,
    Contact,
    ContentLength,
    ContentType,
    ContentEncoding,
    Route,
    RecordRoute,
    Supported,
    Subject,
    Event,
    AllowEvents,
    ReferTo,
    ReferredBy,
    SessionExpires,
    AcceptContact,
    RejectContact,
    RequestDisposition,
    Identity,
    Authorization,
    ProxyAuthorization,
    WwwAuthenticate,
    ProxyAuthenticate,
    Expires,
    Allow,
    Require,
    ProxyRequire,
    Unsupported,
    Timestamp,
    UserAgent,
    Server,
    Accept,
    Date,
}

impl HeaderName {
    /// Every known name (all variants but [`HeaderName::Other`]).
    pub const ALL: [HeaderName; 37] = {
        use HeaderName::*;
        [
            Via,
            From,
            To,
            CallId,
            CSeq,
            MaxForwards,
            Contact,
            ContentLength,
            ContentType,
            ContentEncoding,
            Route,
            RecordRoute,
            Supported,
            Subject,
            Event,
            AllowEvents,
            ReferTo,
            ReferredBy,
            SessionExpires,
            AcceptContact,
            RejectContact,
            RequestDisposition,
            Identity,
            Authorization,
            ProxyAuthorization,
            WwwAuthenticate,
            ProxyAuthenticate,
            Expires,
            Allow,
            Require,
            ProxyRequire,
            Unsupported,
            Timestamp,
            UserAgent,
            Server,
            Accept,
            Date,
        ]
    };

    /// Classify a header name (case-insensitive; compact forms included).
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        use HeaderName::*;
        if let [c] = name {
            return match c.to_ascii_lowercase() {
                b'v' => Via,
                b'f' => From,
                b't' => To,
                b'i' => CallId,
                b'm' => Contact,
                b'l' => ContentLength,
                b'c' => ContentType,
                b'e' => ContentEncoding,
                b'k' => Supported,
                b's' => Subject,
                b'o' => Event,
                b'u' => AllowEvents,
                b'r' => ReferTo,
                b'b' => ReferredBy,
                b'x' => SessionExpires,
                b'a' => AcceptContact,
                b'j' => RejectContact,
                b'd' => RequestDisposition,
                b'y' => Identity,
                _ => Other,
            };
        }
        // Dispatch on length first, then on the first letter, so a known
        // name costs one case-insensitive comparison and an unknown one
        // usually none.
        let first = match name.first() {
            Some(c) => c.to_ascii_lowercase(),
            None => return Other,
        };
        let candidates: &[HeaderName] = match name.len() {
            2 => &[To],
            3 => &[Via],
            4 => &[From, CSeq, Date],
            5 => &[Route, Allow, Event],
            6 => &[Accept, Server],
            7 => &[CallId, Contact, Expires, Subject, Require],
            8 => &[Identity, ReferTo],
            9 => &[Supported, Timestamp],
            10 => &[UserAgent],
            11 => &[ReferredBy, Unsupported],
            12 => &[MaxForwards, ContentType, RecordRoute, AllowEvents],
            13 => &[Authorization, ProxyRequire],
            14 => &[ContentLength, AcceptContact, RejectContact],
            15 => &[SessionExpires],
            16 => &[ContentEncoding, WwwAuthenticate],
            18 => &[ProxyAuthenticate],
            19 => &[ProxyAuthorization, RequestDisposition],
            _ => &[],
        };
        for &c in candidates {
            let canon = c.lower();
            if canon.first() == Some(&first) && eq_folded(name, canon) {
                return c;
            }
        }
        Other
    }

    /// The canonical name in lower case (for case-folded comparison).
    fn lower(self) -> &'static [u8] {
        use HeaderName::*;
        match self {
            Other => b"",
            Via => b"via",
            From => b"from",
            To => b"to",
            CallId => b"call-id",
            CSeq => b"cseq",
            MaxForwards => b"max-forwards",
            Contact => b"contact",
            ContentLength => b"content-length",
            ContentType => b"content-type",
            ContentEncoding => b"content-encoding",
            Route => b"route",
            RecordRoute => b"record-route",
            Supported => b"supported",
            Subject => b"subject",
            Event => b"event",
            AllowEvents => b"allow-events",
            ReferTo => b"refer-to",
            ReferredBy => b"referred-by",
            SessionExpires => b"session-expires",
            AcceptContact => b"accept-contact",
            RejectContact => b"reject-contact",
            RequestDisposition => b"request-disposition",
            Identity => b"identity",
            Authorization => b"authorization",
            ProxyAuthorization => b"proxy-authorization",
            WwwAuthenticate => b"www-authenticate",
            ProxyAuthenticate => b"proxy-authenticate",
            Expires => b"expires",
            Allow => b"allow",
            Require => b"require",
            ProxyRequire => b"proxy-require",
            Unsupported => b"unsupported",
            Timestamp => b"timestamp",
            UserAgent => b"user-agent",
            Server => b"server",
            Accept => b"accept",
            Date => b"date",
        }
    }

    /// The canonical (long) spelling; `""` for [`HeaderName::Other`].
    pub fn as_str(self) -> &'static str {
        use HeaderName::*;
        match self {
            Other => "",
            Via => "Via",
            From => "From",
            To => "To",
            CallId => "Call-ID",
            CSeq => "CSeq",
            MaxForwards => "Max-Forwards",
            Contact => "Contact",
            ContentLength => "Content-Length",
            ContentType => "Content-Type",
            ContentEncoding => "Content-Encoding",
            Route => "Route",
            RecordRoute => "Record-Route",
            Supported => "Supported",
            Subject => "Subject",
            Event => "Event",
            AllowEvents => "Allow-Events",
            ReferTo => "Refer-To",
            ReferredBy => "Referred-By",
            SessionExpires => "Session-Expires",
            AcceptContact => "Accept-Contact",
            RejectContact => "Reject-Contact",
            RequestDisposition => "Request-Disposition",
            Identity => "Identity",
            Authorization => "Authorization",
            ProxyAuthorization => "Proxy-Authorization",
            WwwAuthenticate => "WWW-Authenticate",
            ProxyAuthenticate => "Proxy-Authenticate",
            Expires => "Expires",
            Allow => "Allow",
            Require => "Require",
            ProxyRequire => "Proxy-Require",
            Unsupported => "Unsupported",
            Timestamp => "Timestamp",
            UserAgent => "User-Agent",
            Server => "Server",
            Accept => "Accept",
            Date => "Date",
        }
    }
}

/// Compare a token `name` with a lower-case canonical name of the same
/// length, eight bytes at a time. OR-ing 0x20 folds upper-case letters and
/// leaves `-` and lower-case letters alone; no other token character folds
/// onto a letter or `-`, so for token input this is exact.
fn eq_folded(name: &[u8], lower: &[u8]) -> bool {
    const FOLD: u64 = 0x2020_2020_2020_2020;
    fn word(s: &[u8], at: usize) -> u64 {
        let mut w = [0u8; 8];
        if let Some(src) = s.get(at..at + 8) {
            w.copy_from_slice(src);
        }
        u64::from_le_bytes(w)
    }
    let n = name.len();
    if n != lower.len() {
        return false;
    }
    if n < 8 {
        return name.iter().zip(lower).all(|(&a, &b)| (a | 0x20) == b);
    }
    let mut i = 0;
    while i + 8 <= n {
        if word(name, i) | FOLD != word(lower, i) {
            return false;
        }
        i += 8;
    }
    i == n || word(name, n - 8) | FOLD == word(lower, n - 8)
}

/// One header line (possibly folded) as it appears in the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    /// The name as written (may be a compact form or odd case).
    pub name: &'a [u8],
    /// The recognised name.
    pub kind: HeaderName,
    /// The raw value: leading and trailing LWS trimmed, inner folds kept.
    /// Use [`Header::unfolded`] for the normalised form.
    pub value: &'a [u8],
    /// Byte offset of `value` in the parsed buffer.
    pub value_offset: usize,
    /// Byte range of the whole line in the parsed buffer, from the first
    /// byte of the name to just after the final LF.
    pub line: core::ops::Range<usize>,
}

impl<'a> Header<'a> {
    /// The value with folds replaced by single spaces, as borrowed pieces.
    pub fn unfolded(&self) -> crate::parse::lex::Unfolded<'a> {
        crate::parse::lex::Unfolded::new(self.value)
    }

    /// Whether this header has the given name (compact forms and case are
    /// taken into account; unknown names compare case-insensitively).
    pub fn is(&self, name: &[u8]) -> bool {
        let kind = HeaderName::from_bytes(name);
        if kind == HeaderName::Other {
            self.kind == HeaderName::Other && self.name.eq_ignore_ascii_case(name)
        } else {
            self.kind == kind
        }
    }
}

/// Internal compact record of a header line (offsets into the buffer).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Entry {
    pub line_start: u32,
    pub value_start: u32,
    pub value_len: u32,
    pub line_end: u32,
    pub name_len: u16,
    pub kind: HeaderName,
}

const INLINE: usize = 32;

/// Header index: 32 entries inline (640 bytes, enough for nearly every real
/// message), spilling to a heap `Vec` only for messages with more lines.
#[derive(Clone)]
pub(crate) struct HeaderList {
    len: usize,
    inline: [Entry; INLINE],
    spill: Vec<Entry>,
}

impl HeaderList {
    pub fn new() -> Self {
        HeaderList {
            len: 0,
            inline: [Entry::default(); INLINE],
            spill: Vec::new(),
        }
    }

    #[inline]
    pub fn push(&mut self, e: Entry) {
        if self.spill.is_empty() {
            if let Some(slot) = self.inline.get_mut(self.len) {
                *slot = e;
                self.len += 1;
                return;
            }
            self.spill.reserve(INLINE * 2);
            self.spill.extend_from_slice(&self.inline);
        }
        self.spill.push(e);
        self.len += 1;
    }

    #[inline]
    pub fn last_mut(&mut self) -> Option<&mut Entry> {
        if self.spill.is_empty() {
            self.len.checked_sub(1).and_then(|i| self.inline.get_mut(i))
        } else {
            self.spill.last_mut()
        }
    }

    #[inline]
    pub fn as_slice(&self) -> &[Entry] {
        if self.spill.is_empty() {
            self.inline.get(..self.len).unwrap_or(&[])
        } else {
            &self.spill
        }
    }
}
