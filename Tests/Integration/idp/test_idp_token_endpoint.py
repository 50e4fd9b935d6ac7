"""The test identity provider itself (idp/mini_keycloak.py), over real HTTP: start-up, discovery
and keys; the token endpoint; refresh, logout and revocation.

Run: python3 -m pytest -q Tests/Integration/idp/test_idp_token_endpoint.py
(the `idp` and `fresh_idp` fixtures are idp/conftest.py's, the HTTP calls harness/idp_client.py's)
"""

from __future__ import annotations

import base64
import hashlib
import time
import urllib.parse

import pytest
import requests
from cryptography import x509

from harness.idp_client import ABDULLAH_ID, ALICE_PASSWORD, INVALID_CLIENT, assert_error, client_form, decode
from harness.idp_client import introspect, jwks, login, token_request, userinfo
from harness.idp_fixture import CLIENT_ID, CLIENT_SECRET, PASSWORD, USERNAME
from harness.jwt import b64url_decode
from harness.jwt import parts as unverified


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
        modulus = int.from_bytes(b64url_decode(key["n"]), "big")
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
