"""Tokens a gateway must refuse, and key rotation, through the whole stack (jwks mode unless
a test says otherwise)."""

from __future__ import annotations

import json
import time

import pytest
import requests
from joserfc import jws
from joserfc.jwk import OctKey

from harness.jwt import b64url_encode as b64
from harness.jwt import claims_of, header_of, segments

INVALID_TOKEN = b'{"detail":"Could not validate credentials"}'


@pytest.fixture
def stack(make_idp, make_stack):
    return make_stack(make_idp())


def assert_refused(stack, token: str) -> None:
    answer = stack.protected(token)
    assert answer.status_code == 401, answer.text
    assert answer.content == INVALID_TOKEN
    assert answer.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_minted_token_is_accepted(stack):
    # The control case for the refusals below: the same minting path, no override.
    answer = stack.protected(stack.idp.mint())
    assert answer.status_code == 200, answer.text


def test_token_from_another_issuer_is_refused(stack):
    assert_refused(stack, stack.idp.mint(claims={"iss": "http://127.0.0.1:1/realms/testing"}))
    assert_refused(stack, stack.idp.mint(claims={"iss": stack.idp.issuer + "/"}))


def test_expired_token_is_refused(stack):
    now = int(time.time())
    assert_refused(stack, stack.idp.mint(claims={"iat": now - 3600, "exp": now - 120}))


def test_token_within_the_clock_skew_is_accepted(stack):
    now = int(time.time())
    answer = stack.protected(stack.idp.mint(claims={"exp": now - 5}))
    assert answer.status_code == 200, answer.text


def test_token_not_yet_valid_is_refused(stack):
    assert_refused(stack, stack.idp.mint(claims={"nbf": int(time.time()) + 600}))


def test_alg_none_is_refused(stack):
    assert_refused(stack, stack.idp.mint(header={"alg": "none"}))
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64(json.dumps({"iss": stack.idp.issuer, "exp": int(time.time()) + 300,
                              "preferred_username": "abdullah", "typ": "Bearer"}).encode())
    assert_refused(stack, f"{header}.{payload}.")


def test_hs256_signed_with_the_public_key_is_refused(stack):
    # The classic key-confusion forgery: HMAC keyed with the provider's public key.
    assert_refused(stack, stack.idp.mint(header={"alg": "HS256"}))
    jwk = stack.idp.current_key()
    claims = claims_of(stack.idp.mint())
    forged = jws.serialize_compact({"alg": "HS256", "kid": jwk["kid"]}, json.dumps(claims).encode(),
                                   OctKey.import_key(json.dumps(jwk).encode()), algorithms=["HS256"])
    assert_refused(stack, forged)


def test_token_signed_with_the_encryption_key_is_refused(stack):
    assert_refused(stack, stack.idp.mint(key="enc"))


def test_tampered_payload_is_refused(stack):
    token = stack.token()
    header, _, signature = segments(token)
    claims = claims_of(token)
    claims["preferred_username"] = "admin"
    assert_refused(stack, f"{header}.{b64(json.dumps(claims).encode())}.{signature}")


def test_refresh_and_id_tokens_are_not_access_tokens(stack):
    tokens = requests.post(stack.idp.token_url, data={
        "grant_type": "password", "client_id": stack.idp.client_id, "client_secret": stack.idp.client_secret,
        "username": "abdullah", "password": "Test#123456", "scope": "openid"}, timeout=10).json()
    assert_refused(stack, tokens["refresh_token"])
    assert_refused(stack, tokens["id_token"])
    assert stack.protected(tokens["access_token"]).status_code == 200


def test_key_rotation_verifies_after_exactly_one_refetch(stack):
    old_token = stack.token()
    assert stack.protected(old_token).status_code == 200
    stack.idp.reset_stats()
    new_kid = stack.idp.rotate()
    new_token = stack.token()
    assert header_of(new_token)["kid"] == new_kid
    for _ in range(5):
        assert stack.protected(new_token).status_code == 200
    assert stack.protected(old_token).status_code == 200  # the old key stays published
    assert stack.idp.stats()["certs"] == 1


def test_unknown_kids_do_not_hammer_the_provider(stack):
    stack.idp.reset_stats()
    for index in range(20):
        assert_refused(stack, stack.idp.mint(header={"kid": f"made-up-{index}"}))
    # One refetch for the first unknown kid; the rest fall inside the 10 s rate limit.
    assert stack.idp.stats()["certs"] <= 1


@pytest.mark.parametrize("alg", ["PS256", "ES256"])
def test_other_signing_algorithms_verify(make_idp, make_stack, alg):
    stack = make_stack(make_idp(alg=alg))
    token = stack.token()
    assert header_of(token)["alg"] == alg
    assert stack.protected(token).status_code == 200


@pytest.mark.parametrize("legacy_provider,server_suffix", [(True, ""), (False, "/auth")])
def test_server_url_works_with_or_without_the_legacy_auth_prefix(make_idp, make_stack, legacy_provider, server_suffix):
    # A Keycloak 16 layout (/auth/realms/...) configured without /auth, and a Keycloak 17+
    # layout configured with the article's /auth suffix: discovery finds the right one.
    idp = make_idp(legacy_auth_prefix=legacy_provider)
    stack = make_stack(idp, env={"KEYCLOAK_SERVER_URL": idp.base_url + server_suffix + "/"})
    assert stack.protected(stack.token()).status_code == 200


@pytest.mark.parametrize("audience,status", [("fastapi-keycloak", 200), ("account", 200), ("billing-api", 401)])
def test_audience_is_checked_against_aud_or_azp_when_configured(make_idp, make_stack, audience, status):
    # Keycloak puts the client id in azp and "account" in aud.
    stack = make_stack(make_idp(), env={"AUTH_AUDIENCE": audience})
    assert stack.protected(stack.token()).status_code == status
