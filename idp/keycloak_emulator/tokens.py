"""What the realm's tokens contain: Keycloak's access, refresh and ID token claims, and the
token endpoint's answer."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from .config import Config
from .encoding import b64url
from .keys import KeyRing
from .sessions import SESSION_IDLE_SECONDS, Session
from .users import User


#: The client's web origin (the seed app's root URL), echoed as ``allowed-origins``.
ALLOWED_ORIGINS = ["http://localhost:8000"]


def set_order(values: Any) -> list[str]:
    """The members of a set in an order that looks arbitrary but is stable, as a Java
    ``HashSet`` serializes them (Keycloak's roles are ``Set<String>``: ``AccessToken.Access``).
    Deliberately not sorted, so that a consumer relying on the order is caught."""
    return sorted(values, key=lambda value: hashlib.sha256(value.encode("utf-8")).digest())


class TokenFactory:
    """Builds the claims of the realm's tokens (issued by ``issuer``, signed by ``keys``)."""

    def __init__(self, config: Config, issuer: str, keys: KeyRing):
        self.config = config
        self._issuer = issuer
        self._keys = keys

    @property
    def bearer(self) -> str:
        """``typ`` of access tokens and ``token_type``: lower case with the client option
        (``TokenManager.formatTokenType``)."""
        return "bearer" if self.config.lower_case_bearer else "Bearer"

    @property
    def access_header_type(self) -> str:
        """The JOSE ``typ`` of access tokens (``DefaultTokenManager.type``)."""
        return "at+jwt" if self.config.rfc9068_header_type else "JWT"

    def access_claims(self, user: User, session: Session, now: int, lightweight: bool | None = None) -> dict[str, Any]:
        """Keycloak's access-token claims, in Keycloak's order.

        Roles are sets (order arbitrary). ``aud`` is what the Audience Resolve mapper adds,
        every other client the user holds roles of (``AudienceResolveProtocolMapper``: never the
        token's own client), plus the client itself when it has an Audience mapper; a single
        audience is a string, none leaves ``aud`` out. A lightweight token keeps only what
        ``TokenManager.initToken`` sets; every mapper's claim is left out.
        """
        lightweight = self.config.lightweight_access_tokens if lightweight is None else lightweight
        realm_roles, client_roles = user.effective_roles(self.config.realm)
        resource_access = {client: {"roles": set_order(roles)} for client, roles in
                           sorted(client_roles.items(), key=lambda item: set_order([item[0]])) if roles}
        audience = [client for client in resource_access if client != self.config.client_id]
        if self.config.client_audience_mapper:
            audience.insert(0, self.config.client_id)
        claims: dict[str, Any] = {
            "exp": now + self.config.access_token_lifespan,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "iss": self._issuer,
        }
        if lightweight:
            claims.update({"typ": self.bearer, "azp": self.config.client_id, "sid": session.sid, "acr": "1",
                           "scope": session.scope})
            return claims
        if audience:
            claims["aud"] = audience[0] if len(audience) == 1 else audience
        claims.update({
            "sub": user.id,
            "typ": self.bearer,
            "azp": self.config.client_id,
            "sid": session.sid,
            "acr": "1",
            "allowed-origins": list(ALLOWED_ORIGINS),
        })
        if realm_roles:
            claims["realm_access"] = {"roles": set_order(realm_roles)}
        if resource_access:
            claims["resource_access"] = resource_access
        claims["scope"] = session.scope
        claims.update(user.profile_claims())
        return claims

    def refresh_claims(self, user: User, session: Session, now: int) -> dict[str, Any]:
        """Refresh-token claims (``typ: Refresh``); the token lives as long as the session idles."""
        return {
            "exp": now + SESSION_IDLE_SECONDS, "iat": now, "jti": str(uuid.uuid4()), "iss": self._issuer,
            "aud": self._issuer, "sub": user.id, "typ": "Refresh", "azp": self.config.client_id,
            "sid": session.sid, "scope": session.scope,
        }

    def token_body(self, user: User, session: Session, now: int) -> dict[str, Any]:
        """The token endpoint's answer: access, refresh and (with ``openid``) ID token."""
        access_token = self._keys.sign(self.access_claims(user, session, now), header_type=self.access_header_type)
        body: dict[str, Any] = {
            "access_token": access_token,
            "expires_in": self.config.access_token_lifespan,
            "refresh_expires_in": SESSION_IDLE_SECONDS,
            "refresh_token": self._keys.sign(self.refresh_claims(user, session, now), self._keys.refresh),
            "token_type": self.bearer,
        }
        if "openid" in session.scope.split():
            body["id_token"] = self._keys.sign(self.id_claims(user, session, now, access_token))
        body["not-before-policy"] = 0
        body["session_state"] = session.sid
        body["scope"] = session.scope
        return body

    def id_claims(self, user: User, session: Session, now: int, access_token: str) -> dict[str, Any]:
        """ID token claims; ``at_hash`` per OpenID Connect Core 3.1.3.6."""
        digest = hashlib.new("sha" + self.config.alg[2:], access_token.encode("ascii")).digest()
        return {
            "exp": now + self.config.access_token_lifespan, "iat": now, "auth_time": session.started,
            "jti": str(uuid.uuid4()), "iss": self._issuer, "aud": self.config.client_id, "sub": user.id,
            "typ": "ID", "azp": self.config.client_id, "sid": session.sid,
            "at_hash": b64url(digest[: len(digest) // 2]), "acr": "1", **user.profile_claims(),
        }
