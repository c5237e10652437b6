//! [`IpamTx`] over SQL: the allocation and free-range statements of `store/ipam.rs`, each a
//! probe of a primary key or of `ip_free_ranges_last`, and the one-off seeding of subnets
//! created before the schema had free ranges.

use async_trait::async_trait;

use crate::ids::SubnetId;
use crate::model::AllocationPool;
use crate::store::ipam::{Address, Allocation, FreeRange, IpamTx};
use crate::store::StoreError;

use super::exec::{get, SqlConn, Stmt};
use super::{Dialect, SqlTx};

/// `(first, last)` key texts of one free range.
type RangeKeys = (String, String);

/// Runs a statement of bound texts.
fn statement(sql: &'static str, values: &[String]) -> Stmt {
    values
        .iter()
        .fold(Stmt::new(sql), |statement, value| statement.bind(value))
}

/// Runs a query of bound texts and reads one named text column of the rows it returns.
async fn texts<C: SqlConn>(
    conn: &mut C,
    sql: &'static str,
    values: &[String],
    column: &'static str,
) -> Result<Vec<String>, StoreError> {
    statement(sql, values)
        .fetch(conn, &|row| get(row, column))
        .await
}

/// The one range a query of `first_key, last_key` found, if any.
async fn one_range<C: SqlConn>(
    conn: &mut C,
    sql: &'static str,
    values: &[String],
) -> Result<Option<RangeKeys>, StoreError> {
    statement(sql, values)
        .fetch_optional(conn, &|row| {
            Ok((get(row, "first_key")?, get(row, "last_key")?))
        })
        .await
}

/// Runs one statement of bound texts.
async fn run<C: SqlConn>(
    conn: &mut C,
    sql: &'static str,
    values: &[String],
) -> Result<(), StoreError> {
    statement(sql, values).execute(conn).await.map(|_| ())
}

const INSERT_RANGE: &str =
    "INSERT INTO ip_free_ranges (subnet_id, first_key, last_key) VALUES ($1, $2, $3)";
const DELETE_RANGE: &str = "DELETE FROM ip_free_ranges WHERE subnet_id = $1 AND first_key = $2";
const SET_FIRST: &str =
    "UPDATE ip_free_ranges SET first_key = $3 WHERE subnet_id = $1 AND first_key = $2";
const SET_LAST: &str =
    "UPDATE ip_free_ranges SET last_key = $3 WHERE subnet_id = $1 AND first_key = $2";

#[async_trait]
impl<D: Dialect> IpamTx for SqlTx<D> {
    async fn seed_free_ranges(
        &mut self,
        subnet: SubnetId,
        ranges: &[FreeRange],
    ) -> Result<(), StoreError> {
        let subnet = subnet.to_string();
        for range in ranges {
            run(
                self.conn(),
                INSERT_RANGE,
                &[subnet.clone(), range.first.key(), range.last.key()],
            )
            .await?;
        }
        Stmt::new("UPDATE subnets SET ipam_seeded = $1 WHERE id = $2")
            .bind(true)
            .bind(subnet)
            .execute(self.conn())
            .await
            .map(|_| ())
    }

    async fn clear_free_ranges(&mut self, subnet: SubnetId) -> Result<(), StoreError> {
        run(
            self.conn(),
            "DELETE FROM ip_free_ranges WHERE subnet_id = $1",
            &[subnet.to_string()],
        )
        .await
    }

    async fn take_lowest_free(&mut self, subnet: SubnetId) -> Result<Option<Address>, StoreError> {
        let subnet = subnet.to_string();
        let lowest = one_range(
            self.conn(),
            "SELECT first_key, last_key FROM ip_free_ranges \
             WHERE subnet_id = $1 ORDER BY first_key LIMIT 1",
            std::slice::from_ref(&subnet),
        )
        .await?;
        let Some((first_key, last_key)) = lowest else {
            return Ok(None);
        };
        let first = Address::from_key(&first_key)?;
        match first.next() {
            Some(next) if first_key != last_key => {
                run(self.conn(), SET_FIRST, &[subnet, first_key, next.key()]).await?;
            }
            _ => run(self.conn(), DELETE_RANGE, &[subnet, first_key]).await?,
        }
        Ok(Some(first))
    }

    async fn take_free(&mut self, subnet: SubnetId, address: Address) -> Result<bool, StoreError> {
        let subnet = subnet.to_string();
        let key = address.key();
        let Some((first_key, last_key)) = one_range(
            self.conn(),
            "SELECT first_key, last_key FROM ip_free_ranges \
             WHERE subnet_id = $1 AND first_key <= $2 ORDER BY first_key DESC LIMIT 1",
            &[subnet.clone(), key.clone()],
        )
        .await?
        else {
            return Ok(false);
        };
        if last_key < key {
            return Ok(false);
        }
        let starts_here = first_key == key;
        let ends_here = last_key == key;
        match (starts_here, ends_here, address.previous(), address.next()) {
            (true, true, _, _) => run(self.conn(), DELETE_RANGE, &[subnet, first_key]).await?,
            (true, false, _, Some(next)) => {
                run(self.conn(), SET_FIRST, &[subnet, first_key, next.key()]).await?
            }
            (false, true, Some(previous), _) => {
                run(self.conn(), SET_LAST, &[subnet, first_key, previous.key()]).await?
            }
            (false, false, Some(previous), Some(next)) => {
                run(
                    self.conn(),
                    SET_LAST,
                    &[subnet.clone(), first_key, previous.key()],
                )
                .await?;
                run(self.conn(), INSERT_RANGE, &[subnet, next.key(), last_key]).await?;
            }
            // An address strictly inside a range has both neighbours; one at the edge of the
            // address space is an edge of its range.
            _ => {
                return Err(StoreError::Internal(format!(
                    "free range {first_key}..{last_key} cannot hold {key}"
                )))
            }
        }
        Ok(true)
    }

    async fn give_back(&mut self, subnet: SubnetId, address: Address) -> Result<(), StoreError> {
        let subnet = subnet.to_string();
        let key = address.key();
        let below = match address.previous() {
            Some(previous) => one_range(
                self.conn(),
                "SELECT first_key, last_key FROM ip_free_ranges \
                 WHERE subnet_id = $1 AND last_key = $2",
                &[subnet.clone(), previous.key()],
            )
            .await?
            .map(|(first, _)| first),
            None => None,
        };
        let above = match address.next() {
            Some(next) => {
                one_range(
                    self.conn(),
                    "SELECT first_key, last_key FROM ip_free_ranges \
                     WHERE subnet_id = $1 AND first_key = $2",
                    &[subnet.clone(), next.key()],
                )
                .await?
            }
            None => None,
        };
        match (below, above) {
            (Some(below_first), Some((above_first, above_last))) => {
                run(self.conn(), DELETE_RANGE, &[subnet.clone(), above_first]).await?;
                run(self.conn(), SET_LAST, &[subnet, below_first, above_last]).await
            }
            (Some(below_first), None) => {
                run(self.conn(), SET_LAST, &[subnet, below_first, key]).await
            }
            (None, Some((above_first, _))) => {
                run(self.conn(), SET_FIRST, &[subnet, above_first, key]).await
            }
            (None, None) => run(self.conn(), INSERT_RANGE, &[subnet, key.clone(), key]).await,
        }
    }

    async fn insert_allocation(&mut self, allocation: &Allocation) -> Result<(), StoreError> {
        run(
            self.conn(),
            "INSERT INTO ip_allocations (subnet_id, address_key, ip_address, port_id, network_id) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                allocation.subnet_id.to_string(),
                Address::of(allocation.ip).key(),
                allocation.ip.to_string(),
                allocation.port_id.to_string(),
                allocation.network_id.to_string(),
            ],
        )
        .await
    }

    async fn delete_allocation(
        &mut self,
        subnet: SubnetId,
        address: Address,
    ) -> Result<(), StoreError> {
        run(
            self.conn(),
            "DELETE FROM ip_allocations WHERE subnet_id = $1 AND address_key = $2",
            &[subnet.to_string(), address.key()],
        )
        .await
    }

    async fn addresses_in_use(&mut self, subnet: SubnetId) -> Result<Vec<Address>, StoreError> {
        let keys = texts(
            self.conn(),
            "SELECT address_key FROM ip_allocations WHERE subnet_id = $1 ORDER BY address_key",
            &[subnet.to_string()],
            "address_key",
        )
        .await?;
        keys.iter().map(|key| Address::from_key(key)).collect()
    }

    async fn subnet_in_use(&mut self, subnet: SubnetId) -> Result<bool, StoreError> {
        let found = texts(
            self.conn(),
            "SELECT port_id FROM ip_allocations WHERE subnet_id = $1 LIMIT 1",
            &[subnet.to_string()],
            "port_id",
        )
        .await?;
        Ok(!found.is_empty())
    }
}

/// The free ranges of pools as stored on a subnet row; pools that do not parse (never written
/// by trunkd, which validates them) are an error rather than addresses silently lost.
pub(super) fn pool_ranges(pools: &[AllocationPool]) -> Result<Vec<FreeRange>, StoreError> {
    pools
        .iter()
        .map(|pool| {
            let parse = |text: &str| {
                text.parse()
                    .map(Address::of)
                    .map_err(|_| StoreError::Internal(format!("bad pool address {text:?}")))
            };
            Ok(FreeRange {
                first: parse(&pool.start)?,
                last: parse(&pool.end)?,
            })
        })
        .collect()
}

/// Subnets created before schema version 5, whose free ranges were never written, with
/// their pools as free ranges (less nothing: ports could not take addresses from subnets
/// then). The store seeds them after migrating.
pub(super) async fn unseeded_subnets<C: SqlConn>(
    conn: &mut C,
) -> Result<Vec<(SubnetId, Vec<FreeRange>)>, StoreError> {
    Stmt::new("SELECT id, allocation_pools FROM subnets WHERE ipam_seeded = $1")
        .bind(false)
        .fetch(conn, &|row| {
            let id: &str = get(row, "id")?;
            let pools: &str = get(row, "allocation_pools")?;
            let subnet: SubnetId = id
                .parse()
                .map_err(|_| StoreError::Internal(format!("bad subnet id {id:?}")))?;
            let pools: Vec<AllocationPool> = serde_json::from_str(pools)
                .map_err(|_| StoreError::Internal(format!("bad allocation pools of {id}")))?;
            Ok((subnet, pool_ranges(&pools)?))
        })
        .await
}
