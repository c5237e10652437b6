//! The benchmark's workloads, each setting up what it needs through the API, then measuring
//! one operation. Setup calls are not measured; every measured call is checked (status and,
//! where it says something, the subport count), so a fast failure is never a result.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use tokio::task::JoinSet;

use crate::api::{Api, Vlan};
use crate::cpu;
use crate::stats::Measured;
use crate::BenchError;

/// How much work each workload does.
#[derive(Debug, Clone)]
pub struct Scale {
    pub clients: usize,
    /// Trunks created by the create workload, then listed.
    pub trunks_to_list: usize,
    pub list_page: usize,
    pub list_rounds: usize,
    /// Subports in the one-call and one-at-a-time workloads.
    pub big: usize,
    pub big_rounds: usize,
    /// Subports on the trunk the show workloads read.
    pub show_subports: usize,
    pub single_client_requests: usize,
    pub many_client_requests: usize,
    pub mixed: Duration,
    /// Ports created one by one in each phase of the IPAM workload.
    pub ipam_ports: usize,
    /// Ports created (in bulk) between its first and second phases.
    pub ipam_fill: usize,
    /// Subports each client adds, one per call, in the allocation workload.
    pub allocation_per_client: usize,
    /// Trunks created in bulk calls, whose events the drain workload times the delivery of.
    pub drain_trunks: usize,
}

impl Scale {
    /// The workloads at full size, as the README's Benchmarks section lists them.
    pub fn full(clients: usize) -> Scale {
        Scale {
            clients,
            trunks_to_list: 10_000,
            list_page: 1_000,
            list_rounds: 5,
            big: 4_094,
            big_rounds: 5,
            show_subports: 100,
            single_client_requests: 5_000,
            many_client_requests: 50_000,
            mixed: Duration::from_secs(30),
            ipam_ports: 1_000,
            ipam_fill: 30_000,
            allocation_per_client: 64,
            drain_trunks: 20_000,
        }
    }

    /// A few seconds' worth, to prove the bench still works (the test suite runs this).
    pub fn quick(clients: usize) -> Scale {
        Scale {
            clients,
            trunks_to_list: 300,
            list_page: 100,
            list_rounds: 2,
            big: 200,
            big_rounds: 2,
            show_subports: 100,
            single_client_requests: 200,
            many_client_requests: 1_000,
            mixed: Duration::from_secs(2),
            ipam_ports: 100,
            ipam_fill: 1_000,
            allocation_per_client: 8,
            drain_trunks: 500,
        }
    }
}

/// Runs `total` calls of `op` (given the call's index) from `clients` concurrent tasks;
/// returns each call's latency, the wall time of the whole run and the CPU time it used.
async fn concurrently<F, Fut>(
    clients: usize,
    total: usize,
    op: F,
) -> Result<(Vec<Duration>, Duration, cpu::Used), BenchError>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Duration, BenchError>> + Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = cpu::Sample::now();
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..clients.max(1) {
        let (op, next) = (op.clone(), next.clone());
        tasks.spawn(async move {
            let mut samples = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= total {
                    return Ok::<_, BenchError>(samples);
                }
                samples.push(op(index).await?);
            }
        });
    }
    let mut all = Vec::with_capacity(total);
    while let Some(joined) = tasks.join_next().await {
        all.extend(joined.map_err(|e| BenchError::Unexpected(e.to_string()))??);
    }
    let wall = started.elapsed();
    Ok((all, wall, cpu::Sample::now().since(&cpu_before)))
}

fn label(count: usize) -> String {
    // 4094 -> "4,094"
    let digits = count.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn vlans(ports: &[String]) -> Vec<Vlan<'_>> {
    ports
        .iter()
        .enumerate()
        .map(|(i, port_id)| Vlan {
            port_id,
            vlan: Some((i % 4094 + 1) as u16),
        })
        .collect()
}

/// Creates trunks with no subports from many clients (in a project of their own, for `list`).
pub async fn create(api: &Api, scale: &Scale) -> Result<Measured, BenchError> {
    let network = api.create_network("bench-list").await?;
    let parents = Arc::new(api.create_ports(&network, scale.trunks_to_list).await?);
    let (latencies, wall, used) = {
        let (api, parents) = (api.clone(), parents.clone());
        concurrently(scale.clients, parents.len(), move |i| {
            let (api, parents) = (api.clone(), parents.clone());
            async move { Ok(api.create_trunk(&parents[i], &[]).await?.1) }
        })
        .await?
    };
    Ok(Measured::new("create trunk (no subports)", scale.clients, latencies, wall).with_cpu(used))
}

/// Lists the trunks `create` made, page by page, checking every one comes back once.
pub async fn list(api: &Api, scale: &Scale) -> Result<Measured, BenchError> {
    let mut page_latencies = Vec::new();
    let started = Instant::now();
    for _ in 0..scale.list_rounds {
        let mut seen = HashSet::new();
        let mut marker: Option<String> = None;
        loop {
            let (ids, elapsed) = api.list_trunks(scale.list_page, marker.as_deref()).await?;
            page_latencies.push(elapsed);
            let full = ids.len() == scale.list_page;
            marker = ids.last().cloned();
            seen.extend(ids);
            if !full {
                break;
            }
        }
        if seen.len() != scale.trunks_to_list {
            return Err(BenchError::Unexpected(format!(
                "listing returned {} distinct trunks, expected {}",
                seen.len(),
                scale.trunks_to_list
            )));
        }
    }
    Ok(Measured::new(
        &format!(
            "list {} trunks, page of {}",
            label(scale.trunks_to_list),
            label(scale.list_page)
        ),
        1,
        page_latencies,
        started.elapsed(),
    ))
}

/// The smallest API call (the trunk extension's description: no store, a small body) from
/// many clients: what the HTTP layers and this client cost on the machine, so the other rows
/// can be read against the most requests per second it serves at all.
pub async fn ceiling(api: &Api, scale: &Scale) -> Result<Measured, BenchError> {
    let (latencies, wall, used) = {
        let api = api.clone();
        concurrently(scale.clients, scale.many_client_requests, move |_| {
            let api = api.clone();
            async move { api.show_trunk_extension().await }
        })
        .await?
    };
    let operation = "show the trunk extension (no store)";
    Ok(Measured::new(operation, scale.clients, latencies, wall).with_cpu(used))
}

/// Reads one trunk with `show_subports` subports, and its parent port with trunk_details,
/// first from one client (latency), then from many (throughput).
pub async fn show(api: &Api, scale: &Scale) -> Result<Vec<Measured>, BenchError> {
    let network = api.create_network("bench-show").await?;
    let ports = api.create_ports(&network, scale.show_subports + 1).await?;
    let (parent, subports) = ports
        .split_first()
        .ok_or_else(|| BenchError::Unexpected("no ports created for the show workload".into()))?;
    let (trunk, _) = api.create_trunk(parent, &vlans(subports)).await?;
    let details = api.port(parent).await?;
    if details["trunk_details"]["sub_ports"]
        .as_array()
        .map(Vec::len)
        != Some(subports.len())
    {
        return Err(BenchError::Unexpected(format!(
            "port show lacks the trunk's subports: {}",
            details["trunk_details"]
        )));
    }
    let what = label(scale.show_subports);
    let (show_api, trunk) = (api.clone(), Arc::new(trunk));
    let mut results = one_then_many(scale, &format!("show trunk ({what} subports)"), move || {
        let (api, trunk) = (show_api.clone(), trunk.clone());
        async move { api.show_trunk(&trunk).await }
    })
    .await?;
    let (port_api, parent) = (api.clone(), Arc::new(parent.clone()));
    let operation = format!("port show with trunk_details ({what} subports)");
    results.extend(
        one_then_many(scale, &operation, move || {
            let (api, parent) = (port_api.clone(), parent.clone());
            async move { api.show_port(&parent).await }
        })
        .await?,
    );
    Ok(results)
}

/// Runs a read from one client (its latency) and then from many (throughput).
async fn one_then_many<F, Fut>(
    scale: &Scale,
    operation: &str,
    read: F,
) -> Result<Vec<Measured>, BenchError>
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Duration, BenchError>> + Send + 'static,
{
    let mut results = Vec::new();
    for (clients, total) in [
        (1, scale.single_client_requests),
        (scale.clients, scale.many_client_requests),
    ] {
        let read = read.clone();
        let (latencies, wall, used) = concurrently(clients, total, move |_| read()).await?;
        results.push(Measured::new(operation, clients, latencies, wall).with_cpu(used));
    }
    Ok(results)
}

/// The one-call workloads on `big` subports: create a trunk with them (and delete it), add
/// them to an empty trunk and remove them; then the same one subport per call.
pub async fn many_subports(api: &Api, scale: &Scale) -> Result<Vec<Measured>, BenchError> {
    let network = api.create_network("bench-big").await?;
    let ports = api.create_ports(&network, scale.big + 3).await?;
    let (parents, members) = ports.split_at(3);
    let subports = vlans(members);
    let member_ids: Vec<&str> = members.iter().map(String::as_str).collect();
    let n = label(scale.big);

    let (mut creates, mut deletes) = (Vec::new(), Vec::new());
    let started = Instant::now();
    for _ in 0..scale.big_rounds {
        let (trunk, elapsed) = api.create_trunk(&parents[0], &subports).await?;
        creates.push(elapsed);
        deletes.push(api.delete_trunk(&trunk).await?);
    }
    let wall = started.elapsed();
    let mut results = vec![
        Measured::new(&format!("create trunk with {n} subports"), 1, creates, wall),
        Measured::new(&format!("delete trunk with {n} subports"), 1, deletes, wall),
    ];

    let (trunk, _) = api.create_trunk(&parents[1], &[]).await?;
    let (mut adds, mut removes) = (Vec::new(), Vec::new());
    let started = Instant::now();
    for _ in 0..scale.big_rounds {
        adds.push(api.add_subports(&trunk, &subports, scale.big).await?);
        removes.push(api.remove_subports(&trunk, &member_ids, 0).await?);
    }
    let wall = started.elapsed();
    results.push(Measured::new(
        &format!("add {n} subports in one call"),
        1,
        adds,
        wall,
    ));
    results.push(Measured::new(
        &format!("remove {n} subports in one call"),
        1,
        removes,
        wall,
    ));

    let (trunk, _) = api.create_trunk(&parents[2], &[]).await?;
    let mut adds = Vec::with_capacity(scale.big);
    let started = Instant::now();
    for (count, subport) in subports.iter().enumerate() {
        adds.push(
            api.add_subports(&trunk, std::slice::from_ref(subport), count + 1)
                .await?,
        );
    }
    results.push(Measured::new(
        &format!("add {n} subports, one per call"),
        1,
        adds,
        started.elapsed(),
    ));
    let mut removes = Vec::with_capacity(scale.big);
    let started = Instant::now();
    for (count, port) in member_ids.iter().enumerate() {
        removes.push(
            api.remove_subports(&trunk, std::slice::from_ref(port), scale.big - count - 1)
                .await?,
        );
    }
    results.push(Measured::new(
        &format!("remove {n} subports, one per call"),
        1,
        removes,
        started.elapsed(),
    ));
    Ok(results)
}

/// Server-side VLAN allocation (`"segmentation_id": "auto"`): `big` subports added to an
/// empty trunk in one call (a fresh trunk each round, so no ID rests from the last), then one
/// subport per call from every client, each on a trunk of its own.
pub async fn allocation(api: &Api, scale: &Scale) -> Result<Vec<Measured>, BenchError> {
    let network = api.create_network("bench-allocate").await?;
    let ports = api
        .create_ports(&network, scale.big_rounds + scale.big)
        .await?;
    let (parents, members) = ports.split_at(scale.big_rounds);
    let autos: Vec<Vlan<'_>> = members
        .iter()
        .map(|port_id| Vlan {
            port_id,
            vlan: None,
        })
        .collect();
    let n = label(scale.big);
    let mut adds = Vec::with_capacity(scale.big_rounds);
    let started = Instant::now();
    for parent in parents {
        let (trunk, _) = api.create_trunk(parent, &[]).await?;
        adds.push(api.add_subports(&trunk, &autos, scale.big).await?);
        api.delete_trunk(&trunk).await?;
    }
    let mut results = vec![Measured::new(
        &format!("add {n} subports with \"auto\" in one call"),
        1,
        adds,
        started.elapsed(),
    )];

    let clients = scale.clients.max(1);
    let per_client = scale.allocation_per_client;
    let ports = api
        .create_ports(&network, clients + clients * per_client)
        .await?;
    let (parents, members) = ports.split_at(clients);
    let mut trunks = Vec::with_capacity(clients);
    for parent in parents {
        trunks.push(api.create_trunk(parent, &[]).await?.0);
    }
    let (trunks, members) = (Arc::new(trunks), Arc::new(members.to_vec()));
    let api = Arc::new(api.clone());
    // Call `index` adds member `index` to trunk `index % clients`: every trunk gets calls from
    // whichever client takes them, as many clients on many trunks do.
    let (latencies, wall, used) = concurrently(clients, clients * per_client, move |index| {
        let (api, trunks, members) = (api.clone(), trunks.clone(), members.clone());
        async move {
            api.add_auto_subport(&trunks[index % trunks.len()], &members[index])
                .await
        }
    })
    .await?;
    results.push(
        Measured::new(
            &format!("add one subport with \"auto\" per call, {clients} trunks"),
            clients,
            latencies,
            wall,
        )
        .with_cpu(used),
    );
    Ok(results)
}

/// What each mixed-workload client owns: a trunk with fixed subports, a port it adds and
/// removes, and a spare parent it builds and deletes trunks on.
struct Owned {
    trunk: String,
    toggled_port: String,
    spare_parent: String,
}

const MIXED_OPERATIONS: [&str; 7] = [
    "mixed: show trunk",
    "mixed: port show",
    "mixed: list trunks, page of 100",
    "mixed: add or remove one subport",
    "mixed: rename trunk",
    "mixed: create trunk",
    "mixed: delete trunk",
];

/// Many clients for a fixed time, each picking at random: show a trunk (45%), show a parent
/// port (15%), list a page (10%), add or remove a subport on its own trunk (15%), rename its
/// trunk (10%), create and delete a trunk (5%).
pub async fn mixed(api: &Api, scale: &Scale) -> Result<Vec<Measured>, BenchError> {
    const FIXED_SUBPORTS: usize = 10;
    let network = api.create_network("bench-mixed").await?;
    let per_client = FIXED_SUBPORTS + 3;
    let ports = api
        .create_ports(&network, scale.clients * per_client)
        .await?;
    let mut owned = Vec::with_capacity(scale.clients);
    let mut parents = Vec::with_capacity(scale.clients);
    let mut trunks = Vec::with_capacity(scale.clients);
    for chunk in ports.chunks(per_client) {
        let (trunk, _) = api
            .create_trunk(&chunk[0], &vlans(&chunk[1..=FIXED_SUBPORTS]))
            .await?;
        parents.push(chunk[0].clone());
        trunks.push(trunk.clone());
        owned.push(Owned {
            trunk,
            toggled_port: chunk[FIXED_SUBPORTS + 1].clone(),
            spare_parent: chunk[FIXED_SUBPORTS + 2].clone(),
        });
    }
    let (parents, trunks) = (Arc::new(parents), Arc::new(trunks));
    let pool_before = api.write_pool().await?;
    let deadline = Instant::now() + scale.mixed;
    let cpu_before = cpu::Sample::now();
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for (client, mine) in owned.into_iter().enumerate() {
        let (api, parents, trunks) = (api.clone(), parents.clone(), trunks.clone());
        tasks.spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(client as u64);
            let mut samples: Vec<(usize, Duration)> = Vec::new();
            let mut toggled_in = false;
            let mut renames = 0u64;
            while Instant::now() < deadline {
                let roll = rng.gen_range(0..100);
                let other = rng.gen_range(0..trunks.len());
                match roll {
                    0..=44 => samples.push((0, api.show_trunk(&trunks[other]).await?)),
                    45..=59 => samples.push((1, api.show_port(&parents[other]).await?)),
                    60..=69 => samples.push((2, api.list_trunks(100, None).await?.1)),
                    70..=84 => {
                        let elapsed = if toggled_in {
                            api.remove_subports(&mine.trunk, &[&mine.toggled_port], FIXED_SUBPORTS)
                                .await?
                        } else {
                            let vlan = Vlan {
                                port_id: &mine.toggled_port,
                                vlan: Some((FIXED_SUBPORTS + 1) as u16),
                            };
                            api.add_subports(&mine.trunk, &[vlan], FIXED_SUBPORTS + 1)
                                .await?
                        };
                        toggled_in = !toggled_in;
                        samples.push((3, elapsed));
                    }
                    85..=94 => {
                        renames += 1;
                        let name = format!("client-{client}-{renames}");
                        samples.push((4, api.rename_trunk(&mine.trunk, &name).await?));
                    }
                    _ => {
                        let (trunk, elapsed) = api.create_trunk(&mine.spare_parent, &[]).await?;
                        samples.push((5, elapsed));
                        samples.push((6, api.delete_trunk(&trunk).await?));
                    }
                }
            }
            Ok::<_, BenchError>(samples)
        });
    }
    let mut by_operation: Vec<Vec<Duration>> = vec![Vec::new(); MIXED_OPERATIONS.len()];
    while let Some(joined) = tasks.join_next().await {
        for (operation, elapsed) in joined.map_err(|e| BenchError::Unexpected(e.to_string()))?? {
            by_operation[operation].push(elapsed);
        }
    }
    let wall = started.elapsed();
    let used = cpu::Sample::now().since(&cpu_before);
    println!(
        "{}",
        api.write_pool()
            .await?
            .since(pool_before)
            .line("mixed, the store")
    );
    let all: Vec<Duration> = by_operation.iter().flatten().copied().collect();
    let mut results =
        vec![Measured::new("mixed: all operations", scale.clients, all, wall).with_cpu(used)];
    for (name, latencies) in MIXED_OPERATIONS.iter().zip(by_operation) {
        results.push(Measured::new(name, scale.clients, latencies, wall));
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_group_thousands() {
        assert_eq!(label(4094), "4,094");
        assert_eq!(label(10_000), "10,000");
        assert_eq!(label(100), "100");
        assert_eq!(label(1_000_000), "1,000,000");
    }

    #[test]
    fn vlans_stay_in_range() {
        let ports: Vec<String> = (0..5000).map(|i| i.to_string()).collect();
        let assigned = vlans(&ports);
        assert!(assigned
            .iter()
            .all(|v| v.vlan.is_some_and(|id| (1..=4094).contains(&id))));
        assert_eq!(assigned[0].vlan, Some(1));
        assert_eq!(assigned[4093].vlan, Some(4094));
    }
}
