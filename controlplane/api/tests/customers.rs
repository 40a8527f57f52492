//! The caller's customer end to end: reading it, a customer admin changing the profile and
//! webhook target (validated, naming the field), rotating the write-only webhook secret, and
//! the limits of the other permissions and customers — on the embedded engines and on real
//! MariaDB/Redis/RabbitMQ.

mod common;

use common::{call, expect};
use ferrovox_control::Engines;
use ferrovox_store::model::now;
use ferrovox_store::{Customer, LIVE};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

async fn customers_behave(engines: Engines, data_dir: &std::path::Path) {
    let admin = common::admin_key(&engines, data_dir).await;
    let store = engines.store.as_ref();
    common::wait_bus(&engines).await;
    let mut events = engines.bus.subscribe("customer.*").await.unwrap();
    let (control, base) = common::start_control(&engines).await;

    // The first start's customer, with the caller's permissions and without its secret.
    let own = expect(&base, Method::GET, "/v1.0/customer", &admin, None, 200).await;
    assert_eq!(own["name"], "admin");
    assert_eq!(
        own["permissions"],
        json!(["customer_admin", "platform_admin"])
    );
    assert_eq!(
        (
            own["phone_number"].as_str(),
            own["address"].as_str(),
            &own["billing_account_id"]
        ),
        (Some(""), Some(""), &Value::Null)
    );
    let id = Uuid::parse_str(own["id"].as_str().unwrap()).unwrap();
    let first_secret = store
        .customer_get(id)
        .await
        .unwrap()
        .unwrap()
        .webhook_secret;
    assert!(first_secret.starts_with("whsec_"));
    assert!(!own.to_string().contains(&first_secret), "{own}");
    let manager = common::key_for(store, id, &["customer_manager"]).await;
    let agent = common::key_for(store, id, &["agent_user"]).await;

    // A customer admin updates the profile and webhook target; read back at once.
    let account = Uuid::new_v4().to_string();
    let updated = expect(
        &base,
        Method::PUT,
        "/v1.0/customer",
        &admin,
        Some(json!({
            "name": "Acme", "detail": "main account", "email": "ops@acme.example",
            "phone_number": "+15551230000", "address": "1 Main St, Springfield",
            "webhook_method": "PUT", "webhook_uri": "https://hooks.acme.example/ferrovox?x=1",
            "billing_account_id": account
        })),
        200,
    )
    .await;
    assert_eq!(
        (
            updated["name"].as_str(),
            updated["email"].as_str(),
            updated["phone_number"].as_str(),
            updated["address"].as_str(),
            updated["webhook_method"].as_str(),
            updated["webhook_uri"].as_str(),
            updated["billing_account_id"].as_str(),
        ),
        (
            Some("Acme"),
            Some("ops@acme.example"),
            Some("+15551230000"),
            Some("1 Main St, Springfield"),
            Some("PUT"),
            Some("https://hooks.acme.example/ferrovox?x=1"),
            Some(account.as_str())
        ),
        "{updated}"
    );
    let (_, read) = call(&base, Method::GET, "/v1.0/customer", &admin, None).await;
    assert_eq!(read["name"], "Acme");
    assert_eq!(
        read["webhook_uri"],
        "https://hooks.acme.example/ferrovox?x=1"
    );
    let stored = store.customer_get(id).await.unwrap().unwrap();
    assert_eq!(
        (
            stored.webhook_method.as_str(),
            stored.webhook_secret.as_str()
        ),
        ("PUT", first_secret.as_str()),
        "an update keeps the secret"
    );
    let cleared = expect(
        &base,
        Method::PUT,
        "/v1.0/customer",
        &admin,
        Some(json!({"billing_account_id": null, "webhook_uri": ""})),
        200,
    )
    .await;
    assert_eq!(
        (
            &cleared["billing_account_id"],
            cleared["webhook_uri"].as_str(),
            cleared["name"].as_str()
        ),
        (&Value::Null, Some(""), Some("Acme")),
        "null detaches, empty disables, absent keeps"
    );

    // Invalid input: 400 naming the field, nothing changed.
    for (body, field) in [
        (
            json!({"webhook_uri": "ftp://hooks.acme.example/"}),
            "webhook_uri",
        ),
        (json!({"webhook_uri": "https://"}), "webhook_uri"),
        (
            json!({"webhook_uri": "https://hooks acme.example/"}),
            "webhook_uri",
        ),
        (
            json!({"webhook_uri": "https://user:pw@hooks.acme.example/"}),
            "webhook_uri",
        ),
        (json!({"webhook_method": "PATCH"}), "webhook_method"),
        (json!({"email": "not-an-address"}), "email"),
        (json!({"phone_number": "5551230000"}), "phone_number"),
        (
            json!({"billing_account_id": "acct-1"}),
            "billing_account_id",
        ),
        (json!({"name": "x".repeat(256)}), "name"),
        (json!({"webhook_secret": "mine"}), "body"),
        (json!({"id": Uuid::new_v4()}), "body"),
    ] {
        common::expect_invalid(&base, Method::PUT, "/v1.0/customer", &admin, body, field).await;
    }
    let (_, read) = call(&base, Method::GET, "/v1.0/customer", &admin, None).await;
    assert_eq!(read, {
        let mut expected = cleared.clone();
        expected["permissions"] = json!(["customer_admin", "platform_admin"]);
        expected
    });

    // Rotation: the new secret is in the answer only, and is what the store signs with.
    let rotated = expect(
        &base,
        Method::POST,
        "/v1.0/customer/webhook_secret",
        &admin,
        None,
        200,
    )
    .await;
    let secret = rotated["webhook_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_") && secret != first_secret);
    assert_eq!(
        store
            .customer_get(id)
            .await
            .unwrap()
            .unwrap()
            .webhook_secret,
        secret
    );
    let (_, read) = call(&base, Method::GET, "/v1.0/customer", &admin, None).await;
    assert!(!read.to_string().contains(&secret), "{read}");
    let (_, again) = call(
        &base,
        Method::POST,
        "/v1.0/customer/webhook_secret",
        &admin,
        None,
    )
    .await;
    assert_ne!(again["webhook_secret"].as_str(), Some(secret.as_str()));

    // Events announce every change, never with a secret.
    let mut received = Vec::new();
    while received.len() < 4 {
        let event = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .unwrap_or_else(|_| panic!("only {} events arrived", received.len()))
            .unwrap();
        received.push(event);
    }
    for event in &received {
        assert_eq!(event.event_type, "customer.updated");
        assert_eq!(event.data["id"], id.to_string());
        let text = serde_json::to_string(&event.data).unwrap();
        assert!(!text.contains("whsec_"), "{text}");
    }

    // Managers and agents read the customer but may not change it.
    for key in [&manager, &agent] {
        let (status, read) = call(&base, Method::GET, "/v1.0/customer", key, None).await;
        assert_eq!(
            (status, read["id"].as_str()),
            (200, Some(id.to_string().as_str()))
        );
        let (status, error) = call(
            &base,
            Method::PUT,
            "/v1.0/customer",
            key,
            Some(json!({"name": "taken over"})),
        )
        .await;
        assert_eq!(
            (status, error["error"].as_str()),
            (403, Some("permission_denied"))
        );
        expect(
            &base,
            Method::POST,
            "/v1.0/customer/webhook_secret",
            key,
            None,
            403,
        )
        .await;
    }
    let (_, manager_view) = call(&base, Method::GET, "/v1.0/customer", &manager, None).await;
    assert_eq!(manager_view["permissions"], json!(["customer_manager"]));

    // Another customer's admin sees and changes only their own customer.
    let at = now();
    let other = Customer {
        id: Uuid::new_v4(),
        name: "other".into(),
        detail: String::new(),
        email: String::new(),
        webhook_method: "POST".into(),
        webhook_uri: String::new(),
        webhook_secret: "whsec_other".into(),
        tm_create: at,
        tm_update: at,
        tm_delete: LIVE,
    };
    store.customer_create(&other).await.unwrap();
    let stranger = common::key_for(store, other.id, &["customer_admin"]).await;
    let (status, theirs) = call(
        &base,
        Method::PUT,
        "/v1.0/customer",
        &stranger,
        Some(json!({"name": "Other Inc"})),
    )
    .await;
    assert_eq!(
        (status, theirs["id"].as_str(), theirs["name"].as_str()),
        (200, Some(other.id.to_string().as_str()), Some("Other Inc"))
    );
    let (_, ours) = call(&base, Method::GET, "/v1.0/customer", &admin, None).await;
    assert_eq!(ours["name"], "Acme");
    control.shutdown().await;
}

on_both_stacks!(customers_behave:
    customer_on_the_embedded_engines,
    customer_on_mariadb_redis_rabbitmq);
