"""Attachments stored on S3 (issue 5), against a real S3-protocol server (s3rver, the s3_server
fixture): upload, download through a 302 to a presigned URL (short-lived, forced attachment),
delete removes the object from the bucket, and nobody else gets the URL.

Before the files service exists in a build, the attachments route answers 404 and is not in the
served OpenAPI document: then, and only then, these tests skip."""
import calendar
import time
import urllib.parse

import pytest
import requests

from support import Client, assert_problem, new_account, new_project, new_workspace

NAME = "Quarterly report; final \u00e9t\u00e9 \u65e5\u672c.pdf"


def _task(api: Client, owner) -> dict:
    ws = new_workspace(api, owner)
    p = new_project(api, owner, ws["id"], "S3F")
    r = api.post(f"/api/v1/projects/{p['id']}/tasks", headers=owner.headers, json={"title": "with files"})
    assert r.status_code == 201, r.text
    return r.json()


def _upload(api: Client, owner, task_id: str, data: bytes, name: str = NAME) -> requests.Response:
    r = api.post(f"/api/v1/tasks/{task_id}/attachments", headers=owner.headers,
                 files={"file": (name, data, "application/octet-stream")})
    if r.status_code == 404:
        paths = api.get("/api/openapi.json").json().get("paths", {})
        if not any("attachments" in p for p in paths):
            pytest.skip("this build has no files service (attachments route answers 404 and is not documented)")
    assert r.status_code == 201, r.text[:500]
    return r


@pytest.fixture
def s3_taskhub(server_factory, s3_server):
    srv = server_factory(**s3_server.env())
    api = Client(srv.url)
    yield srv, api
    api.close()


def _unique_bytes(tag: str) -> bytes:
    # Unique per call (content-addressed stores deduplicate equal bytes), with NUL bytes.
    return f"{tag}-{time.time_ns()}".encode() + b"\x00\x01\x00" * 1000 + bytes(range(256))


def test_download_redirects_to_a_short_lived_presigned_attachment_url(s3_taskhub, s3_server):
    _srv, api = s3_taskhub
    owner = new_account(api)
    task = _task(api, owner)
    before = set(s3_server.object_keys())
    data = _unique_bytes("download")
    att = _upload(api, owner, task["id"], data).json()
    new_keys = set(s3_server.object_keys()) - before
    assert len(new_keys) == 1, new_keys
    key = new_keys.pop()
    assert "report" not in key.lower() and "pdf" not in key.lower(), f"blob key derived from the file name: {key}"

    r = api.get(f"/api/v1/attachments/{att['id']}/content", headers=owner.headers, allow_redirects=False)
    assert r.status_code == 302, r.text[:300]
    location = r.headers["Location"]
    u = urllib.parse.urlsplit(location)
    assert f"{u.scheme}://{u.netloc}" == s3_server.endpoint
    assert u.path == f"/{s3_server.bucket}/{key}"
    q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
    assert q["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert q["X-Amz-SignedHeaders"] == "host"
    assert 0 < int(q["X-Amz-Expires"]) <= 900, q["X-Amz-Expires"]  # minutes, not days
    assert q["X-Amz-Credential"].startswith(f"{s3_server.access_key}/")
    assert q["response-content-disposition"].startswith("attachment;")

    # What a browser does with the redirect: a plain GET of the presigned URL, no credentials.
    got = requests.get(location, timeout=30)
    assert got.status_code == 200, got.text[:300]
    assert got.content == data
    cd = got.headers["Content-Disposition"]
    assert cd.startswith("attachment;"), cd
    assert "filename*=UTF-8''" in cd and urllib.parse.quote("été", safe="") in cd, cd

    # Signed now (the URL is made per request, not cached for longer than it lives).
    signed_at = calendar.timegm(time.strptime(q["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))
    assert abs(signed_at - time.time()) < 120, q["X-Amz-Date"]


def test_other_users_get_404_and_no_url(s3_taskhub):
    _srv, api = s3_taskhub
    owner, stranger = new_account(api), new_account(api)
    task = _task(api, owner)
    att = _upload(api, owner, task["id"], _unique_bytes("private")).json()
    r = api.get(f"/api/v1/attachments/{att['id']}/content", headers=stranger.headers, allow_redirects=False)
    assert_problem(r, 404)
    assert "Location" not in r.headers


def test_delete_removes_the_object_from_the_bucket(s3_taskhub, s3_server):
    _srv, api = s3_taskhub
    owner = new_account(api)
    task = _task(api, owner)
    before = set(s3_server.object_keys())
    att = _upload(api, owner, task["id"], _unique_bytes("delete"), name="to delete.bin").json()
    (key,) = set(s3_server.object_keys()) - before
    r = api.delete(f"/api/v1/attachments/{att['id']}", headers=owner.headers)
    assert r.status_code == 204, r.text
    # The object goes when no attachment points to it any more (bounded wait: the removal may
    # run right after the metadata commit).
    deadline = time.monotonic() + 15
    while key in s3_server.object_keys() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert key not in s3_server.object_keys()
    assert_problem(api.get(f"/api/v1/attachments/{att['id']}/content", headers=owner.headers,
                           allow_redirects=False), 404)
