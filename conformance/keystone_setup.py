"""Registers trunkd in a freshly bootstrapped Keystone, through Keystone's v3 API.

Used by conformance/run. Creates (when missing) the roles member, reader, admin and service,
the project `service`, the user `trunkd` with role `service` on it (trunkd validates callers'
tokens with this credential), and the `network` service `neutron` with public, internal and
admin endpoints in the given region, all pointing at trunkd's root URL (tempest's network
client appends /v2.0 itself, as for Neutron).

usage: keystone_setup.py KEYSTONE_URL ADMIN_PASSWORD TRUNKD_PASSWORD TRUNKD_URL REGION
Standard library only.
"""
import json
import sys
import urllib.error
import urllib.request

keystone, admin_password, trunkd_password, trunkd_url, region = sys.argv[1:6]


def call(method, path, body=None, token=None, expect=(200, 201, 204)):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(keystone + "/v3" + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("X-Auth-Token", token)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            status, headers, raw = reply.status, reply.headers, reply.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, error.headers, error.read()
    if status not in expect:
        sys.exit(f"keystone_setup: {method} {path}: {status} {raw[:500]!r}")
    return headers, (json.loads(raw) if raw else None)


def login(user, password, project):
    headers, _ = call("POST", "/auth/tokens", {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}})
    return headers["X-Subject-Token"]


token = login("admin", admin_password, "admin")


def find_or_create(collection, singular, query, body):
    _, found = call("GET", f"/{collection}?{query}", token=token)
    if found[collection]:
        return found[collection][0]["id"]
    _, created = call("POST", f"/{collection}", {singular: body}, token=token)
    return created[singular]["id"]


roles = {name: find_or_create("roles", "role", f"name={name}", {"name": name})
         for name in ("member", "reader", "admin", "service")}
project = find_or_create("projects", "project", "name=service",
                         {"name": "service", "domain_id": "default",
                          "description": "Service project"})
user = find_or_create("users", "user", "name=trunkd",
                      {"name": "trunkd", "password": trunkd_password,
                       "domain_id": "default", "default_project_id": project})
call("PUT", f"/projects/{project}/users/{user}/roles/{roles['service']}", token=token)

service = find_or_create("services", "service", "type=network",
                         {"type": "network", "name": "neutron",
                          "description": "trunkd (Neutron trunk API)"})
_, existing = call("GET", f"/endpoints?service_id={service}", token=token)
have = {e["interface"] for e in existing["endpoints"]}
for interface in ("public", "internal", "admin"):
    if interface not in have:
        call("POST", "/endpoints", {"endpoint": {
            "service_id": service, "interface": interface, "url": trunkd_url,
            "region_id": region, "enabled": True}}, token=token)

# Check the credential trunkd will use.
login("trunkd", trunkd_password, "service")
print(f"keystone: roles {sorted(roles)}, project service {project}, user trunkd {user}, "
      f"network service {service} at {trunkd_url} ({region})")
