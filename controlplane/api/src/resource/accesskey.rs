//! API access keys. The token (`ak_…`) is in the answer to the create request and nowhere
//! else: the store keeps its SHA-256, events and audit rows leave it out. Deleting a key
//! revokes it at once: authentication caches a key's grant under its token hash, and the
//! delete drops that entry with the key's own.

use super::Resource;
use super::columns::{Row, bounded};
use crate::ApiError;
use crate::accesskey::{generate_token, token_hash};
use crate::auth::Caller;
use chrono::NaiveDateTime;
use ferrovox_store::{ColumnType, LIVE, Record, SqlValue, TableSpec};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

static TABLE: TableSpec = TableSpec {
    name: "accesskeys",
    columns: &[
        ("id", ColumnType::Text),
        ("customer_id", ColumnType::Text),
        ("name", ColumnType::Text),
        ("detail", ColumnType::Text),
        ("token_hash", ColumnType::Text),
        ("token_prefix", ColumnType::Text),
        ("permissions", ColumnType::Text),
        ("tm_expire", ColumnType::Time),
        ("tm_create", ColumnType::Time),
        ("tm_update", ColumnType::Time),
        ("tm_delete", ColumnType::Time),
    ],
};

/// The permissions the source documents define, strongest first: each includes what the ones
/// after it may do.
pub const PERMISSIONS: &[&str] = &["customer_admin", "customer_manager", "agent_user"];

/// Position in [`PERMISSIONS`]; lower is stronger.
fn rank(permission: &str) -> Option<usize> {
    PERMISSIONS.iter().position(|p| *p == permission)
}

/// Checks that every permission in `wanted` is known (else 400 on `field`) and no stronger
/// than the caller's own (else 403): nobody grants more than they hold.
pub(crate) fn grantable<'a>(
    wanted: impl IntoIterator<Item = &'a String>,
    caller: &Caller,
    field: &str,
) -> Result<(), ApiError> {
    let strongest_held = caller.permissions.iter().filter_map(|p| rank(p)).min();
    for permission in wanted {
        let Some(wanted) = rank(permission) else {
            return Err(ApiError::invalid(
                field,
                format!("{permission:?} is not one of {}", PERMISSIONS.join(", ")),
            ));
        };
        if strongest_held.is_none_or(|held| wanted < held) {
            return Err(ApiError::Forbidden(format!(
                "cannot grant {permission}: stronger than the caller's own permissions"
            )));
        }
    }
    Ok(())
}

const DEFAULT_LIFETIME_DAYS: u32 = 365;
const MAX_LIFETIME_DAYS: u32 = 3650;

/// An access key (the token itself only in the answer to its creation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccessKey {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub name: String,
    pub detail: String,
    /// The token's first characters, to tell keys apart.
    pub token_prefix: String,
    pub permissions: Vec<String>,
    pub tm_expire: NaiveDateTime,
    pub tm_create: NaiveDateTime,
    pub tm_update: NaiveDateTime,
    pub tm_delete: NaiveDateTime,
    /// The key to send as `Authorization: AccessKey <token>`; present only when created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(skip)]
    #[schema(ignore)]
    token_hash: String,
}

/// Body of `POST /v1.0/accesskeys`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccessKey {
    #[serde(default)]
    name: String,
    #[serde(default)]
    detail: String,
    /// Subset of the caller's own permissions; default: the caller's.
    permissions: Option<Vec<String>>,
    /// Days until the key expires (1–3650, default 365).
    expire_days: Option<u32>,
}

/// Body of `PUT /v1.0/accesskeys/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAccessKey {
    name: Option<String>,
    detail: Option<String>,
}

impl Resource for AccessKey {
    const KIND: &'static str = "accesskey";
    const TABLE: &'static TableSpec = &TABLE;
    const CACHE_TTL: Duration = Duration::from_secs(300);
    /// The source documents: only a customer admin manages access keys.
    const MANAGED_BY: &'static [&'static str] = &["customer_admin"];
    const UPDATABLE: &'static [&'static str] = &["name", "detail"];
    type Create = CreateAccessKey;
    type Update = UpdateAccessKey;

    fn dependent_cache_keys(&self) -> Vec<String> {
        vec![crate::auth::accesskey_cache_key(&self.token_hash)]
    }

    fn authorize_create(request: &CreateAccessKey, caller: &Caller) -> Result<(), ApiError> {
        grantable(request.permissions.iter().flatten(), caller, "permissions")
    }

    async fn create(
        request: CreateAccessKey,
        customer_id: Uuid,
        id: Uuid,
    ) -> Result<Self, ApiError> {
        let days = request.expire_days.unwrap_or(DEFAULT_LIFETIME_DAYS);
        if !(1..=MAX_LIFETIME_DAYS).contains(&days) {
            return Err(ApiError::invalid(
                "expire_days",
                format!("must be 1 to {MAX_LIFETIME_DAYS}"),
            ));
        }
        let permissions = request
            .permissions
            .unwrap_or_else(|| vec!["customer_admin".to_owned()]);
        if permissions.is_empty() {
            return Err(ApiError::invalid(
                "permissions",
                "must name at least one permission",
            ));
        }
        let token = generate_token();
        let at = ferrovox_store::model::now();
        Ok(AccessKey {
            id,
            customer_id,
            name: bounded("name", request.name, 255)?,
            detail: bounded("detail", request.detail, 4096)?,
            token_prefix: token.chars().take(7).collect(),
            permissions,
            tm_expire: at + chrono::Duration::days(i64::from(days)),
            tm_create: at,
            tm_update: at,
            tm_delete: LIVE,
            token_hash: token_hash(&token),
            token: Some(token),
        })
    }

    fn update(&mut self, request: UpdateAccessKey) -> Result<(), ApiError> {
        if let Some(name) = request.name {
            self.name = bounded("name", name, 255)?;
        }
        if let Some(detail) = request.detail {
            self.detail = bounded("detail", detail, 4096)?;
        }
        Ok(())
    }

    common_accessors!();

    fn to_record(&self) -> Record {
        Record::from([
            ("id", SqlValue::from(self.id.to_string())),
            ("customer_id", self.customer_id.to_string().into()),
            ("name", self.name.clone().into()),
            ("detail", self.detail.clone().into()),
            ("token_hash", self.token_hash.clone().into()),
            ("token_prefix", self.token_prefix.clone().into()),
            (
                "permissions",
                serde_json::to_string(&self.permissions)
                    .unwrap_or_else(|_| "[]".into())
                    .into(),
            ),
            ("tm_expire", self.tm_expire.into()),
            ("tm_create", self.tm_create.into()),
            ("tm_update", self.tm_update.into()),
            ("tm_delete", self.tm_delete.into()),
        ])
    }

    fn from_record(record: &Record) -> Result<Self, ApiError> {
        let row = Row::new(TABLE.name, record);
        Ok(AccessKey {
            id: row.uuid("id")?,
            customer_id: row.uuid("customer_id")?,
            name: row.text("name")?,
            detail: row.text("detail")?,
            token_prefix: row.text("token_prefix")?,
            permissions: row.json("permissions")?,
            tm_expire: row.time("tm_expire")?,
            tm_create: row.time("tm_create")?,
            tm_update: row.time("tm_update")?,
            tm_delete: row.time("tm_delete")?,
            token: None,
            token_hash: row.text("token_hash")?,
        })
    }

    fn public_view(&self) -> serde_json::Value {
        let mut view = serde_json::to_value(self).unwrap_or_default();
        if let Some(object) = view.as_object_mut() {
            object.remove("token");
        }
        view
    }
}
