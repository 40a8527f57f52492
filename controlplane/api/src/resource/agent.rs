//! Agents: the people of a customer. They log in with a username and password
//! (`POST /v1.0/auth/login`); the password is stored as an Argon2id hash and never returned.

use super::Resource;
use super::accesskey::{PERMISSIONS, grantable};
use super::columns::{Row, bounded};
use crate::ApiError;
use crate::auth::Caller;
use chrono::NaiveDateTime;
use ferrovox_store::{ColumnType, LIVE, Record, SqlValue, TableSpec};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

pub(crate) static TABLE: TableSpec = TableSpec {
    name: "agents",
    columns: &[
        ("id", ColumnType::Text),
        ("customer_id", ColumnType::Text),
        ("username", ColumnType::Text),
        ("password_hash", ColumnType::Text),
        ("name", ColumnType::Text),
        ("detail", ColumnType::Text),
        ("status", ColumnType::Text),
        ("permission", ColumnType::Text),
        ("tag_ids", ColumnType::Text),
        ("addresses", ColumnType::Text),
        ("tm_create", ColumnType::Time),
        ("tm_update", ColumnType::Time),
        ("tm_delete", ColumnType::Time),
    ],
};

const STATUSES: &[&str] = &["available", "away", "busy", "offline", "ringing"];

/// Where an agent can be reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// `tel`, `sip`, `extension` or `agent`.
    #[serde(rename = "type")]
    pub kind: String,
    pub target: String,
}

/// An agent (without its password).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Agent {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub username: String,
    pub name: String,
    pub detail: String,
    /// available, away, busy, offline or ringing.
    pub status: String,
    /// customer_admin, customer_manager or agent_user.
    pub permission: String,
    pub tag_ids: Vec<Uuid>,
    pub addresses: Vec<Address>,
    pub tm_create: NaiveDateTime,
    pub tm_update: NaiveDateTime,
    pub tm_delete: NaiveDateTime,
    #[serde(skip)]
    #[schema(ignore)]
    pub(crate) password_hash: String,
}

/// Body of `POST /v1.0/agents`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgent {
    username: String,
    /// At least 8 characters.
    password: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    detail: String,
    pub(crate) permission: Option<String>,
    #[serde(default)]
    tag_ids: Vec<Uuid>,
    #[serde(default)]
    addresses: Vec<Address>,
}

/// Body of `PUT /v1.0/agents/{id}`: absent fields stay as they are.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAgent {
    name: Option<String>,
    detail: Option<String>,
    status: Option<String>,
    permission: Option<String>,
    tag_ids: Option<Vec<Uuid>>,
    addresses: Option<Vec<Address>>,
}

fn validate_username(username: &str) -> Result<(), ApiError> {
    let ok = (3..=64).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@' | b'+'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "username",
            "3-64 characters: letters, digits and . _ - @ +",
        ))
    }
}

fn validate_status(status: &str) -> Result<(), ApiError> {
    if STATUSES.contains(&status) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "status",
            format!("must be one of {}", STATUSES.join(", ")),
        ))
    }
}

fn validate_permission(permission: &str) -> Result<(), ApiError> {
    if PERMISSIONS.contains(&permission) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "permission",
            format!("must be one of {}", PERMISSIONS.join(", ")),
        ))
    }
}

fn validate_addresses(addresses: &[Address]) -> Result<(), ApiError> {
    for address in addresses {
        if !matches!(address.kind.as_str(), "tel" | "sip" | "extension" | "agent") {
            return Err(ApiError::invalid(
                "addresses",
                format!(
                    "type {:?} is not tel, sip, extension or agent",
                    address.kind
                ),
            ));
        }
        if address.target.is_empty() || address.target.len() > 255 {
            return Err(ApiError::invalid(
                "addresses",
                "target must be 1-255 characters",
            ));
        }
    }
    Ok(())
}

impl Agent {
    /// The agent with `password` hashed (computed off the async threads).
    pub(crate) async fn with_password(mut self, password: &str) -> Result<Self, ApiError> {
        if password.chars().count() < 8 {
            return Err(ApiError::invalid("password", "at least 8 characters"));
        }
        self.password_hash = crate::password::hash(password.to_owned()).await?;
        Ok(self)
    }
}

impl Resource for Agent {
    const KIND: &'static str = "agent";
    const TABLE: &'static TableSpec = &TABLE;
    /// "User profiles" in the source documents' TTL table.
    const CACHE_TTL: Duration = Duration::from_secs(300);
    const MANAGED_BY: &'static [&'static str] = &["customer_admin"];
    const UPDATABLE: &'static [&'static str] = &[
        "name",
        "detail",
        "status",
        "permission",
        "tag_ids",
        "addresses",
    ];
    type Create = CreateAgent;
    type Update = UpdateAgent;

    fn authorize_create(request: &CreateAgent, caller: &Caller) -> Result<(), ApiError> {
        grantable(request.permission.iter(), caller, "permission")
    }

    async fn create(request: CreateAgent, customer_id: Uuid, id: Uuid) -> Result<Self, ApiError> {
        validate_username(&request.username)?;
        let permission = request
            .permission
            .unwrap_or_else(|| "agent_user".to_owned());
        validate_permission(&permission)?;
        validate_addresses(&request.addresses)?;
        let at = ferrovox_store::model::now();
        let agent = Agent {
            id,
            customer_id,
            username: request.username,
            name: bounded("name", request.name, 255)?,
            detail: bounded("detail", request.detail, 4096)?,
            status: "offline".into(),
            permission,
            tag_ids: request.tag_ids,
            addresses: request.addresses,
            tm_create: at,
            tm_update: at,
            tm_delete: LIVE,
            password_hash: String::new(),
        };
        agent.with_password(&request.password).await
    }

    fn update(&mut self, request: UpdateAgent) -> Result<(), ApiError> {
        if let Some(name) = request.name {
            self.name = bounded("name", name, 255)?;
        }
        if let Some(detail) = request.detail {
            self.detail = bounded("detail", detail, 4096)?;
        }
        if let Some(status) = request.status {
            validate_status(&status)?;
            self.status = status;
        }
        if let Some(permission) = request.permission {
            validate_permission(&permission)?;
            self.permission = permission;
        }
        if let Some(tag_ids) = request.tag_ids {
            self.tag_ids = tag_ids;
        }
        if let Some(addresses) = request.addresses {
            validate_addresses(&addresses)?;
            self.addresses = addresses;
        }
        Ok(())
    }

    common_accessors!();

    fn to_record(&self) -> Record {
        Record::from([
            ("id", SqlValue::from(self.id.to_string())),
            ("customer_id", self.customer_id.to_string().into()),
            ("username", self.username.clone().into()),
            ("password_hash", self.password_hash.clone().into()),
            ("name", self.name.clone().into()),
            ("detail", self.detail.clone().into()),
            ("status", self.status.clone().into()),
            ("permission", self.permission.clone().into()),
            (
                "tag_ids",
                serde_json::to_string(&self.tag_ids)
                    .unwrap_or_else(|_| "[]".into())
                    .into(),
            ),
            (
                "addresses",
                serde_json::to_string(&self.addresses)
                    .unwrap_or_else(|_| "[]".into())
                    .into(),
            ),
            ("tm_create", self.tm_create.into()),
            ("tm_update", self.tm_update.into()),
            ("tm_delete", self.tm_delete.into()),
        ])
    }

    fn from_record(record: &Record) -> Result<Self, ApiError> {
        let row = Row::new(TABLE.name, record);
        Ok(Agent {
            id: row.uuid("id")?,
            customer_id: row.uuid("customer_id")?,
            username: row.text("username")?,
            name: row.text("name")?,
            detail: row.text("detail")?,
            status: row.text("status")?,
            permission: row.text("permission")?,
            tag_ids: row.json("tag_ids")?,
            addresses: row.json("addresses")?,
            tm_create: row.time("tm_create")?,
            tm_update: row.time("tm_update")?,
            tm_delete: row.time("tm_delete")?,
            password_hash: row.text("password_hash")?,
        })
    }
}
