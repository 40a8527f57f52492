//! MySQL/MariaDB, for production and for several control planes sharing one database.

use crate::StoreError;
use crate::queries::impl_store;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::{Executor, MySqlPool};
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/mysql");

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub struct MySqlStore {
    pool: MySqlPool,
}

impl MySqlStore {
    /// Prepares a pool for a `mysql://user:pass@host:port/db` URL without connecting: the
    /// first query connects, and a database that is down shows in [`Store::check`].
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let url = url.replacen("mariadb:", "mysql:", 1);
        let options = MySqlConnectOptions::from_str(&url).map_err(|e| StoreError::BadUrl {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let pool = MySqlPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(3))
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                        .await?;
                    Ok(())
                })
            })
            .connect_lazy_with(options);
        Ok(Self { pool })
    }
}

impl MySqlStore {
    const SCHEMA_QUERY: &'static str = "SELECT CAST(TABLE_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR) \
        FROM information_schema.COLUMNS \
        WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME <> '_sqlx_migrations'";

    async fn ping(&self) -> Result<(), StoreError> {
        match tokio::time::timeout(CHECK_TIMEOUT, sqlx::query("SELECT 1").execute(&self.pool)).await
        {
            Ok(result) => result.map(|_| ()).map_err(StoreError::from),
            Err(_) => Err(StoreError::Database(sqlx::Error::PoolTimedOut)),
        }
    }
}

impl_store!(MySqlStore, sqlx::MySql, "mysql", MIGRATOR);
