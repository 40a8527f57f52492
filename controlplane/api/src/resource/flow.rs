//! Flows: the action lists (IVR) that run on a call — the number a call arrives at names one.
//!
//! The list is checked whole on every write ([`super::flow_actions::validate_actions`]) and
//! stored as JSON text; an update that sends `actions` replaces the list. Ids the request
//! leaves out are generated, so a client reads them back from the answer to jump to them
//! later. Options that point outside the flow (queue_id, conference_id, agent addresses) are
//! checked for shape only: those resources are not in this control plane yet.

use super::Resource;
use super::columns::{Row, bounded};
use super::flow_actions::{Action, ActionRequest, validate_actions};
use crate::ApiError;
use chrono::NaiveDateTime;
use ferrovox_store::{ColumnType, LIVE, Record, SqlValue, TableSpec};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

pub(crate) static TABLE: TableSpec = TableSpec {
    name: "flows",
    columns: &[
        ("id", ColumnType::Text),
        ("customer_id", ColumnType::Text),
        ("name", ColumnType::Text),
        ("detail", ColumnType::Text),
        ("actions", ColumnType::Text),
        ("tm_create", ColumnType::Time),
        ("tm_update", ColumnType::Time),
        ("tm_delete", ColumnType::Time),
    ],
};

/// A call flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Flow {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub name: String,
    pub detail: String,
    /// Run from the first; each with its id.
    pub actions: Vec<Action>,
    pub tm_create: NaiveDateTime,
    pub tm_update: NaiveDateTime,
    pub tm_delete: NaiveDateTime,
}

/// Body of `POST /v1.0/flows`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFlow {
    #[serde(default)]
    name: String,
    #[serde(default)]
    detail: String,
    /// 1 to 1000 actions.
    #[schema(value_type = Vec<ActionRequest>)]
    actions: serde_json::Value,
}

/// Body of `PUT /v1.0/flows/{id}`: absent fields stay as they are; `actions` replaces the
/// whole list.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateFlow {
    name: Option<String>,
    detail: Option<String>,
    #[schema(value_type = Option<Vec<ActionRequest>>)]
    actions: Option<serde_json::Value>,
}

impl Resource for Flow {
    const KIND: &'static str = "flow";
    const TABLE: &'static TableSpec = &TABLE;
    /// "Configuration" in the source documents' TTL table (`flow:<id>`).
    const CACHE_TTL: Duration = Duration::from_secs(3600);
    const UPDATABLE: &'static [&'static str] = &["name", "detail", "actions"];
    type Create = CreateFlow;
    type Update = UpdateFlow;

    async fn create(request: CreateFlow, customer_id: Uuid, id: Uuid) -> Result<Self, ApiError> {
        let at = ferrovox_store::model::now();
        Ok(Flow {
            id,
            customer_id,
            name: bounded("name", request.name, 255)?,
            detail: bounded("detail", request.detail, 4096)?,
            actions: validate_actions(&request.actions)?,
            tm_create: at,
            tm_update: at,
            tm_delete: LIVE,
        })
    }

    fn update(&mut self, request: UpdateFlow) -> Result<(), ApiError> {
        if let Some(name) = request.name {
            self.name = bounded("name", name, 255)?;
        }
        if let Some(detail) = request.detail {
            self.detail = bounded("detail", detail, 4096)?;
        }
        if let Some(actions) = request.actions {
            self.actions = validate_actions(&actions)?;
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
            (
                "actions",
                serde_json::to_string(&self.actions)
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
        Ok(Flow {
            id: row.uuid("id")?,
            customer_id: row.uuid("customer_id")?,
            name: row.text("name")?,
            detail: row.text("detail")?,
            actions: row.json("actions")?,
            tm_create: row.time("tm_create")?,
            tm_update: row.time("tm_update")?,
            tm_delete: row.time("tm_delete")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn records_round_trip() {
        let flow = Flow::create(
            CreateFlow {
                name: "main".into(),
                detail: String::new(),
                actions: json!([
                    {"type": "answer"},
                    {"type": "talk", "option": {"text": "hi ☎", "language": "en-US"}},
                    {"type": "hangup"}
                ]),
            },
            Uuid::new_v4(),
            Uuid::new_v4(),
        )
        .await
        .unwrap();
        assert_eq!(Flow::from_record(&flow.to_record()).unwrap(), flow);
    }
}
