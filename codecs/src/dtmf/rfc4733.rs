//! RFC 4733 § 2.3 telephone-event RTP payload:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     event     |E|R| volume    |          duration             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Event codes for DTMF are 0–15 (§ 3.2, see [`super::Digit`]); volume is
//! the power level in −dBm0 (0..=63); duration is in RTP timestamp units.
//! A payload may carry several 4-octet events (§ 2.5.1.5), so its length
//! must be a non-zero multiple of 4. The reserved R bit is sent as zero and
//! ignored on receipt (§ 2.3.3).
//!
//! Not implemented: the sender/receiver procedures of § 2.5 (timestamps,
//! retransmission of the end packet, long-event segmentation).

use super::Digit;
use crate::CodecError;

/// One telephone event (4 octets on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (§ 3.2; 0–15 are DTMF digits, 16 is flash).
    pub event: u8,
    /// E bit: this packet reports the end of the event.
    pub end: bool,
    /// Power level in −dBm0, 0..=63.
    volume: u8,
    /// Duration so far, in RTP timestamp units.
    pub duration: u16,
}

/// Octets per event block.
pub const EVENT_LEN: usize = 4;

/// Event code of a hook flash (§ 3.2).
pub const EVENT_FLASH: u8 = 16;

impl TelephoneEvent {
    /// Builds an event; `volume` is the level in −dBm0 and must be ≤ 63.
    pub fn new(event: u8, end: bool, volume: u8, duration: u16) -> Result<Self, CodecError> {
        if volume > 63 {
            return Err(CodecError::InvalidParameter {
                name: "volume",
                reason: "must be 0..=63 (−dBm0)",
            });
        }
        Ok(Self {
            event,
            end,
            volume,
            duration,
        })
    }

    /// A DTMF digit event.
    pub fn dtmf(digit: Digit, end: bool, volume: u8, duration: u16) -> Result<Self, CodecError> {
        Self::new(digit.event_code(), end, volume, duration)
    }

    /// Power level in −dBm0 (0..=63).
    pub fn volume(&self) -> u8 {
        self.volume
    }

    /// The DTMF digit, if the event is one.
    pub fn digit(&self) -> Option<Digit> {
        Digit::from_event_code(self.event)
    }

    /// The wire form.
    pub fn to_bytes(&self) -> [u8; EVENT_LEN] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }

    /// Writes the wire form to the front of `out`; returns 4.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, CodecError> {
        let got = out.len();
        let dst = out.get_mut(..EVENT_LEN).ok_or(CodecError::OutputTooSmall {
            needed: EVENT_LEN,
            got,
        })?;
        dst.copy_from_slice(&self.to_bytes());
        Ok(EVENT_LEN)
    }

    fn from_block(b: [u8; EVENT_LEN]) -> Self {
        Self {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3F,
            duration: u16::from_be_bytes([b[2], b[3]]),
        }
    }

    /// Parses a payload and returns its first event. Errors if the payload
    /// is shorter than 4 octets or not a multiple of 4.
    pub fn parse(payload: &[u8]) -> Result<Self, CodecError> {
        let mut events = Self::parse_all(payload)?;
        events.next().ok_or(CodecError::PayloadTooShort {
            needed: EVENT_LEN,
            got: payload.len(),
        })
    }

    /// Parses every event block of a payload (§ 2.5.1.5). The length is
    /// validated up front, so the iterator yields only whole events.
    pub fn parse_all(
        payload: &[u8],
    ) -> Result<impl Iterator<Item = TelephoneEvent> + '_, CodecError> {
        if payload.len() < EVENT_LEN {
            return Err(CodecError::PayloadTooShort {
                needed: EVENT_LEN,
                got: payload.len(),
            });
        }
        if !payload.len().is_multiple_of(EVENT_LEN) {
            return Err(CodecError::BadPayloadLength {
                len: payload.len(),
                reason: "telephone-event payloads are whole 4-octet events",
            });
        }
        Ok(payload
            .chunks_exact(EVENT_LEN)
            .map(|c| Self::from_block([c[0], c[1], c[2], c[3]])))
    }
}
