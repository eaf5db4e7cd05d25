"""Tasks: CRUD with numbers, merge PATCH, ETag/If-Match, soft delete/restore, archive, positions,
subtasks (cycles, depth), lists with filters/sorting/keyset cursors, my tasks, activity, watchers,
and authorization (outsiders 404 on every route and method with nothing changed, viewers 403 on
every write, ids of another project refused)."""
import uuid

from support import (assert_problem, assert_validation_problem, add_workspace_member, new_account, new_project,
                     new_workspace)


def setup_team(api):
    owner, member, viewer, outsider = (new_account(api) for _ in range(4))
    ws = new_workspace(api, owner)
    add_workspace_member(api, owner, ws["id"], member, "member")
    add_workspace_member(api, owner, ws["id"], viewer, "member")
    p = new_project(api, owner, ws["id"], "WEB")
    q = new_project(api, owner, ws["id"], "API")
    r = api.post(f"/api/v1/projects/{p['id']}/members", headers=owner.headers,
                 json={"user_id": viewer.id, "role": "viewer"})
    assert r.status_code in (200, 201), r.text
    other_ws = new_workspace(api, outsider, "Other")
    return ws, p, q, owner, member, viewer, outsider


def states(api, acc, pid):
    return {s["group"]: s["id"] for s in api.get(f"/api/v1/projects/{pid}/states", headers=acc.headers).json()["items"]}


def create(api, acc, pid, **body):
    body.setdefault("title", "A task")
    r = api.post(f"/api/v1/projects/{pid}/tasks", headers=acc.headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()


TASK_FIELDS = {"id", "number", "title", "description", "state_id", "priority", "assignee_ids", "label_ids",
               "due_date", "created_at", "updated_at", "start_date", "estimate", "parent_id", "position",
               "completed_at", "archived_at", "created_by", "version"}


def test_create_get_numbers_and_etag(api):
    ws, p, q, owner, member, viewer, outsider = setup_team(api)
    st = states(api, owner, p["id"])
    label = api.post(f"/api/v1/projects/{p['id']}/labels", headers=owner.headers,
                     json={"name": "bug", "color": "#ff0000"}).json()
    r = api.post(f"/api/v1/projects/{p['id']}/tasks", headers=member.headers, json={
        "title": "Fix login", "description": "**bold**", "priority": "high", "assignee_ids": [member.id],
        "label_ids": [label["id"]], "start_date": "2026-11-01", "due_date": "2026-12-01", "estimate": 3})
    assert r.status_code == 201, r.text
    t = r.json()
    assert TASK_FIELDS <= set(t)
    assert t["number"] == "WEB-1" and t["priority"] == "high" and t["assignee_ids"] == [member.id]
    assert t["label_ids"] == [label["id"]] and t["version"] == 1 and t["created_by"] == member.id
    assert r.headers["Location"].endswith(t["id"]) and r.headers["ETag"] == '"v1"'
    assert t["state_id"] in st.values()
    t2 = create(api, owner, p["id"])
    assert t2["number"] == "WEB-2" and create(api, owner, q["id"])["number"] == "API-1"
    # numbers never repeat
    assert api.delete(f"/api/v1/tasks/{t2['id']}", headers=owner.headers).status_code == 204
    assert create(api, owner, p["id"])["number"] == "WEB-3"
    g = api.get(f"/api/v1/tasks/{t['id']}", headers=viewer.headers)
    assert g.status_code == 200 and g.json() == t and g.headers["ETag"] == '"v1"'
    n = api.get(f"/api/v1/projects/{p['id']}/tasks/by-number/1", headers=viewer.headers)
    assert n.status_code == 200 and n.json()["id"] == t["id"]
    assert_problem(api.get(f"/api/v1/projects/{p['id']}/tasks/by-number/2", headers=owner.headers), 404)
    assert_problem(api.get(f"/api/v1/projects/{p['id']}/tasks/by-number/abc", headers=owner.headers), 404)
    # validation
    assert_validation_problem(api.post(f"/api/v1/projects/{p['id']}/tasks", headers=owner.headers, json={
        "title": "", "priority": "huge", "due_date": "2026-02-30", "estimate": 1001, "extra": 1}),
        ["title", "priority", "due_date", "estimate", "extra"])
    assert_validation_problem(api.post(f"/api/v1/projects/{p['id']}/tasks", headers=owner.headers, json={
        "title": "x", "description": "a" * 65537}), ["description"])


def test_patch_merge_if_match_completed_and_activity(api):
    ws, p, q, owner, member, viewer, outsider = setup_team(api)
    st = states(api, owner, p["id"])
    t = create(api, member, p["id"], due_date="2026-12-01", priority="low")
    url = f"/api/v1/tasks/{t['id']}"
    r = api.patch(url, headers={**member.headers, "If-Match": '"v1"'},
                  json={"title": "Renamed", "state_id": st["completed"], "due_date": None})
    assert r.status_code == 200, r.text
    u = r.json()
    assert u["title"] == "Renamed" and u["due_date"] is None and u["priority"] == "low" and u["version"] == 2
    assert u["completed_at"] is not None and r.headers["ETag"] == '"v2"'
    # stale If-Match: 412 and nothing changed
    assert_problem(api.patch(url, headers={**member.headers, "If-Match": '"v1"'}, json={"title": "stale"}), 412)
    assert api.get(url, headers=member.headers).json()["title"] == "Renamed"
    r = api.patch(url, headers=member.headers, json={"state_id": st["started"], "description": None})
    assert r.json()["completed_at"] is None and r.json()["description"] == ""
    act = api.get(f"{url}/activity", headers=viewer.headers).json()
    assert act["items"][-1]["kind"] == "created"
    fields = {a["field"] for a in act["items"]}
    assert {"title", "state_id", "due_date"} <= fields
    page1 = api.get(f"{url}/activity", headers=viewer.headers, params={"limit": 1}).json()
    assert len(page1["items"]) == 1 and page1["next_cursor"]
    # null title refused
    assert_validation_problem(api.patch(url, headers=member.headers, json={"title": None}), ["title"])


def test_delete_restore_archive(api):
    ws, p, q, owner, member, viewer, outsider = setup_team(api)
    t = create(api, member, p["id"])
    url = f"/api/v1/tasks/{t['id']}"
    assert_problem(api.delete(url, headers={**member.headers, "If-Match": '"v7"'}), 412)
    assert api.delete(url, headers=member.headers).status_code == 204
    assert_problem(api.get(url, headers=member.headers), 404)
    r = api.post(f"{url}/restore", headers=member.headers)
    assert r.status_code == 200 and r.json()["deleted_at"] is None
    r = api.post(f"{url}/archive", headers=member.headers)
    assert r.status_code == 200 and r.json()["archived_at"]
    listed = api.get(f"/api/v1/projects/{p['id']}/tasks", headers=member.headers).json()["items"]
    assert t["id"] not in [x["id"] for x in listed]
    listed = api.get(f"/api/v1/projects/{p['id']}/tasks", headers=member.headers, params={"archived": "true"}).json()
    assert [x["id"] for x in listed["items"]] == [t["id"]]
    r = api.post(f"{url}/unarchive", headers=member.headers)
    assert r.status_code == 200 and r.json()["archived_at"] is None


def test_positions_and_subtasks(api):
    ws, p, q, owner, member, viewer, outsider = setup_team(api)
    a, b, c = (create(api, member, p["id"], title=x) for x in "abc")
    r = api.patch(f"/api/v1/tasks/{c['id']}", headers=member.headers, json={"after_id": a["id"]})
    assert r.status_code == 200, r.text
    assert a["position"] < r.json()["position"] < b["position"]
    assert api.get(f"/api/v1/tasks/{b['id']}", headers=member.headers).json()["version"] == 1
    order = api.get(f"/api/v1/projects/{p['id']}/tasks", headers=member.headers, params={"sort": "position"}).json()
    assert [x["title"] for x in order["items"]] == ["a", "c", "b"]
    # subtasks: cycles refused, depth bounded
    chain = [a]
    for i in range(4):
        chain.append(create(api, member, p["id"], title=f"sub{i}", parent_id=chain[-1]["id"]))
    r = api.post(f"/api/v1/projects/{p['id']}/tasks", headers=member.headers,
                 json={"title": "too deep", "parent_id": chain[-1]["id"]})
    assert_problem(r, 409, "too-deep")
    assert_problem(api.patch(f"/api/v1/tasks/{a['id']}", headers=member.headers, json={"parent_id": chain[3]["id"]}),
                   409, "parent-cycle")
    assert api.get(f"/api/v1/tasks/{a['id']}", headers=member.headers).json()["parent_id"] is None
    subs = api.get(f"/api/v1/projects/{p['id']}/tasks", headers=member.headers, params={"parent_id": a["id"]}).json()
    assert [x["id"] for x in subs["items"]] == [chain[1]["id"]]


def test_cross_project_ids_refused(api):
    ws, p, q, owner, member, viewer, outsider = setup_team(api)
    sq = states(api, owner, q["id"])
    lq = api.post(f"/api/v1/projects/{q['id']}/labels", headers=owner.headers,
                  json={"name": "other", "color": "#000000"}).json()
    tq = create(api, owner, q["id"])
    stranger = new_account(api)
    t = create(api, member, p["id"])
    url = f"/api/v1/tasks/{t['id']}"
    for body, field in [({"state_id": sq["started"]}, "state_id"), ({"label_ids": [lq["id"]]}, "label_ids"),
                        ({"assignee_ids": [stranger.id]}, "assignee_ids"), ({"parent_id": tq["id"]}, "parent_id"),
                        ({"after_id": tq["id"]}, "after_id")]:
        r = api.patch(url, headers=member.headers, json=body)
        assert 400 <= r.status_code < 500, (body, r.text)
        r = api.post(f"/api/v1/projects/{p['id']}/tasks", headers=member.headers, json={"title": "x", **body})
        assert 400 <= r.status_code < 500, (body, r.text)
    after = api.get(url, headers=member.headers).json()
    assert after == t
    assert [x["number"] for x in api.get(f"/api/v1/projects/{p['id']}/tasks", headers=member.headers).json()["items"]] \
        == ["WEB-1"]


def test_list_filters_sorting_and_pagination(api):
    ws, p, q, owner, member, viewer, outsider = setup_team(api)
    st = states(api, owner, p["id"])
    label = api.post(f"/api/v1/projects/{p['id']}/labels", headers=owner.headers,
                     json={"name": "bug", "color": "#ff0000"}).json()
    prios = ["none", "low", "medium", "high", "urgent"]
    made = []
    for i in range(17):
        body = {"title": f"t{i}", "priority": prios[i % 5]}
        if i % 3 == 0:
            body["assignee_ids"] = [member.id]
        if i % 4 == 0:
            body["due_date"] = f"2020-01-{i + 1:02d}"
        if i % 2 == 0:
            body["label_ids"] = [label["id"]]
        if i == 16:
            body["state_id"] = st["completed"]
        made.append(create(api, owner, p["id"], **body))
    base = f"/api/v1/projects/{p['id']}/tasks"
    for sort in ["created_at", "updated_at", "priority", "due_date", "position", "number"]:
        for s in (sort, "-" + sort):
            seen, cursor, pages = [], None, 0
            while True:
                params = {"sort": s, "limit": 5}
                if cursor:
                    params["cursor"] = cursor
                r = api.get(base, headers=viewer.headers, params=params)
                assert r.status_code == 200, r.text
                seen += [x["id"] for x in r.json()["items"]]
                cursor = r.json()["next_cursor"]
                pages += 1
                if not cursor:
                    break
            assert len(seen) == len(set(seen)) == 17, s
    prio_order = [x["priority"] for x in api.get(base, headers=owner.headers, params={"sort": "-priority"}).json()["items"]]
    assert prio_order == sorted(prio_order, key=prios.index, reverse=True)

    def count(**params):
        r = api.get(base, headers=member.headers, params=params)
        assert r.status_code == 200, r.text
        return len(r.json()["items"])
    assert count(assignee="me") == 6 and count(assignee=member.id) == 6 and count(assignee="none") == 11
    assert count(label_id=label["id"]) == 9
    assert count(priority="urgent") == 3 and count(priority="urgent,high") == 6
    assert count(due_before="2020-01-06") == 2 and count(due_after="2020-01-06") == 3
    assert count(overdue="true") == 4  # t16 is completed
    assert count(state_group="completed") == 1 and count(state_id=st["completed"]) == 1
    assert count(created_by="me") == 0 and count(created_by=owner.id) == 17
    assert count(updated_since="2000-01-01T00:00:00Z") == 17
    assert count(parent_id="none") == 17
    assert_validation_problem(api.get(base, headers=member.headers, params={"sort": "title"}), ["sort"])
    assert_validation_problem(api.get(base, headers=member.headers, params={"cursor": "!!"}), ["cursor"])
    assert_validation_problem(api.get(base, headers=member.headers, params={"bogus": "1"}), ["bogus"])
    mine = api.get("/api/v1/users/me/tasks", headers=member.headers).json()
    assert len(mine["items"]) == 6
    assert api.get("/api/v1/users/me/tasks", headers=outsider.headers).json()["items"] == []


def test_watchers(api):
    ws, p, q, owner, member, viewer, outsider = setup_team(api)
    t = create(api, owner, p["id"], assignee_ids=[member.id])
    url = f"/api/v1/tasks/{t['id']}/watchers"
    assert {w["user_id"] for w in api.get(url, headers=viewer.headers).json()["items"]} == {owner.id, member.id}
    assert api.put(f"{url}/me", headers=viewer.headers).status_code == 204
    assert api.delete(f"{url}/me", headers=owner.headers).status_code == 204
    assert {w["user_id"] for w in api.get(url, headers=viewer.headers).json()["items"]} == {viewer.id, member.id}


def _task_routes(pid, tid, cid):
    t = f"/api/v1/tasks/{tid}"
    return [
        ("POST", f"/api/v1/projects/{pid}/tasks", {"title": "pwned"}),
        ("GET", f"/api/v1/projects/{pid}/tasks", None),
        ("GET", f"/api/v1/projects/{pid}/tasks/by-number/1", None),
        ("GET", t, None), ("PATCH", t, {"title": "pwned"}), ("DELETE", t, None),
        ("POST", f"{t}/restore", None), ("POST", f"{t}/archive", None), ("POST", f"{t}/unarchive", None),
        ("GET", f"{t}/activity", None), ("GET", f"{t}/watchers", None), ("PUT", f"{t}/watchers/me", None),
        ("DELETE", f"{t}/watchers/me", None),
        ("POST", f"/api/v1/projects/{pid}/tasks/bulk", {"task_ids": [tid], "changes": {"priority": "urgent"}}),
        ("POST", f"{t}/relations", {"kind": "relates_to", "task_id": tid}), ("GET", f"{t}/relations", None),
        ("DELETE", f"{t}/relations/{cid}", None),
        ("GET", f"{t}/reactions", None), ("PUT", f"{t}/reactions/heart", None),
        ("DELETE", f"{t}/reactions/heart", None), ("GET", f"/api/v1/comments/{cid}/reactions", None),
        ("PUT", f"/api/v1/comments/{cid}/reactions/heart", None),
        ("DELETE", f"/api/v1/comments/{cid}/reactions/heart", None),
        ("POST", f"/api/v1/projects/{pid}/views", {"name": "v", "query": "", "shared": True}),
        ("GET", f"/api/v1/projects/{pid}/views", None),
        ("POST", f"{t}/comments", {"body": "pwned"}), ("GET", f"{t}/comments", None),
        ("GET", f"/api/v1/comments/{cid}", None), ("PATCH", f"/api/v1/comments/{cid}", {"body": "pwned"}),
        ("DELETE", f"/api/v1/comments/{cid}", None),
    ]


def _snapshot(api, acc, pid, tid):
    return (api.get(f"/api/v1/tasks/{tid}", headers=acc.headers).json(),
            api.get(f"/api/v1/projects/{pid}/tasks", headers=acc.headers).json(),
            api.get(f"/api/v1/tasks/{tid}/comments", headers=acc.headers).json(),
            api.get(f"/api/v1/tasks/{tid}/watchers", headers=acc.headers).json())


def test_outsider_gets_404_on_every_task_route(api):
    ws, p, q, owner, member, viewer, outsider = setup_team(api)
    t = create(api, owner, p["id"])
    c = api.post(f"/api/v1/tasks/{t['id']}/comments", headers=owner.headers, json={"body": "hi"}).json()
    before = _snapshot(api, owner, p["id"], t["id"])
    for method, path, body in _task_routes(p["id"], t["id"], c["id"]):
        r = api.request(method, path, headers=outsider.headers, json=body)
        assert_problem(r, 404)
    # malformed ids too
    for method, path, body in _task_routes("nope", "nope", "nope"):
        assert_problem(api.request(method, path, headers=owner.headers, json=body), 404)
    assert _snapshot(api, owner, p["id"], t["id"]) == before


def test_viewer_gets_403_on_every_write(api):
    ws, p, q, owner, member, viewer, outsider = setup_team(api)
    t = create(api, owner, p["id"])
    c = api.post(f"/api/v1/tasks/{t['id']}/comments", headers=owner.headers, json={"body": "hi"}).json()
    before = _snapshot(api, owner, p["id"], t["id"])
    for method, path, body in _task_routes(p["id"], t["id"], c["id"]):
        if method == "GET" or "/watchers/me" in path:
            continue
        assert_problem(api.request(method, path, headers=viewer.headers, json=body), 403)
    assert _snapshot(api, owner, p["id"], t["id"]) == before


def test_archived_project_is_read_only(api):
    ws, p, q, owner, member, viewer, outsider = setup_team(api)
    t = create(api, member, p["id"])
    r = api.post(f"/api/v1/projects/{p['id']}/archive", headers=owner.headers)
    assert r.status_code == 200, r.text
    # The same answer as every other write to an archived project (projects service): 409.
    for r in (api.patch(f"/api/v1/tasks/{t['id']}", headers=owner.headers, json={"title": "x"}),
              api.post(f"/api/v1/projects/{p['id']}/tasks", headers=owner.headers, json={"title": "x"}),
              api.post(f"/api/v1/tasks/{t['id']}/comments", headers=owner.headers, json={"body": "x"})):
        assert_problem(r, 409)
        assert r.json()["type"].endswith("project-archived"), r.text
    assert api.get(f"/api/v1/tasks/{t['id']}", headers=member.headers).status_code == 200


def test_state_delete_moves_tasks(api):
    ws, p, q, owner, member, viewer, outsider = setup_team(api)
    st = states(api, owner, p["id"])
    t = create(api, member, p["id"], state_id=st["started"])
    r = api.delete(f"/api/v1/projects/{p['id']}/states/{st['started']}", headers=owner.headers,
                   params={"move_to": st["completed"]})
    assert r.status_code == 204, r.text
    moved = api.get(f"/api/v1/tasks/{t['id']}", headers=member.headers).json()
    assert moved["state_id"] == st["completed"] and moved["completed_at"] is not None


def test_bulk_update_all_or_nothing(api):
    ws, p, q, owner, member, viewer, outsider = setup_team(api)
    st = states(api, owner, p["id"])
    a, b = create(api, member, p["id"]), create(api, member, p["id"])
    foreign = create(api, owner, q["id"])
    url = f"/api/v1/projects/{p['id']}/tasks/bulk"
    r = api.post(url, headers=member.headers, json={"task_ids": [a["id"], b["id"], foreign["id"]],
                                                    "changes": {"priority": "urgent", "archived": True}})
    assert_validation_problem(r, ["task_ids[2]"])
    assert api.get(f"/api/v1/tasks/{a['id']}", headers=member.headers).json() == a
    r = api.post(url, headers=member.headers, json={"task_ids": [a["id"], b["id"]],
                                                    "changes": {"priority": "urgent", "state_id": st["completed"],
                                                                "assignee_ids": [member.id]}})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [x["id"] for x in items] == [a["id"], b["id"]]
    assert all(x["priority"] == "urgent" and x["completed_at"] and x["assignee_ids"] == [member.id] for x in items)
    assert_validation_problem(api.post(url, headers=member.headers,
                                       json={"task_ids": [a["id"]] * 101, "changes": {}}), ["task_ids"])
    assert_validation_problem(api.post(url, headers=member.headers,
                                       json={"task_ids": [a["id"]], "changes": {"priority": "x"}}),
                              ["changes.priority"])


def test_relations_both_sides(api):
    ws, p, q, owner, member, viewer, outsider = setup_team(api)
    a, b = create(api, member, p["id"]), create(api, member, p["id"])
    foreign = create(api, owner, q["id"])
    r = api.post(f"/api/v1/tasks/{a['id']}/relations", headers=member.headers, json={"kind": "blocks", "task_id": b["id"]})
    assert r.status_code == 201, r.text
    rel = r.json()
    assert rel["kind"] == "blocks" and rel["task_id"] == b["id"]
    seen_b = api.get(f"/api/v1/tasks/{b['id']}/relations", headers=viewer.headers).json()["items"]
    assert [(x["id"], x["kind"], x["task_id"]) for x in seen_b] == [(rel["id"], "blocked_by", a["id"])]
    assert_problem(api.post(f"/api/v1/tasks/{b['id']}/relations", headers=member.headers,
                            json={"kind": "blocked_by", "task_id": a["id"]}), 409)
    r = api.post(f"/api/v1/tasks/{a['id']}/relations", headers=member.headers,
                 json={"kind": "relates_to", "task_id": foreign["id"]})
    assert_validation_problem(r, ["task_id"])
    assert api.delete(f"/api/v1/tasks/{b['id']}/relations/{rel['id']}", headers=member.headers).status_code == 204
    assert api.get(f"/api/v1/tasks/{a['id']}/relations", headers=member.headers).json()["items"] == []


def test_reactions(api):
    ws, p, q, owner, member, viewer, outsider = setup_team(api)
    t = create(api, member, p["id"])
    c = api.post(f"/api/v1/tasks/{t['id']}/comments", headers=owner.headers, json={"body": "hi"}).json()
    for base in (f"/api/v1/tasks/{t['id']}/reactions", f"/api/v1/comments/{c['id']}/reactions"):
        assert api.put(f"{base}/heart", headers=member.headers).status_code == 204
        assert api.put(f"{base}/heart", headers=member.headers).status_code == 204
        assert api.put(f"{base}/heart", headers=owner.headers).status_code == 204
        assert api.put(f"{base}/rocket", headers=owner.headers).status_code == 204
        assert_validation_problem(api.put(f"{base}/poop", headers=owner.headers), ["emoji"])
        items = api.get(base, headers=viewer.headers).json()["items"]
        assert [(x["emoji"], x["count"]) for x in items] == [("heart", 2), ("rocket", 1)]
        assert api.delete(f"{base}/heart", headers=member.headers).status_code == 204
        assert [(x["emoji"], x["count"]) for x in api.get(base, headers=viewer.headers).json()["items"]] == \
            [("heart", 1), ("rocket", 1)]


def test_idempotency_key_on_create(api):
    ws, p, q, owner, member, viewer, outsider = setup_team(api)
    h = {**member.headers, "Idempotency-Key": str(uuid.uuid4())}
    url = f"/api/v1/projects/{p['id']}/tasks"
    r1 = api.post(url, headers=h, json={"title": "once"})
    r2 = api.post(url, headers=h, json={"title": "once"})
    assert r1.status_code == r2.status_code == 201, r2.text
    assert r1.json()["id"] == r2.json()["id"]
    assert len(api.get(url, headers=member.headers).json()["items"]) == 1
    assert api.post(url, headers=h, json={"title": "other"}).status_code == 422


def test_full_text_search(api):
    ws, p, q, owner, member, viewer, outsider = setup_team(api)
    a = create(api, member, p["id"], title="Login page broken", description="Safari shows a blank screen")
    b = create(api, member, p["id"], title="Unrelated")
    api.post(f"/api/v1/tasks/{b['id']}/comments", headers=member.headers, json={"body": "checkout needs caching"})
    base = f"/api/v1/projects/{p['id']}/tasks"

    def found(text):
        r = api.get(base, headers=viewer.headers, params={"q": text})
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()["items"]]
    assert found("login") == [a["id"]] and found("caching") == [b["id"]]
    assert found("safari blank") == [a["id"]] and found('safari "blank') == [a["id"]] and found("safari caching") == []
    assert api.get("/api/v1/users/me/tasks", headers=member.headers, params={"q": "login"}).status_code == 200
    # ranked by relevance, paginated: a title match first, every hit once
    top = create(api, member, p["id"], title="cache warmup", description="the cache layer")
    for _ in range(4):
        create(api, member, p["id"], title="misc", description="something about the cache layer and cache misses")
    seen, cursor = [], None
    while True:
        params = {"q": "cache", "sort": "relevance", "limit": 2, **({"cursor": cursor} if cursor else {})}
        r = api.get(base, headers=viewer.headers, params=params)
        assert r.status_code == 200, r.text
        seen += [x["id"] for x in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 5 and seen[0] == top["id"]
    assert_validation_problem(api.get(base, headers=viewer.headers, params={"sort": "relevance"}), ["sort"])


def test_saved_views(api):
    ws, p, q, owner, member, viewer, outsider = setup_team(api)
    base = f"/api/v1/projects/{p['id']}/views"
    r = api.post(base, headers=member.headers, json={"name": "Urgent", "query": "priority=urgent&sort=-updated_at",
                                                     "shared": True})
    assert r.status_code == 201, r.text
    shared = r.json()
    mine = api.post(base, headers=viewer.headers, json={"name": "Mine", "query": "assignee=me"}).json()
    assert_problem(api.post(base, headers=viewer.headers, json={"name": "x", "query": "", "shared": True}), 403)
    assert_validation_problem(api.post(base, headers=member.headers, json={"name": "x", "query": "sort=title"}),
                              ["query"])
    assert [v["id"] for v in api.get(base, headers=viewer.headers).json()["items"]] == [shared["id"], mine["id"]]
    assert [v["id"] for v in api.get(base, headers=member.headers).json()["items"]] == [shared["id"]]
    assert_problem(api.get(f"/api/v1/views/{mine['id']}", headers=member.headers), 404)
    assert_problem(api.get(f"/api/v1/views/{shared['id']}", headers=outsider.headers), 404)
    assert_problem(api.patch(f"/api/v1/views/{shared['id']}", headers=viewer.headers, json={"name": "x"}), 403)
    r = api.patch(f"/api/v1/views/{shared['id']}", headers={**owner.headers, "If-Match": '"v1"'}, json={"name": "Hot"})
    assert r.status_code == 200 and r.json()["name"] == "Hot" and r.json()["version"] == 2
    assert_problem(api.delete(f"/api/v1/views/{shared['id']}", headers={**member.headers, "If-Match": '"v1"'}), 412)
    assert api.delete(f"/api/v1/views/{shared['id']}", headers=member.headers).status_code == 204
    assert api.delete(f"/api/v1/views/{mine['id']}", headers=viewer.headers).status_code == 204
    # a saved query drives the list
    assert api.get(f"/api/v1/projects/{p['id']}/tasks?priority=urgent&sort=-updated_at",
                   headers=member.headers).status_code == 200


def test_concurrent_moves_one_winner(api, server):
    import concurrent.futures
    from support import Client
    ws, p, q, owner, member, viewer, outsider = setup_team(api)
    st = states(api, owner, p["id"])
    t = create(api, member, p["id"])
    # Every target differs from the task's current (default, unstarted) state: a PATCH that
    # changes nothing keeps the version, so it could also answer 200 and the test would race.
    targets = [st["started"], st["completed"], st["cancelled"], st["backlog"]] * 2

    def move(state_id):
        with Client(server.url) as c:
            return c.patch(f"/api/v1/tasks/{t['id']}", headers={**member.headers, "If-Match": '"v1"'},
                           json={"state_id": state_id})
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(move, targets))
    codes = sorted(r.status_code for r in answers)
    assert codes.count(200) == 1 and codes.count(412) == len(targets) - 1, codes
    winner = next(r.json() for r in answers if r.status_code == 200)
    final = api.get(f"/api/v1/tasks/{t['id']}", headers=member.headers).json()
    assert final["state_id"] == winner["state_id"] and final["version"] == 2
    assert (final["completed_at"] is not None) == (final["state_id"] == st["completed"])
