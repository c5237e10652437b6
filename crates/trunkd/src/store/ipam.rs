//! IP address management in the store (issue 18, item 2): which addresses of a subnet ports
//! hold, and which are free to hand out.
//!
//! An allocation is a row keyed by (subnet, address): the database refuses a second holder of
//! an address whichever server asks, so two concurrent creates never share one. The free
//! addresses of a subnet's allocation pools are kept as ranges (first, last), both included:
//! handing out the lowest free address reads the subnet's first range and shrinks it, taking
//! a given address splits the range that holds it, and giving one back merges it with its
//! neighbours. Each is a fixed number of index probes however full the subnet is, so creating
//! a port costs the same on an empty /16 as on a nearly full one (nothing scans the addresses
//! in use).
//!
//! Addresses are numbers here ([`Address`], IPv4 in the low 32 bits); the SQL store keeps them
//! as 32 hex digits, a text whose byte order is numeric order, because neither database has an
//! unsigned 128-bit integer.

use std::net::IpAddr;

use async_trait::async_trait;

use super::StoreError;
use crate::ids::{NetworkId, PortId, SubnetId};

/// An address as a number: IPv6 addresses as their 128 bits, IPv4 ones in the low 32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(pub u128);

impl Address {
    pub fn of(ip: IpAddr) -> Self {
        Address(match ip {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            IpAddr::V6(v6) => u128::from(v6),
        })
    }

    /// The address back as an IP of the given version; `None` when it does not fit IPv4.
    pub fn to_ip(self, v6: bool) -> Option<IpAddr> {
        if v6 {
            Some(IpAddr::V6(self.0.into()))
        } else {
            u32::try_from(self.0).ok().map(|v4| IpAddr::V4(v4.into()))
        }
    }

    /// The key text the SQL store orders and compares.
    pub fn key(self) -> String {
        format!("{:032x}", self.0)
    }

    pub fn from_key(text: &str) -> Result<Self, StoreError> {
        if text.len() != 32 {
            return Err(StoreError::Internal(format!("bad address key {text:?}")));
        }
        u128::from_str_radix(text, 16)
            .map(Address)
            .map_err(|_| StoreError::Internal(format!("bad address key {text:?}")))
    }

    pub fn next(self) -> Option<Self> {
        self.0.checked_add(1).map(Address)
    }

    pub fn previous(self) -> Option<Self> {
        self.0.checked_sub(1).map(Address)
    }
}

/// Free addresses of a subnet, `first` to `last` included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreeRange {
    pub first: Address,
    pub last: Address,
}

/// One address a port holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub subnet_id: SubnetId,
    pub network_id: NetworkId,
    pub port_id: PortId,
    pub ip: IpAddr,
}

/// The IPAM half of a write transaction ([`super::StoreTx::ipam`]).
#[async_trait]
pub trait IpamTx: Send {
    /// Writes the free ranges of a subnet that has none yet (a new subnet, or one whose
    /// ranges were just cleared) and marks it seeded.
    async fn seed_free_ranges(
        &mut self,
        subnet: SubnetId,
        ranges: &[FreeRange],
    ) -> Result<(), StoreError>;
    /// Forgets every free range of a subnet (its pools change, or it goes).
    async fn clear_free_ranges(&mut self, subnet: SubnetId) -> Result<(), StoreError>;
    /// Takes the lowest free address of a subnet; `None` when the pools are exhausted.
    async fn take_lowest_free(&mut self, subnet: SubnetId) -> Result<Option<Address>, StoreError>;
    /// Takes `address` out of the free ranges; `false` when no free range holds it (it is
    /// held, or outside the pools).
    async fn take_free(&mut self, subnet: SubnetId, address: Address) -> Result<bool, StoreError>;
    /// Returns `address`, which must be inside the subnet's pools and not free, to the free
    /// ranges, merged with its neighbours.
    async fn give_back(&mut self, subnet: SubnetId, address: Address) -> Result<(), StoreError>;
    /// Records that a port holds an address; [`StoreError::Unique`] with
    /// [`super::Constraint::IpAllocation`] when another holds it.
    async fn insert_allocation(&mut self, allocation: &Allocation) -> Result<(), StoreError>;
    /// Forgets that anyone holds an address.
    async fn delete_allocation(
        &mut self,
        subnet: SubnetId,
        address: Address,
    ) -> Result<(), StoreError>;
    /// Every address held on a subnet, lowest first.
    async fn addresses_in_use(&mut self, subnet: SubnetId) -> Result<Vec<Address>, StoreError>;
    /// Whether any port holds an address of the subnet.
    async fn subnet_in_use(&mut self, subnet: SubnetId) -> Result<bool, StoreError>;
}

/// `pools` less the addresses of `in_use` (sorted), as free ranges.
pub fn ranges_less(pools: &[FreeRange], in_use: &[Address]) -> Vec<FreeRange> {
    let mut free = Vec::with_capacity(pools.len());
    for pool in pools {
        let mut start = Some(pool.first);
        let held = in_use.partition_point(|a| *a < pool.first);
        for address in in_use[held..].iter().take_while(|a| **a <= pool.last) {
            if let Some(first) = start {
                if first < *address {
                    if let Some(last) = address.previous() {
                        free.push(FreeRange { first, last });
                    }
                }
            }
            start = address.next().filter(|next| *next <= pool.last);
        }
        if let Some(first) = start {
            if first <= pool.last {
                free.push(FreeRange {
                    first,
                    last: pool.last,
                });
            }
        }
    }
    free
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(first: u128, last: u128) -> FreeRange {
        FreeRange {
            first: Address(first),
            last: Address(last),
        }
    }

    #[test]
    fn keys_sort_as_numbers_and_read_back() {
        let values = [0u128, 1, 255, 256, u128::from(u32::MAX), u128::MAX];
        for pair in values.windows(2) {
            assert!(Address(pair[0]).key() < Address(pair[1]).key());
        }
        for value in values {
            assert_eq!(
                Address::from_key(&Address(value).key()).ok(),
                Some(Address(value))
            );
        }
        assert!(Address::from_key("zz").is_err());
    }

    #[test]
    fn addresses_convert_both_ways() {
        let v4: IpAddr = "10.0.1.2".parse().expect("ip");
        assert_eq!(Address::of(v4).to_ip(false), Some(v4));
        let v6: IpAddr = "2001:db8::7".parse().expect("ip");
        assert_eq!(Address::of(v6).to_ip(true), Some(v6));
        assert_eq!(Address(u128::from(u32::MAX) + 1).to_ip(false), None);
    }

    #[test]
    fn pools_less_held_addresses() {
        let pools = [range(10, 20), range(30, 30)];
        assert_eq!(ranges_less(&pools, &[]), pools.to_vec());
        assert_eq!(
            ranges_less(
                &pools,
                &[Address(10), Address(15), Address(20), Address(30)]
            ),
            vec![range(11, 14), range(16, 19)]
        );
        assert_eq!(
            ranges_less(&pools, &[Address(5), Address(16), Address(17), Address(99)]),
            vec![range(10, 15), range(18, 20), range(30, 30)]
        );
        assert_eq!(
            ranges_less(&[range(u128::MAX - 1, u128::MAX)], &[Address(u128::MAX)]),
            vec![range(u128::MAX - 1, u128::MAX - 1)]
        );
    }
}
