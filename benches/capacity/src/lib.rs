//! ferrovox-capacity: CPU per call of SIP proxies under SIPp load, measured in the same run as
//! the anchors (Kamailio, and a minimal `recvmmsg`/`sendmmsg` relay as the floor).
//!
//! - CPU accounting from `/proc` is `ferrovox_testkit::cpu`, shared with the RTP runner;
//! - [`sut`]: starting and stopping the proxies under test on udp 127.0.0.1:5070;
//! - [`sipp`]: the SIPp UAS/UAC load on 127.0.0.1:5080/5090;
//! - [`floor`]: the floor relay itself (the `floor-relay` binary is a thin wrapper);
//! - [`measure`]: one SUT at one rate; [`report`]: per-call arithmetic, markdown and JSON;
//! - [`dialogs`]: resident memory per held dialog ([`memory`]: proportional resident size of a process tree);
//! - [`tuning`]: socket-buffer sysctls; [`machine`]: the machine line;
//! - [`http_load`]: an open-loop HTTP GET load (latency from the schedule, no coordinated
//!   omission); [`rest`]: the P5 run of the appliance's REST API with it.
//!
//! Deliberately not done: RTP (rtpengine) capacity (that is `ferrovox-rtpgen`), TCP/TLS SIP, warm-up trimming (the
//! window is the whole UAC run for every SUT alike).

pub mod dialogs;
pub mod floor;
pub mod http_load;
pub mod machine;
pub mod measure;
pub mod memory;
pub mod report;
pub mod rest;
pub mod sipp;
pub mod sut;
pub mod tuning;
