"""Fixtures for the black-box API suite.

Environment:
  TASKHUB_BIN       the binary under test (default: build/taskhub)
  TASKHUB_TEST_DB   sqlite (default) or postgres: postgres starts a throwaway PostgreSQL 15
                    cluster (tests/api/pg_cluster.py) and gives every server a fresh database
  TASKHUB_TEST_KEEP 1 keeps server working directories and logs

Session fixtures: one SMTP sink (aiosmtpd) and one shared taskhub server whose first
registered account (the bootstrap administrator, registered before any test runs) is the
instance administrator. Tests that need their own configuration or an empty database start
their own server through `server_factory`. Every server is stopped with SIGTERM at the end
and must exit with code 0 (graceful shutdown).
"""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from support import (  # noqa: E402
    PASSWORD, Account, Client, MailSink, TaskhubProcess, login, register, unique_email,
)


def pytest_report_header(config):
    from support import taskhub_bin
    return [f"taskhub binary: {taskhub_bin()}", f"database: {os.environ.get('TASKHUB_TEST_DB', 'sqlite')}"]


# ---------------------------------------------------------------------------------------------
# Infrastructure


@pytest.fixture(scope="session")
def db_backend() -> str:
    backend = os.environ.get("TASKHUB_TEST_DB", "sqlite").strip().lower()
    if backend not in ("sqlite", "postgres"):
        raise pytest.UsageError(f"TASKHUB_TEST_DB must be sqlite or postgres (got {backend!r})")
    return backend


@pytest.fixture(scope="session")
def pg_cluster(db_backend):
    if db_backend != "postgres":
        yield None
        return
    from pg_cluster import PgCluster
    cluster = PgCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def new_database_url(db_backend, pg_cluster, tmp_path_factory):
    """Returns a function that creates an empty database and returns its DATABASE_URL."""
    def make() -> str:
        if db_backend == "postgres":
            return pg_cluster.create_database()
        d = tmp_path_factory.mktemp("db")
        return f"sqlite://{d}/taskhub.db"  # absolute path: sqlite:///tmp/...
    return make


@pytest.fixture(scope="session")
def smtp():
    sink = MailSink().start()
    try:
        yield sink
    finally:
        sink.stop()


class RedisServer:
    """A real redis-server on a free port in its own temporary directory, without persistence.
    stop() kills it (SIGKILL, like a crash: its data is gone); start() again reuses the port."""

    def __init__(self, tmpdir: str) -> None:
        import shutil
        from support import free_port
        self.binary = shutil.which("redis-server") or ""
        self.port = free_port()
        self.dir = tmpdir
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> "RedisServer":
        import socket
        import subprocess
        import time
        if self.proc is not None and self.proc.poll() is None:
            return self
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir, "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """One real redis-server for the session (REDIS_URI=redis_server.url). Tests that stop Redis
    start their own RedisServer (redis_factory) instead of stopping this one."""
    srv = RedisServer(str(tmp_path_factory.mktemp("redis")))
    if not srv.binary:
        pytest.skip("redis-server is not installed (scripts/setup installs it)")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def redis_factory(tmp_path_factory):
    """Starts private redis-servers (stopped at the end of the test)."""
    started: list[RedisServer] = []

    def start() -> RedisServer:
        srv = RedisServer(str(tmp_path_factory.mktemp("redis")))
        if not srv.binary:
            pytest.skip("redis-server is not installed (scripts/setup installs it)")
        started.append(srv)
        return srv.start()

    yield start
    for srv in started:
        srv.stop()


class S3rver:
    """A real S3-protocol server (the s3rver npm package in web/node_modules) on a free port, with
    one bucket, its objects as files under `dir`. It checks the access key id (only S3RVER
    exists), expiry of presigned URLs and clock skew, but not SigV4 signatures themselves (those
    are checked against AWS's examples and botocore in src/adapters/s3/sigv4_test.cpp)."""

    access_key = "S3RVER"
    secret = "S3RVER"

    def __init__(self, tmpdir: str, bucket: str = "taskhub-files") -> None:
        import shutil
        from support import REPO, free_port
        self.node = shutil.which("node") or ""
        self.script = os.path.join(REPO, "web", "node_modules", "s3rver", "bin", "s3rver.js")
        self.port = free_port()
        self.dir = tmpdir
        self.bucket = bucket
        self.proc = None

    @property
    def available(self) -> bool:
        return bool(self.node) and os.path.exists(self.script)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The variables that point a taskhub server at this store (for server_factory)."""
        return {"S3_BUCKET": self.bucket, "S3_REGION": "us-east-1", "S3_ENDPOINT": self.endpoint,
                "AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret}

    def object_keys(self) -> list[str]:
        """Keys stored in the bucket, read from s3rver's directory (<key>._S3rver_object files)."""
        root = os.path.join(self.dir, self.bucket)
        keys = []
        for d, _dirs, files in os.walk(root):
            for f in files:
                if f.endswith("._S3rver_object"):
                    keys.append(os.path.relpath(os.path.join(d, f[:-len("._S3rver_object")]), root))
        return sorted(keys)

    def start(self) -> "S3rver":
        import socket
        import subprocess
        import time
        # --openssl-legacy-provider: s3rver encrypts ListObjectsV2 continuation tokens with DES,
        # which Node 17+ (OpenSSL 3) only has in the legacy provider (HTTP 500 otherwise).
        self.proc = subprocess.Popen(
            [self.node, "--openssl-legacy-provider", self.script, "-d", self.dir, "-a", "127.0.0.1",
             "-p", str(self.port), "--silent", "--no-vhost-buckets", "--configure-bucket", self.bucket],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"s3rver exited at start (code {self.proc.returncode})")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    if os.path.isdir(os.path.join(self.dir, self.bucket)):
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"s3rver did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """One s3rver for the session; pass s3_server.env() to server_factory for an S3-backed taskhub."""
    srv = S3rver(str(tmp_path_factory.mktemp("s3rver")))
    if not srv.available:
        pytest.skip("node or web/node_modules/s3rver is missing (scripts/setup installs them)")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def _stop_and_check(srv: TaskhubProcess) -> None:
    rc = srv.stop()
    tail = srv.log_tail()
    srv.cleanup()
    assert rc == 0, f"taskhub did not shut down cleanly on SIGTERM (exit {rc}); log tail:\n{tail}"


@pytest.fixture
def server_factory(new_database_url, smtp):
    """Starts extra servers: server_factory(ENV_VAR="value", ...), database_url=..., args=[...].
    Each gets a fresh database unless database_url is given, and is stopped at the end of the test
    (exit code 0 required)."""
    started: list[TaskhubProcess] = []

    def start(database_url: str | None = None, args: list[str] | None = None, start: bool = True,
              **env: str) -> TaskhubProcess:
        srv = TaskhubProcess(database_url or new_database_url(), {k: str(v) for k, v in env.items()},
                             smtp_url=smtp.url, args=list(args or []))
        started.append(srv)
        if start:
            srv.start()
        return srv

    yield start
    errors = []
    for srv in started:
        if srv.proc is None:
            srv.cleanup()
            continue
        try:
            _stop_and_check(srv)
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n\n".join(errors))


# ---------------------------------------------------------------------------------------------
# The shared server


@pytest.fixture(scope="session")
def server(new_database_url, smtp):
    srv = TaskhubProcess(new_database_url(), smtp_url=smtp.url)
    srv.start()
    try:
        # The bootstrap administrator: the first account registered on an instance without
        # administrators becomes one (tested on a fresh server in test_admin.py too).
        api = Client(srv.url)
        addr = unique_email("admin")
        user = register(api, addr, PASSWORD, "Bootstrap Admin").json()
        assert user["is_admin"] is True, f"the first registered user is not an administrator: {user}"
        srv.admin_email = addr  # type: ignore[attr-defined]
        api.close()
        yield srv
    finally:
        _stop_and_check(srv)


@pytest.fixture
def api(server):
    c = Client(server.url)
    yield c
    c.close()


@pytest.fixture
def admin(api, server) -> Account:
    """The bootstrap administrator, freshly logged in (own session)."""
    tokens = login(api, server.admin_email).json()
    return Account(server.admin_email, PASSWORD, tokens["user"], tokens["access_token"], tokens["refresh_token"])


@pytest.fixture
def user(api) -> Account:
    """A new, logged-in, non-admin account."""
    from support import new_account
    return new_account(api)
