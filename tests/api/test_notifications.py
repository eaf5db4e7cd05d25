"""Notifications: triggers (assigned, mentioned, watched comment / state change, due dates,
invitations, project membership), never the actor, the in-app API (unread first, read, read-all,
delete; another user's id is 404), preferences and time zone, e-mail through the real SMTP sink
(text + HTML parts, safe Markdown, RFC 8058 one-click unsubscribe), batching, the hourly cap,
the digest, and no second e-mail after a retry or a crash after the SMTP hand-off."""
import datetime
import time
import urllib.parse

import pytest

from support import Client, add_workspace_member, assert_problem, assert_validation_problem, message_text, \
    new_account, new_project, new_workspace, register, login, PASSWORD, unique_email, Account

FAST = {"NOTIFY_EMAIL_BATCH_SECONDS": "2", "WORKER_POLL_MS": "100", "JOB_BACKOFF_BASE_MS": "100",
        "JOB_BACKOFF_MAX_MS": "500"}


def wait_until(fn, timeout=20.0, every=0.1):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("condition not met within %.0fs" % timeout)
        time.sleep(every)


def notes(api, acc, **params):
    r = api.get("/api/v1/notifications", headers=acc.headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def team(api, n=3, key="NTF"):
    owner = new_account(api)
    others = [new_account(api) for _ in range(n - 1)]
    ws = new_workspace(api, owner)
    for o in others:
        add_workspace_member(api, owner, ws["id"], o, "member")
    p = new_project(api, owner, ws["id"], key)
    return owner, others, ws, p


def new_task(api, acc, pid, **body):
    r = api.post(f"/api/v1/projects/{pid}/tasks", headers=acc.headers, json={"title": "Task", **body})
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
def fast_server(server_factory):
    srv = server_factory(**FAST)
    return srv, Client(srv.url)


def test_assigned_inbox_read_delete_and_foreign_404(fast_server):
    srv, api = fast_server
    a, (b, c), ws, p = team(api)
    t = new_task(api, a, p["id"], title="Fix login", assignee_ids=[b.id])
    items = wait_until(lambda: notes(api, b))
    n = items[0]
    assert n["kind"] == "assigned" and n["task_id"] == t["id"] and n["read_at"] is None
    assert "Fix login" in n["title"] and n["actor_id"] == a.id
    # never the actor; a self-assignment notifies nobody
    new_task(api, a, p["id"], title="Mine", assignee_ids=[a.id])
    time.sleep(1.0)
    assert notes(api, a) == []
    assert api.get("/api/v1/notifications/unread-count", headers=b.headers).json() == {"count": 1}
    # another user's notification does not exist for them
    for r in (api.post(f"/api/v1/notifications/{n['id']}/read", headers=c.headers),
              api.delete(f"/api/v1/notifications/{n['id']}", headers=c.headers),
              api.post("/api/v1/notifications/not-an-id/read", headers=b.headers)):
        assert_problem(r, 404)
    assert notes(api, b)[0]["read_at"] is None
    r = api.post(f"/api/v1/notifications/{n['id']}/read", headers=b.headers)
    assert r.status_code == 200 and r.json()["read_at"], r.text
    assert api.get("/api/v1/notifications/unread-count", headers=b.headers).json() == {"count": 0}
    assert notes(api, b, unread="true") == []
    assert_validation_problem(api.get("/api/v1/notifications", headers=b.headers, params={"unread": "maybe"}),
                              ["unread"])
    # unread first, then newest: a second (unread) one comes before the read one
    new_task(api, a, p["id"], title="Second", assignee_ids=[b.id])
    wait_until(lambda: len(notes(api, b)) == 2)
    items = notes(api, b)
    assert items[0]["read_at"] is None and items[1]["id"] == n["id"]
    page1 = api.get("/api/v1/notifications", headers=b.headers, params={"limit": 1}).json()
    page2 = api.get("/api/v1/notifications", headers=b.headers,
                    params={"limit": 1, "cursor": page1["next_cursor"]}).json()
    assert [x["id"] for x in page1["items"] + page2["items"]] == [x["id"] for x in items]
    assert page2["next_cursor"] is None
    assert api.post("/api/v1/notifications/read-all", headers=b.headers).json() == {"updated": 1}
    assert api.delete(f"/api/v1/notifications/{n['id']}", headers=b.headers).status_code == 204
    assert n["id"] not in [x["id"] for x in notes(api, b)]
    assert_problem(api.delete(f"/api/v1/notifications/{n['id']}", headers=b.headers), 404)


def test_watch_comment_state_change_and_project_member(fast_server):
    srv, api = fast_server
    a, (b, c), ws, p = team(api, key="WAT")
    t = new_task(api, a, p["id"], title="Watched")
    assert api.put(f"/api/v1/tasks/{t['id']}/watchers/me", headers=b.headers).status_code in (200, 204)
    r = api.post(f"/api/v1/tasks/{t['id']}/comments", headers=c.headers, json={"body": "a remark"})
    assert r.status_code == 201, r.text
    got = wait_until(lambda: [n for n in notes(api, b) if n["kind"] == "commented"])
    assert got[0]["body"] == "a remark"
    # a is the creator, hence a watcher: notified too; c (the author) is not
    wait_until(lambda: [n for n in notes(api, a) if n["kind"] == "commented"])
    assert [n for n in notes(api, c) if n["kind"] == "commented"] == []
    states = {s["group"]: s["id"] for s in api.get(f"/api/v1/projects/{p['id']}/states",
                                                   headers=a.headers).json()["items"]}
    r = api.patch(f"/api/v1/tasks/{t['id']}", headers=a.headers, json={"state_id": states["started"]})
    assert r.status_code == 200, r.text
    got = wait_until(lambda: [n for n in notes(api, b) if n["kind"] == "state_changed"])
    assert got[0]["data"]["to_state_id"] == states["started"]
    assert [n for n in notes(api, a) if n["kind"] == "state_changed"] == []
    # added to a private project
    p2 = new_project(api, a, ws["id"], "PRV", is_private=True)
    r = api.post(f"/api/v1/projects/{p2['id']}/members", headers=a.headers, json={"user_id": c.id, "role": "member"})
    assert r.status_code == 201, r.text
    wait_until(lambda: [n for n in notes(api, c) if n["kind"] == "added_to_project"])


def test_mention_email_markdown_unsubscribe(fast_server, smtp):
    srv, api = fast_server
    a, (b,), ws, p = team(api, n=2, key="MEN")
    t = new_task(api, a, p["id"], title="Docs")
    body = f"Hi @{b.id}, **bold** and `code`\n\n<script>alert(1)</script>\n\n[x](javascript:alert(2))"
    r = api.post(f"/api/v1/tasks/{t['id']}/comments", headers=a.headers, json={"body": body})
    assert r.status_code == 201, r.text
    wait_until(lambda: [n for n in notes(api, b) if n["kind"] == "mentioned"])
    msg = smtp.wait_for(b.email, timeout=20)
    types = sorted(part.get_content_type() for part in msg.walk() if part.get_content_maintype() == "text")
    assert types == ["text/html", "text/plain"], types
    html = next(part.get_content() for part in msg.walk() if part.get_content_type() == "text/html")
    text = next(part.get_content() for part in msg.walk() if part.get_content_type() == "text/plain")
    assert "<strong>bold</strong>" in html and "<code>code</code>" in html
    assert "<script>" not in html and "javascript:" not in html
    assert "mentioned you" in text and "**bold**" in text
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = msg["List-Unsubscribe"].strip("<>")
    assert url.startswith(srv.url + "/api/v1/notifications/unsubscribe?token=")
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["token"][0]
    # tampered: refused, nothing changes
    bad = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert_validation_problem(api.post("/api/v1/notifications/unsubscribe", params={"token": bad}), ["token"])
    # GET only shows; the one-click POST (no credentials) turns e-mail for "mentioned" off
    g = api.get(url)
    assert g.status_code == 200 and g.json()["kinds"] == ["mentioned"]
    page = api.get(url, headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert '<form method="post"' in page.text
    assert api.get("/api/v1/notifications/preferences", headers=b.headers).json()["kinds"]["mentioned"]["email"]
    r = api.post(url, data="List-Unsubscribe=One-Click",
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and r.json() == {"unsubscribed": ["mentioned"]}, r.text
    prefs = api.get("/api/v1/notifications/preferences", headers=b.headers).json()
    assert prefs["kinds"]["mentioned"] == {"in_app": True, "email": False}
    # still notified in-app, no e-mail any more
    before = len(smtp.messages_to(b.email))
    api.post(f"/api/v1/tasks/{t['id']}/comments", headers=a.headers, json={"body": f"again @{b.id}"})
    wait_until(lambda: len([n for n in notes(api, b) if n["kind"] == "mentioned"]) == 2)
    time.sleep(4)
    assert len(smtp.messages_to(b.email)) == before


def test_two_quick_changes_one_email(fast_server, smtp):
    srv, api = fast_server
    a, (b,), ws, p = team(api, n=2, key="BAT")
    new_task(api, a, p["id"], title="First thing", assignee_ids=[b.id])
    new_task(api, a, p["id"], title="Second thing", assignee_ids=[b.id])
    wait_until(lambda: len(notes(api, b)) == 2)
    msg = smtp.wait_for(b.email, timeout=20)
    time.sleep(4)  # two more windows: nothing else comes
    assert len(smtp.messages_to(b.email)) == 1
    text = message_text(msg)
    assert "First thing" in text and "Second thing" in text and "2 new notifications" in msg["Subject"]


def test_hourly_cap(server_factory, smtp):
    srv = server_factory(**FAST, NOTIFY_EMAIL_HOURLY_CAP="1")
    api = Client(srv.url)
    a, (b,), ws, p = team(api, n=2, key="CAP")
    new_task(api, a, p["id"], title="One", assignee_ids=[b.id])
    smtp.wait_for(b.email, timeout=20)
    new_task(api, a, p["id"], title="Two", assignee_ids=[b.id])
    wait_until(lambda: len(notes(api, b)) == 2)
    time.sleep(5)
    assert len(smtp.messages_to(b.email)) == 1  # over the cap: in-app only, e-mail waits for the next hour


def test_preferences_and_timezone(api, user):
    r = api.get("/api/v1/notifications/preferences", headers=user.headers)
    assert r.status_code == 200
    prefs = r.json()
    assert prefs["timezone"] == "UTC"
    assert prefs["kinds"]["assigned"] == {"in_app": True, "email": True}
    assert prefs["kinds"]["commented"] == {"in_app": True, "email": False}
    r = api.patch("/api/v1/notifications/preferences", headers=user.headers,
                  json={"timezone": "Europe/Paris", "kinds": {"commented": {"email": True}}})
    assert r.status_code == 200, r.text
    assert r.json()["timezone"] == "Europe/Paris" and r.json()["kinds"]["commented"] == {"in_app": True, "email": True}
    assert_validation_problem(api.patch("/api/v1/notifications/preferences", headers=user.headers,
                                        json={"timezone": "Mars/Olympus"}), ["timezone"])
    assert_validation_problem(api.patch("/api/v1/notifications/preferences", headers=user.headers,
                                        json={"timezone": "../../etc/passwd"}), ["timezone"])
    assert_validation_problem(api.patch("/api/v1/notifications/preferences", headers=user.headers,
                                        json={"kinds": {"nope": {"email": True}}}), ["kinds.nope"])
    assert_validation_problem(api.patch("/api/v1/notifications/preferences", headers=user.headers,
                                        json={"kinds": {"assigned": {"email": "yes"}}}))
    assert api.get("/api/v1/notifications/preferences", headers=user.headers).json()["timezone"] == "Europe/Paris"
    assert_problem(api.get("/api/v1/notifications"), 401)


def test_retry_after_recorded_send_does_not_resend(server_factory, smtp):
    # The send job fails after the e-mail was handed over and recorded: the retry sends nothing.
    srv = server_factory(**FAST, TASKHUB_TEST_NOTIFY_HOOK="fail_after_send")
    api = Client(srv.url)
    a, (b,), ws, p = team(api, n=2, key="RTY")  # a: first account, the administrator
    new_task(api, a, p["id"], title="Once", assignee_ids=[b.id])
    smtp.wait_for(b.email, timeout=20)

    def batch_jobs():
        r = api.get("/api/v1/admin/jobs", headers=a.headers, params={"kind": "notifications.email_batch"})
        assert r.status_code == 200, r.text
        return [j for j in r.json()["items"] if j["state"] == "succeeded" and j["attempt"] >= 2]

    wait_until(batch_jobs, timeout=20)
    time.sleep(1)
    assert len(smtp.messages_to(b.email)) == 1


def test_crash_between_smtp_and_record_does_not_resend(server_factory, new_database_url, smtp):
    # SIGKILL-like: the process exits right after SMTP accepted the message, before recording it.
    # Another process takes the job when its lease expires and must not send it again.
    db = new_database_url()
    env = {**FAST, "JOB_LEASE_SECONDS": "2"}
    first = server_factory(database_url=db, TASKHUB_TEST_NOTIFY_HOOK="crash_after_smtp", **env)
    api = Client(first.url)
    a, (b,), ws, p = team(api, n=2, key="CRS")
    new_task(api, a, p["id"], title="Crash", assignee_ids=[b.id])
    smtp.wait_for(b.email, timeout=20)
    first.proc.wait(20)
    assert first.proc.returncode == 86
    first.proc = None  # gone on purpose
    second = server_factory(database_url=db, **env)
    api2 = Client(second.url)
    tokens = login(api2, a.email).json()

    def retried():
        r = api2.get("/api/v1/admin/jobs", headers={"Authorization": "Bearer " + tokens["access_token"]},
                     params={"kind": "notifications.email_batch"})
        return [j for j in r.json()["items"] if j["state"] == "succeeded"]

    wait_until(retried, timeout=30)
    time.sleep(1)
    assert len(smtp.messages_to(b.email)) == 1


def test_due_soon_overdue_and_digest(server_factory, smtp):
    # The digest runs every minute here (testing only) and mails users whose local time is 08:00
    # or later: pick the Etc/GMT zone that makes now about noon for the assignee, so that neither
    # 08:00 nor midnight (a new local day) can pass while the test runs.
    srv = server_factory(**FAST, TASKHUB_TEST_NOTIFY_DIGEST_SCHEDULE="* * * * *")
    api = Client(srv.url)
    a, (b,), ws, p = team(api, n=2, key="DUE")
    now = datetime.datetime.now(datetime.timezone.utc)
    off = 12 - now.hour
    if off < -12:
        off += 24
    zone = "Etc/GMT" + ("-%d" % off if off > 0 else "+%d" % -off)  # POSIX sign: Etc/GMT-2 is UTC+2
    r = api.patch("/api/v1/notifications/preferences", headers=b.headers, json={"timezone": zone})
    assert r.status_code == 200, r.text
    local = now + datetime.timedelta(hours=off)
    yesterday = (local - datetime.timedelta(days=1)).date().isoformat()
    today = local.date().isoformat()
    late = new_task(api, a, p["id"], title="Late one", assignee_ids=[b.id], due_date=yesterday)
    soon = new_task(api, a, p["id"], title="Soon one", assignee_ids=[b.id], due_date=today)
    kinds = wait_until(lambda: {n["kind"] + ":" + n["task_id"] for n in notes(api, b)} >= {
        "overdue:" + late["id"], "due_soon:" + soon["id"]}, timeout=90)
    assert kinds

    def digest():
        return [m for m in smtp.messages_to(b.email) if "overdue task" in m["Subject"]]

    got = wait_until(digest, timeout=90)
    assert "Late one" in message_text(got[0]) and "Soon one" not in message_text(got[0])
    # Once per local day however often the job runs: NotificationsTest.DigestAtOrAfterEightLocalOncePerDay
    # runs it again within the day (a minute-long wait for the next tick here would add nothing).
    assert len(digest()) == 1
    # each (task, due date, kind) once
    assert len([n for n in notes(api, b) if n["kind"] == "overdue"]) == 1


def test_invited_to_workspace(fast_server):
    srv, api = fast_server
    owner, invitee = new_account(api), new_account(api)
    ws = new_workspace(api, owner)
    r = api.post(f"/api/v1/workspaces/{ws['id']}/invitations", headers=owner.headers,
                 json={"email": invitee.email, "role": "member"})
    assert r.status_code == 201, r.text
    got = wait_until(lambda: [n for n in notes(api, invitee) if n["kind"] == "invited"])
    assert got[0]["actor_id"] == owner.id and got[0]["workspace_id"] == ws["id"]
    assert notes(api, owner) == []


def test_two_processes_one_notification_one_email(server_factory, new_database_url, smtp):
    # Two processes on one database both run the consumer and the worker: the lease and the
    # unique keys give each event one notification and each batch one e-mail.
    db = new_database_url()
    s1 = server_factory(database_url=db, **FAST)
    s2 = server_factory(database_url=db, JWT_SECRET_KEY=s1.secret, **FAST)  # tokens valid on both
    api1, api2 = Client(s1.url), Client(s2.url)
    a, (b,), ws, p = team(api1, n=2, key="TWO")
    for i in range(6):
        new_task(api1 if i % 2 else api2, a, p["id"], title=f"Task {i}", assignee_ids=[b.id])
    wait_until(lambda: len(notes(api2, b)) == 6)
    smtp.wait_for(b.email, timeout=20)
    time.sleep(4)
    assert len(notes(api1, b)) == 6
    mails = smtp.messages_to(b.email)
    text = "\n".join(part.get_content() for m in mails for part in m.walk()
                     if part.get_content_type() == "text/plain")
    assert all(text.count(f"Task {i}") == 1 for i in range(6)), text
