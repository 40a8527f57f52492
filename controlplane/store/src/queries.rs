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
pub(crate) const ACCESSKEY_BY_HASH: &str = "SELECT id, customer_id, name, detail, token_hash, token_prefix, \
    permissions, tm_expire, tm_create, tm_update, tm_delete FROM accesskeys WHERE token_hash = ? AND tm_delete = ?";

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
    ($store:ty, $kind:literal, $migrator:expr) => {
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
                .fetch_optional(&self.pool)
                .await?
                .map($crate::AccessKey::try_from)
                .transpose()
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
