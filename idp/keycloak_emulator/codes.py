"""Authorization codes, as Keycloak stores and parses them (``OAuth2CodeParser``).

A code is ``<uuid>.<user session id>.<client internal id>``; its data (redirect URI, scope,
nonce, PKCE challenge, expiry) sits in a single-use store, so the first exchange removes it and
every later one finds nothing: Keycloak then answers "Code not valid" and detaches the client
from the user session. Codes live ``accessCodeLifespan`` seconds (60 by default).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class CodeData:
    """What a code stands for (``OAuth2Code``)."""

    expiration: float
    nonce: str | None
    scope: str | None
    #: The authorization request's ``redirect_uri`` parameter as sent (compared as a string).
    redirect_uri_param: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    sid: str


@dataclass(frozen=True)
class ParsedCode:
    """``OAuth2CodeParser.ParseResult``: the code's parts, its data (None: not valid), expiry."""

    sid: str | None
    client_internal_id: str | None
    data: CodeData | None
    expired: bool = False


class CodeStore:
    """Single-use codes by their uuid, behind one lock; expired entries are pruned as new
    codes are stored."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._codes: dict[str, CodeData] = {}

    def issue(self, data: CodeData, client_internal_id: str, now: float) -> str:
        """Store ``data`` and answer the code (``OAuth2CodeParser.persistCode``)."""
        key = str(uuid.uuid4())
        with self._lock:
            self._codes = {k: v for k, v in self._codes.items() if v.expiration + 60 > now}
            self._codes[key] = data
        return f"{key}.{data.sid}.{client_internal_id}"

    def parse(self, code: str, now: float) -> ParsedCode:
        """Take the code's data out of the store (``OAuth2CodeParser.parseCode``). A malformed,
        unknown or already used code has no data; an expired one is flagged."""
        parts = code.split(".", 2)
        if len(parts) < 3:
            return ParsedCode(None, None, None)
        key, sid, client_internal_id = parts
        try:
            uuid.UUID(key)
        except ValueError:
            return ParsedCode(sid, client_internal_id, None)
        with self._lock:
            data = self._codes.pop(key, None)
        if data is None or data.sid != sid:
            return ParsedCode(sid, client_internal_id, None)
        return ParsedCode(sid, client_internal_id, data, expired=now > data.expiration)
