"""The bad-input list on register, login and PATCH /users/me: malformed JSON, wrong types,
missing and unknown fields, invalid UTF-8, deep nesting (400 naming the field), oversized
body (413), oversized header (431), a slow client (dropped); and none of it changes stored data."""
import json
import socket
import time

import pytest

from support import (
    PASSWORD, assert_validation_problem, login, me, new_account, raw_request, unique_email,
)

DEEP = b"[" * 100 + b"]" * 100


def reg_body(**over):
    body = {"email": unique_email("bad"), "password": PASSWORD, "display_name": "Bad Input"}
    body.update(over)
    return body


def j(obj) -> bytes:
    return json.dumps(obj).encode()


# (name, body bytes, fields that must be named; None: any field, e.g. "body")
REGISTER_CASES = [
    ("malformed JSON", b'{"email": "a@example.com", "password": ', None),
    ("trailing garbage", j(reg_body()) + b" x", None),
    ("empty body", b"", None),
    ("array instead of object", b"[]", None),
    ("string instead of object", b'"hello"', None),
    ("null", b"null", None),
    ("email wrong type", j(reg_body(email=123)), ["email"]),
    ("password wrong type", j(reg_body(password=True)), ["password"]),
    ("display_name wrong type", j(reg_body(display_name=["x"])), ["display_name"]),
    ("display_name null", j(reg_body(display_name=None)), ["display_name"]),
    ("missing everything", b"{}", ["email", "password", "display_name"]),
    ("missing password", j({"email": unique_email(), "display_name": "x"}), ["password"]),
    ("unknown field is_admin", j(reg_body(is_admin=True)), ["is_admin"]),
    ("unknown field id", j(reg_body(id="0192f5a8-1c2b-7d3e-8f40-5a6b7c8d9e0f")), ["id"]),
    ("invalid UTF-8 in a string", b'{"email":"\xff\xfe@example.com","password":"' + PASSWORD.encode()
     + b'","display_name":"x"}', None),
    ("invalid UTF-8 overlong", b'{"email":"a@example.com","password":"' + PASSWORD.encode()
     + b'","display_name":"\xc0\xaf"}', None),
    ("NUL in display_name", j(reg_body(display_name="a\u0000b")), ["display_name"]),
    ("nested 100 deep", b'{"email":"a@example.com","password":"' + PASSWORD.encode()
     + b'","display_name":' + DEEP + b"}", None),
    ("nested 100 deep objects", b'{"x":' + b'{"a":' * 99 + b"1" + b"}" * 99 + b"}", None),
    ("number too large", j(reg_body()).replace(b'"display_name"', b'"n": 1e999999, "display_name"'), None),
]

LOGIN_CASES = [
    ("malformed JSON", b'{"email": ', None),
    ("empty body", b"", None),
    ("array", b"[1]", None),
    ("email wrong type", None, ["email"]),
    ("password wrong type", None, ["password"]),
    ("missing password", None, ["password"]),
    ("missing everything", b"{}", ["email", "password"]),
    ("unknown field", None, ["remember_me"]),
    ("invalid UTF-8", None, None),
    ("nested 100 deep", None, None),
]

PATCH_CASES = [
    ("malformed JSON", b'{"display_name": "x"', None),
    ("empty body", b"", None),
    ("array", b'["display_name"]', None),
    ("display_name wrong type", j({"display_name": 5}), ["display_name"]),
    ("display_name empty", j({"display_name": ""}), ["display_name"]),
    ("display_name too long", j({"display_name": "x" * 101}), ["display_name"]),
    ("timezone wrong type", j({"timezone": False}), ["timezone"]),
    ("unknown field email", j({"email": "new@example.com"}), ["email"]),
    ("unknown field is_admin", j({"is_admin": True}), ["is_admin"]),
    ("unknown field next to a valid one", j({"display_name": "Changed", "role": "admin"}), ["role"]),
    ("invalid UTF-8", b'{"display_name":"\xed\xa0\x80"}', None),
    ("nested 100 deep", b'{"display_name":' + DEEP + b"}", None),
]


def post_raw(api, path, body: bytes, headers=None, method="POST"):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return api.request(method, path, data=body, headers=h)


def count_users(api, admin_headers) -> int:
    n, cursor = 0, None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        r = api.get("/api/v1/admin/users", headers=admin_headers, params=params)
        assert r.status_code == 200, r.text
        n += len(r.json()["items"])
        cursor = r.json()["next_cursor"]
        if not cursor:
            return n


@pytest.mark.parametrize("name,body,fields", REGISTER_CASES, ids=[c[0] for c in REGISTER_CASES])
def test_register_bad_input(api, admin, name, body, fields):
    before = count_users(api, admin.headers)
    r = post_raw(api, "/api/v1/auth/register", body)
    assert_validation_problem(r, fields)
    assert count_users(api, admin.headers) == before, "a user was created by a bad request"


@pytest.mark.parametrize("name,body,fields", LOGIN_CASES, ids=[c[0] for c in LOGIN_CASES])
def test_login_bad_input(api, name, body, fields):
    acc = new_account(api, do_login=False)
    if body is None:
        body = {
            "email wrong type": j({"email": ["x"], "password": PASSWORD}),
            "password wrong type": j({"email": acc.email, "password": 12345678}),
            "missing password": j({"email": acc.email}),
            "unknown field": j({"email": acc.email, "password": PASSWORD, "remember_me": True}),
            "invalid UTF-8": b'{"email":"' + acc.email.encode() + b'","password":"\xff\xff\xff\xff\xff\xff\xff\xff"}',
            "nested 100 deep": b'{"email":"' + acc.email.encode() + b'","password":' + DEEP + b"}",
        }[name]
    r = post_raw(api, "/api/v1/auth/login", body)
    assert_validation_problem(r, fields)
    assert "access_token" not in r.text
    login(api, acc.email, PASSWORD)  # still logs in: nothing changed, nothing locked


@pytest.mark.parametrize("name,body,fields", PATCH_CASES, ids=[c[0] for c in PATCH_CASES])
def test_patch_me_bad_input(api, name, body, fields):
    acc = new_account(api, display_name="Unchanged")
    before = me(api, acc.access_token).json()
    r = post_raw(api, "/api/v1/users/me", body, headers=acc.headers, method="PATCH")
    assert_validation_problem(r, fields)
    after = me(api, acc.access_token).json()
    assert after == before, "a rejected PATCH changed the user"


def test_other_bodies_are_validated_too(api, user):
    # The same parser guards every JSON body: a sample of the other auth endpoints.
    for path in ("/api/v1/auth/refresh", "/api/v1/auth/logout", "/api/v1/auth/password-reset/request",
                 "/api/v1/auth/password-reset/confirm"):
        assert_validation_problem(post_raw(api, path, b'{"x":'))
        assert_validation_problem(post_raw(api, path, b'{"x":' + DEEP + b"}"))
    assert_validation_problem(post_raw(api, "/api/v1/users/me/password", b"[]", headers=user.headers))
    assert_validation_problem(post_raw(api, "/api/v1/users/me/api-tokens", b'{"name":"\xff"}',
                                       headers=user.headers))


# ---------------------------------------------------------------------------------------------
# Sizes and timeouts (raw sockets: well-behaved client libraries will not do these)


def head(method: str, path: str, port: int, extra: str = "", body_len: int | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json"]
    if body_len is not None:
        lines.append(f"Content-Length: {body_len}")
    if extra:
        lines.append(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.parametrize("method,path", [("POST", "/api/v1/auth/register"), ("POST", "/api/v1/auth/login"),
                                         ("PATCH", "/api/v1/users/me")])
def test_oversized_body_is_413(api, server, admin, user, method, path):
    before = count_users(api, admin.headers)
    me_before = me(api, user.access_token).json()
    size = 8 * 1024 * 1024  # above any route's limit; announced, then only a start is sent
    data = head(method, path, server.port, f"Authorization: Bearer {user.access_token}", size)
    data += b'{"display_name":"' + b"x" * 65536
    r = raw_request(server.port, data)
    assert r.status == 413, (r.status, r.body[:300])
    assert r.headers.get("content-type", "").startswith("application/problem+json")
    assert json.loads(r.body)["status"] == 413
    assert count_users(api, admin.headers) == before
    assert me(api, user.access_token).json() == me_before


def test_oversized_chunked_body_is_413(server):
    chunk = b"x" * 65536
    data = ("POST /api/v1/auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    body = b""
    for _ in range(40):  # 2.5 MiB in 64 KiB chunks
        body += f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    r = raw_request(server.port, data + body + b"0\r\n\r\n")
    assert r.status == 413, (r.status, r.body[:300])


def test_oversized_header_is_431(api, server):
    data = head("GET", "/api/v1/users/me", server.port, "X-Padding: " + "a" * 65536)
    r = raw_request(server.port, data)
    assert r.status == 431, (r.status, r.body[:300])
    many = "\r\n".join(f"X-H{i}: {'b' * 100}" for i in range(400))  # 40 KiB in many headers
    r = raw_request(server.port, head("GET", "/healthz", server.port, many))
    assert r.status == 431, (r.status, r.body[:300])
    assert api.get("/healthz").status_code == 200


def test_slow_client_is_disconnected(server_factory):
    srv = server_factory(HEADER_TIMEOUT_MS="2000")
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"z" * 100
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    t0 = time.monotonic()
    closed_after = None
    try:
        for i in range(len(request)):
            if time.monotonic() - t0 > 10:
                break
            try:
                s.sendall(request[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                closed_after = time.monotonic() - t0
                break
            s.settimeout(1.0)
            try:
                data = s.recv(4096)
            except socket.timeout:
                continue
            except ConnectionResetError:
                data = b""
            # EOF, or the server's 408 answer before closing: either way we were dropped.
            closed_after = time.monotonic() - t0
            if data:
                assert data.startswith(b"HTTP/1.1 408") or data.startswith(b"HTTP/1.1 4"), data[:100]
            break
    finally:
        s.close()
    assert closed_after is not None, "a client sending one byte per second was never disconnected"
    assert closed_after < 5.5, f"slow client dropped only after {closed_after:.1f} s (header timeout 2 s)"
    # The server is fine afterwards.
    r = raw_request(srv.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert r.status == 200
