//! Gateway health: probe scheduling, down after N failures, up after one
//! success, timeouts, passive reports, sharing between threads.

use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use ferrovox_routing::{
    ConfigError, GatewayConfig, GatewayId, GatewayState, GatewayTransport, Health, HealthConfig,
    Probe, RouteConfig, RouteTable,
};

fn gateway(name: &str, address: &str, probe: bool, interval_ms: Option<u64>) -> GatewayConfig {
    GatewayConfig {
        name: name.into(),
        address: address.into(),
        transport: GatewayTransport::Udp,
        probe,
        probe_interval_ms: interval_ms,
        strip: 0,
        prefix: String::new(),
    }
}

/// a: probed every 5 s (default); b: probed every 2 s; c: not probed.
fn table() -> RouteTable {
    RouteTable::new(
        &[
            gateway("a", "192.0.2.1:5060", true, None),
            gateway("b", "192.0.2.2:5080", true, Some(2_000)),
            gateway("c", "192.0.2.3:5060", false, None),
        ],
        &[RouteConfig {
            prefix: String::new(),
            gateways: vec!["a".into(), "b".into(), "c".into()],
            failover_on: None,
        }],
    )
    .unwrap()
}

fn config() -> HealthConfig {
    HealthConfig {
        probe_timeout_ms: 1_000,
        ..HealthConfig::default()
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn drain(health: &Health, now: Instant) -> Vec<Probe> {
    std::iter::from_fn(|| health.poll_probe(now)).collect()
}

fn names(probes: &[Probe]) -> Vec<&str> {
    probes.iter().map(|p| &*p.name).collect()
}

fn id(table: &RouteTable, name: &str) -> GatewayId {
    table.gateway_by_name(name).unwrap().0
}

#[test]
fn probes_follow_each_gateways_interval() {
    let table = table();
    let t0 = Instant::now();
    let health = Health::new(&table, config(), t0).unwrap();
    assert_eq!(health.next_probe_at(), Some(t0));

    let first = drain(&health, t0);
    assert_eq!(names(&first), ["a", "b"], "unprobed c gets no OPTIONS");
    assert_eq!(&*first[0].uri, "sip:192.0.2.1:5060");
    assert_eq!(&*first[1].uri, "sip:192.0.2.2:5080");
    assert_eq!(first[1].destination, "192.0.2.2:5080".parse().unwrap());
    // Outstanding probes time out at t0 + 1 s.
    assert_eq!(health.next_probe_at(), Some(t0 + ms(1_000)));
    let mut tokens = HashSet::new();
    for probe in &first {
        assert!(tokens.insert(probe.token));
        assert_eq!(
            health.probe_result(probe.token, Some(200), t0 + ms(40)),
            Some(GatewayState::Up)
        );
    }
    assert_eq!(health.next_probe_at(), Some(t0 + ms(2_000)));
    assert!(drain(&health, t0 + ms(1_999)).is_empty());

    let mut sent = Vec::new();
    let mut now = t0;
    while now < t0 + ms(10_000) {
        now = health.next_probe_at().unwrap();
        for probe in drain(&health, now) {
            assert!(tokens.insert(probe.token), "tokens are unique");
            health.probe_result(probe.token, Some(200), now + ms(20));
            sent.push((now.duration_since(t0).as_millis(), probe.name.to_string()));
        }
    }
    let expected: Vec<(u128, String)> = [
        (2_000, "b"),
        (4_000, "b"),
        (5_000, "a"),
        (6_000, "b"),
        (8_000, "b"),
        (10_000, "a"),
        (10_000, "b"),
    ]
    .iter()
    .map(|(t, n)| (*t, (*n).to_owned()))
    .collect();
    assert_eq!(sent, expected);
}

#[test]
fn down_after_consecutive_failures_and_up_after_one_success() {
    let table = table();
    let t0 = Instant::now();
    let health = Health::new(&table, config(), t0).unwrap();
    let a = id(&table, "a");
    let probe_a = |now| {
        drain(&health, now)
            .into_iter()
            .find(|p| p.gateway == a)
            .expect("a's probe is due")
    };

    let p = probe_a(t0);
    assert_eq!(
        health.probe_result(p.token, Some(503), t0 + ms(10)),
        Some(GatewayState::Up),
        "one failure is not enough (down_after = 2)"
    );
    let p = probe_a(t0 + ms(5_000));
    assert_eq!(
        health.probe_result(p.token, None, t0 + ms(5_010)),
        Some(GatewayState::Down)
    );
    assert!(!health.is_up(a, t0 + ms(5_010)));
    assert!(
        !health.is_up(a, t0 + ms(500_000)),
        "a probed gateway stays down until a probe succeeds"
    );
    // 404 to OPTIONS: a SIP stack answered, the gateway is alive.
    let p = probe_a(t0 + ms(10_000));
    assert_eq!(
        health.probe_result(p.token, Some(404), t0 + ms(10_010)),
        Some(GatewayState::Up)
    );
    assert!(health.is_up(a, t0 + ms(10_010)));

    // A success resets the count: failure, success, failure stays up.
    let p = probe_a(t0 + ms(15_000));
    health.probe_result(p.token, Some(408), t0 + ms(15_010));
    let p = probe_a(t0 + ms(20_000));
    health.probe_result(p.token, Some(501), t0 + ms(20_010));
    let p = probe_a(t0 + ms(25_000));
    assert_eq!(
        health.probe_result(p.token, Some(500), t0 + ms(25_010)),
        Some(GatewayState::Up)
    );
}

#[test]
fn unanswered_probes_time_out_as_failures_and_late_answers_are_ignored() {
    let table = table();
    let t0 = Instant::now();
    let health = Health::new(&table, config(), t0).unwrap();
    let a = id(&table, "a");
    let first = drain(&health, t0);
    let late = first.iter().find(|p| p.gateway == a).unwrap().token;
    // Provisional answers neither close nor count.
    assert_eq!(health.probe_result(late, Some(100), t0 + ms(10)), None);
    // Nothing answered by t0 + 1 s: both probes count as failed.
    assert!(drain(&health, t0 + ms(1_000)).is_empty());
    assert_eq!(health.probe_result(late, Some(200), t0 + ms(1_100)), None);
    assert!(health.is_up(a, t0 + ms(1_100)), "one failure of two");

    // Nobody polled at 2 s: b's overdue probe goes first.
    let second = drain(&health, t0 + ms(5_000));
    assert_eq!(names(&second), ["b", "a"]);
    assert!(drain(&health, t0 + ms(6_000)).is_empty());
    assert_eq!(health.state(a, t0 + ms(6_000)), GatewayState::Down);
    let answered = second.iter().find(|p| p.gateway == a).unwrap().token;
    assert_eq!(
        health.probe_result(answered, Some(200), t0 + ms(6_100)),
        None
    );
}

#[test]
fn call_failures_count_passively_and_unprobed_gateways_are_retried_later() {
    let table = table();
    let t0 = Instant::now();
    let health = Health::new(&table, config(), t0).unwrap();
    let c = id(&table, "c");
    assert_eq!(health.report(c, Some(503), t0), GatewayState::Up);
    assert_eq!(
        health.report(c, Some(486), t0),
        GatewayState::Up,
        "a busy callee proves the gateway alive"
    );
    assert_eq!(health.report(c, Some(408), t0), GatewayState::Up);
    assert_eq!(
        health.report(c, Some(500), t0),
        GatewayState::Up,
        "a 500 to one call resets, not counts"
    );
    assert_eq!(health.report(c, None, t0), GatewayState::Up);
    assert_eq!(health.report(c, Some(180), t0), GatewayState::Up);
    assert_eq!(health.report(c, Some(503), t0), GatewayState::Down);
    assert!(!health.is_up(c, t0 + ms(29_999)));
    assert!(
        health.is_up(c, t0 + ms(30_000)),
        "unprobed: tried again after unprobed_retry_ms"
    );
    // Retried: one more failure does not take it down at once...
    assert_eq!(health.report(c, None, t0 + ms(30_100)), GatewayState::Up);
    // ...the second does, for another retry period.
    assert_eq!(health.report(c, None, t0 + ms(30_200)), GatewayState::Down);
    assert!(!health.is_up(c, t0 + ms(60_000)));
    assert!(health.is_up(c, t0 + ms(60_200)));

    // Calls count against probed gateways too.
    let b = id(&table, "b");
    health.report(b, None, t0);
    health.report(b, Some(503), t0);
    assert!(!health.is_up(b, t0 + ms(100_000)));
    let probe = drain(&health, t0 + ms(100_000))
        .into_iter()
        .find(|p| p.gateway == b)
        .unwrap();
    health.probe_result(probe.token, Some(200), t0 + ms(100_050));
    assert!(health.is_up(b, t0 + ms(100_050)));
}

#[test]
fn health_is_shared_between_threads() {
    let table = table();
    let t0 = Instant::now();
    let health = Health::new(&table, config(), t0).unwrap();
    let c = id(&table, "c");
    let barrier = Arc::new(Barrier::new(2));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let core = health.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                core.report(c, None, t0);
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert!(
        !health.is_up(c, t0),
        "one failure from each of two cores makes two"
    );

    // Several cores polling at once: each due probe goes to exactly one.
    let health = Health::new(&table, config(), t0).unwrap();
    let barrier = Arc::new(Barrier::new(4));
    let pollers: Vec<_> = (0..4)
        .map(|_| {
            let core = health.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                drain(&core, t0)
                    .into_iter()
                    .map(|p| p.name.to_string())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<String> = pollers
        .into_iter()
        .flat_map(|p| p.join().unwrap())
        .collect();
    all.sort();
    assert_eq!(all, ["a", "b"]);
}

#[test]
fn impossible_timings_are_refused() {
    let table = table();
    let now = Instant::now();
    let refused = |config: HealthConfig| Health::new(&table, config, now).unwrap_err();
    assert!(matches!(
        refused(HealthConfig {
            down_after: 0,
            ..config()
        }),
        ConfigError::BadHealth(_)
    ));
    assert!(matches!(
        refused(HealthConfig {
            probe_timeout_ms: 6_000,
            ..config()
        }),
        ConfigError::BadHealth(_)
    ));
    // b probes every 2 s, so a 3 s timeout cannot work for it.
    assert_eq!(
        refused(HealthConfig {
            probe_timeout_ms: 3_000,
            ..config()
        }),
        ConfigError::BadProbeTiming {
            gateway: "b".into(),
            reason: "probe_interval_ms must not be below the health probe_timeout_ms"
        }
    );
}
