"""Files service: attachments on comments, over the real binary, on SQLite and PostgreSQL.

`POST /api/v1/tasks/{id}/attachments?comment_id=<uuid>` attaches to a comment of that task (its
author or a project admin); a comment of another task answers 400 naming comment_id (as foreign ids in task bodies), a comment
the caller cannot see (or none) 404 like a missing one. Listing shows comment attachments with
comment_id set and filters with ?comment_id=; deleting a comment takes its attachments (and
their blob, when nothing else uses it); attachment.created carries the comment_id.
"""
from __future__ import annotations

import os

from support import (add_workspace_member, assert_problem, assert_validation_problem, new_account, new_project,
                     new_workspace)
from test_files import blobs, eventually, new_task, team


def comment(api, acc, task_id, body="with a file"):
    r = api.post(f"/api/v1/tasks/{task_id}/comments", headers=acc.headers, json={"body": body})
    assert r.status_code == 201, r.text
    return r.json()


def attach(api, acc, task_id, comment_id, data: bytes, name="c.bin", raw=False):
    url = f"/api/v1/tasks/{task_id}/attachments"
    if raw:
        return api.post(url, headers=acc.headers, params={"comment_id": comment_id, "name": name}, data=data)
    return api.post(url, headers=acc.headers, params={"comment_id": comment_id},
                    files={"file": (name, data, "application/octet-stream")})


def listing(api, acc, task_id, **params):
    r = api.get(f"/api/v1/tasks/{task_id}/attachments", headers=acc.headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_attach_to_own_comment_list_and_filter(api, server, admin):
    owner, member, viewer, ws, p, t = team(api)
    c = comment(api, member, t["id"])
    r = attach(api, member, t["id"], c["id"], b"on my comment " + os.urandom(8))
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["comment_id"] == c["id"] and a["task_id"] == t["id"]
    raw = attach(api, member, t["id"], c["id"], b"raw body on my comment", raw=True)
    assert raw.status_code == 201, raw.text
    assert raw.json()["comment_id"] == c["id"]
    # A project admin may attach to someone else's comment (as they may edit it).
    by_admin = attach(api, owner, t["id"], c["id"], b"admin's")
    assert by_admin.status_code == 201, by_admin.text
    plain = api.post(f"/api/v1/tasks/{t['id']}/attachments", headers=member.headers, files={"file": ("p", b"plain")})
    assert plain.status_code == 201 and plain.json()["comment_id"] is None
    other = comment(api, owner, t["id"], "another comment")

    items = listing(api, viewer, t["id"])
    assert [i["comment_id"] for i in items] == [c["id"], c["id"], c["id"], None]
    only = listing(api, viewer, t["id"], comment_id=c["id"])
    assert [i["id"] for i in only] == [a["id"], raw.json()["id"], by_admin.json()["id"]]
    page1 = api.get(f"/api/v1/tasks/{t['id']}/attachments", headers=viewer.headers,
                    params={"comment_id": c["id"], "limit": 2}).json()
    assert len(page1["items"]) == 2 and page1["next_cursor"]
    page2 = listing(api, viewer, t["id"], comment_id=c["id"], cursor=page1["next_cursor"])
    assert [i["id"] for i in page2] == [by_admin.json()["id"]]
    assert listing(api, viewer, t["id"], comment_id=other["id"]) == []
    assert_validation_problem(api.get(f"/api/v1/tasks/{t['id']}/attachments", headers=viewer.headers,
                                      params={"comment_id": "nope"}), fields=["comment_id"])
    assert api.get(f"/api/v1/attachments/{a['id']}", headers=viewer.headers).json()["comment_id"] == c["id"]

    def created_payload():
        after = 0
        while True:
            page = api.get("/api/v1/admin/events", headers=admin.headers, params={"after": after, "limit": 200}).json()
            for e in page["items"]:
                if e["type"] == "attachment.created" and e["entity_id"] == a["id"]:
                    return e["payload"]
            if not page["items"]:
                return None
            after = page["next_after"]
    assert eventually(lambda: created_payload() is not None)
    assert created_payload()["attachment"]["comment_id"] == c["id"]


def test_refusals(api):
    owner, member, viewer, ws, p, t = team(api)
    other = new_account(api)
    add_workspace_member(api, owner, ws["id"], other, "member")
    c = comment(api, member, t["id"])
    t2 = new_task(api, owner, p["id"], "second")
    c2 = comment(api, member, t2["id"])

    # A comment of another task (one the caller can see): 400 naming comment_id.
    body = assert_problem(attach(api, member, t["id"], c2["id"], b"x"), 400, fields=["comment_id"])
    assert body["type"].endswith("validation-error")
    # Not the author, not an admin: 403 (as for editing the comment); viewers never attach.
    assert_problem(attach(api, other, t["id"], c["id"], b"x"), 403)
    assert_problem(attach(api, viewer, t["id"], c["id"], b"x"), 403)
    # Not a UUID: 400 naming comment_id.
    assert_validation_problem(attach(api, member, t["id"], "not-a-uuid", b"x"), fields=["comment_id"])

    # B's own task, naming a comment of a project B cannot see: 404, exactly like no comment.
    b = new_account(api)
    bws = new_workspace(api, b, "B's")
    bp = new_project(api, b, bws["id"], "BCM")
    bt = new_task(api, b, bp["id"])
    hidden = assert_problem(attach(api, b, bt["id"], c["id"], b"x"), 404)
    missing = assert_problem(attach(api, b, bt["id"], "0192f5a8-0000-7000-8000-000000000000", b"x"), 404)
    assert hidden["type"] == missing["type"] and hidden["detail"] == missing["detail"]
    # And under the hidden task itself: 404 for the task, before the comment is looked at.
    assert_problem(attach(api, b, t["id"], c["id"], b"x"), 404)

    # A deleted comment is no comment.
    assert api.delete(f"/api/v1/comments/{c2['id']}", headers=member.headers).status_code == 204
    assert_problem(attach(api, member, t2["id"], c2["id"], b"x"), 404)
    # Nothing of the refusals was recorded.
    assert listing(api, owner, t["id"]) == [] and listing(api, owner, t2["id"]) == []


def test_deleting_a_comment_takes_its_attachments(api, server):
    owner, member, viewer, ws, p, t = team(api)
    c = comment(api, member, t["id"])
    keep = comment(api, member, t["id"], "kept")
    gone = attach(api, member, t["id"], c["id"], b"goes with the comment " + os.urandom(16)).json()
    shared_bytes = b"shared content " + os.urandom(16)
    shared = attach(api, member, t["id"], c["id"], shared_bytes).json()
    kept = attach(api, member, t["id"], keep["id"], shared_bytes).json()  # same blob as `shared`
    plain = api.post(f"/api/v1/tasks/{t['id']}/attachments", headers=member.headers,
                     files={"file": ("p", b"plain " + os.urandom(8))}).json()
    gone_key = f"sha256/{gone['sha256'][:2]}/{gone['sha256']}"
    shared_key = f"sha256/{shared['sha256'][:2]}/{shared['sha256']}"
    assert gone_key in blobs(server) and shared_key in blobs(server)

    assert api.delete(f"/api/v1/comments/{c['id']}", headers=owner.headers).status_code == 204
    for a in (gone, shared):
        assert_problem(api.get(f"/api/v1/attachments/{a['id']}", headers=member.headers), 404)
    assert {i["id"] for i in listing(api, member, t["id"])} == {kept["id"], plain["id"]}
    assert listing(api, member, t["id"], comment_id=c["id"]) == []
    assert eventually(lambda: gone_key not in blobs(server))
    assert shared_key in blobs(server)  # still used by the other comment's attachment
    assert api.get(f"/api/v1/attachments/{kept['id']}/content", headers=member.headers).content == shared_bytes
