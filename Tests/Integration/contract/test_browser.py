"""The article's Swagger UI walk-through, in a real browser (headless Chromium via Selenium)
against the release binary behind real nginx with TLS:

    /docs → POST /login "Try it out" (username, password) → Execute → copy access_token →
    "Authorize" → paste the token → Authorize → Close → GET /protected "Try it out" → Execute
    → the token's user.

Before authorizing, the same GET /protected answers 401 "Not authenticated" in the page.

The browser (harness/browser.py) trusts exactly the development leaf certificate by its public
key pin, and a missing Chromium, chromedriver or selenium fails the test (never skips it).
The sign-in with Keycloak's login page, here and at the auth gate, is in browser/.

Artifacts (under the repo's git-ignored artifacts/browser/): swagger-protected.png, the final
page; on failure failure.png, failure.html (page source), failure-console.log (the browser's
console) and failure-stack.log (responder and nginx logs).
"""

from __future__ import annotations

import json

import pytest

from harness.browser import (ARTIFACTS, LOGIN_OP, PROTECTED_OP, artifacts_on_failure, authorize, clear_response,
                             collapse, execute, expand, fill_field, start_chromium, try_it_out, wait)
from harness.idp_fixture import PASSWORD, USERNAME

try:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
except ImportError:  # start_chromium fails the test with the install hint
    pass


@pytest.fixture
def driver(request, tls_dir, tmp_path):
    """Headless Chromium that trusts the development leaf certificate by its public key pin,
    with a fresh profile (no authorization persisted by Swagger UI leaks between runs)."""
    browser = start_chromium(tmp_path / "chromium-profile", tls_dir, tmp_path)
    request.addfinalizer(browser.quit)
    return browser


def test_swagger_ui_walkthrough(make_idp, make_stack, driver):
    stack = make_stack(make_idp())
    (ARTIFACTS / "swagger-protected.png").unlink(missing_ok=True)

    with artifacts_on_failure(driver, stack):
        driver.get(stack.url("/docs"))
        try:
            wait(driver).until(EC.visibility_of_element_located((By.CSS_SELECTOR, LOGIN_OP)))
        except TimeoutException:
            raise AssertionError(
                f"Swagger UI did not show POST /login at {driver.current_url} (title {driver.title!r}); "
                "a certificate interstitial means the SPKI pin did not match") from None
        assert driver.execute_script("return location.protocol") == "https:"

        # Not yet authorized: GET /protected is refused.
        expand(driver, PROTECTED_OP)
        try_it_out(driver, PROTECTED_OP)
        status, body = execute(driver, PROTECTED_OP)
        assert status == "401", body
        assert json.loads(body) == {"detail": "Not authenticated"}
        clear_response(driver, PROTECTED_OP)
        collapse(driver, PROTECTED_OP)

        # POST /login with the form fields, then copy access_token from the response shown.
        expand(driver, LOGIN_OP)
        try_it_out(driver, LOGIN_OP)
        fill_field(driver, LOGIN_OP, "username", USERNAME)
        fill_field(driver, LOGIN_OP, "password", PASSWORD)
        status, body = execute(driver, LOGIN_OP)
        assert status == "200", body
        login = json.loads(body)
        assert login["token_type"] == "bearer"
        token = login["access_token"]
        assert token.count(".") == 2, token
        collapse(driver, LOGIN_OP)

        authorize(driver, token)

        # GET /protected with the token: the page shows the token's user.
        expand(driver, PROTECTED_OP)
        try_it_out(driver, PROTECTED_OP)
        status, body = execute(driver, PROTECTED_OP)
        assert status == "200", body
        assert '"preferred_username": "abdullah"' in body, body
        assert json.loads(body)["preferred_username"] == USERNAME

        # The artifact: the /protected response in view.
        response = driver.find_element(By.CSS_SELECTOR, f"{PROTECTED_OP} .responses-wrapper .live-responses-table")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", response)
        assert driver.save_screenshot(str(ARTIFACTS / "swagger-protected.png"))
