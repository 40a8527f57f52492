//! The in-process bus of the single-box appliance: no broker, same semantics as AMQP for
//! topic matching and RPC addressing.

use super::{Bus, BusError, Guard, RequestHandler, Serving, Subscription, topic_matches};
use crate::{Event, NodeId, Request, Response};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Default)]
struct Registry {
    next_id: u64,
    subscribers: Vec<(u64, String, mpsc::UnboundedSender<Event>)>,
    handlers: HashMap<NodeId, (u64, Arc<dyn RequestHandler>)>,
}

/// Events and RPC between tasks of one process.
#[derive(Clone, Default)]
pub struct MemoryBus {
    registry: Arc<Mutex<Registry>>,
}

impl MemoryBus {
    pub fn new() -> Self {
        Self::default()
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding this lock cannot leave the registry half-updated (every
        // mutation is a single push/insert/retain), so a poisoned lock is still usable.
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Bus for MemoryBus {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn publish(&self, event: &Event) -> Result<(), BusError> {
        let mut registry = self.registry();
        registry.subscribers.retain(|(_, pattern, tx)| {
            if topic_matches(pattern, &event.event_type) {
                tx.send(event.clone()).is_ok()
            } else {
                !tx.is_closed()
            }
        });
        Ok(())
    }

    async fn subscribe(&self, pattern: &str) -> Result<Subscription, BusError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut registry = self.registry();
        registry.next_id += 1;
        let id = registry.next_id;
        registry.subscribers.push((id, pattern.to_owned(), tx));
        let weak = Arc::downgrade(&self.registry);
        let guard = Guard::new(move || {
            if let Some(registry) = weak.upgrade() {
                let mut registry = registry.lock().unwrap_or_else(|p| p.into_inner());
                registry.subscribers.retain(|(sub, _, _)| *sub != id);
            }
        });
        Ok(Subscription::new(rx, guard))
    }

    /// In one process there is no broker to restart: a durable subscription is a plain one.
    async fn subscribe_durable(
        &self,
        _name: &str,
        pattern: &str,
    ) -> Result<Subscription, BusError> {
        self.subscribe(pattern).await
    }

    async fn call(
        &self,
        node: &NodeId,
        request: &Request,
        timeout: Duration,
    ) -> Result<Response, BusError> {
        let handler = self
            .registry()
            .handlers
            .get(node)
            .map(|(_, handler)| handler.clone())
            .ok_or_else(|| BusError::NoResponder(node.clone()))?;
        tokio::time::timeout(timeout, handler.handle(request.clone()))
            .await
            .map_err(|_| BusError::Timeout {
                node: node.clone(),
                timeout,
            })
    }

    async fn serve(
        &self,
        node: &NodeId,
        handler: Arc<dyn RequestHandler>,
    ) -> Result<Serving, BusError> {
        let mut registry = self.registry();
        registry.next_id += 1;
        let id = registry.next_id;
        registry.handlers.insert(node.clone(), (id, handler));
        let weak = Arc::downgrade(&self.registry);
        let node = node.clone();
        Ok(Serving::new(Guard::new(move || {
            if let Some(registry) = weak.upgrade() {
                let mut registry = registry.lock().unwrap_or_else(|p| p.into_inner());
                // Only remove our own registration: a newer serve() for the same node wins.
                if registry.handlers.get(&node).is_some_and(|(h, _)| *h == id) {
                    registry.handlers.remove(&node);
                }
            }
        })))
    }

    async fn check(&self) -> Result<(), BusError> {
        Ok(())
    }
}
