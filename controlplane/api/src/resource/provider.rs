//! Providers: carriers' SIP gateways that outbound calls leave through (routes pick them).
//! The gateway password is write-only: stored for digest authentication towards the carrier,
//! never returned, published or audited.

use super::Resource;
use super::columns::{Row, bounded, host_name};
use crate::ApiError;
use chrono::NaiveDateTime;
use ferrovox_store::{ColumnType, LIVE, Record, SqlValue, TableSpec};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

pub(crate) static TABLE: TableSpec = TableSpec {
    name: "providers",
    columns: &[
        ("id", ColumnType::Text),
        ("customer_id", ColumnType::Text),
        ("name", ColumnType::Text),
        ("detail", ColumnType::Text),
        ("hostname", ColumnType::Text),
        ("port", ColumnType::Int),
        ("transport", ColumnType::Text),
        ("tech_prefix", ColumnType::Text),
        ("codecs", ColumnType::Text),
        ("auth_username", ColumnType::Text),
        ("auth_password", ColumnType::Text),
        ("tm_create", ColumnType::Time),
        ("tm_update", ColumnType::Time),
        ("tm_delete", ColumnType::Time),
    ],
};

/// Codecs a provider may list, as SDP encoding names.
const CODECS: &[&str] = &["PCMU", "PCMA", "G722", "opus", "telephone-event"];

/// A carrier gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Provider {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub name: String,
    pub detail: String,
    /// Host name or IP address of the gateway.
    pub hostname: String,
    pub port: u16,
    /// udp, tcp or tls.
    pub transport: String,
    /// Digits prepended to the dialled number (e.g. a carrier's account prefix).
    pub tech_prefix: String,
    /// Offered in this order: PCMU, PCMA, G722, opus, telephone-event.
    pub codecs: Vec<String>,
    /// Digest username towards the carrier; empty for IP-authenticated trunks.
    pub auth_username: String,
    pub tm_create: NaiveDateTime,
    pub tm_update: NaiveDateTime,
    pub tm_delete: NaiveDateTime,
    #[serde(skip)]
    #[schema(ignore)]
    auth_password: String,
}

/// Body of `POST /v1.0/providers`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProvider {
    hostname: String,
    /// Default 5060 (5061 for tls).
    port: Option<u16>,
    /// Default udp.
    transport: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    detail: String,
    #[serde(default)]
    tech_prefix: String,
    /// Default PCMU, PCMA, telephone-event.
    codecs: Option<Vec<String>>,
    #[serde(default)]
    auth_username: String,
    /// Write-only.
    #[serde(default)]
    auth_password: String,
}

/// Body of `PUT /v1.0/providers/{id}`: absent fields stay as they are.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProvider {
    name: Option<String>,
    detail: Option<String>,
    hostname: Option<String>,
    port: Option<u16>,
    transport: Option<String>,
    tech_prefix: Option<String>,
    codecs: Option<Vec<String>>,
    auth_username: Option<String>,
    /// Write-only.
    auth_password: Option<String>,
}

fn validate_transport(transport: &str) -> Result<(), ApiError> {
    if matches!(transport, "udp" | "tcp" | "tls") {
        Ok(())
    } else {
        Err(ApiError::invalid("transport", "must be udp, tcp or tls"))
    }
}

fn validate_port(port: u16) -> Result<(), ApiError> {
    if port == 0 {
        Err(ApiError::invalid("port", "must be 1-65535"))
    } else {
        Ok(())
    }
}

fn validate_prefix(prefix: &str) -> Result<(), ApiError> {
    if prefix.len() <= 32
        && prefix
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'#' | b'*'))
    {
        Ok(())
    } else {
        Err(ApiError::invalid("tech_prefix", "up to 32 of 0-9 + # *"))
    }
}

fn validate_codecs(codecs: &[String]) -> Result<(), ApiError> {
    if codecs.is_empty() {
        return Err(ApiError::invalid("codecs", "must list at least one codec"));
    }
    for codec in codecs {
        if !CODECS.contains(&codec.as_str()) {
            return Err(ApiError::invalid(
                "codecs",
                format!("{codec:?} is not one of {}", CODECS.join(", ")),
            ));
        }
    }
    Ok(())
}

impl Resource for Provider {
    const KIND: &'static str = "provider";
    const TABLE: &'static TableSpec = &TABLE;
    /// "Configuration" in the source documents' TTL table.
    const CACHE_TTL: Duration = Duration::from_secs(3600);
    const UPDATABLE: &'static [&'static str] = &[
        "name",
        "detail",
        "hostname",
        "port",
        "transport",
        "tech_prefix",
        "codecs",
        "auth_username",
        "auth_password",
    ];
    type Create = CreateProvider;
    type Update = UpdateProvider;

    async fn create(
        request: CreateProvider,
        customer_id: Uuid,
        id: Uuid,
    ) -> Result<Self, ApiError> {
        host_name("hostname", &request.hostname)?;
        let transport = request.transport.unwrap_or_else(|| "udp".into());
        validate_transport(&transport)?;
        let port = request
            .port
            .unwrap_or(if transport == "tls" { 5061 } else { 5060 });
        validate_port(port)?;
        validate_prefix(&request.tech_prefix)?;
        let codecs = request
            .codecs
            .unwrap_or_else(|| vec!["PCMU".into(), "PCMA".into(), "telephone-event".into()]);
        validate_codecs(&codecs)?;
        let at = ferrovox_store::model::now();
        Ok(Provider {
            id,
            customer_id,
            name: bounded("name", request.name, 255)?,
            detail: bounded("detail", request.detail, 4096)?,
            hostname: request.hostname,
            port,
            transport,
            tech_prefix: request.tech_prefix,
            codecs,
            auth_username: bounded("auth_username", request.auth_username, 255)?,
            auth_password: bounded("auth_password", request.auth_password, 255)?,
            tm_create: at,
            tm_update: at,
            tm_delete: LIVE,
        })
    }

    fn update(&mut self, request: UpdateProvider) -> Result<(), ApiError> {
        if let Some(name) = request.name {
            self.name = bounded("name", name, 255)?;
        }
        if let Some(detail) = request.detail {
            self.detail = bounded("detail", detail, 4096)?;
        }
        if let Some(hostname) = request.hostname {
            host_name("hostname", &hostname)?;
            self.hostname = hostname;
        }
        if let Some(port) = request.port {
            validate_port(port)?;
            self.port = port;
        }
        if let Some(transport) = request.transport {
            validate_transport(&transport)?;
            self.transport = transport;
        }
        if let Some(prefix) = request.tech_prefix {
            validate_prefix(&prefix)?;
            self.tech_prefix = prefix;
        }
        if let Some(codecs) = request.codecs {
            validate_codecs(&codecs)?;
            self.codecs = codecs;
        }
        if let Some(username) = request.auth_username {
            self.auth_username = bounded("auth_username", username, 255)?;
        }
        if let Some(password) = request.auth_password {
            self.auth_password = bounded("auth_password", password, 255)?;
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
            ("hostname", self.hostname.clone().into()),
            ("port", i64::from(self.port).into()),
            ("transport", self.transport.clone().into()),
            ("tech_prefix", self.tech_prefix.clone().into()),
            (
                "codecs",
                serde_json::to_string(&self.codecs)
                    .unwrap_or_else(|_| "[]".into())
                    .into(),
            ),
            ("auth_username", self.auth_username.clone().into()),
            ("auth_password", self.auth_password.clone().into()),
            ("tm_create", self.tm_create.into()),
            ("tm_update", self.tm_update.into()),
            ("tm_delete", self.tm_delete.into()),
        ])
    }

    fn from_record(record: &Record) -> Result<Self, ApiError> {
        let row = Row::new(TABLE.name, record);
        Ok(Provider {
            id: row.uuid("id")?,
            customer_id: row.uuid("customer_id")?,
            name: row.text("name")?,
            detail: row.text("detail")?,
            hostname: row.text("hostname")?,
            port: row.small_int("port")?,
            transport: row.text("transport")?,
            tech_prefix: row.text("tech_prefix")?,
            codecs: row.json("codecs")?,
            auth_username: row.text("auth_username")?,
            auth_password: row.text("auth_password")?,
            tm_create: row.time("tm_create")?,
            tm_update: row.time("tm_update")?,
            tm_delete: row.time("tm_delete")?,
        })
    }
}
