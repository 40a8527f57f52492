//! Trunks and extensions: field validation, write-only passwords, uniqueness of the names
//! SIP looks them up by — on both engine sets.

mod common;

use common::{call, expect};
use ferrovox_control::Engines;
use reqwest::Method;
use serde_json::json;

async fn sip_accounts_behave(engines: Engines, data_dir: &std::path::Path) {
    let key = common::admin_key(&engines, data_dir).await;
    let (control, base) = common::start_control(&engines).await;

    // Trunks.
    let trunk = expect(&base, Method::POST, "/v1.0/trunks", &key, Some(json!({
        "domain_name": "acme", "auth_types": ["basic"], "username": "acme-pbx", "password": "trunk-secret-1"
    })), 201).await;
    assert_eq!(trunk["realm"], "acme", "realm defaults to the domain");
    assert!(
        !trunk.to_string().contains("trunk-secret-1"),
        "write-only: {trunk}"
    );
    let (status, error) = call(
        &base,
        Method::POST,
        "/v1.0/trunks",
        &key,
        Some(json!({
            "domain_name": "acme", "auth_types": ["ip"], "allowed_ips": ["192.0.2.0/24"]
        })),
    )
    .await;
    assert_eq!(
        (status, error["error"].as_str()),
        (409, Some("conflict")),
        "one live trunk per domain: {error}"
    );
    for (body, field) in [
        (
            json!({"domain_name": "b1", "auth_types": ["ip"]}),
            "allowed_ips",
        ),
        (
            json!({"domain_name": "b2", "auth_types": ["ip"], "allowed_ips": ["192.0.2.0/33"]}),
            "allowed_ips",
        ),
        (
            json!({"domain_name": "b3", "auth_types": ["basic"], "username": "u", "password": "short"}),
            "password",
        ),
        (
            json!({"domain_name": "b4", "auth_types": ["token"]}),
            "auth_types",
        ),
        (
            json!({"domain_name": "not a domain", "auth_types": ["ip"], "allowed_ips": ["192.0.2.1"]}),
            "domain_name",
        ),
    ] {
        common::expect_invalid(&base, Method::POST, "/v1.0/trunks", &key, body, field).await;
    }
    let id = trunk["id"].as_str().unwrap();
    let (status, updated) = call(
        &base,
        Method::PUT,
        &format!("/v1.0/trunks/{id}"),
        &key,
        Some(json!({
            "auth_types": ["basic", "ip"], "allowed_ips": ["198.51.100.7", "2001:db8::/32"]
        })),
    )
    .await;
    assert_eq!(
        status, 200,
        "the stored password still satisfies basic: {updated}"
    );
    assert_eq!(updated["auth_types"], json!(["basic", "ip"]));

    // Extensions.
    let phone = expect(
        &base,
        Method::POST,
        "/v1.0/extensions",
        &key,
        Some(json!({"extension": "1001", "password": "phone-pass-1"})),
        201,
    )
    .await;
    assert_eq!(
        phone["username"], "1001",
        "the username defaults to the extension"
    );
    assert!(
        phone["domain_name"]
            .as_str()
            .unwrap()
            .ends_with(".registrar")
    );
    assert!(!phone.to_string().contains("phone-pass-1"));
    let (status, _) = call(
        &base,
        Method::POST,
        "/v1.0/extensions",
        &key,
        Some(json!({"extension": "1002", "username": "1001", "password": "phone-pass-2"})),
    )
    .await;
    assert_eq!(status, 409, "one live user per domain");
    for (body, field) in [
        (
            json!({"extension": "1", "password": "phone-pass-1"}),
            "extension",
        ),
        (
            json!({"extension": "12ab", "password": "phone-pass-1"}),
            "extension",
        ),
        (
            json!({"extension": "1003", "password": "short"}),
            "password",
        ),
        (
            json!({"extension": "1003", "password": "phone-pass-1", "username": "bad user"}),
            "username",
        ),
    ] {
        common::expect_invalid(&base, Method::POST, "/v1.0/extensions", &key, body, field).await;
    }
    let id = phone["id"].as_str().unwrap();
    expect(
        &base,
        Method::PUT,
        &format!("/v1.0/extensions/{id}"),
        &key,
        Some(json!({"password": "new-pass-99"})),
        200,
    )
    .await;
    assert_eq!(
        call(
            &base,
            Method::DELETE,
            &format!("/v1.0/extensions/{id}"),
            &key,
            None
        )
        .await
        .0,
        200
    );
    let (status, again) = call(
        &base,
        Method::POST,
        "/v1.0/extensions",
        &key,
        Some(json!({"extension": "1001", "password": "phone-pass-3"})),
    )
    .await;
    assert_eq!(status, 201, "a deleted extension frees its name: {again}");
    control.shutdown().await;
}

on_both_stacks!(sip_accounts_behave:
    sip_accounts_on_the_embedded_engines,
    sip_accounts_on_mariadb_redis_rabbitmq);
