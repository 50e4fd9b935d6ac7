"""Ending sessions as Keycloak 26 does: RP-initiated logout from the browser
(``LogoutEndpoint.logout``), back-channel logout tokens to the clients
(``AuthenticationManager.backchannelLogout``, ``DefaultTokenManager.initLogoutToken``), and the
admin REST calls that end sessions (``UserResource.logout``, ``RealmAdminResource.deleteSession``).
idp/README.md has the table, idp/KEYCLOAK-SOURCES.md the quotes.

Run: python3 -m pytest -q Tests/Integration/idp/test_idp_logout.py
(the browser and the logout receiver are idp_browser.py's, beside this file)
"""

from __future__ import annotations

import ssl
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from harness.idp_client import ABDULLAH_ID, client_form, decode, introspect, login, userinfo
from harness.idp_fixture import CLIENT_ID, CLIENT_SECRET, DOCS_CLIENT_ID
from idp_browser import Browser, LogoutReceiver, exchange, form_action, pkce_pair

APP = "http://app.test/oauth2/callback"
HOME = "http://app.test/"
DOCS = "http://app.test/docs/oauth2-redirect.html"
EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture(scope="module")
def receiver():
    server = LogoutReceiver()
    yield server
    server.close()


@pytest.fixture(scope="module")
def idp(make_module_idp, receiver):
    return make_module_idp(redirect_uris=[APP], post_logout_redirect_uris=[HOME, "http://app.test/bye/*"],
                           docs_redirect_uris=[DOCS], backchannel_logout_url=receiver.url)


@pytest.fixture
def delivered(receiver):
    """The logout tokens delivered during the test."""
    before = len(receiver.deliveries)
    return lambda: [t for d in receiver.deliveries[before:] for t in d.form.get("logout_token", [])]


def browser_login(provider, client_id=CLIENT_ID, redirect_uri=APP, secret=CLIENT_SECRET, browser=None):
    browser = browser or Browser(provider)
    verifier, challenge = pkce_pair()
    redirect = browser.login(client_id, redirect_uri, code_challenge=challenge, code_challenge_method="S256")
    answer = exchange(provider, redirect["code"], redirect_uri, verifier, client_id, secret)
    assert answer.status_code == 200, answer.text
    return browser, answer.json()


def session_over(provider, body):
    """The session of a token response has ended: refresh, userinfo and introspection say so."""
    refresh = requests.post(provider.token_url, data=client_form(grant_type="refresh_token",
                                                                 refresh_token=body["refresh_token"]), timeout=10)
    assert refresh.json() == {"error": "invalid_grant", "error_description": "Session not active"}
    assert userinfo(provider, body["access_token"]).status_code == 401
    assert introspect(provider, body["access_token"]) == {"active": False}
    return True


# 20. RP-initiated logout: LogoutEndpoint.logout / doBrowserLogout, LogoutUtil --------------------


def test_end_session_with_id_token_hint_redirects_with_state_and_ends_the_session(idp, delivered):
    browser, body = browser_login(idp)
    answer = browser.request("GET", idp.end_session_url, params={
        "id_token_hint": body["id_token"], "post_logout_redirect_uri": HOME, "state": "bye 1"})
    assert answer.status_code == 302 and answer.headers["Location"] == HOME + "?state=bye+1"
    expired = [c for c in answer.raw.headers.getlist("Set-Cookie") if "Max-Age=0" in c]
    assert sorted(c.split("=", 1)[0] for c in expired) == ["KEYCLOAK_IDENTITY", "KEYCLOAK_SESSION"]
    assert all("Path=/realms/testing/" in c for c in expired)
    assert session_over(idp, body)
    assert len(delivered()) == 1  # delivered before the redirect was answered
    page = browser.authorize(CLIENT_ID, APP, code_challenge=pkce_pair()[1], code_challenge_method="S256")
    assert 'id="kc-form-login"' in page.text  # no SSO any more


def test_end_session_by_post_and_with_an_expired_hint(idp):
    browser, body = browser_login(idp)
    expired_hint = idp.mint(kind="id", claims={"exp": int(time.time()) - 3600,
                                               "sid": body["session_state"], "iat": int(time.time())})
    answer = browser.request("POST", idp.end_session_url, data={"id_token_hint": expired_hint,
                                                                "post_logout_redirect_uri": "http://app.test/bye/now"})
    assert answer.status_code == 302 and answer.headers["Location"] == "http://app.test/bye/now"
    assert session_over(idp, body)


def test_end_session_without_the_browser_cookie_still_ends_the_hinted_session(idp, delivered):
    _, body = browser_login(idp)
    answer = requests.get(idp.end_session_url, params={"id_token_hint": body["id_token"],
                                                       "post_logout_redirect_uri": HOME}, allow_redirects=False,
                          timeout=10)
    assert answer.status_code == 302 and answer.headers["Location"] == HOME
    assert "Set-Cookie" not in answer.headers  # nothing to expire: the browser sent none
    assert session_over(idp, body) and len(delivered()) == 1


@pytest.mark.parametrize("params, message", [
    ({"post_logout_redirect_uri": "http://evil.test/"}, "Invalid redirect uri"),
    ({"post_logout_redirect_uri": APP}, "Invalid redirect uri"),  # a redirect URI is not a post-logout one
    ({"id_token_hint": None, "client_id": None}, "Missing parameters: id_token_hint"),
    ({"id_token_hint": "garbage"}, "Invalid parameter: id_token_hint"),
    ({"client_id": DOCS_CLIENT_ID}, "Invalid parameter: id_token_hint"),
], ids=["foreign", "not-registered", "no-hint-no-client", "bad-hint", "hint-of-another-client"])
def test_end_session_errors_are_pages_and_leave_the_session(idp, params, message):
    browser, body = browser_login(idp)
    query = {"id_token_hint": body["id_token"], "post_logout_redirect_uri": HOME, **params}
    answer = browser.request("GET", idp.end_session_url, params={k: v for k, v in query.items() if v is not None})
    assert answer.status_code == 400 and f'<p class="instruction">{message}</p>' in answer.text
    assert userinfo(idp, body["access_token"]).status_code == 200


def test_end_session_without_hint_asks_for_confirmation(idp, delivered):
    browser, body = browser_login(idp)
    page = browser.request("GET", idp.end_session_url)
    assert page.status_code == 200 and "Do you want to log out?" in page.text and 'id="kc-logout"' in page.text
    assert userinfo(idp, body["access_token"]).status_code == 200
    action = form_action(page, "any")
    assert urlsplit(action).path == "/realms/testing/protocol/openid-connect/logout/logout-confirm"
    code = page.text.split('name="session_code" value="', 1)[1].split('"', 1)[0]
    assert browser.request("POST", action, data={"session_code": "forged"}).status_code == 400
    done = browser.request("POST", action, data={"session_code": code, "confirmLogout": ""})
    assert done.status_code == 200 and "You are logged out" in done.text
    assert session_over(idp, body) and len(delivered()) == 1


def test_end_session_with_client_id_and_no_browser_session_redirects_at_once(idp):
    answer = requests.get(idp.end_session_url, params={"client_id": CLIENT_ID, "post_logout_redirect_uri": HOME,
                                                       "state": "s"}, allow_redirects=False, timeout=10)
    assert answer.status_code == 302 and answer.headers["Location"] == HOME + "?state=s"


def test_end_session_hint_for_another_session_than_the_browsers_asks_first(idp):
    browser, _ = browser_login(idp)
    _, other = browser_login(idp)
    page = browser.request("GET", idp.end_session_url, params={"id_token_hint": other["id_token"],
                                                               "post_logout_redirect_uri": HOME})
    assert page.status_code == 200 and "Do you want to log out?" in page.text


def test_post_logout_plus_means_the_redirect_uris(make_idp):
    provider = make_idp(redirect_uris=[APP], post_logout_redirect_uris=["+"])
    _, body = browser_login(provider)
    answer = requests.get(provider.end_session_url, params={"id_token_hint": body["id_token"],
                                                            "post_logout_redirect_uri": APP}, allow_redirects=False,
                          timeout=10)
    assert answer.status_code == 302 and answer.headers["Location"] == APP


# 21. Back-channel logout: ResourceAdminManager, DefaultTokenManager.initLogoutToken ------------


def test_logout_token_is_shaped_as_keycloaks(idp, delivered, receiver):
    browser, body = browser_login(idp)
    browser.request("GET", idp.end_session_url, params={"id_token_hint": body["id_token"],
                                                        "post_logout_redirect_uri": HOME})
    [token] = delivered()
    delivery = receiver.deliveries[-1]
    assert delivery.path == "/oauth2/backchannel-logout"
    assert delivery.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert list(delivery.form) == ["logout_token"]
    header, claims = decode(token, idp)  # verified with the JWKS key its kid names
    assert header == {"alg": "RS256", "typ": "logout+jwt", "kid": idp.current_key()["kid"]}
    assert list(claims) == ["exp", "iat", "jti", "iss", "aud", "sub", "typ", "sid", "events"]
    assert (claims["iss"], claims["aud"], claims["sub"], claims["typ"], claims["sid"]) == (
        idp.issuer, CLIENT_ID, ABDULLAH_ID, "Logout", body["session_state"])
    assert claims["events"] == {EVENT: {}} and claims["exp"] - claims["iat"] == 120
    assert "nonce" not in claims


def test_refresh_token_logout_delivers(idp, delivered):
    body = login(idp)
    answer = requests.post(idp.logout_url, data=client_form(refresh_token=body["refresh_token"]), timeout=10)
    assert answer.status_code == 204
    [token] = delivered()
    assert decode(token, idp)[1]["sid"] == body["session_state"]
    # A session that already ended: 204 again, nothing delivered.
    assert requests.post(idp.logout_url, data=client_form(refresh_token=body["refresh_token"]),
                         timeout=10).status_code == 204
    assert len(delivered()) == 1


def test_admin_user_logout_ends_every_session_of_the_user(idp, delivered):
    first, second = login(idp), login(idp)
    other = login(idp, "alice", "p&ss+w%rd é#1")
    assert idp.admin_logout_user(ABDULLAH_ID) == 204
    # Every live session of the user (earlier tests of this module may have left some).
    assert {first["session_state"], second["session_state"]} <= {decode(t, idp)[1]["sid"] for t in delivered()}
    assert {decode(t, idp)[1]["sub"] for t in delivered()} == {ABDULLAH_ID}
    assert session_over(idp, first) and session_over(idp, second)
    assert userinfo(idp, other["access_token"]).status_code == 200
    assert idp.admin_logout_user("no-such-user") == 404
    answer = requests.post(idp.admin_rest_url("users/no-such-user/logout"), timeout=10)
    assert answer.json() == {"error": "User not found"}


def test_admin_session_delete_ends_one_session(idp, delivered):
    body, kept = login(idp), login(idp)
    assert idp.admin_delete_session(body["session_state"]) == 204
    [token] = delivered()
    assert decode(token, idp)[1]["sid"] == body["session_state"]
    assert session_over(idp, body) and userinfo(idp, kept["access_token"]).status_code == 200
    answer = requests.delete(idp.admin_rest_url(f"sessions/{body['session_state']}"), timeout=10)
    assert (answer.status_code, answer.json()) == (404, {"error": "Sesssion not found"})
    assert requests.get(idp.admin_rest_url("sessions/x"), timeout=10).status_code == 405
    assert requests.post(idp.admin_rest_url("nothing/here"), timeout=10).status_code == 404
    assert requests.delete(idp.admin_rest_url("x").replace("/testing/", "/other/"), timeout=10).json() == {
        "error": "Realm not found."}


def test_only_clients_with_a_url_get_a_token_and_all_clients_tokens_die(idp, delivered):
    browser, confidential = browser_login(idp)
    _, docs = browser_login(idp, DOCS_CLIENT_ID, DOCS, None, browser=browser)
    assert docs["session_state"] == confidential["session_state"]
    browser.request("GET", idp.end_session_url, params={"id_token_hint": docs["id_token"]})
    [token] = delivered()  # the docs client has no back-channel URL
    assert decode(token, idp)[1]["aud"] == CLIENT_ID
    assert userinfo(idp, docs["access_token"]).status_code == 401


def test_sessions_ending_without_logout_do_not_deliver(idp, delivered):
    login(idp)
    idp.clear_sessions()  # /_admin/sessions/clear: like Keycloak's "logout all", no logout tokens
    verifier, challenge = pkce_pair()
    redirect = Browser(idp).login(CLIENT_ID, APP, code_challenge=challenge, code_challenge_method="S256")
    exchange(idp, redirect["code"], APP, verifier, CLIENT_ID, CLIENT_SECRET)
    exchange(idp, redirect["code"], APP, verifier, CLIENT_ID, CLIENT_SECRET)  # replay: detaches, no logout
    assert delivered() == []


def test_session_required_off_leaves_sid_out(make_idp):
    receiver = LogoutReceiver()
    try:
        provider = make_idp(backchannel_logout_url=receiver.url, backchannel_logout_session_required=False,
                            extra_args=("--backchannel-logout-revoke-offline-tokens",))
        body = login(provider)
        requests.post(provider.logout_url, data=client_form(refresh_token=body["refresh_token"]), timeout=10)
        [token] = receiver.logout_tokens()
        claims = decode(token, provider)[1]
        assert "sid" not in claims and claims["sub"] == ABDULLAH_ID
        assert claims["events"] == {EVENT: {}, "revoke_offline_access": True}
    finally:
        receiver.close()


def test_a_failing_client_is_logged_and_the_logout_goes_on(make_idp):
    receiver = LogoutReceiver(status=500)
    try:
        provider = make_idp(backchannel_logout_url=receiver.url)
        body = login(provider)
        answer = requests.post(provider.logout_url, data=client_form(refresh_token=body["refresh_token"]), timeout=10)
        assert answer.status_code == 204 and session_over(provider, body)
        line = f"back-channel logout of client {CLIENT_ID} at {receiver.url}: 500 (not logged out)"
        assert line in provider.log_text()
    finally:
        receiver.close()
    body = login(provider)  # the receiver is gone: connection refused, logged, logout still 204
    answer = requests.post(provider.logout_url, data=client_form(refresh_token=body["refresh_token"]), timeout=10)
    assert answer.status_code == 204
    assert f"back-channel logout of client {CLIENT_ID} at {receiver.url} failed" in provider.log_text()
    assert body["refresh_token"][:40] not in provider.log_text()


def test_https_backchannel_url_with_a_trusted_ca_file(make_idp, tls_dir):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_dir / "localhost.crt", tls_dir / "localhost.key")
    receiver = LogoutReceiver(tls=context)
    try:
        trusting = make_idp(backchannel_logout_url=receiver.url, backchannel_ca_file=tls_dir / "ca.crt")
        body = login(trusting)
        requests.post(trusting.logout_url, data=client_form(refresh_token=body["refresh_token"]), timeout=10)
        assert len(receiver.logout_tokens()) == 1
        doubting = make_idp(backchannel_logout_url=receiver.url)  # the dev CA is not trusted by default
        body = login(doubting)
        requests.post(doubting.logout_url, data=client_form(refresh_token=body["refresh_token"]), timeout=10)
        assert len(receiver.logout_tokens()) == 1
        assert "failed" in doubting.log_text() and session_over(doubting, body)
    finally:
        receiver.close()


def test_backchannel_options_are_checked_at_start(fresh_idp, tmp_path):
    with pytest.raises(Exception, match="must be an http or https URL"):
        fresh_idp(backchannel_logout_url="ftp://example.test/logout", startup_timeout=10)
    with pytest.raises(Exception, match="no such file"):
        fresh_idp(backchannel_ca_file=tmp_path / "missing.pem", startup_timeout=10)
    with pytest.raises(Exception, match="must differ"):
        fresh_idp(docs_client_id=CLIENT_ID, startup_timeout=10)


def test_admin_rest_answers_loopback_callers_only(idp):
    # The provider listens on loopback only; what a non-loopback caller gets is checked in
    # process: the same rule as /_admin (admin_rest._is_loopback).
    import importlib.util
    import sys

    from harness.idp_fixture import IDP_SCRIPT
    sys.path.insert(0, str(IDP_SCRIPT.parent))
    try:
        spec = importlib.util.find_spec("keycloak_emulator.admin_rest")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(IDP_SCRIPT.parent))
    assert module._is_loopback("127.0.0.1") and module._is_loopback("::1")
    assert not module._is_loopback("10.0.0.1") and not module._is_loopback("garbage")


def test_logout_redirect_keeps_the_registered_query(make_idp):
    provider = make_idp(redirect_uris=[APP], post_logout_redirect_uris=["http://app.test/bye?from=idp"])
    _, body = browser_login(provider)
    answer = requests.get(provider.end_session_url, params={
        "id_token_hint": body["id_token"], "post_logout_redirect_uri": "http://app.test/bye?from=idp",
        "state": "z"}, allow_redirects=False, timeout=10)
    location = urlsplit(answer.headers["Location"])
    assert parse_qs(location.query) == {"from": ["idp"], "state": ["z"]}
