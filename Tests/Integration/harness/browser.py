"""Headless Chromium through Selenium for the real-browser tests (contract/test_browser.py,
browser/), and the ways a person uses the pages they open: Swagger UI's operations and its
Authorize dialog, Keycloak's login form.

    browser = start_chromium(profile_dir, tls_dir, log_dir)   # trusts the dev leaf certificate
    with artifacts_on_failure(browser, stack, "gate-sign-in-"):
        browser.get(stack.url("/docs"))

The browser trusts exactly the development leaf certificate: Chromium is given the SHA-256 of
its SubjectPublicKeyInfo (`--ignore-certificate-errors-spki-list`); certificate verification
stays on for everything else (no `acceptInsecureCerts`, no `--ignore-certificate-errors`).

Needs Debian's chromium and chromium-driver and the Python selenium package; a missing one
fails the test (it is never skipped): `scripts/ensure-browser.sh` installs them.

Artifacts go to the repo's git-ignored artifacts/browser/: screenshots the tests take, and on
failure `<prefix>failure.png`, `.html` (page source), `-console.log` (the browser's console)
and `-stack.log` (responder, nginx and provider logs).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from . import REPO_ROOT

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webelement import WebElement
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError as error:  # reported by start_chromium as a failure, not a skip
    SELENIUM_IMPORT_ERROR: ImportError | None = error
else:
    SELENIUM_IMPORT_ERROR = None

CHROMIUM = Path(os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver"))
ARTIFACTS = REPO_ROOT / "artifacts" / "browser"
INSTALL_HINT = "run scripts/ensure-browser.sh (the test command runs it) to install chromium, chromium-driver and selenium"
WAIT_SECONDS = 20

#: The API document has no tags, so Swagger UI files every operation under "default".
LOGIN_OP = "#operations-default-login_login_post"
PROTECTED_OP = "#operations-default-protected_endpoint_protected_get"


def spki_sha256_base64(certificate: Path) -> str:
    """Base64 of the SHA-256 of the certificate's DER SubjectPublicKeyInfo (Chromium's pin form)."""
    cert = x509.load_pem_x509_certificate(certificate.read_bytes())
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")


def start_chromium(profile_dir: Path, tls_dir: Path, log_dir: Path) -> Any:
    """Headless Chromium that trusts the development leaf certificate by its public key pin.
    Fails the calling test (never skips it) when Chromium, chromedriver or selenium is missing.
    The caller quits it."""
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
    # pass a temporary one anyway); a fresh one per browser, so no authorization persisted by
    # Swagger UI (persistAuthorization) or cookie leaks between runs.
    options.add_argument(f"--user-data-dir={profile_dir}")
    options.add_argument(f"--ignore-certificate-errors-spki-list={spki_sha256_base64(tls_dir / 'localhost.crt')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(log_dir / "chromedriver.log"))
    return webdriver.Chrome(service=service, options=options)


def forget_everything(browser) -> None:
    """Every cookie and every site's storage gone, one window left on about:blank: a browser
    shared by a module's tests starts each test as a fresh one would."""
    for handle in browser.window_handles[1:]:
        browser.switch_to.window(handle)
        browser.close()
    browser.switch_to.window(browser.window_handles[0])
    browser.get("about:blank")
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    browser.execute_cdp_cmd("Storage.clearDataForOrigin", {"origin": "*", "storageTypes": "all"})
    browser.get_log("browser")  # drop the console lines of earlier tests


def cookies_for(browser, url: str) -> dict[str, dict[str, Any]]:
    """The cookies the browser would send to `url` (whatever page it shows), by name."""
    found = browser.execute_cdp_cmd("Network.getCookies", {"urls": [url]})["cookies"]
    return {cookie["name"]: cookie for cookie in found}


def wait(browser, seconds: float = WAIT_SECONDS) -> WebDriverWait:
    return WebDriverWait(browser, seconds)


FAILURE_ARTIFACTS = ("failure.png", "failure.html", "failure-console.log", "failure-stack.log")


def save_failure_artifacts(browser, stack, prefix: str = "", idp=None) -> None:
    """Saves a screenshot, the page source, the console and the stack's logs (and the
    provider's, when given) as artifacts/browser/<prefix>failure*; best effort."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(Exception):
        browser.save_screenshot(str(ARTIFACTS / f"{prefix}failure.png"))
    with contextlib.suppress(Exception):
        (ARTIFACTS / f"{prefix}failure.html").write_text(
            f"<!-- {browser.current_url} -->\n{browser.page_source}", "utf-8")
    with contextlib.suppress(Exception):
        console = "\n".join(f"{entry.get('level')} {entry.get('message')}" for entry in browser.get_log("browser"))
        (ARTIFACTS / f"{prefix}failure-console.log").write_text(console + "\n", "utf-8")
    with contextlib.suppress(Exception):
        provider = f"\n--- identity provider ---\n{idp.log_text()}" if idp is not None else ""
        (ARTIFACTS / f"{prefix}failure-stack.log").write_text(
            f"--- responder ---\n{stack.responder_log()}\n--- nginx ---\n{stack.nginx_logs()}{provider}\n", "utf-8")


def remove_failure_artifacts(prefix: str = "") -> None:
    """Removes a previous run's artifacts/browser/<prefix>failure*."""
    for name in FAILURE_ARTIFACTS:
        (ARTIFACTS / f"{prefix}{name}").unlink(missing_ok=True)


@contextlib.contextmanager
def artifacts_on_failure(browser, stack, prefix: str = "", idp=None):
    """Saves the failure artifacts (above) when the block raises."""
    remove_failure_artifacts(prefix)
    try:
        yield
    except BaseException:
        save_failure_artifacts(browser, stack, prefix, idp)
        raise


def screenshot(browser, name: str) -> None:
    """Saves the current page as artifacts/browser/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))


# Keycloak's login form (keycloak.v2 theme) ------------------------------------------------------

def sign_in_on_login_form(browser, username: str, password: str) -> None:
    """Waits for Keycloak's login form, types the username and password, presses "Sign In"."""
    wait(browser).until(EC.visibility_of_element_located((By.ID, "kc-form-login")))
    for field_id, value in (("username", username), ("password", password)):
        field = browser.find_element(By.ID, field_id)
        field.clear()
        field.send_keys(value)
    browser.find_element(By.ID, "kc-login").click()


def on_login_form(browser) -> bool:
    return bool(browser.find_elements(By.ID, "kc-form-login"))


# Swagger UI, the way a person uses it -----------------------------------------------------------

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


def open_authorize_dialog(browser) -> None:
    wait(browser).until(EC.element_to_be_clickable((By.CSS_SELECTOR, ".auth-wrapper .authorize"))).click()
    wait(browser).until(EC.visibility_of_element_located((By.CSS_SELECTOR, ".dialog-ux .auth-container")))


def auth_container(browser, scheme: str) -> WebElement:
    """The Authorize dialog's section of one security scheme (its heading names the scheme)."""
    for container in browser.find_elements(By.CSS_SELECTOR, ".dialog-ux .auth-container"):
        headings = container.find_elements(By.CSS_SELECTOR, "h4")
        if headings and scheme in headings[0].text:
            return container
    raise AssertionError(f"the Authorize dialog has no section for {scheme}")


def close_authorize_dialog(browser) -> None:
    """"Close", then waits until the page shows the lock as locked (authorized)."""
    browser.find_element(By.CSS_SELECTOR, ".dialog-ux .btn-done").click()
    wait(browser).until(EC.invisibility_of_element_located((By.CSS_SELECTOR, ".dialog-ux")))
    wait(browser).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".auth-wrapper .authorize.locked")))


def authorize(browser, token: str) -> None:
    """"Authorize" → paste the token into the HTTPBearer value field → Authorize → Close."""
    open_authorize_dialog(browser)
    container = auth_container(browser, "HTTPBearer")
    field = wait(browser).until(lambda _: container.find_element(By.CSS_SELECTOR, "input"))
    field.click()
    # Paste, as the walk-through says: one trusted text insertion into the focused field
    # (DevTools Input.insertText). send_keys would type the ~1.4 kB token key by key, with a
    # React re-render per key: some 13 s on a busy machine for the same result.
    browser.execute_cdp_cmd("Input.insertText", {"text": token})
    assert field.get_attribute("value") == token, "the bearer value field did not take the pasted token"
    container.find_element(By.CSS_SELECTOR, ".modal-btn.authorize").click()
    # Once applied, the section offers "Logout" in place of "Authorize".
    wait(browser).until(lambda _: "Logout" in container.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper").text)
    close_authorize_dialog(browser)
