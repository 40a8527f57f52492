//! The same behaviour from both store implementations: the embedded SQLite file and a real
//! MariaDB from the dev stack.

mod common;

use common::customer;
use ferrovox_store::model::now;
use ferrovox_store::{AccessKey, Store, StoreError};
use ferrovox_testkit::devstack::DevStack;
use std::sync::Arc;
use uuid::Uuid;

async fn sqlite() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/nested/ferrovox.db", dir.path().display());
    (ferrovox_store::open(&url).await.unwrap(), dir)
}

async fn mysql() -> Arc<dyn Store> {
    let url = DevStack::get().fresh_mysql_database().unwrap();
    ferrovox_store::open(&url).await.unwrap()
}

async fn migrations_apply_once(store: &dyn Store) {
    let first = store.migrate().await.unwrap();
    assert!(
        !first.applied.is_empty(),
        "a fresh database gets the migrations"
    );
    assert_eq!(first.already_applied, 0);
    let second = store.migrate().await.unwrap();
    assert!(
        second.applied.is_empty(),
        "second run applies nothing: {second:?}"
    );
    assert_eq!(second.already_applied, first.applied.len());
}

async fn customers_and_keys_round_trip(store: &dyn Store) {
    store.migrate().await.unwrap();
    assert_eq!(store.customer_count().await.unwrap(), 0);
    let alice = customer("alice");
    store.customer_create(&alice).await.unwrap();
    assert_eq!(
        store.customer_get(alice.id).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(store.customer_get(Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(store.customer_count().await.unwrap(), 1);
    assert!(matches!(
        store.customer_create(&alice).await,
        Err(StoreError::Conflict {
            what: "customer",
            ..
        })
    ));

    let mut deleted = customer("gone");
    deleted.tm_delete = now();
    store.customer_create(&deleted).await.unwrap();
    assert_eq!(
        store.customer_get(deleted.id).await.unwrap(),
        None,
        "soft-deleted rows are invisible"
    );
    assert_eq!(store.customer_count().await.unwrap(), 1);

    let key = common::access_key(alice.id, "admin", &"ab".repeat(32));
    store.accesskey_create(&key).await.unwrap();
    assert_eq!(
        store
            .accesskey_by_token_hash(&key.token_hash)
            .await
            .unwrap(),
        Some(key.clone())
    );
    assert_eq!(
        store
            .accesskey_by_token_hash(&"cd".repeat(32))
            .await
            .unwrap(),
        None
    );
    let duplicate = AccessKey {
        id: Uuid::new_v4(),
        ..key
    };
    assert!(matches!(
        store.accesskey_create(&duplicate).await,
        Err(StoreError::Conflict { .. })
    ));
    store.check().await.unwrap();
}

#[tokio::test]
async fn sqlite_migrations_apply_once() {
    let (store, _dir) = sqlite().await;
    assert_eq!(store.kind(), "sqlite");
    migrations_apply_once(store.as_ref()).await;
}

#[tokio::test]
async fn sqlite_customers_and_keys_round_trip() {
    let (store, _dir) = sqlite().await;
    customers_and_keys_round_trip(store.as_ref()).await;
}

#[tokio::test]
async fn mysql_migrations_apply_once() {
    let store = mysql().await;
    assert_eq!(store.kind(), "mysql");
    migrations_apply_once(store.as_ref()).await;
}

#[tokio::test]
async fn mysql_customers_and_keys_round_trip() {
    let store = mysql().await;
    customers_and_keys_round_trip(store.as_ref()).await;
}

#[tokio::test]
async fn unsupported_urls_are_refused_by_name() {
    let error = ferrovox_store::open("postgres://localhost/x")
        .await
        .err()
        .unwrap();
    assert!(
        error.to_string().contains("postgres://localhost/x"),
        "{error}"
    );
}

#[tokio::test]
async fn unreachable_mysql_opens_but_fails_its_check() {
    let port = ferrovox_testkit::ports::free_tcp_port();
    let store = ferrovox_store::open(&format!("mysql://u:p@127.0.0.1:{port}/db"))
        .await
        .unwrap();
    assert!(store.check().await.is_err());
}
