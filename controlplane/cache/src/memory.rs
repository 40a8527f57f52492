//! In-process cache for the single-box appliance.

use crate::{Cache, CacheError};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Entries expire lazily on read; every [`SWEEP_EVERY`] writes also drop expired entries, so
/// keys that are never read again do not accumulate.
const SWEEP_EVERY: u32 = 1024;

#[derive(Default)]
struct Entries {
    map: HashMap<String, (Vec<u8>, Instant)>,
    writes_since_sweep: u32,
}

#[derive(Default)]
pub struct MemoryCache {
    entries: Mutex<Entries>,
}

impl MemoryCache {
    pub fn new() -> Self {
        Self::default()
    }

    fn entries(&self) -> MutexGuard<'_, Entries> {
        // Every mutation is a single map operation; a poisoned lock holds consistent data.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.entries()
            .map
            .values()
            .filter(|(_, deadline)| *deadline > now)
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl Cache for MemoryCache {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let mut entries = self.entries();
        match entries.map.get(key) {
            Some((value, deadline)) if *deadline > Instant::now() => Ok(Some(value.clone())),
            Some(_) => {
                entries.map.remove(key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        let now = Instant::now();
        let mut entries = self.entries();
        entries.writes_since_sweep += 1;
        if entries.writes_since_sweep >= SWEEP_EVERY {
            entries.writes_since_sweep = 0;
            entries.map.retain(|_, (_, deadline)| *deadline > now);
        }
        entries
            .map
            .insert(key.to_owned(), (value.to_vec(), now + ttl));
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.entries().map.remove(key);
        Ok(())
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<bool, CacheError> {
        let now = Instant::now();
        let mut entries = self.entries();
        match entries.map.get_mut(key) {
            Some((_, deadline)) if *deadline > now => {
                *deadline = now + ttl;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn check(&self) -> Result<(), CacheError> {
        Ok(())
    }
}
