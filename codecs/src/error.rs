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
    /// libopus rejected a call (RFC 6716 decoder/encoder error codes).
    #[error("libopus {function} failed: {kind}")]
    Opus {
        /// The libopus function that failed.
        function: &'static str,
        /// What libopus reported.
        kind: OpusErrorKind,
    },
    /// A jitter-buffer packet does not fit the buffer (payload larger than
    /// the configured slot size).
    #[error("packet of {len} bytes exceeds the {max}-byte slot size")]
    PacketTooLarge {
        /// Payload length.
        len: usize,
        /// Slot capacity.
        max: usize,
    },
}

/// libopus error codes (`OPUS_BAD_ARG` … `OPUS_ALLOC_FAIL`), copyable so
/// that [`CodecError`] stays `Clone + Eq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpusErrorKind {
    /// `OPUS_BAD_ARG`: an argument is invalid or out of range (for example
    /// a frame size that is not 2.5/5/10/20/40/60 ms).
    BadArg,
    /// `OPUS_BUFFER_TOO_SMALL`: the output buffer is too small.
    BufferTooSmall,
    /// `OPUS_INTERNAL_ERROR`.
    Internal,
    /// `OPUS_INVALID_PACKET`: the packet is corrupt or not Opus
    /// (RFC 6716 § 3.4 requirements violated).
    InvalidPacket,
    /// `OPUS_UNIMPLEMENTED`.
    Unimplemented,
    /// `OPUS_INVALID_STATE`.
    InvalidState,
    /// `OPUS_ALLOC_FAIL`.
    AllocFail,
    /// Any other code.
    Unknown,
}

impl core::fmt::Display for OpusErrorKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = match self {
            OpusErrorKind::BadArg => "invalid argument",
            OpusErrorKind::BufferTooSmall => "buffer too small",
            OpusErrorKind::Internal => "internal error",
            OpusErrorKind::InvalidPacket => "corrupted or invalid packet",
            OpusErrorKind::Unimplemented => "unimplemented request",
            OpusErrorKind::InvalidState => "invalid state",
            OpusErrorKind::AllocFail => "memory allocation failed",
            OpusErrorKind::Unknown => "unknown error",
        };
        f.write_str(s)
    }
}
