"""`taskhub seed`: users, then a workspace with projects and tasks (SQLite and PostgreSQL)."""
import re
import subprocess
import tempfile

from support import Client, TaskhubProcess, login, taskhub_bin


def _seed(db_url, args, timeout=120):
    env = TaskhubProcess(db_url).env()
    with tempfile.TemporaryDirectory(prefix="taskhub-seed-") as wd:
        return subprocess.run([taskhub_bin(), "seed", *args], env=env, cwd=wd, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


def test_seed_help():
    cp = _seed("sqlite::memory:", ["--help"])
    assert cp.returncode == 0 and "Usage: taskhub seed" in cp.stdout and "--users" in cp.stdout, cp
    for flag in ("--workspace", "--projects", "--tasks", "--comments-per-task", "--seed"):
        assert flag in cp.stdout, flag


def test_seed_rejects_bad_options():
    assert _seed("sqlite::memory:", ["--users", "x"]).returncode == 2
    assert _seed("sqlite::memory:", ["--password", "short"]).returncode == 2
    assert _seed("sqlite::memory:", ["--nope"]).returncode == 2
    assert _seed("sqlite::memory:", ["--tasks", "-3"]).returncode == 2
    assert _seed("sqlite::memory:", ["--projects", "0"]).returncode == 2
    assert _seed("sqlite::memory:", ["--users", "0", "--workspace", "W"]).returncode == 2


def test_seed_users_can_log_in_and_rerun_is_safe(server_factory, new_database_url):
    url = new_database_url()
    cp = _seed(url, ["--users", "5", "--password", "seed-pass-123", "--email-prefix", "bench"])
    assert cp.returncode == 0, cp.stderr
    assert "users: 5 created, 0 already existed" in cp.stdout, cp.stdout
    assert "bench-000001@example.test" in cp.stdout
    cp = _seed(url, ["--users", "7", "--password", "seed-pass-123", "--email-prefix", "bench"])
    assert cp.returncode == 0, cp.stderr
    assert "users: 2 created, 5 already existed" in cp.stdout, cp.stdout
    srv = server_factory(database_url=url)
    api = Client(srv.url)
    for i in (1, 7):
        login(api, f"bench-{i:06d}@example.test", password="seed-pass-123")


def test_seed_workspace_projects_and_tasks_are_usable_through_the_api(server_factory, new_database_url):
    url = new_database_url()
    cp = _seed(url, ["--users", "6", "--workspace", "Seeded", "--projects", "2", "--tasks", "301",
                     "--comments-per-task", "2", "--batch", "500"])
    assert cp.returncode == 0, cp.stderr
    assert "tasks: 301 (" in cp.stdout and "projects: 2 (WEB, API)" in cp.stdout, cp.stdout
    srv = server_factory(database_url=url)
    api = Client(srv.url)
    token = login(api, "seed-user-000001@example.test", password="seed-password").json()["access_token"]
    h = {"Authorization": f"Bearer {token}"}
    wss = api.get("/api/v1/workspaces", headers=h).json()["items"]
    ws = next(w for w in wss if w["name"] == "Seeded")
    projects = api.get(f"/api/v1/workspaces/{ws['id']}/projects", headers=h).json()["items"]
    web = next(p for p in projects if p["key"] == "WEB")
    seen, cursor = [], None
    while True:
        q = f"?limit=100{'&cursor=' + cursor if cursor else ''}"
        r = api.get(f"/api/v1/projects/{web['id']}/tasks{q}", headers=h)
        assert r.status_code == 200, r.text
        seen += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    # WEB gets 151 of the 301 tasks; archived ones are listed only with archived=true.
    archived = api.get(f"/api/v1/projects/{web['id']}/tasks?archived=true&limit=200", headers=h).json()["items"]
    assert len(seen) + len(archived) == 151
    assert any(t["assignee_ids"] for t in seen) and any(t["label_ids"] for t in seen)
    assert any(t["due_date"] for t in seen)
    # The per-project counter continues after the seeded numbers.
    r = api.post(f"/api/v1/projects/{web['id']}/tasks", json={"title": "after seed"}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["number"] == "WEB-152"
    t = seen[0]
    assert api.get(f"/api/v1/tasks/{t['id']}/comments", headers=h).status_code == 200
    # Relations (5% of tasks) and reactions (20%) are seeded and visible through the API.
    m = re.search(r"(\d+) relations, (\d+) reactions", cp.stdout)
    assert m and int(m.group(1)) > 0 and int(m.group(2)) > 0, cp.stdout
    relations = sum(len(api.get(f"/api/v1/tasks/{x['id']}/relations", headers=h).json()["items"]) for x in seen[:80])
    reactions = sum(len(api.get(f"/api/v1/tasks/{x['id']}/reactions", headers=h).json()["items"]) for x in seen[:80])
    assert relations > 0 and reactions > 0, (relations, reactions)
    found = api.get(f"/api/v1/projects/{web['id']}/tasks?q=the&limit=5", headers=h)
    assert found.status_code == 200 and found.json()["items"], found.text
