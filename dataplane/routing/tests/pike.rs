//! Per-source rate limiting: allow under the rate, limit above it, recover
//! when the source slows down, stay bounded under a flood of sources.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ferrovox_routing::{ConfigError, LimitAction, PikeAction, PikeConfig, RateLimiter, Verdict};

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Default settings: more than 30 requests per 2 s is over the rate.
fn limiter(t0: Instant) -> RateLimiter {
    RateLimiter::new(PikeConfig::default(), t0).unwrap()
}

#[test]
fn allows_up_to_the_rate_and_limits_above_it() {
    let t0 = Instant::now();
    let mut pike = limiter(t0);
    let source = ip("203.0.113.5");
    for n in 0..30 {
        assert_eq!(
            pike.check(source, t0 + ms(n * 10)),
            Verdict::Allow,
            "request {n}"
        );
    }
    assert_eq!(pike.check(source, t0 + ms(300)), Verdict::Limit);
    assert_eq!(pike.check(source, t0 + ms(310)), Verdict::Limit);
    // Other sources are not affected.
    assert_eq!(pike.check(ip("203.0.113.6"), t0 + ms(320)), Verdict::Allow);
    assert_eq!(
        pike.check(ip("2001:db8:1::1"), t0 + ms(320)),
        Verdict::Allow
    );
}

#[test]
fn a_steady_rate_under_the_threshold_is_never_limited() {
    let t0 = Instant::now();
    let mut pike = limiter(t0);
    let source = ip("198.51.100.7");
    // 14 requests per second for a minute, windows crossed at any phase.
    for n in 0..14 * 60 {
        let now = t0 + ms(n * 1000 / 14 + 3);
        assert_eq!(pike.check(source, now), Verdict::Allow, "request {n}");
    }
}

#[test]
fn a_flooding_source_stays_limited_and_recovers_once_it_slows_down() {
    let t0 = Instant::now();
    let mut pike = limiter(t0);
    let source = ip("192.0.2.99");
    // 100 requests per second for 5 s: limited soon after the start and,
    // since limited requests count, for as long as the flood lasts.
    let mut first_limit = None;
    for n in 0..500u64 {
        let now = t0 + ms(n * 10);
        let verdict = pike.check(source, now);
        match first_limit {
            None if verdict == Verdict::Limit => first_limit = Some(n),
            Some(_) => assert_eq!(verdict, Verdict::Limit, "request {n} during the flood"),
            None => {}
        }
    }
    assert_eq!(first_limit, Some(30));
    // Silent for one window: the previous window's flood still weighs.
    assert_eq!(pike.check(source, t0 + ms(6_100)), Verdict::Limit);
    // Once a whole window has passed without requests, nothing of the
    // flood weighs: the full rate is available again, and no more.
    for n in 0..30 {
        assert_eq!(
            pike.check(source, t0 + ms(10_100 + n)),
            Verdict::Allow,
            "{n}"
        );
    }
    assert_eq!(pike.check(source, t0 + ms(10_200)), Verdict::Limit);
}

#[test]
fn table_stays_bounded_under_a_flood_of_distinct_sources() {
    let t0 = Instant::now();
    let config = PikeConfig {
        max_sources: 1_000,
        ..PikeConfig::default()
    };
    let mut pike = RateLimiter::new(config, t0).unwrap();
    let flooder = ip("192.0.2.1");
    for n in 0..100_000u32 {
        let now = t0 + Duration::from_micros(u64::from(n) * 10);
        let spoofed = IpAddr::from((0x0a00_0000u32 + n).to_be_bytes());
        assert_eq!(pike.check(spoofed, now), Verdict::Allow);
        // The flooder, interleaved, stays among the recently seen and stays limited.
        if n % 10 == 0 {
            let verdict = pike.check(flooder, now);
            if n > 1_000 {
                assert_eq!(verdict, Verdict::Limit, "at {n}");
            }
        }
        assert!(pike.len() <= 1_000);
    }
    assert_eq!(pike.len(), 1_000);
}

#[test]
fn ipv6_sources_count_per_network_and_mapped_ipv4_as_ipv4() {
    let t0 = Instant::now();
    let mut pike = limiter(t0);
    for n in 0..30u16 {
        let host = IpAddr::from([0x2001, 0xdb8, 0, 7, 0, 0, 0, n + 1]);
        assert_eq!(pike.check(host, t0), Verdict::Allow);
    }
    assert_eq!(
        pike.check(ip("2001:db8:0:7:ffff::1"), t0),
        Verdict::Limit,
        "same /64"
    );
    assert_eq!(pike.check(ip("2001:db8:0:8::1"), t0), Verdict::Allow);

    for _ in 0..30 {
        assert_eq!(pike.check(ip("192.0.2.44"), t0), Verdict::Allow);
    }
    assert_eq!(pike.check(ip("::ffff:192.0.2.44"), t0), Verdict::Limit);

    let per_host = PikeConfig {
        ipv6_prefix: 128,
        ..PikeConfig::default()
    };
    let mut pike = RateLimiter::new(per_host, t0).unwrap();
    for n in 0..100u16 {
        let host = IpAddr::from([0x2001, 0xdb8, 0, 7, 0, 0, 0, n + 1]);
        assert_eq!(pike.check(host, t0), Verdict::Allow);
    }
}

#[test]
fn limit_action_and_disabled_limiter_follow_config() {
    let t0 = Instant::now();
    assert_eq!(limiter(t0).on_limit(), LimitAction::Drop);
    let reply = RateLimiter::new(
        PikeConfig {
            action: PikeAction::Reply,
            ..PikeConfig::default()
        },
        t0,
    )
    .unwrap();
    assert_eq!(reply.on_limit(), LimitAction::Reply { retry_after_s: 4 });
    let reply = RateLimiter::new(
        PikeConfig {
            action: PikeAction::Reply,
            retry_after_s: Some(30),
            ..PikeConfig::default()
        },
        t0,
    )
    .unwrap();
    assert_eq!(reply.on_limit(), LimitAction::Reply { retry_after_s: 30 });

    let mut off = RateLimiter::new(
        PikeConfig {
            enabled: false,
            ..PikeConfig::default()
        },
        t0,
    )
    .unwrap();
    for _ in 0..1_000 {
        assert_eq!(off.check(ip("192.0.2.1"), t0), Verdict::Allow);
    }
    assert!(off.is_empty());
}

#[test]
fn unusable_settings_are_refused() {
    let t0 = Instant::now();
    for config in [
        PikeConfig {
            max_requests: 0,
            ..PikeConfig::default()
        },
        PikeConfig {
            window_ms: 0,
            ..PikeConfig::default()
        },
        PikeConfig {
            max_sources: 0,
            ..PikeConfig::default()
        },
        PikeConfig {
            ipv6_prefix: 0,
            ..PikeConfig::default()
        },
        PikeConfig {
            ipv6_prefix: 129,
            ..PikeConfig::default()
        },
    ] {
        assert!(matches!(
            RateLimiter::new(config, t0),
            Err(ConfigError::BadRateLimit(_))
        ));
    }
}
