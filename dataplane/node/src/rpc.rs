//! The node's answers to requests the control plane sends over the bus.

use async_trait::async_trait;
use ferrovox_contract::{NodeId, Request, RequestHandler, Response};
use std::time::Instant;

pub(crate) struct NodeRequests {
    node_id: NodeId,
    started: Instant,
}

impl NodeRequests {
    pub(crate) fn new(node_id: NodeId, started: Instant) -> Self {
        Self { node_id, started }
    }
}

#[async_trait]
impl RequestHandler for NodeRequests {
    async fn handle(&self, request: Request) -> Response {
        metrics::counter!("ferrovox_node_requests_total").increment(1);
        match request {
            Request::Ping => Response::Pong {
                node_id: self.node_id.clone(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                uptime_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            },
        }
    }
}
