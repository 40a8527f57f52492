//! Extensions, trunks, providers and routes reach media nodes as one SIP directory on the bus
//! — on both engine sets.

mod common;

use common::call;
use ferrovox_contract::{Event, SIP_DIRECTORY_EVENT, SipDirectory, Subscription};
use ferrovox_control::{ControlPlane, Engines};
use ferrovox_testkit::ports::{free_tcp_port, loopback};
use reqwest::Method;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// The next directory for which `done` holds, within 10 s.
async fn directory_where(
    subscription: &mut Subscription,
    done: impl Fn(&SipDirectory) -> bool,
) -> SipDirectory {
    let wait = async {
        loop {
            let event: Event = subscription.next().await.expect("bus subscription open");
            let directory: SipDirectory =
                serde_json::from_value(event.data).expect("a directory event carries a directory");
            if done(&directory) {
                return directory;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("the expected SIP directory was published within 10 s")
}

async fn directory_follows_resources(engines: Engines, data_dir: &std::path::Path) {
    let key = common::admin_key(&engines, data_dir).await;
    let mut subscription = engines.bus.subscribe(SIP_DIRECTORY_EVENT).await.unwrap();
    let control = ControlPlane::start(
        loopback(free_tcp_port()),
        engines.clone(),
        Arc::new(String::new),
    )
    .await
    .unwrap();
    let base = format!("http://{}", control.addr());

    let (status, phone) = call(
        &base,
        Method::POST,
        "/v1.0/extensions",
        &key,
        Some(json!({"extension": "2001", "password": "phone-pass-9"})),
    )
    .await;
    assert_eq!(status, 201, "{phone}");
    let (status, _) = call(
        &base,
        Method::POST,
        "/v1.0/trunks",
        &key,
        Some(json!({
            "domain_name": "pbx-dir", "auth_types": ["ip"], "allowed_ips": ["198.51.100.0/24"]
        })),
    )
    .await;
    assert_eq!(status, 201);
    let (status, provider) = call(
        &base,
        Method::POST,
        "/v1.0/providers",
        &key,
        Some(json!({"hostname": "192.0.2.50", "port": 5070, "transport": "udp", "tech_prefix": "77"})),
    )
    .await;
    assert_eq!(status, 201, "{provider}");
    let provider_id = provider["id"].as_str().unwrap().to_owned();
    let (status, named) = call(
        &base,
        Method::POST,
        "/v1.0/providers",
        &key,
        Some(json!({"hostname": "sip.carrier.example", "transport": "udp"})),
    )
    .await;
    assert_eq!(status, 201, "{named}");
    let (status, _) = call(
        &base,
        Method::POST,
        "/v1.0/routes",
        &key,
        Some(json!({"provider_id": provider_id, "target": "+44", "priority": 10})),
    )
    .await;
    assert_eq!(status, 201);

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
    let (status, _) = call(
        &base,
        Method::DELETE,
        &format!("/v1.0/extensions/{phone_id}"),
        &key,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let after = directory_where(&mut subscription, |d| {
        d.accounts.iter().all(|a| a.username != "2001")
    })
    .await;
    assert!(after.version > directory.version);
    control.shutdown().await;
}

#[tokio::test]
async fn directory_follows_resources_on_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let engines = common::embedded(dir.path()).await;
    directory_follows_resources(engines, dir.path()).await;
}

#[tokio::test]
async fn directory_follows_resources_on_the_dev_stack() {
    let dir = tempfile::tempdir().unwrap();
    directory_follows_resources(common::dev_stack().await, dir.path()).await;
}
