//! Jitter buffer driven by scripted arrival patterns on a simulated
//! receiver clock (8 kHz ticks, 20 ms packets of 160 ticks, pops every
//! 160 ticks of the receiver clock at a phase unrelated to the sender).

use ferrovox_codecs::CodecError;
use ferrovox_codecs::jitter::{Arrival, JitterBuffer, JitterConfig, Playout, ticks_from_nanos};
use ferrovox_codecs::signal::Rng;

const FRAME: u32 = 160;

#[derive(Debug, Clone, Copy)]
struct Pkt {
    at: u64,
    ssrc: u32,
    seq: u16,
    ts: u32,
}

#[derive(Debug, Default)]
struct Run {
    /// (pop time, outcome, payload seq if a frame).
    pops: Vec<(u64, Playout)>,
    played: Vec<u16>,
    /// (time, depth ms) after each pop.
    depth: Vec<(u64, f64)>,
    arrivals: Vec<Arrival>,
    /// Pop times at which a frame was discarded (shrink).
    discards: Vec<u64>,
}

/// Feeds `pkts` (sorted by arrival time) and pops every 160 ticks from
/// `phase` until `end`. Each payload carries its sequence number, which
/// is checked against the reported one.
fn run(cfg: &JitterConfig, pkts: &[Pkt], phase: u64, end: u64) -> (JitterBuffer, Run) {
    let mut jb = JitterBuffer::new(cfg).expect("valid config");
    let mut sorted = pkts.to_vec();
    sorted.sort_by_key(|p| p.at);
    let mut r = Run::default();
    let mut i = 0;
    let mut out = [0u8; 64];
    let mut now = phase;
    while now < end {
        while i < sorted.len() && sorted[i].at <= now {
            let p = sorted[i];
            let a = jb
                .push(p.at, p.ssrc, p.seq, p.ts, &p.seq.to_be_bytes())
                .expect("fits");
            r.arrivals.push(a);
            i += 1;
        }
        let dropped_before = jb.stats().discarded;
        let o = jb.pop(now, &mut out).expect("fits");
        if jb.stats().discarded > dropped_before {
            r.discards.push(now);
        }
        if let Playout::Frame { seq, len, .. } = o {
            assert_eq!(len, 2);
            assert_eq!(u16::from_be_bytes([out[0], out[1]]), seq, "payload matches");
            r.played.push(seq);
        }
        r.pops.push((now, o));
        r.depth.push((now, jb.depth_ms()));
        now += u64::from(FRAME);
    }
    (jb, r)
}

/// A stream of `n` packets sent every `interval` receiver ticks (160 for
/// a synchronous sender) with arrival = send + `base` + `jitter(k)`.
fn stream(n: usize, interval: f64, base: u64, mut jitter: impl FnMut(usize) -> u64) -> Vec<Pkt> {
    (0..n)
        .map(|k| Pkt {
            at: (k as f64 * interval) as u64 + base + jitter(k),
            ssrc: 0x1234,
            seq: (1000 + k) as u16,
            ts: 50_000 + k as u32 * FRAME,
        })
        .collect()
}

fn cfg() -> JitterConfig {
    JitterConfig::new(8000, FRAME)
}

/// Starts at the 20 ms minimum, so a jitter-free stream needs no
/// adaptation and every packet plays.
fn tight() -> JitterConfig {
    JitterConfig {
        initial_delay_ms: 20,
        ..cfg()
    }
}

fn assert_in_order(played: &[u16]) {
    for w in played.windows(2) {
        assert!(
            w[1].wrapping_sub(w[0]) as i16 > 0,
            "playout order {} then {}",
            w[0],
            w[1]
        );
    }
}

fn depth_at(r: &Run, t: u64) -> f64 {
    r.depth
        .iter()
        .rev()
        .find(|(at, _)| *at <= t)
        .map_or(0.0, |d| d.1)
}

#[test]
fn fixed_jitter_plays_in_order_with_depth_covering_the_jitter() {
    // 40 ms of uniform jitter (0..320 ticks) on a 50 ms base: 20 s.
    let mut rng = Rng::new(9);
    let pkts = stream(1000, 160.0, 400, |_| (rng.uniform() * 320.0) as u64);
    let (jb, r) = run(&cfg(), &pkts, 37, 1000 * 160 + 4000);
    let s = jb.stats();
    eprintln!(
        "fixed jitter: {s:?}, jitter {:.1} ms, target {:.1} ms",
        jb.jitter_ms(),
        jb.target_ms()
    );
    assert_in_order(&r.played);
    // Consecutive: nothing lost once the buffer has adapted.
    let first_half_late = s.late;
    assert!(first_half_late <= 3, "late {first_half_late}");
    assert_eq!(s.lost, s.late, "only late packets go missing");
    assert!(
        s.reordered > 50,
        "40 ms jitter on 20 ms packets reorders ({})",
        s.reordered
    );
    // The 60 ms initial delay exceeds the ≈ 44 ms target: the excess
    // is shed by discarding frames.
    assert_eq!(s.played + s.lost + s.discarded, 1000);
    assert!(s.discarded <= 2, "discarded {}", s.discarded);
    // After the first 2 s the depth covers the 40 ms jitter but stays
    // within a frame and a half of it (plus margin).
    for &(t, d) in r.depth.iter().filter(|(t, _)| *t > 16_000 && *t < 160_000) {
        assert!((38.0..=80.0).contains(&d), "depth {d:.1} ms at {t}");
    }
    // No packet was late after the initial adaptation.
    let late_after: usize = r.arrivals[200..]
        .iter()
        .filter(|a| **a == Arrival::Late)
        .count();
    assert_eq!(late_after, 0);
}

#[test]
fn burst_grows_depth_at_once_and_shrinks_slowly() {
    // 0..5 ms jitter; at 5 s the network stalls 200 ms and then delivers
    // the held packets together.
    let mut rng = Rng::new(3);
    let stall_start = 250usize; // packet index (5 s)
    let pkts = stream(1500, 160.0, 400, |k| {
        let j = (rng.uniform() * 40.0) as u64;
        let send = k as u64 * 160;
        let release = stall_start as u64 * 160 + 1600; // +200 ms
        if (stall_start..stall_start + 10).contains(&k) {
            release - send + j
        } else {
            j
        }
    });
    let burst_at = stall_start as u64 * 160 + 400 + 1600;
    let (jb, r) = run(&cfg(), &pkts, 11, 1500 * 160 + 4000);
    let s = jb.stats();
    let before = depth_at(&r, burst_at - 800);
    let after = depth_at(&r, burst_at + 2 * 160 * 10);
    let one_s_later = depth_at(&r, burst_at + 8000);
    let ten_s_later = depth_at(&r, burst_at + 80_000);
    eprintln!(
        "burst: {s:?}; depth before {before:.1} ms, after {after:.1}, +1 s {one_s_later:.1}, +10 s {ten_s_later:.1}"
    );
    assert_in_order(&r.played);
    assert!(before < 40.0, "steady depth {before:.1} ms");
    // The stall delays 10 packets by 200, 180, … 20 ms; the 2 worst are
    // treated as outliers (dropped late), the rest covered.
    assert!(
        after >= 150.0,
        "grew to cover the 200 ms stall: {after:.1} ms"
    );
    assert!(s.inserted >= 6, "grew by inserting frames ({})", s.inserted);
    assert!(
        one_s_later >= after - 1e-9,
        "no shrink while the burst is in the window ({one_s_later:.1} ms)"
    );
    assert!(ten_s_later < 50.0, "shrank back: {ten_s_later:.1} ms");
    assert!(
        s.discarded >= 6,
        "shrank by dropping frames ({})",
        s.discarded
    );
    // Drops are rate-limited: never two within 25 pops (0.5 s).
    for w in r.discards.windows(2) {
        assert!(w[1] - w[0] >= 25 * 160, "drops at {} and {}", w[0], w[1]);
    }
    // Only stalled packets could be late.
    assert!(s.late <= 10, "late {}", s.late);
}

#[test]
fn reordered_packets_play_in_order() {
    // Every 10th pair swapped by 25 ms.
    let mut pkts = stream(500, 160.0, 200, |_| 0);
    for k in (0..500).step_by(10) {
        pkts[k].at += 200;
    }
    let (jb, r) = run(&tight(), &pkts, 5, 500 * 160 + 4000);
    let s = jb.stats();
    eprintln!("reorder: {s:?}");
    assert_eq!(s.reordered, 50);
    assert_eq!((s.lost, s.late), (0, 0));
    assert_eq!(s.played + s.discarded, 500);
    assert_in_order(&r.played);
}

#[test]
fn duplicates_are_dropped_and_counted() {
    let mut pkts = stream(300, 160.0, 200, |_| 0);
    // Every 5th packet duplicated: 10 ms later (still queued), and packet
    // 100 again a whole second later (already played).
    let mut dups: Vec<Pkt> = pkts
        .iter()
        .step_by(5)
        .map(|p| Pkt {
            at: p.at + 80,
            ..*p
        })
        .collect();
    dups.push(Pkt {
        at: pkts[100].at + 8000,
        ..pkts[100]
    });
    pkts.extend(dups);
    let (jb, r) = run(&tight(), &pkts, 5, 300 * 160 + 4000);
    let s = jb.stats();
    assert_eq!(s.duplicate, 61);
    assert_eq!(s.played, 300);
    let expected: Vec<u16> = (1000..1300).collect();
    assert_eq!(r.played, expected, "each played once");
}

#[test]
fn sequence_and_timestamp_wrap() {
    let pkts: Vec<Pkt> = (0..200u32)
        .map(|k| Pkt {
            at: u64::from(k) * 160 + 300,
            ssrc: 7,
            seq: 65_500u16.wrapping_add(k as u16),
            ts: (u32::MAX - 5 * FRAME).wrapping_add(k * FRAME),
        })
        .collect();
    let (jb, r) = run(&tight(), &pkts, 0, 200 * 160 + 4000);
    let s = jb.stats();
    assert_eq!((s.played, s.lost, s.late, s.resyncs), (200, 0, 0, 0));
    let ts: Vec<u32> = r
        .pops
        .iter()
        .filter_map(|(_, p)| match p {
            Playout::Frame { timestamp, .. } => Some(*timestamp),
            _ => None,
        })
        .collect();
    for w in ts.windows(2) {
        assert_eq!(w[1].wrapping_sub(w[0]), FRAME, "timestamps wrap cleanly");
    }
    assert_eq!(r.played.first(), Some(&65_500));
    assert_eq!(r.played.last(), Some(&65_500u16.wrapping_add(199)));
}

#[test]
fn late_and_lost_packets_are_concealed_and_counted() {
    let mut pkts = stream(300, 160.0, 200, |_| 0);
    pkts[100].at += 3200; // 400 ms late: beyond the 300 ms maximum
    pkts.remove(201); // lost
    pkts.remove(200); // lost
    let (jb, r) = run(&tight(), &pkts, 5, 300 * 160 + 4000);
    let s = jb.stats();
    eprintln!("late/lost: {s:?}");
    assert_eq!(s.late, 1);
    assert_eq!(s.lost, 3, "two never sent, one late");
    // The late packet's transit grows the buffer (inserted frames), and
    // once it leaves the window the extra depth is shed again.
    // Sequence numbers are played, discarded or lost; a discard may also
    // fall on an empty timeline slot.
    assert!(s.played + s.lost <= 300);
    assert!(s.played + s.lost + s.discarded >= 300);
    let missing = r
        .pops
        .iter()
        .filter(|(_, p)| matches!(p, Playout::Missing { .. }))
        .count();
    assert_eq!(missing as u64, s.concealed);
    // The two lost packets leave holes with later packets queued
    // (Missing); at the 20 ms depth the late one's turn may find nothing
    // queued at all (Empty).
    assert!(missing >= 2, "each hole concealed ({missing})");
    assert_in_order(&r.played);
}

#[test]
fn ssrc_change_and_timestamp_jump_resync() {
    let mut pkts = stream(200, 160.0, 200, |_| 0);
    // From packet 100 on: a new timestamp base (not consistent with the
    // arrival times).
    for p in &mut pkts[100..] {
        p.ts = p.ts.wrapping_add(3_000_000);
    }
    // A second stream (new SSRC, new sequence space) after 5 s.
    let base = pkts[199].at + 160;
    pkts.extend((0..100u32).map(|k| Pkt {
        at: base + u64::from(k) * 160,
        ssrc: 0xBEEF,
        seq: 7 + k as u16,
        ts: 900 + k * FRAME,
    }));
    let (jb, r) = run(&tight(), &pkts, 5, base + 100 * 160 + 4000);
    let s = jb.stats();
    eprintln!("resync: {s:?}");
    assert_eq!(s.resyncs, 2);
    assert_eq!(s.late, 0);
    // Both restarts play every packet after re-buffering, in order.
    let resumed = r.played.iter().filter(|&&q| (7..107).contains(&q)).count();
    assert_eq!(resumed, 100);
    // A resync flushes what was queued of the old stream (one packet at
    // the 20 ms delay).
    assert!(s.played >= 296, "played {}", s.played);
    let buffering = r
        .pops
        .iter()
        .filter(|(_, p)| *p == Playout::Buffering)
        .count();
    assert!(
        buffering >= 3,
        "initial delay rebuilt after each resync ({buffering})"
    );
}

#[test]
fn talkspurt_gap_plays_silence_not_loss() {
    // 100 packets, then 1 s of DTX silence (timestamps and arrival jump by
    // 8000 ticks, sequence numbers continue), then 100 more.
    let mut pkts = stream(200, 160.0, 200, |_| 0);
    for p in &mut pkts[100..] {
        p.ts += 8000;
        p.at += 8000;
    }
    let (jb, r) = run(&tight(), &pkts, 5, 200 * 160 + 8000 + 4000);
    let s = jb.stats();
    // Within the gap the next packet has not arrived yet (Empty) or is
    // queued for later (Silence); neither is loss.
    let gap = 100 * 160 + 200..100 * 160 + 8000 + 200;
    let silence = r
        .pops
        .iter()
        .filter(|(t, p)| gap.contains(t) && matches!(p, Playout::Silence { .. } | Playout::Empty))
        .count();
    eprintln!("talkspurt: {s:?}, silence pops {silence}");
    assert_eq!((s.lost, s.resyncs, s.played), (0, 0, 200));
    assert!(
        (45..=50).contains(&silence),
        "≈ 50 silent frames, got {silence}"
    );
}

#[test]
fn clock_drift_is_absorbed_by_occasional_drops_and_inserts() {
    // 60 s, small jitter; sender clock 1 % fast then 1 % slow.
    for (interval, label) in [(160.0 / 1.01, "fast"), (160.0 * 1.01, "slow")] {
        let mut rng = Rng::new(21);
        let n = 3000;
        let pkts = stream(n, interval, 400, |_| (rng.uniform() * 40.0) as u64);
        let end = (n as f64 * interval) as u64 + 4000;
        let (jb, r) = run(&cfg(), &pkts, 3, end);
        let s = jb.stats();
        let max_depth = r.depth.iter().map(|d| d.1).fold(0.0, f64::max);
        let late_depth = r.depth[r.depth.len() / 2..]
            .iter()
            .map(|d| d.1)
            .fold(0.0, f64::max);
        eprintln!(
            "drift {label}: {s:?}, max depth {max_depth:.1} ms (second half {late_depth:.1})"
        );
        assert_in_order(&r.played);
        assert!(s.late <= 1, "{label}: late {}", s.late);
        if label == "fast" {
            // 3000 packets 1 % fast: ≈ 30 surplus frames to drop.
            assert!((25..=35).contains(&s.discarded), "dropped {}", s.discarded);
        } else {
            // 1 % slow: ≈ 30 frames to insert over 60 s.
            assert!((25..=36).contains(&s.inserted), "inserted {}", s.inserted);
        }
        assert!(
            late_depth < 60.0,
            "{label}: depth stays bounded ({late_depth:.1} ms)"
        );
    }
}

#[test]
fn depth_is_bounded_by_the_maximum() {
    // Jitter of up to 800 ms, far beyond the 300 ms maximum.
    let mut rng = Rng::new(1);
    let pkts = stream(1000, 160.0, 200, |_| (rng.uniform() * 6400.0) as u64);
    let (jb, r) = run(&cfg(), &pkts, 5, 1000 * 160 + 8000);
    let s = jb.stats();
    let max_depth = r.depth.iter().map(|d| d.1).fold(0.0, f64::max);
    eprintln!(
        "bounded: {s:?}, max depth {max_depth:.1} ms, target {:.1}",
        jb.target_ms()
    );
    assert!(max_depth <= 300.0 + 1e-9, "depth {max_depth:.1} ms");
    assert!(
        (jb.target_ms() - 300.0).abs() < 1e-9,
        "target pinned at the maximum"
    );
    assert!(s.late > 100, "the excess arrives late ({})", s.late);
    assert_in_order(&r.played);
}

#[test]
fn bad_input_is_a_typed_error() {
    let mut jb = JitterBuffer::new(&cfg()).expect("valid");
    assert_eq!(
        jb.push(0, 1, 1, 1, &[0u8; 1501]),
        Err(CodecError::PacketTooLarge {
            len: 1501,
            max: 1500
        })
    );
    let mut big = [0u8; 4];
    jb.push(0, 1, 1, 1, &[1u8; 100]).expect("fits");
    assert_eq!(
        jb.pop(10_000, &mut big),
        Err(CodecError::OutputTooSmall {
            needed: 100,
            got: 4
        })
    );
    for bad in [
        JitterConfig {
            frame_ticks: 0,
            ..cfg()
        },
        JitterConfig {
            min_delay_ms: 400,
            ..cfg()
        },
        JitterConfig { window: 0, ..cfg() },
    ] {
        assert!(matches!(
            JitterBuffer::new(&bad),
            Err(CodecError::InvalidParameter { .. })
        ));
    }
    assert_eq!(ticks_from_nanos(20_000_000, 8000), 160);
}

#[test]
fn arbitrary_input_never_panics() {
    // Random SSRCs, sequence numbers, timestamps, clocks (including the
    // extremes of u64) and payload sizes: every call returns.
    let mut rng = Rng::new(77);
    let mut jb = JitterBuffer::new(&cfg()).expect("valid");
    let mut out = [0u8; 1500];
    let payload = [0x55u8; 1600];
    let mut now = 0u64;
    for k in 0..20_000u32 {
        now = match k % 1000 {
            0 => u64::MAX - rng.next_u64() % 1000,
            500 => rng.next_u64() % 1000,
            _ => now.wrapping_add(rng.next_u64() % 400),
        };
        let ssrc = if rng.uniform() < 0.01 {
            rng.next_u64() as u32
        } else {
            1
        };
        let seq = if rng.uniform() < 0.9 {
            k as u16
        } else {
            rng.next_u64() as u16
        };
        let ts = if rng.uniform() < 0.9 {
            k.wrapping_mul(FRAME)
        } else {
            rng.next_u64() as u32
        };
        let len = (rng.next_u64() % 1600) as usize;
        let r = jb.push(now, ssrc, seq, ts, &payload[..len]);
        assert_eq!(r.is_err(), len > 1500);
        if k % 2 == 0 {
            let _ = jb.pop(now, &mut out).expect("slot fits the output");
        }
    }
    let s = jb.stats();
    assert!(s.resyncs > 0 && s.played > 0, "{s:?}");
}
