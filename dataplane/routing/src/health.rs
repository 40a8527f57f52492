//! Gateway health, shared by every core: OPTIONS probe scheduling (active)
//! and call outcomes (passive) decide whether a gateway is Up or Down.
//!
//! # Sharing
//! [`Health`] is a handle (`Clone` = another `Arc` reference) to one state
//! for the whole process: a gateway marked down by one core's probe or
//! call is down for all. Reads on the routing path ([`Health::is_up`]) are
//! two atomic loads; everything that changes state (probe
//! scheduling, results, reports) takes one small mutex, held for a scan of
//! the gateways at most. Several cores may poll: a due probe is handed to
//! exactly one of them.
//!
//! # Driving it
//! The caller owns the transport and the timers. On its timer (see
//! [`Health::next_probe_at`]) it drains [`Health::poll_probe`] until
//! `None`, sends an OPTIONS to each [`Probe::uri`] at [`Probe::destination`]
//! through its transaction layer, and hands the final status — or `None`
//! for a timeout or transport error — to [`Health::probe_result`] with the
//! probe's token. A probe without a result after `probe_timeout_ms` counts
//! as failed on the next poll; a result arriving after that is ignored.
//!
//! # What counts as alive
//! - Probes ([`probe_reply_is_alive`]): any final response shows a SIP
//!   stack answering — 200, but also 404, 405 or 501 from gateways that do
//!   not implement OPTIONS, and 6xx — except 408, 500, 502, 503 and 504,
//!   which say the gateway cannot take calls now. No response counts as a
//!   failure. Provisional responses are ignored (the probe stays open).
//! - Calls ([`Health::report`], [`passive_reply_is_failure`]): a transport
//!   error or no response, 408 and 503 count as failures; any other final
//!   response proves the gateway alive and resets its failure count. (A
//!   500 or 404 to one call says something about the call, not the
//!   gateway.) Calls count for every gateway, probed or not.
//!
//! `down_after` consecutive failures (probes and calls together) mark a
//! gateway Down; one success marks it Up again. A probed gateway stays Down
//! until a probe (or a call tried while every gateway was down) succeeds.
//! A gateway without probing has no other way back, so it is Up again
//! `unprobed_retry_ms` after its last failure; one more failure then marks
//! it Down again only after `down_after` failures, like any Up gateway.
//!
//! Not done: probe request building (the caller's transaction layer sends
//! the OPTIONS), per-gateway `down_after`, latency-based health, ramp-up
//! of traffic after recovery.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ferrovox_sip::transaction::{Peer, Transport};

use crate::config::HealthConfig;
use crate::error::ConfigError;
use crate::table::{GatewayId, RouteTable};

/// Whether a final status in answer to an OPTIONS probe shows the gateway
/// able to take calls (see the module docs).
pub fn probe_reply_is_alive(status: u16) -> bool {
    (200..=699).contains(&status) && !matches!(status, 408 | 500 | 502 | 503 | 504)
}

/// Whether a final status of a real call branch counts against the gateway
/// (see the module docs). A transport error is `report(.., None, ..)`.
pub fn passive_reply_is_failure(status: u16) -> bool {
    matches!(status, 408 | 503)
}

/// `now + duration`, capped (a config with absurd durations must not
/// overflow `Instant`).
fn later(now: Instant, duration: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(365 * 24 * 3600);
    now.checked_add(duration.min(FAR)).unwrap_or(now)
}

/// Up or Down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GatewayState {
    /// Takes calls.
    Up,
    /// Skipped by [`RouteTable::plan`] while another gateway is up.
    Down,
}

/// Identifies one probe; unique for the life of the [`Health`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProbeToken {
    gateway: GatewayId,
    serial: u64,
}

impl ProbeToken {
    /// The probed gateway.
    pub fn gateway(self) -> GatewayId {
        self.gateway
    }
}

/// An OPTIONS probe to send now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The probed gateway.
    pub gateway: GatewayId,
    /// Its name.
    pub name: Arc<str>,
    /// The Request-URI: `sip:<host:port>`.
    pub uri: Arc<str>,
    /// Where to send.
    pub destination: SocketAddr,
    /// How to send.
    pub transport: Transport,
    /// Hand back to [`Health::probe_result`].
    pub token: ProbeToken,
}

impl Probe {
    /// The destination as a transaction-layer peer.
    pub fn peer(&self) -> Peer {
        Peer::new(self.destination, self.transport)
    }
}

/// Per gateway, readable without the lock.
#[derive(Debug)]
struct Status {
    up: AtomicBool,
    /// Nanoseconds since `epoch` from which a Down gateway without probing
    /// counts as Up again; `u64::MAX` for probed gateways.
    down_until: AtomicU64,
}

/// Per gateway, fixed.
#[derive(Debug)]
struct Target {
    name: Arc<str>,
    uri: Arc<str>,
    destination: SocketAddr,
    transport: Transport,
    probe: bool,
    interval: Duration,
}

/// Per gateway, behind the lock.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    failures: u32,
    next_probe: Instant,
    outstanding: Option<(u64, Instant)>,
}

#[derive(Debug)]
struct Locked {
    schedules: Vec<Schedule>,
    next_serial: u64,
}

#[derive(Debug)]
struct Shared {
    epoch: Instant,
    timeout: Duration,
    down_after: u32,
    unprobed_retry: Duration,
    targets: Box<[Target]>,
    status: Box<[Status]>,
    locked: Mutex<Locked>,
}

/// Shared gateway health; clone it into every core.
#[derive(Debug, Clone)]
pub struct Health {
    shared: Arc<Shared>,
}

impl Health {
    /// Health for the gateways of `table`, all Up; probed gateways are due
    /// for their first probe at `now`.
    pub fn new(
        table: &RouteTable,
        config: HealthConfig,
        now: Instant,
    ) -> Result<Self, ConfigError> {
        if config.probe_interval_ms == 0 {
            return Err(ConfigError::BadHealth("probe_interval_ms must be above 0"));
        }
        if config.probe_timeout_ms == 0 {
            return Err(ConfigError::BadHealth("probe_timeout_ms must be above 0"));
        }
        if config.down_after == 0 {
            return Err(ConfigError::BadHealth("down_after must be at least 1"));
        }
        if config.probe_timeout_ms > config.probe_interval_ms {
            return Err(ConfigError::BadHealth(
                "probe_timeout_ms must not exceed probe_interval_ms",
            ));
        }
        let mut targets = Vec::with_capacity(table.gateways().len());
        for gateway in table.gateways() {
            let interval_ms = gateway
                .probe_interval_ms()
                .unwrap_or(config.probe_interval_ms);
            if gateway.probe() && interval_ms < config.probe_timeout_ms {
                return Err(ConfigError::BadProbeTiming {
                    gateway: gateway.name().to_owned(),
                    reason: "probe_interval_ms must not be below the health probe_timeout_ms",
                });
            }
            targets.push(Target {
                name: gateway.shared_name(),
                uri: Arc::from(format!("sip:{}", gateway.host_port())),
                destination: gateway.address(),
                transport: gateway.transport(),
                probe: gateway.probe(),
                interval: Duration::from_millis(interval_ms),
            });
        }
        let status = targets
            .iter()
            .map(|_| Status {
                up: AtomicBool::new(true),
                down_until: AtomicU64::new(u64::MAX),
            })
            .collect();
        let schedules = targets
            .iter()
            .map(|_| Schedule {
                failures: 0,
                next_probe: now,
                outstanding: None,
            })
            .collect();
        Ok(Health {
            shared: Arc::new(Shared {
                epoch: now,
                timeout: Duration::from_millis(config.probe_timeout_ms),
                down_after: config.down_after,
                unprobed_retry: Duration::from_millis(config.unprobed_retry_ms),
                targets: targets.into_boxed_slice(),
                status,
                locked: Mutex::new(Locked {
                    schedules,
                    next_serial: 1,
                }),
            }),
        })
    }

    /// Whether `gateway` takes calls at `now`. Lock-free. An id this
    /// health does not know (a table rebuilt without a new `Health`)
    /// counts as Up.
    pub fn is_up(&self, gateway: GatewayId, now: Instant) -> bool {
        let Some(status) = self.shared.status.get(gateway.index()) else {
            return true;
        };
        status.up.load(Ordering::Acquire)
            || self.nanos(now) >= status.down_until.load(Ordering::Relaxed)
    }

    /// The state of `gateway` at `now` (see [`Health::is_up`]).
    pub fn state(&self, gateway: GatewayId, now: Instant) -> GatewayState {
        if self.is_up(gateway, now) {
            GatewayState::Up
        } else {
            GatewayState::Down
        }
    }

    /// The next probe due at `now`, if any. Call until `None`. Probes that
    /// timed out are counted as failures first.
    pub fn poll_probe(&self, now: Instant) -> Option<Probe> {
        let mut locked = self.lock();
        self.expire_probes(&mut locked, now);
        let Locked {
            schedules,
            next_serial,
        } = &mut *locked;
        let (index, schedule) = schedules
            .iter_mut()
            .enumerate()
            .filter(|(i, s)| {
                s.outstanding.is_none()
                    && s.next_probe <= now
                    && self.shared.targets.get(*i).is_some_and(|t| t.probe)
            })
            .min_by_key(|(_, s)| s.next_probe)?;
        let target = self.shared.targets.get(index)?;
        let serial = *next_serial;
        *next_serial += 1;
        schedule.outstanding = Some((serial, later(now, self.shared.timeout)));
        schedule.next_probe = later(now, target.interval);
        let gateway = GatewayId(u32::try_from(index).ok()?);
        Some(Probe {
            gateway,
            name: Arc::clone(&target.name),
            uri: Arc::clone(&target.uri),
            destination: target.destination,
            transport: target.transport,
            token: ProbeToken { gateway, serial },
        })
    }

    /// When [`Health::poll_probe`] next has something to do (a probe due or
    /// one timing out); `None` when no gateway is probed.
    pub fn next_probe_at(&self) -> Option<Instant> {
        let locked = self.lock();
        locked
            .schedules
            .iter()
            .zip(self.shared.targets.iter())
            .filter(|(_, t)| t.probe)
            .map(|(s, _)| match s.outstanding {
                Some((_, deadline)) => deadline.min(s.next_probe),
                None => s.next_probe,
            })
            .min()
    }

    /// The outcome of a probe: its final status, or `None` for no answer
    /// (timeout, transport error). Returns the gateway's state afterwards,
    /// or `None` when the token is not outstanding (already timed out, or
    /// answered). Provisional statuses are ignored.
    pub fn probe_result(
        &self,
        token: ProbeToken,
        status: Option<u16>,
        now: Instant,
    ) -> Option<GatewayState> {
        if status.is_some_and(|s| s < 200) {
            return None;
        }
        let index = token.gateway.index();
        let mut locked = self.lock();
        let schedule = locked.schedules.get_mut(index)?;
        match schedule.outstanding {
            Some((serial, _)) if serial == token.serial => schedule.outstanding = None,
            _ => return None,
        }
        let alive = status.is_some_and(probe_reply_is_alive);
        if alive {
            self.record_success(&mut locked, index);
        } else {
            tracing::debug!(gateway = %self.name(index), ?status, "probe failed");
            self.record_failure(&mut locked, index, now);
        }
        Some(self.state(token.gateway, now))
    }

    /// The outcome of a real call branch sent to `gateway`: its final
    /// status, or `None` for a transport error or no response. Returns the
    /// state afterwards. Provisional statuses are ignored.
    pub fn report(&self, gateway: GatewayId, status: Option<u16>, now: Instant) -> GatewayState {
        let index = gateway.index();
        if index >= self.shared.targets.len() || status.is_some_and(|s| s < 200) {
            return self.state(gateway, now);
        }
        let mut locked = self.lock();
        self.recover_unprobed(&mut locked, index, now);
        match status {
            Some(s) if !passive_reply_is_failure(s) => self.record_success(&mut locked, index),
            _ => self.record_failure(&mut locked, index, now),
        }
        self.state(gateway, now)
    }

    fn lock(&self) -> MutexGuard<'_, Locked> {
        // The critical sections do not panic; a poisoned lock still holds
        // consistent counters, so keep going rather than fail routing.
        self.shared
            .locked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn nanos(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.shared.epoch).as_nanos())
            .unwrap_or(u64::MAX - 1)
    }

    fn name(&self, index: usize) -> &str {
        self.shared.targets.get(index).map_or("?", |t| &t.name)
    }

    fn expire_probes(&self, locked: &mut Locked, now: Instant) {
        for index in 0..locked.schedules.len() {
            let expired = locked
                .schedules
                .get(index)
                .and_then(|s| s.outstanding)
                .is_some_and(|(_, deadline)| deadline <= now);
            if expired {
                if let Some(schedule) = locked.schedules.get_mut(index) {
                    schedule.outstanding = None;
                }
                tracing::debug!(gateway = %self.name(index), "probe timed out");
                self.record_failure(locked, index, now);
            }
        }
    }

    /// A gateway without probing whose retry time has come is Up for
    /// readers already; make the counters agree before applying a report.
    fn recover_unprobed(&self, locked: &mut Locked, index: usize, now: Instant) {
        let Some(status) = self.shared.status.get(index) else {
            return;
        };
        if !status.up.load(Ordering::Acquire)
            && self.nanos(now) >= status.down_until.load(Ordering::Relaxed)
        {
            status.up.store(true, Ordering::Release);
            status.down_until.store(u64::MAX, Ordering::Relaxed);
            if let Some(schedule) = locked.schedules.get_mut(index) {
                schedule.failures = 0;
            }
            tracing::info!(gateway = %self.name(index), "gateway retried after its down time");
        }
    }

    fn record_success(&self, locked: &mut Locked, index: usize) {
        if let Some(schedule) = locked.schedules.get_mut(index) {
            schedule.failures = 0;
        }
        if let Some(status) = self.shared.status.get(index) {
            status.down_until.store(u64::MAX, Ordering::Relaxed);
            if !status.up.swap(true, Ordering::AcqRel) {
                tracing::info!(gateway = %self.name(index), "gateway up");
            }
        }
    }

    fn record_failure(&self, locked: &mut Locked, index: usize, now: Instant) {
        let Some(schedule) = locked.schedules.get_mut(index) else {
            return;
        };
        schedule.failures = schedule.failures.saturating_add(1);
        if schedule.failures < self.shared.down_after {
            return;
        }
        let (Some(status), Some(target)) = (
            self.shared.status.get(index),
            self.shared.targets.get(index),
        ) else {
            return;
        };
        if !target.probe {
            let until = self.nanos(later(now, self.shared.unprobed_retry));
            status.down_until.store(until, Ordering::Relaxed);
        }
        if status.up.swap(false, Ordering::AcqRel) {
            tracing::warn!(gateway = %target.name, failures = schedule.failures, "gateway down");
        }
    }
}
