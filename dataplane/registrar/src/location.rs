//! The location service (RFC 3261 §10, §16.5): bindings from an
//! address-of-record (AOR) to contact addresses, the [`Locations`] trait and
//! an in-memory [`MemoryLocations`].
//!
//! **AOR rule** ([`normalize_aor`]): an AOR is keyed as `sip:user@host`
//! where `user` is percent-decoded and compared exactly, `host` is
//! lowercased (a trailing dot dropped, IPv6 in brackets), and the scheme
//! (`sips` becomes `sip`), password, port, URI parameters and headers are
//! dropped. So `sip:alice@127.0.0.1` registered from one port is found by an
//! INVITE to `sip:alice@127.0.0.1:5070`. Users are told apart by user part
//! and host only; two services on the same host with different ports share
//! a namespace.
//!
//! **Contact identity**: two contacts of one AOR are the same binding when
//! their URIs are equal ignoring ASCII case (a simplification of RFC 3261
//! §19.1.4 that treats a differently-cased user part as the same contact).
//!
//! [`Binding::target`] says where a request for a binding goes: the
//! Request-URI becomes the contact URI; the destination is the address the
//! REGISTER came from (`received`) when the contact is not that address
//! (NAT, or a connection-oriented transport), else the contact's host, port
//! and `transport` parameter. Path (RFC 3327) values are returned as the
//! route set to push.
//!
//! Not done: RFC 5626 outbound (flows keyed by `+sip.instance`/`reg-id`;
//! the instance is stored but not used for identity), GRUU, persistence.

use crate::error::LocationError;
use ferrovox_sip::transaction::{Peer, Transport};
use ferrovox_sip::{Host, SipUri, Uri, pct_decode};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::RwLock;
use std::time::Instant;

/// The key of an address-of-record for `uri` (see the module docs), or
/// `None` when it is not a SIP or SIPS URI.
pub fn aor_of_uri(uri: &Uri<'_>) -> Option<String> {
    let sip = uri.as_sip()?;
    let host = match sip.host {
        Host::Domain(d) => {
            let d = d.strip_suffix(b".").unwrap_or(d);
            String::from_utf8_lossy(d).to_ascii_lowercase()
        }
        Host::V4(a) => a.to_string(),
        Host::V6(a) => format!("[{a}]"),
    };
    Some(match sip.user {
        Some(user) => format!("sip:{}@{host}", String::from_utf8_lossy(&pct_decode(user))),
        None => format!("sip:{host}"),
    })
}

/// [`aor_of_uri`] of a URI written as text (`sip:alice@Example.COM:5070;
/// transport=tcp` → `sip:alice@example.com`); `None` when it does not parse
/// as a SIP or SIPS URI.
pub fn normalize_aor(uri: &str) -> Option<String> {
    aor_of_uri(&Uri::parse(uri.trim().as_bytes()).ok()?)
}

/// The user part of an AOR key (`sip:alice@host` → `alice`).
pub(crate) fn aor_user(aor: &str) -> Option<&str> {
    let rest = aor.strip_prefix("sip:")?;
    rest.rsplit_once('@').map(|(user, _)| user)
}

/// One contact bound to an address-of-record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The AOR key ([`normalize_aor`]).
    pub aor: String,
    /// The contact URI as the client wrote it (without header parameters).
    pub contact: String,
    /// When the binding lapses.
    pub expires_at: Instant,
    /// Source address of the REGISTER when it is not the contact's own
    /// address (NAT, connection-oriented transports, host names).
    pub received: Option<SocketAddr>,
    /// Transport the REGISTER arrived on.
    pub transport: Transport,
    /// Preference `q` in thousandths, if given.
    pub q: Option<u16>,
    /// Call-ID of the REGISTER that created or last refreshed it.
    pub call_id: String,
    /// CSeq number of that REGISTER.
    pub cseq: u32,
    /// Path header values of that REGISTER (RFC 3327), in order.
    pub path: Vec<String>,
    /// The `+sip.instance` contact parameter (RFC 5626), unquoted.
    pub instance: Option<String>,
}

/// Where to send a request for a binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The new Request-URI: the contact URI.
    pub request_uri: String,
    /// The next hop, unless `route` is not empty (then route by its first
    /// entry, as loose routing does).
    pub destination: Destination,
    /// Route set to push (the binding's Path), first hop first.
    pub route: Vec<String>,
}

/// The next hop of a [`Target`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// An address to send to as is.
    Peer(Peer),
    /// A host name to resolve (RFC 3263) with the port and transport the
    /// contact asked for.
    Resolve {
        /// Host name, lowercase.
        host: String,
        /// Port from the contact, if any.
        port: Option<u16>,
        /// From the `transport` parameter (UDP, or TLS for `sips:`).
        transport: Transport,
    },
}

fn contact_transport(uri: &SipUri<'_>) -> Transport {
    match uri.transport().and_then(Transport::from_via) {
        Some(t) => t,
        None if uri.secure => Transport::Tls,
        None => Transport::Udp,
    }
}

fn default_port(transport: Transport) -> u16 {
    match transport {
        Transport::Tls | Transport::Wss => 5061,
        _ => 5060,
    }
}

/// The `received` value to store for a contact registered from `source`:
/// `None` only when the contact names exactly the source's IP and port.
pub fn received_for(contact: &str, source: &Peer) -> Option<SocketAddr> {
    let Ok(uri) = SipUri::parse(contact.as_bytes()) else {
        return Some(source.addr);
    };
    let ip = match uri.host {
        Host::V4(a) => IpAddr::V4(a),
        Host::V6(a) => IpAddr::V6(a),
        Host::Domain(_) => return Some(source.addr),
    };
    let port = uri
        .port
        .unwrap_or_else(|| default_port(contact_transport(&uri)));
    if SocketAddr::new(ip, port) == source.addr {
        None
    } else {
        Some(source.addr)
    }
}

impl Binding {
    /// Whole seconds left before `expires_at`, rounded up.
    pub fn expires_in(&self, now: Instant) -> u32 {
        let left = self.expires_at.saturating_duration_since(now);
        let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        u32::try_from(secs).unwrap_or(u32::MAX)
    }

    /// Where a request for this binding goes (module docs); `None` when
    /// the stored contact is not a SIP URI.
    pub fn target(&self) -> Option<Target> {
        let uri = SipUri::parse(self.contact.as_bytes()).ok()?;
        let destination = match self.received {
            Some(addr) => Destination::Peer(Peer::new(addr, self.transport)),
            None => {
                let transport = contact_transport(&uri);
                let port = uri.port;
                match uri.host {
                    Host::V4(a) => Destination::Peer(Peer::new(
                        SocketAddr::new(IpAddr::V4(a), port.unwrap_or(default_port(transport))),
                        transport,
                    )),
                    Host::V6(a) => Destination::Peer(Peer::new(
                        SocketAddr::new(IpAddr::V6(a), port.unwrap_or(default_port(transport))),
                        transport,
                    )),
                    Host::Domain(d) => Destination::Resolve {
                        host: String::from_utf8_lossy(d).to_ascii_lowercase(),
                        port,
                        transport,
                    },
                }
            }
        };
        Some(Target {
            request_uri: self.contact.clone(),
            destination,
            route: self.path.clone(),
        })
    }

    fn same_contact(&self, other: &str) -> bool {
        self.contact.eq_ignore_ascii_case(other)
    }
}

/// One contact of a REGISTER: the binding to add or refresh, or to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactChange {
    /// The binding as the request describes it.
    pub binding: Binding,
    /// `expires` was 0: remove the binding.
    pub remove: bool,
}

/// What one REGISTER asks of the location service; applied atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingChange {
    /// Add, refresh or remove the listed contacts (§10.3 step 7).
    Contacts(Vec<ContactChange>),
    /// `Contact: *` with `Expires: 0`: remove every binding (§10.3 step 6).
    RemoveAll {
        /// Call-ID of the request.
        call_id: String,
        /// CSeq number of the request.
        cseq: u32,
    },
}

/// A location service shared by every proxy core using a registrar.
pub trait Locations: Send + Sync {
    /// Unexpired bindings of `aor` (an AOR key), in registration order.
    fn bindings(&self, aor: &str, now: Instant) -> Vec<Binding>;
    /// Apply `change` to `aor` all-or-nothing (§10.3 step 7: "committed if
    /// and only if all binding updates and additions succeed"), enforcing
    /// Call-ID/CSeq ordering; returns the unexpired bindings afterwards.
    fn update(
        &self,
        aor: &str,
        change: &BindingChange,
        now: Instant,
    ) -> Result<Vec<Binding>, LocationError>;
    /// Remove one binding (administrative); whether it existed.
    fn remove(&self, aor: &str, contact: &str) -> bool;
    /// Drop every expired binding; how many were dropped.
    fn purge_expired(&self, now: Instant) -> usize;
}

/// Bindings in memory with bounded size.
#[derive(Debug)]
pub struct MemoryLocations {
    aors: RwLock<HashMap<String, Vec<Binding>>>,
    max_aors: usize,
    max_contacts_per_aor: usize,
}

impl Default for MemoryLocations {
    fn default() -> Self {
        MemoryLocations::new(100_000, 10)
    }
}

impl MemoryLocations {
    /// A store of at most `max_aors` AORs with at most
    /// `max_contacts_per_aor` contacts each.
    pub fn new(max_aors: usize, max_contacts_per_aor: usize) -> MemoryLocations {
        MemoryLocations {
            aors: RwLock::new(HashMap::new()),
            max_aors: max_aors.max(1),
            max_contacts_per_aor: max_contacts_per_aor.max(1),
        }
    }

    /// Number of AORs with at least one stored binding (expired ones
    /// included until purged).
    pub fn aor_count(&self) -> usize {
        self.aors.read().unwrap_or_else(|p| p.into_inner()).len()
    }
}

fn purge_map(map: &mut HashMap<String, Vec<Binding>>, now: Instant) -> usize {
    let mut dropped = 0;
    map.retain(|_, list| {
        let before = list.len();
        list.retain(|b| b.expires_at > now);
        dropped += before - list.len();
        !list.is_empty()
    });
    dropped
}

impl Locations for MemoryLocations {
    fn bindings(&self, aor: &str, now: Instant) -> Vec<Binding> {
        let map = self.aors.read().unwrap_or_else(|p| p.into_inner());
        map.get(aor)
            .map(|list| {
                list.iter()
                    .filter(|b| b.expires_at > now)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    fn update(
        &self,
        aor: &str,
        change: &BindingChange,
        now: Instant,
    ) -> Result<Vec<Binding>, LocationError> {
        let mut map = self.aors.write().unwrap_or_else(|p| p.into_inner());
        let current: Vec<Binding> = map
            .get(aor)
            .map(|list| {
                list.iter()
                    .filter(|b| b.expires_at > now)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let updated = match change {
            BindingChange::RemoveAll { call_id, cseq } => {
                if current
                    .iter()
                    .any(|b| &b.call_id == call_id && *cseq <= b.cseq)
                {
                    return Err(LocationError::OutOfOrder);
                }
                Vec::new()
            }
            BindingChange::Contacts(changes) => {
                let mut working = current.clone();
                for c in changes {
                    // Ordering is judged against what was stored before this
                    // request, so a contact listed twice is not out of order.
                    if let Some(old) = current.iter().find(|b| b.same_contact(&c.binding.contact))
                        && old.call_id == c.binding.call_id
                        && c.binding.cseq <= old.cseq
                    {
                        return Err(LocationError::OutOfOrder);
                    }
                    working.retain(|b| !b.same_contact(&c.binding.contact));
                    if !c.remove {
                        working.push(c.binding.clone());
                    }
                }
                if working.len() > self.max_contacts_per_aor {
                    return Err(LocationError::TooManyContacts);
                }
                working
            }
        };
        if updated.is_empty() {
            map.remove(aor);
            return Ok(updated);
        }
        if !map.contains_key(aor) && map.len() >= self.max_aors {
            purge_map(&mut map, now);
            if map.len() >= self.max_aors {
                return Err(LocationError::Full);
            }
        }
        map.insert(aor.to_owned(), updated.clone());
        Ok(updated)
    }

    fn remove(&self, aor: &str, contact: &str) -> bool {
        let mut map = self.aors.write().unwrap_or_else(|p| p.into_inner());
        let Some(list) = map.get_mut(aor) else {
            return false;
        };
        let before = list.len();
        list.retain(|b| !b.same_contact(contact));
        let removed = list.len() != before;
        if list.is_empty() {
            map.remove(aor);
        }
        removed
    }

    fn purge_expired(&self, now: Instant) -> usize {
        let mut map = self.aors.write().unwrap_or_else(|p| p.into_inner());
        purge_map(&mut map, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn aor_drops_port_params_and_case_of_host() {
        assert_eq!(
            normalize_aor("sip:alice@Example.COM:5070;transport=tcp").as_deref(),
            Some("sip:alice@example.com")
        );
        assert_eq!(
            normalize_aor("sips:al%69ce@127.0.0.1").as_deref(),
            Some("sip:alice@127.0.0.1")
        );
        assert_eq!(
            normalize_aor("sip:bob@[2001:db8::1]:5060").as_deref(),
            Some("sip:bob@[2001:db8::1]")
        );
        assert_eq!(normalize_aor("tel:+15551234").as_deref(), None);
        assert_eq!(normalize_aor("sip:@").as_deref(), None);
    }

    fn binding(contact: &str, call_id: &str, cseq: u32, expires_at: Instant) -> Binding {
        Binding {
            aor: "sip:a@h".into(),
            contact: contact.into(),
            expires_at,
            received: None,
            transport: Transport::Udp,
            q: None,
            call_id: call_id.into(),
            cseq,
            path: Vec::new(),
            instance: None,
        }
    }

    #[test]
    fn update_is_all_or_nothing() {
        let store = MemoryLocations::new(10, 10);
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        let first = BindingChange::Contacts(vec![ContactChange {
            binding: binding("sip:a@192.0.2.1", "c1", 5, later),
            remove: false,
        }]);
        assert!(store.update("sip:a@h", &first, now).is_ok());
        // One new contact plus one out-of-order refresh: nothing changes.
        let mixed = BindingChange::Contacts(vec![
            ContactChange {
                binding: binding("sip:a@192.0.2.2", "c1", 5, later),
                remove: false,
            },
            ContactChange {
                binding: binding("sip:a@192.0.2.1", "c1", 5, later),
                remove: false,
            },
        ]);
        assert_eq!(
            store.update("sip:a@h", &mixed, now),
            Err(LocationError::OutOfOrder)
        );
        assert_eq!(store.bindings("sip:a@h", now).len(), 1);
    }

    #[test]
    fn store_is_bounded() {
        let store = MemoryLocations::new(1, 1);
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        let one = |c: &str| {
            BindingChange::Contacts(vec![ContactChange {
                binding: binding(c, "c", 1, later),
                remove: false,
            }])
        };
        assert!(
            store
                .update("sip:a@h", &one("sip:a@192.0.2.1"), now)
                .is_ok()
        );
        assert_eq!(
            store.update("sip:b@h", &one("sip:b@192.0.2.1"), now),
            Err(LocationError::Full)
        );
        let two = BindingChange::Contacts(vec![ContactChange {
            binding: binding("sip:a@192.0.2.9", "other", 1, later),
            remove: false,
        }]);
        assert_eq!(
            store.update("sip:a@h", &two, now),
            Err(LocationError::TooManyContacts)
        );
        // Once a's binding lapses, b fits.
        assert!(
            store
                .update("sip:b@h", &one("sip:b@192.0.2.1"), later)
                .is_ok()
        );
        assert_eq!(store.aor_count(), 1);
    }

    #[test]
    fn target_prefers_received_and_honours_transport() {
        let now = Instant::now();
        let mut b = binding("sip:a@10.0.0.5:5062;transport=tcp", "c", 1, now);
        let nat: SocketAddr = "198.51.100.7:40000"
            .parse()
            .unwrap_or(SocketAddr::from(([0; 4], 0)));
        b.received = Some(nat);
        b.transport = Transport::Tcp;
        let t = b.target();
        assert_eq!(
            t.as_ref().map(|t| &t.destination),
            Some(&Destination::Peer(Peer::new(nat, Transport::Tcp)))
        );
        assert_eq!(
            t.map(|t| t.request_uri).as_deref(),
            Some("sip:a@10.0.0.5:5062;transport=tcp")
        );
        b.received = None;
        assert_eq!(
            b.target().map(|t| t.destination),
            Some(Destination::Peer(Peer::new(
                SocketAddr::from(([10, 0, 0, 5], 5062)),
                Transport::Tcp
            )))
        );
        let named = binding("sips:a@Phone.example.com", "c", 1, now);
        assert_eq!(
            named.target().map(|t| t.destination),
            Some(Destination::Resolve {
                host: "phone.example.com".into(),
                port: None,
                transport: Transport::Tls
            })
        );
    }

    #[test]
    fn received_only_when_source_differs() {
        let src = Peer::new(SocketAddr::from(([192, 0, 2, 1], 5060)), Transport::Udp);
        assert_eq!(received_for("sip:a@192.0.2.1", &src), None);
        assert_eq!(received_for("sip:a@192.0.2.1:5060", &src), None);
        assert_eq!(received_for("sip:a@10.0.0.1", &src), Some(src.addr));
        assert_eq!(received_for("sip:a@192.0.2.1:5070", &src), Some(src.addr));
        assert_eq!(received_for("sip:a@host.invalid", &src), Some(src.addr));
    }
}
