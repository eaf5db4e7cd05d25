"""Background jobs: the admin endpoints, `taskhub jobs`, retries and dead letters, and workers
running as separate processes (`taskhub serve --services worker`), one of them killed with
SIGKILL in the middle of a job.

Jobs are added with the testing-only `taskhub jobs enqueue --kind testing.record` (refused
unless TASKHUB_ENV=testing); the testing.record handler appends "start|fail|done <id>
<attempt> <pid>" lines to TASKHUB_TEST_JOB_LOG."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid

from support import (
    Client, TaskhubProcess, assert_problem, assert_validation_problem, bearer, login, new_account, register,
    taskhub_bin, unique_email,
)

JOBS = "/api/v1/admin/jobs"
FAST = {"JOB_BACKOFF_BASE_MS": "50", "JOB_BACKOFF_MAX_MS": "200", "WORKER_POLL_MS": "100"}


def log_lines(path: str) -> list[list[str]]:
    try:
        with open(path) as f:
            return [line.split() for line in f if line.strip()]
    except FileNotFoundError:
        return []


def wait_until(pred, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def enqueue(srv: TaskhubProcess, payload: dict | None = None, *extra: str) -> str:
    r = srv.run_cli("jobs", "enqueue", "--kind", "testing.record", "--payload", json.dumps(payload or {}), *extra)
    assert r.returncode == 0, r.stderr
    job_id = r.stdout.strip()
    uuid.UUID(job_id)
    return job_id


def admin_of(srv: TaskhubProcess) -> tuple[Client, dict]:
    api = Client(srv.url)
    addr = unique_email("jobadmin")
    user = register(api, addr).json()
    assert user["is_admin"] is True
    return api, bearer(login(api, addr).json()["access_token"])


def get_job(api: Client, h: dict, job_id: str) -> dict:
    r = api.get(f"{JOBS}/{job_id}", headers=h)
    assert r.status_code == 200, r.text
    return r.json()


def start_worker_only(srv: TaskhubProcess) -> TaskhubProcess:
    """`taskhub serve --services worker` has no /healthz (that is the ops module): ready when it
    logs that its threads started."""
    if not srv.workdir:
        import tempfile
        srv.workdir = tempfile.mkdtemp(prefix="taskhub-test-")
    from support import free_port
    srv.port = free_port()
    srv.log_path = os.path.join(srv.workdir, f"taskhub-{srv.port}.log")
    with open(srv.log_path, "wb") as log:
        srv.proc = subprocess.Popen([taskhub_bin(), "serve", *srv.args], cwd=srv.workdir, env=srv.env(),
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_until(lambda: "thread(s) started" in srv.log_tail() or srv.proc.poll() is not None, 60,
               "the worker to start")
    assert srv.proc.poll() is None, srv.log_tail()
    return srv


# ---------------------------------------------------------------------------------------------


def test_admin_jobs_refused_to_others(api, user):
    assert_problem(api.get(JOBS), 401)
    assert_problem(api.get(JOBS, headers=bearer(user.access_token)), 403)
    some = str(uuid.uuid4())
    assert_problem(api.get(f"{JOBS}/{some}", headers=bearer(user.access_token)), 403)
    assert_problem(api.post(f"{JOBS}/{some}/retry", headers=bearer(user.access_token)), 403)
    assert_problem(api.post(f"{JOBS}/{some}/cancel", headers=bearer(user.access_token)), 403)


def test_admin_list_filters_and_bad_input(api, admin):
    h = bearer(admin.access_token)
    r = api.get(JOBS, headers=h)
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"items", "next_cursor"}
    assert_validation_problem(api.get(JOBS, headers=h, params={"state": "sleeping"}), ["state"])
    assert_validation_problem(api.get(JOBS, headers=h, params={"limit": "0"}), ["limit"])
    assert_validation_problem(api.get(JOBS, headers=h, params={"limit": "201"}), ["limit"])
    assert_validation_problem(api.get(JOBS, headers=h, params={"cursor": "!!"}), ["cursor"])
    assert_problem(api.get(f"{JOBS}/{uuid.uuid4()}", headers=h), 404)
    assert_problem(api.get(f"{JOBS}/not-a-uuid", headers=h), 404)
    assert_problem(api.post(f"{JOBS}/{uuid.uuid4()}/retry", headers=h), 404)
    assert_problem(api.post(f"{JOBS}/{uuid.uuid4()}/cancel", headers=h), 404)


def test_retry_backoff_dead_letter_retry_and_cancel(server_factory, tmp_path):
    log = str(tmp_path / "jobs.log")
    srv = server_factory(TASKHUB_TEST_JOB_LOG=log, **FAST)
    api, h = admin_of(srv)

    # Fails every attempt: three attempts with backoff, then the dead-letter state.
    dead = enqueue(srv, {"fail_times": 99}, "--max-attempts", "3")
    job = wait_until(lambda: (j := get_job(api, h, dead))["state"] == "failed" and j, 30, "the dead letter")
    assert job["attempt"] == 3 and job["max_attempts"] == 3
    assert "failing attempt 3" in job["last_error"]
    assert job["finished_at"] is not None and job["lease_until"] is None
    runs = [x for x in log_lines(log) if x[1] == dead]
    assert [(x[0], x[2]) for x in runs] == [("start", "1"), ("fail", "1"), ("start", "2"), ("fail", "2"),
                                           ("start", "3"), ("fail", "3")]
    time.sleep(0.5)
    assert len([x for x in log_lines(log) if x[1] == dead]) == 6, "a dead-lettered job must not run again"

    # The CLI shows it; retry through the API gives it fresh attempts.
    r = srv.run_cli("jobs", "list", "--state", "failed")
    assert r.returncode == 0 and dead in r.stdout, r.stdout + r.stderr
    r = api.post(f"{JOBS}/{dead}/retry", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["state"] in ("queued", "running") and r.json()["attempt"] in (0, 1)
    wait_until(lambda: len([x for x in log_lines(log) if x[1] == dead and x[0] == "fail"]) == 6, 30, "the retry")
    wait_until(lambda: get_job(api, h, dead)["state"] == "failed", 10, "the dead letter again")

    # Succeeds on its second attempt.
    flaky = enqueue(srv, {"fail_times": 1})
    job = wait_until(lambda: (j := get_job(api, h, flaky))["state"] == "succeeded" and j, 30, "the retry to succeed")
    assert job["attempt"] == 2 and "failing attempt 1" in job["last_error"]
    assert_problem(api.post(f"{JOBS}/{flaky}/retry", headers=h), 409, "job-succeeded")
    assert_problem(api.post(f"{JOBS}/{flaky}/cancel", headers=h), 409, "job-succeeded")

    # Scheduled an hour ahead: cancel (API), then the CLI sees it cancelled; it never runs.
    later = enqueue(srv, {}, "--delay-ms", "3600000")
    assert get_job(api, h, later)["state"] == "queued"
    r = api.post(f"{JOBS}/{later}/cancel", headers=h)
    assert r.status_code == 200 and r.json()["state"] == "cancelled", r.text
    assert api.post(f"{JOBS}/{later}/cancel", headers=h).json()["state"] == "cancelled"
    assert_validation_problem(api.post(f"{JOBS}/{later}/cancel", headers=h, json={"force": True}), ["force"])
    r = srv.run_cli("jobs", "list", "--state", "cancelled")
    assert later in r.stdout

    # CLI retry and cancel.
    other = enqueue(srv, {}, "--delay-ms", "3600000")
    r = srv.run_cli("jobs", "cancel", other)
    assert r.returncode == 0 and "cancelled" in r.stdout, r.stdout + r.stderr
    r = srv.run_cli("jobs", "retry", other)
    assert r.returncode == 0, r.stderr
    wait_until(lambda: get_job(api, h, other)["state"] == "succeeded", 30, "the CLI retry to run")
    r = srv.run_cli("jobs", "retry", other)
    assert r.returncode == 1 and "succeeded" in r.stderr
    r = srv.run_cli("jobs", "cancel", str(uuid.uuid4()))
    assert r.returncode == 1 and "no job" in r.stderr
    r = srv.run_cli("jobs", "list", "--state", "sleeping")
    assert r.returncode == 2

    # Filters and pagination of the admin list.
    r = api.get(JOBS, headers=h, params={"state": "failed", "kind": "testing.record"})
    assert [j["id"] for j in r.json()["items"]] == [dead]
    seen, cursor = [], None
    for _ in range(20):
        params = {"limit": 1, "kind": "testing.record"}
        if cursor:
            params["cursor"] = cursor
        body = api.get(JOBS, headers=h, params=params).json()
        seen += [j["id"] for j in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == sorted({dead, flaky, later, other}, reverse=True)


def test_testing_enqueue_refused_outside_testing(server_factory):
    srv = server_factory(start=False, TASKHUB_ENV="development")
    r = srv.run_cli("jobs", "enqueue", "--kind", "testing.record")
    assert r.returncode == 1 and "TASKHUB_ENV=testing" in r.stderr
    r = srv.run_cli("jobs", "list")
    assert r.returncode == 0 and "testing.record" not in r.stdout


def test_killed_worker_job_runs_again_once(server_factory, new_database_url, tmp_path):
    db = new_database_url()
    log = str(tmp_path / "jobs.log")
    env = dict(TASKHUB_TEST_JOB_LOG=log, JOB_LEASE_SECONDS="2", **FAST)
    a = server_factory(database_url=db, args=["--services", "worker"], start=False, **env)
    start_worker_only(a)

    job = enqueue(a, {"sleep_ms": 5000}, "--key", "report-42")
    started = wait_until(lambda: [x for x in log_lines(log) if x[:3] == ["start", job, "1"]], 20, "the first attempt")
    assert started[0][3] == str(a.proc.pid)
    # Killed mid-job: no chance to record anything.
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait()
    a.proc = None
    assert not [x for x in log_lines(log) if x[0] == "done"]

    # The same key again is ignored: the effect is asked for once.
    r = a.run_cli("jobs", "enqueue", "--kind", "testing.record", "--key", "report-42")
    assert r.returncode == 1 and "already exists" in r.stderr

    b = server_factory(database_url=db, args=["--services", "worker"], start=False, **env)
    start_worker_only(b)
    done = wait_until(lambda: [x for x in log_lines(log) if x[0] == "done"], 30, "the job to run again")
    assert done == [["done", job, "2", str(b.proc.pid)]]
    r = b.run_cli("jobs", "list", "--state", "succeeded")
    assert job in r.stdout and " 2/8 " in r.stdout, r.stdout
    time.sleep(2.5)  # past another lease: nothing runs it a third time
    assert len([x for x in log_lines(log) if x[0] == "done"]) == 1
    assert len([x for x in log_lines(log) if x[0] == "start"]) == 2


def test_several_worker_processes_run_each_job_once(server_factory, new_database_url, tmp_path):
    db = new_database_url()
    log = str(tmp_path / "jobs.log")
    env = dict(TASKHUB_TEST_JOB_LOG=log, WORKER_THREADS="3", **FAST)
    workers = [server_factory(database_url=db, args=["--services", "worker"], start=False, **env) for _ in range(2)]
    for w in workers:
        start_worker_only(w)
    ids = [enqueue(workers[0], {"sleep_ms": 20}) for _ in range(30)]
    wait_until(lambda: len([x for x in log_lines(log) if x[0] == "done"]) >= 30, 60, "every job to run")
    time.sleep(0.5)
    done = [x for x in log_lines(log) if x[0] == "done"]
    assert sorted(x[1] for x in done) == sorted(ids), "a job ran twice or not at all"
    assert len([x for x in log_lines(log) if x[0] == "start"]) == 30
    pids = {x[3] for x in done}
    assert pids <= {str(w.proc.pid) for w in workers}
    for w in workers:
        assert w.stop() == 0, w.log_tail()
        w.proc = None


def test_periodic_tick_runs_once_across_worker_processes(server_factory, new_database_url, tmp_path):
    """Two worker processes with the same every-minute schedule: the tick's job runs once.
    Takes up to a minute (cron ticks are whole minutes)."""
    # Start well inside a minute, so the first tick both workers see is the same one and the
    # check below ends long before the next.
    while not 1 <= time.gmtime().tm_sec <= 40:
        time.sleep(0.5)
    db = new_database_url()
    log = str(tmp_path / "jobs.log")
    env = dict(TASKHUB_TEST_JOB_LOG=log, TASKHUB_TEST_PERIODIC="* * * * *", WORKER_THREADS="2", **FAST)
    workers = [server_factory(database_url=db, args=["--services", "worker"], start=False, **env) for _ in range(2)]
    for w in workers:
        start_worker_only(w)
    wait_until(lambda: [x for x in log_lines(log) if x[0] == "done"], 75, "the periodic tick to run")
    time.sleep(3)  # both workers have looked at the schedule several times since the tick
    starts = [x for x in log_lines(log) if x[0] == "start"]
    assert len(starts) == 1, f"one tick ran {len(starts)} times: {starts}"
    r = workers[0].run_cli("jobs", "list", "--kind", "testing.record")
    assert r.returncode == 0 and r.stdout.count("succeeded") == 1, r.stdout
