"""Authentication sessions: a login or a logout in progress in one browser tab, between the
request that started it and the form post that finishes it (Keycloak's
``RootAuthenticationSessionModel`` named by the ``AUTH_SESSION_ID`` cookie, with one
``AuthenticationSessionModel`` per tab). They live ``accessCodeLifespanLogin`` (1800 s)."""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field

#: Keycloak's default "Login timeout" (``accessCodeLifespanLogin``).
AUTH_SESSION_SECONDS = 1800


@dataclass
class AuthSession:
    """One tab's login (``action == "authenticate"``) or logout (``"logout"``) in progress."""

    tab_id: str
    client_id: str
    action: str
    #: The current form's ``session_code``; a post must carry it.
    session_code: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    # A login: the validated authorization request.
    redirect_uri: str | None = None
    redirect_uri_param: str | None = None
    response_type: str = "code"
    response_mode: str = "query"
    state: str | None = None
    nonce: str | None = None
    scope: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    # A logout: where to go afterwards, and the session the ``id_token_hint`` named.
    logout_redirect_uri: str | None = None
    logout_state: str | None = None
    id_token_sid: str | None = None
    id_token_iat: int | None = None

    def new_code(self) -> str:
        """A fresh ``session_code`` for the next rendering of the form."""
        self.session_code = secrets.token_urlsafe(32)
        return self.session_code


@dataclass
class _Root:
    expires_at: float
    tabs: dict[str, AuthSession] = field(default_factory=dict)


class AuthSessionStore:
    """Root authentication sessions by ``AUTH_SESSION_ID``, each with its tabs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._roots: dict[str, _Root] = {}

    def open(self, root_id: str | None, auth: AuthSession) -> str:
        """Add ``auth`` to the root named by the browser's cookie, or to a new root; answer the
        root id (the cookie's value)."""
        now = time.time()
        with self._lock:
            self._roots = {key: root for key, root in self._roots.items() if root.expires_at > now}
            root = self._roots.get(root_id) if root_id else None
            if root is None:
                root_id = str(uuid.uuid4())
                root = self._roots[root_id] = _Root(now + AUTH_SESSION_SECONDS)
            root.tabs[auth.tab_id] = auth
            assert root_id is not None
            return root_id

    def get(self, root_id: str | None, tab_id: str | None) -> AuthSession | None:
        now = time.time()
        with self._lock:
            root = self._roots.get(root_id) if root_id else None
            if root is None or root.expires_at <= now or tab_id is None:
                return None
            return root.tabs.get(tab_id)

    def close(self, root_id: str | None, tab_id: str) -> None:
        with self._lock:
            root = self._roots.get(root_id) if root_id else None
            if root is not None:
                root.tabs.pop(tab_id, None)


def new_tab_id() -> str:
    """A tab id like Keycloak's (short, URL-safe)."""
    return secrets.token_urlsafe(8)
