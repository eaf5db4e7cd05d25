"""Instance administration: the first registered user, `taskhub admin create-user`, listing
and deactivating users."""
import uuid

from support import (
    PASSWORD, Client, assert_problem, assert_validation_problem, bearer, login, me, new_account, refresh,
    register, unique_email,
)

USERS = "/api/v1/admin/users"


def list_all_users(api, headers, limit=200):
    items, cursor, pages = [], None, 0
    while True:
        params = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        r = api.get(USERS, headers=headers, params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"items", "next_cursor"}
        items += body["items"]
        cursor = body["next_cursor"]
        pages += 1
        assert pages < 1000
        if cursor is None:
            return items


def test_first_registered_user_is_admin(server_factory):
    srv = server_factory()
    api = Client(srv.url)
    first = register(api, unique_email("first")).json()
    second = register(api, unique_email("second")).json()
    assert first["is_admin"] is True
    assert second["is_admin"] is False
    t1 = login(api, first["email"]).json()["access_token"]
    t2 = login(api, second["email"]).json()["access_token"]
    assert api.get(USERS, headers=bearer(t1)).status_code == 200
    assert_problem(api.get(USERS, headers=bearer(t2)), 403)


def test_cli_create_admin_then_registered_users_are_not_admins(server_factory):
    srv = server_factory(start=False)
    addr = unique_email("cliadmin")
    cp = srv.run_cli("admin", "create-user", "--email", addr, "--password", PASSWORD, "--name", "CLI Admin",
                     "--admin")
    assert cp.returncode == 0, f"taskhub admin create-user failed: {cp.stdout}\n{cp.stderr}"
    srv.start()
    api = Client(srv.url)
    t = login(api, addr).json()
    assert t["user"]["is_admin"] is True and t["user"]["display_name"] == "CLI Admin"
    assert register(api, unique_email("later")).json()["is_admin"] is False
    assert api.get(USERS, headers=bearer(t["access_token"])).status_code == 200


def test_list_users_paginates_in_id_order(api, admin):
    created = {new_account(api, do_login=False).id for _ in range(3)}
    everyone = list_all_users(api, admin.headers, limit=2)
    ids = [u["id"] for u in everyone]
    assert len(ids) == len(set(ids)), "a user appears on two pages"
    assert ids == sorted(ids), "not ordered by id"
    assert created <= set(ids)
    assert admin.id in ids
    first = api.get(USERS, headers=admin.headers, params={"limit": 1}).json()
    assert len(first["items"]) == 1 and isinstance(first["next_cursor"], str)
    default = api.get(USERS, headers=admin.headers).json()
    assert len(default["items"]) == min(50, len(ids))
    for bad in ("0", "201", "abc", "-1"):
        assert_validation_problem(api.get(USERS, headers=admin.headers, params={"limit": bad}), ["limit"])
    r = api.get(USERS, headers=admin.headers, params={"cursor": "definitely-not-a-cursor"})
    assert r.status_code == 400, r.text


def test_non_admins_get_403(api, user):
    target = new_account(api, do_login=False)
    assert_problem(api.get(USERS, headers=user.headers), 403)
    assert_problem(api.post(f"{USERS}/{target.id}/deactivate", headers=user.headers), 403)
    assert_problem(api.post(f"{USERS}/{target.id}/activate", headers=user.headers), 403)
    assert_problem(api.get(USERS), 401)
    assert_problem(api.post(f"{USERS}/{target.id}/deactivate"), 401)
    login(api, target.email)  # still active


def test_deactivate_stops_every_token_at_once_and_activate(api, admin):
    victim = new_account(api)
    tok = api.post("/api/v1/users/me/api-tokens", headers=victim.headers,
                   json={"name": "t", "scope": "read-write"}).json()["token"]
    assert me(api, tok).status_code == 200

    r = api.post(f"{USERS}/{victim.id}/deactivate", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == victim.id and r.json()["is_active"] is False

    assert_problem(me(api, victim.access_token), 401)
    assert_problem(me(api, tok), 401)
    assert_problem(refresh(api, victim.refresh_token), 401)
    # Same answer as a wrong password.
    assert_problem(login(api, victim.email, expect=None), 401, code="invalid-credentials")
    listed = {u["id"]: u for u in list_all_users(api, admin.headers)}
    assert listed[victim.id]["is_active"] is False

    r = api.post(f"{USERS}/{victim.id}/activate", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["is_active"] is True
    t = login(api, victim.email).json()
    assert me(api, t["access_token"]).status_code == 200
    # Sessions revoked by the deactivation stay revoked.
    assert_problem(me(api, victim.access_token), 401)


def test_deactivate_errors(api, admin):
    assert_problem(api.post(f"{USERS}/{admin.id}/deactivate", headers=admin.headers), 400,
                   code="cannot-deactivate-self")
    assert me(api, admin.access_token).status_code == 200
    missing = str(uuid.uuid4())
    assert_problem(api.post(f"{USERS}/{missing}/deactivate", headers=admin.headers), 404)
    assert_problem(api.post(f"{USERS}/{missing}/activate", headers=admin.headers), 404)
