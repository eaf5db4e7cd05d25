"""A throwaway PostgreSQL 15 cluster for the API tests.

initdb into a fresh temporary directory (owned by the `postgres` user: the server refuses to
run as root), start it on a free TCP port on 127.0.0.1 with its socket in the same directory,
hand out fresh databases, then stop it and delete everything.

Usable on its own:  /usr/bin/python3 tests/api/pg_cluster.py check
                    /usr/bin/python3 tests/api/pg_cluster.py run -- ctest --test-dir build
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

PG_BIN = os.environ.get("TASKHUB_PG_BIN", "/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    def __init__(self, user: str = "postgres"):
        self.os_user = user
        self.port = 0
        self.base = ""
        self.datadir = ""
        self.sockdir = ""
        self.logfile = ""
        self._running = False

    # -- helpers ---------------------------------------------------------------------------
    def _as_pg(self, argv: list[str], **kw) -> subprocess.CompletedProcess:
        """Runs argv as the postgres user when we are root, else as ourselves."""
        if os.geteuid() == 0:
            argv = ["runuser", "-u", self.os_user, "--"] + argv
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)

    def _check(self, cp: subprocess.CompletedProcess, what: str) -> None:
        if cp.returncode != 0:
            raise RuntimeError(f"{what} failed (exit {cp.returncode}):\n{cp.stdout}")

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> "PgCluster":
        for tool in ("initdb", "pg_ctl", "postgres"):
            if not os.access(os.path.join(PG_BIN, tool), os.X_OK):
                raise RuntimeError(f"{PG_BIN}/{tool} not found: install postgresql-15 (scripts/setup)")
        self.base = tempfile.mkdtemp(prefix="taskhub-pg-")
        self.datadir = os.path.join(self.base, "data")
        self.sockdir = os.path.join(self.base, "sock")
        self.logfile = os.path.join(self.base, "postgres.log")
        os.mkdir(self.sockdir)
        if os.geteuid() == 0:
            pw = pwd.getpwnam(self.os_user)
            for p in (self.base, self.sockdir):
                os.chown(p, pw.pw_uid, pw.pw_gid)
            os.chmod(self.base, 0o700)
        self._check(
            self._as_pg([f"{PG_BIN}/initdb", "-D", self.datadir, "-A", "trust", "-U", "postgres",
                         "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]),
            "initdb")
        last = None
        for _ in range(5):  # a free port can be taken between choosing and binding: retry
            self.port = free_port()
            # Tests do not need crash safety; benchmarks set TASKHUB_PG_DURABLE=1 to measure
            # PostgreSQL as it runs in production (fsync, synchronous_commit, full-page writes on).
            durability = ("" if os.environ.get("TASKHUB_PG_DURABLE") == "1" else
                          "-c fsync=off -c synchronous_commit=off -c full_page_writes=off ")
            opts = (f"-p {self.port} -k {self.sockdir} -c listen_addresses=127.0.0.1 " + durability +
                    "-c max_connections=200 -c shared_buffers=64MB")
            cp = self._as_pg([f"{PG_BIN}/pg_ctl", "-D", self.datadir, "-l", self.logfile, "-w", "-t", "60",
                              "-o", opts, "start"])
            if cp.returncode == 0:
                self._running = True
                return self
            last = cp.stdout
            try:
                with open(self.logfile) as f:
                    last += "\n" + f.read()[-4000:]
            except OSError:
                pass
        self.stop()
        raise RuntimeError(f"pg_ctl start failed:\n{last}")

    def stop(self) -> None:
        if self._running:
            self._as_pg([f"{PG_BIN}/pg_ctl", "-D", self.datadir, "-m", "fast", "-w", "-t", "60", "stop"])
            self._running = False
        if self.base:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = ""

    def __enter__(self) -> "PgCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- databases -------------------------------------------------------------------------
    def psql(self, sql: str, db: str = "postgres") -> str:
        cp = self._as_pg([f"{PG_BIN}/psql", "-X", "-q", "-A", "-t", "-h", self.sockdir, "-p", str(self.port),
                          "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-c", sql])
        self._check(cp, f"psql {sql!r}")
        return cp.stdout.strip()

    def create_database(self, name: str | None = None) -> str:
        """Creates an empty database and returns its postgres:// URL (TCP, 127.0.0.1)."""
        name = name or "taskhub_" + uuid.uuid4().hex[:12]
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"


def main(argv: list[str]) -> int:
    """`pg_cluster.py run -- CMD...` runs CMD with TASKHUB_TEST_POSTGRES_URL set to a fresh
    database in a throwaway cluster, then removes the cluster; exits with CMD's status.
    `pg_cluster.py check` starts and stops a cluster (a self-test)."""
    # SIGTERM/SIGHUP (a cancelled CI job) still stop and remove the cluster.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))
    if len(argv) >= 3 and argv[1] == "run" and argv[2] == "--":
        with PgCluster() as pg:
            env = dict(os.environ, TASKHUB_TEST_POSTGRES_URL=pg.create_database())
            return subprocess.call(argv[3:], env=env)
    if len(argv) == 2 and argv[1] == "check":
        t0 = time.monotonic()
        with PgCluster() as pg:
            url = pg.create_database()
            print("cluster up on port", pg.port, "in", round(time.monotonic() - t0, 2), "s; database", url)
            print(pg.psql("select version()"))
            base = pg.base
        gone = not os.path.exists(base)
        print("stopped; directory removed:", gone)
        return 0 if gone else 1
    print("usage: pg_cluster.py run -- CMD [ARGS...] | pg_cluster.py check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
