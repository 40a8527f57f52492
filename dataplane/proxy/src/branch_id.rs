//! Branch parameters and tags this proxy generates (RFC 3261 §16.6 step 8,
//! §16.3 step 4 loop detection, §16.11).
//!
//! A branch is `z9hG4bK` + 16 hex digits of a keyed FNV-1a hash + `.` + the
//! branch number within the request's response context (hex). The hash
//! covers what §16.6 step 8 lists for loop detection: the Via that was on
//! top when the request arrived (sent-by and branch, not `received`/`rport`
//! which this proxy stamps), the Request-URI as received, Call-ID, CSeq
//! number, From tag and To tag. A retransmission therefore yields the same
//! branch, a CANCEL the same hash as its INVITE, and a request that comes
//! back with an unchanged Request-URI carries a Via of ours whose hash
//! equals the one computed from the Via just below it: a loop (482). A
//! spiral (Request-URI changed) hashes differently.

use ferrovox_sip::Via;

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

fn feed(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    // Field separator so ("ab", "c") and ("a", "bc") differ.
    (h ^ 0xff).wrapping_mul(PRIME)
}

fn feed_folded(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b.to_ascii_lowercase());
        h = h.wrapping_mul(PRIME);
    }
    (h ^ 0xff).wrapping_mul(PRIME)
}

/// The fields of a request that identify it for branch generation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestIdentity<'a> {
    pub request_uri: &'a [u8],
    pub call_id: &'a [u8],
    pub cseq: u32,
    pub from_tag: &'a [u8],
    pub to_tag: &'a [u8],
}

/// The loop-detection hash of a request whose top Via (on arrival) was
/// `via`.
pub(crate) fn request_hash(salt: u64, via: &Via<'_>, id: &RequestIdentity<'_>) -> u64 {
    let mut h = feed(OFFSET, &salt.to_le_bytes());
    h = feed_folded(h, via.host_raw);
    h = feed(h, &via.port.unwrap_or(0).to_le_bytes());
    h = feed(h, via.branch.unwrap_or(&[]));
    h = feed(h, id.request_uri);
    h = feed(h, id.call_id);
    h = feed(h, &id.cseq.to_le_bytes());
    h = feed(h, id.from_tag);
    feed(h, id.to_tag)
}

fn push_hex(out: &mut Vec<u8>, v: u64, digits: u32) {
    for i in (0..digits).rev() {
        let nibble = ((v >> (4 * i)) & 0xf) as usize;
        out.push(b"0123456789abcdef"[nibble]);
    }
}

/// Append `z9hG4bK<hash>.<n>` to `out`.
pub(crate) fn write_branch(out: &mut Vec<u8>, hash: u64, n: u32) {
    out.extend_from_slice(b"z9hG4bK");
    push_hex(out, hash, 16);
    out.push(b'.');
    let digits = (32 - n.leading_zeros()).div_ceil(4).max(1);
    push_hex(out, u64::from(n), digits);
}

/// The hash part of a branch this proxy wrote, if it has that shape.
pub(crate) fn branch_hash(branch: &[u8]) -> Option<u64> {
    let rest = branch.strip_prefix(b"z9hG4bK")?;
    let hex = rest.get(..16)?;
    if rest.get(16) != Some(&b'.') {
        return None;
    }
    hex.iter().try_fold(0u64, |acc, &c| {
        let d = (c as char).to_digit(16)?;
        Some((acc << 4) | u64::from(d))
    })
}

/// A To tag (16 hex digits) for responses this proxy generates to a
/// request: deterministic per (Call-ID, From tag, CSeq) so retransmitted
/// requests get the same tag.
pub(crate) fn to_tag(salt: u64, call_id: &[u8], from_tag: &[u8], cseq: u32) -> [u8; 16] {
    let mut h = feed(OFFSET, &salt.rotate_left(17).to_le_bytes());
    h = feed(h, call_id);
    h = feed(h, from_tag);
    h = feed(h, &cseq.to_le_bytes());
    let mut out = [0u8; 16];
    for (i, slot) in out.iter_mut().enumerate() {
        let nibble = ((h >> (60 - 4 * i)) & 0xf) as usize;
        *slot = b"0123456789abcdef"[nibble];
    }
    out
}

/// A 64-bit mix of `salt` and `n` (probe Call-IDs, tags and branches).
pub(crate) fn mix(salt: u64, n: u64) -> u64 {
    feed(feed(OFFSET, &salt.to_le_bytes()), &n.to_le_bytes())
}

/// Append 16 hex digits of `v`.
pub(crate) fn write_hex(out: &mut Vec<u8>, v: u64) {
    push_hex(out, v, 16);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_round_trip_and_shape() {
        let mut b = Vec::new();
        write_branch(&mut b, 0x0123_4567_89ab_cdef, 0x1a);
        assert_eq!(b, b"z9hG4bK0123456789abcdef.1a");
        assert_eq!(branch_hash(&b), Some(0x0123_4567_89ab_cdef));
        assert_eq!(branch_hash(b"z9hG4bK776asdhds"), None);
    }

    #[test]
    fn hash_ignores_received_and_rport() {
        let id = RequestIdentity {
            request_uri: b"sip:bob@example.com",
            call_id: b"c1",
            cseq: 1,
            from_tag: b"f",
            to_tag: b"",
        };
        let a = Via::parse(b"SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx;rport").unwrap();
        let b =
            Via::parse(b"SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx;rport=5062;received=192.0.2.9")
                .unwrap();
        assert_eq!(request_hash(1, &a, &id), request_hash(1, &b, &id));
        let other = RequestIdentity {
            request_uri: b"sip:carol@example.com",
            ..id
        };
        assert_ne!(request_hash(1, &a, &id), request_hash(1, &a, &other));
        assert_ne!(request_hash(1, &a, &id), request_hash(2, &a, &id));
    }
}
