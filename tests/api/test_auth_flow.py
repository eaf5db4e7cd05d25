"""Register, login, /users/me, refresh (rotation and reuse detection), logout, logout-all,
password change."""
import re
import time

from support import (
    PASSWORD, assert_problem, assert_validation_problem, bearer, jwt_decode, login, me, new_account, refresh,
    register, unique_email,
)

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
USER_FIELDS = {"id", "email", "display_name", "timezone", "is_admin", "is_active", "created_at", "updated_at"}


def check_user(u: dict) -> None:
    assert set(u) == USER_FIELDS, f"user fields {sorted(u)}"
    assert UUID.match(u["id"]), f"id is not a UUIDv7: {u['id']}"
    assert TS.match(u["created_at"]) and TS.match(u["updated_at"]), u


def test_register_login_me_refresh_logout(api):
    addr = unique_email("Flow").replace("@example.com", "@Example.COM")
    r = register(api, addr, PASSWORD, "Ada Lovelace")
    assert r.headers.get("Location") == "/api/v1/users/me"
    assert r.headers.get("Content-Type", "").startswith("application/json")
    u = r.json()
    check_user(u)
    assert u["email"] == addr.lower(), "e-mail is not normalised to lower case"
    assert u["display_name"] == "Ada Lovelace"
    assert u["is_admin"] is False and u["is_active"] is True
    assert "password" not in r.text and "argon2" not in r.text

    tokens = login(api, addr.upper()).json()  # any letter case logs in
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 900
    assert tokens["refresh_token"].startswith("thr_")
    assert isinstance(tokens["refresh_expires_in"], int) and tokens["refresh_expires_in"] > 900
    assert tokens["user"]["id"] == u["id"]

    header, claims, _sig = jwt_decode(tokens["access_token"])
    assert header["alg"] == "HS256"
    assert claims["typ"] == "access"
    assert claims["sub"] == u["id"]
    assert claims["iss"] == "taskhub" and claims["aud"] in ("taskhub-api", ["taskhub-api"])
    assert claims["exp"] - claims["iat"] == 900
    assert claims["nbf"] <= claims["iat"] + 1
    assert abs(claims["iat"] - time.time()) < 120
    for k in ("jti", "sid", "ver"):
        assert k in claims, f"access token lacks {k}"

    r = me(api, tokens["access_token"])
    assert r.status_code == 200, r.text
    assert r.json() == u | {"updated_at": r.json()["updated_at"]}

    r = refresh(api, tokens["refresh_token"])
    assert r.status_code == 200, r.text
    t2 = r.json()
    assert t2["refresh_token"] != tokens["refresh_token"]
    assert t2["access_token"] != tokens["access_token"]
    assert me(api, t2["access_token"]).status_code == 200

    r = api.post("/api/v1/auth/logout", json={"refresh_token": t2["refresh_token"]})
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert_problem(refresh(api, t2["refresh_token"]), 401)
    # Logging out revokes the session: its access tokens (old and new) stop working.
    assert_problem(me(api, t2["access_token"]), 401)
    assert_problem(me(api, tokens["access_token"]), 401)


def test_me_requires_authentication(api):
    r = api.get("/api/v1/users/me")
    assert_problem(r, 401)
    assert r.headers.get("WWW-Authenticate", "").lower().startswith("bearer")


def test_duplicate_email_any_case_is_409(api):
    addr = unique_email("dup")
    register(api, addr)
    for variant in (addr, addr.upper(), addr.capitalize(), "  " + addr + " "):
        r = register(api, variant, expect=None)
        if variant.strip() != variant and r.status_code == 400:
            continue  # refusing surrounding spaces outright is fine too
        assert_problem(r, 409, code="email-taken", fields=["email"])


def test_register_validation(api):
    cases = [
        ({"email": "not-an-email", "password": PASSWORD, "display_name": "x"}, "email"),
        ({"email": unique_email(), "password": "short7!", "display_name": "x"}, "password"),
        ({"email": unique_email(), "password": "x" * 257, "display_name": "x"}, "password"),
        ({"email": unique_email(), "password": PASSWORD, "display_name": ""}, "display_name"),
        ({"email": unique_email(), "password": PASSWORD, "display_name": "d" * 101}, "display_name"),
    ]
    for body, fld in cases:
        assert_validation_problem(api.post("/api/v1/auth/register", json=body), [fld])
        # nothing was created: the address is still free
        if "@" in body["email"]:
            assert login(api, body["email"], body["password"], expect=None).status_code == 401


def test_password_length_bounds_are_inclusive(api):
    for pw in ("p" * 8, "p" * 256, "pässwörd"):  # 8 code points, not bytes
        acc = new_account(api, password=pw)
        assert me(api, acc.access_token).status_code == 200


def test_refresh_rotation_and_reuse_revokes_family(api):
    acc = new_account(api)
    other = login(api, acc.email).json()  # a second session of the same user

    r1, a1 = acc.refresh_token, acc.access_token
    t2 = refresh(api, r1).json()
    r2, a2 = t2["refresh_token"], t2["access_token"]
    t3 = refresh(api, r2).json()
    r3, a3 = t3["refresh_token"], t3["access_token"]
    assert len({r1, r2, r3}) == 3
    assert me(api, a3).status_code == 200

    # Presenting r1 again: reuse of a rotated token revokes the whole family.
    assert_problem(refresh(api, r1), 401)
    assert_problem(refresh(api, r3), 401)
    for a in (a1, a2, a3):
        assert_problem(me(api, a), 401)
    # The user's other session is not part of that family.
    assert me(api, other["access_token"]).status_code == 200
    assert refresh(api, other["refresh_token"]).status_code == 200


def test_refresh_rejects_garbage(api):
    for tok in ("", "thr_doesnotexist", "x" * 300, "thp_" + "a" * 40):
        r = refresh(api, tok)
        assert r.status_code in (400, 401), r.text
        assert_problem(r, r.status_code)
    assert_validation_problem(api.post("/api/v1/auth/refresh", json={}), ["refresh_token"])


def test_logout_unknown_token_is_204_and_missing_field_400(api):
    assert api.post("/api/v1/auth/logout", json={"refresh_token": "thr_unknown"}).status_code == 204
    acc = new_account(api)
    assert api.post("/api/v1/auth/logout", json={"refresh_token": acc.refresh_token}).status_code == 204
    assert api.post("/api/v1/auth/logout", json={"refresh_token": acc.refresh_token}).status_code == 204
    assert_validation_problem(api.post("/api/v1/auth/logout", json={}), ["refresh_token"])


def test_logout_all(api):
    acc = new_account(api)
    s2 = login(api, acc.email).json()
    assert api.post("/api/v1/auth/logout-all").status_code == 401
    r = api.post("/api/v1/auth/logout-all", headers=acc.headers, json={})
    assert r.status_code == 204, r.text
    for a in (acc.access_token, s2["access_token"]):
        assert_problem(me(api, a), 401)
    for rt in (acc.refresh_token, s2["refresh_token"]):
        assert_problem(refresh(api, rt), 401)
    # Signing in again works, with a new token version.
    t = login(api, acc.email).json()
    assert me(api, t["access_token"]).status_code == 200
    # No body at all is accepted as well.
    r = api.post("/api/v1/auth/logout-all", headers=bearer(t["access_token"]))
    assert r.status_code == 204, r.text


def test_change_password_revokes_other_sessions_and_old_tokens(api):
    acc = new_account(api)
    s2 = login(api, acc.email).json()
    new_pw = "another long passphrase"
    r = api.post("/api/v1/users/me/password", headers=acc.headers,
                 json={"current_password": PASSWORD, "new_password": new_pw})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    fresh = body["access_token"]

    assert me(api, fresh).status_code == 200
    assert_problem(me(api, acc.access_token), 401)  # issued before the change
    assert_problem(me(api, s2["access_token"]), 401)  # other session
    assert_problem(refresh(api, s2["refresh_token"]), 401)  # other session revoked
    # The calling session lives on: its refresh token still works.
    r = refresh(api, acc.refresh_token)
    assert r.status_code == 200, r.text
    assert me(api, r.json()["access_token"]).status_code == 200

    assert login(api, acc.email, PASSWORD, expect=None).status_code == 401
    login(api, acc.email, new_pw)


def test_change_password_errors_change_nothing(api):
    acc = new_account(api)
    r = api.post("/api/v1/users/me/password", headers=acc.headers,
                 json={"current_password": "wrong password!", "new_password": "whatever long"})
    assert_problem(r, 400, code="invalid-password", fields=["current_password"])
    r = api.post("/api/v1/users/me/password", headers=acc.headers,
                 json={"current_password": PASSWORD, "new_password": "short"})
    assert_validation_problem(r, ["new_password"])
    r = api.post("/api/v1/users/me/password", headers=acc.headers, json={"current_password": PASSWORD})
    assert_validation_problem(r, ["new_password"])
    assert_problem(api.post("/api/v1/users/me/password",
                            json={"current_password": PASSWORD, "new_password": "whatever long"}), 401)
    # nothing changed
    assert me(api, acc.access_token).status_code == 200
    login(api, acc.email, PASSWORD)


def test_patch_me(api):
    acc = new_account(api, display_name="Before")
    before = me(api, acc.access_token).json()
    r = api.patch("/api/v1/users/me", headers=acc.headers, json={"display_name": "After"})
    assert r.status_code == 200, r.text
    assert r.json()["display_name"] == "After"
    assert r.json()["timezone"] == before["timezone"]  # merge semantics
    r = api.patch("/api/v1/users/me", headers=acc.headers, json={"timezone": "Europe/Paris"})
    assert r.status_code == 200, r.text
    now = me(api, acc.access_token).json()
    assert now["display_name"] == "After" and now["timezone"] == "Europe/Paris"
    assert now["email"] == before["email"] and now["id"] == before["id"]
    assert now["updated_at"] >= before["updated_at"]
    assert_problem(api.patch("/api/v1/users/me", json={"display_name": "x"}), 401)
