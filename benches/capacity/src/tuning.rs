//! Socket-buffer sysctls raised for the run and restored afterwards.
//!
//! With the default 208 KB buffers a UDP relay loses datagrams in bursts (TARGETS.md), which
//! SIPp then retransmits and the proxy pays for twice. [`raise`] writes the wanted values to
//! `/proc/sys/net/core/*` when they are higher than the current ones (root only); the returned
//! [`SysctlChange`]s are printed and undone by [`restore`].

use std::path::PathBuf;

/// Buffer sizes the runner asks for (bytes).
pub const WANTED: [(&str, u64); 4] = [
    ("net.core.rmem_max", 4_194_304),
    ("net.core.wmem_max", 4_194_304),
    ("net.core.rmem_default", 4_194_304),
    ("net.core.wmem_default", 4_194_304),
];

/// One sysctl as found and as set.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SysctlChange {
    pub name: String,
    pub before: u64,
    pub after: u64,
    /// Why it could not be set, if it could not.
    pub error: Option<String>,
}

fn path(name: &str) -> PathBuf {
    PathBuf::from("/proc/sys").join(name.replace('.', "/"))
}

fn read(name: &str) -> Option<u64> {
    std::fs::read_to_string(path(name))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Raises each of [`WANTED`] that is lower now.
pub fn raise() -> Vec<SysctlChange> {
    WANTED
        .iter()
        .filter_map(|&(name, wanted)| {
            let before = read(name)?;
            if before >= wanted {
                return Some(SysctlChange {
                    name: name.to_owned(),
                    before,
                    after: before,
                    error: None,
                });
            }
            let error = std::fs::write(path(name), wanted.to_string())
                .err()
                .map(|e| e.to_string());
            Some(SysctlChange {
                name: name.to_owned(),
                before,
                after: read(name).unwrap_or(before),
                error,
            })
        })
        .collect()
}

/// Puts back the values found by [`raise`].
pub fn restore(changes: &[SysctlChange]) {
    for change in changes.iter().filter(|c| c.after != c.before) {
        let _ = std::fs::write(path(&change.name), change.before.to_string());
    }
}
