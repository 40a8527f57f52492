//! Proxy configuration ([`ProxyConfig`]).

use ferrovox_sip::transaction::{Config as TransactionConfig, Transport};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Everything a [`crate::Proxy`] instance is told at construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// Addresses this proxy is reachable at, per transport (used for
    /// Record-Route, for "is this URI me?" checks and loop detection).
    /// E.g. `[(Udp, 127.0.0.1:5070), (Tcp, 127.0.0.1:5070)]`.
    pub listen: Vec<(Transport, SocketAddr)>,
    /// sent-by of the Via this proxy adds to UDP requests (a per-core
    /// private port so responses come back to this core); TCP Vias use the
    /// TCP listen address.
    pub via_udp: SocketAddr,
    /// Host names (besides the listen addresses) that designate this proxy
    /// in a Request-URI or Route (compared case-insensitively; the port
    /// must still be a listen port).
    pub aliases: Vec<String>,
    /// Insert Record-Route into dialog-creating requests (default true).
    pub record_route: bool,
    /// Transaction timers (T1, T2, T4, 100 Trying policy, RFC 6026).
    pub transaction: TransactionConfig,
    /// No response at all from a branch within this → that branch counts
    /// as 408 (Kamailio `fr_timer`; default 5 s). Enables fast failover.
    pub branch_response_timeout: Duration,
    /// Provisional received but no final within this → CANCEL the branch,
    /// 408 (Timer C / Kamailio `fr_inv_timer`; default 180 s).
    pub invite_timeout: Duration,
    /// Secret mixed into generated branches and tags.
    pub branch_salt: u64,
    /// Track dialogs created by 2xx to INVITE (default true).
    pub dialog_tracking: bool,
    /// A tracked dialog with no in-dialog traffic and no BYE ends after
    /// this (default 2 h).
    pub dialog_timeout: Duration,
    /// Requests arriving with Max-Forwards above this get it lowered to it
    /// (default 70).
    pub max_forwards_limit: u32,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 5060));
        ProxyConfig {
            listen: vec![(Transport::Udp, addr)],
            via_udp: addr,
            aliases: Vec::new(),
            record_route: true,
            transaction: TransactionConfig::default(),
            branch_response_timeout: Duration::from_secs(5),
            invite_timeout: Duration::from_secs(180),
            branch_salt: 0x5eed_f0e5_1a7e_c0de,
            dialog_tracking: true,
            dialog_timeout: Duration::from_secs(2 * 3600),
            max_forwards_limit: 70,
        }
    }
}
