//! Where SIP passwords come from: the [`Credentials`] trait and an
//! in-memory [`MemoryCredentials`].
//!
//! A [`Credential`] holds a plaintext password, precomputed HA1 values
//! (`H(username:realm:password)` in lowercase hex, RFC 7616 §3.4.2), or
//! both. The password wins when present; an HA1 serves only its own
//! algorithm, so a user stored with `ha1_md5` alone cannot answer a
//! SHA-256 challenge: offer only the algorithms your store can serve.
//!
//! Not done: a database-backed store (the control plane's job; it
//! implements this trait), caching, negative caching.

use crate::digest::{Algorithm, ha1};
use std::collections::HashMap;
use std::sync::RwLock;

/// The secret material of one SIP user in one realm.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credential {
    /// Plaintext password.
    pub password: Option<String>,
    /// `MD5(username:realm:password)`, hex.
    pub ha1_md5: Option<String>,
    /// `SHA-256(username:realm:password)`, hex.
    pub ha1_sha256: Option<String>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets stay out of logs.
        f.debug_struct("Credential")
            .field("password", &self.password.as_ref().map(|_| "<set>"))
            .field("ha1_md5", &self.ha1_md5.as_ref().map(|_| "<set>"))
            .field("ha1_sha256", &self.ha1_sha256.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl Credential {
    /// A credential holding a plaintext password.
    pub fn password(password: impl Into<String>) -> Credential {
        Credential {
            password: Some(password.into()),
            ..Credential::default()
        }
    }

    /// The HA1 for `algorithm`, computed from the password when there is
    /// one, else the stored hash; `None` when this credential cannot serve
    /// that algorithm.
    pub fn ha1_for(&self, algorithm: Algorithm, username: &str, realm: &str) -> Option<String> {
        if let Some(pw) = &self.password {
            return Some(ha1(algorithm, username, realm, pw));
        }
        let stored = match algorithm {
            Algorithm::Md5 => self.ha1_md5.as_ref(),
            Algorithm::Sha256 => self.ha1_sha256.as_ref(),
        }?;
        Some(stored.to_ascii_lowercase())
    }
}

/// A source of credentials, shared by every proxy core using a registrar.
pub trait Credentials: Send + Sync {
    /// The credential of `username` in `realm`, if the user exists.
    fn lookup(&self, username: &str, realm: &str) -> Option<Credential>;
}

/// Credentials in memory, keyed by (username, realm).
#[derive(Debug, Default)]
pub struct MemoryCredentials {
    users: RwLock<HashMap<(String, String), Credential>>,
}

impl MemoryCredentials {
    /// An empty store.
    pub fn new() -> MemoryCredentials {
        MemoryCredentials::default()
    }

    /// Add or replace a user.
    pub fn insert(&self, username: &str, realm: &str, credential: Credential) {
        let mut users = self.users.write().unwrap_or_else(|p| p.into_inner());
        users.insert((username.to_owned(), realm.to_owned()), credential);
    }

    /// Remove a user; whether it existed.
    pub fn remove(&self, username: &str, realm: &str) -> bool {
        let mut users = self.users.write().unwrap_or_else(|p| p.into_inner());
        users
            .remove(&(username.to_owned(), realm.to_owned()))
            .is_some()
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether there is no user.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Credentials for MemoryCredentials {
    fn lookup(&self, username: &str, realm: &str) -> Option<Credential> {
        let users = self.users.read().unwrap_or_else(|p| p.into_inner());
        users.get(&(username.to_owned(), realm.to_owned())).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_serves_every_algorithm_and_ha1_only_its_own() {
        let from_password = Credential::password("pw");
        assert_eq!(
            from_password.ha1_for(Algorithm::Sha256, "u", "r"),
            Some(ha1(Algorithm::Sha256, "u", "r", "pw"))
        );
        let md5_only = Credential {
            ha1_md5: Some(ha1(Algorithm::Md5, "u", "r", "pw").to_ascii_uppercase()),
            ..Credential::default()
        };
        assert_eq!(
            md5_only.ha1_for(Algorithm::Md5, "u", "r"),
            Some(ha1(Algorithm::Md5, "u", "r", "pw"))
        );
        assert_eq!(md5_only.ha1_for(Algorithm::Sha256, "u", "r"), None);
    }

    #[test]
    fn memory_store_insert_lookup_remove() {
        let store = MemoryCredentials::new();
        store.insert("alice", "r", Credential::password("a"));
        assert!(store.lookup("alice", "r").is_some());
        assert!(store.lookup("alice", "other").is_none());
        assert!(store.remove("alice", "r"));
        assert!(store.lookup("alice", "r").is_none());
        assert!(store.is_empty());
    }
}
