//! The platform operator's customers (`/v1.0/customers`): creating a customer with its first
//! admin agent and access key in one request, listing across pages, reading and updating,
//! soft-deleting (its keys and sessions stop at once), what a customer admin may not do, and
//! validation naming the field — on the embedded engines and on real MariaDB/Redis/RabbitMQ.

mod common;

use common::{all_pages, bearer, call, directory_where, expect, login};
use ferrovox_contract::{SIP_DIRECTORY_EVENT, SipDirectory};
use ferrovox_control::Engines;
use reqwest::Method;
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;

/// Every customer id the operator's list shows, page by page (`page_size` per page).
async fn all_customer_ids(base: &str, operator: &str, page_size: u32) -> (Vec<String>, usize) {
    let (customers, pages) = all_pages(base, operator, "/v1.0/customers", page_size).await;
    let ids = customers
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    (ids, pages)
}

async fn platform_customers_behave(engines: Engines, data_dir: &std::path::Path) {
    let operator = common::admin_key(&engines, data_dir).await;
    common::wait_bus(&engines).await;
    let mut events = engines.bus.subscribe("customer.*").await.unwrap();
    let mut directories = engines.bus.subscribe(SIP_DIRECTORY_EVENT).await.unwrap();
    let (control, base) = common::start_control(&engines).await;
    let (_, own) = call(&base, Method::GET, "/v1.0/customer", &operator, None).await;
    let operator_customer = own["id"].as_str().unwrap().to_owned();

    // The operator creates a customer with its first admin agent and access key.
    let created = expect(
        &base,
        Method::POST,
        "/v1.0/customers",
        &operator,
        Some(json!({
            "name": "Globex",
            "email": "ops@globex.example",
            "webhook_uri": "https://globex.example/hooks",
            "admin_agent": {"username": "globex-admin", "password": "correct horse battery"},
            "admin_accesskey": {"name": "bootstrap", "expire_days": 30}
        })),
        201,
    )
    .await;
    let globex = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["name"], "Globex");
    assert_eq!(created["admin_agent"]["customer_id"], globex.as_str());
    assert_eq!(created["admin_agent"]["permission"], "customer_admin");
    assert_eq!(created["admin_accesskey"]["customer_id"], globex.as_str());
    assert_eq!(
        created["admin_accesskey"]["permissions"],
        json!(["customer_admin"])
    );
    let globex_key = created["admin_accesskey"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let text = created.to_string();
    assert!(
        !text.contains("whsec_") && !text.contains("password") && !text.contains("token_hash"),
        "no secret but the new key's token: {text}"
    );

    // Both admins work at once, as the new customer's admin (not the operator).
    let theirs = expect(&base, Method::GET, "/v1.0/customer", &globex_key, None, 200).await;
    assert_eq!(
        (theirs["id"].as_str(), &theirs["permissions"]),
        (Some(globex.as_str()), &json!(["customer_admin"]))
    );
    let (status, session) = login(&base, "globex-admin", "correct horse battery").await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["customer_id"], globex.as_str());
    let jwt = session["token"].as_str().unwrap().to_owned();
    let (status, _) = bearer(&base, Method::GET, "/v1.0/customer", &jwt).await;
    assert_eq!(status, 200);

    // A customer admin: no creating customers, no other customer, only its own in the list.
    let error = expect(
        &base,
        Method::POST,
        "/v1.0/customers",
        &globex_key,
        Some(json!({"name": "Initech"})),
        403,
    )
    .await;
    assert_eq!(error["error"], "permission_denied");
    let operators_path = format!("/v1.0/customers/{operator_customer}");
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let body = (method == Method::PUT).then(|| json!({"name": "mine now"}));
        let error = expect(&base, method, &operators_path, &globex_key, body, 404).await;
        assert_eq!(error["error"], "not_found", "another customer's");
    }
    let (listed, _) = all_customer_ids(&base, &globex_key, 100).await;
    assert_eq!(listed, std::slice::from_ref(&globex));
    let globex_path = format!("/v1.0/customers/{globex}");
    let self_service = Some(json!({"detail": "self-service"}));
    let updated = expect(
        &base,
        Method::PUT,
        &globex_path,
        &globex_key,
        self_service,
        200,
    )
    .await;
    assert_eq!(updated["detail"], "self-service");
    let (status, _) = call(&base, Method::DELETE, &globex_path, &globex_key, None).await;
    assert_eq!(status, 403, "only the operator deletes customers");

    // The operator reads and updates any customer.
    let read = expect(&base, Method::GET, &globex_path, &operator, None, 200).await;
    assert_eq!(read["detail"], "self-service");
    let rename = Some(json!({"name": "Globex Corporation"}));
    let renamed = expect(&base, Method::PUT, &globex_path, &operator, rename, 200).await;
    assert_eq!(renamed["name"], "Globex Corporation");
    let (_, seen_by_globex) = call(&base, Method::GET, "/v1.0/customer", &globex_key, None).await;
    assert_eq!(
        seen_by_globex["name"], "Globex Corporation",
        "no stale cache"
    );

    // Validation names the field, nested ones included; nothing is created.
    let nameless = Some(json!({"email": "x@y.example"}));
    expect(
        &base,
        Method::POST,
        "/v1.0/customers",
        &operator,
        nameless,
        400,
    )
    .await;
    for (body, field) in [
        (json!({"name": "n", "email": "not-an-email"}), "email"),
        (
            json!({"name": "n", "webhook_uri": "ftp://x.example"}),
            "webhook_uri",
        ),
        (
            json!({"name": "n", "admin_agent": {"username": "a", "password": "long enough"}}),
            "admin_agent.username",
        ),
        (
            json!({"name": "n", "admin_agent": {"username": "ok-user", "password": "long enough", "permission": "platform_admin"}}),
            "admin_agent.permission",
        ),
        (
            json!({"name": "n", "admin_accesskey": {"expire_days": 0}}),
            "admin_accesskey.expire_days",
        ),
    ] {
        common::expect_invalid(
            &base,
            Method::POST,
            "/v1.0/customers",
            &operator,
            body,
            field,
        )
        .await;
    }
    let error = expect(
        &base,
        Method::GET,
        "/v1.0/customers/42",
        &operator,
        None,
        400,
    )
    .await;
    assert_eq!(error["field"], "id");
    // A taken admin username refuses the whole request: no customer without its admin.
    let (before, _) = all_customer_ids(&base, &operator, 100).await;
    let taken = json!({"name": "Dup", "admin_agent": {"username": "globex-admin", "password": "another password"}});
    let error = expect(
        &base,
        Method::POST,
        "/v1.0/customers",
        &operator,
        Some(taken),
        409,
    )
    .await;
    assert_eq!(error["error"], "conflict");
    let (after, _) = all_customer_ids(&base, &operator, 100).await;
    assert_eq!(before, after, "all or nothing");

    // Pagination across pages, newest first, each customer once.
    let mut made = vec![globex.clone()];
    for i in 0..5 {
        let customer = expect(
            &base,
            Method::POST,
            "/v1.0/customers",
            &operator,
            Some(json!({"name": format!("tenant {i}")})),
            201,
        )
        .await;
        assert!(customer.get("admin_accesskey").is_none());
        made.push(customer["id"].as_str().unwrap().to_owned());
    }
    let (ids, pages) = all_customer_ids(&base, &operator, 3).await;
    assert_eq!(pages, 3, "7 customers in pages of 3");
    assert_eq!(ids.len(), 7);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 7, "no repeats");
    let mut newest_first = made.clone();
    newest_first.reverse();
    newest_first.push(operator_customer.clone());
    assert_eq!(ids, newest_first);

    // Deleting a customer stops its key, its session, its logins and its phones at once.
    expect(
        &base,
        Method::POST,
        "/v1.0/extensions",
        &globex_key,
        Some(json!({"extension": "3001", "password": "phone-pass-9"})),
        201,
    )
    .await;
    let has_globex = |d: &SipDirectory| d.accounts.iter().any(|a| a.customer_id == globex);
    directory_where(&mut directories, has_globex).await;
    let (status, error) = call(&base, Method::DELETE, &operators_path, &operator, None).await;
    assert_eq!(status, 409, "the operator cannot lock itself out: {error}");
    let deleted = expect(&base, Method::DELETE, &globex_path, &operator, None, 200).await;
    assert_ne!(deleted["tm_delete"], "9999-01-01T00:00:00");
    let error = expect(&base, Method::GET, "/v1.0/numbers", &globex_key, None, 401).await;
    assert_eq!(error["error"], "unauthorized");
    let (status, _) = bearer(&base, Method::GET, "/v1.0/numbers", &jwt).await;
    assert_eq!(status, 401, "the session ended with its customer");
    directory_where(&mut directories, |d| !has_globex(d)).await;
    let (status, _) = login(&base, "globex-admin", "correct horse battery").await;
    assert_eq!(status, 401);
    expect(&base, Method::GET, &globex_path, &operator, None, 404).await;
    let (ids, _) = all_customer_ids(&base, &operator, 100).await;
    assert!(!ids.contains(&globex) && ids.len() == 6);
    let (status, _) = call(&base, Method::DELETE, &globex_path, &operator, None).await;
    assert_eq!(status, 404, "deleted once");

    // Events announce the operator's changes.
    let mut seen = HashSet::new();
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(5), events.next()).await {
        if event.data["id"] == globex.as_str() {
            seen.insert(event.event_type.clone());
        }
        if seen.contains("customer.deleted") {
            break;
        }
    }
    assert!(
        seen.contains("customer.created") && seen.contains("customer.deleted"),
        "{seen:?}"
    );
    control.shutdown().await;
}

on_both_stacks!(platform_customers_behave:
    platform_customers_on_the_embedded_engines,
    platform_customers_on_mariadb_redis_rabbitmq);
