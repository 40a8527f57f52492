//! Per-source throttling of failed authentications (brute-force defence).
//!
//! A source that fails `max_failures` authentications within `window` is
//! blocked for `block_for`; while blocked, every request from it is refused
//! without looking at credentials. Sources are keyed by IPv4 address or by
//! IPv6 /64 prefix (one subscriber usually holds a whole /64, so keying by
//! full IPv6 address would let one attacker rotate through 2^64 keys).
//!
//! Memory is bounded by `capacity` sources. When full, sources whose
//! window and block have both lapsed go first, then the oldest unblocked
//! sources (a sixteenth of the table at once), and only then blocked ones.
//!
//! Deliberately not done: resetting the count on a success (an attacker
//! holding one valid account could otherwise interleave successes to keep
//! guessing others' passwords), allow-lists, exponential block times.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Throttling parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Failures within `window` that block a source.
    pub max_failures: u32,
    /// Window in which failures are counted.
    pub window: Duration,
    /// How long a source stays blocked.
    pub block_for: Duration,
    /// Most sources remembered.
    pub capacity: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            max_failures: 5,
            window: Duration::from_secs(60),
            block_for: Duration::from_secs(300),
            capacity: 10_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum SourceKey {
    V4([u8; 4]),
    V6Prefix([u8; 8]),
}

fn key_of(ip: IpAddr) -> SourceKey {
    match ip {
        IpAddr::V4(a) => SourceKey::V4(a.octets()),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => SourceKey::V4(v4.octets()),
            None => {
                let mut prefix = [0u8; 8];
                prefix.copy_from_slice(&a.octets()[..8]);
                SourceKey::V6Prefix(prefix)
            }
        },
    }
}

#[derive(Debug, Clone, Copy)]
struct Record {
    window_start: Instant,
    failures: u32,
    blocked_until: Option<Instant>,
    first_seen: Instant,
}

impl Record {
    fn blocked(&self, now: Instant) -> bool {
        self.blocked_until.is_some_and(|until| now < until)
    }

    fn lapsed(&self, now: Instant, window: Duration) -> bool {
        !self.blocked(now) && now.saturating_duration_since(self.window_start) >= window
    }
}

/// Failure counts per source.
#[derive(Debug)]
pub struct FailureThrottle {
    config: ThrottleConfig,
    sources: HashMap<SourceKey, Record>,
}

impl FailureThrottle {
    /// An empty table.
    pub fn new(config: ThrottleConfig) -> FailureThrottle {
        FailureThrottle {
            config,
            sources: HashMap::new(),
        }
    }

    /// Whether `ip` is blocked at `now`.
    pub fn is_blocked(&self, ip: IpAddr, now: Instant) -> bool {
        self.sources
            .get(&key_of(ip))
            .is_some_and(|r| r.blocked(now))
    }

    /// Count a failed authentication from `ip`; whether the source is now
    /// blocked.
    pub fn record_failure(&mut self, ip: IpAddr, now: Instant) -> bool {
        let key = key_of(ip);
        if !self.sources.contains_key(&key) && self.sources.len() >= self.config.capacity {
            self.make_room(now);
        }
        let config = self.config;
        let record = self.sources.entry(key).or_insert(Record {
            window_start: now,
            failures: 0,
            blocked_until: None,
            first_seen: now,
        });
        if record.blocked(now) {
            return true;
        }
        if record.lapsed(now, config.window) {
            record.window_start = now;
            record.failures = 0;
            record.blocked_until = None;
        }
        record.failures = record.failures.saturating_add(1);
        if record.failures >= config.max_failures {
            tracing::warn!(source = %ip, failures = record.failures, "blocking source after failed authentications");
            record.blocked_until = Some(now + config.block_for);
            record.failures = 0;
            record.window_start = now;
            return true;
        }
        false
    }

    /// Free at least one slot. Evicts a sixteenth of the table at a time
    /// so that a flood of new sources costs amortised O(1) per source,
    /// not a scan each.
    fn make_room(&mut self, now: Instant) {
        let window = self.config.window;
        self.sources.retain(|_, r| !r.lapsed(now, window));
        if self.sources.len() < self.config.capacity {
            return;
        }
        let batch = (self.config.capacity / 16).max(1);
        let mut by_age: Vec<((bool, Instant), SourceKey)> = self
            .sources
            .iter()
            .map(|(k, r)| ((r.blocked(now), r.first_seen), *k))
            .collect();
        if batch < by_age.len() {
            by_age.select_nth_unstable_by_key(batch, |(age, _)| *age);
        }
        for (_, key) in by_age.iter().take(batch) {
            self.sources.remove(key);
        }
    }

    /// Sources remembered.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// Whether no source is remembered.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn ipv6_sources_share_their_64_prefix() {
        let mut t = FailureThrottle::new(ThrottleConfig {
            max_failures: 2,
            ..ThrottleConfig::default()
        });
        let now = Instant::now();
        let a = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1));
        let b = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 9, 9, 9, 9));
        let other = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, 1));
        assert!(!t.record_failure(a, now));
        assert!(t.record_failure(b, now));
        assert!(t.is_blocked(a, now));
        assert!(!t.is_blocked(other, now));
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let mut t = FailureThrottle::new(ThrottleConfig {
            max_failures: 2,
            window: Duration::from_secs(10),
            ..ThrottleConfig::default()
        });
        let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let now = Instant::now();
        assert!(!t.record_failure(ip, now));
        assert!(!t.record_failure(ip, now + Duration::from_secs(11)));
        assert!(t.record_failure(ip, now + Duration::from_secs(12)));
    }

    #[test]
    fn eviction_keeps_blocked_sources_longest() {
        let mut t = FailureThrottle::new(ThrottleConfig {
            max_failures: 3,
            capacity: 2,
            ..ThrottleConfig::default()
        });
        let now = Instant::now();
        let attacker = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        for _ in 0..3 {
            t.record_failure(attacker, now);
        }
        // Many other sources with one failure each cycle through the table.
        for i in 0..50u8 {
            t.record_failure(IpAddr::V4(Ipv4Addr::new(198, 51, 100, i)), now);
            assert!(t.len() <= 2);
        }
        assert!(t.is_blocked(attacker, now));
    }
}
