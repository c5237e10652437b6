//! The OpenAPI 3 description of the API, generated from the handlers' `#[utoipa::path]`
//! annotations and the wire types of `api::wire` (the very types requests are read into and
//! responses written from), served at `/openapi.json` and committed as `openapi.json` (a test
//! keeps the committed copy in step). Defined here are only what has no run-time type of its
//! own: the error body, the enumerations of values that travel as strings, and the request
//! envelopes (`{"network": {...}}`, read generically by `api::body::unwrap_body`).
#![allow(dead_code)] // the fields are read by the schema derive, not by code

use axum::Json;
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

use super::wire::network::{NetworkCreate, NetworkResponse, NetworkUpdate, NetworksCreated};
use super::wire::port::{PortCreate, PortResponse, PortUpdate, PortsCreated};
use super::wire::subnet::{SubnetCreate, SubnetResponse, SubnetUpdate, SubnetsCreated};
use super::wire::trunk::{TrunkCreate, TrunkResponse, TrunkUpdate, TrunksCreated};

/// `{"NeutronError": {...}}`, the body of every error.
#[derive(ToSchema)]
pub struct NeutronErrorResponse {
    #[schema(rename = "NeutronError")]
    neutron_error: NeutronError,
}

#[derive(ToSchema)]
pub struct NeutronError {
    /// The Neutron exception name, e.g. `DuplicateSubPort`.
    r#type: String,
    message: String,
    detail: String,
}

/// A free-form JSON object.
#[derive(ToSchema)]
#[schema(value_type = Object)]
pub struct Object(Value);

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum ProviderNetworkType {
    Vlan,
    Vxlan,
    Geneve,
    Flat,
    Local,
}

#[derive(ToSchema)]
#[schema(rename_all = "kebab-case")]
pub enum VnicType {
    Normal,
    Direct,
    Macvtap,
    Baremetal,
    DirectPhysical,
    VirtioForwarder,
    SmartNic,
    Vdpa,
    RemoteManaged,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum SortDir {
    Asc,
    Desc,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum SegmentationType {
    Vlan,
    Inherit,
}

/// A subport's requested `segmentation_id`: 1 to 4094, or `"auto"` for the lowest VLAN ID free
/// on the trunk (extension `trunk-vlan-allocation`). Written by hand: one of an integer and a
/// one-word string, which the derive does not express without serde's `untagged`.
pub struct SegmentationIdRequest;

impl utoipa::PartialSchema for SegmentationIdRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, SchemaType, Type};
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(SchemaType::Type(Type::Integer))
                    .minimum(Some(1))
                    .maximum(Some(4094)),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(SchemaType::Type(Type::String))
                    .enum_values(Some(["auto"])),
            )
            .description(Some(
                "1 to 4094 for vlan, or \"auto\" for the lowest VLAN ID free on the trunk",
            ))
            .into()
    }
}

impl ToSchema for SegmentationIdRequest {}

macro_rules! wrappers {
    ($($one:ident { $key:ident : $inner:ty }),* $(,)?) => {
        $(
            #[derive(ToSchema)]
            pub struct $one {
                $key: $inner,
            }
        )*
    };
}

wrappers! {
    NetworkCreateRequest { network: NetworkCreate },
    NetworksCreateRequest { networks: Vec<NetworkCreate> },
    NetworkUpdateRequest { network: NetworkUpdate },
    SubnetCreateRequest { subnet: SubnetCreate },
    SubnetsCreateRequest { subnets: Vec<SubnetCreate> },
    SubnetUpdateRequest { subnet: SubnetUpdate },
    PortCreateRequest { port: PortCreate },
    PortsCreateRequest { ports: Vec<PortCreate> },
    PortUpdateRequest { port: PortUpdate },
    TrunkCreateRequest { trunk: TrunkCreate },
    TrunksCreateRequest { trunks: Vec<TrunkCreate> },
    TrunkUpdateRequest { trunk: TrunkUpdate },
    Tags { tags: Vec<String> },
}

/// Schemas that are one wrapper or another (single or bulk): `oneOf` the two.
macro_rules! one_of {
    ($($name:ident = $one:ident | $many:ident),* $(,)?) => {
        $(
            pub struct $name;

            impl utoipa::PartialSchema for $name {
                fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                    utoipa::openapi::schema::OneOfBuilder::new()
                        .item(utoipa::openapi::Ref::from_schema_name(stringify!($one)))
                        .item(utoipa::openapi::Ref::from_schema_name(stringify!($many)))
                        .into()
                }
            }

            impl ToSchema for $name {
                fn schemas(
                    schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>,
                ) {
                    for (name, schema) in [
                        (stringify!($one), <$one as utoipa::PartialSchema>::schema()),
                        (stringify!($many), <$many as utoipa::PartialSchema>::schema()),
                    ] {
                        schemas.push((name.to_string(), schema));
                        <$one as ToSchema>::schemas(schemas);
                        <$many as ToSchema>::schemas(schemas);
                    }
                }
            }
        )*
    };
}

one_of! {
    NetworkCreateBody = NetworkCreateRequest | NetworksCreateRequest,
    SubnetCreateBody = SubnetCreateRequest | SubnetsCreateRequest,
    PortCreateBody = PortCreateRequest | PortsCreateRequest,
    TrunkCreateBody = TrunkCreateRequest | TrunksCreateRequest,
    NetworkCreated = NetworkResponse | NetworksCreated,
    SubnetCreated = SubnetResponse | SubnetsCreated,
    PortCreated = PortResponse | PortsCreated,
    TrunkCreated = TrunkResponse | TrunksCreated,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "trunkd",
        description = "Neutron v2.0 compatible trunk API, with the networks and ports trunks need."
    ),
    paths(
        super::discovery::versions,
        super::discovery::resources,
        super::discovery::extensions,
        super::discovery::extension,
        super::networks::list,
        super::networks::create,
        super::networks::show,
        super::networks::update,
        super::networks::delete,
        super::subnets::list,
        super::subnets::create,
        super::subnets::show,
        super::subnets::update,
        super::subnets::delete,
        super::ports::list,
        super::ports::create,
        super::ports::show,
        super::ports::update,
        super::ports::delete,
        super::trunks::list,
        super::trunks::create,
        super::trunks::show,
        super::trunks::update,
        super::trunks::delete,
        super::trunks::add_subports,
        super::trunks::remove_subports,
        super::trunks::get_subports,
        super::guest_config::show,
        super::audit::list,
        super::tags::list,
        super::tags::replace,
        super::tags::clear,
        super::tags::check,
        super::tags::add,
        super::tags::remove,
        super::health::healthz,
        super::health::readyz,
    ),
    components(schemas(SortDir)),
    modifiers(&IdempotencyKeys)
)]
pub struct ApiDoc;

/// Adds the `Idempotency-Key` header (extension `idempotency-keys`) and its 400, 409 and 422
/// answers to every POST, PUT and DELETE under `/v2.0`, as `api::idempotency` serves them on
/// each: one place, so no write operation is documented without it.
struct IdempotencyKeys;

impl utoipa::Modify for IdempotencyKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        use utoipa::openapi::{ContentBuilder, Ref, Required, ResponseBuilder};
        let header = ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "extension idempotency-keys: 1 to 255 visible ASCII characters; the same key \
                 from the same project with the same request within idempotency_retention \
                 answers the first answer (Idempotent-Replayed: true) without doing the work again",
            ))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(super::idempotency::MAX_KEY_LEN))
                    .pattern(Some("^[!-~]+$")),
            ))
            .build();
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("NeutronErrorResponse")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/v2.0/") {
                continue;
            }
            for operation in [&mut item.post, &mut item.put, &mut item.delete]
                .into_iter()
                .flatten()
            {
                operation
                    .parameters
                    .get_or_insert_with(Vec::new)
                    .push(header.clone());
                let responses = &mut operation.responses.responses;
                responses.entry("400".into()).or_insert_with(|| {
                    error("Bad input, such as a bad Idempotency-Key; the message names it").into()
                });
                responses.entry("422".into()).or_insert_with(|| {
                    error("Idempotency-Key used for another request (IdempotencyKeyReused)").into()
                });
                responses.entry("409".into()).or_insert_with(|| {
                    error("The request with this Idempotency-Key was done but its answer is not recorded (IdempotentAnswerMissing)").into()
                });
            }
        }
    }
}

/// The document as pretty JSON, as committed in `openapi.json`.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// `GET /openapi.json`.
pub async fn serve() -> Json<Value> {
    Json(serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null))
}
