"""Login throttling: per account (10 failures in 15 minutes) and per client IP."""
from support import Client, assert_problem, login, new_account, register, unique_email


def retry_after(r) -> int:
    v = r.headers.get("Retry-After")
    assert v is not None, "429 without Retry-After"
    assert v.isdigit() and int(v) >= 1, f"Retry-After {v!r}"
    return int(v)


def test_ten_failures_lock_the_account_even_for_the_right_password(api):
    acc = new_account(api, do_login=False)
    for i in range(10):
        r = login(api, acc.email, f"wrong password {i}", expect=None)
        assert_problem(r, 401, code="invalid-credentials")
    r = login(api, acc.email, acc.password, expect=None)
    assert_problem(r, 429)
    assert retry_after(r) <= 15 * 60
    r = login(api, acc.email.upper(), acc.password, expect=None)  # same account in another case
    assert_problem(r, 429)
    # Other accounts are not affected.
    other = new_account(api, do_login=False)
    login(api, other.email, other.password)


def test_unknown_address_is_throttled_like_a_known_one(api):
    # Otherwise "429 after 10 failures" would tell which addresses have an account.
    addr = unique_email("unknown")
    for _ in range(10):
        assert_problem(login(api, addr, "wrong password", expect=None), 401, code="invalid-credentials")
    r = login(api, addr, "wrong password", expect=None)
    assert_problem(r, 429)
    retry_after(r)


def test_per_ip_limit(server_factory):
    srv = server_factory(LOGIN_IP_MAX_ATTEMPTS="5")
    api = Client(srv.url)
    addr = unique_email("ip")
    register(api, addr)
    for i in range(5):  # different (unknown) addresses: only the per-IP limit can trigger
        r = login(api, unique_email(f"ip{i}"), "wrong password", expect=None)
        assert_problem(r, 401, code="invalid-credentials")
    r = login(api, addr, expect=None)
    assert_problem(r, 429)
    retry_after(r)
