//! The per-request paths do not allocate: route lookup, health reads and
//! the rate limiter (after its table is full, under churn of sources).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ferrovox_routing::{
    GatewayConfig, GatewayTransport, Health, HealthConfig, PikeConfig, RateLimiter, RouteConfig,
    RouteTable, Verdict,
};

/// Counts allocations made by the current thread (tests run in parallel).
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn the_counter_sees_allocations() {
    assert!(allocations_during(|| drop(std::hint::black_box(vec![1u8; 8]))) > 0);
}

#[test]
fn lookup_and_health_reads_do_not_allocate() {
    let gateways = [GatewayConfig {
        name: "gw".into(),
        address: "192.0.2.1:5060".into(),
        transport: GatewayTransport::Udp,
        probe: true,
        probe_interval_ms: None,
        strip: 0,
        prefix: String::new(),
    }];
    let routes: Vec<RouteConfig> = (0..2_000)
        .map(|n| RouteConfig {
            prefix: format!("+{n}"),
            gateways: vec!["gw".into()],
            failover_on: None,
        })
        .collect();
    let table = RouteTable::new(&gateways, &routes).unwrap();
    let now = Instant::now();
    let health = Health::new(&table, HealthConfig::default(), now).unwrap();
    let users: Vec<String> = (0..1_000).map(|n| format!("+{}5551234", n * 7)).collect();
    let mut found = 0;
    let count = allocations_during(|| {
        for user in &users {
            if let Some(route) = table.lookup(user) {
                found += 1;
                for &gateway in route.gateways() {
                    assert!(health.is_up(gateway, now));
                }
            }
        }
    });
    assert_eq!(found, users.len());
    assert_eq!(count, 0);
}

#[test]
fn rate_limiter_checks_do_not_allocate_after_warm_up() {
    let t0 = Instant::now();
    let config = PikeConfig {
        max_sources: 4_096,
        ..PikeConfig::default()
    };
    let mut pike = RateLimiter::new(config, t0).unwrap();
    let source = |n: u32| IpAddr::from((0x0a00_0000u32 + n).to_be_bytes());
    // Warm-up fills the table once.
    for n in 0..4_096 {
        pike.check(source(n), t0);
    }
    let mut limited = 0;
    let count = allocations_during(|| {
        // Churn: new sources keep evicting old ones, known ones repeat,
        // IPv6 and time moves across windows.
        for n in 0..200_000u32 {
            let now = t0 + Duration::from_micros(u64::from(n) * 50);
            let ip = match n % 4 {
                0 => source(4_096 + n),
                1 => source(n % 64),
                2 => IpAddr::from([0x2001, 0xdb8, (n % 5000) as u16, 0, 0, 0, 0, 1]),
                _ => source(7),
            };
            if pike.check(ip, now) == Verdict::Limit {
                limited += 1;
            }
        }
    });
    assert!(limited > 0, "the repeated sources went over the rate");
    assert_eq!(count, 0);
}
