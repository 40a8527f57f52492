//! The numbers resource end to end: CRUD, validation, pagination, soft delete, tenancy,
//! permissions, cache invalidation and outbox events — on the embedded engines and on real
//! MariaDB/Redis/RabbitMQ.

mod common;

use ferrovox_control::Engines;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", format!("AccessKey {key}"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}")),
        )
    }
}

async fn numbers_behave(engines: Engines, _: &std::path::Path) {
    engines.store.migrate().await.unwrap();
    // Events are published from the first write on: the bus must carry them by then.
    common::wait_bus(&engines).await;
    let owner = common::customer_with_key(engines.store.as_ref(), &["customer_admin"]).await;
    let stranger = common::customer_with_key(engines.store.as_ref(), &["customer_admin"]).await;
    let agent = common::customer_with_key(engines.store.as_ref(), &["agent_user"]).await;
    let mut events = engines.bus.subscribe("number.*").await.unwrap();
    let (control, base) = common::start_control(&engines).await;
    let api = Api {
        base,
        client: reqwest::Client::new(),
    };

    // A number points at a live flow of its customer: an unknown one is refused.
    let (status, error) = api
        .call(
            Method::POST,
            "/v1.0/numbers",
            &owner,
            Some(json!({"number": "+15551230000", "flow_id": Uuid::new_v4().to_string()})),
        )
        .await;
    assert_eq!(
        (status, error["field"].as_str()),
        (400, Some("flow_id")),
        "{error}"
    );
    let (status, flow) = api
        .call(
            Method::POST,
            "/v1.0/flows",
            &owner,
            Some(json!({"name": "main", "actions": [{"type": "answer"}, {"type": "hangup"}]})),
        )
        .await;
    assert_eq!(status, 201, "{flow}");
    let flow = flow["id"].as_str().unwrap().to_owned();

    // Create.
    let (status, created) = api
        .call(
            Method::POST,
            "/v1.0/numbers",
            &owner,
            Some(json!({"number": "+15551230000", "flow_id": flow, "name": "main"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["number"], "+15551230000");
    assert_eq!(created["flow_id"], flow);
    assert_eq!(created["status"], "active");
    assert!(
        created["tm_delete"]
            .as_str()
            .unwrap()
            .starts_with("9999-01-01")
    );
    assert_eq!(
        api.call(Method::GET, &format!("/v1.0/numbers/{id}"), &owner, None)
            .await,
        (200, created.clone())
    );

    // Validation names the field.
    for (body, field) in [
        (json!({"number": "5551230000"}), "number"),
        (json!({"number": "+0123"}), "number"),
        (
            json!({"number": "+15551230001", "flow_id": "not-a-uuid"}),
            "flow_id",
        ),
        (json!({"number": "+15551230001", "colour": "red"}), "body"),
        (json!({"name": "no number"}), "body"),
    ] {
        let (status, error) = api
            .call(Method::POST, "/v1.0/numbers", &owner, Some(body.clone()))
            .await;
        assert_eq!(
            (status, error["error"].as_str(), error["field"].as_str()),
            (400, Some("invalid_argument"), Some(field)),
            "{body} -> {error}"
        );
    }
    let (status, error) = api
        .call(Method::GET, "/v1.0/numbers/not-a-uuid", &owner, None)
        .await;
    assert_eq!((status, error["field"].as_str()), (400, Some("id")));
    let (status, error) = api
        .call(Method::GET, "/v1.0/numbers?page_size=1000", &owner, None)
        .await;
    assert_eq!((status, error["field"].as_str()), (400, Some("page_size")));

    // Update, then read at once: never the old value (the cache entry was invalidated).
    let (status, updated) = api
        .call(
            Method::PUT,
            &format!("/v1.0/numbers/{id}"),
            &owner,
            Some(json!({"name": "sales", "flow_id": null})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        (updated["name"].as_str(), &updated["flow_id"]),
        (Some("sales"), &Value::Null)
    );
    let (_, read) = api
        .call(Method::GET, &format!("/v1.0/numbers/{id}"), &owner, None)
        .await;
    assert_eq!(read["name"], "sales");
    assert_eq!(read["flow_id"], Value::Null);

    // Another customer's number does not exist for them; an agent cannot manage numbers.
    for method in [Method::GET, Method::DELETE] {
        let (status, body) = api
            .call(
                method.clone(),
                &format!("/v1.0/numbers/{id}"),
                &stranger,
                None,
            )
            .await;
        assert_eq!(status, 404, "{method} by another customer: {body}");
    }
    let (status, _) = api
        .call(
            Method::PUT,
            &format!("/v1.0/numbers/{id}"),
            &stranger,
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, 404);
    let (_, theirs) = api
        .call(Method::GET, "/v1.0/numbers", &stranger, None)
        .await;
    assert_eq!(theirs["result"], json!([]));
    let (status, error) = api
        .call(
            Method::POST,
            "/v1.0/numbers",
            &agent,
            Some(json!({"number": "+15550000001"})),
        )
        .await;
    assert_eq!(
        (status, error["error"].as_str()),
        (403, Some("permission_denied"))
    );

    // Pagination across several pages: every number once, newest first.
    for i in 0..24 {
        let (status, body) = api
            .call(
                Method::POST,
                "/v1.0/numbers",
                &owner,
                Some(json!({"number": format!("+1555999{i:04}")})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &token {
            Some(token) => format!("/v1.0/numbers?page_size=10&page_token={token}"),
            None => "/v1.0/numbers?page_size=10".to_owned(),
        };
        let (status, page) = api.call(Method::GET, &path, &owner, None).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        seen.extend(
            page["result"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["number"].as_str().unwrap().to_owned()),
        );
        match page["next_page_token"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 25);
    assert_eq!(
        seen.first().map(String::as_str),
        Some("+15559990023"),
        "newest first"
    );
    assert_eq!(seen.last().map(String::as_str), Some("+15551230000"));

    // Soft delete: answered with tm_delete set, then invisible.
    let (status, deleted) = api
        .call(Method::DELETE, &format!("/v1.0/numbers/{id}"), &owner, None)
        .await;
    assert_eq!(status, 200, "{deleted}");
    assert!(
        !deleted["tm_delete"].as_str().unwrap().starts_with("9999"),
        "{deleted}"
    );
    assert_eq!(
        api.call(Method::GET, &format!("/v1.0/numbers/{id}"), &owner, None)
            .await
            .0,
        404
    );
    assert_eq!(
        api.call(Method::DELETE, &format!("/v1.0/numbers/{id}"), &owner, None)
            .await
            .0,
        404
    );
    let (_, page) = api
        .call(Method::GET, "/v1.0/numbers?page_size=100", &owner, None)
        .await;
    assert_eq!(page["result"].as_array().unwrap().len(), 24);

    // Events left through the outbox: created, updated, 24 created, deleted — each once.
    let mut received = Vec::new();
    while received.len() < 27 {
        let event = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .unwrap_or_else(|_| panic!("only {} events arrived: {received:?}", received.len()))
            .unwrap();
        received.push((
            event.event_type.clone(),
            event.data["id"].as_str().unwrap_or_default().to_owned(),
            event.event_id,
        ));
    }
    assert_eq!(
        (received[0].0.as_str(), received[0].1.as_str()),
        ("number.created", id.as_str())
    );
    assert_eq!(
        (received[1].0.as_str(), received[1].1.as_str()),
        ("number.updated", id.as_str())
    );
    assert_eq!(
        (received[26].0.as_str(), received[26].1.as_str()),
        ("number.deleted", id.as_str())
    );
    let unique: std::collections::HashSet<_> = received.iter().map(|r| r.2).collect();
    assert_eq!(unique.len(), 27, "every event has its own event_id");
    assert!(
        tokio::time::timeout(Duration::from_millis(700), events.next())
            .await
            .is_err(),
        "no duplicates"
    );
    control.shutdown().await;
}

on_both_stacks!(numbers_behave:
    numbers_on_the_embedded_engines,
    numbers_on_mariadb_redis_rabbitmq);
