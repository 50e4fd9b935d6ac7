"""The API document (nginx/html/openapi.json): valid OpenAPI 3.1, its endpoints, statuses,
operations, request bodies, headers and strict schemas, and that every example matches its
schema. Live responses are checked against it by harness/openapi_contract.py; that checker's
own rows are contract/test_openapi_rows.py, the Swagger UI page contract/test_swagger_ui_page.py.
"""

from __future__ import annotations

import pytest

from harness import openapi_contract
from harness.openapi_contract import OPENAPI_PATH, load_openapi


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
        "/auth": ["get"], "/.well-known/oauth-protected-resource": ["get"]}
    statuses = {path: sorted(next(iter(item.values()))["responses"]) for path, item in paths.items()}
    assert statuses["/login"] == ["200", "400", "401", "413", "422", "429", "502", "503"]
    assert statuses["/refresh"] == ["200", "400", "401", "413", "422", "502", "503"]
    assert statuses["/logout"] == ["204", "400", "401", "413", "422", "502", "503"]
    assert statuses["/protected"] == ["200", "401", "403", "502", "503"]
    assert statuses["/auth"] == ["204", "401", "403", "502", "503"]
    assert statuses["/"] == ["200", "502"]
    assert statuses["/.well-known/oauth-protected-resource"] == ["200"]


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
    # The gate's challenges name the resource metadata (RFC 9728), /protected keeps the seed's.
    for path, method, unauthorized in (("/protected", "get", "BearerUnauthorized"), ("/auth", "get", "GateUnauthorized")):
        responses = document["paths"][path][method]["responses"]
        assert responses["401"] == {"$ref": f"#/components/responses/{unauthorized}"}, path
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
