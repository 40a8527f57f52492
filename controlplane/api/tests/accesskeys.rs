//! Access keys over the API: the token is shown once, never stored or published in clear,
//! permissions cannot be escalated, and a deleted key stops working at once.

use ferrovox_contract::{Bus, MemoryBus};
use ferrovox_control::{AdminKey, ControlPlane, Engines, ensure_admin};
use ferrovox_testkit::ports::{free_tcp_port, loopback};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

async fn call(
    base: &str,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .header("Authorization", format!("AccessKey {key}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn keys_are_shown_once_scoped_and_revocable() {
    let dir = tempfile::tempdir().unwrap();
    let bus = Arc::new(MemoryBus::new());
    let engines = Engines {
        store: ferrovox_store::open(&format!("sqlite://{}/k.db", dir.path().display()))
            .await
            .unwrap(),
        cache: ferrovox_cache::open("memory://").unwrap(),
        bus: bus.clone(),
    };
    engines.store.migrate().await.unwrap();
    let AdminKey::Created { token: admin, .. } = ensure_admin(engines.store.as_ref(), dir.path())
        .await
        .unwrap()
    else {
        panic!("first start creates a key");
    };
    let mut events = bus.subscribe("accesskey.*").await.unwrap();
    let control = ControlPlane::start(loopback(free_tcp_port()), engines, Arc::new(String::new))
        .await
        .unwrap();
    let base = format!("http://{}", control.addr());

    let (status, created) = call(
        &base,
        Method::POST,
        "/v1.0/accesskeys",
        &admin,
        Some(json!({"name": "ci", "permissions": ["customer_manager"], "expire_days": 30})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"]
        .as_str()
        .expect("the token, once")
        .to_owned();
    assert!(
        token.starts_with("ak_") && token.starts_with(created["token_prefix"].as_str().unwrap())
    );
    assert!(created.get("token_hash").is_none());
    let id = created["id"].as_str().unwrap().to_owned();

    let (status, read) = call(
        &base,
        Method::GET,
        &format!("/v1.0/accesskeys/{id}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        read.get("token").is_none() && read.get("token_hash").is_none(),
        "never again: {read}"
    );
    let event = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.event_type, "accesskey.created");
    assert!(
        !event.data.to_string().contains(&token),
        "events do not carry the token"
    );

    // The new key works with its own permissions, and cannot manage keys.
    assert_eq!(
        call(&base, Method::GET, "/v1.0/numbers", &token, None)
            .await
            .0,
        200
    );
    let (status, body) = call(
        &base,
        Method::POST,
        "/v1.0/numbers",
        &token,
        Some(json!({"number": "+15551110000"})),
    )
    .await;
    assert_eq!(status, 201, "a manager manages numbers: {body}");
    let (status, body) = call(
        &base,
        Method::POST,
        "/v1.0/accesskeys",
        &token,
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("permission_denied"))
    );
    let (status, body) = call(
        &base,
        Method::POST,
        "/v1.0/accesskeys",
        &admin,
        Some(json!({"permissions": ["root"]})),
    )
    .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("permissions")));
    let (status, body) = call(
        &base,
        Method::POST,
        "/v1.0/accesskeys",
        &admin,
        Some(json!({"expire_days": 0})),
    )
    .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("expire_days")));

    let (_, list) = call(&base, Method::GET, "/v1.0/accesskeys", &admin, None).await;
    let listed = list["result"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "the bootstrap key and the new one: {list}");
    assert!(listed.iter().all(|k| k.get("token").is_none()));

    // Revocation is immediate.
    let (status, deleted) = call(
        &base,
        Method::DELETE,
        &format!("/v1.0/accesskeys/{id}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200, "{deleted}");
    let (status, body) = call(&base, Method::GET, "/v1.0/numbers", &token, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    assert_eq!(
        call(&base, Method::GET, "/v1.0/numbers", &admin, None)
            .await
            .0,
        200,
        "others still work"
    );
    control.shutdown().await;
}
