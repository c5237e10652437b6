//! List calls on the wire: query-string filters (validated against the attribute catalogue;
//! unknown keys are a 400, as with Neutron's filter-validation), `fields`, sorting, pagination
//! and the `<collection>_links` that point to the next and previous pages.
//!
//! What the caller may ask comes from the service as [`ListRules`]: attributes policy hides
//! from them are refused exactly like unknown ones (so no filter or sort order can reveal a
//! hidden value), and the numbers of tag filter terms and filter values are capped with a 400
//! naming the key, so no query string reaches a database limit.

use std::collections::HashSet;

use crate::api::body::parse_bool;
use crate::api::error::ApiError;
use crate::api::wire::Link;
use crate::model::attrs::{self, AttrKind, AttrSpec};
use crate::service::ListRules;
use crate::store::{self, Filter, ListQuery, SortKey, TagFilter};

/// A parsed list request.
#[derive(Debug, Clone, PartialEq)]
pub struct ListRequest {
    pub query: ListQuery,
    /// Attributes to return; empty means all.
    pub fields: Vec<String>,
    /// The same as a set, so that picking them from each item costs no more than the item.
    wanted: HashSet<String>,
    /// The query string without marker/page_reverse, for building page links.
    pub link_base: Vec<(String, String)>,
    /// The client sent no `limit`: the page size is the server's `pagination_max_limit`.
    pub server_limit: bool,
}

/// Largest page a client may ask for; a larger `limit` is lowered to it.
pub const MAX_PAGE: usize = 10_000;

fn invalid_filter(key: &str) -> ApiError {
    ApiError::bad_request(key, format!("['{key}'] is invalid attribute for filtering"))
}

fn invalid_sort_key(value: &str) -> ApiError {
    ApiError::bad_request(
        "sort_key",
        format!("{value} is an invalid attribute for sort_key"),
    )
}

fn too_many_terms(key: &str, what: &str, max: usize) -> ApiError {
    ApiError::bad_request(
        key,
        format!("Invalid input for {key}. Reason: more than {max} {what} in one request."),
    )
}

fn parse_value(spec: &AttrSpec, text: &str) -> Result<store::Value, ApiError> {
    match spec.kind {
        AttrKind::Text => Ok(store::Value::Text(text.to_string())),
        AttrKind::Int => text.trim().parse().map(store::Value::Int).map_err(|_| {
            ApiError::bad_request(
                spec.name,
                format!(
                    "Invalid input for {}. Reason: '{text}' is not an integer.",
                    spec.name
                ),
            )
        }),
        AttrKind::Bool => parse_bool(text).map(store::Value::Bool).ok_or_else(|| {
            ApiError::bad_request(
                spec.name,
                format!(
                    "Invalid input for {}. Reason: '{text}' cannot be converted to boolean.",
                    spec.name
                ),
            )
        }),
    }
}

fn comma_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

/// Parses a raw query string for a collection whose attributes are `catalogue`, as asked by a
/// caller bound by `rules`.
pub fn parse(
    raw: Option<&str>,
    catalogue: &'static [AttrSpec],
    rules: &ListRules,
) -> Result<ListRequest, ApiError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let mut query = ListQuery::everything();
    let mut fields = Vec::new();
    let mut sort_keys = Vec::new();
    let mut sort_dirs = Vec::new();
    let mut tags = TagFilter::default();
    let mut link_base = Vec::new();
    let mut tag_terms = 0usize;
    let mut filter_values = 0usize;
    for (key, value) in &pairs {
        if value.contains('\0') || key.contains('\0') {
            let name = key.replace('\0', "\\0");
            return Err(ApiError::bad_request(
                name.as_str(),
                format!("Invalid input for {name}. Reason: text may not contain a NUL character."),
            ));
        }
        if key != "marker" && key != "page_reverse" {
            link_base.push((key.clone(), value.clone()));
        }
        match key.as_str() {
            "fields" => fields.extend(comma_list(value)),
            "sort_key" => {
                let spec = attrs::find(catalogue, value)
                    .filter(|s| s.sortable && rules.readable(s.name))
                    .ok_or_else(|| invalid_sort_key(value))?;
                sort_keys.push(spec.name);
            }
            "sort_dir" => match value.as_str() {
                "asc" => sort_dirs.push(true),
                "desc" => sort_dirs.push(false),
                other => {
                    return Err(ApiError::bad_request(
                        "sort_dir",
                        format!("{other} is an invalid value for sort_dir, valid values are 'asc' and 'desc'"),
                    ))
                }
            },
            "limit" => {
                let limit: usize = value.trim().parse().map_err(|_| {
                    ApiError::bad_request("limit", format!("Invalid input for limit. Reason: '{value}' is not a non-negative integer."))
                })?;
                query.limit = (limit > 0).then_some(limit.min(MAX_PAGE));
            }
            "marker" => {
                uuid::Uuid::parse_str(value).map_err(|_| {
                    ApiError::bad_request("marker", format!("Invalid input for marker. Reason: '{value}' is not a valid UUID."))
                })?;
                query.marker = Some(value.clone());
            }
            "page_reverse" => {
                query.page_reverse = parse_bool(value).ok_or_else(|| {
                    ApiError::bad_request("page_reverse", format!("Invalid input for page_reverse. Reason: '{value}' cannot be converted to boolean."))
                })?;
            }
            "tags" | "tags-any" | "not-tags" | "not-tags-any" => {
                let terms = comma_list(value);
                tag_terms += terms.len();
                if tag_terms > rules.max_tag_filter_terms {
                    return Err(too_many_terms(
                        key,
                        "tag filter terms",
                        rules.max_tag_filter_terms,
                    ));
                }
                match key.as_str() {
                    "tags" => tags.all.extend(terms),
                    "tags-any" => tags.any.extend(terms),
                    "not-tags" => tags.not_all.extend(terms),
                    _ => tags.not_any.extend(terms),
                }
            }
            other => {
                let spec = attrs::find(catalogue, other)
                    .filter(|s| s.filterable && rules.readable(s.name))
                    .ok_or_else(|| invalid_filter(other))?;
                filter_values += 1;
                if filter_values > rules.max_filter_values {
                    return Err(too_many_terms(
                        other,
                        "filter values",
                        rules.max_filter_values,
                    ));
                }
                let parsed = parse_value(spec, value)?;
                match query.filters.iter_mut().find(|f| f.attr == spec.name) {
                    Some(filter) => filter.values.push(parsed),
                    None => query.filters.push(Filter {
                        attr: spec.name,
                        values: vec![parsed],
                    }),
                }
            }
        }
    }
    if sort_dirs.len() > sort_keys.len() {
        return Err(ApiError::bad_request(
            "sort_dir",
            "The number of sort_dir and sort_key values must match.",
        ));
    }
    // A key sorted on again after its first mention changes nothing: dropping it keeps the
    // keyset condition of a page (quadratic in the number of keys) small.
    let mut sorted = HashSet::new();
    query.sort = sort_keys
        .into_iter()
        .enumerate()
        .filter(|(_, attr)| sorted.insert(*attr))
        .map(|(index, attr)| SortKey {
            attr,
            ascending: sort_dirs.get(index).copied().unwrap_or(true),
        })
        .collect();
    query.tags = tags;
    let wanted = fields.iter().cloned().collect();
    Ok(ListRequest {
        query,
        fields,
        wanted,
        link_base,
        server_limit: false,
    })
}

impl ListRequest {
    /// Caps the page at `max` items (Neutron's `pagination_max_limit`; none: no cap), so no list
    /// answer, and no memory held for one, grows with the number of rows. A larger `limit` is
    /// lowered to `max`; without a `limit` the page is `max` items, and if it is full the answer
    /// carries the links a `limit=max` request gets, so clients walk on to the rest. An answer
    /// that fits is exactly what it was without the cap (no links). Page links name the
    /// effective limit.
    pub fn with_max_page(mut self, max: Option<usize>) -> Self {
        let Some(max) = max else {
            return self;
        };
        match self.query.limit {
            Some(limit) if limit <= max => return self,
            Some(_) => {}
            None => self.server_limit = true,
        }
        self.query.limit = Some(max);
        let at = self.link_base.iter().position(|(key, _)| key == "limit");
        self.link_base.retain(|(key, _)| key != "limit");
        let at = at.unwrap_or(self.link_base.len());
        self.link_base.insert(at, ("limit".into(), max.to_string()));
        self
    }

    /// The query for the store: the page itself, at most `limit` rows from the marker on.
    pub fn store_query(&self) -> ListQuery {
        self.query.clone()
    }

    /// The page links (`rel` next/previous) of `page` in `collection`, by Neutron's rule: the
    /// direction of travel gets a link only while pages come back full (a full last page still
    /// has one, and following it gives an empty page), the way back always has one, and an
    /// empty page links without a marker (so the way back from the end starts at the end).
    /// Clients walk until a page lacks the link, so the rule must match Neutron's exactly.
    pub fn links<T>(
        &self,
        page: &[T],
        id_of: impl Fn(&T) -> String,
        base_url: &str,
        collection: &str,
    ) -> Option<Vec<Link>> {
        let limit = self.query.limit?;
        let full = page.len() >= limit;
        if self.server_limit && !full {
            // All there is fitted in the server's page: answered as if unpaged.
            return None;
        }
        let href = |marker: Option<String>, reverse: bool| {
            let mut serializer = form_urlencoded::Serializer::new(String::new());
            for (key, value) in &self.link_base {
                serializer.append_pair(key, value);
            }
            if let Some(marker) = &marker {
                serializer.append_pair("marker", marker);
            }
            if reverse {
                serializer.append_pair("page_reverse", "True");
            }
            format!("{base_url}/v2.0/{collection}?{}", serializer.finish())
        };
        let reverse = self.query.page_reverse;
        let mut links = Vec::new();
        if reverse || full {
            links.push(Link {
                href: href(page.last().map(&id_of), false),
                rel: "next",
            });
        }
        if !reverse || full {
            links.push(Link {
                href: href(page.first().map(&id_of), true),
                rel: "previous",
            });
        }
        Some(links)
    }
}

impl ListRequest {
    /// The attributes `fields=` asked for; `None`: all of them.
    pub fn wanted(&self) -> Option<&HashSet<String>> {
        (!self.wanted.is_empty()).then_some(&self.wanted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::attrs::TRUNK_ATTRS;

    #[test]
    fn filters_repeat_as_or_and_unknown_keys_fail() {
        let request = parse(
            Some("status=ACTIVE&status=DOWN&admin_state_up=True"),
            TRUNK_ATTRS,
            &ListRules::default(),
        )
        .expect("valid query");
        assert_eq!(request.query.filters.len(), 2);
        assert_eq!(request.query.filters[0].values.len(), 2);
        assert_eq!(
            request.query.filters[1].values,
            vec![store::Value::Bool(true)]
        );
        let error = parse(Some("colour=red"), TRUNK_ATTRS, &ListRules::default())
            .expect_err("unknown filter");
        assert!(error.to_string().contains("colour"));
    }

    #[test]
    fn sorting_and_paging_are_validated() {
        let request = parse(
            Some("sort_key=name&sort_dir=desc&sort_key=id&limit=5"),
            TRUNK_ATTRS,
            &ListRules::default(),
        )
        .expect("valid");
        assert_eq!(request.query.sort.len(), 2);
        assert!(!request.query.sort[0].ascending);
        assert!(request.query.sort[1].ascending);
        assert_eq!(request.query.limit, Some(5));
        for bad in [
            "sort_key=sub_ports",
            "sort_dir=up",
            "limit=-1",
            "limit=x",
            "marker=nope",
            "page_reverse=maybe",
            "revision_number=abc",
        ] {
            assert!(
                parse(Some(bad), TRUNK_ATTRS, &ListRules::default()).is_err(),
                "{bad} accepted"
            );
        }
    }

    /// The rels and hrefs of the links of `page` for a query.
    fn links_of(query: &str, page: &[&str]) -> Vec<(String, String)> {
        let request = parse(Some(query), TRUNK_ATTRS, &ListRules::default()).expect("valid");
        request
            .links(page, |s| s.to_string(), "http://h", "trunks")
            .expect("links with limit")
            .iter()
            .map(|l| (l.rel.to_string(), l.href.clone()))
            .collect()
    }

    #[test]
    fn pages_link_as_neutron_does() {
        // Forward, full page: next from the last item, previous from the first.
        let links = links_of(
            "limit=2&marker=00000000-0000-0000-0000-000000000001",
            &["a", "b"],
        );
        assert_eq!(links.len(), 2);
        assert_eq!(links[0].0, "next");
        assert!(links[0].1.contains("marker=b"), "{links:?}");
        assert!(!links[0].1.contains("page_reverse"), "{links:?}");
        assert_eq!(links[1].0, "previous");
        assert!(links[1].1.contains("marker=a") && links[1].1.contains("page_reverse=True"));
        // Forward, first page: a way back all the same, as Neutron gives.
        let rels: Vec<String> = links_of("limit=2", &["a", "b"])
            .into_iter()
            .map(|l| l.0)
            .collect();
        assert_eq!(rels, ["next", "previous"]);
        // Forward, short page: no next.
        let links = links_of("limit=2", &["a"]);
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].0, "previous");
        // Forward, empty page (after a full last one): previous without a marker.
        let links = links_of("limit=2&marker=00000000-0000-0000-0000-000000000001", &[]);
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].0, "previous");
        assert!(!links[0].1.contains("marker"), "{links:?}");
        assert!(links[0].1.contains("limit=2"), "{links:?}");
        // Backward, full page: both ways; short page: only next.
        let rels: Vec<String> = links_of("limit=2&page_reverse=True", &["a", "b"])
            .into_iter()
            .map(|l| l.0)
            .collect();
        assert_eq!(rels, ["next", "previous"]);
        let links = links_of("limit=2&page_reverse=True", &["a"]);
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].0, "next");
        assert!(links[0].1.contains("marker=a"), "{links:?}");
    }

    #[test]
    fn no_limit_no_links() {
        let request =
            parse(Some("sort_key=name"), TRUNK_ATTRS, &ListRules::default()).expect("valid");
        assert!(request
            .links(&["a"], |s| s.to_string(), "http://h", "trunks")
            .is_none());
    }

    #[test]
    fn the_server_caps_pages_and_links_with_the_effective_limit() {
        let capped = |query: &str| {
            parse(Some(query), TRUNK_ATTRS, &ListRules::default())
                .expect("valid")
                .with_max_page(Some(3))
        };
        let hrefs = |request: &ListRequest, page: &[&str]| -> Option<Vec<(String, String)>> {
            request
                .links(page, |s| s.to_string(), "http://h", "trunks")
                .map(|links| {
                    links
                        .iter()
                        .map(|l| (l.rel.to_string(), l.href.clone()))
                        .collect()
                })
        };
        // No limit: a page of the maximum; all that fits is answered as before, without links.
        let request = capped("sort_key=name");
        assert_eq!(request.store_query().limit, Some(3));
        assert_eq!(hrefs(&request, &["a", "b"]), None);
        // A full page links on, by the usual rule, with the limit it was cut at.
        let links = hrefs(&request, &["a", "b", "c"]).expect("links on a full page");
        assert_eq!(links.len(), 2);
        assert_eq!(links[0].0, "next");
        assert_eq!(
            links[0].1,
            "http://h/v2.0/trunks?sort_key=name&limit=3&marker=c"
        );
        assert_eq!(links[1].0, "previous");
        // limit=0 asks for everything: the same as none.
        assert_eq!(capped("limit=0").store_query().limit, Some(3));
        let links = hrefs(&capped("limit=0&name=x"), &["a", "b", "c"]).expect("links");
        assert_eq!(links[0].1, "http://h/v2.0/trunks?limit=3&name=x&marker=c");
        // A larger limit is lowered, and its links say so; a smaller one is left alone.
        let request = capped("limit=50&limit=70&fields=id");
        assert_eq!(request.store_query().limit, Some(3));
        let links = hrefs(&request, &["a"]).expect("a client-paged answer links back");
        assert_eq!(links.len(), 1);
        assert_eq!(
            links[0].1,
            "http://h/v2.0/trunks?limit=3&fields=id&marker=a&page_reverse=True"
        );
        let request = capped("limit=2");
        assert_eq!(request.store_query().limit, Some(2));
        assert_eq!(hrefs(&request, &["a"]).map(|l| l.len()), Some(1));
        // No cap configured: unchanged.
        let request = parse(Some("name=x"), TRUNK_ATTRS, &ListRules::default())
            .expect("valid")
            .with_max_page(None);
        assert_eq!(request.store_query().limit, None);
    }
}
