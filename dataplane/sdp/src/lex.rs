//! Small lexical helpers shared by the line and attribute parsers
//! (RFC 8866 §9 core rules: decimal numbers, tokens, text without CR/LF/NUL).

use core::str::FromStr;

use crate::error::{ErrorKind, FieldError};

/// A decimal number made of ASCII digits only (no sign, no spaces).
pub(crate) fn number<T: FromStr>(s: &str, field: &'static str) -> Result<T, FieldError> {
    if s.is_empty() {
        return Err((field, ErrorKind::MissingField));
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err((field, ErrorKind::InvalidNumber));
    }
    s.parse().map_err(|_| (field, ErrorKind::OutOfRange))
}

/// Next whitespace-separated field, or `MissingField`.
pub(crate) fn next_field<'a>(
    it: &mut impl Iterator<Item = &'a str>,
    field: &'static str,
) -> Result<&'a str, FieldError> {
    it.next().ok_or((field, ErrorKind::MissingField))
}

/// Fails with `TrailingField` if the iterator is not exhausted.
pub(crate) fn end<'a>(
    it: &mut impl Iterator<Item = &'a str>,
    field: &'static str,
) -> Result<(), FieldError> {
    match it.next() {
        Some(_) => Err((field, ErrorKind::TrailingField)),
        None => Ok(()),
    }
}

/// Whether `s` may be written into an SDP line without changing the line
/// structure.
pub(crate) fn is_line_safe(s: &str) -> bool {
    !s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}

/// Whether `s` is a non-empty token without whitespace that may be written
/// as one field.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && is_line_safe(s) && !s.bytes().any(|b| b == b' ' || b == b'\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_reject_signs_and_overflow() {
        assert_eq!(number::<u16>("5060", "f"), Ok(5060));
        assert_eq!(
            number::<u16>("+5", "f"),
            Err(("f", ErrorKind::InvalidNumber))
        );
        assert_eq!(
            number::<u16>("65536", "f"),
            Err(("f", ErrorKind::OutOfRange))
        );
        assert_eq!(number::<u64>("", "f"), Err(("f", ErrorKind::MissingField)));
        assert_eq!(
            number::<u64>("99999999999999999999999", "f"),
            Err(("f", ErrorKind::OutOfRange))
        );
    }
}
