//! RTCP compound packet walk (RFC 3550 §6) with length validation, typed
//! views of SR/RR report blocks, SDES chunks and BYE, and in-place sender
//! SSRC rewrite.
//!
//! Validation follows RFC 3550 A.2 except that the first packet is not
//! required to be SR/RR (reduced-size RTCP, RFC 5506, is relayed too):
//! every packet has version 2, its length field stays inside the datagram,
//! only the last packet may be padded, and SR/RR/SDES/BYE bodies are large
//! enough for their count field.

use thiserror::Error;

/// Sender report.
pub const PT_SR: u8 = 200;
/// Receiver report.
pub const PT_RR: u8 = 201;
/// Source description.
pub const PT_SDES: u8 = 202;
/// Goodbye.
pub const PT_BYE: u8 = 203;
/// Application-defined.
pub const PT_APP: u8 = 204;

/// Why a datagram is not a valid RTCP compound packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtcpError {
    /// Fewer than 4 bytes left for a packet header.
    #[error("RTCP packet shorter than its 4-byte header")]
    TooShort,
    /// Version field is not 2.
    #[error("RTCP version {0} (expected 2)")]
    BadVersion(u8),
    /// Length field points past the end of the datagram.
    #[error("RTCP length field exceeds the datagram")]
    BadLength,
    /// Padding on a packet that is not the last, or an invalid count.
    #[error("invalid RTCP padding")]
    BadPadding,
    /// SR/RR/SDES/BYE body too short for its count field.
    #[error("RTCP packet type {0} body too short for its count")]
    Truncated(u8),
}

/// One packet of a compound, borrowing the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpPacket<'a> {
    /// Packet type (200 SR, 201 RR, ...).
    pub packet_type: u8,
    /// The 5-bit count field (report count, source count, subtype).
    pub count: u8,
    /// Body after the 4-byte header, padding removed.
    pub body: &'a [u8],
    /// Offset of this packet's header in the datagram.
    pub offset: usize,
}

/// A reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// Source this block reports on.
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256 units.
    pub fraction_lost: u8,
    /// Cumulative number of packets lost (24-bit signed).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_seq: u32,
    /// Interarrival jitter, in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the last SR's NTP timestamp.
    pub last_sr: u32,
    /// Delay since last SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

/// Sender info of an SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// NTP timestamp (64-bit fixed point).
    pub ntp: u64,
    /// RTP timestamp matching `ntp`.
    pub rtp_ts: u32,
    /// Sender's packet count.
    pub packets: u32,
    /// Sender's octet count.
    pub octets: u32,
}

impl<'a> RtcpPacket<'a> {
    /// Sender SSRC of SR, RR (and the first SSRC of SDES/BYE).
    pub fn sender_ssrc(&self) -> Option<u32> {
        self.body.first_chunk::<4>().map(|b| u32::from_be_bytes(*b))
    }

    /// Sender info, for an SR.
    pub fn sender_info(&self) -> Option<SenderInfo> {
        if self.packet_type != PT_SR {
            return None;
        }
        let b = self.body.get(4..24)?;
        Some(SenderInfo {
            ntp: u64::from_be_bytes(b[0..8].try_into().ok()?),
            rtp_ts: be32(b, 8),
            packets: be32(b, 12),
            octets: be32(b, 16),
        })
    }

    /// Report blocks of an SR or RR (empty for other types).
    pub fn report_blocks(&self) -> impl Iterator<Item = ReportBlock> + 'a {
        let start = match self.packet_type {
            PT_SR => 24,
            PT_RR => 4,
            _ => usize::MAX,
        };
        let n = if start == usize::MAX {
            0
        } else {
            usize::from(self.count)
        };
        let body = self.body;
        (0..n).filter_map(move |i| {
            let b = body.get(start + 24 * i..start + 24 * (i + 1))?;
            let lost = u32::from_be_bytes([0, b[5], b[6], b[7]]);
            // Sign-extend 24 bits.
            let cumulative_lost = ((lost << 8) as i32) >> 8;
            Some(ReportBlock {
                ssrc: be32(b, 0),
                fraction_lost: b[4],
                cumulative_lost,
                highest_seq: be32(b, 8),
                jitter: be32(b, 12),
                last_sr: be32(b, 16),
                delay_since_last_sr: be32(b, 20),
            })
        })
    }

    /// SDES chunks: (SSRC, items), where items yields (type, value).
    pub fn sdes_chunks(&self) -> SdesChunks<'a> {
        SdesChunks {
            body: if self.packet_type == PT_SDES {
                self.body
            } else {
                &[]
            },
            remaining: self.count,
        }
    }

    /// SSRCs leaving, and the optional reason, for a BYE.
    pub fn bye(&self) -> Option<(impl Iterator<Item = u32> + 'a, Option<&'a [u8]>)> {
        if self.packet_type != PT_BYE {
            return None;
        }
        let n = 4 * usize::from(self.count);
        let ssrcs = self.body.get(..n)?;
        let reason = self
            .body
            .get(n)
            .and_then(|&l| self.body.get(n + 1..n + 1 + usize::from(l)));
        Some((ssrcs.chunks_exact(4).map(|c| be32(c, 0)), reason))
    }
}

/// Iterator over SDES chunks.
#[derive(Debug, Clone)]
pub struct SdesChunks<'a> {
    body: &'a [u8],
    remaining: u8,
}

impl<'a> Iterator for SdesChunks<'a> {
    type Item = (u32, SdesItems<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let ssrc = be32(self.body.get(..4)?, 0);
        let len = sdes_chunk_len(self.body)?;
        let items = SdesItems {
            body: &self.body[4..len],
        };
        self.body = &self.body[len..];
        Some((ssrc, items))
    }
}

/// Iterator over the (type, value) items of one SDES chunk.
#[derive(Debug, Clone)]
pub struct SdesItems<'a> {
    body: &'a [u8],
}

impl<'a> Iterator for SdesItems<'a> {
    type Item = (u8, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        let &ty = self.body.first()?;
        if ty == 0 {
            return None;
        }
        let len = usize::from(*self.body.get(1)?);
        let value = self.body.get(2..2 + len)?;
        self.body = &self.body[2 + len..];
        Some((ty, value))
    }
}

/// Length of the SDES chunk at the start of `b` (SSRC, items, null
/// terminator, padding to 32 bits), or `None` when truncated.
fn sdes_chunk_len(b: &[u8]) -> Option<usize> {
    let mut off = 4;
    loop {
        let ty = *b.get(off)?;
        if ty == 0 {
            // Null item ends the list; pad to the next 32-bit boundary.
            let end = (off + 4) & !3;
            return if end <= b.len() { Some(end) } else { None };
        }
        let len = usize::from(*b.get(off + 1)?);
        off += 2 + len;
    }
}

#[inline]
fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// Iterator over the packets of a compound. Yields an error (then stops)
/// at the first invalid packet.
#[derive(Debug, Clone)]
pub struct Compound<'a> {
    buf: &'a [u8],
    off: usize,
    failed: bool,
}

impl<'a> Compound<'a> {
    /// Walks `buf` lazily; see [`validate`] for a whole-datagram check.
    pub fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            off: 0,
            failed: false,
        }
    }
}

impl<'a> Iterator for Compound<'a> {
    type Item = Result<RtcpPacket<'a>, RtcpError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.off >= self.buf.len() {
            return None;
        }
        let r = next_packet(self.buf, self.off);
        match r {
            Ok((p, next)) => {
                self.off = next;
                Some(Ok(p))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

fn next_packet(buf: &[u8], off: usize) -> Result<(RtcpPacket<'_>, usize), RtcpError> {
    let Some(h) = buf.get(off..off + 4) else {
        return Err(RtcpError::TooShort);
    };
    let version = h[0] >> 6;
    if version != 2 {
        return Err(RtcpError::BadVersion(version));
    }
    let count = h[0] & 0x1f;
    let packet_type = h[1];
    let len = 4 * (usize::from(u16::from_be_bytes([h[2], h[3]])) + 1);
    let end = off + len;
    if end > buf.len() {
        return Err(RtcpError::BadLength);
    }
    let mut body_end = end;
    if h[0] & 0x20 != 0 {
        if end != buf.len() {
            return Err(RtcpError::BadPadding);
        }
        let pad = usize::from(buf[end - 1]);
        if pad == 0 || pad > len - 4 {
            return Err(RtcpError::BadPadding);
        }
        body_end -= pad;
    }
    let body = &buf[off + 4..body_end];
    let need = match packet_type {
        PT_SR => 24 + 24 * usize::from(count),
        PT_RR => 4 + 24 * usize::from(count),
        PT_BYE => 4 * usize::from(count),
        _ => 0,
    };
    if body.len() < need {
        return Err(RtcpError::Truncated(packet_type));
    }
    if packet_type == PT_SDES {
        let mut rest = body;
        for _ in 0..count {
            let Some(l) = sdes_chunk_len(rest) else {
                return Err(RtcpError::Truncated(packet_type));
            };
            rest = &rest[l..];
        }
    }
    Ok((
        RtcpPacket {
            packet_type,
            count,
            body,
            offset: off,
        },
        end,
    ))
}

/// Summary of a valid compound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompoundSummary {
    /// Number of packets.
    pub packets: usize,
    /// First report block found in an SR or RR, if any.
    pub first_report: Option<ReportBlock>,
    /// Whether an SR was present.
    pub has_sr: bool,
    /// Whether a BYE was present.
    pub has_bye: bool,
}

/// Validates the whole compound and summarises it (what the relay keeps
/// for its counters).
pub fn validate(buf: &[u8]) -> Result<CompoundSummary, RtcpError> {
    if buf.is_empty() {
        return Err(RtcpError::TooShort);
    }
    let mut s = CompoundSummary::default();
    for p in Compound::new(buf) {
        let p = p?;
        s.packets += 1;
        s.has_sr |= p.packet_type == PT_SR;
        s.has_bye |= p.packet_type == PT_BYE;
        if s.first_report.is_none() {
            s.first_report = p.report_blocks().next();
        }
    }
    Ok(s)
}

/// Replaces SSRC `from` by `to` wherever it names the sender in a valid
/// compound: SR/RR sender SSRC, SDES chunk SSRCs and BYE SSRCs. Returns
/// the number of fields rewritten. Invalid compounds are left unchanged.
pub fn rewrite_sender_ssrc(buf: &mut [u8], from: u32, to: u32) -> usize {
    rewrite_ssrcs(buf, Some((from, to)), None, 0)
}

/// Rewrites SSRCs in a valid compound: `sender` = (from, to) for the
/// fields naming the sender (SR/RR sender SSRC, SDES chunks, BYE),
/// `reported` = (from, to) for the SSRC of SR/RR report blocks (the
/// source being reported on). The RTP timestamp of an SR whose sender
/// SSRC is rewritten is advanced by `sr_ts_offset` (the timestamp offset
/// applied to that source's RTP). Returns the number of SSRC fields
/// rewritten. Invalid compounds are left unchanged.
pub fn rewrite_ssrcs(
    buf: &mut [u8],
    sender: Option<(u32, u32)>,
    reported: Option<(u32, u32)>,
    sr_ts_offset: u32,
) -> usize {
    if validate(buf).is_err() {
        return 0;
    }
    let swap = |at: usize, map: Option<(u32, u32)>, buf: &mut [u8]| -> usize {
        if let Some((from, to)) = map
            && let Some(field) = buf.get_mut(at..at + 4)
            && field == from.to_be_bytes()
        {
            field.copy_from_slice(&to.to_be_bytes());
            return 1;
        }
        0
    };
    let mut n = 0;
    let mut off = 0;
    while off + 4 <= buf.len() {
        let count = usize::from(buf[off] & 0x1f);
        let pt = buf[off + 1];
        let len = 4 * (usize::from(u16::from_be_bytes([buf[off + 2], buf[off + 3]])) + 1);
        let body = off + 4;
        match pt {
            PT_SR | PT_RR => {
                let swapped = swap(body, sender, buf);
                n += swapped;
                if pt == PT_SR
                    && swapped == 1
                    && let Some(f) = buf.get_mut(body + 12..body + 16)
                {
                    let ts = u32::from_be_bytes([f[0], f[1], f[2], f[3]]);
                    f.copy_from_slice(&ts.wrapping_add(sr_ts_offset).to_be_bytes());
                }
                let blocks = body + if pt == PT_SR { 24 } else { 4 };
                n += (0..count)
                    .map(|i| swap(blocks + 24 * i, reported, buf))
                    .sum::<usize>();
            }
            PT_BYE => {
                n += (0..count)
                    .map(|i| swap(body + 4 * i, sender, buf))
                    .sum::<usize>()
            }
            PT_SDES => {
                let mut c = body;
                for _ in 0..count {
                    let Some(l) = sdes_chunk_len(&buf[c..off + len]) else {
                        break;
                    };
                    n += swap(c, sender, buf);
                    c += l;
                }
            }
            _ => {}
        }
        off += len;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RR from SSRC 0x11 with one block about 0x22, then SDES CNAME, BYE.
    fn compound() -> Vec<u8> {
        let mut v = vec![0x81, PT_RR, 0, 7, 0, 0, 0, 0x11];
        v.extend_from_slice(&[0, 0, 0, 0x22, 64, 0xff, 0xff, 0xfe]); // 25%, -2
        v.extend_from_slice(&[0, 1, 0, 10, 0, 0, 0, 80, 0, 0, 0, 1, 0, 0, 0, 2]);
        v.extend_from_slice(&[
            0x81, PT_SDES, 0, 3, 0, 0, 0, 0x11, 1, 3, b'a', b'b', b'c', 0, 0, 0,
        ]);
        v.extend_from_slice(&[0x81, PT_BYE, 0, 1, 0, 0, 0, 0x11]);
        v
    }

    #[test]
    fn walk_rr_sdes_bye() {
        let b = compound();
        let s = validate(&b).unwrap();
        assert_eq!(s.packets, 3);
        assert!(s.has_bye && !s.has_sr);
        let r = s.first_report.unwrap();
        assert_eq!(r.ssrc, 0x22);
        assert_eq!(r.fraction_lost, 64);
        assert_eq!(r.cumulative_lost, -2);
        assert_eq!(r.highest_seq, 0x1_000a);
        assert_eq!(r.jitter, 80);
        let pkts: Vec<_> = Compound::new(&b).map(Result::unwrap).collect();
        let (ssrc, mut items) = pkts[1].sdes_chunks().next().unwrap();
        assert_eq!(ssrc, 0x11);
        assert_eq!(items.next(), Some((1, &b"abc"[..])));
        assert_eq!(items.next(), None);
        let (ssrcs, reason) = pkts[2].bye().unwrap();
        assert_eq!(ssrcs.collect::<Vec<_>>(), vec![0x11]);
        assert_eq!(reason, None);
    }

    #[test]
    fn sender_report() {
        let mut v = vec![0x80, PT_SR, 0, 6, 0, 0, 0, 5];
        v.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5]);
        let p = Compound::new(&v).next().unwrap().unwrap();
        let si = p.sender_info().unwrap();
        assert_eq!(
            (si.ntp, si.rtp_ts, si.packets, si.octets),
            ((1 << 32) | 2, 3, 4, 5)
        );
        assert_eq!(p.report_blocks().count(), 0);
        // Mapped sender: SSRC and the SR's RTP timestamp follow the mapping.
        assert_eq!(rewrite_ssrcs(&mut v, Some((5, 6)), None, 100), 1);
        let p = Compound::new(&v).next().unwrap().unwrap();
        assert_eq!(
            (p.sender_ssrc(), p.sender_info().unwrap().rtp_ts),
            (Some(6), 103)
        );
        assert_eq!(rewrite_ssrcs(&mut v, Some((5, 7)), None, 100), 0);
    }

    #[test]
    fn length_validation() {
        let b = compound();
        assert_eq!(validate(&b[..b.len() - 1]), Err(RtcpError::BadLength));
        let mut c = b.clone();
        c[0] = 0x41;
        assert_eq!(validate(&c), Err(RtcpError::BadVersion(1)));
        let mut c = b.clone();
        c[0] = 0x82; // RR claims 2 blocks in 1-block room
        assert_eq!(validate(&c), Err(RtcpError::Truncated(PT_RR)));
        let mut c = b.clone();
        c[0] = 0xa1; // padding on the first packet
        assert_eq!(validate(&c), Err(RtcpError::BadPadding));
        assert_eq!(validate(&[]), Err(RtcpError::TooShort));
        assert_eq!(validate(&[0x80, 201]), Err(RtcpError::TooShort));
    }

    #[test]
    fn rewrite_ssrc() {
        let mut b = compound();
        assert_eq!(rewrite_sender_ssrc(&mut b, 0x11, 0x99), 3);
        let pkts: Vec<_> = Compound::new(&b).map(Result::unwrap).collect();
        assert!(pkts.iter().all(|p| p.sender_ssrc() == Some(0x99)));
        // The report block's SSRC is about the other source: untouched.
        assert_eq!(pkts[0].report_blocks().next().unwrap().ssrc, 0x22);
        assert_eq!(rewrite_ssrcs(&mut b, None, Some((0x22, 0x33)), 0), 1);
        let p = Compound::new(&b).next().unwrap().unwrap();
        assert_eq!(p.report_blocks().next().unwrap().ssrc, 0x33);
        assert_eq!(p.sender_ssrc(), Some(0x99));
    }
}
