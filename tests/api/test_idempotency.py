"""Idempotency-Key on POST (generic, in the server): replay, mismatch, per-user scope."""
import uuid

from support import assert_problem, assert_validation_problem, new_account

TOKENS = "/api/v1/users/me/api-tokens"


def _key() -> str:
    return "test-" + uuid.uuid4().hex


def _post(api, acc, body, key):
    return api.post(TOKENS, json=body, headers={**acc.headers, "Idempotency-Key": key})


def test_same_key_and_body_replays_and_creates_once(api):
    acc = new_account(api)
    key = _key()
    first = _post(api, acc, {"name": "x", "scope": "read"}, key)
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    second = _post(api, acc, {"name": "x", "scope": "read"}, key)
    assert second.status_code == 201, second.text
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert second.json()["id"] == first.json()["id"]
    assert second.json() == first.json()
    if "Location" in first.headers:
        assert second.headers.get("Location") == first.headers["Location"]
    items = api.get(TOKENS, headers=acc.headers).json()["items"]
    assert [it["id"] for it in items] == [first.json()["id"]]


def test_same_key_with_another_body_is_422(api):
    acc = new_account(api)
    key = _key()
    assert _post(api, acc, {"name": "x", "scope": "read"}, key).status_code == 201
    r = _post(api, acc, {"name": "y", "scope": "read"}, key)
    assert_problem(r, 422, "idempotency-key-reused")
    items = api.get(TOKENS, headers=acc.headers).json()["items"]
    assert len(items) == 1


def test_keys_are_scoped_per_user(api):
    a = new_account(api)
    b = new_account(api)
    key = _key()
    ra = _post(api, a, {"name": "x", "scope": "read"}, key)
    rb = _post(api, b, {"name": "x", "scope": "read"}, key)
    assert ra.status_code == 201 and rb.status_code == 201, (ra.text, rb.text)
    assert "Idempotent-Replayed" not in rb.headers
    assert ra.json()["id"] != rb.json()["id"]
    assert len(api.get(TOKENS, headers=b.headers).json()["items"]) == 1


def test_without_key_every_post_creates(api):
    acc = new_account(api)
    for _ in range(2):
        assert api.post(TOKENS, json={"name": "x", "scope": "read"}, headers=acc.headers).status_code == 201
    assert len(api.get(TOKENS, headers=acc.headers).json()["items"]) == 2


def test_invalid_key_is_400(api):
    acc = new_account(api)
    r = _post(api, acc, {"name": "x", "scope": "read"}, "k" * 256)
    assert_validation_problem(r, ["Idempotency-Key"])
    r = _post(api, acc, {"name": "x", "scope": "read"}, "has space")
    assert_validation_problem(r, ["Idempotency-Key"])
    assert api.get(TOKENS, headers=acc.headers).json()["items"] == []


def test_client_errors_are_replayed(api):
    acc = new_account(api)
    key = _key()
    first = _post(api, acc, {"name": "", "scope": "nope"}, key)
    assert 400 <= first.status_code < 500
    second = _post(api, acc, {"name": "", "scope": "nope"}, key)
    assert second.status_code == first.status_code
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert second.json() == first.json()


def test_create_task_and_workspace_are_idempotent(api):
    from support import new_project, new_workspace
    acc = new_account(api)
    key = _key()
    hdr = {**acc.headers, "Idempotency-Key": key}
    w1 = api.post("/api/v1/workspaces", headers=hdr, json={"name": "Idem"})
    w2 = api.post("/api/v1/workspaces", headers=hdr, json={"name": "Idem"})
    assert w1.status_code == 201 and w2.status_code == 201, (w1.text, w2.text)
    assert w2.headers.get("Idempotent-Replayed") == "true"
    assert w1.json()["id"] == w2.json()["id"]
    ws = w1.json()
    project = new_project(api, acc, ws["id"], "IDEM")
    # The same key on another route is a different request: 422.
    r = api.post(f"/api/v1/projects/{project['id']}/tasks", headers=hdr, json={"title": "t"})
    assert_problem(r, 422, "idempotency-key-reused")
    hdr2 = {**acc.headers, "Idempotency-Key": _key()}
    t1 = api.post(f"/api/v1/projects/{project['id']}/tasks", headers=hdr2, json={"title": "Write docs"})
    t2 = api.post(f"/api/v1/projects/{project['id']}/tasks", headers=hdr2, json={"title": "Write docs"})
    assert t1.status_code == 201 and t2.status_code == 201, (t1.text, t2.text)
    assert t2.json()["id"] == t1.json()["id"] and t2.json()["number"] == t1.json()["number"]
    assert t2.headers.get("ETag") == t1.headers.get("ETag")
    items = api.get(f"/api/v1/projects/{project['id']}/tasks", headers=acc.headers).json()["items"]
    assert [t["id"] for t in items] == [t1.json()["id"]]
    assert len(api.get("/api/v1/workspaces", headers=acc.headers).json()["items"]) == 1
