//! Extensions, trunks, providers and routes reach media nodes as one SIP directory on the bus
//! — on both engine sets.

mod common;

use common::{directory_where, expect};
use ferrovox_contract::SIP_DIRECTORY_EVENT;
use ferrovox_control::Engines;
use reqwest::Method;
use serde_json::json;

async fn directory_follows_resources(engines: Engines, data_dir: &std::path::Path) {
    let key = common::admin_key(&engines, data_dir).await;
    let mut subscription = engines.bus.subscribe(SIP_DIRECTORY_EVENT).await.unwrap();
    let (control, base) = common::start_control(&engines).await;
    let create = async |path: &str, body: serde_json::Value| {
        expect(&base, Method::POST, path, &key, Some(body), 201).await
    };

    let phone = create(
        "/v1.0/extensions",
        json!({"extension": "2001", "password": "phone-pass-9"}),
    )
    .await;
    create(
        "/v1.0/trunks",
        json!({
            "domain_name": "pbx-dir", "auth_types": ["ip"], "allowed_ips": ["198.51.100.0/24"]
        }),
    )
    .await;
    let provider = create(
        "/v1.0/providers",
        json!({"hostname": "192.0.2.50", "port": 5070, "transport": "udp", "tech_prefix": "77"}),
    )
    .await;
    let provider_id = provider["id"].as_str().unwrap().to_owned();
    create(
        "/v1.0/providers",
        json!({"hostname": "sip.carrier.example", "transport": "udp"}),
    )
    .await;
    create(
        "/v1.0/routes",
        json!({"provider_id": provider_id, "target": "+44", "priority": 10}),
    )
    .await;

    let directory = directory_where(&mut subscription, |d| !d.routes.is_empty()).await;
    let account = directory
        .accounts
        .iter()
        .find(|a| a.username == "2001")
        .expect("the extension is an account");
    assert_eq!(account.password, "phone-pass-9", "nodes need the secret");
    assert_eq!(directory.trunks.len(), 1);
    assert_eq!(directory.trunks[0].allowed_ips, vec!["198.51.100.0/24"]);
    assert_eq!(
        directory.gateways.len(),
        1,
        "a provider named by host name is left out (no DNS on the signalling path)"
    );
    assert_eq!(directory.gateways[0].address, "192.0.2.50:5070");
    assert_eq!(directory.gateways[0].prefix, "77");
    assert_eq!(directory.routes[0].prefix, "+44");
    assert_eq!(directory.routes[0].gateways, vec![provider_id]);

    // A deleted extension leaves the next directory; versions only grow.
    let phone_id = phone["id"].as_str().unwrap();
    expect(
        &base,
        Method::DELETE,
        &format!("/v1.0/extensions/{phone_id}"),
        &key,
        None,
        200,
    )
    .await;
    let after = directory_where(&mut subscription, |d| {
        d.accounts.iter().all(|a| a.username != "2001")
    })
    .await;
    assert!(after.version > directory.version);
    control.shutdown().await;
}

on_both_stacks!(directory_follows_resources:
    directory_follows_resources_on_the_embedded_default,
    directory_follows_resources_on_the_dev_stack);
