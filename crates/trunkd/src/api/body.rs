//! Reading request bodies: the size cap (413), the time limit (408), JSON syntax (400), the
//! resource wrapper, and the conversions of attribute values whose errors name the attribute
//! (used by the typed bodies of `api::wire`, and by [`Fields`] for the small bodies of the tag
//! and agent calls). Every attribute must be consumed; what is left over is an unknown
//! attribute (400).

use std::str::FromStr;

use axum::extract::{FromRequest, Request};
use axum::http::header;
use futures_util::StreamExt;
use serde_json::{Map, Value};

use crate::api::error::ApiError;
use crate::api::AppState;
use crate::service::ServiceError;

/// A request body parsed as JSON, within the configured size.
pub struct JsonBody(pub Value);

/// How much of an oversized body is still read, and thrown away, before the 413 goes out.
/// Clients that write their whole body before they read (Python's http.client, hence
/// openstackclient) would otherwise find the connection reset under them and never see the
/// answer: this is the lingering close nginx does, bounded in bytes here and in time by the
/// body time limit.
pub const LINGER_BYTES: usize = 64 * 1024 * 1024;

/// Why a body was not read whole.
enum Unread {
    /// Over the cap: the rest of the body, still to be drained.
    TooLarge(axum::body::BodyDataStream),
    /// The connection failed mid-body.
    Broken,
}

/// Reads `body` whole if it stays within `limit` bytes, declared or sent.
async fn read_capped(
    body: axum::body::Body,
    declared: Option<u64>,
    limit: usize,
) -> Result<Vec<u8>, Unread> {
    let mut stream = body.into_data_stream();
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(Unread::TooLarge(stream));
    }
    let mut bytes = Vec::with_capacity(declared.map_or(0, |length| length as usize));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| Unread::Broken)?;
        if bytes.len() + chunk.len() > limit {
            return Err(Unread::TooLarge(stream));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Reads and discards up to [`LINGER_BYTES`] of what is left of a body.
async fn drain(mut rest: axum::body::BodyDataStream) {
    let mut discarded = 0;
    while let Some(Ok(chunk)) = rest.next().await {
        discarded += chunk.len();
        if discarded > LINGER_BYTES {
            break;
        }
    }
}

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = read_body(request, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// A request's body bytes, within the configured size and time (413 and 408 past them).
pub(crate) async fn read_body(request: Request, state: &AppState) -> Result<Vec<u8>, ApiError> {
    let limit = state.max_body_bytes;
    let headers = request.headers();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // A client that waits for `100 Continue` has sent nothing yet: answer at once.
    let waits_to_send = headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let reading = read_capped(request.into_body(), declared, limit);
    let started = tokio::time::Instant::now();
    match tokio::time::timeout(state.body_timeout, reading).await {
        Err(_) => Err(ApiError::RequestTimeout(state.body_timeout)),
        Ok(Err(Unread::TooLarge(rest))) => {
            if !waits_to_send {
                let left = state.body_timeout.saturating_sub(started.elapsed());
                let _ = tokio::time::timeout(left, drain(rest)).await;
            }
            Err(ApiError::PayloadTooLarge(limit))
        }
        Ok(Err(Unread::Broken)) => Err(ApiError::bad_request(
            "body",
            "The request body could not be read to its end.",
        )),
        Ok(Ok(bytes)) => Ok(bytes),
    }
}

/// A request body's bytes as JSON: not empty, well-formed, and without NUL characters.
pub fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("body", "The request body is empty."));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request("body", format!("Malformed JSON in request body: {e}"))
    })?;
    match nul_in(&value) {
        Some(field) => Err(invalid(&field, "text may not contain a NUL character")),
        None => Ok(value),
    }
}

pub(crate) fn invalid(field: &str, reason: impl std::fmt::Display) -> ApiError {
    ApiError::Service(ServiceError::invalid_input(field, reason))
}

/// The name of the first attribute whose text (or whose key) holds a NUL character, which no
/// store can keep (PostgreSQL refuses it in text), so it is refused for every request.
fn nul_in(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if text.contains('\0') => Some(String::new()),
        Value::Array(items) => items.iter().find_map(nul_in),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                return Some(key.replace('\0', "\\0"));
            }
            nul_in(item).map(|inner| if inner.is_empty() { key.clone() } else { inner })
        }),
        _ => None,
    }
}

/// Describes a JSON value for error messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

/// One body is either `{"<singular>": {...}}` or, for bulk create, `{"<plural>": [{...}, ...]}`.
pub enum Wrapped {
    One(Map<String, Value>),
    Many(Vec<Map<String, Value>>),
}

pub fn unwrap_body(body: Value, singular: &str, plural: Option<&str>) -> Result<Wrapped, ApiError> {
    let Value::Object(mut outer) = body else {
        return Err(ApiError::bad_request(
            singular,
            format!("The request body must be a JSON object holding '{singular}'."),
        ));
    };
    if let Some(plural) = plural {
        if let Some(list) = outer.remove(plural) {
            if !outer.is_empty() {
                return Err(unrecognised(&outer));
            }
            let Value::Array(items) = list else {
                return Err(invalid(plural, "must be a list of objects"));
            };
            if items.is_empty() {
                return Err(invalid(plural, "must not be empty"));
            }
            return items
                .into_iter()
                .map(|item| match item {
                    Value::Object(map) => Ok(map),
                    other => Err(invalid(
                        plural,
                        format!("{} is not an object", describe(&other)),
                    )),
                })
                .collect::<Result<_, _>>()
                .map(Wrapped::Many);
        }
    }
    let Some(inner) = outer.remove(singular) else {
        return Err(ApiError::bad_request(
            singular,
            format!("Resource body required: the request body must hold '{singular}'."),
        ));
    };
    if !outer.is_empty() {
        return Err(unrecognised(&outer));
    }
    match inner {
        Value::Object(map) => Ok(Wrapped::One(map)),
        other => Err(invalid(
            singular,
            format!("{} is not an object", describe(&other)),
        )),
    }
}

/// Parses a create body, single or bulk, with `parse` for each resource. Returns the requests
/// and whether the call was a bulk create.
pub fn parse_create<T>(
    body: Value,
    singular: &str,
    plural: &str,
    parse: fn(Map<String, Value>) -> Result<T, ApiError>,
) -> Result<(Vec<T>, bool), ApiError> {
    Ok(match unwrap_body(body, singular, Some(plural))? {
        Wrapped::One(map) => (vec![parse(map)?], false),
        Wrapped::Many(maps) => (maps.into_iter().map(parse).collect::<Result<_, _>>()?, true),
    })
}

/// The 201 response of a create: one resource, or the list of a bulk create.
pub fn created<T: serde::Serialize>(body: T) -> axum::response::Response {
    use axum::response::IntoResponse;
    (axum::http::StatusCode::CREATED, axum::Json(body)).into_response()
}

pub(crate) fn unrecognised(map: &Map<String, Value>) -> ApiError {
    let names: Vec<&str> = map.keys().map(String::as_str).collect();
    ApiError::bad_request(
        names.first().copied().unwrap_or(""),
        format!("Unrecognized attribute(s) '{}'", names.join(", ")),
    )
}

/// The attributes of one resource body, taken out one by one.
pub struct Fields {
    map: Map<String, Value>,
}

impl Fields {
    pub fn new(map: Map<String, Value>) -> Self {
        Self { map }
    }

    /// Attributes a client may not set in this call: 400 naming the first one present.
    pub fn forbid(&self, names: &[&str], verb: &str) -> Result<(), ApiError> {
        match names.iter().find(|name| self.map.contains_key(**name)) {
            Some(name) => Err(ApiError::bad_request(
                *name,
                format!("Attribute '{name}' not allowed in {verb}"),
            )),
            None => Ok(()),
        }
    }

    /// The attribute `name` converted by `convert`; a value it refuses is a 400 naming `name`.
    fn take<T>(
        &mut self,
        name: &str,
        convert: fn(Value) -> Result<T, String>,
    ) -> Result<Option<T>, ApiError> {
        self.map
            .remove(name)
            .map(convert)
            .transpose()
            .map_err(|reason| invalid(name, reason))
    }

    pub fn take_string(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        self.take(name, to_string)
    }

    /// Booleans, or the strings Neutron converts (`true`/`false`, any case, `1`/`0`).
    pub fn take_bool(&mut self, name: &str) -> Result<Option<bool>, ApiError> {
        self.take(name, to_bool)
    }

    /// Integers, or strings holding one (Neutron converts those). `null` is "not given".
    pub fn take_int(&mut self, name: &str) -> Result<Option<i64>, ApiError> {
        Ok(self.take(name, to_int)?.flatten())
    }

    pub fn take_list(&mut self, name: &str) -> Result<Option<Vec<Value>>, ApiError> {
        self.take(name, to_list)
    }

    pub fn take_string_list(&mut self, name: &str) -> Result<Option<Vec<String>>, ApiError> {
        self.take(name, to_string_list)
    }

    /// Fails on any attribute not taken.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.map.is_empty() {
            Ok(())
        } else {
            Err(unrecognised(&self.map))
        }
    }
}

/// The conversions of one attribute value to what an attribute of its kind holds, as Neutron
/// does them; the error is the reason of the "Invalid input for <attribute>" message. Used by
/// [`Fields`] and by the typed request bodies' [`crate::api::wire::Attr`].
pub fn to_string(value: Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(format!("{} is not a valid string", describe(&other))),
    }
}

/// See [`to_string`]: booleans, or the strings Neutron converts (`true`/`false` in any case,
/// `1`/`0`).
pub fn to_bool(value: Value) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(b),
        Value::String(s) => {
            parse_bool(&s).ok_or_else(|| format!("'{s}' cannot be converted to boolean"))
        }
        other => Err(format!(
            "{} cannot be converted to boolean",
            describe(&other)
        )),
    }
}

/// See [`to_string`]: integers, or strings holding one; `null` is "not given" (`None`).
pub fn to_int(value: Value) -> Result<Option<i64>, String> {
    match value {
        Value::Null => Ok(None),
        value => parse_int(&value)
            .map(Some)
            .ok_or_else(|| format!("{} is not an integer", describe(&value))),
    }
}

/// See [`to_string`]: a JSON object.
pub fn to_object(value: Value) -> Result<Map<String, Value>, String> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(format!("{} is not a dictionary", describe(&other))),
    }
}

/// See [`to_string`]: a list, its items unchecked.
pub fn to_list(value: Value) -> Result<Vec<Value>, String> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(format!("{} is not a list", describe(&other))),
    }
}

/// See [`to_string`]: a list of strings.
pub fn to_string_list(value: Value) -> Result<Vec<String>, String> {
    to_list(value)?.into_iter().map(to_string).collect()
}

/// See [`to_string`]: a UUID-typed id, given as a string.
pub fn to_id<T: FromStr>(value: Value) -> Result<T, String> {
    let text = to_string(value)?;
    text.parse()
        .map_err(|_| format!("'{text}' is not a valid UUID"))
}

pub fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

pub fn parse_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: Value) -> Fields {
        match value {
            Value::Object(map) => Fields::new(map),
            _ => panic!("test body must be an object"),
        }
    }

    #[test]
    fn types_are_checked_and_named() {
        let mut f = fields(json!({"name": 5, "admin_state_up": "yes", "id": 1.5}));
        let error = f.take_string("name").expect_err("number is not a string");
        assert!(error.to_string().contains("name"), "{error}");
        assert!(f.take_bool("admin_state_up").is_err());
        assert!(f.take_int("id").is_err());
        f.finish().expect("all taken");
    }

    #[test]
    fn leftovers_are_unrecognised() {
        let mut f = fields(json!({"name": "a", "colour": "red"}));
        assert_eq!(f.take_string("name").expect("string").as_deref(), Some("a"));
        let error = f.finish().expect_err("colour is unknown");
        assert!(error.to_string().contains("colour"), "{error}");
    }

    #[test]
    fn nul_characters_are_found_and_named() {
        assert_eq!(
            nul_in(&json!({"trunk": {"name": "a\0b"}})).as_deref(),
            Some("name")
        );
        assert_eq!(
            nul_in(&json!({"tags": ["ok", "x\0"]})).as_deref(),
            Some("tags")
        );
        assert_eq!(nul_in(&json!({"trunk": {"name": "fine"}})), None);
    }

    #[test]
    fn integers_accept_numeric_strings_only() {
        assert_eq!(parse_int(&json!(7)), Some(7));
        assert_eq!(parse_int(&json!("7")), Some(7));
        assert_eq!(parse_int(&json!("7.5")), None);
        assert_eq!(parse_int(&json!(true)), None);
        assert_eq!(parse_int(&json!(7.5)), None);
    }

    #[test]
    fn wrapper_must_match() {
        assert!(unwrap_body(json!({"trunk": {}}), "trunk", Some("trunks")).is_ok());
        assert!(matches!(
            unwrap_body(json!({"trunks": [{}, {}]}), "trunk", Some("trunks")),
            Ok(Wrapped::Many(items)) if items.len() == 2
        ));
        assert!(unwrap_body(json!({"port": {}}), "trunk", Some("trunks")).is_err());
        assert!(unwrap_body(json!([]), "trunk", None).is_err());
        assert!(unwrap_body(json!({"trunk": 1}), "trunk", None).is_err());
        assert!(unwrap_body(json!({"trunk": {}, "x": 1}), "trunk", None).is_err());
    }
}
