//! The OpenAPI 3.1 document of the API (`GET /v1.0/openapi.json`) and a small docs page that
//! renders it and sends requests (`GET /v1.0/docs`).
//!
//! Schemas come from the types themselves (utoipa's `ToSchema`); the operations of every
//! resource are generated from the same [`Resource`] description the handlers use, so the
//! document cannot drift from the routes.

use crate::resource::{
    Resource, accesskey::AccessKey, agent::Agent, customer, extension::Extension, flow::Flow,
    flow_actions, number::Number, provider::Provider, recording::Recording, route::Route,
    trunk::Trunk,
};
use crate::session::{Login, Session};
use serde_json::{Map, Value, json};
use utoipa::{PartialSchema, ToSchema};

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn errors(codes: &[(&str, &str)]) -> Map<String, Value> {
    codes
        .iter()
        .map(|(code, description)| {
            (
                (*code).to_owned(),
                json_response(description, schema_ref("Error")),
            )
        })
        .collect()
}

fn with_errors(mut responses: Map<String, Value>, codes: &[(&str, &str)]) -> Value {
    responses.extend(errors(codes));
    Value::Object(responses)
}

const AUTH_ERRORS: &[(&str, &str)] = &[
    ("401", "Missing, unknown, revoked or expired access key"),
    ("429", "Rate limit exceeded; see Retry-After"),
    ("503", "A dependency is unavailable"),
];

fn id_parameter() -> Value {
    json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } })
}

/// The five operations of a resource at `/v1.0/<path>` and `/v1.0/<path>/{id}`.
fn resource_paths<R: Resource>(paths: &mut Map<String, Value>, path: &str, tag: &str) {
    resource_paths_with::<R>(paths, path, tag, true);
}

/// [`resource_paths`]; without create and update unless `writable`.
fn resource_paths_with<R: Resource>(
    paths: &mut Map<String, Value>,
    path: &str,
    tag: &str,
    writable: bool,
) {
    let name = R::name();
    let create = R::Create::name();
    let update = R::Update::name();
    let list_name = format!("{name}List");
    let mut write_errors = AUTH_ERRORS.to_vec();
    write_errors.extend([
        ("400", "Invalid input; `field` names it"),
        ("403", "Not permitted for this access key"),
    ]);
    let mut one_errors = AUTH_ERRORS.to_vec();
    one_errors.extend([
        ("400", "Malformed id"),
        ("404", "No such resource for this customer"),
    ]);
    let mut change_errors = write_errors.clone();
    change_errors.push(("404", "No such resource for this customer"));

    let collection = json!({
        "get": {
            "tags": [tag], "operationId": format!("list_{path}"), "summary": format!("List {path}, newest first"),
            "parameters": [
                { "name": "page_size", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 100, "default": 10 } },
                { "name": "page_token", "in": "query", "schema": { "type": "string" }, "description": "next_page_token of the previous page" }
            ],
            "responses": with_errors(
                Map::from_iter([("200".to_owned(), json_response("A page", schema_ref(&list_name)))]),
                &[AUTH_ERRORS, &[("400", "Bad page_size or page_token")]].concat()),
        },
        "post": {
            "tags": [tag], "operationId": format!("create_{path}"), "summary": format!("Create a {}", R::KIND),
            "requestBody": { "required": true, "content": { "application/json": { "schema": schema_ref(&create) } } },
            "responses": with_errors(
                Map::from_iter([("201".to_owned(), json_response("Created", schema_ref(&name)))]),
                &write_errors),
        }
    });
    let item = json!({
        "parameters": [id_parameter()],
        "get": {
            "tags": [tag], "operationId": format!("get_{}", R::KIND), "summary": format!("Get a {}", R::KIND),
            "responses": with_errors(Map::from_iter([("200".to_owned(), json_response("The resource", schema_ref(&name)))]), &one_errors),
        },
        "put": {
            "tags": [tag], "operationId": format!("update_{}", R::KIND), "summary": format!("Update a {}", R::KIND),
            "requestBody": { "required": true, "content": { "application/json": { "schema": schema_ref(&update) } } },
            "responses": with_errors(Map::from_iter([("200".to_owned(), json_response("Updated", schema_ref(&name)))]), &change_errors),
        },
        "delete": {
            "tags": [tag], "operationId": format!("delete_{}", R::KIND), "summary": format!("Delete a {} (soft delete)", R::KIND),
            "responses": with_errors(Map::from_iter([("200".to_owned(), json_response("Deleted; tm_delete is set", schema_ref(&name)))]), &change_errors),
        }
    });
    let (mut collection, mut item) = (collection, item);
    if !writable {
        if let Some(collection) = collection.as_object_mut() {
            collection.remove("post");
        }
        if let Some(item) = item.as_object_mut() {
            item.remove("put");
        }
    }
    paths.insert(format!("/v1.0/{path}"), collection);
    paths.insert(format!("/v1.0/{path}/{{id}}"), item);
}

fn resource_schemas<R: Resource>(schemas: &mut Map<String, Value>) {
    resource_schemas_with::<R>(schemas, true);
}

/// [`resource_schemas`]; without the request bodies unless `writable`.
fn resource_schemas_with<R: Resource>(schemas: &mut Map<String, Value>, writable: bool) {
    let name = R::name().to_string();
    schemas.insert(
        name.clone(),
        serde_json::to_value(R::schema()).unwrap_or_default(),
    );
    if writable {
        schemas.insert(
            R::Create::name().to_string(),
            serde_json::to_value(R::Create::schema()).unwrap_or_default(),
        );
        schemas.insert(
            R::Update::name().to_string(),
            serde_json::to_value(R::Update::schema()).unwrap_or_default(),
        );
    }
    schemas.insert(
        format!("{name}List"),
        json!({
            "type": "object",
            "required": ["result"],
            "properties": {
                "result": { "type": "array", "items": schema_ref(&name) },
                "next_page_token": { "type": "string", "description": "Absent on the last page" }
            }
        }),
    );
}

/// The flows tag: every action type and its options (`*` = required).
fn flows_description() -> String {
    let types: Vec<String> = flow_actions::ACTIONS
        .iter()
        .map(|action| {
            let options: Vec<String> = action.option_names_marked().collect();
            if options.is_empty() {
                action.name.to_owned()
            } else {
                format!("{} ({})", action.name, options.join(", "))
            }
        })
        .collect();
    format!(
        "Call flows: lists of actions checked on every write. Action types and their options (* = required): {}.",
        types.join("; ")
    )
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    resource_paths::<Number>(&mut paths, "numbers", "numbers");
    resource_schemas::<Number>(&mut schemas);
    resource_paths::<AccessKey>(&mut paths, "accesskeys", "accesskeys");
    resource_schemas::<AccessKey>(&mut schemas);
    resource_paths::<Provider>(&mut paths, "providers", "carriers");
    resource_schemas::<Provider>(&mut schemas);
    resource_paths::<Route>(&mut paths, "routes", "carriers");
    resource_schemas::<Route>(&mut schemas);
    resource_paths::<Trunk>(&mut paths, "trunks", "sip accounts");
    resource_schemas::<Trunk>(&mut schemas);
    resource_paths::<Extension>(&mut paths, "extensions", "sip accounts");
    resource_schemas::<Extension>(&mut schemas);
    resource_paths::<Agent>(&mut paths, "agents", "agents");
    resource_schemas::<Agent>(&mut schemas);
    resource_paths::<Flow>(&mut paths, "flows", "flows");
    resource_schemas::<Flow>(&mut schemas);
    for (name, schema) in [
        ("Action", flow_actions::Action::schema()),
        ("ActionRequest", flow_actions::ActionRequest::schema()),
    ] {
        schemas.insert(
            name.into(),
            serde_json::to_value(schema).unwrap_or_default(),
        );
    }
    resource_paths_with::<Recording>(&mut paths, "recordings", "recordings", false);
    resource_schemas_with::<Recording>(&mut schemas, false);
    paths.insert("/v1.0/recordings/{id}/file".into(), json!({
        "parameters": [id_parameter()],
        "get": {
            "tags": ["recordings"], "operationId": "get_recording_file", "summary": "Download the audio of a recording",
            "responses": with_errors(Map::from_iter([("200".to_owned(), json!({
                "description": "The audio file", "content": { "audio/wav": { "schema": { "type": "string", "format": "binary" } } }
            }))]), &[AUTH_ERRORS, &[("400", "Malformed id"), ("404", "No such recording for this customer, or its file is missing")]].concat()),
        }
    }));
    for (name, schema) in [
        ("Customer", customer::Customer::schema()),
        ("OwnCustomer", customer::OwnCustomer::schema()),
        ("UpdateCustomer", customer::UpdateCustomer::schema()),
        ("CreateCustomer", customer::CreateCustomer::schema()),
        ("CreatedCustomer", customer::CreatedCustomer::schema()),
        ("DeadLetters", crate::deadletters::DeadLetters::schema()),
        ("WebhookSecret", customer::WebhookSecret::schema()),
    ] {
        schemas.insert(
            name.into(),
            serde_json::to_value(schema).unwrap_or_default(),
        );
    }
    schemas.insert(
        "Address".into(),
        serde_json::to_value(crate::resource::agent::Address::schema()).unwrap_or_default(),
    );
    schemas.insert(
        "Login".into(),
        serde_json::to_value(Login::schema()).unwrap_or_default(),
    );
    schemas.insert(
        "Session".into(),
        serde_json::to_value(Session::schema()).unwrap_or_default(),
    );
    paths.insert("/v1.0/auth/login".into(), json!({ "post": {
        "tags": ["auth"], "operationId": "login", "summary": "An agent logs in: a session token (JWT, 1 h)", "security": [],
        "requestBody": { "required": true, "content": { "application/json": { "schema": schema_ref("Login") } } },
        "responses": with_errors(Map::from_iter([("200".to_owned(), json_response("A session", schema_ref("Session")))]),
            &[("400", "Malformed body"), ("401", "Invalid username or password"), ("429", "Too many attempts; see Retry-After")])
    }}));
    paths.insert("/v1.0/auth/logout".into(), json!({ "post": {
        "tags": ["auth"], "operationId": "logout", "summary": "End the session of the bearer token",
        "responses": with_errors(Map::from_iter([("200".to_owned(), json_response("Logged out", json!({"type": "object"})))]), AUTH_ERRORS)
    }}));
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["error", "message"],
            "properties": {
                "error": { "type": "string", "examples": ["invalid_argument", "not_found", "rate_limited"] },
                "message": { "type": "string" },
                "field": { "type": "string", "description": "The offending input field, for invalid_argument" }
            }
        }),
    );
    schemas.insert("Readiness".into(), json!({
        "type": "object",
        "required": ["status", "checks", "failing"],
        "properties": {
            "status": { "type": "string", "enum": ["ready", "unavailable"] },
            "checks": { "type": "object", "additionalProperties": {
                "type": "object", "required": ["ok", "kind"],
                "properties": { "ok": { "type": "boolean" }, "kind": { "type": "string" }, "error": { "type": "string" } }
            }},
            "failing": { "type": "array", "items": { "type": "string" } }
        }
    }));
    paths.insert(
        "/health".into(),
        json!({ "get": {
            "tags": ["service"], "operationId": "health", "summary": "Liveness", "security": [],
            "responses": { "200": { "description": "The process is alive" } }
        }}),
    );
    paths.insert("/ready".into(), json!({ "get": {
        "tags": ["service"], "operationId": "ready", "summary": "Readiness of every dependency", "security": [],
        "responses": {
            "200": json_response("Every dependency answers", schema_ref("Readiness")),
            "503": json_response("A dependency is down; `failing` names it", schema_ref("Readiness"))
        }
    }}));
    paths.insert("/metrics".into(), json!({ "get": {
        "tags": ["service"], "operationId": "metrics", "summary": "Prometheus metrics", "security": [],
        "responses": { "200": { "description": "Prometheus text format", "content": { "text/plain": { "schema": { "type": "string" } } } } }
    }}));
    let mut customer_write_errors = AUTH_ERRORS.to_vec();
    customer_write_errors.push(("403", "Only a customer_admin may change the customer"));
    let mut customer_update_errors = customer_write_errors.clone();
    customer_update_errors.push(("400", "Invalid input; `field` names it"));
    paths.insert("/v1.0/customer".into(), json!({
        "get": {
            "tags": ["customer"], "operationId": "get_own_customer", "summary": "The caller's customer and permissions (never the webhook secret)",
            "responses": with_errors(Map::from_iter([("200".to_owned(), json_response("The customer", schema_ref("OwnCustomer")))]), AUTH_ERRORS)
        },
        "put": {
            "tags": ["customer"], "operationId": "update_own_customer", "summary": "Update the caller's customer (customer_admin)",
            "requestBody": { "required": true, "content": { "application/json": { "schema": schema_ref("UpdateCustomer") } } },
            "responses": with_errors(Map::from_iter([("200".to_owned(), json_response("Updated", schema_ref("Customer")))]), &customer_update_errors)
        }
    }));
    customers_paths(&mut paths);
    paths.insert("/v1.0/deadletters/{subscriber}".into(), json!({ "get": {
        "tags": ["service"], "operationId": "dead_letter_count",
        "summary": "Events waiting in a durable subscriber's dead-letter queue (platform_admin): given up on after their retries, or undecodable",
        "parameters": [{ "name": "subscriber", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^[A-Za-z0-9_-]{1,100}$" } }],
        "responses": with_errors(Map::from_iter([("200".to_owned(), json_response("The depth", schema_ref("DeadLetters")))]),
            &[AUTH_ERRORS, &[("400", "Malformed subscriber name; `field` names it"), ("403", "Requires platform_admin")]].concat())
    }}));
    schemas.insert(
        "CustomerList".into(),
        json!({
            "type": "object",
            "required": ["result"],
            "properties": {
                "result": { "type": "array", "items": schema_ref("Customer") },
                "next_page_token": { "type": "string", "description": "Absent on the last page" }
            }
        }),
    );
    paths.insert("/v1.0/customer/webhook_secret".into(), json!({ "post": {
        "tags": ["customer"], "operationId": "rotate_webhook_secret", "summary": "Replace the webhook signing secret (customer_admin); the answer is the only place it is shown",
        "responses": with_errors(Map::from_iter([("200".to_owned(), json_response("The new secret", schema_ref("WebhookSecret")))]), &customer_write_errors)
    }}));
    paths.insert("/v1.0/ws".into(), json!({ "get": {
        "tags": ["events"], "operationId": "websocket", "summary": "Live events over WebSocket",
        "description": "Send {\"type\":\"subscribe\",\"topics\":[\"customer_id:<id>:<resource>[:<id>]\"]}; events arrive as {\"type\":\"event\",...}.",
        "parameters": [{ "name": "token", "in": "query", "required": true, "schema": { "type": "string" } }],
        "security": [],
        "responses": with_errors(Map::from_iter([("101".to_owned(), json!({"description": "Switching to the WebSocket protocol"}))]), AUTH_ERRORS)
    }}));
    paths.insert("/v1.0/openapi.json".into(), json!({ "get": {
        "tags": ["service"], "operationId": "openapi", "summary": "This document", "security": [],
        "responses": { "200": { "description": "OpenAPI 3.1", "content": { "application/json": { "schema": { "type": "object" } } } } }
    }}));
    paths.insert("/v1.0/docs".into(), json!({ "get": {
        "tags": ["service"], "operationId": "docs", "summary": "Interactive documentation", "security": [],
        "responses": { "200": { "description": "HTML page", "content": { "text/html": { "schema": { "type": "string" } } } } }
    }}));
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "ferrovox API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Control plane of the ferrovox media appliance. Errors are {\"error\", \"message\"[, \"field\"]}; lists are paginated with page_size and page_token."
        },
        "servers": [{ "url": "/" }],
        "security": [{ "bearer": [] }, { "accessKeyHeader": [] }, { "accessKeyQuery": [] }],
        "tags": [
            { "name": "numbers", "description": "Phone numbers and the flows that answer them" },
            { "name": "accesskeys", "description": "API access keys (the token is shown once, at creation)" },
            { "name": "agents", "description": "Agents: the people of a customer, who log in" },
            { "name": "carriers", "description": "Providers (carrier gateways) and the routes that pick them" },
            { "name": "sip accounts", "description": "Trunks (PBXs, carriers sending calls in) and extensions (phones)" },
            { "name": "auth", "description": "Agent sessions" },
            { "name": "flows", "description": flows_description() },
            { "name": "recordings", "description": "Recordings of calls and conferences (made by the media side): list, read, delete, download" },
            { "name": "customer", "description": "The caller's customer: profile, webhook target and secret" },
            { "name": "customers", "description": "Every customer, for the platform operator (permission platform_admin, held by the first start's admin key): create with a first admin, list, get, update, delete. A customer's own people see and manage only their own customer here." },
            { "name": "events", "description": "Live events" },
            { "name": "service", "description": "Health, readiness, metrics, documentation" }
        ],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" },
                "accessKeyHeader": { "type": "apiKey", "in": "header", "name": "Authorization", "description": "AccessKey <key>" },
                "accessKeyQuery": { "type": "apiKey", "in": "query", "name": "accesskey" }
            }
        }
    })
}

/// `/v1.0/customers` and `/v1.0/customers/{id}` (the platform operator's collection).
fn customers_paths(paths: &mut Map<String, Value>) {
    let mut create_errors = AUTH_ERRORS.to_vec();
    create_errors.extend([
        (
            "400",
            "Invalid input; `field` names it (admin_agent.username, say)",
        ),
        ("403", "Requires platform_admin"),
        ("409", "The admin agent's username is taken"),
    ]);
    let mut one_errors = AUTH_ERRORS.to_vec();
    one_errors.extend([
        ("400", "Malformed id"),
        (
            "404",
            "No such customer, or not the caller's and the caller is not the operator",
        ),
    ]);
    let mut update_errors = AUTH_ERRORS.to_vec();
    update_errors.extend([
        ("400", "Invalid input or malformed id; `field` names it"),
        (
            "403",
            "Only a customer_admin (or the operator) may change a customer",
        ),
        (
            "404",
            "No such customer, or not the caller's and the caller is not the operator",
        ),
    ]);
    let mut delete_errors = one_errors.clone();
    delete_errors.extend([
        ("403", "Requires platform_admin"),
        ("409", "The customer of the calling key cannot be deleted"),
    ]);
    paths.insert("/v1.0/customers".into(), json!({
        "get": {
            "tags": ["customers"], "operationId": "list_customers",
            "summary": "List customers, newest first: every customer for the operator, the caller's own for anyone else",
            "parameters": [
                { "name": "page_size", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 100, "default": 10 } },
                { "name": "page_token", "in": "query", "schema": { "type": "string" }, "description": "next_page_token of the previous page" }
            ],
            "responses": with_errors(
                Map::from_iter([("200".to_owned(), json_response("A page", schema_ref("CustomerList")))]),
                &[AUTH_ERRORS, &[("400", "Bad page_size or page_token")]].concat()),
        },
        "post": {
            "tags": ["customers"], "operationId": "create_customers",
            "summary": "Create a customer and, in the same transaction, its first admin agent and/or access key (platform_admin)",
            "requestBody": { "required": true, "content": { "application/json": { "schema": schema_ref("CreateCustomer") } } },
            "responses": with_errors(
                Map::from_iter([("201".to_owned(), json_response("Created; admin_accesskey.token is shown only here", schema_ref("CreatedCustomer")))]),
                &create_errors),
        }
    }));
    paths.insert("/v1.0/customers/{id}".into(), json!({
        "parameters": [id_parameter()],
        "get": {
            "tags": ["customers"], "operationId": "get_customer", "summary": "Get a customer",
            "responses": with_errors(Map::from_iter([("200".to_owned(), json_response("The customer", schema_ref("Customer")))]), &one_errors),
        },
        "put": {
            "tags": ["customers"], "operationId": "update_customer", "summary": "Update a customer (its customer_admin, or the operator)",
            "requestBody": { "required": true, "content": { "application/json": { "schema": schema_ref("UpdateCustomer") } } },
            "responses": with_errors(Map::from_iter([("200".to_owned(), json_response("Updated", schema_ref("Customer")))]), &update_errors),
        },
        "delete": {
            "tags": ["customers"], "operationId": "delete_customer",
            "summary": "Delete a customer (soft delete, platform_admin): its access keys and sessions stop working at once",
            "responses": with_errors(Map::from_iter([("200".to_owned(), json_response("Deleted; tm_delete is set", schema_ref("Customer")))]), &delete_errors),
        }
    }));
}

/// A dependency-free page: lists every operation of the document and sends requests with the
/// key the user types (no CDN: appliances often have no internet access).
pub const DOCS_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ferrovox API</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}
.op{border:1px solid #ccc;border-radius:6px;margin:.6rem 0;padding:.5rem .8rem}
.m{display:inline-block;min-width:4.5rem;font-weight:bold}
.get{color:#06c}.post{color:#080}.put{color:#a60}.delete{color:#c00}
textarea,input{font-family:monospace;width:100%;box-sizing:border-box}
pre{background:#f4f4f4;padding:.5rem;overflow:auto;max-height:20rem}
</style></head><body>
<h1>ferrovox API</h1>
<p>Access key: <input id="key" placeholder="ak_..."></p>
<div id="ops">Loading <code>/v1.0/openapi.json</code>…</div>
<script>
fetch('/v1.0/openapi.json').then(r=>r.json()).then(doc=>{
  const ops=document.getElementById('ops'); ops.textContent='';
  for(const [path,item] of Object.entries(doc.paths)){
    for(const method of ['get','post','put','delete']){
      const op=item[method]; if(!op) continue;
      const box=document.createElement('div'); box.className='op';
      const hasId=path.includes('{id}'); const hasBody=!!op.requestBody;
      box.innerHTML=`<span class="m ${method}">${method.toUpperCase()}</span><code>${path}</code> — ${op.summary||''}
        ${hasId?'<input class="id" placeholder="id">':''}
        ${hasBody?'<textarea class="body" rows="3">{}</textarea>':''}
        <button>Send</button><pre class="out" hidden></pre>`;
      box.querySelector('button').onclick=async()=>{
        let url=path; if(hasId) url=url.replace('{id}',encodeURIComponent(box.querySelector('.id').value));
        const init={method:method.toUpperCase(),headers:{}};
        const key=document.getElementById('key').value; if(key) init.headers['Authorization']='AccessKey '+key;
        if(hasBody){init.headers['Content-Type']='application/json';init.body=box.querySelector('.body').value;}
        const out=box.querySelector('.out'); out.hidden=false;
        try{const r=await fetch(url,init);out.textContent=r.status+' '+r.statusText+'\n'+await r.text();}
        catch(e){out.textContent=String(e);}
      };
      ops.appendChild(box);
    }
  }
});
</script></body></html>
"#;
