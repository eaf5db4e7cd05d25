"""Sessions (list, revoke one) and personal API tokens (create, use, scopes, revoke)."""
import uuid

from support import (
    assert_problem, assert_validation_problem, bearer, jwt_decode, login, me, new_account, refresh,
)

SESSIONS = "/api/v1/users/me/sessions"
TOKENS = "/api/v1/users/me/api-tokens"
SESSION_FIELDS = {"id", "user_agent", "ip", "created_at", "last_used_at", "expires_at", "current"}
TOKEN_FIELDS = {"id", "name", "scope", "token_prefix", "created_at", "expires_at", "last_used_at"}


# ---------------------------------------------------------------------------------------------
# Sessions


def test_list_sessions(api):
    acc = new_account(api)
    s2 = login(api, acc.email, user_agent="taskhub-tests/agent-2").json()
    r = api.get(SESSIONS, headers=bearer(s2["access_token"]))
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert len(items) == 2, items
    for it in items:
        assert set(it) == SESSION_FIELDS, sorted(it)
    assert [it["created_at"] for it in items] == sorted((it["created_at"] for it in items), reverse=True)
    current = [it for it in items if it["current"]]
    assert len(current) == 1
    assert current[0]["id"] == jwt_decode(s2["access_token"])[1]["sid"]
    assert current[0]["user_agent"] == "taskhub-tests/agent-2"
    assert current[0]["ip"] == "127.0.0.1"
    # From the first session, the other one is current.
    items1 = api.get(SESSIONS, headers=acc.headers).json()["items"]
    assert [it["id"] for it in items1 if it["current"]] == [jwt_decode(acc.access_token)[1]["sid"]]
    assert_problem(api.get(SESSIONS), 401)


def test_revoke_one_session(api):
    acc = new_account(api)
    s2 = login(api, acc.email).json()
    sid2 = jwt_decode(s2["access_token"])[1]["sid"]
    r = api.delete(f"{SESSIONS}/{sid2}", headers=acc.headers)
    assert r.status_code == 204, r.text
    assert_problem(me(api, s2["access_token"]), 401)
    assert_problem(refresh(api, s2["refresh_token"]), 401)
    ids = [it["id"] for it in api.get(SESSIONS, headers=acc.headers).json()["items"]]
    assert sid2 not in ids
    # Already revoked -> 404; the revoking session is untouched.
    assert_problem(api.delete(f"{SESSIONS}/{sid2}", headers=acc.headers), 404)
    assert me(api, acc.access_token).status_code == 200


def test_cannot_revoke_another_users_session(api):
    alice, bob = new_account(api), new_account(api)
    bob_sid = jwt_decode(bob.access_token)[1]["sid"]
    assert_problem(api.delete(f"{SESSIONS}/{bob_sid}", headers=alice.headers), 404)
    assert_problem(api.delete(f"{SESSIONS}/{uuid.uuid4()}", headers=alice.headers), 404)
    r = api.delete(f"{SESSIONS}/not-a-uuid", headers=alice.headers)
    assert r.status_code in (400, 404), r.text
    assert me(api, bob.access_token).status_code == 200
    assert refresh(api, bob.refresh_token).status_code == 200


# ---------------------------------------------------------------------------------------------
# API tokens


def create_token(api, acc, name="ci", scope="read-write", **extra):
    r = api.post(TOKENS, headers=acc.headers, json={"name": name, "scope": scope, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def test_create_list_use_revoke_api_tokens(api):
    acc = new_account(api, display_name="Token Owner")
    rw = create_token(api, acc, "rw token", "read-write", expires_in_days=30)
    ro = create_token(api, acc, "ro token", "read")
    for t in (rw, ro):
        assert set(t) == TOKEN_FIELDS | {"token"}, sorted(t)
        assert t["token"].startswith("thp_")
        assert t["token"].startswith(t["token_prefix"]) and len(t["token_prefix"]) < len(t["token"])
        assert t["last_used_at"] is None
    assert rw["expires_at"] is not None and ro["expires_at"] is None
    assert rw["scope"] == "read-write" and ro["scope"] == "read"

    r = api.get(TOKENS, headers=acc.headers)
    assert r.status_code == 200, r.text
    listed = {t["id"]: t for t in r.json()["items"]}
    assert set(listed) >= {rw["id"], ro["id"]}
    for t in listed.values():
        assert "token" not in t and set(t) == TOKEN_FIELDS
    assert rw["token"] not in r.text and ro["token"] not in r.text  # shown once only

    # Use as Bearer.
    assert me(api, rw["token"]).json()["id"] == acc.id
    assert me(api, ro["token"]).json()["id"] == acc.id
    r = api.patch("/api/v1/users/me", headers=bearer(rw["token"]), json={"display_name": "Via Token"})
    assert r.status_code == 200, r.text
    r = api.patch("/api/v1/users/me", headers=bearer(ro["token"]), json={"display_name": "Read Only"})
    assert_problem(r, 403, code="insufficient-scope")
    assert me(api, acc.access_token).json()["display_name"] == "Via Token"

    # An API token cannot mint API tokens.
    r = api.post(TOKENS, headers=bearer(rw["token"]), json={"name": "x", "scope": "read"})
    assert r.status_code in (401, 403), r.text

    # Revoke.
    assert api.delete(f"{TOKENS}/{rw['id']}", headers=acc.headers).status_code == 204
    assert_problem(me(api, rw["token"]), 401)
    assert me(api, ro["token"]).status_code == 200
    assert_problem(api.delete(f"{TOKENS}/{rw['id']}", headers=acc.headers), 404)


def test_cannot_revoke_another_users_api_token(api):
    alice, bob = new_account(api), new_account(api)
    t = create_token(api, bob)
    assert_problem(api.delete(f"{TOKENS}/{t['id']}", headers=alice.headers), 404)
    assert_problem(api.delete(f"{TOKENS}/{uuid.uuid4()}", headers=alice.headers), 404)
    assert t["id"] not in [x["id"] for x in api.get(TOKENS, headers=alice.headers).json()["items"]]
    assert me(api, t["token"]).status_code == 200


def test_api_token_validation(api):
    acc = new_account(api)
    cases = [
        ({"name": "", "scope": "read"}, "name"),
        ({"name": "n" * 101, "scope": "read"}, "name"),
        ({"name": "x", "scope": "admin"}, "scope"),
        ({"name": "x"}, "scope"),
        ({"scope": "read"}, "name"),
        ({"name": "x", "scope": "read", "expires_in_days": 0}, "expires_in_days"),
        ({"name": "x", "scope": "read", "expires_in_days": 3651}, "expires_in_days"),
        ({"name": "x", "scope": "read", "expires_in_days": "7"}, "expires_in_days"),
        ({"name": "x", "scope": "read", "owner": "someone"}, "owner"),
    ]
    for body, fld in cases:
        assert_validation_problem(api.post(TOKENS, headers=acc.headers, json=body), [fld])
    assert api.get(TOKENS, headers=acc.headers).json()["items"] == []
    assert_problem(api.post(TOKENS, json={"name": "x", "scope": "read"}), 401)


def test_api_token_garbage_is_401(api):
    for tok in ("thp_", "thp_" + "A" * 43, "thr_" + "a" * 40):
        assert_problem(api.get("/api/v1/users/me", headers=bearer(tok)), 401)
    r = api.get("/api/v1/users/me", headers={"Authorization": "Bearer thp_\u00e9\u00e9".encode("utf-8")})
    assert r.status_code in (400, 401), r.text
