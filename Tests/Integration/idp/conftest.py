"""Fixtures of the identity provider's own tests: a provider per module for read-mostly tests,
fresh ones for tests that change keys or need options."""

from __future__ import annotations

import pytest

from harness.idp_fixture import IdentityProvider


@pytest.fixture(scope="module")
def idp():
    provider = IdentityProvider().start()
    yield provider
    assert provider.stop() == 0


@pytest.fixture(autouse=True)
def _no_faults_left(request):
    """Every test on the shared provider starts and ends without faults."""
    yield
    if "idp" in request.fixturenames:
        request.getfixturevalue("idp").clear_faults()


@pytest.fixture
def fresh_idp(make_idp):
    """A provider of its own, for tests that change keys or need special options (the suite's
    `make_idp`, under the name these tests read best with)."""
    return make_idp


@pytest.fixture(scope="module")
def make_module_idp():
    """Providers with options shared by a module's tests (the browser-flow modules); stopped
    after the module."""
    started: list[IdentityProvider] = []

    def factory(**options) -> IdentityProvider:
        provider = IdentityProvider(**options).start()
        started.append(provider)
        return provider

    yield factory
    for provider in started:
        assert provider.stop() == 0
