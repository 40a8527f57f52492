//! Live events over WebSocket: `GET /v1.0/ws?token=<access key>`.
//!
//! A client sends `{"type":"subscribe","topics":[...]}` / `{"type":"unsubscribe",...}`;
//! topics are `customer_id:<id>:<resource>[:<resource id>]`, where the resource and its id may
//! be `*` and an absent id means all of them (seed 002 "Topic Matching"). A client may only
//! subscribe to its own customer's topics; others are refused by name. Events arrive as
//! `{"type":"event","topic":…,"event_type":…,"event_id":…,"data":…}`. The server pings every
//! 30 s and drops a client that has not answered for 60 s (RFC 6455 ping/pong).
//!
//! One bus subscription per control plane feeds every connection; it drops events whose
//! `event_id` it has just seen, since the bus delivers at least once.

use crate::ApiError;
use crate::auth::Caller;
use crate::routes::AppState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, State};
use axum::response::Response;
use ferrovox_contract::{Bus, Event};
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use uuid::Uuid;

const PING_EVERY: Duration = Duration::from_secs(30);
const DEAD_AFTER: Duration = Duration::from_secs(60);
/// How many recent event ids the fan-out remembers to drop redeliveries.
const DEDUPE_WINDOW: usize = 10_000;

/// The customer and resource an event concerns, as a topic.
fn topic_of(event: &Event) -> Option<String> {
    let resource = event.event_type.split('.').next()?;
    let customer = event.data.get("customer_id")?.as_str()?;
    let id = event
        .data
        .get("id")
        .and_then(|id| id.as_str())
        .unwrap_or("*");
    Some(format!("customer_id:{customer}:{resource}:{id}"))
}

/// A validated subscription pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    customer: Uuid,
    resource: String,
    id: String,
}

impl Pattern {
    fn parse(topic: &str, caller: Uuid) -> Result<Self, String> {
        let parts: Vec<&str> = topic.split(':').collect();
        let (customer, resource, id) = match parts.as_slice() {
            ["customer_id", customer, resource] => (*customer, *resource, "*"),
            ["customer_id", customer, resource, id] => (*customer, *resource, *id),
            _ => {
                return Err(format!(
                    "topic {topic:?} is not customer_id:<id>:<resource>[:<id>]"
                ));
            }
        };
        let customer = Uuid::parse_str(customer)
            .map_err(|_| format!("topic {topic:?}: customer id is not a UUID"))?;
        if customer != caller {
            return Err(format!("topic {topic:?} belongs to another customer"));
        }
        if resource.is_empty() || id.is_empty() {
            return Err(format!("topic {topic:?} has an empty part"));
        }
        Ok(Self {
            customer,
            resource: resource.to_owned(),
            id: id.to_owned(),
        })
    }

    fn matches(&self, topic: &str) -> bool {
        let mut parts = topic.splitn(4, ':');
        let (Some("customer_id"), Some(customer), Some(resource), Some(id)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        customer == self.customer.to_string()
            && (self.resource == "*" || self.resource == resource)
            && (self.id == "*" || self.id == id)
    }
}

/// Starts the single bus subscription that feeds every WebSocket client.
pub(crate) async fn start_fan_out(
    bus: Arc<dyn Bus>,
) -> Result<broadcast::Sender<Arc<(String, Event)>>, ferrovox_contract::BusError> {
    let (sender, _) = broadcast::channel(1024);
    let mut subscription = bus.subscribe("#").await?;
    let fan_out = sender.clone();
    tokio::spawn(async move {
        let mut recent: VecDeque<Uuid> = VecDeque::with_capacity(DEDUPE_WINDOW);
        let mut seen: HashSet<Uuid> = HashSet::with_capacity(DEDUPE_WINDOW);
        while let Some(event) = subscription.next().await {
            if !seen.insert(event.event_id) {
                continue;
            }
            recent.push_back(event.event_id);
            if recent.len() > DEDUPE_WINDOW
                && let Some(old) = recent.pop_front()
            {
                seen.remove(&old);
            }
            if let Some(topic) = topic_of(&event) {
                // No receivers is fine: nobody is connected.
                let _ = fan_out.send(Arc::new((topic, event)));
            }
        }
    });
    Ok(sender)
}

pub(crate) async fn upgrade(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let (mut parts, _body) = request.into_parts();
    let caller = Caller::from_request_parts(&mut parts, &state).await?;
    let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &state)
        .await
        .map_err(|rejection| ApiError::invalid("upgrade", rejection.body_text()))?;
    let events = state.events.subscribe();
    Ok(upgrade.on_upgrade(move |socket| serve(socket, caller.customer_id, events)))
}

fn reply(kind: &str, fields: serde_json::Value) -> Message {
    let mut body = serde_json::json!({ "type": kind });
    if let (Some(body), Some(fields)) = (body.as_object_mut(), fields.as_object()) {
        body.extend(fields.clone());
    }
    Message::Text(body.to_string().into())
}

async fn serve(
    mut socket: WebSocket,
    customer: Uuid,
    mut events: broadcast::Receiver<Arc<(String, Event)>>,
) {
    let mut patterns: Vec<Pattern> = Vec::new();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let Some(Ok(message)) = incoming else { return };
                last_heard = Instant::now();
                let text = match message {
                    Message::Text(text) => text,
                    Message::Close(_) => return,
                    _ => continue,
                };
                let answer = handle_command(&text, customer, &mut patterns);
                if socket.send(answer).await.is_err() {
                    return;
                }
            }
            event = events.recv() => match event {
                Ok(event) => {
                    let (topic, event) = event.as_ref();
                    if patterns.iter().any(|p| p.matches(topic)) {
                        let message = reply("event", serde_json::json!({
                            "topic": topic,
                            "event_type": event.event_type,
                            "event_id": event.event_id,
                            "data": event.data,
                        }));
                        if socket.send(message).await.is_err() {
                            return;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    let warning = reply("error", serde_json::json!({"message": format!("{missed} events were dropped: the client reads too slowly")}));
                    if socket.send(warning).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > DEAD_AFTER {
                    tracing::debug!(%customer, "websocket client stopped answering pings");
                    return;
                }
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn handle_command(text: &str, customer: Uuid, patterns: &mut Vec<Pattern>) -> Message {
    let command: serde_json::Value = match serde_json::from_str(text) {
        Ok(command) => command,
        Err(error) => {
            return reply(
                "error",
                serde_json::json!({"message": format!("not JSON: {error}")}),
            );
        }
    };
    let kind = command
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or_default();
    let topics: Vec<&str> = command
        .get("topics")
        .and_then(|t| t.as_array())
        .map(|topics| topics.iter().filter_map(|t| t.as_str()).collect())
        .unwrap_or_default();
    if topics.is_empty() {
        return reply(
            "error",
            serde_json::json!({"message": "send {\"type\":\"subscribe\"|\"unsubscribe\",\"topics\":[...]}"}),
        );
    }
    let parsed: Result<Vec<Pattern>, String> =
        topics.iter().map(|t| Pattern::parse(t, customer)).collect();
    let parsed = match parsed {
        Ok(parsed) => parsed,
        Err(message) => {
            return reply(
                "error",
                serde_json::json!({"message": message, "refused": topics}),
            );
        }
    };
    match kind {
        "subscribe" => {
            for pattern in parsed {
                if !patterns.contains(&pattern) {
                    patterns.push(pattern);
                }
            }
            reply("subscribed", serde_json::json!({"topics": topics}))
        }
        "unsubscribe" => {
            patterns.retain(|p| !parsed.contains(p));
            reply("unsubscribed", serde_json::json!({"topics": topics}))
        }
        other => reply(
            "error",
            serde_json::json!({"message": format!("unknown message type {other:?}")}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_match_as_the_source_documents_say() {
        let me = Uuid::new_v4();
        let all_numbers = Pattern::parse(&format!("customer_id:{me}:number:*"), me).unwrap();
        let short = Pattern::parse(&format!("customer_id:{me}:number"), me).unwrap();
        let one = Pattern::parse(&format!("customer_id:{me}:number:abc"), me).unwrap();
        let any = Pattern::parse(&format!("customer_id:{me}:*"), me).unwrap();
        let topic = format!("customer_id:{me}:number:abc");
        assert!(
            all_numbers.matches(&topic)
                && short.matches(&topic)
                && one.matches(&topic)
                && any.matches(&topic)
        );
        assert!(!one.matches(&format!("customer_id:{me}:number:xyz")));
        assert!(!all_numbers.matches(&format!("customer_id:{me}:conference:abc")));
        assert!(!all_numbers.matches(&format!("customer_id:{}:number:abc", Uuid::new_v4())));
    }

    #[test]
    fn foreign_and_malformed_topics_are_refused() {
        let me = Uuid::new_v4();
        assert!(
            Pattern::parse(&format!("customer_id:{}:number:*", Uuid::new_v4()), me)
                .unwrap_err()
                .contains("another customer")
        );
        assert!(Pattern::parse("customer_id:*:number:*", me).is_err());
        assert!(Pattern::parse("number:*", me).is_err());
        assert!(Pattern::parse(&format!("customer_id:{me}::x"), me).is_err());
    }
}
