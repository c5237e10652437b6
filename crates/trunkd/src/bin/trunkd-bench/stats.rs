//! Latency samples and the table the bench prints. Percentiles are nearest-rank over every
//! sample (the bench keeps them all: the largest run has a few hundred thousand).

use std::fmt::Write as _;
use std::time::Duration;

use crate::cpu;

/// What one workload measured for one operation.
#[derive(Debug, Clone)]
pub struct Measured {
    pub operation: String,
    pub clients: usize,
    pub latencies: Vec<Duration>,
    /// Wall-clock time of the whole run, for throughput.
    pub wall: Duration,
    /// CPU time the server and this client used in that time, where the run was timed as a
    /// whole (not for one operation among others).
    pub cpu: cpu::Used,
}

impl Measured {
    pub fn new(operation: &str, clients: usize, latencies: Vec<Duration>, wall: Duration) -> Self {
        Measured {
            operation: operation.to_string(),
            clients,
            latencies,
            wall,
            cpu: cpu::Used::default(),
        }
    }

    /// With the CPU time the run used.
    pub fn with_cpu(mut self, used: cpu::Used) -> Self {
        self.cpu = used;
        self
    }

    pub fn summary(&self) -> Summary {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let per_second = if self.wall.is_zero() {
            0.0
        } else {
            sorted.len() as f64 / self.wall.as_secs_f64()
        };
        Summary {
            operation: self.operation.clone(),
            clients: self.clients,
            requests: sorted.len(),
            p50: percentile(&sorted, 50.0),
            p95: percentile(&sorted, 95.0),
            p99: percentile(&sorted, 99.0),
            per_second,
            server_cpu_per_request: per_request(self.cpu.servers, sorted.len()),
            client_cpu_per_request: per_request(self.cpu.client, sorted.len()),
        }
    }
}

fn per_request(used: Option<Duration>, requests: usize) -> Option<Duration> {
    let requests = u32::try_from(requests).ok().filter(|n| *n > 0)?;
    Some(used? / requests)
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Summary {
    pub operation: String,
    pub clients: usize,
    pub requests: usize,
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
    pub per_second: f64,
    /// CPU time per request, of the server(s) and of the bench client.
    pub server_cpu_per_request: Option<Duration>,
    pub client_cpu_per_request: Option<Duration>,
}

/// Nearest-rank percentile of sorted samples; zero when there are none.
pub fn percentile(sorted: &[Duration], pct: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((pct / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1000.0)
}

/// Whole microseconds, or nothing where the run was not timed as a whole.
fn micros(duration: Option<Duration>) -> String {
    duration.map_or_else(String::new, |d| format!("{:.0}", d.as_secs_f64() * 1e6))
}

/// The results table, as Markdown so it can go into the README unchanged.
pub fn table(title: &str, rows: &[Summary], peak_rss_kib: Option<u64>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### {title}\n");
    let _ = writeln!(
        out,
        "| operation | clients | requests | p50 ms | p95 ms | p99 ms | requests/s \
         | server CPU µs/request | bench CPU µs/request |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {:.0} | {} | {} |",
            row.operation,
            row.clients,
            row.requests,
            ms(row.p50),
            ms(row.p95),
            ms(row.p99),
            row.per_second,
            micros(row.server_cpu_per_request),
            micros(row.client_cpu_per_request),
        );
    }
    match peak_rss_kib {
        Some(kib) => {
            let _ = writeln!(
                out,
                "\nServer peak RSS (VmHWM) over the whole run: {:.1} MiB",
                kib as f64 / 1024.0
            );
        }
        None => {
            let _ = writeln!(out, "\nServer peak RSS: not available on this system");
        }
    }
    out
}

/// PostgreSQL against SQLite, row by row: how many times slower (latency) and how many times
/// the throughput.
pub fn comparison(sqlite: &[Summary], postgres: &[Summary]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### PostgreSQL / SQLite\n");
    let _ = writeln!(
        out,
        "| operation | clients | p50 ratio | p99 ratio | throughput ratio |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for (lite, pg) in sqlite.iter().zip(postgres) {
        let ratio = |a: Duration, b: Duration| {
            if b.is_zero() {
                f64::NAN
            } else {
                a.as_secs_f64() / b.as_secs_f64()
            }
        };
        let throughput = if lite.per_second == 0.0 {
            f64::NAN
        } else {
            pg.per_second / lite.per_second
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} | {:.2} | {:.2} |",
            lite.operation,
            lite.clients,
            ratio(pg.p50, lite.p50),
            ratio(pg.p99, lite.p99),
            throughput
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|v| Duration::from_millis(*v)).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let sorted = millis(&(1..=100).collect::<Vec<_>>());
        assert_eq!(percentile(&sorted, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&sorted, 95.0), Duration::from_millis(95));
        assert_eq!(percentile(&sorted, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&millis(&[7]), 99.0), Duration::from_millis(7));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn summary_sorts_and_counts_throughput() {
        let measured = Measured::new("op", 2, millis(&[30, 10, 20, 40]), Duration::from_secs(2));
        let summary = measured.summary();
        assert_eq!(summary.requests, 4);
        assert_eq!(summary.p50, Duration::from_millis(20));
        assert_eq!(summary.p99, Duration::from_millis(40));
        assert!((summary.per_second - 2.0).abs() < 1e-9);
    }
}
