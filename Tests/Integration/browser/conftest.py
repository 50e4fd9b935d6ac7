"""Fixtures of the real-browser sign-in tests: per module, one stack with browser sign-in on
(harness/sign_in.py: the gate, the responder, nginx and a provider of its own) and one headless
Chromium (harness/browser.py); each test gets that browser with every cookie and all storage
forgotten, so the tests of a module stay independent of each other and of their order. When a
test fails, its screenshot, page, console and the stack's logs are saved
(artifacts/browser/<module>-<test>-failure*)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.browser import forget_everything, remove_failure_artifacts, save_failure_artifacts, start_chromium
from harness.sign_in import SignInStack


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the test, for `browser`'s teardown to see a failure."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="module")
def sign_in_stack(tmp_path_factory, tls_dir):
    stack = SignInStack(tmp_path_factory.mktemp("sign-in"), tls_dir).start()
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def chromium(tmp_path_factory, tls_dir):
    directory = tmp_path_factory.mktemp("chromium")
    browser = start_chromium(directory / "profile", tls_dir, directory)
    yield browser
    browser.quit()


@pytest.fixture
def browser(request, chromium, sign_in_stack):
    """The module's Chromium, as fresh as a new one: no cookies, no storage, one blank window.
    Saves the failure artifacts when the test fails."""
    prefix = f"{Path(request.node.path).stem.removeprefix('test_')}-{request.node.name}-"
    remove_failure_artifacts(prefix)
    forget_everything(chromium)
    yield chromium
    report = getattr(request.node, "report_call", None)
    if report is None or report.failed:
        save_failure_artifacts(chromium, sign_in_stack, prefix, sign_in_stack.idp)
