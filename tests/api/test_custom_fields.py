"""Custom fields per project: define / list / get / edit / delete (project admins), values set on
tasks through PATCH /tasks/{id} (checked by type; a field of another project refused with nothing
changed), returned in the task JSON, filtered with ?cf.<field id>=..., recorded in the activity;
authorization (outsiders 404, viewers and members 403 on definitions, viewers 403 on values); and
the label-deleted hook (a deleted label disappears from its tasks)."""
from support import assert_problem, assert_validation_problem

from test_tasks import create, setup_team


def define(api, acc, pid, **body):
    r = api.post(f"/api/v1/projects/{pid}/custom-fields", headers=acc.headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def cf_ids(api, acc, pid, **params):
    r = api.get(f"/api/v1/projects/{pid}/tasks", headers=acc.headers, params=params)
    assert r.status_code == 200, r.text
    return {t["id"] for t in r.json()["items"]}


def test_define_list_edit_delete(api):
    ws, p, q, owner, member, viewer, outsider = setup_team(api)
    base = f"/api/v1/projects/{p['id']}/custom-fields"
    r = api.post(base, headers=owner.headers, json={
        "name": "Severity", "type": "single_select",
        "options": [{"name": "Low"}, {"name": "High", "color": "#ef4444"}]})
    assert r.status_code == 201, r.text
    f = r.json()
    assert set(f) == {"id", "project_id", "name", "type", "options", "version", "created_at", "updated_at"}
    assert f["type"] == "single_select" and [o["name"] for o in f["options"]] == ["Low", "High"]
    assert f["options"][1]["color"] == "#ef4444" and f["options"][0]["color"] is None
    assert r.headers["Location"].endswith(f["id"]) and r.headers["ETag"] == '"v1"'
    # members and viewers cannot define; outsiders do not see the project
    for acc, status in ((member, 403), (viewer, 403), (outsider, 404)):
        assert_problem(api.post(base, headers=acc.headers, json={"name": "X", "type": "text"}), status)
    # validation
    assert_validation_problem(api.post(base, headers=owner.headers, json={"name": "", "type": "colour", "x": 1}),
                              ["name", "type", "x"])
    assert_validation_problem(api.post(base, headers=owner.headers, json={"name": "T", "type": "text",
                                                                           "options": [{"name": "a"}]}), ["options"])
    assert_validation_problem(api.post(base, headers=owner.headers, json={
        "name": "S", "type": "multi_select", "options": [{"name": "a", "color": "red"}]}), ["options[0].color"])
    assert_problem(api.post(base, headers=owner.headers, json={"name": "severity", "type": "text"}), 409,
                   "custom-field-name-taken")
    # list / get
    listed = api.get(base, headers=viewer.headers)
    assert listed.status_code == 200 and [x["id"] for x in listed.json()["items"]] == [f["id"]]
    assert api.get(f"{base}/{f['id']}", headers=member.headers).json() == f
    assert_problem(api.get(base, headers=outsider.headers), 404)
    assert_problem(api.get(f"{base}/{f['id']}", headers=outsider.headers), 404)
    assert_problem(api.get(f"/api/v1/projects/{q['id']}/custom-fields/{f['id']}", headers=owner.headers), 404)
    # rename and edit options (If-Match)
    url = f"{base}/{f['id']}"
    assert_problem(api.patch(url, headers=member.headers, json={"name": "Impact"}), 403)
    assert_problem(api.patch(url, headers=viewer.headers, json={"name": "Impact"}), 403)
    assert_problem(api.patch(url, headers=outsider.headers, json={"name": "Impact"}), 404)
    assert_problem(api.patch(url, headers={**owner.headers, "If-Match": '"v9"'}, json={"name": "Impact"}), 412)
    r = api.patch(url, headers={**owner.headers, "If-Match": '"v1"'}, json={
        "name": "Impact", "options": [f["options"][1], {"name": "Critical"}]})
    assert r.status_code == 200, r.text
    g = r.json()
    assert g["name"] == "Impact" and g["version"] == 2 and r.headers["ETag"] == '"v2"'
    assert [o["name"] for o in g["options"]] == ["High", "Critical"] and g["options"][0]["id"] == f["options"][1]["id"]
    # delete
    assert_problem(api.delete(url, headers=member.headers), 403)
    assert_problem(api.delete(url, headers=outsider.headers), 404)
    assert api.get(url, headers=owner.headers).json()["name"] == "Impact"
    assert api.delete(url, headers=owner.headers).status_code == 204
    assert_problem(api.get(url, headers=owner.headers), 404)
    assert api.get(base, headers=owner.headers).json()["items"] == []


def test_values_filters_and_activity(api):
    ws, p, q, owner, member, viewer, outsider = setup_team(api)
    pid = p["id"]
    text = define(api, owner, pid, name="Notes", type="text")
    num = define(api, owner, pid, name="Points", type="number")
    date = define(api, owner, pid, name="Review", type="date")
    sev = define(api, owner, pid, name="Severity", type="single_select", options=[{"name": "Low"}, {"name": "High"}])
    tags = define(api, owner, pid, name="Tags", type="multi_select",
                  options=[{"name": "a"}, {"name": "b"}, {"name": "c"}])
    who = define(api, owner, pid, name="Owner", type="user")
    foreign = define(api, owner, q["id"], name="Notes", type="text")
    a, b = (o["id"] for o in tags["options"][:2])
    t = create(api, member, pid, title="first")
    u = create(api, member, pid, title="second")
    url = f"/api/v1/tasks/{t['id']}"
    assert t["custom_fields"] == {}

    values = {text["id"]: "hello", num["id"]: 2.5, date["id"]: "2026-02-03", sev["id"]: sev["options"][1]["id"],
              tags["id"]: [b, a], who["id"]: member.id}
    r = api.patch(url, headers=member.headers, json={"custom_fields": values})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["custom_fields"] == {**values, tags["id"]: sorted([a, b])} and got["version"] == 2
    assert api.get(url, headers=viewer.headers).json() == got
    r = api.patch(f"/api/v1/tasks/{u['id']}", headers=owner.headers,
                  json={"custom_fields": {tags["id"]: [b], num["id"]: 3}})
    assert r.status_code == 200 and r.json()["custom_fields"] == {tags["id"]: [b], num["id"]: 3}

    # wrong values and fields of another project: 400, nothing changed (not even the title)
    for bad in ({text["id"]: "x" * 2001}, {text["id"]: 5}, {text["id"]: "a\u0001b"}, {text["id"]: ""},
                {num["id"]: "2"}, {date["id"]: "2026-02-30"}, {sev["id"]: a}, {tags["id"]: [sev["options"][0]["id"]]},
                {tags["id"]: "a"}, {who["id"]: outsider.id}, {foreign["id"]: "x"}, {"not-a-field": "x"}):
        body = assert_validation_problem(api.patch(url, headers=member.headers,
                                                   json={"title": "changed", "custom_fields": bad}))
        assert body["errors"][0]["field"].startswith("custom_fields"), body
    assert_validation_problem(api.patch(url, headers=member.headers, json={"custom_fields": [1]}), ["custom_fields"])
    assert api.get(url, headers=member.headers).json() == got
    # viewers cannot set values; outsiders do not see the task
    assert_problem(api.patch(url, headers=viewer.headers, json={"custom_fields": {text["id"]: None}}), 403)
    assert_problem(api.patch(url, headers=outsider.headers, json={"custom_fields": {text["id"]: None}}), 404)
    assert api.get(url, headers=member.headers).json() == got

    # filters: equality, multi_select contains, numbers as numbers; combined with AND
    assert cf_ids(api, member, pid, **{f"cf.{text['id']}": "hello"}) == {t["id"]}
    assert cf_ids(api, member, pid, **{f"cf.{tags['id']}": b}) == {t["id"], u["id"]}
    assert cf_ids(api, member, pid, **{f"cf.{tags['id']}": a}) == {t["id"]}
    assert cf_ids(api, member, pid, **{f"cf.{num['id']}": "2.50"}) == {t["id"]}
    assert cf_ids(api, member, pid, **{f"cf.{num['id']}": "3", f"cf.{tags['id']}": b}) == {u["id"]}
    assert cf_ids(api, member, pid, **{f"cf.{who['id']}": member.id}) == {t["id"]}
    assert cf_ids(api, member, pid, **{f"cf.{date['id']}": "2026-02-04"}) == set()
    tasks_url = f"/api/v1/projects/{pid}/tasks"
    assert_validation_problem(api.get(tasks_url, headers=member.headers, params={f"cf.{foreign['id']}": "x"}),
                              [f"cf.{foreign['id']}"])
    assert_validation_problem(api.get(tasks_url, headers=member.headers, params={f"cf.{num['id']}": "abc"}))
    assert_validation_problem(api.get(tasks_url, headers=member.headers, params={"cf.nope": "x"}))
    # my tasks takes the same filter
    api.patch(f"/api/v1/tasks/{u['id']}", headers=member.headers, json={"assignee_ids": [member.id]})
    mine = api.get("/api/v1/users/me/tasks", headers=member.headers, params={f"cf.{num['id']}": "3"})
    assert mine.status_code == 200 and [x["id"] for x in mine.json()["items"]] == [u["id"]]

    # activity records the change
    act = api.get(f"{url}/activity", headers=viewer.headers).json()["items"]
    notes = [x for x in act if x["field"] == f"custom_fields.{text['id']}"]
    assert notes and notes[0]["old_value"] is None and notes[0]["new_value"] == "hello"

    # clearing; dropping an option removes its values; deleting a field removes its values
    r = api.patch(url, headers=member.headers, json={"custom_fields": {text["id"]: None, tags["id"]: []}})
    assert r.status_code == 200 and text["id"] not in r.json()["custom_fields"]
    assert tags["id"] not in r.json()["custom_fields"]
    r = api.patch(f"/api/v1/projects/{pid}/custom-fields/{sev['id']}", headers=owner.headers,
                  json={"options": [sev["options"][0]]})
    assert r.status_code == 200, r.text
    assert sev["id"] not in api.get(url, headers=member.headers).json()["custom_fields"]
    assert api.delete(f"/api/v1/projects/{pid}/custom-fields/{num['id']}", headers=owner.headers).status_code == 204
    assert num["id"] not in api.get(url, headers=member.headers).json()["custom_fields"]
    assert api.get(f"/api/v1/tasks/{u['id']}", headers=member.headers).json()["custom_fields"] == {tags["id"]: [b]}
    assert_validation_problem(api.get(tasks_url, headers=member.headers, params={f"cf.{num['id']}": "3"}))


def test_deleted_label_leaves_its_tasks(api):
    ws, p, q, owner, member, viewer, outsider = setup_team(api)
    labels = [api.post(f"/api/v1/projects/{p['id']}/labels", headers=owner.headers,
                       json={"name": n, "color": "#ff0000"}).json() for n in ("bug", "ui")]
    t = create(api, member, p["id"], label_ids=[x["id"] for x in labels])
    other = create(api, member, p["id"], label_ids=[labels[1]["id"]])
    r = api.delete(f"/api/v1/projects/{p['id']}/labels/{labels[0]['id']}", headers=owner.headers)
    assert r.status_code == 204, r.text
    after = api.get(f"/api/v1/tasks/{t['id']}", headers=member.headers).json()
    assert after["label_ids"] == [labels[1]["id"]] and after["version"] == t["version"] + 1
    assert api.get(f"/api/v1/tasks/{other['id']}", headers=member.headers).json()["version"] == other["version"]
    listed = cf_ids(api, member, p["id"], label_id=labels[0]["id"])
    assert listed == set()
