//! Parse errors as values.
//!
//! Every failure on network input is reported as a [`ParseError`] that says
//! what was wrong and where (a byte offset into the buffer handed to the
//! parser, and for header errors the canonical header name). Nothing in this
//! crate panics on input bytes.
//!
//! [`ParseError::status_code`] and [`ParseError::reason_phrase`] map an error
//! to the response a server should send (RFC 3261 §8.2, §16.3, §21.4.1,
//! §21.5.6): 505 for an unsupported SIP version, 513 for an over-large
//! message (or one with too many header lines), 400 for everything else.

use thiserror::Error;

/// Why a message (or one of its headers) could not be parsed or validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The input ends before the message does (no empty line ending the
    /// header section, or an empty buffer).
    #[error("incomplete message: {what}")]
    Incomplete {
        /// What is missing.
        what: &'static str,
    },
    /// The request or status line does not follow RFC 3261 §7.1 / §7.2.
    #[error("malformed start line at byte {offset}: {reason}")]
    StartLine {
        /// Byte offset of the offending element.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// A well-formed SIP version other than `SIP/2.0`.
    #[error("unsupported SIP version at byte {offset}")]
    Version {
        /// Byte offset of the version.
        offset: usize,
    },
    /// The Request-URI (or any URI parsed stand-alone) is malformed.
    #[error("malformed URI at byte {offset}: {reason}")]
    Uri {
        /// Byte offset of the offending character.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// A header line is not `name: value` (RFC 3261 §7.3.1).
    #[error("malformed header line at byte {offset}: {reason}")]
    HeaderLine {
        /// Byte offset of the offending character.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// A header value does not follow its grammar (RFC 3261 §25.1).
    #[error("malformed {name} header at byte {offset}: {reason}")]
    Header {
        /// Canonical header name.
        name: &'static str,
        /// Byte offset of the offending character.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// A header the message must carry is absent.
    #[error("missing mandatory header {name}")]
    Missing {
        /// Canonical header name.
        name: &'static str,
    },
    /// A single-valued header appears more than once.
    #[error("{name} header must appear once; another one starts at byte {offset}")]
    Duplicate {
        /// Canonical header name.
        name: &'static str,
        /// Byte offset of the second occurrence.
        offset: usize,
    },
    /// The CSeq method differs from the request method (RFC 3261 §8.1.1.5).
    #[error("CSeq method does not match the request method (CSeq value at byte {offset})")]
    CSeqMethodMismatch {
        /// Byte offset of the CSeq value.
        offset: usize,
    },
    /// Content-Length announces more bytes than the buffer holds.
    #[error(
        "truncated body: Content-Length is {declared} but only {available} bytes follow the header section"
    )]
    TruncatedBody {
        /// The Content-Length value.
        declared: usize,
        /// Bytes present after the empty line.
        available: usize,
    },
    /// A message on a stream transport lacks Content-Length (RFC 3261 §18.3).
    #[error("Content-Length is required to frame a message on a stream transport")]
    MissingContentLength,
    /// More header lines than [`crate::parse::message::MAX_HEADERS`].
    #[error("more than {limit} header lines")]
    TooManyHeaders {
        /// The limit.
        limit: usize,
    },
    /// The message is larger than this parser handles.
    #[error("message exceeds {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

impl ParseError {
    /// The status code a server should answer a request with when it fails
    /// with this error: 505 for a bad version, 513 for an over-large
    /// message, 400 otherwise.
    pub fn status_code(&self) -> u16 {
        match self {
            ParseError::Version { .. } => 505,
            ParseError::TooLarge { .. } | ParseError::TooManyHeaders { .. } => 513,
            _ => 400,
        }
    }

    /// A short reason phrase to go with [`ParseError::status_code`].
    pub fn reason_phrase(&self) -> &'static str {
        match self {
            ParseError::Version { .. } => "Version Not Supported",
            ParseError::TooLarge { .. } | ParseError::TooManyHeaders { .. } => "Message Too Large",
            ParseError::Missing { .. } => "Bad Request - Missing Header",
            ParseError::CSeqMethodMismatch { .. } => "Bad Request - CSeq Method Mismatch",
            ParseError::Header { .. } | ParseError::Duplicate { .. } => {
                "Bad Request - Malformed Header"
            }
            ParseError::Uri { .. } => "Bad Request - Malformed URI",
            _ => "Bad Request",
        }
    }

    /// The header this error is about, if any.
    pub fn header_name(&self) -> Option<&'static str> {
        match self {
            ParseError::Header { name, .. }
            | ParseError::Missing { name }
            | ParseError::Duplicate { name, .. } => Some(name),
            ParseError::CSeqMethodMismatch { .. } => Some("CSeq"),
            ParseError::TruncatedBody { .. } | ParseError::MissingContentLength => {
                Some("Content-Length")
            }
            _ => None,
        }
    }

    /// Byte offset of the problem, where one is known.
    pub fn offset(&self) -> Option<usize> {
        match self {
            ParseError::StartLine { offset, .. }
            | ParseError::Version { offset }
            | ParseError::Uri { offset, .. }
            | ParseError::HeaderLine { offset, .. }
            | ParseError::Header { offset, .. }
            | ParseError::Duplicate { offset, .. }
            | ParseError::CSeqMethodMismatch { offset } => Some(*offset),
            _ => None,
        }
    }

    /// Shift the offset by `base` (used when a value was parsed stand-alone
    /// and is then located inside a message).
    pub(crate) fn shifted(self, base: usize) -> Self {
        match self {
            ParseError::Uri { offset, reason } => ParseError::Uri {
                offset: offset + base,
                reason,
            },
            ParseError::Header {
                name,
                offset,
                reason,
            } => ParseError::Header {
                name,
                offset: offset + base,
                reason,
            },
            other => other,
        }
    }

    /// Re-label a stand-alone URI error as an error of header `name`.
    pub(crate) fn in_header(self, name: &'static str) -> Self {
        match self {
            ParseError::Uri { offset, reason } => ParseError::Header {
                name,
                offset,
                reason,
            },
            other => other,
        }
    }
}

/// Result alias used throughout the crate.
pub type Result<T, E = ParseError> = core::result::Result<T, E>;
