"""Password reset: same answer and time for known and unknown addresses, the e-mail arrives
on a real SMTP server (aiosmtpd), its link works once, sessions are revoked."""
import json
import re
import statistics
import time
import urllib.parse

from support import (
    PASSWORD, assert_problem, assert_validation_problem, login, me, message_text, new_account, refresh,
    unique_email,
)

RESET = "/api/v1/auth/password-reset/request"
CONFIRM = "/api/v1/auth/password-reset/confirm"


def reset_token_from_mail(smtp, server, addr: str, count: int = 1) -> str:
    msg = smtp.wait_for(addr, count=count)
    assert msg["To"] and addr.lower() in str(msg["To"]).lower()
    assert msg["From"], "reset e-mail without From"
    assert msg["Subject"], "reset e-mail without Subject"
    text = message_text(msg)
    prefix = re.escape(server.url + "/reset-password?token=")
    m = re.search(prefix + r"([A-Za-z0-9._~%+-]+)", text)
    assert m, f"no {server.url}/reset-password?token=... link in the e-mail:\n{text[:2000]}"
    return urllib.parse.unquote(m.group(1))


def test_request_answers_the_same_for_known_and_unknown_addresses(api):
    known = [new_account(api, do_login=False).email for _ in range(5)]
    unknown = [unique_email("nobody") for _ in range(5)]
    t_known, t_unknown, answers = [], [], set()
    api.post(RESET, json={"email": unique_email("warmup")})
    for k, u in zip(known, unknown):
        for addr, times in ((k, t_known), (u, t_unknown)):
            t0 = time.perf_counter()
            r = api.post(RESET, json={"email": addr})
            times.append(time.perf_counter() - t0)
            assert r.status_code == 202, r.text
            answers.add((r.status_code, r.headers.get("Content-Type"), r.content))
    assert len(answers) == 1, f"different answers for known and unknown addresses: {answers}"
    status, _ct, content = answers.pop()
    assert content == b'{"status":"accepted"}' or json.loads(content) == {"status": "accepted"}
    mk, mu = statistics.median(t_known), statistics.median(t_unknown)
    assert abs(mk - mu) < 0.2, f"median time known {mk * 1000:.0f} ms vs unknown {mu * 1000:.0f} ms"


def test_reset_flow_email_link_single_use_revokes_sessions(api, server, smtp):
    acc = new_account(api)
    other = login(api, acc.email).json()
    r = api.post(RESET, json={"email": acc.email.upper()})  # any letter case
    assert r.status_code == 202, r.text
    token = reset_token_from_mail(smtp, server, acc.email)

    new_pw = "a brand new passphrase"
    r = api.post(CONFIRM, json={"token": token, "new_password": new_pw})
    assert r.status_code == 204, r.text

    # Single use.
    r = api.post(CONFIRM, json={"token": token, "new_password": "yet another passphrase"})
    assert_problem(r, 400, code="invalid-token", fields=["token"])

    # Every session revoked, every earlier access token dead.
    for a in (acc.access_token, other["access_token"]):
        assert_problem(me(api, a), 401)
    for rt in (acc.refresh_token, other["refresh_token"]):
        assert_problem(refresh(api, rt), 401)
    assert login(api, acc.email, PASSWORD, expect=None).status_code == 401
    assert login(api, acc.email, "yet another passphrase", expect=None).status_code == 401
    t = login(api, acc.email, new_pw).json()
    assert me(api, t["access_token"]).status_code == 200


def test_no_mail_for_unknown_address(api, smtp):
    addr = unique_email("ghost")
    assert api.post(RESET, json={"email": addr}).status_code == 202
    time.sleep(1.0)
    assert smtp.messages_to(addr) == []


def test_confirm_with_bad_input_changes_nothing(api, server, smtp):
    acc = new_account(api)
    assert api.post(RESET, json={"email": acc.email}).status_code == 202
    token = reset_token_from_mail(smtp, server, acc.email)

    assert_validation_problem(api.post(CONFIRM, json={"token": token, "new_password": "short"}), ["new_password"])
    assert_validation_problem(api.post(CONFIRM, json={"token": token}), ["new_password"])
    assert_validation_problem(api.post(CONFIRM, json={"new_password": "long enough pw"}), ["token"])
    assert_problem(api.post(CONFIRM, json={"token": "not-a-token", "new_password": "long enough pw"}),
                   400, code="invalid-token", fields=["token"])
    # Nothing changed: the old password and session still work...
    assert me(api, acc.access_token).status_code == 200
    login(api, acc.email, PASSWORD)
    # ...and the token was not used up by the invalid attempts.
    assert api.post(CONFIRM, json={"token": token, "new_password": "long enough pw"}).status_code == 204
    login(api, acc.email, "long enough pw")


def test_request_validation(api):
    assert_validation_problem(api.post(RESET, json={}), ["email"])
    assert_validation_problem(api.post(RESET, json={"email": 42}), ["email"])
    assert_validation_problem(api.post(RESET, json={"email": "a@b.c", "extra": 1}), ["extra"])
