//! Open vSwitch names of a trunk's wiring. Interface names become network device names, which
//! Linux limits to 15 characters, so they carry an id prefix, as Neutron's OVS trunk driver does.

use crate::ids::{PortId, TrunkId};

/// Characters of an id kept in a name.
const ID_CHARS: usize = 11;

fn prefix(id: &str) -> &str {
    &id[..id.len().min(ID_CHARS)]
}

/// The trunk bridge: holds the VM's port and one patch port per member.
pub fn trunk_bridge(trunk: TrunkId) -> String {
    format!("tbr-{}", prefix(&trunk.to_string()))
}

/// A member's patch port on the trunk bridge.
pub fn trunk_side(port: PortId) -> String {
    format!("tp-{}", prefix(&port.to_string()))
}

/// Its peer on the integration bridge.
pub fn integration_side(port: PortId) -> String {
    format!("tq-{}", prefix(&port.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_a_network_device() {
        let (trunk, port) = (TrunkId::new(), PortId::new());
        for name in [
            trunk_bridge(trunk),
            trunk_side(port),
            integration_side(port),
        ] {
            assert!(name.len() <= 15, "{name}");
        }
        assert!(trunk_bridge(trunk).starts_with("tbr-"));
    }
}
