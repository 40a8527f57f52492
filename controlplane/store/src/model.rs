//! Rows as the rest of the control plane sees them.

use chrono::NaiveDateTime;
use uuid::Uuid;

/// `tm_delete` of a row that has not been deleted.
pub const LIVE: NaiveDateTime = match chrono::NaiveDate::from_ymd_opt(9999, 1, 1) {
    Some(date) => match date.and_hms_opt(0, 0, 0) {
        Some(at) => at,
        None => panic!("midnight exists"),
    },
    None => panic!("9999-01-01 exists"),
};

/// A tenant: owns every other resource, receives webhooks.
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    pub id: Uuid,
    pub name: String,
    pub detail: String,
    pub email: String,
    pub webhook_method: String,
    pub webhook_uri: String,
    pub webhook_secret: String,
    pub tm_create: NaiveDateTime,
    pub tm_update: NaiveDateTime,
    pub tm_delete: NaiveDateTime,
}

/// An API access key. The token is shown once at creation; only its hash is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessKey {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub name: String,
    pub detail: String,
    /// SHA-256 of the token, lower-case hex.
    pub token_hash: String,
    /// The token's first characters, so a user can tell keys apart.
    pub token_prefix: String,
    pub permissions: Vec<String>,
    pub tm_expire: NaiveDateTime,
    pub tm_create: NaiveDateTime,
    pub tm_update: NaiveDateTime,
    pub tm_delete: NaiveDateTime,
}

/// The current time at the microsecond precision DATETIME(6) keeps, so that a value read back
/// equals the one written.
pub fn now() -> NaiveDateTime {
    let now = chrono::Utc::now().naive_utc();
    let micros = now.and_utc().timestamp_subsec_micros();
    now.with_nanosecond(micros * 1000).unwrap_or(now)
}

use chrono::Timelike;
