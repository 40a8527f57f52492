//! DTMF (dual-tone multi-frequency) signalling, ITU-T Q.23/Q.24:
//! - [`rfc4733`]: the RTP telephone-event payload of RFC 4733 § 2.3
//!   (event, E bit, volume, duration) and its DTMF event codes (§ 3.2);
//! - [`generate`]: in-band DTMF tone-pair generation at a level in dBm0;
//! - [`goertzel`]: the single-bin Goertzel filter used by detection;
//! - [`detect`]: block-based in-band DTMF detection over 8 kHz PCM.
//!
//! Not implemented: the other RFC 4733/4734 event families (fax, modem,
//! line events), RFC 2198 redundancy, and event state machines that turn
//! packets into tones (the media server builds those from these parts).

pub mod detect;
pub mod generate;
pub mod goertzel;
pub mod rfc4733;

pub use detect::{DetectorConfig, DtmfDetector, DtmfReport};
pub use generate::DtmfGenerator;
pub use rfc4733::TelephoneEvent;

use crate::CodecError;

/// Low-group (row) frequencies in Hz, Q.23.
pub const ROW_FREQS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];

/// High-group (column) frequencies in Hz, Q.23.
pub const COL_FREQS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// One of the 16 DTMF digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Digit {
    /// `0`
    D0,
    /// `1`
    D1,
    /// `2`
    D2,
    /// `3`
    D3,
    /// `4`
    D4,
    /// `5`
    D5,
    /// `6`
    D6,
    /// `7`
    D7,
    /// `8`
    D8,
    /// `9`
    D9,
    /// `*`
    Star,
    /// `#`
    Hash,
    /// `A`
    A,
    /// `B`
    B,
    /// `C`
    C,
    /// `D`
    D,
}

/// Keypad layout: `KEYPAD[row][col]`.
const KEYPAD: [[Digit; 4]; 4] = [
    [Digit::D1, Digit::D2, Digit::D3, Digit::A],
    [Digit::D4, Digit::D5, Digit::D6, Digit::B],
    [Digit::D7, Digit::D8, Digit::D9, Digit::C],
    [Digit::Star, Digit::D0, Digit::Hash, Digit::D],
];

impl Digit {
    /// All 16 digits in RFC 4733 event-code order (0–9, *, #, A–D).
    pub const ALL: [Digit; 16] = [
        Digit::D0,
        Digit::D1,
        Digit::D2,
        Digit::D3,
        Digit::D4,
        Digit::D5,
        Digit::D6,
        Digit::D7,
        Digit::D8,
        Digit::D9,
        Digit::Star,
        Digit::Hash,
        Digit::A,
        Digit::B,
        Digit::C,
        Digit::D,
    ];

    /// Parses `0-9`, `*`, `#`, `A-D` (case-insensitive).
    pub fn from_char(c: char) -> Result<Self, CodecError> {
        let d = match c.to_ascii_uppercase() {
            '0'..='9' => Self::ALL[(c as u8 - b'0') as usize],
            '*' => Digit::Star,
            '#' => Digit::Hash,
            'A' => Digit::A,
            'B' => Digit::B,
            'C' => Digit::C,
            'D' => Digit::D,
            _ => return Err(CodecError::InvalidDigit(c)),
        };
        Ok(d)
    }

    /// The digit's character.
    pub fn to_char(self) -> char {
        b"0123456789*#ABCD"[self.event_code() as usize] as char
    }

    /// RFC 4733 § 3.2 event code (0–15).
    pub fn event_code(self) -> u8 {
        self as u8
    }

    /// The digit for an RFC 4733 event code, if it is a DTMF event.
    pub fn from_event_code(code: u8) -> Option<Self> {
        Self::ALL.get(code as usize).copied()
    }

    /// (row, column) indices into [`ROW_FREQS`] and [`COL_FREQS`].
    pub fn position(self) -> (usize, usize) {
        match self {
            Digit::D1 => (0, 0),
            Digit::D2 => (0, 1),
            Digit::D3 => (0, 2),
            Digit::A => (0, 3),
            Digit::D4 => (1, 0),
            Digit::D5 => (1, 1),
            Digit::D6 => (1, 2),
            Digit::B => (1, 3),
            Digit::D7 => (2, 0),
            Digit::D8 => (2, 1),
            Digit::D9 => (2, 2),
            Digit::C => (2, 3),
            Digit::Star => (3, 0),
            Digit::D0 => (3, 1),
            Digit::Hash => (3, 2),
            Digit::D => (3, 3),
        }
    }

    /// The digit at keypad (row, column).
    pub fn at(row: usize, col: usize) -> Option<Self> {
        KEYPAD.get(row).and_then(|r| r.get(col)).copied()
    }

    /// (low, high) tone frequencies in Hz.
    pub fn frequencies(self) -> (f64, f64) {
        let (r, c) = self.position();
        (ROW_FREQS[r], COL_FREQS[c])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_round_trip_through_chars_codes_and_keypad() {
        for (i, d) in Digit::ALL.iter().copied().enumerate() {
            assert_eq!(d.event_code() as usize, i);
            assert_eq!(Digit::from_event_code(i as u8), Some(d));
            assert_eq!(Digit::from_char(d.to_char()), Ok(d));
            let (r, c) = d.position();
            assert_eq!(Digit::at(r, c), Some(d));
        }
        assert_eq!(Digit::from_char('a'), Ok(Digit::A));
        assert_eq!(Digit::from_char('E'), Err(CodecError::InvalidDigit('E')));
        assert_eq!(Digit::from_event_code(16), None);
        assert_eq!(Digit::D5.frequencies(), (770.0, 1336.0));
        assert_eq!(Digit::Hash.frequencies(), (941.0, 1477.0));
        assert_eq!(Digit::D.frequencies(), (941.0, 1633.0));
    }
}
