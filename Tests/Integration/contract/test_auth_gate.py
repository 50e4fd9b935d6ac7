"""nginx `auth_request` with the responder's GET /auth as the gate, through real nginx: the example
configuration nginx/examples/auth-gate.conf.template in front of a sample API
(harness.sample_upstream.SampleUpstream), next to the project's own template in the same nginx
(harness.gate.GateStack)."""

from __future__ import annotations

import re
import time

import pytest

from harness.challenges import gate_invalid, gate_unauthenticated, origin_of
from harness.gate import GateStack
from harness.idp_fixture import IdentityProvider
from harness.sample_upstream import SampleUpstream
from harness.stack import SessionRecord

ABDULLAH_SUB = "abdab22d-91b1-4c1a-b7b3-9283e17597cd"
ALICE = ("alice", "p&ss+w%rd é#1")

NOT_AUTHENTICATED = {"detail": "Not authenticated"}
INVALID_CREDENTIALS = {"detail": "Could not validate credentials"}
NOT_ENOUGH_PERMISSIONS = {"detail": "Not enough permissions"}
UNAVAILABLE = {"detail": "Service temporarily unavailable"}


def remember(token: str) -> str:
    """Minted tokens are secrets too: the final test checks that no log line holds one."""
    SessionRecord.remember(token)
    return token


@pytest.fixture(scope="module")
def gate(tmp_path_factory, tls_dir):
    """One identity provider, sample API and gate stack for the module's tests."""
    with IdentityProvider() as idp, SampleUpstream() as upstream:
        stack = GateStack(tmp_path_factory.mktemp("gate"), tls_dir, idp=idp, upstream_address=upstream.address)
        stack.upstream = upstream
        stack.start()
        try:
            yield stack
        finally:
            stack.stop()


def checked_once(stack: GateStack, answer, status: int) -> None:
    """The answer carries nginx's request id, and the responder checked that request exactly
    once, as GET /auth (the gate's parameters replaced the client's method and path)."""
    request_id = answer.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    stack.wait_until(lambda: stack.auth_checks(request_id), f"the responder's /auth line for {request_id}")
    time.sleep(0.05)  # a second check, if there were one, would have been logged by now
    checks = stack.auth_checks(request_id)
    assert len(checks) == 1, checks
    assert checks[0]["http.method"] == "GET" and checks[0]["http.status"] == str(status)


def refused(answer, status: int, body: dict, www_authenticate: str | None) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == body
    if www_authenticate is not None:
        # Exactly one challenge: nginx copies the gate's own onto the 401, never twice.
        assert answer.raw.headers.getlist("WWW-Authenticate") == [www_authenticate]


# --- Authentication ---------------------------------------------------------------------------


def test_no_token_is_401_and_never_reaches_the_api(gate):
    hits = gate.upstream.hits
    for headers in ({}, {"Authorization": "Basic YWJkdWxsYWg6eA=="}):
        answer = gate.gate("/api/things", headers=headers)
        refused(answer, 401, NOT_AUTHENTICATED, gate_unauthenticated(origin_of(answer.request.url)))
        checked_once(gate, answer, 401)
    assert gate.upstream.hits == hits


def test_bad_tokens_are_401_invalid_token_and_never_reach_the_api(gate):
    expired = remember(gate.idp.mint(claims={"exp": int(time.time()) - 3600, "iat": int(time.time()) - 4000}))
    foreign_issuer = remember(gate.idp.mint(claims={"iss": "https://evil.example/realms/testing"}))
    hits = gate.upstream.hits
    for token in ("garbage", "a.b.c", expired, foreign_issuer):
        answer = gate.gate("/api/things", token)
        refused(answer, 401, INVALID_CREDENTIALS, gate_invalid(origin_of(answer.request.url)))
        checked_once(gate, answer, 401)
    assert gate.upstream.hits == hits


def test_valid_token_reaches_the_api_with_the_identity_headers(gate):
    token = gate.token()
    hits = gate.upstream.hits
    answer = gate.gate("/api/things?page=2", token)
    assert answer.status_code == 200, answer.text
    checked_once(gate, answer, 204)
    assert gate.upstream.hits == hits + 1
    seen = answer.json()  # the API's echo of what it received
    assert seen["method"] == "GET" and seen["path"] == "/api/things?page=2"
    assert seen["request_id"] == answer.headers["X-Request-ID"]
    x_auth = seen["x_auth"]
    assert x_auth["x-auth-subject"] == [ABDULLAH_SUB]
    assert x_auth["x-auth-username"] == ["abdullah"]
    assert x_auth["x-auth-email"] == ["abdullah@example.com"]
    assert len(x_auth["x-auth-roles"]) == 1
    roles = x_auth["x-auth-roles"][0].split(",")
    assert {"default-roles-testing", "offline_access", "uma_authorization", "user",
            "fastapi-keycloak:reader"} <= set(roles)
    assert "admin" not in roles
    # Realm roles first, then client roles as client:role.
    first_client_role = min(i for i, role in enumerate(roles) if ":" in role)
    assert all(":" in role for role in roles[first_client_role:])
    # The API gets the identity, not the bearer token.
    assert seen["authorization"] is False


def test_the_check_is_a_get_whatever_the_client_sends(gate):
    token = gate.token()
    answer = gate.gate("/api/things", token, method="POST", data={"name": "x" * 1000})
    assert answer.status_code == 200, answer.text
    assert answer.json()["method"] == "POST"
    checked_once(gate, answer, 204)  # the responder saw GET /auth without the client's body
    answer = gate.gate("/api/things", token, method="DELETE")
    assert answer.status_code == 200 and answer.json()["method"] == "DELETE"
    checked_once(gate, answer, 204)


def test_forged_identity_headers_never_reach_the_api(gate):
    token = gate.token()
    forged = {"X-Auth-Username": "admin", "x-auth-roles": "admin", "X-Auth-Subject": "forged-sub",
              "X-Auth-Email": "admin@example.com"}
    answer = gate.gate("/api/things", token, headers=forged)
    assert answer.status_code == 200, answer.text
    x_auth = answer.json()["x_auth"]
    assert x_auth["x-auth-username"] == ["abdullah"]
    assert x_auth["x-auth-subject"] == [ABDULLAH_SUB]
    assert x_auth["x-auth-email"] == ["abdullah@example.com"]
    assert "admin" not in x_auth["x-auth-roles"][0].split(",")

    # A user without an email: the client's X-Auth-Email is dropped, not passed along.
    bot = remember(gate.idp.mint(user="service-bot"))
    answer = gate.gate("/api/things", bot, headers=forged)
    assert answer.status_code == 200, answer.text
    x_auth = answer.json()["x_auth"]
    assert x_auth["x-auth-username"] == ["service-bot"]
    assert "x-auth-email" not in x_auth

    # A public location: no check, and no identity headers at all.
    answer = gate.gate("/public/page", headers=forged)
    assert answer.status_code == 200 and answer.json()["x_auth"] == {}

    # Without a token the forged headers change nothing.
    answer = gate.gate("/admin/things", headers=forged)
    refused(answer, 401, NOT_AUTHENTICATED, gate_unauthenticated(origin_of(answer.request.url)))


# --- Authorization ----------------------------------------------------------------------------


def test_realm_role_location(gate):
    hits = gate.upstream.hits
    answer = gate.gate("/admin/users", gate.token())
    refused(answer, 403, NOT_ENOUGH_PERMISSIONS, None)
    checked_once(gate, answer, 403)
    assert gate.upstream.hits == hits

    answer = gate.gate("/admin/users", gate.token(*ALICE))
    assert answer.status_code == 200, answer.text
    checked_once(gate, answer, 204)
    x_auth = answer.json()["x_auth"]
    assert x_auth["x-auth-username"] == ["alice"]
    assert "admin" in x_auth["x-auth-roles"][0].split(",")
    assert gate.upstream.hits == hits + 1


def test_client_role_location(gate):
    answer = gate.gate("/reports/daily", gate.token())
    assert answer.status_code == 200, answer.text
    assert "fastapi-keycloak:reader" in answer.json()["x_auth"]["x-auth-roles"][0].split(",")

    hits = gate.upstream.hits
    # `incomplete` has no client roles at all.
    answer = gate.gate("/reports/daily", remember(gate.idp.mint(user="incomplete")))
    refused(answer, 403, NOT_ENOUGH_PERMISSIONS, None)
    checked_once(gate, answer, 403)
    # A realm role named `reader` is not the client role fastapi-keycloak:reader.
    realm_reader = remember(gate.idp.mint(claims={
        "realm_access": {"roles": ["user", "reader"]},
        "resource_access": {"account": {"roles": ["view-profile"]}},
    }))
    refused(gate.gate("/reports/daily", realm_reader), 403, NOT_ENOUGH_PERMISSIONS, None)
    # The role of another client does not count either.
    other_client = remember(gate.idp.mint(claims={"resource_access": {"other-client": {"roles": ["reader"]}}}))
    refused(gate.gate("/reports/daily", other_client), 403, NOT_ENOUGH_PERMISSIONS, None)
    assert gate.upstream.hits == hits


def test_scope_and_role_location(gate):
    answer = gate.gate("/contacts/", gate.token())
    assert answer.status_code == 200, answer.text
    hits = gate.upstream.hits
    without_email_scope = remember(gate.idp.mint(claims={"scope": "openid profile"}))
    refused(gate.gate("/contacts/", without_email_scope), 403, NOT_ENOUGH_PERMISSIONS, None)
    without_user_role = remember(gate.idp.mint(user="service-bot"))
    refused(gate.gate("/contacts/", without_user_role), 403, NOT_ENOUGH_PERMISSIONS, None)
    assert gate.upstream.hits == hits


def test_unknown_path_is_a_json_404(gate):
    answer = gate.gate("/nowhere")
    assert answer.status_code == 404 and answer.json() == {"detail": "Not Found"}


# --- Failures of the gate itself --------------------------------------------------------------


def test_gate_failures_are_503_and_never_reach_the_api(tmp_path, tls_dir):
    """The provider down before discovery (the responder answers 503), then the responder
    itself down (nginx's 502 on the subrequest): both are the gate's 503, the API untouched."""
    with IdentityProvider() as issuer:
        token = remember(issuer.mint())  # well formed, so the responder needs the provider
    # `issuer` is stopped: discovery keeps failing.
    with SampleUpstream() as upstream:
        stack = GateStack(tmp_path / "gate-down", tls_dir, idp=issuer, upstream_address=upstream.address,
                          wait_for_keys=False, env={"KEYCLOAK_CONNECT_TIMEOUT_SECONDS": "1"})
        with stack:
            answer = stack.gate("/api/things", token)
            refused(answer, 503, UNAVAILABLE, None)
            checked_once(stack, answer, 503)
            answer = stack.gate("/api/things")  # no provider needed
            refused(answer, 401, NOT_AUTHENTICATED, gate_unauthenticated(origin_of(answer.request.url)))

            stack.stop_responder()
            for path in ("/api/things", "/admin/x"):
                refused(stack.gate(path, token), 503, UNAVAILABLE, None)
            assert upstream.hits == 0
