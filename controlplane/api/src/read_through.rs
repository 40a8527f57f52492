//! Cache-aside reads: a value's JSON from the cache, or from the store and written back with
//! its TTL. A cache failure (Redis down) is a miss, so reads keep working, slower.

use crate::ApiError;
use ferrovox_cache::Cache;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::time::Duration;

/// `key`'s value from `cache`, else what `fetch` reads (cached for `ttl` when present).
pub(crate) async fn read_through<T, F>(
    cache: &dyn Cache,
    key: &str,
    ttl: Duration,
    fetch: F,
) -> Result<Option<T>, ApiError>
where
    T: Serialize + DeserializeOwned,
    F: Future<Output = Result<Option<T>, ApiError>>,
{
    match cache.get(key).await {
        Ok(Some(bytes)) => {
            if let Ok(value) = serde_json::from_slice::<T>(&bytes) {
                return Ok(Some(value));
            }
        }
        Ok(None) => {}
        Err(error) => tracing::debug!(%error, "cache read failed; reading the store"),
    }
    let Some(value) = fetch.await? else {
        return Ok(None);
    };
    if let Ok(bytes) = serde_json::to_vec(&value)
        && let Err(error) = cache.set(key, &bytes, ttl).await
    {
        tracing::debug!(%error, "cache write failed");
    }
    Ok(Some(value))
}
