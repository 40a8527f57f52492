//! The control plane's cache (cache-aside for hot rows, sessions with a TTL).
//!
//! One trait, [`Cache`], two implementations chosen by URL: [`MemoryCache`] (`memory://`, the
//! embedded default) and [`RedisCache`] (`redis://…`). A cache is never the source of truth:
//! callers treat every error as a miss and go to the store, so the appliance keeps working
//! (slower) while Redis is down.

mod memory;
mod redis_cache;

pub use memory::MemoryCache;
pub use redis_cache::RedisCache;

use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache url {url:?} is not supported: use memory:// or redis://host:port/")]
    UnsupportedUrl { url: String },
    #[error("cache url {url:?} is not valid: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cache unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Cache: Send + Sync + 'static {
    /// `memory` or `redis`.
    fn kind(&self) -> &'static str;
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError>;
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError>;
    async fn delete(&self, key: &str) -> Result<(), CacheError>;
    /// Resets the TTL of an existing key (sessions refreshed on use); false if it is gone.
    async fn touch(&self, key: &str, ttl: Duration) -> Result<bool, CacheError>;
    /// Whether the cache answers now.
    async fn check(&self) -> Result<(), CacheError>;
}

/// Opens the cache a URL names. A Redis cache connects on first use, so the appliance starts
/// (and reports not-ready) while Redis is down.
pub fn open(url: &str) -> Result<Arc<dyn Cache>, CacheError> {
    if url == "memory://" || url == "memory" {
        Ok(Arc::new(MemoryCache::new()))
    } else if url.starts_with("redis://") || url.starts_with("rediss://") {
        Ok(Arc::new(RedisCache::new(url)?))
    } else {
        Err(CacheError::UnsupportedUrl {
            url: url.to_owned(),
        })
    }
}
