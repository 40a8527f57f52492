//! The outbox relay: publishes events the store committed with their changes, in order, and
//! marks them published. If the bus is down, events wait in the table and go out when it is
//! back; delivery is at least once (a crash between publish and mark repeats an event), so
//! consumers drop duplicates by `event_id`.

use ferrovox_contract::{Bus, Event};
use ferrovox_store::Store;
use ferrovox_store::model::now;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How often the relay looks for events when nobody wakes it.
const POLL: Duration = Duration::from_millis(500);
const BATCH: u32 = 100;

pub(crate) fn spawn(
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    wake: Arc<Notify>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut outage = false;
        loop {
            match relay_once(store.as_ref(), bus.as_ref()).await {
                Ok(published) => {
                    if outage {
                        tracing::info!("outbox relay resumed");
                        outage = false;
                    }
                    if published == BATCH as usize {
                        continue;
                    }
                }
                Err(error) => {
                    if !outage {
                        tracing::warn!(%error, "outbox relay paused; events wait in the outbox");
                        outage = true;
                    }
                }
            }
            let _ = tokio::time::timeout(POLL, wake.notified()).await;
        }
    })
}

/// Publishes one batch; returns how many went out.
async fn relay_once(store: &dyn Store, bus: &dyn Bus) -> Result<usize, String> {
    let pending = store
        .outbox_pending(BATCH)
        .await
        .map_err(|e| e.to_string())?;
    let mut published = Vec::with_capacity(pending.len());
    let mut failure = None;
    for entry in &pending {
        let event: Event = match serde_json::from_str(&entry.payload) {
            Ok(event) => event,
            Err(error) => {
                // A row that can never be published must not block the ones after it.
                tracing::error!(seq = entry.seq, event_id = %entry.event_id, %error, "undecodable outbox row skipped");
                published.push(entry.seq);
                continue;
            }
        };
        match bus.publish(&event).await {
            Ok(()) => published.push(entry.seq),
            Err(error) => {
                failure = Some(error.to_string());
                break;
            }
        }
    }
    if !published.is_empty() {
        store
            .outbox_mark_published(&published, now())
            .await
            .map_err(|e| e.to_string())?;
        metrics::counter!("ferrovox_outbox_published_total").increment(published.len() as u64);
    }
    match failure {
        Some(error) => Err(error),
        None => Ok(published.len()),
    }
}
