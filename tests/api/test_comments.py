"""Comments: create/list (oldest first, paginated), @mentions of project members, edit/delete own
(project admins any), ETag/If-Match."""
from support import assert_problem, assert_validation_problem, add_workspace_member, new_account, new_project, \
    new_workspace


def test_comments_mentions_edit_delete(api):
    owner, member, other = (new_account(api) for _ in range(3))
    stranger = new_account(api)
    ws = new_workspace(api, owner)
    add_workspace_member(api, owner, ws["id"], member, "member")
    add_workspace_member(api, owner, ws["id"], other, "member")
    p = new_project(api, owner, ws["id"], "CMT")
    t = api.post(f"/api/v1/projects/{p['id']}/tasks", headers=owner.headers, json={"title": "t"}).json()
    base = f"/api/v1/tasks/{t['id']}/comments"
    r = api.post(base, headers=member.headers, json={"body": f"hi @{owner.id} and @{stranger.id}"})
    assert r.status_code == 201, r.text
    c1 = r.json()
    assert c1["mention_ids"] == [owner.id] and c1["author_id"] == member.id and r.headers["ETag"] == '"v1"'
    assert r.headers["Location"].endswith(c1["id"])
    c2 = api.post(base, headers=other.headers, json={"body": "second"}).json()
    page = api.get(base, headers=owner.headers, params={"limit": 1}).json()
    assert [c["id"] for c in page["items"]] == [c1["id"]] and page["next_cursor"]
    page2 = api.get(base, headers=owner.headers, params={"limit": 1, "cursor": page["next_cursor"]}).json()
    assert [c["id"] for c in page2["items"]] == [c2["id"]] and page2["next_cursor"] is None
    assert_validation_problem(api.post(base, headers=member.headers, json={"body": ""}), ["body"])
    assert_validation_problem(api.post(base, headers=member.headers, json={"body": "x" * 16385}), ["body"])
    url = f"/api/v1/comments/{c1['id']}"
    # others may not edit; the author may; admins may
    assert_problem(api.patch(url, headers=other.headers, json={"body": "nope"}), 403)
    r = api.patch(url, headers={**member.headers, "If-Match": '"v1"'}, json={"body": "edited"})
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["mention_ids"] == []
    assert_problem(api.patch(url, headers={**owner.headers, "If-Match": '"v1"'}, json={"body": "stale"}), 412)
    assert api.get(url, headers=other.headers).json()["body"] == "edited"
    assert_problem(api.delete(url, headers=other.headers), 403)
    assert api.delete(url, headers=owner.headers).status_code == 204
    assert_problem(api.get(url, headers=owner.headers), 404)
    kinds = [a["kind"] for a in api.get(f"/api/v1/tasks/{t['id']}/activity", headers=owner.headers).json()["items"]]
    assert kinds[:4] == ["comment_deleted", "comment_edited", "comment_added", "comment_added"]
