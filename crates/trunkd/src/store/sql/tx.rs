//! [`StoreTx`] over SQL: every statement of one user operation runs on one transaction.
//! The SQL here is portable between SQLite and PostgreSQL (`$N` placeholders, standard types);
//! what differs (the column lists' JSON aggregation) comes from the dialect through
//! [`rows::Columns`].

use std::sync::Arc;

use async_trait::async_trait;

use crate::ids::{NetworkId, PortId, ProjectId, SubnetId, TrunkId};
use crate::model::{Network, NetworkType, Port, Subnet, Subport, Trunk};
use crate::store::audit::{AuditQuery, AuditRow, NewAuditRow};
use crate::store::idempotency::{IdempotencyClaim, IdempotencyRecord, StoredAnswer};
use crate::store::{
    ListQuery, Membership, NewEvent, ParentTrunk, ResourceKind, StoreError, StoreTx, SubportBinding,
};

use super::appended::Appended;
use super::builder::Builder;
use super::exec::{get, Decode, SqlConn, Stmt};
use super::list::{self, Table};
use super::{rows, Dialect};

/// Ids per statement for `IN (...)` lists and rows per multi-row insert: a request's whole list
/// of subports (at most 4,094 by default) is one statement, so validating N subports takes the
/// same few queries whatever N. The widest insert binds 6 values a row, 24,576 at most: under
/// SQLite's limit of 32,766 bound parameters and PostgreSQL's 65,535.
const CHUNK: usize = 4_096;

/// The lowest free segmentation id in `$3..=$4` for a network type (`$1`) and physical
/// network (`$2`, empty for none): `$3` itself when free, else the id after the end of the run
/// of taken ids that starts at `$3`. Both branches are probes of the `networks_segment` index
/// (the predicates repeat its expression, and `segmentation_id` compared implies its `IS NOT
/// NULL`), and the second walks the index in order and stops at the first gap, so the
/// statement returns one row whatever the number of ids in use. The successor test is a
/// scalar subquery with `LIMIT`, not `NOT EXISTS`: PostgreSQL turns the latter into an anti
/// join, and right after a bulk insert (statistics still saying the table is empty) planned
/// it with the successor's id as a filter instead of an index condition, which took 8 s for
/// 9,999 ids in use; a subquery with `LIMIT` stays a per-row index probe on both databases.
const LOWEST_FREE_SEGMENT: &str = "SELECT MIN(c) FROM ( \
    SELECT CAST($3 AS BIGINT) AS c WHERE NOT EXISTS (SELECT 1 FROM networks \
        WHERE network_type = $1 AND COALESCE(physical_network, '') = $2 \
        AND segmentation_id = $3) \
    UNION ALL \
    SELECT c FROM (SELECT n.segmentation_id + 1 AS c FROM networks n \
        WHERE n.network_type = $1 AND COALESCE(n.physical_network, '') = $2 \
        AND n.segmentation_id >= $3 AND n.segmentation_id < $4 \
        AND (SELECT 1 FROM networks m WHERE m.network_type = $1 \
            AND COALESCE(m.physical_network, '') = $2 \
            AND m.segmentation_id = n.segmentation_id + 1 LIMIT 1) IS NULL \
        ORDER BY n.segmentation_id LIMIT 1) gap \
    ) free";

/// The connection a [`SqlTx`] runs on, and how its transaction ends (each dialect's own:
/// an sqlx transaction on PostgreSQL, a connection of the store's own on SQLite).
#[async_trait]
pub trait Held<D: Dialect>: Send {
    fn conn(&mut self) -> &mut D::Conn;
    /// Ends the transaction, its writes durable.
    async fn finish(self: Box<Self>) -> Result<(), StoreError>;

    /// Ends the transaction without its writes, once what it read is durable (see
    /// [`StoreTx::roll_back`]). Dropping rolls back too, without waiting.
    async fn abandon(self: Box<Self>) -> Result<(), StoreError> {
        Ok(())
    }
}

/// One transaction of a [`super::SqlStore`].
pub struct SqlTx<D: Dialect> {
    held: Box<dyn Held<D>>,
    columns: Arc<rows::Columns>,
    /// Audit rows and outbox events, inserted when it commits.
    appended: Appended,
}

impl<D: Dialect> SqlTx<D> {
    /// Inserts `subports` as members of `trunk`, numbered on from position `last`.
    async fn insert_members_after(
        &mut self,
        trunk: TrunkId,
        subports: &[Subport],
        last: i64,
    ) -> Result<(), StoreError> {
        let trunk_text = trunk.to_string();
        let mut position = last;
        for chunk in subports.chunks(CHUNK) {
            let mut builder = Builder::new(
                "INSERT INTO trunk_members (port_id, trunk_id, role, segmentation_type, \
                 segmentation_id, position, port_status) ",
            );
            builder.push_values(chunk, |mut row, subport| {
                position += 1;
                row.push_bind(subport.port_id.to_string())
                    .push_bind(trunk_text.clone())
                    .push_bind("subport")
                    .push_bind(subport.segmentation_type.as_str().to_string())
                    .push_bind(subport.segmentation_id)
                    .push_bind(position)
                    .push_bind(subport.port_status.as_str());
            });
            builder.execute(self.conn()).await?;
        }
        Ok(())
    }

    pub(super) fn new(held: Box<dyn Held<D>>, columns: Arc<rows::Columns>) -> Self {
        Self {
            held,
            columns,
            appended: Appended::default(),
        }
    }

    pub(super) fn conn(&mut self) -> &mut D::Conn {
        self.held.conn()
    }

    /// The connection, and the columns `table` is read with.
    fn conn_and_columns(&mut self, table: &Table) -> (&mut D::Conn, &str) {
        (self.held.conn(), self.columns.of(table.kind))
    }

    /// Inserts the rows it appended, then ends the transaction, its writes durable.
    pub(super) async fn finish(mut self) -> Result<(), StoreError> {
        let appended = std::mem::take(&mut self.appended);
        appended.insert::<D>(self.held.conn()).await?;
        self.held.finish().await
    }
}

fn to_json(value: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Internal(e.to_string()))
}

/// Reads the rows of `table` whose id is in `ids`, in chunks.
async fn rows_by_ids<C: SqlConn, T: Send>(
    (conn, columns): (&mut C, &str),
    table: &Table,
    ids: &[String],
    decode: Decode<'_, T>,
) -> Result<Vec<T>, StoreError> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let mut builder = Builder::new(format!(
            "SELECT {} FROM {} t WHERE t.id IN ",
            columns, table.name
        ));
        push_in_list(&mut builder, chunk.iter().cloned());
        found.extend(builder.fetch(&mut *conn, decode).await?);
    }
    Ok(found)
}

/// Tags of a resource that has none stored yet (a new one, or one whose tags were just
/// deleted); nothing to do when `tags` is empty, so a create without tags costs no statement.
async fn insert_tags<C: SqlConn>(
    conn: &mut C,
    kind: ResourceKind,
    id: &str,
    tags: &[String],
) -> Result<(), StoreError> {
    // Three bound values a tag: chunks keep each statement far below SQLite's 32,766.
    for chunk in tags.chunks(1_000) {
        let mut builder = Builder::new("INSERT INTO tags (resource_type, resource_id, tag) ");
        builder.push_values(chunk, |mut row, tag| {
            row.push_bind(kind.as_str())
                .push_bind(id.to_string())
                .push_bind(tag.clone());
        });
        builder.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Pushes `(v1, v2, ...)` with every value bound, for `IN` lists.
pub(super) fn push_in_list(builder: &mut Builder, values: impl IntoIterator<Item = String>) {
    builder.push("(");
    let mut separated = builder.separated(", ");
    for value in values {
        separated.push_bind(value);
    }
    builder.push(")");
}

fn ids_text<T: ToString>(ids: &[T]) -> Vec<String> {
    ids.iter().map(ToString::to_string).collect()
}

#[async_trait]
impl<D: Dialect> StoreTx for SqlTx<D> {
    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.finish().await
    }

    async fn roll_back(self: Box<Self>) -> Result<(), StoreError> {
        self.held.abandon().await
    }

    fn ipam(&mut self) -> &mut dyn crate::store::ipam::IpamTx {
        self
    }

    async fn get_network(&mut self, id: NetworkId) -> Result<Option<Network>, StoreError> {
        Ok(self.get_networks(&[id]).await?.into_iter().next())
    }

    async fn get_networks(&mut self, ids: &[NetworkId]) -> Result<Vec<Network>, StoreError> {
        rows_by_ids(
            self.conn_and_columns(&list::NETWORKS),
            &list::NETWORKS,
            &ids_text(ids),
            &rows::network,
        )
        .await
    }

    async fn list_networks(&mut self, query: &ListQuery) -> Result<Vec<Network>, StoreError> {
        list::list_rows(
            self.conn_and_columns(&list::NETWORKS),
            &list::NETWORKS,
            query,
            &rows::network,
        )
        .await
    }

    async fn insert_network(&mut self, network: &Network) -> Result<(), StoreError> {
        Stmt::new(
            "INSERT INTO networks (id, project_id, name, description, admin_state_up, status, \
             shared, mtu, network_type, physical_network, segmentation_id, revision_number, \
             created_at, updated_at, port_security_enabled) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(network.id.to_string())
        .bind(network.project_id.as_str())
        .bind(&network.name)
        .bind(&network.description)
        .bind(network.admin_state_up)
        .bind(network.status.as_str())
        .bind(network.shared)
        .bind(network.mtu)
        .bind(network.network_type.as_str())
        .bind(&network.physical_network)
        .bind(network.segmentation_id)
        .bind(network.std.revision_number)
        .bind(&network.std.created_at)
        .bind(&network.std.updated_at)
        .bind(network.port_security_enabled)
        .execute(self.conn())
        .await?;
        insert_tags(
            self.conn(),
            ResourceKind::Network,
            &network.id.to_string(),
            &network.std.tags,
        )
        .await
    }

    async fn update_network(&mut self, network: &Network) -> Result<(), StoreError> {
        Stmt::new(
            "UPDATE networks SET name = $1, description = $2, admin_state_up = $3, status = $4, \
             shared = $5, mtu = $6, revision_number = $7, updated_at = $8, \
             port_security_enabled = $9 WHERE id = $10",
        )
        .bind(&network.name)
        .bind(&network.description)
        .bind(network.admin_state_up)
        .bind(network.status.as_str())
        .bind(network.shared)
        .bind(network.mtu)
        .bind(network.std.revision_number)
        .bind(&network.std.updated_at)
        .bind(network.port_security_enabled)
        .bind(network.id.to_string())
        .execute(self.conn())
        .await
        .map(|_| ())
    }

    async fn delete_network(&mut self, id: NetworkId) -> Result<(), StoreError> {
        let id = id.to_string();
        // The network's subnets go with it (Neutron deletes them when no port holds an
        // address), their tags first.
        Stmt::new(
            "DELETE FROM tags WHERE resource_type = $1 \
             AND resource_id IN (SELECT id FROM subnets WHERE network_id = $2)",
        )
        .bind(ResourceKind::Subnet.as_str())
        .bind(id.clone())
        .execute(self.conn())
        .await?;
        // Their free ranges too (no port holds an address: the network has no port).
        Stmt::new(
            "DELETE FROM ip_free_ranges \
             WHERE subnet_id IN (SELECT id FROM subnets WHERE network_id = $1)",
        )
        .bind(id.clone())
        .execute(self.conn())
        .await?;
        Stmt::new("DELETE FROM subnets WHERE network_id = $1")
            .bind(id.clone())
            .execute(self.conn())
            .await?;
        self.replace_tags(ResourceKind::Network, &id, &[]).await?;
        Stmt::new("DELETE FROM networks WHERE id = $1")
            .bind(id)
            .execute(self.conn())
            .await
            .map(|_| ())
    }

    async fn network_has_ports(&mut self, id: NetworkId) -> Result<bool, StoreError> {
        Stmt::new("SELECT EXISTS (SELECT 1 FROM ports WHERE network_id = $1)")
            .bind(id.to_string())
            .scalar(self.conn())
            .await
    }

    async fn segment_in_use(
        &mut self,
        network_type: NetworkType,
        physical_network: Option<&str>,
        id: i64,
    ) -> Result<bool, StoreError> {
        Stmt::new(
            "SELECT EXISTS (SELECT 1 FROM networks WHERE network_type = $1 \
             AND COALESCE(physical_network, '') = $2 AND segmentation_id = $3)",
        )
        .bind(network_type.as_str())
        .bind(physical_network.unwrap_or(""))
        .bind(id)
        .scalar(self.conn())
        .await
    }

    async fn lowest_free_segment(
        &mut self,
        network_type: NetworkType,
        physical_network: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Option<i64>, StoreError> {
        if from > to {
            return Ok(None);
        }
        Stmt::new(LOWEST_FREE_SEGMENT)
            .bind(network_type.as_str())
            .bind(physical_network.unwrap_or(""))
            .bind(from)
            .bind(to)
            .scalar(self.conn())
            .await
    }

    async fn get_subnet(&mut self, id: SubnetId) -> Result<Option<Subnet>, StoreError> {
        let found = rows_by_ids(
            self.conn_and_columns(&list::SUBNETS),
            &list::SUBNETS,
            &[id.to_string()],
            &rows::subnet,
        )
        .await?;
        Ok(found.into_iter().next())
    }

    async fn list_subnets(&mut self, query: &ListQuery) -> Result<Vec<Subnet>, StoreError> {
        list::list_rows(
            self.conn_and_columns(&list::SUBNETS),
            &list::SUBNETS,
            query,
            &rows::subnet,
        )
        .await
    }

    async fn subnets_of_network(&mut self, network: NetworkId) -> Result<Vec<Subnet>, StoreError> {
        let (conn, columns) = self.conn_and_columns(&list::SUBNETS);
        let found = Stmt::new(format!(
            "SELECT {columns} FROM subnets t WHERE t.network_id = $1 \
             ORDER BY t.created_at, t.id"
        ))
        .bind(network.to_string())
        .fetch(&mut *conn, &rows::subnet)
        .await?;
        Ok(found)
    }

    async fn insert_subnet(&mut self, subnet: &Subnet) -> Result<(), StoreError> {
        Stmt::new(
            "INSERT INTO subnets (id, project_id, network_id, name, description, ip_version, \
             cidr, gateway_ip, allocation_pools, enable_dhcp, dns_nameservers, host_routes, \
             ipv6_address_mode, ipv6_ra_mode, revision_number, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(subnet.id.to_string())
        .bind(subnet.project_id.as_str())
        .bind(subnet.network_id.to_string())
        .bind(&subnet.name)
        .bind(&subnet.description)
        .bind(subnet.ip_version)
        .bind(&subnet.cidr)
        .bind(&subnet.gateway_ip)
        .bind(to_json(&subnet.allocation_pools)?)
        .bind(subnet.enable_dhcp)
        .bind(to_json(&subnet.dns_nameservers)?)
        .bind(to_json(&subnet.host_routes)?)
        .bind(subnet.ipv6_address_mode.map(|m| m.as_str().to_string()))
        .bind(subnet.ipv6_ra_mode.map(|m| m.as_str().to_string()))
        .bind(subnet.std.revision_number)
        .bind(&subnet.std.created_at)
        .bind(&subnet.std.updated_at)
        .execute(self.conn())
        .await?;
        insert_tags(
            self.conn(),
            ResourceKind::Subnet,
            &subnet.id.to_string(),
            &subnet.std.tags,
        )
        .await
    }

    async fn update_subnet(&mut self, subnet: &Subnet) -> Result<(), StoreError> {
        Stmt::new(
            "UPDATE subnets SET name = $1, description = $2, gateway_ip = $3, \
             allocation_pools = $4, enable_dhcp = $5, dns_nameservers = $6, host_routes = $7, \
             revision_number = $8, updated_at = $9 WHERE id = $10",
        )
        .bind(&subnet.name)
        .bind(&subnet.description)
        .bind(&subnet.gateway_ip)
        .bind(to_json(&subnet.allocation_pools)?)
        .bind(subnet.enable_dhcp)
        .bind(to_json(&subnet.dns_nameservers)?)
        .bind(to_json(&subnet.host_routes)?)
        .bind(subnet.std.revision_number)
        .bind(&subnet.std.updated_at)
        .bind(subnet.id.to_string())
        .execute(self.conn())
        .await
        .map(|_| ())
    }

    async fn delete_subnet(&mut self, id: SubnetId) -> Result<(), StoreError> {
        let id = id.to_string();
        self.replace_tags(ResourceKind::Subnet, &id, &[]).await?;
        Stmt::new("DELETE FROM ip_free_ranges WHERE subnet_id = $1")
            .bind(id.clone())
            .execute(self.conn())
            .await?;
        Stmt::new("DELETE FROM subnets WHERE id = $1")
            .bind(id)
            .execute(self.conn())
            .await
            .map(|_| ())
    }

    async fn get_port(&mut self, id: PortId) -> Result<Option<Port>, StoreError> {
        Ok(self.get_ports(&[id]).await?.into_iter().next())
    }

    async fn get_ports(&mut self, ids: &[PortId]) -> Result<Vec<Port>, StoreError> {
        rows_by_ids(
            self.conn_and_columns(&list::PORTS),
            &list::PORTS,
            &ids_text(ids),
            &rows::port,
        )
        .await
    }

    async fn list_ports(&mut self, query: &ListQuery) -> Result<Vec<Port>, StoreError> {
        list::list_rows(
            self.conn_and_columns(&list::PORTS),
            &list::PORTS,
            query,
            &rows::port,
        )
        .await
    }

    async fn insert_port(&mut self, port: &Port) -> Result<(), StoreError> {
        Stmt::new(
            "INSERT INTO ports (id, project_id, network_id, name, description, mac_address, \
             admin_state_up, status, device_id, device_owner, fixed_ips, host_id, vif_type, \
             vnic_type, profile, revision_number, created_at, updated_at, port_security_enabled) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
             $19)",
        )
        .bind(port.id.to_string())
        .bind(port.project_id.as_str())
        .bind(port.network_id.to_string())
        .bind(&port.name)
        .bind(&port.description)
        .bind(&port.mac_address)
        .bind(port.admin_state_up)
        .bind(port.status.as_str())
        .bind(&port.device_id)
        .bind(&port.device_owner)
        .bind(to_json(&port.fixed_ips)?)
        .bind(&port.host_id)
        .bind(&port.vif_type)
        .bind(&port.vnic_type)
        .bind(to_json(&port.profile)?)
        .bind(port.std.revision_number)
        .bind(&port.std.created_at)
        .bind(&port.std.updated_at)
        .bind(port.port_security_enabled)
        .execute(self.conn())
        .await?;
        insert_tags(
            self.conn(),
            ResourceKind::Port,
            &port.id.to_string(),
            &port.std.tags,
        )
        .await
    }

    async fn update_port(&mut self, port: &Port) -> Result<(), StoreError> {
        Stmt::new(
            "UPDATE ports SET name = $1, description = $2, mac_address = $3, admin_state_up = $4, \
             status = $5, device_id = $6, device_owner = $7, fixed_ips = $8, host_id = $9, \
             vif_type = $10, vnic_type = $11, profile = $12, revision_number = $13, \
             updated_at = $14, port_security_enabled = $15 WHERE id = $16",
        )
        .bind(&port.name)
        .bind(&port.description)
        .bind(&port.mac_address)
        .bind(port.admin_state_up)
        .bind(port.status.as_str())
        .bind(&port.device_id)
        .bind(&port.device_owner)
        .bind(to_json(&port.fixed_ips)?)
        .bind(&port.host_id)
        .bind(&port.vif_type)
        .bind(&port.vnic_type)
        .bind(to_json(&port.profile)?)
        .bind(port.std.revision_number)
        .bind(&port.std.updated_at)
        .bind(port.port_security_enabled)
        .bind(port.id.to_string())
        .execute(self.conn())
        .await?;
        // The copy a trunk reads its members' statuses from (migration 0006).
        Stmt::new("UPDATE trunk_members SET port_status = $1 WHERE port_id = $2")
            .bind(port.status.as_str())
            .bind(port.id.to_string())
            .execute(self.conn())
            .await
            .map(|_| ())
    }

    async fn delete_port(&mut self, id: PortId) -> Result<(), StoreError> {
        let id = id.to_string();
        self.replace_tags(ResourceKind::Port, &id, &[]).await?;
        // The service gave the port's addresses back to their free ranges first; what it held
        // goes with it in any case, or the rows would keep the port (and its addresses) alive.
        Stmt::new("DELETE FROM ip_allocations WHERE port_id = $1")
            .bind(id.clone())
            .execute(self.conn())
            .await?;
        Stmt::new("DELETE FROM ports WHERE id = $1")
            .bind(id)
            .execute(self.conn())
            .await
            .map(|_| ())
    }

    async fn set_port_status(
        &mut self,
        ports: &[PortId],
        status: crate::model::PortStatus,
    ) -> Result<(), StoreError> {
        for chunk in ports.chunks(CHUNK) {
            // The ports, and the copy a trunk reads its members' statuses from (migration 0006).
            for (update, key) in [
                ("UPDATE ports SET status = ", " WHERE id IN "),
                (
                    "UPDATE trunk_members SET port_status = ",
                    " WHERE port_id IN ",
                ),
            ] {
                let mut builder = Builder::new(update);
                builder.push_bind(status.as_str().to_string());
                builder.push(key);
                push_in_list(&mut builder, chunk.iter().map(ToString::to_string));
                builder.execute(self.conn()).await?;
            }
        }
        Ok(())
    }

    async fn set_subport_bindings(
        &mut self,
        ports: &[PortId],
        binding: &SubportBinding,
    ) -> Result<(), StoreError> {
        for chunk in ports.chunks(CHUNK) {
            let mut builder = Builder::new("UPDATE ports SET device_id = ");
            builder.push_bind(binding.device_id.clone());
            builder.push(", device_owner = ");
            builder.push_bind(binding.device_owner.clone());
            builder.push(", host_id = ");
            builder.push_bind(binding.host_id.clone());
            builder.push(", vif_type = ");
            builder.push_bind(binding.vif_type.clone());
            builder.push(", updated_at = ");
            builder.push_bind(binding.updated_at.clone());
            builder.push(", revision_number = revision_number + 1 WHERE id IN ");
            push_in_list(&mut builder, chunk.iter().map(ToString::to_string));
            builder.execute(self.conn()).await?;
        }
        Ok(())
    }

    async fn memberships(&mut self, ports: &[PortId]) -> Result<Vec<Membership>, StoreError> {
        let mut found = Vec::new();
        for chunk in ports.chunks(CHUNK) {
            let mut builder =
                Builder::new("SELECT port_id, trunk_id, role FROM trunk_members WHERE port_id IN ");
            push_in_list(&mut builder, chunk.iter().map(ToString::to_string));
            let page = builder
                .fetch(self.conn(), &|row| {
                    Ok(Membership {
                        port_id: rows::parse_id("port id", get(row, "port_id")?)?,
                        trunk_id: rows::parse_id("trunk id", get(row, "trunk_id")?)?,
                        is_parent: get::<&str>(row, "role")? == "parent",
                    })
                })
                .await?;
            found.extend(page);
        }
        Ok(found)
    }

    async fn trunks_of_parents(
        &mut self,
        parents: &[PortId],
    ) -> Result<Vec<ParentTrunk>, StoreError> {
        let mut found = Vec::new();
        for chunk in parents.chunks(CHUNK) {
            let mut builder = Builder::new(self.columns.trunk_details_select.clone());
            builder.push(" WHERE t.port_id IN ");
            push_in_list(&mut builder, chunk.iter().map(ToString::to_string));
            found.extend(builder.fetch(self.conn(), &rows::parent_trunk).await?);
        }
        Ok(found)
    }

    async fn count_of_project(
        &mut self,
        kind: ResourceKind,
        project: &ProjectId,
    ) -> Result<u64, StoreError> {
        // One fixed statement per table (each served by its `*_project` index).
        let statement = match kind {
            ResourceKind::Network => "SELECT COUNT(*) FROM networks WHERE project_id = $1",
            ResourceKind::Subnet => "SELECT COUNT(*) FROM subnets WHERE project_id = $1",
            ResourceKind::Port => "SELECT COUNT(*) FROM ports WHERE project_id = $1",
            ResourceKind::Trunk => "SELECT COUNT(*) FROM trunks WHERE project_id = $1",
        };
        let count: i64 = Stmt::new(statement)
            .bind(project.as_str())
            .scalar(self.conn())
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn get_trunk(&mut self, id: TrunkId) -> Result<Option<Trunk>, StoreError> {
        let found = rows_by_ids(
            self.conn_and_columns(&list::TRUNKS),
            &list::TRUNKS,
            &[id.to_string()],
            &rows::trunk,
        )
        .await?;
        Ok(found.into_iter().next())
    }

    async fn list_trunks(&mut self, query: &ListQuery) -> Result<Vec<Trunk>, StoreError> {
        list::list_rows(
            self.conn_and_columns(&list::TRUNKS),
            &list::TRUNKS,
            query,
            &rows::trunk,
        )
        .await
    }

    async fn insert_trunk(&mut self, trunk: &Trunk) -> Result<(), StoreError> {
        // The parent's membership row in the same statement where the dialect allows it (a
        // round trip less inside a PostgreSQL write slot); the member row reads the trunk's,
        // so the trunk goes in first and a parent already in a trunk still fails on the
        // trunks' own key, as with two statements.
        const TRUNK: &str = "INSERT INTO trunks (id, project_id, port_id, name, description, \
            admin_state_up, status, refusal, revision_number, created_at, updated_at) \
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
        const TRUNK_AND_PARENT: &str = "WITH trunk AS (INSERT INTO trunks (id, project_id, \
            port_id, name, description, admin_state_up, status, refusal, revision_number, \
            created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
            RETURNING id, port_id) \
            INSERT INTO trunk_members (port_id, trunk_id, role, position, port_status) \
            SELECT port_id, id, 'parent', 0, $12 FROM trunk";
        let trunk_row = |sql: &'static str| {
            Stmt::new(sql)
                .bind(trunk.id.to_string())
                .bind(trunk.project_id.as_str())
                .bind(trunk.port_id.to_string())
                .bind(&trunk.name)
                .bind(&trunk.description)
                .bind(trunk.admin_state_up)
                .bind(trunk.status.as_str())
                .bind(trunk.refusal.clone())
                .bind(trunk.std.revision_number)
                .bind(&trunk.std.created_at)
                .bind(&trunk.std.updated_at)
        };
        if D::WRITES_IN_WITH {
            trunk_row(TRUNK_AND_PARENT)
                .bind(trunk.parent_state.status.as_str())
                .execute(self.conn())
                .await?;
        } else {
            trunk_row(TRUNK).execute(self.conn()).await?;
            Stmt::new(
                "INSERT INTO trunk_members (port_id, trunk_id, role, position, port_status) \
                 VALUES ($1, $2, 'parent', 0, $3)",
            )
            .bind(trunk.port_id.to_string())
            .bind(trunk.id.to_string())
            .bind(trunk.parent_state.status.as_str())
            .execute(self.conn())
            .await?;
        }
        // A new trunk's subports are numbered from the start: no need to look up the last.
        self.insert_members_after(trunk.id, &trunk.sub_ports, 0)
            .await?;
        insert_tags(
            self.conn(),
            ResourceKind::Trunk,
            &trunk.id.to_string(),
            &trunk.std.tags,
        )
        .await
    }

    async fn update_trunk(&mut self, trunk: &Trunk) -> Result<(), StoreError> {
        Stmt::new(
            "UPDATE trunks SET name = $1, description = $2, admin_state_up = $3, status = $4, \
             refusal = $5, revision_number = $6, updated_at = $7 WHERE id = $8",
        )
        .bind(&trunk.name)
        .bind(&trunk.description)
        .bind(trunk.admin_state_up)
        .bind(trunk.status.as_str())
        .bind(trunk.refusal.clone())
        .bind(trunk.std.revision_number)
        .bind(&trunk.std.updated_at)
        .bind(trunk.id.to_string())
        .execute(self.conn())
        .await
        .map(|_| ())
    }

    async fn delete_trunk(&mut self, id: TrunkId) -> Result<(), StoreError> {
        let id = id.to_string();
        self.replace_tags(ResourceKind::Trunk, &id, &[]).await?;
        Stmt::new("DELETE FROM trunk_members WHERE trunk_id = $1")
            .bind(&id)
            .execute(self.conn())
            .await?;
        Stmt::new("DELETE FROM trunks WHERE id = $1")
            .bind(&id)
            .execute(self.conn())
            .await
            .map(|_| ())
    }

    async fn insert_subports(
        &mut self,
        trunk: TrunkId,
        subports: &[Subport],
    ) -> Result<(), StoreError> {
        if subports.is_empty() {
            return Ok(());
        }
        let last: i64 =
            Stmt::new("SELECT COALESCE(MAX(position), 0) FROM trunk_members WHERE trunk_id = $1")
                .bind(trunk.to_string())
                .scalar(self.conn())
                .await?;
        self.insert_members_after(trunk, subports, last).await
    }

    /// Held until the commit ([`Appended`]).
    async fn insert_audit(&mut self, row: &NewAuditRow) -> Result<(), StoreError> {
        self.appended.audit(row);
        Ok(())
    }

    async fn list_audit(&mut self, query: &AuditQuery) -> Result<Vec<AuditRow>, StoreError> {
        let mut builder = Builder::new(
            "SELECT id, trunk_id, project_id, at, at_ms, action, revision_before, \
             revision_after, actor, details FROM trunk_audit WHERE trunk_id = ",
        );
        builder.push_bind(query.trunk_id.to_string());
        if let Some(after) = query.after_id {
            builder.push(" AND id > ").push_bind(after);
        }
        if let Some(since) = query.since_ms {
            builder.push(" AND at_ms >= ").push_bind(since);
        }
        if let Some(until) = query.until_ms {
            builder.push(" AND at_ms <= ").push_bind(until);
        }
        if let Some(action) = &query.action {
            builder.push(" AND action = ").push_bind(action.clone());
        }
        builder.push(" ORDER BY id LIMIT ").push_bind(query.limit);
        builder
            .fetch(self.conn(), &|row| {
                let trunk: &str = get(row, "trunk_id")?;
                Ok(AuditRow {
                    id: get(row, "id")?,
                    row: NewAuditRow {
                        trunk_id: rows::parse_id("trunk id", trunk)?,
                        project_id: ProjectId::new(get::<String>(row, "project_id")?),
                        at: get(row, "at")?,
                        at_ms: get(row, "at_ms")?,
                        action: get(row, "action")?,
                        revision_before: get(row, "revision_before")?,
                        revision_after: get(row, "revision_after")?,
                        actor_json: get(row, "actor")?,
                        details_json: get(row, "details")?,
                    },
                })
            })
            .await
    }

    async fn claim_idempotency_key(
        &mut self,
        claim: &IdempotencyClaim,
        now_ms: i64,
        expired_before_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = Stmt::new(
            "INSERT INTO idempotency_keys (scope, idempotency_key, fingerprint, request_id, \
             created_at_ms) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (scope, idempotency_key) DO UPDATE SET \
             fingerprint = excluded.fingerprint, request_id = excluded.request_id, \
             created_at_ms = excluded.created_at_ms, answer_status = NULL, \
             answer_content_type = NULL, answer_body = NULL \
             WHERE idempotency_keys.created_at_ms < $6",
        )
        .bind(&claim.scope)
        .bind(&claim.key)
        .bind(&claim.fingerprint)
        .bind(&claim.request_id)
        .bind(now_ms)
        .bind(expired_before_ms)
        .execute(self.conn())
        .await?;
        Ok(done == 1)
    }

    async fn idempotency_record(
        &mut self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        Stmt::new(
            "SELECT fingerprint, request_id, created_at_ms, answer_status, \
             answer_content_type, answer_body FROM idempotency_keys \
             WHERE scope = $1 AND idempotency_key = $2",
        )
        .bind(scope)
        .bind(key)
        .fetch_optional(self.conn(), &|row| {
            let status: Option<i64> = get(row, "answer_status")?;
            let body: Option<String> = get(row, "answer_body")?;
            let answer = match (status.and_then(|s| u16::try_from(s).ok()), body) {
                (Some(status), Some(body)) => Some(StoredAnswer {
                    status,
                    content_type: get::<Option<String>>(row, "answer_content_type")?
                        .unwrap_or_default(),
                    body,
                }),
                _ => None,
            };
            Ok(IdempotencyRecord {
                fingerprint: get(row, "fingerprint")?,
                request_id: get(row, "request_id")?,
                created_at_ms: get(row, "created_at_ms")?,
                answer,
            })
        })
        .await
    }

    async fn record_idempotent_answer(
        &mut self,
        claim: &IdempotencyClaim,
        answer: &StoredAnswer,
    ) -> Result<(), StoreError> {
        Stmt::new(
            "UPDATE idempotency_keys SET answer_status = $1, answer_content_type = $2, \
             answer_body = $3 WHERE scope = $4 AND idempotency_key = $5 AND fingerprint = $6 \
             AND request_id = $7",
        )
        .bind(i64::from(answer.status))
        .bind(&answer.content_type)
        .bind(&answer.body)
        .bind(&claim.scope)
        .bind(&claim.key)
        .bind(&claim.fingerprint)
        .bind(&claim.request_id)
        .execute(self.conn())
        .await
        .map(|_| ())
    }

    async fn cooling_vlans(
        &mut self,
        trunk: TrunkId,
        since_ms: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let trunk = trunk.to_string();
        Stmt::new("DELETE FROM vlan_cooldowns WHERE trunk_id = $1 AND freed_at_ms < $2")
            .bind(&trunk)
            .bind(since_ms)
            .execute(self.conn())
            .await?;
        Stmt::new("SELECT segmentation_id FROM vlan_cooldowns WHERE trunk_id = $1")
            .bind(&trunk)
            .scalars(self.conn())
            .await
    }

    async fn cool_vlans(
        &mut self,
        trunk: TrunkId,
        ids: &[i64],
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let trunk = trunk.to_string();
        for chunk in ids.chunks(CHUNK) {
            let mut builder = Builder::new(
                "INSERT INTO vlan_cooldowns (trunk_id, segmentation_id, freed_at_ms) ",
            );
            builder.push_values(chunk, |mut row, id| {
                row.push_bind(trunk.clone()).push_bind(*id).push_bind(at_ms);
            });
            builder.push(
                " ON CONFLICT (trunk_id, segmentation_id) \
                 DO UPDATE SET freed_at_ms = excluded.freed_at_ms",
            );
            builder.execute(self.conn()).await?;
        }
        Ok(())
    }

    async fn delete_subports(
        &mut self,
        trunk: TrunkId,
        ports: &[PortId],
    ) -> Result<(), StoreError> {
        for chunk in ports.chunks(CHUNK) {
            let mut builder =
                Builder::new("DELETE FROM trunk_members WHERE role = 'subport' AND trunk_id = ");
            builder.push_bind(trunk.to_string());
            builder.push(" AND port_id IN ");
            push_in_list(&mut builder, chunk.iter().map(ToString::to_string));
            builder.execute(self.conn()).await?;
        }
        Ok(())
    }

    async fn replace_tags(
        &mut self,
        kind: ResourceKind,
        id: &str,
        tags: &[String],
    ) -> Result<(), StoreError> {
        Stmt::new("DELETE FROM tags WHERE resource_type = $1 AND resource_id = $2")
            .bind(kind.as_str())
            .bind(id)
            .execute(self.conn())
            .await?;
        insert_tags(self.conn(), kind, id, tags).await
    }

    /// Held until the commit ([`Appended`]).
    async fn insert_event(&mut self, event: &NewEvent) -> Result<(), StoreError> {
        self.appended.event(event)
    }
}
