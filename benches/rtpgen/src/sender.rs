//! Paced RTP senders: each thread owns a slice of the flows and a fixed schedule.
//!
//! Flow `k` of a thread is due at `start + cycle * period + phase_k`; a thread wakes, sends
//! every packet that is due (grouped by socket into `sendmmsg` batches), then sleeps until
//! the next packet is due but no sooner than `tick` after this wake-up. `tick` trades
//! generator CPU (wake-ups) for pacing precision; how late each packet left is recorded in
//! [`SenderResult::lateness`]. A thread that falls behind sends what is due at once, so the
//! achieved rate shows when the generator, not the relay, is the limit.
//!
//! Warm-up ([`send_warmup`]) sends the packets that let a relay latch every side before the
//! measurement: they carry a warm-up probe and the sequence numbers just before the flow's
//! first measured one, so the RTP stream is continuous from the relay's point of view.

use crate::flow::Flow;
use crate::rtp::{HEADER_LEN, Probe, write_packet};
use crate::stats::Histogram;
use crate::sys::Batch;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Packets per `sendmmsg` call at most.
pub const MAX_BATCH: usize = 64;

/// Warm-up packets per flow before the measurement.
pub const WARMUP_PACKETS: u32 = 2;

/// What one sender thread is given.
pub struct SenderPlan {
    /// `(phase_ns, flow index)` sorted by phase.
    pub schedule: Vec<(u64, usize)>,
    pub period_ns: u64,
    /// Offsets from `epoch` at which sending starts and stops.
    pub start_ns: u64,
    pub end_ns: u64,
    pub tick_ns: u64,
    pub payload_size: usize,
    /// RTP timestamp step per packet: the flow's packet interval in 8 kHz clock units (160
    /// when each flow sends 50 packets/s), so that timestamps follow the real send clock.
    pub samples_per_packet: u32,
}

/// What one sender thread did.
#[derive(Debug, Default)]
pub struct SenderResult {
    /// `(flow index, packets sent)`.
    pub sent: Vec<(usize, u64)>,
    pub send_errors: u64,
    /// Packets a full socket buffer refused.
    pub refused: u64,
    pub batches: u64,
    pub wakeups: u64,
    /// Microseconds each packet left after its due time.
    pub lateness: Histogram,
}

fn sleep_until(epoch: Instant, offset_ns: u64) {
    let target = epoch + Duration::from_nanos(offset_ns);
    let now = Instant::now();
    if target > now {
        std::thread::sleep(target - now);
    }
}

/// Runs one sender thread's schedule to its end.
pub fn run(
    plan: &SenderPlan,
    flows: &[Flow],
    sockets: &[UdpSocket],
    epoch: Instant,
) -> SenderResult {
    crate::sys::tighten_timer_slack(5_000);
    let mut result = SenderResult::default();
    let mut counts = vec![0u32; plan.schedule.len()];
    let mut batch = Batch::new(MAX_BATCH);
    let mut batch_socket = usize::MAX;
    let packet_len = HEADER_LEN + plan.payload_size;
    let flush = |batch: &mut Batch, socket: usize, result: &mut SenderResult| {
        if batch.is_empty() {
            return;
        }
        let wanted = batch.len();
        match batch.send(sockets[socket].as_raw_fd()) {
            Ok(sent) => result.refused += (wanted - sent) as u64,
            Err(error) => {
                result.send_errors += wanted as u64;
                tracing::debug!(%error, "sendmmsg failed");
            }
        }
        result.batches += 1;
        batch.clear();
    };
    if plan.schedule.is_empty() {
        return result;
    }
    sleep_until(epoch, plan.start_ns);
    let mut cycle = 0u64;
    let mut next = 0usize;
    'wakeups: loop {
        result.wakeups += 1;
        let wake_ns = epoch.elapsed().as_nanos() as u64;
        loop {
            let (phase, flow_index) = plan.schedule[next];
            let due = plan.start_ns + cycle * plan.period_ns + phase;
            if due >= plan.end_ns {
                flush(&mut batch, batch_socket, &mut result);
                break 'wakeups;
            }
            if due > wake_ns {
                flush(&mut batch, batch_socket, &mut result);
                sleep_until(epoch, due.max(wake_ns + plan.tick_ns));
                continue 'wakeups;
            }
            let flow = &flows[flow_index];
            if batch_socket != flow.send_socket || batch.is_full() {
                flush(&mut batch, batch_socket, &mut result);
                batch_socket = flow.send_socket;
            }
            let index = counts[next];
            let sent_ns = epoch.elapsed().as_nanos() as u64;
            if let Some(slot) = batch.push(flow.relay_in, packet_len) {
                write_packet(
                    slot,
                    false,
                    flow.first_sequence.wrapping_add(index as u16),
                    flow.first_timestamp
                        .wrapping_add(index.wrapping_mul(plan.samples_per_packet)),
                    flow.ssrc,
                    &Probe {
                        warmup: false,
                        flow: flow.id,
                        index,
                        sent_ns,
                    },
                );
            }
            result.lateness.record(sent_ns.saturating_sub(due) / 1000);
            counts[next] += 1;
            next += 1;
            if next == plan.schedule.len() {
                next = 0;
                cycle += 1;
            }
        }
    }
    result.sent = plan
        .schedule
        .iter()
        .zip(&counts)
        .map(|((_, flow), count)| (*flow, u64::from(*count)))
        .collect();
    result
}

/// Sends [`WARMUP_PACKETS`] latching packets for every flow, `spacing` apart per round,
/// spreading each round over `spacing` so no relay socket sees a burst. Returns the packets
/// sent.
pub fn send_warmup(
    flows: &[Flow],
    sockets: &[UdpSocket],
    epoch: Instant,
    payload_size: usize,
    samples_per_packet: u32,
    spacing: Duration,
) -> u64 {
    let mut order: Vec<&Flow> = flows.iter().collect();
    order.sort_by_key(|f| (f.send_socket, f.id));
    let mut batch = Batch::new(MAX_BATCH);
    let mut sent = 0;
    let chunk = order.len().div_ceil(20).max(1);
    for round in 0..WARMUP_PACKETS {
        let back = WARMUP_PACKETS - round;
        for group in order.chunks(chunk) {
            let mut socket = usize::MAX;
            for flow in group {
                if socket != flow.send_socket || batch.is_full() {
                    if socket != usize::MAX {
                        sent += batch.send(sockets[socket].as_raw_fd()).unwrap_or(0) as u64;
                    }
                    batch.clear();
                    socket = flow.send_socket;
                }
                if let Some(slot) = batch.push(flow.relay_in, HEADER_LEN + payload_size) {
                    write_packet(
                        slot,
                        round == 0,
                        flow.first_sequence.wrapping_sub(back as u16),
                        flow.first_timestamp
                            .wrapping_sub(back.wrapping_mul(samples_per_packet)),
                        flow.ssrc,
                        &Probe {
                            warmup: true,
                            flow: flow.id,
                            index: round,
                            sent_ns: epoch.elapsed().as_nanos() as u64,
                        },
                    );
                }
            }
            if socket != usize::MAX {
                sent += batch.send(sockets[socket].as_raw_fd()).unwrap_or(0) as u64;
            }
            batch.clear();
            std::thread::sleep(spacing / 20);
        }
    }
    sent
}
