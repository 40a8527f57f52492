//! ferrovox-registrar (skeleton; see Cargo.toml description).
