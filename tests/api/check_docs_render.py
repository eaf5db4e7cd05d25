#!/usr/bin/python3
"""Checks that /api/docs (Swagger UI) and /api/redoc (ReDoc) really render, in headless
Chromium (Debian's `chromium`), with every asset served by taskhub itself.

    check_docs_render.py [--base-url URL | --bin PATH] [--out DIR]

Without --base-url it starts `taskhub serve` (TASKHUB_BIN or build/taskhub) on a free port
with a throwaway SQLite database, and stops it afterwards (exit code 0 required). It dumps the
DOM after JavaScript ran (--dump-dom with a virtual time budget) and asserts that rendered
content is there, then saves a screenshot of each page in --out for humans.
Exit code 0 when both pages render.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from support import REPO, TaskhubProcess  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--hide-scrollbars", "--mute-audio"]

# What a rendered page shows (after JavaScript), and what a broken one shows.
PAGES = {
    "/api/docs": {
        "name": "Swagger UI",
        "must": ['class="swagger-ui', "opblock", "/api/v1/auth/login", "/api/v1/users/me", "taskhub API"],
        "must_not": ["Failed to load API definition", "Could not render"],
        "screenshot": "swagger-ui.png",
    },
    "/api/redoc": {
        "name": "ReDoc",
        "must": ["redoc-wrap", "Sign in with e-mail and password", "Register an account", "taskhub API"],
        "must_not": ["Something went wrong", "Error downloading"],
        "screenshot": "redoc.png",
    },
}


def chromium(args: list[str], timeout: float = 90) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(prefix="taskhub-chromium-")
    try:
        return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=timeout)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def check_page(base_url: str, path: str, spec: dict, out_dir: str) -> list[str]:
    url = base_url.rstrip("/") + path
    problems = []
    dom = ""
    for budget in (10000, 30000):  # a slow (sanitizer) build may need more virtual time
        cp = chromium([f"--virtual-time-budget={budget}", "--dump-dom", url])
        dom = cp.stdout
        missing = [m for m in spec["must"] if m not in dom]
        if cp.returncode == 0 and not missing:
            break
    if cp.returncode != 0:
        problems.append(f"{spec['name']}: chromium exited {cp.returncode}: {cp.stderr[-1000:]}")
    missing = [m for m in spec["must"] if m not in dom]
    if missing:
        problems.append(f"{spec['name']} at {url} did not render: missing {missing}")
    bad = [m for m in spec["must_not"] if m in dom]
    if bad:
        problems.append(f"{spec['name']} at {url} shows an error: {bad}")
    with open(os.path.join(out_dir, spec["screenshot"].replace(".png", ".dom.html")), "w", encoding="utf-8") as f:
        f.write(dom)
    shot = os.path.join(out_dir, spec["screenshot"])
    cp = chromium(["--virtual-time-budget=10000", "--window-size=1400,2200", f"--screenshot={shot}", url])
    if cp.returncode != 0 or not os.path.exists(shot) or os.path.getsize(shot) < 5000:
        problems.append(f"{spec['name']}: no screenshot ({cp.returncode}): {cp.stderr[-500:]}")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-url", help="check a running taskhub instead of starting one")
    ap.add_argument("--bin", help="taskhub binary to start (default: TASKHUB_BIN or build/taskhub)")
    ap.add_argument("--out", default=os.path.join(REPO, "build", "docs-render"), help="screenshots go here")
    args = ap.parse_args()
    if args.bin:
        os.environ["TASKHUB_BIN"] = os.path.abspath(args.bin)
    if not os.access(CHROMIUM, os.X_OK):
        print(f"check_docs_render: {CHROMIUM} not found (apt-get install chromium; scripts/setup)", file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)

    srv = None
    tmp = None
    if args.base_url:
        base = args.base_url
    else:
        tmp = tempfile.mkdtemp(prefix="taskhub-docs-")
        srv = TaskhubProcess(f"sqlite://{tmp}/taskhub.db").start()
        base = srv.url
    problems: list[str] = []
    t0 = time.monotonic()
    try:
        for path, spec in PAGES.items():
            problems += check_page(base, path, spec, args.out)
    finally:
        if srv is not None:
            rc = srv.stop()
            if rc != 0:
                problems.append(f"taskhub exited {rc} on SIGTERM:\n{srv.log_tail()}")
            srv.cleanup()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    took = time.monotonic() - t0
    if problems:
        print("docs render check FAILED:\n  " + "\n  ".join(problems))
        print(f"DOM dumps and screenshots: {args.out}")
        return 1
    print(f"docs render check passed: Swagger UI and ReDoc rendered in headless Chromium ({took:.1f} s); "
          f"screenshots in {os.path.relpath(args.out, REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
