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
        let candidates: &[HeaderName] = match name.first().map(u8::to_ascii_lowercase) {
            Some(b'a') => &[Authorization, AllowEvents, AcceptContact, Allow, Accept],
            Some(b'c') => &[
                CallId,
                CSeq,
                Contact,
                ContentLength,
                ContentType,
                ContentEncoding,
            ],
            Some(b'd') => &[Date],
            Some(b'e') => &[Event, Expires],
            Some(b'f') => &[From],
            Some(b'i') => &[Identity],
            Some(b'm') => &[MaxForwards],
            Some(b'p') => &[ProxyAuthorization, ProxyAuthenticate, ProxyRequire],
            Some(b'r') => &[
                Route,
                RecordRoute,
                ReferTo,
                ReferredBy,
                RejectContact,
                RequestDisposition,
                Require,
            ],
            Some(b's') => &[Supported, Subject, SessionExpires, Server],
            Some(b't') => &[To, Timestamp],
            Some(b'u') => &[Unsupported, UserAgent],
            Some(b'v') => &[Via],
            Some(b'w') => &[WwwAuthenticate],
            _ => &[],
        };
        for &c in candidates {
            let canon = c.as_str().as_bytes();
            if canon.len() == name.len() && canon.eq_ignore_ascii_case(name) {
                return c;
            }
        }
        Other
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
