//! Tags are checked the same way wherever they are given, and capped;
//! no list or tag request a member can send does unbounded work or runs into a database limit
//! (a 400 naming the attribute instead of a 500); bulk creates are capped as a whole; and lists
//! tell no caller what policy hides from them (markers, filters and sort keys on hidden
//! attributes, `binding:vif_details`).

use crate::common;

use common::{vlan, Client, Identity, Server};
use reqwest::Method;
use serde_json::{json, Value};

/// The ids of a list answer's `collection`.
fn ids(body: &Value, collection: &str) -> Vec<String> {
    body[collection]
        .as_array()
        .unwrap_or_else(|| panic!("no {collection} in {body}"))
        .iter()
        .map(|item| item["id"].as_str().expect("id").to_string())
        .collect()
}

/// Asserts a 400 whose NeutronError message names `field`.
fn assert_bad(reply: common::Reply, field: &str) -> String {
    assert_eq!(reply.status.as_u16(), 400, "body: {}", reply.body);
    let message = reply.message();
    assert!(message.contains(field), "{field} not named in: {message}");
    message
}

async fn count(client: &Client, collection: &str) -> usize {
    ids(
        &client.get(&format!("/v2.0/{collection}")).await.expect(200),
        collection,
    )
    .len()
}

#[tokio::test]
async fn tags_given_at_create_are_checked_like_tag_calls() {
    let server = Server::start();
    let member = server.as_(Identity::member("p1"));
    let network = member.network(json!({})).await;
    let ports = member.ports(&network, 3).await;

    // Duplicates are merged (first seen kept), on every create and in bulk: not a 500.
    let created = member
        .post(
            "/v2.0/networks",
            json!({"network": {"tags": ["b", "a", "b", "a"]}}),
        )
        .await
        .expect(201);
    assert_eq!(created["network"]["tags"], json!(["b", "a"]));
    let created = member
        .post(
            "/v2.0/ports",
            json!({"ports": [{"network_id": network, "tags": ["a", "a"]}, {"network_id": network, "tags": ["x"]}]}),
        )
        .await
        .expect(201);
    assert_eq!(created["ports"][0]["tags"], json!(["a"]));
    let created = member
        .post(
            "/v2.0/trunks",
            json!({"trunk": {"port_id": ports[0], "tags": ["t", "t"]}}),
        )
        .await
        .expect(201);
    assert_eq!(created["trunk"]["tags"], json!(["t"]));

    // Neutron's rules: not empty, no comma, at most 60 characters; nothing is stored.
    let long = "x".repeat(61);
    let networks = count(&member, "networks").await;
    let port_count = count(&member, "ports").await;
    for bad in [
        json!([""]),
        json!(["x,y"]),
        json!([long]),
        json!(["ok", ""]),
    ] {
        assert_bad(
            member
                .post("/v2.0/networks", json!({"network": {"tags": bad}}))
                .await,
            "tags",
        );
        assert_bad(
            member
                .post(
                    "/v2.0/networks",
                    json!({"networks": [{"name": "fine"}, {"tags": bad}]}),
                )
                .await,
            "tags",
        );
        assert_bad(
            member
                .post(
                    "/v2.0/ports",
                    json!({"port": {"network_id": network, "tags": bad}}),
                )
                .await,
            "tags",
        );
        assert_bad(
            member
                .post(
                    "/v2.0/trunks",
                    json!({"trunk": {"port_id": ports[1], "tags": bad}}),
                )
                .await,
            "tags",
        );
    }
    let sixty = "y".repeat(60);
    member
        .post("/v2.0/networks", json!({"network": {"tags": [sixty]}}))
        .await
        .expect(201);
    assert_eq!(count(&member, "networks").await, networks + 1);
    assert_eq!(count(&member, "ports").await, port_count);
    assert_eq!(count(&member, "trunks").await, 1);

    // The cap per resource (default 50) holds on create, on replace and on adding one.
    let fifty: Vec<String> = (0..50).map(|i| format!("t{i}")).collect();
    let mut fifty_one = fifty.clone();
    fifty_one.push("t50".into());
    assert_bad(
        member
            .post(
                "/v2.0/ports",
                json!({"port": {"network_id": network, "tags": fifty_one}}),
            )
            .await,
        "tags",
    );
    let path = format!("/v2.0/networks/{network}/tags");
    assert_bad(member.put(&path, json!({"tags": fifty_one})).await, "tags");
    // Duplicates do not count against the cap.
    let mut doubled = fifty.clone();
    doubled.extend(fifty.clone());
    let tags = member
        .put(&path, json!({"tags": doubled}))
        .await
        .expect(200);
    assert_eq!(tags["tags"].as_array().map(Vec::len), Some(50));
    assert_bad(
        member
            .send(Method::PUT, &format!("{path}/extra"), None)
            .await,
        "tags",
    );
    member
        .send(Method::PUT, &format!("{path}/t7"), None)
        .await
        .expect(201);
    assert_bad(
        member.put(&path, json!({"tags": ["a", "b,c"]})).await,
        "tags",
    );
    let shown = member
        .get(&format!("/v2.0/networks/{network}"))
        .await
        .expect(200);
    assert_eq!(shown["network"]["tags"].as_array().map(Vec::len), Some(50));
}

#[tokio::test]
async fn huge_tag_lists_and_filters_are_400_not_500() {
    let server = Server::start();
    let member = server.as_(Identity::member("p1"));
    let network = member.network(json!({})).await;
    let port = member.port(&network, json!({})).await;

    // Past SQLite's bound-variable limit (some 10,900 tags) and a 2 MB body: a 400 at once.
    for size in [11_000usize, 230_000] {
        let tags: Vec<String> = (0..size).map(|i| format!("{i:06}")).collect();
        assert_bad(
            member
                .put(&format!("/v2.0/ports/{port}/tags"), json!({"tags": tags}))
                .await,
            "tags",
        );
    }

    // 990 tag filter terms ran SQLite out of expression depth: now a 400 naming the key.
    let terms: Vec<String> = (0..990).map(|i| format!("t{i}")).collect();
    for key in ["tags", "tags-any", "not-tags", "not-tags-any"] {
        assert_bad(
            member
                .get(&format!("/v2.0/ports?{key}={}", terms.join(",")))
                .await,
            key,
        );
    }
    // The cap counts terms over all four filters.
    let half: Vec<String> = (0..30).map(|i| format!("t{i}")).collect();
    assert_bad(
        member
            .get(&format!(
                "/v2.0/ports?tags={}&not-tags-any={}",
                half.join(","),
                half.join(",")
            ))
            .await,
        "not-tags-any",
    );
    // At the cap, a list answers.
    let fifty: Vec<String> = (0..50).map(|i| format!("t{i}")).collect();
    member
        .get(&format!("/v2.0/ports?tags={}", fifty.join(",")))
        .await
        .expect(200);

    // Attribute filters: at most 1,000 values in one list call.
    let many = |n: usize| {
        (0..n)
            .map(|_| format!("id={}", uuid::Uuid::new_v4()))
            .collect::<Vec<_>>()
            .join("&")
    };
    assert_bad(
        member.get(&format!("/v2.0/ports?{}", many(1_001))).await,
        "id",
    );
    member
        .get(&format!("/v2.0/ports?{}", many(1_000)))
        .await
        .expect(200);
    let names = (0..5_000)
        .map(|i| format!("name={i}"))
        .collect::<Vec<_>>()
        .join("&");
    assert_bad(member.get(&format!("/v2.0/networks?{names}")).await, "name");

    // A sort key repeated 300 times made a keyset condition of 45,000 bound values.
    let sorts = vec!["sort_key=name"; 300].join("&");
    let page = member
        .get(&format!("/v2.0/ports?{sorts}&limit=1&marker={port}"))
        .await
        .expect(200);
    assert!(page["ports"].is_array());

    // Many `fields` cost each item no more than the item.
    let fields = (0..5_000)
        .map(|i| format!("f{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let listed = member
        .get(&format!("/v2.0/ports?fields=id,{fields}"))
        .await
        .expect(200);
    assert_eq!(listed["ports"][0], json!({"id": port}));
}

#[tokio::test]
async fn tag_filters_with_the_new_caps_still_select_as_neutron_does() {
    let server = Server::start_with(&["--max-tag-filter-terms", "5000"]);
    let member = server.as_(Identity::member("p1"));
    let network = member.network(json!({})).await;
    let ab = member.port(&network, json!({"tags": ["a", "b"]})).await;
    let a = member.port(&network, json!({"tags": ["a"]})).await;
    let none = member.port(&network, json!({})).await;
    let listed = |query: &str| {
        let member = member.clone();
        let query = query.to_string();
        async move {
            let mut found = ids(
                &member
                    .get(&format!("/v2.0/ports?{query}"))
                    .await
                    .expect(200),
                "ports",
            );
            found.sort();
            found
        }
    };
    let sorted = |mut v: Vec<&String>| {
        v.sort();
        v.into_iter().cloned().collect::<Vec<String>>()
    };
    assert_eq!(listed("tags=a,b").await, sorted(vec![&ab]));
    assert_eq!(listed("tags=a,b,a").await, sorted(vec![&ab]));
    assert_eq!(listed("tags=a&tags=b").await, sorted(vec![&ab]));
    assert_eq!(listed("tags-any=b,z").await, sorted(vec![&ab]));
    assert_eq!(listed("not-tags=a,b").await, sorted(vec![&a, &none]));
    assert_eq!(listed("not-tags-any=b").await, sorted(vec![&a, &none]));
    // Thousands of terms, beyond what ran SQLite out of expression depth: answered.
    let terms: Vec<String> = (0..4_000).map(|i| format!("t{i}")).collect();
    assert_eq!(
        listed(&format!("tags-any=a,{}", terms.join(","))).await,
        sorted(vec![&ab, &a])
    );
    assert_eq!(
        listed(&format!("tags=a,{}", terms.join(","))).await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn bulk_creates_are_capped_as_a_whole() {
    let server = Server::start_with(&["--max-bulk-items", "20", "--max-subports-per-request", "4"]);
    let member = server.as_(Identity::member("p1"));
    let network = member.network(json!({})).await;

    let items: Vec<Value> = (0..21).map(|_| json!({})).collect();
    assert_bad(
        member
            .post("/v2.0/networks", json!({"networks": items}))
            .await,
        "networks",
    );
    let items: Vec<Value> = (0..21).map(|_| json!({"network_id": network})).collect();
    assert_bad(
        member.post("/v2.0/ports", json!({"ports": items})).await,
        "ports",
    );
    assert_eq!(count(&member, "networks").await, 1);
    assert_eq!(count(&member, "ports").await, 0);

    // Two trunks of three subports each: six in one request, over the cap of four.
    let ports = member.ports(&network, 8).await;
    let trunks = json!({"trunks": [
        {"port_id": ports[0], "sub_ports": [vlan(&ports[2], 1), vlan(&ports[3], 2), vlan(&ports[4], 3)]},
        {"port_id": ports[1], "sub_ports": [vlan(&ports[5], 1), vlan(&ports[6], 2), vlan(&ports[7], 3)]},
    ]});
    assert_bad(member.post("/v2.0/trunks", trunks).await, "sub_ports");
    assert_eq!(count(&member, "trunks").await, 0);
    let trunks = json!({"trunks": [
        {"port_id": ports[0], "sub_ports": [vlan(&ports[2], 1), vlan(&ports[3], 2)]},
        {"port_id": ports[1], "sub_ports": [vlan(&ports[5], 1), vlan(&ports[6], 2)]},
    ]});
    member.post("/v2.0/trunks", trunks).await.expect(201);
    let items: Vec<Value> = (0..20).map(|_| json!({})).collect();
    member
        .post("/v2.0/networks", json!({"networks": items}))
        .await
        .expect(201);
}

/// The answer to `path` with `id` in it, with the id written out as `<id>`, for comparing the
/// answer about one id with the answer about another.
async fn answer_about(client: &Client, path: &str, id: &str) -> (u16, String) {
    let (status, text) = client
        .send_for_text(Method::GET, &path.replace("{id}", id), None)
        .await;
    (status.as_u16(), text.replace(id, "<id>"))
}

#[tokio::test]
async fn lists_tell_members_nothing_policy_hides() {
    let server = Server::start();
    let admin = server.admin();
    let a = server.as_(Identity::member("pa"));
    // Project B: a private network with a port, and a shared network on VLAN 2345.
    let b = server.as_(Identity::member("pb"));
    let b_private = b.network(json!({"name": "zzz-secret"})).await;
    let b_port = b.port(&b_private, json!({})).await;
    let b_shared = admin
        .post(
            "/v2.0/networks",
            json!({"network": {"project_id": "pb", "name": "b-shared", "shared": true,
                "provider:network_type": "vlan", "provider:physical_network": "physnet1",
                "provider:segmentation_id": 2345}}),
        )
        .await
        .expect(201)["network"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let a_net = a.network(json!({"name": "aaa"})).await;
    let _a_net2 = a.network(json!({"name": "zzz"})).await;
    let a_port = a.port(&a_net, json!({})).await;
    let a_parent = a.port(&a_net, json!({})).await;
    let a_trunk = a.trunk(&a_parent, json!([])).await;
    let b_parent = b.port(&b_private, json!({})).await;
    let b_trunk = b.trunk(&b_parent, json!([])).await;
    let unknown = uuid::Uuid::new_v4().to_string();

    // A marker naming B's network, port or trunk answers as an unknown id does.
    for (collection, hidden) in [
        ("networks", &b_private),
        ("ports", &b_port),
        ("trunks", &b_trunk),
    ] {
        for query in [
            "marker={id}",
            "marker={id}&limit=1",
            "marker={id}&sort_key=name&limit=1",
            "marker={id}&page_reverse=True&limit=1",
        ] {
            let path = format!("/v2.0/{collection}?{query}");
            let known = answer_about(&a, &path, hidden).await;
            let random = answer_about(&a, &path, &unknown).await;
            assert_eq!(known, random, "{path}");
            assert_eq!(known.0, 400, "{path}: {}", known.1);
        }
    }
    for query in [
        "/v2.0/networks?marker={id}&sort_key=provider:segmentation_id",
        "/v2.0/ports?marker={id}&sort_key=binding:host_id",
    ] {
        let known = answer_about(&a, query, &b_private).await;
        let random = answer_about(&a, query, &unknown).await;
        assert_eq!(known, random, "{query}");
    }
    // A's own markers still page; B's shared network is visible, so it is a marker too.
    a.get(&format!("/v2.0/networks?marker={a_net}&limit=1"))
        .await
        .expect(200);
    a.get(&format!("/v2.0/networks?marker={b_shared}&limit=1"))
        .await
        .expect(200);
    a.get(&format!("/v2.0/ports?marker={a_port}&limit=1"))
        .await
        .expect(200);
    a.get(&format!("/v2.0/trunks?marker={a_trunk}&limit=1"))
        .await
        .expect(200);
    // Admins see every project, so B's ids are markers for them.
    admin
        .get(&format!("/v2.0/networks?marker={b_private}&limit=1"))
        .await
        .expect(200);

    // `?provider:segmentation_id=2345` found B's shared network: now refused like an unknown
    // attribute, and so are sort keys on hidden attributes; admins still filter and sort.
    let unknown_filter = a.get("/v2.0/networks?colour=2345").await;
    assert_eq!(unknown_filter.status.as_u16(), 400);
    for (collection, attr, value) in [
        ("networks", "provider:segmentation_id", "2345"),
        ("networks", "provider:network_type", "vlan"),
        ("networks", "provider:physical_network", "physnet1"),
        ("ports", "binding:host_id", "h1"),
        ("ports", "binding:vif_type", "unbound"),
    ] {
        let refused = a.get(&format!("/v2.0/{collection}?{attr}={value}")).await;
        assert_eq!(refused.status.as_u16(), 400, "{attr}: {}", refused.body);
        assert_eq!(refused.error_type(), unknown_filter.error_type());
        assert_eq!(
            refused.message(),
            unknown_filter.message().replace("colour", attr)
        );
        let sort = a.get(&format!("/v2.0/{collection}?sort_key={attr}")).await;
        let unknown_sort = a.get(&format!("/v2.0/{collection}?sort_key=colour")).await;
        assert_eq!(sort.status.as_u16(), 400, "{attr}: {}", sort.body);
        assert_eq!(
            sort.message(),
            unknown_sort.message().replace("colour", attr)
        );
        let reader = server.as_(Identity::reader("pa"));
        assert_eq!(
            reader
                .get(&format!("/v2.0/{collection}?{attr}={value}"))
                .await
                .status
                .as_u16(),
            400
        );
        admin
            .get(&format!(
                "/v2.0/{collection}?{attr}={value}&sort_key={attr}"
            ))
            .await
            .expect(200);
    }
    let found = admin
        .get("/v2.0/networks?provider:segmentation_id=2345")
        .await
        .expect(200);
    assert_eq!(ids(&found, "networks"), vec![b_shared.clone()]);
    // The service role (agents, Nova) reads bindings, so it may filter on them.
    let service = server.as_(Identity::new("services", "service"));
    service
        .get("/v2.0/ports?binding:host_id=h1")
        .await
        .expect(200);

    // binding:vif_details: admins and the service role only, as in Neutron's policy.
    let shown = a.get(&format!("/v2.0/ports/{a_port}")).await.expect(200);
    assert!(
        shown["port"].get("binding:vif_details").is_none(),
        "{shown}"
    );
    let listed = a.get("/v2.0/ports").await.expect(200);
    assert!(listed["ports"][0].get("binding:vif_details").is_none());
    let shown = admin
        .get(&format!("/v2.0/ports/{a_port}"))
        .await
        .expect(200);
    assert!(shown["port"]["binding:vif_details"].is_object(), "{shown}");
    let shown = service
        .get(&format!("/v2.0/ports/{a_port}"))
        .await
        .expect(200);
    assert!(shown["port"]["binding:vif_details"].is_object(), "{shown}");
}

/// The plan the database makes for a project member's first page of `table`, in the shape the
/// store's list builds (`WHERE 1 = 1 AND (t.project_id = ...) ORDER BY t.id ASC LIMIT ...`),
/// planned as the server plans it (no statistics on SQLite, no sequential scans on PostgreSQL).
async fn member_page_plan(location: &common::DatabaseLocation, table: &str) -> String {
    use sqlx::Row;
    let sql = format!(
        "SELECT t.id FROM {table} t WHERE 1 = 1 AND (t.project_id = 'lister') \
         ORDER BY t.id ASC LIMIT 10"
    );
    match location.connect().await {
        common::OwnConnection::Sqlite(mut conn) => {
            let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
                .fetch_all(&mut conn)
                .await
                .expect("plan");
            rows.iter()
                .map(|row| row.get::<String, _>("detail"))
                .collect::<Vec<_>>()
                .join("\n")
        }
        common::OwnConnection::Postgres(mut conn) => {
            sqlx::query("SET enable_seqscan = off")
                .execute(&mut conn)
                .await
                .expect("as the server plans");
            let rows = sqlx::query(&format!("EXPLAIN {sql}"))
                .fetch_all(&mut conn)
                .await
                .expect("plan");
            rows.iter()
                .map(|row| row.get::<String, _>(0))
                .collect::<Vec<_>>()
                .join("\n")
        }
    }
}

#[tokio::test]
async fn a_members_page_is_read_in_id_order_not_sorted_from_the_whole_project() {
    let server = Server::start();
    let lister = server.as_(Identity::member("lister"));
    let network = lister.network(json!({})).await;
    let parents = lister.ports(&network, 30).await;
    for parent in &parents {
        lister.trunk(parent, json!([])).await;
    }
    let page = lister.get("/v2.0/trunks?limit=10").await.expect(200);
    assert_eq!(ids(&page, "trunks").len(), 10);
    let location = server.database_location();
    for table in ["trunks", "ports"] {
        let plan = member_page_plan(&location, table).await;
        // A sort means every row of the project was read and its columns computed first.
        for sorted in ["TEMP B-TREE", "Sort"] {
            assert!(!plan.contains(sorted), "{table}: {plan}");
        }
        let index = format!("{table}_project");
        assert!(
            plan.contains(&index),
            "{table} not read through {index}: {plan}"
        );
    }
}
