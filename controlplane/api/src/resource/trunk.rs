//! Trunks: SIP accounts of PBXs and carriers that send calls in, authenticated by digest
//! (`basic`), by source address (`ip`), or both. The password is write-only.

use super::Resource;
use super::columns::{Row, bounded, host_name, sip_password};
use crate::ApiError;
use chrono::NaiveDateTime;
use ferrovox_store::{ColumnType, LIVE, Record, SqlValue, TableSpec};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

static TABLE: TableSpec = TableSpec {
    name: "trunks",
    columns: &[
        ("id", ColumnType::Text),
        ("customer_id", ColumnType::Text),
        ("name", ColumnType::Text),
        ("detail", ColumnType::Text),
        ("domain_name", ColumnType::Text),
        ("auth_types", ColumnType::Text),
        ("username", ColumnType::Text),
        ("password", ColumnType::Text),
        ("allowed_ips", ColumnType::Text),
        ("realm", ColumnType::Text),
        ("tm_create", ColumnType::Time),
        ("tm_update", ColumnType::Time),
        ("tm_delete", ColumnType::Time),
    ],
};

/// A SIP trunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Trunk {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub name: String,
    pub detail: String,
    /// The SIP domain the trunk sends to; unique among live trunks.
    pub domain_name: String,
    /// `basic` (digest) and/or `ip` (source address).
    pub auth_types: Vec<String>,
    pub username: String,
    /// Addresses or CIDR blocks calls may come from (for `ip`).
    pub allowed_ips: Vec<String>,
    pub realm: String,
    pub tm_create: NaiveDateTime,
    pub tm_update: NaiveDateTime,
    pub tm_delete: NaiveDateTime,
    #[serde(skip)]
    #[schema(ignore)]
    pub(crate) password: String,
}

/// Body of `POST /v1.0/trunks`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTrunk {
    domain_name: String,
    auth_types: Vec<String>,
    #[serde(default)]
    username: String,
    /// Write-only; required with `basic`.
    #[serde(default)]
    password: String,
    #[serde(default)]
    allowed_ips: Vec<String>,
    /// Default: the domain name.
    realm: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    detail: String,
}

/// Body of `PUT /v1.0/trunks/{id}`: absent fields stay as they are.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTrunk {
    auth_types: Option<Vec<String>>,
    username: Option<String>,
    /// Write-only.
    password: Option<String>,
    allowed_ips: Option<Vec<String>>,
    realm: Option<String>,
    name: Option<String>,
    detail: Option<String>,
}

/// An IP address or a CIDR block.
fn address_or_block(text: &str) -> bool {
    match text.split_once('/') {
        None => text.parse::<std::net::IpAddr>().is_ok(),
        Some((address, bits)) => match (address.parse::<std::net::IpAddr>(), bits.parse::<u8>()) {
            (Ok(std::net::IpAddr::V4(_)), Ok(bits)) => bits <= 32,
            (Ok(std::net::IpAddr::V6(_)), Ok(bits)) => bits <= 128,
            _ => false,
        },
    }
}

impl Trunk {
    /// The rules that tie the fields together, checked after every create and update.
    fn validate(&self) -> Result<(), ApiError> {
        if self.auth_types.is_empty() || self.auth_types.iter().any(|t| t != "basic" && t != "ip") {
            return Err(ApiError::invalid("auth_types", "one or both of basic, ip"));
        }
        if self.auth_types.iter().any(|t| t == "basic") {
            if self.username.is_empty() || self.username.len() > 64 {
                return Err(ApiError::invalid(
                    "username",
                    "basic authentication needs a username of 1-64 characters",
                ));
            }
            sip_password("password", self.password.clone())?;
        }
        if self.auth_types.iter().any(|t| t == "ip") && self.allowed_ips.is_empty() {
            return Err(ApiError::invalid(
                "allowed_ips",
                "ip authentication needs at least one address",
            ));
        }
        if let Some(bad) = self.allowed_ips.iter().find(|ip| !address_or_block(ip)) {
            return Err(ApiError::invalid(
                "allowed_ips",
                format!("{bad:?} is not an IP address or CIDR block"),
            ));
        }
        host_name("realm", &self.realm)
    }
}

impl Resource for Trunk {
    const KIND: &'static str = "trunk";
    const TABLE: &'static TableSpec = &TABLE;
    const CACHE_TTL: Duration = Duration::from_secs(3600);
    const UPDATABLE: &'static [&'static str] = &[
        "name",
        "detail",
        "auth_types",
        "username",
        "password",
        "allowed_ips",
        "realm",
    ];
    type Create = CreateTrunk;
    type Update = UpdateTrunk;

    async fn create(request: CreateTrunk, customer_id: Uuid, id: Uuid) -> Result<Self, ApiError> {
        host_name("domain_name", &request.domain_name)?;
        let at = ferrovox_store::model::now();
        let trunk = Trunk {
            id,
            customer_id,
            name: bounded("name", request.name, 255)?,
            detail: bounded("detail", request.detail, 4096)?,
            realm: request.realm.unwrap_or_else(|| request.domain_name.clone()),
            domain_name: request.domain_name,
            auth_types: request.auth_types,
            username: request.username,
            password: request.password,
            allowed_ips: request.allowed_ips,
            tm_create: at,
            tm_update: at,
            tm_delete: LIVE,
        };
        trunk.validate()?;
        Ok(trunk)
    }

    fn update(&mut self, request: UpdateTrunk) -> Result<(), ApiError> {
        if let Some(types) = request.auth_types {
            self.auth_types = types;
        }
        if let Some(username) = request.username {
            self.username = username;
        }
        if let Some(password) = request.password {
            self.password = password;
        }
        if let Some(ips) = request.allowed_ips {
            self.allowed_ips = ips;
        }
        if let Some(realm) = request.realm {
            self.realm = realm;
        }
        if let Some(name) = request.name {
            self.name = bounded("name", name, 255)?;
        }
        if let Some(detail) = request.detail {
            self.detail = bounded("detail", detail, 4096)?;
        }
        self.validate()
    }

    common_accessors!();

    fn to_record(&self) -> Record {
        Record::from([
            ("id", SqlValue::from(self.id.to_string())),
            ("customer_id", self.customer_id.to_string().into()),
            ("name", self.name.clone().into()),
            ("detail", self.detail.clone().into()),
            ("domain_name", self.domain_name.clone().into()),
            (
                "auth_types",
                serde_json::to_string(&self.auth_types)
                    .unwrap_or_else(|_| "[]".into())
                    .into(),
            ),
            ("username", self.username.clone().into()),
            ("password", self.password.clone().into()),
            (
                "allowed_ips",
                serde_json::to_string(&self.allowed_ips)
                    .unwrap_or_else(|_| "[]".into())
                    .into(),
            ),
            ("realm", self.realm.clone().into()),
            ("tm_create", self.tm_create.into()),
            ("tm_update", self.tm_update.into()),
            ("tm_delete", self.tm_delete.into()),
        ])
    }

    fn from_record(record: &Record) -> Result<Self, ApiError> {
        let row = Row::new(TABLE.name, record);
        Ok(Trunk {
            id: row.uuid("id")?,
            customer_id: row.uuid("customer_id")?,
            name: row.text("name")?,
            detail: row.text("detail")?,
            domain_name: row.text("domain_name")?,
            auth_types: row.json("auth_types")?,
            username: row.text("username")?,
            password: row.text("password")?,
            allowed_ips: row.json("allowed_ips")?,
            realm: row.text("realm")?,
            tm_create: row.time("tm_create")?,
            tm_update: row.time("tm_update")?,
            tm_delete: row.time("tm_delete")?,
        })
    }
}
