"""The article's Swagger UI walk-through, in a real browser (headless Chromium via Selenium)
against the release binary behind real nginx with TLS:

    /docs → POST /login "Try it out" (username, password) → Execute → copy access_token →
    "Authorize" → paste the token → Authorize → Close → GET /protected "Try it out" → Execute
    → the token's user.

Before authorizing, the same GET /protected answers 401 "Not authenticated" in the page.

The browser trusts exactly the development leaf certificate: Chromium is given the SHA-256 of
its SubjectPublicKeyInfo (`--ignore-certificate-errors-spki-list`); certificate verification
stays on for everything else (no `acceptInsecureCerts`, no `--ignore-certificate-errors`).

Artifacts (under the repo's git-ignored artifacts/browser/): swagger-protected.png, the final
page; on failure failure.png, failure.html (page source), failure-console.log (the browser's
console) and failure-stack.log (responder and nginx logs).

Needs Debian's chromium and chromium-driver and the Python selenium package; a missing one
fails the test (it is never skipped): `scripts/ensure-browser.sh` installs them.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from harness.idp_fixture import PASSWORD, USERNAME
from harness.stack import REPO_ROOT, Stack

try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webelement import WebElement
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError as error:  # reported by the `driver` fixture as a failure, not a skip
    SELENIUM_IMPORT_ERROR: ImportError | None = error
else:
    SELENIUM_IMPORT_ERROR = None

CHROMIUM = Path(os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver"))
ARTIFACTS = REPO_ROOT / "artifacts" / "browser"
INSTALL_HINT = "run scripts/ensure-browser.sh (the test command runs it) to install chromium, chromium-driver and selenium"

#: The API document has no tags, so Swagger UI files every operation under "default".
LOGIN_OP = "#operations-default-login_login_post"
PROTECTED_OP = "#operations-default-protected_endpoint_protected_get"
WAIT_SECONDS = 20


def spki_sha256_base64(certificate: Path) -> str:
    """Base64 of the SHA-256 of the certificate's DER SubjectPublicKeyInfo (Chromium's pin form)."""
    cert = x509.load_pem_x509_certificate(certificate.read_bytes())
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")


@pytest.fixture
def driver(request, tls_dir, tmp_path):
    """Headless Chromium that trusts the development leaf certificate by its public key pin."""
    missing = []
    if SELENIUM_IMPORT_ERROR is not None:
        missing.append(f"the Python package selenium ({SELENIUM_IMPORT_ERROR})")
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} (Debian package chromium)")
    if not os.access(CHROMEDRIVER, os.X_OK):
        missing.append(f"{CHROMEDRIVER} (Debian package chromium-driver)")
    if missing:
        pytest.fail(f"browser test cannot run, missing: {'; '.join(missing)}. {INSTALL_HINT}", pytrace=False)

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1800"):
        options.add_argument(flag)
    # Chromium honours the SPKI list only when a profile directory is given (chromedriver would
    # pass a temporary one anyway); this one lives in the test's tmp_path: a fresh profile, so
    # no authorization persisted by Swagger UI (persistAuthorization) leaks between runs.
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.add_argument(f"--ignore-certificate-errors-spki-list={spki_sha256_base64(tls_dir / 'localhost.crt')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log"))
    browser = webdriver.Chrome(service=service, options=options)
    request.addfinalizer(browser.quit)
    return browser


# Swagger UI, the way a person uses it ---------------------------------------------------------

def wait(browser, seconds: float = WAIT_SECONDS) -> WebDriverWait:
    return WebDriverWait(browser, seconds)


def expand(browser, operation: str) -> WebElement:
    """Opens an operation (click on its summary) and answers its block."""
    block = wait(browser).until(EC.visibility_of_element_located((By.CSS_SELECTOR, operation)))
    if "is-open" not in (block.get_attribute("class") or ""):
        wait(browser).until(EC.element_to_be_clickable((By.CSS_SELECTOR, f"{operation} .opblock-summary-control"))).click()
    wait(browser).until(lambda _: "is-open" in (block.get_attribute("class") or ""))
    return block


def collapse(browser, operation: str) -> None:
    block = browser.find_element(By.CSS_SELECTOR, operation)
    if "is-open" in (block.get_attribute("class") or ""):
        block.find_element(By.CSS_SELECTOR, ".opblock-summary-control").click()
        wait(browser).until(lambda _: "is-open" not in (block.get_attribute("class") or ""))


def try_it_out(browser, operation: str) -> None:
    """Presses "Try it out". The page sets `tryItOutEnabled`, so Swagger UI may already show
    the editable form (the button then reads "Cancel"); pressing it then would turn it off."""
    button = wait(browser).until(EC.element_to_be_clickable((By.CSS_SELECTOR, f"{operation} .try-out__btn")))
    if "cancel" not in (button.get_attribute("class") or "").split():
        button.click()
    wait(browser).until(EC.visibility_of_element_located((By.CSS_SELECTOR, f"{operation} .execute")))


def execute(browser, operation: str) -> tuple[str, str]:
    """Presses "Execute"; answers the status and the response body that the page shows."""
    wait(browser).until(EC.element_to_be_clickable((By.CSS_SELECTOR, f"{operation} .execute"))).click()
    status_cell = (By.CSS_SELECTOR, f"{operation} .responses-wrapper .live-responses-table .response .response-col_status")
    wait(browser).until(lambda b: b.find_element(*status_cell).text.strip()[:3].isdigit()
                        if b.find_elements(*status_cell) else False)
    status = browser.find_element(*status_cell).text.strip().split()[0]
    body = wait(browser).until(EC.visibility_of_element_located((
        By.CSS_SELECTOR,
        f"{operation} .responses-wrapper .live-responses-table .response .response-col_description .highlight-code pre")))
    return status, body.get_attribute("textContent")


def clear_response(browser, operation: str) -> None:
    """Presses "Clear" so that the next Execute's answer cannot be confused with this one."""
    browser.find_element(By.CSS_SELECTOR, f"{operation} .btn-clear").click()
    wait(browser).until(EC.invisibility_of_element_located(
        (By.CSS_SELECTOR, f"{operation} .responses-wrapper .live-responses-table")))


def fill_field(browser, operation: str, name: str, value: str) -> None:
    """Types into a request-body form field (Swagger UI renders one table row per property)."""
    field = wait(browser).until(EC.element_to_be_clickable(
        (By.CSS_SELECTOR, f'{operation} .opblock-section-request-body tr[data-property-name="{name}"] input')))
    field.clear()
    field.send_keys(value)
    assert field.get_attribute("value") == value, f"the {name} field did not take the typed value"


def authorize(browser, token: str) -> None:
    """"Authorize" → paste the token into the HTTPBearer value field → Authorize → Close."""
    wait(browser).until(EC.element_to_be_clickable((By.CSS_SELECTOR, ".auth-wrapper .authorize"))).click()
    field = wait(browser).until(EC.element_to_be_clickable((By.CSS_SELECTOR, ".dialog-ux .auth-container input")))
    field.click()
    # Paste, as the walk-through says: one trusted text insertion into the focused field
    # (DevTools Input.insertText). send_keys would type the ~1.4 kB token key by key, with a
    # React re-render per key: some 13 s on a busy machine for the same result.
    browser.execute_cdp_cmd("Input.insertText", {"text": token})
    assert field.get_attribute("value") == token, "the bearer value field did not take the pasted token"
    browser.find_element(By.CSS_SELECTOR, ".dialog-ux .auth-container .modal-btn.authorize").click()
    # Once applied, the dialog offers "Logout" in place of "Authorize".
    wait(browser).until(EC.text_to_be_present_in_element(
        (By.CSS_SELECTOR, ".dialog-ux .auth-container .auth-btn-wrapper"), "Logout"))
    browser.find_element(By.CSS_SELECTOR, ".dialog-ux .auth-container .btn-done").click()
    wait(browser).until(EC.invisibility_of_element_located((By.CSS_SELECTOR, ".dialog-ux")))
    wait(browser).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".auth-wrapper .authorize.locked")))


@contextlib.contextmanager
def artifacts_on_failure(browser, stack: Stack):
    """On any failure saves a screenshot, the page source, the console and the stack's logs."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            browser.save_screenshot(str(ARTIFACTS / "failure.png"))
        with contextlib.suppress(Exception):
            (ARTIFACTS / "failure.html").write_text(browser.page_source, "utf-8")
        with contextlib.suppress(Exception):
            console = "\n".join(f"{entry.get('level')} {entry.get('message')}" for entry in browser.get_log("browser"))
            (ARTIFACTS / "failure-console.log").write_text(console + "\n", "utf-8")
        with contextlib.suppress(Exception):
            (ARTIFACTS / "failure-stack.log").write_text(
                f"--- responder ---\n{stack.responder_log()}\n--- nginx ---\n{stack.nginx_logs()}\n", "utf-8")
        raise


def test_swagger_ui_walkthrough(make_idp, make_stack, driver):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for stale in ("failure.png", "failure.html", "failure-console.log", "failure-stack.log", "swagger-protected.png"):
        (ARTIFACTS / stale).unlink(missing_ok=True)
    stack = make_stack(make_idp())

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
