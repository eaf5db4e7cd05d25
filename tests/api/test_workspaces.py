"""Workspaces: CRUD, members and roles (last-owner rules), invitations by e-mail through the
harness's real SMTP server, and authorization (outsiders get 404, lesser roles 403)."""
import re
import uuid

from support import (assert_problem, assert_validation_problem, add_workspace_member, message_text, new_account,
                     new_project, new_workspace, register, login, unique_email, PASSWORD, Account)


def test_create_list_get_rename_delete(api, user):
    r = api.post("/api/v1/workspaces", headers=user.headers, json={"name": "Acme"})
    assert r.status_code == 201, r.text
    ws = r.json()
    assert r.headers["Location"] == f"/api/v1/workspaces/{ws['id']}"
    assert ws["name"] == "Acme" and ws["role"] == "owner" and ws["created_by"] == user.id
    assert_validation_problem(api.post("/api/v1/workspaces", headers=user.headers, json={"name": ""}), ["name"])
    assert_validation_problem(api.post("/api/v1/workspaces", headers=user.headers, json={"name": "x", "extra": 1}))
    assert_problem(api.post("/api/v1/workspaces", json={"name": "x"}), 401)

    ids = [ws["id"]] + [new_workspace(api, user, f"W{i}")["id"] for i in range(4)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/api/v1/workspaces", headers=user.headers, params=params).json()
        seen += [w["id"] for w in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids
    assert_validation_problem(api.get("/api/v1/workspaces", headers=user.headers, params={"cursor": "zz"}), ["cursor"])
    assert_validation_problem(api.get("/api/v1/workspaces", headers=user.headers, params={"limit": 0}), ["limit"])

    assert api.get(f"/api/v1/workspaces/{ws['id']}", headers=user.headers).json() == ws
    r = api.patch(f"/api/v1/workspaces/{ws['id']}", headers=user.headers, json={"name": "Acme Inc"})
    assert r.status_code == 200 and r.json()["name"] == "Acme Inc"
    new_project(api, user, ws["id"], "WEB")
    assert api.delete(f"/api/v1/workspaces/{ws['id']}", headers=user.headers).status_code == 204
    assert_problem(api.get(f"/api/v1/workspaces/{ws['id']}", headers=user.headers), 404, "not-found")
    assert len(api.get("/api/v1/workspaces", headers=user.headers).json()["items"]) == 4


def test_members_roles_and_last_owner(api, user):
    ws = new_workspace(api, user)
    wid = ws["id"]
    admin, member, guest = new_account(api), new_account(api), new_account(api)
    m = add_workspace_member(api, user, wid, admin, "admin")
    assert m["user_id"] == admin.id and m["role"] == "admin" and m["email"] == admin.email
    add_workspace_member(api, user, wid, member, "member")
    add_workspace_member(api, admin, wid, guest, "guest")
    base = f"/api/v1/workspaces/{wid}/members"
    assert_problem(api.post(base, headers=admin.headers, json={"email": member.email, "role": "member"}), 409,
                   "already-member")
    assert_validation_problem(api.post(base, headers=user.headers, json={"email": unique_email(), "role": "member"}),
                              ["email"])
    assert_validation_problem(api.post(base, headers=user.headers, json={"email": member.email, "role": "boss"}),
                              ["role"])

    listed = api.get(base, headers=guest.headers).json()
    assert {x["user_id"]: x["role"] for x in listed["items"]} == {
        user.id: "owner", admin.id: "admin", member.id: "member", guest.id: "guest"}
    page = api.get(base, headers=guest.headers, params={"limit": 3}).json()
    assert len(page["items"]) == 3 and page["next_cursor"]
    rest = api.get(base, headers=guest.headers, params={"limit": 3, "cursor": page["next_cursor"]}).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None

    # last owner: cannot leave, be demoted or removed
    assert_problem(api.delete(f"{base}/me", headers=user.headers), 409, "last-owner")
    assert_problem(api.patch(f"{base}/{user.id}", headers=user.headers, json={"role": "admin"}), 409, "last-owner")
    # admins manage members and guests, not owners, not other admins, and cannot create owners
    assert_problem(api.patch(f"{base}/{user.id}", headers=admin.headers, json={"role": "member"}), 403)
    assert_problem(api.delete(f"{base}/{user.id}", headers=admin.headers), 403)
    assert_problem(api.patch(f"{base}/{member.id}", headers=admin.headers, json={"role": "owner"}), 403)
    r = api.patch(f"{base}/{guest.id}", headers=admin.headers, json={"role": "member"})
    assert r.status_code == 200 and r.json()["role"] == "member"
    # members and guests change nothing
    for acc in (member,):
        assert_problem(api.patch(f"{base}/{guest.id}", headers=acc.headers, json={"role": "guest"}), 403)
        assert_problem(api.delete(f"{base}/{guest.id}", headers=acc.headers), 403)
        assert_problem(api.patch(f"/api/v1/workspaces/{wid}", headers=acc.headers, json={"name": "x"}), 403)
        assert_problem(api.delete(f"/api/v1/workspaces/{wid}", headers=acc.headers), 403)
        assert_problem(api.post(base, headers=acc.headers, json={"email": unique_email(), "role": "guest"}), 403)
    assert_problem(api.delete(f"/api/v1/workspaces/{wid}", headers=admin.headers), 403)
    # a second owner lets the first one leave
    assert api.patch(f"{base}/{admin.id}", headers=user.headers, json={"role": "owner"}).status_code == 200
    assert api.delete(f"{base}/me", headers=user.headers).status_code == 204
    assert_problem(api.get(f"/api/v1/workspaces/{wid}", headers=user.headers), 404)
    assert api.delete(f"{base}/{guest.id}", headers=admin.headers).status_code == 204
    assert_problem(api.delete(f"{base}/{guest.id}", headers=admin.headers), 404)
    assert api.delete(f"{base}/me", headers=member.headers).status_code == 204
    assert [x["user_id"] for x in api.get(base, headers=admin.headers).json()["items"]] == [admin.id]


def test_outsider_gets_404_everywhere_and_nothing_changes(api, user):
    ws = new_workspace(api, user)
    wid = ws["id"]
    member = new_account(api)
    add_workspace_member(api, user, wid, member, "member")
    inv = api.post(f"/api/v1/workspaces/{wid}/invitations", headers=user.headers,
                   json={"email": unique_email(), "role": "member"}).json()
    eve = new_account(api)
    new_workspace(api, eve, "Eve's own")
    bad = "not-a-uuid"
    missing = str(uuid.uuid4())
    calls = []
    for w in (wid, bad, missing):
        b = f"/api/v1/workspaces/{w}"
        calls += [("GET", b, None), ("PATCH", b, {"name": "pwned"}), ("DELETE", b, None),
                  ("GET", f"{b}/members", None), ("POST", f"{b}/members", {"email": eve.email, "role": "owner"}),
                  ("PATCH", f"{b}/members/{member.id}", {"role": "guest"}), ("DELETE", f"{b}/members/{member.id}", None),
                  ("DELETE", f"{b}/members/me", None),
                  ("GET", f"{b}/projects", None), ("POST", f"{b}/projects", {"name": "x", "key": "XX"}),
                  ("GET", f"{b}/invitations", None), ("POST", f"{b}/invitations", {"email": eve.email, "role": "owner"}),
                  ("POST", f"{b}/invitations/{inv['id']}/resend", None), ("DELETE", f"{b}/invitations/{inv['id']}", None)]
    for method, url, body in calls:
        r = api.request(method, url, headers=eve.headers, json=body)
        assert_problem(r, 404, "not-found")
    after = api.get(f"/api/v1/workspaces/{wid}", headers=user.headers).json()
    assert after == ws
    assert len(api.get(f"/api/v1/workspaces/{wid}/members", headers=user.headers).json()["items"]) == 2
    assert len(api.get(f"/api/v1/workspaces/{wid}/invitations", headers=user.headers).json()["items"]) == 1
    assert api.get(f"/api/v1/workspaces/{wid}/projects", headers=user.headers).json()["items"] == []


def _token_from(msg) -> str:
    m = re.search(r"/invitations/accept\?token=([A-Za-z0-9_\-]+)", message_text(msg))
    assert m, message_text(msg)
    return m.group(1)


def test_invitations_by_email(api, user, smtp, server):
    ws = new_workspace(api, user, "Invite Co")
    wid = ws["id"]
    base = f"/api/v1/workspaces/{wid}/invitations"
    addr = unique_email("invitee")
    r = api.post(base, headers=user.headers, json={"email": addr.upper(), "role": "admin"})
    assert r.status_code == 201, r.text
    inv = r.json()
    assert inv["email"] == addr and inv["role"] == "admin" and "token" not in inv
    assert r.headers["Location"] == f"{base}/{inv['id']}"
    msg = smtp.wait_for(addr)
    assert "Invite Co" in msg["Subject"]
    text = message_text(msg)
    assert f"{server.url}/invitations/accept?token=" in text
    first_token = _token_from(msg)
    assert [i["id"] for i in api.get(base, headers=user.headers).json()["items"]] == [inv["id"]]

    # resend: a new token, the old one stops working
    r = api.post(f"{base}/{inv['id']}/resend", headers=user.headers)
    assert r.status_code == 200, r.text
    token = _token_from(smtp.wait_for(addr, count=2))
    assert token != first_token

    # the address has no account yet: register, then accept
    register(api, addr)
    invitee = Account(addr, PASSWORD, {})
    invitee.access_token = login(api, addr).json()["access_token"]
    other = new_account(api)
    assert_problem(api.post("/api/v1/invitations/accept", headers=other.headers, json={"token": token}), 403,
                   "invitation-email-mismatch")
    assert_validation_problem(api.post("/api/v1/invitations/accept", headers=invitee.headers,
                                       json={"token": first_token}), ["token"])
    assert_problem(api.post("/api/v1/invitations/accept", json={"token": token}), 401)
    r = api.post("/api/v1/invitations/accept", headers=invitee.headers, json={"token": token})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == wid and r.json()["role"] == "admin"
    assert_validation_problem(api.post("/api/v1/invitations/accept", headers=invitee.headers,
                                       json={"token": token}), ["token"])
    assert api.get(base, headers=user.headers).json()["items"] == []
    assert_problem(api.post(base, headers=user.headers, json={"email": addr, "role": "member"}), 409, "already-member")

    # revoke
    addr2 = unique_email("revoked")
    inv2 = api.post(base, headers=user.headers, json={"email": addr2, "role": "member"}).json()
    token2 = _token_from(smtp.wait_for(addr2))
    member = new_account(api)
    add_workspace_member(api, user, wid, member, "member")
    assert_problem(api.delete(f"{base}/{inv2['id']}", headers=member.headers), 403)
    assert_problem(api.post(base, headers=member.headers, json={"email": unique_email(), "role": "member"}), 403)
    assert_problem(api.get(base, headers=member.headers), 403)
    assert_problem(api.post(base, headers=invitee.headers, json={"email": unique_email(), "role": "owner"}), 403)
    assert api.delete(f"{base}/{inv2['id']}", headers=user.headers).status_code == 204
    assert_problem(api.delete(f"{base}/{inv2['id']}", headers=user.headers), 404)
    register(api, addr2)
    t2 = login(api, addr2).json()["access_token"]
    assert_validation_problem(api.post("/api/v1/invitations/accept", headers={"Authorization": f"Bearer {t2}"},
                                       json={"token": token2}), ["token"])
    assert_validation_problem(api.post(base, headers=user.headers, json={"email": "nope", "role": "member"}), ["email"])


def test_two_owners_leaving_at_once_leave_one_owner(api, user, server):
    """Concurrent last-owner check: of two owners leaving at the same moment, exactly one may go."""
    from concurrent.futures import ThreadPoolExecutor
    from support import Client
    for _ in range(3):
        ws = new_workspace(api, user)
        other = new_account(api)
        add_workspace_member(api, user, ws["id"], other, "owner")

        def leave(acc):
            with Client(server.url) as c:
                return c.delete(f"/api/v1/workspaces/{ws['id']}/members/me", headers=acc.headers).status_code

        with ThreadPoolExecutor(2) as pool:
            codes = sorted(pool.map(leave, [user, other]))
        assert codes == [204, 409], codes
        remaining = [acc for acc in (user, other)
                     if api.get(f"/api/v1/workspaces/{ws['id']}", headers=acc.headers).status_code == 200]
        assert len(remaining) == 1
        members = api.get(f"/api/v1/workspaces/{ws['id']}/members", headers=remaining[0].headers).json()["items"]
        assert [m["role"] for m in members] == ["owner"]


def test_idempotency_key_creates_one_workspace(api, user):
    key = str(uuid.uuid4())
    headers = {**user.headers, "Idempotency-Key": key}
    first = api.post("/api/v1/workspaces", headers=headers, json={"name": "Once"})
    again = api.post("/api/v1/workspaces", headers=headers, json={"name": "Once"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    names = [w["name"] for w in api.get("/api/v1/workspaces", headers=user.headers).json()["items"]]
    assert names.count("Once") == 1


def test_read_only_api_token_cannot_write(api, user):
    ws = new_workspace(api, user)
    tok = api.post("/api/v1/users/me/api-tokens", headers=user.headers, json={"name": "ro", "scope": "read"}).json()
    ro = {"Authorization": f"Bearer {tok['token']}"}
    assert api.get(f"/api/v1/workspaces/{ws['id']}", headers=ro).status_code == 200
    assert_problem(api.post("/api/v1/workspaces", headers=ro, json={"name": "x"}), 403)
    assert_problem(api.patch(f"/api/v1/workspaces/{ws['id']}", headers=ro, json={"name": "x"}), 403)
    assert_problem(api.post(f"/api/v1/workspaces/{ws['id']}/projects", headers=ro, json={"name": "x", "key": "XX"}),
                   403)
    assert api.get(f"/api/v1/workspaces/{ws['id']}", headers=user.headers).json()["name"] == ws["name"]
