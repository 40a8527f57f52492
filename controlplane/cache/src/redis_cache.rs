//! Redis, shared by several control planes. Uses a multiplexed connection manager that
//! reconnects by itself; every command has a short timeout so a dead Redis costs a miss, not
//! a stuck request.

use crate::{Cache, CacheError};
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;
use tokio::sync::OnceCell;

const TIMEOUT: Duration = Duration::from_millis(1000);

pub struct RedisCache {
    client: redis::Client,
    /// Created on first successful use: Redis may be down when the appliance starts.
    manager: OnceCell<ConnectionManager>,
}

impl RedisCache {
    pub fn new(url: &str) -> Result<Self, CacheError> {
        let client = redis::Client::open(url).map_err(|e| CacheError::BadUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            client,
            manager: OnceCell::new(),
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, CacheError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        self.manager
            .get_or_try_init(|| ConnectionManager::new_with_config(self.client.clone(), config))
            .await
            .cloned()
            .map_err(unavailable)
    }

    async fn run<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> Result<T, CacheError> {
        let mut connection = self.connection().await?;
        match tokio::time::timeout(TIMEOUT, command.query_async::<T>(&mut connection)).await {
            Ok(result) => result.map_err(unavailable),
            Err(_) => Err(CacheError::Unavailable(format!(
                "no answer within {TIMEOUT:?}"
            ))),
        }
    }
}

fn unavailable(error: redis::RedisError) -> CacheError {
    CacheError::Unavailable(error.to_string())
}

fn ttl_millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait]
impl Cache for RedisCache {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        self.run(redis::cmd("GET").arg(key)).await
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        self.run(
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(ttl_millis(ttl)),
        )
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.run::<i64>(redis::cmd("DEL").arg(key))
            .await
            .map(|_| ())
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<bool, CacheError> {
        self.run::<i64>(redis::cmd("PEXPIRE").arg(key).arg(ttl_millis(ttl)))
            .await
            .map(|updated| updated == 1)
    }

    async fn check(&self) -> Result<(), CacheError> {
        let pong: String = self.run(&redis::cmd("PING")).await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(CacheError::Unavailable(format!("PING answered {pong:?}")))
        }
    }
}
