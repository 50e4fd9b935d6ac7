"""Keycloak's checks of a requested redirect URI against a client's registered ones
(``RedirectUtils.verifyRedirectUri``), of a post-logout redirect URI
(``OIDCAdvancedConfigWrapper.getPostLogoutRedirectUris``: ``+`` means the redirect URIs), and
the client's web origins for CORS (``WebOriginsUtils.resolveValidWebOrigins``).

The wildcard rule is Keycloak's: a registered URI ending in ``*`` (and holding no ``?``) matches
every requested URI that starts with what precedes the ``*`` once the request's query is cut
off, and also that prefix without its trailing ``/``; any other registered URI must be equal.
The requested URI is first percent-decoded (path only, up to five times), normalized and given
a lower-case scheme and host, so that encoding tricks cannot slip past the prefix match.
"""

from __future__ import annotations

import re
from typing import Iterable
from urllib.parse import unquote, urlsplit

from .clients import Client

#: Characters ``java.net.URI.create`` refuses in a decoded URI (so Keycloak answers null).
_ILLEGAL = re.compile(r"[\x00-\x20\x7f\"<>\\^`{|}]")
_MAX_DECODING = 5


def verify_redirect_uri(redirect_uri: str | None, valid: Iterable[str], base_origin: str,
                        require: bool = True) -> str | None:
    """The redirect URI to use, or None when it is not valid for these registered URIs.

    ``require`` is False for a plain OAuth 2 request (no ``openid`` scope): then a missing
    ``redirect_uri`` means the client's only registered URI (``getSingleValidRedirectUri``).
    Relative registered URIs (``/path``) are resolved against ``base_origin``.
    """
    registered = {_resolve(uri, base_origin) for uri in valid}
    if redirect_uri is None:
        if require or len(registered) != 1:
            return None
        only = next(iter(registered))
        return only.split("/*", 1)[0] if "/*" in only else only
    decoded = _decode(redirect_uri)
    if decoded is None or _ILLEGAL.search(decoded):
        return None
    normalized = _normalize(decoded)
    if not registered or normalized is None:
        return None
    candidate = _lower_case_host(normalized)
    return candidate if _matches(registered, candidate) else None


def post_logout_redirect_uris(client: Client) -> tuple[str, ...]:
    """The client's valid post-logout redirect URIs; a leading ``+`` means its redirect URIs."""
    uris = client.post_logout_redirect_uris
    if uris and uris[0] == "+":
        return client.redirect_uris
    return uris


def web_origins(client: Client, base_origin: str) -> set[str]:
    """The client's allowed CORS origins: ``+`` adds the origin of every http(s) redirect URI."""
    origins = set(client.web_origins)
    if "+" in origins:
        origins.discard("+")
        for uri in client.redirect_uris:
            resolved = _resolve(uri, base_origin)
            if resolved.startswith("http"):
                origins.add(origin_of(resolved))
    return origins


def origin_of(uri: str) -> str:
    """``scheme://host[:port]`` of a URI (``UriUtils.getOrigin``)."""
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


def _resolve(uri: str, base_origin: str) -> str:
    return base_origin + uri if uri.startswith("/") else uri


def _decode(uri: str) -> str | None:
    """Decode everything before the query and fragment until it no longer changes
    (``RedirectUtils.decodeRedirectUri``); None when it keeps changing."""
    head, hash_mark, fragment = uri.partition("#")
    head, question_mark, query = head.partition("?")
    for _ in range(_MAX_DECODING):
        decoded = unquote(head)
        if decoded == head:
            return head + question_mark + query + hash_mark + fragment
        head = decoded
    return None


def _normalize(uri: str) -> str | None:
    """``java.net.URI.normalize``: remove ``.`` and ``..`` path segments."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return None
    if not any(segment in (".", "..") for segment in parts.path.split("/")):
        return uri
    output: list[str] = []
    for segment in parts.path.split("/")[1:]:
        if segment == "..":
            if output:
                output.pop()
        elif segment != ".":
            output.append(segment)
    last = parts.path.rsplit("/", 1)[-1]
    path = "/" + "/".join(output) + ("/" if last in (".", "..") and output else "")
    head = f"{parts.scheme}://{parts.netloc}" if parts.scheme else ""
    return head + path + (f"?{parts.query}" if parts.query else "") + (
        f"#{parts.fragment}" if parts.fragment else "")


def _lower_case_host(uri: str) -> str:
    """``RedirectUtils.lowerCaseHostname``: lower-case everything before the first ``/`` after
    the scheme's ``://``."""
    slash = uri.find("/", 7)
    return uri.lower() if slash == -1 else uri[:slash].lower() + uri[slash:]


def _matches(registered: Iterable[str], redirect: str) -> bool:
    """``RedirectUtils.matchesRedirects``."""
    for valid in registered:
        if valid.endswith("*") and "?" not in valid:
            without_query = redirect.split("?", 1)[0]
            prefix = valid[:-1]
            if without_query.startswith(prefix):
                return True
            if len(prefix) > 1 and prefix.endswith("/") and without_query == prefix[:-1]:
                return True
        elif valid == redirect:
            return True
    return False
