//! CPU accounting from `/proc` for the capacity runners: user and system time of a process
//! and its descendants, the caller's own time, and whole-machine busy time.
//!
//! - [`ProcStat::parse`] reads one `/proc/<pid>/stat` line. `comm` sits in parentheses and may
//!   itself contain spaces and parentheses, so the fields after it are counted from the
//!   *last* `)`.
//! - [`process_tree`] / [`descendants`] follow `ppid` links of `/proc/*/stat` to every
//!   descendant of a process (Kamailio forks its workers; ferrovox, SIPp and rtpengine in
//!   `--foreground` are single processes whose `stat` already sums all their threads).
//! - [`CpuTime::sample`] sums a fixed set of processes; [`tree_cpu`] re-walks the tree first,
//!   for a SUT that might fork while it runs.
//! - [`own_cpu`] is the calling process's time from `getrusage` (microsecond resolution).
//! - [`MachineCpu`] is the first line of `/proc/stat`, to tell how busy the whole box was.
//!
//! Resolution of `/proc` times is the kernel's clock tick (`sysconf(_SC_CLK_TCK)`, 100 Hz
//! here: 10 ms). Over a 20 s window of a relay or proxy using a good part of a core that is
//! well under 1%; reports state the tick so nobody reads more digits than there are.
//! Deliberately not done: per-thread `schedstat` (ns resolution, but no user/system split),
//! `cutime`/`cstime` of reaped children.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// Errors reading `/proc`.
#[derive(Debug, thiserror::Error)]
pub enum CpuError {
    #[error("malformed /proc stat line ({reason}): {line:?}")]
    Malformed { reason: &'static str, line: String },
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The fields of `/proc/<pid>/stat` the runners need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: u32,
    pub comm: String,
    pub ppid: u32,
    /// Clock ticks in user mode (all threads of the process).
    pub utime_ticks: u64,
    /// Clock ticks in kernel mode (all threads of the process).
    pub stime_ticks: u64,
}

impl ProcStat {
    /// Parses one `/proc/<pid>/stat` line.
    pub fn parse(line: &str) -> Result<Self, CpuError> {
        let malformed = |reason| CpuError::Malformed {
            reason,
            line: line.to_owned(),
        };
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
        // Fields after comm, numbered from 3 (state) as in proc(5).
        let rest: Vec<&str> = line[close + 1..].split_ascii_whitespace().collect();
        let field = |number: usize| -> Result<u64, CpuError> {
            rest.get(number - 3)
                .ok_or_else(|| malformed("too few fields"))?
                .parse()
                .map_err(|_| malformed("field is not a number"))
        };
        let ppid = u32::try_from(field(4)?).map_err(|_| malformed("ppid out of range"))?;
        Ok(Self {
            pid,
            comm,
            ppid,
            utime_ticks: field(14)?,
            stime_ticks: field(15)?,
        })
    }

    /// Reads `/proc/<pid>/stat`.
    pub fn read(pid: u32) -> Result<Self, CpuError> {
        let path = format!("/proc/{pid}/stat");
        let text = std::fs::read_to_string(&path).map_err(|source| CpuError::Io {
            path: path.clone(),
            source,
        })?;
        Self::parse(text.trim_end())
    }
}

/// Every process currently in `/proc` (those that vanish while being read are skipped).
pub fn all_processes() -> Vec<ProcStat> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| ProcStat::read(pid).ok())
        .collect()
}

/// `root` and all its descendants among `processes`, found through parent links.
pub fn descendants(root: u32, processes: &[ProcStat]) -> BTreeSet<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for process in processes {
        children.entry(process.ppid).or_default().push(process.pid);
    }
    let mut tree = BTreeSet::from([root]);
    let mut frontier = vec![root];
    while let Some(pid) = frontier.pop() {
        for &child in children.get(&pid).map(Vec::as_slice).unwrap_or_default() {
            if tree.insert(child) {
                frontier.push(child);
            }
        }
    }
    tree
}

/// `root` and its descendants as they are now.
pub fn process_tree(root: u32) -> BTreeSet<u32> {
    descendants(root, &all_processes())
}

/// Microseconds per clock tick of `/proc` times.
pub fn tick_micros() -> u64 {
    // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    match u64::try_from(hz) {
        Ok(hz) if hz > 0 => 1_000_000 / hz,
        _ => 10_000,
    }
}

/// User and system CPU time, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CpuTime {
    pub user_us: u64,
    pub system_us: u64,
}

impl CpuTime {
    /// Sums the processes in `pids` that still exist.
    pub fn sample(pids: &BTreeSet<u32>) -> Self {
        let tick = tick_micros();
        pids.iter()
            .filter_map(|&pid| ProcStat::read(pid).ok())
            .fold(Self::default(), |acc, stat| Self {
                user_us: acc.user_us + stat.utime_ticks * tick,
                system_us: acc.system_us + stat.stime_ticks * tick,
            })
    }

    /// CPU spent between `earlier` and `self` (saturating: a process that vanished takes its
    /// time with it, which must not make the difference negative).
    pub fn since(self, earlier: Self) -> Self {
        Self {
            user_us: self.user_us.saturating_sub(earlier.user_us),
            system_us: self.system_us.saturating_sub(earlier.system_us),
        }
    }

    pub fn total_us(self) -> u64 {
        self.user_us + self.system_us
    }
}

/// CPU time of `root` and all its descendants; an error when `root` itself is gone.
pub fn tree_cpu(root: u32) -> Result<CpuTime, CpuError> {
    ProcStat::read(root)?;
    Ok(CpuTime::sample(&process_tree(root)))
}

/// CPU time of the calling process (all threads), from `getrusage`.
pub fn own_cpu() -> CpuTime {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let micros = |t: libc::timeval| {
        u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000 + u64::try_from(t.tv_usec).unwrap_or(0)
    };
    CpuTime {
        user_us: micros(usage.ru_utime),
        system_us: micros(usage.ru_stime),
    }
}

/// The aggregate `cpu` line of `/proc/stat`, in ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MachineCpu {
    pub busy_ticks: u64,
    pub idle_ticks: u64,
}

impl MachineCpu {
    /// Parses the first (`cpu ...`) line of `/proc/stat`. Idle counts idle + iowait;
    /// guest time is already inside user and is not added twice.
    pub fn parse(text: &str) -> Result<Self, CpuError> {
        let line = text.lines().next().unwrap_or_default();
        let malformed = |reason| CpuError::Malformed {
            reason,
            line: line.to_owned(),
        };
        let mut fields = line.split_ascii_whitespace();
        if fields.next() != Some("cpu") {
            return Err(malformed("first line is not the cpu total"));
        }
        let values: Vec<u64> = fields
            .take(8)
            .map(|v| v.parse().map_err(|_| malformed("field is not a number")))
            .collect::<Result<_, _>>()?;
        if values.len() < 5 {
            return Err(malformed("too few fields"));
        }
        let idle = values[3] + values[4];
        let busy = values.iter().sum::<u64>() - idle;
        Ok(Self {
            busy_ticks: busy,
            idle_ticks: idle,
        })
    }

    pub fn read() -> Result<Self, CpuError> {
        let path = Path::new("/proc/stat");
        let text = std::fs::read_to_string(path).map_err(|source| CpuError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Fraction of all CPUs busy between `earlier` and `self` (0.0–1.0).
    pub fn busy_fraction_since(self, earlier: Self) -> f64 {
        let busy = self.busy_ticks.saturating_sub(earlier.busy_ticks);
        let idle = self.idle_ticks.saturating_sub(earlier.idle_ticks);
        if busy + idle == 0 {
            0.0
        } else {
            busy as f64 / (busy + idle) as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_plain_stat_line() {
        let line = "4242 (kamailio) S 4200 4242 4200 0 -1 4194560 1310 0 0 0 731 2954 0 0 20 0 1 0 \
                    123456 120000000 2000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0";
        let stat = ProcStat::parse(line).unwrap();
        assert_eq!(stat.pid, 4242);
        assert_eq!(stat.comm, "kamailio");
        assert_eq!(stat.ppid, 4200);
        assert_eq!(stat.utime_ticks, 731);
        assert_eq!(stat.stime_ticks, 2954);
    }

    #[test]
    fn comm_with_spaces_and_parentheses_does_not_shift_fields() {
        let line = "77 (evil) S 1 (x) y) R 12 77 77 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1 1 1";
        let stat = ProcStat::parse(line).unwrap();
        assert_eq!(stat.pid, 77);
        assert_eq!(stat.comm, "evil) S 1 (x) y");
        assert_eq!(stat.ppid, 12);
        assert_eq!(stat.utime_ticks, 5);
        assert_eq!(stat.stime_ticks, 6);
    }

    #[test]
    fn truncated_or_garbled_lines_are_errors_not_panics() {
        for line in [
            "",
            "12",
            "12 (a",
            "12 a) S 1",
            "x (a) S 1 2 3",
            "12 (a) S 1 2",
            ")( (",
            "12 (a) S notanumber 1 1 0 -1 0 0 0 0 0 5 6",
        ] {
            assert!(ProcStat::parse(line).is_err(), "{line:?}");
        }
    }

    #[test]
    fn reads_this_process() {
        let me = ProcStat::read(std::process::id()).unwrap();
        assert_eq!(me.pid, std::process::id());
        // SAFETY: getppid cannot fail.
        assert_eq!(i64::from(me.ppid), i64::from(unsafe { libc::getppid() }));
    }

    fn stat(pid: u32, ppid: u32) -> ProcStat {
        ProcStat {
            pid,
            comm: String::new(),
            ppid,
            utime_ticks: 0,
            stime_ticks: 0,
        }
    }

    #[test]
    fn descendants_cover_grandchildren_but_not_siblings() {
        let processes = [
            stat(1, 0),
            stat(10, 1),
            stat(11, 10),
            stat(12, 10),
            stat(13, 12),
            stat(20, 1),
            stat(21, 20),
        ];
        assert_eq!(
            descendants(10, &processes),
            BTreeSet::from([10, 11, 12, 13])
        );
        assert_eq!(descendants(21, &processes), BTreeSet::from([21]));
    }

    #[test]
    fn the_tree_of_a_real_child_contains_its_grandchild() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 5 & wait"])
            .spawn()
            .unwrap();
        let root = child.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let tree = loop {
            let tree = process_tree(root);
            if tree.len() >= 2 || std::time::Instant::now() > deadline {
                break tree;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let grandchildren: Vec<u32> = tree.iter().copied().filter(|&p| p != root).collect();
        for &pid in &grandchildren {
            // SAFETY: kill with a pid we just saw as our grandchild.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(grandchildren.len(), 1, "tree: {tree:?}");
    }

    #[test]
    fn cpu_difference_saturates() {
        let before = CpuTime {
            user_us: 100,
            system_us: 50,
        };
        let after = CpuTime {
            user_us: 130,
            system_us: 40,
        };
        assert_eq!(
            after.since(before),
            CpuTime {
                user_us: 30,
                system_us: 0
            }
        );
    }

    #[test]
    fn proc_stat_sees_the_cpu_getrusage_sees() {
        let before = own_cpu();
        let proc_before = tree_cpu(std::process::id()).unwrap();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        // Burn 100 ms of CPU (however long that takes on a busy machine).
        while own_cpu().since(before).total_us() < 100_000
            && start.elapsed() < std::time::Duration::from_secs(30)
        {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        }
        let burned = own_cpu().since(before);
        assert!(burned.total_us() >= 100_000, "{burned:?}");
        let proc_burned = tree_cpu(std::process::id()).unwrap().since(proc_before);
        assert!(
            proc_burned.total_us() >= 70_000,
            "{proc_burned:?} vs {burned:?}"
        );
    }

    #[test]
    fn a_vanished_root_is_an_error() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(matches!(tree_cpu(pid), Err(CpuError::Io { .. })));
    }

    #[test]
    fn machine_busy_fraction() {
        let before = MachineCpu::parse("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3 4\n").unwrap();
        let after = MachineCpu::parse("cpu  250 0 150 950 50 0 0 0 0 0\n").unwrap();
        assert_eq!(before.busy_ticks, 200);
        assert_eq!(after.idle_ticks, 1000);
        assert!((after.busy_fraction_since(before) - 0.5).abs() < 1e-9);
        assert!(MachineCpu::parse("intr 1 2 3").is_err());
    }
}
