//! The IPAM workload (issue 18): ports created one at a time on a /16, each getting the
//! lowest free address, first on an empty subnet, then after the subnet has filled, then into
//! holes left all over the filled part. Equal latencies across the three show that an
//! allocation costs the same however many addresses are taken or where the free ones lie.
//! Every port's address is checked to be in the subnet and unique.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::time::Instant;

use crate::api::Api;
use crate::stats::Measured;
use crate::workloads::Scale;
use crate::BenchError;

const CIDR: &str = "10.20.0.0/16";

/// Creates `count` ports one after the other; their ids and each one's latency.
async fn create_one_by_one(
    api: &Api,
    network: &str,
    count: usize,
    seen: &mut HashSet<Ipv4Addr>,
) -> Result<(Vec<String>, Measured), BenchError> {
    let mut ids = Vec::with_capacity(count);
    let mut latencies = Vec::with_capacity(count);
    let started = Instant::now();
    for _ in 0..count {
        let (id, ip, elapsed) = api.create_addressed_port(network).await?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| BenchError::Unexpected(format!("not an IPv4 address: {ip}")))?;
        let [a, b, _, _] = ip.octets();
        if (a, b) != (10, 20) || !seen.insert(ip) {
            return Err(BenchError::Unexpected(format!(
                "{ip} is outside {CIDR} or was handed out twice"
            )));
        }
        ids.push(id);
        latencies.push(elapsed);
    }
    Ok((ids, Measured::new("", 1, latencies, started.elapsed())))
}

fn named(mut measured: Measured, operation: String) -> Measured {
    measured.operation = operation;
    measured
}

pub async fn on_a_slash_16(api: &Api, scale: &Scale) -> Result<Vec<Measured>, BenchError> {
    let network = api.create_network("bench-ipam").await?;
    api.create_subnet(&network, CIDR).await?;
    let mut seen = HashSet::new();
    let n = scale.ipam_ports;
    let (_, empty) = create_one_by_one(api, &network, n, &mut seen).await?;
    // Fill (not measured): bulk creates take the next addresses.
    let filler = api.create_ports(&network, scale.ipam_fill).await?;
    let (_, filled) = create_one_by_one(api, &network, n, &mut seen).await?;
    // Every other filler port goes: free addresses are now many one-address ranges.
    for port in filler.iter().step_by(2).take(n) {
        api.delete_port(port).await?;
    }
    let (_, holes) = create_one_by_one(api, &network, n, &mut seen).await?;
    let taken = 2 * n + scale.ipam_fill;
    Ok(vec![
        named(empty, format!("create port on an empty /16 ({n} in a row)")),
        named(filled, format!("create port on a /16 with {taken} taken")),
        named(holes, format!("create port into {n} one-address holes")),
    ])
}
