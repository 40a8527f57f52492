//! Feeds media nodes' SIP edges: extensions, trunks, providers and routes become one
//! [`SipDirectory`] published on the bus (see `ferrovox_contract::directory`).
//!
//! Published when one of those resources changes (their events come back from the bus), when a
//! node announces itself (`node.started`), and every `REPUBLISH_INTERVAL_S` seconds — so a node
//! that started while the control plane was away, or missed an event, converges. The control
//! plane keeps no per-node state.
//!
//! Mapping (one node serves every customer, so the directory is global):
//! - extensions → digest accounts (username, password, domain);
//! - trunks with `basic` auth → digest accounts; trunks with `ip` auth → source allow-lists;
//! - providers whose host is an IP address → gateways (`<ip>:<port>`, tech prefix); host
//!   names are skipped with a warning (the SIP edge does no DNS on the signalling path);
//! - routes → prefix routes, `all` = the default route; routes of one target are merged
//!   (every customer's) into one failover list ordered by priority.
//!
//! Only live customers' resources count: deleting a customer (`customer.deleted`) takes its
//! SIP accounts, trunks, gateways and routes off the nodes with the next directory.

use crate::resource::Resource;
use crate::resource::customer::Customer;
use crate::resource::extension::Extension;
use crate::resource::provider::Provider;
use crate::resource::route::Route;
use crate::resource::trunk::Trunk;
use ferrovox_contract::directory::{
    REPUBLISH_INTERVAL_S, SipAccount, SipGateway, SipRoute, SipTrunk,
};
use ferrovox_contract::{Bus, Event, SIP_DIRECTORY_EVENT, SipDirectory};
use ferrovox_store::Store;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::task::JoinHandle;

/// Rows read per store call while scanning a table.
const SCAN_PAGE: u32 = 500;

/// Events after which the directory is rebuilt and published.
const TRIGGERS: &[&str] = &[
    "extension.*",
    "trunk.*",
    "provider.*",
    "route.*",
    "customer.deleted",
    "node.started",
];

/// Starts publishing; the task ends when the bus subscription does.
pub(crate) async fn spawn(
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
) -> Result<JoinHandle<()>, ferrovox_contract::BusError> {
    let mut subscriptions = Vec::new();
    for pattern in TRIGGERS {
        subscriptions.push(bus.subscribe(pattern).await?);
    }
    let (changed, mut wake) = tokio::sync::mpsc::channel::<()>(1);
    for mut subscription in subscriptions {
        let changed = changed.clone();
        tokio::spawn(async move {
            while subscription.next().await.is_some() {
                // A full channel already holds a pending rebuild.
                let _ = changed.try_send(());
            }
        });
    }
    Ok(tokio::spawn(async move {
        let mut republish = tokio::time::interval(Duration::from_secs(REPUBLISH_INTERVAL_S));
        loop {
            tokio::select! {
                _ = republish.tick() => {}
                woken = wake.recv() => if woken.is_none() { return },
            }
            match build(store.as_ref()).await {
                Ok(directory) => publish(bus.as_ref(), &directory).await,
                // The next trigger or tick tries again; nodes keep what they have.
                Err(error) => tracing::warn!(%error, "cannot build the SIP directory"),
            }
        }
    }))
}

async fn publish(bus: &dyn Bus, directory: &SipDirectory) {
    let data = match serde_json::to_value(directory) {
        Ok(data) => data,
        Err(error) => {
            tracing::error!(%error, "cannot serialise the SIP directory");
            return;
        }
    };
    let event = Event::new(SIP_DIRECTORY_EVENT, "control", data);
    match bus.publish(&event).await {
        Ok(()) => tracing::debug!(
            version = directory.version,
            accounts = directory.accounts.len(),
            gateways = directory.gateways.len(),
            routes = directory.routes.len(),
            "SIP directory published"
        ),
        Err(error) => tracing::warn!(%error, "cannot publish the SIP directory"),
    }
}

/// Every live row of a resource's table, of every customer.
async fn scan<R: Resource>(store: &dyn Store) -> Result<Vec<R>, String> {
    let mut rows = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .record_scan(R::TABLE, after.as_deref(), SCAN_PAGE)
            .await
            .map_err(|e| format!("{}: {e}", R::TABLE.name))?;
        let full = page.len() == SCAN_PAGE as usize;
        after = page
            .last()
            .and_then(|row| row.get("id"))
            .and_then(|id| id.as_text())
            .map(str::to_owned);
        for record in &page {
            match R::from_record(record) {
                Ok(row) => rows.push(row),
                Err(error) => {
                    tracing::warn!(table = R::TABLE.name, ?error, "unreadable row skipped")
                }
            }
        }
        if !full || after.is_none() {
            return Ok(rows);
        }
    }
}

/// Reads the store and maps it to a directory.
pub(crate) async fn build(store: &dyn Store) -> Result<SipDirectory, String> {
    let customers: std::collections::HashSet<uuid::Uuid> = scan::<Customer>(store)
        .await?
        .iter()
        .map(Customer::id)
        .collect();
    let mut extensions = scan::<Extension>(store).await?;
    let mut trunks = scan::<Trunk>(store).await?;
    let mut providers = scan::<Provider>(store).await?;
    let mut routes = scan::<Route>(store).await?;
    // A deleted customer's rows stay live in their tables (soft delete of the customer only).
    extensions.retain(|row| customers.contains(&row.customer_id()));
    trunks.retain(|row| customers.contains(&row.customer_id()));
    providers.retain(|row| customers.contains(&row.customer_id()));
    routes.retain(|row| customers.contains(&row.customer_id()));
    Ok(assemble(extensions, trunks, providers, routes))
}

fn assemble(
    extensions: Vec<Extension>,
    trunks: Vec<Trunk>,
    providers: Vec<Provider>,
    routes: Vec<Route>,
) -> SipDirectory {
    let mut directory = SipDirectory {
        version: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        ..SipDirectory::default()
    };
    for extension in extensions {
        directory.accounts.push(SipAccount {
            customer_id: extension.customer_id.to_string(),
            username: extension.username,
            password: extension.password,
            domain: extension.domain_name,
        });
    }
    for trunk in trunks {
        let customer_id = trunk.customer_id.to_string();
        if trunk.auth_types.iter().any(|t| t == "basic") && !trunk.username.is_empty() {
            directory.accounts.push(SipAccount {
                customer_id: customer_id.clone(),
                username: trunk.username.clone(),
                password: trunk.password.clone(),
                domain: trunk.domain_name.clone(),
            });
        }
        if trunk.auth_types.iter().any(|t| t == "ip") && !trunk.allowed_ips.is_empty() {
            directory.trunks.push(SipTrunk {
                customer_id,
                name: trunk.id.to_string(),
                allowed_ips: trunk.allowed_ips,
                domain: Some(trunk.domain_name).filter(|d| !d.is_empty()),
            });
        }
    }
    let mut gateway_names = std::collections::HashSet::new();
    for provider in providers {
        let Ok(ip) = provider.hostname.parse::<IpAddr>() else {
            tracing::warn!(
                provider = %provider.id,
                host = %provider.hostname,
                "provider skipped: the SIP edge routes to IP addresses only"
            );
            continue;
        };
        let transport = provider.transport.to_ascii_lowercase();
        if transport != "udp" && transport != "tcp" {
            tracing::warn!(provider = %provider.id, %transport, "provider skipped: unsupported transport");
            continue;
        }
        gateway_names.insert(provider.id.to_string());
        directory.gateways.push(SipGateway {
            customer_id: provider.customer_id.to_string(),
            name: provider.id.to_string(),
            address: std::net::SocketAddr::new(ip, provider.port).to_string(),
            transport,
            prefix: provider.tech_prefix,
        });
    }
    // target → (priority, provider) pairs, merged over customers.
    let mut by_target: BTreeMap<String, Vec<(u16, String)>> = BTreeMap::new();
    for route in routes {
        let provider = route.provider_id.to_string();
        if !gateway_names.contains(&provider) {
            continue;
        }
        let prefix = if route.target == "all" {
            String::new()
        } else {
            route.target
        };
        by_target
            .entry(prefix)
            .or_default()
            .push((route.priority, provider));
    }
    for (prefix, mut gateways) in by_target {
        gateways.sort();
        let mut ordered: Vec<String> = Vec::new();
        for (_, gateway) in gateways {
            if !ordered.contains(&gateway) {
                ordered.push(gateway);
            }
        }
        directory.routes.push(SipRoute {
            prefix,
            gateways: ordered,
        });
    }
    directory
}
