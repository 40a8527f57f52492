//! ferrovox-routing (skeleton; see Cargo.toml description).
