//! RTP packets as the generator writes and reads them (RFC 3550 §5.1).
//!
//! The generator's payload is opaque to a relay that does not transcode, so it carries a
//! small probe ([`Probe`]): a magic word telling measured packets from latching warm-up ones,
//! the flow the packet belongs to, its index in that flow and its send time. The receiver
//! thus knows the flow whatever the relay does to SSRC, sequence or timestamp, and measures
//! one-way delay.
//!
//! [`RtpHeader::parse`] never panics: anything that is not RTP version 2 with a whole header
//! is `None`. Deliberately not done: RTCP, header extensions beyond skipping them, padding
//! removal beyond honouring the pad count.

/// Fixed RTP header length without CSRCs.
pub const HEADER_LEN: usize = 12;
/// PCMU's static payload type.
pub const PCMU: u8 = 0;
/// 20 ms of PCMU at 8 kHz.
pub const SAMPLES_PER_PACKET: u32 = 160;
/// PCMU's RTP clock rate.
pub const CLOCK_RATE: u32 = 8000;

/// Magic word of a measured packet's probe.
pub const MAGIC_MEASURED: u32 = 0x5254_4731; // "RTG1"
/// Magic word of a warm-up (latching) packet's probe.
pub const MAGIC_WARMUP: u32 = 0x5254_4757; // "RTGW"
/// Bytes the probe occupies at the start of the payload.
pub const PROBE_LEN: usize = 20;

/// The parsed fixed header of an RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    /// Offset of the payload within the packet.
    pub payload_offset: usize,
    /// End of the payload (before padding).
    pub payload_end: usize,
}

impl RtpHeader {
    /// Parses the header of `packet`; `None` unless it is a complete RTP v2 packet.
    pub fn parse(packet: &[u8]) -> Option<Self> {
        if packet.len() < HEADER_LEN || packet[0] >> 6 != 2 {
            return None;
        }
        let padding = packet[0] & 0x20 != 0;
        let extension = packet[0] & 0x10 != 0;
        let csrc_count = usize::from(packet[0] & 0x0f);
        let mut offset = HEADER_LEN + 4 * csrc_count;
        if extension {
            let ext = packet.get(offset..offset + 4)?;
            let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
            offset += 4 + 4 * words;
        }
        let mut end = packet.len();
        if padding {
            let pad = usize::from(*packet.last()?);
            end = end.checked_sub(pad)?;
        }
        if offset > end {
            return None;
        }
        Some(Self {
            marker: packet[1] & 0x80 != 0,
            payload_type: packet[1] & 0x7f,
            sequence: u16::from_be_bytes([packet[2], packet[3]]),
            timestamp: u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]),
            ssrc: u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]),
            payload_offset: offset,
            payload_end: end,
        })
    }
}

/// What the generator writes at the start of every payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub warmup: bool,
    pub flow: u32,
    pub index: u32,
    /// Send time, nanoseconds since the session's epoch.
    pub sent_ns: u64,
}

impl Probe {
    /// Writes the probe into the first [`PROBE_LEN`] bytes of `payload`.
    pub fn write(&self, payload: &mut [u8]) {
        let magic = if self.warmup {
            MAGIC_WARMUP
        } else {
            MAGIC_MEASURED
        };
        payload[0..4].copy_from_slice(&magic.to_be_bytes());
        payload[4..8].copy_from_slice(&self.flow.to_be_bytes());
        payload[8..12].copy_from_slice(&self.index.to_be_bytes());
        payload[12..20].copy_from_slice(&self.sent_ns.to_be_bytes());
    }

    /// Reads a probe; `None` when the payload does not start with one.
    pub fn read(payload: &[u8]) -> Option<Self> {
        let bytes: &[u8; PROBE_LEN] = payload.get(..PROBE_LEN)?.try_into().ok()?;
        let word =
            |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let warmup = match word(0) {
            MAGIC_MEASURED => false,
            MAGIC_WARMUP => true,
            _ => return None,
        };
        let mut sent = [0u8; 8];
        sent.copy_from_slice(&bytes[12..20]);
        Some(Self {
            warmup,
            flow: word(4),
            index: word(8),
            sent_ns: u64::from_be_bytes(sent),
        })
    }
}

/// Writes a full PCMU packet (header, probe, filler) into `out`, which must hold
/// `HEADER_LEN + payload_size` bytes with `payload_size >= PROBE_LEN`.
pub fn write_packet(
    out: &mut [u8],
    marker: bool,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
    probe: &Probe,
) {
    out[0] = 0x80;
    out[1] = (u8::from(marker) << 7) | PCMU;
    out[2..4].copy_from_slice(&sequence.to_be_bytes());
    out[4..8].copy_from_slice(&timestamp.to_be_bytes());
    out[8..12].copy_from_slice(&ssrc.to_be_bytes());
    probe.write(&mut out[HEADER_LEN..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_packet_parses_back() {
        let mut packet = vec![0xffu8; HEADER_LEN + 160];
        let probe = Probe {
            warmup: false,
            flow: 7,
            index: 99,
            sent_ns: 123_456_789,
        };
        write_packet(&mut packet, true, 65535, 0xdead_beef, 0x1234_5678, &probe);
        let header = RtpHeader::parse(&packet).unwrap();
        assert!(header.marker);
        assert_eq!(header.payload_type, PCMU);
        assert_eq!(header.sequence, 65535);
        assert_eq!(header.timestamp, 0xdead_beef);
        assert_eq!(header.ssrc, 0x1234_5678);
        assert_eq!(header.payload_end - header.payload_offset, 160);
        assert_eq!(
            Probe::read(&packet[header.payload_offset..header.payload_end]),
            Some(probe)
        );
    }

    #[test]
    fn skips_csrcs_and_extensions_and_refuses_truncated_ones() {
        let mut packet = vec![0u8; HEADER_LEN + 4 + 8 + PROBE_LEN];
        packet[0] = 0x80 | 0x10 | 1; // one CSRC and an extension
        packet[HEADER_LEN + 4 + 3] = 1; // extension of one word
        let header = RtpHeader::parse(&packet).unwrap();
        assert_eq!(header.payload_offset, HEADER_LEN + 4 + 8);
        assert!(RtpHeader::parse(&packet[..HEADER_LEN + 6]).is_none());
        assert!(RtpHeader::parse(&[0x40; 20]).is_none(), "version 1");
        assert!(RtpHeader::parse(&[0x80; 5]).is_none());
        let mut padded = vec![0u8; HEADER_LEN];
        padded[0] = 0xa0;
        padded.push(200); // claims 200 bytes of padding
        assert!(RtpHeader::parse(&padded).is_none());
    }

    #[test]
    fn foreign_payloads_carry_no_probe() {
        assert_eq!(Probe::read(&[0u8; 40]), None);
        assert_eq!(Probe::read(&MAGIC_MEASURED.to_be_bytes()), None);
    }
}
