"""Every row of seed-contract.md through TLS nginx, the release binary and a real OIDC server
process, in every verification mode (`jwks`, `userinfo`, `introspect`). Each live response is
also checked against the OpenAPI document."""

from __future__ import annotations

import json

import pytest

from harness.openapi_contract import assert_response_matches

WELCOME = (b'{"message":"Welcome to the Keycloak authentication system. Use the /login endpoint to '
           b'authenticate and /protected to access the protected resource.","documentation":"/docs"}')
NOT_AUTHENTICATED = b'{"detail":"Not authenticated"}'
INVALID_TOKEN = b'{"detail":"Could not validate credentials"}'
INVALID_LOGIN = b'{"detail":"Invalid username or password"}'


def checked(response, method: str, path: str):
    """Asserts the response is documented in openapi.json, then returns it."""
    assert_response_matches(method, path, response.status_code, response.headers, response.content)
    return response


def missing(*fields: str) -> bytes:
    entries = [{"type": "missing", "loc": ["body", field], "msg": "Field required", "input": None} for field in fields]
    return json.dumps({"detail": entries}, separators=(",", ":")).encode()


def test_root_is_the_seed_welcome_byte_for_byte(contract_stack):
    answer = checked(contract_stack.get("/"), "GET", "/")
    assert answer.status_code == 200
    assert answer.content == WELCOME
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=")
    assert len(answer.headers["X-Request-ID"]) == 32


def test_login_returns_a_bearer_token_in_the_seed_shape(contract_stack):
    answer = checked(contract_stack.login("abdullah", "Test#123456"), "POST", "/login")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert list(body)[:2] == ["access_token", "token_type"]
    assert body["token_type"] == "bearer"
    assert body["access_token"].count(".") == 2
    assert set(body) <= {"access_token", "token_type", "expires_in", "refresh_token", "refresh_expires_in", "scope"}
    assert answer.headers["Cache-Control"] == "no-store"


def test_login_form_encodes_every_special_character(contract_stack):
    # alice's password is `p&ss+w%rd é#1`: '&', '+', '%', space, non-ASCII and '#'.
    answer = checked(contract_stack.login("alice", "p&ss+w%rd é#1"), "POST", "/login")
    assert answer.status_code == 200, answer.text


def test_login_accepts_multipart_like_fastapi(contract_stack):
    answer = contract_stack.post("/login", files={"username": (None, "abdullah"), "password": (None, "Test#123456")})
    checked(answer, "POST", "/login")
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("username,password", [
    ("abdullah", "abdullah"),        # wrong password (the article's failed attempt)
    ("nobody", "Test#123456"),       # unknown user
    ("disabled", "Disabled#1"),      # Keycloak: 400 invalid_grant "Account disabled"
    ("incomplete", "Incomplete#1"),  # Keycloak: 400 invalid_grant "Account is not fully set up"
])
def test_login_refused_credentials_are_401(contract_stack, username, password):
    answer = checked(contract_stack.login(username, password), "POST", "/login")
    assert answer.status_code == 401
    assert answer.content == INVALID_LOGIN


@pytest.mark.parametrize("data,json_body,expected", [
    ({"password": "x"}, None, missing("username")),
    ({"username": "abdullah"}, None, missing("password")),
    ({}, None, missing("username", "password")),
    ({"username": "", "password": ""}, None, missing("username", "password")),
    (None, {"username": "abdullah", "password": "Test#123456"}, missing("username", "password")),
])
def test_login_missing_fields_are_422_in_fastapis_shape(contract_stack, data, json_body, expected):
    answer = checked(contract_stack.post("/login", data=data, json=json_body), "POST", "/login")
    assert answer.status_code == 422
    assert answer.content == expected


def test_protected_without_credentials_is_401_not_authenticated(contract_stack):
    for authorization in (None, "Basic YWJjOmRlZg==", "Bearer", "Bearer    ", "Token abc"):
        answer = checked(contract_stack.protected(authorization=authorization), "GET", "/protected")
        assert answer.status_code == 401, authorization
        assert answer.content == NOT_AUTHENTICATED
        assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_protected_with_a_valid_token_returns_the_user(contract_stack):
    token = contract_stack.token()
    answer = checked(contract_stack.protected(token), "GET", "/protected")
    assert answer.status_code == 200, answer.text
    # The seed's three fields first, then the roles (an additive change: realm roles, then
    # client roles as client:role).
    assert answer.content == (
        b'{"preferred_username":"abdullah","email":"abdullah@example.com","full_name":"Abdullah Alqahtani",'
        b'"roles":["default-roles-testing","offline_access","uma_authorization","user","account:manage-account",'
        b'"account:manage-account-links","account:view-profile","fastapi-keycloak:reader"]}')


def test_bearer_scheme_is_case_insensitive_and_tolerates_a_doubled_prefix(contract_stack):
    token = contract_stack.token()
    for authorization in (f"bearer {token}", f"BEARER {token}", f"Bearer Bearer {token}"):
        answer = contract_stack.protected(authorization=authorization)
        assert answer.status_code == 200, authorization


def test_protected_user_without_names_or_email_gets_nulls(contract_stack):
    token = contract_stack.token("service-bot", "Bot#12345")
    answer = checked(contract_stack.protected(token), "GET", "/protected")
    assert answer.status_code == 200, answer.text
    assert answer.content.startswith(b'{"preferred_username":"service-bot","email":null,"full_name":null,"roles":[')


@pytest.mark.parametrize("token", [
    "garbage", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30.", "x" * 20000,
], ids=["garbage", "three-dots", "empty-signature", "20k-characters"])
def test_protected_with_a_bad_token_is_401_invalid_token(contract_stack, token):
    answer = checked(contract_stack.protected(token), "GET", "/protected")
    assert answer.status_code == 401
    assert answer.content == INVALID_TOKEN
    assert answer.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_unknown_path_is_404(contract_stack):
    for path in ("/nope", "/protected/extra", "/login/"):
        answer = checked(contract_stack.get(path), "GET", path)
        assert answer.status_code == 404
        assert answer.content == b'{"detail":"Not Found"}'


@pytest.mark.parametrize("method,path,allow", [
    ("GET", "/login", "POST"), ("POST", "/protected", "GET, HEAD"), ("DELETE", "/", "GET, HEAD"),
])
def test_wrong_method_is_405_with_allow(contract_stack, method, path, allow):
    answer = contract_stack.session.request(method, contract_stack.url(path), timeout=30)
    checked(answer, method, path)
    assert answer.status_code == 405
    assert answer.content == b'{"detail":"Method Not Allowed"}'
    assert answer.headers["Allow"] == allow


def test_body_over_the_limit_is_413_json(contract_stack):
    answer = contract_stack.post("/login", data={"username": "a", "password": "x" * 100_000})
    checked(answer, "POST", "/login")
    assert answer.status_code == 413
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json()["detail"]
