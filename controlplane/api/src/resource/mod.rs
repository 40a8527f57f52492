//! REST resources: one generic set of handlers (create, list, get, update, soft delete) for
//! every type implementing [`Resource`].
//!
//! The write path is the source documents' order: the store commits the row together with its
//! outbox events and audit entry (one transaction), then the cache entry is invalidated, then
//! the outbox relay is woken to publish. Reads are cache-aside (`<kind>:<id>`, the resource's
//! TTL); a cache failure is a miss, so the API keeps working while Redis is down. Another
//! customer's resource is 404, never 403.

/// The accessors every resource implements the same way: its `id`, `customer_id` and
/// `tm_delete` fields.
macro_rules! common_accessors {
    () => {
        fn mark_deleted(&mut self, at: chrono::NaiveDateTime) {
            self.tm_delete = at;
        }

        fn id(&self) -> uuid::Uuid {
            self.id
        }

        fn customer_id(&self) -> uuid::Uuid {
            self.customer_id
        }
    };
}

pub mod accesskey;
pub mod agent;
mod columns;
pub mod customer;
pub mod extension;
pub mod flow;
pub mod flow_actions;
pub mod number;
pub mod provider;
pub mod recording;
pub mod route;
pub mod trunk;

use crate::auth::Caller;
use crate::body::JsonBody;
use crate::routes::AppState;
use crate::{ApiError, page};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use ferrovox_contract::Event;
use ferrovox_store::model::now;
use ferrovox_store::{AuditEntry, Effects, OutboxEvent, Record, TableSpec};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;
use uuid::Uuid;

/// Permissions that may change most resources of their customer.
pub(crate) const MANAGERS: &[&str] = &["customer_admin", "customer_manager"];

/// A REST resource stored in one table.
pub trait Resource:
    Serialize + DeserializeOwned + utoipa::ToSchema + Send + Sync + Sized + 'static
{
    /// Singular name: events are `<KIND>.created`, cache keys `<KIND>:<id>`.
    const KIND: &'static str;
    const TABLE: &'static TableSpec;
    const CACHE_TTL: Duration;
    /// Permissions allowed to create, update and delete (any permission may read).
    const MANAGED_BY: &'static [&'static str] = MANAGERS;
    /// The columns an update may change.
    const UPDATABLE: &'static [&'static str];
    type Create: DeserializeOwned + utoipa::ToSchema + Send + 'static;
    type Update: DeserializeOwned + utoipa::ToSchema + Send + 'static;

    /// A new resource from a create request (validated; errors name the field). Async so
    /// that expensive preparation (password hashing) stays off the request threads.
    fn create(
        request: Self::Create,
        customer_id: Uuid,
        id: Uuid,
    ) -> impl std::future::Future<Output = Result<Self, ApiError>> + Send;
    /// Applies an update request (validated; errors name the field).
    fn update(&mut self, request: Self::Update) -> Result<(), ApiError>;
    /// Sets `tm_delete`, for the answer to a delete.
    fn mark_deleted(&mut self, at: chrono::NaiveDateTime);
    /// Cache entries derived from this resource besides `<kind>:<id>` (an access key's
    /// grant, keyed by its token hash), dropped with it on update and delete.
    fn dependent_cache_keys(&self) -> Vec<String> {
        Vec::new()
    }
    fn id(&self) -> Uuid;
    fn customer_id(&self) -> Uuid;
    fn to_record(&self) -> Record;
    fn from_record(record: &Record) -> Result<Self, ApiError>;

    /// What events and the audit trail carry: the resource without secrets.
    fn public_view(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Other resources this one points at, as (table, id, field); each must be a live resource
    /// of the same customer, or the write is refused naming the field.
    fn references(&self) -> Vec<(&'static TableSpec, Uuid, &'static str)> {
        Vec::new()
    }

    /// Checks that need the caller (e.g. no granting more than one holds).
    fn authorize_create(_request: &Self::Create, _caller: &Caller) -> Result<(), ApiError> {
        Ok(())
    }
}

/// `/v1.0/<path>` and `/v1.0/<path>/{id}` for `R`.
pub(crate) fn routes<R: Resource>(
    router: axum::Router<AppState>,
    path: &str,
) -> axum::Router<AppState> {
    router
        .route(&format!("/v1.0/{path}"), get(list::<R>).post(create::<R>))
        .route(
            &format!("/v1.0/{path}/{{id}}"),
            get(read::<R>).put(update::<R>).delete(delete::<R>),
        )
}

/// `/v1.0/<path>` (list) and `/v1.0/<path>/{id}` (get, delete) for `R`, for resources that
/// the API does not create or change (recordings: the media side makes them).
pub(crate) fn read_delete_routes<R: Resource>(
    router: axum::Router<AppState>,
    path: &str,
) -> axum::Router<AppState> {
    router
        .route(&format!("/v1.0/{path}"), get(list::<R>))
        .route(
            &format!("/v1.0/{path}/{{id}}"),
            get(read::<R>).delete(delete::<R>),
        )
}

fn cache_key<R: Resource>(id: Uuid) -> String {
    format!("{}:{id}", R::KIND)
}

fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::invalid("id", format!("{id:?} is not a UUID")))
}

fn not_found<R: Resource>(id: Uuid) -> ApiError {
    ApiError::NotFound(format!("{} {id} not found", R::KIND))
}

fn json_text<R: Resource>(resource: &R) -> String {
    resource.public_view().to_string()
}

fn effects<R: Resource>(
    caller: &Caller,
    action: &str,
    resource: &R,
    before: Option<&R>,
    after: Option<&R>,
) -> Effects {
    let event_type = format!("{}.{action}d", R::KIND);
    let event = Event::new(
        event_type.clone(),
        "control",
        after.or(before).unwrap_or(resource).public_view(),
    );
    Effects {
        events: vec![OutboxEvent {
            event_id: event.event_id.to_string(),
            event_type,
            payload: serde_json::to_string(&event).unwrap_or_default(),
        }],
        audit: Some(AuditEntry {
            id: Uuid::new_v4().to_string(),
            customer_id: caller.customer_id.to_string(),
            actor: caller.actor(),
            action: action.to_owned(),
            resource: R::KIND.to_owned(),
            resource_id: resource.id().to_string(),
            before: before.map(json_text),
            after: after.map(json_text),
            at: now(),
        }),
    }
}

/// Reads from the store, the source of truth, for a write to start from.
async fn load_fresh<R: Resource>(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> Result<Option<R>, ApiError> {
    let record = state
        .engines
        .store
        .record_get(R::TABLE, &caller.customer_id.to_string(), &id.to_string())
        .await?;
    record.as_ref().map(R::from_record).transpose()
}

/// Refuses a resource that points at something the caller's customer does not have.
async fn check_references<R: Resource>(
    state: &AppState,
    caller: &Caller,
    resource: &R,
) -> Result<(), ApiError> {
    for (table, id, field) in resource.references() {
        let found = state
            .engines
            .store
            .record_get(table, &caller.customer_id.to_string(), &id.to_string())
            .await?;
        if found.is_none() {
            return Err(ApiError::invalid(
                field,
                format!("no {} {id}", table.name.trim_end_matches('s')),
            ));
        }
    }
    Ok(())
}

/// Reads through the cache; `None` if the caller's customer has no such live resource.
async fn load<R: Resource>(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> Result<Option<R>, ApiError> {
    let fetch = async {
        let record = state
            .engines
            .store
            .record_get(R::TABLE, &caller.customer_id.to_string(), &id.to_string())
            .await?;
        record.as_ref().map(R::from_record).transpose()
    };
    let resource = crate::read_through::read_through(
        state.engines.cache.as_ref(),
        &cache_key::<R>(id),
        R::CACHE_TTL,
        fetch,
    )
    .await?;
    // A cached entry is any customer's: another customer's resource does not exist here.
    Ok(resource.filter(|r: &R| r.customer_id() == caller.customer_id))
}

async fn invalidate<R: Resource>(state: &AppState, id: Uuid) {
    if let Err(error) = state.engines.cache.delete(&cache_key::<R>(id)).await {
        // The entry expires with its TTL; until then readers may see the old value.
        tracing::warn!(%error, kind = R::KIND, %id, "cache invalidation failed");
    }
}

/// Drops the entries derived from `resource` ([`Resource::dependent_cache_keys`]).
async fn invalidate_dependents<R: Resource>(state: &AppState, resource: &R) {
    for key in resource.dependent_cache_keys() {
        if let Err(error) = state.engines.cache.delete(&key).await {
            tracing::warn!(%error, kind = R::KIND, id = %resource.id(), "cache invalidation failed");
        }
    }
}

async fn create<R: Resource>(
    caller: Caller,
    State(state): State<AppState>,
    JsonBody(request): JsonBody<R::Create>,
) -> Result<(StatusCode, Json<R>), ApiError> {
    caller.require_any(R::MANAGED_BY)?;
    R::authorize_create(&request, &caller)?;
    let resource = R::create(request, caller.customer_id, Uuid::new_v4()).await?;
    check_references(&state, &caller, &resource).await?;
    let effects = effects(&caller, "create", &resource, None, Some(&resource));
    state
        .engines
        .store
        .record_insert(R::TABLE, &resource.to_record(), &effects)
        .await?;
    state.outbox.notify_one();
    Ok((StatusCode::CREATED, Json(resource)))
}

async fn read<R: Resource>(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<R>, ApiError> {
    let id = parse_id(&id)?;
    load::<R>(&state, &caller, id)
        .await?
        .map(Json)
        .ok_or_else(|| not_found::<R>(id))
}

/// A page of resources and the token of the next one.
#[derive(Serialize)]
pub(crate) struct ListResponse<R> {
    pub result: Vec<R>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

impl<R: Resource> ListResponse<R> {
    /// The resources of one page of records, and the token of the next page if there is one.
    pub(crate) fn from_page(page: &ferrovox_store::Page) -> Result<Self, ApiError> {
        let result = page
            .records
            .iter()
            .map(R::from_record)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            result,
            next_page_token: page.next.as_ref().map(page::encode_token),
        })
    }
}

async fn list<R: Resource>(
    caller: Caller,
    State(state): State<AppState>,
    Query(query): Query<page::PageQuery>,
) -> Result<Json<ListResponse<R>>, ApiError> {
    let (size, after) = query.parse()?;
    let page = state
        .engines
        .store
        .record_list(
            R::TABLE,
            &caller.customer_id.to_string(),
            size,
            after.as_ref(),
        )
        .await?;
    ListResponse::from_page(&page).map(Json)
}

async fn update<R: Resource>(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<R::Update>,
) -> Result<Json<R>, ApiError> {
    caller.require_any(R::MANAGED_BY)?;
    let id = parse_id(&id)?;
    update_one::<R>(&state, &caller, id, request)
        .await
        .map(Json)
}

/// Applies an update request to the caller's resource `id` and answers the stored result.
async fn update_one<R: Resource>(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    request: R::Update,
) -> Result<R, ApiError> {
    caller.require_any(R::MANAGED_BY)?;
    let before = load_fresh::<R>(state, caller, id)
        .await?
        .ok_or_else(|| not_found::<R>(id))?;
    let mut after = R::from_record(&before.to_record())?;
    after.update(request)?;
    check_references(state, caller, &after).await?;
    let set: Record = after
        .to_record()
        .into_iter()
        .filter(|(column, _)| R::UPDATABLE.contains(column))
        .collect();
    let effects = effects(caller, "update", &after, Some(&before), Some(&after));
    let updated = state
        .engines
        .store
        .record_update(
            R::TABLE,
            &caller.customer_id.to_string(),
            &id.to_string(),
            &set,
            &effects,
        )
        .await?;
    invalidate::<R>(state, id).await;
    invalidate_dependents(state, &before).await;
    if !updated {
        return Err(not_found::<R>(id));
    }
    state.outbox.notify_one();
    // Re-read so the answer carries the stored tm_update.
    load::<R>(state, caller, id)
        .await?
        .ok_or_else(|| not_found::<R>(id))
}

async fn delete<R: Resource>(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<R>, ApiError> {
    caller.require_any(R::MANAGED_BY)?;
    let id = parse_id(&id)?;
    delete_one::<R>(&state, &caller, id).await.map(Json)
}

/// Soft-deletes the caller's resource `id` and answers it with `tm_delete` set.
async fn delete_one<R: Resource>(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> Result<R, ApiError> {
    let mut resource = load_fresh::<R>(state, caller, id)
        .await?
        .ok_or_else(|| not_found::<R>(id))?;
    let effects = effects(caller, "delete", &resource, Some(&resource), None);
    let at = now();
    let deleted = state
        .engines
        .store
        .record_soft_delete(
            R::TABLE,
            &caller.customer_id.to_string(),
            &id.to_string(),
            at,
            &effects,
        )
        .await?;
    resource.mark_deleted(at);
    invalidate::<R>(state, id).await;
    invalidate_dependents(state, &resource).await;
    if !deleted {
        return Err(not_found::<R>(id));
    }
    state.outbox.notify_one();
    Ok(resource)
}
