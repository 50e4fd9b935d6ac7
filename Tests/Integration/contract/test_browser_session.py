"""The browser session's contract (issue 11), through real nginx (the example gate's TLS
listener and the main template's public server), the release responder and the local provider
with 2-second access tokens, driven without a browser (`harness.http_sign_in.GateBrowser`):

- the gate's /auth accepts the session cookie like a bearer token: the protected API receives
  the same X-Auth-* identity, the location's role rules apply;
- once the session's access token has expired the gate renews it with the refresh token: the
  answer carries the new session cookie (`add_header Set-Cookie` from X-Auth-Set-Cookie-0) and
  the API is reached; a provider that fails meanwhile is a 503 that keeps the session;
- once the refresh token is dead (the provider session ended without a back-channel logout),
  the gate answers 401 (API) / 302 to sign in (page) and deletes the cookie;
- API clients (a bearer token, an Accept without text/html, a POST) keep their JSON 401s;
- the seed's endpoints (`/`, `/login`, `/protected`) ignore the session cookie;
- sign-out is a POST carrying the session's CSRF value: without it, or with a wrong one, 403
  `{"detail":"Invalid sign-out request"}` and the session goes on; GET changes nothing.
"""

from __future__ import annotations

import json
import time

import pytest

from harness.http_sign_in import (
    INVALID_CREDENTIALS,
    NOT_AUTHENTICATED,
    SESSION_COOKIE,
    GateBrowser,
    Secrets,
    assert_api_refused,
    assert_sent_to_sign_in,
    expired_cookie,
    query_of,
    responder_line,
    set_cookie_headers,
)
from harness.idp_fixture import DEFAULT_USERS
from harness.sign_in import SIGNED_OUT_PATH, SignInStack

SECRETS = Secrets()
#: Secrets a test puts into a request URI itself (nginx's access log records it).
IN_URI = Secrets(final_check=False)
ACCESS_TOKEN_SECONDS = 2
ABDULLAH_SUB = "abdab22d-91b1-4c1a-b7b3-9283e17597cd"
ALICE = ("alice", "p&ss+w%rd é#1")
INVALID_SIGN_OUT = {"detail": "Invalid sign-out request"}
WELCOME = {"message": "Welcome to the Keycloak authentication system. Use the /login endpoint to authenticate "
                      "and /protected to access the protected resource.", "documentation": "/docs"}


#: A user with 18 more realm roles than the seed's: the session still fits one cookie (about
#: 3500 characters with this provider's tokens).
SOME_ROLES = ("some-roles", "Some#Roles-1234")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, tls_dir):
    workdir = tmp_path_factory.mktemp("browser-session")
    users = json.loads(DEFAULT_USERS.read_text())
    users.append({
        "id": "3d7f0a52-6c1b-4f0e-8a57-2b9e4c1d6f30", "username": SOME_ROLES[0], "password": SOME_ROLES[1],
        "enabled": True, "email": "some-roles@example.com", "emailVerified": True, "firstName": "Some",
        "lastName": "Roles", "realmRoles": ["user"] + [f"project-{index:03d}-contributor" for index in range(18)],
        "clientRoles": {},
    })
    (workdir / "users.json").write_text(json.dumps(users))
    stack = SignInStack(workdir / "stack", tls_dir, idp_options={
        "access_token_lifespan": ACCESS_TOKEN_SECONDS, "users": workdir / "users.json"}).start()
    yield stack
    try:
        SECRETS.assert_not_in(stack.responder_log())
        IN_URI.assert_not_in(stack.responder_log())
    finally:
        stack.stop()


@pytest.fixture
def browser(stack) -> GateBrowser:
    browser = GateBrowser(stack, SECRETS)
    browser.sign_in()
    return browser


def wait_for_access_expiry(browser: GateBrowser) -> None:
    """Until the session's access token has expired (the gate renews from then on)."""
    expires = browser.session()["exp"]
    time.sleep(max(0.0, expires - time.time()) + 0.2)


def still_fresh(browser: GateBrowser) -> bool:
    """Whether the session's access token is good for a while yet (so a request now is answered
    from the cookie alone). With 2-second tokens a stalled machine can miss that window; the
    assertions that need it are then not made rather than made wrong."""
    return time.time() + 0.5 < browser.session()["exp"]


def session_set_cookie(answer) -> str:
    """The one Set-Cookie of a renewal: the new session cookie."""
    headers = set_cookie_headers(answer)
    assert len(headers) == 1, headers
    assert headers[0].startswith(SESSION_COOKIE + "=v1.")
    assert headers[0].endswith("; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=1800")
    return headers[0].split(";", 1)[0].split("=", 1)[1]


# --- The session at the gate -------------------------------------------------------------------------


def test_the_session_passes_the_gate_like_a_bearer_token(stack, browser):
    fresh = still_fresh(browser)
    by_session = browser.api("/api/orders")
    assert by_session.status_code == 200, by_session.text
    if fresh:
        assert "Set-Cookie" not in by_session.headers
    assert "auth.via=session" in responder_line(stack, by_session)
    token = stack.token()
    by_bearer = browser.gate("/api/orders", cookies={}, headers={"Authorization": f"Bearer {token}"})
    assert by_bearer.status_code == 200
    assert by_session.json()["x_auth"] == by_bearer.json()["x_auth"]
    assert by_session.json()["x_auth"]["x-auth-subject"] == [ABDULLAH_SUB]
    assert by_session.json()["authorization"] is False  # the API never sees a credential


def test_the_main_servers_auth_answers_204_with_the_identity_for_the_session(stack, browser):
    answer = stack.get("/auth", headers={"Cookie": browser.cookie_header(browser.session_cookies())})
    assert answer.status_code == 204, answer.text
    assert answer.headers["X-Auth-Username"] == "abdullah"
    assert answer.headers["X-Auth-Subject"] == ABDULLAH_SUB
    assert answer.headers["X-Auth-Email"] == "abdullah@example.com"
    assert "fastapi-keycloak:reader" in answer.headers["X-Auth-Roles"].split(",")


def test_location_roles_apply_to_the_session(stack, browser):
    """/admin/ wants the realm role admin: abdullah's session is 403, alice's passes."""
    hits = stack.upstream.hits
    answer = browser.api("/admin/users")
    assert answer.status_code == 403
    assert answer.json() == {"detail": "Not enough permissions"}
    assert stack.upstream.hits == hits
    alice = GateBrowser(stack, SECRETS)
    alice.sign_in(*ALICE)
    assert alice.api("/admin/users").json()["x_auth"]["x-auth-username"] == ["alice"]
    assert alice.api("/reports/q1").status_code == 200


def test_an_expired_access_token_is_renewed_and_the_new_cookie_returned(stack, browser):
    before = browser.session()
    old_cookies = browser.session_cookies()
    wait_for_access_expiry(browser)
    refreshes = stack.idp.stats()["token"]
    answer = browser.api("/api/orders")
    assert answer.status_code == 200, (answer.status_code, answer.text)
    assert answer.json()["x_auth"]["x-auth-username"] == ["abdullah"]
    new_value = session_set_cookie(answer)
    assert "session.renewed=true" in responder_line(stack, answer)
    assert stack.idp.stats()["token"] == refreshes + 1
    after = browser.session()
    assert browser.session_value() == new_value
    assert after["exp"] > before["exp"] and after["exp"] > time.time()
    assert (after["sid"], after["sub"], after["csrf"]) == (before["sid"], before["sub"], before["csrf"])
    # The renewed cookie is used as it is, without another refresh.
    fresh = still_fresh(browser)
    again = browser.api("/api/orders")
    assert again.status_code == 200
    if fresh:
        assert "Set-Cookie" not in again.headers
        assert stack.idp.stats()["token"] == refreshes + 1
    assert old_cookies != browser.session_cookies()


def test_a_page_load_renews_too(stack, browser):
    wait_for_access_expiry(browser)
    answer = browser.page("/api/page")
    assert answer.status_code == 200
    assert 'id="user">abdullah<' in answer.text
    session_set_cookie(answer)


def test_a_user_with_a_few_more_roles_is_renewed_too(stack):
    browser = GateBrowser(stack, SECRETS)
    browser.sign_in(*SOME_ROLES)
    assert list(browser.session_cookies()) == [SESSION_COOKIE]  # one cookie: no chunking involved
    assert browser.api("/api/orders").status_code == 200
    wait_for_access_expiry(browser)
    answer = browser.api("/api/orders")
    assert answer.status_code == 200, (answer.status_code, answer.text)
    assert answer.json()["x_auth"]["x-auth-username"] == [SOME_ROLES[0]]
    session_set_cookie(answer)


def test_a_failing_provider_during_renewal_is_503_and_keeps_the_session(stack, browser):
    wait_for_access_expiry(browser)
    hits = stack.upstream.hits
    stack.idp.fault("token", "status500")
    try:
        answer = browser.api("/api/orders")
        assert answer.status_code == 503, (answer.status_code, answer.text)
        assert answer.json() == {"detail": "Service temporarily unavailable"}
        assert set_cookie_headers(answer) == []
        assert stack.upstream.hits == hits
    finally:
        stack.idp.clear_faults()
    answer = browser.api("/api/orders")
    assert answer.status_code == 200
    session_set_cookie(answer)


def test_a_dead_refresh_token_ends_the_session_at_the_gate(stack, browser):
    """The provider session ended without a back-channel logout (`/_admin/sessions/clear`):
    the cookie is good until its access token expires, then the refresh is refused."""
    cookies = browser.session_cookies()
    assert stack.idp.clear_sessions() >= 1
    if still_fresh(browser):
        assert browser.api("/api/orders", cookies=cookies).status_code == 200  # stateless until exp
    wait_for_access_expiry(browser)
    hits = stack.upstream.hits
    api = browser.api("/api/orders", cookies=cookies)
    assert_api_refused(api, [SESSION_COOKIE])
    assert "session.refused=ended" in responder_line(stack, api)
    page = browser.page("/api/orders", cookies=cookies)
    assert_sent_to_sign_in(stack, page, "/api/orders", [SESSION_COOKIE])
    assert stack.upstream.hits == hits


def test_a_long_return_path_survives_the_sign_in(stack):
    browser = GateBrowser(stack, SECRETS)
    target = "/api/report?" + "&".join(f"filter{index}=value{index}" for index in range(60))
    assert 800 < len(target) < 2048
    started = browser.start(target)
    answer = browser.callback(browser.authorize(started.location))
    assert answer.status_code == 302, (answer.status_code, answer.text)
    assert answer.headers["Location"] == target


# --- API clients keep their JSON 401s ------------------------------------------------------------


def test_without_a_session_an_api_client_gets_json_and_a_browser_a_redirect(stack):
    client = GateBrowser(stack, SECRETS)
    assert_api_refused(client.api("/api/orders"), [])
    assert_api_refused(client.gate("/api/orders", accept="*/*"), [])
    assert_api_refused(client.gate("/api/orders", accept=None), [])
    assert_api_refused(client.gate("/api/orders", method="POST", accept="text/html"), [])
    assert_sent_to_sign_in(stack, client.page("/api/orders"), "/api/orders", [])


def test_a_bearer_request_never_falls_back_to_the_session(stack, browser):
    """With Authorization present the session cookie is not consulted: a bad bearer stays a
    JSON 401 invalid_token (no redirect, no cookie deleted), even for a page load."""
    hits = stack.upstream.hits
    answer = browser.page("/api/orders", headers={"Authorization": "Bearer not-a-token"})
    assert answer.status_code == 401
    assert answer.json() == INVALID_CREDENTIALS
    assert answer.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert "Location" not in answer.headers and set_cookie_headers(answer) == []
    assert stack.upstream.hits == hits
    # A good bearer with a broken cookie: the bearer decides, the cookie is left alone.
    broken = {SESSION_COOKIE: browser.session_value()[:-4]}
    answer = browser.api("/api/orders", cookies=broken, headers={"Authorization": f"Bearer {stack.token()}"})
    assert answer.status_code == 200 and set_cookie_headers(answer) == []


# --- The seed's endpoints ignore the session ----------------------------------------------------------


def test_seed_endpoints_ignore_the_session_cookie(stack, browser):
    cookie = {"Cookie": browser.cookie_header(browser.session_cookies())}
    protected = stack.get("/protected", headers=cookie)
    assert protected.status_code == 401
    assert protected.json() == NOT_AUTHENTICATED
    assert protected.headers["WWW-Authenticate"] == "Bearer"
    assert "Set-Cookie" not in protected.headers
    home = stack.get("/", headers=cookie)
    assert home.status_code == 200 and home.json() == WELCOME
    login = stack.post("/login", headers=cookie, data={"username": "abdullah", "password": "Wrong#Password1"})
    assert login.status_code == 401
    assert login.json() == {"detail": "Invalid username or password"}
    # And through the gate host too: /protected is not a gated location there.
    assert browser.api("/protected").status_code == 404


# --- Sign-out and CSRF ---------------------------------------------------------------------------------


def still_signed_in(stack, browser, logouts: int) -> None:
    answer = browser.api("/api/orders")
    assert answer.status_code == 200 and answer.json()["x_auth"]["x-auth-username"] == ["abdullah"]
    assert stack.idp.stats()["logout"] == logouts, "the provider was asked to log out"


def test_get_sign_out_shows_the_form_and_changes_nothing(stack, browser):
    logouts = stack.idp.stats()["logout"]
    cookies = dict(browser.gate_cookies)
    answer = browser.gate("/oauth2/sign_out", accept="text/html")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    assert answer.headers["Cache-Control"] == "no-store"
    assert set_cookie_headers(answer) == []
    assert f'<input type="hidden" name="csrf" value="{browser.session()["csrf"]}">' in answer.text
    assert '<form id="sign-out" method="post" action="/oauth2/sign_out">' in answer.text
    assert browser.gate_cookies == cookies
    still_signed_in(stack, browser, logouts)


@pytest.mark.parametrize("form", [
    {},
    {"csrf": ""},
    {"csrf": "wrong-value-0123456789abcdef01234567"},
    "json",
    "query",
    "another-sessions-csrf",
    "one-character-off",
])
def test_sign_out_without_the_sessions_csrf_is_forbidden(stack, browser, form):
    if form == "query":
        # The CSRF value goes into the URI, which nginx's access log records: a browser of its
        # own, whose secrets are checked against the responder's log only.
        browser = GateBrowser(stack, IN_URI)
        browser.sign_in()
    logouts = stack.idp.stats()["logout"]
    right = browser.session()["csrf"]
    path, kwargs = "/oauth2/sign_out", {}
    if form == "json":
        kwargs = {"json": {"csrf": right}}
    elif form == "query":
        path, kwargs = f"/oauth2/sign_out?csrf={right}", {"data": {}}
    elif form == "another-sessions-csrf":
        other = GateBrowser(stack, SECRETS)
        other.sign_in()
        kwargs = {"data": {"csrf": other.session()["csrf"]}}
    elif form == "one-character-off":
        kwargs = {"data": {"csrf": right[:-1] + ("A" if right[-1] != "A" else "B")}}
    else:
        kwargs = {"data": form}
    answer = browser.gate(path, method="POST", accept="text/html", **kwargs)
    assert answer.status_code == 403, (answer.status_code, answer.text)
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == INVALID_SIGN_OUT
    assert answer.headers["Cache-Control"] == "no-store"
    assert set_cookie_headers(answer) == [] and "Location" not in answer.headers
    assert "signin.error=" in responder_line(stack, answer)
    still_signed_in(stack, browser, logouts)


def test_sign_out_with_the_csrf_value_ends_the_session(stack, browser):
    """The control for the 403s: the form's own value signs out (the cookie deleted, the browser
    sent to the provider's end-session endpoint with the ID token as hint)."""
    session = browser.session()
    answer = browser.gate("/oauth2/sign_out", method="POST", accept="text/html", data={"csrf": session["csrf"]})
    assert answer.status_code == 303, (answer.status_code, answer.text)
    assert set_cookie_headers(answer) == [expired_cookie(SESSION_COOKIE)]
    location = answer.headers["Location"]
    assert location.startswith(stack.idp.end_session_url + "?")
    assert query_of(location) == {"client_id": stack.idp.client_id,
                                  "post_logout_redirect_uri": stack.gate_tls_url(SIGNED_OUT_PATH),
                                  "id_token_hint": session["idt"]}
    assert not browser.session_cookies()
    assert_api_refused(browser.api("/api/orders"), [])


@pytest.mark.parametrize("path", ["/oauth2/start", "/oauth2/sign_out", "/oauth2/callback"])
def test_oauth2_answers_carry_one_request_id(stack, path):
    answer = GateBrowser(stack, SECRETS).gate(path, accept="text/html")
    assert answer.raw.headers.getlist("X-Request-ID") == [answer.headers["X-Request-ID"].split(",")[0]]
