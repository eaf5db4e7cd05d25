"""The binary's subcommands and start-up checks, black-box: services, version, --help, migrate,
serve --services, the production secret check, closed registration."""
import subprocess
import tempfile

from support import Client, PASSWORD, TaskhubProcess, assert_problem, login, register, taskhub_bin, unique_email


def run(args, env_overrides=None, drop=(), timeout=60):
    """Runs `taskhub ARGS` in an empty directory with a test environment."""
    env = TaskhubProcess("sqlite::memory:").env()
    env.update(env_overrides or {})
    for k in drop:
        env.pop(k, None)
    with tempfile.TemporaryDirectory(prefix="taskhub-cli-") as wd:
        return subprocess.run([taskhub_bin(), *args], env=env, cwd=wd, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


def test_version_services_help():
    cp = run(["version"])
    assert cp.returncode == 0 and cp.stdout.startswith("taskhub "), cp
    cp = run(["services"])
    assert cp.returncode == 0, cp.stderr
    for name in ("database", "mailer", "ops", "auth", "docs"):
        assert name in cp.stdout
    lines = [ln.split() for ln in cp.stdout.splitlines() if ln.strip()]
    order = [ln[0] for ln in lines]
    assert order.index("database") < order.index("auth"), "dependencies are not listed first"
    for cmd in ("serve", "migrate", "services", "version", "admin", "routes"):
        cp = run([cmd, "--help"])
        assert cp.returncode == 0 and "Usage" in cp.stdout, (cmd, cp.stdout, cp.stderr)
    cp = run(["no-such-command"])
    assert cp.returncode != 0 and "no-such-command" in cp.stderr


def test_unknown_module_is_an_error():
    cp = run(["serve", "--services", "auth,nosuchmodule"], timeout=30)
    assert cp.returncode != 0
    assert "nosuchmodule" in cp.stderr + cp.stdout


def test_migrate(new_database_url):
    url = new_database_url()
    cp = run(["migrate"], {"DATABASE_URL": url})
    assert cp.returncode == 0, cp.stderr
    cp2 = run(["migrate"], {"DATABASE_URL": url})
    assert cp2.returncode == 0, cp2.stderr
    assert "up to date" in cp2.stdout
    cp3 = run(["migrate", "--status"], {"DATABASE_URL": url})
    assert cp3.returncode == 0 and "schema version" in cp3.stdout


def test_production_refuses_weak_secrets():
    base = {"TASKHUB_ENV": "production"}
    for secret in (None, "secret", "short-but-not-default", "dev-insecure-secret-change-me-0123456789abcdef"):
        env = dict(base)
        drop = ()
        if secret is None:
            drop = ("JWT_SECRET_KEY",)
        else:
            env["JWT_SECRET_KEY"] = secret
        cp = run(["serve"], env, drop=drop, timeout=30)
        assert cp.returncode != 0, f"production started with JWT_SECRET_KEY={secret!r}"
        assert "JWT_SECRET_KEY" in cp.stderr + cp.stdout


def test_s3_bucket_without_credentials_stops_start_up():
    # Refused at start-up, naming the variable, instead of failing at the first upload.
    cp = run(["serve"], {"S3_BUCKET": "taskhub-files", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE"},
             drop=("AWS_SECRET_ACCESS_KEY",), timeout=30)
    assert cp.returncode != 0, "started with S3_BUCKET but no AWS_SECRET_ACCESS_KEY"
    assert "AWS_SECRET_ACCESS_KEY" in cp.stderr + cp.stdout


def test_subset_of_services(server_factory):
    srv = server_factory(args=["--services", "ops"])
    api = Client(srv.url)
    assert api.get("/healthz").status_code == 200
    assert api.get("/readyz").status_code == 200
    assert_problem(api.post("/api/v1/auth/login", json={}), 404)


def test_registration_closed(server_factory):
    srv = server_factory(REGISTRATION_OPEN="false")
    api = Client(srv.url)
    r = register(api, unique_email("closed"), expect=None)
    assert_problem(r, 403, code="registration-closed")
    addr = unique_email("byadmin")
    srv.proc.send_signal(15)
    assert srv.proc.wait(30) == 0
    cp = srv.run_cli("admin", "create-user", "--email", addr, "--password", PASSWORD, "--name", "Made By CLI")
    assert cp.returncode == 0, cp.stderr
    srv.start()
    t = login(Client(srv.url), addr).json()
    assert t["user"]["display_name"] == "Made By CLI"
