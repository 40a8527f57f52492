//! SQL shared by both dialects (both use `?` placeholders) and the row shapes it returns.
//! [`impl_store!`] expands [`crate::Store`] once per dialect, so the SQL is written once.

use crate::StoreError;
use crate::model::{AccessKey, Customer};
use chrono::NaiveDateTime;
use uuid::Uuid;

pub(crate) const CUSTOMER_INSERT: &str = "INSERT INTO customers \
    (id, name, detail, email, webhook_method, webhook_uri, webhook_secret, tm_create, tm_update, tm_delete) \
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
pub(crate) const CUSTOMER_GET: &str = "SELECT id, name, detail, email, webhook_method, webhook_uri, \
    webhook_secret, tm_create, tm_update, tm_delete FROM customers WHERE id = ? AND tm_delete = ?";
pub(crate) const CUSTOMER_COUNT: &str = "SELECT COUNT(*) FROM customers WHERE tm_delete = ?";
pub(crate) const ACCESSKEY_INSERT: &str = "INSERT INTO accesskeys \
    (id, customer_id, name, detail, token_hash, token_prefix, permissions, tm_expire, tm_create, tm_update, tm_delete) \
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
/// A key counts only while its customer is live: deleting a customer revokes its keys at once.
pub(crate) const ACCESSKEY_BY_HASH: &str = "SELECT k.id, k.customer_id, k.name, k.detail, k.token_hash, \
    k.token_prefix, k.permissions, k.tm_expire, k.tm_create, k.tm_update, k.tm_delete \
    FROM accesskeys k JOIN customers c ON c.id = k.customer_id \
    WHERE k.token_hash = ? AND k.tm_delete = ? AND c.tm_delete = ?";

#[derive(sqlx::FromRow)]
pub(crate) struct CustomerRow {
    id: String,
    name: String,
    detail: String,
    email: String,
    webhook_method: String,
    webhook_uri: String,
    webhook_secret: String,
    tm_create: NaiveDateTime,
    tm_update: NaiveDateTime,
    tm_delete: NaiveDateTime,
}

impl TryFrom<CustomerRow> for Customer {
    type Error = StoreError;
    fn try_from(row: CustomerRow) -> Result<Self, StoreError> {
        Ok(Customer {
            id: parse_uuid("customers.id", &row.id)?,
            name: row.name,
            detail: row.detail,
            email: row.email,
            webhook_method: row.webhook_method,
            webhook_uri: row.webhook_uri,
            webhook_secret: row.webhook_secret,
            tm_create: row.tm_create,
            tm_update: row.tm_update,
            tm_delete: row.tm_delete,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AccessKeyRow {
    id: String,
    customer_id: String,
    name: String,
    detail: String,
    token_hash: String,
    token_prefix: String,
    permissions: String,
    tm_expire: NaiveDateTime,
    tm_create: NaiveDateTime,
    tm_update: NaiveDateTime,
    tm_delete: NaiveDateTime,
}

impl TryFrom<AccessKeyRow> for AccessKey {
    type Error = StoreError;
    fn try_from(row: AccessKeyRow) -> Result<Self, StoreError> {
        let permissions = serde_json_array(&row.permissions).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "accesskeys.permissions of {} is not a JSON array of strings",
                row.id
            ))
        })?;
        Ok(AccessKey {
            id: parse_uuid("accesskeys.id", &row.id)?,
            customer_id: parse_uuid("accesskeys.customer_id", &row.customer_id)?,
            name: row.name,
            detail: row.detail,
            token_hash: row.token_hash,
            token_prefix: row.token_prefix,
            permissions,
            tm_expire: row.tm_expire,
            tm_create: row.tm_create,
            tm_update: row.tm_update,
            tm_delete: row.tm_delete,
        })
    }
}

fn parse_uuid(column: &str, text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|e| StoreError::Corrupt(format!("{column} {text:?}: {e}")))
}

/// Permissions are stored as a JSON array of strings. The format is small and fixed, so it is
/// written and read here without a JSON dependency in the store.
pub(crate) fn permissions_json(permissions: &[String]) -> String {
    let items: Vec<String> = permissions.iter().map(|p| format!("{p:?}")).collect();
    format!("[{}]", items.join(","))
}

fn serde_json_array(text: &str) -> Option<Vec<String>> {
    let inner = text.trim().strip_prefix('[')?.strip_suffix(']')?.trim();
    if inner.is_empty() {
        return Some(Vec::new());
    }
    inner
        .split(',')
        .map(|item| {
            let item = item.trim().strip_prefix('"')?.strip_suffix('"')?;
            (!item.contains(['"', '\\'])).then(|| item.to_owned())
        })
        .collect()
}

pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Implements [`crate::Store`] for a dialect's store type. The resource SQL is the same for
/// every dialect; the type supplies `ping()` and `SCHEMA_QUERY` (table, column pairs).
macro_rules! impl_store {
    ($store:ty, $db:ty, $kind:literal, $migrator:expr) => {
        macro_rules! bind_value {
            ($query:expr, $value:expr) => {
                match $value {
                    $crate::SqlValue::Null => $query.bind(None::<String>),
                    $crate::SqlValue::Text(text) => $query.bind(text.clone()),
                    $crate::SqlValue::Int(value) => $query.bind(*value),
                    $crate::SqlValue::Time(at) => $query.bind(*at),
                }
            };
        }

        impl $store {
            async fn write_effects(
                tx: &mut sqlx::Transaction<'static, $db>,
                effects: &$crate::Effects,
            ) -> Result<(), $crate::StoreError> {
                for event in &effects.events {
                    sqlx::query($crate::queries::OUTBOX_INSERT)
                        .bind(event.event_id.clone())
                        .bind(event.event_type.clone())
                        .bind(event.payload.clone())
                        .bind($crate::model::now())
                        .execute(&mut **tx)
                        .await?;
                }
                if let Some(audit) = &effects.audit {
                    sqlx::query($crate::queries::AUDIT_INSERT)
                        .bind(audit.id.clone())
                        .bind(audit.customer_id.clone())
                        .bind(audit.actor.clone())
                        .bind(audit.action.clone())
                        .bind(audit.resource.clone())
                        .bind(audit.resource_id.clone())
                        .bind(audit.before.clone())
                        .bind(audit.after.clone())
                        .bind(audit.at)
                        .execute(&mut **tx)
                        .await?;
                }
                Ok(())
            }

            /// Ends a write to one row: with no row changed, nothing is written (not even the
            /// effects) and the answer is `false`; otherwise the effects join the transaction.
            async fn commit_if_changed(
                mut tx: sqlx::Transaction<'static, $db>,
                rows_affected: u64,
                effects: &$crate::Effects,
            ) -> Result<bool, $crate::StoreError> {
                if rows_affected == 0 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                Self::write_effects(&mut tx, effects).await?;
                tx.commit().await?;
                Ok(true)
            }

            /// Runs a list query whose scope parameters are bound already: binds the live
            /// marker, the cursor and the limit, and cuts the page.
            async fn list_page<'q>(
                &self,
                table: &$crate::TableSpec,
                query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>,
                limit: u32,
                after: Option<&$crate::Cursor>,
            ) -> Result<$crate::Page, $crate::StoreError> {
                let mut query = query.bind($crate::LIVE);
                if let Some(cursor) = after {
                    query = query
                        .bind(cursor.tm_create)
                        .bind(cursor.tm_create)
                        .bind(cursor.id.clone());
                }
                // One row more than asked tells whether another page follows.
                let rows = query
                    .bind(i64::from(limit) + 1)
                    .fetch_all(&self.pool)
                    .await?;
                let mut records = rows
                    .iter()
                    .map(|row| Self::read_record(table, row))
                    .collect::<Result<Vec<_>, _>>()?;
                let next = if records.len() > limit as usize {
                    records.truncate(limit as usize);
                    records.last().and_then(|last| {
                        Some($crate::Cursor {
                            tm_create: last.get("tm_create")?.as_time()?,
                            id: last.get("id")?.as_text()?.to_owned(),
                        })
                    })
                } else {
                    None
                };
                Ok($crate::Page { records, next })
            }

            fn read_record(
                table: &$crate::TableSpec,
                row: &<$db as sqlx::Database>::Row,
            ) -> Result<$crate::Record, $crate::StoreError> {
                use sqlx::Row;
                let mut record = $crate::Record::new();
                for (name, kind) in table.columns {
                    let value = match kind {
                        $crate::ColumnType::Text => {
                            $crate::SqlValue::Text(row.try_get::<String, _>(*name)?)
                        }
                        $crate::ColumnType::OptionalText => row
                            .try_get::<Option<String>, _>(*name)?
                            .map_or($crate::SqlValue::Null, $crate::SqlValue::Text),
                        $crate::ColumnType::Int => {
                            $crate::SqlValue::Int(row.try_get::<i64, _>(*name)?)
                        }
                        $crate::ColumnType::Time => {
                            $crate::SqlValue::Time(row.try_get::<chrono::NaiveDateTime, _>(*name)?)
                        }
                    };
                    record.insert(*name, value);
                }
                Ok(record)
            }
        }

        #[async_trait::async_trait]
        impl $crate::Store for $store {
            fn kind(&self) -> &'static str {
                $kind
            }

            async fn check(&self) -> Result<(), $crate::StoreError> {
                self.ping().await
            }

            async fn schema(&self) -> Result<$crate::Schema, $crate::StoreError> {
                let rows: Vec<(String, String)> = sqlx::query_as(Self::SCHEMA_QUERY)
                    .fetch_all(&self.pool)
                    .await?;
                let mut schema = $crate::Schema::new();
                for (table, column) in rows {
                    schema.entry(table).or_default().insert(column);
                }
                Ok(schema)
            }

            async fn migrate(&self) -> Result<$crate::MigrationReport, $crate::StoreError> {
                use sqlx::migrate::Migrate;
                let migrator = &$migrator;
                let already: std::collections::HashSet<i64> = {
                    let mut conn = self.pool.acquire().await?;
                    conn.ensure_migrations_table("_sqlx_migrations").await?;
                    conn.list_applied_migrations("_sqlx_migrations")
                        .await?
                        .into_iter()
                        .map(|m| m.version)
                        .collect()
                };
                migrator.run(&self.pool).await?;
                let applied = migrator
                    .iter()
                    .filter(|m| !already.contains(&m.version))
                    .map(|m| (m.version, m.description.to_string()))
                    .collect();
                Ok($crate::MigrationReport {
                    applied,
                    already_applied: already.len(),
                })
            }

            async fn customer_create(
                &self,
                customer: &$crate::Customer,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::queries::CUSTOMER_INSERT)
                    .bind(customer.id.to_string())
                    .bind(&customer.name)
                    .bind(&customer.detail)
                    .bind(&customer.email)
                    .bind(&customer.webhook_method)
                    .bind(&customer.webhook_uri)
                    .bind(&customer.webhook_secret)
                    .bind(customer.tm_create)
                    .bind(customer.tm_update)
                    .bind(customer.tm_delete)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| {
                        if $crate::queries::is_unique_violation(&e) {
                            $crate::StoreError::Conflict {
                                what: "customer",
                                id: customer.id.to_string(),
                            }
                        } else {
                            e.into()
                        }
                    })?;
                Ok(())
            }

            async fn customer_get(
                &self,
                id: uuid::Uuid,
            ) -> Result<Option<$crate::Customer>, $crate::StoreError> {
                sqlx::query_as::<_, $crate::queries::CustomerRow>($crate::queries::CUSTOMER_GET)
                    .bind(id.to_string())
                    .bind($crate::LIVE)
                    .fetch_optional(&self.pool)
                    .await?
                    .map($crate::Customer::try_from)
                    .transpose()
            }

            async fn customer_count(&self) -> Result<u64, $crate::StoreError> {
                let (count,): (i64,) = sqlx::query_as($crate::queries::CUSTOMER_COUNT)
                    .bind($crate::LIVE)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(u64::try_from(count).unwrap_or(0))
            }

            async fn accesskey_create(
                &self,
                key: &$crate::AccessKey,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::queries::ACCESSKEY_INSERT)
                    .bind(key.id.to_string())
                    .bind(key.customer_id.to_string())
                    .bind(&key.name)
                    .bind(&key.detail)
                    .bind(&key.token_hash)
                    .bind(&key.token_prefix)
                    .bind($crate::queries::permissions_json(&key.permissions))
                    .bind(key.tm_expire)
                    .bind(key.tm_create)
                    .bind(key.tm_update)
                    .bind(key.tm_delete)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| {
                        if $crate::queries::is_unique_violation(&e) {
                            $crate::StoreError::Conflict {
                                what: "access key",
                                id: key.id.to_string(),
                            }
                        } else {
                            e.into()
                        }
                    })?;
                Ok(())
            }

            async fn accesskey_by_token_hash(
                &self,
                token_hash: &str,
            ) -> Result<Option<$crate::AccessKey>, $crate::StoreError> {
                sqlx::query_as::<_, $crate::queries::AccessKeyRow>(
                    $crate::queries::ACCESSKEY_BY_HASH,
                )
                .bind(token_hash)
                .bind($crate::LIVE)
                .bind($crate::LIVE)
                .fetch_optional(&self.pool)
                .await?
                .map($crate::AccessKey::try_from)
                .transpose()
            }

            async fn record_insert(
                &self,
                table: &$crate::TableSpec,
                record: &$crate::Record,
                effects: &$crate::Effects,
            ) -> Result<(), $crate::StoreError> {
                self.record_insert_all(&[(table, record, effects)]).await
            }

            async fn record_insert_all(
                &self,
                rows: &[(&$crate::TableSpec, &$crate::Record, &$crate::Effects)],
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                for (table, record, effects) in rows {
                    let sql = $crate::queries::record_sql::insert(table, record)?;
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for value in record.values() {
                        query = bind_value!(query, value);
                    }
                    query.execute(&mut *tx).await.map_err(|e| {
                        if $crate::queries::is_unique_violation(&e) {
                            $crate::StoreError::Conflict {
                                what: table.name,
                                id: record
                                    .get("id")
                                    .and_then(|v| v.as_text())
                                    .unwrap_or_default()
                                    .to_owned(),
                            }
                        } else {
                            e.into()
                        }
                    })?;
                    Self::write_effects(&mut tx, effects).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn record_update(
                &self,
                table: &$crate::TableSpec,
                customer_id: &str,
                id: &str,
                set: &$crate::Record,
                effects: &$crate::Effects,
            ) -> Result<bool, $crate::StoreError> {
                let sql = $crate::queries::record_sql::update(table, set)?;
                let mut tx = self.pool.begin().await?;
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for value in set.values() {
                    query = bind_value!(query, value);
                }
                let result = query
                    .bind($crate::model::now())
                    .bind(id.to_owned())
                    .bind(customer_id.to_owned())
                    .bind($crate::LIVE)
                    .execute(&mut *tx)
                    .await?;
                Self::commit_if_changed(tx, result.rows_affected(), effects).await
            }

            async fn record_soft_delete(
                &self,
                table: &$crate::TableSpec,
                customer_id: &str,
                id: &str,
                at: chrono::NaiveDateTime,
                effects: &$crate::Effects,
            ) -> Result<bool, $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                let result = sqlx::query(sqlx::AssertSqlSafe(
                    $crate::queries::record_sql::soft_delete(table),
                ))
                .bind(at)
                .bind(at)
                .bind(id.to_owned())
                .bind(customer_id.to_owned())
                .bind($crate::LIVE)
                .execute(&mut *tx)
                .await?;
                Self::commit_if_changed(tx, result.rows_affected(), effects).await
            }

            async fn record_get(
                &self,
                table: &$crate::TableSpec,
                customer_id: &str,
                id: &str,
            ) -> Result<Option<$crate::Record>, $crate::StoreError> {
                let row = sqlx::query(sqlx::AssertSqlSafe($crate::queries::record_sql::get(table)))
                    .bind(id.to_owned())
                    .bind(customer_id.to_owned())
                    .bind($crate::LIVE)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|row| Self::read_record(table, &row)).transpose()
            }

            async fn record_list(
                &self,
                table: &$crate::TableSpec,
                customer_id: &str,
                limit: u32,
                after: Option<&$crate::Cursor>,
            ) -> Result<$crate::Page, $crate::StoreError> {
                let sql = $crate::queries::record_sql::list(table, after.is_some());
                let query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(customer_id.to_owned());
                self.list_page(table, query, limit, after).await
            }

            async fn record_list_all(
                &self,
                table: &$crate::TableSpec,
                limit: u32,
                after: Option<&$crate::Cursor>,
            ) -> Result<$crate::Page, $crate::StoreError> {
                let sql = $crate::queries::record_sql::list_all(table, after.is_some());
                let query = sqlx::query(sqlx::AssertSqlSafe(sql));
                self.list_page(table, query, limit, after).await
            }

            async fn write_effects(
                &self,
                effects: &$crate::Effects,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                Self::write_effects(&mut tx, effects).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn record_find(
                &self,
                table: &$crate::TableSpec,
                column: &str,
                value: &str,
                limit: u32,
            ) -> Result<Vec<$crate::Record>, $crate::StoreError> {
                let sql = $crate::queries::record_sql::find(table, column)?;
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(value.to_owned())
                    .bind($crate::LIVE)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|row| Self::read_record(table, row))
                    .collect()
            }

            async fn record_scan(
                &self,
                table: &$crate::TableSpec,
                after_id: Option<&str>,
                limit: u32,
            ) -> Result<Vec<$crate::Record>, $crate::StoreError> {
                let sql = $crate::queries::record_sql::scan(table);
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind($crate::LIVE)
                    .bind(after_id.unwrap_or("").to_owned())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|row| Self::read_record(table, row))
                    .collect()
            }

            async fn outbox_pending(
                &self,
                limit: u32,
            ) -> Result<Vec<$crate::PendingEvent>, $crate::StoreError> {
                let rows: Vec<(i64, String, String)> =
                    sqlx::query_as($crate::queries::OUTBOX_PENDING)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows
                    .into_iter()
                    .map(|(seq, event_id, payload)| $crate::PendingEvent {
                        seq,
                        event_id,
                        payload,
                    })
                    .collect())
            }

            async fn outbox_mark_published(
                &self,
                seqs: &[i64],
                at: chrono::NaiveDateTime,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.pool.begin().await?;
                for seq in seqs {
                    sqlx::query($crate::queries::OUTBOX_MARK)
                        .bind(at)
                        .bind(*seq)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_round_trip_through_their_stored_form() {
        let permissions = vec!["customer_admin".to_owned(), "customer_manager".to_owned()];
        let stored = permissions_json(&permissions);
        assert_eq!(stored, r#"["customer_admin","customer_manager"]"#);
        assert_eq!(serde_json_array(&stored), Some(permissions));
        assert_eq!(serde_json_array("[]"), Some(vec![]));
        assert_eq!(serde_json_array("not json"), None);
    }
}

pub(crate) const OUTBOX_INSERT: &str =
    "INSERT INTO outbox (event_id, event_type, payload, tm_create) VALUES (?, ?, ?, ?)";
pub(crate) const OUTBOX_PENDING: &str =
    "SELECT seq, event_id, payload FROM outbox WHERE tm_publish IS NULL ORDER BY seq LIMIT ?";
pub(crate) const OUTBOX_MARK: &str = "UPDATE outbox SET tm_publish = ? WHERE seq = ?";
pub(crate) const AUDIT_INSERT: &str = "INSERT INTO audits \
    (id, customer_id, actor, action, resource, resource_id, before_value, after_value, tm_create) \
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// Statement texts for generic records. Only table and column names from a [`TableSpec`]
/// (static strings in the code) are spliced in; every value is a bound parameter.
pub(crate) mod record_sql {
    use crate::StoreError;
    use crate::record::{Record, TableSpec};

    fn check(table: &TableSpec, column: &str) -> Result<(), StoreError> {
        if table.has_column(column) {
            Ok(())
        } else {
            Err(StoreError::UnknownColumn {
                table: table.name,
                column: column.to_owned(),
            })
        }
    }

    pub(crate) fn insert(table: &TableSpec, record: &Record) -> Result<String, StoreError> {
        let mut columns = Vec::with_capacity(record.len());
        for column in record.keys() {
            check(table, column)?;
            columns.push(*column);
        }
        let placeholders = vec!["?"; columns.len()].join(", ");
        Ok(format!(
            "INSERT INTO {} ({}) VALUES ({placeholders})",
            table.name,
            columns.join(", ")
        ))
    }

    pub(crate) fn update(table: &TableSpec, set: &Record) -> Result<String, StoreError> {
        let mut assignments = Vec::with_capacity(set.len() + 1);
        for column in set.keys() {
            check(table, column)?;
            assignments.push(format!("{column} = ?"));
        }
        assignments.push("tm_update = ?".to_owned());
        Ok(format!(
            "UPDATE {} SET {} WHERE id = ? AND customer_id = ? AND tm_delete = ?",
            table.name,
            assignments.join(", ")
        ))
    }

    pub(crate) fn soft_delete(table: &TableSpec) -> String {
        format!(
            "UPDATE {} SET tm_delete = ?, tm_update = ? WHERE id = ? AND customer_id = ? AND tm_delete = ?",
            table.name
        )
    }

    pub(crate) fn get(table: &TableSpec) -> String {
        format!(
            "SELECT {} FROM {} WHERE id = ? AND customer_id = ? AND tm_delete = ?",
            table.column_list(),
            table.name
        )
    }

    pub(crate) fn find(table: &TableSpec, column: &str) -> Result<String, StoreError> {
        check(table, column)?;
        Ok(format!(
            "SELECT {} FROM {} WHERE {column} = ? AND tm_delete = ? LIMIT ?",
            table.column_list(),
            table.name
        ))
    }

    /// Live rows of every customer in primary-key order, after an id ("" = from the start).
    pub(crate) fn scan(table: &TableSpec) -> String {
        format!(
            "SELECT {} FROM {} WHERE tm_delete = ? AND id > ? ORDER BY id LIMIT ?",
            table.column_list(),
            table.name
        )
    }

    /// Live rows of every customer, newest first (the platform's own lists, such as customers).
    pub(crate) fn list_all(table: &TableSpec, after: bool) -> String {
        let after = if after {
            " AND (tm_create < ? OR (tm_create = ? AND id < ?))"
        } else {
            ""
        };
        format!(
            "SELECT {} FROM {} WHERE tm_delete = ?{after} ORDER BY tm_create DESC, id DESC LIMIT ?",
            table.column_list(),
            table.name
        )
    }

    pub(crate) fn list(table: &TableSpec, after: bool) -> String {
        let after = if after {
            " AND (tm_create < ? OR (tm_create = ? AND id < ?))"
        } else {
            ""
        };
        format!(
            "SELECT {} FROM {} WHERE customer_id = ? AND tm_delete = ?{after} \
             ORDER BY tm_create DESC, id DESC LIMIT ?",
            table.column_list(),
            table.name
        )
    }
}
