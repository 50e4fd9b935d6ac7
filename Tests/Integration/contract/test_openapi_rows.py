"""The checker of live responses (harness/openapi_contract.py) against the API document: every
literal body of /work/shared/seed-contract.md passes ``assert_response_matches`` and wrong ones
do not (with one deliberate, additive change: ``GET /protected`` 200 now always carries
``roles``, so the seed's three-field body no longer matches), and the additions (``/refresh``,
``/logout``, ``/auth``, 403 and ``roles`` on ``/protected``) are documented.
"""

from __future__ import annotations

import json

import pytest

from harness.openapi_contract import assert_response_matches


JSON = {"Content-Type": "application/json"}
WELCOME = (b'{"message":"Welcome to the Keycloak authentication system. Use the /login endpoint to '
           b'authenticate and /protected to access the protected resource.","documentation":"/docs"}')
JWT = "eyJhbGciOiJSUzI1NiIsInR5cCIgOiAiSldUIn0.eyJzdWIiOiJ4In0.c2ln"
ROLES = ('["default-roles-testing","offline_access","uma_authorization","user",'
         '"account:manage-account","fastapi-keycloak:reader"]')
AUTH_HEADERS = {"X-Auth-Subject": "6f1c2a0e-4b1e-4d7a-9a57-2f0d3c1e8b11", "X-Auth-Username": "abdullah",
                "X-Auth-Email": "abdullah@example.com",
                "X-Auth-Roles": "default-roles-testing,offline_access,uma_authorization,user,"
                                "account:manage-account,fastapi-keycloak:reader"}
NOT_ENOUGH_PERMISSIONS = b'{"detail":"Not enough permissions"}'
BAD_REFRESH = b'{"detail":"Invalid or expired refresh token"}'


def missing(*fields: str) -> bytes:
    entries = [{"type": "missing", "loc": ["body", field], "msg": "Field required", "input": None}
               for field in fields]
    return json.dumps({"detail": entries}, separators=(",", ":")).encode()


# (id, method, path, status, headers, body): one per row of seed-contract.md, literal bodies, then
# the additions. The seed's /protected 200 rows carry the added ``roles`` field (see
# SEED_BODIES_NOW_WRONG for the seed's own three-field bodies).
CONTRACT_ROWS = [
    ("root", "GET", "/", 200, JSON, WELCOME),
    ("login-seed-fields", "POST", "/login", 200, JSON,
     f'{{"access_token":"{JWT}","token_type":"bearer"}}'.encode()),
    ("login-all-fields", "POST", "/login", 200,
     {"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache"},
     f'{{"access_token":"{JWT}","token_type":"bearer","expires_in":300,"refresh_token":"{JWT}",'
     f'"refresh_expires_in":1800,"scope":"profile email"}}'.encode()),
    ("login-wrong-password", "POST", "/login", 401, JSON, b'{"detail":"Invalid username or password"}'),
    ("login-missing-username", "POST", "/login", 422, JSON, missing("username")),
    ("login-missing-password", "POST", "/login", 422, JSON, missing("password")),
    ("login-json-body", "POST", "/login", 422, JSON, missing("username", "password")),
    ("login-idp-unreachable", "POST", "/login", 503, {**JSON, "Retry-After": "5"},
     b'{"detail":"Identity provider unavailable"}'),
    ("login-idp-unreachable-no-retry-after", "POST", "/login", 503, JSON,
     b'{"detail":"Identity provider unavailable"}'),
    ("login-idp-5xx", "POST", "/login", 502, JSON, b'{"detail":"Identity provider error"}'),
    ("login-idp-garbage", "POST", "/login", 502, JSON,
     b'{"detail":"Identity provider returned an invalid response"}'),
    ("login-idp-rejected-client", "POST", "/login", 502, JSON,
     b'{"detail":"Identity provider rejected this service\'s client credentials"}'),
    ("login-too-large", "POST", "/login", 413, JSON, b'{"detail":"Request body too large"}'),
    ("login-rate-limited", "POST", "/login", 429, JSON, b'{"detail":"Too many requests"}'),
    ("login-bad-multipart", "POST", "/login", 400, JSON, b'{"detail":"There was an error parsing the body"}'),
    ("protected-user", "GET", "/protected", 200, {**JSON, "Cache-Control": "no-store"},
     b'{"preferred_username":"abdullah","email":"abdullah@example.com","full_name":"Abdullah Alqahtani",'
     b'"roles":' + ROLES.encode() + b'}'),
    ("protected-user-nulls", "GET", "/protected", 200, JSON,
     b'{"preferred_username":"abdullah","email":null,"full_name":null,"roles":[]}'),
    ("protected-no-credentials", "GET", "/protected", 401, {**JSON, "WWW-Authenticate": "Bearer"},
     b'{"detail":"Not authenticated"}'),
    ("protected-invalid-token", "GET", "/protected", 401,
     {**JSON, "WWW-Authenticate": 'Bearer error="invalid_token"'},
     b'{"detail":"Could not validate credentials"}'),
    ("protected-idp-unreachable", "GET", "/protected", 503, JSON, b'{"detail":"Identity provider unavailable"}'),
    ("protected-idp-error", "GET", "/protected", 502, JSON, b'{"detail":"Identity provider error"}'),
    ("unknown-path", "GET", "/nope", 404, JSON, b'{"detail":"Not Found"}'),
    ("unknown-path-post", "POST", "/docs/nope?x=1", 404, JSON, b'{"detail":"Not Found"}'),
    ("wrong-method-login", "GET", "/login", 405, {**JSON, "Allow": "POST"}, b'{"detail":"Method Not Allowed"}'),
    ("wrong-method-protected", "DELETE", "/protected", 405, {**JSON, "Allow": "GET, HEAD"},
     b'{"detail":"Method Not Allowed"}'),
    ("head-root", "HEAD", "/", 200, JSON, b""),
    ("responder-down", "GET", "/", 502, JSON, b'{"detail":"Service temporarily unavailable"}'),
    ("charset-and-pairs", "GET", "/protected", 401,
     [("content-type", "application/json; charset=utf-8"), ("www-authenticate", "Bearer")],
     b'{"detail":"Not authenticated"}'),
    # --- additions: roles and 403 on /protected, /refresh, /logout, /auth
    ("protected-not-enough-permissions", "GET", "/protected", 403, JSON, NOT_ENOUGH_PERMISSIONS),
    ("refresh-tokens", "POST", "/refresh", 200, {**JSON, "Cache-Control": "no-store"},
     f'{{"access_token":"{JWT}","token_type":"bearer","expires_in":300,"refresh_token":"{JWT}",'
     f'"refresh_expires_in":1800,"scope":"profile email"}}'.encode()),
    ("refresh-seed-fields", "POST", "/refresh", 200, JSON,
     f'{{"access_token":"{JWT}","token_type":"bearer"}}'.encode()),
    ("refresh-invalid", "POST", "/refresh", 401, JSON, BAD_REFRESH),
    ("refresh-missing", "POST", "/refresh", 422, JSON, missing("refresh_token")),
    ("refresh-too-large", "POST", "/refresh", 413, JSON, b'{"detail":"Request body too large"}'),
    ("refresh-idp-error", "POST", "/refresh", 502, JSON, b'{"detail":"Identity provider error"}'),
    ("refresh-idp-unreachable", "POST", "/refresh", 503, {**JSON, "Retry-After": "5"},
     b'{"detail":"Identity provider unavailable"}'),
    ("logout-no-content", "POST", "/logout", 204, {}, b""),
    ("logout-no-content-none-body", "POST", "/logout", 204, [("Cache-Control", "no-store")], None),
    ("logout-invalid-refresh-token", "POST", "/logout", 401, JSON, BAD_REFRESH),
    ("logout-invalid-bearer", "POST", "/logout", 401,
     {**JSON, "WWW-Authenticate": 'Bearer error="invalid_token"'}, b'{"detail":"Could not validate credentials"}'),
    ("logout-missing", "POST", "/logout", 422, JSON, missing("refresh_token")),
    ("logout-too-large", "POST", "/logout", 413, JSON, b'{"detail":"Request body too large"}'),
    ("logout-idp-error", "POST", "/logout", 502, JSON, b'{"detail":"Identity provider error"}'),
    ("logout-idp-unreachable", "POST", "/logout", 503, JSON, b'{"detail":"Identity provider unavailable"}'),
    ("auth-ok", "GET", "/auth", 204, AUTH_HEADERS, b""),
    ("auth-ok-without-email", "GET", "/auth", 204,
     {name: value for name, value in AUTH_HEADERS.items() if name != "X-Auth-Email"}, b""),
    ("auth-ok-lower-case-pairs", "GET", "/auth", 204,
     [(name.lower(), value) for name, value in AUTH_HEADERS.items()], None),
    ("auth-no-credentials", "GET", "/auth", 401, {**JSON, "WWW-Authenticate": "Bearer"},
     b'{"detail":"Not authenticated"}'),
    ("auth-invalid-token", "GET", "/auth", 401, {**JSON, "WWW-Authenticate": 'Bearer error="invalid_token"'},
     b'{"detail":"Could not validate credentials"}'),
    ("auth-not-enough-permissions", "GET", "/auth", 403, JSON, NOT_ENOUGH_PERMISSIONS),
    ("auth-idp-unreachable", "GET", "/auth", 503, JSON, b'{"detail":"Identity provider unavailable"}'),
    ("auth-idp-error", "GET", "/auth", 502, JSON, b'{"detail":"Identity provider error"}'),
    ("wrong-method-refresh", "GET", "/refresh", 405, {**JSON, "Allow": "POST"}, b'{"detail":"Method Not Allowed"}'),
    ("wrong-method-auth", "POST", "/auth", 405, {**JSON, "Allow": "GET, HEAD"}, b'{"detail":"Method Not Allowed"}'),
]

# The seed contract's literal /protected 200 bodies (three fields). Deliberate, additive change:
# the service now always sends ``roles`` as well, so these no longer match the document.
SEED_BODIES_NOW_WRONG = [
    ("seed-protected-user", "GET", "/protected", 200, {**JSON, "Cache-Control": "no-store"},
     b'{"preferred_username":"abdullah","email":"abdullah@example.com","full_name":"Abdullah Alqahtani"}',
     ["roles", "required"]),
    ("seed-protected-user-nulls", "GET", "/protected", 200, JSON,
     b'{"preferred_username":"abdullah","email":null,"full_name":null}', ["roles", "required"]),
]

# (id, method, path, status, headers, body, words the AssertionError must contain)
WRONG_RESPONSES = SEED_BODIES_NOW_WRONG + [
    ("userinfo-missing-full-name", "GET", "/protected", 200, JSON,
     b'{"preferred_username":"abdullah","email":null,"roles":[]}', ["full_name", "required"]),
    ("userinfo-extra-field", "GET", "/protected", 200, JSON,
     b'{"preferred_username":"a","email":null,"full_name":null,"roles":[],"sub":"1"}', ["sub"]),
    ("userinfo-email-number", "GET", "/protected", 200, JSON,
     b'{"preferred_username":"a","email":1,"full_name":null,"roles":[]}', ["$.email"]),
    ("userinfo-roles-string", "GET", "/protected", 200, JSON,
     b'{"preferred_username":"a","email":null,"full_name":null,"roles":"user"}', ["$.roles", "array"]),
    ("userinfo-roles-comma-string", "GET", "/protected", 200, JSON,
     b'{"preferred_username":"a","email":null,"full_name":null,"roles":"user,admin"}', ["$.roles"]),
    ("userinfo-roles-null", "GET", "/protected", 200, JSON,
     b'{"preferred_username":"a","email":null,"full_name":null,"roles":null}', ["$.roles"]),
    ("userinfo-role-not-string", "GET", "/protected", 200, JSON,
     b'{"preferred_username":"a","email":null,"full_name":null,"roles":["user",1]}', ["$.roles[1]"]),
    ("token-type-capitalised", "POST", "/login", 200, JSON,
     f'{{"access_token":"{JWT}","token_type":"Bearer"}}'.encode(), ["token_type", "bearer"]),
    ("token-missing-token-type", "POST", "/login", 200, JSON,
     f'{{"access_token":"{JWT}"}}'.encode(), ["token_type", "required"]),
    ("token-extra-field", "POST", "/login", 200, JSON,
     f'{{"access_token":"{JWT}","token_type":"bearer","id_token":"x"}}'.encode(), ["id_token"]),
    ("undocumented-418", "GET", "/protected", 418, JSON, b'{"detail":"I\'m a teapot"}',
     ["undocumented status 418"]),
    ("undocumented-500", "POST", "/login", 500, JSON, b'{"detail":"Internal Server Error"}',
     ["undocumented status 500"]),
    ("html-error-page", "POST", "/login", 502, {"Content-Type": "text/html"}, b"<html>Bad Gateway</html>",
     ["content type", "text/html"]),
    ("no-content-type", "GET", "/", 200, {}, WELCOME, ["Content-Type"]),
    ("not-json", "GET", "/", 200, JSON, b"Welcome", ["not UTF-8 JSON"]),
    ("latin-1-charset", "GET", "/", 200, {"Content-Type": "application/json; charset=iso-8859-1"}, WELCOME,
     ["charset"]),
    ("welcome-changed", "GET", "/", 200, JSON, b'{"message":"Hi","documentation":"/docs"}', ["$.message"]),
    ("missing-www-authenticate", "GET", "/protected", 401, JSON, b'{"detail":"Not authenticated"}',
     ["WWW-Authenticate", "missing"]),
    ("wrong-www-authenticate", "GET", "/protected", 401, {**JSON, "WWW-Authenticate": "Basic"},
     b'{"detail":"Not authenticated"}', ["WWW-Authenticate", "Basic"]),
    ("protected-401-detail-of-login", "GET", "/protected", 401, {**JSON, "WWW-Authenticate": "Bearer"},
     b'{"detail":"Invalid username or password"}', ["$.detail"]),
    ("login-401-other-detail", "POST", "/login", 401, JSON, b'{"detail":"Invalid token"}', ["$.detail"]),
    # 403 is documented now (missing roles or scopes), but not with the old FastAPI's body.
    ("protected-403-of-old-fastapi", "GET", "/protected", 403, JSON, b'{"detail":"Not authenticated"}',
     ["$.detail"]),
    ("error-detail-not-string", "POST", "/login", 503, JSON, b'{"detail":{"error":"x"}}', ["$.detail"]),
    ("error-extra-field", "POST", "/login", 503, JSON,
     b'{"detail":"Identity provider unavailable","secret":"x"}', ["secret"]),
    ("validation-without-input", "POST", "/login", 422, JSON,
     b'{"detail":[{"type":"missing","loc":["body","username"],"msg":"Field required"}]}', ["input"]),
    ("validation-detail-string", "POST", "/login", 422, JSON, b'{"detail":"Field required"}', ["$.detail"]),
    ("unknown-path-200", "GET", "/admin", 200, JSON, b"{}", ["not in openapi.json"]),
    ("unknown-path-other-detail", "GET", "/admin", 404, JSON, b'{"detail":"Nope"}', ["$.detail"]),
    ("wrong-method-without-allow", "GET", "/login", 405, JSON, b'{"detail":"Method Not Allowed"}',
     ["Allow", "missing"]),
    ("wrong-method-allow-incomplete", "PUT", "/login", 405, {**JSON, "Allow": "GET"},
     b'{"detail":"Method Not Allowed"}', ["POST"]),
    ("wrong-method-served", "PUT", "/protected", 200, JSON,
     b'{"preferred_username":"a","email":null,"full_name":null}', ["only 405"]),
    ("head-with-body", "HEAD", "/", 200, JSON, WELCOME, ["HEAD", "no body"]),
    # --- additions
    ("protected-403-other-detail", "GET", "/protected", 403, JSON, b'{"detail":"Forbidden"}', ["$.detail"]),
    ("refresh-401-detail-of-login", "POST", "/refresh", 401, JSON, b'{"detail":"Invalid username or password"}',
     ["$.detail"]),
    ("refresh-422-wrong-loc", "POST", "/refresh", 422, JSON, missing("username"), ["$.detail[0].loc"]),
    ("refresh-422-second-entry-wrong-loc", "POST", "/refresh", 422, JSON, missing("refresh_token", "password"),
     ["$.detail[1].loc"]),
    ("refresh-token-type-capitalised", "POST", "/refresh", 200, JSON,
     f'{{"access_token":"{JWT}","token_type":"Bearer"}}'.encode(), ["token_type"]),
    ("refresh-rate-limited", "POST", "/refresh", 429, JSON, b'{"detail":"Too many requests"}',
     ["undocumented status 429"]),
    ("logout-200", "POST", "/logout", 200, JSON, b"{}", ["undocumented status 200"]),
    ("logout-204-with-body", "POST", "/logout", 204, JSON, b'{"detail":"ok"}', ["without a body"]),
    ("logout-401-other-detail", "POST", "/logout", 401, JSON, b'{"detail":"Not authenticated"}', ["$.detail"]),
    ("logout-401-plain-bearer-challenge", "POST", "/logout", 401, {**JSON, "WWW-Authenticate": "Bearer"},
     b'{"detail":"Could not validate credentials"}', ["WWW-Authenticate"]),
    ("logout-422-wrong-loc", "POST", "/logout", 422, JSON, missing("username"), ["$.detail[0].loc"]),
    ("auth-204-without-username", "GET", "/auth", 204,
     {name: value for name, value in AUTH_HEADERS.items() if name != "X-Auth-Username"}, b"",
     ["X-Auth-Username", "missing"]),
    ("auth-204-without-subject", "GET", "/auth", 204,
     {name: value for name, value in AUTH_HEADERS.items() if name != "X-Auth-Subject"}, b"",
     ["X-Auth-Subject", "missing"]),
    ("auth-204-without-roles", "GET", "/auth", 204,
     {name: value for name, value in AUTH_HEADERS.items() if name != "X-Auth-Roles"}, b"",
     ["X-Auth-Roles", "missing"]),
    ("auth-204-empty-subject", "GET", "/auth", 204, {**AUTH_HEADERS, "X-Auth-Subject": ""}, b"",
     ["X-Auth-Subject"]),
    ("auth-204-username-twice", "GET", "/auth", 204,
     list(AUTH_HEADERS.items()) + [("X-Auth-Username", "mallory")], b"", ["X-Auth-Username", "2 times"]),
    ("auth-204-with-user-body", "GET", "/auth", 204, {**AUTH_HEADERS, **JSON},
     b'{"preferred_username":"a","email":null,"full_name":null,"roles":[]}', ["without a body"]),
    ("auth-200", "GET", "/auth", 200, {**AUTH_HEADERS, **JSON},
     b'{"preferred_username":"a","email":null,"full_name":null,"roles":[]}', ["undocumented status 200"]),
    ("auth-401-without-www-authenticate", "GET", "/auth", 401, JSON, b'{"detail":"Not authenticated"}',
     ["WWW-Authenticate", "missing"]),
    ("auth-401-refresh-detail", "GET", "/auth", 401, {**JSON, "WWW-Authenticate": "Bearer"}, BAD_REFRESH,
     ["$.detail"]),
    ("auth-403-other-detail", "GET", "/auth", 403, JSON, b'{"detail":"Forbidden"}', ["$.detail"]),
]


# --- the contract rows ----------------------------------------------------------------------

@pytest.mark.parametrize("method, path, status, headers, body",
                         [row[1:] for row in CONTRACT_ROWS], ids=[row[0] for row in CONTRACT_ROWS])
def test_contract_body_matches(method, path, status, headers, body) -> None:
    assert_response_matches(method, path, status, headers, body)


@pytest.mark.parametrize("method, path, status, headers, body, words",
                         [row[1:] for row in WRONG_RESPONSES], ids=[row[0] for row in WRONG_RESPONSES])
def test_wrong_response_is_rejected(method, path, status, headers, body, words) -> None:
    with pytest.raises(AssertionError) as raised:
        assert_response_matches(method, path, status, headers, body)
    message = str(raised.value)
    for word in words:
        assert word in message, message


def test_accepts_str_bodies_and_http_message_headers() -> None:
    from email.message import Message

    headers = Message()
    headers["content-type"] = "application/json"
    headers["WWW-Authenticate"] = "Bearer"
    assert_response_matches("get", "https://localhost:8443/protected", 401, headers,
                            '{"detail":"Not authenticated"}')
