"""Recurring tasks: a task may repeat (every N days, weekly on given weekdays, monthly on a day);
completing it creates the next occurrence with the next dates, once, however often the task
is completed, reopened and completed again."""
from support import assert_validation_problem, new_account, new_project, new_workspace


def team(api):
    owner = new_account(api)
    ws = new_workspace(api, owner)
    p = new_project(api, owner, ws["id"], "REC")
    groups = {s["group"]: s["id"] for s in api.get(f"/api/v1/projects/{p['id']}/states",
                                                   headers=owner.headers).json()["items"]}
    return owner, p, groups


def tasks_of(api, acc, pid):
    return api.get(f"/api/v1/projects/{pid}/tasks?limit=200&sort=number", headers=acc.headers).json()["items"]


def test_weekly_task_repeats_on_completion_once(api):
    owner, p, st = team(api)
    label = api.post(f"/api/v1/projects/{p['id']}/labels", headers=owner.headers,
                     json={"name": "chore", "color": "#00aa00"}).json()
    rule = {"frequency": "weekly", "weekdays": ["mon", "thu"]}
    r = api.post(f"/api/v1/projects/{p['id']}/tasks", headers=owner.headers, json={
        "title": "Water the plants", "description": "all of them", "priority": "low",
        "assignee_ids": [owner.id], "label_ids": [label["id"]],
        "start_date": "2026-11-24", "due_date": "2026-11-26", "recurrence": rule})
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["recurrence"] == {"frequency": "weekly", "interval": 1, "weekdays": ["mon", "thu"]}
    done = api.patch(f"/api/v1/tasks/{t['id']}", headers=owner.headers, json={"state_id": st["completed"]})
    assert done.status_code == 200, done.text
    nxt_id = done.json()["next_occurrence_id"]
    assert nxt_id
    nxt = api.get(f"/api/v1/tasks/{nxt_id}", headers=owner.headers).json()
    # 2026-11-26 is a Thursday: next is Monday 2026-11-30; the start date keeps its 2-day lead.
    assert nxt["due_date"] == "2026-11-30" and nxt["start_date"] == "2026-11-28"
    assert nxt["title"] == "Water the plants" and nxt["description"] == "all of them"
    assert nxt["priority"] == "low" and nxt["assignee_ids"] == [owner.id] and nxt["label_ids"] == [label["id"]]
    assert nxt["recurrence"] == t["recurrence"] and nxt["completed_at"] is None
    assert nxt["state_id"] != st["completed"] and nxt["number"] == "REC-2"
    # Reopen and complete again: no second occurrence.
    assert api.patch(f"/api/v1/tasks/{t['id']}", headers=owner.headers,
                     json={"state_id": st["started"]}).status_code == 200
    again = api.patch(f"/api/v1/tasks/{t['id']}", headers=owner.headers, json={"state_id": st["completed"]})
    assert again.status_code == 200 and again.json()["next_occurrence_id"] == nxt_id
    assert len(tasks_of(api, owner, p["id"])) == 2


def test_monthly_and_daily_and_bulk_completion(api):
    owner, p, st = team(api)
    m = api.post(f"/api/v1/projects/{p['id']}/tasks", headers=owner.headers, json={
        "title": "Pay rent", "due_date": "2027-01-31", "recurrence": {"frequency": "monthly", "day": 31}}).json()
    d = api.post(f"/api/v1/projects/{p['id']}/tasks", headers=owner.headers, json={
        "title": "Standup notes", "due_date": "2026-12-30", "recurrence": {"frequency": "daily", "interval": 3}}).json()
    r = api.post(f"/api/v1/projects/{p['id']}/tasks/bulk", headers=owner.headers,
                 json={"task_ids": [m["id"], d["id"]], "changes": {"state_id": st["completed"]}})
    assert r.status_code == 200, r.text
    by_title = {}
    for t in tasks_of(api, owner, p["id"]):
        by_title.setdefault(t["title"], []).append(t)
    assert [t["due_date"] for t in by_title["Pay rent"]] == ["2027-01-31", "2027-02-28"]
    assert [t["due_date"] for t in by_title["Standup notes"]] == ["2026-12-30", "2027-01-02"]


def test_recurrence_validation_and_removal(api):
    owner, p, st = team(api)
    url = f"/api/v1/projects/{p['id']}/tasks"
    for bad in ({"frequency": "yearly"}, {"frequency": "weekly"}, {"frequency": "monthly", "day": 40},
                {"frequency": "daily", "interval": 0}, "daily"):
        assert_validation_problem(api.post(url, headers=owner.headers, json={"title": "x", "recurrence": bad}),
                                  ["recurrence"])
    assert tasks_of(api, owner, p["id"]) == []
    t = api.post(url, headers=owner.headers, json={"title": "x", "due_date": "2026-12-01",
                                                    "recurrence": {"frequency": "daily"}}).json()
    r = api.patch(f"/api/v1/tasks/{t['id']}", headers=owner.headers, json={"recurrence": None})
    assert r.status_code == 200 and r.json()["recurrence"] is None
    done = api.patch(f"/api/v1/tasks/{t['id']}", headers=owner.headers, json={"state_id": st["completed"]})
    assert done.json()["next_occurrence_id"] is None
    assert len(tasks_of(api, owner, p["id"])) == 1


def test_outsider_cannot_see_occurrences(api):
    owner, p, st = team(api)
    outsider = new_account(api)
    t = api.post(f"/api/v1/projects/{p['id']}/tasks", headers=owner.headers, json={
        "title": "x", "due_date": "2026-12-01", "recurrence": {"frequency": "daily"}}).json()
    nxt = api.patch(f"/api/v1/tasks/{t['id']}", headers=owner.headers,
                    json={"state_id": st["completed"]}).json()["next_occurrence_id"]
    assert api.get(f"/api/v1/tasks/{nxt}", headers=outsider.headers).status_code == 404
    assert api.patch(f"/api/v1/tasks/{t['id']}", headers=outsider.headers,
                     json={"recurrence": {"frequency": "daily"}}).status_code == 404
