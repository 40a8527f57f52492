//! Zero heap allocations per forwarded packet: after setting up 1,000
//! calls, forwarding 100k packets (RTP both ways, some RTCP, a DTMF event,
//! a source switch, drops, timer runs) leaves the allocation count
//! unchanged. A global counting allocator sees every allocation of this
//! test binary (per thread, so the harness does not interfere).

mod common;

use common::*;
use ferrovox_media::{Action, Relay, RelayConfig, StreamOptions};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCS.with(Cell::get)
}

#[test]
fn forwarding_100k_packets_allocates_nothing() {
    let t0 = Instant::now();
    let mut r = Relay::new(RelayConfig {
        port_min: 20000,
        port_max: 29999,
        ..config()
    })
    .unwrap();
    let te = StreamOptions {
        telephone_event_pt: Some(101),
        ..StreamOptions::default()
    };
    let calls: Vec<_> = (0..1000)
        .map(|_| two_legs(&mut r, t0, te, StreamOptions::default()))
        .collect();
    let ports: Vec<_> = calls
        .iter()
        .map(|c| (r.local_ports(c.a).unwrap(), r.local_ports(c.b).unwrap()))
        .collect();
    let mut bufs = [
        rtp(0, 0, 0, 0x1111),
        rtp(0, 0, 0, 0x2222),
        rr(0x1111, 0x2222, 3, 10, 100, 5),
        dtmf(101, 0, 0, 0x1111, 5, true, 800),
    ];
    let (caller, callee) = (addr(CALLER), addr(CALLEE));
    let caller_rtcp = addr("192.0.2.10:5005");
    let mut forwarded = 0u32;

    let before = allocations();
    let mut now = t0;
    for i in 0..100_000u32 {
        let (pa, pb) = ports[(i % 1000) as usize];
        let round = i / 1000;
        let action = match i % 50 {
            0 => r.handle_packet(pa.rtcp, caller_rtcp, &mut bufs[2], now),
            1 if round == 3 => r.handle_packet(pa.rtp, caller, &mut bufs[3], now),
            2 if round == 50 => {
                // Source switch on this call: new SSRC.
                bufs[0][8..12].copy_from_slice(&0x9999u32.to_be_bytes());
                r.handle_packet(pa.rtp, caller, &mut bufs[0], now)
            }
            3 => r.handle_packet(pa.rtp, addr("203.0.113.66:1"), &mut bufs[0], now),
            n if n % 2 == 0 => {
                bufs[0][2..4].copy_from_slice(&(round as u16).to_be_bytes());
                r.handle_packet(pa.rtp, caller, &mut bufs[0], now)
            }
            _ => r.handle_packet(pb.rtp, callee, &mut bufs[1], now),
        };
        if matches!(action, Action::Forward { .. }) {
            forwarded += 1;
        }
        if i % 1000 == 999 {
            now += Duration::from_millis(20);
            r.handle_timeout(now);
            while r.poll_event().is_some() {}
        }
    }
    let after = allocations();
    assert_eq!(after - before, 0, "allocations on the packet path");
    assert!(forwarded > 95_000, "forwarded {forwarded}");
    // The counter works: setting up one more call allocates.
    let before = allocations();
    two_legs(
        &mut r,
        now,
        StreamOptions::default(),
        StreamOptions::default(),
    );
    assert!(allocations() > before);
}

/// The transcoding path (PCMU → Opus and Opus → PCMU through the relay
/// core, with a loss concealed and an event carried) allocates nothing per
/// packet once the pipelines are built and the transmit ring is in use.
/// (libopus's own state is allocated by libopus at construction.)
#[test]
fn transcoding_allocates_nothing_per_packet() {
    use ferrovox_codecs::g711::encode_ulaw;
    use ferrovox_codecs::opus::{OpusConfig, OpusEncoder};
    use ferrovox_codecs::signal::sine;
    use ferrovox_codecs::transcode::Codec;
    use ferrovox_media::TranscodeSpec;

    let t0 = Instant::now();
    let mut r = Relay::new(config()).unwrap();
    let te = |pt| StreamOptions {
        telephone_event_pt: Some(pt),
        ..StreamOptions::default()
    };
    let legs = two_legs(&mut r, t0, te(101), te(110));
    let opus = Codec::Opus { sample_rate: 48000 };
    r.set_transcode(
        legs.a,
        Some(TranscodeSpec::new(
            (0, Codec::Pcmu, 20),
            (111, opus, 20),
            Some(101),
            Some(110),
        )),
    )
    .unwrap();
    r.set_transcode(
        legs.b,
        Some(TranscodeSpec::new(
            (111, opus, 20),
            (0, Codec::Pcmu, 20),
            Some(110),
            Some(101),
        )),
    )
    .unwrap();
    let (pa, pb) = (
        r.local_ports(legs.a).unwrap(),
        r.local_ports(legs.b).unwrap(),
    );
    // Prepared input: 200 frames of a tone each way.
    let mut phase = 0.0;
    let mut enc = OpusEncoder::new(&OpusConfig::voip(48000)).unwrap();
    let mut pcmu = Vec::new();
    let mut opus_pkts = Vec::new();
    for i in 0..200u32 {
        let mut f8 = [0i16; 160];
        let mut f48 = [0i16; 960];
        sine(&mut f8, 8000, 1000.0, 8000.0, 0.0);
        phase = sine(&mut f48, 48000, 1000.0, 8000.0, phase);
        let mut p = rtp(0, i as u16, 160 * i, 0xa);
        encode_ulaw(&f8, &mut p[12..172]).unwrap();
        pcmu.push(p);
        let mut o = [0u8; 400];
        let n = enc.encode(&f48, &mut o).unwrap();
        let mut p = rtp(111, i as u16, 960 * i, 0xb);
        p.truncate(12);
        p.extend_from_slice(&o[..n]);
        opus_pkts.push(p);
    }
    let mut ev = dtmf(101, 0, 160 * 150, 0xa, 5, true, 800);
    let mut out = [0u8; 2048];
    let mut sent = 0usize;
    let mut run = |r: &mut Relay, range: std::ops::Range<usize>| {
        for i in range {
            if i == 120 {
                continue; // lost: concealed
            }
            let now = t0 + Duration::from_millis(20 * i as u64);
            r.handle_packet(pa.rtp, addr(CALLER), &mut pcmu[i], now);
            r.handle_packet(pb.rtp, addr(CALLEE), &mut opus_pkts[i], now);
            if i == 150 {
                r.handle_packet(pa.rtp, addr(CALLER), &mut ev, now);
            }
            while r.poll_transmit(&mut out).is_some() {
                sent += 1;
            }
        }
    };
    run(&mut r, 0..20);
    let before = allocations();
    run(&mut r, 20..200);
    assert_eq!(
        allocations() - before,
        0,
        "allocations on the transcoding path"
    );
    assert!(sent >= 398, "sent {sent}");
}
