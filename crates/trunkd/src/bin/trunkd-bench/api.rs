//! The bench's HTTP client: the Neutron calls the workloads make, as one project member
//! (noauth identity headers), each returning what the workload needs and its latency. Every
//! unexpected status is an error, so a run that "measured" failures cannot pass as fast.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::BenchError;

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    /// The server's root, for /metrics.
    root: String,
    base: String,
    project: String,
}

/// A subport to add: a port and its VLAN.
#[derive(Debug, Clone, Copy)]
pub struct Vlan<'a> {
    pub port_id: &'a str,
    /// `None`: `"auto"`, the server picks the ID.
    pub vlan: Option<u16>,
}

impl Api {
    pub fn new(http: reqwest::Client, base: &str, project: &str) -> Api {
        Api {
            http,
            root: base.to_string(),
            base: format!("{base}/v2.0"),
            project: project.to_string(),
        }
    }

    /// One request: its status must be `expected`; returns the body and the time from sending
    /// to the last byte of the response.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        expected: StatusCode,
    ) -> Result<(bytes::Bytes, Duration), BenchError> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header("X-Project-Id", &self.project)
            .header("X-User-Id", "bench")
            .header("X-Roles", "member,reader");
        if let Some(body) = body {
            request = request.json(body);
        }
        let started = Instant::now();
        let response = request.send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        let elapsed = started.elapsed();
        if status != expected {
            return Err(BenchError::Status {
                request: format!("{method} {path}"),
                status: status.as_u16(),
                body: String::from_utf8_lossy(&bytes).chars().take(500).collect(),
            });
        }
        Ok((bytes, elapsed))
    }

    /// A call whose answer is parsed as `T`: the measured calls parse only the fields they
    /// check (serde skips the rest without building them), so the client spends little of
    /// the CPU it shares with the server.
    async fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        expected: StatusCode,
    ) -> Result<(T, Duration), BenchError> {
        let (bytes, elapsed) = self.call(method, path, body, expected).await?;
        Ok((serde_json::from_slice(&bytes)?, elapsed))
    }

    pub async fn create_network(&self, name: &str) -> Result<String, BenchError> {
        let body = json!({"network": {"name": name}});
        let (value, _): (Value, _) = self
            .call_json(Method::POST, "/networks", Some(&body), StatusCode::CREATED)
            .await?;
        id_of(&value["network"])
    }

    /// `count` ports on a network, created in bulk calls of at most 500.
    pub async fn create_ports(
        &self,
        network: &str,
        count: usize,
    ) -> Result<Vec<String>, BenchError> {
        let mut ids = Vec::with_capacity(count);
        while ids.len() < count {
            let batch = (count - ids.len()).min(500);
            let ports: Vec<Value> = (0..batch).map(|_| json!({"network_id": network})).collect();
            let body = json!({ "ports": ports });
            let (value, _): (Value, _) = self
                .call_json(Method::POST, "/ports", Some(&body), StatusCode::CREATED)
                .await?;
            for port in value["ports"].as_array().into_iter().flatten() {
                ids.push(id_of(port)?);
            }
        }
        Ok(ids)
    }

    /// An IPv4 subnet of `cidr` on `network`, with Neutron's default pool.
    pub async fn create_subnet(&self, network: &str, cidr: &str) -> Result<String, BenchError> {
        let body = json!({"subnet": {"network_id": network, "ip_version": 4, "cidr": cidr}});
        let (value, _): (Value, _) = self
            .call_json(Method::POST, "/subnets", Some(&body), StatusCode::CREATED)
            .await?;
        id_of(&value["subnet"])
    }

    /// One port on `network`: its id, its one address (anything else is an error), and the
    /// call's latency.
    pub async fn create_addressed_port(
        &self,
        network: &str,
    ) -> Result<(String, String, Duration), BenchError> {
        let body = json!({"port": {"network_id": network}});
        let (value, elapsed): (Value, _) = self
            .call_json(Method::POST, "/ports", Some(&body), StatusCode::CREATED)
            .await?;
        let port = &value["port"];
        match port["fixed_ips"].as_array().map(Vec::as_slice) {
            Some([only]) => {
                let ip = only["ip_address"].as_str().unwrap_or_default().to_string();
                Ok((id_of(port)?, ip, elapsed))
            }
            _ => Err(BenchError::Unexpected(format!(
                "a port on an IPv4 subnet should have one address: {}",
                port["fixed_ips"]
            ))),
        }
    }

    pub async fn delete_port(&self, port: &str) -> Result<Duration, BenchError> {
        let (_, elapsed) = self
            .call(
                Method::DELETE,
                &format!("/ports/{port}"),
                None,
                StatusCode::NO_CONTENT,
            )
            .await?;
        Ok(elapsed)
    }

    pub async fn create_trunk(
        &self,
        parent: &str,
        subports: &[Vlan<'_>],
    ) -> Result<(String, Duration), BenchError> {
        let body = json!({"trunk": {"port_id": parent, "sub_ports": vlan_list(subports)}});
        let (created, elapsed): (CreatedTrunk, _) = self
            .call_json(Method::POST, "/trunks", Some(&body), StatusCode::CREATED)
            .await?;
        created.trunk.check_subport_count(subports.len())?;
        Ok((created.trunk.id, elapsed))
    }

    /// One trunk, with no subports, on each of `parents`, in one bulk call; checks one trunk
    /// came back for each and returns the call's latency.
    pub async fn create_trunks(&self, parents: &[String]) -> Result<Duration, BenchError> {
        let trunks: Vec<Value> = parents
            .iter()
            .map(|parent| json!({"port_id": parent}))
            .collect();
        let body = json!({ "trunks": trunks });
        let (value, elapsed): (CreatedTrunks, _) = self
            .call_json(Method::POST, "/trunks", Some(&body), StatusCode::CREATED)
            .await?;
        let created = value.trunks.len();
        if created != parents.len() {
            return Err(BenchError::Unexpected(format!(
                "a bulk create of {} trunks answered {created}",
                parents.len()
            )));
        }
        Ok(elapsed)
    }

    /// The trunk extension's description: a call that reads no store and answers a small
    /// body, so it costs only the HTTP layers (and this client).
    pub async fn show_trunk_extension(&self) -> Result<Duration, BenchError> {
        let (value, elapsed): (Value, _) = self
            .call_json(Method::GET, "/extensions/trunk", None, StatusCode::OK)
            .await?;
        if value["extension"]["alias"] != "trunk" {
            return Err(BenchError::Unexpected(format!(
                "the trunk extension came back as {value}"
            )));
        }
        Ok(elapsed)
    }

    pub async fn delete_trunk(&self, trunk: &str) -> Result<Duration, BenchError> {
        let (_, elapsed) = self
            .call(
                Method::DELETE,
                &format!("/trunks/{trunk}"),
                None,
                StatusCode::NO_CONTENT,
            )
            .await?;
        Ok(elapsed)
    }

    /// Adds subports; checks the trunk now has `expect_total`.
    pub async fn add_subports(
        &self,
        trunk: &str,
        subports: &[Vlan<'_>],
        expect_total: usize,
    ) -> Result<Duration, BenchError> {
        let body = json!({ "sub_ports": vlan_list(subports) });
        let (answer, elapsed): (TrunkSubports, _) = self
            .call_json(
                Method::PUT,
                &format!("/trunks/{trunk}/add_subports"),
                Some(&body),
                StatusCode::OK,
            )
            .await?;
        answer.check_subport_count(expect_total)?;
        Ok(elapsed)
    }

    /// Adds `port` with `"auto"`; checks the answer gives it a VLAN ID.
    pub async fn add_auto_subport(&self, trunk: &str, port: &str) -> Result<Duration, BenchError> {
        let body = json!({ "sub_ports": vlan_list(&[Vlan { port_id: port, vlan: None }]) });
        let (answer, elapsed): (TrunkVlans, _) = self
            .call_json(
                Method::PUT,
                &format!("/trunks/{trunk}/add_subports"),
                Some(&body),
                StatusCode::OK,
            )
            .await?;
        let given = answer
            .sub_ports
            .iter()
            .find(|subport| subport.port_id == port)
            .and_then(|subport| subport.segmentation_id);
        match given {
            Some(1..=4094) => Ok(elapsed),
            _ => Err(BenchError::Unexpected(format!(
                "{port} got no VLAN ID on trunk {trunk}: {given:?}"
            ))),
        }
    }

    /// Removes subports by port; checks the trunk now has `expect_total`.
    pub async fn remove_subports(
        &self,
        trunk: &str,
        ports: &[&str],
        expect_total: usize,
    ) -> Result<Duration, BenchError> {
        let list: Vec<Value> = ports.iter().map(|p| json!({ "port_id": p })).collect();
        let body = json!({ "sub_ports": list });
        let (answer, elapsed): (TrunkSubports, _) = self
            .call_json(
                Method::PUT,
                &format!("/trunks/{trunk}/remove_subports"),
                Some(&body),
                StatusCode::OK,
            )
            .await?;
        answer.check_subport_count(expect_total)?;
        Ok(elapsed)
    }

    pub async fn rename_trunk(&self, trunk: &str, name: &str) -> Result<Duration, BenchError> {
        let body = json!({"trunk": {"name": name}});
        let (_, elapsed) = self
            .call(
                Method::PUT,
                &format!("/trunks/{trunk}"),
                Some(&body),
                StatusCode::OK,
            )
            .await?;
        Ok(elapsed)
    }

    /// Shows a trunk. The body is received whole but not parsed: parsing is the client's
    /// cost, not the server's.
    pub async fn show_trunk(&self, trunk: &str) -> Result<Duration, BenchError> {
        let (_, elapsed) = self
            .call(
                Method::GET,
                &format!("/trunks/{trunk}"),
                None,
                StatusCode::OK,
            )
            .await?;
        Ok(elapsed)
    }

    pub async fn show_port(&self, port: &str) -> Result<Duration, BenchError> {
        let (_, elapsed) = self
            .call(Method::GET, &format!("/ports/{port}"), None, StatusCode::OK)
            .await?;
        Ok(elapsed)
    }

    pub async fn port(&self, port: &str) -> Result<Value, BenchError> {
        let (value, _): (Value, _) = self
            .call_json(Method::GET, &format!("/ports/{port}"), None, StatusCode::OK)
            .await?;
        Ok(value["port"].clone())
    }

    /// One page of trunks: their ids and the request's latency (the page is parsed after the
    /// clock stops).
    pub async fn list_trunks(
        &self,
        limit: usize,
        marker: Option<&str>,
    ) -> Result<(Vec<String>, Duration), BenchError> {
        let mut path = format!("/trunks?limit={limit}");
        if let Some(marker) = marker {
            path.push_str(&format!("&marker={marker}"));
        }
        let (page, elapsed): (TrunkPage, _) = self
            .call_json(Method::GET, &path, None, StatusCode::OK)
            .await?;
        Ok((
            page.trunks.into_iter().map(|trunk| trunk.id).collect(),
            elapsed,
        ))
    }
}

impl Api {
    /// Waits until the server's outbox is empty (every change handed to the drivers), so the
    /// next workload does not share the machine with the last one's deliveries; returns how
    /// long that took.
    pub async fn wait_for_outbox(&self, limit: Duration) -> Result<Duration, BenchError> {
        let started = Instant::now();
        loop {
            let pending = self
                .metrics()
                .await?
                .value("trunkd_outbox_pending_events")?;
            if pending == 0.0 {
                return Ok(started.elapsed());
            }
            if started.elapsed() > limit {
                return Err(BenchError::Unexpected(format!(
                    "{pending} outbox events still pending after {limit:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Outbox events the server has handed to its drivers so far, and those it has not yet
    /// (one scrape).
    pub async fn outbox_counts(&self) -> Result<OutboxCounts, BenchError> {
        let metrics = self.metrics().await?;
        Ok(OutboxCounts {
            delivered: metrics.value("trunkd_driver_deliveries_total")?,
            pending: metrics.value("trunkd_outbox_pending_events")?,
        })
    }

    /// The server's write transactions so far: runs, runs retried after a serialization
    /// conflict, and requests that ran out of retries (one scrape).
    pub async fn write_transactions(&self) -> Result<WriteCounts, BenchError> {
        let metrics = self.metrics().await?;
        Ok(WriteCounts {
            runs: metrics.value("trunkd_write_transaction_runs_total")?,
            conflicts: metrics.value("trunkd_write_transaction_conflicts_total")?,
            exhausted: metrics.value("trunkd_write_transactions_exhausted_total")?,
        })
    }

    /// The store pool writes take (SQLite's `writes`, its one writer; PostgreSQL's
    /// `shared`, with its write slots): takes, waits and time waited so far (one scrape).
    pub async fn write_pool(&self) -> Result<PoolWaits, BenchError> {
        let metrics = self.metrics().await?;
        let pool = if metrics
            .0
            .contains("trunkd_db_pool_takes_total{pool=\"writes\"}")
        {
            "writes"
        } else {
            "shared"
        };
        let of = |name: &str| metrics.value(&format!("{name}{{pool=\"{pool}\"}}"));
        Ok(PoolWaits {
            pool,
            takes: of("trunkd_db_pool_takes_total")?,
            waits: of("trunkd_db_pool_waits_total")?,
            waited_seconds: of("trunkd_db_pool_wait_seconds_total")?,
        })
    }

    /// The server's `/metrics` now: one scrape for every value read from it, so the values
    /// belong together and the server renders them (and counts its outbox) once.
    async fn metrics(&self) -> Result<Scrape, BenchError> {
        let text = self
            .http
            .get(format!("{}/metrics", self.root))
            .send()
            .await?
            .text()
            .await?;
        Ok(Scrape(text))
    }
}

/// One `/metrics` answer.
struct Scrape(String);

impl Scrape {
    /// The unlabelled sample called `name`.
    fn value(&self, name: &str) -> Result<f64, BenchError> {
        self.0
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|value| value.trim().parse().ok())
            .ok_or_else(|| BenchError::Unexpected(format!("no {name} in /metrics")))
    }
}

/// One store pool's takes and waits (`/metrics`).
#[derive(Debug, Clone, Copy)]
pub struct PoolWaits {
    pub pool: &'static str,
    pub takes: f64,
    pub waits: f64,
    pub waited_seconds: f64,
}

impl PoolWaits {
    /// What happened between `earlier` and these.
    pub fn since(self, earlier: PoolWaits) -> PoolWaits {
        PoolWaits {
            pool: self.pool,
            takes: self.takes - earlier.takes,
            waits: self.waits - earlier.waits,
            waited_seconds: self.waited_seconds - earlier.waited_seconds,
        }
    }

    /// One line for the bench's output, about the workload `what`.
    pub fn line(&self, what: &str) -> String {
        let mean_ms = if self.waits > 0.0 {
            self.waited_seconds * 1000.0 / self.waits
        } else {
            0.0
        };
        format!(
            "{what}: {:.0} of the `{}` pool's {:.0} takes waited for it, {mean_ms:.2} ms each \
             on average",
            self.waits, self.pool, self.takes
        )
    }
}

/// A server's outbox counters (`/metrics`).
#[derive(Debug, Clone, Copy)]
pub struct OutboxCounts {
    /// Events handed to every driver since the server started.
    pub delivered: f64,
    /// Committed events not yet handed to every driver.
    pub pending: f64,
}

/// Write transaction counters of one or more servers (`/metrics`).
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteCounts {
    pub runs: f64,
    pub conflicts: f64,
    pub exhausted: f64,
}

impl WriteCounts {
    /// What happened between `earlier` and these.
    pub fn since(self, earlier: WriteCounts) -> WriteCounts {
        WriteCounts {
            runs: self.runs - earlier.runs,
            conflicts: self.conflicts - earlier.conflicts,
            exhausted: self.exhausted - earlier.exhausted,
        }
    }

    pub fn add(self, other: WriteCounts) -> WriteCounts {
        WriteCounts {
            runs: self.runs + other.runs,
            conflicts: self.conflicts + other.conflicts,
            exhausted: self.exhausted + other.exhausted,
        }
    }
}

fn vlan_list(subports: &[Vlan<'_>]) -> Vec<Value> {
    subports
        .iter()
        .map(|s| {
            let id = s.vlan.map_or_else(|| json!("auto"), |vlan| json!(vlan));
            json!({"port_id": s.port_id, "segmentation_type": "vlan", "segmentation_id": id})
        })
        .collect()
}

fn id_of(value: &Value) -> Result<String, BenchError> {
    value["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| BenchError::Unexpected(format!("no id in {value}")))
}

/// `{"trunk": {...}}`, of which the bench reads the id and counts the subports.
#[derive(Deserialize)]
struct CreatedTrunk {
    trunk: TrunkSubports,
}

/// `{"trunks": [...]}` of a bulk create, counted.
#[derive(Deserialize)]
struct CreatedTrunks {
    trunks: Vec<IgnoredAny>,
}

/// A trunk's id and how many subports it has; every other field is skipped.
#[derive(Deserialize)]
struct TrunkSubports {
    id: String,
    sub_ports: Vec<IgnoredAny>,
}

impl TrunkSubports {
    fn check_subport_count(&self, expected: usize) -> Result<(), BenchError> {
        let got = self.sub_ports.len();
        if got != expected {
            return Err(BenchError::Unexpected(format!(
                "trunk {} has {got} subports, expected {expected}",
                self.id
            )));
        }
        Ok(())
    }
}

/// A trunk's subports' ports and VLAN IDs.
#[derive(Deserialize)]
struct TrunkVlans {
    sub_ports: Vec<SubportVlan>,
}

#[derive(Deserialize)]
struct SubportVlan {
    port_id: String,
    segmentation_id: Option<i64>,
}

/// A page of trunks, of which the bench reads the ids.
#[derive(Deserialize)]
struct TrunkPage {
    trunks: Vec<TrunkId>,
}

#[derive(Deserialize)]
struct TrunkId {
    id: String,
}
