"""What the realm's tokens contain: Keycloak's access, refresh and ID token claims, and the
token endpoint's answer, for the client that asked (its ``azp``, Audience mappers, options)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from .clients import Client
from .config import Config
from .dpop import DPOP_TOKEN_TYPE, Proof, confirmation
from .encoding import b64url
from .keys import KeyRing
from .redirect_uris import web_origins
from .sessions import SESSION_IDLE_SECONDS, Session
from .users import User


def set_order(values: Any) -> list[str]:
    """The members of a set in an order that looks arbitrary but is stable, as a Java
    ``HashSet`` serializes them (Keycloak's roles are ``Set<String>``: ``AccessToken.Access``).
    Deliberately not sorted, so that a consumer relying on the order is caught."""
    return sorted(values, key=lambda value: hashlib.sha256(value.encode("utf-8")).digest())


def token_scope(requested: str | None) -> str:
    """The ``scope`` of tokens: ``openid`` when requested, and the client's default scopes that
    show in the scope string (``profile``, ``email``)."""
    return "openid email profile" if "openid" in (requested or "").split() else "email profile"


class TokenFactory:
    """Builds the claims of the realm's tokens (issued by ``issuer``, signed by ``keys``)."""

    def __init__(self, config: Config, issuer: str, keys: KeyRing, base_origin: str):
        self.config = config
        self._issuer = issuer
        self._keys = keys
        self._base_origin = base_origin

    def access_claims(self, user: User, session: Session, client: Client, now: int,
                      lightweight: bool | None = None, proof: Proof | None = None) -> dict[str, Any]:
        """Keycloak's access-token claims, in Keycloak's order.

        Roles are sets (order arbitrary). ``aud`` is what the client's Audience mappers add
        (the confidential client names itself; the Swagger client names the confidential one),
        followed by what the Audience Resolve mapper adds: every other client the user holds
        roles of (``AudienceResolveProtocolMapper``: never the token's own client). A single
        audience is a string, none leaves ``aud`` out. ``acr`` is "0" when the client session
        was authenticated through the SSO cookie, else "1" (``TokenManager.initToken``). A
        lightweight token keeps only what ``initToken`` sets; every mapper's claim is left out.
        With a DPoP ``proof`` (lightweight or not), Keycloak's transient DPoP mapper sets
        ``typ`` to ``DPoP`` and ``cnf`` (``AccessToken`` serializes ``cnf`` just before
        ``scope``): ``DPoPUtil.DpopProtocolMapper.transformAccessToken``.
        """
        lightweight = client.lightweight_access_tokens if lightweight is None else lightweight
        client_session = session.clients.get(client.client_id)
        scope = client_session.scope if client_session is not None else session.scope
        acr = "0" if client_session is not None and client_session.sso else "1"
        realm_roles, client_roles = user.effective_roles(self.config.realm)
        resource_access = {name: {"roles": set_order(roles)} for name, roles in
                           sorted(client_roles.items(), key=lambda item: set_order([item[0]])) if roles}
        audience = list(client.audiences)
        audience += [name for name in resource_access if name != client.client_id and name not in audience]
        claims: dict[str, Any] = {
            "exp": now + self.config.access_token_lifespan,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "iss": self._issuer,
        }
        token_type = DPOP_TOKEN_TYPE if proof is not None else client.bearer
        cnf = {"cnf": confirmation(proof, self.config.dpop_jkt_type)} if proof is not None else {}
        if lightweight:
            claims.update({"typ": token_type, "azp": client.client_id, "sid": session.sid, "acr": acr,
                           **cnf, "scope": scope})
            return claims
        if audience:
            claims["aud"] = audience[0] if len(audience) == 1 else audience
        claims.update({
            "sub": user.id,
            "typ": token_type,
            "azp": client.client_id,
            "sid": session.sid,
            "acr": acr,
        })
        origins = web_origins(client, self._base_origin)
        if origins:  # AllowedWebOriginsProtocolMapper: only when the client has web origins
            claims["allowed-origins"] = set_order(origins)
        if realm_roles:
            claims["realm_access"] = {"roles": set_order(realm_roles)}
        if resource_access:
            claims["resource_access"] = resource_access
        claims.update(cnf)
        claims["scope"] = scope
        claims.update(user.profile_claims())
        return claims

    def refresh_claims(self, user: User, session: Session, client: Client, now: int,
                       proof: Proof | None = None) -> dict[str, Any]:
        """Refresh-token claims (``typ: Refresh``); the token lives as long as the session idles.
        With a DPoP ``proof``, a public client's refresh token carries the access token's
        ``cnf`` too; a confidential client's never does (RFC 9449 section 5:
        ``TokenManager.AccessTokenResponseBuilder.getConfirmation``)."""
        client_session = session.clients.get(client.client_id)
        claims: dict[str, Any] = {
            "exp": now + SESSION_IDLE_SECONDS, "iat": now, "jti": str(uuid.uuid4()), "iss": self._issuer,
            "aud": self._issuer, "sub": user.id, "typ": "Refresh", "azp": client.client_id, "sid": session.sid,
        }
        if proof is not None and client.public:
            claims["cnf"] = confirmation(proof, self.config.dpop_jkt_type)
        claims["scope"] = client_session.scope if client_session else session.scope
        return claims

    def token_body(self, user: User, session: Session, client: Client, now: int,
                   nonce: str | None = None, proof: Proof | None = None) -> dict[str, Any]:
        """The token endpoint's answer: access, refresh and (with ``openid``) ID token; ``nonce``
        is the authorization request's, for the code exchange only. With a DPoP ``proof`` the
        tokens are bound and ``token_type`` is the access token's ``typ``, ``DPoP`` (lower
        case with the lower-case option: ``TokenManager.formatTokenType``)."""
        access_claims = self.access_claims(user, session, client, now, proof=proof)
        access_token = self._keys.sign(access_claims, header_type=client.access_header_type)
        body: dict[str, Any] = {
            "access_token": access_token,
            "expires_in": self.config.access_token_lifespan,
            "refresh_expires_in": SESSION_IDLE_SECONDS,
            "refresh_token": self._keys.sign(self.refresh_claims(user, session, client, now, proof),
                                             self._keys.refresh),
            "token_type": client.bearer if proof is None else
            (DPOP_TOKEN_TYPE.lower() if client.lower_case_bearer else DPOP_TOKEN_TYPE),
        }
        if "openid" in str(access_claims.get("scope", "")).split():
            body["id_token"] = self._keys.sign(self.id_claims(user, session, client, now, access_token, nonce))
        body["not-before-policy"] = 0
        body["session_state"] = session.sid
        body["scope"] = access_claims["scope"]
        return body

    def id_claims(self, user: User, session: Session, client: Client, now: int, access_token: str,
                  nonce: str | None = None) -> dict[str, Any]:
        """ID token claims (``AccessTokenResponseBuilder.generateIDToken``): ``aud`` the client,
        the request's ``nonce`` when there was one, ``at_hash`` per OpenID Connect Core
        3.1.3.6, ``acr`` as the access token's."""
        digest = hashlib.new("sha" + self.config.alg[2:], access_token.encode("ascii")).digest()
        client_session = session.clients.get(client.client_id)
        claims: dict[str, Any] = {
            "exp": now + self.config.access_token_lifespan, "iat": now, "auth_time": session.started,
            "jti": str(uuid.uuid4()), "iss": self._issuer, "aud": client.client_id, "sub": user.id,
            "typ": "ID", "azp": client.client_id,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        claims.update({
            "sid": session.sid, "at_hash": b64url(digest[: len(digest) // 2]),
            "acr": "0" if client_session is not None and client_session.sso else "1",
        })
        claims.update(user.profile_claims())
        return claims
