"""Realtime: WebSocket /api/v1/ws and SSE /api/v1/events (docs/realtime.md).

A real websockets client (python3-websockets) against the real binary: authentication first
(4001 otherwise), subscriptions checked against project/workspace membership, delivery within
a second of the write, the end of a subscription when the membership goes, resume from the last
event id (exact replay, or "reload" when unknown), the bounded send queue (4008) and message
size (1009), SSE, and two processes sharing Redis."""
from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid

import pytest
import requests
import websockets

from support import (Client, add_workspace_member, assert_problem, login, new_account, new_project, new_workspace,
                     random_secret)

WAIT = 5.0


def ws_url(srv) -> str:
    return srv.url.replace("http://", "ws://") + "/api/v1/ws"


def create_task(api, acc, pid, title="A task", **extra) -> dict:
    r = api.post(f"/api/v1/projects/{pid}/tasks", headers=acc.headers, json={"title": title, **extra})
    assert r.status_code == 201, r.text
    return r.json()


async def connect(srv, token: str | None = None, **kw):
    ws = await websockets.connect(ws_url(srv), open_timeout=WAIT, **kw)
    if token is not None:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        msg = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        assert msg["type"] == "auth_ok" and set(msg) == {"type", "user_id", "expires_at"}, msg
    return ws


async def subscribe(ws, channel: str, **extra) -> dict:
    await ws.send(json.dumps({"type": "subscribe", "channel": channel, **extra}))
    return json.loads(await asyncio.wait_for(ws.recv(), WAIT))


async def next_message(ws, timeout: float = WAIT) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def until(ws, pred, timeout: float = WAIT) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("expected message did not arrive")
        msg = await next_message(ws, left)
        if pred(msg):
            return msg


async def drain(ws, quiet: float = 0.5) -> list[dict]:
    """Every message until none arrives for `quiet` seconds."""
    out = []
    while True:
        try:
            out.append(await next_message(ws, quiet))
        except asyncio.TimeoutError:
            return out


async def closed_with(ws, timeout: float = WAIT) -> int:
    """Reads until the server closes; returns the close code."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except websockets.exceptions.ConnectionClosed as e:
        return e.code
    except asyncio.TimeoutError:
        raise AssertionError("the server did not close the connection")


def run(coro):
    return asyncio.run(coro)


def team(api):
    a, b = new_account(api), new_account(api)
    ws = new_workspace(api, a)
    p = new_project(api, a, ws["id"], "RT")
    return a, b, ws, p


# ------------------------------------------------------------------------------------------------
# Authentication


def test_auth_is_required_first(server, api):
    a = new_account(api)

    async def main():
        ws = await connect(server)
        await ws.send(json.dumps({"type": "subscribe", "channel": "user:me"}))
        assert await closed_with(ws) == 4001
        ws = await connect(server)
        await ws.send(json.dumps({"type": "auth", "token": "not-a-token"}))
        assert await closed_with(ws) == 4001
        ws = await connect(server)
        await ws.send("not json")
        assert await closed_with(ws) == 4001
        # A good token works; a second auth with a token of the same user renews the credential,
        # a bad one is refused politely and the connection keeps its credential.
        ws = await connect(server, a.access_token)
        await ws.send(json.dumps({"type": "auth", "token": a.access_token}))
        assert (await next_message(ws))["type"] == "auth_ok"
        await ws.send(json.dumps({"type": "auth", "token": "not-a-token"}))
        assert (await next_message(ws))["code"] == "invalid-token"
        await ws.send(json.dumps({"type": "ping", "id": 7}))
        assert (await next_message(ws)) == {"type": "pong", "id": 7}
        await ws.close()

    run(main())


def test_auth_timeout_closes_4001(server_factory):
    srv = server_factory(WS_AUTH_TIMEOUT_MS="300")

    async def main():
        ws = await connect(srv)
        t0 = time.monotonic()
        assert await closed_with(ws) == 4001
        assert time.monotonic() - t0 < 3

    run(main())


def test_plain_get_is_426(api):
    r = api.get("/api/v1/ws")
    assert r.status_code == 426, r.text
    assert r.headers["Upgrade"] == "websocket"
    # The answer's own token and the server's close, in one header.
    tokens = [t.strip().lower() for t in r.headers["Connection"].split(",")]
    assert "upgrade" in tokens and "close" in tokens, r.headers["Connection"]


# ------------------------------------------------------------------------------------------------
# Subscriptions and delivery


def test_project_subscriber_receives_task_created_quickly(server, api):
    a, b, wsp, p = team(api)
    add_workspace_member(api, a, wsp["id"], b, "member")

    async def main():
        ws = await connect(server, b.access_token)  # B sees A's changes
        ack = await subscribe(ws, f"project:{p['id']}")
        assert ack == {"type": "subscribed", "channel": f"project:{p['id']}"}
        t0 = time.monotonic()
        task = create_task(api, a, p["id"], "live")
        posted = time.monotonic()
        ev = await until(ws, lambda m: m.get("type") == "task.created")
        assert time.monotonic() - posted < 1.0, f"delivered {time.monotonic() - t0:.3f}s after the POST started"
        assert ev["task_id"] == task["id"] and ev["project_id"] == p["id"] and ev["workspace_id"] == wsp["id"]
        assert ev["actor_id"] == a.id and isinstance(ev["seq"], int) and ev["id"]
        assert isinstance(ev["payload"], dict)
        # app-level ping
        await ws.send(json.dumps({"type": "ping", "id": 7}))
        assert await until(ws, lambda m: m.get("type") == "pong") == {"type": "pong", "id": 7}
        await ws.close()

    run(main())


def test_outsider_cannot_subscribe_and_receives_nothing(server, api):
    a, b, wsp, p = team(api)

    async def main():
        wb = await connect(server, b.access_token)
        denied = await subscribe(wb, f"project:{p['id']}")
        unknown = await subscribe(wb, f"project:{uuid.uuid4()}")
        assert denied["type"] == "error" and denied["code"] == "channel-not-found"
        # No existence oracle: the same answer for a project that does not exist.
        assert {k: v for k, v in denied.items() if k != "channel"} == \
               {k: v for k, v in unknown.items() if k != "channel"}
        for ch in (f"workspace:{wsp['id']}", f"user:{a.id}"):
            r = await subscribe(wb, ch)
            assert r["code"] == "channel-not-found", r
        bad = await subscribe(wb, "project:nope")
        assert bad["code"] == "invalid-channel"
        create_task(api, a, p["id"])
        assert await drain(wb, 0.7) == []
        await wb.close()

    run(main())


def test_workspace_and_task_channels(server, api):
    a, b, wsp, p = team(api)

    async def main():
        wa = await connect(server, a.access_token)
        assert (await subscribe(wa, f"workspace:{wsp['id']}"))["type"] == "subscribed"
        t = create_task(api, a, p["id"])
        ev = await until(wa, lambda m: m.get("type") == "task.created")
        assert ev["task_id"] == t["id"]
        wt = await connect(server, a.access_token)
        assert (await subscribe(wt, f"task:{t['id']}"))["type"] == "subscribed"
        r = api.patch(f"/api/v1/tasks/{t['id']}", headers=a.headers, json={"title": "renamed"})
        assert r.status_code == 200, r.text
        ev = await until(wt, lambda m: m.get("task_id") == t["id"] and m.get("type") != "task.created")
        assert ev["type"].startswith("task.")
        # Another task of the project is not on this task's channel.
        create_task(api, a, p["id"])
        assert [m for m in await drain(wt, 0.5) if m.get("type") == "task.created"] == []
        wb = await connect(server, b.access_token)
        assert (await subscribe(wb, f"task:{t['id']}"))["code"] == "channel-not-found"
        for w in (wa, wt, wb):
            await w.close()

    run(main())


def test_losing_membership_ends_subscription(server, api):
    a, b, wsp, p0 = team(api)
    add_workspace_member(api, a, wsp["id"], b, "member")
    p = new_project(api, a, wsp["id"], "PRIV", is_private=True)
    r = api.post(f"/api/v1/projects/{p['id']}/members", headers=a.headers, json={"user_id": b.id, "role": "member"})
    assert r.status_code in (200, 201), r.text

    async def main():
        wb = await connect(server, b.access_token)
        assert (await subscribe(wb, f"project:{p['id']}"))["type"] == "subscribed"
        create_task(api, a, p["id"], "seen")
        await until(wb, lambda m: m.get("type") == "task.created")
        r = api.delete(f"/api/v1/projects/{p['id']}/members/{b.id}", headers=a.headers)
        assert r.status_code == 204, r.text
        msg = await until(wb, lambda m: m.get("type") == "unsubscribed")
        assert msg == {"type": "unsubscribed", "channel": f"project:{p['id']}", "reason": "access-revoked"}
        create_task(api, a, p["id"], "unseen")
        assert [m for m in await drain(wb, 0.7) if m.get("type") == "task.created"] == []
        await wb.close()

    run(main())


# ------------------------------------------------------------------------------------------------
# Resume


def test_resume_replays_exactly_the_missed_events_in_order(server, api):
    a, b, wsp, p = team(api)

    async def main():
        ws = await connect(server, a.access_token)
        await subscribe(ws, f"project:{p['id']}")
        create_task(api, a, p["id"], "first")
        first = await until(ws, lambda m: m.get("type") == "task.created")
        await drain(ws, 0.3)
        await ws.close()
        missed = [create_task(api, a, p["id"], f"missed {i}")["id"] for i in range(3)]

        ws = await connect(server, a.access_token)
        ack = await subscribe(ws, f"project:{p['id']}", last_event_id=first["id"])
        assert ack["type"] == "subscribed"
        got = await drain(ws, 0.7)
        created = [m["task_id"] for m in got if m.get("type") == "task.created"]
        assert created == missed
        seqs = [m["seq"] for m in got]
        assert seqs == sorted(set(seqs)) and all(s > first["seq"] for s in seqs), seqs
        # Live again after the replay, without duplicates.
        t = create_task(api, a, p["id"], "live")
        ev = await until(ws, lambda m: m.get("type") == "task.created")
        assert ev["task_id"] == t["id"]
        await ws.close()

    run(main())


def test_unknown_last_event_id_asks_for_reload(server, api):
    a, b, wsp, p = team(api)

    async def main():
        ws = await connect(server, a.access_token)
        await subscribe(ws, f"project:{p['id']}", last_event_id=str(uuid.uuid4()))
        msg = await until(ws, lambda m: m.get("type") == "reload")
        assert msg["channel"] == f"project:{p['id']}"
        # Still subscribed from now on.
        t = create_task(api, a, p["id"])
        assert (await until(ws, lambda m: m.get("type") == "task.created"))["task_id"] == t["id"]
        await ws.close()

    run(main())


# ------------------------------------------------------------------------------------------------
# Bounds


def test_oversized_message_closes_1009(server, api):
    a = new_account(api)

    async def main():
        ws = await connect(server, a.access_token)
        await ws.send("x" * (70 * 1024))
        assert await closed_with(ws) == 1009

    run(main())


def test_slow_consumer_is_closed_4008(server_factory):
    srv = server_factory(WS_SEND_QUEUE_MAX="4")
    api = Client(srv.url)
    a, b, wsp, p = team(api)

    async def main():
        # A reader that does not read: tiny receive buffers on the client side so that the
        # server's writes back up after a few dozen kilobytes.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", srv.port))
        ws = await websockets.connect(ws_url(srv), sock=sock, max_queue=1, read_limit=4096, open_timeout=WAIT)
        await ws.send(json.dumps({"type": "auth", "token": a.access_token}))
        await ws.send(json.dumps({"type": "subscribe", "channel": f"project:{p['id']}"}))
        await asyncio.sleep(0.2)
        refused = 0
        for i in range(60):
            # Events are produced quickly (8 writers, 60 KB each: more than the kernel socket
            # buffers can absorb) while the client reads nothing.
            await asyncio.gather(*[asyncio.to_thread(create_task, api, a, p["id"], "big", description="x" * 60000) for _ in range(8)])
            m = api.get("/metrics").text
            refused = int(next(l.split()[-1] for l in m.splitlines()
                               if l.startswith("taskhub_realtime_send_refused_total")))
            if refused > 0:
                break
        assert refused > 0, "the send queue bound was never hit"
        assert await closed_with(ws, 15) == 4008

    run(main())
    api.close()


# ------------------------------------------------------------------------------------------------
# SSE


class SseReader:
    def __init__(self, url: str, headers: dict):
        self.resp = requests.get(url, headers=headers, stream=True, timeout=(WAIT, 30))
        self.events: list[dict] = []
        self.ids: list[str] = []
        self.comments = 0
        self.lock = threading.Lock()
        if self.resp.status_code == 200:
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()

    def _run(self):
        cur_id = None
        try:
            for line in self.resp.iter_lines(chunk_size=1, decode_unicode=True):
                if line is None:
                    continue
                if line.startswith(":"):
                    self.comments += 1
                elif line.startswith("id: "):
                    cur_id = line[4:]
                elif line.startswith("data: "):
                    with self.lock:
                        self.events.append(json.loads(line[6:]))
                        self.ids.append(cur_id)
                    cur_id = None
        except Exception:
            pass

    def wait_for(self, pred, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for i, e in enumerate(self.events):
                    if pred(e):
                        return e, self.ids[i]
            time.sleep(0.02)
        raise AssertionError(f"no matching SSE event; got {self.events}")

    def close(self):
        # Shut the socket down first: the reader thread sits in a blocking read holding the
        # buffered reader's lock, and a plain close() would wait for the next heartbeat (25 s).
        # (http.client drops the connection's socket on a "close" response; the response's
        # file object still holds it.)
        try:
            sock = self.resp.raw._fp.fp.raw._sock
        except AttributeError:
            sock = None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.resp.close()
        if hasattr(self, "thread"):
            self.thread.join(timeout=WAIT)


def test_sse_stream(server, api):
    a, b, wsp, p = team(api)
    url = server.url + f"/api/v1/events?channels=project:{p['id']},user:me"
    r = requests.get(url, timeout=WAIT)
    assert_problem(r, 401)
    r = requests.get(server.url + f"/api/v1/events?channels=project:{p['id']}", headers=b.headers, timeout=WAIT)
    assert_problem(r, 404)
    r2 = requests.get(server.url + f"/api/v1/events?channels=project:{uuid.uuid4()}", headers=b.headers,
                      timeout=WAIT)
    assert_problem(r2, 404)
    assert r.json()["detail"] == r2.json()["detail"]
    r = requests.get(server.url + "/api/v1/events?channels=bogus", headers=a.headers, timeout=WAIT)
    assert r.status_code == 400 and "channels" in r.text

    sse = SseReader(url, a.headers)
    assert sse.resp.status_code == 200
    assert sse.resp.headers["Content-Type"].startswith("text/event-stream")
    time.sleep(0.2)
    t = create_task(api, a, p["id"], "via sse")
    ev, ev_id = sse.wait_for(lambda e: e.get("type") == "task.created")
    assert ev["task_id"] == t["id"] and ev_id == ev["id"]
    sse.close()

    # Resume with Last-Event-ID.
    missed = create_task(api, a, p["id"], "missed")
    sse = SseReader(url, {**a.headers, "Last-Event-ID": ev["id"]})
    ev2, _ = sse.wait_for(lambda e: e.get("type") == "task.created")
    assert ev2["task_id"] == missed["id"]
    sse.close()


def test_streams_end_when_their_credential_is_revoked(server_factory):
    """A logout everywhere ends the user's open WebSocket and SSE streams within
    WS_CREDENTIAL_CHECK_SECONDS (4001); a fresh token of the same user sent on the socket renews
    it; another user's token is refused there; other users' streams stay open."""
    srv = server_factory(WS_CREDENTIAL_CHECK_SECONDS="1")
    api = Client(srv.url)
    a, b = new_account(api), new_account(api)

    async def main():
        wa = await connect(srv, a.access_token)
        wb = await connect(srv, b.access_token)
        fresh = login(api, a.email).json()["access_token"]
        await wa.send(json.dumps({"type": "auth", "token": fresh}))
        msg = await next_message(wa)
        assert msg["type"] == "auth_ok" and msg["user_id"] == a.id and msg["expires_at"].endswith("Z"), msg
        await wa.send(json.dumps({"type": "auth", "token": b.access_token}))
        assert (await next_message(wa))["code"] == "already-authenticated"
        sse = SseReader(srv.url + "/api/v1/events?channels=user:me", a.headers)
        assert sse.resp.status_code == 200
        await asyncio.sleep(1.5)  # a credential check round passes: nothing is revoked yet
        await wa.send(json.dumps({"type": "ping", "id": 1}))
        assert (await next_message(wa))["type"] == "pong"

        r = api.post("/api/v1/auth/logout-all", headers=a.headers)
        assert r.status_code in (200, 204), r.text
        t0 = time.monotonic()
        assert await closed_with(wa, 5) == 4001
        assert time.monotonic() - t0 < 4
        sse.thread.join(5)
        assert not sse.thread.is_alive(), "the SSE stream of a logged-out user stayed open"
        await wb.send(json.dumps({"type": "ping", "id": 2}))
        assert (await next_message(wb))["type"] == "pong"
        await wb.close()

    run(main())
    api.close()


def test_sse_heartbeat(server_factory):
    srv = server_factory(WS_PING_SECONDS="1")
    api = Client(srv.url)
    a = new_account(api)
    sse = SseReader(srv.url + "/api/v1/events?channels=user:me", a.headers)
    assert sse.resp.status_code == 200
    deadline = time.monotonic() + 4
    while sse.comments == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sse.comments > 0
    sse.close()
    api.close()


# ------------------------------------------------------------------------------------------------
# Two processes, one database, one Redis


def test_two_processes_share_events_through_redis(server_factory, new_database_url, redis_server, db_backend):
    if db_backend != "postgres":
        pytest.skip("two processes on one database: PostgreSQL")
    db = new_database_url()
    secret = random_secret()
    s1 = server_factory(database_url=db, REDIS_URI=redis_server.url, JWT_SECRET_KEY=secret)
    s2 = server_factory(database_url=db, REDIS_URI=redis_server.url, JWT_SECRET_KEY=secret)
    api1 = Client(s1.url)
    a, b, wsp, p = team(api1)

    async def main():
        w1 = await connect(s1, a.access_token)
        w2 = await connect(s2, a.access_token)
        for w in (w1, w2):
            assert (await subscribe(w, f"project:{p['id']}"))["type"] == "subscribed"
        t = create_task(api1, a, p["id"], "both")
        for w in (w1, w2):
            ev = await until(w, lambda m: m.get("type") == "task.created")
            assert ev["task_id"] == t["id"]
        await w1.close()
        await w2.close()

    run(main())
    api1.close()


def test_shutdown_closes_streams_1001(server_factory):
    srv = server_factory()
    api = Client(srv.url)
    a = new_account(api)
    sse = SseReader(srv.url + "/api/v1/events?channels=user:me", a.headers)
    assert sse.resp.status_code == 200

    async def main():
        ws = await connect(srv, a.access_token)
        assert (await subscribe(ws, "user:me"))["type"] == "subscribed"
        t0 = time.monotonic()
        stopper = asyncio.create_task(asyncio.to_thread(srv.stop))
        assert await closed_with(ws, 10) == 1001
        assert await stopper == 0
        assert time.monotonic() - t0 < 5, "open streams held up the shutdown"

    run(main())
    sse.close()
    api.close()


def test_peer_that_never_pongs_is_dropped(server_factory):
    """A raw client that completes the handshake and authenticates, then never answers pings."""
    import base64
    import os
    srv = server_factory(WS_PING_SECONDS="1")
    api = Client(srv.url)
    a = new_account(api)
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=WAIT)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /api/v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    payload = json.dumps({"type": "auth", "token": a.access_token}).encode()
    mask = os.urandom(4)
    assert len(payload) < 65536
    frame = bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big") + mask + \
        bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(frame)
    t0 = time.monotonic()
    got = b""
    sock.settimeout(10)
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            break
        got += chunk
    elapsed = time.monotonic() - t0
    assert b"\x89" in got, "no ping was sent"  # opcode 9 = ping
    assert 1.0 < elapsed < 6.0, elapsed
    sock.close()
    api.close()


def test_connection_limit_answers_503(server_factory):
    srv = server_factory(WS_MAX_CONNECTIONS="1")
    api = Client(srv.url)
    a = new_account(api)

    async def main():
        ws = await connect(srv, a.access_token)
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
            await connect(srv)
        assert e.value.status_code == 503
        r = requests.get(srv.url + "/api/v1/events?channels=user:me", headers=a.headers, timeout=WAIT)
        assert_problem(r, 503)
        await ws.close()
        # The slot is free again once the first client is gone.
        for _ in range(50):
            try:
                w2 = await connect(srv, a.access_token)
                await w2.close()
                return
            except websockets.exceptions.InvalidStatusCode:
                await asyncio.sleep(0.05)
        raise AssertionError("the connection slot was not released")

    run(main())
    api.close()
