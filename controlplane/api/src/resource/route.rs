//! Routes: which provider an outbound call to a destination leaves through. The route with
//! the longest matching `target` prefix wins (`all` matches everything), then the lowest
//! `priority`; several routes of one target give failover order.

use super::Resource;
use super::columns::{Row, bounded};
use crate::ApiError;
use chrono::NaiveDateTime;
use ferrovox_store::{ColumnType, LIVE, Record, SqlValue, TableSpec};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

static TABLE: TableSpec = TableSpec {
    name: "routes",
    columns: &[
        ("id", ColumnType::Text),
        ("customer_id", ColumnType::Text),
        ("name", ColumnType::Text),
        ("detail", ColumnType::Text),
        ("provider_id", ColumnType::Text),
        ("priority", ColumnType::Int),
        ("target", ColumnType::Text),
        ("tm_create", ColumnType::Time),
        ("tm_update", ColumnType::Time),
        ("tm_delete", ColumnType::Time),
    ],
};

/// A route to a provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Route {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub name: String,
    pub detail: String,
    pub provider_id: Uuid,
    /// Lower is tried first (0-1000).
    pub priority: u16,
    /// `all`, or an E.164 prefix such as `+1` or `+4420`.
    pub target: String,
    pub tm_create: NaiveDateTime,
    pub tm_update: NaiveDateTime,
    pub tm_delete: NaiveDateTime,
}

/// Body of `POST /v1.0/routes`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoute {
    provider_id: Uuid,
    /// Default `all`.
    target: Option<String>,
    /// Default 0.
    priority: Option<u16>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    detail: String,
}

/// Body of `PUT /v1.0/routes/{id}`: absent fields stay as they are.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRoute {
    provider_id: Option<Uuid>,
    target: Option<String>,
    priority: Option<u16>,
    name: Option<String>,
    detail: Option<String>,
}

fn validate_target(target: &str) -> Result<(), ApiError> {
    let prefix_ok = target.strip_prefix('+').is_some_and(|digits| {
        (1..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    });
    if target == "all" || prefix_ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "target",
            format!("{target:?} is neither \"all\" nor an E.164 prefix like +44"),
        ))
    }
}

fn validate_priority(priority: u16) -> Result<(), ApiError> {
    if priority <= 1000 {
        Ok(())
    } else {
        Err(ApiError::invalid("priority", "must be 0-1000"))
    }
}

impl Resource for Route {
    const KIND: &'static str = "route";
    const TABLE: &'static TableSpec = &TABLE;
    const CACHE_TTL: Duration = Duration::from_secs(3600);
    const UPDATABLE: &'static [&'static str] =
        &["name", "detail", "provider_id", "priority", "target"];
    type Create = CreateRoute;
    type Update = UpdateRoute;

    async fn create(request: CreateRoute, customer_id: Uuid, id: Uuid) -> Result<Self, ApiError> {
        let target = request.target.unwrap_or_else(|| "all".into());
        validate_target(&target)?;
        let priority = request.priority.unwrap_or(0);
        validate_priority(priority)?;
        let at = ferrovox_store::model::now();
        Ok(Route {
            id,
            customer_id,
            name: bounded("name", request.name, 255)?,
            detail: bounded("detail", request.detail, 4096)?,
            provider_id: request.provider_id,
            priority,
            target,
            tm_create: at,
            tm_update: at,
            tm_delete: LIVE,
        })
    }

    fn update(&mut self, request: UpdateRoute) -> Result<(), ApiError> {
        if let Some(provider) = request.provider_id {
            self.provider_id = provider;
        }
        if let Some(target) = request.target {
            validate_target(&target)?;
            self.target = target;
        }
        if let Some(priority) = request.priority {
            validate_priority(priority)?;
            self.priority = priority;
        }
        if let Some(name) = request.name {
            self.name = bounded("name", name, 255)?;
        }
        if let Some(detail) = request.detail {
            self.detail = bounded("detail", detail, 4096)?;
        }
        Ok(())
    }

    fn references(&self) -> Vec<(&'static TableSpec, Uuid, &'static str)> {
        vec![(&super::provider::TABLE, self.provider_id, "provider_id")]
    }

    common_accessors!();

    fn to_record(&self) -> Record {
        Record::from([
            ("id", SqlValue::from(self.id.to_string())),
            ("customer_id", self.customer_id.to_string().into()),
            ("name", self.name.clone().into()),
            ("detail", self.detail.clone().into()),
            ("provider_id", self.provider_id.to_string().into()),
            ("priority", i64::from(self.priority).into()),
            ("target", self.target.clone().into()),
            ("tm_create", self.tm_create.into()),
            ("tm_update", self.tm_update.into()),
            ("tm_delete", self.tm_delete.into()),
        ])
    }

    fn from_record(record: &Record) -> Result<Self, ApiError> {
        let row = Row::new(TABLE.name, record);
        Ok(Route {
            id: row.uuid("id")?,
            customer_id: row.uuid("customer_id")?,
            name: row.text("name")?,
            detail: row.text("detail")?,
            provider_id: row.uuid("provider_id")?,
            priority: row.small_int("priority")?,
            target: row.text("target")?,
            tm_create: row.time("tm_create")?,
            tm_update: row.time("tm_update")?,
            tm_delete: row.time("tm_delete")?,
        })
    }
}
