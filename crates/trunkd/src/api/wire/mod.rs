//! The wire format as types: one serde type per request and response body of networks, ports
//! and trunks, each also deriving `utoipa::ToSchema`, so the OpenAPI document describes exactly
//! what is parsed and sent (`api::openapi` only lists them).
//!
//! Requests are read leniently, attribute by attribute, so that the errors stay Neutron's: each
//! attribute is an [`Attr`] that records a value of the wrong kind instead of failing, and the
//! body's `into_request` then reports the first failure in Neutron's order, naming the
//! attribute; attributes no request may carry are refused by name from the attribute table
//! before that ([`refuse`]), and what the type does not know is an unrecognised attribute.
//!
//! Responses borrow from the domain types and are serialised straight into the answer;
//! attributes policy hides and those `fields=` leaves out are dropped while serialising
//! ([`Picked`]), never through an intermediate `serde_json::Value`. A response type's fields
//! are declared in alphabetical order, the order answers have always had (a test holds it).

pub mod network;
mod pick;
pub mod port;
pub mod subnet;
pub mod trunk;

use std::collections::HashSet;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::api::body;
pub(crate) use crate::api::body::{invalid, unrecognised};
use crate::api::error::ApiError;
use crate::model::attrs::{AttrSpec, Write};
use crate::service::ServiceError;

pub use pick::{Items, Pick, Picked};

/// One attribute of a request body: absent, a value of the kind the attribute holds, or the
/// reason the value given is not one (reported by [`Attr::take`], in the body's order of checks).
#[derive(Debug, Default)]
pub enum Attr<T> {
    #[default]
    Absent,
    Given(T),
    Invalid(String),
}

/// How a JSON value becomes an attribute's value (the conversions Neutron applies, such as
/// `"true"` for `true`); `Ok(None)` is a value that counts as absent (`null` integers).
pub trait FromWire: Sized {
    fn from_wire(value: Value) -> Result<Option<Self>, String>;
}

impl<'de, T: FromWire> Deserialize<'de> for Attr<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match T::from_wire(Value::deserialize(deserializer)?) {
            Ok(Some(value)) => Attr::Given(value),
            Ok(None) => Attr::Absent,
            Err(reason) => Attr::Invalid(reason),
        })
    }
}

impl<T> Attr<T> {
    /// The value, if given; a value of the wrong kind is a 400 naming `name`.
    pub fn take(self, name: &str) -> Result<Option<T>, ApiError> {
        match self {
            Attr::Absent => Ok(None),
            Attr::Given(value) => Ok(Some(value)),
            Attr::Invalid(reason) => Err(invalid(name, reason)),
        }
    }
}

impl FromWire for String {
    fn from_wire(value: Value) -> Result<Option<Self>, String> {
        body::to_string(value).map(Some)
    }
}

impl FromWire for bool {
    fn from_wire(value: Value) -> Result<Option<Self>, String> {
        body::to_bool(value).map(Some)
    }
}

impl FromWire for i64 {
    fn from_wire(value: Value) -> Result<Option<Self>, String> {
        body::to_int(value)
    }
}

/// A subport's `segmentation_id`: an integer as Neutron converts one, or the word `auto`.
impl FromWire for crate::service::SegmentationIdRequest {
    fn from_wire(value: Value) -> Result<Option<Self>, String> {
        match value {
            Value::String(word) if word == "auto" => Ok(Some(Self::Auto)),
            other => Ok(body::to_int(other)?.map(Self::Id)),
        }
    }
}

impl FromWire for Map<String, Value> {
    fn from_wire(value: Value) -> Result<Option<Self>, String> {
        body::to_object(value).map(Some)
    }
}

/// A list whose items are checked later, each with its index in the message.
impl FromWire for Vec<Value> {
    fn from_wire(value: Value) -> Result<Option<Self>, String> {
        body::to_list(value).map(Some)
    }
}

impl FromWire for Vec<String> {
    fn from_wire(value: Value) -> Result<Option<Self>, String> {
        body::to_string_list(value).map(Some)
    }
}

macro_rules! uuid_attrs {
    ($($id:ty),*) => {
        $(impl FromWire for $id {
            fn from_wire(value: Value) -> Result<Option<Self>, String> {
                body::to_id(value).map(Some)
            }
        })*
    };
}

uuid_attrs!(
    crate::ids::NetworkId,
    crate::ids::PortId,
    crate::ids::SubnetId
);

/// Reads a resource body (an object) into its wire type. The types accept any object (every
/// attribute is an [`Attr`], the rest is collected as unknown), so this fails only on a bug.
pub fn from_map<T: serde::de::DeserializeOwned>(map: Map<String, Value>) -> Result<T, ApiError> {
    serde_json::from_value(Value::Object(map)).map_err(|e| {
        ApiError::Service(ServiceError::Internal {
            message: format!("a request body did not fit its wire type: {e}"),
        })
    })
}

/// The one resource of a single create's answer (a create returns what it was asked for).
pub fn first<T>(created: &[T]) -> Result<&T, ApiError> {
    created.first().ok_or_else(|| {
        ApiError::Service(ServiceError::Internal {
            message: "a create returned no resource".into(),
        })
    })
}

/// What the request does with a resource, for the attributes it may not name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Post,
    Put,
}

/// Refuses a body naming an attribute the table says the call may not set: first the read-only
/// ones, then (on PUT) those set only at creation, each in table order.
pub fn refuse(map: &Map<String, Value>, table: &[AttrSpec], verb: Verb) -> Result<(), ApiError> {
    let (name, verb_text) = match verb {
        Verb::Post => ("POST", &[Write::Never][..]),
        Verb::Put => ("PUT", &[Write::Never, Write::OnCreate][..]),
    };
    for write in verb_text {
        if let Some(spec) = table
            .iter()
            .find(|spec| spec.write == *write && map.contains_key(spec.name))
        {
            return Err(ApiError::bad_request(
                spec.name,
                format!("Attribute '{}' not allowed in {name}", spec.name),
            ));
        }
    }
    Ok(())
}

/// Fails on attributes the body's type did not know.
pub fn no_unknown(unknown: &Map<String, Value>) -> Result<(), ApiError> {
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(unrecognised(unknown))
    }
}

/// `project_id` and its legacy twin `tenant_id`; both given and different is a 400.
pub fn project(
    project_id: Attr<String>,
    tenant_id: Attr<String>,
) -> Result<Option<String>, ApiError> {
    let project = project_id.take("project_id")?;
    let tenant = tenant_id.take("tenant_id")?;
    match (project, tenant) {
        (Some(p), Some(t)) if p != t => Err(invalid(
            "project_id",
            "project_id and tenant_id must be the same when both are given",
        )),
        (Some(p), _) => Ok(Some(p)),
        (None, t) => Ok(t),
    }
}

/// The page links of a list answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Link {
    pub href: String,
    /// `next` or `previous`.
    #[schema(value_type = String)]
    pub rel: &'static str,
}

/// An object that is always empty (`binding:vif_details`: trunkd has no details to give).
#[derive(Debug, Clone, Copy)]
pub struct EmptyObject;

impl Serialize for EmptyObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        serializer.serialize_map(Some(0))?.end()
    }
}

/// A domain view and its response type: how a network, port or trunk is answered, and which
/// of its attributes policy hides from the caller it was loaded for.
pub trait Render {
    type Wire<'a>: Serialize
    where
        Self: 'a;

    fn wire(&self) -> Self::Wire<'_>;

    fn hidden(&self) -> &[&'static str] {
        &[]
    }

    /// The response of this item with only the `wanted` attributes (all when `None`).
    fn picked<'a>(&'a self, wanted: Option<&'a HashSet<String>>) -> Picked<'a, Self::Wire<'a>> {
        Picked {
            value: self.wire(),
            pick: Pick::new(self.hidden(), wanted),
        }
    }
}

/// The response envelopes of one resource, all real types: `{"<singular>": ...}` (show,
/// update, single create), `{"<plural>": [...]}` (bulk create) and the list page with its
/// links.
macro_rules! envelopes {
    ($view:ty => $item:ident, $one:ident { $singular:ident }, $many:ident { $plural:ident },
     $list:ident { $links:ident }) => {
        #[derive(serde::Serialize, utoipa::ToSchema)]
        pub struct $one<'a> {
            #[schema(value_type = $item)]
            pub $singular: $crate::api::wire::Picked<'a, $item<'a>>,
        }

        #[derive(serde::Serialize, utoipa::ToSchema)]
        pub struct $many<'a> {
            #[schema(value_type = Vec<$item>)]
            pub $plural: $crate::api::wire::Items<'a, $view>,
        }

        #[derive(serde::Serialize, utoipa::ToSchema)]
        pub struct $list<'a> {
            #[schema(value_type = Vec<$item>)]
            pub $plural: $crate::api::wire::Items<'a, $view>,
            /// Present when the call asked for a page, or the server cut one.
            #[serde(skip_serializing_if = "Option::is_none")]
            #[schema(nullable = false)]
            pub $links: Option<Vec<$crate::api::wire::Link>>,
        }
    };
}

pub(crate) use envelopes;
