"""Keycloak's browser cookies (``CookieType``, ``DefaultCookieProvider``): their names, the realm
path they live on, and their attributes.

- ``KEYCLOAK_IDENTITY``: the SSO cookie, a signed internal token naming the user session;
  HttpOnly, a browser-session cookie (no Max-Age).
- ``KEYCLOAK_SESSION``: readable by JavaScript (session iframe), Max-Age = SSO Session Max.
- ``AUTH_SESSION_ID``: the login in progress (the root authentication session); HttpOnly.

All sit on the realm path ``/realms/<realm>/`` (``CookiePathResolver``). Their scope is
"federation": ``SameSite=None; Secure`` in a secure context (https, or a loopback/localhost
host, ``SecureContextResolver``), otherwise ``SameSite=Lax`` without ``Secure``. Keycloak
expires a cookie only when the request carried it (``DefaultCookieProvider.expire``).
"""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from typing import Mapping
from urllib.parse import urlsplit

IDENTITY = "KEYCLOAK_IDENTITY"
SESSION = "KEYCLOAK_SESSION"
AUTH_SESSION_ID = "AUTH_SESSION_ID"

#: Keycloak's default "SSO Session Max" (36000 s), the Max-Age of ``KEYCLOAK_SESSION``.
SSO_SESSION_MAX_SECONDS = 36000

_LOOPBACK_V4 = re.compile(r"127\.\d{1,3}\.\d{1,3}\.\d{1,3}")


def is_secure_context(base_url: str) -> bool:
    """``SecureContextResolver.isSecureContext``: https, or a host a browser trusts anyway."""
    parts = urlsplit(base_url)
    if parts.scheme == "https":
        return True
    host = (parts.hostname or "").lower()
    return (host in ("::1", "localhost", "localhost.") or bool(_LOOPBACK_V4.fullmatch(host))
            or host.endswith((".localhost", ".localhost.")))


def request_cookies(headers: Mapping[str, str]) -> dict[str, str]:
    """The cookies a request carries (first value of each name)."""
    jar: dict[str, str] = {}
    for header in getattr(headers, "get_all", lambda name, default=None: [headers.get(name)])("Cookie") or []:
        if not header:
            continue
        parsed = SimpleCookie()
        try:
            parsed.load(header)
        except Exception:  # a malformed Cookie header is ignored as a browser's would be
            continue
        for name, morsel in parsed.items():
            jar.setdefault(name, morsel.value)
    return jar


class CookieWriter:
    """``Set-Cookie`` values for one realm: its path and whether the context is secure."""

    def __init__(self, path: str, secure: bool):
        self.path = path
        self.secure = secure

    def set(self, name: str, value: str, *, http_only: bool, max_age: int | None = None) -> tuple[str, str]:
        attributes = [f"{name}={value}", "Version=1", f"Path={self.path}"]
        if max_age is not None:
            attributes.append(f"Max-Age={max_age}")
        attributes.append("SameSite=None; Secure" if self.secure else "SameSite=Lax")
        if http_only:
            attributes.append("HttpOnly")
        return "Set-Cookie", "; ".join(attributes)

    def expire(self, name: str) -> tuple[str, str]:
        return "Set-Cookie", (f"{name}=; Version=1; Path={self.path}; Max-Age=0; "
                              "Expires=Thu, 01 Jan 1970 00:00:00 GMT")
