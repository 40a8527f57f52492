//! The dataplane's published contract.
//!
//! The control plane talks to media nodes only through what this crate defines: the
//! [`Request`]/[`Response`] pairs a node answers over RPC, the [`Event`]s nodes and the
//! control plane publish, and the [`Bus`] that carries both. The bus has two implementations
//! behind one trait: [`MemoryBus`] for the single-process appliance and [`AmqpBus`]
//! (RabbitMQ) when several media nodes share one control plane. Code above the trait does not
//! know which one runs.
//!
//! Deliberately small: commands grow here as the dataplane gains features (channels, bridges,
//! recordings), and every addition stays serialisable so it can cross a process boundary.

pub mod bus;
pub mod directory;
pub mod event;
pub mod node;
pub mod readiness;
pub mod rpc;

pub use bus::amqp::AmqpBus;
pub use bus::memory::MemoryBus;
pub use bus::{
    Bus, BusError, DeadLetter, Delivery, DurableSubscription, RequestHandler, RetryPolicy,
    SeenEvents, Serving, Subscription, topic_matches,
};
pub use directory::{SIP_DIRECTORY_EVENT, SipDirectory};
pub use event::Event;
pub use node::NodeId;
pub use readiness::{Check, Readiness};
pub use rpc::{Request, Response};
