//! Allow-lists and trunk identification by source address.

use std::net::IpAddr;

use ferrovox_routing::{AllowList, ConfigError, TrunkConfig, Trunks};

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn strings(entries: &[&str]) -> Vec<String> {
    entries.iter().map(|e| (*e).to_owned()).collect()
}

#[test]
fn allow_list_holds_v4_and_v6_addresses_and_blocks() {
    let list = AllowList::new(&strings(&[
        "192.0.2.7",
        "198.51.100.0/24",
        " 10.1.2.3/8 ",
        "2001:db8::5",
        "2001:db8:aaaa::/48",
    ]))
    .unwrap();
    for allowed in [
        "192.0.2.7",
        "198.51.100.0",
        "198.51.100.255",
        "10.200.0.1",
        "2001:db8::5",
        "2001:db8:aaaa:1::9",
        "::ffff:192.0.2.7",
        "::ffff:198.51.100.20",
    ] {
        assert!(list.allows(ip(allowed)), "{allowed}");
    }
    for refused in [
        "192.0.2.8",
        "198.51.101.0",
        "11.0.0.1",
        "2001:db8::6",
        "2001:db8:aaab::1",
        "::ffff:192.0.2.8",
        "::192.0.2.7",
    ] {
        assert!(!list.allows(ip(refused)), "{refused}");
    }
    let empty = AllowList::new(&[]).unwrap();
    assert!(empty.is_empty());
    assert!(!empty.allows(ip("192.0.2.7")));
}

#[test]
fn allow_list_refuses_what_is_not_an_address_or_block() {
    for bad in [
        "192.0.2.300",
        "192.0.2.0/33",
        "2001:db8::/129",
        "pbx.example.com",
        "",
        "192.0.2.0/",
    ] {
        assert_eq!(
            AllowList::new(&strings(&["192.0.2.1", bad])),
            Err(ConfigError::BadAllowEntry {
                trunk: None,
                entry: bad.into()
            }),
            "{bad:?}"
        );
    }
}

fn trunk(name: &str, ips: &[&str], domain: Option<&str>) -> TrunkConfig {
    TrunkConfig {
        name: name.into(),
        allowed_ips: strings(ips),
        domain: domain.map(str::to_owned),
    }
}

#[test]
fn source_belongs_to_the_trunk_with_the_most_specific_block() {
    let trunks = Trunks::new(&[
        trunk("carrier-wide", &["203.0.113.0/24", "2001:db8::/32"], None),
        trunk(
            "pbx-1",
            &["203.0.113.10", "2001:db8:1::/48"],
            Some("pbx1.example.com"),
        ),
        trunk("pbx-2", &["203.0.113.10/32"], Some("PBX2.example.com")),
        trunk("basic-only", &[], Some("basic.example.com")),
    ])
    .unwrap();
    assert_eq!(trunks.trunk_for_source(ip("203.0.113.10")), Some("pbx-1"));
    assert_eq!(
        trunks.trunk_for_source(ip("203.0.113.11")),
        Some("carrier-wide")
    );
    assert_eq!(
        trunks.trunk_for_source(ip("::ffff:203.0.113.10")),
        Some("pbx-1")
    );
    assert_eq!(
        trunks.trunk_for_source(ip("2001:db8:1:2::3")),
        Some("pbx-1")
    );
    assert_eq!(
        trunks.trunk_for_source(ip("2001:db8:2::3")),
        Some("carrier-wide")
    );
    assert_eq!(trunks.trunk_for_source(ip("192.0.2.1")), None);
    assert_eq!(trunks.trunk_for_source(ip("2001:db9::1")), None);

    // A shared address told apart by domain (case-insensitive).
    assert_eq!(
        trunks.trunk_for(ip("203.0.113.10"), "pbx2.EXAMPLE.com"),
        Some("pbx-2")
    );
    assert_eq!(
        trunks.trunk_for(ip("203.0.113.10"), "pbx1.example.com"),
        Some("pbx-1")
    );
    // The domain's trunk does not allow the source: fall back to the source.
    assert_eq!(
        trunks.trunk_for(ip("203.0.113.11"), "pbx2.example.com"),
        Some("carrier-wide")
    );
    assert_eq!(trunks.trunk_for(ip("192.0.2.1"), "basic.example.com"), None);
    assert_eq!(
        trunks.get("pbx-2").and_then(|t| t.domain()),
        Some("PBX2.example.com")
    );
}

#[test]
fn trunk_errors_name_the_trunk() {
    let err = Trunks::new(&[trunk("pbx", &["192.0.2.1", "192.0.2.0/40"], None)]).unwrap_err();
    assert_eq!(
        err,
        ConfigError::BadAllowEntry {
            trunk: Some("pbx".into()),
            entry: "192.0.2.0/40".into()
        }
    );
    assert!(err.to_string().contains("pbx"));
    assert!(matches!(
        Trunks::new(&[trunk("a", &[], None), trunk("a", &[], None)]),
        Err(ConfigError::BadTrunk { index: 1, .. })
    ));
    assert!(matches!(
        Trunks::new(&[
            trunk("a", &[], Some("x.example.com")),
            trunk("b", &[], Some("X.example.com"))
        ]),
        Err(ConfigError::BadTrunk { index: 1, .. })
    ));
    assert!(matches!(
        Trunks::new(&[trunk("", &[], None)]),
        Err(ConfigError::BadTrunk { index: 0, .. })
    ));
}
