//! Relay behaviour end to end, on a fake clock (`t0 + offsets`).

mod common;

use common::*;
use ferrovox_media::dtmf::DtmfEvent;
use ferrovox_media::ports::PortError;
use ferrovox_media::{Action, DropReason, Event, Relay, RelayConfig, RelayError, StreamOptions};
use std::time::{Duration, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn forward(action: Action) -> (u16, std::net::SocketAddr, usize) {
    match action {
        Action::Forward { from_port, to, len } => (from_port, to, len),
        Action::Drop(r) => panic!("dropped: {r:?}"),
        Action::Consumed { queued } => panic!("consumed ({queued} queued)"),
    }
}

#[test]
fn forwards_both_directions_with_rewrite() {
    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap();
    let c = two_legs(
        &mut r,
        t0,
        StreamOptions::default(),
        StreamOptions::default(),
    );
    let (pa, pb) = (r.local_ports(c.a).unwrap(), r.local_ports(c.b).unwrap());
    assert_eq!((pa.rtp % 2, pa.rtcp), (0, pa.rtp + 1));
    // Caller offered PT 96 for what the callee knows as 101.
    r.set_pt_map(c.a, &[(96, 101)]).unwrap();

    let mut p = rtp(96, 7, 160, 0xaaaa);
    let (from, to, len) = forward(r.handle_packet(pa.rtp, addr(CALLER), &mut p, t0));
    assert_eq!((from, to, len), (pb.rtp, addr(CALLEE), 172));
    assert_eq!(fields(&p), (101, 7, 160, 0xaaaa));
    assert_eq!(&p[12..], &[0xff; 160][..], "payload untouched");

    let mut q = rtp(0, 9, 320, 0xbbbb);
    let (from, to, _) = forward(r.handle_packet(pb.rtp, addr(CALLEE), &mut q, t0));
    assert_eq!((from, to), (pa.rtp, addr(CALLER)));
    assert_eq!(fields(&q), (0, 9, 320, 0xbbbb));

    // RTCP on the RTCP ports goes RTCP-port to RTCP-port (RTP port + 1).
    let mut c1 = rr(0xaaaa, 0xbbbb, 0, 0, 9, 0);
    let caller_rtcp = addr("192.0.2.10:5005");
    let (from, to, _) = forward(r.handle_packet(pa.rtcp, caller_rtcp, &mut c1, t0));
    assert_eq!((from, to), (pb.rtcp, addr("198.51.100.20:6001")));

    let s = r.stats(c.a).unwrap();
    assert_eq!((s.rtp_packets, s.rtp_bytes, s.rtcp_packets), (1, 172, 1));
    assert_eq!((s.forwarded_packets, s.dropped.total()), (2, 0));
    assert_eq!(s.ssrc, Some((0xaaaa, 0xaaaa)));
    assert_eq!(r.counters().forwarded, 3);
}

#[test]
fn latches_to_nat_source_before_confirmation() {
    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap(); // confirm after 3
    let c = two_legs(
        &mut r,
        t0,
        StreamOptions::default(),
        StreamOptions::default(),
    );
    let (pa, pb) = (r.local_ports(c.a).unwrap(), r.local_ports(c.b).unwrap());
    // Before the caller sends, callee media goes to the SDP address.
    let (_, to, _) = forward(r.handle_packet(pb.rtp, addr(CALLEE), &mut rtp(0, 1, 0, 2), t0));
    assert_eq!(to, addr(CALLER));
    // The caller is behind a NAT: its packets come from elsewhere.
    let nat = addr("203.0.113.9:61000");
    forward(r.handle_packet(pa.rtp, nat, &mut rtp(0, 1, 0, 1), t0));
    let s = r.stats(c.a).unwrap();
    assert_eq!((s.source, s.confirmed), (Some(nat), false));
    let (_, to, _) = forward(r.handle_packet(pb.rtp, addr(CALLEE), &mut rtp(0, 2, 160, 2), t0));
    assert_eq!(to, nat, "callee media now follows the NAT binding");
    // The NAT binding changes during learning: follow it again.
    let nat2 = addr("203.0.113.9:61002");
    forward(r.handle_packet(pa.rtp, nat2, &mut rtp(0, 2, 160, 1), t0));
    forward(r.handle_packet(pa.rtp, nat2, &mut rtp(0, 3, 320, 1), t0));
    assert!(!r.stats(c.a).unwrap().confirmed);
    forward(r.handle_packet(pa.rtp, nat2, &mut rtp(0, 4, 480, 1), t0));
    let s = r.stats(c.a).unwrap();
    assert_eq!((s.source, s.confirmed), (Some(nat2), true));
    // RTCP destination guessed from the latched RTP port (+1).
    let (from, to, _) = forward(r.handle_packet(
        pb.rtcp,
        addr("198.51.100.20:6001"),
        &mut rr(2, 1, 0, 0, 0, 0),
        t0,
    ));
    assert_eq!((from, to), (pa.rtcp, addr("203.0.113.9:61003")));
}

#[test]
fn hijack_after_confirmation_is_dropped_and_counted() {
    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap();
    let c = two_legs(
        &mut r,
        t0,
        StreamOptions::default(),
        StreamOptions::default(),
    );
    let (pa, pb) = (r.local_ports(c.a).unwrap(), r.local_ports(c.b).unwrap());
    for i in 0..3 {
        forward(r.handle_packet(pa.rtp, addr(CALLER), &mut rtp(0, i, 0, 1), t0));
    }
    assert!(r.stats(c.a).unwrap().confirmed);
    let attacker = addr("203.0.113.66:4444");
    for i in 0..5 {
        let a = r.handle_packet(pa.rtp, attacker, &mut rtp(0, 100 + i, 0, 666), t0);
        assert_eq!(a, Action::Drop(DropReason::SourceRejected));
    }
    let s = r.stats(c.a).unwrap();
    assert_eq!(s.dropped.get(DropReason::SourceRejected), 5);
    assert_eq!(
        (s.source, s.rtp_packets, s.forwarded_packets),
        (Some(addr(CALLER)), 3, 3)
    );
    // RTCP from the attacker on the RTCP port is rejected once the RTCP
    // source is confirmed too.
    let caller_rtcp = addr("192.0.2.10:5005");
    for _ in 0..3 {
        forward(r.handle_packet(pa.rtcp, caller_rtcp, &mut rr(1, 2, 0, 0, 0, 0), t0));
    }
    let a = r.handle_packet(pa.rtcp, attacker, &mut rr(1, 2, 0, 0, 0, 0), t0);
    assert_eq!(a, Action::Drop(DropReason::SourceRejected));
    // Callee media still goes to the genuine caller.
    let (_, to, _) = forward(r.handle_packet(pb.rtp, addr(CALLEE), &mut rtp(0, 1, 0, 2), t0));
    assert_eq!(to, addr(CALLER));
}

#[test]
fn strict_source_never_learns() {
    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap();
    let strict = StreamOptions {
        strict_source: true,
        ..StreamOptions::default()
    };
    let c = two_legs(&mut r, t0, strict, StreamOptions::default());
    let pa = r.local_ports(c.a).unwrap();
    let nat = addr("203.0.113.9:61000");
    // Even the very first packet from an unsignalled source is dropped.
    assert_eq!(
        r.handle_packet(pa.rtp, nat, &mut rtp(0, 1, 0, 1), t0),
        Action::Drop(DropReason::SourceRejected)
    );
    forward(r.handle_packet(pa.rtp, addr(CALLER), &mut rtp(0, 2, 0, 1), t0));
    assert_eq!(
        r.handle_packet(pa.rtp, nat, &mut rtp(0, 3, 0, 1), t0),
        Action::Drop(DropReason::SourceRejected)
    );
    // Re-anchoring moves the accepted address, without learning.
    let moved = addr("192.0.2.99:7000");
    r.set_remote(c.a, Some(moved), None).unwrap();
    assert_eq!(
        r.handle_packet(pa.rtp, addr(CALLER), &mut rtp(0, 4, 0, 1), t0),
        Action::Drop(DropReason::SourceRejected)
    );
    forward(r.handle_packet(pa.rtp, moved, &mut rtp(0, 5, 0, 1), t0));
    assert_eq!(
        r.stats(c.a)
            .unwrap()
            .dropped
            .get(DropReason::SourceRejected),
        3
    );
}

#[test]
fn reanchor_keeps_ssrc_seq_and_timestamp_continuous_across_wraps() {
    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap();
    let c = two_legs(
        &mut r,
        t0,
        StreamOptions::default(),
        StreamOptions::default(),
    );
    let (pa, pb) = (r.local_ports(c.a).unwrap(), r.local_ports(c.b).unwrap());
    // Old device: SSRC 0x1111, seq up to 65535, ts close to 2^32.
    let mut t = t0;
    for (i, seq) in [65533u16, 65534, 65535].into_iter().enumerate() {
        let ts = 0xffff_fe20u32 + 160 * i as u32;
        let mut p = rtp(0, seq, ts, 0x1111);
        forward(r.handle_packet(pa.rtp, addr(CALLER), &mut p, t));
        assert_eq!(
            fields(&p),
            (0, seq, ts, 0x1111),
            "no rewrite before a switch"
        );
        t += ms(20);
    }
    // Last out: seq 65535, ts 0xffff_ff60. Re-INVITE to a new device.
    let new_dev = addr("192.0.2.77:9000");
    r.set_remote(c.a, Some(new_dev), None).unwrap();
    // Callee media follows the re-anchor immediately.
    let (_, to, _) = forward(r.handle_packet(pb.rtp, addr(CALLEE), &mut rtp(0, 1, 0, 2), t));
    assert_eq!(to, new_dev);
    // The new device starts 40 ms after the last packet (t already +20).
    t += ms(20);
    let mut p = rtp(0, 1000, 5_000_000, 0x2222);
    forward(r.handle_packet(pa.rtp, new_dev, &mut p, t));
    // seq 65535 → 0 (16-bit wrap); ts 0xffff_ff60 + 320 → 0xa0 (32-bit wrap).
    assert_eq!(fields(&p), (0, 0, 0x0000_00a0, 0x1111));
    t += ms(20);
    let mut p = rtp(0, 1001, 5_000_160, 0x2222);
    forward(r.handle_packet(pa.rtp, new_dev, &mut p, t));
    assert_eq!(fields(&p), (0, 1, 0x0000_0140, 0x1111));
    // The new source itself changes SSRC (no signalling) 60 ms later.
    t += ms(60);
    let mut p = rtp(0, 40000, 77, 0x3333);
    forward(r.handle_packet(pa.rtp, new_dev, &mut p, t));
    assert_eq!(fields(&p), (0, 2, 0x0000_0140 + 480, 0x1111));
    let s = r.stats(c.a).unwrap();
    assert_eq!(s.ssrc, Some((0x3333, 0x1111)));
    // Its RTCP is rewritten to the outgoing SSRC as well.
    let mut c1 = rr(0x3333, 2, 0, 0, 0, 0);
    forward(r.handle_packet(pa.rtp, new_dev, &mut c1, t));
    assert_eq!(&c1[4..8], &0x1111u32.to_be_bytes());
    // The callee's reports about 0x1111 reach the new device as reports
    // about its own SSRC.
    let mut c2 = rr(2, 0x1111, 0, 0, 0, 0);
    let (_, to, _) = forward(r.handle_packet(pb.rtcp, addr("198.51.100.20:6001"), &mut c2, t));
    assert_eq!(to, addr("192.0.2.77:9001"));
    assert_eq!(&c2[8..12], &0x3333u32.to_be_bytes());
    // An SR from the new source: SSRC and RTP timestamp mapped like its
    // RTP (0x3333's ts 77 went out as 0x140 + 480 = 800: offset 723).
    let mut sr = vec![0x80, 200, 0, 6, 0, 0, 0x33, 0x33, 0, 0, 0, 1, 0, 0, 0, 2];
    sr.extend_from_slice(&237u32.to_be_bytes());
    sr.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0x05, 0xa0]);
    forward(r.handle_packet(pa.rtp, new_dev, &mut sr, t));
    assert_eq!(&sr[4..8], &0x1111u32.to_be_bytes());
    assert_eq!(&sr[16..20], &960u32.to_be_bytes());
}

#[test]
fn media_and_final_timeouts_fire_at_exact_instants() {
    let t0 = Instant::now();
    let cfg = RelayConfig {
        silence_timeout: None,
        media_timeout: Some(Duration::from_secs(30)),
        final_timeout: Some(Duration::from_secs(100)),
        ..config()
    };
    let mut r = Relay::new(cfg).unwrap();
    let free = r.ports_available();
    let c = two_legs(
        &mut r,
        t0,
        StreamOptions::default(),
        StreamOptions::default(),
    );
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    r.handle_timeout(t0 + Duration::from_secs(30) - ms(1));
    assert_eq!(r.poll_event(), None);
    r.handle_timeout(t0 + Duration::from_secs(30));
    assert_eq!(
        r.poll_event(),
        Some(Event::MediaTimeout {
            call: c.call,
            since: t0
        })
    );
    assert_eq!(r.poll_event(), None);
    // Reported once per silence period.
    r.handle_timeout(t0 + Duration::from_secs(99));
    assert_eq!(r.poll_event(), None);
    assert!(r.has_call(c.call));
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(100)));
    r.handle_timeout(t0 + Duration::from_secs(100));
    assert_eq!(r.poll_event(), Some(Event::FinalTimeout { call: c.call }));
    assert!(!r.has_call(c.call));
    assert_eq!(r.ports_available(), free);
    assert_eq!(r.stats(c.a), Err(RelayError::UnknownStream));
}

#[test]
fn a_call_that_keeps_receiving_does_not_time_out() {
    let t0 = Instant::now();
    let cfg = RelayConfig {
        final_timeout: None,
        silence_timeout: None,
        ..config()
    };
    let mut r = Relay::new(cfg).unwrap();
    let c = two_legs(
        &mut r,
        t0,
        StreamOptions::default(),
        StreamOptions::default(),
    );
    let pa = r.local_ports(c.a).unwrap();
    // 120 s of media, one packet per second, timers run every 500 ms.
    let mut t = t0;
    for i in 0..240u32 {
        if i % 2 == 0 {
            forward(r.handle_packet(pa.rtp, addr(CALLER), &mut rtp(0, i as u16, i * 80, 1), t));
        }
        r.handle_timeout(t);
        assert_eq!(r.poll_event(), None, "no timeout at {i}");
        t += ms(500);
    }
    // Last packet at t0 + 119 s: the timeout is exactly 30 s later.
    let last = t0 + Duration::from_secs(119);
    while t < last + Duration::from_secs(30) {
        r.handle_timeout(t);
        assert_eq!(r.poll_event(), None);
        t += ms(500);
    }
    r.handle_timeout(last + Duration::from_secs(30));
    assert_eq!(
        r.poll_event(),
        Some(Event::MediaTimeout {
            call: c.call,
            since: last
        })
    );
    // Media resumes then stops again: reported again for the new period.
    forward(r.handle_packet(
        pa.rtp,
        addr(CALLER),
        &mut rtp(0, 500, 0, 1),
        last + Duration::from_secs(40),
    ));
    r.handle_timeout(last + Duration::from_secs(70));
    assert!(matches!(r.poll_event(), Some(Event::MediaTimeout { .. })));
}

#[test]
fn one_way_silence_per_direction() {
    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap(); // silence 5 s
    let c = two_legs(
        &mut r,
        t0,
        StreamOptions::default(),
        StreamOptions::default(),
    );
    let pa = r.local_ports(c.a).unwrap();
    // Caller talks every 20 ms for 7 s, callee sends nothing.
    let mut t = t0;
    let mut events = Vec::new();
    for i in 0..350u32 {
        forward(r.handle_packet(pa.rtp, addr(CALLER), &mut rtp(0, i as u16, i * 160, 1), t));
        r.handle_timeout(t);
        while let Some(e) = r.poll_event() {
            events.push((t, e));
        }
        t += ms(20);
    }
    assert_eq!(
        events,
        vec![(
            t0 + Duration::from_secs(5),
            Event::OneWaySilence {
                call: c.call,
                stream: c.b,
                since: t0
            }
        )]
    );
}

#[test]
fn blocked_direction_drops_and_counts() {
    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap();
    let c = two_legs(
        &mut r,
        t0,
        StreamOptions::default(),
        StreamOptions::default(),
    );
    let (pa, pb) = (r.local_ports(c.a).unwrap(), r.local_ports(c.b).unwrap());
    r.set_blocked(c.a, true).unwrap();
    for i in 0..4 {
        assert_eq!(
            r.handle_packet(pa.rtp, addr(CALLER), &mut rtp(0, i, 0, 1), t0),
            Action::Drop(DropReason::Blocked)
        );
    }
    forward(r.handle_packet(pb.rtp, addr(CALLEE), &mut rtp(0, 1, 0, 2), t0));
    let s = r.stats(c.a).unwrap();
    assert_eq!(
        (
            s.rtp_packets,
            s.dropped.get(DropReason::Blocked),
            s.forwarded_packets
        ),
        (4, 4, 0)
    );
    r.set_blocked(c.a, false).unwrap();
    forward(r.handle_packet(pa.rtp, addr(CALLER), &mut rtp(0, 9, 0, 1), t0));
}

#[test]
fn rtcp_mux_demux_on_one_port() {
    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap();
    let mux = StreamOptions {
        rtcp_mux: true,
        ..StreamOptions::default()
    };
    // Caller uses rtcp-mux, callee does not.
    let c = two_legs(&mut r, t0, mux, StreamOptions::default());
    let (pa, pb) = (r.local_ports(c.a).unwrap(), r.local_ports(c.b).unwrap());
    // RTP and RTCP (PT 201 → 201 & 0x7f = 73, in 64..=95) on the RTP port.
    let (from, to, _) = forward(r.handle_packet(pa.rtp, addr(CALLER), &mut rtp(0, 1, 0, 1), t0));
    assert_eq!((from, to), (pb.rtp, addr(CALLEE)));
    let (from, to, _) =
        forward(r.handle_packet(pa.rtp, addr(CALLER), &mut rr(1, 2, 0, 0, 0, 0), t0));
    assert_eq!((from, to), (pb.rtcp, addr("198.51.100.20:6001")));
    // A dynamic PT at the edge of the range is still RTP.
    let mut p = rtp(63, 2, 160, 1);
    p[1] |= 0x80; // marker: 0xbf, masked PT 63
    let (from, _, _) = forward(r.handle_packet(pa.rtp, addr(CALLER), &mut p, t0));
    assert_eq!(from, pb.rtp);
    // Callee RTCP to its RTCP port goes to the caller's single (mux) port.
    let (from, to, _) = forward(r.handle_packet(
        pb.rtcp,
        addr("198.51.100.20:6001"),
        &mut rr(2, 1, 0, 0, 0, 0),
        t0,
    ));
    assert_eq!((from, to), (pa.rtp, addr(CALLER)));
    // The caller's odd port is reserved but not in use.
    assert_eq!(
        r.handle_packet(pa.rtcp, addr(CALLER), &mut rr(1, 2, 0, 0, 0, 0), t0),
        Action::Drop(DropReason::UnknownPort)
    );
    // STUN on the mux port is not relayed.
    let mut stun = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    assert_eq!(
        r.handle_packet(pa.rtp, addr(CALLER), &mut stun, t0),
        Action::Drop(DropReason::NotRtp)
    );
    let s = r.stats(c.a).unwrap();
    assert_eq!((s.rtp_packets, s.rtcp_packets), (2, 1));
}

#[test]
fn rtcp_report_block_counters() {
    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap();
    let c = two_legs(
        &mut r,
        t0,
        StreamOptions::default(),
        StreamOptions::default(),
    );
    let pb = r.local_ports(c.b).unwrap();
    // Callee reports on the caller's stream: 25% lost, 1234 cumulative,
    // jitter 77, highest seq 0x1_0005 (one wrap).
    let mut p = rr(0xbbbb, 0xaaaa, 64, 1234, 0x1_0005, 77);
    forward(r.handle_packet(pb.rtcp, addr("198.51.100.20:6001"), &mut p, t0));
    let rep = r.stats(c.b).unwrap().remote_report.unwrap();
    assert_eq!(rep.ssrc, 0xaaaa);
    assert_eq!(rep.fraction_lost, 64);
    assert_eq!(rep.cumulative_lost, 1234);
    assert_eq!(rep.highest_seq, 0x1_0005);
    assert_eq!(rep.jitter, 77);
    // A truncated RR is dropped as malformed, counters unchanged.
    let mut bad = rr(0xbbbb, 0xaaaa, 1, 1, 1, 1);
    bad.truncate(20);
    assert_eq!(
        r.handle_packet(pb.rtcp, addr("198.51.100.20:6001"), &mut bad, t0),
        Action::Drop(DropReason::Malformed)
    );
    let s = r.stats(c.b).unwrap();
    assert_eq!(s.remote_report.unwrap().jitter, 77);
    assert_eq!(
        (s.rtcp_packets, s.dropped.get(DropReason::Malformed)),
        (1, 1)
    );
}

#[test]
fn dtmf_events_reported_once_and_relayed() {
    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap();
    let te = StreamOptions {
        telephone_event_pt: Some(101),
        ..StreamOptions::default()
    };
    let c = two_legs(&mut r, t0, te, StreamOptions::default());
    let pa = r.local_ports(c.a).unwrap();
    let mut seq = 10u16;
    let mut send = |r: &mut Relay, ts: u32, ev: u8, end: bool, dur: u16| {
        seq += 1;
        forward(r.handle_packet(
            pa.rtp,
            addr(CALLER),
            &mut dtmf(101, seq, ts, 1, ev, end, dur),
            t0,
        ));
    };
    // '5': start, two updates, end sent three times.
    for (end, dur) in [
        (false, 160),
        (false, 320),
        (false, 480),
        (true, 640),
        (true, 640),
        (true, 640),
    ] {
        send(&mut r, 8000, 5, end, dur);
    }
    // '#' after it, also with a triple end.
    for (end, dur) in [(false, 160), (true, 800), (true, 800), (true, 800)] {
        send(&mut r, 16000, 11, end, dur);
    }
    let mut got = Vec::new();
    while let Some(e) = r.poll_event() {
        match e {
            Event::Dtmf { call, stream, dtmf } => {
                assert_eq!((call, stream), (c.call, c.a));
                got.push(dtmf);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let summary: Vec<_> = got
        .iter()
        .map(|d: &DtmfEvent| (d.digit(), d.duration, d.end))
        .collect();
    assert_eq!(
        summary,
        vec![(Some('5'), 640, true), (Some('#'), 800, true)]
    );
    assert_eq!(r.stats(c.a).unwrap().forwarded_packets, 10);

    // Nobody drains the queue: DTMF events beyond its capacity are dropped
    // and counted, packets are still relayed.
    let cap = 64; // config().event_capacity, VecDeque may round up
    for k in 0..200u32 {
        send(&mut r, 100_000 + 1000 * k, 1, true, 400);
    }
    let queued = std::iter::from_fn(|| r.poll_event()).count();
    assert!(queued >= cap && r.counters().events_dropped > 0);
    assert_eq!(queued as u64 + r.counters().events_dropped, 200);
    assert_eq!(r.stats(c.a).unwrap().forwarded_packets, 210);
}

#[test]
fn port_exhaustion_then_reuse_after_delete() {
    let t0 = Instant::now();
    let cfg = RelayConfig {
        port_min: 50000,
        port_max: 50007, // 4 pairs
        ..config()
    };
    let mut r = Relay::new(cfg).unwrap();
    let c1 = two_legs(
        &mut r,
        t0,
        StreamOptions::default(),
        StreamOptions::default(),
    );
    let c2 = two_legs(
        &mut r,
        t0,
        StreamOptions::default(),
        StreamOptions::default(),
    );
    assert_eq!(r.ports_available(), 0);
    let call3 = r.create_call(t0);
    let leg = r.add_leg(call3).unwrap();
    assert_eq!(
        r.add_stream(leg, StreamOptions::default(), t0),
        Err(RelayError::Ports(PortError::Exhausted))
    );
    let old_a = r.local_ports(c1.a).unwrap();
    r.delete_call(c1.call).unwrap();
    assert_eq!(r.delete_call(c1.call), Err(RelayError::UnknownCall));
    assert_eq!(r.ports_available(), 2);
    // Packets to the deleted call's ports are dropped.
    assert_eq!(
        r.handle_packet(old_a.rtp, addr(CALLER), &mut rtp(0, 1, 0, 1), t0),
        Action::Drop(DropReason::UnknownPort)
    );
    let s = r.add_stream(leg, StreamOptions::default(), t0).unwrap();
    // FIFO free list: the first pair released is the first reused.
    assert_eq!(r.local_ports(s).unwrap(), old_a);
    // The old handle does not alias the new stream in the same slot.
    assert_eq!(r.stats(c1.a), Err(RelayError::UnknownStream));
    assert_eq!(r.stats(s).unwrap().rtp_packets, 0);
    assert!(r.stats(c2.a).is_ok());
    // Out-of-range ports.
    assert_eq!(
        r.handle_packet(49999, addr(CALLER), &mut rtp(0, 1, 0, 1), t0),
        Action::Drop(DropReason::UnknownPort)
    );
    assert_eq!(
        r.handle_packet(50008, addr(CALLER), &mut rtp(0, 1, 0, 1), t0),
        Action::Drop(DropReason::UnknownPort)
    );
    assert_eq!(r.counters().unknown_port, 3);
}

#[test]
fn three_legs_reconnect_for_transfer() {
    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap();
    let c = two_legs(
        &mut r,
        t0,
        StreamOptions::default(),
        StreamOptions::default(),
    );
    let pa = r.local_ports(c.a).unwrap();
    let lc = r.add_leg(c.call).unwrap();
    let third = addr("203.0.113.30:7000");
    let s3 = r
        .add_stream(
            lc,
            StreamOptions {
                remote_rtp: Some(third),
                ..StreamOptions::default()
            },
            t0,
        )
        .unwrap();
    r.connect(c.a, s3).unwrap();
    let (from, to, _) = forward(r.handle_packet(pa.rtp, addr(CALLER), &mut rtp(0, 1, 0, 1), t0));
    assert_eq!((from, to), (r.local_ports(s3).unwrap().rtp, third));
    // The old partner is disconnected.
    let pb = r.local_ports(c.b).unwrap();
    assert_eq!(
        r.handle_packet(pb.rtp, addr(CALLER), &mut rtp(0, 1, 0, 2), t0),
        Action::Drop(DropReason::NoDestination)
    );
    assert_eq!(r.streams_of(c.call).unwrap().count(), 3);
}

#[test]
fn signalling_api_errors_and_learning_without_sdp() {
    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap();
    let c1 = two_legs(
        &mut r,
        t0,
        StreamOptions::default(),
        StreamOptions::default(),
    );
    let c2 = two_legs(
        &mut r,
        t0,
        StreamOptions::default(),
        StreamOptions::default(),
    );
    assert_eq!(r.connect(c1.a, c2.b), Err(RelayError::DifferentCalls));
    assert_eq!(r.connect(c1.a, c1.a), Err(RelayError::DifferentCalls));
    let leg = r.leg_of(c1.b).unwrap();
    assert_eq!((leg.call, leg.index), (c1.call, 1));
    let bogus = ferrovox_media::LegId {
        call: c1.call,
        index: 9,
    };
    assert_eq!(
        r.add_stream(bogus, StreamOptions::default(), t0),
        Err(RelayError::UnknownLeg)
    );
    r.delete_call(c2.call).unwrap();
    assert_eq!(r.add_leg(c2.call), Err(RelayError::UnknownCall));
    assert_eq!(r.set_blocked(c2.a, true), Err(RelayError::UnknownStream));
    assert_eq!(r.local_ports(c2.b), Err(RelayError::UnknownStream));
    assert!(r.streams_of(c2.call).is_err());
    // A new call reusing the deleted call's slot gets a distinct id.
    let c3 = r.create_call(t0);
    assert_ne!(c3, c2.call);
    assert!(!r.has_call(c2.call));

    // An offer without a usable address (e.g. 0.0.0.0 hold or unknown):
    // nothing can be sent to that endpoint until it sends itself.
    let l1 = r.add_leg(c3).unwrap();
    let l2 = r.add_leg(c3).unwrap();
    let x = r.add_stream(l1, StreamOptions::default(), t0).unwrap();
    let y = r.add_stream(l2, StreamOptions::default(), t0).unwrap();
    r.connect(x, y).unwrap();
    let (px, py) = (r.local_ports(x).unwrap(), r.local_ports(y).unwrap());
    let ep = addr("203.0.113.5:3000");
    assert_eq!(
        r.handle_packet(py.rtp, addr(CALLEE), &mut rtp(0, 1, 0, 1), t0),
        Action::Drop(DropReason::NoDestination)
    );
    // ...but it latched the callee's source: the other way works now.
    let (from, to, _) = forward(r.handle_packet(px.rtp, ep, &mut rtp(0, 1, 0, 2), t0));
    assert_eq!((from, to), (py.rtp, addr(CALLEE)));
    let (from, to, _) = forward(r.handle_packet(py.rtp, addr(CALLEE), &mut rtp(0, 2, 160, 1), t0));
    assert_eq!((from, to), (px.rtp, ep));
}

#[test]
fn zero_or_huge_timeouts_are_rejected() {
    for bad in [Duration::ZERO, Duration::MAX] {
        let cfg = RelayConfig {
            media_timeout: Some(bad),
            ..config()
        };
        assert_eq!(Relay::new(cfg).err(), Some(RelayError::BadTimeout));
    }
    let cfg = RelayConfig {
        port_min: 5,
        port_max: 5,
        ..config()
    };
    assert!(matches!(
        Relay::new(cfg),
        Err(RelayError::Ports(PortError::EmptyRange(5, 5)))
    ));
}
