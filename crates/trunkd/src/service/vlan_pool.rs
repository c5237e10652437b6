//! Server-side VLAN allocation (issue 20, item 1): which IDs a trunk may hand out to subports
//! that ask for one. Pure, so the rules are tested without a store: the service gathers the IDs
//! in use on the trunk (its subports and the request's explicit IDs) and those still resting
//! after a removal, in its write transaction, and asks this module for the lowest free ones.

use super::subports::{VLAN_MAX, VLAN_MIN};

/// Why a trunk cannot give a VLAN ID: how many are taken and how many rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exhausted {
    /// Index, among the IDs asked for, of the first one that could not be given.
    pub wanted_index: usize,
    pub in_use: usize,
    pub resting: usize,
}

/// The IDs of one trunk's VLAN space, each free, in use or resting.
pub(crate) struct VlanPool {
    /// `taken[id]`: in use or resting; index 0 is unused.
    taken: Vec<bool>,
    in_use: usize,
    resting: usize,
    /// No ID below this is free (allocation walks up from here).
    cursor: i64,
}

impl VlanPool {
    /// A pool where `in_use` are taken by subports (or by the request) and `resting` were freed
    /// too recently to be handed out. IDs outside 1..=4094 are ignored.
    pub fn new(
        in_use: impl IntoIterator<Item = i64>,
        resting: impl IntoIterator<Item = i64>,
    ) -> Self {
        let mut pool = Self {
            taken: vec![false; (VLAN_MAX + 1) as usize],
            in_use: 0,
            resting: 0,
            cursor: VLAN_MIN,
        };
        for id in in_use {
            if pool.take(id) {
                pool.in_use += 1;
            }
        }
        for id in resting {
            if pool.take(id) {
                pool.resting += 1;
            }
        }
        pool
    }

    fn take(&mut self, id: i64) -> bool {
        match usize::try_from(id) {
            Ok(slot) if (VLAN_MIN..=VLAN_MAX).contains(&id) && !self.taken[slot] => {
                self.taken[slot] = true;
                true
            }
            _ => false,
        }
    }

    /// The lowest `count` free IDs, ascending, or why there are not enough.
    pub fn allocate(&mut self, count: usize) -> Result<Vec<i64>, Exhausted> {
        let mut given = Vec::with_capacity(count);
        while given.len() < count {
            while self.cursor <= VLAN_MAX && self.taken[self.cursor as usize] {
                self.cursor += 1;
            }
            if self.cursor > VLAN_MAX {
                return Err(Exhausted {
                    wanted_index: given.len(),
                    in_use: self.in_use + given.len(),
                    resting: self.resting,
                });
            }
            self.taken[self.cursor as usize] = true;
            given.push(self.cursor);
        }
        Ok(given)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lowest_free_ids_come_first() {
        let mut pool = VlanPool::new([1, 2, 4], [3]);
        assert_eq!(pool.allocate(3), Ok(vec![5, 6, 7]));
        assert_eq!(pool.allocate(1), Ok(vec![8]));
    }

    #[test]
    fn an_empty_pool_gives_every_id_in_one_call() {
        let ids = VlanPool::new([], []).allocate(4094).unwrap_or_default();
        assert_eq!(ids, (1..=4094).collect::<Vec<_>>());
    }

    #[test]
    fn a_full_pool_says_how_it_is_full() {
        let mut pool = VlanPool::new(1..=4000, 4001..=4094);
        assert_eq!(
            pool.allocate(1),
            Err(Exhausted {
                wanted_index: 0,
                in_use: 4000,
                resting: 94
            })
        );
        let mut pool = VlanPool::new(1..=4090, []);
        assert_eq!(
            pool.allocate(5),
            Err(Exhausted {
                wanted_index: 4,
                in_use: 4094,
                resting: 0
            })
        );
    }

    #[test]
    fn out_of_range_and_repeated_ids_are_ignored() {
        let mut pool = VlanPool::new([0, 4095, -1, 7, 7], [7, 9000]);
        assert_eq!(pool.allocate(7), Ok(vec![1, 2, 3, 4, 5, 6, 8]));
    }

    proptest! {
        #[test]
        fn given_ids_are_free_distinct_and_lowest(
            in_use in proptest::collection::hash_set(1i64..=4094, 0..300),
            resting in proptest::collection::hash_set(1i64..=4094, 0..300),
            count in 0usize..400,
        ) {
            let mut pool = VlanPool::new(in_use.iter().copied(), resting.iter().copied());
            let free: Vec<i64> = (1..=4094)
                .filter(|id| !in_use.contains(id) && !resting.contains(id))
                .collect();
            match pool.allocate(count) {
                Ok(ids) => prop_assert_eq!(&ids[..], &free[..count]),
                Err(exhausted) => {
                    prop_assert!(count > free.len());
                    prop_assert_eq!(exhausted.wanted_index, free.len());
                }
            }
        }
    }
}
