//! Errors as values.
//!
//! Parsing reports a [`ParseError`]: the 1-based line number, the field
//! being read (`"m= port"`, `"a=rtpmap clock rate"`, ...) and an
//! [`ErrorKind`] saying what was wrong. Rewrites that can fail report a
//! [`RewriteError`]. Nothing in this crate panics on network input.

use thiserror::Error;

/// What was wrong with a line or field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input contains bytes that are not UTF-8 (this crate does not
    /// implement the RFC 4566 `a=charset` escape hatch).
    #[error("not valid UTF-8")]
    NotUtf8,
    /// The input is empty (or only blank lines).
    #[error("empty description")]
    Empty,
    /// The line is not `<type>=<value>` with a single lowercase letter type,
    /// or contains a stray CR or NUL.
    #[error("line is not <type>=<value>")]
    Syntax,
    /// A line type this parser does not know (RFC 4566 §5: the whole
    /// description must then be ignored).
    #[error("unknown line type")]
    UnknownType,
    /// The first line is not `v=`.
    #[error("description must start with v=")]
    VersionFirst,
    /// `v=` is not `0`.
    #[error("unsupported protocol version")]
    UnsupportedVersion,
    /// A mandatory line is absent.
    #[error("mandatory line missing")]
    MissingLine,
    /// A line that may appear once appears again.
    #[error("duplicate line")]
    Duplicate,
    /// A line appears where it may not (session-only line inside a media
    /// section, `r=` before any `t=`).
    #[error("line not allowed here")]
    Misplaced,
    /// A field is missing from the line.
    #[error("missing field")]
    MissingField,
    /// Extra fields after the last one.
    #[error("unexpected trailing field")]
    TrailingField,
    /// A numeric field is not a decimal number.
    #[error("not a number")]
    InvalidNumber,
    /// A numeric field is out of its range (a port above 65535, a payload
    /// type above 127, ...).
    #[error("number out of range")]
    OutOfRange,
    /// A field does not follow its grammar.
    #[error("invalid value")]
    InvalidValue,
}

/// A parse failure: what and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("SDP line {line}, {field}: {kind}")]
pub struct ParseError {
    /// 1-based line number (for a missing line, the line at which its
    /// absence was detected, possibly one past the last line).
    pub line: usize,
    /// The field being read, e.g. `"m= port"` or `"a=crypto key-params"`.
    pub field: &'static str,
    /// What was wrong.
    pub kind: ErrorKind,
}

/// Field-level failure before the line number is known.
pub(crate) type FieldError = (&'static str, ErrorKind);

/// Why a rewrite could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RewriteError {
    /// Every dynamic payload type (96–127) is already used in the section.
    #[error("no free dynamic payload type (96-127)")]
    NoFreePayloadType,
    /// The requested payload type is already used by another codec.
    #[error("payload type {0} is already in use")]
    PayloadTypeInUse(u8),
    /// The requested payload type is not 0–127.
    #[error("payload type {0} is not 0-127")]
    InvalidPayloadType(u8),
    /// A text value would break the line structure (contains CR, LF or
    /// NUL) or is empty where a token is required.
    #[error("invalid value for {0}")]
    InvalidValue(&'static str),
    /// The media section is not RTP (its formats are not payload types).
    #[error("media section is not RTP")]
    NotRtp,
    /// An `a=crypto` line with this tag is already present.
    #[error("crypto tag {0} is already in use")]
    CryptoTagInUse(u32),
}
