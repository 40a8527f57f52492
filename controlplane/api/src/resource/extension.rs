//! Extensions: SIP users for phones, which REGISTER as `username@domain_name` with a digest
//! password (write-only) and are dialled by their extension number.

use super::Resource;
use super::columns::{Row, bounded, host_name, sip_password};
use crate::ApiError;
use chrono::NaiveDateTime;
use ferrovox_store::{ColumnType, LIVE, Record, SqlValue, TableSpec};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

static TABLE: TableSpec = TableSpec {
    name: "extensions",
    columns: &[
        ("id", ColumnType::Text),
        ("customer_id", ColumnType::Text),
        ("name", ColumnType::Text),
        ("detail", ColumnType::Text),
        ("extension", ColumnType::Text),
        ("username", ColumnType::Text),
        ("password", ColumnType::Text),
        ("domain_name", ColumnType::Text),
        ("tm_create", ColumnType::Time),
        ("tm_update", ColumnType::Time),
        ("tm_delete", ColumnType::Time),
    ],
};

/// A phone's SIP account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Extension {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub name: String,
    pub detail: String,
    /// What other phones dial: 2-10 digits.
    pub extension: String,
    /// The SIP user name the phone registers with.
    pub username: String,
    /// The SIP domain the phone registers to.
    pub domain_name: String,
    pub tm_create: NaiveDateTime,
    pub tm_update: NaiveDateTime,
    pub tm_delete: NaiveDateTime,
    #[serde(skip)]
    #[schema(ignore)]
    pub(crate) password: String,
}

/// Body of `POST /v1.0/extensions`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateExtension {
    extension: String,
    /// Write-only, 8-128 characters.
    password: String,
    /// Default: the extension number.
    username: Option<String>,
    /// Default: `<customer id>.registrar`.
    domain_name: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    detail: String,
}

/// Body of `PUT /v1.0/extensions/{id}`: absent fields stay as they are.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateExtension {
    /// Write-only.
    password: Option<String>,
    name: Option<String>,
    detail: Option<String>,
}

fn validate_extension(extension: &str) -> Result<(), ApiError> {
    if (2..=10).contains(&extension.len()) && extension.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(ApiError::invalid("extension", "must be 2-10 digits"))
    }
}

fn validate_username(username: &str) -> Result<(), ApiError> {
    if (1..=64).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "username",
            "1-64 characters: letters, digits and . _ -",
        ))
    }
}

impl Resource for Extension {
    const KIND: &'static str = "extension";
    const TABLE: &'static TableSpec = &TABLE;
    const CACHE_TTL: Duration = Duration::from_secs(3600);
    const UPDATABLE: &'static [&'static str] = &["name", "detail", "password"];
    type Create = CreateExtension;
    type Update = UpdateExtension;

    async fn create(
        request: CreateExtension,
        customer_id: Uuid,
        id: Uuid,
    ) -> Result<Self, ApiError> {
        validate_extension(&request.extension)?;
        let username = request
            .username
            .unwrap_or_else(|| request.extension.clone());
        validate_username(&username)?;
        let domain_name = request
            .domain_name
            .unwrap_or_else(|| format!("{customer_id}.registrar"));
        host_name("domain_name", &domain_name)?;
        let at = ferrovox_store::model::now();
        Ok(Extension {
            id,
            customer_id,
            name: bounded("name", request.name, 255)?,
            detail: bounded("detail", request.detail, 4096)?,
            extension: request.extension,
            username,
            domain_name,
            password: sip_password("password", request.password)?,
            tm_create: at,
            tm_update: at,
            tm_delete: LIVE,
        })
    }

    fn update(&mut self, request: UpdateExtension) -> Result<(), ApiError> {
        if let Some(password) = request.password {
            self.password = sip_password("password", password)?;
        }
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
            ("extension", self.extension.clone().into()),
            ("username", self.username.clone().into()),
            ("password", self.password.clone().into()),
            ("domain_name", self.domain_name.clone().into()),
            ("tm_create", self.tm_create.into()),
            ("tm_update", self.tm_update.into()),
            ("tm_delete", self.tm_delete.into()),
        ])
    }

    fn from_record(record: &Record) -> Result<Self, ApiError> {
        let row = Row::new(TABLE.name, record);
        Ok(Extension {
            id: row.uuid("id")?,
            customer_id: row.uuid("customer_id")?,
            name: row.text("name")?,
            detail: row.text("detail")?,
            extension: row.text("extension")?,
            username: row.text("username")?,
            password: row.text("password")?,
            domain_name: row.text("domain_name")?,
            tm_create: row.time("tm_create")?,
            tm_update: row.time("tm_update")?,
            tm_delete: row.time("tm_delete")?,
        })
    }
}
