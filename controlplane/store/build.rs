//! `sqlx::migrate!` embeds the migration files at compile time; without this, adding a file to
//! `migrations/` would not rebuild the store and the new migration would silently be missing.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
