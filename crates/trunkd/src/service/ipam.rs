//! IP address management for ports (issue 18, item 2): which addresses a port gets from its
//! network's subnets, with Neutron's rules, and what a `fixed_ips` update takes and gives back.
//!
//! - A port created without `fixed_ips` gets one IPv4 address (from the first IPv4 subnet with
//!   one free), one IPv6 address from the first stateful IPv6 subnet (address mode
//!   `dhcpv6-stateful` or none) with one free, and its EUI-64 address on every IPv6 subnet
//!   whose addresses are automatic (`slaac`, `dhcpv6-stateless`).
//! - Each `fixed_ips` entry names a subnet (any free address of it), an address (the subnet of
//!   the network that holds it), or both. Addresses on automatic subnets are never chosen by the
//!   caller, and the port gets them whatever `fixed_ips` says.
//! - An update keeps the addresses the new list names again (by address, or by subnet for an
//!   entry without one), takes the new ones and gives back the rest, except automatic addresses,
//!   which stay (and follow the MAC).
//!
//! Planning ([`plan_create`], [`plan_update`]) is pure and checks every entry before anything
//! is taken; [`Allocator`] then takes and gives back addresses through [`IpamTx`] in the
//! port's own transaction, so a port and its addresses commit together and a refusal (an
//! address held, a subnet full) leaves nothing behind.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;

use crate::ids::{NetworkId, PortId, SubnetId};
use crate::model::{FixedIp, Ipv6Mode, Subnet};
use crate::store::ipam::{Address, Allocation, FreeRange, IpamTx};
use crate::store::{Constraint, StoreError, StoreTx};

use super::{ErrorKind, ServiceError};

/// One `fixed_ips` entry of a request: at least one of the two is given (the api layer
/// refuses an entry with neither).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedIpRequest {
    pub subnet_id: Option<SubnetId>,
    pub ip_address: Option<IpAddr>,
}

/// A subnet as IPAM sees it.
#[derive(Debug, Clone)]
pub struct SubnetRange {
    pub id: SubnetId,
    pub net: IpNet,
    /// Addresses come from the MAC (EUI-64), never from the pools.
    pub automatic: bool,
    pub pools: Vec<FreeRange>,
}

impl SubnetRange {
    pub fn of(subnet: &Subnet) -> Result<Self, ServiceError> {
        let net: IpNet = subnet.cidr.parse().map_err(|_| ServiceError::Internal {
            message: format!(
                "stored cidr {:?} of subnet {} does not parse",
                subnet.cidr, subnet.id
            ),
        })?;
        let pools = subnet
            .allocation_pools
            .iter()
            .map(|pool| {
                let parse = |text: &str| {
                    text.parse::<IpAddr>()
                        .map(Address::of)
                        .map_err(|_| ServiceError::Internal {
                            message: format!("stored pool of subnet {} does not parse", subnet.id),
                        })
                };
                Ok(FreeRange {
                    first: parse(&pool.start)?,
                    last: parse(&pool.end)?,
                })
            })
            .collect::<Result<_, ServiceError>>()?;
        Ok(Self {
            id: subnet.id,
            net,
            automatic: is_automatic(subnet),
            pools,
        })
    }

    fn v6(&self) -> bool {
        self.net.addr().is_ipv6()
    }

    fn in_pools(&self, address: Address) -> bool {
        self.pools
            .iter()
            .any(|pool| pool.first <= address && address <= pool.last)
    }
}

/// Whether a subnet's addresses are EUI-64 ones, derived from each port's MAC.
pub fn is_automatic(subnet: &Subnet) -> bool {
    subnet.ip_version == 6
        && matches!(
            subnet.ipv6_address_mode,
            Some(Ipv6Mode::Slaac | Ipv6Mode::Dhcpv6Stateless)
        )
}

/// The EUI-64 address of `mac` in the /64 `net` starts with; `None` for a MAC that does not
/// parse (trunkd stores only valid ones).
pub fn eui64(net: &IpNet, mac: &str) -> Option<IpAddr> {
    let IpAddr::V6(prefix) = net.network() else {
        return None;
    };
    let bytes: Vec<u8> = mac
        .split(':')
        .map(|octet| u8::from_str_radix(octet, 16).ok())
        .collect::<Option<_>>()?;
    let [a, b, c, d, e, f] = <[u8; 6]>::try_from(bytes).ok()?;
    let interface = u64::from_be_bytes([a ^ 0x02, b, c, 0xff, 0xfe, d, e, f]);
    let high = u128::from(prefix) & !u128::from(u64::MAX);
    Some(IpAddr::V6(Ipv6Addr::from(high | u128::from(interface))))
}

/// What a port needs from IPAM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// This address of this subnet: given by the caller, or the port's EUI-64 address.
    Exact { subnet: SubnetId, ip: IpAddr },
    /// The lowest free address of the first of these subnets that has one.
    AnyOf(Vec<SubnetId>),
}

/// A port's addresses after an update: kept, to take, to give back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdatePlan {
    pub keep: Vec<FixedIp>,
    pub take: Vec<Want>,
    pub release: Vec<FixedIp>,
}

fn invalid_for_subnet(ip: IpAddr) -> ServiceError {
    ServiceError::invalid_input(
        "fixed_ips",
        format!("IP address {ip} is not a valid IP for the specified subnet"),
    )
}

/// Checks an address the caller chose on `subnet`: inside its CIDR, a host address (for IPv4
/// not the network or broadcast address, for IPv6 not the subnet-router anycast address), and
/// not on a subnet whose addresses are automatic.
fn check_chosen(subnet: &SubnetRange, ip: IpAddr) -> Result<(), ServiceError> {
    if !subnet.net.contains(&ip) || ip.is_ipv4() != subnet.net.addr().is_ipv4() {
        return Err(invalid_for_subnet(ip));
    }
    let edge = ip == subnet.net.network()
        || (ip.is_ipv4() && ip == subnet.net.broadcast() && subnet.net.prefix_len() < 31);
    if edge && subnet.net.prefix_len() < subnet.net.max_prefix_len() - 1 {
        return Err(invalid_for_subnet(ip));
    }
    if subnet.automatic {
        return Err(ServiceError::invalid_input(
            "fixed_ips",
            format!(
                "IPv6 address {ip} cannot be directly assigned to a port on subnet {} as the \
                 subnet is configured for automatic addresses",
                subnet.id
            ),
        ));
    }
    Ok(())
}

/// The subnet of `subnets` an entry names; a subnet of another network (or none) is the
/// caller's to resolve into a 400 or a 404, see [`ForeignSubnet`].
fn named(subnets: &[SubnetRange], id: SubnetId) -> Result<&SubnetRange, ForeignSubnet> {
    subnets.iter().find(|s| s.id == id).ok_or(ForeignSubnet(id))
}

/// An entry named a subnet that is not one of the port's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForeignSubnet(pub SubnetId);

/// Why a plan failed: bad input, or a subnet id to look up before answering.
#[derive(Debug)]
pub enum PlanError {
    Refused(ServiceError),
    Foreign(ForeignSubnet),
}

impl From<ServiceError> for PlanError {
    fn from(error: ServiceError) -> Self {
        PlanError::Refused(error)
    }
}

impl From<ForeignSubnet> for PlanError {
    fn from(foreign: ForeignSubnet) -> Self {
        PlanError::Foreign(foreign)
    }
}

/// What one entry asks for.
fn want_of(subnets: &[SubnetRange], entry: &FixedIpRequest, mac: &str) -> Result<Want, PlanError> {
    match (entry.subnet_id, entry.ip_address) {
        (Some(id), Some(ip)) => {
            let subnet = named(subnets, id)?;
            check_chosen(subnet, ip)?;
            Ok(Want::Exact { subnet: id, ip })
        }
        (Some(id), None) => {
            let subnet = named(subnets, id)?;
            Ok(automatic_want(subnet, mac)?.unwrap_or(Want::AnyOf(vec![id])))
        }
        (None, Some(ip)) => {
            let subnet = subnets
                .iter()
                .find(|s| s.net.contains(&ip) && s.net.addr().is_ipv4() == ip.is_ipv4())
                .ok_or_else(|| {
                    ServiceError::invalid_input(
                        "fixed_ips",
                        format!(
                            "IP address {ip} is not a valid IP for any of the subnets on the \
                             specified network"
                        ),
                    )
                })?;
            check_chosen(subnet, ip)?;
            Ok(Want::Exact {
                subnet: subnet.id,
                ip,
            })
        }
        (None, None) => Err(ServiceError::invalid_input(
            "fixed_ips",
            "IP allocation requires subnet_id or ip_address",
        )
        .into()),
    }
}

/// The port's EUI-64 address on an automatic subnet; `None` on others.
fn automatic_want(subnet: &SubnetRange, mac: &str) -> Result<Option<Want>, ServiceError> {
    if !subnet.automatic {
        return Ok(None);
    }
    let ip = eui64(&subnet.net, mac).ok_or_else(|| ServiceError::Internal {
        message: format!("no EUI-64 address for MAC {mac:?}"),
    })?;
    Ok(Some(Want::Exact {
        subnet: subnet.id,
        ip,
    }))
}

/// What a new port takes: `requested` (`None`: Neutron's defaults), plus its address on
/// every automatic subnet it did not name.
pub fn plan_create(
    subnets: &[SubnetRange],
    requested: Option<&[FixedIpRequest]>,
    mac: &str,
) -> Result<Vec<Want>, PlanError> {
    let mut wants = match requested {
        Some(entries) => entries
            .iter()
            .map(|entry| want_of(subnets, entry, mac))
            .collect::<Result<Vec<_>, _>>()?,
        None => {
            let stateful = |v6: bool| -> Vec<SubnetId> {
                subnets
                    .iter()
                    .filter(|s| s.v6() == v6 && !s.automatic)
                    .map(|s| s.id)
                    .collect()
            };
            [stateful(false), stateful(true)]
                .into_iter()
                .filter(|ids| !ids.is_empty())
                .map(Want::AnyOf)
                .collect()
        }
    };
    add_automatic(subnets, mac, &mut wants)?;
    Ok(wants)
}

/// Adds the port's address on each automatic subnet `wants` does not already cover.
fn add_automatic(
    subnets: &[SubnetRange],
    mac: &str,
    wants: &mut Vec<Want>,
) -> Result<(), ServiceError> {
    for subnet in subnets.iter().filter(|s| s.automatic) {
        let covered = wants
            .iter()
            .any(|w| matches!(w, Want::Exact { subnet: id, .. } if *id == subnet.id));
        if !covered {
            if let Some(want) = automatic_want(subnet, mac)? {
                wants.push(want);
            }
        }
    }
    Ok(())
}

/// What an update of `fixed_ips` (and, or only, of the MAC: `requested` is `None` then) keeps,
/// takes and gives back.
pub fn plan_update(
    subnets: &[SubnetRange],
    current: &[FixedIp],
    requested: Option<&[FixedIpRequest]>,
    mac: &str,
) -> Result<UpdatePlan, PlanError> {
    let automatic = |fixed: &FixedIp| {
        fixed
            .subnet_id
            .as_deref()
            .and_then(|id| subnets.iter().find(|s| s.id.to_string() == id))
            .filter(|s| s.automatic)
    };
    let mut unclaimed: Vec<Option<&FixedIp>> = current.iter().map(Some).collect();
    let mut plan = UpdatePlan::default();
    if let Some(entries) = requested {
        // Entries with an address first: they claim that address if the port holds it.
        let mut by_subnet = Vec::new();
        for entry in entries {
            let Some(ip) = entry.ip_address else {
                by_subnet.push(entry);
                continue;
            };
            let held = unclaimed.iter_mut().find(|slot| {
                slot.is_some_and(|fixed| {
                    fixed.ip_address.parse::<IpAddr>().ok() == Some(ip)
                        && entry
                            .subnet_id
                            .is_none_or(|id| fixed.subnet_id.as_deref() == Some(&id.to_string()))
                })
            });
            match held.and_then(Option::take) {
                Some(fixed) => plan.keep.push(fixed.clone()),
                None => plan.take.push(want_of(subnets, entry, mac)?),
            }
        }
        // Then entries naming only a subnet: they keep an address the port holds there.
        for entry in by_subnet {
            let Some(id) = entry.subnet_id else {
                // Neither a subnet nor an address: refused as on create.
                plan.take.push(want_of(subnets, entry, mac)?);
                continue;
            };
            let id_text = id.to_string();
            let held = unclaimed.iter_mut().find(|slot| {
                slot.is_some_and(|fixed| fixed.subnet_id.as_deref() == Some(&id_text))
            });
            match held.and_then(Option::take) {
                Some(fixed) => plan.keep.push(fixed.clone()),
                None => plan.take.push(want_of(subnets, entry, mac)?),
            }
        }
    } else {
        plan.keep = current
            .iter()
            .filter(|f| automatic(f).is_none())
            .cloned()
            .collect();
        unclaimed = current.iter().map(|f| automatic(f).map(|_| f)).collect();
    }
    // What is left: automatic addresses stay (at the MAC's address), the rest goes back.
    for fixed in unclaimed.into_iter().flatten() {
        if automatic(fixed).is_none() {
            plan.release.push(fixed.clone());
        }
    }
    // Automatic addresses, kept or not, follow the MAC.
    let mut kept_automatic = Vec::new();
    plan.keep.retain(|fixed| {
        if automatic(fixed).is_some() {
            kept_automatic.push(fixed.clone());
            false
        } else {
            true
        }
    });
    for fixed in current.iter().filter(|f| automatic(f).is_some()) {
        if !kept_automatic.contains(fixed) {
            kept_automatic.push(fixed.clone());
        }
    }
    for fixed in kept_automatic {
        let Some(subnet) = automatic(&fixed) else {
            continue;
        };
        match automatic_want(subnet, mac)? {
            Some(Want::Exact { ip, .. }) if fixed.ip_address.parse::<IpAddr>().ok() == Some(ip) => {
                plan.keep.push(fixed)
            }
            Some(want) => {
                plan.release.push(fixed);
                plan.take.push(want);
            }
            None => plan.keep.push(fixed),
        }
    }
    // An automatic subnet added since (or never named): its address joins.
    let mut covered: Vec<Want> = plan
        .keep
        .iter()
        .filter_map(|fixed| {
            let subnet = automatic(fixed)?;
            Some(Want::Exact {
                subnet: subnet.id,
                ip: fixed.ip_address.parse().ok()?,
            })
        })
        .chain(plan.take.iter().cloned())
        .collect();
    let before = covered.len();
    add_automatic(subnets, mac, &mut covered)?;
    plan.take.extend(covered.drain(before..));
    Ok(plan)
}

/// Takes and gives back addresses in one port write transaction.
pub struct Allocator<'a> {
    pub subnets: &'a [SubnetRange],
    pub network: NetworkId,
}

impl Allocator<'_> {
    fn subnet(&self, id: SubnetId) -> Result<&SubnetRange, ServiceError> {
        self.subnets
            .iter()
            .find(|s| s.id == id)
            .ok_or_else(|| ServiceError::Internal {
                message: format!("subnet {id} left the plan"),
            })
    }

    /// Takes what `wants` asks for, for `port`, in order; the fixed IPs it took.
    pub async fn take(
        &self,
        tx: &mut dyn StoreTx,
        port: PortId,
        wants: &[Want],
    ) -> Result<Vec<FixedIp>, ServiceError> {
        let mut taken = Vec::with_capacity(wants.len());
        for want in wants {
            let (subnet, ip) = match want {
                Want::Exact { subnet, ip } => {
                    let range = self.subnet(*subnet)?;
                    if !range.automatic {
                        // Out of the free ranges if it is there; held or outside the pools if
                        // not, and the allocation's key tells which.
                        tx.ipam().take_free(*subnet, Address::of(*ip)).await?;
                    }
                    (*subnet, *ip)
                }
                Want::AnyOf(candidates) => self.lowest_free(tx.ipam(), candidates).await?,
            };
            let allocation = Allocation {
                subnet_id: subnet,
                network_id: self.network,
                port_id: port,
                ip,
            };
            tx.ipam()
                .insert_allocation(&allocation)
                .await
                .map_err(|error| match error {
                    StoreError::Unique(Constraint::IpAllocation) => ServiceError::conflict(
                        ErrorKind::IpAddressAlreadyAllocated,
                        format!("IP address {ip} already allocated in subnet {subnet}"),
                    ),
                    other => other.into(),
                })?;
            taken.push(FixedIp {
                subnet_id: Some(subnet.to_string()),
                ip_address: ip.to_string(),
            });
        }
        Ok(taken)
    }

    async fn lowest_free(
        &self,
        ipam: &mut dyn IpamTx,
        candidates: &[SubnetId],
    ) -> Result<(SubnetId, IpAddr), ServiceError> {
        for id in candidates {
            let range = self.subnet(*id)?;
            if let Some(address) = ipam.take_lowest_free(*id).await? {
                let ip = address
                    .to_ip(range.v6())
                    .ok_or_else(|| ServiceError::Internal {
                        message: format!("free range of subnet {id} holds a foreign address"),
                    })?;
                return Ok((*id, ip));
            }
        }
        Err(ServiceError::conflict(
            ErrorKind::IpAddressGenerationFailure,
            format!(
                "No more IP addresses available on network {}.",
                self.network
            ),
        ))
    }

    /// Gives back fixed IPs a port held: forgets the allocation and returns a pool address to
    /// the free ranges. Entries that name no subnet of the network (stored before IPAM) were
    /// never allocated and need nothing.
    pub async fn release(
        &self,
        tx: &mut dyn StoreTx,
        fixed_ips: &[FixedIp],
    ) -> Result<(), ServiceError> {
        let by_id: HashMap<String, &SubnetRange> =
            self.subnets.iter().map(|s| (s.id.to_string(), s)).collect();
        for fixed in fixed_ips {
            let Some(subnet) = fixed.subnet_id.as_deref().and_then(|id| by_id.get(id)) else {
                continue;
            };
            let Ok(ip) = fixed.ip_address.parse::<IpAddr>() else {
                continue;
            };
            let address = Address::of(ip);
            tx.ipam().delete_allocation(subnet.id, address).await?;
            if !subnet.automatic && subnet.in_pools(address) {
                tx.ipam().give_back(subnet.id, address).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(cidr: &str, automatic: bool) -> SubnetRange {
        let net: IpNet = cidr.parse().expect("cidr");
        SubnetRange {
            id: SubnetId::new(),
            net,
            automatic,
            pools: Vec::new(),
        }
    }

    const MAC: &str = "fa:16:3e:12:34:56";

    fn exact(subnet: &SubnetRange, ip: &str) -> Want {
        Want::Exact {
            subnet: subnet.id,
            ip: ip.parse().expect("ip"),
        }
    }

    fn refused(result: Result<impl std::fmt::Debug, PlanError>) -> String {
        match result {
            Err(PlanError::Refused(ServiceError::BadRequest { field, message })) => {
                assert_eq!(field.as_deref(), Some("fixed_ips"));
                message
            }
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn eui64_flips_the_universal_bit_and_inserts_fffe() {
        let net: IpNet = "2001:db8:1:2::/64".parse().expect("cidr");
        assert_eq!(
            eui64(&net, MAC).map(|ip| ip.to_string()).as_deref(),
            Some("2001:db8:1:2:f816:3eff:fe12:3456")
        );
        assert_eq!(eui64(&net, "nope"), None);
    }

    #[test]
    fn defaults_take_one_v4_one_stateful_v6_and_every_automatic_address() {
        let v4a = subnet("10.0.0.0/24", false);
        let v4b = subnet("10.0.1.0/24", false);
        let v6 = subnet("2001:db8::/64", false);
        let slaac = subnet("2001:db8:1::/64", true);
        let subnets = [v4a.clone(), v6.clone(), v4b.clone(), slaac.clone()];
        let wants = plan_create(&subnets, None, MAC).expect("plan");
        assert_eq!(
            wants,
            vec![
                Want::AnyOf(vec![v4a.id, v4b.id]),
                Want::AnyOf(vec![v6.id]),
                exact(&slaac, "2001:db8:1::f816:3eff:fe12:3456"),
            ]
        );
        assert_eq!(plan_create(&[], None, MAC).ok(), Some(vec![]));
    }

    #[test]
    fn entries_resolve_to_their_subnet_and_are_checked() {
        let v4 = subnet("10.0.0.0/24", false);
        let slaac = subnet("2001:db8:1::/64", true);
        let subnets = [v4.clone(), slaac.clone()];
        let entry = |s: Option<SubnetId>, ip: Option<&str>| FixedIpRequest {
            subnet_id: s,
            ip_address: ip.map(|ip| ip.parse().expect("ip")),
        };
        let plan =
            plan_create(&subnets, Some(&[entry(None, Some("10.0.0.9"))]), MAC).expect("plan");
        assert_eq!(plan[0], exact(&v4, "10.0.0.9"));
        assert_eq!(plan.len(), 2, "the automatic address joins: {plan:?}");
        for bad in ["10.0.0.0", "10.0.0.255", "10.0.2.1"] {
            let message = refused(plan_create(
                &subnets,
                Some(&[entry(Some(v4.id), Some(bad))]),
                MAC,
            ));
            assert!(
                message.contains("not a valid IP for the specified subnet"),
                "{message}"
            );
        }
        let message = refused(plan_create(
            &subnets,
            Some(&[entry(None, Some("192.0.2.1"))]),
            MAC,
        ));
        assert!(message.contains("any of the subnets"), "{message}");
        let message = refused(plan_create(
            &subnets,
            Some(&[entry(Some(slaac.id), Some("2001:db8:1::5"))]),
            MAC,
        ));
        assert!(message.contains("automatic addresses"), "{message}");
        let other = SubnetId::new();
        assert!(matches!(
            plan_create(&subnets, Some(&[entry(Some(other), None)]), MAC),
            Err(PlanError::Foreign(ForeignSubnet(id))) if id == other
        ));
        // On a /31 and a /32 every address is a host address.
        let point = subnet("10.9.9.8/31", false);
        assert!(plan_create(
            std::slice::from_ref(&point),
            Some(&[entry(Some(point.id), Some("10.9.9.8"))]),
            MAC
        )
        .is_ok());
    }

    fn fixed(subnet: &SubnetRange, ip: &str) -> FixedIp {
        FixedIp {
            subnet_id: Some(subnet.id.to_string()),
            ip_address: ip.into(),
        }
    }

    #[test]
    fn updates_keep_what_is_named_again_and_give_back_the_rest() {
        let v4 = subnet("10.0.0.0/24", false);
        let slaac = subnet("2001:db8:1::/64", true);
        let subnets = [v4.clone(), slaac.clone()];
        let auto = fixed(&slaac, "2001:db8:1::f816:3eff:fe12:3456");
        let current = [fixed(&v4, "10.0.0.2"), fixed(&v4, "10.0.0.3"), auto.clone()];
        let request = [
            FixedIpRequest {
                subnet_id: None,
                ip_address: Some("10.0.0.3".parse().expect("ip")),
            },
            FixedIpRequest {
                subnet_id: Some(v4.id),
                ip_address: None,
            },
            FixedIpRequest {
                subnet_id: Some(v4.id),
                ip_address: Some("10.0.0.50".parse().expect("ip")),
            },
        ];
        let plan = plan_update(&subnets, &current, Some(&request), MAC).expect("plan");
        assert_eq!(
            plan.keep,
            vec![fixed(&v4, "10.0.0.3"), fixed(&v4, "10.0.0.2"), auto.clone()]
        );
        assert_eq!(plan.take, vec![exact(&v4, "10.0.0.50")]);
        assert!(plan.release.is_empty());

        let plan = plan_update(&subnets, &current, Some(&[]), MAC).expect("plan");
        assert_eq!(plan.keep, vec![auto.clone()]);
        assert_eq!(
            plan.release,
            vec![fixed(&v4, "10.0.0.2"), fixed(&v4, "10.0.0.3")]
        );

        // A new MAC moves the automatic address, and only it.
        let plan = plan_update(&subnets, &current, None, "fa:16:3e:00:00:01").expect("plan");
        assert_eq!(
            plan.keep,
            vec![fixed(&v4, "10.0.0.2"), fixed(&v4, "10.0.0.3")]
        );
        assert_eq!(plan.release, vec![auto]);
        assert_eq!(
            plan.take,
            vec![exact(&slaac, "2001:db8:1::f816:3eff:fe00:1")]
        );
    }
}
