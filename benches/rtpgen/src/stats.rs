//! Receiver-side arithmetic: per-flow sequence continuity, timestamp consistency, SSRC
//! changes and RFC 3550 interarrival jitter, plus a delay histogram and percentiles.
//!
//! - [`FlowStats::on_packet`] follows RFC 3550 appendix A.1 for the extended sequence number
//!   (16-bit wrap) and A.8 for jitter: `J += (|D| - J) / 16`, with `D` the change in relative
//!   transit time measured in RTP clock units.
//! - Duplicates are found with a 4,096-packet window of seen sequence numbers; a packet older
//!   than the window counts as reordered (it cannot be checked for duplication).
//! - A new SSRC closes the current segment (its expected count is kept) and restarts the
//!   sequence and timestamp bases: a relay that changes SSRC is reported, not mistaken for loss.
//! - Timestamps must advance by `samples_per_packet` per sequence step from the segment's
//!   first packet, which holds whether or not the relay rewrites them with a constant offset.
//!
//! Deliberately not done: RTCP-style fraction-lost intervals, per-flow delay percentiles
//! (delays go into one histogram per receiver thread).

/// Sequence numbers remembered for duplicate detection.
pub const DUP_WINDOW: u64 = 4096;

/// Continuity and jitter of one flow (one direction of one call) at its receiver.
#[derive(Debug, Clone, Default)]
pub struct FlowStats {
    pub received: u64,
    pub duplicates: u64,
    /// Packets that arrived after a higher sequence number.
    pub reordered: u64,
    /// Packets whose timestamp disagrees with their sequence number.
    pub timestamp_mismatches: u64,
    pub ssrc_changes: u64,
    /// Packets whose RTP payload type was not the one sent.
    pub payload_type_changes: u64,
    /// RFC 3550 interarrival jitter, in RTP clock units.
    pub jitter: f64,
    pub max_jitter: f64,
    segment: Option<Segment>,
    /// Expected packets of segments closed by an SSRC change.
    expected_closed: u64,
}

#[derive(Debug, Clone)]
struct Segment {
    ssrc: u32,
    base_ext: u64,
    max_ext: u64,
    base_timestamp: u32,
    last_transit: f64,
    seen: Box<[u64; (DUP_WINDOW / 64) as usize]>,
}

impl Segment {
    fn new(ssrc: u32, sequence: u16, timestamp: u32, transit: f64) -> Self {
        // Start one wrap cycle up so that a reordered packet before the first stays positive.
        let ext = (1 << 16) + u64::from(sequence);
        let mut segment = Self {
            ssrc,
            base_ext: ext,
            max_ext: ext,
            base_timestamp: timestamp,
            last_transit: transit,
            seen: Box::new([0; (DUP_WINDOW / 64) as usize]),
        };
        segment.mark(ext);
        segment
    }

    fn extend(&self, sequence: u16) -> u64 {
        let delta = i64::from(sequence.wrapping_sub(self.max_ext as u16) as i16);
        self.max_ext.saturating_add_signed(delta)
    }

    fn slot(ext: u64) -> (usize, u64) {
        let bit = ext % DUP_WINDOW;
        ((bit / 64) as usize, 1u64 << (bit % 64))
    }

    fn mark(&mut self, ext: u64) {
        let (word, mask) = Self::slot(ext);
        self.seen[word] |= mask;
    }

    fn is_marked(&self, ext: u64) -> bool {
        let (word, mask) = Self::slot(ext);
        self.seen[word] & mask != 0
    }

    /// Moves the window's top to `ext`, forgetting the slots it reuses.
    fn advance(&mut self, ext: u64) {
        if ext - self.max_ext >= DUP_WINDOW {
            self.seen.fill(0);
        } else {
            for old in self.max_ext + 1..=ext {
                let (word, mask) = Self::slot(old);
                self.seen[word] &= !mask;
            }
        }
        self.max_ext = ext;
    }

    fn expected(&self) -> u64 {
        self.max_ext - self.base_ext + 1
    }
}

/// One received packet, as [`FlowStats::on_packet`] needs it.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    pub ssrc: u32,
    pub sequence: u16,
    pub timestamp: u32,
    pub payload_type: u8,
    /// Arrival time in RTP clock units (any fixed epoch).
    pub arrival_units: f64,
}

impl FlowStats {
    /// Accounts one packet; `samples_per_packet` is the timestamp step per sequence step.
    pub fn on_packet(&mut self, packet: Arrival, samples_per_packet: u32, payload_type: u8) {
        self.received += 1;
        if packet.payload_type != payload_type {
            self.payload_type_changes += 1;
        }
        let transit = packet.arrival_units - f64::from(packet.timestamp);
        let segment = match &mut self.segment {
            Some(segment) if segment.ssrc == packet.ssrc => segment,
            other => {
                if let Some(closed) = other.take() {
                    self.ssrc_changes += 1;
                    self.expected_closed += closed.expected();
                }
                *other = Some(Segment::new(
                    packet.ssrc,
                    packet.sequence,
                    packet.timestamp,
                    transit,
                ));
                return;
            }
        };
        let ext = segment.extend(packet.sequence);
        if ext > segment.max_ext {
            segment.advance(ext);
        } else if segment.max_ext - ext >= DUP_WINDOW {
            self.reordered += 1;
            return;
        } else if segment.is_marked(ext) {
            self.duplicates += 1;
            return;
        } else {
            self.reordered += 1;
        }
        segment.mark(ext);
        if ext < segment.base_ext {
            // Arrived before the segment's first packet: rebase the expected count.
            let steps = (segment.base_ext - ext) as u32;
            segment.base_timestamp = segment
                .base_timestamp
                .wrapping_sub(steps.wrapping_mul(samples_per_packet));
            segment.base_ext = ext;
        }
        let steps = (ext - segment.base_ext) as u32;
        let expected_timestamp = segment
            .base_timestamp
            .wrapping_add(steps.wrapping_mul(samples_per_packet));
        if packet.timestamp != expected_timestamp {
            self.timestamp_mismatches += 1;
        }
        let d = transit - segment.last_transit;
        segment.last_transit = transit;
        self.jitter += (d.abs() - self.jitter) / 16.0;
        self.max_jitter = self.max_jitter.max(self.jitter);
    }

    /// Packets the sequence numbers say were sent (first to highest, all segments).
    pub fn expected(&self) -> u64 {
        self.expected_closed + self.segment.as_ref().map_or(0, Segment::expected)
    }

    /// Distinct packets received.
    pub fn unique(&self) -> u64 {
        self.received - self.duplicates
    }

    /// Gaps in the sequence numbers (RFC 3550's cumulative lost, never negative).
    pub fn sequence_gaps(&self) -> u64 {
        self.expected().saturating_sub(self.unique())
    }
}

/// Fixed-width histogram of microsecond values (10 µs buckets up to 200 ms, then overflow).
#[derive(Debug, Clone)]
pub struct Histogram {
    buckets: Vec<u64>,
    overflow: u64,
    count: u64,
    max: u64,
}

const BUCKET_US: u64 = 10;
const BUCKETS: usize = 20_000;

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: vec![0; BUCKETS],
            overflow: 0,
            count: 0,
            max: 0,
        }
    }
}

impl Histogram {
    pub fn record(&mut self, micros: u64) {
        self.count += 1;
        self.max = self.max.max(micros);
        match self.buckets.get_mut((micros / BUCKET_US) as usize) {
            Some(bucket) => *bucket += 1,
            None => self.overflow += 1,
        }
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            *mine += theirs;
        }
        self.overflow += other.overflow;
        self.count += other.count;
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0..=1), as the upper edge of its bucket; the maximum when
    /// it falls in the overflow.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return ((i as u64 + 1) * BUCKET_US).min(self.max);
            }
        }
        self.max
    }
}

/// Nearest-rank percentile of `values` (sorted in place); 0 when empty.
pub fn percentile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEP: u32 = 160;

    fn arrival(sequence: u16, timestamp: u32, at_ms: f64) -> Arrival {
        Arrival {
            ssrc: 1,
            sequence,
            timestamp,
            payload_type: 0,
            arrival_units: at_ms * 8.0,
        }
    }

    fn feed(stats: &mut FlowStats, packets: &[(u16, f64)]) {
        for &(seq, at_ms) in packets {
            let ts = u32::from(seq.wrapping_sub(65530)) * STEP;
            stats.on_packet(arrival(seq, ts, at_ms), STEP, 0);
        }
    }

    #[test]
    fn perfectly_paced_flow_has_no_loss_and_no_jitter_across_the_wrap() {
        let mut stats = FlowStats::default();
        let packets: Vec<_> = (0..20u16)
            .map(|i| (65530u16.wrapping_add(i), 1000.0 + 20.0 * f64::from(i)))
            .collect();
        feed(&mut stats, &packets);
        assert_eq!(stats.received, 20);
        assert_eq!(stats.expected(), 20);
        assert_eq!(stats.sequence_gaps(), 0);
        assert_eq!(stats.timestamp_mismatches, 0);
        assert_eq!((stats.duplicates, stats.reordered), (0, 0));
        assert!(stats.jitter.abs() < 1e-9);
    }

    #[test]
    fn counts_gaps_duplicates_and_reordering() {
        let mut stats = FlowStats::default();
        // 65530, 65531, (65532 lost), 65534, 65533 late, 65534 again, 65535
        feed(
            &mut stats,
            &[
                (65530, 0.0),
                (65531, 20.0),
                (65534, 80.0),
                (65533, 81.0),
                (65534, 82.0),
                (65535, 100.0),
            ],
        );
        assert_eq!(stats.received, 6);
        assert_eq!(stats.duplicates, 1);
        assert_eq!(stats.reordered, 1);
        assert_eq!(stats.expected(), 6);
        assert_eq!(stats.unique(), 5);
        assert_eq!(stats.sequence_gaps(), 1);
        assert_eq!(stats.timestamp_mismatches, 0);
    }

    #[test]
    fn jitter_follows_rfc3550_one_sixteenth_smoothing() {
        let mut stats = FlowStats::default();
        // Second packet 4 ms late (32 clock units): J = 32/16 = 2 units.
        stats.on_packet(arrival(1, 0, 0.0), STEP, 0);
        stats.on_packet(arrival(2, STEP, 24.0), STEP, 0);
        assert!((stats.jitter - 2.0).abs() < 1e-9, "{}", stats.jitter);
        // Third on time relative to the second's transit: D = -32, J = 2 + (32 - 2)/16.
        stats.on_packet(arrival(3, 2 * STEP, 40.0), STEP, 0);
        assert!((stats.jitter - (2.0 + 30.0 / 16.0)).abs() < 1e-9);
    }

    #[test]
    fn a_timestamp_that_disagrees_with_the_sequence_is_counted() {
        let mut stats = FlowStats::default();
        stats.on_packet(arrival(10, 1000, 0.0), STEP, 0);
        stats.on_packet(arrival(11, 1000 + STEP, 20.0), STEP, 0);
        stats.on_packet(arrival(12, 1000 + 5 * STEP, 40.0), STEP, 0);
        assert_eq!(stats.timestamp_mismatches, 1);
    }

    #[test]
    fn an_ssrc_change_is_reported_not_counted_as_loss() {
        let mut stats = FlowStats::default();
        stats.on_packet(arrival(100, 0, 0.0), STEP, 0);
        stats.on_packet(arrival(101, STEP, 20.0), STEP, 0);
        let mut other = arrival(5000, 777, 40.0);
        other.ssrc = 2;
        stats.on_packet(other, STEP, 0);
        stats.on_packet(
            Arrival {
                ssrc: 2,
                ..arrival(5001, 777 + STEP, 60.0)
            },
            STEP,
            0,
        );
        assert_eq!(stats.ssrc_changes, 1);
        assert_eq!(stats.expected(), 4);
        assert_eq!(stats.sequence_gaps(), 0);
    }

    #[test]
    fn histogram_quantiles_and_percentiles() {
        let mut h = Histogram::default();
        for us in 1..=100 {
            h.record(us * 10);
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.quantile(0.5), 510); // 500 µs lands in the 500–510 bucket
        assert_eq!(h.quantile(1.0), 1000);
        h.record(10_000_000);
        assert_eq!(h.quantile(1.0), 10_000_000);
        let mut values = vec![3.0, 1.0, 2.0, 4.0];
        assert_eq!(percentile(&mut values, 0.5), 2.0);
        assert_eq!(percentile(&mut values, 0.99), 4.0);
        assert_eq!(percentile(&mut [], 0.5), 0.0);
    }
}
