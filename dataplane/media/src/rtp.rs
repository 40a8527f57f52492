//! RTP fixed header view (RFC 3550 §5.1) and in-place header rewrite.
//!
//! [`RtpPacket::parse`] validates a datagram the way RFC 3550 A.1 asks
//! (version 2, CSRC list, header extension and padding all within the
//! datagram) and borrows it; nothing is copied. [`RtpHeaderMut`] rewrites
//! SSRC, sequence number, timestamp, payload type and marker in place on
//! the first 12 bytes, without bounds checks on the hot path (the length is
//! checked once when it is built).

use thiserror::Error;

/// Length of the RTP fixed header.
pub const RTP_HEADER_LEN: usize = 12;

/// Why a datagram is not a valid RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtpError {
    /// Shorter than the 12-byte fixed header.
    #[error("RTP packet shorter than 12 bytes")]
    TooShort,
    /// Version field is not 2.
    #[error("RTP version {0} (expected 2)")]
    BadVersion(u8),
    /// The CSRC list runs past the end of the datagram.
    #[error("CSRC list truncated")]
    CsrcTruncated,
    /// The header extension runs past the end of the datagram.
    #[error("header extension truncated")]
    ExtensionTruncated,
    /// Padding bit set but the padding count is 0 or covers the header.
    #[error("invalid padding length")]
    BadPadding,
}

/// A validated RTP packet borrowing its datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    buf: &'a [u8],
    head: &'a [u8; RTP_HEADER_LEN],
    payload_start: usize,
    payload_end: usize,
    ext_start: usize,
}

impl<'a> RtpPacket<'a> {
    /// Parses and validates the fixed header, CSRC list, extension and
    /// padding of `buf`.
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        let Some(h) = buf.first_chunk::<RTP_HEADER_LEN>() else {
            return Err(RtpError::TooShort);
        };
        let version = h[0] >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion(version));
        }
        let cc = usize::from(h[0] & 0x0f);
        let mut off = RTP_HEADER_LEN + 4 * cc;
        if off > buf.len() {
            return Err(RtpError::CsrcTruncated);
        }
        let ext_start = off;
        if h[0] & 0x10 != 0 {
            let Some(ext) = buf.get(off..off + 4) else {
                return Err(RtpError::ExtensionTruncated);
            };
            let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
            off += 4 + 4 * words;
            if off > buf.len() {
                return Err(RtpError::ExtensionTruncated);
            }
        }
        let mut end = buf.len();
        if h[0] & 0x20 != 0 {
            let pad = usize::from(buf[end - 1]);
            if pad == 0 || pad > end - off {
                return Err(RtpError::BadPadding);
            }
            end -= pad;
        }
        Ok(Self {
            buf,
            head: h,
            payload_start: off,
            payload_end: end,
            ext_start,
        })
    }

    /// The whole datagram.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }
    /// Padding bit.
    #[inline]
    pub fn has_padding(&self) -> bool {
        self.head[0] & 0x20 != 0
    }
    /// Extension bit.
    #[inline]
    pub fn has_extension(&self) -> bool {
        self.head[0] & 0x10 != 0
    }
    /// Number of CSRC identifiers.
    #[inline]
    pub fn csrc_count(&self) -> usize {
        usize::from(self.head[0] & 0x0f)
    }
    /// The `i`th CSRC, if present.
    #[inline]
    pub fn csrc(&self, i: usize) -> Option<u32> {
        if i >= self.csrc_count() {
            return None;
        }
        Some(be32(self.buf, RTP_HEADER_LEN + 4 * i))
    }
    /// Marker bit.
    #[inline]
    pub fn marker(&self) -> bool {
        self.head[1] & 0x80 != 0
    }
    /// Payload type (7 bits).
    #[inline]
    pub fn payload_type(&self) -> u8 {
        self.head[1] & 0x7f
    }
    /// Sequence number.
    #[inline]
    pub fn sequence(&self) -> u16 {
        u16::from_be_bytes([self.head[2], self.head[3]])
    }
    /// RTP timestamp.
    #[inline]
    pub fn timestamp(&self) -> u32 {
        u32::from_be_bytes([self.head[4], self.head[5], self.head[6], self.head[7]])
    }
    /// Synchronisation source.
    #[inline]
    pub fn ssrc(&self) -> u32 {
        u32::from_be_bytes([self.head[8], self.head[9], self.head[10], self.head[11]])
    }
    /// Header extension: profile-defined 16 bits and the extension data
    /// (without its 4-byte header).
    #[inline]
    pub fn extension(&self) -> Option<(u16, &'a [u8])> {
        if !self.has_extension() {
            return None;
        }
        let profile = u16::from_be_bytes([self.buf[self.ext_start], self.buf[self.ext_start + 1]]);
        Some((profile, &self.buf[self.ext_start + 4..self.payload_start]))
    }
    /// Payload, without padding.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.payload_start..self.payload_end]
    }
    /// Offset of the payload in the datagram.
    #[inline]
    pub fn payload_offset(&self) -> usize {
        self.payload_start
    }
}

#[inline]
fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// Mutable view of the 12-byte fixed header for in-place rewriting.
#[derive(Debug)]
pub struct RtpHeaderMut<'a>(&'a mut [u8; RTP_HEADER_LEN]);

impl<'a> RtpHeaderMut<'a> {
    /// `None` when `buf` is shorter than the fixed header. No other
    /// validation: parse with [`RtpPacket::parse`] first.
    #[inline]
    pub fn new(buf: &'a mut [u8]) -> Option<Self> {
        buf.first_chunk_mut::<RTP_HEADER_LEN>().map(Self)
    }
    /// Sets the marker bit.
    #[inline]
    pub fn set_marker(&mut self, m: bool) {
        self.0[1] = (self.0[1] & 0x7f) | (u8::from(m) << 7);
    }
    /// Sets the payload type, keeping the marker bit.
    #[inline]
    pub fn set_payload_type(&mut self, pt: u8) {
        self.0[1] = (self.0[1] & 0x80) | (pt & 0x7f);
    }
    /// Sets the sequence number.
    #[inline]
    pub fn set_sequence(&mut self, seq: u16) {
        self.0[2..4].copy_from_slice(&seq.to_be_bytes());
    }
    /// Sets the timestamp.
    #[inline]
    pub fn set_timestamp(&mut self, ts: u32) {
        self.0[4..8].copy_from_slice(&ts.to_be_bytes());
    }
    /// Sets the SSRC.
    #[inline]
    pub fn set_ssrc(&mut self, ssrc: u32) {
        self.0[8..12].copy_from_slice(&ssrc.to_be_bytes());
    }
}

/// Serial-number comparison of sequence numbers (RFC 1982): `a` is newer
/// than `b`.
#[inline]
pub fn seq_newer(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

/// Serial-number comparison of timestamps: `a` is later than `b`.
#[inline]
pub fn ts_newer(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000_0000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt() -> Vec<u8> {
        let mut v = vec![
            0x80, 0x00, 0x12, 0x34, 0, 0, 0x01, 0x40, 0xde, 0xad, 0xbe, 0xef,
        ];
        v.extend_from_slice(&[0xff; 160]);
        v
    }

    #[test]
    fn fixed_header_fields() {
        let b = pkt();
        let p = RtpPacket::parse(&b).unwrap();
        assert_eq!(p.payload_type(), 0);
        assert_eq!(p.sequence(), 0x1234);
        assert_eq!(p.timestamp(), 320);
        assert_eq!(p.ssrc(), 0xdead_beef);
        assert_eq!(p.payload().len(), 160);
        assert!(!p.marker());
    }

    #[test]
    fn csrc_extension_padding() {
        let mut b = vec![0xb1, 0xe5, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        b.extend_from_slice(&[0, 0, 0, 9]); // CSRC 9
        b.extend_from_slice(&[0xbe, 0xde, 0, 1, 1, 2, 3, 4]); // one-word ext
        b.extend_from_slice(&[7; 10]);
        b.extend_from_slice(&[0, 0, 3]); // 3 bytes padding
        let p = RtpPacket::parse(&b).unwrap();
        assert!(p.marker());
        assert_eq!(p.payload_type(), 101);
        assert_eq!(p.csrc(0), Some(9));
        assert_eq!(p.csrc(1), None);
        assert_eq!(p.extension(), Some((0xbede, &[1, 2, 3, 4][..])));
        assert_eq!(p.payload(), &[7; 10]);
        let last = b.len() - 1;
        b[last] = 0;
        assert_eq!(RtpPacket::parse(&b), Err(RtpError::BadPadding));
        b[last] = 200;
        assert_eq!(RtpPacket::parse(&b), Err(RtpError::BadPadding));
    }

    #[test]
    fn errors() {
        assert_eq!(RtpPacket::parse(&[0x80; 11]), Err(RtpError::TooShort));
        let mut b = pkt();
        b[0] = 0x40;
        assert_eq!(RtpPacket::parse(&b), Err(RtpError::BadVersion(1)));
        let b = [0x8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
        assert_eq!(RtpPacket::parse(&b), Err(RtpError::CsrcTruncated));
        let b = [
            0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0, 2, 0, 0, 0, 0,
        ];
        assert_eq!(RtpPacket::parse(&b), Err(RtpError::ExtensionTruncated));
    }

    #[test]
    fn rewrite_in_place() {
        let mut b = pkt();
        b[1] = 0x80; // marker, PT 0
        let mut h = RtpHeaderMut::new(&mut b).unwrap();
        h.set_ssrc(1);
        h.set_sequence(0xffff);
        h.set_timestamp(0xffff_fff0);
        h.set_payload_type(8);
        let p = RtpPacket::parse(&b).unwrap();
        assert_eq!(
            (p.ssrc(), p.sequence(), p.timestamp()),
            (1, 0xffff, 0xffff_fff0)
        );
        assert_eq!(p.payload_type(), 8);
        assert!(p.marker());
        assert!(RtpHeaderMut::new(&mut [0u8; 5]).is_none());
    }

    #[test]
    fn serial_comparisons() {
        assert!(seq_newer(0, 0xffff));
        assert!(!seq_newer(0xffff, 0));
        assert!(ts_newer(5, 0xffff_fff0));
        assert!(!ts_newer(7, 7));
    }
}
