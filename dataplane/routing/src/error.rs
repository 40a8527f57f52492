//! Configuration errors: each names the entry (gateway, route, trunk) at
//! fault so an operator can fix the config file without guessing.

use thiserror::Error;

/// A routing, health, rate-limit or trunk configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// A gateway without a name.
    #[error("gateway #{index}: name is empty")]
    EmptyGatewayName {
        /// Position of the gateway in the list (0-based).
        index: usize,
    },
    /// Two gateways share a name.
    #[error("gateway {name:?} is defined twice")]
    DuplicateGateway {
        /// The repeated name.
        name: String,
    },
    /// A gateway address that is not `ip:port` (or a bare IP).
    #[error("gateway {gateway:?}: address {address:?} is not usable: {reason}")]
    BadAddress {
        /// The gateway.
        gateway: String,
        /// The address as written.
        address: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A gateway tech prefix with characters that cannot appear in a
    /// telephone-number user part.
    #[error("gateway {gateway:?}: prefix {prefix:?} may hold only digits, letters and + * # - . _")]
    BadGatewayPrefix {
        /// The gateway.
        gateway: String,
        /// The prefix as written.
        prefix: String,
    },
    /// A gateway's probe interval shorter than the probe timeout, or zero.
    #[error("gateway {gateway:?}: {reason}")]
    BadProbeTiming {
        /// The gateway.
        gateway: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A route prefix with a character other than digits, `+`, `*`, `#`.
    #[error(
        "route {prefix:?}: prefix may hold only digits, '+', '*' and '#' (or be \"\"/\"*\" for the default route)"
    )]
    BadRoutePrefix {
        /// The prefix as written.
        prefix: String,
    },
    /// Two routes with the same prefix (`""` and `"*"` are the same: the default).
    #[error("route {prefix:?} is defined twice")]
    DuplicateRoute {
        /// The prefix as written on the second definition.
        prefix: String,
    },
    /// A route without gateways.
    #[error("route {prefix:?}: no gateways")]
    EmptyRoute {
        /// The route's prefix.
        prefix: String,
    },
    /// A route naming a gateway that is not defined.
    #[error("route {prefix:?}: unknown gateway {gateway:?}")]
    UnknownGateway {
        /// The route's prefix.
        prefix: String,
        /// The name that matched no gateway.
        gateway: String,
    },
    /// A route listing the same gateway twice.
    #[error("route {prefix:?}: gateway {gateway:?} is listed twice")]
    RepeatedGateway {
        /// The route's prefix.
        prefix: String,
        /// The repeated gateway.
        gateway: String,
    },
    /// A `failover_on` status outside 300..=699.
    #[error(
        "route {prefix:?}: failover_on status {status} is not a final non-2xx status (300..=699)"
    )]
    BadFailoverStatus {
        /// The route's prefix.
        prefix: String,
        /// The status as written.
        status: u16,
    },
    /// More gateways, routes or route-prefix characters than an index can
    /// address (over 4 billion).
    #[error("too many {0} to index")]
    TooLarge(&'static str),
    /// A health-check setting that cannot work.
    #[error("health: {0}")]
    BadHealth(&'static str),
    /// A rate-limiter setting that cannot work.
    #[error("rate limit: {0}")]
    BadRateLimit(&'static str),
    /// A trunk without a name, or a repeated one.
    #[error("trunk #{index} ({name:?}): {reason}")]
    BadTrunk {
        /// Position of the trunk in the list (0-based).
        index: usize,
        /// Its name as written.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// An allow-list entry that is neither an IP address nor a CIDR block.
    #[error("allow-list entry {entry:?} is not an IP address or CIDR block{}", trunk_suffix(.trunk))]
    BadAllowEntry {
        /// The trunk the entry belongs to, when known.
        trunk: Option<String>,
        /// The entry as written.
        entry: String,
    },
}

fn trunk_suffix(trunk: &Option<String>) -> String {
    match trunk {
        Some(name) => format!(" (trunk {name:?})"),
        None => String::new(),
    }
}
