//! Flows end to end: action lists checked on write (errors name the action and the option),
//! ids generated, CRUD, pagination, soft delete, tenancy and permissions — on the embedded
//! engines and on real MariaDB/Redis/RabbitMQ.

mod common;

use common::{call, expect};
use ferrovox_control::Engines;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

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
    let stranger = common::customer_with_key(engines.store.as_ref(), &["customer_admin"]).await;
    let agent = common::customer_with_key(engines.store.as_ref(), &["agent_user"]).await;
    let (control, base) = common::start_control(&engines).await;

    // Create: ids given are kept, missing ones generated; jumps may point forwards.
    let menu = Uuid::new_v4().to_string();
    let sales = Uuid::new_v4().to_string();
    let flow = expect(&base, Method::POST, "/v1.0/flows", &key, Some(json!({
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
    })), 201).await;
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
    let error = expect(&base, Method::POST, "/v1.0/flows", &key, Some(json!({
        "actions": [{"type": "answer"}, {"type": "answer"}, {"type": "digits_receive", "option": {"duration": 0}}]
    })), 400).await;
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
        common::expect_invalid(&base, Method::POST, "/v1.0/flows", &key, body, field).await;
    }

    // Update replaces the list and is read back at once (the cache entry was invalidated);
    // an invalid update changes nothing.
    let updated = expect(
        &base,
        Method::PUT,
        &format!("/v1.0/flows/{id}"),
        &key,
        Some(json!({"name": "closed", "actions": [
            {"type": "answer"},
            {"type": "play", "option": {"stream_urls": ["https://media.example/closed.wav"]}},
            {"type": "hangup", "option": {"reason": "normal"}}
        ]})),
        200,
    )
    .await;
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
    expect(
        &base,
        Method::PUT,
        &format!("/v1.0/flows/{id}"),
        &stranger,
        Some(json!({"name": "mine now"})),
        404,
    )
    .await;
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
        expect(
            &base,
            Method::POST,
            "/v1.0/flows",
            &key,
            Some(json!({"name": format!("flow {i}"), "actions": [{"type": "answer"}]})),
            201,
        )
        .await;
    }
    let (flows, pages) = common::all_pages(&base, &key, "/v1.0/flows", 5).await;
    let seen: Vec<&str> = flows
        .iter()
        .map(|flow| flow["name"].as_str().unwrap())
        .collect();
    assert_eq!((pages, seen.len()), (3, 12), "{seen:?}");
    assert_eq!(seen.first(), Some(&"flow 10"));
    assert_eq!(seen.last(), Some(&"closed"));

    // Soft delete: answered with tm_delete set, then invisible to get, list and delete.
    let deleted = expect(
        &base,
        Method::DELETE,
        &format!("/v1.0/flows/{id}"),
        &key,
        None,
        200,
    )
    .await;
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

on_both_stacks!(flows_behave:
    flows_on_the_embedded_engines,
    flows_on_mariadb_redis_rabbitmq);
