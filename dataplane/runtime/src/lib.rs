//! ferrovox-runtime (skeleton; see Cargo.toml description).
