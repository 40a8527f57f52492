//! SIP methods (RFC 3261 §7.1, §27.4 and the extension RFCs).
//!
//! Methods are case-sensitive tokens. Well-known ones get a variant; any
//! other token is kept as [`Method::Other`] (RFC 4475 `intmeth`, `esc02`).

/// A request method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Method<'a> {
    Invite,
    Ack,
    Bye,
    Cancel,
    Register,
    Options,
    Info,
    Prack,
    Subscribe,
    Notify,
    Update,
    Message,
    Refer,
    Publish,
    /// Any other token, as written.
    Other(&'a [u8]),
}

impl<'a> Method<'a> {
    /// Classify a method token (case-sensitive).
    pub fn from_bytes(b: &'a [u8]) -> Method<'a> {
        match b {
            b"INVITE" => Method::Invite,
            b"ACK" => Method::Ack,
            b"BYE" => Method::Bye,
            b"CANCEL" => Method::Cancel,
            b"REGISTER" => Method::Register,
            b"OPTIONS" => Method::Options,
            b"INFO" => Method::Info,
            b"PRACK" => Method::Prack,
            b"SUBSCRIBE" => Method::Subscribe,
            b"NOTIFY" => Method::Notify,
            b"UPDATE" => Method::Update,
            b"MESSAGE" => Method::Message,
            b"REFER" => Method::Refer,
            b"PUBLISH" => Method::Publish,
            other => Method::Other(other),
        }
    }

    /// The method as bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        match self {
            Method::Invite => b"INVITE",
            Method::Ack => b"ACK",
            Method::Bye => b"BYE",
            Method::Cancel => b"CANCEL",
            Method::Register => b"REGISTER",
            Method::Options => b"OPTIONS",
            Method::Info => b"INFO",
            Method::Prack => b"PRACK",
            Method::Subscribe => b"SUBSCRIBE",
            Method::Notify => b"NOTIFY",
            Method::Update => b"UPDATE",
            Method::Message => b"MESSAGE",
            Method::Refer => b"REFER",
            Method::Publish => b"PUBLISH",
            Method::Other(b) => b,
        }
    }
}
