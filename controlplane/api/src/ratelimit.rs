//! Token buckets per customer (and per source address for failed authentication).
//!
//! Rates follow the source documents: API requests 1,000/min per customer, call creation
//! 100/min, login attempts 10/min; a bucket holds twice its per-minute rate, so short bursts
//! pass. An empty bucket answers 429 with `Retry-After`. Buckets live in this process: with
//! several control planes behind a balancer each enforces its own share.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Requests per minute for each class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub api_per_minute: u32,
    pub calls_per_minute: u32,
    pub logins_per_minute: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            api_per_minute: 1000,
            calls_per_minute: 100,
            logins_per_minute: 10,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Api,
    CallCreate,
    /// Login attempts and failed authentications, keyed by source address.
    Login,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Sweep idle buckets every this many checks, so keys that stop calling do not accumulate.
const SWEEP_EVERY: u32 = 4096;

#[derive(Default)]
struct Buckets {
    by_key: HashMap<(Class, String), Bucket>,
    checks_since_sweep: u32,
}

pub struct RateLimiter {
    limits: RateLimits,
    buckets: Mutex<Buckets>,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        Self {
            limits,
            buckets: Mutex::new(Buckets::default()),
        }
    }

    fn per_minute(&self, class: Class) -> f64 {
        f64::from(match class {
            Class::Api => self.limits.api_per_minute,
            Class::CallCreate => self.limits.calls_per_minute,
            Class::Login => self.limits.logins_per_minute,
        })
    }

    /// Takes one token for `key`, or says how long until one is available.
    pub fn check(&self, class: Class, key: &str, now: Instant) -> Result<(), Duration> {
        let rate = self.per_minute(class) / 60.0;
        let capacity = self.per_minute(class) * 2.0;
        if rate <= 0.0 {
            return Err(Duration::from_secs(60));
        }
        // Each entry is updated in one step; a poisoned lock still holds consistent buckets.
        let mut guard = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let buckets = &mut *guard;
        buckets.checks_since_sweep += 1;
        if buckets.checks_since_sweep >= SWEEP_EVERY {
            buckets.checks_since_sweep = 0;
            // A bucket idle for two minutes is full again: forgetting it changes nothing.
            buckets.by_key.retain(|_, bucket| {
                now.saturating_duration_since(bucket.updated) < Duration::from_secs(120)
            });
        }
        let bucket = buckets
            .by_key
            .entry((class, key.to_owned()))
            .or_insert(Bucket {
                tokens: capacity,
                updated: now,
            });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_holds_twice_the_rate_then_refills_at_the_rate() {
        let limiter = RateLimiter::new(RateLimits {
            api_per_minute: 60,
            calls_per_minute: 6,
            logins_per_minute: 10,
        });
        let start = Instant::now();
        for _ in 0..120 {
            assert!(limiter.check(Class::Api, "a", start).is_ok());
        }
        let wait = limiter.check(Class::Api, "a", start).unwrap_err();
        assert!(
            (0.9..=1.1).contains(&wait.as_secs_f64()),
            "one token per second: {wait:?}"
        );
        assert!(
            limiter.check(Class::Api, "b", start).is_ok(),
            "buckets are per key"
        );
        assert!(
            limiter.check(Class::CallCreate, "a", start).is_ok(),
            "and per class"
        );
        assert!(
            limiter
                .check(Class::Api, "a", start + Duration::from_secs(1))
                .is_ok()
        );
        assert!(
            limiter
                .check(Class::Api, "a", start + Duration::from_secs(1))
                .is_err()
        );
        for _ in 0..120 {
            assert!(
                limiter
                    .check(Class::Api, "a", start + Duration::from_secs(600))
                    .is_ok(),
                "refilled to capacity"
            );
        }
        assert!(
            limiter
                .check(Class::Api, "a", start + Duration::from_secs(600))
                .is_err(),
            "but not beyond"
        );
    }
}
