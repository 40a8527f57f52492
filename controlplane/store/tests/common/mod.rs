//! Rows the store's tests share: a customer and an access key as the API writes them.

#![allow(dead_code)] // each test binary uses a different part of this module

use chrono::Duration;
use ferrovox_store::model::now;
use ferrovox_store::{AccessKey, Customer, LIVE};
use uuid::Uuid;

/// A live customer named `name` with contact details and a webhook; its detail is not ASCII,
/// so that an encoding mismatch between the engines shows.
pub fn customer(name: &str) -> Customer {
    let at = now();
    Customer {
        id: Uuid::new_v4(),
        name: name.into(),
        detail: "a customer with ünïcode 📞".into(),
        email: "ops@example.com".into(),
        webhook_method: "POST".into(),
        webhook_uri: "https://example.com/hook".into(),
        webhook_secret: "s3cret".into(),
        tm_create: at,
        tm_update: at,
        tm_delete: LIVE,
    }
}

/// A live access key `name` of customer `customer_id` holding `customer_admin` for a year,
/// found by `token_hash`.
pub fn access_key(customer_id: Uuid, name: &str, token_hash: &str) -> AccessKey {
    let at = now();
    AccessKey {
        id: Uuid::new_v4(),
        customer_id,
        name: name.into(),
        detail: String::new(),
        token_hash: token_hash.into(),
        token_prefix: "ak_1234".into(),
        permissions: vec!["customer_admin".into()],
        tm_expire: at + Duration::days(365),
        tm_create: at,
        tm_update: at,
        tm_delete: LIVE,
    }
}
