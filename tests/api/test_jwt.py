"""The JWT mutation battery against GET /api/v1/users/me: every mutated token answers 401.

Tokens are built by hand (hmac, hashlib, base64) with the server's test secret. A positive
control (the real claims re-signed by us) must pass first, so each 401 below is caused by the
mutation and not by a signing mistake in the test.
"""
import hashlib
import hmac
import json
import secrets
import time
import uuid

import pytest

from support import assert_problem, b64u, jwt_decode, jwt_sign, me, new_account

HS256 = {"alg": "HS256", "typ": "JWT"}


@pytest.fixture
def victim(api):
    return new_account(api)


def test_control_resigned_token_is_accepted(api, server, victim):
    _h, claims, _s = jwt_decode(victim.access_token)
    forged = jwt_sign(HS256, claims, server.secret)
    r = me(api, forged)
    assert r.status_code == 200, f"re-signing the real claims with JWT_SECRET_KEY failed: {r.text}"
    # A fresh jti and iat with the same session and version is accepted as well.
    now = int(time.time())
    fresh = dict(claims, jti=str(uuid.uuid4()), iat=now, nbf=now, exp=now + 300)
    assert me(api, jwt_sign(HS256, fresh, server.secret)).status_code == 200


def _mutations(claims: dict, secret: str, token: str, refresh_token: str, other_user_id: str):
    now = int(time.time())
    h, p, s = token.split(".")
    signed = lambda c, hdr=HS256, key=secret, alg=None: jwt_sign(hdr, c, key, alg)  # noqa: E731
    yield "alg none", jwt_sign({"alg": "none", "typ": "JWT"}, claims, b"", "none")
    yield "alg None", jwt_sign({"alg": "None", "typ": "JWT"}, claims, b"", "none")
    yield "alg none keeping the signature", b64u(b'{"alg":"none","typ":"JWT"}') + "." + p + "." + s
    yield "header HS512, signed HS512", signed(claims, {"alg": "HS512", "typ": "JWT"}, secret, "HS512")
    yield "header HS384, signed HS384", signed(claims, {"alg": "HS384", "typ": "JWT"}, secret, "HS384")
    yield "header RS256, HMAC signature", signed(claims, {"alg": "RS256", "typ": "JWT"}, secret, "HS256")
    yield "header HS256, HS512 signature", signed(claims, HS256, secret, "HS512")
    yield "payload changed (sub), old signature", h + "." + enc(dict(claims, sub=other_user_id)) + "." + s
    yield "payload changed (exp), old signature", h + "." + enc(dict(claims, exp=now + 86400)) + "." + s
    yield "signature removed", h + "." + p + "."
    yield "signature truncated", h + "." + p + "." + s[:-4]
    yield "signature of another token", h + "." + p + "." + jwt_sign(HS256, {"x": 1}, secret).split(".")[2]
    yield "wrong key", signed(claims, key=secrets.token_urlsafe(48))
    yield "empty key", signed(claims, key=b"")
    yield "kid pointing at /dev/null, empty key", signed(claims, {"alg": "HS256", "typ": "JWT", "kid": "../../../../dev/null"}, b"")
    yield "expired", signed(dict(claims, iat=now - 3600, nbf=now - 3600, exp=now - 600))
    yield "not yet valid", signed(dict(claims, iat=now, nbf=now + 600, exp=now + 900))
    yield "issued in the future", signed(dict(claims, iat=now + 3600, nbf=now + 3600, exp=now + 4500))
    yield "wrong audience", signed(dict(claims, aud="someone-else"))
    yield "audience list without ours", signed(dict(claims, aud=["someone-else", "other"]))
    yield "wrong issuer", signed(dict(claims, iss="evil"))
    yield "typ refresh", signed(dict(claims, typ="refresh"))
    yield "typ missing", signed({k: v for k, v in claims.items() if k != "typ"})
    yield "exp missing", signed({k: v for k, v in claims.items() if k != "exp"})
    yield "exp as string", signed(dict(claims, exp=str(now + 600)))
    yield "sub of another user", signed(dict(claims, sub=other_user_id))
    yield "sub unknown", signed(dict(claims, sub=str(uuid.uuid4())))
    yield "unknown session", signed(dict(claims, sid=str(uuid.uuid4())))
    yield "stale token version", signed(dict(claims, ver=claims["ver"] - 1 if isinstance(claims["ver"], int) else "x"))
    yield "future token version", signed(dict(claims, ver=claims["ver"] + 1 if isinstance(claims["ver"], int) else "y"))
    yield "refresh token as bearer", refresh_token
    yield "garbage", "garbage"
    yield "three dots", "a.b.c"
    yield "four segments", token + ".x"
    yield "two segments", h + "." + p
    yield "header not JSON", b64u(b"not json") + "." + p + "." + s
    yield "payload not JSON", h + "." + b64u(b"not json") + "." + s
    yield "payload a JSON array", signed_raw(HS256, b"[1,2,3]", secret)
    yield "non-base64url characters", h + "." + p + "." + s.replace(s[0], "*", 1)
    yield "huge token", signed(dict(claims, pad="x" * 6000))


def enc(obj) -> str:
    return b64u(json.dumps(obj, separators=(",", ":")).encode())


def signed_raw(header: dict, payload_bytes: bytes, secret: str) -> str:
    si = b64u(json.dumps(header, separators=(",", ":")).encode()) + "." + b64u(payload_bytes)
    return si + "." + b64u(hmac.new(secret.encode(), si.encode(), hashlib.sha256).digest())


def test_mutated_tokens_are_rejected(api, server, victim):
    other = new_account(api, do_login=False)
    _h, claims, _s = jwt_decode(victim.access_token)
    failures = []
    count = 0
    for name, tok in _mutations(claims, server.secret, victim.access_token, victim.refresh_token, other.id):
        count += 1
        r = me(api, tok)
        if r.status_code != 401:
            failures.append(f"{name}: {r.status_code} {r.text[:200]}")
        else:
            assert_problem(r, 401)
    assert count > 35
    assert not failures, "mutated tokens not rejected with 401:\n" + "\n".join(failures)
    # The real token still works (none of the above revoked anything by accident).
    assert me(api, victim.access_token).status_code == 200


@pytest.mark.parametrize("value", [
    "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "Bearer  ", "Bearer a b",
])
def test_malformed_authorization_headers(api, value):
    r = api.get("/api/v1/users/me", headers={"Authorization": value})
    assert_problem(r, 401)


def test_token_in_query_string_is_not_accepted(api, victim):
    r = api.get("/api/v1/users/me", params={"access_token": victim.access_token})
    assert_problem(r, 401)
