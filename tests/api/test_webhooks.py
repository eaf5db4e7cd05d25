"""Webhooks: routes and permissions, SSRF refusal at creation, and real deliveries to a local
HTTP receiver started by the test (python http.server on 127.0.0.1, reachable because those
servers run with WEBHOOK_ALLOW_PRIVATE_CIDRS=127.0.0.1/32): signatures, retries with the delivery
log, redirects not followed, timeouts, capped answers, the ping, and disabling a failing webhook
with a notification e-mail to its creator."""
from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import socket
import threading
import time
import uuid

import pytest

from support import (
    Client, TaskhubProcess, add_workspace_member, assert_problem, assert_validation_problem, login, new_account,
    new_project, new_workspace,
)

FAST = {
    "WEBHOOK_ALLOW_PRIVATE_CIDRS": "127.0.0.1/32",
    "JOB_BACKOFF_BASE_MS": "50",
    "JOB_BACKOFF_MAX_MS": "200",
    "WORKER_POLL_MS": "100",
    "WORKER_THREADS": "4",
    "WEBHOOK_TIMEOUT_MS": "1000",
    "WEBHOOK_MAX_ATTEMPTS": "3",
}


# ---------------------------------------------------------------------------------------------
# The receiver: /<tag>/<mode>; every request is recorded under its tag.


class Receiver:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.lock = threading.Lock()
        self.requests: dict[str, list[dict]] = {}
        self.counts: dict[str, int] = {}
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                parts = self.path.strip("/").split("/")
                tag, mode = parts[0], (parts[1] if len(parts) > 1 else "ok")
                with receiver.lock:
                    receiver.requests.setdefault(tag, []).append(
                        {"path": self.path, "headers": dict(self.headers), "body": body, "time": time.time()})
                    key = tag + ":" + self.headers.get("X-Taskhub-Delivery", "")
                    receiver.counts[key] = receiver.counts.get(key, 0) + 1
                    n = receiver.counts[key]
                if mode == "ok":
                    self.reply(200, b'{"ok":true}')
                elif mode == "fail":
                    self.reply(500, b"boom")
                elif mode == "flaky":  # 500 twice per delivery, then 200
                    self.reply(500 if n <= 2 else 200, b"flaky")
                elif mode == "redirect":
                    self.send_response(302)
                    self.send_header("Location", f"http://127.0.0.1:{receiver.port}/{tag}-followed/ok")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif mode == "slow":
                    time.sleep(3)
                    self.reply(200, b"late")
                elif mode == "huge":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(64 * 1024 * 1024))
                    self.end_headers()
                    chunk = b"x" * (1 << 20)
                    try:
                        for _ in range(64):
                            self.wfile.write(chunk)
                    except (BrokenPipeError, ConnectionResetError):
                        with receiver.lock:
                            receiver.requests[tag][-1]["cut_off"] = True
                else:
                    self.reply(404, b"unknown mode")

            def reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server_cls = http.server.ThreadingHTTPServer
        if host == "::1":
            class V6(http.server.ThreadingHTTPServer):
                address_family = socket.AF_INET6
            server_cls = V6
        self.host = host
        self.httpd = server_cls((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, tag: str, mode: str, host: str | None = None) -> str:
        h = host or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"http://{h}:{self.port}/{tag}/{mode}"

    def got(self, tag: str) -> list[dict]:
        with self.lock:
            return list(self.requests.get(tag, []))

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def wait_until(pred, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def hook_server(new_database_url, smtp):
    srv = TaskhubProcess(new_database_url(), dict(FAST), smtp_url=smtp.url)
    srv.start()
    try:
        yield srv
    finally:
        rc = srv.stop()
        srv.cleanup()
        assert rc == 0


@pytest.fixture
def hapi(hook_server):
    c = Client(hook_server.url)
    yield c
    c.close()


def project_with_admin(api: Client):
    owner = new_account(api, prefix="hookowner")
    ws = new_workspace(api, owner)
    p = new_project(api, owner, ws["id"], "HK" + uuid.uuid4().hex[:4].upper())
    return owner, ws, p


def create_hook(api, owner, pid, url, **extra):
    r = api.post(f"/api/v1/projects/{pid}/webhooks", headers=owner.headers, json={"url": url, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def deliveries(api, owner, hid) -> list[dict]:
    r = api.get(f"/api/v1/webhooks/{hid}/deliveries", headers=owner.headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def final_delivery(api, owner, hid, event_type="task.created", timeout=30.0) -> dict:
    def done():
        for d in deliveries(api, owner, hid):
            if d["event_type"] == event_type and d["status"] in ("succeeded", "failed"):
                return d
        return None
    return wait_until(done, timeout, f"a finished {event_type} delivery")


def new_task(api, acc, pid, title="hooked") -> dict:
    r = api.post(f"/api/v1/projects/{pid}/tasks", headers=acc.headers, json={"title": title})
    assert r.status_code == 201, r.text
    return r.json()


# ---------------------------------------------------------------------------------------------
# Routes, permissions, validation, SSRF (the shared server: no allow-list)


def test_routes_permissions_and_secret(api):
    owner, ws, p = project_with_admin(api)
    member, stranger = new_account(api), new_account(api)
    add_workspace_member(api, owner, ws["id"], member, "member")
    pid = p["id"]
    # A public literal address passes the check; inactive, so the shared server sends nothing.
    created = create_hook(api, owner, pid, "https://93.184.216.34/hook", event_types=["task.*"], active=False)
    hid = created["id"]
    assert created["secret"].startswith("whsec_") and len(created["secret"]) >= 40
    assert created["event_types"] == ["task.*"] and created["active"] is False

    got = api.get(f"/api/v1/webhooks/{hid}", headers=owner.headers)
    assert got.status_code == 200 and "secret" not in got.json()
    listed = api.get(f"/api/v1/projects/{pid}/webhooks", headers=owner.headers).json()["items"]
    assert [w["id"] for w in listed] == [hid] and all("secret" not in w for w in listed)

    own_secret = create_hook(api, owner, pid, "https://93.184.216.34/other", secret="s" * 20, event_types="*",
                             active=False)
    assert own_secret["secret"] == "s" * 20 and own_secret["event_types"] == ["*"]

    routes = [
        ("POST", f"/api/v1/projects/{pid}/webhooks", {"url": "https://93.184.216.34/x"}),
        ("GET", f"/api/v1/projects/{pid}/webhooks", None),
        ("GET", f"/api/v1/webhooks/{hid}", None),
        ("PATCH", f"/api/v1/webhooks/{hid}", {"active": True}),
        ("GET", f"/api/v1/webhooks/{hid}/deliveries", None),
        ("POST", f"/api/v1/webhooks/{hid}/test", None),
        ("DELETE", f"/api/v1/webhooks/{hid}", None),
    ]
    for method, path, body in routes:
        assert_problem(api.request(method, path, headers=member.headers, json=body), 403)
        assert_problem(api.request(method, path, headers=stranger.headers, json=body), 404)
    assert_problem(api.get(f"/api/v1/webhooks/{uuid.uuid4()}", headers=owner.headers), 404)
    assert_problem(api.get("/api/v1/webhooks/not-a-uuid", headers=owner.headers), 404)

    r = api.patch(f"/api/v1/webhooks/{hid}", headers=owner.headers, json={"event_types": ["comment.created"]})
    assert r.status_code == 200 and r.json()["event_types"] == ["comment.created"] and "secret" not in r.json()
    assert api.delete(f"/api/v1/webhooks/{hid}", headers=owner.headers).status_code == 204
    assert_problem(api.get(f"/api/v1/webhooks/{hid}", headers=owner.headers), 404)


def test_bad_input(api):
    owner, _, p = project_with_admin(api)
    base = f"/api/v1/projects/{p['id']}/webhooks"
    assert_validation_problem(api.post(base, headers=owner.headers, json={}), ["url"])
    assert_validation_problem(api.post(base, headers=owner.headers,
                                       json={"url": "https://93.184.216.34/", "event_types": ["Not A Type"]}),
                              ["event_types[0]"])
    assert_validation_problem(api.post(base, headers=owner.headers,
                                       json={"url": "https://93.184.216.34/", "event_types": []}), ["event_types"])
    assert_validation_problem(api.post(base, headers=owner.headers,
                                       json={"url": "https://93.184.216.34/", "event_types": ["a"] * 51}),
                              ["event_types"])
    assert_validation_problem(api.post(base, headers=owner.headers,
                                       json={"url": "https://93.184.216.34/", "secret": "short"}), ["secret"])
    assert_validation_problem(api.post(base, headers=owner.headers,
                                       json={"url": "https://93.184.216.34/" + "a" * 3000}), ["url"])
    assert_validation_problem(api.post(base, headers=owner.headers,
                                       json={"url": "https://93.184.216.34/", "colour": "red"}))
    for bad in ("ftp://example.com/", "http://user:pw@93.184.216.34/", "not a url"):
        assert_problem(api.post(base, headers=owner.headers, json={"url": bad}), 422, "unsafe-url", ["url"])
    for i in range(20):
        create_hook(api, owner, p["id"], f"https://93.184.216.34/{i}", active=False)
    assert_problem(api.post(base, headers=owner.headers, json={"url": "https://93.184.216.34/21"}), 409,
                   "webhook-limit")


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/hook", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/",
    "http://[::1]/", "http://127.1/", "http://0x7f000001/", "http://2130706433/", "http://[::ffff:127.0.0.1]/",
    "http://localhost/", "http://192.168.1.1/", "http://100.64.0.1/", "http://0.0.0.0/", "http://[fe80::1]/",
    "http://[fd00::1]/",
])
def test_internal_addresses_refused_without_allow_list(api, server, url):
    owner, _, p = project_with_admin(api)
    r = api.post(f"/api/v1/projects/{p['id']}/webhooks", headers=owner.headers,
                 json={"url": url.format(port=server.port)})
    body = assert_problem(r, 422, "unsafe-url", ["url"])
    assert "may not reach" in body["errors"][0]["message"] or "resolve" in body["errors"][0]["message"]


def test_patch_to_internal_address_refused(api):
    owner, _, p = project_with_admin(api)
    hid = create_hook(api, owner, p["id"], "https://93.184.216.34/hook", active=False)["id"]
    assert_problem(api.patch(f"/api/v1/webhooks/{hid}", headers=owner.headers,
                             json={"url": "http://169.254.169.254/"}), 422, "unsafe-url", ["url"])


# ---------------------------------------------------------------------------------------------
# Deliveries (a server with the allow-list for 127.0.0.1 and a short backoff)


def test_delivery_is_signed_and_logged(hapi, receiver):
    owner, _, p = project_with_admin(hapi)
    tag = uuid.uuid4().hex
    hook = create_hook(hapi, owner, p["id"], receiver.url(tag, "ok"), event_types=["task.created"])
    task = new_task(hapi, owner, p["id"])
    reqs = wait_until(lambda: receiver.got(tag), what="a delivery")
    req = reqs[0]
    h = {k.lower(): v for k, v in req["headers"].items()}
    assert h["x-taskhub-event"] == "task.created"
    assert h["content-type"] == "application/json"
    ts = h["x-taskhub-timestamp"]
    assert abs(int(ts) - time.time()) < 60
    expected = "sha256=" + hmac.new(hook["secret"].encode(), ts.encode() + b"." + req["body"],
                                    hashlib.sha256).hexdigest()
    assert hmac.compare_digest(h["x-taskhub-signature"], expected)
    wrong = "sha256=" + hmac.new(b"another secret", ts.encode() + b"." + req["body"], hashlib.sha256).hexdigest()
    assert h["x-taskhub-signature"] != wrong
    body = json.loads(req["body"])
    assert body["type"] == "task.created" and body["project_id"] == p["id"]
    assert body["task_id"] == task["id"] and body["entity_id"] == task["id"] and body["actor_id"] == owner.id
    assert body["payload"]["task"]["title"] == "hooked"
    assert set(body) == {"id", "type", "time", "actor_id", "workspace_id", "project_id", "task_id", "entity_type",
                         "entity_id", "payload"}

    d = final_delivery(hapi, owner, hook["id"])
    assert d["status"] == "succeeded" and d["attempt"] == 1 and d["response_code"] == 200
    assert d["id"] == h["x-taskhub-delivery"] and d["event_id"] == body["id"]
    assert [a["response_code"] for a in d["attempts"]] == [200]
    metrics = hapi.get("/metrics").text
    ok = [ln for ln in metrics.splitlines() if ln.startswith("taskhub_webhook_attempts_succeeded_total ")]
    assert ok and int(ok[0].split()[1]) >= 1, metrics[-2000:]
    # Only task.created was asked for: an update is not delivered.
    assert hapi.patch(f"/api/v1/tasks/{task['id']}", headers=owner.headers, json={"title": "renamed"}).status_code == 200
    new_task(hapi, owner, p["id"], "second")
    wait_until(lambda: len(receiver.got(tag)) >= 2, what="the second delivery")
    time.sleep(0.5)
    assert [json.loads(r["body"])["type"] for r in receiver.got(tag)] == ["task.created", "task.created"]
    # Each event once: two events, two deliveries.
    assert len({r["headers"]["X-Taskhub-Delivery"] for r in receiver.got(tag)}) == 2
    final_delivery(hapi, owner, hook["id"])
    wait_until(lambda: all(d["status"] == "succeeded" for d in deliveries(hapi, owner, hook["id"])), what="both done")
    page1 = hapi.get(f"/api/v1/webhooks/{hook['id']}/deliveries?limit=1", headers=owner.headers).json()
    assert len(page1["items"]) == 1 and page1["next_cursor"]
    page2 = hapi.get(f"/api/v1/webhooks/{hook['id']}/deliveries?limit=1&cursor={page1['next_cursor']}",
                     headers=owner.headers).json()
    assert len(page2["items"]) == 1 and page2["items"][0]["id"] < page1["items"][0]["id"]
    assert_validation_problem(hapi.get(f"/api/v1/webhooks/{hook['id']}/deliveries?limit=0", headers=owner.headers),
                              ["limit"])


def test_500_is_retried_and_the_log_shows_each_attempt(hapi, receiver):
    owner, _, p = project_with_admin(hapi)
    flaky, broken = uuid.uuid4().hex, uuid.uuid4().hex
    h1 = create_hook(hapi, owner, p["id"], receiver.url(flaky, "flaky"))
    h2 = create_hook(hapi, owner, p["id"], receiver.url(broken, "fail"))
    new_task(hapi, owner, p["id"])
    d1 = final_delivery(hapi, owner, h1["id"])
    assert d1["status"] == "succeeded" and d1["attempt"] == 3
    assert [(a["attempt"], a["status"], a["response_code"]) for a in d1["attempts"]] == \
        [(1, "failed", 500), (2, "failed", 500), (3, "succeeded", 200)]
    d2 = final_delivery(hapi, owner, h2["id"])
    assert d2["status"] == "failed" and d2["attempt"] == 3 and d2["response_code"] == 500
    assert [a["response_code"] for a in d2["attempts"]] == [500, 500, 500]
    assert "500" in d2["error"]
    assert len({r["headers"]["X-Taskhub-Delivery"] for r in receiver.got(broken)}) == 1
    # Retries resend the same body (signed anew with their own timestamp).
    assert len({r["body"] for r in receiver.got(broken)}) == 1
    w = hapi.get(f"/api/v1/webhooks/{h2['id']}", headers=owner.headers).json()
    assert w["active"] is True and w["failing_since"] is not None  # a day is not over yet


def test_redirect_not_followed(hapi, receiver):
    owner, _, p = project_with_admin(hapi)
    tag = uuid.uuid4().hex
    hook = create_hook(hapi, owner, p["id"], receiver.url(tag, "redirect"))
    new_task(hapi, owner, p["id"])
    d = final_delivery(hapi, owner, hook["id"])
    assert d["status"] == "failed" and d["response_code"] == 302
    assert "redirect" in d["error"]
    assert receiver.got(tag + "-followed") == []


def test_slow_receiver_times_out(hapi, receiver):
    owner, _, p = project_with_admin(hapi)
    tag = uuid.uuid4().hex
    hook = create_hook(hapi, owner, p["id"], receiver.url(tag, "slow"))
    new_task(hapi, owner, p["id"])
    d = final_delivery(hapi, owner, hook["id"], timeout=40)
    assert d["status"] == "failed" and d["response_code"] is None
    assert "timed out" in d["error"]
    for a in d["attempts"]:
        assert 900 <= a["duration_ms"] < 2500, a


def test_huge_answer_is_capped(hapi, receiver):
    owner, _, p = project_with_admin(hapi)
    tag = uuid.uuid4().hex
    hook = create_hook(hapi, owner, p["id"], receiver.url(tag, "huge"))
    new_task(hapi, owner, p["id"])
    d = final_delivery(hapi, owner, hook["id"])
    assert d["status"] == "succeeded" and d["response_code"] == 200 and d["attempt"] == 1
    # taskhub hung up after its cap instead of reading 64 MiB.
    wait_until(lambda: receiver.got(tag)[0].get("cut_off"), 10, "the receiver to see the connection dropped")


def test_ping(hapi, receiver):
    owner, _, p = project_with_admin(hapi)
    tag = uuid.uuid4().hex
    hook = create_hook(hapi, owner, p["id"], receiver.url(tag, "ok"), active=False)
    r = hapi.post(f"/api/v1/webhooks/{hook['id']}/test", headers=owner.headers)
    assert r.status_code == 202, r.text
    assert r.json()["event_type"] == "webhook.ping" and r.json()["status"] == "pending"
    req = wait_until(lambda: receiver.got(tag), what="the ping")[0]
    assert req["headers"]["X-Taskhub-Event"] == "webhook.ping"
    assert json.loads(req["body"])["entity_id"] == hook["id"]
    d = final_delivery(hapi, owner, hook["id"], "webhook.ping")
    assert d["status"] == "succeeded" and d["id"] == r.json()["id"]


def test_failing_webhook_is_disabled_and_creator_notified(server_factory, receiver, smtp):
    srv = server_factory(WEBHOOK_DISABLE_AFTER_HOURS="0", **FAST)
    api = Client(srv.url)
    owner, _, p = project_with_admin(api)
    tag = uuid.uuid4().hex
    hook = create_hook(api, owner, p["id"], receiver.url(tag, "fail"))
    new_task(api, owner, p["id"])

    def disabled():
        w = api.get(f"/api/v1/webhooks/{hook['id']}", headers=owner.headers).json()
        return w if not w["active"] else None
    w = wait_until(disabled, what="the webhook to be disabled")
    assert w["disabled_reason"] and w["disabled_at"]
    msg = smtp.wait_for(owner.email)
    assert "disabled" in msg["Subject"].lower()
    # The owner is this fresh server's first account, hence an administrator: read the outbox.
    evs = api.get("/api/v1/admin/events?limit=200", headers=owner.headers).json()["items"]
    dis = [e for e in evs if e["type"] == "webhook.disabled"]
    assert len(dis) == 1 and dis[0]["user_id"] == owner.id and dis[0]["entity_id"] == hook["id"]
    assert dis[0]["project_id"] == p["id"]
    # Later events are not sent to a disabled webhook.
    n = len(receiver.got(tag))
    new_task(api, owner, p["id"], "after")
    time.sleep(1.0)
    assert len(receiver.got(tag)) <= n + 2  # at most the retries of the first delivery's in-flight attempts
    assert all(json.loads(r["body"])["payload"]["task"]["title"] != "after" for r in receiver.got(tag))
    # Re-enabled: delivered again.
    r = api.patch(f"/api/v1/webhooks/{hook['id']}", headers=owner.headers, json={"active": True, "url": receiver.url(tag, "ok")})
    assert r.status_code == 200 and r.json()["active"] is True and r.json()["disabled_reason"] is None
    new_task(api, owner, p["id"], "re-enabled")
    wait_until(lambda: any(json.loads(x["body"])["payload"]["task"]["title"] == "re-enabled"
                           for x in receiver.got(tag)), what="a delivery after re-enabling")
    api.close()


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sk:
            sk.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_allow_list_exempts_only_its_entries(server_factory, receiver):
    srv = server_factory(WEBHOOK_ALLOW_HOSTS="localhost", WEBHOOK_ALLOW_PRIVATE_CIDRS="::1/128",
                         JOB_BACKOFF_BASE_MS="50", WORKER_POLL_MS="100")
    api = Client(srv.url)
    owner, _, p = project_with_admin(api)
    base = f"/api/v1/projects/{p['id']}/webhooks"
    for url in (receiver.url("x", "ok"), "http://10.0.0.1/", "http://169.254.169.254/"):
        assert_problem(api.post(base, headers=owner.headers, json={"url": url}), 422, "unsafe-url", ["url"])
    tag = uuid.uuid4().hex
    create_hook(api, owner, p["id"], receiver.url(tag, "ok", host="localhost"), event_types=["task.created"])
    if _has_ipv6_loopback():
        v6 = Receiver("::1")
        try:
            tag6 = uuid.uuid4().hex
            create_hook(api, owner, p["id"], v6.url(tag6, "ok"), event_types=["task.created"])
            new_task(api, owner, p["id"])
            wait_until(lambda: v6.got(tag6), what="a delivery over IPv6")
        finally:
            v6.stop()
    else:
        new_task(api, owner, p["id"])
    wait_until(lambda: receiver.got(tag), what="a delivery to the allowed host name")
    api.close()


def test_two_processes_deliver_each_event_once(server_factory, new_database_url, receiver):
    db = new_database_url()
    a = server_factory(database_url=db, **FAST)
    b = server_factory(database_url=db, **FAST)
    api_a, api_b = Client(a.url), Client(b.url)
    owner, _, p = project_with_admin(api_a)
    tokens = login(api_b, owner.email).json()
    owner_b = type(owner)(owner.email, owner.password, tokens["user"], tokens["access_token"], tokens["refresh_token"])
    tag = uuid.uuid4().hex
    create_hook(api_a, owner, p["id"], receiver.url(tag, "ok"), event_types=["task.created"])
    titles = []
    for i in range(6):
        title = f"t{i}"
        titles.append(title)
        new_task(api_a if i % 2 == 0 else api_b, owner if i % 2 == 0 else owner_b, p["id"], title)
    wait_until(lambda: len(receiver.got(tag)) >= 6, what="six deliveries")
    time.sleep(1.5)  # anything duplicated would arrive by now
    got = receiver.got(tag)
    assert sorted(json.loads(r["body"])["payload"]["task"]["title"] for r in got) == sorted(titles)
    assert len({r["headers"]["X-Taskhub-Delivery"] for r in got}) == 6
    api_a.close()
    api_b.close()


def test_address_is_checked_again_at_delivery(server_factory, new_database_url, receiver):
    """Allowed when created; the same database served without the allow-list refuses to send."""
    db = new_database_url()
    a = server_factory(database_url=db, **FAST)
    api = Client(a.url)
    owner, _, p = project_with_admin(api)
    tag = uuid.uuid4().hex
    hook = create_hook(api, owner, p["id"], receiver.url(tag, "ok"), event_types=["task.created"])
    assert a.stop() == 0
    strict = {k: v for k, v in FAST.items() if k != "WEBHOOK_ALLOW_PRIVATE_CIDRS"}
    b = server_factory(database_url=db, **strict)
    api_b = Client(b.url)
    tokens = login(api_b, owner.email).json()
    owner_b = type(owner)(owner.email, owner.password, tokens["user"], tokens["access_token"], tokens["refresh_token"])
    new_task(api_b, owner_b, p["id"])
    d = final_delivery(api_b, owner_b, hook["id"])
    assert d["status"] == "failed" and d["response_code"] is None
    assert "refused" in d["error"] and "loopback" in d["error"]
    assert receiver.got(tag) == []
    api.close()
    api_b.close()
