//! Resident memory of a process tree: the proportional set size (`Pss` in
//! `/proc/<pid>/smaps_rollup`), so pages shared by forked workers (Kamailio's shared-memory
//! pool) are counted once in the sum, not once per process; `VmRSS` from `/proc/<pid>/status`
//! where `smaps_rollup` is missing.

use std::collections::BTreeSet;

/// The `<field>:   N kB` value of a `/proc` status-like text, in bytes.
pub fn kb_field_bytes(text: &str, field: &str) -> Option<u64> {
    let line = text.lines().find(|l| {
        l.strip_prefix(field)
            .is_some_and(|rest| rest.starts_with(':'))
    })?;
    let mut fields = line[field.len() + 1..].split_ascii_whitespace();
    let value: u64 = fields.next()?.parse().ok()?;
    match fields.next() {
        Some("kB") => Some(value * 1024),
        _ => None,
    }
}

/// The proportional resident size of one process (`Pss`, else `VmRSS`), in bytes.
pub fn process_resident_bytes(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|text| kb_field_bytes(&text, "Pss"))
        .or_else(|| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            kb_field_bytes(&status, "VmRSS")
        })
}

/// Summed proportional resident size of the processes in `pids` that still exist, in bytes.
pub fn tree_resident_bytes(pids: &BTreeSet<u32>) -> u64 {
    pids.iter()
        .filter_map(|&pid| process_resident_bytes(pid))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kilobyte_fields() {
        let status = "Name:\tkamailio\nVmPeak:\t  9000 kB\nVmRSS:\t    1536 kB\nThreads:\t1\n";
        assert_eq!(kb_field_bytes(status, "VmRSS"), Some(1536 * 1024));
        let rollup = "55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss:    2048 kB\nPss:    1024 kB\nPss_Anon: 512 kB\n";
        assert_eq!(kb_field_bytes(rollup, "Pss"), Some(1024 * 1024));
        assert_eq!(kb_field_bytes("Name:\tx\n", "VmRSS"), None);
        assert_eq!(kb_field_bytes("VmRSS:\t12 MB\n", "VmRSS"), None);
        assert_eq!(kb_field_bytes("VmRSS:\tlots kB\n", "VmRSS"), None);
    }

    #[test]
    fn this_process_has_resident_memory() {
        assert!(tree_resident_bytes(&BTreeSet::from([std::process::id()])) > 0);
    }
}
