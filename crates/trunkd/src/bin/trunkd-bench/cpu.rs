//! CPU time used by the servers under test and by this client, from `/proc/<pid>/stat`, so a
//! row can say what a request costs in CPU as well as how long it took: on a machine where the
//! server and the client share the cores, requests per second alone cannot tell a server that
//! waits from one that is busy. (A PostgreSQL server's own processes are not counted.)

use std::sync::Mutex;
use std::time::Duration;

/// The servers whose CPU time is counted.
static SERVERS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Counts `pid`'s CPU time from now on.
pub fn watch(pid: u32) {
    if let Ok(mut servers) = SERVERS.lock() {
        servers.push(pid);
    }
}

/// Stops counting `pid` (it is about to stop).
pub fn forget(pid: u32) {
    if let Ok(mut servers) = SERVERS.lock() {
        servers.retain(|watched| *watched != pid);
    }
}

/// CPU time (user and system, every thread) used so far.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// By the watched servers together; `None` where `/proc` cannot be read.
    servers: Option<Duration>,
    /// By this process.
    client: Option<Duration>,
}

impl Sample {
    pub fn now() -> Sample {
        let pids = SERVERS.lock().map(|pids| pids.clone()).unwrap_or_default();
        let servers = pids
            .iter()
            .map(|pid| cpu_of(*pid))
            .sum::<Option<Duration>>();
        Sample {
            servers,
            client: cpu_of(std::process::id()),
        }
    }

    /// What was used from `earlier` to this sample.
    pub fn since(&self, earlier: &Sample) -> Used {
        let minus = |now: Option<Duration>, then: Option<Duration>| now?.checked_sub(then?);
        Used {
            servers: minus(self.servers, earlier.servers),
            client: minus(self.client, earlier.client),
        }
    }
}

/// CPU time used during one workload.
#[derive(Debug, Clone, Copy, Default)]
pub struct Used {
    pub servers: Option<Duration>,
    pub client: Option<Duration>,
}

fn cpu_of(pid: u32) -> Option<Duration> {
    trunkd::api::process_metrics::cpu_seconds_of(pid).map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_cpu_time_grows_while_it_computes() {
        let before = cpu_of(std::process::id()).expect("this process's /proc/<pid>/stat");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut spent = 0u64;
        while cpu_of(std::process::id()) <= Some(before) {
            assert!(std::time::Instant::now() < deadline, "no CPU time counted");
            for i in 0..1_000_000u64 {
                spent = spent.wrapping_add(i * i);
            }
            std::hint::black_box(spent);
        }
    }
}
