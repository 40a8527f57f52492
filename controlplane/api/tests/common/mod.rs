//! What the control plane's API tests share: engines on both stacks (and the macro that runs
//! one scenario on each), the first admin key, the control plane on a free port, JSON
//! requests, customers and keys made in the store or over the API, paginated lists and the
//! SIP directory on the bus.

#![allow(dead_code)] // each test binary uses a different part of this module

use ferrovox_contract::{AmqpBus, MemoryBus, SipDirectory, Subscription};
use ferrovox_control::{AdminKey, ControlPlane, Engines, ensure_admin, generate_token, token_hash};
use ferrovox_store::model::now;
use ferrovox_store::{AccessKey, Customer, LIVE, Store};
use ferrovox_testkit::devstack::DevStack;
use ferrovox_testkit::ports::{free_tcp_port, loopback};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Runs `behave(engines, data_dir)` as two tests: `$embedded` on the embedded default
/// (SQLite, in-process cache and bus) and `$dev_stack` on MariaDB, Redis and RabbitMQ.
#[macro_export]
macro_rules! on_both_stacks {
    ($behave:ident: $embedded:ident, $dev_stack:ident) => {
        #[tokio::test]
        async fn $embedded() {
            let dir = tempfile::tempdir().unwrap();
            $behave($crate::common::embedded(dir.path()).await, dir.path()).await;
        }

        #[tokio::test]
        async fn $dev_stack() {
            let dir = tempfile::tempdir().unwrap();
            $behave($crate::common::dev_stack().await, dir.path()).await;
        }
    };
}

/// SQLite in `dir`, in-process cache and bus.
pub async fn embedded(dir: &Path) -> Engines {
    Engines {
        store: ferrovox_store::open(&format!("sqlite://{}/test.db", dir.display()))
            .await
            .unwrap(),
        cache: ferrovox_cache::open("memory://").unwrap(),
        bus: Arc::new(MemoryBus::new()),
    }
}

/// A fresh MariaDB database, Redis and a private RabbitMQ namespace from the dev stack.
pub async fn dev_stack() -> Engines {
    let stack = DevStack::get();
    Engines {
        store: ferrovox_store::open(&stack.fresh_mysql_database().unwrap())
            .await
            .unwrap(),
        cache: ferrovox_cache::open(&stack.cache_url).unwrap(),
        bus: Arc::new(
            AmqpBus::new(
                &stack.bus_url,
                &format!("test-{}", uuid::Uuid::new_v4().simple()),
            )
            .unwrap(),
        ),
    }
}

/// Migrates and bootstraps: the first customer's admin access key.
pub async fn admin_key(engines: &Engines, data_dir: &Path) -> String {
    engines.store.migrate().await.unwrap();
    match ensure_admin(engines.store.as_ref(), data_dir)
        .await
        .unwrap()
    {
        AdminKey::Created { token, .. } => token,
        other => panic!("a fresh store creates the admin key: {other:?}"),
    }
}

/// Waits until the bus carries messages: RabbitMQ connects in the background, and a test
/// that subscribes before it does would miss what is published meanwhile.
pub async fn wait_bus(engines: &Engines) {
    for _ in 0..100 {
        if engines.bus.check().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("bus never became ready");
}

/// The control plane on a free loopback port, and its base URL.
pub async fn start_control(engines: &Engines) -> (ControlPlane, String) {
    let control = ControlPlane::start(
        loopback(free_tcp_port()),
        engines.clone(),
        Arc::new(String::new),
    )
    .await
    .unwrap();
    let base = format!("http://{}", control.addr());
    (control, base)
}

/// One request with an access key; the status and the JSON body (null if none).
pub async fn call(
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
    answer(request).await
}

/// Sends `request`: the status and the JSON body (null if none).
async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// [`call`] that must answer `status`; the JSON body.
pub async fn expect(
    base: &str,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
    status: u16,
) -> Value {
    let (answered, answer) = call(base, method.clone(), path, key, body).await;
    assert_eq!(answered, status, "{method} {path} -> {answer}");
    answer
}

/// `body` sent to `path` is refused as invalid (400 `invalid_argument`) naming `field`; the
/// error.
pub async fn expect_invalid(
    base: &str,
    method: Method,
    path: &str,
    key: &str,
    body: Value,
    field: &str,
) -> Value {
    let error = expect(base, method, path, key, Some(body.clone()), 400).await;
    assert_eq!(
        (error["error"].as_str(), error["field"].as_str()),
        (Some("invalid_argument"), Some(field)),
        "{body} -> {error}"
    );
    error
}

/// One request with a session token (`Authorization: Bearer`); the status and the JSON body.
pub async fn bearer(base: &str, method: Method, path: &str, token: &str) -> (u16, Value) {
    let request = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .header("Authorization", format!("Bearer {token}"));
    answer(request).await
}

/// An agent's login; the status and the JSON body (the session token when it worked).
pub async fn login(base: &str, username: &str, password: &str) -> (u16, Value) {
    let request = reqwest::Client::new()
        .post(format!("{base}/v1.0/auth/login"))
        .json(&json!({"username": username, "password": password}));
    answer(request).await
}

/// The operator (`operator` is its key) creates customer `name` with a first admin access
/// key over the API: the customer's id and the key's token.
pub async fn customer_with_admin_key(base: &str, operator: &str, name: &str) -> (String, String) {
    let created = expect(
        base,
        Method::POST,
        "/v1.0/customers",
        operator,
        Some(json!({"name": name, "admin_accesskey": {}})),
        201,
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let token = created["admin_accesskey"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    (id, token)
}

/// A customer written straight to the store (no API, no event); its id.
pub async fn new_customer(store: &dyn Store) -> Uuid {
    let at = now();
    let id = Uuid::new_v4();
    store
        .customer_create(&Customer {
            id,
            name: "other".into(),
            detail: String::new(),
            email: String::new(),
            webhook_method: "POST".into(),
            webhook_uri: String::new(),
            webhook_secret: "s".into(),
            tm_create: at,
            tm_update: at,
            tm_delete: LIVE,
        })
        .await
        .unwrap();
    id
}

/// An access key of customer `customer_id` holding `permissions`, written to the store; its
/// token.
pub async fn key_for(store: &dyn Store, customer_id: Uuid, permissions: &[&str]) -> String {
    let at = now();
    let token = generate_token();
    store
        .accesskey_create(&AccessKey {
            id: Uuid::new_v4(),
            customer_id,
            name: "k".into(),
            detail: String::new(),
            token_hash: token_hash(&token),
            token_prefix: token[..7].to_owned(),
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            tm_expire: at + chrono::Duration::days(1),
            tm_create: at,
            tm_update: at,
            tm_delete: LIVE,
        })
        .await
        .unwrap();
    token
}

/// A new customer with one access key holding `permissions`; the key's token.
pub async fn customer_with_key(store: &dyn Store, permissions: &[&str]) -> String {
    key_for(store, new_customer(store).await, permissions).await
}

/// Every item of the list at `path`, read page by page with `page_size` per page (each page
/// answers 200 and holds at most `page_size`): the items in order and the number of pages.
pub async fn all_pages(base: &str, key: &str, path: &str, page_size: u32) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut token: Option<String> = None;
    loop {
        let page_path = match &token {
            Some(token) => format!("{path}?page_size={page_size}&page_token={token}"),
            None => format!("{path}?page_size={page_size}"),
        };
        let page = expect(base, Method::GET, &page_path, key, None, 200).await;
        pages += 1;
        let result = page["result"].as_array().unwrap();
        assert!(result.len() <= page_size as usize, "{page_path} -> {page}");
        items.extend(result.iter().cloned());
        match page["next_page_token"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => return (items, pages),
        }
    }
}

/// The next SIP directory published on `subscription` for which `done` holds, within 10 s.
pub async fn directory_where(
    subscription: &mut Subscription,
    done: impl Fn(&SipDirectory) -> bool,
) -> SipDirectory {
    let wait = async {
        loop {
            let event = subscription.next().await.expect("bus subscription open");
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
