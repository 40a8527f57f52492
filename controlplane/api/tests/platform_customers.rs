//! The platform operator's customers (`/v1.0/customers`): creating a customer with its first
//! admin agent and access key in one request, listing across pages, reading and updating,
//! soft-deleting (its keys and sessions stop at once), what a customer admin may not do, and
//! validation naming the field — on the embedded engines and on real MariaDB/Redis/RabbitMQ.

mod common;

use common::call;
use ferrovox_contract::{SIP_DIRECTORY_EVENT, SipDirectory, Subscription};
use ferrovox_control::{ControlPlane, Engines};
use ferrovox_testkit::ports::{free_tcp_port, loopback};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

async fn bearer(base: &str, method: Method, path: &str, token: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

async fn login(base: &str, username: &str, password: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/v1.0/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// Every customer id the operator's list shows, page by page (`page_size` per page).
async fn all_customer_ids(base: &str, operator: &str, page_size: u32) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut token: Option<String> = None;
    loop {
        let path = match &token {
            Some(token) => format!("/v1.0/customers?page_size={page_size}&page_token={token}"),
            None => format!("/v1.0/customers?page_size={page_size}"),
        };
        let (status, page) = call(base, Method::GET, &path, operator, None).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        let result = page["result"].as_array().unwrap();
        assert!(result.len() <= page_size as usize);
        ids.extend(result.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        match page["next_page_token"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => return (ids, pages),
        }
    }
}

/// Whether a directory for which `done` holds is published within 10 s.
async fn directory_where(subscription: &mut Subscription, done: impl Fn(&SipDirectory) -> bool) {
    let wait = async {
        loop {
            let event = subscription.next().await.expect("bus subscription open");
            let directory: SipDirectory = serde_json::from_value(event.data).unwrap();
            if done(&directory) {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("the expected SIP directory was published within 10 s");
}

async fn wait_bus(engines: &Engines) {
    for _ in 0..100 {
        if engines.bus.check().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("bus never became ready");
}

async fn platform_customers_behave(engines: Engines, data_dir: &std::path::Path) {
    let operator = common::admin_key(&engines, data_dir).await;
    wait_bus(&engines).await;
    let mut events = engines.bus.subscribe("customer.*").await.unwrap();
    let mut directories = engines.bus.subscribe(SIP_DIRECTORY_EVENT).await.unwrap();
    let control = ControlPlane::start(
        loopback(free_tcp_port()),
        engines.clone(),
        Arc::new(String::new),
    )
    .await
    .unwrap();
    let base = format!("http://{}", control.addr());
    let (_, own) = call(&base, Method::GET, "/v1.0/customer", &operator, None).await;
    let operator_customer = own["id"].as_str().unwrap().to_owned();

    // The operator creates a customer with its first admin agent and access key.
    let (status, created) = call(
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
    )
    .await;
    assert_eq!(status, 201, "{created}");
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
    let (status, theirs) = call(&base, Method::GET, "/v1.0/customer", &globex_key, None).await;
    assert_eq!(status, 200, "{theirs}");
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
    let (status, error) = call(
        &base,
        Method::POST,
        "/v1.0/customers",
        &globex_key,
        Some(json!({"name": "Initech"})),
    )
    .await;
    assert_eq!(
        (status, error["error"].as_str()),
        (403, Some("permission_denied"))
    );
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let body = (method == Method::PUT).then(|| json!({"name": "mine now"}));
        let (status, error) = call(
            &base,
            method.clone(),
            &format!("/v1.0/customers/{operator_customer}"),
            &globex_key,
            body,
        )
        .await;
        assert_eq!(
            (status, error["error"].as_str()),
            (404, Some("not_found")),
            "{method} of another customer"
        );
    }
    let (status, list) = call(&base, Method::GET, "/v1.0/customers", &globex_key, None).await;
    assert_eq!(status, 200);
    let listed: Vec<&str> = list["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [globex.as_str()]);
    let (status, updated) = call(
        &base,
        Method::PUT,
        &format!("/v1.0/customers/{globex}"),
        &globex_key,
        Some(json!({"detail": "self-service"})),
    )
    .await;
    assert_eq!(
        (status, updated["detail"].as_str()),
        (200, Some("self-service"))
    );
    let (status, _) = call(
        &base,
        Method::DELETE,
        &format!("/v1.0/customers/{globex}"),
        &globex_key,
        None,
    )
    .await;
    assert_eq!(status, 403, "only the operator deletes customers");

    // The operator reads and updates any customer.
    let (status, read) = call(
        &base,
        Method::GET,
        &format!("/v1.0/customers/{globex}"),
        &operator,
        None,
    )
    .await;
    assert_eq!(
        (status, read["detail"].as_str()),
        (200, Some("self-service"))
    );
    let (status, renamed) = call(
        &base,
        Method::PUT,
        &format!("/v1.0/customers/{globex}"),
        &operator,
        Some(json!({"name": "Globex Corporation"})),
    )
    .await;
    assert_eq!(
        (status, renamed["name"].as_str()),
        (200, Some("Globex Corporation"))
    );
    let (_, seen_by_globex) = call(&base, Method::GET, "/v1.0/customer", &globex_key, None).await;
    assert_eq!(
        seen_by_globex["name"], "Globex Corporation",
        "no stale cache"
    );

    // Validation names the field, nested ones included; nothing is created.
    for (body, field) in [
        (json!({"email": "x@y.example"}), None),
        (json!({"name": "n", "email": "not-an-email"}), Some("email")),
        (
            json!({"name": "n", "webhook_uri": "ftp://x.example"}),
            Some("webhook_uri"),
        ),
        (
            json!({"name": "n", "admin_agent": {"username": "a", "password": "long enough"}}),
            Some("admin_agent.username"),
        ),
        (
            json!({"name": "n", "admin_agent": {"username": "ok-user", "password": "long enough", "permission": "platform_admin"}}),
            Some("admin_agent.permission"),
        ),
        (
            json!({"name": "n", "admin_accesskey": {"expire_days": 0}}),
            Some("admin_accesskey.expire_days"),
        ),
    ] {
        let (status, error) = call(
            &base,
            Method::POST,
            "/v1.0/customers",
            &operator,
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 400, "{body} -> {error}");
        if let Some(field) = field {
            assert_eq!(error["field"].as_str(), Some(field), "{body} -> {error}");
        }
    }
    let (status, error) = call(&base, Method::GET, "/v1.0/customers/42", &operator, None).await;
    assert_eq!((status, error["field"].as_str()), (400, Some("id")));
    // A taken admin username refuses the whole request: no customer without its admin.
    let (before, _) = all_customer_ids(&base, &operator, 100).await;
    let (status, error) = call(
        &base,
        Method::POST,
        "/v1.0/customers",
        &operator,
        Some(json!({"name": "Dup", "admin_agent": {"username": "globex-admin", "password": "another password"}})),
    )
    .await;
    assert_eq!(
        (status, error["error"].as_str()),
        (409, Some("conflict")),
        "{error}"
    );
    let (after, _) = all_customer_ids(&base, &operator, 100).await;
    assert_eq!(before, after, "all or nothing");

    // Pagination across pages, newest first, each customer once.
    let mut made = vec![globex.clone()];
    for i in 0..5 {
        let (status, customer) = call(
            &base,
            Method::POST,
            "/v1.0/customers",
            &operator,
            Some(json!({"name": format!("tenant {i}")})),
        )
        .await;
        assert_eq!(status, 201, "{customer}");
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
    let (status, phone) = call(
        &base,
        Method::POST,
        "/v1.0/extensions",
        &globex_key,
        Some(json!({"extension": "3001", "password": "phone-pass-9"})),
    )
    .await;
    assert_eq!(status, 201, "{phone}");
    let has_globex = |d: &SipDirectory| d.accounts.iter().any(|a| a.customer_id == globex);
    directory_where(&mut directories, has_globex).await;
    let (status, error) = call(
        &base,
        Method::DELETE,
        &format!("/v1.0/customers/{operator_customer}"),
        &operator,
        None,
    )
    .await;
    assert_eq!(status, 409, "the operator cannot lock itself out: {error}");
    let (status, deleted) = call(
        &base,
        Method::DELETE,
        &format!("/v1.0/customers/{globex}"),
        &operator,
        None,
    )
    .await;
    assert_eq!(status, 200, "{deleted}");
    assert_ne!(deleted["tm_delete"], "9999-01-01T00:00:00");
    let (status, error) = call(&base, Method::GET, "/v1.0/numbers", &globex_key, None).await;
    assert_eq!(
        (status, error["error"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, _) = bearer(&base, Method::GET, "/v1.0/numbers", &jwt).await;
    assert_eq!(status, 401, "the session ended with its customer");
    directory_where(&mut directories, |d| !has_globex(d)).await;
    let (status, _) = login(&base, "globex-admin", "correct horse battery").await;
    assert_eq!(status, 401);
    let (status, _) = call(
        &base,
        Method::GET,
        &format!("/v1.0/customers/{globex}"),
        &operator,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (ids, _) = all_customer_ids(&base, &operator, 100).await;
    assert!(!ids.contains(&globex) && ids.len() == 6);
    let (status, _) = call(
        &base,
        Method::DELETE,
        &format!("/v1.0/customers/{globex}"),
        &operator,
        None,
    )
    .await;
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

#[tokio::test]
async fn platform_customers_on_the_embedded_engines() {
    let dir = tempfile::tempdir().unwrap();
    platform_customers_behave(common::embedded(dir.path()).await, dir.path()).await;
}

#[tokio::test]
async fn platform_customers_on_mariadb_redis_rabbitmq() {
    let dir = tempfile::tempdir().unwrap();
    platform_customers_behave(common::dev_stack().await, dir.path()).await;
}
