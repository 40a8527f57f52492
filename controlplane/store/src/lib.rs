//! The control plane's durable store.
//!
//! One trait, [`Store`], with two implementations chosen by URL: [`SqliteStore`]
//! (`sqlite://…`, the embedded default: a file, no server) and [`MySqlStore`]
//! (`mysql://…`, MySQL/MariaDB for production). Code above the trait does not know which runs.
//! Both embed their dialect's migrations from `migrations/` and apply them with
//! [`Store::migrate`].
//!
//! Rules every implementation follows: parameterised queries only; soft delete (a live row
//! has `tm_delete` = [`model::LIVE`]); MySQL sessions run at READ COMMITTED.

pub mod model;
mod mysql;
mod queries;
pub mod record;
mod sqlite;

pub use model::{AccessKey, Customer, LIVE};
pub use mysql::MySqlStore;
pub use record::{
    AuditEntry, ColumnType, Cursor, Effects, OutboxEvent, Page, PendingEvent, Record, SqlValue,
    TableSpec,
};
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "store url {url:?} is not supported: use sqlite://<file> or mysql://user:pass@host:port/db"
    )]
    UnsupportedUrl { url: String },
    #[error("store url {url:?} is not valid: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored row is corrupt: {0}")]
    Corrupt(String),
    #[error("{what} {id} already exists")]
    Conflict { what: &'static str, id: String },
    #[error("table {table} has no column {column}")]
    UnknownColumn { table: &'static str, column: String },
}

/// What [`Store::migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions and descriptions applied by this run, oldest first.
    pub applied: Vec<(i64, String)>,
    /// How many migrations the store had before this run.
    pub already_applied: usize,
}

/// Tables and their columns, for comparing the two dialects' schemas.
pub type Schema = BTreeMap<String, BTreeSet<String>>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `mysql`.
    fn kind(&self) -> &'static str;

    /// Applies pending migrations; a second run applies nothing.
    async fn migrate(&self) -> Result<MigrationReport, StoreError>;

    /// Whether the database answers now.
    async fn check(&self) -> Result<(), StoreError>;

    /// The tables (except bookkeeping ones) and their columns.
    async fn schema(&self) -> Result<Schema, StoreError>;

    async fn customer_create(&self, customer: &Customer) -> Result<(), StoreError>;
    /// A live customer by id.
    async fn customer_get(&self, id: Uuid) -> Result<Option<Customer>, StoreError>;
    /// How many live customers exist.
    async fn customer_count(&self) -> Result<u64, StoreError>;

    async fn accesskey_create(&self, key: &AccessKey) -> Result<(), StoreError>;
    /// A live access key of a live customer by the SHA-256 (hex) of its token; expiry is the
    /// caller's check.
    async fn accesskey_by_token_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<AccessKey>, StoreError>;

    /// Inserts a row and its effects in one transaction.
    async fn record_insert(
        &self,
        table: &TableSpec,
        record: &Record,
        effects: &Effects,
    ) -> Result<(), StoreError>;

    /// Inserts rows, each with its effects, in one transaction: all or none.
    async fn record_insert_all(
        &self,
        rows: &[(&TableSpec, &Record, &Effects)],
    ) -> Result<(), StoreError>;

    /// Sets columns of a live row of `customer_id` (and `tm_update`), with its effects, in one
    /// transaction. `false` (and nothing written) when no such live row exists.
    async fn record_update(
        &self,
        table: &TableSpec,
        customer_id: &str,
        id: &str,
        set: &Record,
        effects: &Effects,
    ) -> Result<bool, StoreError>;

    /// Soft-deletes a live row of `customer_id` (tm_delete = `at`), with its effects.
    async fn record_soft_delete(
        &self,
        table: &TableSpec,
        customer_id: &str,
        id: &str,
        at: chrono::NaiveDateTime,
        effects: &Effects,
    ) -> Result<bool, StoreError>;

    /// A live row of `customer_id`.
    async fn record_get(
        &self,
        table: &TableSpec,
        customer_id: &str,
        id: &str,
    ) -> Result<Option<Record>, StoreError>;

    /// Live rows of `customer_id`, newest first, `limit` per page, after `after`.
    async fn record_list(
        &self,
        table: &TableSpec,
        customer_id: &str,
        limit: u32,
        after: Option<&Cursor>,
    ) -> Result<Page, StoreError>;

    /// Live rows of every customer, newest first, `limit` per page, after `after`: lists
    /// above customers (the customers themselves).
    async fn record_list_all(
        &self,
        table: &TableSpec,
        limit: u32,
        after: Option<&Cursor>,
    ) -> Result<Page, StoreError>;

    /// Live rows (of any customer) whose `column` equals `value`, at most `limit`: lookups
    /// by a unique key such as an agent's username at login.
    async fn record_find(
        &self,
        table: &TableSpec,
        column: &str,
        value: &str,
        limit: u32,
    ) -> Result<Vec<Record>, StoreError>;

    /// Live rows of every customer in id order, `limit` per call, after the row with id
    /// `after_id`: a full scan in pages (building the nodes' SIP directory).
    async fn record_scan(
        &self,
        table: &TableSpec,
        after_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Record>, StoreError>;

    /// Writes effects without a row change (the audit row of a login, say).
    async fn write_effects(&self, effects: &Effects) -> Result<(), StoreError>;

    /// Outbox events not yet published, oldest first.
    async fn outbox_pending(&self, limit: u32) -> Result<Vec<PendingEvent>, StoreError>;

    /// Marks outbox events as published.
    async fn outbox_mark_published(
        &self,
        seqs: &[i64],
        at: chrono::NaiveDateTime,
    ) -> Result<(), StoreError>;
}

/// Opens the store a URL names. SQLite files (and their directory) are created if missing;
/// a MySQL pool connects lazily, so the appliance starts (and reports not-ready) while the
/// database is down.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
        Ok(Arc::new(MySqlStore::open(url)?))
    } else {
        Err(StoreError::UnsupportedUrl {
            url: url.to_owned(),
        })
    }
}
