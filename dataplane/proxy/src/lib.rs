//! ferrovox-proxy: a sans-IO, transaction-stateful SIP proxy core
//! (RFC 3261 §16) on top of ferrovox-sip's transaction layer.
//!
//! One [`Proxy`] runs per CPU core and shares nothing. It does no I/O and
//! reads no clock: the runtime feeds it datagrams / stream frames with the
//! time they arrived and drains what it wants done.
//!
//! - Input: [`Proxy::handle_message`] (request or response from a peer),
//!   [`Proxy::handle_timeout`], [`Proxy::transport_error`] (the runtime
//!   could not deliver to a peer), [`Proxy::send_probe`] (OPTIONS health
//!   check).
//! - Output: [`Proxy::poll_transmit`] (bytes and destination),
//!   [`Proxy::poll_event`] ([`ProxyEvent`]: dialogs, probe results),
//!   [`Proxy::poll_timeout`] (when to call `handle_timeout` next).
//! - Decisions: a [`Policy`] admits requests, routes out-of-dialog ones
//!   ([`Decision`]: forward to groups of [`Target`]s — serial failover
//!   between groups, parallel forking within one — or answer, or drop) and
//!   hears every branch outcome. [`NextHop`] forwards everything to one
//!   address (Kamailio's `$du = ...; t_relay()` benchmark setup).
//!
//! What it does (modules in brackets):
//! - §16.3 validation: stateless 400 naming the problem, 483 on
//!   Max-Forwards 0, 420 for any Proxy-Require, 482 for loops
//!   (`branch_id` hashes what §16.6 step 8 lists) (`request`).
//! - §16.4 Route pre-processing: strict-router Request-URI fix, removal of
//!   our own Route values (single and double Record-Route) (`routes`).
//! - §16.6 forwarding: Request-URI per target, Max-Forwards decremented
//!   (and capped at `max_forwards_limit`), Record-Route on dialog-creating
//!   requests (double with `;transport=` when transports differ, always
//!   the shared listen address), Via with a branch stable across
//!   retransmissions, RFC 3581 `received`/`rport` stamped on the previous
//!   Via (`forward`).
//! - §16.7 response context: provisionals and every 2xx relayed at once,
//!   6xx cancels the rest, otherwise the best final response (6xx, lowest
//!   class, 401/407 preferred, 503 sent as 500) when all branches of all
//!   groups are done; failover on `failover_on` codes, transport errors
//!   and `branch_response_timeout` (`forward`, `response`).
//! - §16.8 Timer C (`invite_timeout`), §16.10 CANCEL (200 at once, CANCEL
//!   per branch, deferred until a provisional arrives, 487 upstream).
//! - ACK for 2xx relayed statelessly, other in-dialog requests statefully,
//!   both by their Route set only (no Route, or only one pointing here:
//!   404; ACKs dropped) — Kamailio's `has_totag → loose_route → t_relay`.
//! - Dialog tracking (`dialog`): created by a 2xx to INVITE, ended by a
//!   BYE passing through or `dialog_timeout` of silence.
//! - Media anchoring hooks (`media`): the policy sees the SDP of forwarded
//!   INVITE/UPDATE/PRACK/ACK requests and of 18x/2xx to INVITE/UPDATE and
//!   may replace it ([`Policy::media`], Content-Length rewritten) or refuse
//!   an offer with a status; it hears when a call's media ends (BYE, failed
//!   or cancelled initial INVITE, dialog timeout: [`Policy::media_ended`]).
//!   Messages without a body are not looked at.
//! - One timer heap of the proxy's own (`timers`) beside the transaction
//!   layer's; no timer objects per branch.
//!
//! Deliberately not done: DNS (targets and Route/Request-URI next hops
//! must be IP literals; a host name answers 478), TLS/WebSocket framing
//! (the runtime's job), merging 401/407 challenges of several branches
//! (the first preferred one is sent), strict routing towards the next hop
//! (Routes without `lr` are treated as loose), `maddr` in the
//! Request-URI, RFC 3262 PRACK handling beyond relaying, `received`/`rport`
//! on the Via copied into responses this proxy generates, Path (RFC 3327).
//! A CANCEL matching no transaction is forwarded statelessly to the first
//! target the policy names (§16.10).
//!
//! Measured (tests `alloc` and `dialog_memory`): 13 heap allocations per
//! INVITE/100/180/200/ACK/BYE/200 call through [`NextHop`]; 443 bytes of
//! heap per tracked dialog with 50,000 dialogs, everything included.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod address;
mod branch_id;
mod config;
mod context;
mod dialog;
mod event;
mod forward;
mod media;
mod policy;
mod proxy;
mod request;
mod response;
mod routes;
mod salvage;
mod slab;
mod timers;

pub use config::ProxyConfig;
pub use event::{DialogEndReason, ProxyEvent, ProxyStats};
pub use ferrovox_sip::transaction::{Peer, Transport};
pub use policy::{
    Admission, Decision, ForwardPlan, MediaAction, MediaEnd, MediaEndReason, MediaMessage, NextHop,
    Policy, RouteRequest, Target,
};
pub use proxy::Proxy;
