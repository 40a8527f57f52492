//! Trunk source allow-lists: which trunk (if any) a request belongs to,
//! judged by its source address.
//!
//! - [`AllowList`]: IPv4/IPv6 addresses and CIDR blocks; `allows(ip)`.
//!   Entries are merged (overlapping and adjacent blocks aggregated), so
//!   the check scans a short list.
//! - [`Trunks`]: trunk name → allow-list and optional domain.
//!   [`Trunks::trunk_for_source`] answers with the trunk holding the most
//!   specific block containing the address (a /32 beats a /24; on a tie the
//!   trunk configured first) in one hash lookup per distinct prefix length
//!   in use. [`Trunks::trunk_for`] adds the request's domain for sources
//!   shared by several trunks.
//!
//! IPv4-mapped IPv6 sources (`::ffff:192.0.2.1`, as a dual-stack socket
//! reports IPv4 peers) are matched as IPv4. A block written with host bits
//! set (`10.0.0.1/8`) means its network (`10.0.0.0/8`), as the control
//! plane's trunk API accepts it.
//!
//! Not done: authentication (digest for trunks without IP auth is the
//! proxy's), port or transport conditions, host names in allow-lists.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::config::TrunkConfig;
use crate::error::ConfigError;

/// IP addresses and CIDR blocks, IPv4 and IPv6.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    v4: Vec<Ipv4Net>,
    v6: Vec<Ipv6Net>,
}

impl AllowList {
    /// Parses `192.0.2.7`, `192.0.2.0/24`, `2001:db8::1`, `2001:db8::/32`
    /// (surrounding spaces ignored).
    pub fn new(entries: &[String]) -> Result<Self, ConfigError> {
        let nets = parse_entries(entries, None)?;
        let (v4, v6): (Vec<IpNet>, Vec<IpNet>) = nets.into_iter().partition(|n| n.addr().is_ipv4());
        let v4 = Ipv4Net::aggregate(
            &v4.iter()
                .filter_map(|n| match n {
                    IpNet::V4(n) => Some(*n),
                    IpNet::V6(_) => None,
                })
                .collect(),
        );
        let v6 = Ipv6Net::aggregate(
            &v6.iter()
                .filter_map(|n| match n {
                    IpNet::V6(n) => Some(*n),
                    IpNet::V4(_) => None,
                })
                .collect(),
        );
        Ok(AllowList { v4, v6 })
    }

    /// Whether `ip` is inside one of the entries.
    pub fn allows(&self, ip: IpAddr) -> bool {
        match canonical(ip) {
            IpAddr::V4(v4) => self.v4.iter().any(|n| n.contains(&v4)),
            IpAddr::V6(v6) => self.v6.iter().any(|n| n.contains(&v6)),
        }
    }

    /// Whether the list allows nothing.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        IpAddr::V4(_) => ip,
    }
}

fn parse_entries(entries: &[String], trunk: Option<&str>) -> Result<Vec<IpNet>, ConfigError> {
    entries
        .iter()
        .map(|entry| {
            parse_entry(entry.trim()).ok_or_else(|| ConfigError::BadAllowEntry {
                trunk: trunk.map(str::to_owned),
                entry: entry.clone(),
            })
        })
        .collect()
}

fn parse_entry(text: &str) -> Option<IpNet> {
    let net = match text.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => IpNet::from(text.parse::<IpAddr>().ok()?),
    };
    // A mapped IPv6 block means the IPv4 block, so that canonical() sources match.
    let net = match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => IpNet::V4(Ipv4Net::new(v4, v6.prefix_len() - 96).ok()?),
            None => net,
        },
        _ => net,
    };
    Some(net.trunc())
}

/// A trunk: its name, allow-list and domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trunk {
    name: String,
    domain: Option<String>,
    allow: AllowList,
}

impl Trunk {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its SIP domain, if configured.
    pub fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    /// Its source allow-list.
    pub fn allow_list(&self) -> &AllowList {
        &self.allow
    }
}

/// Longest-prefix index: per prefix length (longest first), masked network
/// → first trunk configured with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct PrefixIndex<K: std::hash::Hash + Eq> {
    by_length: Vec<(u8, HashMap<K, usize>)>,
}

impl<K: std::hash::Hash + Eq + Copy> PrefixIndex<K> {
    fn insert(&mut self, length: u8, network: K, trunk: usize) {
        let position = match self.by_length.iter().position(|(l, _)| *l <= length) {
            Some(p) if self.by_length.get(p).is_some_and(|(l, _)| *l == length) => p,
            Some(p) => {
                self.by_length.insert(p, (length, HashMap::new()));
                p
            }
            None => {
                self.by_length.push((length, HashMap::new()));
                self.by_length.len() - 1
            }
        };
        if let Some((_, map)) = self.by_length.get_mut(position) {
            map.entry(network).or_insert(trunk);
        }
    }

    fn lookup(&self, mask: impl Fn(u8) -> K) -> Option<usize> {
        self.by_length
            .iter()
            .find_map(|(length, map)| map.get(&mask(*length)).copied())
    }
}

fn mask_v4(ip: Ipv4Addr, length: u8) -> u32 {
    match u32::from(length) {
        0 => 0,
        l => u32::from(ip) & (u32::MAX << (32 - l.min(32))),
    }
}

fn mask_v6(ip: Ipv6Addr, length: u8) -> u128 {
    match u32::from(length) {
        0 => 0,
        l => u128::from(ip) & (u128::MAX << (128 - l.min(128))),
    }
}

/// Trunks by name, indexed by source block and domain.
///
/// Immutable once built: share it (`Arc<Trunks>`) between cores and
/// replace it on reconfiguration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trunks {
    trunks: Vec<Trunk>,
    v4: PrefixIndex<u32>,
    v6: PrefixIndex<u128>,
    by_domain: HashMap<String, usize>,
}

impl Trunks {
    /// Validates (unique non-empty names, unique domains, parseable
    /// entries) and indexes the trunks.
    pub fn new(configs: &[TrunkConfig]) -> Result<Self, ConfigError> {
        let mut trunks = Trunks::default();
        for (index, config) in configs.iter().enumerate() {
            let bad = |reason| ConfigError::BadTrunk {
                index,
                name: config.name.clone(),
                reason,
            };
            if config.name.trim().is_empty() {
                return Err(bad("name is empty"));
            }
            if trunks.trunks.iter().any(|t| t.name == config.name) {
                return Err(bad("name is used by another trunk"));
            }
            let domain = config
                .domain
                .as_deref()
                .map(str::trim)
                .filter(|d| !d.is_empty());
            if let Some(domain) = domain {
                let key = domain.to_ascii_lowercase();
                if trunks.by_domain.contains_key(&key) {
                    return Err(bad("domain is used by another trunk"));
                }
                trunks.by_domain.insert(key, index);
            }
            let nets = parse_entries(&config.allowed_ips, Some(&config.name))?;
            for net in &nets {
                match net {
                    IpNet::V4(n) => trunks
                        .v4
                        .insert(n.prefix_len(), u32::from(n.network()), index),
                    IpNet::V6(n) => {
                        trunks
                            .v6
                            .insert(n.prefix_len(), u128::from(n.network()), index)
                    }
                }
            }
            trunks.trunks.push(Trunk {
                name: config.name.clone(),
                domain: domain.map(str::to_owned),
                allow: AllowList::new(&config.allowed_ips)?,
            });
        }
        Ok(trunks)
    }

    /// All trunks, in configuration order.
    pub fn trunks(&self) -> &[Trunk] {
        &self.trunks
    }

    /// A trunk by name.
    pub fn get(&self, name: &str) -> Option<&Trunk> {
        self.trunks.iter().find(|t| t.name == name)
    }

    /// The trunk a request from `ip` belongs to: the one with the most
    /// specific block containing it.
    pub fn trunk_for_source(&self, ip: IpAddr) -> Option<&str> {
        let index = match canonical(ip) {
            IpAddr::V4(v4) => self.v4.lookup(|l| mask_v4(v4, l)),
            IpAddr::V6(v6) => self.v6.lookup(|l| mask_v6(v6, l)),
        }?;
        self.trunks.get(index).map(|t| t.name.as_str())
    }

    /// The trunk for a request from `ip` to `domain` (the Request-URI or To
    /// host): the trunk of that domain when its allow-list has `ip`, else
    /// [`Trunks::trunk_for_source`]. Lets several trunks share a carrier's
    /// addresses and be told apart by domain.
    pub fn trunk_for(&self, ip: IpAddr, domain: &str) -> Option<&str> {
        let by_domain = if domain.bytes().any(|b| b.is_ascii_uppercase()) {
            self.by_domain.get(&domain.to_ascii_lowercase())
        } else {
            self.by_domain.get(domain)
        };
        if let Some(trunk) = by_domain.and_then(|&i| self.trunks.get(i))
            && trunk.allow.allows(ip)
        {
            return Some(&trunk.name);
        }
        self.trunk_for_source(ip)
    }
}
