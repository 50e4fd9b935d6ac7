"""User sessions (``sid``) with Keycloak's idle timeout, and revoked access-token ids."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from typing import Any

from .users import User


#: Keycloak's default "SSO Session Idle": the refresh token's lifetime.
SESSION_IDLE_SECONDS = 1800


@dataclass
class Session:
    """A user session (Keycloak's ``sid`` / ``session_state``)."""

    sid: str
    user_id: str
    scope: str
    started: int
    expires_at: float


class SessionStore:
    """Live sessions and revoked access-token ids, behind one lock."""

    _PRUNE_EVERY = 1024

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._revoked_jti: dict[str, float] = {}
        self._created = 0

    def create(self, user: User, scope: str, now: float) -> Session:
        """Start a session that lives ``SESSION_IDLE_SECONDS`` unless refreshed."""
        session = Session(str(uuid.uuid4()), user.id, scope, int(now), now + SESSION_IDLE_SECONDS)
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
        """A refresh restarts the idle timer."""
        with self._lock:
            session.expires_at = now + SESSION_IDLE_SECONDS

    def end(self, sid: Any) -> bool:
        """End one session; True if it existed."""
        with self._lock:
            return isinstance(sid, str) and self._sessions.pop(sid, None) is not None

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
