//! Access key tokens: `ak_` followed by 32 random alphanumerics; stored as SHA-256 hex.

use rand::Rng;
use sha2::{Digest, Sha256};

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A new random token (≈190 bits of entropy).
pub fn generate_token() -> String {
    let mut rng = rand::rng();
    let body: String = (0..32)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("ak_{body}")
}

/// What the store keeps of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hash_to_64_hex_chars() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        assert!(a.starts_with("ak_") && a.len() == 35);
        assert!(a[3..].bytes().all(|c| c.is_ascii_alphanumeric()));
        let hash = token_hash(&a);
        assert_eq!(hash.len(), 64);
        assert_eq!(hash, token_hash(&a));
        assert_ne!(hash, token_hash(&b));
        // Known answer: SHA-256("abc").
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
