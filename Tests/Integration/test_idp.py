"""Tests of the test identity provider itself (idp/mini_keycloak.py), over real HTTP.

Run: python3 -m pytest -q Tests/Integration/test_idp.py
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest
import requests
from cryptography import x509
from joserfc import jws
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet, OctKey

from idp_fixture import (
    CLIENT_ID, CLIENT_SECRET, IDP_SCRIPT, PASSWORD, USERNAME, IdentityProvider, IdentityProviderError,
)

ABDULLAH_ID = "abdab22d-91b1-4c1a-b7b3-9283e17597cd"
ALICE_PASSWORD = "p&ss+w%rd é#1"
INVALID_CLIENT = "Invalid client or Invalid client credentials"
TOKEN_FAILED = {"error": "invalid_token", "error_description": "Token verification failed"}
TOKEN_FAILED_CHALLENGE = (
    'Bearer realm="testing", error="invalid_token", error_description="Token verification failed"'
)
SESSION_GONE = "User session not found or doesn't have client attached on it"


# Fixtures and helpers -------------------------------------------------------------------------


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
def fresh_idp():
    """A provider of its own, for tests that change keys or need special options."""
    started = []

    def start(**options) -> IdentityProvider:
        provider = IdentityProvider(**options).start()
        started.append(provider)
        return provider

    yield start
    for provider in started:
        provider.stop()


def token_request(provider: IdentityProvider, *, auth=None, **form) -> requests.Response:
    if auth is None:
        form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **form}
    return requests.post(provider.token_url, data=form, auth=auth, timeout=10)


def login(provider: IdentityProvider, username=USERNAME, password=PASSWORD, scope="openid") -> dict:
    answer = token_request(provider, grant_type="password", username=username, password=password, scope=scope)
    assert answer.status_code == 200, answer.text
    return answer.json()


def client_form(**form) -> dict:
    return {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **form}


def jwks(provider: IdentityProvider) -> dict:
    return requests.get(provider.certs_url, timeout=10).json()


def decode(token: str, provider: IdentityProvider) -> tuple[dict, dict]:
    """Header and claims of a token, after verifying it with the JWKS key named by its kid."""
    header = json.loads(_b64decode(token.split(".")[0]))
    keys = KeySet.import_key_set({"keys": [k for k in jwks(provider)["keys"] if k["use"] == "sig"]})
    obj = jws.deserialize_compact(token, keys.get_by_kid(header["kid"]), algorithms=[header["alg"]])
    return obj.headers(), json.loads(obj.payload)


def unverified(token: str) -> tuple[dict, dict]:
    head, payload, _ = token.split(".")
    return json.loads(_b64decode(head)), json.loads(_b64decode(payload))


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def userinfo(provider: IdentityProvider, token: str | None, method="GET") -> requests.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return requests.request(method, provider.userinfo_url, headers=headers, timeout=10)


def introspect(provider: IdentityProvider, token: str) -> dict:
    answer = requests.post(provider.introspect_url, data=client_form(token=token), timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def assert_error(answer: requests.Response, status: int, error: str, description: str) -> None:
    assert (answer.status_code, answer.json()) == (status, {"error": error, "error_description": description})
    assert answer.headers["Content-Type"] == "application/json"


# Start-up, discovery and keys -----------------------------------------------------------------


def test_ready_line_and_log_hold_no_secrets(idp):
    tokens = login(idp)
    token_request(idp, grant_type="password", username="alice", password=ALICE_PASSWORD)
    userinfo(idp, tokens["access_token"])
    log = idp.log_text()
    assert f"ready {idp.base_url}\n" in log
    assert "POST /realms/testing/protocol/openid-connect/token 200" in log
    for secret in (CLIENT_SECRET, PASSWORD, ALICE_PASSWORD, tokens["access_token"][:40],
                   tokens["refresh_token"][:40]):
        assert secret not in log


def test_discovery_document(idp):
    answer = requests.get(idp.discovery_url, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    doc = answer.json()
    oidc = f"{idp.issuer}/protocol/openid-connect"
    assert idp.issuer == f"{idp.base_url}/realms/testing"
    assert doc["issuer"] == idp.issuer
    assert doc["authorization_endpoint"] == f"{oidc}/auth"
    assert doc["token_endpoint"] == f"{oidc}/token"
    assert doc["introspection_endpoint"] == f"{oidc}/token/introspect"
    assert doc["userinfo_endpoint"] == f"{oidc}/userinfo"
    assert doc["end_session_endpoint"] == f"{oidc}/logout"
    assert doc["jwks_uri"] == f"{oidc}/certs"
    assert doc["revocation_endpoint"] == f"{oidc}/revoke"
    assert {"password", "refresh_token"} <= set(doc["grant_types_supported"])
    assert doc["id_token_signing_alg_values_supported"] == [
        "PS384", "RS384", "EdDSA", "ES384", "HS256", "HS512", "ES256",
        "RS256", "HS384", "ES512", "PS256", "PS512", "RS512",
    ]
    assert {"client_secret_basic", "client_secret_post"} <= set(doc["token_endpoint_auth_methods_supported"])
    assert "code" in doc["response_types_supported"]
    assert "public" in doc["subject_types_supported"]
    assert {"openid", "email", "profile"} <= set(doc["scopes_supported"])
    assert {"sub", "iss", "preferred_username", "email"} <= set(doc["claims_supported"])


def test_jwks_lists_the_encryption_key_first_and_a_signing_key_with_a_certificate(idp):
    keys = jwks(idp)["keys"]
    assert [(k["use"], k["alg"]) for k in keys] == [("enc", "RSA-OAEP"), ("sig", "RS256")]
    for key in keys:
        assert key["kty"] == "RSA" and key["e"] == "AQAB" and key["kid"]
        der = base64.b64decode(key["x5c"][0])
        assert key["x5t"] == base64.urlsafe_b64encode(hashlib.sha1(der).digest()).rstrip(b"=").decode()
        assert key["x5t#S256"] == base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
        certificate = x509.load_der_x509_certificate(der)
        modulus = int.from_bytes(_b64decode(key["n"]), "big")
        assert certificate.public_key().public_numbers().n == modulus
        assert "d" not in key and "p" not in key
    assert keys[0]["kid"] != keys[1]["kid"]
    assert idp.current_key() == keys[1]


# Token endpoint -------------------------------------------------------------------------------


def test_password_grant_answers_keycloaks_shape(idp):
    answer = token_request(idp, grant_type="password", username=USERNAME, password=PASSWORD, scope="openid")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.json()
    assert list(body) == ["access_token", "expires_in", "refresh_expires_in", "refresh_token", "token_type",
                          "id_token", "not-before-policy", "session_state", "scope"]
    assert (body["expires_in"], body["refresh_expires_in"], body["token_type"], body["not-before-policy"],
            body["scope"]) == (300, 1800, "Bearer", 0, "openid email profile")


def test_access_token_header_and_claims(idp):
    body = login(idp)
    header, claims = decode(body["access_token"], idp)
    assert header == {"alg": "RS256", "typ": "JWT", "kid": idp.current_key()["kid"]}
    assert list(claims) == [
        "exp", "iat", "jti", "iss", "aud", "sub", "typ", "azp", "sid", "acr", "allowed-origins",
        "realm_access", "resource_access", "scope", "email_verified", "name", "preferred_username",
        "given_name", "family_name", "email",
    ]
    assert claims["exp"] - claims["iat"] == 300
    assert abs(claims["iat"] - time.time()) < 5
    assert claims["iss"] == idp.issuer
    # aud: the client's own Audience mapper, then Audience Resolve (clients whose roles the
    # user holds, never the token's own client).
    assert (claims["aud"], claims["sub"], claims["typ"], claims["azp"], claims["acr"]) == (
        [CLIENT_ID, "account"], ABDULLAH_ID, "Bearer", CLIENT_ID, "1")
    assert claims["sid"] == body["session_state"]
    # Roles are sets in Keycloak: compare as sets; default-roles-testing expands to its composites.
    assert set(claims["realm_access"]["roles"]) == {"default-roles-testing", "offline_access", "uma_authorization",
                                                     "user"}
    assert {client: set(access["roles"]) for client, access in claims["resource_access"].items()} == {
        CLIENT_ID: {"reader"},
        "account": {"manage-account", "manage-account-links", "view-profile"},
    }
    assert claims["scope"] == "openid email profile"
    assert (claims["email_verified"], claims["name"], claims["preferred_username"], claims["given_name"],
            claims["family_name"], claims["email"]) == (
        True, "Abdullah Alqahtani", "abdullah", "Abdullah", "Alqahtani", "abdullah@example.com")


def test_refresh_and_id_tokens(idp):
    body = login(idp)
    refresh_header, refresh = unverified(body["refresh_token"])
    assert refresh_header["alg"] == "HS512" and refresh_header["typ"] == "JWT"
    assert (refresh["typ"], refresh["aud"], refresh["iss"], refresh["sid"], refresh["azp"]) == (
        "Refresh", idp.issuer, idp.issuer, body["session_state"], CLIENT_ID)
    assert refresh["exp"] - refresh["iat"] == 1800

    id_header, id_claims = decode(body["id_token"], idp)
    assert id_header["alg"] == "RS256" and id_header["typ"] == "JWT"
    assert (id_claims["typ"], id_claims["aud"], id_claims["azp"], id_claims["sub"], id_claims["iss"]) == (
        "ID", CLIENT_ID, CLIENT_ID, ABDULLAH_ID, idp.issuer)
    digest = hashlib.sha256(body["access_token"].encode()).digest()
    assert id_claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    assert id_claims["email"] == "abdullah@example.com" and id_claims["name"] == "Abdullah Alqahtani"


def test_without_openid_scope_there_is_no_id_token(idp):
    body = login(idp, scope="")
    assert body["scope"] == "email profile" and "id_token" not in body
    assert unverified(body["access_token"])[1]["scope"] == "email profile"


def test_password_that_needs_form_encoding(idp):
    body = login(idp, username="alice", password=ALICE_PASSWORD)
    claims = decode(body["access_token"], idp)[1]
    assert claims["preferred_username"] == "alice"
    assert "admin" in claims["realm_access"]["roles"]
    assert set(claims["resource_access"][CLIENT_ID]["roles"]) == {"reader", "admin"}
    # The raw '+' and '&' unencoded would change the password: this must fail.
    raw = f"grant_type=password&username=alice&password={ALICE_PASSWORD}&client_id={CLIENT_ID}" \
          f"&client_secret={urllib.parse.quote(CLIENT_SECRET)}"
    answer = requests.post(idp.token_url, data=raw.encode(), timeout=10,
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(answer, 401, "invalid_grant", "Invalid user credentials")


def test_profile_optional_user_has_no_name_or_email(idp):
    body = login(idp, username="service-bot", password="Bot#12345")
    claims = decode(body["access_token"], idp)[1]
    assert claims["preferred_username"] == "service-bot"
    assert not {"name", "given_name", "family_name", "email"} & set(claims)
    info = userinfo(idp, body["access_token"])
    assert info.json() == {"sub": claims["sub"], "email_verified": False, "preferred_username": "service-bot"}


def test_http_basic_client_authentication_is_form_decoded(idp):
    basic = (urllib.parse.quote_plus(CLIENT_ID), urllib.parse.quote_plus(CLIENT_SECRET))
    assert ":" in CLIENT_SECRET and "%" in CLIENT_SECRET
    answer = token_request(idp, auth=basic, grant_type="password", username=USERNAME, password=PASSWORD)
    assert answer.status_code == 200, answer.text
    wrong = token_request(idp, auth=(CLIENT_ID, "wrong"), grant_type="password", username=USERNAME,
                          password=PASSWORD)
    assert_error(wrong, 401, "unauthorized_client", INVALID_CLIENT)
    unknown = token_request(idp, auth=("nobody", "x"), grant_type="password", username=USERNAME,
                            password=PASSWORD)
    assert_error(unknown, 401, "invalid_client", INVALID_CLIENT)


TOKEN_ERRORS = [
    ("wrong password", {"username": USERNAME, "password": "nope"}, 401, "invalid_grant", "Invalid user credentials"),
    ("unknown user", {"username": "ghost", "password": "x"}, 401, "invalid_grant", "Invalid user credentials"),
    ("missing password", {"username": USERNAME}, 401, "invalid_grant", "Invalid user credentials"),
    ("disabled", {"username": "disabled", "password": "Disabled#1"}, 400, "invalid_grant", "Account disabled"),
    ("incomplete", {"username": "incomplete", "password": "Incomplete#1"}, 400, "invalid_grant",
     "Account is not fully set up"),
    ("missing username", {"password": PASSWORD}, 401, "invalid_request", "Missing parameter: username"),
    ("wrong secret", {"client_secret": "wrong", "username": USERNAME, "password": PASSWORD}, 401,
     "unauthorized_client", INVALID_CLIENT),
    ("missing secret", {"client_secret": None, "username": USERNAME, "password": PASSWORD}, 401,
     "unauthorized_client", INVALID_CLIENT),
    ("unknown client", {"client_id": "other", "username": USERNAME, "password": PASSWORD}, 401,
     "invalid_client", INVALID_CLIENT),
    ("unsupported grant", {"grant_type": "client_credentials"}, 400, "unsupported_grant_type",
     "Unsupported grant_type"),
    ("missing grant", {"grant_type": None}, 400, "invalid_request", "Missing form parameter: grant_type"),
]


@pytest.mark.parametrize("case, form, status, error, description", TOKEN_ERRORS, ids=[c[0] for c in TOKEN_ERRORS])
def test_token_errors(idp, case, form, status, error, description):
    full = {"grant_type": "password", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **form}
    data = {k: v for k, v in full.items() if v is not None}
    answer = requests.post(idp.token_url, data=data, timeout=10)
    assert_error(answer, status, error, description)


def test_invalid_grant_status_400(fresh_idp):
    provider = fresh_idp(invalid_grant_status=400)
    answer = token_request(provider, grant_type="password", username=USERNAME, password="wrong")
    assert_error(answer, 400, "invalid_grant", "Invalid user credentials")


# Refresh, logout, revocation --------------------------------------------------------------------


def test_refresh_grant_keeps_the_session(idp):
    body = login(idp)
    answer = token_request(idp, grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert answer.status_code == 200, answer.text
    again = answer.json()
    assert again["session_state"] == body["session_state"] and "id_token" in again
    assert again["access_token"] != body["access_token"]
    assert decode(again["access_token"], idp)[1]["sid"] == body["session_state"]


def test_refresh_errors(idp):
    bad = token_request(idp, grant_type="refresh_token", refresh_token="not.a.token")
    assert_error(bad, 400, "invalid_grant", "Invalid refresh token")
    access = login(idp)["access_token"]  # a signed token, but not a refresh token
    assert_error(token_request(idp, grant_type="refresh_token", refresh_token=access),
                 400, "invalid_grant", "Invalid refresh token")
    missing = token_request(idp, grant_type="refresh_token")
    assert_error(missing, 400, "invalid_request", "Missing parameter: refresh_token")


def test_logout_ends_the_session(idp):
    body = login(idp)
    answer = requests.post(idp.logout_url, data=client_form(refresh_token=body["refresh_token"]), timeout=10)
    assert answer.status_code == 204 and answer.content == b""
    assert_error(token_request(idp, grant_type="refresh_token", refresh_token=body["refresh_token"]),
                 400, "invalid_grant", "Session not active")
    assert userinfo(idp, body["access_token"]).status_code == 401
    assert introspect(idp, body["access_token"]) == {"active": False}
    # LogoutEndpoint.logoutToken(): the session is ended only if it still exists; 204 either way.
    again = requests.post(idp.logout_url, data=client_form(refresh_token=body["refresh_token"]), timeout=10)
    assert again.status_code == 204 and again.content == b""


def test_logout_errors(idp):
    # Without refresh_token Keycloak runs the browser's RP-initiated logout: its page, not JSON.
    missing = requests.post(idp.logout_url, data=client_form(), timeout=10)
    assert missing.status_code == 200 and missing.headers["Content-Type"].startswith("text/html")
    assert b"Do you want to log out?" in missing.content
    bad = requests.post(idp.logout_url, data=client_form(refresh_token="garbage"), timeout=10)
    assert_error(bad, 400, "invalid_grant", "Invalid refresh token")
    empty = requests.post(idp.logout_url, data=client_form(refresh_token=""), timeout=10)
    assert_error(empty, 400, "invalid_grant", "Invalid refresh token")
    body = login(idp)
    unauthenticated = requests.post(idp.logout_url, data={"client_id": CLIENT_ID,
                                                          "refresh_token": body["refresh_token"]}, timeout=10)
    assert_error(unauthenticated, 401, "unauthorized_client", INVALID_CLIENT)


def test_logout_with_basic_auth(idp):
    body = login(idp)
    basic = (urllib.parse.quote_plus(CLIENT_ID), urllib.parse.quote_plus(CLIENT_SECRET))
    answer = requests.post(idp.logout_url, data={"refresh_token": body["refresh_token"]}, auth=basic, timeout=10)
    assert answer.status_code == 204


def test_revoke_refresh_token_ends_the_session(idp):
    body = login(idp)
    answer = requests.post(idp.revoke_url, data=client_form(token=body["refresh_token"],
                                                            token_type_hint="refresh_token"), timeout=10)
    assert answer.status_code == 200
    assert userinfo(idp, body["access_token"]).status_code == 401
    assert_error(token_request(idp, grant_type="refresh_token", refresh_token=body["refresh_token"]),
                 400, "invalid_grant", "Session not active")


def test_revoke_access_token_and_unknown_tokens(idp):
    body = login(idp)
    answer = requests.post(idp.revoke_url, data=client_form(token=body["access_token"]), timeout=10)
    assert answer.status_code == 200
    assert introspect(idp, body["access_token"]) == {"active": False}
    assert token_request(idp, grant_type="refresh_token", refresh_token=body["refresh_token"]).status_code == 200
    assert requests.post(idp.revoke_url, data=client_form(token="junk"), timeout=10).status_code == 200
    assert_error(requests.post(idp.revoke_url, data={"token": "junk"}, timeout=10),
                 401, "invalid_client", INVALID_CLIENT)


# Userinfo ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_userinfo(idp, method):
    body = login(idp)
    answer = userinfo(idp, body["access_token"], method)
    assert answer.status_code == 200
    assert answer.json() == {
        "sub": ABDULLAH_ID, "email_verified": True, "name": "Abdullah Alqahtani",
        "preferred_username": "abdullah", "given_name": "Abdullah", "family_name": "Alqahtani",
        "email": "abdullah@example.com",
    }
    assert list(answer.json())[0] == "sub"


def _userinfo_rejects(provider, token):
    answer = userinfo(provider, token)
    assert (answer.status_code, answer.json()) == (401, TOKEN_FAILED)
    assert answer.headers["WWW-Authenticate"] == TOKEN_FAILED_CHALLENGE


def test_userinfo_rejects_missing_garbage_and_non_access_tokens(idp):
    body = login(idp)
    for token in (None, "", "garbage", "a.b.c", body["refresh_token"], body["id_token"]):
        _userinfo_rejects(idp, token)
    answer = requests.get(idp.userinfo_url, headers={"Authorization": f"Basic {body['access_token']}"}, timeout=10)
    assert answer.status_code == 401


@pytest.mark.parametrize("claims, header, key", [
    ({"exp": 1000}, {}, "current"),
    ({"nbf": 4_000_000_000}, {}, "current"),
    ({"iss": "http://elsewhere/realms/testing"}, {}, "current"),
    ({"typ": "ID"}, {}, "current"),
    ({}, {}, "enc"),
    ({}, {"kid": "unknown"}, "current"),
    ({}, {"alg": "none"}, "current"),
    ({}, {"alg": "HS256"}, "current"),
], ids=["expired", "not-yet-valid", "foreign-issuer", "wrong-typ", "enc-key", "unknown-kid", "alg-none",
        "alg-confusion"])
def test_userinfo_rejects_forged_and_invalid_tokens(idp, claims, header, key):
    _userinfo_rejects(idp, idp.mint(claims=claims, header=header, key=key))


def test_userinfo_without_openid_scope_is_403(idp):
    answer = userinfo(idp, login(idp, scope="profile")["access_token"])
    assert answer.status_code == 403
    assert answer.json() == {"error": "insufficient_scope", "error_description": "Missing openid scope"}
    assert answer.headers["WWW-Authenticate"] == (
        'Bearer realm="testing", error="insufficient_scope", error_description="Missing openid scope"')


def test_userinfo_after_the_session_ended(idp):
    token = login(idp)["access_token"]
    assert idp.clear_sessions() >= 1
    answer = userinfo(idp, token)
    assert (answer.status_code, answer.json()["error"], answer.json()["error_description"]) == (
        401, "invalid_token", SESSION_GONE)


# Introspection ----------------------------------------------------------------------------------


def test_introspection_active_token(idp):
    body = login(idp)
    claims = decode(body["access_token"], idp)[1]
    answer = introspect(idp, body["access_token"])
    assert answer == {**claims, "client_id": CLIENT_ID, "username": "abdullah", "token_type": "Bearer",
                      "active": True}


def test_introspection_inactive_and_unauthenticated(idp):
    assert introspect(idp, "garbage") == {"active": False}
    assert introspect(idp, idp.mint(claims={"exp": 1000})) == {"active": False}
    token = login(idp)["access_token"]
    assert_error(requests.post(idp.introspect_url, data={"token": token}, timeout=10),
                 401, "invalid_client", INVALID_CLIENT)
    assert_error(requests.post(idp.introspect_url, data={"token": token, "client_id": CLIENT_ID,
                                                         "client_secret": "x"}, timeout=10),
                 401, "unauthorized_client", INVALID_CLIENT)
    assert_error(requests.post(idp.introspect_url, data=client_form(), timeout=10),
                 400, "invalid_request", "Token not provided.")


# Plain HTTP behaviour -----------------------------------------------------------------------------


def test_unknown_paths(idp):
    answer = requests.get(f"{idp.local_url}/nothing/here", timeout=10)
    assert answer.status_code == 404
    assert answer.json() == {"error": "Unable to find matching target resource method",
                             "error_description": "For more on this error consult the server log."}
    other_realm = requests.get(f"{idp.local_url}/realms/other/.well-known/openid-configuration", timeout=10)
    assert (other_realm.status_code, other_realm.json()["error"]) == (404, "Realm does not exist")
    wrong_method = requests.get(idp.token_url, timeout=10)
    assert wrong_method.status_code == 405 and wrong_method.headers["Allow"] == "POST"


def test_oversized_body_is_refused(idp):
    answer = requests.post(idp.token_url, data=b"x" * (1024 * 1024 + 1), timeout=10,
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 413


def test_keep_alive_reuses_the_connection_without_delay(idp):
    connection = http.client.HTTPConnection("127.0.0.1", idp.port, timeout=10)
    path = urllib.parse.urlsplit(idp.discovery_url).path
    connection.request("GET", path)
    first = connection.getresponse()
    first.read()
    socket_used = connection.sock
    started = time.perf_counter()
    for _ in range(20):
        connection.request("GET", path)
        answer = connection.getresponse()
        assert int(answer.headers["Content-Length"]) == len(answer.read())
    elapsed = time.perf_counter() - started
    assert connection.sock is socket_used  # same TCP connection for every request
    assert elapsed < 0.4, f"20 keep-alive requests took {elapsed:.3f}s (Nagle/delayed ACK?)"
    connection.close()


# Admin API: rotation, faults, stats, mint ----------------------------------------------------------


def test_rotation_keeps_then_drops_old_keys(fresh_idp):
    provider = fresh_idp()
    old_kid = provider.current_key()["kid"]
    old_token = login(provider)["access_token"]
    new_kid = provider.rotate()
    assert new_kid != old_kid and provider.current_key()["kid"] == new_kid
    sig = [k["kid"] for k in jwks(provider)["keys"] if k["use"] == "sig"]
    assert sig == [new_kid, old_kid] and jwks(provider)["keys"][0]["use"] == "enc"
    assert unverified(login(provider)["access_token"])[0]["kid"] == new_kid
    assert userinfo(provider, old_token).status_code == 200  # passive keys still verify

    newest = provider.rotate(drop_old=True)
    assert [k["kid"] for k in jwks(provider)["keys"] if k["use"] == "sig"] == [newest]
    _userinfo_rejects(provider, old_token)


def test_fault_html(idp):
    idp.fault("certs", "html")
    answer = requests.get(idp.certs_url, timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        answer.json()
    assert requests.get(idp.discovery_url, timeout=10).json()["issuer"] == idp.issuer  # other endpoints fine


def test_fault_truncated(idp):
    idp.fault("discovery", "truncated")
    answer = requests.get(idp.discovery_url, timeout=10)
    assert answer.status_code == 200
    assert int(answer.headers["Content-Length"]) == len(answer.content) > 100
    with pytest.raises(ValueError):
        json.loads(answer.content)


def test_fault_status500(idp):
    idp.fault("token", "status500")
    answer = token_request(idp, grant_type="password", username=USERNAME, password=PASSWORD)
    assert answer.status_code == 500 and answer.headers["Content-Type"].startswith("text/html")


def test_fault_huge(idp):
    idp.fault("userinfo", "huge")
    answer = userinfo(idp, "anything")
    assert answer.status_code == 200 and len(answer.content) >= 5 * 1024 * 1024
    assert answer.content.startswith(b'{"')


def test_fault_on_every_endpoint(idp):
    idp.fault("*", "status500")
    assert requests.get(idp.discovery_url, timeout=10).status_code == 500
    assert requests.get(idp.certs_url, timeout=10).status_code == 500
    idp.fault("*", "none")
    assert requests.get(idp.certs_url, timeout=10).status_code == 200


def test_fault_hang_times_out_and_ends_when_cleared(idp):
    idp.fault("certs", "hang", seconds=30)
    with pytest.raises(requests.Timeout):
        requests.get(idp.certs_url, timeout=0.3)
    results = []
    waiter = threading.Thread(target=lambda: results.append(requests.get(idp.certs_url, timeout=20)))
    started = time.monotonic()
    waiter.start()
    time.sleep(0.3)
    assert not results
    idp.fault("certs", "none")
    waiter.join(10)
    assert results and results[0].status_code == 200 and time.monotonic() - started < 5


def test_fault_hang_answers_normally_after_its_time(idp):
    idp.fault("discovery", "hang", seconds=0.5)
    started = time.monotonic()
    answer = requests.get(idp.discovery_url, timeout=10)
    assert answer.status_code == 200 and answer.json()["issuer"] == idp.issuer
    assert time.monotonic() - started >= 0.5


def test_admin_rejects_bad_requests(idp):
    with pytest.raises(IdentityProviderError, match="400"):
        idp.fault("nowhere", "html")
    with pytest.raises(IdentityProviderError, match="400"):
        idp.fault("token", "explode")
    with pytest.raises(IdentityProviderError, match="400"):
        idp.mint(user="ghost")
    with pytest.raises(IdentityProviderError, match="404"):
        idp.admin("nothing")


def test_stats_count_and_reset(idp):
    idp.reset_stats()
    assert set(idp.stats().values()) == {0}
    requests.get(idp.discovery_url, timeout=10)
    requests.get(idp.certs_url, timeout=10)
    requests.get(idp.certs_url, timeout=10)
    login(idp)
    stats = idp.stats()
    assert (stats["discovery"], stats["certs"], stats["token"], stats["userinfo"]) == (1, 2, 1, 0)
    assert set(stats) == {"discovery", "certs", "token", "userinfo", "introspect", "logout", "revoke"}
    idp.reset_stats()
    assert idp.stats()["certs"] == 0


def test_mint_applies_overrides(idp):
    token = idp.mint(claims={"aud": ["account", CLIENT_ID], "email": None, "custom": 1},
                     header={"kid": "other-kid", "typ": "at+jwt"})
    header, claims = unverified(token)
    assert header == {"alg": "RS256", "typ": "at+jwt", "kid": "other-kid"}
    assert claims["aud"] == ["account", CLIENT_ID] and claims["custom"] == 1 and "email" not in claims
    assert claims["preferred_username"] == "abdullah" and claims["iss"] == idp.issuer

    header, claims = decode(idp.mint(), idp)  # defaults: a valid token in a live session
    assert header["kid"] == idp.current_key()["kid"]
    assert userinfo(idp, idp.mint()).status_code == 200


def test_mint_with_the_encryption_key_and_forged_algorithms(idp):
    enc = jwks(idp)["keys"][0]
    token = idp.mint(key="enc")
    header, _ = unverified(token)
    assert header["kid"] == enc["kid"] and header["alg"] == "RS256"
    enc_key = KeySet.import_key_set({"keys": [{k: v for k, v in enc.items() if k not in ("use", "alg")}]})
    jws.deserialize_compact(token, enc_key.keys[0], algorithms=["RS256"])  # really signed by the enc key

    unsigned = idp.mint(header={"alg": "none"})
    assert unsigned.endswith(".") and unverified(unsigned)[0]["alg"] == "none"

    confused = idp.mint(header={"alg": "HS256"})
    pem = KeySet.import_key_set({"keys": [idp.current_key()]}).keys[0].as_pem(private=False)
    with pytest.warns(SecurityWarning):  # joserfc rightly objects to a PEM as an HMAC secret
        hmac_key = OctKey.import_key(pem)
    jws.deserialize_compact(confused, hmac_key, algorithms=["HS256"])


# Options ----------------------------------------------------------------------------------------


def test_legacy_auth_prefix(fresh_idp):
    provider = fresh_idp(legacy_auth_prefix=True)
    assert provider.issuer == f"{provider.base_url}/auth/realms/testing"
    doc = requests.get(provider.discovery_url, timeout=10).json()
    assert doc["token_endpoint"] == f"{provider.base_url}/auth/realms/testing/protocol/openid-connect/token"
    body = login(provider)
    assert decode(body["access_token"], provider)[1]["iss"] == provider.issuer
    assert userinfo(provider, body["access_token"]).status_code == 200
    unprefixed = requests.get(f"{provider.base_url}/realms/testing/.well-known/openid-configuration", timeout=10)
    assert unprefixed.status_code == 404


def test_public_url_pins_the_issuer(fresh_idp):
    provider = fresh_idp(public_url="http://keycloak.test:8080/")
    assert provider.base_url == "http://keycloak.test:8080"
    assert provider.issuer == "http://keycloak.test:8080/realms/testing"
    doc = requests.get(provider.discovery_url, timeout=10).json()
    assert doc["jwks_uri"] == "http://keycloak.test:8080/realms/testing/protocol/openid-connect/certs"
    assert unverified(login(provider)["access_token"])[1]["iss"] == provider.issuer


@pytest.mark.parametrize("alg, kty", [("ES256", "EC"), ("PS256", "RSA")])
def test_other_signing_algorithms(fresh_idp, alg, kty):
    provider = fresh_idp(alg=alg)
    sig = [k for k in jwks(provider)["keys"] if k["use"] == "sig"]
    assert [(k["alg"], k["kty"]) for k in sig] == [(alg, kty)] and sig[0]["x5c"]
    if kty == "EC":
        assert sig[0]["crv"] == "P-256" and {"x", "y"} <= set(sig[0])
    body = login(provider)
    header, claims = decode(body["access_token"], provider)
    assert header["alg"] == alg and claims["typ"] == "Bearer"
    assert decode(body["id_token"], provider)[1]["typ"] == "ID"
    assert userinfo(provider, body["access_token"]).status_code == 200


def test_access_token_lifespan(fresh_idp):
    provider = fresh_idp(access_token_lifespan=60)
    body = login(provider)
    claims = unverified(body["access_token"])[1]
    assert body["expires_in"] == 60 and claims["exp"] - claims["iat"] == 60


def test_client_secret_flag_wins_over_environment(fresh_idp):
    provider = fresh_idp(extra_args=("--client-secret", "from-the-flag"))
    form = {"grant_type": "password", "username": USERNAME, "password": PASSWORD, "client_id": CLIENT_ID}
    assert requests.post(provider.token_url, data={**form, "client_secret": "from-the-flag"},
                         timeout=10).status_code == 200
    assert requests.post(provider.token_url, data={**form, "client_secret": CLIENT_SECRET},
                         timeout=10).status_code == 401


def test_missing_client_secret_is_a_usage_error():
    env = {k: v for k, v in os.environ.items() if k != "IDP_CLIENT_SECRET"}
    result = subprocess.run([sys.executable, str(IDP_SCRIPT), "--port", "0"], env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "client secret is required" in result.stderr


def _non_loopback_address() -> str | None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a source address
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


def test_admin_answers_loopback_clients_only(fresh_idp):
    address = _non_loopback_address()
    if address is None:
        pytest.skip("no non-loopback IPv4 address on this machine")
    provider = fresh_idp(host="0.0.0.0")
    remote = f"http://{address}:{provider.port}"
    assert requests.get(f"{remote}/realms/testing/protocol/openid-connect/certs", timeout=10).status_code == 200
    answer = requests.get(f"{remote}/_admin/stats", timeout=10)
    assert answer.status_code == 403
    assert provider.stats()["certs"] == 1  # the loopback caller is served


def test_sigterm_during_a_hang_exits_0(fresh_idp):
    provider = fresh_idp()
    provider.fault("token", "hang", seconds=60)
    outcome = []

    def hanging_login():
        try:
            outcome.append(token_request(provider, grant_type="password", username=USERNAME,
                                         password=PASSWORD).status_code)
        except requests.RequestException as error:
            outcome.append(type(error).__name__)

    client = threading.Thread(target=hanging_login)
    client.start()
    deadline = time.monotonic() + 5
    while provider.stats()["token"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    provider.process.send_signal(signal.SIGTERM)
    assert provider.process.wait(5) == 0
    assert time.monotonic() - started < 3
    client.join(5)
    assert outcome == ["ConnectionError"]  # the connection was closed, not answered
