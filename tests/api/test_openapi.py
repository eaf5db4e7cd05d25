"""The OpenAPI document is the contract: it is served as written, every documented operation
is routed, and the server routes nothing undocumented (`taskhub routes`, compared both ways)."""
import os
import re

import sys

import yaml  # noqa: F401  (kept for fragment-level checks)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from openapi_bundle import load_bundle  # noqa: E402

from support import REPO, bearer, new_account, problem_code

SPEC_PATH = os.path.join(REPO, "openapi", "openapi.yaml")
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
DUMMY_ID = "0192f5a8-0000-7000-8000-000000000000"
# Real files for the asset routes, so the probe gets 200 rather than a file-level 404.
PARAM_VALUES = {
    ("/api/docs/assets/{file}", "file"): "swagger-ui.css",
    ("/api/redoc/assets/{file}", "file"): "redoc.standalone.js",
}


def load_spec() -> dict:
    """openapi/openapi.yaml with the per-service fragments in openapi/paths/ merged in."""
    return load_bundle(SPEC_PATH)


def normalise(template: str) -> str:
    return re.sub(r"\{[^}/]+\}", "{}", template)


def spec_operations(spec: dict) -> set[tuple[str, str]]:
    return {(m.upper(), normalise(p)) for p, item in spec["paths"].items() for m in item if m in METHODS}


def test_served_document_is_the_source_document(api):
    r = api.get("/api/openapi.json")
    assert r.status_code == 200, r.text[:300]
    assert r.headers.get("Content-Type", "").startswith("application/json")
    assert r.json() == load_spec(), "the served document differs from openapi/openapi.yaml (stale build?)"


def test_every_operation_is_documented_properly():
    spec = load_spec()
    assert spec["openapi"].startswith("3.1")
    op_ids = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            assert op.get("operationId"), f"{method} {path} has no operationId"
            assert op.get("tags"), f"{method} {path} has no tag"
            assert op.get("summary"), f"{method} {path} has no summary"
            op_ids.append(op["operationId"])
            for param in re.findall(r"\{([^}]+)\}", path):
                declared = [p for p in op.get("parameters", []) + item.get("parameters", [])
                            if p.get("$ref", "").endswith("Path") or p.get("$ref", "").endswith("AssetFile")
                            or (p.get("in") == "path" and p.get("name") == param)]
                assert declared, f"{method} {path}: path parameter {param} not declared"
    assert len(op_ids) == len(set(op_ids)), "duplicate operationId"


def test_every_authenticated_post_documents_idempotency_key():
    # The server honours Idempotency-Key on every POST made by an authenticated user; the
    # document must say so on each of them.
    spec = load_spec()
    missing = []
    for path, item in spec["paths"].items():
        op = item.get("post")
        if not op:
            continue
        security = op.get("security", spec.get("security", []))
        if not any(req for req in security):  # public operation
            continue
        refs = [p.get("$ref", "") for p in op.get("parameters", []) + item.get("parameters", [])]
        names = [p.get("name", "") for p in op.get("parameters", [])]
        if not any(r.endswith("/IdempotencyKey") for r in refs) and "Idempotency-Key" not in names:
            missing.append(path)
    assert not missing, f"POST without the IdempotencyKey parameter: {missing}"


def test_every_documented_operation_is_routed(api):
    """Probes each documented (method, path) with dummy path parameters. The router answers
    OPTIONS for any path it routes with `Allow` listing its methods (404 for unrouted paths),
    whether or not the resource exists: the method must be listed. The real request must then
    not answer 405, nor a 404 with the problem code `route-not-found` (a 404 for a missing
    *resource* is fine)."""
    spec = load_spec()
    acc = new_account(api)  # a throw-away non-admin account: admin routes answer 403, which is fine
    missing = []
    for path, item in spec["paths"].items():
        for method in (m for m in item if m in METHODS):
            url = re.sub(r"\{([^}]+)\}", lambda m: PARAM_VALUES.get((path, m.group(1)), DUMMY_ID), path)
            o = api.options(url)
            allow = {x.strip().upper() for x in o.headers.get("Allow", "").split(",") if x.strip()}
            if o.status_code not in (200, 204) or method.upper() not in allow:
                missing.append(f"{method.upper()} {path}: OPTIONS {url} -> {o.status_code}, Allow {sorted(allow)}")
                continue
            kwargs = {"headers": bearer(acc.access_token)}
            if method in ("post", "patch", "put"):
                kwargs["json"] = {}
            r = api.request(method.upper(), url, **kwargs)
            route_404 = r.status_code == 404 and (
                not r.headers.get("Content-Type", "").startswith("application/problem+json")
                or problem_code(r.json()) == "route-not-found")
            if r.status_code == 405 or route_404:
                missing.append(f"{method.upper()} {path} -> {r.status_code} {r.text[:120]}")
    assert not missing, "documented but not served:\n" + "\n".join(missing)


def test_routes_and_document_agree_both_ways(server):
    """`taskhub routes` prints the router's table ("METHOD TEMPLATE" per line)."""
    cp = server.run_cli("routes")
    assert cp.returncode == 0, f"`taskhub routes` failed ({cp.returncode}):\n{cp.stdout}\n{cp.stderr}"
    served = set()
    for line in cp.stdout.splitlines():
        m = re.match(r"^\s*([A-Z]+)\s+(/\S*)\s*$", line)
        if m and m.group(1) not in ("HEAD", "OPTIONS"):  # answered for every route by the router
            served.add((m.group(1), normalise(m.group(2))))
    assert served, f"`taskhub routes` printed no routes:\n{cp.stdout}"
    documented = spec_operations(load_spec())
    undocumented = sorted(served - documented)
    unrouted = sorted(documented - served)
    assert not undocumented and not unrouted, (
        "routes and openapi/openapi.yaml disagree\n"
        f"  served but not documented: {undocumented}\n"
        f"  documented but not served: {unrouted}")


def test_spec_validates_as_yaml_with_unique_paths():
    spec = load_spec()
    normalised = [normalise(p) for p in spec["paths"]]
    assert len(normalised) == len(set(normalised)), "two paths differ only in parameter names"
    assert spec["servers"][0]["url"] == "http://localhost:5000"
    assert spec["info"]["license"]["name"] == "MIT"
    assert "bearerAuth" in spec["components"]["securitySchemes"]


def test_answers_have_the_documented_fields(api):
    """Field names of the main objects equal the schemas' properties (additionalProperties: false)."""
    schemas = load_spec()["components"]["schemas"]

    def props(name):
        return set(schemas[name]["properties"])

    acc = new_account(api)
    r = api.post("/api/v1/auth/login", json={"email": acc.email, "password": acc.password})
    assert set(r.json()) == props("TokenPair")
    assert set(r.json()["user"]) == props("User")
    assert set(api.get("/api/v1/users/me", headers=acc.headers).json()) == props("User")
    sessions = api.get("/api/v1/users/me/sessions", headers=acc.headers).json()
    assert set(sessions) == props("SessionList")
    assert set(sessions["items"][0]) == props("Session")
    created = api.post("/api/v1/users/me/api-tokens", headers=acc.headers, json={"name": "n", "scope": "read"}).json()
    assert set(created) == props("ApiTokenCreated")
    listed = api.get("/api/v1/users/me/api-tokens", headers=acc.headers).json()
    assert set(listed) == props("ApiTokenList") and set(listed["items"][0]) == props("ApiToken")
    problem = api.get("/api/v1/users/me").json()
    assert set(problem) <= props("Problem") and set(schemas["Problem"]["required"]) <= set(problem)
    r = api.post("/api/v1/users/me/password", headers=acc.headers,
                 json={"current_password": acc.password, "new_password": "a new long password"})
    assert set(r.json()) == props("AccessToken")
    assert set(api.post("/api/v1/auth/password-reset/request", json={"email": acc.email}).json()) == props("Accepted")
