//! SQL for list calls: filters, tag filters, sorting and keyset pagination from a marker.
//! The same SQL on every dialect.

use crate::model::attrs::{self, AttrKind, AttrSpec};
use crate::store::{ListQuery, ResourceKind, Scope, StoreError, Value};

use super::builder::Builder;
use super::exec::{get, Decode, SqlConn};

/// How one resource's API attributes map onto one table.
pub(super) struct Table {
    pub name: &'static str,
    pub kind: ResourceKind,
    pub catalogue: &'static [AttrSpec],
    /// The SQL expression for an API attribute (nullable columns are coalesced so that
    /// comparisons in keyset pagination stay total).
    pub column_of: fn(&str) -> Option<&'static str>,
    /// The SQL condition under which a row of another project is shared with the caller's
    /// (`Scope::Project { include_shared: true }`), if rows can be shared.
    pub shared: Option<&'static str>,
}

pub(super) fn network_column(attr: &str) -> Option<&'static str> {
    attrs::column(attrs::NETWORK_ATTRS, attr)
}

pub(super) fn subnet_column(attr: &str) -> Option<&'static str> {
    attrs::column(attrs::SUBNET_ATTRS, attr)
}

pub(super) fn port_column(attr: &str) -> Option<&'static str> {
    attrs::column(attrs::PORT_ATTRS, attr)
}

pub(super) fn trunk_column(attr: &str) -> Option<&'static str> {
    attrs::column(attrs::TRUNK_ATTRS, attr)
}

pub(super) const NETWORKS: Table = Table {
    name: "networks",
    kind: ResourceKind::Network,
    catalogue: attrs::NETWORK_ATTRS,
    column_of: network_column,
    shared: Some("t.shared"),
};

pub(super) const SUBNETS: Table = Table {
    name: "subnets",
    kind: ResourceKind::Subnet,
    catalogue: attrs::SUBNET_ATTRS,
    column_of: subnet_column,
    // A subnet is shared when its network is.
    shared: Some("EXISTS (SELECT 1 FROM networks n WHERE n.id = t.network_id AND n.shared)"),
};

pub(super) const PORTS: Table = Table {
    name: "ports",
    kind: ResourceKind::Port,
    catalogue: attrs::PORT_ATTRS,
    column_of: port_column,
    shared: None,
};

pub(super) const TRUNKS: Table = Table {
    name: "trunks",
    kind: ResourceKind::Trunk,
    catalogue: attrs::TRUNK_ATTRS,
    column_of: trunk_column,
    shared: None,
};

fn push_value(builder: &mut Builder, value: &Value) {
    match value {
        Value::Text(text) => builder.push_bind(text.clone()),
        Value::Int(number) => builder.push_bind(*number),
        Value::Bool(flag) => builder.push_bind(*flag),
    };
}

fn unknown(attr: &str) -> StoreError {
    StoreError::Internal(format!("no column for attribute {attr}"))
}

/// One sort key resolved to SQL, in the direction the query runs (reversed for page_reverse).
struct ResolvedKey {
    expression: &'static str,
    kind: AttrKind,
    ascending: bool,
}

fn resolve_sort(table: &Table, query: &ListQuery) -> Result<Vec<ResolvedKey>, StoreError> {
    let mut keys = Vec::with_capacity(query.sort.len() + 1);
    for key in &query.sort {
        let expression = (table.column_of)(key.attr).ok_or_else(|| unknown(key.attr))?;
        let kind = attrs::find(table.catalogue, key.attr)
            .map(|spec| spec.kind)
            .unwrap_or(AttrKind::Text);
        keys.push(ResolvedKey {
            expression,
            kind,
            ascending: key.ascending != query.page_reverse,
        });
    }
    if !keys.iter().any(|key| key.expression == "t.id") {
        let ascending = keys
            .last()
            .map(|k| k.ascending)
            .unwrap_or(!query.page_reverse);
        keys.push(ResolvedKey {
            expression: "t.id",
            kind: AttrKind::Text,
            ascending,
        });
    }
    Ok(keys)
}

/// The marker row's sort values, looked up within the caller's scope: a row they cannot see
/// is not found, exactly like an id that does not exist.
async fn marker_values<C: SqlConn>(
    conn: &mut C,
    table: &Table,
    keys: &[ResolvedKey],
    scope: &Scope,
    marker: &str,
) -> Result<Vec<Value>, StoreError> {
    let expressions: Vec<&str> = keys.iter().map(|k| k.expression).collect();
    let mut builder = Builder::new(format!(
        "SELECT {} FROM {} t WHERE t.id = ",
        expressions.join(", "),
        table.name
    ));
    builder.push_bind(marker.to_string());
    push_scope(&mut builder, table, scope);
    let kinds: Vec<AttrKind> = keys.iter().map(|key| key.kind).collect();
    builder
        .fetch(conn, &|row| {
            kinds
                .iter()
                .enumerate()
                .map(|(index, kind)| {
                    Ok(match kind {
                        AttrKind::Text => Value::Text(get(row, index)?),
                        AttrKind::Int => Value::Int(get(row, index)?),
                        AttrKind::Bool => Value::Bool(get(row, index)?),
                    })
                })
                .collect::<Result<Vec<Value>, StoreError>>()
        })
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::MarkerNotFound(marker.to_string()))
}

/// `AND (<the rows of the scope>)`.
fn push_scope(builder: &mut Builder, table: &Table, scope: &Scope) {
    if let Scope::Project {
        project_id,
        include_shared,
    } = scope
    {
        builder.push(" AND (t.project_id = ");
        builder.push_bind(project_id.as_str().to_string());
        if let (true, Some(shared)) = (*include_shared, table.shared) {
            builder.push(" OR ");
            builder.push(shared);
        }
        builder.push(")");
    }
}

fn push_tag_exists(builder: &mut Builder, table: &Table, tags: &[String]) {
    builder.push(format!(
        "EXISTS (SELECT 1 FROM tags g WHERE g.resource_type = '{}' AND g.resource_id = t.id AND g.tag IN ",
        table.kind.as_str()
    ));
    super::tx::push_in_list(builder, tags.iter().cloned());
    builder.push(")");
}

/// The resource has every one of `tags`: a count of its matching tags, one flat expression
/// whatever the number of tags (a chain of one `EXISTS` per tag ran into SQLite's expression
/// depth limit at some 1,000 tags). A resource holds each tag once, so the count of distinct
/// terms is what it must reach.
fn push_has_all_tags(builder: &mut Builder, table: &Table, tags: &[String]) {
    let distinct: std::collections::BTreeSet<&String> = tags.iter().collect();
    builder.push(format!(
        "((SELECT COUNT(*) FROM tags g WHERE g.resource_type = '{}' AND g.resource_id = t.id AND g.tag IN ",
        table.kind.as_str()
    ));
    super::tx::push_in_list(builder, distinct.iter().map(|tag| (*tag).clone()));
    builder.push(") = ");
    builder.push_bind(i64::try_from(distinct.len()).unwrap_or(i64::MAX));
    builder.push(")");
}

/// Runs a list query and returns the rows in the requested order.
pub(super) async fn list_rows<C: SqlConn, T: Send>(
    (conn, columns): (&mut C, &str),
    table: &Table,
    query: &ListQuery,
    decode: Decode<'_, T>,
) -> Result<Vec<T>, StoreError> {
    let keys = resolve_sort(table, query)?;
    let marker = match &query.marker {
        Some(marker) => Some(marker_values(&mut *conn, table, &keys, &query.scope, marker).await?),
        None => None,
    };

    let mut builder = Builder::new(format!(
        "SELECT {} FROM {} t WHERE 1 = 1",
        columns, table.name
    ));
    push_scope(&mut builder, table, &query.scope);
    for filter in &query.filters {
        let expression = (table.column_of)(filter.attr).ok_or_else(|| unknown(filter.attr))?;
        if filter.values.is_empty() {
            continue;
        }
        builder.push(format!(" AND {expression} IN ("));
        let mut separated = builder.separated(", ");
        for value in &filter.values {
            match value {
                Value::Text(text) => separated.push_bind(text.clone()),
                Value::Int(number) => separated.push_bind(*number),
                Value::Bool(flag) => separated.push_bind(*flag),
            };
        }
        builder.push(")");
    }
    let tags = &query.tags;
    if !tags.all.is_empty() {
        builder.push(" AND ");
        push_has_all_tags(&mut builder, table, &tags.all);
    }
    if !tags.any.is_empty() {
        builder.push(" AND ");
        push_tag_exists(&mut builder, table, &tags.any);
    }
    if !tags.not_all.is_empty() {
        builder.push(" AND NOT ");
        push_has_all_tags(&mut builder, table, &tags.not_all);
    }
    if !tags.not_any.is_empty() {
        builder.push(" AND NOT ");
        push_tag_exists(&mut builder, table, &tags.not_any);
    }
    if let Some(values) = &marker {
        // (k1 > v1) OR (k1 = v1 AND k2 > v2) OR ...
        builder.push(" AND (");
        for (index, key) in keys.iter().enumerate() {
            if index > 0 {
                builder.push(" OR ");
            }
            builder.push("(");
            for (earlier, value) in keys.iter().zip(values).take(index) {
                builder.push(format!("{} = ", earlier.expression));
                push_value(&mut builder, value);
                builder.push(" AND ");
            }
            let operator = if key.ascending { ">" } else { "<" };
            builder.push(format!("{} {operator} ", key.expression));
            push_value(&mut builder, &values[index]);
            builder.push(")");
        }
        builder.push(")");
    }
    builder.push(" ORDER BY ");
    for (index, key) in keys.iter().enumerate() {
        if index > 0 {
            builder.push(", ");
        }
        let direction = if key.ascending { "ASC" } else { "DESC" };
        builder.push(format!("{} {direction}", key.expression));
    }
    if let Some(limit) = query.limit {
        builder.push(" LIMIT ");
        builder.push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
    }
    let mut rows = builder.fetch(conn, decode).await?;
    if query.page_reverse {
        rows.reverse();
    }
    Ok(rows)
}
