"""Analytics: a data set built through the API whose every number is known, then every report
checked exactly (summary, throughput, burn-down/up, cumulative flow, cycle and lead time,
workspace summary, workload, the task export), in JSON, CSV and SVG; visibility (outsiders and
members who do not see a private project); bad parameters answered with problems naming them.

The read model is eventually consistent: `wait_for_versions` polls the export until it shows
the version of every task the test last saw (no blind sleeps)."""
from __future__ import annotations

import csv
import datetime
import io
import math
import time
from collections import Counter
from zoneinfo import ZoneInfo

from support import (add_workspace_member, assert_problem, assert_validation_problem, new_account, new_project,
                     new_workspace)


def states(api, acc, pid):
    return {s["group"]: s["id"] for s in api.get(f"/api/v1/projects/{pid}/states", headers=acc.headers).json()["items"]}


def create(api, acc, pid, **body):
    r = api.post(f"/api/v1/projects/{pid}/tasks", headers=acc.headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def patch(api, acc, tid, **body):
    r = api.patch(f"/api/v1/tasks/{tid}", headers=acc.headers, json=body)
    assert r.status_code == 200, r.text
    return r.json()


def export_rows(api, acc, pid, **params):
    r = api.get(f"/api/v1/projects/{pid}/export.csv", headers=acc.headers, params=params)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(r.text, newline="")))


def wait_for_versions(api, acc, pid, expect: dict, timeout=20.0):
    """Polls until the read model shows task id -> version (None: deleted, absent)."""
    deadline = time.time() + timeout
    while True:
        rows = {row["id"]: row for row in export_rows(api, acc, pid)}
        if all((tid not in rows) if v is None else (tid in rows and int(rows[tid]["version"]) == v)
               for tid, v in expect.items()):
            return rows
        assert time.time() < deadline, f"read model did not catch up: {expect} vs {rows}"
        time.sleep(0.05)


def ms(ts: str) -> int:
    return int(datetime.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000 + 0.5)


def percentile(values, p):
    """Linear interpolation between closest ranks (numpy's default), rounded half up."""
    v = sorted(values)
    pos = p / 100 * (len(v) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(v) - 1)
    return math.floor(v[lo] + (pos - lo) * (v[hi] - v[lo]) + 0.5)


def build(api):
    owner, member, guest, outsider = (new_account(api) for _ in range(4))
    ws = new_workspace(api, owner)
    add_workspace_member(api, owner, ws["id"], member, "member")
    add_workspace_member(api, owner, ws["id"], guest, "member")
    p = new_project(api, owner, ws["id"], "ANA")
    q = new_project(api, owner, ws["id"], "PRV", is_private=True)
    new_workspace(api, outsider, "Elsewhere")
    st = states(api, owner, p["id"])
    l1 = api.post(f"/api/v1/projects/{p['id']}/labels", headers=owner.headers, json={"name": "bug", "color": "#ff0000"}).json()
    l2 = api.post(f"/api/v1/projects/{p['id']}/labels", headers=owner.headers, json={"name": "ui", "color": "#00ff00"}).json()
    today = datetime.datetime.now(datetime.timezone.utc).date()
    t = {}
    t[1] = create(api, owner, p["id"], title="Overdue one", priority="high", estimate=3, assignee_ids=[member.id],
                  label_ids=[l1["id"]], due_date=str(today - datetime.timedelta(days=1)))
    t[2] = create(api, owner, p["id"], title="Done two", priority="low", estimate=5,
                  assignee_ids=[member.id, owner.id], label_ids=[l1["id"], l2["id"]])
    t[3] = create(api, owner, p["id"], title="In progress", due_date=str(today))
    t[4] = create(api, owner, p["id"], title="Cancelled", priority="urgent", estimate=2, assignee_ids=[owner.id])
    t[5] = create(api, owner, p["id"], title="Deleted", estimate=1)
    t[6] = create(api, owner, p["id"], title="=HYPERLINK(\"http://evil\",\"x\"), \"quoted\"")
    t[7] = create(api, owner, p["id"], title="Done seven", priority="medium", estimate=8, assignee_ids=[member.id])
    started = {}
    for i in (2, 7, 3):
        t[i] = patch(api, owner, t[i]["id"], state_id=st["started"])
        started[i] = ms(t[i]["updated_at"])
    for i in (2, 7):
        t[i] = patch(api, owner, t[i]["id"], state_id=st["completed"])
    t[4] = patch(api, owner, t[4]["id"], state_id=st["cancelled"])
    assert api.delete(f"/api/v1/tasks/{t[5]['id']}", headers=owner.headers).status_code == 204
    r = api.post(f"/api/v1/tasks/{t[6]['id']}/archive", headers=owner.headers)
    assert r.status_code == 200, r.text
    t[6] = r.json()
    qt = create(api, owner, q["id"], title="Private", estimate=4, assignee_ids=[owner.id])
    versions = {t[i]["id"]: t[i]["version"] for i in (1, 2, 3, 4, 6, 7)}
    versions[t[5]["id"]] = None
    wait_for_versions(api, owner, p["id"], versions)
    wait_for_versions(api, owner, q["id"], {qt["id"]: qt["version"]})
    return dict(owner=owner, member=member, guest=guest, outsider=outsider, ws=ws, p=p, q=q, st=st, l1=l1, l2=l2,
                t=t, started=started, today=today, qt=qt)


def by(items, key):
    return {i[key]: (i["total"], i["open"], i["open_points"]) for i in items}


def test_reports_are_exact(api):
    d = build(api)
    owner, member, p, st, t, today = d["owner"], d["member"], d["p"], d["st"], d["t"], d["today"]
    pid = p["id"]
    default_group = {v: k for k, v in st.items()}[t[1]["state_id"]]

    s = api.get(f"/api/v1/projects/{pid}/analytics/summary", headers=member.headers).json()
    assert (s["total"], s["open"], s["open_points"]) == (5, 2, 3)
    monday = today - datetime.timedelta(days=today.weekday())
    yesterday = today - datetime.timedelta(days=1)
    assert s["overdue"] == 1 and s["unassigned"] == 1
    assert s["due_this_week"] == 1 + (1 if yesterday >= monday else 0)
    assert s["as_of"]["lag_events"] >= 0 and s["as_of"]["seq"] > 0
    groups = by(s["by_state_group"], "group")
    expect_groups = {"backlog": (0, 0, 0), "unstarted": (0, 0, 0), "started": (1, 1, 0), "completed": (2, 0, 0),
                     "cancelled": (1, 0, 0)}
    expect_groups[default_group] = (1, 1, 3)
    assert groups == expect_groups
    assert by(s["by_priority"], "priority") == {"none": (1, 1, 0), "low": (1, 0, 0), "medium": (1, 0, 0),
                                                 "high": (1, 1, 3), "urgent": (1, 0, 0)}
    assert by(s["by_assignee"], "user_id") == {member.id: (3, 1, 3), owner.id: (2, 0, 0)}
    assert by(s["by_label"], "label_id") == {d["l1"]["id"]: (2, 1, 3), d["l2"]["id"]: (1, 0, 0)}
    states_count = {x["state_id"]: (x["total"], x["open"]) for x in s["by_state"]}
    assert states_count[st["started"]] == (1, 1) and states_count[st["completed"]] == (2, 0)

    # throughput: today 7 created (deleted and archived ones too), 2 completed
    rng = {"from": str(today - datetime.timedelta(days=2)), "to": str(today)}
    th = api.get(f"/api/v1/projects/{pid}/analytics/throughput", headers=member.headers, params=rng).json()
    assert [x["date"] for x in th["series"]] == [str(today - datetime.timedelta(days=k)) for k in (2, 1, 0)]
    zero = {"created": 0, "completed": 0, "created_points": 0, "completed_points": 0}
    assert [{k: x[k] for k in zero} for x in th["series"]] == [zero, zero, {
        "created": 7, "completed": 2, "created_points": 19, "completed_points": 13}]
    assert (th["created"], th["completed"]) == (7, 2)
    wk = api.get(f"/api/v1/projects/{pid}/analytics/throughput", headers=member.headers,
                 params={**rng, "interval": "week"}).json()
    assert wk["series"][-1]["date"] == str(monday) and wk["series"][-1]["created"] == 7

    bd = api.get(f"/api/v1/projects/{pid}/analytics/burndown", headers=member.headers, params=rng).json()
    assert bd["series"][0] == {"date": rng["from"], "scope": 0, "completed": 0, "remaining": 0, "scope_points": 0,
                               "completed_points": 0, "remaining_points": 0}
    assert bd["series"][-1] == {"date": str(today), "scope": 4, "completed": 2, "remaining": 2, "scope_points": 16,
                                "completed_points": 13, "remaining_points": 3}

    cf = api.get(f"/api/v1/projects/{pid}/analytics/cumulative-flow", headers=member.headers, params=rng).json()
    expect_flow = {"date": str(today), "backlog": 0, "unstarted": 0, "started": 1, "completed": 2, "cancelled": 1}
    expect_flow[default_group] = 1
    assert cf["series"][-1] == expect_flow
    assert all(v == 0 for k, v in cf["series"][0].items() if k != "date")

    ct = api.get(f"/api/v1/projects/{pid}/analytics/cycle-time", headers=member.headers,
                 params={**rng, "limit": 1}).json()
    done = sorted((ms(t[i]["completed_at"]), t[i]["id"], i) for i in (2, 7))
    cycles = [ms(t[i]["completed_at"]) - d["started"][i] for i in (2, 7)]
    leads = [ms(t[i]["completed_at"]) - ms(t[i]["created_at"]) for i in (2, 7)]
    assert ct["cycle_time"] == {"count": 2, "median_ms": percentile(cycles, 50), "p85_ms": percentile(cycles, 85)}
    assert ct["lead_time"] == {"count": 2, "median_ms": percentile(leads, 50), "p85_ms": percentile(leads, 85)}
    first = done[0][2]
    assert [x["task_id"] for x in ct["items"]] == [t[first]["id"]] and ct["next_cursor"]
    assert ct["items"][0]["cycle_time_ms"] == ms(t[first]["completed_at"]) - d["started"][first]
    assert ct["items"][0]["lead_time_ms"] == ms(t[first]["completed_at"]) - ms(t[first]["created_at"])
    ct2 = api.get(f"/api/v1/projects/{pid}/analytics/cycle-time", headers=member.headers,
                  params={**rng, "limit": 1, "cursor": ct["next_cursor"]}).json()
    assert [x["task_id"] for x in ct2["items"]] == [done[1][1]]

    # workspace: the owner sees the private project; a member who is not in it does not
    ws = d["ws"]["id"]
    wo = api.get(f"/api/v1/workspaces/{ws}/analytics/summary", headers=owner.headers).json()
    assert (wo["projects"], wo["total"], wo["open"], wo["open_points"]) == (2, 6, 3, 7)
    wg = api.get(f"/api/v1/workspaces/{ws}/analytics/summary", headers=d["guest"].headers).json()
    assert (wg["projects"], wg["total"], wg["open"], wg["open_points"]) == (1, 5, 2, 3)
    wl = api.get(f"/api/v1/workspaces/{ws}/analytics/workload", headers=owner.headers).json()
    assert [(x["user_id"], x["open"], x["open_points"]) for x in wl["items"]] == [(owner.id, 1, 4), (member.id, 1, 3)]
    wlg = api.get(f"/api/v1/workspaces/{ws}/analytics/workload", headers=d["guest"].headers).json()
    assert [(x["user_id"], x["open"], x["open_points"]) for x in wlg["items"]] == [(member.id, 1, 3)]


def test_csv_svg_and_export(api):
    d = build(api)
    member, pid, t, today = d["member"], d["p"]["id"], d["t"], d["today"]
    rng = {"from": str(today - datetime.timedelta(days=1)), "to": str(today)}
    r = api.get(f"/api/v1/projects/{pid}/analytics/throughput", headers={**member.headers, "Accept": "text/csv"},
                params=rng)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    assert r.text == ("date,created,completed,created_points,completed_points\r\n"
                      f"{rng['from']},0,0,0,0\r\n{rng['to']},7,2,19,13\r\n")
    r = api.get(f"/api/v1/projects/{pid}/analytics/summary", headers=member.headers, params={"format": "csv"})
    rows = list(csv.reader(io.StringIO(r.text, newline="")))
    assert rows[0] == ["dimension", "key", "name", "total", "open", "open_points"]
    assert rows[1] == ["all", "", "", "5", "2", "3"] and ["overdue", "", "", "", "1", ""] in rows
    for path, legend in (("throughput", ["created", "completed"]), ("burndown", ["scope", "completed", "remaining"]),
                         ("cumulative-flow", ["backlog", "unstarted", "started", "completed", "cancelled"])):
        r = api.get(f"/api/v1/projects/{pid}/analytics/{path}", headers=member.headers, params={**rng, "format": "svg"})
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("image/svg+xml")
        assert r.text.startswith("<svg") and "<script" not in r.text and "href" not in r.text
        shapes = "<polygon" if path == "cumulative-flow" else "<polyline"  # the flow is stacked bands
        assert r.text.count(shapes) == len(legend)
        for name in legend:
            assert f">{name}</text>" in r.text
        assert f">{rng['to']}</text>" in r.text  # x axis label
    # export: every field; formula and quotes neutralised and escaped (RFC 4180)
    r = api.get(f"/api/v1/projects/{pid}/export.csv", headers=member.headers)
    assert '"\'=HYPERLINK(""http://evil"",""x""), ""quoted"""' in r.text
    rows = {row["id"]: row for row in csv.DictReader(io.StringIO(r.text, newline=""))}
    assert t[5]["id"] not in rows and len(rows) == 6
    row = rows[t[2]["id"]]
    assert row["key"] == "ANA-2" and row["state_group"] == "completed" and row["priority"] == "low"
    assert row["estimate"] == "5" and sorted(row["assignee_ids"].split()) == sorted(t[2]["assignee_ids"])
    assert row["completed_at"] == t[2]["completed_at"] and row["version"] == str(t[2]["version"])
    assert rows[t[6]["id"]]["title"].startswith("'=HYPERLINK") and rows[t[6]["id"]]["archived_at"]
    r = api.get(f"/api/v1/projects/{pid}/export.csv", headers=member.headers, params={"limit": 4})
    assert len(list(csv.DictReader(io.StringIO(r.text, newline="")))) == 4
    assert r.headers["Link"] == f'</api/v1/projects/{pid}/export.csv?after=4&limit=4>; rel="next"'
    rest = export_rows(api, member, pid, after=4, limit=4)
    assert [int(x["number"]) for x in rest] == [6, 7]


def test_visibility_and_bad_parameters(api):
    d = build(api)
    outsider, guest, pid, qid, ws = d["outsider"], d["guest"], d["p"]["id"], d["q"]["id"], d["ws"]["id"]
    routes = [f"/api/v1/projects/{pid}/analytics/{x}" for x in
              ("summary", "throughput", "burndown", "cumulative-flow", "cycle-time")]
    routes += [f"/api/v1/projects/{pid}/export.csv", f"/api/v1/workspaces/{ws}/analytics/summary",
               f"/api/v1/workspaces/{ws}/analytics/workload"]
    for route in routes:
        assert_problem(api.get(route, headers=outsider.headers, params={"format": "csv"}), 404)
        assert_problem(api.get(route.replace(pid, "not-a-uuid").replace(ws, "not-a-uuid"), headers=outsider.headers), 404)
    for route in [r.replace(pid, qid) for r in routes[:6]]:  # the private project: 404 for a member not in it
        assert_problem(api.get(route, headers=guest.headers), 404)
    owner = d["owner"]
    base = f"/api/v1/projects/{pid}/analytics/throughput"
    for params, field in (({"from": "2026-02-30"}, "from"), ({"to": "yesterday"}, "to"), ({"interval": "month"}, "interval"),
                          ({"tz": "Mars/Olympus"}, "tz"), ({"tz": "../etc/passwd"}, "tz"),
                          ({"from": "2026-01-10", "to": "2026-01-01"}, "from"),
                          ({"from": "2024-01-01", "to": "2025-12-31"}, "to"), ({"format": "xml"}, "format")):
        assert_validation_problem(api.get(base, headers=owner.headers, params=params), [field])
    assert_validation_problem(api.get(f"/api/v1/projects/{pid}/analytics/summary", headers=owner.headers,
                                      params={"format": "svg"}), ["format"])
    assert_validation_problem(api.get(f"/api/v1/projects/{pid}/export.csv", headers=owner.headers,
                                      params={"limit": "0", "after": "-1"}), ["after", "limit"])



def test_time_zones(api):
    """Days of another zone (+14:00, -09:30 and +05:45): counted by the local date of each change."""
    d = build(api)
    owner, pid, t = d["owner"], d["p"]["id"], d["t"]
    for zone in ("Pacific/Kiritimati", "Pacific/Marquesas", "Asia/Kathmandu"):
        tz = ZoneInfo(zone)
        local = lambda ts: datetime.datetime.fromtimestamp(ms(ts) / 1000, tz).date()  # noqa: E731
        created, completed = Counter(), Counter()
        for i in range(1, 8):
            created[str(local(t[i]["created_at"]))] += 1
        for i in (2, 7):
            completed[str(local(t[i]["completed_at"]))] += 1
        today = datetime.datetime.now(tz).date()
        params = {"tz": zone, "from": str(today - datetime.timedelta(days=2)), "to": str(today)}
        r = api.get(f"/api/v1/projects/{pid}/analytics/throughput", headers=owner.headers, params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["tz"] == zone and len(body["series"]) == 3
        assert {x["date"]: x["created"] for x in body["series"] if x["created"]} == dict(created)
        assert {x["date"]: x["completed"] for x in body["series"] if x["completed"]} == dict(completed)
        bd = api.get(f"/api/v1/projects/{pid}/analytics/burndown", headers=owner.headers, params=params).json()
        assert bd["series"][-1]["scope"] == 4 and bd["series"][-1]["completed"] == 2
