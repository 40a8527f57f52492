//! Resource rows as generic records, so one set of store methods serves every resource table.
//!
//! A [`TableSpec`] names a table and its columns (static strings written in the code, never
//! user input — they are the only parts of a statement not bound as parameters). Every resource
//! table follows the common pattern: `id`, `customer_id`, resource columns, `tm_create`,
//! `tm_update`, `tm_delete`. Writes carry their [`Effects`] — events for the outbox and an
//! audit entry — and both go into the same transaction as the change.

use chrono::NaiveDateTime;
use std::collections::BTreeMap;

/// A column value as both SQL dialects store it.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Text(String),
    Int(i64),
    Time(NaiveDateTime),
}

impl SqlValue {
    pub fn as_text(&self) -> Option<&str> {
        match self {
            SqlValue::Text(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_time(&self) -> Option<NaiveDateTime> {
        match self {
            SqlValue::Time(at) => Some(*at),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            SqlValue::Int(value) => Some(*value),
            _ => None,
        }
    }
}

impl From<&str> for SqlValue {
    fn from(text: &str) -> Self {
        SqlValue::Text(text.to_owned())
    }
}

impl From<String> for SqlValue {
    fn from(text: String) -> Self {
        SqlValue::Text(text)
    }
}

impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(value: Option<T>) -> Self {
        value.map_or(SqlValue::Null, Into::into)
    }
}

impl From<NaiveDateTime> for SqlValue {
    fn from(at: NaiveDateTime) -> Self {
        SqlValue::Time(at)
    }
}

impl From<i64> for SqlValue {
    fn from(value: i64) -> Self {
        SqlValue::Int(value)
    }
}

/// How a column is read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    /// Text that may be NULL.
    OptionalText,
    Int,
    Time,
}

/// A resource table: its name and every column, common ones included.
#[derive(Debug)]
pub struct TableSpec {
    pub name: &'static str,
    pub columns: &'static [(&'static str, ColumnType)],
}

impl TableSpec {
    pub(crate) fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub(crate) fn has_column(&self, column: &str) -> bool {
        self.columns.iter().any(|(name, _)| *name == column)
    }
}

/// One row: column name → value.
pub type Record = BTreeMap<&'static str, SqlValue>;

/// An event to publish once the change commits (written to the outbox in the same
/// transaction).
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    pub event_id: String,
    pub event_type: String,
    /// The whole event, serialised.
    pub payload: String,
}

/// Who changed what, for the audit trail.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: String,
    pub customer_id: String,
    /// e.g. `accesskey:<id>`.
    pub actor: String,
    /// `create`, `update`, `delete`, `login`, `login_failed`.
    pub action: String,
    pub resource: String,
    pub resource_id: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub at: NaiveDateTime,
}

/// What a write causes besides the row change, committed with it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    pub events: Vec<OutboxEvent>,
    pub audit: Option<AuditEntry>,
}

/// Where a list page starts: after the row with this `(tm_create, id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub tm_create: NaiveDateTime,
    pub id: String,
}

/// One page of a list, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub records: Vec<Record>,
    /// Set when more rows follow.
    pub next: Option<Cursor>,
}

/// An outbox row waiting to be published.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingEvent {
    pub seq: i64,
    pub event_id: String,
    pub payload: String,
}
