//! Shared helpers: packet builders and a two-leg call.
#![allow(dead_code)]

use ferrovox_media::{CallId, Relay, RelayConfig, StreamId, StreamOptions};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A 172-byte PCMU packet (12-byte header + 160 bytes of payload).
pub fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(172);
    v.extend_from_slice(&[0x80, pt]);
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&ts.to_be_bytes());
    v.extend_from_slice(&ssrc.to_be_bytes());
    v.resize(172, 0xff);
    v
}

/// RFC 4733 telephone-event packet.
pub fn dtmf(pt: u8, seq: u16, ts: u32, ssrc: u32, event: u8, end: bool, duration: u16) -> Vec<u8> {
    let mut v = rtp(pt, seq, ts, ssrc);
    v.truncate(12);
    v.extend_from_slice(&[event, if end { 0x80 | 10 } else { 10 }]);
    v.extend_from_slice(&duration.to_be_bytes());
    v
}

/// RR from `ssrc` with one report block about `about`.
pub fn rr(
    ssrc: u32,
    about: u32,
    fraction: u8,
    cumulative: i32,
    highest: u32,
    jitter: u32,
) -> Vec<u8> {
    let mut v = vec![0x81, 201, 0, 7];
    v.extend_from_slice(&ssrc.to_be_bytes());
    v.extend_from_slice(&about.to_be_bytes());
    v.push(fraction);
    v.extend_from_slice(&cumulative.to_be_bytes()[1..]);
    v.extend_from_slice(&highest.to_be_bytes());
    v.extend_from_slice(&jitter.to_be_bytes());
    v.extend_from_slice(&[0; 8]);
    v
}

pub fn fields(buf: &[u8]) -> (u8, u16, u32, u32) {
    let p = ferrovox_media::rtp::RtpPacket::parse(buf).unwrap();
    (p.payload_type(), p.sequence(), p.timestamp(), p.ssrc())
}

pub fn config() -> RelayConfig {
    RelayConfig {
        port_min: 40000,
        port_max: 40999,
        confirm_packets: 3,
        media_timeout: Some(Duration::from_secs(30)),
        final_timeout: Some(Duration::from_secs(3600)),
        silence_timeout: Some(Duration::from_secs(5)),
        event_capacity: 64,
    }
}

pub const CALLER: &str = "192.0.2.10:5004";
pub const CALLEE: &str = "198.51.100.20:6000";

pub struct TwoLegs {
    pub call: CallId,
    pub a: StreamId,
    pub b: StreamId,
}

/// offer (caller at CALLER) + answer (callee at CALLEE), connected.
pub fn two_legs(
    relay: &mut Relay,
    now: Instant,
    a_opts: StreamOptions,
    b_opts: StreamOptions,
) -> TwoLegs {
    let call = relay.create_call(now);
    let la = relay.add_leg(call).unwrap();
    let lb = relay.add_leg(call).unwrap();
    let a = relay
        .add_stream(
            la,
            StreamOptions {
                remote_rtp: Some(addr(CALLER)),
                ..a_opts
            },
            now,
        )
        .unwrap();
    let b = relay.add_stream(lb, b_opts, now).unwrap();
    relay.connect(a, b).unwrap();
    relay.set_remote(b, Some(addr(CALLEE)), None).unwrap();
    TwoLegs { call, a, b }
}
