//! The SIP directory: what the control plane's extensions, trunks, providers and routes mean to
//! a node's registrar, authentication and carrier routing.
//!
//! The control plane publishes the whole directory as one [`SIP_DIRECTORY_EVENT`] whenever one
//! of those resources changes, when a node starts, and every [`REPUBLISH_INTERVAL_S`] seconds
//! (so a node that missed an event converges). A node applies a directory only if its
//! `version` is newer than the one it holds, and keeps serving with what it has when the
//! control plane is away. Whole snapshots, not deltas: a lost or duplicated event cannot leave
//! a node inconsistent.
//!
//! The event carries SIP passwords: the bus is internal to a deployment, and its `data` has no
//! `customer_id`, so it is never relayed to WebSocket clients.

use serde::{Deserialize, Serialize};

/// Routing key of the directory event.
pub const SIP_DIRECTORY_EVENT: &str = "sip_directory.updated";

/// The control plane republishes the directory this often even without changes.
pub const REPUBLISH_INTERVAL_S: u64 = 30;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SipDirectory {
    /// Milliseconds since the Unix epoch when the control plane built it; newer wins.
    pub version: u64,
    /// Accounts that authenticate with digest: extensions (phones) and trunks with basic auth.
    pub accounts: Vec<SipAccount>,
    /// Trunks recognised by source address (IP authentication).
    pub trunks: Vec<SipTrunk>,
    /// Carrier gateways (providers).
    pub gateways: Vec<SipGateway>,
    /// Prefix routes over the gateways.
    pub routes: Vec<SipRoute>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SipAccount {
    pub customer_id: String,
    pub username: String,
    pub password: String,
    /// The SIP domain the account belongs to.
    pub domain: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SipTrunk {
    pub customer_id: String,
    /// Unique name (the trunk's id).
    pub name: String,
    /// IP addresses and CIDR blocks it sends from.
    pub allowed_ips: Vec<String>,
    pub domain: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SipGateway {
    pub customer_id: String,
    /// Unique name (the provider's id).
    pub name: String,
    /// `IP:PORT`.
    pub address: String,
    /// `udp` or `tcp`.
    pub transport: String,
    /// Tech prefix put in front of the dialled number.
    pub prefix: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SipRoute {
    /// Dialled-number prefix; `""` is the default route.
    pub prefix: String,
    /// Gateway names in failover order.
    pub gateways: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_round_trips_as_json() {
        let directory = SipDirectory {
            version: 7,
            accounts: vec![SipAccount {
                customer_id: "c".into(),
                username: "alice".into(),
                password: "secret".into(),
                domain: "example.com".into(),
            }],
            trunks: vec![],
            gateways: vec![SipGateway {
                customer_id: "c".into(),
                name: "p1".into(),
                address: "192.0.2.1:5060".into(),
                transport: "udp".into(),
                prefix: "".into(),
            }],
            routes: vec![SipRoute {
                prefix: "+1".into(),
                gateways: vec!["p1".into()],
            }],
        };
        let json = serde_json::to_value(&directory).unwrap();
        assert!(
            json.get("customer_id").is_none(),
            "never relayed to customers"
        );
        assert_eq!(
            serde_json::from_value::<SipDirectory>(json).unwrap(),
            directory
        );
    }
}
