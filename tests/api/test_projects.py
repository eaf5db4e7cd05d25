"""Projects: CRUD with ETag/If-Match, visibility (private projects, guests), archive (read-only),
project members, workflow states (defaults, reorder, delete with move_to), labels, and
authorization (outsiders 404 on every route and method, viewers/guests 403 on every write,
ids of another project refused)."""
import uuid

from support import (assert_problem, assert_validation_problem, add_workspace_member, new_account, new_project,
                     new_workspace)


def setup_team(api):
    owner, member, guest, viewer = (new_account(api) for _ in range(4))
    ws = new_workspace(api, owner)
    add_workspace_member(api, owner, ws["id"], member, "member")
    add_workspace_member(api, owner, ws["id"], guest, "guest")
    add_workspace_member(api, owner, ws["id"], viewer, "member")
    return ws, owner, member, guest, viewer


def test_project_crud_etag_and_key_rules(api):
    ws, owner, member, guest, viewer = setup_team(api)
    wid = ws["id"]
    base = f"/api/v1/workspaces/{wid}/projects"
    r = api.post(base, headers=member.headers, json={"name": "Website", "key": "WEB", "description": "site"})
    assert r.status_code == 201, r.text
    p = r.json()
    assert r.headers["Location"] == f"/api/v1/projects/{p['id']}" and r.headers["ETag"] == '"v1"'
    assert p["key"] == "WEB" and p["role"] == "admin" and p["version"] == 1 and p["is_private"] is False
    assert p["archived"] is False and p["archived_at"] is None and p["workspace_id"] == wid
    for key in ("W", "web", "1AB", "ABCDEFGHIJK", "A-B"):
        assert_validation_problem(api.post(base, headers=member.headers, json={"name": "x", "key": key}), ["key"])
    assert_validation_problem(api.post(base, headers=member.headers, json={"name": ""}), ["name", "key"])
    assert_problem(api.post(base, headers=owner.headers, json={"name": "Dup", "key": "WEB"}), 409, "project-key-taken")
    assert_problem(api.post(base, headers=guest.headers, json={"name": "G", "key": "GG"}), 403)
    # the same key in another workspace is fine
    other_ws = new_workspace(api, owner, "Other")
    new_project(api, owner, other_ws["id"], "WEB")

    url = f"/api/v1/projects/{p['id']}"
    r = api.get(url, headers=viewer.headers)
    assert r.status_code == 200 and r.headers["ETag"] == '"v1"' and r.json()["role"] == "member"
    assert_validation_problem(api.patch(url, headers=member.headers, json={"key": "NEW"}), ["key"])
    assert_problem(api.patch(url, headers={**member.headers, "If-Match": '"v9"'}, json={"name": "x"}),
                   412, "precondition-failed")
    r = api.patch(url, headers={**member.headers, "If-Match": '"v1"'}, json={"name": "Site", "description": "d"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Site" and r.json()["version"] == 2 and r.headers["ETag"] == '"v2"'
    assert_problem(api.patch(url, headers={**member.headers, "If-Match": '"v1"'}, json={"name": "lost"}), 412)
    assert api.get(url, headers=member.headers).json()["name"] == "Site"
    assert_problem(api.delete(url, headers={**owner.headers, "If-Match": '"v1"'}), 412)
    # a workspace member who is not a project admin cannot change or delete it
    assert_problem(api.patch(url, headers=viewer.headers, json={"name": "x"}), 403)
    assert_problem(api.delete(url, headers=viewer.headers), 403)
    assert api.delete(url, headers={**owner.headers, "If-Match": '"v2"'}).status_code == 204
    assert_problem(api.get(url, headers=owner.headers), 404)


def test_visibility_private_projects_and_guests(api):
    ws, owner, member, guest, viewer = setup_team(api)
    wid = ws["id"]
    public = new_project(api, member, wid, "PUB")
    private = new_project(api, owner, wid, "SEC", is_private=True)
    mine = new_project(api, member, wid, "MINE", is_private=True)
    base = f"/api/v1/workspaces/{wid}/projects"

    def keys(acc):
        return sorted(x["key"] for x in api.get(base, headers=acc.headers).json()["items"])

    assert keys(owner) == ["MINE", "PUB", "SEC"]
    assert keys(member) == ["MINE", "PUB"]
    assert keys(viewer) == ["PUB"]
    assert keys(guest) == []
    assert_problem(api.get(f"/api/v1/projects/{private['id']}", headers=member.headers), 404)
    assert_problem(api.get(f"/api/v1/projects/{public['id']}", headers=guest.headers), 404)
    r = api.post(f"/api/v1/projects/{public['id']}/members", headers=member.headers,
                 json={"user_id": guest.id, "role": "viewer"})
    assert r.status_code == 201, r.text
    assert keys(guest) == ["PUB"]
    assert api.get(f"/api/v1/projects/{public['id']}", headers=guest.headers).json()["role"] == "viewer"
    # pagination
    page = api.get(base, headers=owner.headers, params={"limit": 2}).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    page2 = api.get(base, headers=owner.headers, params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert [x["key"] for x in page2["items"]] == ["MINE"] and page2["next_cursor"] is None
    # making a project private hides it from non-members
    url = f"/api/v1/projects/{public['id']}"
    assert api.patch(url, headers=member.headers, json={"is_private": True}).status_code == 200
    assert keys(viewer) == []
    assert keys(guest) == ["PUB"]  # explicit member
    assert mine["role"] == "admin"


def test_project_members(api):
    ws, owner, member, guest, viewer = setup_team(api)
    p = new_project(api, member, ws["id"], "TEAM", is_private=True)
    base = f"/api/v1/projects/{p['id']}/members"
    outsider = new_account(api)
    assert_validation_problem(api.post(base, headers=member.headers, json={"user_id": outsider.id, "role": "member"}),
                              ["user_id"])
    assert_validation_problem(api.post(base, headers=member.headers, json={"user_id": viewer.id, "role": "owner"}),
                              ["role"])
    r = api.post(base, headers=member.headers, json={"user_id": viewer.id, "role": "viewer"})
    assert r.status_code == 201 and r.json()["role"] == "viewer"
    assert_problem(api.post(base, headers=member.headers, json={"user_id": viewer.id, "role": "member"}), 409,
                   "already-member")
    listed = {m["user_id"]: m["role"] for m in api.get(base, headers=viewer.headers).json()["items"]}
    assert listed == {member.id: "admin", viewer.id: "viewer"}
    r = api.patch(f"{base}/{viewer.id}", headers=owner.headers, json={"role": "member"})
    assert r.status_code == 200 and r.json()["role"] == "member"
    assert_problem(api.patch(f"{base}/{member.id}", headers=viewer.headers, json={"role": "viewer"}), 403)
    assert_problem(api.patch(f"{base}/{str(uuid.uuid4())}", headers=owner.headers, json={"role": "viewer"}), 404)
    assert api.delete(f"{base}/me", headers=viewer.headers).status_code == 204
    assert_problem(api.get(f"/api/v1/projects/{p['id']}", headers=viewer.headers), 404)
    # leaving the workspace removes project memberships
    api.post(base, headers=member.headers, json={"user_id": guest.id, "role": "member"})
    assert api.delete(f"/api/v1/workspaces/{ws['id']}/members/{guest.id}", headers=owner.headers).status_code == 204
    assert guest.id not in {m["user_id"] for m in api.get(base, headers=owner.headers).json()["items"]}


def test_states_defaults_reorder_and_delete_with_move_to(api):
    ws, owner, member, guest, viewer = setup_team(api)
    p = new_project(api, member, ws["id"], "WF")
    q = new_project(api, member, ws["id"], "OTHER")
    base = f"/api/v1/projects/{p['id']}/states"
    listed = api.get(base, headers=viewer.headers).json()
    states = listed["items"]
    assert [(s["name"], s["group"]) for s in states] == [
        ("Backlog", "backlog"), ("Todo", "unstarted"), ("In Progress", "started"), ("Done", "completed"),
        ("Cancelled", "cancelled")]
    assert [s["position"] for s in states] == [0, 1, 2, 3, 4]
    assert all(s["color"].startswith("#") and len(s["color"]) == 7 for s in states)
    assert listed["default_state_id"] == states[1]["id"]
    backlog, todo, started, done, cancelled = (s["id"] for s in states)

    r = api.post(base, headers=member.headers, json={"name": "Review", "group": "started", "color": "#8b5cf6",
                                                    "position": 3})
    assert r.status_code == 201, r.text
    review = r.json()
    assert review["position"] == 3 and r.headers["Location"].endswith(review["id"])
    assert_validation_problem(api.post(base, headers=member.headers, json={"name": "x", "group": "later",
                                                                          "color": "red"}), ["group", "color"])
    r = api.patch(f"{base}/{review['id']}", headers=member.headers, json={"name": "QA", "color": "#000000",
                                                                        "position": 0})
    assert r.status_code == 200 and r.json()["name"] == "QA" and r.json()["position"] == 0
    names = [s["name"] for s in api.get(base, headers=member.headers).json()["items"]]
    assert names == ["QA", "Backlog", "Todo", "In Progress", "Done", "Cancelled"]

    # delete: move_to required and must be a state of the same project
    other_state = api.get(f"/api/v1/projects/{q['id']}/states", headers=member.headers).json()["items"][0]["id"]
    assert_validation_problem(api.delete(f"{base}/{backlog}", headers=member.headers), ["move_to"])
    assert_validation_problem(api.delete(f"{base}/{backlog}", headers=member.headers,
                                         params={"move_to": other_state}), ["move_to"])
    assert_validation_problem(api.delete(f"{base}/{backlog}", headers=member.headers,
                                         params={"move_to": backlog}), ["move_to"])
    assert len(api.get(base, headers=member.headers).json()["items"]) == 6
    assert_problem(api.delete(f"{base}/{other_state}", headers=member.headers, params={"move_to": todo}), 404)
    assert_problem(api.patch(f"{base}/{other_state}", headers=member.headers, json={"name": "hijack"}), 404)
    assert api.get(f"/api/v1/projects/{q['id']}/states", headers=member.headers).json()["items"][0]["name"] == "Backlog"
    assert api.delete(f"{base}/{backlog}", headers=member.headers, params={"move_to": todo}).status_code == 204
    # at least one open (not completed/cancelled) state must remain
    for sid in (review["id"], todo):
        assert api.delete(f"{base}/{sid}", headers=member.headers, params={"move_to": done}).status_code == 204
    assert_problem(api.delete(f"{base}/{started}", headers=member.headers, params={"move_to": done}), 409,
                   "last-open-state")
    listed = api.get(base, headers=member.headers).json()
    assert [s["name"] for s in listed["items"]] == ["In Progress", "Done", "Cancelled"]
    assert listed["default_state_id"] == started
    # viewers (workspace members of a public project act as members; explicit viewer role here)
    api.post(f"/api/v1/projects/{p['id']}/members", headers=member.headers, json={"user_id": viewer.id, "role": "viewer"})
    assert_problem(api.post(base, headers=viewer.headers, json={"name": "x", "group": "started", "color": "#000000"}),
                   403)


def test_labels(api):
    ws, owner, member, guest, viewer = setup_team(api)
    p = new_project(api, member, ws["id"], "LAB")
    q = new_project(api, member, ws["id"], "LAB2")
    base = f"/api/v1/projects/{p['id']}/labels"
    r = api.post(base, headers=viewer.headers, json={"name": "Bug", "color": "#ef4444"})
    assert r.status_code == 201, r.text
    bug = r.json()
    assert bug["name"] == "Bug" and bug["project_id"] == p["id"]
    assert_problem(api.post(base, headers=member.headers, json={"name": "bug", "color": "#000000"}), 409,
                   "label-name-taken")
    assert_validation_problem(api.post(base, headers=member.headers, json={"name": "x", "color": "#12345"}), ["color"])
    feat = api.post(base, headers=member.headers, json={"name": "feature", "color": "#00ff00"}).json()
    assert_problem(api.patch(f"{base}/{feat['id']}", headers=member.headers, json={"name": "BUG"}), 409)
    r = api.patch(f"{base}/{bug['id']}", headers=member.headers, json={"name": "Defect", "color": "#111111"})
    assert r.status_code == 200 and r.json()["name"] == "Defect" and r.json()["color"] == "#111111"
    assert [x["name"] for x in api.get(base, headers=member.headers).json()["items"]] == ["Defect", "feature"]
    # a label of another project through this project's path: 404, nothing changed
    other = api.post(f"/api/v1/projects/{q['id']}/labels", headers=member.headers,
                     json={"name": "other", "color": "#222222"}).json()
    assert_problem(api.patch(f"{base}/{other['id']}", headers=member.headers, json={"name": "x"}), 404)
    assert_problem(api.delete(f"{base}/{other['id']}", headers=member.headers), 404)
    assert api.get(f"/api/v1/projects/{q['id']}/labels", headers=member.headers).json()["items"][0]["name"] == "other"
    assert api.delete(f"{base}/{feat['id']}", headers=member.headers).status_code == 204
    assert_problem(api.delete(f"{base}/{feat['id']}", headers=member.headers), 404)


def _project_routes(pid, state_id, label_id, member_id, move_to):
    b = f"/api/v1/projects/{pid}"
    return [
        ("GET", b, None), ("PATCH", b, {"name": "pwned"}), ("DELETE", b, None),
        ("POST", f"{b}/archive", None), ("POST", f"{b}/unarchive", None),
        ("GET", f"{b}/members", None), ("POST", f"{b}/members", {"user_id": member_id, "role": "admin"}),
        ("PATCH", f"{b}/members/{member_id}", {"role": "viewer"}), ("DELETE", f"{b}/members/{member_id}", None),
        ("GET", f"{b}/states", None), ("POST", f"{b}/states", {"name": "x", "group": "started", "color": "#000000"}),
        ("PATCH", f"{b}/states/{state_id}", {"name": "pwned"}),
        ("DELETE", f"{b}/states/{state_id}?move_to={move_to}", None),
        ("GET", f"{b}/labels", None), ("POST", f"{b}/labels", {"name": "pwned", "color": "#000000"}),
        ("PATCH", f"{b}/labels/{label_id}", {"name": "pwned"}), ("DELETE", f"{b}/labels/{label_id}", None),
    ]


def _snapshot(api, acc, pid):
    b = f"/api/v1/projects/{pid}"
    return (api.get(b, headers=acc.headers).json(), api.get(f"{b}/members", headers=acc.headers).json(),
            api.get(f"{b}/states", headers=acc.headers).json(), api.get(f"{b}/labels", headers=acc.headers).json())


def test_outsider_gets_404_on_every_project_route(api):
    ws, owner, member, guest, viewer = setup_team(api)
    p = new_project(api, member, ws["id"], "SAFE")
    states = api.get(f"/api/v1/projects/{p['id']}/states", headers=member.headers).json()["items"]
    label = api.post(f"/api/v1/projects/{p['id']}/labels", headers=member.headers,
                     json={"name": "l", "color": "#000000"}).json()
    before = _snapshot(api, member, p["id"])
    eve = new_account(api)
    eve_ws = new_workspace(api, eve)
    new_project(api, eve, eve_ws["id"], "EVE")
    for pid in (p["id"], "not-a-uuid", str(uuid.uuid4())):
        for method, url, body in _project_routes(pid, states[0]["id"], label["id"], member.id, states[1]["id"]):
            r = api.request(method, url, headers=eve.headers, json=body)
            assert_problem(r, 404, "not-found")
    # a guest of the workspace who is not in the project sees nothing either
    for method, url, body in _project_routes(p["id"], states[0]["id"], label["id"], member.id, states[1]["id"]):
        assert_problem(api.request(method, url, headers=guest.headers, json=body), 404, "not-found")
    assert _snapshot(api, member, p["id"]) == before


def test_viewer_gets_403_on_every_write_and_archive_is_read_only(api):
    ws, owner, member, guest, viewer = setup_team(api)
    p = new_project(api, member, ws["id"], "RO")
    pid = p["id"]
    b = f"/api/v1/projects/{pid}"
    api.post(f"{b}/members", headers=member.headers, json={"user_id": viewer.id, "role": "viewer"})
    api.post(f"{b}/members", headers=member.headers, json={"user_id": guest.id, "role": "viewer"})
    states = api.get(f"{b}/states", headers=member.headers).json()["items"]
    label = api.post(f"{b}/labels", headers=member.headers, json={"name": "l", "color": "#000000"}).json()
    before = _snapshot(api, member, pid)
    for acc in (viewer, guest):
        for method, url, body in _project_routes(pid, states[0]["id"], label["id"], member.id, states[1]["id"]):
            r = api.request(method, url, headers=acc.headers, json=body)
            if method == "GET":
                assert r.status_code == 200, r.text
            else:
                assert_problem(r, 403, "forbidden")
    assert _snapshot(api, member, pid) == before

    # archive: read-only for everyone until unarchived
    r = api.post(f"{b}/archive", headers={**member.headers, "If-Match": '"v1"'})
    assert r.status_code == 200 and r.json()["archived"] is True and r.json()["archived_at"]
    assert r.headers["ETag"] == '"v2"'
    blocked = [("PATCH", b, {"name": "x"}), ("POST", f"{b}/labels", {"name": "n", "color": "#000000"}),
               ("PATCH", f"{b}/labels/{label['id']}", {"name": "x"}), ("DELETE", f"{b}/labels/{label['id']}", None),
               ("POST", f"{b}/states", {"name": "x", "group": "started", "color": "#000000"}),
               ("PATCH", f"{b}/states/{states[0]['id']}", {"name": "x"}),
               ("DELETE", f"{b}/states/{states[0]['id']}?move_to={states[1]['id']}", None),
               ("POST", f"{b}/members", {"user_id": owner.id, "role": "member"}),
               ("PATCH", f"{b}/members/{viewer.id}", {"role": "member"})]
    for method, url, body in blocked:
        assert_problem(api.request(method, url, headers=owner.headers, json=body), 409, "project-archived")
    assert api.get(f"/api/v1/workspaces/{ws['id']}/projects", headers=viewer.headers).json()["items"][0]["archived"]
    assert_problem(api.post(f"{b}/unarchive", headers={**member.headers, "If-Match": '"v1"'}), 412)
    r = api.post(f"{b}/unarchive", headers=member.headers)
    assert r.status_code == 200 and r.json()["archived"] is False and r.json()["version"] == 3
    assert api.patch(b, headers=member.headers, json={"name": "writable"}).status_code == 200


def test_workspace_delete_removes_projects(api):
    ws, owner, member, guest, viewer = setup_team(api)
    p = new_project(api, member, ws["id"], "GONE")
    assert_problem(api.delete(f"/api/v1/workspaces/{ws['id']}", headers=member.headers), 403)
    assert api.delete(f"/api/v1/workspaces/{ws['id']}", headers=owner.headers).status_code == 204
    assert_problem(api.get(f"/api/v1/projects/{p['id']}", headers=owner.headers), 404)
    assert_problem(api.get(f"/api/v1/projects/{p['id']}/states", headers=member.headers), 404)


def test_answers_have_the_documented_fields(api, smtp):
    """Field names of every object this service answers equal the schemas' properties."""
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
    from openapi_bundle import load_bundle
    from support import REPO, unique_email
    schemas = load_bundle(os.path.join(REPO, "openapi", "openapi.yaml"))["components"]["schemas"]

    def check(obj, name):
        assert set(obj) == set(schemas[name]["properties"]), f"{name}: {sorted(obj)}"
        assert set(schemas[name].get("required", [])) <= set(obj), name

    ws, owner, member, guest, viewer = setup_team(api)
    check(ws, "Workspace")
    check(api.get("/api/v1/workspaces", headers=owner.headers).json(), "WorkspacePage")
    members = api.get(f"/api/v1/workspaces/{ws['id']}/members", headers=owner.headers).json()
    check(members, "WorkspaceMemberPage")
    check(members["items"][0], "WorkspaceMember")
    inv = api.post(f"/api/v1/workspaces/{ws['id']}/invitations", headers=owner.headers,
                   json={"email": unique_email(), "role": "guest"}).json()
    check(inv, "Invitation")
    check(api.get(f"/api/v1/workspaces/{ws['id']}/invitations", headers=owner.headers).json(), "InvitationList")
    p = new_project(api, owner, ws["id"], "DOC")
    check(p, "Project")
    check(api.get(f"/api/v1/workspaces/{ws['id']}/projects", headers=owner.headers).json(), "ProjectPage")
    pm = api.post(f"/api/v1/projects/{p['id']}/members", headers=owner.headers,
                  json={"user_id": member.id, "role": "member"}).json()
    check(pm, "WorkspaceMember")
    check(api.get(f"/api/v1/projects/{p['id']}/members", headers=owner.headers).json(), "WorkspaceMemberList")
    states = api.get(f"/api/v1/projects/{p['id']}/states", headers=owner.headers).json()
    check(states, "WorkflowStateList")
    check(states["items"][0], "WorkflowState")
    label = api.post(f"/api/v1/projects/{p['id']}/labels", headers=owner.headers,
                     json={"name": "doc", "color": "#000000"}).json()
    check(label, "Label")
    check(api.get(f"/api/v1/projects/{p['id']}/labels", headers=owner.headers).json(), "LabelList")


def test_concurrent_patches_with_the_same_if_match_one_wins(api, server):
    from concurrent.futures import ThreadPoolExecutor
    from support import Client
    ws, owner, member, guest, viewer = setup_team(api)
    p = new_project(api, owner, ws["id"], "RACE")
    url = f"/api/v1/projects/{p['id']}"

    def patch(i):
        with Client(server.url) as c:
            return c.patch(url, headers={**owner.headers, "If-Match": '"v1"'}, json={"name": f"n{i}"}).status_code

    with ThreadPoolExecutor(6) as pool:
        codes = sorted(pool.map(patch, range(6)))
    assert codes == [200] + [412] * 5, codes
    final = api.get(url, headers=owner.headers)
    assert final.json()["version"] == 2 and final.headers["ETag"] == '"v2"'
