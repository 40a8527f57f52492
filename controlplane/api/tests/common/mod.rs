//! What the control plane's API tests share: engines on both stacks, the first admin key, and
//! one JSON request helper.

#![allow(dead_code)] // each test binary uses a different part of this module

use ferrovox_contract::{AmqpBus, MemoryBus};
use ferrovox_control::{AdminKey, Engines, ensure_admin};
use ferrovox_testkit::devstack::DevStack;
use reqwest::Method;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

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
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}
