//! Upgrading a store made before migration 0007: the first start's admin key becomes the
//! platform operator's, other keys keep their permissions, and a deleted customer's keys stop
//! authenticating — on SQLite and on MariaDB.

mod common;

use ferrovox_store::model::now;
use ferrovox_store::{AccessKey, ColumnType, Effects, Store, TableSpec};
use ferrovox_testkit::devstack::DevStack;
use sqlx::migrate::Migrator;
use std::path::Path;
use uuid::Uuid;

/// The migrations of `dialect` up to and including `version`, as an older release had them.
async fn migrator_up_to(dialect: &str, version: i64) -> Migrator {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../migrations/{dialect}"));
    let mut migrator = Migrator::new(dir).await.unwrap();
    let older: Vec<_> = migrator
        .migrations
        .iter()
        .filter(|m| m.version <= version)
        .cloned()
        .collect();
    migrator.migrations = older.into();
    migrator
}

/// A key as a release before 0007 made it; the first start's is named `admin` with the
/// detail `created at first start`.
fn key(customer_id: Uuid, name: &str, detail: &str, hash: &str) -> AccessKey {
    AccessKey {
        detail: detail.into(),
        ..common::access_key(customer_id, name, hash)
    }
}

/// `store` has the schema of release 0006; migrating it must keep the data and promote only
/// the first start's key.
async fn first_start_key_becomes_the_operators(store: &dyn Store) {
    let customer = common::customer("admin");
    store.customer_create(&customer).await.unwrap();
    let first = "a".repeat(64);
    let other = "b".repeat(64);
    store
        .accesskey_create(&key(customer.id, "admin", "created at first start", &first))
        .await
        .unwrap();
    store
        .accesskey_create(&key(customer.id, "ci", "made later", &other))
        .await
        .unwrap();

    let report = store.migrate().await.unwrap();
    assert_eq!(
        report.applied.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
        [7],
        "only the new migration runs"
    );
    let promoted = store
        .accesskey_by_token_hash(&first)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(promoted.permissions, ["customer_admin", "platform_admin"]);
    let kept = store
        .accesskey_by_token_hash(&other)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.permissions, ["customer_admin"]);

    static CUSTOMERS: TableSpec = TableSpec {
        name: "customers",
        columns: &[("id", ColumnType::Text)],
    };
    let id = customer.id.to_string();
    assert!(
        store
            .record_soft_delete(&CUSTOMERS, &id, &id, now(), &Effects::default())
            .await
            .unwrap()
    );
    for hash in [&first, &other] {
        assert!(
            store.accesskey_by_token_hash(hash).await.unwrap().is_none(),
            "a deleted customer's keys do not authenticate"
        );
    }
}

#[tokio::test]
async fn sqlite_upgrade_promotes_the_first_start_key() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/old.db?mode=rwc", dir.path().display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    migrator_up_to("sqlite", 6).await.run(&pool).await.unwrap();
    pool.close().await;
    let store = ferrovox_store::open(&format!("sqlite://{}/old.db", dir.path().display()))
        .await
        .unwrap();
    first_start_key_becomes_the_operators(store.as_ref()).await;
}

#[tokio::test]
async fn mysql_upgrade_promotes_the_first_start_key() {
    let url = DevStack::get().fresh_mysql_database().unwrap();
    let pool = sqlx::MySqlPool::connect(&url).await.unwrap();
    migrator_up_to("mysql", 6).await.run(&pool).await.unwrap();
    pool.close().await;
    let store = ferrovox_store::open(&url).await.unwrap();
    first_start_key_becomes_the_operators(store.as_ref()).await;
}
