//! Stateless server nonces and nonce-count replay protection (RFC 7616
//! §3.3, §5.5).
//!
//! A nonce is 64 lowercase hex digits: `timestamp (8 bytes, milliseconds
//! since the Unix epoch) || salt (8 bytes) || HMAC-SHA256(secret,
//! timestamp || salt || realm) truncated to 16 bytes`. Any registrar that
//! holds the same secret and realm accepts it, so several proxy cores or
//! nodes can share the work without sharing state. The salt makes every
//! challenge's nonce fresh, even two issued in the same millisecond.
//!
//! [`ReplayGuard`] remembers, per nonce, the highest nonce count accepted
//! and refuses any count that is not higher. Its memory is bounded: expired
//! nonces go first; when live nonces must be evicted, the guard raises a
//! floor and refuses every nonce at or below it that it no longer knows,
//! so eviction can make a client re-authenticate but never opens a replay.
//!
//! Not done: replay state is per registrar instance, not shared between
//! nodes (a message replayed to another node within the nonce lifetime is
//! not detected there); secret rotation with a grace period.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use subtle::ConstantTimeEq;

const MAC_LEN: usize = 16;
const RAW_LEN: usize = 8 + 8 + MAC_LEN;
/// How far in the future a nonce's timestamp may lie (clock skew between
/// nodes sharing the secret).
const FUTURE_SLACK: Duration = Duration::from_secs(30);

/// Identity of a nonce: when it was issued and its salt. Ordered by age.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NonceId {
    /// Issue time, milliseconds since the Unix epoch.
    pub issued_ms: u64,
    /// Per-nonce salt.
    pub salt: u64,
}

/// Result of checking a nonce's authenticity and age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// Issued by a holder of the secret for this realm, within its lifetime.
    Fresh(NonceId),
    /// Authentic but older than the lifetime.
    Expired,
    /// Not produced with this secret and realm (forged, mangled, another
    /// realm, or a rotated secret), or dated in the future.
    Invalid,
}

/// Issues and checks nonces for one realm.
pub struct NonceMint {
    secret: [u8; 32],
    realm: String,
    salt_base: u64,
    counter: AtomicU64,
}

impl std::fmt::Debug for NonceMint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of logs.
        f.debug_struct("NonceMint")
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

fn millis(wall: SystemTime) -> u64 {
    wall.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl NonceMint {
    /// A mint for `realm` with `secret`.
    pub fn new(secret: [u8; 32], realm: &str) -> NonceMint {
        // Each instance starts its salts at an unpredictable point, so two
        // instances sharing a secret do not issue the same nonces.
        let salt_base = RandomState::new().build_hasher().finish();
        NonceMint {
            secret,
            realm: realm.to_owned(),
            salt_base,
            counter: AtomicU64::new(0),
        }
    }

    fn mac(&self, issued_ms: u64, salt: u64) -> [u8; MAC_LEN] {
        let mut out = [0u8; MAC_LEN];
        // HMAC accepts keys of any length; the error branch cannot occur
        // and would only yield an all-zero MAC that never verifies input.
        if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.secret) {
            mac.update(&issued_ms.to_be_bytes());
            mac.update(&salt.to_be_bytes());
            mac.update(self.realm.as_bytes());
            let full = mac.finalize().into_bytes();
            for (o, b) in out.iter_mut().zip(full.iter()) {
                *o = *b;
            }
        }
        out
    }

    /// A new nonce dated `wall`.
    pub fn issue(&self, wall: SystemTime) -> String {
        let issued_ms = millis(wall);
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let salt = self.salt_base.wrapping_add(n);
        let mut raw = [0u8; RAW_LEN];
        raw[..8].copy_from_slice(&issued_ms.to_be_bytes());
        raw[8..16].copy_from_slice(&salt.to_be_bytes());
        raw[16..].copy_from_slice(&self.mac(issued_ms, salt));
        hex::encode(raw)
    }

    /// Check `nonce` at `wall` against a lifetime of `ttl`.
    pub fn check(&self, nonce: &str, wall: SystemTime, ttl: Duration) -> NonceCheck {
        let mut raw = [0u8; RAW_LEN];
        if nonce.len() != RAW_LEN * 2 || hex::decode_to_slice(nonce, &mut raw).is_err() {
            return NonceCheck::Invalid;
        }
        let mut word = [0u8; 8];
        word.copy_from_slice(&raw[..8]);
        let issued_ms = u64::from_be_bytes(word);
        word.copy_from_slice(&raw[8..16]);
        let salt = u64::from_be_bytes(word);
        let expected = self.mac(issued_ms, salt);
        if !bool::from(expected.ct_eq(&raw[16..])) {
            return NonceCheck::Invalid;
        }
        let now_ms = millis(wall);
        let slack = u64::try_from(FUTURE_SLACK.as_millis()).unwrap_or(u64::MAX);
        if issued_ms > now_ms.saturating_add(slack) {
            return NonceCheck::Invalid;
        }
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        if now_ms.saturating_sub(issued_ms) > ttl_ms {
            return NonceCheck::Expired;
        }
        NonceCheck::Fresh(NonceId { issued_ms, salt })
    }

    /// An opaque value bound to the secret and realm (clients echo it).
    pub fn opaque(&self) -> String {
        hex::encode(&self.mac(0, 0)[..8])
    }
}

/// Highest accepted nonce count per nonce, bounded.
#[derive(Debug)]
pub struct ReplayGuard {
    seen: BTreeMap<NonceId, u32>,
    capacity: usize,
    /// Every unknown nonce at or below this was possibly evicted while live.
    floor: Option<NonceId>,
}

impl ReplayGuard {
    /// A guard remembering at most `capacity` nonces.
    pub fn new(capacity: usize) -> ReplayGuard {
        ReplayGuard {
            seen: BTreeMap::new(),
            capacity: capacity.max(1),
            floor: None,
        }
    }

    /// Accept `nc` for the fresh nonce `id` if it is higher than any count
    /// accepted before. Nonces issued before `oldest_live_ms` are expired
    /// and may be forgotten.
    pub fn accept(&mut self, id: NonceId, nc: u32, oldest_live_ms: u64) -> bool {
        if let Some(highest) = self.seen.get_mut(&id) {
            if nc > *highest {
                *highest = nc;
                return true;
            }
            return false;
        }
        if self.floor.is_some_and(|floor| id <= floor) {
            return false;
        }
        self.seen.insert(id, nc);
        if self.seen.len() > self.capacity {
            self.seen = self.seen.split_off(&NonceId {
                issued_ms: oldest_live_ms,
                salt: 0,
            });
        }
        while self.seen.len() > self.capacity {
            let Some((evicted, _)) = self.seen.pop_first() else {
                break;
            };
            self.floor = Some(self.floor.map_or(evicted, |f| f.max(evicted)));
        }
        // The nonce just inserted may itself have been the oldest.
        self.seen.contains_key(&id)
    }

    /// Nonces currently remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no nonce is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn nonce_is_fresh_then_expired_and_bound_to_realm() {
        let mint = NonceMint::new([7; 32], "example.com");
        let n = mint.issue(at(1_000));
        let ttl = Duration::from_secs(300);
        assert!(matches!(
            mint.check(&n, at(1_200), ttl),
            NonceCheck::Fresh(_)
        ));
        assert_eq!(mint.check(&n, at(1_301), ttl), NonceCheck::Expired);
        let other = NonceMint::new([7; 32], "other.com");
        assert_eq!(other.check(&n, at(1_001), ttl), NonceCheck::Invalid);
        let rotated = NonceMint::new([8; 32], "example.com");
        assert_eq!(rotated.check(&n, at(1_001), ttl), NonceCheck::Invalid);
        // Another instance with the same secret verifies it.
        let peer = NonceMint::new([7; 32], "example.com");
        assert!(matches!(
            peer.check(&n, at(1_001), ttl),
            NonceCheck::Fresh(_)
        ));
    }

    #[test]
    fn nonces_are_unique_within_one_millisecond() {
        let mint = NonceMint::new([1; 32], "r");
        assert_ne!(mint.issue(at(5)), mint.issue(at(5)));
    }

    #[test]
    fn tampered_nonce_is_invalid() {
        let mint = NonceMint::new([1; 32], "r");
        let n = mint.issue(at(5));
        // Move the timestamp forward by one unit: the MAC no longer fits.
        let mut bytes = hex::decode(&n).unwrap_or_default();
        bytes[7] ^= 1;
        let forged = hex::encode(bytes);
        assert_eq!(
            mint.check(&forged, at(5), Duration::from_secs(300)),
            NonceCheck::Invalid
        );
        assert_eq!(
            mint.check("zz", at(5), Duration::from_secs(300)),
            NonceCheck::Invalid
        );
    }

    #[test]
    fn replay_guard_refuses_reused_counts_and_stays_bounded() {
        let mut guard = ReplayGuard::new(2);
        let id = |ms| NonceId {
            issued_ms: ms,
            salt: 0,
        };
        assert!(guard.accept(id(10), 1, 0));
        assert!(!guard.accept(id(10), 1, 0));
        assert!(guard.accept(id(10), 2, 0));
        assert!(guard.accept(id(20), 1, 0));
        assert!(guard.accept(id(30), 1, 0));
        assert_eq!(guard.len(), 2);
        // id(10) was evicted while live: it must not be usable again.
        assert!(!guard.accept(id(10), 3, 0));
        // Expired entries are dropped before live ones.
        assert!(guard.accept(id(40), 1, 35));
        assert_eq!(guard.len(), 1);
        assert!(!guard.accept(id(40), 1, 35));
    }
}
