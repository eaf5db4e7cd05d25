#!/usr/bin/python3
"""Bundles the OpenAPI document: openapi/openapi.yaml (info, shared components, the first
services' paths) plus one fragment per service in openapi/paths/*.yaml, each holding `paths`,
and optionally `tags` and `components`. Services document their routes in their own file, so
parallel work does not collide in one big YAML file. A path or component defined twice is an
error.

  openapi_bundle.py [--out FILE]   writes the bundle as YAML (stdout without --out)
"""
import argparse
import glob
import os
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_bundle(root: str = os.path.join(REPO, "openapi", "openapi.yaml")) -> dict:
    with open(root, encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    spec.setdefault("paths", {})
    for frag_path in sorted(glob.glob(os.path.join(os.path.dirname(root), "paths", "*.yaml"))):
        with open(frag_path, encoding="utf-8") as f:
            frag = yaml.safe_load(f) or {}
        unknown = set(frag) - {"paths", "tags", "components"}
        if unknown:
            raise SystemExit(f"{frag_path}: unexpected top-level keys {sorted(unknown)}")
        for path, item in (frag.get("paths") or {}).items():
            if path in spec["paths"]:
                raise SystemExit(f"{frag_path}: path {path} is already defined")
            spec["paths"][path] = item
        for tag in frag.get("tags") or []:
            names = {t["name"] for t in spec.setdefault("tags", [])}
            if tag["name"] in names:
                raise SystemExit(f"{frag_path}: tag {tag['name']} is already defined")
            spec["tags"].append(tag)
        for section, entries in (frag.get("components") or {}).items():
            target = spec.setdefault("components", {}).setdefault(section, {})
            for name, value in entries.items():
                if name in target:
                    raise SystemExit(f"{frag_path}: components.{section}.{name} is already defined")
                target[name] = value
    return spec


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    args = ap.parse_args()
    text = yaml.safe_dump(load_bundle(), sort_keys=False, allow_unicode=True)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
