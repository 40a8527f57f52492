//! Route table: longest-prefix lookup, default route, Request-URI
//! rewriting, plans around down gateways, configuration errors.

use std::time::{Duration, Instant};

use ferrovox_routing::{
    ConfigError, GatewayConfig, GatewayTransport, Health, HealthConfig, PlanError, RouteConfig,
    RouteTable,
};
use ferrovox_sip::transaction::Transport;

fn gateway(name: &str, address: &str) -> GatewayConfig {
    GatewayConfig {
        name: name.into(),
        address: address.into(),
        transport: GatewayTransport::Udp,
        probe: false,
        probe_interval_ms: None,
        strip: 0,
        prefix: String::new(),
    }
}

fn route(prefix: &str, gateways: &[&str]) -> RouteConfig {
    RouteConfig {
        prefix: prefix.into(),
        gateways: gateways.iter().map(|g| (*g).to_owned()).collect(),
        failover_on: None,
    }
}

fn prefixes_table(prefixes: &[&str]) -> RouteTable {
    let gateways = [gateway("gw", "192.0.2.1:5060")];
    let routes: Vec<_> = prefixes.iter().map(|p| route(p, &["gw"])).collect();
    RouteTable::new(&gateways, &routes).unwrap()
}

fn matched<'a>(table: &'a RouteTable, user: &str) -> Option<&'a str> {
    table.lookup(user).map(|r| r.prefix())
}

#[test]
fn longest_of_overlapping_prefixes_wins() {
    let table = prefixes_table(&["1", "12", "1234", "+1", "+12", "44", "*67", "#"]);
    assert_eq!(matched(&table, "12345"), Some("1234"));
    assert_eq!(matched(&table, "1234"), Some("1234"));
    assert_eq!(matched(&table, "1239"), Some("12"));
    assert_eq!(matched(&table, "19"), Some("1"));
    assert_eq!(matched(&table, "1"), Some("1"));
    assert_eq!(matched(&table, "+1212555"), Some("+12"));
    assert_eq!(matched(&table, "+1312555"), Some("+1"));
    assert_eq!(matched(&table, "*6712"), Some("*67"));
    assert_eq!(matched(&table, "#21#"), Some("#"));
    // Literal matching: no '+' folding either way.
    assert_eq!(matched(&table, "+44207"), None);
    assert_eq!(matched(&table, "44207"), Some("44"));
    // Matching stops at the first character no prefix can hold.
    assert_eq!(matched(&table, "12;npdi"), Some("12"));
    assert_eq!(matched(&table, "alice"), None);
    assert_eq!(matched(&table, ""), None);
}

#[test]
fn default_route_catches_what_no_prefix_matches() {
    for default in ["", "*"] {
        let table = prefixes_table(&["44", default, "1"]);
        let fallback = table.lookup("33123").unwrap();
        assert!(fallback.is_default());
        assert_eq!(fallback.prefix(), "");
        assert!(table.lookup("alice").unwrap().is_default());
        assert_eq!(matched(&table, "4420"), Some("44"));
    }
    // "*" alone is the default; as part of a prefix it is a character.
    let table = prefixes_table(&["*", "*6"]);
    assert_eq!(matched(&table, "*61"), Some("*6"));
    assert_eq!(matched(&table, "61"), Some(""));
}

#[test]
fn thousands_of_routes_match_like_a_linear_longest_prefix_scan() {
    // Deterministic pseudo-random prefixes over the whole alphabet.
    let alphabet = b"0123456789+*#";
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut prefixes = std::collections::BTreeSet::new();
    while prefixes.len() < 5000 {
        let len = 1 + (next() % 7) as usize;
        let p: String = (0..len)
            .map(|_| char::from(alphabet[(next() % 13) as usize]))
            .collect();
        if p != "*" {
            prefixes.insert(p);
        }
    }
    let prefixes: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    let table = prefixes_table(&prefixes);
    for _ in 0..20_000 {
        let len = (next() % 10) as usize;
        let user: String = (0..len)
            .map(|_| char::from(alphabet[(next() % 13) as usize]))
            .collect();
        let expected = prefixes
            .iter()
            .filter(|p| user.starts_with(**p))
            .max_by_key(|p| p.len())
            .copied();
        assert_eq!(matched(&table, &user), expected, "user {user:?}");
    }
}

fn carrier_table() -> RouteTable {
    let mut a = gateway("carrier-a", "192.0.2.10:5060");
    a.strip = 1;
    a.prefix = "0011#".into();
    let mut b = gateway("carrier-b", "[2001:db8::20]:5070");
    b.transport = GatewayTransport::Tcp;
    let c = gateway("carrier-c", "198.51.100.3");
    let routes = [
        route("+1", &["carrier-a", "carrier-b", "carrier-c"]),
        route("+44", &["carrier-b"]),
        route("", &["carrier-c"]),
    ];
    RouteTable::new(&[a, b, c], &routes).unwrap()
}

#[test]
fn plan_rewrites_request_uri_per_gateway_in_failover_order() {
    let table = carrier_table();
    let now = Instant::now();
    let health = Health::new(&table, HealthConfig::default(), now).unwrap();
    let plan = table.plan("sip:+15551234@edge.example.com;user=phone", &health, now);
    let uris: Vec<&str> = plan.iter().map(|t| t.request_uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            // strip 1 drops '+', tech prefix '#' escaped as the URI grammar demands
            "sip:0011%2315551234@192.0.2.10:5060",
            "sip:+15551234@[2001:db8::20]:5070",
            // bare IP address: port 5060
            "sip:+15551234@198.51.100.3:5060",
        ]
    );
    assert_eq!(&*plan[0].name, "carrier-a");
    assert_eq!(plan[1].destination, "[2001:db8::20]:5070".parse().unwrap());
    assert_eq!(plan[1].transport, Transport::Tcp);
    assert_eq!(plan[1].peer().transport, Transport::Tcp);
    assert_eq!(plan[2].transport, Transport::Udp);
}

#[test]
fn plan_unescapes_sip_users_and_reads_tel_numbers() {
    let table = carrier_table();
    let now = Instant::now();
    let health = Health::new(&table, HealthConfig::default(), now).unwrap();
    let escaped = table.plan("sips:%2B4420799@example.com", &health, now);
    assert_eq!(escaped.len(), 1);
    assert_eq!(escaped[0].request_uri, "sip:+4420799@[2001:db8::20]:5070");
    let tel = table.plan("tel:+44-20-7946-0958;phone-context=+44", &health, now);
    assert_eq!(tel[0].request_uri, "sip:+442079460958@[2001:db8::20]:5070");
    let name = table.plan("sip:alice@example.com", &health, now);
    assert_eq!(name[0].request_uri, "sip:alice@198.51.100.3:5060");
}

#[test]
fn plan_explains_what_cannot_be_routed() {
    let table = carrier_table();
    let now = Instant::now();
    let health = Health::new(&table, HealthConfig::default(), now).unwrap();
    assert_eq!(
        table.try_plan("not a uri", &health, now),
        Err(PlanError::BadRequestUri)
    );
    assert_eq!(
        table.try_plan("sip:example.com", &health, now),
        Err(PlanError::NoUser)
    );
    assert_eq!(
        table.try_plan("mailto:bob@example.com", &health, now),
        Err(PlanError::NoUser)
    );
    assert!(table.plan("sip:example.com", &health, now).is_empty());

    let no_default =
        RouteTable::new(&[gateway("gw", "192.0.2.1:5060")], &[route("+1", &["gw"])]).unwrap();
    let health = Health::new(&no_default, HealthConfig::default(), now).unwrap();
    assert_eq!(
        no_default.try_plan("sip:+33123@example.com", &health, now),
        Err(PlanError::NoRoute)
    );

    let mut strips_all = gateway("gw", "192.0.2.1:5060");
    strips_all.strip = 4;
    let table = RouteTable::new(&[strips_all], &[route("", &["gw"])]).unwrap();
    let health = Health::new(&table, HealthConfig::default(), now).unwrap();
    assert_eq!(
        table.try_plan("sip:1234@example.com", &health, now),
        Err(PlanError::NothingToDial)
    );
    assert_eq!(
        table
            .try_plan("sip:12345@example.com", &health, now)
            .unwrap()[0]
            .request_uri,
        "sip:5@192.0.2.1:5060"
    );
}

#[test]
fn plan_skips_down_gateways_but_tries_all_when_all_are_down() {
    let table = carrier_table();
    let now = Instant::now();
    let health = Health::new(&table, HealthConfig::default(), now).unwrap();
    let (a, _) = table.gateway_by_name("carrier-a").unwrap();
    let (b, _) = table.gateway_by_name("carrier-b").unwrap();
    let (c, _) = table.gateway_by_name("carrier-c").unwrap();
    for id in [a, c] {
        health.report(id, Some(503), now);
        health.report(id, None, now);
    }
    let names = |plan: Vec<ferrovox_routing::GatewayTarget>| -> Vec<String> {
        plan.iter().map(|t| t.name.to_string()).collect()
    };
    assert_eq!(
        names(table.plan("sip:+15551234@x", &health, now)),
        ["carrier-b"]
    );
    health.report(b, Some(408), now);
    health.report(b, Some(408), now);
    assert_eq!(
        names(table.plan("sip:+15551234@x", &health, now)),
        ["carrier-a", "carrier-b", "carrier-c"]
    );
    // An answer from a gateway tried while all were down brings it back.
    health.report(c, Some(486), now + Duration::from_secs(1));
    assert_eq!(
        names(table.plan("sip:+15551234@x", &health, now)),
        ["carrier-c"]
    );
}

#[test]
fn route_failover_statuses_default_or_configured() {
    let gateways = [gateway("gw", "192.0.2.1:5060")];
    let mut custom = route("+1", &["gw"]);
    custom.failover_on = Some(vec![486, 503]);
    let table = RouteTable::new(&gateways, &[custom, route("", &["gw"])]).unwrap();
    let us = table.lookup("+1555").unwrap();
    assert!(us.should_failover(486) && us.should_failover(503));
    assert!(!us.should_failover(500) && !us.should_failover(408));
    let other = table.lookup("+33").unwrap();
    assert!(other.should_failover(408) && other.should_failover(500));
    assert!(!other.should_failover(486) && !other.should_failover(603));

    let now = Instant::now();
    let health = Health::new(&table, HealthConfig::default(), now).unwrap();
    let plan = table.plan("sip:+1555@x", &health, now);
    assert!(plan[0].should_failover(486));
    assert!(!plan[0].should_failover(500));
}

#[test]
fn configuration_errors_name_the_entry() {
    let gw = || gateway("carrier-a", "192.0.2.1:5060");
    let err = |gateways: &[GatewayConfig], routes: &[RouteConfig]| {
        RouteTable::new(gateways, routes).unwrap_err()
    };
    let unknown = err(&[gw()], &[route("+1", &["carrier-a", "carrier-z"])]);
    assert_eq!(
        unknown,
        ConfigError::UnknownGateway {
            prefix: "+1".into(),
            gateway: "carrier-z".into()
        }
    );
    assert!(unknown.to_string().contains("carrier-z"));
    assert!(unknown.to_string().contains("+1"));

    assert_eq!(
        err(&[gw(), gw()], &[]),
        ConfigError::DuplicateGateway {
            name: "carrier-a".into()
        }
    );
    assert_eq!(
        err(&[gateway(" ", "192.0.2.1")], &[]),
        ConfigError::EmptyGatewayName { index: 0 }
    );
    for bad in [
        "carrier.example.com:5060",
        "192.0.2.1:99999",
        "192.0.2.1:0",
        "",
        "0.0.0.0:5060",
        "192.0.2:5060",
    ] {
        match err(&[gateway("carrier-a", bad)], &[]) {
            ConfigError::BadAddress {
                gateway, address, ..
            } => {
                assert_eq!(gateway, "carrier-a");
                assert_eq!(address, bad);
            }
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    let hostname = err(&[gateway("carrier-a", "sip.carrier.example:5060")], &[]);
    assert!(hostname.to_string().contains("host names"), "{hostname}");

    let mut bad_prefix = gw();
    bad_prefix.prefix = "9@".into();
    assert!(matches!(
        err(&[bad_prefix], &[]),
        ConfigError::BadGatewayPrefix { .. }
    ));

    assert_eq!(
        err(
            &[gw()],
            &[route("", &["carrier-a"]), route("*", &["carrier-a"])]
        ),
        ConfigError::DuplicateRoute { prefix: "*".into() }
    );
    assert_eq!(
        err(
            &[gw()],
            &[route("+1", &["carrier-a"]), route("+1", &["carrier-a"])]
        ),
        ConfigError::DuplicateRoute {
            prefix: "+1".into()
        }
    );
    assert_eq!(
        err(&[gw()], &[route("1a", &["carrier-a"])]),
        ConfigError::BadRoutePrefix {
            prefix: "1a".into()
        }
    );
    assert_eq!(
        err(&[gw()], &[route("1", &[])]),
        ConfigError::EmptyRoute { prefix: "1".into() }
    );
    assert_eq!(
        err(&[gw()], &[route("1", &["carrier-a", "carrier-a"])]),
        ConfigError::RepeatedGateway {
            prefix: "1".into(),
            gateway: "carrier-a".into()
        }
    );
    let mut bad_failover = route("1", &["carrier-a"]);
    bad_failover.failover_on = Some(vec![503, 200]);
    assert_eq!(
        err(&[gw()], &[bad_failover]),
        ConfigError::BadFailoverStatus {
            prefix: "1".into(),
            status: 200
        }
    );
}
