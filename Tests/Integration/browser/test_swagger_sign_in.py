"""The Swagger page's Keycloak sign-in, in a real browser (headless Chromium via Selenium), on the
main server of a stack whose openapi.json and swagger-init.js were rendered for its provider
(scripts/render_nginx.py --docs, through harness/stack.py):

    /docs → Authorize → OAuth2AuthorizationCodeBearer (authorizationCode with PKCE, the docs
    client) → Authorize → Keycloak's login form in the window that opens → sign in → back on
    Swagger, authorized → GET /protected "Try it out" → Execute → 200 with the user.

Also, over plain HTTP: the served document's scheme and URLs, and the page's CSP, which lets
the page reach exactly the realm's token endpoint besides its own origin.

Screenshots in artifacts/browser/ (swagger-*.png); on failure swagger_sign_in-<test>-failure.*
(conftest.py).
"""

from __future__ import annotations

import json

import pytest

from harness.browser import (PROTECTED_OP, auth_container, close_authorize_dialog, execute, expand,
                             open_authorize_dialog, screenshot, sign_in_on_login_form, try_it_out, wait)
from harness.idp_fixture import PASSWORD, USERNAME
from harness.stack import SessionRecord

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
except ImportError:  # the browser fixture fails the test with the install hint
    pass

SCHEME = "OAuth2AuthorizationCodeBearer"
SERVER_HEADERS = {  # the server's security headers, which the page's location restates
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def test_served_document_offers_keycloak_sign_in_for_protected(sign_in_stack):
    from openapi_spec_validator import validate

    stack = sign_in_stack
    answer = stack.get("/openapi.json")
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    document = answer.json()
    validate(document)
    schemes = document["components"]["securitySchemes"]
    assert list(schemes) == ["HTTPBearer", SCHEME]
    assert schemes[SCHEME]["type"] == "oauth2"
    assert schemes[SCHEME]["flows"] == {"authorizationCode": {
        "authorizationUrl": f"{stack.idp.issuer}/protocol/openid-connect/auth",
        "tokenUrl": f"{stack.idp.issuer}/protocol/openid-connect/token",
        "scopes": {"openid": "OpenID Connect sign-in"}}}
    assert document["paths"]["/protected"]["get"]["security"] == [{"HTTPBearer": []}, {SCHEME: ["openid"]}]
    # The rest is the committed document's, untouched.
    assert document["paths"]["/auth"]["get"]["security"] == [{"HTTPBearer": []}]
    init = stack.get("/docs/swagger-init.js")
    assert init.status_code == 200
    assert f'const DOCS_CLIENT_ID = "{stack.idp.docs_client_id}";' in init.text


@pytest.mark.parametrize("path", ["/docs", "/docs/"])
def test_docs_page_csp_allows_exactly_the_token_endpoint(sign_in_stack, path):
    stack = sign_in_stack
    page = stack.get(path)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert page.headers["Content-Security-Policy"] == (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        f"connect-src 'self' {stack.idp.issuer}/protocol/openid-connect/token; frame-ancestors 'none'")
    for name, value in SERVER_HEADERS.items():
        assert page.headers[name] == value, name
    # Everywhere else the server's CSP stays as it was: 'self' only.
    for other in ("/", "/docs/oauth2-redirect.html", "/openapi.json"):
        assert "connect-src" not in stack.get(other).headers["Content-Security-Policy"], other


def test_swagger_authorize_signs_in_on_keycloaks_login_page(sign_in_stack, browser):
    stack = sign_in_stack
    browser.get(stack.url("/docs"))
    wait(browser).until(EC.visibility_of_element_located((By.CSS_SELECTOR, PROTECTED_OP)))

    open_authorize_dialog(browser)
    section = auth_container(browser, SCHEME)
    assert section.find_element(By.CSS_SELECTOR, ".flow code").text == "authorizationCode with PKCE"
    assert section.find_element(By.ID, "client_id_authorizationCode").get_attribute("value") == stack.idp.docs_client_id
    assert section.find_element(By.ID, f"openid-authorizationCode-checkbox-{SCHEME}").is_selected()
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", section)
    screenshot(browser, "swagger-authorize-dialog")

    swagger = browser.current_window_handle
    section.find_element(By.CSS_SELECTOR, ".modal-btn.authorize").click()
    wait(browser).until(lambda b: len(b.window_handles) == 2)
    browser.switch_to.window(next(handle for handle in browser.window_handles if handle != swagger))
    SessionRecord.remember(PASSWORD)
    sign_in_on_login_form(browser, USERNAME, PASSWORD)
    # Keycloak redirects the window to /docs/oauth2-redirect.html, which hands the code to the
    # page and closes itself; the page then exchanges the code at the token endpoint.
    wait(browser).until(lambda b: len(b.window_handles) == 1)
    browser.switch_to.window(swagger)
    section = auth_container(browser, SCHEME)
    wait(browser).until(lambda _: "Logout" in section.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper").text)
    assert not section.find_elements(By.CSS_SELECTOR, ".errors"), section.text
    # The tokens the page holds (persistAuthorization keeps them in local storage): for the
    # final check that no log of the run shows them.
    authorized = json.loads(browser.execute_script("return localStorage.getItem('authorized')") or "{}")
    tokens = authorized.get(SCHEME, {}).get("token", {})
    assert tokens.get("access_token"), authorized
    SessionRecord.remember(*(tokens.get(name) for name in ("access_token", "refresh_token", "id_token")))
    close_authorize_dialog(browser)

    expand(browser, PROTECTED_OP)
    try_it_out(browser, PROTECTED_OP)
    status, body = execute(browser, PROTECTED_OP)
    assert status == "200", body
    assert json.loads(body)["preferred_username"] == USERNAME
    response = browser.find_element(By.CSS_SELECTOR, f"{PROTECTED_OP} .responses-wrapper .live-responses-table")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", response)
    screenshot(browser, "swagger-signed-in-protected")
