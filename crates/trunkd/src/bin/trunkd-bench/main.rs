//! `trunkd-bench`: starts a real `trunkd` server (embedded SQLite, and PostgreSQL when given a
//! URL), drives it over HTTP on loopback from concurrent clients, and prints p50/p95/p99
//! latency and throughput per operation plus the server's peak RSS. Targets are stated in the
//! README's BENCHMARKS section; the bench reports, it does not judge.

mod addresses;
mod api;
mod cpu;
mod drain;
mod server;
mod stats;
mod workloads;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use server::{BenchServer, Store};
use stats::Summary;
use workloads::Scale;

/// What can stop a bench run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("{request} answered {status}: {body}")]
    Status {
        request: String,
        status: u16,
        body: String,
    },
    #[error("response is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Unexpected(String),
    #[error("server: {0}")]
    Server(String),
    #[error("PostgreSQL: {0}")]
    Database(#[from] sqlx::Error),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Parser)]
#[command(name = "trunkd-bench", about = "Benchmark a trunkd server over HTTP")]
struct Args {
    /// The trunkd binary to start (default: the one next to this program).
    #[arg(long)]
    trunkd: Option<PathBuf>,
    /// Also run every workload on PostgreSQL: an admin URL such as
    /// postgres://postgres@127.0.0.1:5432/postgres (a database is created and dropped).
    #[arg(long)]
    postgres: Option<String>,
    /// Run only on PostgreSQL (needs --postgres).
    #[arg(long, requires = "postgres")]
    postgres_only: bool,
    /// Concurrent clients for the many-client workloads.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// A small run that finishes in seconds, to check the bench itself works.
    #[arg(long)]
    quick: bool,
    /// An extra argument for `trunkd serve` (repeatable), e.g. --server-arg=--driver=noop.
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
    /// Run only the workloads whose name contains this (ceiling, create, show, many, allocate,
    /// mixed, ipam, drain).
    #[arg(long)]
    only: Option<String>,
    /// Instead, start this many servers on one PostgreSQL database and run the create and
    /// mixed workloads on all of them at once (the clients shared out among them, each server
    /// on trunks of its own), then report the share of write transactions retried for a
    /// serialization conflict, from the servers' `/metrics`.
    #[arg(long, default_value_t = 1, requires = "postgres", value_parser = clap::value_parser!(u16).range(1..=8))]
    servers: u16,
}

fn trunkd_path(args: &Args) -> Result<PathBuf, BenchError> {
    if let Some(path) = &args.trunkd {
        return Ok(path.clone());
    }
    let beside = std::env::current_exe()?.with_file_name("trunkd");
    if beside.exists() {
        Ok(beside)
    } else {
        Err(BenchError::Server(format!(
            "{} not found: build it (cargo build --release --bins) or pass --trunkd",
            beside.display()
        )))
    }
}

/// How long the bench waits for a workload's outbox events to reach the drivers.
const DRAIN_LIMIT: Duration = Duration::from_secs(300);

/// Runs every workload against one fresh server, letting the outbox drain after each so the
/// next is measured alone; returns the rows and the server's peak RSS.
async fn run_on(
    store: &Store,
    args: &Args,
    scale: &Scale,
) -> Result<(Vec<Summary>, Option<u64>), BenchError> {
    let trunkd = trunkd_path(args)?;
    let server = BenchServer::start(&trunkd, store, &args.server_args).await?;
    eprintln!(
        "trunkd-bench: server pid {} at {}",
        server.pid(),
        server.base
    );
    let outcome = workloads_on(&server, args, scale).await;
    let peak = server.peak_rss_kib();
    // Stopped (and its database dropped) whether or not the workloads succeeded; its log is
    // kept when they failed.
    server.stop(outcome.is_err()).await?;
    Ok((
        outcome?.iter().map(stats::Measured::summary).collect(),
        peak,
    ))
}

/// Every selected workload against `server`, each followed by an outbox drain.
async fn workloads_on(
    server: &BenchServer,
    args: &Args,
    scale: &Scale,
) -> Result<Vec<stats::Measured>, BenchError> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients * 2)
        .build()?;
    let wanted = |name: &str| args.only.as_deref().is_none_or(|only| name.contains(only));
    let mut rows = Vec::new();
    let api = api::Api::new(http.clone(), &server.base, "bench");
    let drained = |what: &'static str, took: Duration| {
        eprintln!(
            "trunkd-bench: the outbox drained {:.1} s after the {what} workload",
            took.as_secs_f64()
        )
    };
    if wanted("ceiling") {
        eprintln!("trunkd-bench: the smallest call");
        rows.push(workloads::ceiling(&api, scale).await?);
    }
    if wanted("create") {
        let list_api = api::Api::new(http.clone(), &server.base, "bench-list");
        eprintln!("trunkd-bench: create and list");
        rows.push(workloads::create(&list_api, scale).await?);
        drained("create", api.wait_for_outbox(DRAIN_LIMIT).await?);
        rows.push(workloads::list(&list_api, scale).await?);
    }
    if wanted("show") {
        eprintln!("trunkd-bench: show");
        rows.extend(workloads::show(&api, scale).await?);
        drained("show", api.wait_for_outbox(DRAIN_LIMIT).await?);
    }
    if wanted("many") {
        eprintln!("trunkd-bench: many subports");
        rows.extend(workloads::many_subports(&api, scale).await?);
        drained("many-subports", api.wait_for_outbox(DRAIN_LIMIT).await?);
    }
    if wanted("ipam") {
        eprintln!("trunkd-bench: IP addresses on a /16");
        rows.extend(addresses::on_a_slash_16(&api, scale).await?);
        drained("ipam", api.wait_for_outbox(DRAIN_LIMIT).await?);
    }
    if wanted("allocate") {
        eprintln!("trunkd-bench: VLAN allocation");
        rows.extend(workloads::allocation(&api, scale).await?);
        drained("allocate", api.wait_for_outbox(DRAIN_LIMIT).await?);
    }
    if wanted("mixed") {
        // A project of its own: its list pages hold its own trunks whether it runs alone or
        // after the others (in the bench's project, the allocation workload's 64 trunks of 64
        // subports each made every page several times larger after a full run).
        let mixed_api = api::Api::new(http.clone(), &server.base, "bench-mixed");
        eprintln!("trunkd-bench: mixed");
        rows.extend(workloads::mixed(&mixed_api, scale).await?);
        drained("mixed", api.wait_for_outbox(DRAIN_LIMIT).await?);
    }
    if wanted("drain") {
        let drain_api = api::Api::new(http, &server.base, "bench-drain");
        eprintln!("trunkd-bench: outbox drain");
        println!(
            "{}",
            drain::drain(&drain_api, scale, DRAIN_LIMIT).await?.line()
        );
    }
    Ok(rows)
}

/// The workloads' sizes for `clients` clients: full, or seconds' worth with `--quick`.
fn scale_of(args: &Args, clients: usize) -> Scale {
    if args.quick {
        Scale::quick(clients)
    } else {
        Scale::full(clients)
    }
}

/// The create and mixed workloads on `count` servers sharing one PostgreSQL database at once,
/// and their write transactions' conflicts.
async fn run_shared(admin_url: &str, args: &Args, count: usize) -> Result<(), BenchError> {
    let clients = (args.clients / count).max(1);
    let scale = scale_of(args, clients);
    let trunkd = trunkd_path(args)?;
    let store = Store::Postgres {
        admin_url: admin_url.to_string(),
    };
    let first = BenchServer::start(&trunkd, &store, &args.server_args).await?;
    let mut others = Vec::new();
    for _ in 1..count {
        match BenchServer::start_sharing(&trunkd, &first, &args.server_args).await {
            Ok(server) => others.push(server),
            Err(error) => {
                for server in others {
                    server.stop(true).await?;
                }
                first.stop(true).await?;
                return Err(error);
            }
        }
    }
    let outcome = shared_workloads(&first, &others, &scale).await;
    for server in others {
        server.stop(outcome.is_err()).await?;
    }
    first.stop(outcome.is_err()).await?;
    let (rows, phases) = outcome?;
    let title = format!("PostgreSQL, {count} servers on one database, {clients} clients each");
    println!("{}", stats::table(&title, &rows, None));
    for (phase, counts) in phases {
        let share = if counts.runs > 0.0 {
            100.0 * counts.conflicts / counts.runs
        } else {
            0.0
        };
        println!(
            "{phase}: write transaction runs {}, retried for a serialization conflict {} \
             ({share:.2} %), requests out of retries {}",
            counts.runs, counts.conflicts, counts.exhausted
        );
    }
    Ok(())
}

/// Runs create, then mixed, on every server at once (each in projects of its own, so on its
/// own trunks); returns every server's rows and their write counters, summed over the servers,
/// for each workload.
async fn shared_workloads(
    first: &BenchServer,
    others: &[BenchServer],
    scale: &Scale,
) -> Result<(Vec<Summary>, Vec<(&'static str, api::WriteCounts)>), BenchError> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(scale.clients * 2)
        .build()?;
    let apis: Vec<(api::Api, api::Api)> = std::iter::once(first)
        .chain(others)
        .enumerate()
        .map(|(i, server)| {
            (
                api::Api::new(http.clone(), &server.base, &format!("bench-{i}")),
                api::Api::new(http.clone(), &server.base, &format!("bench-list-{i}")),
            )
        })
        .collect();
    let counts = || async {
        let mut sum = api::WriteCounts::default();
        for (api, _) in &apis {
            sum = sum.add(api.write_transactions().await?);
        }
        Ok::<_, BenchError>(sum)
    };
    let before = counts().await?;
    eprintln!("trunkd-bench: create on {} servers", apis.len());
    let created = futures_util::future::try_join_all(
        apis.iter()
            .map(|(_, list_api)| workloads::create(list_api, scale)),
    )
    .await?;
    for (api, _) in &apis {
        api.wait_for_outbox(DRAIN_LIMIT).await?;
    }
    let created_counts = counts().await?;
    eprintln!("trunkd-bench: mixed on {} servers", apis.len());
    let mixed = futures_util::future::try_join_all(
        apis.iter().map(|(api, _)| workloads::mixed(api, scale)),
    )
    .await?;
    let after = counts().await?;
    // The servers and their clients ran at once, so the CPU each run saw was every server's
    // and every client's: no row can be charged with it.
    let rows = created
        .into_iter()
        .chain(mixed.into_iter().flatten())
        .map(|measured| measured.with_cpu(cpu::Used::default()).summary())
        .collect();
    Ok((
        rows,
        vec![
            ("create", created_counts.since(before)),
            ("mixed", after.since(created_counts)),
        ],
    ))
}

async fn run(args: Args) -> Result<(), BenchError> {
    if args.servers > 1 {
        let admin_url = args.postgres.clone().unwrap_or_default();
        return run_shared(&admin_url, &args, usize::from(args.servers)).await;
    }
    let scale = scale_of(&args, args.clients);
    let mut sqlite_rows = None;
    if !args.postgres_only {
        let (rows, peak) = run_on(&Store::Sqlite, &args, &scale).await?;
        println!("{}", stats::table("Embedded SQLite", &rows, peak));
        sqlite_rows = Some(rows);
    }
    if let Some(admin_url) = &args.postgres {
        let store = Store::Postgres {
            admin_url: admin_url.clone(),
        };
        let (rows, peak) = run_on(&store, &args, &scale).await?;
        println!("{}", stats::table("PostgreSQL", &rows, peak));
        if let Some(sqlite_rows) = &sqlite_rows {
            println!("{}", stats::comparison(sqlite_rows, &rows));
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("trunkd-bench: {error}");
            ExitCode::FAILURE
        }
    }
}
