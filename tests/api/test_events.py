"""Domain events (issue 4): every change made through the API appends an event to the outbox in
the same transaction, the relay gives it a seq and publishes it; failed requests write nothing.
Observed through the operator endpoints GET /api/v1/admin/events (the outbox, by seq) and
GET /api/v1/admin/events/delivered (what this process's bus subscriber received). With Redis:
two taskhub processes sharing one database and one Redis both deliver every event once, and
events written while Redis is down flow when it is back."""
import time

from support import (Client, assert_problem, assert_validation_problem, add_workspace_member, login, new_account,
                     new_project, new_workspace, register, unique_email, PASSWORD)


def last_seq(api, admin) -> int:
    r = api.get("/api/v1/admin/events", headers=admin.headers, params={"limit": 1})
    assert r.status_code == 200, r.text
    return r.json()["last_seq"]


def events_after(api, admin, after: int) -> list[dict]:
    out = []
    while True:
        r = api.get("/api/v1/admin/events", headers=admin.headers, params={"after": after, "limit": 200})
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        out += items
        if len(items) < 200:
            return out
        after = items[-1]["seq"]


def wait_events(api, admin, after: int, pred, timeout: float = 10.0) -> list[dict]:
    """Events after `after` once pred(events) holds (the relay runs within milliseconds)."""
    deadline = time.monotonic() + timeout
    while True:
        evs = events_after(api, admin, after)
        if pred(evs) or time.monotonic() > deadline:
            return evs
        time.sleep(0.05)


def of(evs: list[dict], **match) -> list[dict]:
    return [e for e in evs if all(e.get(k) == v for k, v in match.items())]


def test_changes_emit_events_with_routing_keys(api, admin):
    start = last_seq(api, admin)
    owner, member = new_account(api), new_account(api)
    ws = new_workspace(api, owner)
    wid = ws["id"]
    add_workspace_member(api, owner, wid, member, "member")
    p = new_project(api, owner, wid, "EVT")
    pid = p["id"]
    r = api.post(f"/api/v1/projects/{pid}/members", headers=owner.headers, json={"user_id": member.id, "role": "member"})
    assert r.status_code == 201, r.text
    states = api.get(f"/api/v1/projects/{pid}/states", headers=owner.headers).json()["items"]
    started = next(s for s in states if s["group"] == "started")
    label = api.post(f"/api/v1/projects/{pid}/labels", headers=owner.headers, json={"name": "bug", "color": "#ff0000"})
    assert label.status_code == 201, label.text
    t = api.post(f"/api/v1/projects/{pid}/tasks", headers=member.headers, json={"title": "first"})
    assert t.status_code == 201, t.text
    tid = t.json()["id"]
    assert api.patch(f"/api/v1/tasks/{tid}", headers=member.headers, json={"title": "renamed"}).status_code == 200
    assert api.patch(f"/api/v1/tasks/{tid}", headers=member.headers, json={"state_id": started["id"]}).status_code == 200
    c = api.post(f"/api/v1/tasks/{tid}/comments", headers=owner.headers, json={"body": "hello"})
    assert c.status_code == 201, c.text
    cid = c.json()["id"]
    assert api.put(f"/api/v1/tasks/{tid}/reactions/heart", headers=member.headers).status_code in (200, 204)
    assert api.delete(f"/api/v1/comments/{cid}", headers=owner.headers).status_code == 204
    assert api.delete(f"/api/v1/tasks/{tid}", headers=member.headers).status_code == 204
    assert api.delete(f"/api/v1/workspaces/{wid}/members/{member.id}", headers=owner.headers).status_code == 204

    want = ["workspace.created", "member.added", "project.created", "project_member.added", "label.created",
            "task.created", "task.updated", "task.moved", "comment.created", "reaction.added", "comment.deleted",
            "task.deleted", "member.removed"]
    evs = wait_events(api, admin, start, lambda evs: "member.removed" in [e["type"] for e in of(evs, workspace_id=wid)])
    mine = of(evs, workspace_id=wid)
    assert [e["type"] for e in mine] == want
    seqs = [e["seq"] for e in evs]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs) and seqs[0] > start

    by_type = {e["type"]: e for e in mine}
    created = by_type["task.created"]
    assert created["project_id"] == pid and created["task_id"] == tid and created["actor_id"] == member.id
    assert created["entity_type"] == "task" and created["entity_id"] == tid and created["schema_version"] == 1
    assert created["payload"]["task"]["title"] == "first"
    assert len(created["id"]) == 36 and created["time_ms"] > 0
    upd = by_type["task.updated"]["payload"]["changes"]
    assert upd["title"] == {"old": "first", "new": "renamed"}
    assert by_type["task.moved"]["payload"]["changes"]["state_id"]["new"] == started["id"]
    assert by_type["comment.created"]["task_id"] == tid and by_type["comment.created"]["entity_id"] == cid
    assert by_type["comment.created"]["payload"]["body"] == "hello"
    assert by_type["reaction.added"]["task_id"] == tid and by_type["reaction.added"]["payload"]["emoji"] == "heart"
    assert by_type["member.added"]["user_id"] == member.id and by_type["member.added"]["actor_id"] == owner.id
    assert by_type["member.removed"]["user_id"] == member.id
    assert by_type["project_member.added"]["user_id"] == member.id
    assert by_type["label.created"]["payload"]["name"] == "bug"

    # Each event has one seq, and the bus of this process delivered them in seq order.
    # (Delivery follows the relay asynchronously: wait until this workspace's events are all in.)
    deadline = time.monotonic() + 10
    while True:
        r = api.get("/api/v1/admin/events/delivered", headers=admin.headers, params={"after": start, "limit": 200})
        assert r.status_code == 200, r.text
        body = r.json()
        delivered = of(body["items"], workspace_id=wid)
        if len(delivered) >= len(mine) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert body["bus"] == "in-process"
    assert [e["id"] for e in delivered] == [e["id"] for e in mine]


def test_failed_requests_write_no_event(api, admin):
    owner, viewer = new_account(api), new_account(api)
    ws = new_workspace(api, owner)
    wid = ws["id"]
    add_workspace_member(api, owner, wid, viewer, "guest")
    p = new_project(api, owner, wid, "NOEV")
    pid = p["id"]
    r = api.post(f"/api/v1/projects/{pid}/members", headers=owner.headers, json={"user_id": viewer.id, "role": "viewer"})
    assert r.status_code == 201, r.text
    t = api.post(f"/api/v1/projects/{pid}/tasks", headers=owner.headers, json={"title": "t"}).json()
    marker1 = api.post(f"/api/v1/projects/{pid}/labels", headers=owner.headers, json={"name": "m1", "color": "#000000"})
    assert marker1.status_code == 201
    evs = wait_events(api, admin, 0, lambda evs: of(evs, project_id=pid, type="label.created"))
    start = of(evs, project_id=pid, type="label.created")[-1]["seq"]

    # 400, 403, 404, 409, 412: nothing is written.
    assert_validation_problem(api.post(f"/api/v1/projects/{pid}/tasks", headers=owner.headers, json={"title": ""}))
    assert_validation_problem(api.patch(f"/api/v1/tasks/{t['id']}", headers=owner.headers,
                                        json={"state_id": "00000000-0000-7000-8000-000000000000"}))
    assert_problem(api.patch(f"/api/v1/tasks/{t['id']}", headers=viewer.headers, json={"title": "x"}), 403)
    assert_problem(api.post(f"/api/v1/projects/{pid}/tasks", headers=viewer.headers, json={"title": "x"}), 403)
    assert_problem(api.post(f"/api/v1/workspaces/{wid}/projects", headers=owner.headers,
                            json={"name": "dup", "key": "NOEV"}), 409)
    assert_problem(api.post(f"/api/v1/projects/{pid}/labels", headers=owner.headers,
                            json={"name": "m1", "color": "#000000"}), 409)
    assert_problem(api.patch(f"/api/v1/tasks/{t['id']}", headers={**owner.headers, "If-Match": '"v99"'},
                             json={"title": "x"}), 412)
    assert_problem(api.delete(f"/api/v1/workspaces/{wid}/members/{owner.id}", headers=owner.headers), 409)

    marker2 = api.post(f"/api/v1/projects/{pid}/labels", headers=owner.headers, json={"name": "m2", "color": "#000000"})
    assert marker2.status_code == 201
    evs = wait_events(api, admin, start, lambda evs: of(evs, entity_id=marker2.json()["id"]))
    mine = of(evs, workspace_id=wid)
    assert [e["type"] for e in mine] == ["label.created"], mine
    assert mine[0]["entity_id"] == marker2.json()["id"]


def test_admin_events_endpoint_rules(api, admin, user):
    assert_problem(api.get("/api/v1/admin/events"), 401)
    assert_problem(api.get("/api/v1/admin/events", headers=user.headers), 403)
    assert_problem(api.get("/api/v1/admin/events/delivered", headers=user.headers), 403)
    for bad in ("-1", "x", "1.5"):
        assert_validation_problem(api.get("/api/v1/admin/events", headers=admin.headers, params={"after": bad}),
                                  ["after"])
    for bad in ("0", "201"):
        assert_validation_problem(api.get("/api/v1/admin/events", headers=admin.headers, params={"limit": bad}),
                                  ["limit"])
    r = api.get("/api/v1/admin/events", headers=admin.headers, params={"limit": 2})
    assert r.status_code == 200 and len(r.json()["items"]) <= 2
    body = r.json()
    assert set(body) >= {"items", "next_after", "last_seq", "backlog"}
    if body["items"]:
        nxt = api.get("/api/v1/admin/events", headers=admin.headers, params={"after": body["next_after"], "limit": 2})
        assert all(e["seq"] > body["next_after"] for e in nxt.json()["items"])


def bootstrap_admin(srv) -> tuple[Client, dict, str]:
    """The first account of a fresh instance (its administrator): client, headers, e-mail."""
    api = Client(srv.url)
    addr = unique_email("admin")
    assert register(api, addr, PASSWORD, "Admin").json()["is_admin"] is True
    tokens = login(api, addr).json()
    return api, {"Authorization": f"Bearer {tokens['access_token']}"}, addr


def delivered(api, headers, after=0) -> dict:
    r = api.get("/api/v1/admin/events/delivered", headers=headers, params={"after": after, "limit": 200})
    assert r.status_code == 200, r.text
    return r.json()


def test_two_processes_share_database_and_redis(server_factory, redis_server, new_database_url):
    url = new_database_url()
    a = server_factory(database_url=url, REDIS_URI=redis_server.url)
    b = server_factory(database_url=url, REDIS_URI=redis_server.url)
    api_a, admin_a, admin_email = bootstrap_admin(a)
    api_b = Client(b.url)
    # the same administrator, logged in on B (its own JWT secret)
    admin_b = {"Authorization": f"Bearer {login(api_b, admin_email).json()['access_token']}"}

    ws = api_a.post("/api/v1/workspaces", headers=admin_a, json={"name": "Shared"}).json()
    p = api_a.post(f"/api/v1/workspaces/{ws['id']}/projects", headers=admin_a, json={"name": "P", "key": "SHR"}).json()
    t = api_a.post(f"/api/v1/projects/{p['id']}/tasks", headers=admin_a, json={"title": "made on A"})
    assert t.status_code == 201, t.text
    tid = t.json()["id"]

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        got_b = delivered(api_b, admin_b)
        if of(got_b["items"], type="task.created", task_id=tid):
            break
        time.sleep(0.05)
    assert got_b["bus"] == "redis" and got_b["redis_connected"] is True
    got_a = delivered(api_a, admin_a)
    assert got_a["process"] != got_b["process"]
    for got in (got_a, got_b):
        ids = [e["id"] for e in got["items"]]
        assert len(ids) == len(set(ids)), "each event once per process"
        types = [e["type"] for e in of(got["items"], workspace_id=ws["id"])]
        assert types == ["workspace.created", "project.created", "task.created"], types
        seqs = [e["seq"] for e in got["items"]]
        assert seqs == sorted(seqs)
    # and what B received is what the outbox holds, seq for seq
    outbox = api_b.get("/api/v1/admin/events", headers=admin_b, params={"after": 0, "limit": 200}).json()["items"]
    assert [(e["id"], e["seq"]) for e in outbox] == [(e["id"], e["seq"]) for e in got_b["items"]]
    api_a.close()
    api_b.close()


def test_redis_down_writes_succeed_and_events_flow_when_back(server_factory, redis_factory):
    redis = redis_factory()
    srv = server_factory(REDIS_URI=redis.url)
    api, admin, _ = bootstrap_admin(srv)
    ws = api.post("/api/v1/workspaces", headers=admin, json={"name": "R"}).json()
    deadline = time.monotonic() + 10
    while not of(delivered(api, admin)["items"], type="workspace.created") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert of(delivered(api, admin)["items"], type="workspace.created")

    redis.stop()
    p = api.post(f"/api/v1/workspaces/{ws['id']}/projects", headers=admin, json={"name": "P", "key": "DOWN"})
    assert p.status_code == 201, p.text  # writes succeed while Redis is down
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        body = delivered(api, admin)
        if body["redis_connected"] is False:
            break
        time.sleep(0.05)
    assert body["redis_connected"] is False
    metrics = api.get("/metrics").text
    assert "taskhub_events_redis_up 0" in metrics
    assert "taskhub_events_backlog 0" not in metrics  # project.created waits in the outbox
    assert not of(body["items"], type="project.created")

    redis.start()  # same port, empty (the crash lost everything): the outbox still has the events
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        body = delivered(api, admin)
        if of(body["items"], type="project.created"):
            break
        time.sleep(0.1)
    assert of(body["items"], type="project.created"), srv.log_tail()
    assert body["redis_connected"] is True
    types = [e["type"] for e in body["items"]]
    assert types == ["workspace.created", "project.created"]
    assert "taskhub_events_redis_up 1" in api.get("/metrics").text
    api.close()
