//! ferrovox-routing: sans-IO carrier routing for the SIP proxy.
//!
//! - [`RouteTable`] ([`table`]): gateways and prefix routes from config,
//!   longest-prefix lookup on the Request-URI user part, and a failover
//!   plan per request ([`RouteTable::plan`]) with rewritten Request-URIs
//!   (`strip`/`prefix`) and destinations.
//! - [`FailoverPolicy`] / [`should_failover`] ([`failover`]): which final
//!   statuses move a call to the next gateway (default 408 and 5xx),
//!   per route.
//! - [`Health`] ([`health`]): Up/Down per gateway from OPTIONS probes the
//!   caller sends ([`Health::poll_probe`], [`Health::probe_result`],
//!   [`Health::next_probe_at`]) and from real call outcomes
//!   ([`Health::report`]).
//! - [`RateLimiter`] ([`pike`]): Kamailio-pike-like per-source request
//!   rate limiting, O(1), bounded memory, no allocation per request.
//! - [`AllowList`] / [`Trunks`] ([`trunk`]): source IP/CIDR allow-lists and
//!   the trunk a request comes from.
//! - [`config`]: the serde structs for all of the above.
//!
//! # Time, IO and sharing
//! No sockets, clocks, threads or async: every call that depends on time
//! takes `now: Instant`, and the caller's IO sends the probes through its
//! transaction layer. What is shared between the cores of a node:
//!
//! | object       | sharing                       | why |
//! |--------------|-------------------------------|-----|
//! | `RouteTable` | immutable, `Arc`              | config; rebuilt as a whole |
//! | `Trunks`     | immutable, `Arc`              | config; rebuilt as a whole |
//! | `Health`     | **shared** (`Clone` handle, atomics + one small mutex) | a gateway down for one core is down for all |
//! | `RateLimiter`| **per core** (`&mut self`)     | `SO_REUSEPORT` sends one source's datagrams to one core |
//!
//! ```
//! use std::time::{Duration, Instant};
//! use ferrovox_routing::{Health, RouteTable, RoutingConfig};
//!
//! let config: RoutingConfig = toml::from_str(r#"
//!     [[gateways]]
//!     name = "carrier-a"
//!     address = "192.0.2.10:5060"
//!     probe = true
//!     prefix = "9"
//!     [[gateways]]
//!     name = "carrier-b"
//!     address = "192.0.2.20:5060"
//!     strip = 1
//!     [[routes]]
//!     prefix = "+1"
//!     gateways = ["carrier-a", "carrier-b"]
//! "#)?;
//! let table = RouteTable::new(&config.gateways, &config.routes)?;
//! let start = Instant::now();
//! let health = Health::new(&table, config.health, start)?;
//!
//! let plan = table.plan("sip:+15551234@proxy.example.com", &health, start);
//! assert_eq!(plan[0].request_uri, "sip:9+15551234@192.0.2.10:5060");
//! assert_eq!(plan[1].request_uri, "sip:15551234@192.0.2.20:5060");
//! assert!(plan[0].should_failover(503) && !plan[0].should_failover(486));
//!
//! // The caller's timer: send what is due, report the outcome.
//! let probe = health.poll_probe(start).expect("carrier-a is probed");
//! assert_eq!(&*probe.uri, "sip:192.0.2.10:5060");
//! health.probe_result(probe.token, Some(200), start + Duration::from_millis(30));
//! assert_eq!(health.next_probe_at(), Some(start + Duration::from_secs(5)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod failover;
pub mod health;
pub mod pike;
pub mod table;
pub mod trunk;

pub use config::{
    GatewayConfig, GatewayTransport, HealthConfig, PikeAction, PikeConfig, RouteConfig,
    RoutingConfig, TrunkConfig,
};
pub use error::ConfigError;
pub use failover::{FailoverPolicy, should_failover};
pub use health::{
    GatewayState, Health, Probe, ProbeToken, passive_reply_is_failure, probe_reply_is_alive,
};
pub use pike::{LimitAction, RateLimiter, Verdict};
pub use table::{Gateway, GatewayId, GatewayTarget, PlanError, Route, RouteTable};
pub use trunk::{AllowList, Trunk, Trunks};
