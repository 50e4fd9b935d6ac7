"""Beyond the seed: refresh and logout, introspection, the verified-token cache, and roles."""

from __future__ import annotations

import time

import pytest

from harness.jwt import claims_of
from harness.openapi_contract import assert_response_matches

DEAD_REFRESH = b'{"detail":"Invalid or expired refresh token"}'
INVALID_TOKEN = b'{"detail":"Could not validate credentials"}'
FORBIDDEN = b'{"detail":"Not enough permissions"}'


def checked(response, method, path):
    assert_response_matches(method, path, response.status_code, response.headers, response.content)
    return response


@pytest.fixture
def stack(make_idp, make_stack):
    return make_stack(make_idp())


def test_refresh_returns_a_new_token_set_in_the_login_shape(stack):
    tokens = stack.login("abdullah", "Test#123456").json()
    answer = checked(stack.post("/refresh", data={"refresh_token": tokens["refresh_token"]}), "POST", "/refresh")
    assert answer.status_code == 200, answer.text
    fresh = answer.json()
    assert list(fresh)[:2] == ["access_token", "token_type"] and fresh["token_type"] == "bearer"
    assert fresh["access_token"] != tokens["access_token"]
    assert claims_of(fresh["access_token"])["sid"] == claims_of(tokens["access_token"])["sid"]
    assert stack.protected(fresh["access_token"]).status_code == 200


def test_refresh_errors(stack):
    missing = checked(stack.post("/refresh", data={}), "POST", "/refresh")
    assert missing.status_code == 422
    assert missing.content == b'{"detail":[{"type":"missing","loc":["body","refresh_token"],"msg":"Field required","input":null}]}'
    dead = checked(stack.post("/refresh", data={"refresh_token": "not-a-refresh-token"}), "POST", "/refresh")
    assert dead.status_code == 401 and dead.content == DEAD_REFRESH
    access_token = stack.token()
    assert stack.post("/refresh", data={"refresh_token": access_token}).status_code == 401


def test_logout_ends_the_session(stack):
    tokens = stack.login("abdullah", "Test#123456").json()
    answer = checked(stack.post("/logout", data={"refresh_token": tokens["refresh_token"]}), "POST", "/logout")
    assert answer.status_code == 204 and answer.content == b""
    again = stack.post("/refresh", data={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 401 and again.content == DEAD_REFRESH
    # Idempotent, as Keycloak's logout is (LogoutEndpoint.logoutToken(): 204 for an ended session).
    twice = checked(stack.post("/logout", data={"refresh_token": tokens["refresh_token"]}), "POST", "/logout")
    assert twice.status_code == 204 and twice.content == b""


def test_logout_with_a_bearer_checks_it_belongs_to_the_session(stack):
    mine = stack.login("abdullah", "Test#123456").json()
    other = stack.login("alice", "p&ss+w%rd é#1").json()
    refused = checked(stack.post("/logout", data={"refresh_token": mine["refresh_token"]},
                                 headers={"Authorization": f"Bearer {other['access_token']}"}), "POST", "/logout")
    assert refused.status_code == 401 and refused.content == INVALID_TOKEN
    forged = stack.post("/logout", data={"refresh_token": mine["refresh_token"]}, headers={"Authorization": "Bearer x.y.z"})
    assert forged.status_code == 401
    # The session survived both refusals.
    assert stack.post("/refresh", data={"refresh_token": mine["refresh_token"]}).status_code == 200
    ok = stack.post("/logout", data={"refresh_token": mine["refresh_token"]},
                    headers={"Authorization": f"Bearer {mine['access_token']}"})
    assert ok.status_code == 204


def test_logout_when_the_provider_is_down_is_503(make_idp, make_stack):
    idp = make_idp()
    stack = make_stack(idp, env={"KEYCLOAK_TIMEOUT_SECONDS": "2"})
    tokens = stack.login("abdullah", "Test#123456").json()
    idp.fault("logout", "hang", seconds=30)
    assert stack.post("/logout", data={"refresh_token": tokens["refresh_token"]}).status_code == 503
    idp.fault("logout", "status500")
    assert stack.post("/logout", data={"refresh_token": tokens["refresh_token"]}).status_code == 502


def test_introspection_mode_refuses_a_logged_out_token_at_once(make_idp, make_stack):
    idp = make_idp()
    stack = make_stack(idp, env={"AUTH_VERIFY": "introspect", "AUTH_INTROSPECTION_TTL_SECONDS": "0"})
    tokens = stack.login("abdullah", "Test#123456").json()
    assert stack.protected(tokens["access_token"]).status_code == 200
    assert stack.post("/logout", data={"refresh_token": tokens["refresh_token"]}).status_code == 204
    answer = stack.protected(tokens["access_token"])
    assert answer.status_code == 401 and answer.content == INVALID_TOKEN


def test_jwks_mode_keeps_accepting_a_logged_out_token_until_it_expires(stack):
    # Documented limitation: a signature cannot be revoked; use introspect mode for that.
    tokens = stack.login("abdullah", "Test#123456").json()
    assert stack.post("/logout", data={"refresh_token": tokens["refresh_token"]}).status_code == 204
    assert stack.protected(tokens["access_token"]).status_code == 200


def test_introspection_answers_are_cached_within_the_ttl(make_idp, make_stack):
    idp = make_idp()
    stack = make_stack(idp, env={"AUTH_VERIFY": "introspect", "AUTH_INTROSPECTION_TTL_SECONDS": "2"})
    tokens = stack.login("abdullah", "Test#123456").json()
    idp.reset_stats()
    for _ in range(5):
        assert stack.protected(tokens["access_token"]).status_code == 200
    assert idp.stats()["introspect"] == 1
    assert stack.post("/logout", data={"refresh_token": tokens["refresh_token"]}).status_code == 204
    assert stack.protected(tokens["access_token"]).status_code == 200  # still cached (≤ 2 s)
    time.sleep(2.2)
    assert stack.protected(tokens["access_token"]).status_code == 401
    assert stack.protected(tokens["access_token"]).status_code == 401  # the inactive answer is cached briefly
    assert idp.stats()["introspect"] == 2


def test_introspection_refuses_refresh_and_foreign_tokens(make_idp, make_stack):
    idp = make_idp()
    stack = make_stack(idp, env={"AUTH_VERIFY": "introspect"})
    tokens = stack.login("abdullah", "Test#123456").json()
    assert stack.protected(tokens["refresh_token"]).status_code == 401
    assert stack.protected(idp.mint(claims={"iss": "https://elsewhere/realms/testing"})).status_code == 401


def metric_value(stack, name: str, **labels: str) -> float:
    import re
    import requests
    text = requests.get(stack.internal_url("/metrics"), timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + "{"):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_verified_token_cache_takes_repeats_off_the_signature_path(stack):
    token = stack.token()
    for _ in range(10):
        assert stack.protected(token).status_code == 200
    assert metric_value(stack, "keycloak_fcgi_token_cache_lookups_total", result="miss") == 1
    assert metric_value(stack, "keycloak_fcgi_token_cache_lookups_total", result="hit") == 9


def test_cached_verdict_never_outlives_exp(make_idp, make_stack):
    idp = make_idp()
    stack = make_stack(idp, env={"AUTH_CLOCK_SKEW_SECONDS": "0"})
    token = idp.mint(claims={"exp": int(time.time()) + 2})
    assert stack.protected(token).status_code == 200
    assert stack.protected(token).status_code == 200  # from the cache
    time.sleep(2.5)
    answer = stack.protected(token)
    assert answer.status_code == 401 and answer.content == INVALID_TOKEN


def test_a_key_withdrawn_from_the_jwks_evicts_what_it_verified(make_idp, make_stack):
    idp = make_idp()
    stack = make_stack(idp)
    old = stack.token()
    assert stack.protected(old).status_code == 200  # verified and cached
    idp.rotate(drop_old=True)
    new = stack.token()
    assert stack.protected(new).status_code == 200  # unknown kid → refetch; the old kid is gone
    answer = stack.protected(old)
    assert answer.status_code == 401 and answer.content == INVALID_TOKEN


def test_without_the_cache_every_request_verifies(make_idp, make_stack):
    stack = make_stack(make_idp(), env={"AUTH_TOKEN_CACHE_SIZE": "0"})
    token = stack.token()
    for _ in range(3):
        assert stack.protected(token).status_code == 200
    assert metric_value(stack, "keycloak_fcgi_token_cache_lookups_total", result="hit") == 0


@pytest.mark.parametrize("roles,scopes,user,status", [
    ("admin", "", ("abdullah", "Test#123456"), 403),
    ("admin", "", ("alice", "p&ss+w%rd é#1"), 200),
    ("user fastapi-keycloak:reader", "", ("abdullah", "Test#123456"), 200),
    ("fastapi-keycloak:admin", "", ("abdullah", "Test#123456"), 403),
    ("", "email profile", ("abdullah", "Test#123456"), 200),
    ("", "payments", ("abdullah", "Test#123456"), 403),
])
def test_required_roles_and_scopes_for_protected(make_idp, make_stack, roles, scopes, user, status):
    stack = make_stack(make_idp(), env={"AUTH_REQUIRED_ROLES": roles, "AUTH_REQUIRED_SCOPES": scopes})
    answer = checked(stack.protected(stack.token(*user)), "GET", "/protected")
    assert answer.status_code == status, answer.text
    if status == 403:
        assert answer.content == FORBIDDEN
    assert stack.protected("bad.token.here").status_code == 401  # bad tokens stay 401
