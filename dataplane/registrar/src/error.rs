//! Typed errors of the registrar. None of them leaves the crate as a panic:
//! the [`crate::Registrar`] turns each into a SIP answer.

use thiserror::Error;

/// Why a Digest credentials value could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DigestError {
    /// The scheme is not `Digest`.
    #[error("authorization scheme is not Digest")]
    NotDigest,
    /// A mandatory field is absent.
    #[error("digest field `{0}` is missing")]
    Missing(&'static str),
    /// A field appears twice.
    #[error("digest field repeated")]
    Duplicate,
    /// A field is not UTF-8.
    #[error("digest field is not UTF-8")]
    NotUtf8,
    /// `algorithm` is not MD5, MD5-sess, SHA-256 or SHA-256-sess.
    #[error("unknown digest algorithm")]
    UnknownAlgorithm,
    /// `qop` is not `auth`.
    #[error("unsupported qop (only auth)")]
    UnsupportedQop,
    /// `nc` is not 8 hex digits.
    #[error("nc must be 8 hex digits")]
    BadNonceCount,
    /// `response` is not a hex digest of the algorithm's length.
    #[error("response is not a hex digest of the algorithm's length")]
    BadResponse,
}

/// Why a location-service update was refused; the update changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum LocationError {
    /// A binding with the same Call-ID has an equal or higher CSeq: the
    /// request is out of order (RFC 3261 §10.3 step 7).
    #[error("out-of-order REGISTER (same Call-ID, CSeq not higher)")]
    OutOfOrder,
    /// The address-of-record would hold more contacts than allowed.
    #[error("too many contacts for this address-of-record")]
    TooManyContacts,
    /// The store holds as many addresses-of-record as allowed.
    #[error("location store is full")]
    Full,
}
