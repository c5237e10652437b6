//! The integration tests, linked once: one module per area, beside the harnesses they share
//! (servers, databases, switches, Keystone). Each area module starts its own processes.

pub mod common;
pub mod fake_keystone;
pub mod nbdb;
pub mod pgdb;
pub mod policy_cases;
pub mod readyz;
pub mod real_keystone;
pub mod support;
pub mod tcp_proxy;
pub mod vswitch;

mod agent_api;
mod authz_sweep;
mod bench_tool;
mod client_contract;
mod crash_safety;
mod driver_faults;
mod keystone_auth;
mod keystone_real;
mod links_and_headers;
mod load;
mod member_devices;
mod multi_server;
mod neutron_conformance;
mod openapi;
mod openstack_client;
mod ovn_driver;
mod ovs_agent;
mod ovsdb_client;
mod policy_table;
mod port_security;
mod postgres_outage;
mod properties;
mod query_counts;
mod quotas;
mod request_limits;
mod schema_fuzz;
mod secrets;
mod segments;
mod service_rules;
mod slow_readers;
mod startup;
mod subnets;
mod tags_and_lists;
mod trunk_rules;
mod wire;
