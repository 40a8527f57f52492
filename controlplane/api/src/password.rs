//! Password hashing (Argon2id, PHC strings) off the async threads.

use crate::ApiError;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::Rng;

/// A fresh random salt (16 bytes, the recommended size).
fn salt() -> Result<SaltString, ApiError> {
    let mut bytes = [0u8; 16];
    rand::rng().fill(&mut bytes);
    SaltString::encode_b64(&bytes)
        .map_err(|e| ApiError::Unavailable(format!("cannot make a salt: {e}")))
}

/// A PHC-format Argon2id hash of `password`.
pub async fn hash(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes(), &salt()?)
            .map(|hash| hash.to_string())
            .map_err(|e| ApiError::Unavailable(format!("cannot hash the password: {e}")))
    })
    .await
    .map_err(|e| ApiError::Unavailable(format!("password hashing task failed: {e}")))?
}

/// Whether `password` matches `hash`. With no hash (unknown user) a dummy verification runs,
/// so the answer takes as long as for a known user and reveals nothing.
pub async fn verify(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let dummy;
        let phc = match &hash {
            Some(hash) => hash.as_str(),
            None => {
                dummy = salt()
                    .ok()
                    .and_then(|salt| {
                        Argon2::default()
                            .hash_password(b"no such user", &salt)
                            .ok()
                            .map(|h| h.to_string())
                    })
                    .unwrap_or_default();
                dummy.as_str()
            }
        };
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        matches && hash.is_some()
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn hashes_verify_and_differ_per_salt() {
        let a = super::hash("correct horse".into()).await.unwrap();
        let b = super::hash("correct horse".into()).await.unwrap();
        assert!(a.starts_with("$argon2id$") && a != b);
        assert!(super::verify("correct horse".into(), Some(a.clone())).await);
        assert!(!super::verify("wrong".into(), Some(a)).await);
        assert!(!super::verify("anything".into(), None).await);
    }
}
