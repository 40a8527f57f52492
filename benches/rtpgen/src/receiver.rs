//! Receiver threads: `epoll` over a share of the generator's sockets, `recvmmsg` batches,
//! and per-flow checks ([`crate::stats::FlowStats`]).
//!
//! A datagram is attributed to a flow by the probe in its payload, then checked: it must
//! arrive on the flow's receiving socket and come from the relay port that faces that
//! socket (`misrouted` / `unexpected_source` otherwise). Warm-up packets are only counted.
//! Anything without a probe (RTCP, garbage, a transcoded payload) counts as `foreign`.
//! The receiving clock is read once per `recvmmsg` batch.

use crate::flow::Flow;
use crate::rtp::{CLOCK_RATE, PCMU, Probe, RtpHeader};
use crate::stats::{Arrival, FlowStats, Histogram};
use crate::sys::{Batch, Epoll};
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Datagrams per `recvmmsg` call at most.
pub const MAX_BATCH: usize = 64;

/// What one receiver thread saw.
#[derive(Debug, Default)]
pub struct ReceiverResult {
    /// `(flow index, stats)` for the flows this thread received anything for.
    pub flows: Vec<(usize, FlowStats)>,
    /// One-way delay (generator send to generator receive) of measured packets, µs.
    pub delay: Histogram,
    pub warmup: u64,
    pub foreign: u64,
    pub misrouted: u64,
    pub unexpected_source: u64,
    pub receive_calls: u64,
    pub datagrams: u64,
}

/// Receives on `socket_indices` until `stop` is set; timestamps must step by
/// `samples_per_packet` per sequence number.
pub fn run(
    socket_indices: &[usize],
    samples_per_packet: u32,
    flows: &[Flow],
    sockets: &[UdpSocket],
    epoch: Instant,
    stop: &AtomicBool,
) -> std::io::Result<ReceiverResult> {
    let mut epoll = Epoll::new(256)?;
    for &index in socket_indices {
        epoll.add(sockets[index].as_raw_fd(), index as u64)?;
    }
    let mut stats: Vec<Option<FlowStats>> = vec![None; flows.len()];
    let mut result = ReceiverResult::default();
    let mut batch = Batch::new(MAX_BATCH);
    let mut ready = Vec::with_capacity(256);
    let units_per_ns = f64::from(CLOCK_RATE) / 1e9;
    while !stop.load(Ordering::Relaxed) {
        ready.clear();
        ready.extend(epoll.wait(50)?);
        for &token in &ready {
            let socket = token as usize;
            loop {
                let n = batch.receive(sockets[socket].as_raw_fd())?;
                result.receive_calls += 1;
                if n == 0 {
                    break;
                }
                let now_ns = epoch.elapsed().as_nanos() as u64;
                for i in 0..n {
                    let Some((datagram, from)) = batch.get(i) else {
                        continue;
                    };
                    result.datagrams += 1;
                    let Some(header) = RtpHeader::parse(datagram) else {
                        result.foreign += 1;
                        continue;
                    };
                    let Some(probe) =
                        Probe::read(&datagram[header.payload_offset..header.payload_end])
                    else {
                        result.foreign += 1;
                        continue;
                    };
                    let Some(flow) = flows.get(probe.flow as usize) else {
                        result.foreign += 1;
                        continue;
                    };
                    if flow.receive_socket != socket {
                        result.misrouted += 1;
                        continue;
                    }
                    if from != flow.relay_out {
                        result.unexpected_source += 1;
                    }
                    if probe.warmup {
                        result.warmup += 1;
                        continue;
                    }
                    result
                        .delay
                        .record(now_ns.saturating_sub(probe.sent_ns) / 1000);
                    stats[probe.flow as usize]
                        .get_or_insert_with(FlowStats::default)
                        .on_packet(
                            Arrival {
                                ssrc: header.ssrc,
                                sequence: header.sequence,
                                timestamp: header.timestamp,
                                payload_type: header.payload_type,
                                arrival_units: now_ns as f64 * units_per_ns,
                            },
                            samples_per_packet,
                            PCMU,
                        );
                }
                if n < batch.capacity() {
                    break; // level-triggered epoll reports the socket again if more arrived
                }
            }
        }
    }
    result.flows = stats
        .into_iter()
        .enumerate()
        .filter_map(|(i, s)| s.map(|s| (i, s)))
        .collect();
    Ok(result)
}
