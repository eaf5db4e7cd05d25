"""`taskhub seed`: users stage (projects and tasks stages come with their services)."""
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


def test_seed_rejects_bad_options():
    assert _seed("sqlite::memory:", ["--users", "x"]).returncode == 2
    assert _seed("sqlite::memory:", ["--password", "short"]).returncode == 2
    assert _seed("sqlite::memory:", ["--nope"]).returncode == 2


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
