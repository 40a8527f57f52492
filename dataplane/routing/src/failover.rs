//! Which final responses from a gateway send the call to the next gateway
//! of its route (serial forking, RFC 3261 §16.7 step 6 leaves the choice to
//! the proxy).
//!
//! The default ([`should_failover`]) fails over on 408 (no answer: the
//! gateway is unreachable or slow) and on every 5xx (the gateway or its
//! network failed, 503 included). It does not fail over on 4xx other than
//! 408 — 404 or 486 are the callee's answer and another carrier would give
//! the same — nor on 6xx, which RFC 3261 §16.7 says ends the search.
//! A route may replace the set with its own `failover_on` list.

/// The default failover policy: 408 and 500–599.
pub fn should_failover(status: u16) -> bool {
    status == 408 || (500..=599).contains(&status)
}

const FIRST: u16 = 300;
const LAST: u16 = 699;
const WORDS: usize = ((LAST - FIRST) as usize + 1).div_ceil(64);

/// A set of final statuses (300–699) that trigger failover. `Copy`, so a
/// gateway target can carry its route's policy without allocating.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FailoverPolicy {
    bits: [u64; WORDS],
}

impl FailoverPolicy {
    /// The empty set: never fail over.
    pub const fn none() -> Self {
        FailoverPolicy { bits: [0; WORDS] }
    }

    /// A policy from explicit statuses; `Err` carries the first one outside
    /// 300..=699.
    pub fn from_statuses(statuses: &[u16]) -> Result<Self, u16> {
        let mut policy = FailoverPolicy::none();
        for &status in statuses {
            if !policy.insert(status) {
                return Err(status);
            }
        }
        Ok(policy)
    }

    /// Adds `status`; false (and nothing added) outside 300..=699.
    fn insert(&mut self, status: u16) -> bool {
        let Some((word, bit)) = Self::slot(status) else {
            return false;
        };
        match self.bits.get_mut(word) {
            Some(w) => {
                *w |= 1 << bit;
                true
            }
            None => false,
        }
    }

    fn slot(status: u16) -> Option<(usize, u32)> {
        if !(FIRST..=LAST).contains(&status) {
            return None;
        }
        let offset = usize::from(status - FIRST);
        Some((offset / 64, (offset % 64) as u32))
    }

    /// Whether a final `status` from one gateway should move the call to
    /// the next one.
    pub fn should_failover(&self, status: u16) -> bool {
        Self::slot(status)
            .and_then(|(word, bit)| self.bits.get(word).map(|w| w & (1 << bit) != 0))
            .unwrap_or(false)
    }
}

impl Default for FailoverPolicy {
    /// 408 and 500–599, as [`should_failover`].
    fn default() -> Self {
        let mut policy = FailoverPolicy::none();
        for status in FIRST..=LAST {
            if should_failover(status) {
                policy.insert(status);
            }
        }
        policy
    }
}

impl std::fmt::Debug for FailoverPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries((FIRST..=LAST).filter(|&s| self.should_failover(s)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_fails_over_on_timeouts_and_server_errors_only() {
        for status in [408, 500, 502, 503, 504, 580, 599] {
            assert!(should_failover(status), "{status}");
            assert!(
                FailoverPolicy::default().should_failover(status),
                "{status}"
            );
        }
        for status in [100, 180, 200, 302, 404, 486, 487, 600, 603, 699, 700] {
            assert!(!should_failover(status), "{status}");
            assert!(
                !FailoverPolicy::default().should_failover(status),
                "{status}"
            );
        }
    }

    #[test]
    fn explicit_policy_holds_exactly_its_statuses() {
        let policy = FailoverPolicy::from_statuses(&[486, 503, 699]).unwrap();
        assert!(policy.should_failover(486));
        assert!(policy.should_failover(503));
        assert!(policy.should_failover(699));
        assert!(!policy.should_failover(408));
        assert!(!policy.should_failover(500));
        assert_eq!(FailoverPolicy::from_statuses(&[503, 200]), Err(200));
        assert_eq!(FailoverPolicy::from_statuses(&[700]), Err(700));
    }
}
