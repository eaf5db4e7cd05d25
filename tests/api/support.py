"""Helpers shared by the black-box API tests and tests/api/check_docs_render.py.

Everything here talks to a real `taskhub` process over real sockets: no test reaches into
the server's memory or database.
"""
from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import requests

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_TIMEOUT = 10.0
PASSWORD = "correct horse battery staple"
STARTUP_TIMEOUT = float(os.environ.get("TASKHUB_TEST_STARTUP_TIMEOUT", "60"))
STOP_TIMEOUT = float(os.environ.get("TASKHUB_TEST_STOP_TIMEOUT", "30"))

# Every variable src/app/config.cpp reads: removed from the inherited environment so that a
# developer's shell cannot change what the tests run against.
CONFIG_VARS = [
    "TASKHUB_ENV", "DATABASE_URL", "REDIS_URI", "JWT_SECRET_KEY", "JWT_ISSUER", "JWT_AUDIENCE",
    "ACCESS_TOKEN_TTL_SECONDS", "REFRESH_TOKEN_TTL_SECONDS", "SMTP_URL", "MAIL_FROM", "PUBLIC_URL",
    "BIND_ADDRESS", "PORT", "IO_THREADS", "BLOCKING_THREADS", "WRITE_THREADS", "HASH_THREADS", "DB_POOL_SIZE",
    "SQLITE_SYNCHRONOUS",
    "CORS_ORIGINS", "TRUSTED_PROXIES", "DOCS_ASSETS_DIR", "LOG_LEVEL", "ACCESS_LOG", "MAX_BODY_BYTES",
    "MAX_HEADER_BYTES", "HEADER_TIMEOUT_MS", "IDLE_TIMEOUT_MS", "SHUTDOWN_GRACE_MS", "LOGIN_MAX_FAILURES",
    "LOGIN_WINDOW_SECONDS", "LOGIN_IP_MAX_ATTEMPTS", "REGISTRATION_OPEN", "TASK_PURGE_DAYS", "EVENT_RETENTION_HOURS",
    "JOB_MAX_ATTEMPTS", "JOB_LEASE_SECONDS", "JOB_BACKOFF_BASE_MS", "JOB_BACKOFF_MAX_MS", "JOB_RETENTION_DAYS",
    "WORKER_THREADS", "WORKER_POLL_MS", "WORKER_STOP_GRACE_MS", "TASKHUB_TEST_JOB_LOG", "TASKHUB_TEST_PERIODIC",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "S3_BUCKET", "S3_ENDPOINT", "S3_REGION", "S3_PATH_STYLE",
    "WS_MAX_CONNECTIONS", "WS_SEND_QUEUE_MAX", "WS_SEND_QUEUE_BYTES", "WS_MAX_MESSAGE_BYTES", "WS_PING_SECONDS",
    "WS_AUTH_TIMEOUT_MS", "WS_REPLAY_MAX",
    "NOTIFY_DUE_SOON_HOURS", "NOTIFY_EMAIL_BATCH_SECONDS", "NOTIFY_EMAIL_HOURLY_CAP", "TASKHUB_TEST_NOTIFY_HOOK",
    "TASKHUB_TEST_NOTIFY_DIGEST_SCHEDULE",
    "WEBHOOK_TIMEOUT_MS", "WEBHOOK_MAX_ATTEMPTS", "WEBHOOK_DISABLE_AFTER_HOURS", "WEBHOOK_ALLOW_HOSTS",
    "FILES_DIR", "FILES_MAX_UPLOAD_BYTES", "FILES_WORKSPACE_QUOTA_BYTES", "FILES_MAX_PER_TASK",
    "WEBHOOK_ALLOW_PRIVATE_CIDRS",
]


def taskhub_bin() -> str:
    path = os.environ.get("TASKHUB_BIN") or os.path.join(REPO, "build", "taskhub")
    return os.path.abspath(path)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}@example.com"


def random_secret() -> str:
    # 48 random bytes, as text (the server uses the variable's bytes as the HMAC key).
    return secrets.token_urlsafe(48)


# --------------------------------------------------------------------------------------------
# HTTP client


class Client(requests.Session):
    """requests.Session bound to a base URL, with a default timeout on every request."""

    def __init__(self, base_url: str, timeout: float = DEFAULT_TIMEOUT):
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.default_timeout = timeout
        self.headers["User-Agent"] = "taskhub-api-tests"

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        if url.startswith("/"):
            url = self.base_url + url
        kwargs.setdefault("timeout", self.default_timeout)
        kwargs.setdefault("allow_redirects", False)
        return super().request(method, url, *args, **kwargs)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Account:
    email: str
    password: str
    user: dict[str, Any]
    access_token: str = ""
    refresh_token: str = ""

    @property
    def id(self) -> str:
        return self.user["id"]

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


def register(api: Client, email_addr: str | None = None, password: str = PASSWORD,
             display_name: str = "Test User", expect: int = 201, **extra) -> requests.Response:
    body = {"email": email_addr or unique_email(), "password": password, "display_name": display_name}
    body.update(extra)
    r = api.post("/api/v1/auth/register", json=body)
    if expect is not None:
        assert r.status_code == expect, f"register {body['email']}: {r.status_code} {r.text[:500]}"
    return r


def login(api: Client, email_addr: str, password: str = PASSWORD, expect: int | None = 200,
          user_agent: str | None = None) -> requests.Response:
    headers = {"User-Agent": user_agent} if user_agent else {}
    r = api.post("/api/v1/auth/login", json={"email": email_addr, "password": password}, headers=headers)
    if expect is not None:
        assert r.status_code == expect, f"login {email_addr}: {r.status_code} {r.text[:500]}"
    return r


def new_account(api: Client, password: str = PASSWORD, display_name: str = "Test User",
                prefix: str = "user", do_login: bool = True) -> Account:
    addr = unique_email(prefix)
    user = register(api, addr, password, display_name).json()
    acc = Account(addr, password, user)
    if do_login:
        tokens = login(api, addr, password).json()
        acc.access_token = tokens["access_token"]
        acc.refresh_token = tokens["refresh_token"]
    return acc


def refresh(api: Client, refresh_token: str) -> requests.Response:
    return api.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})


def me(api: Client, token: str) -> requests.Response:
    return api.get("/api/v1/users/me", headers=bearer(token))


# --------------------------------------------------------------------------------------------
# Problem documents (RFC 9457)


def problem_code(body: dict) -> str:
    """The short code of a problem: `urn:taskhub:problem:<code>` or `https://.../<code>`."""
    t = str(body.get("type", ""))
    return re.split(r"[:/]", t)[-1] if t else ""


def assert_problem(r: requests.Response, status: int, code: str | None = None,
                   fields: list[str] | tuple[str, ...] | None = None) -> dict:
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:800]}"
    ct = r.headers.get("Content-Type", "")
    assert ct.startswith("application/problem+json"), f"Content-Type {ct!r}: {r.text[:300]}"
    body = r.json()
    assert body.get("status") == status, body
    assert body.get("type") and body.get("title"), body
    rid = r.headers.get("X-Request-Id")
    assert rid, "no X-Request-Id on an error answer"
    assert body.get("request_id") == rid, f"problem request_id {body.get('request_id')!r} != header {rid!r}"
    if code is not None:
        assert problem_code(body) == code, f"problem code {problem_code(body)!r} != {code!r}: {body}"
    if fields:
        errs = body.get("errors") or []
        named = {e.get("field") for e in errs}
        for f in fields:
            assert f in named, f"field {f!r} not named in errors {errs}"
    return body


def assert_validation_problem(r: requests.Response, fields: list[str] | tuple[str, ...] | None = None) -> dict:
    """400 naming at least one field (each `errors[]` entry must name one), or the given fields."""
    body = assert_problem(r, 400, fields=fields)
    errs = body.get("errors")
    assert isinstance(errs, list) and errs, f"400 without per-field errors: {body}"
    for e in errs:
        assert isinstance(e.get("field"), str) and e["field"], f"error without a field name: {e}"
        assert isinstance(e.get("message"), str), f"error without a message: {e}"
    return body


# --------------------------------------------------------------------------------------------
# JWT, by hand (hmac + hashlib + base64): no JWT library, so the tests cannot share its bugs.


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_decode(token: str) -> tuple[dict, dict, str]:
    h, p, s = token.split(".")
    return json.loads(b64u_decode(h)), json.loads(b64u_decode(p)), s


_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def jwt_sign(header: dict, payload: dict, key: bytes | str, alg: str | None = None) -> str:
    if isinstance(key, str):
        key = key.encode()
    alg = alg or header.get("alg", "HS256")
    signing_input = b64u(json.dumps(header, separators=(",", ":")).encode()) + "." + \
        b64u(json.dumps(payload, separators=(",", ":")).encode())
    if alg == "none":
        return signing_input + "."
    sig = hmac.new(key, signing_input.encode("ascii"), _HASHES[alg]).digest()
    return signing_input + "." + b64u(sig)


# --------------------------------------------------------------------------------------------
# Raw sockets: for what a well-behaved client library will not send.


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return status, headers


def raw_request(port: int, data: bytes, timeout: float = DEFAULT_TIMEOUT, host: str = "127.0.0.1") -> RawResponse:
    """Sends data as is (ignoring a server that closes early) and reads one HTTP response."""
    deadline = time.monotonic() + timeout
    buf = b""
    closed = False
    with socket.create_connection((host, port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before reading everything: read its answer
        head_end = -1
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no complete response within {timeout}s; got {buf[:200]!r}")
            s.settimeout(remaining)
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                closed = True
                break
            buf += chunk
            head_end = buf.find(b"\r\n\r\n")
            if head_end >= 0:
                status, headers = _parse_head(buf[:head_end])
                n = int(headers.get("content-length", "0") or 0)
                if len(buf) >= head_end + 4 + n:
                    break
        head_end = buf.find(b"\r\n\r\n")
        if head_end < 0:
            raise ConnectionError(f"connection closed without a response; got {buf[:200]!r}")
        status, headers = _parse_head(buf[:head_end])
        return RawResponse(status, headers, buf[head_end + 4:], closed)


# --------------------------------------------------------------------------------------------
# SMTP sink (aiosmtpd), in-process


class MailSink:
    """Collects every message a real SMTP server (aiosmtpd) receives on 127.0.0.1."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []
        self._cond = threading.Condition()
        self.controller = None
        self.port = 0

    # aiosmtpd handler hook
    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd API)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._cond:
            self.messages.append(([a.lower() for a in envelope.rcpt_tos], msg))
            self._cond.notify_all()
        return "250 Message accepted for delivery"

    def start(self) -> "MailSink":
        from aiosmtpd.controller import Controller
        last: Exception | None = None
        for _ in range(5):
            port = free_port()
            ctl = Controller(self, hostname="127.0.0.1", port=port, ready_timeout=10)
            try:
                ctl.start()
            except Exception as e:  # port taken between choosing and binding: retry
                last = e
                continue
            self.controller, self.port = ctl, port
            return self
        raise RuntimeError(f"could not start the SMTP sink: {last}")

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def messages_to(self, addr: str) -> list[email.message.EmailMessage]:
        with self._cond:
            return [m for rcpts, m in self.messages if addr.lower() in rcpts]

    def wait_for(self, addr: str, timeout: float = 20.0, count: int = 1) -> email.message.EmailMessage:
        """Waits until `count` messages to addr arrived; returns the latest."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for rcpts, m in self.messages if addr.lower() in rcpts]
                if len(found) >= count:
                    return found[-1]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no e-mail to {addr} within {timeout}s "
                                         f"({len(self.messages)} message(s) received in total)")
                self._cond.wait(remaining)


def message_text(msg: email.message.EmailMessage) -> str:
    parts = []
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            try:
                parts.append(part.get_content())
            except Exception:
                parts.append(part.get_payload(decode=True).decode("utf-8", "replace"))
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# The taskhub process


@dataclass
class TaskhubProcess:
    """One `taskhub serve` process with its own environment, port and log file."""

    database_url: str
    env_overrides: dict[str, str] = field(default_factory=dict)
    smtp_url: str = ""
    workdir: str = ""
    proc: subprocess.Popen | None = None
    port: int = 0
    secret: str = field(default_factory=random_secret)
    log_path: str = ""
    args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
        env.update({
            "TASKHUB_ENV": "testing",
            "BIND_ADDRESS": "127.0.0.1",
            "PORT": str(self.port),
            "DATABASE_URL": self.database_url,
            "JWT_SECRET_KEY": self.secret,
            "PUBLIC_URL": self.url,
            "LOGIN_IP_MAX_ATTEMPTS": "100000",
            "DOCS_ASSETS_DIR": os.path.join(REPO, "web", "node_modules"),
            "LOG_LEVEL": "info",
        })
        if self.smtp_url:
            env["SMTP_URL"] = self.smtp_url
        env.update(self.env_overrides)
        return env

    def run_cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """Runs `taskhub <args>` with this server's environment (same database)."""
        if not self.workdir:
            self.workdir = tempfile.mkdtemp(prefix="taskhub-test-")
        if not self.port:
            self.port = free_port()
        return subprocess.run([taskhub_bin(), *args], cwd=self.workdir, env=self.env(), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)

    def start(self) -> "TaskhubProcess":
        binary = taskhub_bin()
        if not os.access(binary, os.X_OK):
            raise RuntimeError(f"taskhub binary not found at {binary} (build it, or set TASKHUB_BIN)")
        if not self.workdir:
            # Its own working directory: a developer's ./.env must not leak into the tests.
            self.workdir = tempfile.mkdtemp(prefix="taskhub-test-")
        last_log = ""
        for _attempt in range(3):  # a free port can be taken between choosing and binding
            self.port = free_port()
            self.log_path = os.path.join(self.workdir, f"taskhub-{self.port}.log")
            log = open(self.log_path, "wb")
            self.proc = subprocess.Popen([binary, "serve", *self.args], cwd=self.workdir, env=self.env(),
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            log.close()
            if self._wait_healthy():
                return self
            last_log = self.log_tail()
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        raise RuntimeError(f"taskhub did not become healthy (log {self.log_path}):\n{last_log}")

    def _wait_healthy(self) -> bool:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                r = requests.get(self.url + "/healthz", timeout=2)
                if r.status_code == 200:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.05)
        return False

    def log_tail(self, n: int = 8000) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int | None:
        """Sends sig and waits; returns the exit code (None if it had to be killed)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.workdir and os.environ.get("TASKHUB_TEST_KEEP") != "1":
            shutil.rmtree(self.workdir, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Workspaces and projects (tests/api/test_workspaces.py, test_projects.py)


def new_workspace(api: Client, owner: Account, name: str = "Acme") -> dict:
    r = api.post("/api/v1/workspaces", headers=owner.headers, json={"name": name})
    assert r.status_code == 201, r.text[:500]
    return r.json()


def add_workspace_member(api: Client, actor: Account, ws_id: str, member: Account, role: str) -> dict:
    r = api.post(f"/api/v1/workspaces/{ws_id}/members", headers=actor.headers,
                 json={"email": member.email, "role": role})
    assert r.status_code == 201, r.text[:500]
    return r.json()


def new_project(api: Client, actor: Account, ws_id: str, key: str, name: str | None = None, **extra) -> dict:
    r = api.post(f"/api/v1/workspaces/{ws_id}/projects", headers=actor.headers,
                 json={"name": name or f"Project {key}", "key": key, **extra})
    assert r.status_code == 201, r.text[:500]
    return r.json()
