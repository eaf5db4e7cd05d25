#!/usr/bin/python3
"""Checks that the analytics SVG charts render readably in headless Chromium (Debian's
`chromium`): starts `taskhub serve` (TASKHUB_BIN or build/taskhub, or --bin) on a throwaway
SQLite database, builds a small project through the API, saves each time-series chart
(throughput, burndown, cumulative flow) as a file, screenshots it at 800x400 and asserts, on the
decoded PNG pixels, that every series colour is drawn in the plot area (the data, not only its
legend swatch) and in the legend, and that the dark axis / label ink is there. Screenshots stay in --out for humans.

    check_svg_render.py [--bin PATH] [--out DIR]
"""
from __future__ import annotations

import argparse
import datetime
import os
import struct
import sys
import tempfile
import time
import zlib
import shutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from check_docs_render import CHROMIUM, chromium  # noqa: E402
from support import REPO, Client, TaskhubProcess, new_account, new_project, new_workspace  # noqa: E402

CHARTS = {
    "throughput": ["#1f77b4", "#2ca02c"],
    "burndown": ["#1f77b4", "#2ca02c", "#d62728"],
    "cumulative-flow": ["#7f7f7f", "#ff7f0e", "#1f77b4", "#2ca02c", "#d62728"],
}


def png_pixels(path: str) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Decodes an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes) with the stdlib."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    pixels = []
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        pixels += [tuple(line[x * bpp:x * bpp + 3]) for x in range(w)]
        prev = line
    return w, h, pixels


def near(px, rgb, tol=40) -> bool:
    return all(abs(px[i] - rgb[i]) <= tol for i in range(3))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", help="taskhub binary (default: TASKHUB_BIN or build/taskhub)")
    ap.add_argument("--out", default=os.path.join(REPO, "build", "svg-render"))
    args = ap.parse_args()
    if args.bin:
        os.environ["TASKHUB_BIN"] = os.path.abspath(args.bin)
    if not os.access(CHROMIUM, os.X_OK):
        print(f"check_svg_render: {CHROMIUM} not found (apt-get install chromium; scripts/setup)", file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="taskhub-svg-")
    srv = TaskhubProcess(f"sqlite://{tmp}/taskhub.db").start()
    problems: list[str] = []
    try:
        api = Client(srv.url)
        owner = new_account(api)
        ws = new_workspace(api, owner)
        p = new_project(api, owner, ws["id"], "SVG")
        st = {s["group"]: s["id"] for s in api.get(f"/api/v1/projects/{p['id']}/states", headers=owner.headers).json()["items"]}
        for i in range(15):
            t = api.post(f"/api/v1/projects/{p['id']}/tasks", headers=owner.headers,
                         json={"title": f"Task {i}", "estimate": 2}).json()
            if i >= 12:
                api.patch(f"/api/v1/tasks/{t['id']}", headers=owner.headers, json={"state_id": st["backlog"]})
            elif i % 4 == 1:
                api.patch(f"/api/v1/tasks/{t['id']}", headers=owner.headers, json={"state_id": st["started"]})
            elif i % 4 == 2:
                api.patch(f"/api/v1/tasks/{t['id']}", headers=owner.headers, json={"state_id": st["completed"]})
            elif i % 4 == 3:
                api.patch(f"/api/v1/tasks/{t['id']}", headers=owner.headers, json={"state_id": st["cancelled"]})
        deadline = time.time() + 20
        while api.get(f"/api/v1/projects/{p['id']}/analytics/summary", headers=owner.headers).json()["total"] != 15:
            assert time.time() < deadline, "the read model did not catch up"
            time.sleep(0.05)
        today = datetime.datetime.now(datetime.timezone.utc).date()
        params = {"from": str(today - datetime.timedelta(days=13)), "to": str(today), "format": "svg"}
        for name, colors in CHARTS.items():
            r = api.get(f"/api/v1/projects/{p['id']}/analytics/{name}", headers=owner.headers, params=params)
            if r.status_code != 200 or not r.headers["Content-Type"].startswith("image/svg+xml"):
                problems.append(f"{name}: {r.status_code} {r.text[:200]}")
                continue
            svg = os.path.join(args.out, f"{name}.svg")
            with open(svg, "w", encoding="utf-8") as f:
                f.write(r.text)
            shot = os.path.join(args.out, f"{name}.png")
            cp = chromium(["--window-size=800,400", f"--screenshot={shot}", "file://" + svg])
            if cp.returncode != 0 or not os.path.exists(shot):
                problems.append(f"{name}: no screenshot ({cp.returncode}): {cp.stderr[-500:]}")
                continue
            w, h, px = png_pixels(shot)
            # the plot area (inside the axes, left of the legend): the data only, no text
            plot = [q for k, q in enumerate(px) if 62 <= k % w <= 628 and 42 <= k // w <= 338]
            for c in colors:
                rgb = tuple(int(c[i:i + 2], 16) for i in (1, 3, 5))
                n = sum(1 for q in plot if near(q, rgb))
                if n < 60:  # a series drawn at all covers far more
                    problems.append(f"{name}: colour {c} of the data drawn on {n} pixels only")
                if sum(1 for q in px[:] if near(q, rgb)) - n < 60:
                    problems.append(f"{name}: legend swatch of {c} missing")
            ink = sum(1 for q in px if max(q) < 90)  # axes, ticks, labels, title
            if ink < 800:
                problems.append(f"{name}: only {ink} dark pixels (axes and labels missing?)")
            white = sum(1 for q in px if min(q) > 245)
            if white < w * h // 2:
                problems.append(f"{name}: background not white ({white} of {w * h})")
    finally:
        rc = srv.stop()
        if rc != 0:
            problems.append(f"taskhub exited {rc}:\n{srv.log_tail()}")
        srv.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    if problems:
        print("check_svg_render: FAILED\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(f"check_svg_render: {len(CHARTS)} charts render (screenshots in {args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
