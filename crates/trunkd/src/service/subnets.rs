//! Subnet operations (issue 18, item 1): Neutron's `/v2.0/subnets` with its validation and
//! defaults. Addresses are checked and normalised here, so the store only ever holds valid
//! text; the address arithmetic (default gateway and pools, pool rules) is in pure functions
//! at the top, unit-tested on their own.
//!
//! Creating, updating and deleting a subnet records a [`SubnetEvent`] in the change's own
//! transaction, as networks do, for the data planes that serve subnets (OVN's DHCP options,
//! issue 18, item 3); a tag change records none.
//!
//! A subnet's free addresses (`service::ipam`) follow it in the same transactions: its pools
//! are written as free ranges when it is created, recomputed (less the addresses held) when
//! they change, and forgotten when it goes. A subnet whose addresses are automatic (EUI-64)
//! gives every port of its network its address when it is created, and takes them back when
//! it is deleted, as Neutron does; any other subnet with an address held cannot be deleted
//! (`SubnetInUse`).

use std::net::IpAddr;

use ipnet::IpNet;

use crate::ids::{NetworkId, ProjectId, SubnetId};
use crate::model::{AllocationPool, HostRoute, Ipv6Mode, Network, StandardAttrs, Subnet};
use crate::policy::{Action, Target};
use crate::store::event::{SubnetEvent, SubnetRef};
use crate::store::{ListQuery, NewEvent, ResourceKind, StoreTx};

use super::addressing::{address_ports, reseed, unaddress_ports};
use super::ipam::{self, SubnetRange};

use super::limits::{invisible_marker, marker_not_found};
use super::networks::visible_network;
use super::{
    check_length, check_revision, list_scope, owned_target, quota, Context, ErrorKind, Guard,
    Service, ServiceError, Shown, NAME_MAX,
};

/// What a subnet's outbox event names.
fn subnet_ref(subnet: &Subnet) -> SubnetRef {
    SubnetRef {
        id: subnet.id,
        network_id: subnet.network_id,
    }
}

/// Neutron's default `max_dns_nameservers`.
pub const MAX_DNS_NAMESERVERS: usize = 5;
/// Neutron's default `max_subnet_host_routes`.
pub const MAX_HOST_ROUTES: usize = 20;

/// `gateway_ip` in a request: absent (the default), `null` (none) or an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayRequest {
    Absent,
    Null,
    Address(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubnetCreate {
    pub project_id: Option<ProjectId>,
    pub network_id: Option<NetworkId>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub ip_version: Option<i64>,
    pub cidr: Option<String>,
    pub gateway_ip: GatewayRequest,
    pub allocation_pools: Option<Vec<AllocationPool>>,
    pub enable_dhcp: Option<bool>,
    pub dns_nameservers: Option<Vec<String>>,
    pub host_routes: Option<Vec<HostRoute>>,
    pub ipv6_address_mode: Option<String>,
    pub ipv6_ra_mode: Option<String>,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubnetUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub gateway_ip: GatewayRequest,
    pub allocation_pools: Option<Vec<AllocationPool>>,
    pub enable_dhcp: Option<bool>,
    pub dns_nameservers: Option<Vec<String>>,
    pub host_routes: Option<Vec<HostRoute>>,
}

// ---- address arithmetic -------------------------------------------------------------------

fn to_u128(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_u128(value: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(value.into())
    } else {
        // Values of an IPv4 network always fit.
        IpAddr::V4(u32::try_from(value).unwrap_or(u32::MAX).into())
    }
}

fn version_of(address: IpAddr) -> i64 {
    if address.is_ipv4() {
        4
    } else {
        6
    }
}

/// Parses a CIDR as Neutron's validator does (an address, `/`, a prefix length) and returns
/// it normalised to its network address: `10.1.0.5/24` is `10.1.0.0/24`.
pub fn parse_cidr(field: &str, text: &str) -> Result<IpNet, ServiceError> {
    let net: IpNet = text.parse().map_err(|_| {
        ServiceError::invalid_input(field, format!("'{text}' is not a valid IP subnet"))
    })?;
    Ok(net.trunc())
}

fn parse_ip(field: &str, text: &str) -> Result<IpAddr, ServiceError> {
    text.parse().map_err(|_| {
        ServiceError::invalid_input(field, format!("'{text}' is not a valid IP address"))
    })
}

/// The addresses of `net` that may be handed out, as Neutron counts them: not the network
/// address, and for IPv4 not the broadcast address; `None` when there are none (a /31).
fn usable_range(net: &IpNet) -> Option<(u128, u128)> {
    let first = to_u128(net.network());
    let last = to_u128(net.broadcast());
    if first == last {
        return Some((first, last));
    }
    let low = first + 1;
    let high = if net.addr().is_ipv4() { last - 1 } else { last };
    (low < high).then_some((low, high))
}

/// The default pools: the usable range less the gateway, split around it.
pub fn default_pools(net: &IpNet, gateway: Option<IpAddr>) -> Vec<AllocationPool> {
    let Some((low, high)) = usable_range(net) else {
        return Vec::new();
    };
    let v6 = net.addr().is_ipv6();
    let mut ranges = vec![(low, high)];
    if let Some(gateway) = gateway.map(to_u128) {
        ranges = ranges
            .into_iter()
            .flat_map(|(start, end)| {
                if gateway < start || gateway > end {
                    vec![(start, end)]
                } else {
                    let mut split = Vec::new();
                    if gateway > start {
                        split.push((start, gateway - 1));
                    }
                    if gateway < end {
                        split.push((gateway + 1, end));
                    }
                    split
                }
            })
            .collect();
    }
    ranges
        .into_iter()
        .map(|(start, end)| AllocationPool {
            start: from_u128(start, v6).to_string(),
            end: from_u128(end, v6).to_string(),
        })
        .collect()
}

/// Checks a gateway against its subnet: the same IP version, inside the CIDR, and for IPv4
/// neither the network nor the broadcast address.
pub fn check_gateway(net: &IpNet, text: &str) -> Result<IpAddr, ServiceError> {
    let gateway = parse_ip("gateway_ip", text)?;
    let invalid = || {
        ServiceError::invalid_input(
            "gateway_ip",
            format!("Gateway is not valid on subnet: {text} is not a host address of {net}"),
        )
    };
    if version_of(gateway) != version_of(net.addr()) || !net.contains(&gateway) {
        return Err(invalid());
    }
    if net.addr().is_ipv4()
        && net.prefix_len() < 31
        && (gateway == net.network() || gateway == net.broadcast())
    {
        return Err(invalid());
    }
    Ok(gateway)
}

/// Checks explicit pools (each inside the usable range, start not after end: 400; no two
/// overlapping: 409) and the gateway against them (409), and returns them normalised.
pub fn check_pools(
    net: &IpNet,
    pools: &[AllocationPool],
    gateway: Option<IpAddr>,
) -> Result<Vec<AllocationPool>, ServiceError> {
    let usable = usable_range(net);
    let mut ranges: Vec<(u128, u128, &AllocationPool)> = Vec::with_capacity(pools.len());
    for pool in pools {
        let start = parse_ip("allocation_pools", &pool.start)?;
        let end = parse_ip("allocation_pools", &pool.end)?;
        let (start_n, end_n) = (to_u128(start), to_u128(end));
        let same_version = version_of(start) == version_of(net.addr())
            && version_of(end) == version_of(net.addr());
        if !same_version || start_n > end_n {
            return Err(ServiceError::invalid_input(
                "allocation_pools",
                format!(
                    "The allocation pool {}-{} is not a valid range",
                    pool.start, pool.end
                ),
            ));
        }
        if !usable.is_some_and(|(low, high)| start_n >= low && end_n <= high) {
            return Err(ServiceError::invalid_input(
                "allocation_pools",
                format!(
                    "The allocation pool {}-{} spans beyond the subnet cidr {net}",
                    pool.start, pool.end
                ),
            ));
        }
        ranges.push((start_n, end_n, pool));
    }
    let mut sorted: Vec<&(u128, u128, &AllocationPool)> = ranges.iter().collect();
    sorted.sort_by_key(|(start, _, _)| *start);
    for pair in sorted.windows(2) {
        if let [(_, end_a, a), (start_b, _, b)] = pair {
            if start_b <= end_a {
                return Err(ServiceError::conflict(
                    ErrorKind::OverlappingAllocationPools,
                    format!(
                        "Found overlapping allocation pools: {}-{} and {}-{} for subnet {net}.",
                        a.start, a.end, b.start, b.end
                    ),
                ));
            }
        }
    }
    if let Some(gateway) = gateway {
        let g = to_u128(gateway);
        if let Some((_, _, pool)) = ranges
            .iter()
            .find(|(start, end, _)| g >= *start && g <= *end)
        {
            return Err(gateway_conflict(gateway, pool));
        }
    }
    Ok(ranges
        .iter()
        .map(|(start, end, _)| AllocationPool {
            start: from_u128(*start, net.addr().is_ipv6()).to_string(),
            end: from_u128(*end, net.addr().is_ipv6()).to_string(),
        })
        .collect())
}

fn gateway_conflict(gateway: IpAddr, pool: &AllocationPool) -> ServiceError {
    ServiceError::conflict(
        ErrorKind::GatewayConflictWithAllocationPools,
        format!(
            "Gateway ip {gateway} conflicts with allocation pool {}-{}.",
            pool.start, pool.end
        ),
    )
}

/// Checks DNS name servers: addresses, no duplicates, at most [`MAX_DNS_NAMESERVERS`].
pub fn check_dns(servers: &[String]) -> Result<Vec<String>, ServiceError> {
    if servers.len() > MAX_DNS_NAMESERVERS {
        return Err(ServiceError::invalid_input(
            "dns_nameservers",
            format!("Number of DNS nameservers exceeds the limit {MAX_DNS_NAMESERVERS}"),
        ));
    }
    let mut seen = Vec::with_capacity(servers.len());
    for server in servers {
        let address = parse_ip("dns_nameservers", server)?;
        if seen.contains(&address) {
            return Err(ServiceError::invalid_input(
                "dns_nameservers",
                format!("Duplicate nameserver '{server}'"),
            ));
        }
        seen.push(address);
    }
    Ok(seen.iter().map(ToString::to_string).collect())
}

/// Checks host routes: a CIDR destination (normalised) and an address next hop each, no
/// duplicates, at most [`MAX_HOST_ROUTES`].
pub fn check_routes(routes: &[HostRoute]) -> Result<Vec<HostRoute>, ServiceError> {
    if routes.len() > MAX_HOST_ROUTES {
        return Err(ServiceError::invalid_input(
            "host_routes",
            format!("Number of host routes exceeds the limit {MAX_HOST_ROUTES}"),
        ));
    }
    let mut checked: Vec<HostRoute> = Vec::with_capacity(routes.len());
    for route in routes {
        let destination = parse_cidr("host_routes", &route.destination)?;
        let nexthop = parse_ip("host_routes", &route.nexthop)?;
        let route = HostRoute {
            destination: destination.to_string(),
            nexthop: nexthop.to_string(),
        };
        if checked.contains(&route) {
            return Err(ServiceError::invalid_input(
                "host_routes",
                format!("Duplicate hostroute '{}'", route.destination),
            ));
        }
        checked.push(route);
    }
    Ok(checked)
}

fn parse_mode(field: &str, text: Option<&str>) -> Result<Option<Ipv6Mode>, ServiceError> {
    text.map(|text| {
        Ipv6Mode::parse(text).ok_or_else(|| {
            ServiceError::invalid_input(
                field,
                format!("'{text}' is not in ['dhcpv6-stateful', 'dhcpv6-stateless', 'slaac']"),
            )
        })
    })
    .transpose()
}

/// Everything about a new subnet that the request alone decides: the normalised CIDR and
/// addresses, checked.
struct Prepared {
    project: ProjectId,
    network_id: NetworkId,
    net: IpNet,
    gateway: Option<IpAddr>,
    pools: Vec<AllocationPool>,
    dns: Vec<String>,
    routes: Vec<HostRoute>,
    address_mode: Option<Ipv6Mode>,
    ra_mode: Option<Ipv6Mode>,
}

fn prepare(ctx: &Context, request: &SubnetCreate) -> Result<Prepared, ServiceError> {
    let project = ctx.owning_project(request.project_id.clone())?;
    let network_id = request
        .network_id
        .ok_or_else(|| ServiceError::invalid_input("network_id", "this attribute is required"))?;
    let ip_version = request
        .ip_version
        .ok_or_else(|| ServiceError::invalid_input("ip_version", "this attribute is required"))?;
    if ip_version != 4 && ip_version != 6 {
        return Err(ServiceError::invalid_input(
            "ip_version",
            format!("{ip_version} is not in [4, 6]"),
        ));
    }
    let cidr = request
        .cidr
        .as_deref()
        .ok_or_else(|| ServiceError::invalid_input("cidr", "this attribute is required"))?;
    let net = parse_cidr("cidr", cidr)?;
    if version_of(net.addr()) != ip_version {
        return Err(ServiceError::invalid_input(
            "ip_version",
            format!("Cidr {net} does not match ip_version {ip_version}"),
        ));
    }
    if let Some(name) = &request.name {
        check_length("name", name, NAME_MAX)?;
    }
    if let Some(description) = &request.description {
        check_length("description", description, NAME_MAX)?;
    }
    let address_mode = parse_mode("ipv6_address_mode", request.ipv6_address_mode.as_deref())?;
    let ra_mode = parse_mode("ipv6_ra_mode", request.ipv6_ra_mode.as_deref())?;
    if ip_version == 4 {
        for (field, mode) in [
            ("ipv6_address_mode", address_mode),
            ("ipv6_ra_mode", ra_mode),
        ] {
            if mode.is_some() {
                return Err(ServiceError::invalid_input(
                    field,
                    "ipv6 address and RA modes are only valid for an ip_version 6 subnet",
                ));
            }
        }
    }
    if let (Some(address), Some(ra)) = (address_mode, ra_mode) {
        if address != ra {
            return Err(ServiceError::invalid_input(
                "ipv6_ra_mode",
                format!(
                    "ipv6_ra_mode set to '{}' with ipv6_address_mode set to '{}' is not valid. \
                     If both attributes are set, they must be the same value",
                    ra.as_str(),
                    address.as_str()
                ),
            ));
        }
    }
    let eui64_mode = [address_mode, ra_mode]
        .into_iter()
        .flatten()
        .any(|mode| matches!(mode, Ipv6Mode::Slaac | Ipv6Mode::Dhcpv6Stateless));
    if eui64_mode && net.prefix_len() != 64 {
        return Err(ServiceError::invalid_input(
            "cidr",
            format!(
                "Invalid CIDR {net} for IPv6 address mode. OpenStack uses the EUI-64 address \
                 format, which requires the prefix to be /64"
            ),
        ));
    }
    let gateway = match &request.gateway_ip {
        GatewayRequest::Absent => {
            usable_range(&net).map(|(low, _)| from_u128(low, net.addr().is_ipv6()))
        }
        GatewayRequest::Null => None,
        GatewayRequest::Address(text) => Some(check_gateway(&net, text)?),
    };
    let pools = match &request.allocation_pools {
        Some(pools) => check_pools(&net, pools, gateway)?,
        None => default_pools(&net, gateway),
    };
    let dns = check_dns(request.dns_nameservers.as_deref().unwrap_or_default())?;
    let routes = check_routes(request.host_routes.as_deref().unwrap_or_default())?;
    Ok(Prepared {
        project,
        network_id,
        net,
        gateway,
        pools,
        dns,
        routes,
        address_mode,
        ra_mode,
    })
}

// ---- operations -----------------------------------------------------------------------------

pub(crate) fn subnet_target(subnet: &Subnet) -> Target {
    let mut target = owned_target(&subnet.project_id);
    target.insert("id".into(), subnet.id.to_string().into());
    target.insert("network_id".into(), subnet.network_id.to_string().into());
    target.insert("shared".into(), subnet.network_shared.into());
    target
}

fn not_found(id: impl std::fmt::Display) -> ServiceError {
    ServiceError::not_found(
        ErrorKind::SubnetNotFound,
        format!("Subnet {id} could not be found."),
    )
}

/// Loads a subnet the caller may see, else `SubnetNotFound`.
pub(crate) async fn visible_subnet(
    tx: &mut dyn StoreTx,
    guard: &Guard<'_>,
    id: SubnetId,
) -> Result<Subnet, ServiceError> {
    match tx.get_subnet(id).await? {
        Some(subnet) if guard.allows(Action::GetSubnet, &subnet_target(&subnet)) => Ok(subnet),
        _ => Err(not_found(id)),
    }
}

/// Refuses a CIDR that overlaps a subnet already on the network (400, as Neutron).
async fn check_overlap(
    tx: &mut dyn StoreTx,
    network: &Network,
    net: &IpNet,
) -> Result<(), ServiceError> {
    for other in tx.subnets_of_network(network.id).await? {
        let Ok(other_net) = other.cidr.parse::<IpNet>() else {
            continue;
        };
        if other_net.contains(net) || net.contains(&other_net) {
            return Err(ServiceError::bad_request(
                "cidr",
                format!(
                    "Invalid input for operation: Requested subnet with cidr: {net} for \
                     network: {} overlaps with another subnet.",
                    network.id
                ),
            ));
        }
    }
    Ok(())
}

fn shown(subnet: Subnet) -> Shown<Subnet> {
    Shown {
        item: subnet,
        hidden: Vec::new(),
    }
}

impl Service {
    /// Creates one or more subnets in one transaction (bulk create is all or nothing).
    pub async fn create_subnets(
        &self,
        ctx: &Context,
        mut requests: Vec<SubnetCreate>,
    ) -> Result<Vec<Shown<Subnet>>, ServiceError> {
        let guard = self.guard(ctx);
        self.check_bulk("subnets", requests.len())?;
        self.check_create_tags(requests.iter_mut().map(|r| &mut r.tags))?;
        let prepared = requests
            .iter()
            .map(|request| prepare(ctx, request))
            .collect::<Result<Vec<_>, _>>()?;
        let created = self
            .write(ctx, |tx| {
                Box::pin(async {
                    let tx = tx;
                    quota::check(
                        tx.as_mut(),
                        ResourceKind::Subnet,
                        self.settings().subnet_quota,
                        prepared.iter().map(|p| &p.project),
                    )
                    .await?;
                    let mut created = Vec::with_capacity(requests.len());
                    for (request, prepared) in requests.iter().zip(&prepared) {
                        let network =
                            visible_network(tx.as_mut(), &guard, prepared.network_id).await?;
                        let mut target = owned_target(&prepared.project);
                        target.insert("network_id".into(), network.id.to_string().into());
                        target.insert(
                            "network:project_id".into(),
                            network.project_id.as_str().into(),
                        );
                        target.insert("shared".into(), network.shared.into());
                        guard.require(Action::CreateSubnet, &target)?;
                        check_overlap(tx.as_mut(), &network, &prepared.net).await?;
                        let mut std = StandardAttrs::fresh();
                        std.tags = request.tags.clone();
                        let subnet = Subnet {
                            id: SubnetId::new(),
                            project_id: prepared.project.clone(),
                            network_id: network.id,
                            name: request.name.clone().unwrap_or_default(),
                            description: request.description.clone().unwrap_or_default(),
                            ip_version: version_of(prepared.net.addr()),
                            cidr: prepared.net.to_string(),
                            gateway_ip: prepared.gateway.map(|g| g.to_string()),
                            allocation_pools: prepared.pools.clone(),
                            enable_dhcp: request.enable_dhcp.unwrap_or(true),
                            dns_nameservers: prepared.dns.clone(),
                            host_routes: prepared.routes.clone(),
                            ipv6_address_mode: prepared.address_mode,
                            ipv6_ra_mode: prepared.ra_mode,
                            network_shared: network.shared,
                            std,
                        };
                        tx.insert_subnet(&subnet).await?;
                        let range = SubnetRange::of(&subnet)?;
                        let free = if range.automatic {
                            Vec::new()
                        } else {
                            range.pools.clone()
                        };
                        tx.ipam().seed_free_ranges(subnet.id, &free).await?;
                        super::outbox::record(
                            tx.as_mut(),
                            NewEvent::new(0, SubnetEvent::Created(subnet_ref(&subnet))),
                        )
                        .await?;
                        if range.automatic {
                            address_ports(tx.as_mut(), &subnet).await?;
                        }
                        created.push(subnet);
                    }
                    Ok::<_, ServiceError>(created)
                })
            })
            .await?;
        Ok(created.into_iter().map(shown).collect())
    }

    pub async fn get_subnet(
        &self,
        ctx: &Context,
        id: SubnetId,
    ) -> Result<Shown<Subnet>, ServiceError> {
        let guard = self.guard(ctx);
        let mut tx = self.read().await?;
        Ok(shown(visible_subnet(tx.as_mut(), &guard, id).await?))
    }

    pub async fn list_subnets(
        &self,
        ctx: &Context,
        mut query: ListQuery,
    ) -> Result<Vec<Shown<Subnet>>, ServiceError> {
        let guard = self.guard(ctx);
        let Some(scope) = list_scope(&guard, Action::GetSubnet, true) else {
            return Ok(Vec::new());
        };
        query.scope = scope;
        let mut tx = self.read().await?;
        if let Some(marker) = &query.marker {
            let id = marker.parse().map_err(|_| marker_not_found(marker))?;
            visible_subnet(tx.as_mut(), &guard, id)
                .await
                .map_err(|e| invisible_marker(marker, e))?;
        }
        let subnets = tx.list_subnets(&query).await?;
        Ok(subnets
            .into_iter()
            .filter(|s| guard.allows(Action::GetSubnet, &subnet_target(s)))
            .map(shown)
            .collect())
    }

    pub async fn update_subnet(
        &self,
        ctx: &Context,
        id: SubnetId,
        update: SubnetUpdate,
        if_match: Option<i64>,
    ) -> Result<Shown<Subnet>, ServiceError> {
        let guard = self.guard(ctx);
        if let Some(name) = &update.name {
            check_length("name", name, NAME_MAX)?;
        }
        if let Some(description) = &update.description {
            check_length("description", description, NAME_MAX)?;
        }
        let dns = update
            .dns_nameservers
            .as_deref()
            .map(check_dns)
            .transpose()?;
        let routes = update
            .host_routes
            .as_deref()
            .map(check_routes)
            .transpose()?;
        let subnet = self
            .write(ctx, |tx| {
                Box::pin(async {
                    let tx = tx;
                    let mut subnet = visible_subnet(tx.as_mut(), &guard, id).await?;
                    guard.require(Action::UpdateSubnet, &subnet_target(&subnet))?;
                    check_revision(if_match, subnet.std.revision_number)?;
                    let net = parse_cidr("cidr", &subnet.cidr)?;
                    let gateway = match &update.gateway_ip {
                        GatewayRequest::Absent => subnet
                            .gateway_ip
                            .as_deref()
                            .map(|g| parse_ip("gateway_ip", g))
                            .transpose()?,
                        GatewayRequest::Null => None,
                        GatewayRequest::Address(text) => Some(check_gateway(&net, text)?),
                    };
                    let pools = match &update.allocation_pools {
                        Some(pools) => check_pools(&net, pools, gateway)?,
                        None => {
                            // A new gateway must stay out of the pools the subnet keeps.
                            if update.gateway_ip != GatewayRequest::Absent {
                                check_pools(&net, &subnet.allocation_pools, gateway)?;
                            }
                            subnet.allocation_pools.clone()
                        }
                    };
                    if let Some(name) = &update.name {
                        subnet.name = name.clone();
                    }
                    if let Some(description) = &update.description {
                        subnet.description = description.clone();
                    }
                    if let Some(enable_dhcp) = update.enable_dhcp {
                        subnet.enable_dhcp = enable_dhcp;
                    }
                    if let Some(dns) = &dns {
                        subnet.dns_nameservers = dns.clone();
                    }
                    if let Some(routes) = &routes {
                        subnet.host_routes = routes.clone();
                    }
                    subnet.gateway_ip = gateway.map(|g| g.to_string());
                    let pools_change = pools != subnet.allocation_pools;
                    subnet.allocation_pools = pools;
                    if pools_change {
                        reseed(tx.as_mut(), &subnet).await?;
                    }
                    subnet.std.revision_number += 1;
                    subnet.std.updated_at = crate::model::now_timestamp();
                    tx.update_subnet(&subnet).await?;
                    super::outbox::record(
                        tx.as_mut(),
                        NewEvent::new(
                            subnet.std.revision_number,
                            SubnetEvent::Updated(subnet_ref(&subnet)),
                        ),
                    )
                    .await?;
                    Ok::<_, ServiceError>(subnet)
                })
            })
            .await?;
        Ok(shown(subnet))
    }

    pub async fn delete_subnet(
        &self,
        ctx: &Context,
        id: SubnetId,
        if_match: Option<i64>,
    ) -> Result<(), ServiceError> {
        let guard = self.guard(ctx);
        self.write(ctx, |tx| {
            Box::pin(async {
                let tx = tx;
                let subnet = visible_subnet(tx.as_mut(), &guard, id).await?;
                guard.require(Action::DeleteSubnet, &subnet_target(&subnet))?;
                check_revision(if_match, subnet.std.revision_number)?;
                if ipam::is_automatic(&subnet) {
                    unaddress_ports(tx.as_mut(), &subnet).await?;
                } else if tx.ipam().subnet_in_use(id).await? {
                    return Err(ServiceError::conflict(
                        ErrorKind::SubnetInUse,
                        format!(
                            "Unable to complete operation on subnet {id}: One or more ports \
                             have an IP allocation from this subnet."
                        ),
                    ));
                }
                tx.delete_subnet(id).await?;
                super::outbox::record(
                    tx.as_mut(),
                    NewEvent::new(
                        subnet.std.revision_number + 1,
                        SubnetEvent::Deleted(subnet_ref(&subnet)),
                    ),
                )
                .await?;
                Ok(())
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        parse_cidr("cidr", text).expect("valid cidr")
    }

    fn pool(start: &str, end: &str) -> AllocationPool {
        AllocationPool {
            start: start.into(),
            end: end.into(),
        }
    }

    #[test]
    fn cidrs_are_normalised_and_bad_ones_refused() {
        assert_eq!(net("10.1.0.5/24").to_string(), "10.1.0.0/24");
        assert_eq!(net("2001:db8::5/64").to_string(), "2001:db8::/64");
        for bad in ["10.1.0.0", "10.1.0.0/33", "x/24", "", "10.1/24"] {
            assert!(parse_cidr("cidr", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_pools_split_around_the_gateway() {
        let n = net("10.0.0.0/24");
        let gateway = Some("10.0.0.1".parse().expect("ip"));
        assert_eq!(
            default_pools(&n, gateway),
            vec![pool("10.0.0.2", "10.0.0.254")]
        );
        let middle = Some("10.0.0.100".parse().expect("ip"));
        assert_eq!(
            default_pools(&n, middle),
            vec![
                pool("10.0.0.1", "10.0.0.99"),
                pool("10.0.0.101", "10.0.0.254")
            ]
        );
        assert_eq!(
            default_pools(&n, None),
            vec![pool("10.0.0.1", "10.0.0.254")]
        );
        let v6 = net("2001:db8::/64");
        assert_eq!(
            default_pools(&v6, Some("2001:db8::1".parse().expect("ip"))),
            vec![pool("2001:db8::2", "2001:db8::ffff:ffff:ffff:ffff")]
        );
        assert!(default_pools(&net("10.0.0.0/31"), None).is_empty());
    }

    #[test]
    fn gateways_must_be_host_addresses_of_the_cidr() {
        let n = net("10.0.0.0/24");
        assert!(check_gateway(&n, "10.0.0.254").is_ok());
        for bad in ["10.0.0.0", "10.0.0.255", "10.0.1.1", "2001:db8::1", "nope"] {
            assert!(check_gateway(&n, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pools_are_checked_for_bounds_overlap_and_the_gateway() {
        let n = net("10.0.0.0/24");
        let gateway = Some("10.0.0.1".parse().expect("ip"));
        assert!(check_pools(&n, &[pool("10.0.0.10", "10.0.0.20")], gateway).is_ok());
        let kind = |result: Result<Vec<AllocationPool>, ServiceError>| match result {
            Err(ServiceError::Conflict { kind, .. }) => Some(kind),
            Err(ServiceError::BadRequest { field, .. }) => {
                assert_eq!(field.as_deref(), Some("allocation_pools"));
                None
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(
            kind(check_pools(&n, &[pool("10.0.0.10", "10.0.1.20")], gateway)),
            None
        );
        assert_eq!(
            kind(check_pools(&n, &[pool("10.0.0.0", "10.0.0.20")], gateway)),
            None
        );
        assert_eq!(
            kind(check_pools(&n, &[pool("10.0.0.20", "10.0.0.10")], gateway)),
            None
        );
        assert_eq!(
            kind(check_pools(
                &n,
                &[
                    pool("10.0.0.10", "10.0.0.20"),
                    pool("10.0.0.20", "10.0.0.30")
                ],
                gateway
            )),
            Some(ErrorKind::OverlappingAllocationPools)
        );
        assert_eq!(
            kind(check_pools(&n, &[pool("10.0.0.1", "10.0.0.20")], gateway)),
            Some(ErrorKind::GatewayConflictWithAllocationPools)
        );
    }

    #[test]
    fn dns_and_routes_are_validated() {
        assert!(check_dns(&["8.8.8.8".into(), "2001:db8::53".into()]).is_ok());
        assert!(check_dns(&["8.8.8.8".into(), "8.8.8.8".into()]).is_err());
        assert!(check_dns(&["dns.example".into()]).is_err());
        let route = |d: &str, n: &str| HostRoute {
            destination: d.into(),
            nexthop: n.into(),
        };
        assert_eq!(
            check_routes(&[route("10.2.0.7/16", "10.0.0.1")]).expect("valid"),
            vec![route("10.2.0.0/16", "10.0.0.1")]
        );
        assert!(check_routes(&[route("10.2.0.0", "10.0.0.1")]).is_err());
        assert!(check_routes(&[route("10.2.0.0/16", "gw")]).is_err());
    }
}
