"""The `WWW-Authenticate` values the gate (`GET /auth`) answers (docs/api-gate.md).

`/protected` keeps the seed's exact `Bearer` and `Bearer error="invalid_token"`; the gate names
its resource metadata (RFC 9728 §5.1) and, without credentials, also offers DPoP (RFC 9449 §7.1).
`origin` is the origin the client addressed (the responder's RESOURCE_ORIGIN, or scheme and Host).
"""
from __future__ import annotations

from urllib.parse import urlsplit

#: AUTH_DPOP_ALGS' default, in the responder's order.
DPOP_ALGS = "ES256 ES384 PS256 PS384 PS512 RS256 RS384 RS512"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def metadata_url(origin: str) -> str:
    return f"{origin}/.well-known/oauth-protected-resource"


def gate_unauthenticated(origin: str) -> str:
    return f'Bearer resource_metadata="{metadata_url(origin)}", DPoP algs="{DPOP_ALGS}"'


def gate_invalid(origin: str) -> str:
    return f'Bearer error="invalid_token", resource_metadata="{metadata_url(origin)}"'


def gate_challenge(expect: str, origin: str) -> str:
    """`expect` is "unauthenticated" or "invalid", as in harness.attacks."""
    return gate_unauthenticated(origin) if expect == "unauthenticated" else gate_invalid(origin)
