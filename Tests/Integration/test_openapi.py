"""The API document (nginx/html/openapi.json) and the Swagger UI page (nginx/html/docs/).

Checks that the document is valid OpenAPI 3.1, that every literal body of
/work/shared/seed-contract.md passes ``assert_response_matches`` and wrong ones do not (with one
deliberate, additive change: ``GET /protected`` 200 now always carries ``roles``, so the seed's
three-field body no longer matches), that the additions (``/refresh``, ``/logout``, ``/auth``,
403 and ``roles`` on ``/protected``) are documented, and that
the page loads only absolute ``/docs/...`` assets that the Swagger UI dist really ships
(downloaded from PyPI ``drf-spectacular-sidecar``; set ``SWAGGER_UI_DIR`` to an unpacked
``swagger-ui-dist`` directory to test offline).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import openapi_contract  # noqa: E402
from openapi_contract import OPENAPI_PATH, REPO_ROOT, assert_response_matches, load_openapi  # noqa: E402

HTML_DIR = REPO_ROOT / "nginx" / "html"
DOCS_DIR = HTML_DIR / "docs"
INDEX_HTML = DOCS_DIR / "index.html"
INIT_JS = DOCS_DIR / "swagger-init.js"
#: Files of this project under /docs/ (everything else there is Swagger UI's, never committed).
OWN_DOCS_FILES = {"index.html", "swagger-init.js"}

SIDECAR = "drf-spectacular-sidecar==2026.10.1"
SIDECAR_DIST = Path("drf_spectacular_sidecar/static/drf_spectacular_sidecar/swagger-ui-dist")

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


# --- the document ---------------------------------------------------------------------------

def test_document_is_valid_openapi_3_1() -> None:
    from openapi_spec_validator import validate

    document = load_openapi()
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_validator_rejects_a_broken_document() -> None:
    """Guards the test above: the validator really looks at the document."""
    from openapi_spec_validator import validate

    document = load_openapi()
    document["paths"]["/login"]["post"]["responses"]["200"].pop("description")
    with pytest.raises(Exception):
        validate(document)


def test_info_servers_and_security_scheme() -> None:
    document = load_openapi()
    assert document["info"]["title"] == "keycloak-fcgi"
    assert document["info"]["version"] == "0.1.0"
    assert "Authorize" in document["info"]["description"]
    assert document["servers"] == [{"url": "/"}]
    assert document["components"]["securitySchemes"]["HTTPBearer"] == {
        **document["components"]["securitySchemes"]["HTTPBearer"],
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert set(document["components"]["schemas"]) >= {
        "TokenResponse", "UserInfo", "HTTPError", "HTTPValidationError", "ValidationError"}


def test_endpoints_and_statuses() -> None:
    paths = load_openapi()["paths"]
    assert {path: sorted(item) for path, item in paths.items()} == {
        "/": ["get"], "/login": ["post"], "/refresh": ["post"], "/logout": ["post"], "/protected": ["get"],
        "/auth": ["get"]}
    statuses = {path: sorted(next(iter(item.values()))["responses"]) for path, item in paths.items()}
    assert statuses["/login"] == ["200", "400", "401", "413", "422", "429", "502", "503"]
    assert statuses["/refresh"] == ["200", "400", "401", "413", "422", "502", "503"]
    assert statuses["/logout"] == ["204", "400", "401", "413", "422", "502", "503"]
    assert statuses["/protected"] == ["200", "401", "403", "502", "503"]
    assert statuses["/auth"] == ["204", "401", "403", "502", "503"]
    assert statuses["/"] == ["200", "502"]


def test_operations_have_ids_summaries_and_security() -> None:
    document = load_openapi()
    assert "security" not in document
    ids = {}
    bearer = [{"HTTPBearer": []}]
    expected_security = {"/protected": bearer, "/auth": bearer, "/logout": [{"HTTPBearer": []}, {}]}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            ids[(method, path)] = operation["operationId"]
            assert operation.get("summary"), (method, path)
            assert operation.get("description"), (method, path)
            assert "tags" not in operation, "the document uses no tags (as the seed's FastAPI app)"
            assert operation.get("security") == expected_security.get(path), (method, path)
    assert len(ids) == len(set(ids.values()))
    assert ids[("post", "/refresh")] == "refresh_refresh_post"
    assert ids[("post", "/logout")] == "logout_logout_post"
    assert ids[("get", "/auth")] == "auth_auth_get"
    assert "auth_request" in document["paths"]["/auth"]["get"]["description"]
    assert "FastCGI" in document["paths"]["/auth"]["get"]["description"]
    for word in ("/refresh", "/logout", "/auth", "roles"):
        assert word in document["info"]["description"], word


def _form_schemas(document, path):
    body = document["paths"][path]["post"]["requestBody"]
    assert body["required"] is True
    assert sorted(body["content"]) == ["application/x-www-form-urlencoded", "multipart/form-data"]
    for media in body["content"].values():
        schema = media["schema"]
        if "$ref" in schema:
            schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        assert schema["type"] == "object"
        yield schema


def test_login_request_body_is_a_form_in_both_encodings() -> None:
    document = load_openapi()
    for schema in _form_schemas(document, "/login"):
        assert sorted(schema["required"]) == ["password", "username"]
        assert schema["properties"]["password"]["format"] == "password"
        assert schema["properties"]["username"]["type"] == "string"


@pytest.mark.parametrize("path", ["/refresh", "/logout"])
def test_refresh_and_logout_request_bodies_are_forms_with_a_refresh_token(path) -> None:
    document = load_openapi()
    for schema in _form_schemas(document, path):
        assert schema["title"] == f"Body_{path[1:]}_{path[1:]}_post"
        assert schema["required"] == ["refresh_token"]
        assert schema["properties"]["refresh_token"]["type"] == "string"
        assert schema["properties"]["refresh_token"]["minLength"] == 1


def test_refresh_answers_the_token_response_of_login() -> None:
    paths = load_openapi()["paths"]
    for path in ("/login", "/refresh"):
        schema = paths[path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/TokenResponse"}, path
    for status in ("413", "502", "503"):
        for path in ("/refresh", "/logout"):
            assert paths[path]["post"]["responses"][status] == paths["/login"]["post"]["responses"][status]


def test_no_content_responses_and_auth_headers() -> None:
    document = load_openapi()
    logout = document["paths"]["/logout"]["post"]["responses"]["204"]
    auth = document["paths"]["/auth"]["get"]["responses"]["204"]
    assert "content" not in logout and "content" not in auth
    required = {name: header.get("required", False) for name, header in auth["headers"].items()}
    assert required == {"X-Auth-Subject": True, "X-Auth-Username": True, "X-Auth-Email": False,
                        "X-Auth-Roles": True}
    for path, method in (("/protected", "get"), ("/auth", "get")):
        responses = document["paths"][path][method]["responses"]
        assert responses["401"] == {"$ref": "#/components/responses/BearerUnauthorized"}, path
        assert responses["403"] == {"$ref": "#/components/responses/Forbidden"}, path


def _responses(document):
    """(where, status or None, response object, JSON pointer parts of the response)."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                yield (f"{method.upper()} {path} {status}", status, response,
                       ("paths", path, method, "responses", status))
    for name, response in document["components"]["responses"].items():
        yield f"components.responses.{name}", None, response, ("components", "responses", name)


def test_every_error_is_json_with_a_schema() -> None:
    document = load_openapi()
    for where, status, response, _ in _responses(document):
        if "$ref" in response:
            continue  # checked where it is defined, under components.responses
        if status is not None and not status.startswith(("4", "5")):
            continue
        assert list(response.get("content", {})) == ["application/json"], where
        assert "schema" in response["content"]["application/json"], where


def test_strict_schemas() -> None:
    schemas = load_openapi()["components"]["schemas"]
    for name in ("UserInfo", "HTTPError", "TokenResponse", "HTTPValidationError", "ValidationError"):
        assert schemas[name]["additionalProperties"] is False, name
    token = schemas["TokenResponse"]
    assert sorted(token["properties"]) == sorted(
        ["access_token", "token_type", "expires_in", "refresh_token", "refresh_expires_in", "scope"])
    assert sorted(token["required"]) == ["access_token", "token_type"]
    assert token["properties"]["token_type"]["const"] == "bearer"
    user = schemas["UserInfo"]
    assert list(user["properties"]) == ["preferred_username", "email", "full_name", "roles"]
    assert sorted(user["required"]) == ["email", "full_name", "preferred_username", "roles"]
    assert user["properties"]["email"]["type"] == ["string", "null"]
    assert user["properties"]["full_name"]["type"] == ["string", "null"]
    assert user["properties"]["roles"]["type"] == "array"
    assert user["properties"]["roles"]["items"] == {"type": "string"}


def test_every_example_matches_its_schema() -> None:
    document, registry = openapi_contract._registry(str(OPENAPI_PATH))
    count = 0
    for where, _, response, parts in _responses(document):
        for media_type, media in response.get("content", {}).items():
            pointer = openapi_contract._pointer(*parts, "content", media_type, "schema")
            for name, example in media.get("examples", {}).items():
                openapi_contract._check_schema(registry, pointer, example["value"], f"{where} example {name}")
                count += 1
    assert count >= 22


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


# --- the Swagger UI page --------------------------------------------------------------------

@pytest.fixture(scope="session")
def swagger_ui_dist(tmp_path_factory) -> Path:
    """An unpacked swagger-ui-dist: ``SWAGGER_UI_DIR`` or the wheel from PyPI."""
    configured = os.environ.get("SWAGGER_UI_DIR")
    if configured:
        path = Path(configured)
        if not (path / "swagger-ui-bundle.js").is_file():
            pytest.fail(f"SWAGGER_UI_DIR={configured} has no swagger-ui-bundle.js")
        return path
    download = tmp_path_factory.mktemp("sidecar")
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
             "--no-input", "--timeout", "30", SIDECAR, "-d", str(download)],
            capture_output=True, text=True, timeout=180)
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.skip(f"cannot download {SIDECAR} from PyPI ({error}); set SWAGGER_UI_DIR to test offline")
    wheels = list(download.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        reason = (result.stderr.strip().splitlines() or ["no wheel"])[-1]
        pytest.skip(f"pip cannot fetch {SIDECAR} from PyPI ({reason}); set SWAGGER_UI_DIR to test offline")
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel.extractall(download / "unpacked")
    dist = download / "unpacked" / SIDECAR_DIST
    assert (dist / "swagger-ui-bundle.js").is_file(), f"{SIDECAR} no longer ships {SIDECAR_DIST}"
    return dist


class _PageScan(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.references: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.scripts: list[dict[str, str | None]] = []
        self.inline_script_text: list[str] = []
        self.handlers: list[str] = []
        self.ids: set[str] = set()
        self._in_script = False

    def handle_starttag(self, tag, attrs) -> None:
        attributes = dict(attrs)
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.references.append((tag, name, value))
            if name.startswith("on"):
                self.handlers.append(f"<{tag} {name}>")
            if name == "id" and value:
                self.ids.add(value)
        if tag == "script":
            self.scripts.append(attributes)
            self._in_script = True

    def handle_endtag(self, tag) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data) -> None:
        if self._in_script and data.strip():
            self.inline_script_text.append(data.strip())


def _scan_page() -> _PageScan:
    scan = _PageScan()
    scan.feed(INDEX_HTML.read_text(encoding="utf-8"))
    return scan


def test_page_references_only_absolute_existing_assets(swagger_ui_dist: Path) -> None:
    scan = _scan_page()
    assert scan.references
    for tag, attribute, value in scan.references:
        assert value.startswith("/") and not value.startswith("//"), f"<{tag} {attribute}={value!r}> is not absolute"
        if value == "/openapi.json":
            continue
        assert value.startswith("/docs/"), f"<{tag} {attribute}={value!r}> is outside /docs/"
        name = value[len("/docs/"):]
        assert "/" not in name and "?" not in name and "#" not in name, value
        if name in OWN_DOCS_FILES:
            assert (DOCS_DIR / name).is_file(), value
        else:
            assert (swagger_ui_dist / name).is_file(), f"{value} is not in the Swagger UI dist"
    values = [value for _, _, value in scan.references]
    for required in ("/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js",
                     "/docs/swagger-ui-standalone-preset.js", "/docs/swagger-init.js",
                     "/docs/favicon-32x32.png"):
        assert required in values, f"index.html does not load {required}"


def test_page_has_no_inline_script_for_the_csp() -> None:
    """nginx sends ``script-src 'self'`` (via default-src): scripts must be files."""
    scan = _scan_page()
    assert not scan.inline_script_text, "inline <script> content would be blocked by the CSP"
    assert not scan.handlers, f"inline event handlers would be blocked: {scan.handlers}"
    text = INDEX_HTML.read_text(encoding="utf-8") + INIT_JS.read_text(encoding="utf-8")
    assert "javascript:" not in text
    assert "http://" not in text and "https://" not in text, "the page must load nothing from elsewhere"
    sources = [script.get("src") for script in scan.scripts]
    assert sources == ["/docs/swagger-ui-bundle.js", "/docs/swagger-ui-standalone-preset.js",
                       "/docs/swagger-init.js"], "the init script must run after the bundle and preset"
    assert "swagger-ui" in scan.ids


_NODE_HARNESS = r"""
// Runs as a script in node's global scope: keep every name inside the function.
(function () {
  process.on("uncaughtException", (error) => {
    // Keep the report short: the bundle is minified onto one enormous line.
    console.error(String(error && error.name) + ": " + String(error && error.message).slice(0, 500));
    process.exit(1);
  });
  const fs = require("fs"), vm = require("vm"), path = require("path");
  const [dist, init] = process.argv.slice(1);
  const bundle = require(path.join(dist, "swagger-ui-bundle.js"));
  const preset = require(path.join(dist, "swagger-ui-standalone-preset.js"));
  let config = null;
  const loaders = [];
  const fakeWindow = {
    location: { origin: "https://localhost:8443", pathname: "/docs/" },
    addEventListener(type, listener) { if (type === "load") loaders.push(listener); },
  };
  // The real bundle needs a DOM to render: stand in for its call, keep its real presets and plugins.
  const fakeBundle = function (options) { config = options; return {}; };
  fakeBundle.presets = bundle.presets;
  fakeBundle.plugins = bundle.plugins;
  const context = vm.createContext({ window: fakeWindow, SwaggerUIBundle: fakeBundle, SwaggerUIStandalonePreset: preset });
  vm.runInContext(fs.readFileSync(init, "utf8"), context, { filename: init });
  loaders.forEach((listener) => listener());
  if (!config) { console.error("SwaggerUIBundle was never called"); process.exit(1); }
  const out = {};
  for (const [key, value] of Object.entries(config)) {
    if (typeof value !== "object" || value === null) out[key] = value;
  }
  out.presetsAreTheDists = Array.isArray(config.presets) && config.presets.length === 2 &&
    config.presets[0] === bundle.presets.apis && config.presets[1] === preset;
  out.pluginsAreTheDists = Array.isArray(config.plugins) &&
    config.plugins.every((plugin) => plugin && Object.values(bundle.plugins).includes(plugin));
  out.hasDownloadUrl = (config.plugins || []).includes(bundle.plugins.DownloadUrl);
  console.log(JSON.stringify(out));
})();
"""


def test_init_script_configures_swagger_ui(swagger_ui_dist: Path) -> None:
    """Runs swagger-init.js under node against the real bundle's exports (no browser here)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: cannot run swagger-init.js")
    result = subprocess.run([node, "-e", _NODE_HARNESS, str(swagger_ui_dist), str(INIT_JS)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout.strip().splitlines()[-1])
    assert config["url"] == "/openapi.json"
    assert config["dom_id"] == "#swagger-ui"
    assert config["deepLinking"] is True
    assert config["persistAuthorization"] is True
    assert config["tryItOutEnabled"] is True
    assert config["layout"] == "StandaloneLayout"
    assert config["validatorUrl"] is None, "no calls to the public validator (CSP, privacy)"
    assert config["oauth2RedirectUrl"] == "https://localhost:8443/docs/oauth2-redirect.html"
    assert (swagger_ui_dist / "oauth2-redirect.html").is_file()
    assert config["presetsAreTheDists"] and config["pluginsAreTheDists"] and config["hasDownloadUrl"]
    # In the browser the two files define these globals (UMD), which swagger-init.js uses.
    assert ".SwaggerUIBundle=" in (swagger_ui_dist / "swagger-ui-bundle.js").read_text(encoding="utf-8")[:2000]
    assert ".SwaggerUIStandalonePreset=" in (
        swagger_ui_dist / "swagger-ui-standalone-preset.js").read_text(encoding="utf-8")[:2000]
    assert (HTML_DIR / "openapi.json") == OPENAPI_PATH and OPENAPI_PATH.is_file()


def test_swagger_ui_files_are_not_committed(swagger_ui_dist: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    result = subprocess.run(["git", "-C", str(REPO_ROOT), "ls-files", "--cached", "--others",
                             "--exclude-standard", "--", "nginx/html"],
                            capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        pytest.skip(f"not a git checkout: {result.stderr.strip()}")
    dist_names = {path.name for path in swagger_ui_dist.iterdir()}
    offending = [line for line in result.stdout.splitlines()
                 if Path(line).name in dist_names and Path(line).name not in OWN_DOCS_FILES]
    assert not offending, f"Swagger UI's own files must not be committed: {offending}"
