//! ferrovox-proxy (skeleton; see Cargo.toml description).
