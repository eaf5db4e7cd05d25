"""HTTP behaviour: 404/405 problems, request ids, health, metrics, security headers, CORS,
HEAD and OPTIONS, docs pages served without a CDN, graceful shutdown."""
import json
import re
import signal
import socket
import time
import urllib.parse

from support import Client, assert_problem, problem_code, raw_request, register, unique_email


def test_unknown_route_is_404_problem(api):
    r = api.get("/api/v1/definitely/not/here")
    body = assert_problem(r, 404)
    assert problem_code(body) in ("not-found", "route-not-found"), body
    assert body.get("instance") in (None, "/api/v1/definitely/not/here")
    assert_problem(api.post("/nope", json={}), 404)


def test_wrong_method_is_405_with_allow(api):
    r = api.post("/healthz")
    assert_problem(r, 405)
    allow = {m.strip() for m in r.headers.get("Allow", "").split(",")}
    assert "GET" in allow, r.headers
    r = api.delete("/api/v1/auth/login")
    assert_problem(r, 405)
    assert "POST" in r.headers.get("Allow", ""), r.headers
    r = api.put("/api/v1/users/me")
    assert_problem(r, 405)
    allow = {m.strip() for m in r.headers.get("Allow", "").split(",")}
    assert {"GET", "PATCH"} <= allow, r.headers


def test_request_id_echoed_or_generated(api):
    r = api.get("/healthz", headers={"X-Request-Id": "test-request-0001"})
    assert r.headers.get("X-Request-Id") == "test-request-0001"
    r = api.get("/api/v1/users/me", headers={"X-Request-Id": "test-request-0002"})
    assert r.headers.get("X-Request-Id") == "test-request-0002"
    assert assert_problem(r, 401)["request_id"] == "test-request-0002"
    r1, r2 = api.get("/healthz"), api.get("/healthz")
    rid1, rid2 = r1.headers.get("X-Request-Id"), r2.headers.get("X-Request-Id")
    assert rid1 and rid2 and rid1 != rid2
    # A hostile id (too long or with control characters) is replaced, not reflected.
    r = api.get("/healthz", headers={"X-Request-Id": "x" * 5000})
    assert r.status_code in (200, 431)
    if r.status_code == 200:
        assert r.headers.get("X-Request-Id") and len(r.headers["X-Request-Id"]) <= 256


def test_healthz_and_readyz(api):
    r = api.get("/healthz")
    assert r.status_code == 200 and r.headers.get("Content-Type", "").startswith("application/json")
    r = api.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json().get("status") in ("ok", "ready")


def test_metrics(api):
    api.get("/healthz")
    api.get("/api/v1/users/me")
    r = api.get("/metrics")
    assert r.status_code == 200
    assert r.headers.get("Content-Type", "").startswith("text/plain")
    lines = [ln for ln in r.text.splitlines() if ln.startswith("taskhub_http_requests_total")]
    assert lines, "no taskhub_http_requests_total samples"
    assert any("/healthz" in ln for ln in lines), lines[:10]
    assert any('"401"' in ln or "status=\"401\"" in ln for ln in lines), lines[:10]
    assert "# TYPE taskhub_http_requests_total counter" in r.text


def test_security_headers(api):
    for r in (api.get("/healthz"), api.get("/api/v1/users/me"), api.get("/api/nope"),
              api.post("/api/v1/auth/login", json={})):
        assert r.headers.get("X-Content-Type-Options") == "nosniff", (r.url, r.headers)
        assert r.headers.get("Referrer-Policy"), (r.url, r.headers)
    for page in ("/api/docs", "/api/redoc"):
        r = api.get(page)
        assert r.status_code == 200, r.text[:300]
        assert r.headers.get("Content-Security-Policy") or r.headers.get("X-Frame-Options"), r.headers
    r = api.get("/api/v1/users/me")
    assert "Server" not in r.headers or "boost" not in r.headers["Server"].lower()


def test_head_and_options(api, user):
    g = api.get("/healthz")
    h = api.head("/healthz")
    assert h.status_code == 200 and h.content == b""
    assert h.headers.get("Content-Type") == g.headers.get("Content-Type")
    h = api.head("/api/v1/users/me", headers=user.headers)
    assert h.status_code == 200 and h.content == b""
    assert api.head("/api/v1/users/me").status_code == 401
    o = api.options("/api/v1/users/me")
    assert o.status_code in (200, 204), o.text
    allow = {m.strip() for m in o.headers.get("Allow", "").split(",")}
    assert {"GET", "PATCH"} <= allow, o.headers
    assert "DELETE" not in allow
    o = api.options("/api/v1/auth/login")
    assert "POST" in o.headers.get("Allow", "")
    assert_problem(api.options("/api/v1/unknown-route"), 404)


def test_cors(server_factory):
    srv = server_factory(CORS_ORIGINS="https://app.example")
    api = Client(srv.url)
    pre = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "content-type, authorization"}
    r = api.options("/api/v1/auth/login", headers=pre)
    assert r.status_code in (200, 204), r.text
    assert r.headers.get("Access-Control-Allow-Origin") == "https://app.example"
    assert "POST" in r.headers.get("Access-Control-Allow-Methods", "")
    allowed_headers = r.headers.get("Access-Control-Allow-Headers", "").lower()
    assert "authorization" in allowed_headers and "content-type" in allowed_headers
    assert "origin" in r.headers.get("Vary", "").lower()

    r = api.get("/healthz", headers={"Origin": "https://app.example"})
    assert r.headers.get("Access-Control-Allow-Origin") == "https://app.example"

    for other in ("https://evil.example", "https://app.example.evil.com", "null"):
        r = api.options("/api/v1/auth/login", headers=dict(pre, Origin=other))
        assert "Access-Control-Allow-Origin" not in r.headers, (other, r.headers)
        r = api.get("/healthz", headers={"Origin": other})
        assert "Access-Control-Allow-Origin" not in r.headers, (other, r.headers)


def test_no_cors_by_default(api):
    r = api.options("/api/v1/auth/login", headers={"Origin": "https://app.example",
                                                   "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in r.headers


def test_keep_alive_serves_many_requests_on_one_connection(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        f = s.makefile("rb")
        for i in range(20):
            s.sendall(f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: ka-{i}\r\n\r\n".encode())
            status = f.readline()
            assert status.startswith(b"HTTP/1.1 200"), status
            length = 0
            while True:
                line = f.readline()
                if line in (b"\r\n", b""):
                    break
                k, _, v = line.decode().partition(":")
                if k.lower() == "content-length":
                    length = int(v)
                if k.lower() == "x-request-id":
                    assert v.strip() == f"ka-{i}"
            f.read(length)


def test_docs_pages_and_assets_served_locally(api):
    for page, marker in (("/api/docs", "swagger"), ("/api/redoc", "redoc")):
        r = api.get(page)
        assert r.status_code == 200, r.text[:300]
        assert r.headers.get("Content-Type", "").startswith("text/html")
        assert marker in r.text.lower()
        refs = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)["\']', r.text)
        assert refs, "the page loads no assets?"
        for ref in refs:
            parsed = urllib.parse.urlparse(ref)
            assert not parsed.netloc, f"{page} loads {ref} from another host (no CDN allowed)"
            if ref.startswith("#") or ref.startswith("data:"):
                continue
            a = api.get(urllib.parse.urljoin(api.base_url + page, ref))
            assert a.status_code == 200, f"{page}: asset {ref} -> {a.status_code}"
    r = api.get("/api/docs/assets/swagger-ui-bundle.js")
    assert r.status_code == 200 and "javascript" in r.headers.get("Content-Type", "")
    r = api.get("/api/redoc/assets/redoc.standalone.js")
    assert r.status_code == 200 and "javascript" in r.headers.get("Content-Type", "")
    for bad in ("/api/docs/assets/..%2Fpackage.json", "/api/docs/assets/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
                "/api/docs/assets/no-such-file.js"):
        r = api.get(bad)
        assert r.status_code in (400, 404), (bad, r.status_code)
        assert "root:" not in r.text


def test_graceful_shutdown_finishes_in_flight_requests(server_factory):
    # A write pool of 32 admits 14 waiting logins (half the pool, less the hashing threads),
    # so none of the eight below is turned away with 503 before SIGTERM.
    srv = server_factory(SHUTDOWN_GRACE_MS="10000", WRITE_THREADS="32")
    api = Client(srv.url)
    addr = unique_email("shutdown")
    register(api, addr)
    body = json.dumps({"email": addr, "password": "wrong password"}).encode()
    request = (f"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    # Logins hash with Argon2id on a small pool: eight of them keep it busy for a while, so
    # several are still in flight when SIGTERM arrives.
    socks = []
    for _ in range(8):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
        s.sendall(request)
        socks.append(s)
    time.sleep(0.1)
    srv.proc.send_signal(signal.SIGTERM)
    outcomes = []
    for s in socks:
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        finally:
            s.close()
        if not data:
            outcomes.append("dropped before answering")
        elif data.startswith(b"HTTP/1.1 401") and data.endswith(b"}"):
            outcomes.append("answered")
        else:
            outcomes.append(f"cut off or wrong: {data[:80]!r}...{data[-20:]!r}")
    rc = srv.proc.wait(30)
    assert rc == 0, f"exit code {rc} after SIGTERM:\n{srv.log_tail()}"
    assert all(o in ("answered", "dropped before answering") for o in outcomes), outcomes
    assert outcomes.count("answered") >= 1, f"no in-flight request was finished: {outcomes}"
    # Not listening any more.
    try:
        raw_request(srv.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", timeout=2)
        raise AssertionError("still answering after shutdown")
    except (ConnectionError, OSError):
        pass


def test_metrics_sqlite_write_costs(api, db_backend):
    """On SQLite /metrics counts commits and the WAL pages they wrote (what a write costs)."""
    def sample(text, name):
        return float(next(ln.split()[1] for ln in text.splitlines() if ln.startswith(name + " ")))

    before = api.get("/metrics").text
    if db_backend != "sqlite":
        assert "taskhub_sqlite_wal_pages_total" not in before
        return
    for name in ("taskhub_sqlite_commits_total", "taskhub_sqlite_wal_pages_total", "taskhub_sqlite_checkpoints_total",
                 "taskhub_sqlite_write_units_total", "taskhub_sqlite_writer_busy_seconds_total",
                 "taskhub_sqlite_wal_syncs_total"):
        assert f"# TYPE {name} counter" in before, name
    register(api)  # a write
    after = api.get("/metrics").text
    assert sample(after, "taskhub_sqlite_commits_total") > sample(before, "taskhub_sqlite_commits_total")
    assert sample(after, "taskhub_sqlite_wal_pages_total") > sample(before, "taskhub_sqlite_wal_pages_total")
    assert sample(after, "taskhub_sqlite_write_units_total") > sample(before, "taskhub_sqlite_write_units_total")
    assert sample(after, "taskhub_sqlite_wal_syncs_total") > sample(before, "taskhub_sqlite_wal_syncs_total")  # durable
    assert sample(after, "taskhub_sqlite_writer_busy_seconds_total") > sample(before, "taskhub_sqlite_writer_busy_seconds_total")
