//! Demultiplexing of what arrives on one port: RTP vs RTCP by payload
//! type (RFC 5761 §4: second byte, marker bit masked, 64–95 is RTCP), and
//! STUN/DTLS by first byte (RFC 7983), which the relay core does not
//! forward.

/// What a datagram looks like from its first two bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketClass {
    /// RTP (version 2, PT outside 64–95).
    Rtp,
    /// RTCP (version 2, second byte & 0x7f in 64–95, i.e. PT 192–223).
    Rtcp,
    /// STUN (first byte 0–3).
    Stun,
    /// DTLS (first byte 20–63).
    Dtls,
    /// Anything else (too short, other versions, ZRTP, TURN channels).
    Unknown,
}

/// Classifies a datagram (RFC 7983 first byte, then RFC 5761 §4).
#[inline]
pub fn classify(buf: &[u8]) -> PacketClass {
    let Some(&[b0, b1]) = buf.first_chunk::<2>() else {
        return PacketClass::Unknown;
    };
    match b0 {
        0..=3 => PacketClass::Stun,
        20..=63 => PacketClass::Dtls,
        128..=191 => {
            if (64..=95).contains(&(b1 & 0x7f)) {
                PacketClass::Rtcp
            } else {
                PacketClass::Rtp
            }
        }
        _ => PacketClass::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5761_ranges() {
        assert_eq!(classify(&[0x80, 0]), PacketClass::Rtp);
        assert_eq!(classify(&[0x80, 0x80 | 63]), PacketClass::Rtp);
        assert_eq!(classify(&[0x80, 96]), PacketClass::Rtp);
        assert_eq!(classify(&[0x80, 200]), PacketClass::Rtcp);
        assert_eq!(classify(&[0x81, 201]), PacketClass::Rtcp);
        assert_eq!(classify(&[0x80, 64]), PacketClass::Rtcp);
        assert_eq!(classify(&[0x80, 95]), PacketClass::Rtcp);
        assert_eq!(classify(&[0x00, 1]), PacketClass::Stun);
        assert_eq!(classify(&[22, 0xfe]), PacketClass::Dtls);
        assert_eq!(classify(&[0x40, 0]), PacketClass::Unknown);
        assert_eq!(classify(&[0x80]), PacketClass::Unknown);
    }
}
