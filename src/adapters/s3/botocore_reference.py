#!/usr/bin/python3
"""Independent SigV4 reference for sigv4_test.cpp: botocore (Debian's python3-botocore) signs
the same requests at the same frozen time, and the test compares its signatures with ours.

stdin: JSON list of cases
  {"kind": "presign", "url", "method", "access_key", "secret", "region", "epoch", "expires"}
  {"kind": "header",  "url" (no query), "method", "access_key", "secret", "region", "epoch",
   "headers": {name: value}, "params": {name: raw value}, "body": str}
stdout: JSON list of {"url": presigned URL} or {"authorization": header, "headers": {...}}.
"""
import datetime
import json
import sys
import types

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def frozen_at(epoch):
    fixed = datetime.datetime.utcfromtimestamp(epoch)

    class Frozen(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return fixed

    # botocore.auth reads the clock as datetime.datetime.utcnow(): swap the module it sees.
    botocore.auth.datetime = types.SimpleNamespace(datetime=Frozen)


def main():
    out = []
    for case in json.load(sys.stdin):
        frozen_at(case["epoch"])
        creds = Credentials(case["access_key"], case["secret"])
        if case["kind"] == "presign":
            req = AWSRequest(method=case["method"], url=case["url"])
            botocore.auth.S3SigV4QueryAuth(creds, "s3", case["region"], expires=case["expires"]).add_auth(req)
            out.append({"url": req.url})
        else:
            # Raw (unencoded) query parameters: botocore encodes and orders them itself.
            req = AWSRequest(method=case["method"], url=case["url"], headers=case["headers"],
                             params=case.get("params") or None, data=case["body"].encode())
            botocore.auth.S3SigV4Auth(creds, "s3", case["region"]).add_auth(req)
            out.append({"authorization": req.headers["Authorization"],
                        "headers": {k.lower(): v for k, v in req.headers.items()}})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
