//! The crate's typed error. Every failure that input can cause (short
//! buffers, odd sample counts, malformed payloads, out-of-range parameters)
//! is reported through [`CodecError`]; nothing in the crate panics on input.

use thiserror::Error;

/// Errors returned by the codecs and signal-processing functions.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodecError {
    /// The caller-supplied output slice cannot hold the result.
    #[error("output buffer too small: need {needed} elements, got {got}")]
    OutputTooSmall {
        /// Elements required.
        needed: usize,
        /// Elements provided.
        got: usize,
    },
    /// The input length is not a whole number of codec units (for example
    /// G.722 encodes 16 kHz samples in pairs).
    #[error("input length {len} is not a multiple of {multiple}")]
    BadInputLength {
        /// Length supplied.
        len: usize,
        /// Required granularity.
        multiple: usize,
    },
    /// An RTP payload is shorter than its fixed header.
    #[error("payload too short: need at least {needed} bytes, got {got}")]
    PayloadTooShort {
        /// Minimum length.
        needed: usize,
        /// Length received.
        got: usize,
    },
    /// A payload has a length that is not valid for its format.
    #[error("payload length {len} is invalid: {reason}")]
    BadPayloadLength {
        /// Length received.
        len: usize,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// A character is not one of the 16 DTMF digits `0-9 * # A-D`.
    #[error("{0:?} is not a DTMF digit")]
    InvalidDigit(char),
    /// The resampler failed on a frame (should not happen for frames of
    /// the advertised size).
    #[error("resampling failed: {0}")]
    Resample(&'static str),
    /// A numeric parameter is outside its allowed range.
    #[error("parameter {name} out of range: {reason}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// The allowed range or constraint.
        reason: &'static str,
    },
}
