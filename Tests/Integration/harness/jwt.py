"""base64url (RFC 4648 §5, unpadded as in JWS) and the unverified parts of a compact JWT: the one
copy the tests share. Nothing here verifies a signature (the tests that need that use joserfc).

    from harness.jwt import claims_of, header_of

    header_of(token)["kid"], claims_of(token)["exp"]
"""

from __future__ import annotations

import base64
import json


def b64url_encode(data: bytes) -> str:
    """base64url without padding, as JWS segments are written."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """The bytes of an unpadded (or padded) base64url text: a segment, a JWK's `n`, ..."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def segments(token: str) -> list[str]:
    """The dot-separated segments of a compact token, as they are (any count)."""
    return token.split(".")


def header_of(token: str) -> dict:
    """The JOSE header of a compact token, unverified."""
    return json.loads(b64url_decode(segments(token)[0]))


def claims_of(token: str) -> dict:
    """The payload of a compact JWS, unverified."""
    return json.loads(b64url_decode(segments(token)[1]))


def parts(token: str) -> tuple[dict, dict]:
    """(header, claims) of a three-segment compact JWS, unverified."""
    head, payload, _ = segments(token)
    return json.loads(b64url_decode(head)), json.loads(b64url_decode(payload))


def kid_of(token: str) -> str:
    """The key id in a token's header."""
    return header_of(token)["kid"]
