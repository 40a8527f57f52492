//! Providers and routes: validation naming the field, write-only gateway passwords, routes
//! that must point at a live provider of the same customer — on both engine sets.

mod common;

use common::{call, expect};
use ferrovox_control::Engines;
use reqwest::Method;
use serde_json::json;

async fn carriers_behave(engines: Engines, data_dir: &std::path::Path) {
    let key = common::admin_key(&engines, data_dir).await;
    let (control, base) = common::start_control(&engines).await;

    let provider = expect(&base, Method::POST, "/v1.0/providers", &key, Some(json!({
        "hostname": "sip.carrier.example", "transport": "tls", "tech_prefix": "1234#",
        "codecs": ["PCMA", "G722", "telephone-event"], "auth_username": "acct", "auth_password": "hunter22"
    })), 201).await;
    assert_eq!(provider["port"], 5061, "tls defaults to 5061");
    assert!(
        !provider.to_string().contains("hunter22"),
        "the password is write-only: {provider}"
    );
    let provider_id = provider["id"].as_str().unwrap().to_owned();
    for (body, field) in [
        (json!({"hostname": "bad host!"}), "hostname"),
        (
            json!({"hostname": "10.0.0.1", "transport": "sctp"}),
            "transport",
        ),
        (json!({"hostname": "10.0.0.1", "port": 0}), "port"),
        (
            json!({"hostname": "10.0.0.1", "codecs": ["G729"]}),
            "codecs",
        ),
        (
            json!({"hostname": "10.0.0.1", "tech_prefix": "12a"}),
            "tech_prefix",
        ),
    ] {
        common::expect_invalid(&base, Method::POST, "/v1.0/providers", &key, body, field).await;
    }

    // Routes point at a live provider of the same customer.
    let route = expect(
        &base,
        Method::POST,
        "/v1.0/routes",
        &key,
        Some(json!({"provider_id": provider_id, "target": "+44", "priority": 10})),
        201,
    )
    .await;
    assert_eq!(
        (route["target"].as_str(), route["priority"].as_u64()),
        (Some("+44"), Some(10))
    );
    let (status, error) = call(
        &base,
        Method::POST,
        "/v1.0/routes",
        &key,
        Some(json!({"provider_id": uuid::Uuid::new_v4()})),
    )
    .await;
    assert_eq!(
        (status, error["field"].as_str()),
        (400, Some("provider_id")),
        "{error}"
    );
    let (status, error) = call(
        &base,
        Method::POST,
        "/v1.0/routes",
        &key,
        Some(json!({"provider_id": provider_id, "target": "44"})),
    )
    .await;
    assert_eq!((status, error["field"].as_str()), (400, Some("target")));
    let (status, all) = call(
        &base,
        Method::POST,
        "/v1.0/routes",
        &key,
        Some(json!({"provider_id": provider_id})),
    )
    .await;
    assert_eq!(
        (status, all["target"].as_str(), all["priority"].as_u64()),
        (201, Some("all"), Some(0))
    );

    // Updating the provider keeps its password unless a new one is sent.
    let (status, updated) = call(
        &base,
        Method::PUT,
        &format!("/v1.0/providers/{provider_id}"),
        &key,
        Some(json!({"port": 5080, "transport": "udp"})),
    )
    .await;
    assert_eq!(
        (
            status,
            updated["port"].as_u64(),
            updated["transport"].as_str()
        ),
        (200, Some(5080), Some("udp")),
        "{updated}"
    );

    // A route cannot be moved to a provider that was deleted.
    let (_, spare) = call(
        &base,
        Method::POST,
        "/v1.0/providers",
        &key,
        Some(json!({"hostname": "192.0.2.7"})),
    )
    .await;
    let spare_id = spare["id"].as_str().unwrap().to_owned();
    assert_eq!(
        call(
            &base,
            Method::DELETE,
            &format!("/v1.0/providers/{spare_id}"),
            &key,
            None
        )
        .await
        .0,
        200
    );
    let route_id = route["id"].as_str().unwrap();
    let (status, error) = call(
        &base,
        Method::PUT,
        &format!("/v1.0/routes/{route_id}"),
        &key,
        Some(json!({"provider_id": spare_id})),
    )
    .await;
    assert_eq!(
        (status, error["field"].as_str()),
        (400, Some("provider_id")),
        "{error}"
    );
    let (_, routes) = call(&base, Method::GET, "/v1.0/routes", &key, None).await;
    assert_eq!(routes["result"].as_array().unwrap().len(), 2);
    control.shutdown().await;
}

on_both_stacks!(carriers_behave:
    carriers_on_the_embedded_engines,
    carriers_on_mariadb_redis_rabbitmq);
