//! CPU time used by the servers under test and by this client, from `/proc/<pid>/stat`, so a
//! row can say what a request costs in CPU as well as how long it took: on a machine where the
//! server and the client share the cores, requests per second alone cannot tell a server that
//! waits from one that is busy. (A PostgreSQL server's own processes are not counted.)

use std::sync::Mutex;
use std::time::Duration;

/// The unit of the times in `/proc/<pid>/stat` (`USER_HZ`): fixed at 100 by the kernel's ABI
/// on the architectures this runs on, whatever the kernel's own tick rate.
const TICKS_PER_SECOND: u64 = 100;

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
            .map(|pid| cpu_of(&pid.to_string()))
            .sum::<Option<Duration>>();
        Sample {
            servers,
            client: cpu_of("self"),
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

/// User plus system time of `/proc/<pid>/stat`, fields 14 and 15 (counted after the command
/// name, which is in parentheses and may hold spaces).
fn cpu_of(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

fn parse_stat(stat: &str) -> Option<Duration> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // After the name: state (3), ppid, pgrp, session, tty_nr, tpgid, flags, minflt, cminflt,
    // majflt, cmajflt, utime (14), stime (15).
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis(
        (utime + stime) * 1000 / TICKS_PER_SECOND,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_system_times_are_read_after_the_command_name() {
        let stat = "4242 (trunkd (a) b) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 125 0 0 20 0 9 0";
        assert_eq!(parse_stat(stat), Some(Duration::from_millis(3_750)));
        assert_eq!(parse_stat("4242 (trunkd) S 1"), None);
    }

    #[test]
    fn this_processs_time_grows_while_it_computes() {
        let before = cpu_of("self").expect("this process's /proc/self/stat");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut spent = 0u64;
        while cpu_of("self") <= Some(before) {
            assert!(std::time::Instant::now() < deadline, "no CPU time counted");
            for i in 0..1_000_000u64 {
                spent = spent.wrapping_add(i * i);
            }
            std::hint::black_box(spent);
        }
    }
}
