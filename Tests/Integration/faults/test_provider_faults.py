"""The identity provider slow, broken, down, or late at start-up: the right status every time,
and /protected keeps working in jwks mode."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
import time

import pytest

from harness.idp_fixture import IdentityProvider
from harness.stack import binary_path, free_port

UNAVAILABLE = b'{"detail":"Identity provider unavailable"}'


def test_hanging_logins_do_not_starve_protected(make_idp, make_stack):
    idp = make_idp()
    # The default FCGI_WORKERS (8 + 4 × CPUs) and KEYCLOAK_MAX_CONCURRENT_CALLS (workers −
    # max(2, workers/4)); a short provider timeout. Every slot hangs, and two logins more.
    stack = make_stack(idp, env={"KEYCLOAK_TIMEOUT_SECONDS": "6"})
    summary = subprocess.run([str(binary_path()), "--check-config", "--env-file", "/dev/null"], env=stack.responder_env(),
                             capture_output=True, text=True).stdout
    settings = dict(line.split("=", 1) for line in summary.splitlines() if "=" in line)
    workers, slots = int(settings["FCGI_WORKERS"]), int(settings["KEYCLOAK_MAX_CONCURRENT_CALLS"])
    assert workers == 8 + 4 * os.cpu_count() and slots == workers - max(2, workers // 4), summary
    token = stack.token()
    idp.fault("token", "hang", seconds=30)
    with concurrent.futures.ThreadPoolExecutor(max_workers=slots + 2) as pool:
        logins = [pool.submit(stack.login, "abdullah", "Test#123456") for _ in range(slots + 2)]
        time.sleep(1.5)  # let the logins reach the provider and hang there
        started = time.monotonic()
        for _ in range(20):
            answer = stack.protected(token)
            assert answer.status_code == 200, answer.text
        protected_elapsed = time.monotonic() - started
        statuses = sorted(future.result().status_code for future in logins)
    assert protected_elapsed < 3, f"20 /protected calls took {protected_elapsed:.1f}s while logins hung"
    # 48 logins held a slot until the 6 s timeout (503); the 2 beyond the cap failed fast (503).
    assert statuses == [503] * (slots + 2)
    assert idp.stats()["token"] <= slots + 1  # the two beyond the cap never reached the provider
    idp.clear_faults()
    assert stack.login("abdullah", "Test#123456").status_code == 200


def test_login_times_out_with_503_within_the_timeout(make_idp, make_stack):
    idp = make_idp()
    stack = make_stack(idp, env={"KEYCLOAK_TIMEOUT_SECONDS": "2"})
    idp.fault("token", "hang", seconds=30)
    started = time.monotonic()
    answer = stack.login("abdullah", "Test#123456")
    elapsed = time.monotonic() - started
    assert answer.status_code == 503
    assert answer.content == UNAVAILABLE
    assert elapsed < 4, elapsed


@pytest.mark.parametrize("fault,detail", [
    ("status500", b'{"detail":"Identity provider error"}'),
    ("html", b'{"detail":"Identity provider returned an invalid response"}'),
    ("truncated", b'{"detail":"Identity provider returned an invalid response"}'),
    ("huge", b'{"detail":"Identity provider returned an invalid response"}'),
])
def test_broken_provider_answers_are_502(make_idp, make_stack, fault, detail):
    idp = make_idp()
    stack = make_stack(idp)
    idp.fault("token", fault)
    answer = stack.login("abdullah", "Test#123456")
    assert answer.status_code == 502, answer.text
    assert answer.content == detail


def test_rejected_client_secret_is_502_and_never_echoed(make_idp, make_stack):
    idp = make_idp()
    wrong_secret = "wrong-secret-9f8e7d"
    stack = make_stack(idp, env={"KEYCLOAK_CLIENT_SECRET": wrong_secret})
    answer = stack.login("abdullah", "Test#123456")
    assert answer.status_code == 502
    assert answer.content == b"{\"detail\":\"Identity provider rejected this service's client credentials\"}"
    # The request's log line follows the response; wait for it.
    stack.wait_until(lambda: "http.status=502" in stack.responder_log(), "the 502 request log line")
    log = stack.responder_log()
    assert "unauthorized_client" in log
    assert wrong_secret not in log and "Test#123456" not in log


def test_invalid_grant_as_400_like_keycloak_26_6_is_still_401(make_idp, make_stack):
    stack = make_stack(make_idp(invalid_grant_status=400))
    answer = stack.login("abdullah", "wrong")
    assert answer.status_code == 401
    assert answer.content == b'{"detail":"Invalid username or password"}'


def test_provider_down_mid_run_then_back(make_stack):
    port = free_port()
    idp = IdentityProvider(extra_args=("--port", str(port))).start()
    try:
        stack = make_stack(idp, env={"KEYCLOAK_CONNECT_TIMEOUT_SECONDS": "1", "KEYCLOAK_TIMEOUT_SECONDS": "2"})
        token = stack.token()
        idp.stop()

        started = time.monotonic()
        answer = stack.login("abdullah", "Test#123456")
        assert answer.status_code == 503 and answer.content == UNAVAILABLE
        assert time.monotonic() - started < 3
        # jwks mode: the cached keys keep verifying while the provider is away.
        assert stack.protected(token).status_code == 200

        idp = IdentityProvider(extra_args=("--port", str(port))).start()  # new process, new keys
        new_token = stack.token()
        assert stack.protected(new_token).status_code == 200  # one refetch finds the new kid
    finally:
        idp.stop()


def test_userinfo_mode_needs_the_provider_for_every_request(make_idp, make_stack):
    idp = make_idp()
    stack = make_stack(idp, env={"AUTH_VERIFY": "userinfo", "KEYCLOAK_CONNECT_TIMEOUT_SECONDS": "1"})
    token = stack.token()
    idp.reset_stats()
    for _ in range(3):
        assert stack.protected(token).status_code == 200
    assert idp.stats()["userinfo"] == 3
    idp.fault("userinfo", "status500")
    assert stack.protected(token).status_code == 502
    idp.stop()
    answer = stack.protected(token)
    assert answer.status_code == 503 and answer.content == UNAVAILABLE


def test_start_before_the_provider_retries_discovery(make_stack, tmp_path):
    port = free_port()
    idp = IdentityProvider(extra_args=("--port", str(port)))
    # The responder starts pointed at a provider that is not up yet.
    idp.base_url, idp.realm = f"http://127.0.0.1:{port}", "testing"
    stack = make_stack(idp, wait_for_keys=False)
    try:
        answer = stack.login("abdullah", "Test#123456")
        assert answer.status_code == 503 and answer.content == UNAVAILABLE
        assert "discovery failed; retrying" in stack.responder_log()
        idp.start()
        stack.wait_until(lambda: stack.login("abdullah", "Test#123456").status_code == 200,
                         "login to succeed once the provider is up", timeout=40)
        assert stack.protected(stack.token()).status_code == 200
    finally:
        idp.stop()


def test_sigterm_finishes_the_request_in_flight_and_exits_0(make_idp, make_stack):
    idp = make_idp()
    stack = make_stack(idp)
    idp.fault("token", "hang", seconds=2)  # the provider answers normally after 2 s
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        login = pool.submit(stack.login, "abdullah", "Test#123456")
        time.sleep(0.7)
        stack.responder.send_signal(signal.SIGTERM)
        answer = login.result(timeout=20)
    assert answer.status_code == 200, answer.text
    assert stack.stop_responder() == 0
    assert "stopped" in stack.responder_log()
    # Nothing listens any more: nginx answers 502 in JSON.
    gone = stack.get("/")
    assert gone.status_code == 502 and gone.headers["Content-Type"] == "application/json"


# Logout into a broken provider ----------------------------------------------------------------


def test_logout_answered_with_an_html_page_is_not_a_logout(make_idp, make_stack):
    """The provider's logout endpoint answers 200 with an HTML page (a proxy's or a login page,
    not Keycloak's 204): the session was not ended, so /logout must not answer 204 ("the
    session is ended and the refresh token is dead") but 502, like any garbage answer."""
    idp = make_idp()
    stack = make_stack(idp)
    tokens = stack.login("abdullah", "Test#123456").json()
    idp.fault("logout", "html")
    answer = stack.post("/logout", data={"refresh_token": tokens["refresh_token"]})
    idp.clear_faults()
    still_alive = stack.post("/refresh", data={"refresh_token": tokens["refresh_token"]})
    assert still_alive.status_code == 200  # the provider never ended the session
    assert answer.status_code == 502, (
        f"/logout answered {answer.status_code} {answer.content!r} for an HTML page from the provider, "
        "while the session is still alive")
