//! The generator's flows: one direction of RTP of one call, with where it is sent from and
//! to, where it is received and what its RTP header starts at.
//!
//! Socket indices point into the session's socket table (A sides first, then B sides);
//! several calls may share a socket pair (`calls_per_socket`), which lets `sendmmsg` batch
//! their packets. The relay sees one call per ng call-id either way.

use std::net::SocketAddrV4;

/// One direction of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// Index in the session's flow table (carried in every packet's probe).
    pub id: u32,
    /// Whether its packets are measured (a latch-only flow only sends warm-up packets).
    pub measured: bool,
    pub send_socket: usize,
    pub receive_socket: usize,
    /// The relay port this flow is sent to.
    pub relay_in: SocketAddrV4,
    /// The relay port the receiver sees it come from (the relay's port facing the receiver).
    pub relay_out: SocketAddrV4,
    pub ssrc: u32,
    pub first_sequence: u16,
    pub first_timestamp: u32,
}

/// Spreads bits of `x` (splitmix64) so SSRCs and initial sequence numbers look random but
/// are reproducible.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Flow {
    /// A flow with header fields derived from `id` and `seed`.
    pub fn new(
        id: u32,
        measured: bool,
        send_socket: usize,
        receive_socket: usize,
        relay_in: SocketAddrV4,
        relay_out: SocketAddrV4,
        seed: u64,
    ) -> Self {
        let bits = mix(seed ^ (u64::from(id) << 20) ^ u64::from(measured));
        Self {
            id,
            measured,
            send_socket,
            receive_socket,
            relay_in,
            relay_out,
            ssrc: bits as u32,
            first_sequence: (bits >> 32) as u16,
            first_timestamp: ((bits >> 48) as u32) << 8,
        }
    }
}

/// Orders flows for pacing: grouped by sending socket so that flows sharing a socket fall
/// due together and leave in one `sendmmsg`; returns `(phase_ns, flow index)` spread evenly
/// over `period_ns`.
pub fn phases(flows: &[Flow], period_ns: u64) -> Vec<(u64, usize)> {
    let mut order: Vec<usize> = (0..flows.len()).filter(|i| flows[*i].measured).collect();
    order.sort_by_key(|i| (flows[*i].send_socket, flows[*i].id));
    let n = order.len().max(1) as u64;
    order
        .into_iter()
        .enumerate()
        .map(|(rank, index)| (period_ns * rank as u64 / n, index))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(id: u32, socket: usize) -> Flow {
        let a: SocketAddrV4 = "127.0.0.1:1000".parse().unwrap();
        Flow::new(id, true, socket, 9, a, a, 1)
    }

    #[test]
    fn phases_spread_flows_evenly_grouped_by_socket() {
        let flows = vec![flow(0, 1), flow(1, 0), flow(2, 1), flow(3, 0)];
        let phases = phases(&flows, 20_000_000);
        assert_eq!(
            phases,
            vec![(0, 1), (5_000_000, 3), (10_000_000, 0), (15_000_000, 2)]
        );
    }

    #[test]
    fn header_fields_differ_between_flows_and_repeat_for_the_same_seed() {
        assert_ne!(flow(0, 0).ssrc, flow(1, 0).ssrc);
        assert_eq!(flow(5, 0), flow(5, 0));
    }
}
