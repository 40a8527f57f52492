//! Phone numbers (E.164) a customer owns, each optionally routed to a call flow.

use super::Resource;
use super::columns::{Row, bounded};
use crate::ApiError;
use chrono::NaiveDateTime;
use ferrovox_store::{ColumnType, LIVE, Record, SqlValue, TableSpec};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

static TABLE: TableSpec = TableSpec {
    name: "numbers",
    columns: &[
        ("id", ColumnType::Text),
        ("customer_id", ColumnType::Text),
        ("number", ColumnType::Text),
        ("flow_id", ColumnType::OptionalText),
        ("name", ColumnType::Text),
        ("detail", ColumnType::Text),
        ("status", ColumnType::Text),
        ("tm_create", ColumnType::Time),
        ("tm_update", ColumnType::Time),
        ("tm_delete", ColumnType::Time),
    ],
};

/// A phone number the customer owns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Number {
    pub id: Uuid,
    pub customer_id: Uuid,
    /// E.164, e.g. `+15551234567`.
    pub number: String,
    /// The flow that answers calls to this number.
    pub flow_id: Option<Uuid>,
    pub name: String,
    pub detail: String,
    pub status: String,
    pub tm_create: NaiveDateTime,
    pub tm_update: NaiveDateTime,
    pub tm_delete: NaiveDateTime,
}

/// Body of `POST /v1.0/numbers`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNumber {
    /// E.164, e.g. `+15551234567`.
    number: String,
    flow_id: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    detail: String,
}

/// Body of `PUT /v1.0/numbers/{id}`. Absent fields stay as they are; `"flow_id": null`
/// detaches the flow.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateNumber {
    #[serde(default, deserialize_with = "present")]
    flow_id: Option<Option<String>>,
    name: Option<String>,
    detail: Option<String>,
}

/// Distinguishes a field sent as `null` (`Some(None)`) from an absent one (`None`).
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// E.164 (ITU-T): `+`, a country code not starting with 0, at most 15 digits in all.
pub fn validate_e164(number: &str) -> Result<(), ApiError> {
    let digits = number
        .strip_prefix('+')
        .ok_or_else(|| ApiError::invalid("number", "must start with + (E.164)"))?;
    let valid = (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "number",
            format!("{number:?} is not an E.164 number (+ then 2-15 digits, no leading 0)"),
        ))
    }
}

fn parse_flow(flow: Option<String>) -> Result<Option<Uuid>, ApiError> {
    flow.map(|flow| {
        Uuid::parse_str(&flow)
            .map_err(|_| ApiError::invalid("flow_id", format!("{flow:?} is not a UUID")))
    })
    .transpose()
}

impl Resource for Number {
    const KIND: &'static str = "number";
    const TABLE: &'static TableSpec = &TABLE;
    /// "Configuration" in the source documents' TTL table: numbers change rarely.
    const CACHE_TTL: Duration = Duration::from_secs(3600);
    const UPDATABLE: &'static [&'static str] = &["flow_id", "name", "detail"];

    fn references(&self) -> Vec<(&'static TableSpec, Uuid, &'static str)> {
        self.flow_id
            .map(|flow| (&super::flow::TABLE, flow, "flow_id"))
            .into_iter()
            .collect()
    }
    type Create = CreateNumber;
    type Update = UpdateNumber;

    async fn create(request: CreateNumber, customer_id: Uuid, id: Uuid) -> Result<Self, ApiError> {
        validate_e164(&request.number)?;
        let at = ferrovox_store::model::now();
        Ok(Number {
            id,
            customer_id,
            number: request.number,
            flow_id: parse_flow(request.flow_id)?,
            name: bounded("name", request.name, 255)?,
            detail: bounded("detail", request.detail, 4096)?,
            status: "active".into(),
            tm_create: at,
            tm_update: at,
            tm_delete: LIVE,
        })
    }

    fn update(&mut self, request: UpdateNumber) -> Result<(), ApiError> {
        if let Some(flow) = request.flow_id {
            self.flow_id = parse_flow(flow)?;
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
            ("number", self.number.clone().into()),
            ("flow_id", self.flow_id.map(|f| f.to_string()).into()),
            ("name", self.name.clone().into()),
            ("detail", self.detail.clone().into()),
            ("status", self.status.clone().into()),
            ("tm_create", self.tm_create.into()),
            ("tm_update", self.tm_update.into()),
            ("tm_delete", self.tm_delete.into()),
        ])
    }

    fn from_record(record: &Record) -> Result<Self, ApiError> {
        let row = Row::new(TABLE.name, record);
        Ok(Number {
            id: row.uuid("id")?,
            customer_id: row.uuid("customer_id")?,
            number: row.text("number")?,
            flow_id: row.optional_uuid("flow_id")?,
            name: row.text("name")?,
            detail: row.text("detail")?,
            status: row.text("status")?,
            tm_create: row.time("tm_create")?,
            tm_update: row.time("tm_update")?,
            tm_delete: row.time("tm_delete")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers() {
        for good in ["+15551234567", "+442071838750", "+12", "+123456789012345"] {
            assert!(validate_e164(good).is_ok(), "{good}");
        }
        for bad in [
            "15551234567",
            "+0123",
            "+1",
            "+1234567890123456",
            "+1-555",
            "+",
            "+1555 123",
        ] {
            assert!(validate_e164(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn records_round_trip() {
        let mut number = Number::create(
            CreateNumber {
                number: "+15551234567".into(),
                flow_id: None,
                name: "n".into(),
                detail: String::new(),
            },
            Uuid::new_v4(),
            Uuid::new_v4(),
        )
        .await
        .unwrap();
        number.flow_id = Some(Uuid::new_v4());
        assert_eq!(Number::from_record(&number.to_record()).unwrap(), number);
    }
}
