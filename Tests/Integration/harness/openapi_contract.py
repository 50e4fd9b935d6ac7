"""Check live responses against the API document ``nginx/html/openapi.json``.

    from harness.openapi_contract import assert_response_matches

    assert_response_matches("GET", "/protected", 401, response_headers, body_bytes)

``assert_response_matches`` raises ``AssertionError`` naming what differs: a path or status the
document does not list, a missing or wrong documented header, a wrong content type, a body that
is not JSON, or the first schema errors (with the JSON path inside the body).

A response documented without ``content`` (``POST /logout`` and ``GET /auth`` 204) must have an
empty body and needs no ``Content-Type``; its documented headers are checked all the same (the
``X-Auth-*`` headers of ``GET /auth``: required ones present, each sent once, matching its schema).

Paths the document does not list must answer ``components.responses.NotFound`` (404); a listed
path with another method ``components.responses.MethodNotAllowed`` (405, ``Allow`` naming at
least the documented methods). ``HEAD`` is checked as ``GET`` with an empty body.
Schemas are JSON Schema 2020-12 (OpenAPI 3.1); ``$ref``s resolve inside the document.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from . import REPO_ROOT
OPENAPI_PATH = REPO_ROOT / "nginx" / "html" / "openapi.json"

_DOCUMENT_URI = "urn:keycloak-fcgi:openapi"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def load_openapi(path: Path | str = OPENAPI_PATH) -> dict[str, Any]:
    """The parsed API document (a fresh copy: callers may change it)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=4)
def _registry(path: str) -> tuple[dict[str, Any], Registry]:
    document = load_openapi(path)
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    return document, Registry().with_resource(_DOCUMENT_URI, resource)


def _pointer(*parts: str) -> str:
    return "#" + "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def _resolve(document: dict[str, Any], node: Any) -> Any:
    """Follows local ``$ref``s of non-schema objects (path items) to their target."""
    for _ in range(16):
        if not (isinstance(node, Mapping) and "$ref" in node):
            return node
        node = _follow(document, _split_reference(node["$ref"]))
    raise AssertionError("openapi.json: reference loop")


def _header_lookup(headers: Any) -> dict[str, list[str]]:
    """Lower-cased header name -> values, from a mapping, an ``email.message``/``HTTPMessage``,
    or an iterable of ``(name, value)`` pairs."""
    if headers is None:
        return {}
    if hasattr(headers, "items") and callable(headers.items):
        pairs: Iterable[tuple[str, str]] = headers.items()
    else:
        pairs = headers
    result: dict[str, list[str]] = {}
    for name, value in pairs:
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        result.setdefault(name.lower(), []).append(str(value))
    return result


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def _path_template_match(template: str, path: str) -> bool:
    if "{" not in template:
        return template == path
    pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
    return re.fullmatch(pattern, path) is not None


def _format_schema_errors(errors: list[Any], where: str) -> str:
    lines = []
    for error in errors[:5]:
        location = error.json_path
        lines.append(f"  at {location}: {error.message}")
    more = f"\n  ... and {len(errors) - 5} more" if len(errors) > 5 else ""
    return f"{where}: body does not match the documented schema:\n" + "\n".join(lines) + more


def _check_schema(registry: Registry, pointer: str, instance: Any, where: str) -> None:
    validator = Draft202012Validator({"$ref": _DOCUMENT_URI + pointer}, registry=registry)
    errors = sorted(validator.iter_errors(instance), key=lambda error: list(error.absolute_path))
    if errors:
        raise AssertionError(_format_schema_errors(errors, where))


def _check_response(
    document: dict[str, Any],
    registry: Registry,
    response_pointer: list[str],
    where: str,
    headers: dict[str, list[str]],
    body_bytes: bytes,
    head: bool,
) -> None:
    # Follow a Response Object's $ref to where it lives, so that schema pointers start there.
    response = _follow(document, response_pointer)
    for _ in range(16):
        if not (isinstance(response, Mapping) and "$ref" in response):
            break
        response_pointer = _split_reference(response["$ref"])
        response = _follow(document, response_pointer)

    for name, header in (response.get("headers") or {}).items():
        if "$ref" in header:
            raise AssertionError(f"openapi.json: {where}: header {name}: write headers inline")
        values = headers.get(name.lower())
        if not values:
            if header.get("required"):
                raise AssertionError(f"{where}: documented required header {name!r} is missing")
            continue
        if len(values) > 1:
            raise AssertionError(f"{where}: header {name!r} sent {len(values)} times: {values!r}")
        if "schema" in header:
            validator = Draft202012Validator(
                {"$ref": _DOCUMENT_URI + _pointer(*response_pointer, "headers", name, "schema")},
                registry=registry)
            errors = list(validator.iter_errors(values[0]))
            if errors:
                raise AssertionError(
                    f"{where}: header {name}: {values[0]!r} does not match the documented schema: "
                    f"{errors[0].message}")

    content = response.get("content")
    if not content:
        if body_bytes:
            raise AssertionError(f"{where}: documented without a body, got {len(body_bytes)} bytes")
        return

    content_type_values = headers.get("content-type")
    if not content_type_values:
        raise AssertionError(
            f"{where}: no Content-Type header (documented: {', '.join(content)})")
    media_type = _media_type(content_type_values[0])
    documented = {_media_type(key): key for key in content}
    if media_type not in documented:
        raise AssertionError(
            f"{where}: content type {content_type_values[0]!r} is not documented "
            f"(documented: {', '.join(content)})")
    if head:
        if body_bytes:
            raise AssertionError(f"{where}: a HEAD response must have no body, got {len(body_bytes)} bytes")
        return
    charset = re.search(r";\s*charset=\"?([^\";]+)", content_type_values[0], re.IGNORECASE)
    if charset and charset.group(1).strip().lower() not in ("utf-8", "utf8"):
        raise AssertionError(f"{where}: charset {charset.group(1)!r}, expected UTF-8")

    key = documented[media_type]
    media = content[key]
    if media_type == "application/json" or media_type.endswith("+json"):
        try:
            instance = json.loads(body_bytes.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            preview = body_bytes[:120]
            raise AssertionError(f"{where}: body is not UTF-8 JSON ({error}): {preview!r}") from None
        if "schema" in media:
            _check_schema(registry, _pointer(*response_pointer, "content", key, "schema"), instance, where)


def _split_reference(reference: str) -> list[str]:
    if not reference.startswith("#/"):
        raise AssertionError(f"openapi.json: unsupported reference {reference!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in reference[2:].split("/")]


def _follow(document: dict[str, Any], parts: list[str]) -> Any:
    node: Any = document
    for part in parts:
        node = node[part]
    return node


def assert_response_matches(
    method: str,
    path: str,
    status: int,
    headers: Any,
    body_bytes: bytes | str | None,
    *,
    openapi_path: Path | str = OPENAPI_PATH,
) -> None:
    """Raises ``AssertionError`` unless the response is one the document describes.

    ``path`` may carry a query string (ignored) or be a full URL; ``headers`` is a mapping,
    an ``HTTPMessage`` or ``(name, value)`` pairs (names case-insensitive).
    """
    document, registry = _registry(str(openapi_path))
    method = method.upper()
    target = urlsplit(path).path or "/"
    if isinstance(body_bytes, str):
        body_bytes = body_bytes.encode("utf-8")
    body_bytes = body_bytes or b""
    header_map = _header_lookup(headers)
    status = int(status)
    where = f"{method} {target} -> {status}"

    template = next((t for t in document.get("paths", {}) if _path_template_match(t, target)), None)
    if template is None:
        if status != 404:
            raise AssertionError(
                f"{where}: path {target!r} is not in openapi.json, so only 404 is documented")
        _check_response(document, registry, ["components", "responses", "NotFound"], where,
                        header_map, body_bytes, head=method == "HEAD")
        return

    path_item = _resolve(document, document["paths"][template])
    operations = [m for m in _METHODS if m in path_item]
    operation_method = method.lower()
    head = method == "HEAD"
    if head and "head" not in path_item and "get" in path_item and status != 405:
        operation_method = "get"

    if operation_method not in path_item:
        if status != 405:
            raise AssertionError(
                f"{where}: {method} is not documented for {template} "
                f"(documented: {', '.join(m.upper() for m in operations)}), so only 405 is")
        _check_response(document, registry, ["components", "responses", "MethodNotAllowed"], where,
                        header_map, body_bytes, head=head)
        allowed = {m.strip().upper() for m in header_map.get("allow", [""])[0].split(",") if m.strip()}
        missing = [m.upper() for m in operations if m.upper() not in allowed]
        if missing:
            raise AssertionError(f"{where}: Allow {sorted(allowed)} lacks documented {missing}")
        return

    responses = path_item[operation_method].get("responses", {})
    code = str(status)
    key = code if code in responses else (f"{code[0]}XX" if f"{code[0]}XX" in responses else None)
    if key is None:
        key = "default" if "default" in responses else None
    if key is None:
        raise AssertionError(
            f"{where}: undocumented status {status} for {method} {template} "
            f"(documented: {', '.join(responses)})")
    _check_response(document, registry, ["paths", template, operation_method, "responses", key], where,
                    header_map, body_bytes, head=head)
