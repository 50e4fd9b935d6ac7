"""User sessions (``sid``) with Keycloak's idle timeout, the client sessions inside them, and
revoked access-token ids.

As in Keycloak a user session holds one client session per client that obtained tokens in it
(``UserSessionModel.getAuthenticatedClientSessions``): the password grant and a code exchange
attach their client, a second browser login through the SSO cookie attaches another client to
the same session. Logout notifies the clients found there (back-channel logout), and a replayed
authorization code detaches its client (``AuthenticatedClientSessionModel.detachFromUserSession``).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from .users import User


#: Keycloak's default "SSO Session Idle": the refresh token's lifetime.
SESSION_IDLE_SECONDS = 1800


@dataclass
class ClientSession:
    """A client's part of a user session (``AuthenticatedClientSessionModel``)."""

    client_id: str
    scope: str
    started: int
    #: Authenticated through the SSO cookie rather than a form in this request (``acr`` "0").
    sso: bool = False


@dataclass
class Session:
    """A user session (Keycloak's ``sid`` / ``session_state``)."""

    sid: str
    user_id: str
    scope: str
    started: int
    expires_at: float
    clients: dict[str, ClientSession] = field(default_factory=dict)


class SessionStore:
    """Live sessions and revoked access-token ids, behind one lock."""

    _PRUNE_EVERY = 1024

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._revoked_jti: dict[str, float] = {}
        self._created = 0

    def create(self, user: User, scope: str, now: float, client_id: str | None = None) -> Session:
        """Start a session that lives ``SESSION_IDLE_SECONDS`` unless refreshed, with a client
        session for ``client_id`` when given."""
        session = Session(str(uuid.uuid4()), user.id, scope, int(now), now + SESSION_IDLE_SECONDS)
        if client_id is not None:
            session.clients[client_id] = ClientSession(client_id, scope, int(now))
        with self._lock:
            self._created += 1
            if self._created % self._PRUNE_EVERY == 0:
                self._sessions = {sid: s for sid, s in self._sessions.items() if s.expires_at > now}
            self._sessions[session.sid] = session
        return session

    def alive(self, sid: Any, now: float) -> Session | None:
        """The session if it exists and has not idled out."""
        with self._lock:
            session = self._sessions.get(sid) if isinstance(sid, str) else None
            return session if session is not None and session.expires_at > now else None

    def extend(self, session: Session, now: float) -> None:
        """A refresh (or a login through the SSO cookie) restarts the idle timer."""
        with self._lock:
            session.expires_at = now + SESSION_IDLE_SECONDS

    def attach(self, session: Session, client_id: str, scope: str, now: float, sso: bool) -> ClientSession:
        """Give ``client_id`` a (new) client session in ``session``."""
        client_session = ClientSession(client_id, scope, int(now), sso)
        with self._lock:
            session.clients[client_id] = client_session
        return client_session

    def detach(self, session: Session, client_id: str) -> None:
        """Remove ``client_id``'s client session: its tokens stop working, the session lives on."""
        with self._lock:
            session.clients.pop(client_id, None)

    def client_session(self, session: Session, client_id: Any) -> ClientSession | None:
        with self._lock:
            return session.clients.get(client_id) if isinstance(client_id, str) else None

    def of_user(self, user_id: str, now: float) -> list[Session]:
        """The user's live sessions."""
        with self._lock:
            return [s for s in self._sessions.values() if s.user_id == user_id and s.expires_at > now]

    def pop(self, sid: Any) -> Session | None:
        """Remove one session and answer it (None if there was none)."""
        with self._lock:
            return self._sessions.pop(sid, None) if isinstance(sid, str) else None

    def end(self, sid: Any) -> bool:
        """End one session without notifying anyone; True if it existed."""
        return self.pop(sid) is not None

    def clear(self) -> int:
        """End every session; answer how many there were."""
        with self._lock:
            count = len(self._sessions)
            self._sessions.clear()
            return count

    def revoke_access_token(self, jti: Any, exp: Any, now: float) -> None:
        """Remember a revoked access token until it would have expired anyway."""
        if not isinstance(jti, str):
            return
        until = float(exp) if isinstance(exp, (int, float)) else now + SESSION_IDLE_SECONDS
        with self._lock:
            self._revoked_jti = {j: t for j, t in self._revoked_jti.items() if t > now}
            self._revoked_jti[jti] = until

    def is_revoked(self, jti: Any) -> bool:
        """Whether this access-token id was revoked."""
        with self._lock:
            return jti in self._revoked_jti
