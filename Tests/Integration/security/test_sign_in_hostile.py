"""Hostile sign-ins (issue 11): the authorization code flow's callback and start, through real
nginx (the example gate's TLS listener, /oauth2/ routed to the responder), the release responder
and the local provider, driven without a browser (`harness.http_sign_in.GateBrowser`: the
provider's login form is filled from its action URL, the cookies kept by hand).

- the callback's `state` must match a sign-in cookie of this browser: missing, foreign,
  look-alike, duplicated, expired or replayed (the cookie is deleted on use) → 400
  `{"detail":"Invalid or expired sign-in state"}`;
- the code is exchanged once, with the PKCE verifier of the sign-in that `state` names, and the
  ID token must carry that sign-in's nonce: a replayed code, a code issued for another
  sign-in's challenge, a code whose authorization request carried another nonce or none, or an
  answer naming another issuer → 401 `{"detail":"Sign-in failed"}`, no session cookie;
- the provider's `error=access_denied` (or any error) → 401 `{"detail":"Sign-in was not completed"}`;
- `/oauth2/start?rd=` only accepts a path of this site or an allow-listed origin: every
  open-redirect trick → 400 `{"detail":"Invalid redirect target"}` and no sign-in cookie.

Not testable here: an ID token with a wrong `aud`/`azp` or a bad signature at the callback. The
provider signs ID tokens for the client that the code was issued to, always with `aud` = that
client, and has no fault that alters them; a code of another client (the Swagger client) is
already refused by the provider's code exchange ("Found different client_id"), before the
responder's ID-token check runs. `JWTVerifier.verifyIDToken`'s `aud`/`azp` rules are covered by
Tests/AuthTests/OIDCTokenVerifierTests.swift.
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from harness.http_sign_in import (
    SESSION_COOKIE,
    GateBrowser,
    Secrets,
    expired_cookie,
    query_of,
    responder_line,
    set_cookie_headers,
)
from harness.sign_in import SignInStack

SECRETS = Secrets()
GOOD_ORIGIN = "https://good.example.com"
BAD_STATE = {"detail": "Invalid or expired sign-in state"}
SIGN_IN_FAILED = {"detail": "Sign-in failed"}
NOT_COMPLETED = {"detail": "Sign-in was not completed"}
INVALID_REDIRECT = {"detail": "Invalid redirect target"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, tls_dir):
    stack = SignInStack(tmp_path_factory.mktemp("sign-in-hostile"), tls_dir,
                        env={"SIGNIN_ALLOWED_REDIRECT_ORIGINS": GOOD_ORIGIN}).start()
    yield stack
    try:
        SECRETS.assert_not_in(stack.responder_log())
    finally:
        stack.stop()


@pytest.fixture
def browser(stack) -> GateBrowser:
    return GateBrowser(stack, SECRETS)


def json_answer(answer, status: int, body: dict) -> None:
    assert answer.status_code == status, (answer.status_code, answer.text)
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == body
    assert answer.headers["Cache-Control"] == "no-store"
    assert "Location" not in answer.headers


def no_session_set(answer) -> None:
    """No session cookie is written (a deletion of the sign-in cookie may be)."""
    for header in set_cookie_headers(answer):
        assert not header.startswith(SESSION_COOKIE + "=") and not header.startswith(SESSION_COOKIE + "_"), header


def refused_exchange(stack, answer, started) -> str:
    """401 Sign-in failed, the sign-in cookie deleted, no session; answers the log line."""
    json_answer(answer, 401, SIGN_IN_FAILED)
    assert set_cookie_headers(answer) == [expired_cookie(started.cookie_name)]
    line = responder_line(stack, answer)
    assert "signin.error=" in line and "http.status=401" in line
    return line


# --- state ---------------------------------------------------------------------------------------


def test_a_complete_sign_in_passes(stack, browser):
    """The control for the hostile cases: the same steps, unaltered, end signed in."""
    started = browser.start("/api/page")
    answer = browser.callback(browser.authorize(started.location))
    assert answer.status_code == 302 and answer.headers["Location"] == "/api/page"
    headers = set_cookie_headers(answer)
    assert headers[0] == expired_cookie(started.cookie_name)
    assert headers[1].startswith(SESSION_COOKIE + "=v1.")
    assert headers[1].endswith("; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=1800")
    assert browser.api("/api/x").json()["x_auth"]["x-auth-username"] == ["abdullah"]


def test_callback_without_state_is_refused(stack, browser):
    started = browser.start()
    params = browser.authorize(started.location)
    del params["state"]
    answer = browser.callback(params)
    json_answer(answer, 400, BAD_STATE)
    assert set_cookie_headers(answer) == []
    assert "signin.error=no state" in responder_line(stack, answer)
    assert browser.api("/api/x").status_code == 401


@pytest.mark.parametrize("query", ["state=&code=abcdefgh", "code=abcdefgh"], ids=["empty", "absent"])
def test_callback_with_an_empty_or_absent_state_is_refused(stack, browser, query):
    browser.start()
    json_answer(browser.callback(query), 400, BAD_STATE)


def test_callback_with_another_sign_ins_state_is_refused(stack, browser):
    """A state this browser never started (an attacker's own sign-in, CSRF): no cookie names it."""
    attacker = GateBrowser(stack, SECRETS)
    attacker_started = attacker.start()
    attacker_params = attacker.authorize(attacker_started.location, "alice", "p&ss+w%rd é#1")
    browser.start()
    answer = browser.callback(attacker_params)
    json_answer(answer, 400, BAD_STATE)
    assert set_cookie_headers(answer) == [expired_cookie(attacker_started.cookie_name)]
    no_session_set(answer)
    assert browser.api("/api/x").status_code == 401


def test_callback_with_a_look_alike_state_is_refused(stack, browser):
    """Same first 16 characters (so the same cookie name), different rest: the whole value is
    compared."""
    started = browser.start()
    params = browser.authorize(started.location)
    params["state"] = params["state"][:16] + ("A" if params["state"][16] != "A" else "B") + params["state"][17:]
    answer = browser.callback(params)
    json_answer(answer, 400, BAD_STATE)
    assert set_cookie_headers(answer) == [expired_cookie(started.cookie_name)]


def test_callback_with_a_duplicated_state_is_refused(stack, browser):
    started = browser.start()
    params = browser.authorize(started.location)
    answer = browser.callback(urlencode(list(params.items()) + [("state", params["state"])]))
    json_answer(answer, 400, BAD_STATE)


def test_an_expired_sign_in_is_refused(stack, browser):
    """A sign-in state older than its 600 s lifetime (sealed with the stack's key, as the
    responder would have sealed it ten minutes ago)."""
    started = browser.start()
    params = browser.authorize(started.location)
    state = browser.key.open_sign_in(started.cookie_value)
    state["t"] = int(time.time()) - 601
    expired = browser.key.seal(json.dumps(state).encode(), "signin")
    answer = browser.callback(params, cookies={started.cookie_name: expired})
    json_answer(answer, 400, BAD_STATE)
    # The control: the same state one minute younger passes.
    state["t"] = int(time.time()) - 540
    fresh = browser.key.seal(json.dumps(state).encode(), "signin")
    assert browser.callback(params, cookies={started.cookie_name: fresh}).status_code == 302


def test_a_replayed_callback_is_refused_because_the_state_cookie_is_gone(stack, browser):
    started = browser.start()
    params = browser.authorize(started.location)
    first = browser.callback(params)
    assert first.status_code == 302
    assert started.cookie_name not in browser.gate_cookies  # deleted by the first callback
    browser.gate_cookies.pop(SESSION_COOKIE)
    again = browser.callback(params)
    json_answer(again, 400, BAD_STATE)
    no_session_set(again)


# --- code, PKCE, nonce, issuer ---------------------------------------------------------------------


def test_a_replayed_code_is_refused(stack, browser):
    """The attacker kept the sign-in cookie and replays the whole callback: the state matches,
    the provider refuses the used code."""
    started = browser.start()
    params = browser.authorize(started.location)
    assert browser.callback(params).status_code == 302
    replay = GateBrowser(stack, SECRETS)
    answer = replay.callback(params, cookies={started.cookie_name: started.cookie_value})
    line = refused_exchange(stack, answer, started)
    assert "Code not valid" in line.split("auth.error=", 1)[1], line


def test_a_code_issued_for_another_sign_ins_challenge_is_refused(stack, browser):
    """Two sign-ins in one browser: sign-in A's code delivered with sign-in B's state, so the
    code is exchanged with B's PKCE verifier, which does not match A's challenge."""
    first = browser.start("/api/first")
    second = browser.start("/api/second")
    assert first.params["code_challenge"] != second.params["code_challenge"]
    code_of_first = browser.authorize(first.location)
    answer = browser.callback({**code_of_first, "state": second.state})
    line = refused_exchange(stack, answer, second)
    assert "PKCE verification failed" in line.split("auth.error=", 1)[1], line
    assert browser.api("/api/x").status_code == 401
    # The control: the same code with its own sign-in's state would have passed before it was
    # spent; a new pair shows the mechanism works when nothing is swapped.
    assert browser.callback(browser.authorize(browser.start("/api/third").location)).status_code == 302


def authorize_with(browser: GateBrowser, started, **changes) -> dict[str, str]:
    """The authorization request of `started`, changed by the (attacker's) browser before it
    reaches the provider; None removes a parameter."""
    params = dict(started.params)
    for name, value in changes.items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    return browser.authorize(browser.idp.auth_url + "?" + urlencode(params))


def test_an_id_token_with_another_nonce_is_refused(stack, browser):
    """The authorization request's nonce replaced: the PKCE exchange succeeds (the challenge is
    the sign-in's), the ID token carries the other nonce."""
    started = browser.start()
    params = authorize_with(browser, started, nonce="attacker-chosen-nonce-0123456789")
    line = refused_exchange(stack, browser.callback(params), started)
    assert "nonce" in line.split("auth.error=", 1)[1], line
    assert browser.api("/api/x").status_code == 401


def test_an_id_token_without_a_nonce_is_refused(stack, browser):
    started = browser.start()
    params = authorize_with(browser, started, nonce=None)
    line = refused_exchange(stack, browser.callback(params), started)
    assert "nonce" in line.split("auth.error=", 1)[1], line


def test_an_unchanged_authorization_request_passes_the_nonce_check(stack, browser):
    """The control for the two above: the same path through `authorize_with`, nothing changed."""
    started = browser.start()
    answer = browser.callback(authorize_with(browser, started))
    assert answer.status_code == 302 and browser.session_cookies()


def test_an_answer_naming_another_issuer_is_refused(stack, browser):
    """RFC 9207: the authorization response's `iss` must be the provider's (mix-up attack)."""
    started = browser.start()
    params = browser.authorize(started.location)
    params["iss"] = "https://evil.example/realms/testing"
    line = refused_exchange(stack, browser.callback(params), started)
    assert "auth.error=issuerMismatch" in line, line


@pytest.mark.parametrize("query", ["code=", "", "code=a&code=b"], ids=["empty", "absent", "duplicated"])
def test_a_callback_without_exactly_one_code_is_refused(stack, browser, query):
    started = browser.start()
    answer = browser.callback("&".join(filter(None, [f"state={started.state}", query])))
    json_answer(answer, 400, {"detail": "Missing authorization code"})
    assert set_cookie_headers(answer) == [expired_cookie(started.cookie_name)]


# --- The provider's errors -----------------------------------------------------------------------


def test_access_denied_from_the_provider_is_not_completed(stack, browser):
    started = browser.start()
    answer = browser.callback({"error": "access_denied", "error_description": "The user said no",
                               "state": started.state})
    json_answer(answer, 401, NOT_COMPLETED)
    assert set_cookie_headers(answer) == [expired_cookie(started.cookie_name)]
    assert "idp.error=access_denied" in responder_line(stack, answer)


def test_a_real_provider_error_redirect_is_not_completed(stack, browser):
    """The provider itself redirects back with an error (an unknown scope: invalid_scope)."""
    started = browser.start()
    answer = browser.provider("GET", browser.idp.auth_url + "?" + urlencode({**started.params,
                                                                              "scope": "openid no-such-scope"}))
    assert answer.status_code == 302
    params = query_of(answer.headers["Location"])
    assert params["error"] == "invalid_scope" and params["state"] == started.state
    callback = browser.callback(params)
    json_answer(callback, 401, NOT_COMPLETED)
    assert "idp.error=invalid_scope" in responder_line(stack, callback)


def test_an_error_with_a_state_of_no_sign_in_is_a_state_error(stack, browser):
    """The state is checked first: an error for a sign-in this browser never started."""
    json_answer(browser.callback({"error": "access_denied", "state": "S" * 43}), 400, BAD_STATE)


def test_a_provider_error_text_is_logged_printable_and_bounded(stack, browser):
    started = browser.start()
    answer = browser.callback({"error": "bad\r\nline injected=1 " + "x" * 200, "state": started.state})
    json_answer(answer, 401, NOT_COMPLETED)
    line = responder_line(stack, answer)
    logged = line.split("idp.error=", 1)[1].split(" ", 1)[0]
    assert logged.startswith("badlineinjected=1") and len(logged) <= 64


# --- Open redirects --------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [
    "//evil.com",
    "/\\evil.com",
    "https://evil.com",
    "/%2F%2Fevil.com",
    "%2F%2Fevil.com",
    "/%2f%2fevil.com",
    "/\t/evil.com",
    "/%09/evil.com",
    "/\\/evil.com",
    "/%5Cevil.com",
    "///evil.com",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "http:evil.com",
    "https:evil.com",
    "https:/evil.com",
    "evil.com",
    " /api/page",
    "/api/\npage",
    "/api/%0d%0aSet-Cookie:x=1",
    "http://good.example.com",
    "https://good.example.com.evil.com",
    "https://good.example.com@evil.com",
    "https://good.example.com:443@evil.com",
    "https://good.example.com//evil.com",
    "https://good.example.com%2F%2Fevil.com",
    "https://good.example.comevil.com",
    "/" + "a" * 2048,
])
def test_open_redirect_targets_are_refused(stack, browser, target):
    answer = browser.gate("/oauth2/start", accept="text/html", params={"rd": target})
    json_answer(answer, 400, INVALID_REDIRECT)
    assert set_cookie_headers(answer) == []
    assert "signin.error=rd refused" in responder_line(stack, answer)


@pytest.mark.parametrize("target", [
    "/", "/api/page?tab=2&x=%20y#top", "/.evil.com", "/api/evil.com",
    GOOD_ORIGIN, GOOD_ORIGIN + "/after?x=1", GOOD_ORIGIN + "?x", GOOD_ORIGIN + "#frag",
    "HTTPS://GOOD.EXAMPLE.COM/Upper",
])
def test_own_paths_and_the_allow_listed_origin_are_accepted(stack, browser, target):
    started = browser.start(target)
    assert started.location.startswith(stack.idp.auth_url + "?")
    assert browser.key.open_sign_in(started.cookie_value)["rd"] == target


def test_the_allow_listed_origin_is_where_the_sign_in_returns(stack, browser):
    answer = browser.sign_in(rd=GOOD_ORIGIN + "/after?x=1")
    assert answer.headers["Location"] == GOOD_ORIGIN + "/after?x=1"


def test_start_without_rd_returns_home(stack, browser):
    started = browser.start(None)
    assert browser.key.open_sign_in(started.cookie_value)["rd"] == "/"
    answer = browser.callback(browser.authorize(started.location))
    assert answer.status_code == 302 and answer.headers["Location"] == "/"


def test_the_gate_never_offers_an_unsafe_rd(stack, browser):
    """A page load at a URI that would be an unsafe target is refused without a sign-in
    redirect, so the gate itself cannot be used to build one."""
    answer = browser.page("/api/%2F%2Fevil.com")
    assert answer.status_code == 401, (answer.status_code, answer.headers)
    assert answer.json() == {"detail": "Not authenticated"}
    assert "Location" not in answer.headers
