//! CPU time of a process (all its threads) and of its descendants, from `/proc`.
//!
//! [`ProcStat::parse`] reads one `/proc/<pid>/stat` line: `comm` sits in parentheses and may
//! contain spaces or parentheses itself, so the fields after it are counted from the last
//! `)`. [`tree_cpu`] sums user and system time of a process and every descendant found
//! through the `ppid` links of `/proc/*/stat` (rtpengine in `--foreground` does not fork, but
//! a daemonising SUT would). Resolution is the kernel clock tick (`sysconf(_SC_CLK_TCK)`,
//! usually 10 ms): over a 20 s window of a relay using most of a core this is well below 1%.
//!
//! Deliberately not done: per-thread breakdowns, `cutime`/`cstime` of reaped children.

use std::path::Path;

/// Errors reading `/proc`.
#[derive(Debug, thiserror::Error)]
pub enum CpuError {
    #[error("malformed /proc stat line ({reason})")]
    Malformed { reason: &'static str },
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The fields of `/proc/<pid>/stat` used here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: u32,
    pub comm: String,
    pub ppid: u32,
    /// Clock ticks in user mode, all threads.
    pub utime_ticks: u64,
    /// Clock ticks in kernel mode, all threads.
    pub stime_ticks: u64,
}

impl ProcStat {
    /// Parses one `/proc/<pid>/stat` line.
    pub fn parse(line: &str) -> Result<Self, CpuError> {
        let malformed = |reason| CpuError::Malformed { reason };
        let open = line.find('(').ok_or_else(|| malformed("no '('"))?;
        let close = line.rfind(')').ok_or_else(|| malformed("no ')'"))?;
        if close < open {
            return Err(malformed("')' before '('"));
        }
        let pid = line[..open]
            .trim()
            .parse()
            .map_err(|_| malformed("pid is not a number"))?;
        let comm = line[open + 1..close].to_owned();
        // After `comm`: state(3) ppid(4) ... utime(14) stime(15), numbered as in proc(5).
        let rest: Vec<&str> = line[close + 1..].split_ascii_whitespace().collect();
        let field = |number: usize| -> Result<u64, CpuError> {
            rest.get(number - 3)
                .ok_or_else(|| malformed("too few fields"))?
                .parse()
                .map_err(|_| malformed("field is not a number"))
        };
        Ok(Self {
            pid,
            comm,
            ppid: u32::try_from(field(4)?).map_err(|_| malformed("ppid out of range"))?,
            utime_ticks: field(14)?,
            stime_ticks: field(15)?,
        })
    }

    /// Reads `/proc/<pid>/stat`.
    pub fn read(pid: u32) -> Result<Self, CpuError> {
        read_stat(&Path::new("/proc").join(pid.to_string()).join("stat"))
    }
}

fn read_stat(path: &Path) -> Result<ProcStat, CpuError> {
    let text = std::fs::read_to_string(path).map_err(|source| CpuError::Io {
        path: path.display().to_string(),
        source,
    })?;
    ProcStat::parse(text.trim_end())
}

/// Microseconds per clock tick.
pub fn tick_micros() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        1_000_000 / hz as u64
    } else {
        10_000
    }
}

/// User and system CPU time, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CpuTime {
    pub user_us: u64,
    pub system_us: u64,
}

impl CpuTime {
    pub fn total_us(&self) -> u64 {
        self.user_us + self.system_us
    }

    /// `self - earlier`, never negative (a descendant that exited takes its time with it).
    pub fn since(&self, earlier: &CpuTime) -> CpuTime {
        CpuTime {
            user_us: self.user_us.saturating_sub(earlier.user_us),
            system_us: self.system_us.saturating_sub(earlier.system_us),
        }
    }
}

/// The pids in `stats` that descend from `root` (including `root`).
pub fn descendants(root: u32, stats: &[ProcStat]) -> Vec<u32> {
    let mut tree = vec![root];
    let mut grew = true;
    while grew {
        grew = false;
        for stat in stats {
            if tree.contains(&stat.ppid) && !tree.contains(&stat.pid) {
                tree.push(stat.pid);
                grew = true;
            }
        }
    }
    tree
}

/// CPU time of `root` and all its descendants.
pub fn tree_cpu(root: u32) -> Result<CpuTime, CpuError> {
    let own = ProcStat::read(root)?;
    let mut all = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
                && let Ok(stat) = read_stat(&entry.path().join("stat"))
            {
                all.push(stat);
            }
        }
    }
    let tree = descendants(root, &all);
    let tick = tick_micros();
    let mut ticks = (own.utime_ticks, own.stime_ticks);
    for stat in all
        .iter()
        .filter(|s| s.pid != root && tree.contains(&s.pid))
    {
        ticks.0 += stat.utime_ticks;
        ticks.1 += stat.stime_ticks;
    }
    Ok(CpuTime {
        user_us: ticks.0 * tick,
        system_us: ticks.1 * tick,
    })
}

/// CPU time of the calling process (all threads), from `getrusage` (microsecond resolution).
pub fn own_cpu() -> CpuTime {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    CpuTime {
        user_us: micros(usage.ru_utime),
        system_us: micros(usage.ru_stime),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "4242 (rtp engine (x)) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                        731 1458 0 0 20 0 3 0 99 1000 500 18446744073709551615";

    #[test]
    fn parses_a_stat_line_whose_comm_has_spaces_and_parentheses() {
        let stat = ProcStat::parse(LINE).unwrap();
        assert_eq!(stat.pid, 4242);
        assert_eq!(stat.comm, "rtp engine (x)");
        assert_eq!(stat.ppid, 1);
        assert_eq!(stat.utime_ticks, 731);
        assert_eq!(stat.stime_ticks, 1458);
    }

    #[test]
    fn refuses_malformed_lines() {
        assert!(ProcStat::parse("").is_err());
        assert!(ProcStat::parse("12 (x S 1").is_err());
        assert!(ProcStat::parse("12 (x) S 1 2 3").is_err());
        assert!(ProcStat::parse("abc (x) S 1 4242 4242 0 -1 0 0 0 0 0 1 2").is_err());
    }

    #[test]
    fn finds_descendants_through_parent_links() {
        let stat = |pid, ppid| ProcStat {
            pid,
            comm: String::new(),
            ppid,
            utime_ticks: 0,
            stime_ticks: 0,
        };
        let all = [
            stat(10, 1),
            stat(11, 10),
            stat(12, 11),
            stat(13, 1),
            stat(14, 12),
        ];
        let mut tree = descendants(10, &all);
        tree.sort();
        assert_eq!(tree, vec![10, 11, 12, 14]);
    }

    #[test]
    fn proc_stat_sees_the_cpu_getrusage_sees() {
        let before = own_cpu();
        let proc_before = tree_cpu(std::process::id()).unwrap();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        // Burn 100 ms of CPU (however long that takes on a busy machine).
        while own_cpu().since(&before).total_us() < 100_000
            && start.elapsed() < std::time::Duration::from_secs(30)
        {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        }
        let burned = own_cpu().since(&before);
        assert!(burned.total_us() >= 100_000, "{burned:?}");
        let proc_burned = tree_cpu(std::process::id()).unwrap().since(&proc_before);
        assert!(
            proc_burned.total_us() >= 70_000,
            "{proc_burned:?} vs {burned:?}"
        );
    }
}
