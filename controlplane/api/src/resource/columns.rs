//! Reading a stored row back into a resource, and the field checks resources share.

use crate::ApiError;
use chrono::NaiveDateTime;
use ferrovox_store::{Record, SqlValue};
use uuid::Uuid;

/// One stored row of `table`; a missing or malformed column is a 503 naming it (the store
/// holds something this code did not write).
pub(crate) struct Row<'a> {
    table: &'static str,
    record: &'a Record,
}

impl<'a> Row<'a> {
    pub(crate) fn new(table: &'static str, record: &'a Record) -> Self {
        Self { table, record }
    }

    fn corrupt(&self, column: &str, what: &str) -> ApiError {
        ApiError::Unavailable(format!("{}.{column} {what}", self.table))
    }

    pub(crate) fn text(&self, column: &str) -> Result<String, ApiError> {
        self.record
            .get(column)
            .and_then(SqlValue::as_text)
            .map(str::to_owned)
            .ok_or_else(|| self.corrupt(column, "is missing from the row"))
    }

    pub(crate) fn time(&self, column: &str) -> Result<NaiveDateTime, ApiError> {
        self.record
            .get(column)
            .and_then(SqlValue::as_time)
            .ok_or_else(|| self.corrupt(column, "is missing from the row"))
    }

    pub(crate) fn uuid(&self, column: &str) -> Result<Uuid, ApiError> {
        let value = self.text(column)?;
        Uuid::parse_str(&value)
            .map_err(|_| self.corrupt(column, &format!("{value:?} is not a UUID")))
    }

    /// An integer column that fits 16 bits (ports, priorities).
    pub(crate) fn small_int(&self, column: &str) -> Result<u16, ApiError> {
        self.record
            .get(column)
            .and_then(SqlValue::as_int)
            .and_then(|value| u16::try_from(value).ok())
            .ok_or_else(|| self.corrupt(column, "is missing or out of range"))
    }

    /// A nullable UUID column.
    pub(crate) fn optional_uuid(&self, column: &str) -> Result<Option<Uuid>, ApiError> {
        match self.record.get(column) {
            Some(SqlValue::Text(_)) => self.uuid(column).map(Some),
            _ => Ok(None),
        }
    }

    /// A column holding JSON.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(&self, column: &str) -> Result<T, ApiError> {
        let value = self.text(column)?;
        serde_json::from_str(&value)
            .map_err(|_| self.corrupt(column, &format!("{value:?} is not valid JSON")))
    }
}

/// `text` if it has at most `max` characters, else 400 naming `field`.
pub(crate) fn bounded(field: &str, text: String, max: usize) -> Result<String, ApiError> {
    if text.chars().count() > max {
        Err(ApiError::invalid(
            field,
            format!("longer than {max} characters"),
        ))
    } else {
        Ok(text)
    }
}

/// A DNS name (RFC 1123 labels) or an IP address, else 400 naming `field`.
pub(crate) fn host_name(field: &str, host: &str) -> Result<(), ApiError> {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if host.len() <= 253 && host.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            format!("{host:?} is neither a host name nor an IP address"),
        ))
    }
}

/// A SIP password: 8 to 128 characters.
pub(crate) fn sip_password(field: &str, password: String) -> Result<String, ApiError> {
    if (8..=128).contains(&password.chars().count()) {
        Ok(password)
    } else {
        Err(ApiError::invalid(field, "must be 8 to 128 characters"))
    }
}
