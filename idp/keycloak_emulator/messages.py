"""HTTP values: ``Request``, ``Response``, ``OAuthError`` (Keycloak's error body), and
Keycloak's answer to a path no resource matches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import parse_qs

from .encoding import json_bytes


#: Keycloak's body for a path no resource matches.
NOT_FOUND_BODY = {
    "error": "Unable to find matching target resource method",
    "error_description": "For more on this error consult the server log.",
}


@dataclass(frozen=True)
class Request:
    """What the application needs of an HTTP request."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    client_host: str
    #: The raw query string (without ``?``).
    query: str = ""

    def query_params(self) -> dict[str, str]:
        """The query parameters (first value of each name)."""
        return {name: values[0] for name, values in parse_qs(self.query, keep_blank_values=True).items()}

    def form(self) -> dict[str, str]:
        """The urlencoded form (first value of each field); raises ``OAuthError`` when not UTF-8."""
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError:
            raise OAuthError(400, "invalid_request", "Request body is not valid UTF-8") from None
        return {name: values[0] for name, values in parse_qs(text, keep_blank_values=True).items()}


@dataclass(frozen=True)
class Response:
    """An HTTP answer. ``Content-Length`` is added by the writer (except on 204)."""

    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(cls, status: int, value: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
        return cls(status, json_bytes(value), "application/json", headers)


class OAuthError(Exception):
    """An OAuth error answer: ``{"error","error_description"}`` with a status and headers."""

    def __init__(self, status: int, error: str, description: str, headers: tuple[tuple[str, str], ...] = ()):
        super().__init__(f"{status} {error}: {description}")
        self.status, self.error, self.description, self.headers = status, error, description, headers

    def response(self) -> Response:
        return Response.json(self.status, {"error": self.error, "error_description": self.description},
                             self.headers)
