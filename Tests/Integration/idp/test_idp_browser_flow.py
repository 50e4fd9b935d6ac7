"""The provider's browser flow as Keycloak 26 runs it: the authorization endpoint, the login
form, the SSO cookies, the authorization-code grant with PKCE, and the public Swagger client
with CORS. Each test names the Keycloak source it follows (idp/README.md has the table,
idp/KEYCLOAK-SOURCES.md the quotes, section 15 onwards).

Run: python3 -m pytest -q Tests/Integration/idp/test_idp_browser_flow.py
(the browser and the token exchange are idp_browser.py's, beside this file)
"""

from __future__ import annotations

import hashlib
import re
import time

import pytest
import requests

from harness.idp_client import ABDULLAH_ID, SESSION_GONE, assert_error, decode, introspect, userinfo
from harness.idp_fixture import CLIENT_ID, CLIENT_SECRET, DOCS_CLIENT_ID
from harness.jwt import b64url_encode
from harness.jwt import parts as unverified
from idp_browser import Browser, exchange, form_action, pkce_pair, redirect_params, set_cookies

APP = "http://app.test/oauth2/callback"
DOCS = "http://app.test/docs/oauth2-redirect.html"
DOCS_ORIGIN = "http://app.test"


@pytest.fixture(scope="module")
def idp(make_module_idp):
    return make_module_idp(redirect_uris=[APP, "http://wild.test/app/*"], docs_redirect_uris=[DOCS],
                           docs_web_origins=[DOCS_ORIGIN])


def code_flow(provider, client_id=CLIENT_ID, redirect_uri=APP, secret=CLIENT_SECRET, browser=None, **params):
    """Login through the form and exchange the code; answers (browser, redirect params, token body)."""
    browser = browser or Browser(provider)
    verifier, challenge = pkce_pair()
    redirect = browser.login(client_id, redirect_uri, code_challenge=challenge, code_challenge_method="S256",
                             **params)
    answer = exchange(provider, redirect["code"], redirect_uri, verifier, client_id, secret)
    assert answer.status_code == 200, answer.text
    return browser, redirect, answer.json()


# 15. Authorization endpoint: AuthorizationEndpoint.process, AuthorizationEndpointChecker --------


def test_discovery_advertises_the_browser_flow(idp):
    doc = requests.get(idp.discovery_url, timeout=10).json()
    assert doc["authorization_endpoint"] == f"{idp.issuer}/protocol/openid-connect/auth"
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert "authorization_code" in doc["grant_types_supported"] and "S256" in doc["code_challenge_methods_supported"]


@pytest.mark.parametrize("params, message", [
    ({"client_id": None}, "Missing parameters: client_id"),
    ({"client_id": "nobody"}, "Client not found."),
    ({"redirect_uri": "http://evil.test/oauth2/callback"}, "Invalid parameter: redirect_uri"),
    ({"redirect_uri": "http://app.test/oauth2/callback/x"}, "Invalid parameter: redirect_uri"),
    ({"redirect_uri": None}, "Invalid parameter: redirect_uri"),
], ids=["missing-client", "unknown-client", "foreign-redirect", "longer-redirect", "no-redirect-with-openid"])
def test_bad_client_or_redirect_uri_is_an_error_page_never_a_redirect(idp, params, message):
    query = {"client_id": CLIENT_ID, "redirect_uri": APP, **params}
    answer = Browser(idp).authorize(query.pop("client_id"), query.pop("redirect_uri"))
    assert answer.status_code == 400 and "Location" not in answer.headers
    assert answer.headers["Content-Type"] == "text/html;charset=utf-8"
    assert f'<p class="instruction">{message}</p>' in answer.text and "We are sorry..." in answer.text


@pytest.mark.parametrize("redirect, valid", [
    ("http://wild.test/app/anything?x=1", True),
    ("http://wild.test/app", True),  # "foo/*" also accepts "foo"
    ("http://wild.test/application", False),
    ("http://wild.test/app/../admin", False),  # normalized before the prefix match
    ("http://wild.test/app/%2e%2e/admin", False),  # decoded, then normalized
    ("http://wild.test.evil/app/x", False),
])
def test_wildcard_redirect_uris_follow_redirect_utils(idp, redirect, valid):
    _, challenge = pkce_pair()
    answer = Browser(idp).authorize(CLIENT_ID, redirect, code_challenge=challenge, code_challenge_method="S256")
    assert (answer.status_code == 200) is valid, (answer.status_code, answer.text[:300])


@pytest.mark.parametrize("params, mode, error, description", [
    ({"response_type": None}, "query", "invalid_request", "Missing parameter: response_type"),
    ({"response_type": "code banana"}, "query", "unsupported_response_type", None),
    ({"response_type": "token"}, "fragment", "unauthorized_client",
     "Client is not allowed to initiate browser login with given response_type. Implicit flow is disabled for the "
     "client."),
    ({"response_mode": "post_message"}, "query", "invalid_request", "Invalid parameter: response_mode"),
    ({"scope": "openid wallet"}, "query", "invalid_scope", "Invalid scopes: openid wallet"),
    ({"code_challenge_method": None}, "query", "invalid_request", "Missing parameter: code_challenge_method"),
    ({"code_challenge_method": "plain"}, "query", "invalid_request",
     "Invalid parameter: code challenge method is not matching the configured one"),
    ({"code_challenge": None}, "query", "invalid_request", "Missing parameter: code_challenge"),
    ({"code_challenge": "short"}, "query", "invalid_request", "Invalid parameter: code_challenge"),
], ids=["no-response-type", "bad-response-type", "implicit", "bad-mode", "bad-scope", "pkce-no-method",
        "pkce-plain", "pkce-no-challenge", "pkce-short"])
def test_other_errors_redirect_to_the_client_with_state_and_iss(idp, params, mode, error, description):
    _, challenge = pkce_pair()
    query = {"code_challenge": challenge, "code_challenge_method": "S256", "state": "s-1", **params}
    answer = Browser(idp).authorize(CLIENT_ID, APP, **query)
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(APP + ("#" if mode == "fragment" else "?"))
    expected = {"error": error, "state": "s-1", "iss": idp.issuer}
    if description is not None:
        expected["error_description"] = description
    assert redirect_params(answer) == expected
    assert list(redirect_params(answer))[0] == "error"


def test_prompt_none_without_a_session_is_login_required(idp):
    _, challenge = pkce_pair()
    answer = Browser(idp).authorize(CLIENT_ID, APP, prompt="none", state="quiet", code_challenge=challenge,
                                    code_challenge_method="S256")
    assert redirect_params(answer) == {"error": "login_required", "state": "quiet", "iss": idp.issuer}


# 16. Login form (keycloak.v2 login.ftl) and login-actions --------------------------------------


def test_login_form_has_keycloaks_ids_and_posts_to_login_actions(idp):
    _, challenge = pkce_pair()
    page = Browser(idp).authorize(CLIENT_ID, APP, code_challenge=challenge, code_challenge_method="S256")
    assert page.status_code == 200 and page.headers["Content-Type"] == "text/html;charset=utf-8"
    assert page.headers["Cache-Control"] == "no-store, must-revalidate, max-age=0"
    for element in ('id="kc-form-login"', 'id="username" name="username"', 'id="password" name="password"',
                    'id="kc-login"', 'name="login"', 'id="id-hidden-input" name="credentialId"', 'method="post"'):
        assert element in page.text, element
    assert "<title>Sign in to testing</title>" in page.text and ">Sign in to your account<" in page.text
    action = form_action(page)
    assert re.fullmatch(re.escape(f"{idp.issuer}/login-actions/authenticate?") +
                        r"session_code=[\w-]+&execution=auth-username-password-form&client_id=fastapi-keycloak"
                        r"&tab_id=[\w-]+", action), action
    cookie = set_cookies(page)[0]
    assert cookie.startswith("AUTH_SESSION_ID=") and "Path=/realms/testing/" in cookie and "HttpOnly" in cookie


@pytest.mark.parametrize("username, password, message", [
    ("abdullah", "wrong", "Invalid username or password."),
    ("nobody", "Test#123456", "Invalid username or password."),
    ("", "", "Invalid username or password."),
    ("disabled", "Disabled#1", "Account is disabled, contact your administrator."),
])
def test_failed_login_shows_the_form_again_with_keycloaks_message(idp, username, password, message):
    browser = Browser(idp)
    _, challenge = pkce_pair()
    page = browser.authorize(CLIENT_ID, APP, code_challenge=challenge, code_challenge_method="S256")
    again = browser.submit_login(page, username, password)
    assert again.status_code == 200 and "Location" not in again.headers
    assert f'id="input-error-username"><span class="pf-v5-c-helper-text__item-text">{message}</span>' in again.text
    assert f'value="{username}"' in again.text and 'id="kc-form-login"' in again.text
    assert "KEYCLOAK_IDENTITY" not in browser.cookies
    assert browser.submit_login(again).status_code == 302  # the same tab still logs in


def test_login_action_without_the_auth_session_cookie(idp):
    browser = Browser(idp)
    _, challenge = pkce_pair()
    page = browser.authorize(CLIENT_ID, APP, code_challenge=challenge, code_challenge_method="S256")
    answer = requests.post(form_action(page), data={"username": "abdullah", "password": "Test#123456"}, timeout=10)
    assert answer.status_code == 400
    assert "Cookie not found. Please make sure cookies are enabled in your browser." in answer.text


# 17. Authorization code grant: AuthorizationCodeGrantType, OAuth2CodeParser, PkceUtils ----------


def test_code_flow_with_pkce(idp):
    browser, redirect, body = code_flow(idp, state="st&1 é", nonce="n-0S6_WzA2Mj")
    # OIDCLoginProtocol.authenticated: state, session_state, iss, code, in that order.
    assert list(redirect) == ["state", "session_state", "iss", "code"]
    assert (redirect["state"], redirect["iss"]) == ("st&1 é", idp.issuer)
    code_id, sid, client_uuid = redirect["code"].split(".")
    assert sid == redirect["session_state"] == body["session_state"]
    assert list(body) == ["access_token", "expires_in", "refresh_expires_in", "refresh_token", "token_type",
                          "id_token", "not-before-policy", "session_state", "scope"]
    assert (body["token_type"], body["scope"], body["expires_in"]) == ("Bearer", "openid email profile", 300)
    _, access = decode(body["access_token"], idp)
    assert (access["azp"], access["sid"], access["sub"], access["acr"]) == (CLIENT_ID, sid, ABDULLAH_ID, "1")
    assert "nonce" not in access  # since Keycloak 24 only the ID token has it
    header, id_claims = decode(body["id_token"], idp)
    assert header["typ"] == "JWT"
    assert list(id_claims)[:12] == ["exp", "iat", "auth_time", "jti", "iss", "aud", "sub", "typ", "azp", "nonce",
                                    "sid", "at_hash"]
    assert (id_claims["typ"], id_claims["aud"], id_claims["azp"], id_claims["nonce"], id_claims["sid"]) == (
        "ID", CLIENT_ID, CLIENT_ID, "n-0S6_WzA2Mj", sid)
    digest = hashlib.sha256(body["access_token"].encode()).digest()
    assert id_claims["at_hash"] == b64url_encode(digest[:16])
    # The same kind of session as the password grant's: userinfo, introspection, refresh, logout.
    assert userinfo(idp, body["access_token"]).status_code == 200
    assert introspect(idp, body["access_token"])["active"] is True
    refreshed = requests.post(idp.token_url, data={"grant_type": "refresh_token", "client_id": CLIENT_ID,
                                                   "refresh_token": body["refresh_token"],
                                                   "client_secret": CLIENT_SECRET}, timeout=10)
    assert refreshed.status_code == 200 and refreshed.json()["session_state"] == sid
    assert "nonce" not in unverified(refreshed.json()["id_token"])[1]
    logout = requests.post(idp.logout_url, data={"refresh_token": body["refresh_token"], "client_id": CLIENT_ID,
                                                 "client_secret": CLIENT_SECRET}, timeout=10)
    assert logout.status_code == 204
    assert introspect(idp, body["access_token"]) == {"active": False}


def test_login_sets_keycloaks_sso_cookies(idp):
    browser = Browser(idp)
    _, challenge = pkce_pair()
    page = browser.authorize(CLIENT_ID, APP, code_challenge=challenge, code_challenge_method="S256")
    answer = browser.submit_login(page)
    cookies = {header.split("=", 1)[0]: header for header in set_cookies(answer)}
    identity, session = cookies["KEYCLOAK_IDENTITY"], cookies["KEYCLOAK_SESSION"]
    # 127.0.0.1 is a secure context: SameSite=None; Secure (DefaultCookieProvider, CookieScope.FEDERATION).
    assert "; Path=/realms/testing/;" in identity and identity.endswith("SameSite=None; Secure; HttpOnly")
    assert "Max-Age" not in identity
    assert "Max-Age=36000" in session and "HttpOnly" not in session
    sid = redirect_params(answer)["session_state"]
    assert browser.cookies["KEYCLOAK_SESSION"] == b64url_encode(hashlib.sha256(sid.encode()).digest())
    header, claims = unverified(browser.cookies["KEYCLOAK_IDENTITY"])
    assert header["alg"] == "HS512" and (claims["typ"], claims["sid"]) == ("Serialized-ID", sid)


@pytest.mark.parametrize("verifier, description", [
    (None, "PKCE code verifier not specified"),
    ("x" * 43, "PKCE verification failed: Code mismatch"),
    ("short", "PKCE verification failed: Invalid code verifier"),
    ("a" * 43 + "!", "PKCE verification failed: Invalid code verifier"),
], ids=["missing", "wrong", "too-short", "bad-character"])
def test_code_verifier_is_checked(idp, verifier, description):
    _, challenge = pkce_pair()
    redirect = Browser(idp).login(CLIENT_ID, APP, code_challenge=challenge, code_challenge_method="S256")
    answer = exchange(idp, redirect["code"], APP, verifier, CLIENT_ID, CLIENT_SECRET)
    assert_error(answer, 400, "invalid_grant", description)


def test_code_replay_is_refused_and_detaches_the_client_from_the_session(idp):
    browser = Browser(idp)
    verifier, challenge = pkce_pair()
    redirect = browser.login(CLIENT_ID, APP, code_challenge=challenge, code_challenge_method="S256")
    first = exchange(idp, redirect["code"], APP, verifier, CLIENT_ID, CLIENT_SECRET).json()
    replay = exchange(idp, redirect["code"], APP, verifier, CLIENT_ID, CLIENT_SECRET)
    assert_error(replay, 400, "invalid_grant", "Code not valid")
    # clientSession.detachFromUserSession(): the first exchange's tokens die, the user session lives on.
    refresh = requests.post(idp.token_url, data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"],
                                                 "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, timeout=10)
    assert_error(refresh, 400, "invalid_grant", "Session doesn't have required client")
    answer = userinfo(idp, first["access_token"])
    assert answer.status_code == 401 and answer.json()["error_description"] == SESSION_GONE
    assert introspect(idp, first["access_token"]) == {"active": False}
    again = browser.authorize(CLIENT_ID, APP, code_challenge=challenge, code_challenge_method="S256")
    assert redirect_params(again)["session_state"] == redirect["session_state"]


def test_garbage_and_missing_codes(idp):
    for code in ("garbage", "a.b.c", "00000000-0000-0000-0000-000000000000.x.y"):
        assert_error(exchange(idp, code, APP, "v" * 43, CLIENT_ID, CLIENT_SECRET), 400, "invalid_grant",
                     "Code not valid")
    answer = requests.post(idp.token_url, data={"grant_type": "authorization_code", "client_id": CLIENT_ID,
                                                "client_secret": CLIENT_SECRET}, timeout=10)
    assert_error(answer, 400, "invalid_request", "Missing parameter: code")


def test_redirect_uri_must_equal_the_requests(idp):
    verifier, challenge = pkce_pair()
    redirect = Browser(idp).login(CLIENT_ID, APP, code_challenge=challenge, code_challenge_method="S256")
    wrong = exchange(idp, redirect["code"], APP + "/", verifier, CLIENT_ID, CLIENT_SECRET)
    assert_error(wrong, 400, "invalid_grant", "Incorrect redirect_uri")
    # The code was used up by the failed attempt (OAuth2CodeParser removes it first).
    assert_error(exchange(idp, redirect["code"], APP, verifier, CLIENT_ID, CLIENT_SECRET), 400, "invalid_grant",
                 "Code not valid")


def test_a_clients_code_is_not_another_clients(idp):
    verifier, challenge = pkce_pair()
    redirect = Browser(idp).login(CLIENT_ID, APP, code_challenge=challenge, code_challenge_method="S256")
    answer = exchange(idp, redirect["code"], APP, verifier, DOCS_CLIENT_ID)
    assert_error(answer, 400, "invalid_grant", "Auth error: Found different client_id in clientSession")


def test_confidential_client_must_authenticate_for_the_code(idp):
    verifier, challenge = pkce_pair()
    redirect = Browser(idp).login(CLIENT_ID, APP, code_challenge=challenge, code_challenge_method="S256")
    answer = exchange(idp, redirect["code"], APP, verifier, CLIENT_ID, "wrong")
    assert_error(answer, 401, "unauthorized_client", "Invalid client or Invalid client credentials")


def test_code_expires_after_the_access_code_lifespan(make_idp):
    provider = make_idp(redirect_uris=[APP], access_code_lifespan=1)
    verifier, challenge = pkce_pair()
    redirect = Browser(provider).login(CLIENT_ID, APP, code_challenge=challenge, code_challenge_method="S256")
    time.sleep(2.1)
    assert_error(exchange(provider, redirect["code"], APP, verifier, CLIENT_ID, CLIENT_SECRET), 400,
                 "invalid_grant", "Code is expired")


def test_pkce_is_optional_without_the_client_attribute(make_idp):
    provider = make_idp(redirect_uris=[APP], client_pkce_method="none")
    redirect = Browser(provider).login(CLIENT_ID, APP)
    assert exchange(provider, redirect["code"], APP, None, CLIENT_ID, CLIENT_SECRET).status_code == 200
    # A challenge without a method is "plain" (RFC 7636 4.3); then the verifier is compared as is.
    plain = "p" * 43
    redirect = Browser(provider).login(CLIENT_ID, APP, code_challenge=plain)
    assert exchange(provider, redirect["code"], APP, plain, CLIENT_ID, CLIENT_SECRET).status_code == 200
    redirect = Browser(provider).login(CLIENT_ID, APP)
    assert_error(exchange(provider, redirect["code"], APP, plain, CLIENT_ID, CLIENT_SECRET), 400, "invalid_grant",
                 "PKCE code verifier specified but challenge not present in authorization")


# 18. SSO: the identity cookie, prompt, response modes -----------------------------------------


def test_sso_cookie_gives_a_code_at_once_in_the_same_session(idp):
    browser, first, body = code_flow(idp)
    verifier, challenge = pkce_pair()
    answer = browser.authorize(CLIENT_ID, APP, state="again", code_challenge=challenge, code_challenge_method="S256")
    second = redirect_params(answer)
    assert (second["state"], second["session_state"]) == ("again", first["session_state"])
    tokens = exchange(idp, second["code"], APP, verifier, CLIENT_ID, CLIENT_SECRET).json()
    assert unverified(tokens["access_token"])[1]["acr"] == "0"  # authenticated through the SSO cookie
    assert unverified(tokens["id_token"])[1]["acr"] == "0"
    # prompt=none answers too; prompt=login shows the form although the cookie is valid.
    quiet = browser.authorize(CLIENT_ID, APP, prompt="none", code_challenge=challenge, code_challenge_method="S256")
    assert "code" in redirect_params(quiet)
    forced = browser.authorize(CLIENT_ID, APP, prompt="login", code_challenge=challenge, code_challenge_method="S256")
    assert forced.status_code == 200 and 'id="kc-form-login"' in forced.text
    relogin = redirect_params(browser.submit_login(forced))
    assert relogin["session_state"] == first["session_state"]  # the same user: the same session


def test_another_browser_has_no_sso(idp):
    code_flow(idp)
    _, challenge = pkce_pair()
    page = Browser(idp).authorize(CLIENT_ID, APP, code_challenge=challenge, code_challenge_method="S256")
    assert page.status_code == 200 and 'id="kc-form-login"' in page.text


def test_response_modes_fragment_and_form_post(idp):
    browser, first, _ = code_flow(idp)
    _, challenge = pkce_pair()
    fragment = browser.authorize(CLIENT_ID, APP, response_mode="fragment", state="f", code_challenge=challenge,
                                 code_challenge_method="S256")
    assert fragment.headers["Location"].startswith(APP + "#state=f&session_state=")
    posted = browser.authorize(CLIENT_ID, APP, response_mode="form_post", state="p", code_challenge=challenge,
                               code_challenge_method="S256")
    assert posted.status_code == 200 and f'ACTION="{APP}"' in posted.text
    assert '<INPUT TYPE="HIDDEN" NAME="state" VALUE="p" />' in posted.text and 'NAME="code"' in posted.text


def test_authorization_request_by_post(idp):
    _, challenge = pkce_pair()
    page = Browser(idp).authorize(CLIENT_ID, APP, method="POST", code_challenge=challenge,
                                  code_challenge_method="S256")
    assert page.status_code == 200 and 'id="kc-form-login"' in page.text


# 19. The public Swagger client: no password grant, PKCE S256, CORS, audience ---------------------


def test_docs_client_may_not_use_the_password_grant(idp):
    answer = requests.post(idp.token_url, data={"grant_type": "password", "client_id": DOCS_CLIENT_ID,
                                                "username": "abdullah", "password": "Test#123456"}, timeout=10)
    assert_error(answer, 400, "unauthorized_client", "Client not allowed for direct access grants")


def test_docs_client_code_flow_gives_tokens_the_gateway_accepts(idp):
    _, redirect, body = code_flow(idp, DOCS_CLIENT_ID, DOCS, secret=None)
    _, access = decode(body["access_token"], idp)
    assert access["azp"] == DOCS_CLIENT_ID
    # Its Audience mapper names the confidential client, as the Compose realm's does.
    assert access["aud"] == [CLIENT_ID, "account"]
    assert access["allowed-origins"] == [DOCS_ORIGIN]
    assert unverified(body["id_token"])[1]["aud"] == DOCS_CLIENT_ID
    answer = introspect(idp, body["access_token"])  # asked by the confidential client
    assert answer["active"] is True and answer["client_id"] == DOCS_CLIENT_ID
    refreshed = requests.post(idp.token_url, data={"grant_type": "refresh_token", "client_id": DOCS_CLIENT_ID,
                                                   "refresh_token": body["refresh_token"]}, timeout=10)
    assert refreshed.status_code == 200
    assert_error(requests.post(idp.introspect_url, data={"client_id": DOCS_CLIENT_ID, "token": body["access_token"]},
                               timeout=10), 403, "invalid_request", "Client not allowed.")


def test_docs_client_requires_s256(idp):
    answer = Browser(idp).authorize(DOCS_CLIENT_ID, DOCS, state="d")
    assert redirect_params(answer) == {"error": "invalid_request",
                                       "error_description": "Missing parameter: code_challenge_method",
                                       "state": "d", "iss": idp.issuer}


def test_sso_session_shared_by_both_clients(idp):
    browser, first, _ = code_flow(idp)
    verifier, challenge = pkce_pair()
    answer = browser.authorize(DOCS_CLIENT_ID, DOCS, code_challenge=challenge, code_challenge_method="S256")
    docs = redirect_params(answer)
    assert docs["session_state"] == first["session_state"]
    assert exchange(idp, docs["code"], DOCS, verifier, DOCS_CLIENT_ID).status_code == 200


def test_token_endpoint_cors_for_the_docs_client(idp):
    preflight = requests.options(idp.token_url, headers={"Origin": "http://anything.test",
                                                         "Access-Control-Request-Method": "POST"}, timeout=10)
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://anything.test"  # preflight allows any origin
    assert preflight.headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
    assert preflight.headers["Access-Control-Max-Age"] == "3600"
    assert preflight.headers["Access-Control-Allow-Headers"].endswith("DPoP, Authorization")
    assert "Access-Control-Allow-Origin" not in requests.options(idp.token_url, timeout=10).headers

    verifier, challenge = pkce_pair()
    redirect = Browser(idp).login(DOCS_CLIENT_ID, DOCS, code_challenge=challenge, code_challenge_method="S256")
    answer = requests.post(idp.token_url, headers={"Origin": DOCS_ORIGIN}, timeout=10, data={
        "grant_type": "authorization_code", "code": redirect["code"], "redirect_uri": DOCS,
        "code_verifier": verifier, "client_id": DOCS_CLIENT_ID})
    assert answer.status_code == 200
    assert (answer.headers["Access-Control-Allow-Origin"], answer.headers["Access-Control-Allow-Credentials"],
            answer.headers["Access-Control-Expose-Headers"]) == (DOCS_ORIGIN, "true", "Access-Control-Allow-Methods")
    # Errors once the client is known carry them too; a foreign origin gets none.
    error = requests.post(idp.token_url, headers={"Origin": DOCS_ORIGIN}, timeout=10, data={
        "grant_type": "authorization_code", "code": "junk", "client_id": DOCS_CLIENT_ID})
    assert error.status_code == 400 and error.headers["Access-Control-Allow-Origin"] == DOCS_ORIGIN
    foreign = requests.post(idp.token_url, headers={"Origin": "http://evil.test"}, timeout=10, data={
        "grant_type": "authorization_code", "code": "junk", "client_id": DOCS_CLIENT_ID})
    assert "Access-Control-Allow-Origin" not in foreign.headers


def test_the_log_holds_no_codes_cookies_or_passwords(idp):
    browser, redirect, body = code_flow(idp, state="secret-state")
    log = idp.log_text()
    assert "GET /realms/testing/protocol/openid-connect/auth 200" in log
    assert "POST /realms/testing/login-actions/authenticate 302" in log
    for secret in (redirect["code"], "secret-state", browser.cookies["KEYCLOAK_IDENTITY"][:40], "Test#123456",
                   body["id_token"][:40]):
        assert secret not in log


def test_browser_flow_under_the_legacy_auth_prefix(make_idp):
    provider = make_idp(legacy_auth_prefix=True, redirect_uris=[APP])
    browser = Browser(provider)
    verifier, challenge = pkce_pair()
    page = browser.authorize(CLIENT_ID, APP, code_challenge=challenge, code_challenge_method="S256")
    assert form_action(page).startswith(f"{provider.base_url}/auth/realms/testing/login-actions/authenticate?")
    answer = browser.submit_login(page)
    assert all("Path=/auth/realms/testing/" in cookie for cookie in set_cookies(answer))
    redirect = redirect_params(answer)
    assert redirect["iss"] == f"{provider.base_url}/auth/realms/testing"
    assert exchange(provider, redirect["code"], APP, verifier, CLIENT_ID, CLIENT_SECRET).status_code == 200
    assert provider.admin_delete_session(redirect["session_state"]) == 204
