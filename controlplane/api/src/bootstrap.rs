//! First start: create the first customer and an admin access key, and tell the operator.
//! The key holds `customer_admin` and [`crate::auth::PLATFORM_ADMIN`]: its holder runs the
//! appliance and administers the other customers.
//!
//! The token is shown once (the store keeps only its hash). So that an operator who missed
//! the first start's output can still get in, it is also written to a file readable by the
//! appliance's user only, as installers of other appliances do with an initial password.

use crate::accesskey::{generate_token, token_hash};
use chrono::Duration;
use ferrovox_store::model::now;
use ferrovox_store::{AccessKey, Customer, LIVE, Store, StoreError};
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// Name of the file, in the data directory, that keeps the first admin access key.
pub const ADMIN_KEY_FILE: &str = "admin-accesskey";

/// Admin access keys made at bootstrap are valid this long.
const ADMIN_KEY_LIFETIME_DAYS: i64 = 3650;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminKey {
    /// Created now: the token, and the file it was saved to.
    Created { token: String, file: PathBuf },
    /// Customers already existed; the first start's key file, if it is still there.
    Existing { file: Option<PathBuf> },
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write {path}: {source}")]
    KeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Creates the first customer and its admin access key when the store has no customer.
pub async fn ensure_admin(store: &dyn Store, data_dir: &Path) -> Result<AdminKey, BootstrapError> {
    let file = data_dir.join(ADMIN_KEY_FILE);
    if store.customer_count().await? > 0 {
        return Ok(AdminKey::Existing {
            file: file.exists().then_some(file),
        });
    }
    let at = now();
    let customer = Customer {
        id: Uuid::new_v4(),
        name: "admin".into(),
        detail: "created at first start".into(),
        email: String::new(),
        webhook_method: "POST".into(),
        webhook_uri: String::new(),
        webhook_secret: generate_token().replacen("ak_", "whsec_", 1),
        tm_create: at,
        tm_update: at,
        tm_delete: LIVE,
    };
    let token = generate_token();
    let key = AccessKey {
        id: Uuid::new_v4(),
        customer_id: customer.id,
        name: "admin".into(),
        detail: "created at first start".into(),
        token_hash: token_hash(&token),
        token_prefix: token.chars().take(7).collect(),
        // The appliance's operator: its own customer's admin, and the platform's.
        permissions: vec!["customer_admin".into(), crate::auth::PLATFORM_ADMIN.into()],
        tm_expire: at + Duration::days(ADMIN_KEY_LIFETIME_DAYS),
        tm_create: at,
        tm_update: at,
        tm_delete: LIVE,
    };
    // Write the file first: a key the operator cannot see is worse than a file without a key.
    write_private(&file, &format!("{token}\n"))?;
    store.customer_create(&customer).await?;
    store.accesskey_create(&key).await?;
    tracing::info!(customer = %customer.id, "created the first customer and its admin access key");
    Ok(AdminKey::Created { token, file })
}

fn write_private(path: &Path, content: &str) -> Result<(), BootstrapError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let error = |source| BootstrapError::KeyFile {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(error)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(error)?;
    file.write_all(content.as_bytes()).map_err(error)
}
