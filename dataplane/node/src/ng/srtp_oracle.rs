//! Test oracle: SRTP/SRTCP for `AES_CM_128_HMAC_SHA1_80/_32` written straight from
//! RFC 3711 (§4.1.1 counter mode, §4.2 HMAC-SHA1 tags, §4.3 key derivation with KDR 0,
//! §3.4 SRTCP trailer) on RustCrypto's AES and HMAC-SHA1. It shares no code with the node's
//! SRTP (`rtc-srtp`), so tests can check that what the node sends decrypts and
//! authenticates with the keys its SDP announced. The RFC's Appendix B.3 vectors check the
//! oracle itself.
//!
//! Tests only: no replay window, no rollover tracking (the caller passes the ROC).

use aes::Aes128;
use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use sha1::Sha1;

type Aes128Ctr = ctr::Ctr128BE<Aes128>;
type HmacSha1 = Hmac<Sha1>;

/// Session keys of one direction (RFC 3711 §4.3.1).
pub(crate) struct SrtpOracle {
    rtp_key: [u8; 16],
    rtp_salt: [u8; 14],
    rtp_auth: [u8; 20],
    rtcp_key: [u8; 16],
    rtcp_salt: [u8; 14],
    rtcp_auth: [u8; 20],
    rtp_tag_len: usize,
}

fn derive<const N: usize>(master_key: &[u8], master_salt: &[u8], label: u8) -> [u8; N] {
    // x = key_id XOR master_salt, key_id = label || index DIV kdr (0): the label lands
    // in the 8th byte of the 112-bit salt; the counter block is x * 2^16.
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(master_salt);
    iv[7] ^= label;
    let mut out = [0u8; N];
    Aes128Ctr::new(master_key.into(), &iv.into()).apply_keystream(&mut out);
    out
}

fn keystream(key: &[u8; 16], salt: &[u8; 14], ssrc: u32, index: u64, data: &mut [u8]) {
    // IV = (salt * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16).
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(salt);
    for (b, s) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
        *b ^= s;
    }
    for (b, s) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
        *b ^= s;
    }
    Aes128Ctr::new(key.into(), &iv.into()).apply_keystream(data);
}

fn hmac(key: &[u8; 20], parts: &[&[u8]]) -> [u8; 20] {
    let mut mac = HmacSha1::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn rtp_header_len(packet: &[u8]) -> Option<usize> {
    let cc = usize::from(*packet.first()? & 0x0f);
    let mut len = 12 + 4 * cc;
    if packet[0] & 0x10 != 0 {
        let words = packet.get(len + 2..len + 4)?;
        len += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
    }
    (len <= packet.len()).then_some(len)
}

impl SrtpOracle {
    /// Keys from an `inline:` key||salt (30 bytes); `rtp_tag_len` 10 or 4.
    pub(crate) fn new(key_salt: &[u8], rtp_tag_len: usize) -> Self {
        let (key, salt) = key_salt.split_at(16);
        SrtpOracle {
            rtp_key: derive(key, salt, 0),
            rtp_auth: derive(key, salt, 1),
            rtp_salt: derive(key, salt, 2),
            rtcp_key: derive(key, salt, 3),
            rtcp_auth: derive(key, salt, 4),
            rtcp_salt: derive(key, salt, 5),
            rtp_tag_len,
        }
    }

    /// Checks the tag and decrypts; `None` if the packet does not authenticate.
    pub(crate) fn unprotect_rtp(&self, packet: &[u8], roc: u32) -> Option<Vec<u8>> {
        let body_len = packet.len().checked_sub(self.rtp_tag_len)?;
        let (body, tag) = packet.split_at(body_len);
        let expected = hmac(&self.rtp_auth, &[body, &roc.to_be_bytes()]);
        if tag != &expected[..self.rtp_tag_len] {
            return None;
        }
        let header = rtp_header_len(body)?;
        let mut plain = body.to_vec();
        let seq = u16::from_be_bytes([body[2], body[3]]);
        let ssrc = u32::from_be_bytes([body[8], body[9], body[10], body[11]]);
        let index = (u64::from(roc) << 16) | u64::from(seq);
        keystream(
            &self.rtp_key,
            &self.rtp_salt,
            ssrc,
            index,
            &mut plain[header..],
        );
        Some(plain)
    }

    pub(crate) fn protect_rtp(&self, packet: &[u8], roc: u32) -> Vec<u8> {
        let header = rtp_header_len(packet).expect("an RTP packet");
        let mut out = packet.to_vec();
        let seq = u16::from_be_bytes([packet[2], packet[3]]);
        let ssrc = u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]);
        let index = (u64::from(roc) << 16) | u64::from(seq);
        keystream(
            &self.rtp_key,
            &self.rtp_salt,
            ssrc,
            index,
            &mut out[header..],
        );
        let tag = hmac(&self.rtp_auth, &[&out, &roc.to_be_bytes()]);
        out.extend_from_slice(&tag[..self.rtp_tag_len]);
        out
    }

    /// Checks the tag (always 80 bits on SRTCP) and decrypts; returns the RTCP packet
    /// and the SRTCP index.
    pub(crate) fn unprotect_rtcp(&self, packet: &[u8]) -> Option<(Vec<u8>, u32)> {
        let body_len = packet.len().checked_sub(10)?;
        let (body, tag) = packet.split_at(body_len);
        if tag != &hmac(&self.rtcp_auth, &[body])[..10] {
            return None;
        }
        let rtcp_len = body.len().checked_sub(4)?;
        let trailer = u32::from_be_bytes(body[rtcp_len..].try_into().ok()?);
        let index = trailer & 0x7fff_ffff;
        let mut plain = body[..rtcp_len].to_vec();
        if trailer & 0x8000_0000 != 0 {
            let ssrc = u32::from_be_bytes(plain.get(4..8)?.try_into().ok()?);
            let (key, salt) = (&self.rtcp_key, &self.rtcp_salt);
            keystream(key, salt, ssrc, u64::from(index), &mut plain[8..]);
        }
        Some((plain, index))
    }

    pub(crate) fn protect_rtcp(&self, packet: &[u8], index: u32) -> Vec<u8> {
        let mut out = packet.to_vec();
        let ssrc = u32::from_be_bytes(packet[4..8].try_into().expect("an RTCP packet"));
        let (key, salt) = (&self.rtcp_key, &self.rtcp_salt);
        keystream(key, salt, ssrc, u64::from(index), &mut out[8..]);
        out.extend_from_slice(&(index | 0x8000_0000).to_be_bytes());
        let tag = hmac(&self.rtcp_auth, &[&out]);
        out.extend_from_slice(&tag[..10]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 3711 Appendix B.3: key derivation test vectors.
    #[test]
    fn key_derivation_matches_rfc_3711_appendix_b3() {
        let key = hex("E1F97A0D3E018BE0D64FA32C06DE4139");
        let salt = hex("0EC675AD498AFEEBB6960B3AABE6");
        let enc: [u8; 16] = derive(&key, &salt, 0);
        let session_salt: [u8; 14] = derive(&key, &salt, 2);
        let auth: [u8; 20] = derive(&key, &salt, 1);
        assert_eq!(enc.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
        assert_eq!(session_salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
        assert_eq!(
            auth.to_vec(),
            hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4")
        );
    }

    #[test]
    fn round_trips_and_rejects_a_flipped_bit() {
        let oracle = SrtpOracle::new(&[7u8; 30], 4);
        let mut packet = vec![0x80, 0, 0, 5, 0, 0, 0, 160, 0, 0, 0, 9];
        packet.extend([0x55u8; 160]);
        let sealed = oracle.protect_rtp(&packet, 0);
        assert_eq!(sealed.len(), packet.len() + 4);
        assert_eq!(oracle.unprotect_rtp(&sealed, 0), Some(packet.clone()));
        let mut forged = sealed.clone();
        forged[20] ^= 1;
        assert_eq!(oracle.unprotect_rtp(&forged, 0), None);
        assert_eq!(
            oracle.unprotect_rtp(&sealed, 1),
            None,
            "ROC is authenticated"
        );
        let rtcp = [0x80, 201, 0, 1, 0, 0, 0, 9];
        let sealed = oracle.protect_rtcp(&rtcp, 3);
        assert_eq!(oracle.unprotect_rtcp(&sealed), Some((rtcp.to_vec(), 3)));
    }
}
