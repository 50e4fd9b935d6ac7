"""Shared fixtures: one development CA for the session, identity providers and stacks that are
always stopped, even when a test fails.

The tests are in subject folders (contract/, security/, faults/, operations/, deploy/, idp/;
zz_final/ runs last); what they share is the `harness` package next to this file. This directory
goes on sys.path once, here, so that every test imports `harness.<module>` whatever pytest's
import mode (the default "prepend" mode would add it for this conftest anyway); bench/ scripts
add the same directory. Subject folders have no __init__.py, so test file names are unique
across the suite.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

INTEGRATION_DIR = str(Path(__file__).resolve().parent)
if INTEGRATION_DIR not in sys.path:
    sys.path.insert(0, INTEGRATION_DIR)

from harness import REPO_ROOT  # noqa: E402
from harness.idp_fixture import IdentityProvider  # noqa: E402
from harness.stack import Stack  # noqa: E402


FINAL_DIR = Path(INTEGRATION_DIR) / "zz_final"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """zz_final/ last, after everything else that runs: its test reads every log the session
    wrote. Its path sorts last anyway; this holds when pytest is given paths in another order."""
    items.sort(key=lambda item: Path(item.path).resolve().is_relative_to(FINAL_DIR))  # stable: order kept otherwise


@pytest.fixture(scope="session")
def tls_dir(tmp_path_factory) -> Path:
    """A development CA and localhost certificate made by the project's own script."""
    directory = tmp_path_factory.mktemp("tls")
    subprocess.run(["bash", str(REPO_ROOT / "scripts" / "dev-cert.sh"), str(directory)], check=True,
                   capture_output=True)
    return directory


@pytest.fixture
def make_idp():
    """Starts identity providers with the given options; stops them after the test."""
    started: list[IdentityProvider] = []

    def factory(**options) -> IdentityProvider:
        idp = IdentityProvider(**options).start()
        started.append(idp)
        return idp

    yield factory
    for idp in started:
        idp.stop()


@pytest.fixture
def make_stack(tmp_path, tls_dir):
    """Starts responder+nginx stacks; stops them after the test."""
    started: list[Stack] = []

    def factory(idp: IdentityProvider | None = None, name: str = "stack", **options) -> Stack:
        stack = Stack(tmp_path / f"{name}-{len(started)}", tls_dir, idp=idp, **options)
        started.append(stack)
        return stack.start()

    yield factory
    for stack in started:
        stack.stop()


@pytest.fixture(scope="module")
def shared_idp():
    """One identity provider for a module's read-only tests."""
    idp = IdentityProvider().start()
    yield idp
    idp.stop()


@pytest.fixture(scope="module", params=["jwks", "userinfo", "introspect"])
def contract_stack(request, tmp_path_factory, tls_dir, shared_idp):
    """The default stack in each verification mode, shared by a module's contract tests."""
    stack = Stack(tmp_path_factory.mktemp(f"stack-{request.param}"), tls_dir, idp=shared_idp,
                  env={"AUTH_VERIFY": request.param})
    stack.start()
    yield stack
    stack.stop()
