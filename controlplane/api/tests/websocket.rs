//! Live events over WebSocket: a client gets its own customer's events on the topics it asked
//! for, never another customer's, and cannot subscribe to another customer's topics.

use ferrovox_contract::MemoryBus;
use ferrovox_control::{ControlPlane, Engines, generate_token, token_hash};
use ferrovox_store::model::now;
use ferrovox_store::{AccessKey, Customer, LIVE, Store};
use ferrovox_testkit::ports::{free_tcp_port, loopback};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

async fn customer(store: &dyn Store) -> (Uuid, String) {
    let at = now();
    let id = Uuid::new_v4();
    store
        .customer_create(&Customer {
            id,
            name: "c".into(),
            detail: String::new(),
            email: String::new(),
            webhook_method: "POST".into(),
            webhook_uri: String::new(),
            webhook_secret: "s".into(),
            tm_create: at,
            tm_update: at,
            tm_delete: LIVE,
        })
        .await
        .unwrap();
    let token = generate_token();
    store
        .accesskey_create(&AccessKey {
            id: Uuid::new_v4(),
            customer_id: id,
            name: "k".into(),
            detail: String::new(),
            token_hash: token_hash(&token),
            token_prefix: token[..7].to_owned(),
            permissions: vec!["customer_admin".into()],
            tm_expire: at + chrono::Duration::days(1),
            tm_create: at,
            tm_update: at,
            tm_delete: LIVE,
        })
        .await
        .unwrap();
    (id, token)
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
    let response = reqwest::Client::new()
        .post(format!("{base}/v1.0/numbers"))
        .header("Authorization", format!("AccessKey {key}"))
        .json(&json!({"number": number}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn clients_get_their_own_customers_events_only() {
    let dir = tempfile::tempdir().unwrap();
    let engines = Engines {
        store: ferrovox_store::open(&format!("sqlite://{}/w.db", dir.path().display()))
            .await
            .unwrap(),
        cache: ferrovox_cache::open("memory://").unwrap(),
        bus: Arc::new(MemoryBus::new()),
    };
    engines.store.migrate().await.unwrap();
    let (a, key_a) = customer(engines.store.as_ref()).await;
    let (b, key_b) = customer(engines.store.as_ref()).await;
    let control = ControlPlane::start(loopback(free_tcp_port()), engines, Arc::new(String::new))
        .await
        .unwrap();
    let base = format!("http://{}", control.addr());

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
