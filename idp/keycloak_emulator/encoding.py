"""JSON and base64url as Keycloak writes them (shared by keys, HTTP values and tokens)."""

from __future__ import annotations

import base64
import json
from typing import Any


def json_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON, as Keycloak writes it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
