//! Live events over WebSocket: a client gets its own customer's events on the topics it asked
//! for, never another customer's, and cannot subscribe to another customer's topics.

mod common;

use ferrovox_store::Store;
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

async fn customer(store: &dyn Store) -> (Uuid, String) {
    let id = common::new_customer(store).await;
    (id, common::key_for(store, id, &["customer_admin"]).await)
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a message within 5 s")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

async fn create_number(base: &str, key: &str, number: &str) -> String {
    let body = Some(json!({"number": number}));
    let created = common::expect(base, Method::POST, "/v1.0/numbers", key, body, 201).await;
    created["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn clients_get_their_own_customers_events_only() {
    let dir = tempfile::tempdir().unwrap();
    let engines = common::embedded(dir.path()).await;
    engines.store.migrate().await.unwrap();
    let (a, key_a) = customer(engines.store.as_ref()).await;
    let (b, key_b) = customer(engines.store.as_ref()).await;
    let (control, base) = common::start_control(&engines).await;

    let refused =
        tokio_tungstenite::connect_async(format!("ws://{}/v1.0/ws?token=ak_wrong", control.addr()))
            .await;
    assert!(refused.is_err(), "a bad token gets no socket");

    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/v1.0/ws?token={key_a}", control.addr()))
            .await
            .unwrap();
    let mine = format!("customer_id:{a}:number:*");
    socket
        .send(Message::Text(
            json!({"type": "subscribe", "topics": [mine]})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    assert_eq!(next_json(&mut socket).await["type"], "subscribed");

    let theirs = format!("customer_id:{b}:number:*");
    socket
        .send(Message::Text(
            json!({"type": "subscribe", "topics": [theirs]})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let refusal = next_json(&mut socket).await;
    assert_eq!(refusal["type"], "error");
    assert!(
        refusal["message"]
            .as_str()
            .unwrap()
            .contains("another customer"),
        "{refusal}"
    );

    let b_number = create_number(&base, &key_b, "+15550000002").await;
    let a_number = create_number(&base, &key_a, "+15550000001").await;
    let event = next_json(&mut socket).await;
    assert_eq!(event["type"], "event");
    assert_eq!(event["event_type"], "number.created");
    assert_eq!(
        event["data"]["id"], a_number,
        "A's event, and B's ({b_number}) never came first"
    );
    assert_eq!(event["topic"], format!("customer_id:{a}:number:{a_number}"));

    socket
        .send(Message::Text(
            json!({"type": "unsubscribe", "topics": [mine]})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    assert_eq!(next_json(&mut socket).await["type"], "unsubscribed");
    create_number(&base, &key_a, "+15550000003").await;
    let quiet = tokio::time::timeout(Duration::from_millis(700), socket.next()).await;
    assert!(quiet.is_err(), "no events after unsubscribing: {quiet:?}");
    control.shutdown().await;
}
