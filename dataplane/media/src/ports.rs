//! Local port allocation: even RTP port, RTCP on RTP+1, from a configured
//! range, with a FIFO free list (a released pair is reused last, so late
//! packets of a deleted call rarely reach a new one). Allocation and
//! release are O(1) and allocate nothing after construction.
//!
//! A pair is always reserved, even for an rtcp-mux stream: the odd port
//! stays free for the case where the answer declines rtcp-mux (RFC 5761
//! §5.1.3), as RTPEngine does.

use std::collections::VecDeque;
use thiserror::Error;

/// Port allocation failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PortError {
    /// Every pair of the range is in use.
    #[error("no free RTP/RTCP port pair in the configured range")]
    Exhausted,
    /// The range holds no even/odd pair.
    #[error("port range {0}-{1} holds no even/odd pair")]
    EmptyRange(u16, u16),
}

/// An allocated pair: `rtp` is even, `rtcp == rtp + 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortPair {
    /// Even RTP port.
    pub rtp: u16,
    /// RTCP port (RTP + 1).
    pub rtcp: u16,
}

/// Free-list allocator of port pairs over `[min, max]`.
#[derive(Debug, Clone)]
pub struct PortAllocator {
    base: u16,
    slots: u32,
    free: VecDeque<u32>,
    in_use: Vec<bool>,
}

impl PortAllocator {
    /// Covers every even port `p` with `min <= p` and `p + 1 <= max`.
    pub fn new(min: u16, max: u16) -> Result<Self, PortError> {
        let base = min
            .checked_add(min & 1)
            .ok_or(PortError::EmptyRange(min, max))?;
        if max <= base {
            return Err(PortError::EmptyRange(min, max));
        }
        let slots = (u32::from(max) - u32::from(base)).div_ceil(2);
        Ok(Self {
            base,
            slots,
            free: (0..slots).collect(),
            in_use: vec![false; slots as usize],
        })
    }

    /// First (even) port of the range.
    pub fn base(&self) -> u16 {
        self.base
    }
    /// Number of pairs in the range.
    pub fn capacity(&self) -> usize {
        self.slots as usize
    }
    /// Number of free pairs.
    pub fn available(&self) -> usize {
        self.free.len()
    }

    /// Takes the oldest free pair.
    pub fn allocate(&mut self) -> Result<PortPair, PortError> {
        let slot = self.free.pop_front().ok_or(PortError::Exhausted)?;
        self.in_use[slot as usize] = true;
        Ok(self.pair(slot))
    }

    /// The pair [`PortAllocator::allocate`] would take next.
    pub fn peek(&self) -> Option<PortPair> {
        self.free.front().map(|&slot| self.pair(slot))
    }

    /// Moves the next free pair to the back of the free list: it cannot be
    /// used now (another process holds one of its ports) and is tried again
    /// only after every other free pair. `false` if no pair is free.
    pub fn defer_next(&mut self) -> bool {
        match self.free.pop_front() {
            Some(slot) => {
                self.free.push_back(slot);
                true
            }
            None => false,
        }
    }

    /// Returns a pair to the free list; `false` if it was not allocated.
    pub fn release(&mut self, rtp: u16) -> bool {
        match self.slot_of(rtp) {
            Some(slot) if self.in_use[slot as usize] && rtp & 1 == 0 => {
                self.in_use[slot as usize] = false;
                self.free.push_back(slot);
                true
            }
            _ => false,
        }
    }

    /// Index of the pair holding `port`, if in range.
    #[inline]
    pub fn slot_of(&self, port: u16) -> Option<u32> {
        let idx = u32::from(port.wrapping_sub(self.base)) / 2;
        (port >= self.base && idx < self.slots).then_some(idx)
    }

    /// The pair at index `slot`.
    pub fn pair(&self, slot: u32) -> PortPair {
        let rtp = self.base + (slot * 2) as u16;
        PortPair { rtp, rtcp: rtp + 1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_pairs_and_exhaustion() {
        let mut a = PortAllocator::new(30001, 30006).unwrap();
        assert_eq!(a.capacity(), 2);
        assert_eq!(
            a.allocate(),
            Ok(PortPair {
                rtp: 30002,
                rtcp: 30003
            })
        );
        assert_eq!(
            a.allocate(),
            Ok(PortPair {
                rtp: 30004,
                rtcp: 30005
            })
        );
        assert_eq!(a.allocate(), Err(PortError::Exhausted));
        assert!(a.release(30002));
        assert!(!a.release(30002));
        assert!(!a.release(30003));
        assert_eq!(a.allocate().unwrap().rtp, 30002);
        assert_eq!(a.slot_of(30000), None);
        assert_eq!(a.slot_of(30006), None);
        assert_eq!(a.slot_of(30005), Some(1));
    }

    #[test]
    fn a_deferred_pair_is_tried_after_every_other() {
        let mut a = PortAllocator::new(30000, 30005).unwrap();
        assert_eq!(a.peek().map(|p| p.rtp), Some(30000));
        assert!(a.defer_next());
        assert_eq!(a.peek().map(|p| p.rtp), Some(30002));
        assert_eq!(a.allocate().unwrap().rtp, 30002);
        assert_eq!(a.allocate().unwrap().rtp, 30004);
        assert_eq!(a.allocate().unwrap().rtp, 30000);
        assert_eq!(a.peek(), None);
        assert!(!a.defer_next());
    }

    #[test]
    fn bad_ranges() {
        assert!(PortAllocator::new(5, 5).is_err());
        assert!(PortAllocator::new(65535, 65535).is_err());
        assert_eq!(PortAllocator::new(65534, 65535).unwrap().capacity(), 1);
    }
}
