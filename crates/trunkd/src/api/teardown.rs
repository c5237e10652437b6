//! The query parameters of the `trunk-teardown` extension on DELETE: `delete_ports` and
//! `force` on a trunk, `remove_from_trunk` on a port. Parsed apart from the handlers so the
//! opt-in reads the same on both routes; without it a DELETE is Neutron's. Other parameters
//! are ignored, as they always were on DELETE.

use crate::api::error::ApiError;
use crate::service::BoundParent;

/// How a trunk DELETE goes: `None` is Neutron's (the trunk alone), `Some` deletes its ports
/// too, forcing past a bound parent or not.
pub(crate) fn trunk_deletion(raw: Option<&str>) -> Result<Option<BoundParent>, ApiError> {
    let mut delete_ports = None;
    let mut force = None;
    for (key, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "delete_ports" => set_once(&mut delete_ports, "delete_ports", &value)?,
            "force" => set_once(&mut force, "force", &value)?,
            _ => {}
        }
    }
    match (delete_ports.unwrap_or(false), force.unwrap_or(false)) {
        (false, true) => Err(ApiError::bad_request(
            "force",
            "Invalid input for force. Reason: it is only valid with delete_ports=true.",
        )),
        (false, false) => Ok(None),
        (true, false) => Ok(Some(BoundParent::Refuse)),
        (true, true) => Ok(Some(BoundParent::Force)),
    }
}

/// Whether a port DELETE takes a subport out of its trunk first (`remove_from_trunk=true`).
pub(crate) fn port_deletion(raw: Option<&str>) -> Result<bool, ApiError> {
    let mut remove = None;
    for (key, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if key == "remove_from_trunk" {
            set_once(&mut remove, "remove_from_trunk", &value)?;
        }
    }
    Ok(remove.unwrap_or(false))
}

/// Reads `value` as the boolean `name`, refusing a second occurrence.
fn set_once(slot: &mut Option<bool>, name: &str, value: &str) -> Result<(), ApiError> {
    if slot.is_some() {
        return Err(ApiError::bad_request(
            name,
            format!("Invalid input for {name}. Reason: it is given more than once."),
        ));
    }
    *slot = Some(parse_bool(name, value)?);
    Ok(())
}

fn parse_bool(name: &str, value: &str) -> Result<bool, ApiError> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(ApiError::bad_request(
            name,
            format!("Invalid input for {name}. Reason: '{value}' is not true or false."),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(error: ApiError) -> Option<String> {
        match error {
            ApiError::Service(crate::service::ServiceError::BadRequest { field, .. }) => field,
            _ => None,
        }
    }

    #[test]
    fn trunk_opt_in_and_force() {
        assert_eq!(trunk_deletion(None).ok(), Some(None));
        assert_eq!(trunk_deletion(Some("fields=id")).ok(), Some(None));
        assert_eq!(trunk_deletion(Some("delete_ports=false")).ok(), Some(None));
        assert_eq!(
            trunk_deletion(Some("delete_ports=true")).ok(),
            Some(Some(BoundParent::Refuse))
        );
        assert_eq!(
            trunk_deletion(Some("delete_ports=True&force=false")).ok(),
            Some(Some(BoundParent::Refuse))
        );
        assert_eq!(
            trunk_deletion(Some("force=true&delete_ports=true")).ok(),
            Some(Some(BoundParent::Force))
        );
    }

    #[test]
    fn bad_values_name_their_parameter() {
        for (query, field) in [
            ("delete_ports=maybe", "delete_ports"),
            ("delete_ports=", "delete_ports"),
            ("force=true", "force"),
            ("force=true&delete_ports=false", "force"),
            ("delete_ports=true&force=1", "force"),
            ("delete_ports=true&delete_ports=true", "delete_ports"),
        ] {
            let error = trunk_deletion(Some(query)).expect_err(query);
            assert_eq!(field_of(error).as_deref(), Some(field), "{query}");
        }
        let error = port_deletion(Some("remove_from_trunk=yes")).expect_err("yes");
        assert_eq!(field_of(error).as_deref(), Some("remove_from_trunk"));
    }

    #[test]
    fn port_opt_in() {
        assert_eq!(port_deletion(None).ok(), Some(false));
        assert_eq!(
            port_deletion(Some("remove_from_trunk=true")).ok(),
            Some(true)
        );
        assert_eq!(
            port_deletion(Some("remove_from_trunk=false")).ok(),
            Some(false)
        );
        assert_eq!(port_deletion(Some("other=1")).ok(), Some(false));
    }
}
