//! The customer: the tenant that owns every other resource and receives webhooks.
//!
//! Endpoints of a customer's own people (customer_admin, customer_manager, agent_user):
//!
//! - `GET /v1.0/customer`: the caller's own customer and the caller's permissions; any
//!   permission may read it.
//! - `PUT /v1.0/customer`: a customer_admin changes the profile (name, detail, email,
//!   phone_number, address, billing_account_id) and the webhook target (webhook_method,
//!   webhook_uri). The source documents give a customer admin "full access" and deny the
//!   manager customer-level changes, so managers and agents get 403.
//! - `POST /v1.0/customer/webhook_secret`: a customer_admin replaces the webhook signing
//!   secret; the answer is the only place the new secret appears.
//!
//! The collection `/v1.0/customers` belongs to the platform operator, who holds
//! [`PLATFORM_ADMIN`] (the first start's admin key):
//!
//! - `POST /v1.0/customers` creates a customer and, in the same transaction, its first admin:
//!   an agent (`admin_agent`, who can log in at once) and/or an access key
//!   (`admin_accesskey`, whose token is in this answer only). Both default to
//!   customer_admin.
//! - `GET /v1.0/customers` lists every live customer, newest first, paginated; anyone else
//!   sees a list holding only their own customer.
//! - `GET`/`PUT /v1.0/customers/{id}`: the operator any customer; a customer's own people
//!   only theirs (another id is 404, as for every resource of another customer), with the
//!   permissions of `/v1.0/customer`.
//! - `DELETE /v1.0/customers/{id}` soft-deletes a customer: its access keys and agent
//!   sessions stop working at once (authentication checks that the customer is live), its
//!   agents cannot log in. The operator cannot delete the customer it is authenticated as
//!   (409): that would lock the platform out.
//!
//! The webhook secret (`whsec_…`, HMAC-SHA256 key of the webhook signatures) is made when the
//! customer is created and is write-only after that: never in an answer other than the
//! rotation's, never in events or the audit trail. `billing_account_id` is checked as a UUID
//! only until billing accounts exist.
//!
//! The customers table carries a generated `customer_id` equal to `id` (migration 0006), so the
//! generic record queries — always scoped by `customer_id` — serve it: the operator acting on
//! customer X runs them scoped to X (and the audit row is X's, naming the operator's key).

use super::accesskey::{AccessKey, CreateAccessKey};
use super::agent::{Agent, CreateAgent};
use super::columns::{Row, bounded, host_name};
use super::flow_actions::http_url;
use super::{
    ListResponse, Resource, check_references, delete_one, effects, invalidate, load, load_fresh,
    not_found, parse_id, update_one,
};
use crate::auth::{Caller, PLATFORM_ADMIN};
use crate::body::JsonBody;
use crate::routes::AppState;
use crate::{ApiError, generate_token, page};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::NaiveDateTime;
use ferrovox_store::{ColumnType, LIVE, Record, SqlValue, TableSpec};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

static TABLE: TableSpec = TableSpec {
    name: "customers",
    columns: &[
        ("id", ColumnType::Text),
        ("name", ColumnType::Text),
        ("detail", ColumnType::Text),
        ("email", ColumnType::Text),
        ("phone_number", ColumnType::Text),
        ("address", ColumnType::Text),
        ("webhook_method", ColumnType::Text),
        ("webhook_uri", ColumnType::Text),
        ("webhook_secret", ColumnType::Text),
        ("billing_account_id", ColumnType::OptionalText),
        ("tm_create", ColumnType::Time),
        ("tm_update", ColumnType::Time),
        ("tm_delete", ColumnType::Time),
    ],
};

/// Methods a webhook may be sent with.
const WEBHOOK_METHODS: &[&str] = &["POST", "GET", "PUT", "DELETE"];

/// A customer (without its webhook secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Customer {
    pub id: Uuid,
    pub name: String,
    pub detail: String,
    pub email: String,
    /// E.164, or empty.
    pub phone_number: String,
    /// Postal address, free text.
    pub address: String,
    /// POST, GET, PUT or DELETE.
    pub webhook_method: String,
    /// Where events are sent (http or https); empty: no webhooks.
    pub webhook_uri: String,
    pub billing_account_id: Option<Uuid>,
    pub tm_create: NaiveDateTime,
    pub tm_update: NaiveDateTime,
    pub tm_delete: NaiveDateTime,
    #[serde(skip)]
    #[schema(ignore)]
    webhook_secret: String,
}

/// The answer to `GET /v1.0/customer`: the customer and what the caller may do.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OwnCustomer {
    #[serde(flatten)]
    pub customer: Customer,
    /// The caller's permissions.
    pub permissions: Vec<String>,
}

/// The answer to `POST /v1.0/customer/webhook_secret`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookSecret {
    /// The key webhooks are now signed with (HMAC-SHA256); shown only here.
    pub webhook_secret: String,
}

/// Body of `POST /v1.0/customers`: a new customer and, optionally, its first admin.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomer {
    pub name: String,
    #[serde(default)]
    pub detail: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub phone_number: String,
    #[serde(default)]
    pub address: String,
    /// Default POST.
    pub webhook_method: Option<String>,
    #[serde(default)]
    pub webhook_uri: String,
    pub billing_account_id: Option<Uuid>,
    /// The customer's first agent; its permission defaults to customer_admin. It can log in
    /// at once with this username and password.
    pub admin_agent: Option<CreateAgent>,
    /// The customer's first access key; its permissions default to customer_admin. Its token
    /// is in the answer to this request only.
    pub admin_accesskey: Option<CreateAccessKey>,
}

/// The answer to `POST /v1.0/customers`: the customer, and its first admin if one was asked
/// for.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedCustomer {
    #[serde(flatten)]
    pub customer: Customer,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_agent: Option<Agent>,
    /// With its `token`, shown only here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_accesskey: Option<AccessKey>,
}

/// Body of `PUT /v1.0/customer`: absent fields stay as they are; `"billing_account_id": null`
/// detaches the billing account.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCustomer {
    name: Option<String>,
    detail: Option<String>,
    email: Option<String>,
    /// E.164, or empty.
    phone_number: Option<String>,
    address: Option<String>,
    /// POST, GET, PUT or DELETE.
    webhook_method: Option<String>,
    /// http or https URL, or empty for no webhooks.
    webhook_uri: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = Uuid)]
    billing_account_id: Option<Option<String>>,
}

/// Distinguishes a field sent as `null` (`Some(None)`) from an absent one (`None`).
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

fn validate_email(email: &str) -> Result<(), ApiError> {
    if email.is_empty() {
        return Ok(());
    }
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && local.len() <= 64
                && local.bytes().all(|b| b.is_ascii_graphic() && b != b'@')
                && domain.contains('.')
                && host_name("email", domain).is_ok()
        });
    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "email",
            format!("{email:?} is not an e-mail address"),
        ))
    }
}

fn validate_phone_number(number: &str) -> Result<(), ApiError> {
    let valid = number.is_empty()
        || number.strip_prefix('+').is_some_and(|digits| {
            (2..=15).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit())
                && !digits.starts_with('0')
        });
    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "phone_number",
            format!("{number:?} is not an E.164 number (+ then 2-15 digits, no leading 0)"),
        ))
    }
}

fn validate_webhook_method(method: &str) -> Result<(), ApiError> {
    if WEBHOOK_METHODS.contains(&method) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "webhook_method",
            format!("must be one of {}", WEBHOOK_METHODS.join(", ")),
        ))
    }
}

fn validate_webhook_uri(uri: String) -> Result<String, ApiError> {
    let uri = bounded("webhook_uri", uri, 1024)?;
    if !uri.is_empty() {
        http_url("webhook_uri", &uri)?;
    }
    Ok(uri)
}

fn parse_billing_account(id: Option<String>) -> Result<Option<Uuid>, ApiError> {
    id.map(|id| {
        Uuid::parse_str(&id)
            .map_err(|_| ApiError::invalid("billing_account_id", format!("{id:?} is not a UUID")))
    })
    .transpose()
}

/// A new webhook signing secret.
fn new_secret() -> String {
    generate_token().replacen("ak_", "whsec_", 1)
}

impl Resource for Customer {
    const KIND: &'static str = "customer";
    const TABLE: &'static TableSpec = &TABLE;
    /// "User profiles" in the source documents' TTL table.
    const CACHE_TTL: Duration = Duration::from_secs(300);
    const MANAGED_BY: &'static [&'static str] = &["customer_admin"];
    /// Not the webhook secret: only the rotation writes it.
    const UPDATABLE: &'static [&'static str] = &[
        "name",
        "detail",
        "email",
        "phone_number",
        "address",
        "webhook_method",
        "webhook_uri",
        "billing_account_id",
    ];
    type Create = CreateCustomer;
    type Update = UpdateCustomer;

    /// `customer_id` is ignored: a customer is its own tenant.
    async fn create(
        request: CreateCustomer,
        _customer_id: Uuid,
        id: Uuid,
    ) -> Result<Self, ApiError> {
        validate_email(&request.email)?;
        validate_phone_number(&request.phone_number)?;
        let webhook_method = request.webhook_method.unwrap_or_else(|| "POST".into());
        validate_webhook_method(&webhook_method)?;
        let at = ferrovox_store::model::now();
        Ok(Customer {
            id,
            name: bounded("name", request.name, 255)?,
            detail: bounded("detail", request.detail, 4096)?,
            email: request.email,
            phone_number: request.phone_number,
            address: bounded("address", request.address, 1024)?,
            webhook_method,
            webhook_uri: validate_webhook_uri(request.webhook_uri)?,
            billing_account_id: request.billing_account_id,
            tm_create: at,
            tm_update: at,
            tm_delete: LIVE,
            webhook_secret: new_secret(),
        })
    }

    fn update(&mut self, request: UpdateCustomer) -> Result<(), ApiError> {
        if let Some(name) = request.name {
            self.name = bounded("name", name, 255)?;
        }
        if let Some(detail) = request.detail {
            self.detail = bounded("detail", detail, 4096)?;
        }
        if let Some(email) = request.email {
            validate_email(&email)?;
            self.email = email;
        }
        if let Some(number) = request.phone_number {
            validate_phone_number(&number)?;
            self.phone_number = number;
        }
        if let Some(address) = request.address {
            self.address = bounded("address", address, 1024)?;
        }
        if let Some(method) = request.webhook_method {
            validate_webhook_method(&method)?;
            self.webhook_method = method;
        }
        if let Some(uri) = request.webhook_uri {
            self.webhook_uri = validate_webhook_uri(uri)?;
        }
        if let Some(account) = request.billing_account_id {
            self.billing_account_id = parse_billing_account(account)?;
        }
        Ok(())
    }

    fn mark_deleted(&mut self, at: NaiveDateTime) {
        self.tm_delete = at;
    }

    fn id(&self) -> Uuid {
        self.id
    }

    fn customer_id(&self) -> Uuid {
        self.id
    }

    fn to_record(&self) -> Record {
        Record::from([
            ("id", SqlValue::from(self.id.to_string())),
            ("name", self.name.clone().into()),
            ("detail", self.detail.clone().into()),
            ("email", self.email.clone().into()),
            ("phone_number", self.phone_number.clone().into()),
            ("address", self.address.clone().into()),
            ("webhook_method", self.webhook_method.clone().into()),
            ("webhook_uri", self.webhook_uri.clone().into()),
            ("webhook_secret", self.webhook_secret.clone().into()),
            (
                "billing_account_id",
                self.billing_account_id.map(|id| id.to_string()).into(),
            ),
            ("tm_create", self.tm_create.into()),
            ("tm_update", self.tm_update.into()),
            ("tm_delete", self.tm_delete.into()),
        ])
    }

    fn from_record(record: &Record) -> Result<Self, ApiError> {
        let row = Row::new(TABLE.name, record);
        Ok(Customer {
            id: row.uuid("id")?,
            name: row.text("name")?,
            detail: row.text("detail")?,
            email: row.text("email")?,
            phone_number: row.text("phone_number")?,
            address: row.text("address")?,
            webhook_method: row.text("webhook_method")?,
            webhook_uri: row.text("webhook_uri")?,
            billing_account_id: row.optional_uuid("billing_account_id")?,
            tm_create: row.time("tm_create")?,
            tm_update: row.time("tm_update")?,
            tm_delete: row.time("tm_delete")?,
            webhook_secret: row.text("webhook_secret")?,
        })
    }
}

/// `GET /v1.0/customer`.
pub(crate) async fn get_own(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<OwnCustomer>, ApiError> {
    let customer = load::<Customer>(&state, &caller, caller.customer_id)
        .await?
        .ok_or_else(|| not_found::<Customer>(caller.customer_id))?;
    Ok(Json(OwnCustomer {
        customer,
        permissions: caller.permissions,
    }))
}

/// `PUT /v1.0/customer`.
pub(crate) async fn update_own(
    caller: Caller,
    State(state): State<AppState>,
    JsonBody(request): JsonBody<UpdateCustomer>,
) -> Result<Json<Customer>, ApiError> {
    update_one::<Customer>(&state, &caller, caller.customer_id, request)
        .await
        .map(Json)
}

/// `POST /v1.0/customer/webhook_secret`: a new secret, answered once. The change is audited
/// and announced (`customer.updated`) without the secret.
pub(crate) async fn rotate_webhook_secret(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<WebhookSecret>, ApiError> {
    caller.require_any(Customer::MANAGED_BY)?;
    let id = caller.customer_id;
    let before = load_fresh::<Customer>(&state, &caller, id)
        .await?
        .ok_or_else(|| not_found::<Customer>(id))?;
    let mut after = before.clone();
    after.webhook_secret = new_secret();
    let set = Record::from([(
        "webhook_secret",
        SqlValue::from(after.webhook_secret.clone()),
    )]);
    let effects = effects(&caller, "update", &after, Some(&before), Some(&after));
    let updated = state
        .engines
        .store
        .record_update(
            Customer::TABLE,
            &id.to_string(),
            &id.to_string(),
            &set,
            &effects,
        )
        .await?;
    invalidate::<Customer>(&state, id).await;
    if !updated {
        return Err(not_found::<Customer>(id));
    }
    state.outbox.notify_one();
    tracing::info!(customer = %id, "webhook secret rotated");
    Ok(Json(WebhookSecret {
        webhook_secret: after.webhook_secret,
    }))
}

/// Whether the caller's customer is live (read through the cache; its deletion invalidates
/// the entry).
pub(crate) async fn is_live(state: &AppState, caller: &Caller) -> Result<bool, ApiError> {
    Ok(load::<Customer>(state, caller, caller.customer_id)
        .await?
        .is_some())
}

/// Customer `id` of a request path and the caller acting on it (see [`acting_on`]).
fn target(caller: &Caller, id: &str) -> Result<(Uuid, Caller), ApiError> {
    let id = parse_id(id)?;
    Ok((id, acting_on(caller, id)?))
}

/// The caller acting on customer `id`: the operator on any customer (as its admin), anyone
/// else on their own only — another customer does not exist for them (404).
fn acting_on(caller: &Caller, id: Uuid) -> Result<Caller, ApiError> {
    if caller.customer_id == id {
        return Ok(caller.clone());
    }
    if !caller.is_platform_admin() {
        return Err(not_found::<Customer>(id));
    }
    let mut permissions = caller.permissions.clone();
    if !permissions.iter().any(|p| p == "customer_admin") {
        permissions.push("customer_admin".into());
    }
    Ok(Caller {
        customer_id: id,
        permissions,
        actor: caller.actor(),
    })
}

/// `POST /v1.0/customers`: the customer and its first admin in one transaction.
pub(crate) async fn create(
    caller: Caller,
    State(state): State<AppState>,
    JsonBody(mut request): JsonBody<CreateCustomer>,
) -> Result<(StatusCode, Json<CreatedCustomer>), ApiError> {
    caller.require_any(&[PLATFORM_ADMIN])?;
    let admin_agent = request.admin_agent.take();
    let admin_accesskey = request.admin_accesskey.take();
    let id = Uuid::new_v4();
    let customer = Customer::create(request, id, id).await?;
    let tenant = acting_on(&caller, id)?;
    let agent = match admin_agent {
        Some(mut request) => {
            request
                .permission
                .get_or_insert_with(|| "customer_admin".into());
            let agent = Agent::create(request, id, Uuid::new_v4())
                .await
                .map_err(|e| e.within("admin_agent"))?;
            // The customer is new: any tag it names cannot exist.
            check_references(&state, &tenant, &agent)
                .await
                .map_err(|e| e.within("admin_agent"))?;
            Some(agent)
        }
        None => None,
    };
    let key = match admin_accesskey {
        Some(request) => Some(
            AccessKey::create(request, id, Uuid::new_v4())
                .await
                .map_err(|e| e.within("admin_accesskey"))?,
        ),
        None => None,
    };
    let customer_row = (
        customer.to_record(),
        effects(&tenant, "create", &customer, None, Some(&customer)),
    );
    let agent_row = agent.as_ref().map(|agent| {
        (
            agent.to_record(),
            effects(&tenant, "create", agent, None, Some(agent)),
        )
    });
    let key_row = key.as_ref().map(|key| {
        (
            key.to_record(),
            effects(&tenant, "create", key, None, Some(key)),
        )
    });
    let mut rows = vec![(Customer::TABLE, &customer_row.0, &customer_row.1)];
    if let Some((record, effects)) = &agent_row {
        rows.push((Agent::TABLE, record, effects));
    }
    if let Some((record, effects)) = &key_row {
        rows.push((AccessKey::TABLE, record, effects));
    }
    state.engines.store.record_insert_all(&rows).await?;
    state.outbox.notify_one();
    tracing::info!(customer = %id, actor = %caller.actor(), "customer created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedCustomer {
            customer,
            admin_agent: agent,
            admin_accesskey: key,
        }),
    ))
}

/// `GET /v1.0/customers`: every customer for the operator, one's own for anyone else.
pub(crate) async fn list(
    caller: Caller,
    State(state): State<AppState>,
    Query(query): Query<page::PageQuery>,
) -> Result<Json<ListResponse<Customer>>, ApiError> {
    let (size, after) = query.parse()?;
    if !caller.is_platform_admin() {
        let own = match after {
            Some(_) => None,
            None => load::<Customer>(&state, &caller, caller.customer_id).await?,
        };
        return Ok(Json(ListResponse {
            result: own.into_iter().collect(),
            next_page_token: None,
        }));
    }
    let page = state
        .engines
        .store
        .record_list_all(Customer::TABLE, size, after.as_ref())
        .await?;
    ListResponse::from_page(&page).map(Json)
}

/// `GET /v1.0/customers/{id}`.
pub(crate) async fn read(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Customer>, ApiError> {
    let (id, tenant) = target(&caller, &id)?;
    load::<Customer>(&state, &tenant, id)
        .await?
        .map(Json)
        .ok_or_else(|| not_found::<Customer>(id))
}

/// `PUT /v1.0/customers/{id}`.
pub(crate) async fn update(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<UpdateCustomer>,
) -> Result<Json<Customer>, ApiError> {
    let (id, tenant) = target(&caller, &id)?;
    update_one::<Customer>(&state, &tenant, id, request)
        .await
        .map(Json)
}

/// `DELETE /v1.0/customers/{id}`: the operator only, never its own customer.
pub(crate) async fn delete(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Customer>, ApiError> {
    let (id, tenant) = target(&caller, &id)?;
    caller.require_any(&[PLATFORM_ADMIN])?;
    if id == caller.customer_id {
        return Err(ApiError::Conflict(
            "the customer of the calling key cannot be deleted: it would lock the operator out"
                .into(),
        ));
    }
    let customer = delete_one::<Customer>(&state, &tenant, id).await?;
    tracing::info!(customer = %id, actor = %caller.actor(), "customer deleted");
    Ok(Json(customer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_round_trip_and_the_secret_stays_out_of_views() {
        let customer = Customer::create(
            CreateCustomer {
                name: "acme".into(),
                detail: String::new(),
                email: "ops@acme.example".into(),
                phone_number: "+15551234567".into(),
                address: "1 Main St".into(),
                webhook_method: None,
                webhook_uri: "https://acme.example/hooks".into(),
                billing_account_id: Some(Uuid::new_v4()),
                admin_agent: None,
                admin_accesskey: None,
            },
            Uuid::nil(),
            Uuid::new_v4(),
        )
        .await
        .unwrap();
        assert!(customer.webhook_secret.starts_with("whsec_"));
        assert_eq!(
            Customer::from_record(&customer.to_record()).unwrap(),
            customer
        );
        assert_eq!(customer.customer_id(), customer.id);
        for view in [
            customer.public_view().to_string(),
            serde_json::to_string(&customer).unwrap(),
        ] {
            assert!(!view.contains(&customer.webhook_secret), "{view}");
        }
    }

    #[test]
    fn emails_and_phone_numbers() {
        for good in ["", "a@b.example", "first.last+tag@sub.example.com"] {
            assert!(validate_email(good).is_ok(), "{good}");
        }
        for bad in [
            "a",
            "@b.example",
            "a@b",
            "a@@b.example",
            "a b@c.example",
            "a@-b.example",
        ] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
        for good in ["", "+15551234567"] {
            assert!(validate_phone_number(good).is_ok(), "{good}");
        }
        for bad in ["5551234567", "+0123", "+1 555"] {
            assert!(validate_phone_number(bad).is_err(), "{bad}");
        }
    }
}
