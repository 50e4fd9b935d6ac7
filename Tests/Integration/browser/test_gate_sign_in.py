"""Browser sign-in at nginx's auth gate, in a real browser (headless Chromium via Selenium):
the gate's TLS listener (nginx/examples/auth-gate.conf.template) in front of the sample API, the
release binary with session keys, and the local provider's Keycloak login form.

- a gated page sends the browser to Keycloak's login form and, once signed in, back to the page,
  which shows the user the API was told about (X-Auth-Username);
- sign-out: the responder's sign-out page → Keycloak's end-session → the post-logout page; the
  session cookie is gone, a copy of it is refused, and the next page request meets the login
  form again (no SSO left);
- a wrong password: Keycloak's error on its form, and no session cookie.

Screenshots in artifacts/browser/ (gate-*.png); on failure gate_sign_in-<test>-failure.* (conftest.py).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from harness.browser import cookies_for, on_login_form, screenshot, sign_in_on_login_form, wait
from harness.idp_fixture import PASSWORD, USERNAME
from harness.sign_in import SIGNED_OUT_PATH, session_cookie_names
from harness.stack import SessionRecord

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
except ImportError:  # the browser fixture fails the test with the install hint
    pass

PAGE = "/api/page"


@pytest.fixture
def stack(sign_in_stack):
    return sign_in_stack


def open_gated_page_until_login_form(browser, stack) -> dict[str, str]:
    """Opens the gated page without a session: the browser must land on Keycloak's login form
    through the authorization endpoint. Answers that request's query parameters."""
    browser.get(stack.gate_tls_url(PAGE))
    wait(browser).until(lambda b: on_login_form(b) or b.find_elements(By.ID, "user"))
    assert on_login_form(browser), f"no login form: the page was served without a session ({browser.current_url})"
    # The form is the authorization endpoint's answer (its URL is still the endpoint's).
    authorization = urlsplit(browser.current_url)
    assert f"{authorization.scheme}://{authorization.netloc}{authorization.path}" == stack.idp.auth_url
    return {name: values[0] for name, values in parse_qs(authorization.query).items()}


def sign_in(browser, stack) -> None:
    """Gated page → login form → the right password → back on the page, signed in."""
    open_gated_page_until_login_form(browser, stack)
    SessionRecord.remember(PASSWORD)
    sign_in_on_login_form(browser, USERNAME, PASSWORD)
    wait(browser).until(EC.url_to_be(stack.gate_tls_url(PAGE)))
    wait(browser).until(EC.text_to_be_present_in_element((By.ID, "user"), USERNAME))


def session_cookies(browser, stack) -> dict:
    cookies = cookies_for(browser, stack.gate_tls_url("/"))
    return {name: cookies[name] for name in session_cookie_names(cookies)}


def test_gated_page_signs_in_through_keycloak_and_shows_the_user(stack, browser):
    hits_before = stack.upstream.hits
    query = open_gated_page_until_login_form(browser, stack)
    assert stack.upstream.hits == hits_before, "the API was reached before sign-in"
    # What the responder asked Keycloak for: the code flow with PKCE for its own callback.
    assert query["client_id"] == stack.idp.client_id
    assert query["response_type"] == "code"
    assert query["redirect_uri"] == stack.gate_tls_url("/oauth2/callback")
    assert query["code_challenge_method"] == "S256" and query["code_challenge"]
    assert query["state"] and query["nonce"]
    assert "openid" in query["scope"].split()
    screenshot(browser, "gate-login-form")

    SessionRecord.remember(PASSWORD)
    sign_in_on_login_form(browser, USERNAME, PASSWORD)
    wait(browser).until(EC.url_to_be(stack.gate_tls_url(PAGE)))
    wait(browser).until(EC.text_to_be_present_in_element((By.ID, "user"), USERNAME))
    assert browser.find_element(By.ID, "user").text == USERNAME
    assert browser.find_element(By.ID, "path").text == PAGE
    assert stack.upstream.last["x_auth"]["x-auth-username"] == [USERNAME]
    screenshot(browser, "gate-signed-in")

    cookies = session_cookies(browser, stack)
    assert cookies, f"no session cookie for the gate: {sorted(cookies_for(browser, stack.gate_tls_url('/')))}"
    for cookie in cookies.values():
        SessionRecord.remember(cookie["value"])
        assert cookie["secure"] and cookie["httpOnly"] and cookie["path"] == "/", cookie
        assert "domain" not in cookie or cookie["domain"] == "localhost", cookie  # __Host-: no Domain

    # Signed in: the next page request goes straight through, with the same user.
    browser.get(stack.gate_tls_url("/api/another"))
    wait(browser).until(EC.text_to_be_present_in_element((By.ID, "user"), USERNAME))
    assert stack.upstream.last["path"] == "/api/another"


def test_sign_out_ends_the_session_here_and_at_keycloak(stack, browser):
    sign_in(browser, stack)
    cookies = session_cookies(browser, stack)
    assert cookies
    copied = "; ".join(f"{name}={cookie['value']}" for name, cookie in cookies.items())
    SessionRecord.remember(*(cookie["value"] for cookie in cookies.values()))

    browser.get(stack.gate_tls_url("/oauth2/sign_out"))
    wait(browser).until(EC.visibility_of_element_located((By.ID, "sign-out-button")))
    assert USERNAME in browser.find_element(By.ID, "username").text
    screenshot(browser, "gate-sign-out-page")
    browser.find_element(By.ID, "sign-out-button").click()

    # Keycloak's end-session endpoint ends its session and sends the browser on to the
    # post-logout page (public: no user).
    wait(browser).until(EC.url_to_be(stack.gate_tls_url(SIGNED_OUT_PATH)))
    assert browser.find_element(By.ID, "user").text == ""
    assert not session_cookies(browser, stack), "the session cookie survived sign-out"
    screenshot(browser, "gate-signed-out")
    # Keycloak told the gateway too (back-channel logout, delivered before it redirected).
    delivery = [line for line in stack.idp.log_text().splitlines()
                if f"back-channel logout of client {stack.idp.client_id}" in line]
    assert delivery and delivery[-1].rstrip().endswith((": 200", ": 204")), delivery

    # A copy of the cookie taken before sign-out no longer works either: the session is over
    # at the gateway, not only gone from this browser.
    hits_before = stack.upstream.hits
    with requests.Session() as client:
        client.trust_env, client.verify = False, str(stack.tls_dir / "ca.crt")
        replay = client.get(stack.gate_tls_url(PAGE), headers={"Cookie": copied, "Accept": "application/json"},
                            allow_redirects=False, timeout=30)
    assert replay.status_code == 401, (replay.status_code, replay.text)
    assert stack.upstream.hits == hits_before

    # The SSO session is gone too: the page needs the login form again.
    open_gated_page_until_login_form(browser, stack)
    assert not session_cookies(browser, stack)


def test_wrong_password_shows_keycloaks_error_and_sets_no_session(stack, browser):
    hits_before = stack.upstream.hits
    open_gated_page_until_login_form(browser, stack)
    wrong = PASSWORD + "-wrong"
    SessionRecord.remember(wrong)
    sign_in_on_login_form(browser, USERNAME, wrong)

    error = wait(browser).until(EC.visibility_of_element_located((By.ID, "input-error-username")))
    assert error.text.strip() == "Invalid username or password."
    assert on_login_form(browser)
    assert browser.find_element(By.ID, "username").get_attribute("value") == USERNAME
    screenshot(browser, "gate-wrong-password")
    assert not session_cookies(browser, stack)
    assert stack.upstream.hits == hits_before, "the API was reached without a session"
