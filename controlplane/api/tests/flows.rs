//! Flows end to end: action lists checked on write (errors name the action and the option),
//! ids generated, CRUD, pagination, soft delete, tenancy and permissions — on the embedded
//! engines and on real MariaDB/Redis/RabbitMQ.

mod common;

use common::call;
use ferrovox_control::{ControlPlane, Engines, generate_token, token_hash};
use ferrovox_store::model::now;
use ferrovox_store::{AccessKey, Customer, LIVE, Store};
use ferrovox_testkit::ports::{free_tcp_port, loopback};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

/// A new customer with one access key holding `permissions`; returns the key.
async fn customer_with_key(store: &dyn Store, permissions: &[&str]) -> String {
    let at = now();
    let customer = Customer {
        id: Uuid::new_v4(),
        name: "other".into(),
        detail: String::new(),
        email: String::new(),
        webhook_method: "POST".into(),
        webhook_uri: String::new(),
        webhook_secret: "s".into(),
        tm_create: at,
        tm_update: at,
        tm_delete: LIVE,
    };
    store.customer_create(&customer).await.unwrap();
    let token = generate_token();
    store
        .accesskey_create(&AccessKey {
            id: Uuid::new_v4(),
            customer_id: customer.id,
            name: "k".into(),
            detail: String::new(),
            token_hash: token_hash(&token),
            token_prefix: token[..7].to_owned(),
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            tm_expire: at + chrono::Duration::days(1),
            tm_create: at,
            tm_update: at,
            tm_delete: LIVE,
        })
        .await
        .unwrap();
    token
}

fn ids(flow: &Value) -> Vec<String> {
    flow["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|action| action["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn flows_behave(engines: Engines, data_dir: &std::path::Path) {
    let key = common::admin_key(&engines, data_dir).await;
    let stranger = customer_with_key(engines.store.as_ref(), &["customer_admin"]).await;
    let agent = customer_with_key(engines.store.as_ref(), &["agent_user"]).await;
    let control = ControlPlane::start(
        loopback(free_tcp_port()),
        engines.clone(),
        Arc::new(String::new),
    )
    .await
    .unwrap();
    let base = format!("http://{}", control.addr());

    // Create: ids given are kept, missing ones generated; jumps may point forwards.
    let menu = Uuid::new_v4().to_string();
    let sales = Uuid::new_v4().to_string();
    let (status, flow) = call(&base, Method::POST, "/v1.0/flows", &key, Some(json!({
        "name": "main menu",
        "actions": [
            {"type": "answer"},
            {"id": menu, "type": "talk", "option": {"text": "Press 1 for sales", "language": "en-US", "gender": "female"}},
            {"type": "digits_receive", "option": {"duration": 5000, "length": 1, "key": "#"}},
            {"type": "branch", "option": {"default_target_id": menu, "target_ids": {"1": sales}}},
            {"id": sales, "type": "connect", "option": {"destinations": [{"type": "tel", "target": "+15551234567"}]}},
            {"type": "goto", "option": {"target_id": menu, "loop_count": 2}},
            {"type": "hangup"}
        ]
    }))).await;
    assert_eq!(status, 201, "{flow}");
    let id = flow["id"].as_str().unwrap().to_owned();
    let action_ids = ids(&flow);
    assert_eq!(action_ids.len(), 7);
    assert_eq!((&action_ids[1], &action_ids[4]), (&menu, &sales));
    assert_eq!(
        action_ids
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        7,
        "every action has its own id: {flow}"
    );
    assert!(action_ids.iter().all(|id| Uuid::parse_str(id).is_ok()));
    assert_eq!(flow["actions"][3]["option"]["target_ids"]["1"], sales);
    assert_eq!(flow["actions"][0]["option"], json!({}));
    assert_eq!(
        call(&base, Method::GET, &format!("/v1.0/flows/{id}"), &key, None).await,
        (200, flow.clone()),
        "read back as created, ids included"
    );

    // Invalid lists: 400 naming the action and the option.
    let (status, error) = call(&base, Method::POST, "/v1.0/flows", &key, Some(json!({
        "actions": [{"type": "answer"}, {"type": "answer"}, {"type": "digits_receive", "option": {"duration": 0}}]
    }))).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["error"], "invalid_argument");
    assert_eq!(error["field"], "actions[2].option.duration");
    assert_eq!(
        error["message"],
        "actions[2].option.duration: must be 1-300000 ms"
    );
    let nowhere = Uuid::new_v4();
    for (body, field) in [
        (json!({"actions": [{"type": "dance"}]}), "actions[0].type"),
        (
            json!({"actions": [{"type": "talk"}]}),
            "actions[0].option.text",
        ),
        (
            json!({"actions": [{"type": "talk", "option": {"text": "hi", "volume": 11}}]}),
            "actions[0].option.volume",
        ),
        (
            json!({"actions": [{"type": "sleep", "option": {"duration": "5s"}}]}),
            "actions[0].option.duration",
        ),
        (
            json!({"actions": [{"type": "answer"}, {"type": "goto", "option": {"target_id": nowhere}}]}),
            "actions[1].option.target_id",
        ),
        (
            json!({"actions": [{"type": "branch", "option": {"target_ids": {"1": nowhere}}}]}),
            "actions[0].option.target_ids.1",
        ),
        (
            json!({"actions": [{"type": "answer", "next_id": nowhere}]}),
            "actions[0].next_id",
        ),
        (
            json!({"actions": [{"type": "play", "option": {"stream_urls": ["file:///etc/passwd"]}}]}),
            "actions[0].option.stream_urls[0]",
        ),
        (
            json!({"actions": [{"type": "webhook_send", "option": {"uri": "https://hooks.example", "method": "PATCH"}}]}),
            "actions[0].option.method",
        ),
        (
            json!({"actions": [{"type": "queue_join", "option": {"queue_id": "sales"}}]}),
            "actions[0].option.queue_id",
        ),
        (json!({"actions": []}), "actions"),
        (json!({"actions": "answer"}), "actions"),
        (json!({"name": "no actions"}), "body"),
        (
            json!({"actions": [{"type": "answer"}], "colour": "red"}),
            "body",
        ),
        (
            json!({"name": "x".repeat(256), "actions": [{"type": "answer"}]}),
            "name",
        ),
    ] {
        let (status, error) =
            call(&base, Method::POST, "/v1.0/flows", &key, Some(body.clone())).await;
        assert_eq!(
            (status, error["error"].as_str(), error["field"].as_str()),
            (400, Some("invalid_argument"), Some(field)),
            "{body} -> {error}"
        );
    }

    // Update replaces the list and is read back at once (the cache entry was invalidated);
    // an invalid update changes nothing.
    let (status, updated) = call(
        &base,
        Method::PUT,
        &format!("/v1.0/flows/{id}"),
        &key,
        Some(json!({"name": "closed", "actions": [
            {"type": "answer"},
            {"type": "play", "option": {"stream_urls": ["https://media.example/closed.wav"]}},
            {"type": "hangup", "option": {"reason": "normal"}}
        ]})),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "closed");
    assert_eq!(updated["actions"].as_array().unwrap().len(), 3);
    assert_eq!(updated["actions"][1]["type"], "play");
    let (_, read) = call(&base, Method::GET, &format!("/v1.0/flows/{id}"), &key, None).await;
    assert_eq!(read, updated);
    let (status, error) = call(
        &base,
        Method::PUT,
        &format!("/v1.0/flows/{id}"),
        &key,
        Some(json!({"name": "broken", "actions": [{"type": "sleep", "option": {"duration": 300_001}}]})),
    )
    .await;
    assert_eq!(
        (status, error["field"].as_str()),
        (400, Some("actions[0].option.duration"))
    );
    let (_, read) = call(&base, Method::GET, &format!("/v1.0/flows/{id}"), &key, None).await;
    assert_eq!(read, updated, "a refused update changes nothing");

    // Another customer's flow does not exist for them; an agent cannot manage flows.
    for method in [Method::GET, Method::DELETE] {
        let (status, body) = call(
            &base,
            method.clone(),
            &format!("/v1.0/flows/{id}"),
            &stranger,
            None,
        )
        .await;
        assert_eq!(status, 404, "{method} by another customer: {body}");
    }
    let (status, _) = call(
        &base,
        Method::PUT,
        &format!("/v1.0/flows/{id}"),
        &stranger,
        Some(json!({"name": "mine now"})),
    )
    .await;
    assert_eq!(status, 404);
    let (_, theirs) = call(&base, Method::GET, "/v1.0/flows", &stranger, None).await;
    assert_eq!(theirs["result"], json!([]));
    let (status, error) = call(
        &base,
        Method::POST,
        "/v1.0/flows",
        &agent,
        Some(json!({"actions": [{"type": "answer"}]})),
    )
    .await;
    assert_eq!(
        (status, error["error"].as_str()),
        (403, Some("permission_denied"))
    );

    // Pagination across pages: every flow once, newest first.
    for i in 0..11 {
        let (status, body) = call(
            &base,
            Method::POST,
            "/v1.0/flows",
            &key,
            Some(json!({"name": format!("flow {i}"), "actions": [{"type": "answer"}]})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &token {
            Some(token) => format!("/v1.0/flows?page_size=5&page_token={token}"),
            None => "/v1.0/flows?page_size=5".to_owned(),
        };
        let (status, page) = call(&base, Method::GET, &path, &key, None).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        seen.extend(
            page["result"]
                .as_array()
                .unwrap()
                .iter()
                .map(|flow| flow["name"].as_str().unwrap().to_owned()),
        );
        match page["next_page_token"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!((pages, seen.len()), (3, 12), "{seen:?}");
    assert_eq!(seen.first().map(String::as_str), Some("flow 10"));
    assert_eq!(seen.last().map(String::as_str), Some("closed"));

    // Soft delete: answered with tm_delete set, then invisible to get, list and delete.
    let (status, deleted) = call(
        &base,
        Method::DELETE,
        &format!("/v1.0/flows/{id}"),
        &key,
        None,
    )
    .await;
    assert_eq!(status, 200, "{deleted}");
    assert!(
        !deleted["tm_delete"].as_str().unwrap().starts_with("9999"),
        "{deleted}"
    );
    for method in [Method::GET, Method::DELETE] {
        assert_eq!(
            call(&base, method, &format!("/v1.0/flows/{id}"), &key, None)
                .await
                .0,
            404
        );
    }
    let (_, page) = call(&base, Method::GET, "/v1.0/flows?page_size=100", &key, None).await;
    let names: Vec<&str> = page["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|flow| flow["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 11);
    assert!(!names.contains(&"closed"));
    control.shutdown().await;
}

#[tokio::test]
async fn flows_on_the_embedded_engines() {
    let dir = tempfile::tempdir().unwrap();
    flows_behave(common::embedded(dir.path()).await, dir.path()).await;
}

#[tokio::test]
async fn flows_on_mariadb_redis_rabbitmq() {
    let dir = tempfile::tempdir().unwrap();
    flows_behave(common::dev_stack().await, dir.path()).await;
}
