//! trunkd: a Neutron v2.0 compatible trunk-port service.
//!
//! Layers, outermost first: [`api`] (HTTP and the Neutron wire format), [`service`] (one
//! function per user operation: policy, validation, the state machine), [`store`] (one
//! transaction per operation) and [`drivers`] (data planes, fed from the outbox).
//!
//! Comments that cite "spec N" (or "spec 3.1 rule N") mean that section (or rule) of the trunk
//! API specification, `spec/trunk-api.md` in the shared design documents beside this repository.

pub mod agent;
pub mod api;
pub mod config;
pub mod drivers;
pub mod generate;
pub mod http_server;
pub mod ids;
pub mod logging;
pub mod model;
pub mod notify;
pub mod ovsdb;
pub mod policy;
pub mod readiness;
pub mod server;
pub mod service;
pub mod store;
pub mod supervisor;
pub mod tls;
