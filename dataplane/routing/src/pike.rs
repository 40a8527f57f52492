//! Per-source request rate limiting, after Kamailio's pike module.
//!
//! A source sending more than `max_requests` requests per `window` is
//! limited until its rate falls back under that threshold. Requests that
//! are limited still count, so a source that keeps flooding stays limited;
//! one that slows down is allowed again as soon as its rate is back under
//! the threshold, at the latest two windows after it stops.
//!
//! The rate is a sliding-window estimate over fixed windows (the previous
//! window's count, weighted by how much of it still overlaps the last
//! `window`, plus the current window's count): two counters per source,
//! no per-request timestamps.
//!
//! # Cost
//! [`RateLimiter::check`] is O(1): one hash lookup and a few arithmetic
//! steps. Memory is bounded by `max_sources`; when a new source arrives at
//! a full table the least recently seen source is forgotten (a flood of
//! spoofed addresses can thus push out a real source's history, but never
//! grow the table). All storage is allocated up front, so `check` does not
//! allocate. The table's hash is randomly keyed (std's SipHash), so
//! sources cannot be chosen to collide.
//!
//! # Per core
//! One [`RateLimiter`] per core, owned (`&mut self`), no locks. With
//! `SO_REUSEPORT` the kernel picks a socket by hashing the 4-tuple, so all
//! UDP datagrams from one source address and port reach the same core and
//! its limiter sees that source's whole rate. A source spreading its
//! requests over many ports (or TCP connections) is split across cores and
//! can send up to `cores × max_requests` per window.
//!
//! IPv6 sources are counted per `/ipv6_prefix` network (default /64);
//! IPv4-mapped IPv6 addresses count as their IPv4 address.
//!
//! Not done here: choosing what to limit (the caller should not check
//! responses, ACKs or sources on a trunk allow-list), building the 503 (see
//! [`RateLimiter::on_limit`]), a shared table across cores.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Instant;

use crate::config::{PikeAction, PikeConfig};
use crate::error::ConfigError;

/// The decision for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Process it.
    Allow,
    /// The source is over its rate: apply [`RateLimiter::on_limit`].
    Limit,
}

/// What to do with a limited request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitAction {
    /// Drop it without an answer.
    Drop,
    /// Answer `503 Service Unavailable` with `Retry-After: retry_after_s`
    /// (requests other than ACK; drop ACKs and responses).
    Reply {
        /// Seconds for the Retry-After header.
        retry_after_s: u32,
    },
}

const NIL: u32 = u32::MAX;

/// One source's counters and its place in the recency list.
#[derive(Debug, Clone, Copy)]
struct Entry {
    source: IpAddr,
    /// The window `current` counts in (windows since the limiter's epoch).
    window: u64,
    current: u32,
    previous: u32,
    limited: bool,
    newer: u32,
    older: u32,
}

/// A pike-like limiter for one core.
#[derive(Debug)]
pub struct RateLimiter {
    enabled: bool,
    max_requests: u32,
    window_ns: u64,
    ipv6_mask: u128,
    action: LimitAction,
    epoch: Instant,
    capacity: usize,
    index: HashMap<IpAddr, u32>,
    entries: Vec<Entry>,
    /// Most recently seen entry.
    newest: u32,
    /// Least recently seen entry: the next to be forgotten.
    oldest: u32,
}

impl RateLimiter {
    /// A limiter whose windows start at `now`.
    pub fn new(config: PikeConfig, now: Instant) -> Result<Self, ConfigError> {
        if config.max_requests == 0 {
            return Err(ConfigError::BadRateLimit("max_requests must be at least 1"));
        }
        if config.window_ms == 0 {
            return Err(ConfigError::BadRateLimit("window_ms must be above 0"));
        }
        if config.window_ms > 3_600_000 {
            return Err(ConfigError::BadRateLimit(
                "window_ms must not exceed one hour",
            ));
        }
        if config.max_sources == 0 || config.max_sources > (NIL as usize) / 2 {
            return Err(ConfigError::BadRateLimit(
                "max_sources must be between 1 and 2^31",
            ));
        }
        if config.ipv6_prefix == 0 || config.ipv6_prefix > 128 {
            return Err(ConfigError::BadRateLimit("ipv6_prefix must be 1..=128"));
        }
        let action = match config.action {
            PikeAction::Drop => LimitAction::Drop,
            PikeAction::Reply => LimitAction::Reply {
                retry_after_s: config.retry_after_s.unwrap_or_else(|| {
                    u32::try_from((config.window_ms * 2).div_ceil(1000)).unwrap_or(u32::MAX)
                }),
            },
        };
        let capacity = if config.enabled {
            config.max_sources
        } else {
            0
        };
        Ok(RateLimiter {
            enabled: config.enabled,
            max_requests: config.max_requests,
            window_ns: config.window_ms * 1_000_000,
            ipv6_mask: u128::MAX << (128 - u32::from(config.ipv6_prefix)),
            action,
            epoch: now,
            capacity,
            // Twice the entries: with deletions the table can then always
            // rehash in place instead of growing.
            index: HashMap::with_capacity(capacity.saturating_mul(2)),
            entries: Vec::with_capacity(capacity),
            newest: NIL,
            oldest: NIL,
        })
    }

    /// What the caller should do with a [`Verdict::Limit`].
    pub fn on_limit(&self) -> LimitAction {
        self.action
    }

    /// Sources currently remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no source is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Counts one request from `ip` at `now` and decides on it.
    pub fn check(&mut self, ip: IpAddr, now: Instant) -> Verdict {
        if !self.enabled {
            return Verdict::Allow;
        }
        let source = self.source_key(ip);
        let elapsed =
            u64::try_from(now.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX);
        let window = elapsed / self.window_ns;
        let into_window = elapsed % self.window_ns;

        let slot = match self.index.get(&source) {
            Some(&slot) => {
                self.touch(slot);
                slot
            }
            None => match self.admit(source, window) {
                Some(slot) => slot,
                None => return Verdict::Allow,
            },
        };
        let Some(entry) = self.entries.get_mut(slot as usize) else {
            return Verdict::Allow;
        };
        if window != entry.window {
            entry.previous = if window == entry.window + 1 {
                entry.current
            } else {
                0
            };
            entry.current = 0;
            entry.window = window;
        }
        entry.current = entry.current.saturating_add(1);

        // rate × window = previous × (part of the previous window still
        // inside the last `window`) + current; compare without division.
        let remaining = u128::from(self.window_ns - into_window);
        let scaled = u128::from(entry.previous) * remaining
            + u128::from(entry.current) * u128::from(self.window_ns);
        let over = scaled > u128::from(self.max_requests) * u128::from(self.window_ns);
        if over != entry.limited {
            entry.limited = over;
            if over {
                tracing::warn!(source = %entry.source, "pike: source over its request rate, limiting");
            } else {
                tracing::info!(source = %entry.source, "pike: source back under its request rate");
            }
        }
        if over { Verdict::Limit } else { Verdict::Allow }
    }

    fn source_key(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(_) => ip,
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & self.ipv6_mask)),
            },
        }
    }

    /// A slot for a new source: a fresh one while the table has room, else
    /// the least recently seen source's.
    fn admit(&mut self, source: IpAddr, window: u64) -> Option<u32> {
        let fresh = Entry {
            source,
            window,
            current: 0,
            previous: 0,
            limited: false,
            newer: NIL,
            older: NIL,
        };
        let slot = if self.entries.len() < self.capacity {
            let slot = u32::try_from(self.entries.len()).ok()?;
            self.entries.push(fresh);
            slot
        } else {
            let slot = self.oldest;
            self.unlink(slot);
            let old = self.entries.get_mut(slot as usize)?;
            self.index.remove(&old.source);
            *old = fresh;
            slot
        };
        self.index.insert(source, slot);
        self.push_newest(slot);
        Some(slot)
    }

    fn touch(&mut self, slot: u32) {
        if self.newest != slot {
            self.unlink(slot);
            self.push_newest(slot);
        }
    }

    fn unlink(&mut self, slot: u32) {
        let Some(&Entry { newer, older, .. }) = self.entries.get(slot as usize) else {
            return;
        };
        match self.entries.get_mut(newer as usize) {
            Some(e) => e.older = older,
            None => self.newest = older,
        }
        match self.entries.get_mut(older as usize) {
            Some(e) => e.newer = newer,
            None => self.oldest = newer,
        }
    }

    fn push_newest(&mut self, slot: u32) {
        let previous_newest = self.newest;
        if let Some(e) = self.entries.get_mut(slot as usize) {
            e.newer = NIL;
            e.older = previous_newest;
        }
        match self.entries.get_mut(previous_newest as usize) {
            Some(e) => e.newer = slot,
            None => self.oldest = slot,
        }
        self.newest = slot;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks the recency list from newest to oldest.
    fn recency(limiter: &RateLimiter) -> Vec<IpAddr> {
        let mut out = Vec::new();
        let mut slot = limiter.newest;
        while let Some(e) = limiter.entries.get(slot as usize) {
            out.push(e.source);
            slot = e.older;
        }
        out
    }

    #[test]
    fn recency_list_orders_sources_by_last_request() {
        let now = Instant::now();
        let config = PikeConfig {
            max_sources: 3,
            ..PikeConfig::default()
        };
        let mut limiter = RateLimiter::new(config, now).unwrap();
        let ip = |n: u8| IpAddr::from([10, 0, 0, n]);
        for n in [1, 2, 3, 1] {
            limiter.check(ip(n), now);
        }
        assert_eq!(recency(&limiter), vec![ip(1), ip(3), ip(2)]);
        limiter.check(ip(4), now);
        assert_eq!(recency(&limiter), vec![ip(4), ip(1), ip(3)]);
        assert_eq!(limiter.len(), 3);
        assert_eq!(limiter.index.len(), 3);
    }
}
