//! The process's own metrics under their usual names (`process_resident_memory_bytes`,
//! `process_open_fds`, `process_max_fds`, `process_cpu_seconds_total`,
//! `process_start_time_seconds`), read from `/proc/self` at each scrape. Written here because
//! prometheus-client has no process collector, and the crates that read `/proc` whole (procfs)
//! are far more than five numbers need. Elsewhere than Linux the family is empty.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// The unit of the times in `/proc/<pid>/stat`: the kernel's USER_HZ, 100 on every Linux
/// architecture trunkd is built for (x86-64, arm64).
const TICKS_PER_SECOND: f64 = 100.0;

/// One reading of the process's numbers; a number `/proc` did not give is `None`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ProcessSample {
    pub resident_bytes: Option<u64>,
    pub virtual_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    pub cpu_seconds: Option<f64>,
    /// Seconds since the Unix epoch.
    pub start_time: Option<f64>,
}

impl ProcessSample {
    /// Reads `/proc/self` now.
    pub fn read() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let status = read("/proc/self/status");
        let stat = read("/proc/self/stat").map(|text| parse_stat(&text));
        let boot_time = read("/proc/stat").and_then(|text| parse_boot_time(&text));
        let (cpu_seconds, start_ticks) = stat.unwrap_or_default();
        Self {
            resident_bytes: status.as_deref().and_then(|s| status_kib(s, "VmRSS:")),
            virtual_bytes: status.as_deref().and_then(|s| status_kib(s, "VmSize:")),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|entries| entries.count() as u64),
            max_fds: read("/proc/self/limits").and_then(|text| parse_max_fds(&text)),
            cpu_seconds,
            start_time: boot_time
                .zip(start_ticks)
                .map(|(boot, ticks)| boot as f64 + ticks / TICKS_PER_SECOND),
        }
    }
}

/// A `Name:   123 kB` line of `/proc/<pid>/status`, in bytes.
fn status_kib(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find_map(|line| line.strip_prefix(name))?;
    let kib: u64 = line.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// CPU seconds (user and system, every thread) process `pid` has used so far, from
/// `/proc/<pid>/stat`; `None` where that cannot be read (the benchmark tool reads its
/// server's and its own).
pub fn cpu_seconds_of(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat).0
}

/// From `/proc/<pid>/stat`: CPU seconds (user + system) and the start time in ticks after
/// boot. The command name (field 2) is in parentheses and may hold spaces or parentheses, so
/// the fields are counted from after its last `)`.
fn parse_stat(stat: &str) -> (Option<f64>, Option<f64>) {
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return (None, None);
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): field N is at N - 3.
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    let cpu = field(14)
        .zip(field(15))
        .map(|(user, system)| (user + system) / TICKS_PER_SECOND);
    (cpu, field(22))
}

/// The `btime` line of `/proc/stat`: when the machine booted, in seconds since the epoch.
fn parse_boot_time(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The soft limit of `Max open files` in `/proc/<pid>/limits`.
fn parse_max_fds(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?;
    line.split_whitespace().next()?.parse().ok()
}

/// Encodes a fresh [`ProcessSample`] on each scrape.
#[derive(Debug, Default)]
pub struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let sample = ProcessSample::read();
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                sample.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                sample.virtual_bytes,
            ),
            ("process_open_fds", "Open file descriptors", sample.open_fds),
            (
                "process_max_fds",
                "Most file descriptors the process may open",
                sample.max_fds,
            ),
        ];
        for (name, help, value) in gauges {
            if let Some(value) = value.and_then(|v| i64::try_from(v).ok()) {
                let gauge = ConstGauge::new(value);
                gauge.encode(encoder.encode_descriptor(
                    name,
                    help,
                    None,
                    gauge.metric_type(),
                )?)?;
            }
        }
        if let Some(seconds) = sample.cpu_seconds {
            let counter = ConstCounter::new(seconds);
            counter.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "User and system CPU time spent, in seconds",
                None,
                counter.metric_type(),
            )?)?;
        }
        if let Some(start) = sample.start_time {
            let gauge = ConstGauge::new(start);
            gauge.encode(encoder.encode_descriptor(
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch, in seconds",
                None,
                gauge.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        // A command name with a space and a parenthesis; utime 250, stime 50, start 12345.
        let stat =
            "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 12345 1000 200";
        assert_eq!(parse_stat(stat), (Some(3.0), Some(12345.0)));
        assert_eq!(parse_stat("garbage"), (None, None));
    }

    #[test]
    fn status_limits_and_boot_time_are_read() {
        let status = "Name:\ttrunkd\nVmSize:\t  2048 kB\nVmRSS:\t   1024 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(1024 * 1024));
        assert_eq!(status_kib(status, "VmSwap:"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(parse_max_fds(limits), Some(1024));
        assert_eq!(
            parse_boot_time("cpu 1 2 3\nbtime 1700000000\n"),
            Some(1_700_000_000)
        );
    }

    #[test]
    fn this_process_reads_itself() {
        let sample = ProcessSample::read();
        assert!(
            sample.resident_bytes.unwrap_or(0) > 1024 * 1024,
            "{sample:?}"
        );
        assert!(sample.open_fds.unwrap_or(0) >= 3, "{sample:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let start = sample.start_time.unwrap_or(0.0);
        assert!(start > now - 86_400.0 && start <= now + 1.0, "{sample:?}");
    }
}
