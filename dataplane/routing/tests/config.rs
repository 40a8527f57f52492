//! The configuration as an operator writes it: TOML, defaults, typos refused.

use ferrovox_routing::{
    GatewayConfig, GatewayTransport, Health, HealthConfig, PikeAction, PikeConfig, RouteConfig,
    RouteTable, RoutingConfig, Trunks,
};
use serde::Deserialize;

/// How the proxy's own section embeds the gateway and route lists.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    proxy: Proxy,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Proxy {
    gateways: Vec<GatewayConfig>,
    routes: Vec<RouteConfig>,
}

#[test]
fn proxy_section_from_the_brief_deserialises_and_builds() {
    let file: File = toml::from_str(
        r#"
        [[proxy.gateways]]
        name = "carrier-a"
        address = "127.0.0.1:5081"
        transport = "udp"
        probe = true
        strip = 0
        prefix = ""

        [[proxy.gateways]]
        name = "carrier-b"
        address = "[::1]:5082"
        transport = "tcp"
        probe_interval_ms = 10000

        [[proxy.routes]]
        prefix = "+1"
        gateways = ["carrier-a", "carrier-b"]
        failover_on = [408, 503]

        [[proxy.routes]]
        prefix = "*"
        gateways = ["carrier-b"]
        "#,
    )
    .unwrap();
    let b = &file.proxy.gateways[1];
    assert_eq!(b.transport, GatewayTransport::Tcp);
    assert!(!b.probe, "probing is off unless asked for");
    assert_eq!(b.strip, 0);
    assert_eq!(b.prefix, "");
    assert_eq!(b.probe_interval_ms, Some(10_000));
    assert_eq!(file.proxy.routes[0].failover_on, Some(vec![408, 503]));
    assert_eq!(file.proxy.routes[1].failover_on, None);

    let table = RouteTable::new(&file.proxy.gateways, &file.proxy.routes).unwrap();
    assert_eq!(table.gateways()[1].address(), "[::1]:5082".parse().unwrap());
    assert!(table.lookup("+44").unwrap().is_default());
}

#[test]
fn whole_routing_section_with_defaults() {
    let config: RoutingConfig = toml::from_str(
        r#"
        [[gateways]]
        name = "gw"
        address = "192.0.2.1"

        [[routes]]
        gateways = ["gw"]

        [health]
        down_after = 3

        [pike]
        action = "reply"
        max_requests = 50

        [[trunks]]
        name = "pbx"
        allowed_ips = ["192.0.2.0/24", "2001:db8::/64"]
        domain = "pbx.example.com"
        "#,
    )
    .unwrap();
    assert_eq!(config.gateways[0].transport, GatewayTransport::Udp);
    assert_eq!(
        config.routes[0].prefix, "",
        "a route without prefix is the default"
    );
    assert_eq!(
        config.health,
        HealthConfig {
            down_after: 3,
            ..HealthConfig::default()
        }
    );
    assert_eq!(config.health.probe_interval_ms, 5_000);
    assert_eq!(
        config.pike,
        PikeConfig {
            action: PikeAction::Reply,
            max_requests: 50,
            ..PikeConfig::default()
        }
    );
    assert_eq!(config.pike.window_ms, 2_000);
    let table = RouteTable::new(&config.gateways, &config.routes).unwrap();
    Health::new(&table, config.health, std::time::Instant::now()).unwrap();
    let trunks = Trunks::new(&config.trunks).unwrap();
    assert_eq!(
        trunks.trunk_for_source("2001:db8::9".parse().unwrap()),
        Some("pbx")
    );

    let empty: RoutingConfig = toml::from_str("").unwrap();
    assert_eq!(empty, RoutingConfig::default());
}

#[test]
fn typos_and_bad_values_are_refused() {
    for (text, expected) in [
        (
            "[[gateways]]\nname = \"gw\"\naddress = \"192.0.2.1\"\nprobes = true\n",
            "unknown field `probes`",
        ),
        (
            "[[gateways]]\nname = \"gw\"\naddress = \"192.0.2.1\"\ntransport = \"sctp\"\n",
            "unknown variant `sctp`",
        ),
        ("[[routes]]\nprefix = \"1\"\n", "missing field `gateways`"),
        ("[pike]\naction = \"reject\"\n", "unknown variant `reject`"),
        ("[health]\ninterval = 5\n", "unknown field `interval`"),
        (
            "[[trunks]]\nname = \"t\"\nallowed = [\"192.0.2.1\"]\n",
            "unknown field `allowed`",
        ),
        ("[routing]\n", "unknown field `routing`"),
    ] {
        let err = toml::from_str::<RoutingConfig>(text).unwrap_err();
        assert!(err.to_string().contains(expected), "{text:?}: {err}");
    }
}
