//! SRTP through the relay on a fake clock: each endpoint's own SRTP stack is
//! played by a separate context built from the key it would have read from
//! (or put in) the SDP.

mod common;

use common::*;
use ferrovox_media::srtp::{SrtpInbound, SrtpOutbound};
use ferrovox_media::{
    Action, DropReason, Relay, SRTP_MAX_OVERHEAD, SrtpKey, SrtpKeys, SrtpSuite, StreamOptions,
};
use std::time::{Duration, Instant};

const S80: SrtpSuite = SrtpSuite::AesCm128HmacSha1_80;
const S32: SrtpSuite = SrtpSuite::AesCm128HmacSha1_32;

/// An endpoint's SRTP stack: what it sends with, what it expects from us.
struct Endpoint {
    send: SrtpOutbound,
    receive: SrtpInbound,
}

impl Endpoint {
    /// `own`: the endpoint's key (its a=crypto); `relays`: the relay's key
    /// for it (the relay's a=crypto in the SDP it was handed).
    fn new(own: &SrtpKey, relays: &SrtpKey) -> Self {
        Endpoint {
            send: SrtpOutbound::new(own).unwrap(),
            receive: SrtpInbound::new(relays).unwrap(),
        }
    }

    fn protect(&mut self, packet: &[u8]) -> Vec<u8> {
        let mut buf = packet.to_vec();
        buf.resize(packet.len() + SRTP_MAX_OVERHEAD, 0);
        let n = self.send.protect_rtp(&mut buf, packet.len()).unwrap();
        buf.truncate(n);
        buf
    }

    fn protect_rtcp(&mut self, packet: &[u8]) -> Vec<u8> {
        let mut buf = packet.to_vec();
        buf.resize(packet.len() + SRTP_MAX_OVERHEAD, 0);
        let n = self.send.protect_rtcp(&mut buf, packet.len()).unwrap();
        buf.truncate(n);
        buf
    }

    fn unprotect(&mut self, packet: &[u8]) -> Vec<u8> {
        let mut buf = packet.to_vec();
        let n = self
            .receive
            .unprotect_rtp(&mut buf)
            .expect("authentic SRTP");
        buf.truncate(n);
        buf
    }

    fn unprotect_rtcp(&mut self, packet: &[u8]) -> Vec<u8> {
        let mut buf = packet.to_vec();
        let n = self
            .receive
            .unprotect_rtcp(&mut buf)
            .expect("authentic SRTCP");
        buf.truncate(n);
        buf
    }
}

/// Relays `packet` received on `port` from `src` with room for a trailer;
/// returns the bytes sent, or the drop reason.
fn relay(
    r: &mut Relay,
    port: u16,
    src: &str,
    packet: &[u8],
    now: Instant,
) -> Result<Vec<u8>, DropReason> {
    let mut buf = packet.to_vec();
    buf.resize(packet.len() + SRTP_MAX_OVERHEAD, 0);
    match r.handle_datagram(port, addr(src), &mut buf, packet.len(), now) {
        Action::Forward { len, .. } => {
            buf.truncate(len);
            Ok(buf)
        }
        Action::Drop(reason) => Err(reason),
        Action::Consumed { queued } => panic!("consumed ({queued} queued)"),
    }
}

fn keys(inbound: &SrtpKey, outbound: &SrtpKey) -> SrtpKeys {
    SrtpKeys {
        inbound: Some(inbound.clone()),
        outbound: Some(outbound.clone()),
    }
}

fn plain_call(r: &mut Relay, t0: Instant) -> TwoLegs {
    two_legs(r, t0, StreamOptions::default(), StreamOptions::default())
}

#[test]
fn srtp_caller_to_plain_callee_and_back() {
    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap();
    let c = plain_call(&mut r, t0);
    let (pa, pb) = (r.local_ports(c.a).unwrap(), r.local_ports(c.b).unwrap());
    let (caller_key, relay_key) = (SrtpKey::random(S80), SrtpKey::random(S80));
    r.set_srtp(c.a, Some(&keys(&caller_key, &relay_key)))
        .unwrap();
    let mut caller = Endpoint::new(&caller_key, &relay_key);

    for seq in 0..20u16 {
        let plain = rtp(0, seq, u32::from(seq) * 160, 0xaaaa);
        let srtp = caller.protect(&plain);
        assert_eq!(srtp.len(), 172 + 10);
        assert_ne!(&srtp[12..172], &plain[12..], "payload is encrypted");
        let out = relay(&mut r, pa.rtp, CALLER, &srtp, t0).unwrap();
        assert_eq!(out, plain, "callee gets the plain packet");
    }
    for seq in 0..20u16 {
        let plain = rtp(8, 500 + seq, u32::from(seq) * 160, 0xbbbb);
        let out = relay(&mut r, pb.rtp, CALLEE, &plain, t0).unwrap();
        assert_eq!(out.len(), 182);
        assert_eq!(caller.unprotect(&out), plain, "caller decrypts our SRTP");
    }
    let s = r.stats(c.a).unwrap();
    assert_eq!((s.rtp_packets, s.rtp_bytes), (20, 20 * 172), "plain sizes");
    assert_eq!(s.dropped.total(), 0);
}

#[test]
fn srtp_to_srtp_is_rekeyed_per_side_with_either_suite() {
    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap();
    let c = plain_call(&mut r, t0);
    let (pa, pb) = (r.local_ports(c.a).unwrap(), r.local_ports(c.b).unwrap());
    let (a_key, relay_a) = (SrtpKey::random(S80), SrtpKey::random(S80));
    let (b_key, relay_b) = (SrtpKey::random(S32), SrtpKey::random(S32));
    r.set_srtp(c.a, Some(&keys(&a_key, &relay_a))).unwrap();
    r.set_srtp(c.b, Some(&keys(&b_key, &relay_b))).unwrap();
    let mut a = Endpoint::new(&a_key, &relay_a);
    let mut b = Endpoint::new(&b_key, &relay_b);

    // Across the sequence-number wrap: the rollover counter moves on both
    // sides of the relay.
    for i in 0..12u16 {
        let seq = 65530u16.wrapping_add(i);
        let plain = rtp(0, seq, u32::from(i) * 160, 0x1234);
        let from_a = a.protect(&plain);
        let to_b = relay(&mut r, pa.rtp, CALLER, &from_a, t0).unwrap();
        assert_eq!(to_b.len(), 172 + 4, "B's suite has a 32-bit tag");
        assert_ne!(
            to_b[172..],
            from_a[172..176],
            "re-keyed, not passed through"
        );
        assert_eq!(b.unprotect(&to_b), plain, "seq {seq}");

        let back = rtp(0, seq, u32::from(i) * 160, 0x5678);
        let to_a = relay(&mut r, pb.rtp, CALLEE, &b.protect(&back), t0).unwrap();
        assert_eq!(to_a.len(), 182);
        assert_eq!(a.unprotect(&to_a), back, "seq {seq}");
    }
    // Re-installing the same keys keeps the contexts (and their rollover
    // counters): packets after the wrap still authenticate.
    r.set_srtp(c.a, Some(&keys(&a_key, &relay_a))).unwrap();
    let plain = rtp(0, 6, 12 * 160, 0x1234);
    let to_b = relay(&mut r, pa.rtp, CALLER, &a.protect(&plain), t0).unwrap();
    assert_eq!(b.unprotect(&to_b), plain);
}

#[test]
fn forged_short_and_wrongly_keyed_packets_are_dropped_and_counted() {
    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap();
    let c = plain_call(&mut r, t0);
    let pa = r.local_ports(c.a).unwrap();
    let (caller_key, relay_key) = (SrtpKey::random(S80), SrtpKey::random(S80));
    r.set_srtp(c.a, Some(&keys(&caller_key, &relay_key)))
        .unwrap();
    let mut caller = Endpoint::new(&caller_key, &relay_key);

    let mut forged = caller.protect(&rtp(0, 1, 0, 0xaaaa));
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert_eq!(
        relay(&mut r, pa.rtp, CALLER, &forged, t0),
        Err(DropReason::SrtpUnauthenticated)
    );
    // A plain RTP packet where SRTP is expected.
    assert_eq!(
        relay(&mut r, pa.rtp, CALLER, &rtp(0, 2, 160, 0xaaaa), t0),
        Err(DropReason::SrtpUnauthenticated)
    );
    // Too short to carry a tag.
    assert_eq!(
        relay(&mut r, pa.rtp, CALLER, &rtp(0, 3, 320, 0xaaaa)[..14], t0),
        Err(DropReason::SrtpUnauthenticated)
    );
    // Another key.
    let mut stranger = Endpoint::new(&SrtpKey::random(S80), &relay_key);
    let other = stranger.protect(&rtp(0, 4, 480, 0xaaaa));
    assert_eq!(
        relay(&mut r, pa.rtp, CALLER, &other, t0),
        Err(DropReason::SrtpUnauthenticated)
    );
    // None of that moved the latch: the real caller still gets through.
    let plain = rtp(0, 5, 640, 0xaaaa);
    let srtp = caller.protect(&plain);
    assert_eq!(relay(&mut r, pa.rtp, CALLER, &srtp, t0), Ok(plain));

    let s = r.stats(c.a).unwrap();
    assert_eq!(s.dropped.get(DropReason::SrtpUnauthenticated), 4);
    assert_eq!(
        s.rtp_packets, 1,
        "only the authentic packet counts as received"
    );
}

#[test]
fn replayed_packets_are_dropped_and_counted() {
    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap();
    let c = plain_call(&mut r, t0);
    let pa = r.local_ports(c.a).unwrap();
    let (caller_key, relay_key) = (SrtpKey::random(S32), SrtpKey::random(S32));
    r.set_srtp(c.a, Some(&keys(&caller_key, &relay_key)))
        .unwrap();
    let mut caller = Endpoint::new(&caller_key, &relay_key);

    let first = caller.protect(&rtp(0, 100, 0, 0xaaaa));
    assert!(relay(&mut r, pa.rtp, CALLER, &first, t0).is_ok());
    assert_eq!(
        relay(
            &mut r,
            pa.rtp,
            CALLER,
            &first,
            t0 + Duration::from_millis(20)
        ),
        Err(DropReason::SrtpReplayed)
    );
    // Out of order but inside the window: accepted once.
    let later = caller.protect(&rtp(0, 102, 320, 0xaaaa));
    let late = caller.protect(&rtp(0, 101, 160, 0xaaaa));
    assert!(relay(&mut r, pa.rtp, CALLER, &later, t0).is_ok());
    assert!(relay(&mut r, pa.rtp, CALLER, &late, t0).is_ok());
    assert_eq!(
        relay(&mut r, pa.rtp, CALLER, &late, t0),
        Err(DropReason::SrtpReplayed)
    );
    assert_eq!(
        r.stats(c.a).unwrap().dropped.get(DropReason::SrtpReplayed),
        2
    );
}

#[test]
fn srtcp_is_unprotected_rewritten_and_protected_again() {
    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap();
    let c = plain_call(&mut r, t0);
    let (pa, pb) = (r.local_ports(c.a).unwrap(), r.local_ports(c.b).unwrap());
    let (caller_key, relay_key) = (SrtpKey::random(S32), SrtpKey::random(S32));
    r.set_srtp(c.a, Some(&keys(&caller_key, &relay_key)))
        .unwrap();
    let mut caller = Endpoint::new(&caller_key, &relay_key);
    let caller_rtcp = "192.0.2.10:5005";
    let callee_rtcp = "198.51.100.20:6001";

    // SRTCP from the SRTP caller reaches the plain callee as RTCP.
    let report = rr(0xaaaa, 0xbbbb, 3, 7, 1000, 42);
    let srtcp = caller.protect_rtcp(&report);
    assert_eq!(srtcp.len(), report.len() + 14, "E|index and an 80-bit tag");
    let out = relay(&mut r, pa.rtcp, caller_rtcp, &srtcp, t0).unwrap();
    assert_eq!(out, report);
    // Replayed and forged SRTCP are dropped.
    assert_eq!(
        relay(&mut r, pa.rtcp, caller_rtcp, &srtcp, t0),
        Err(DropReason::SrtpReplayed)
    );
    let mut forged = caller.protect_rtcp(&report);
    forged[10] ^= 0x40;
    assert_eq!(
        relay(&mut r, pa.rtcp, caller_rtcp, &forged, t0),
        Err(DropReason::SrtpUnauthenticated)
    );
    // The callee's RTCP becomes SRTCP for the caller.
    let from_callee = rr(0xbbbb, 0xaaaa, 0, 0, 9, 1);
    let out = relay(&mut r, pb.rtcp, callee_rtcp, &from_callee, t0).unwrap();
    assert_eq!(caller.unprotect_rtcp(&out), from_callee);
    assert_eq!(r.stats(c.a).unwrap().rtcp_packets, 1);
}

#[test]
fn srtcp_with_the_encryption_flag_cleared_is_refused() {
    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap();
    let c = plain_call(&mut r, t0);
    let pa = r.local_ports(c.a).unwrap();
    let caller_key = SrtpKey::random(S80);
    r.set_srtp(c.a, Some(&keys(&caller_key, &SrtpKey::random(S80))))
        .unwrap();
    // An attacker's "unencrypted SRTCP": plain RTCP, E=0, index, any tag.
    let mut unencrypted = rr(0xaaaa, 0xbbbb, 0, 0, 0, 0);
    unencrypted.extend_from_slice(&[0, 0, 0, 1]);
    unencrypted.extend_from_slice(&[0; 10]);
    assert_eq!(
        relay(&mut r, pa.rtcp, "192.0.2.10:5005", &unencrypted, t0),
        Err(DropReason::SrtpUnauthenticated)
    );
}

#[test]
fn srtcp_over_rtcp_mux_on_the_rtp_port() {
    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap();
    let muxed = StreamOptions {
        rtcp_mux: true,
        ..StreamOptions::default()
    };
    let c = two_legs(&mut r, t0, muxed, muxed);
    let (pa, pb) = (r.local_ports(c.a).unwrap(), r.local_ports(c.b).unwrap());
    let (a_key, relay_a) = (SrtpKey::random(S80), SrtpKey::random(S80));
    let (b_key, relay_b) = (SrtpKey::random(S80), SrtpKey::random(S80));
    r.set_srtp(c.a, Some(&keys(&a_key, &relay_a))).unwrap();
    r.set_srtp(c.b, Some(&keys(&b_key, &relay_b))).unwrap();
    let mut a = Endpoint::new(&a_key, &relay_a);
    let mut b = Endpoint::new(&b_key, &relay_b);

    let plain = rtp(0, 1, 0, 0xaaaa);
    let to_b = relay(&mut r, pa.rtp, CALLER, &a.protect(&plain), t0).unwrap();
    assert_eq!(b.unprotect(&to_b), plain);
    let report = rr(0xaaaa, 0xbbbb, 0, 0, 1, 0);
    let to_b = relay(&mut r, pa.rtp, CALLER, &a.protect_rtcp(&report), t0).unwrap();
    assert_eq!(b.unprotect_rtcp(&to_b), report);
    let back = rr(0xbbbb, 0xaaaa, 0, 0, 1, 0);
    let to_a = relay(&mut r, pb.rtp, CALLEE, &b.protect_rtcp(&back), t0).unwrap();
    assert_eq!(a.unprotect_rtcp(&to_a), back);
}

#[test]
fn missing_keys_and_missing_room_drop_instead_of_sending_plain() {
    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap();
    let c = plain_call(&mut r, t0);
    let (pa, pb) = (r.local_ports(c.a).unwrap(), r.local_ports(c.b).unwrap());
    // The caller speaks SRTP but its key and ours are not known yet.
    r.set_srtp(c.a, Some(&SrtpKeys::default())).unwrap();
    assert_eq!(
        relay(&mut r, pb.rtp, CALLEE, &rtp(0, 1, 0, 0xbbbb), t0),
        Err(DropReason::SrtpNoKey)
    );
    assert_eq!(
        relay(&mut r, pa.rtp, CALLER, &rtp(0, 1, 0, 0xaaaa), t0),
        Err(DropReason::SrtpNoKey)
    );
    // handle_packet has no room after the datagram for the tag.
    let relay_key = SrtpKey::random(S80);
    r.set_srtp(
        c.a,
        Some(&SrtpKeys {
            inbound: None,
            outbound: Some(relay_key.clone()),
        }),
    )
    .unwrap();
    let mut exact = rtp(0, 2, 160, 0xbbbb);
    assert_eq!(
        r.handle_packet(pb.rtp, addr(CALLEE), &mut exact, t0),
        Action::Drop(DropReason::SrtpProtectFailed)
    );
    assert_eq!(
        r.srtp_keys(c.a).unwrap(),
        Some(SrtpKeys {
            inbound: None,
            outbound: Some(relay_key)
        })
    );
    // Back to plain RTP.
    r.set_srtp(c.a, None).unwrap();
    assert_eq!(r.srtp_keys(c.a).unwrap(), None);
    assert!(relay(&mut r, pb.rtp, CALLEE, &rtp(0, 3, 320, 0xbbbb), t0).is_ok());
}

#[test]
fn garbage_on_an_srtp_stream_never_panics() {
    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap();
    let c = plain_call(&mut r, t0);
    let (pa, pb) = (r.local_ports(c.a).unwrap(), r.local_ports(c.b).unwrap());
    r.set_srtp(
        c.a,
        Some(&keys(&SrtpKey::random(S80), &SrtpKey::random(S32))),
    )
    .unwrap();
    let mut state = 0x9e37_79b9u32;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    for i in 0..5000 {
        let len = (next() % 200) as usize;
        let mut packet: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if let Some(first) = packet.first_mut() {
            *first = 0x80 | (*first & 0x3f);
        }
        if i % 3 == 0 && packet.len() > 1 {
            packet[1] = 200 + (packet[1] % 5); // RTCP packet types
        }
        for port in [pa.rtp, pa.rtcp, pb.rtp, pb.rtcp] {
            let _ = relay(&mut r, port, CALLER, &packet, t0);
        }
    }
}

#[test]
fn keys_parse_and_print_as_sdes_inline_keys() {
    // RFC 4568 §9.1 example key.
    let inline = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
    let key = SrtpKey::from_inline(S80, inline).unwrap();
    assert_eq!(key.inline(), inline);
    assert_eq!(key.key_salt().len(), 30);
    assert!(SrtpKey::from_inline(S80, "c2hvcnQ=").is_err(), "5 bytes");
    assert!(SrtpKey::from_inline(S80, "not base64!").is_err());
    assert_ne!(SrtpKey::random(S80), SrtpKey::random(S80));
    assert_eq!(SrtpSuite::from_name("aes_cm_128_hmac_sha1_32"), Some(S32));
    assert_eq!(SrtpSuite::from_name("AES_256_CM_HMAC_SHA1_80"), None);
    assert!(!format!("{key:?}").contains(inline), "Debug hides the key");
}
