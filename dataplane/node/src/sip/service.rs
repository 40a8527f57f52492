//! One core's SIP service: the sans-IO proxy driven by the IO runtime, plus the housekeeping
//! the proxy does not know about — gateway probes (core 0 sends them for the whole node),
//! registration expiry, and publishing counters for /metrics.

use super::policy::EdgePolicy;
use super::shared::{Routing, Shared};
use ferrovox_proxy::{Proxy, ProxyConfig, ProxyEvent};
use ferrovox_routing::ProbeToken;
use ferrovox_runtime::{CoreContext, Service};
use ferrovox_sip::transaction::Peer;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Counters are published and expired bindings purged this often.
const HOUSEKEEPING: Duration = Duration::from_secs(1);

pub struct ProxyService {
    proxy: Proxy<EdgePolicy>,
    shared: Arc<Shared>,
    core: usize,
    /// Probes in flight, with the routing they belong to (a new directory replaces it).
    probes: HashMap<u64, (Arc<Routing>, ProbeToken)>,
    next_probe_token: u64,
    next_housekeeping: Instant,
}

impl ProxyService {
    pub fn new(context: &CoreContext, shared: Arc<Shared>, mut config: ProxyConfig) -> Self {
        let now = Instant::now();
        config.listen = context.listen.clone();
        config.via_udp = context.via_udp;
        let policy = EdgePolicy::new(shared.clone(), context.core, now);
        Self {
            proxy: Proxy::new(config, policy),
            shared,
            core: context.core,
            probes: HashMap::new(),
            next_probe_token: 1,
            // At once: the metrics series exist from the start.
            next_housekeeping: now,
        }
    }

    fn drain_events(&mut self, now: Instant) {
        while let Some(event) = self.proxy.poll_event() {
            match event {
                ProxyEvent::ProbeResult { token, status } => {
                    if let Some((routing, probe)) = self.probes.remove(&token)
                        && Arc::ptr_eq(&routing, &self.shared.routing())
                    {
                        routing.health.probe_result(probe, status, now);
                    }
                }
                ProxyEvent::DialogStarted { call_id } => {
                    tracing::debug!(core = self.core, %call_id, "dialog started");
                }
                ProxyEvent::DialogEnded {
                    call_id,
                    duration,
                    reason,
                } => {
                    tracing::debug!(core = self.core, %call_id, ?duration, ?reason, "dialog ended");
                }
            }
        }
    }

    fn send_due_probes(&mut self, now: Instant) {
        // One core probes for the node: health is shared, so one probe per gateway suffices.
        if self.core != 0 {
            return;
        }
        let routing = self.shared.routing();
        while let Some(probe) = routing.health.poll_probe(now) {
            let token = self.next_probe_token;
            self.next_probe_token += 1;
            self.probes.insert(token, (routing.clone(), probe.token));
            self.proxy.send_probe(&probe.uri, probe.peer(), token, now);
        }
    }

    fn housekeeping(&mut self, now: Instant) {
        if now < self.next_housekeeping {
            return;
        }
        self.next_housekeeping = now + HOUSEKEEPING;
        if self.core == 0 {
            self.shared.registrar.purge_expired(now);
        }
        let stats = self.proxy.stats();
        let counters = &self.shared.cores[self.core];
        let since_start = now.saturating_duration_since(self.shared.started);
        counters
            .heartbeat_ms
            .store(since_start.as_millis() as u64, Ordering::Relaxed);
        let publish = self.core == 0;
        for (counter, value) in [
            (&counters.requests, stats.requests),
            (&counters.responses, stats.responses),
            (&counters.forwarded, stats.forwarded),
            (&counters.dropped_malformed, stats.dropped_malformed),
            (&counters.dropped_admission, stats.dropped_admission),
            (&counters.active_transactions, stats.active_transactions),
            (&counters.active_dialogs, stats.active_dialogs),
            (&counters.memory_bytes, stats.memory_bytes),
        ] {
            counter.store(value, Ordering::Relaxed);
        }
        // One core publishes the node's totals (the metrics registry is process-wide).
        if publish {
            self.shared.stats().publish();
        }
    }
}

impl Service for ProxyService {
    fn on_message(&mut self, bytes: &[u8], from: Peer, now: Instant) {
        self.proxy.handle_message(bytes, from, now);
        self.drain_events(now);
    }

    fn on_timeout(&mut self, now: Instant) {
        self.proxy.handle_timeout(now);
        self.send_due_probes(now);
        self.housekeeping(now);
        self.drain_events(now);
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        let mut next = self.next_housekeeping;
        if let Some(at) = self.proxy.poll_timeout() {
            next = next.min(at);
        }
        if self.core == 0
            && let Some(at) = self.shared.routing().health.next_probe_at()
        {
            next = next.min(at);
        }
        Some(next)
    }

    fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<Peer> {
        self.proxy.poll_transmit(buf)
    }

    fn on_transport_error(&mut self, dest: Peer, now: Instant) {
        self.proxy.transport_error(dest, now);
        self.drain_events(now);
    }
}
