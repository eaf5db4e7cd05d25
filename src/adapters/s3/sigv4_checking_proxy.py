#!/usr/bin/python3
"""Test-only: an HTTP proxy in front of s3rver that verifies SigV4 header signatures the way S3
does, with botocore (an independent implementation), because s3rver 3.7 does not verify them.

For every request: parse the Authorization header, recompute the signature with botocore from
what actually arrived on the wire (method, path, decoded and re-canonicalised query, the signed
headers, the body's SHA-256) at the request's own X-Amz-Date, with the secret given here. A
mismatch answers 403 with S3's <Code>SignatureDoesNotMatch</Code>; a match is forwarded to the
upstream s3rver and its answer relayed.

usage: sigv4_checking_proxy.py PORT UPSTREAM_PORT SECRET
"""
import datetime
import http.client
import http.server
import re
import sys
import types
import urllib.parse

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

PORT, UPSTREAM, SECRET = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/s3/aws4_request, "
                  r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$")


def expected_authorization(method, path, headers, body, access_key, region, signed):
    fixed = datetime.datetime.strptime(headers["x-amz-date"], "%Y%m%dT%H%M%SZ")

    class Frozen(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return fixed

    botocore.auth.datetime = types.SimpleNamespace(datetime=Frozen)
    parts = urllib.parse.urlsplit(path)
    params = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    req = AWSRequest(method=method, url=f"http://{headers['host']}{parts.path}", params=dict(params),
                     headers={h: headers[h] for h in signed if h not in ("host", "x-amz-date", "x-amz-content-sha256")},
                     data=body)
    botocore.auth.S3SigV4Auth(Credentials(access_key, SECRET), "s3", region).add_auth(req)
    return req.headers["Authorization"], req.headers["X-Amz-Content-SHA256"]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _refuse(self, code, message):
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f"<Message>{message}</Message></Error>").encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        m = AUTH.match(headers.get("authorization", ""))
        if not m:
            return self._refuse("AccessDenied", "no or malformed SigV4 Authorization header")
        access_key, _date, region, signed, _sig = m.groups()
        signed_list = signed.split(";")
        if "host" not in signed_list or any(h not in headers for h in signed_list):
            return self._refuse("AccessDenied", "a signed header is missing")
        want, body_hash = expected_authorization(self.command, self.path, headers, body, access_key, region, signed_list)
        if headers.get("x-amz-content-sha256") != body_hash:
            return self._refuse("XAmzContentSHA256Mismatch", "the body does not match x-amz-content-sha256")
        if want != headers["authorization"]:
            return self._refuse("SignatureDoesNotMatch", "The request signature we calculated does not match")
        conn = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=60)
        fwd = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "expect")}
        conn.request(self.command, self.path, body=body if body else None, headers=fwd)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length", "keep-alive"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data) if self.command != "HEAD" else resp.getheader("Content-Length") or 0))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_DELETE = do_HEAD = do_POST = _handle


if __name__ == "__main__":
    http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
