"""The OpenID Connect behaviour of one Keycloak realm with one confidential client: its
endpoints, the grants, client authentication and token checks, and ``sslRequired``."""

from __future__ import annotations

import base64
import hmac
import ipaddress
import time
from typing import Any, Mapping
from urllib.parse import quote, unquote_plus, urlsplit

from .config import Config
from .discovery import discovery_document
from .encoding import json_bytes
from .keys import KeyRing
from .messages import OAuthError, Request, Response
from .sessions import Session, SessionStore
from .tokens import TokenFactory
from .users import User, UserDirectory


INVALID_CLIENT_DESCRIPTION = "Invalid client or Invalid client credentials"
TOKEN_VERIFICATION_FAILED = "Token verification failed"
SESSION_NOT_FOUND = "User session not found or doesn't have client attached on it"


#: Addresses Keycloak's ``SslRequired.EXTERNAL`` counts as local (``SslRequired.isLocal``:
#: loopback, site-local, link-local, IPv6 unique local). 100.64.0.0/10 is not among them.
LOCAL_NETWORKS = tuple(ipaddress.ip_network(net) for net in (
    "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
    "::1/128", "fe80::/10", "fec0::/10", "fc00::/7",
))


def is_local_address(host: str) -> bool:
    """Whether Keycloak's ``sslRequired: external`` lets this client address use plain HTTP."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    address = getattr(address, "ipv4_mapped", None) or address
    return any(address in network for network in LOCAL_NETWORKS if network.version == address.version)


NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))

#: What a browser sees when it posts to ``logout`` without a refresh token: Keycloak's
#: RP-initiated logout confirmation (its real page is a themed form; this one carries its words).
LOGOUT_CONFIRMATION_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Logging out</title></head><body>"
    b"<h1>Logging out</h1><p>Do you want to log out?</p>"
    b'<form method="post"><input type="submit" value="Logout"></form></body></html>\n'
)


class KeycloakRealm:
    """The OpenID Connect behaviour of one Keycloak realm with one confidential client."""

    def __init__(self, config: Config, base_url: str, users: UserDirectory):
        self.config = config
        self.users = users
        self.keys = KeyRing(config.alg, config.realm)
        self.sessions = SessionStore()
        self._prefix = "/auth" if config.legacy_auth_prefix else ""
        self.base_url = base_url
        self.issuer = f"{base_url}{self._prefix}/realms/{quote(config.realm)}"
        self.oidc_url = f"{self.issuer}/protocol/openid-connect"
        self.tokens = TokenFactory(config, self.issuer, self.keys)
        self._discovery_body = json_bytes(discovery_document(self.issuer, self.oidc_url, self.oidc_url))

    # Endpoints ------------------------------------------------------------------------------

    def discovery(self, request: Request) -> Response:
        """``GET .well-known/openid-configuration``.

        With ``hostname-backchannel-dynamic``, a request that did not come through the public
        host gets back-channel endpoints built from its own host, while ``issuer`` and the
        front-channel endpoints stay public (``HostnameV2Provider``, ``OIDCWellKnownProvider``).
        """
        host = request.headers.get("Host")
        if self.config.backchannel_dynamic and host and host != urlsplit(self.base_url).netloc:
            backend = f"http://{host}{self._prefix}/realms/{quote(self.config.realm)}/protocol/openid-connect"
            return Response.json(200, discovery_document(self.issuer, self.oidc_url, backend))
        return Response(200, self._discovery_body)

    def ssl_refusal(self, client_host: str) -> Response | None:
        """``checkSsl()``: 403 ``HTTPS required`` when the realm requires TLS for this client
        address and the front-end URL is plain HTTP (``SslRequired.isRequired``)."""
        required = self.config.ssl_required == "all" or (
            self.config.ssl_required == "external" and not is_local_address(client_host))
        if required and not self.base_url.startswith("https:"):
            return Response.json(403, {"error": "invalid_request", "error_description": "HTTPS required"})
        return None

    def certs(self, request: Request) -> Response:
        """``GET protocol/openid-connect/certs``: the JWKS."""
        return Response(200, self.keys.jwks_body)

    def token(self, request: Request) -> Response:
        """``POST token``: the ``password`` and ``refresh_token`` grants."""
        form = request.form()
        grant_type = form.get("grant_type")
        if not grant_type:
            raise OAuthError(400, "invalid_request", "Missing form parameter: grant_type")
        if grant_type not in ("password", "refresh_token"):
            raise OAuthError(400, "unsupported_grant_type", "Unsupported grant_type")
        self._authenticate_client(form, request.headers)
        now = time.time()
        if grant_type == "password":
            user, session = self._password_grant(form, now)
        else:
            user, session = self._refresh_grant(form, now)
        return Response.json(200, self.tokens.token_body(user, session, int(now)), NO_STORE)

    def userinfo(self, request: Request) -> Response:
        """``GET``/``POST userinfo`` with a Bearer access token."""
        now = time.time()
        claims = self._verified_access_token(request.headers.get("Authorization"), now)
        if claims is None:
            raise self._userinfo_error(401, "invalid_token", TOKEN_VERIFICATION_FAILED)
        if "openid" not in str(claims.get("scope", "")).split():
            raise self._userinfo_error(403, "insufficient_scope", "Missing openid scope")
        user = self.users.by_id(claims.get("sub"))
        if not self._is_live(claims, now) or user is None or not user.enabled:
            raise self._userinfo_error(401, "invalid_token", SESSION_NOT_FOUND)
        return Response.json(200, {"sub": user.id, **user.profile_claims()})

    def introspect(self, request: Request) -> Response:
        """``POST token/introspect`` (RFC 7662; ``AccessTokenIntrospectionProvider``).

        An access token is answered with its claims rebuilt from the user and session, as
        Keycloak does (a lightweight token introspects with every claim), plus ``client_id``,
        ``username``, ``token_type`` and ``active``. From 26.6.2 the calling client must be in
        the token's ``aud``, else the token is inactive for it.
        """
        token = self._client_token(request, "Token not provided.")
        now = time.time()
        claims = self.keys.verify(token) or self.keys.verify(token, refresh=True)
        if claims is None or not self._is_valid(claims, now) or not self._is_live(claims, now):
            return Response.json(200, {"active": False})
        user = self.users.by_id(claims.get("sub"))
        session = self.sessions.alive(claims.get("sid"), now)
        answer = dict(claims)
        if str(claims.get("typ", "")).lower() == "bearer" and session is not None:
            user = user or self.users.by_id(session.user_id)
            if self.config.lightweight_access_tokens and user is not None:
                # The mappers' claims, rebuilt for introspection; the token's own basic claims
                # (getAccessTokenFromStoredData) stay as the token has them.
                full = self.tokens.access_claims(user, session, int(claims.get("iat", now)), lightweight=False)
                basic = ("exp", "iat", "jti", "typ", "azp", "iss", "scope", "sid", "nonce", "cnf")
                answer = {name: value for name, value in full.items() if name not in basic}
                answer.update({name: claims[name] for name in basic if name in claims})
            audience = answer.get("aud", [])
            audience = [audience] if isinstance(audience, str) else audience
            if self.config.introspection_audience_check and self.config.client_id not in audience:
                return Response.json(200, {"active": False})
        answer["client_id"] = claims.get("azp")
        answer["username"] = user.username if user else claims.get("preferred_username")
        answer["token_type"] = claims.get("typ")
        answer["active"] = True
        return Response.json(200, answer)

    def logout(self, request: Request) -> Response:
        """``POST logout`` (``LogoutEndpoint``).

        With a ``refresh_token`` (``logoutToken()``): the token's signature, type, issuer and
        client are checked but not its expiry; the session is ended if it still exists, and the
        answer is 204 either way, so a repeated logout succeeds. Without one, Keycloak runs the
        browser's RP-initiated logout and shows its confirmation page.
        """
        form = request.form()
        if "refresh_token" not in form:
            return Response(200, LOGOUT_CONFIRMATION_PAGE, "text/html;charset=utf-8")
        self._authenticate_client(form, request.headers)
        now = time.time()
        claims = self._verified_refresh_token(form["refresh_token"], now, check_expiration=False)
        if self.sessions.alive(claims.get("sid"), now) is not None:
            self.sessions.end(claims.get("sid"))
        return Response(204, content_type=None)

    def revoke(self, request: Request) -> Response:
        """``POST revoke`` (RFC 7009): a refresh token ends its session, an access token dies.

        Unknown or invalid tokens are answered 200 too (RFC 7009 section 2.2).
        """
        token = self._client_token(request, "Token not provided")
        now = time.time()
        refresh_claims = self.keys.verify(token, refresh=True)
        if refresh_claims is not None and refresh_claims.get("iss") == self.issuer:
            self.sessions.end(refresh_claims.get("sid"))
        else:
            claims = self.keys.verify(token)
            if claims is not None and self._is_valid(claims, now):
                self.sessions.revoke_access_token(claims.get("jti"), claims.get("exp"), now)
        return Response(200, content_type=None)

    # Grants ---------------------------------------------------------------------------------

    def _password_grant(self, form: Mapping[str, str], now: float) -> tuple[User, Session]:
        username = form.get("username")
        if not username:
            raise OAuthError(401, "invalid_request", "Missing parameter: username")
        user = self.users.find(username)
        invalid = OAuthError(self.config.invalid_grant_status, "invalid_grant", "Invalid user credentials")
        if user is None:
            raise invalid
        if not user.enabled:
            raise OAuthError(400, "invalid_grant", "Account disabled")
        if not user.password_matches(form.get("password", "")):
            raise invalid
        if not user.profile_complete:
            raise OAuthError(400, "invalid_grant", "Account is not fully set up")
        requested = form.get("scope", "").split()
        scope = "openid email profile" if "openid" in requested else "email profile"
        return user, self.sessions.create(user, scope, now)

    def _refresh_grant(self, form: Mapping[str, str], now: float) -> tuple[User, Session]:
        token = form.get("refresh_token")
        if not token:
            raise OAuthError(400, "invalid_request", "Missing parameter: refresh_token")
        claims = self._verified_refresh_token(token, now, check_expiration=True)
        session = self.sessions.alive(claims.get("sid"), now)
        user = self.users.by_id(session.user_id) if session is not None else None
        if session is None or user is None or not user.enabled:
            raise OAuthError(400, "invalid_grant", "Session not active")
        self.sessions.extend(session, now)
        return user, session

    def _verified_refresh_token(self, token: str, now: float, *, check_expiration: bool) -> dict[str, Any]:
        """``TokenManager.verifyRefreshToken``: signature, type, issuer, expiry (only when
        asked: the logout endpoint does not), then the client; Keycloak's error for each."""
        claims = self.keys.verify(token, refresh=True)
        if claims is None or claims.get("typ") not in ("Refresh", "Offline"):
            raise OAuthError(400, "invalid_grant", "Invalid refresh token")
        if claims.get("iss") != self.issuer:
            raise OAuthError(400, "invalid_grant",
                             f"Invalid token issuer. Expected '{self.issuer}', but was '{claims.get('iss')}'")
        if check_expiration:
            exp = claims.get("exp", 0)
            if not isinstance(exp, (int, float)) or (exp and now > exp):
                raise OAuthError(400, "invalid_grant", "Token is not active")
        if claims.get("azp") != self.config.client_id:
            raise OAuthError(400, "invalid_grant",
                             "Invalid refresh token. Token client and authorized client don't match")
        return claims

    # Checks ---------------------------------------------------------------------------------

    def _client_token(self, request: Request, missing: str) -> str:
        """The form's ``token`` once the client authenticated: how introspection and revocation
        both begin (their words for a missing token differ by a full stop, as in Keycloak)."""
        form = request.form()
        self._authenticate_client(form, request.headers)
        token = form.get("token")
        if not token:
            raise OAuthError(400, "invalid_request", missing)
        return token

    def _authenticate_client(self, form: Mapping[str, str], headers: Mapping[str, str]) -> None:
        """client_secret_basic (credentials form-decoded, RFC 6749 section 2.3.1) or _post."""
        client_id, secret = form.get("client_id"), form.get("client_secret")
        authorization = headers.get("Authorization") or ""
        if authorization[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                decoded = ""
            raw_id, colon, raw_secret = decoded.partition(":")
            if not colon:
                raise OAuthError(401, "invalid_client", INVALID_CLIENT_DESCRIPTION)
            client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        if client_id != self.config.client_id:
            raise OAuthError(401, "invalid_client", INVALID_CLIENT_DESCRIPTION)
        if secret is None or not hmac.compare_digest(secret.encode("utf-8"),
                                                     self.config.client_secret.encode("utf-8")):
            raise OAuthError(401, "unauthorized_client", INVALID_CLIENT_DESCRIPTION)

    def _verified_access_token(self, authorization: str | None, now: float) -> dict[str, Any] | None:
        """Claims of a valid Bearer access token from the header: signature, iss, exp/nbf, typ."""
        if not authorization or authorization[:7].lower() != "bearer ":
            return None
        claims = self.keys.verify(authorization[7:].strip())
        # TokenVerifier.TokenTypeCheck compares the type case-insensitively.
        if claims is None or str(claims.get("typ", "")).lower() != "bearer" or not self._is_valid(claims, now):
            return None
        return claims

    def _is_valid(self, claims: Mapping[str, Any], now: float) -> bool:
        """Keycloak's token checks: our issuer, not expired (absent ``exp`` never expires), not
        before ``nbf``."""
        exp, nbf = claims.get("exp", 0), claims.get("nbf", 0)
        if not isinstance(exp, (int, float)) or not isinstance(nbf, (int, float)):
            return False
        return claims.get("iss") == self.issuer and not (exp and now > exp) and not (nbf and now < nbf)

    def _is_live(self, claims: Mapping[str, Any], now: float) -> bool:
        """The token's session is alive and the token itself was not revoked."""
        return self.sessions.alive(claims.get("sid"), now) is not None and not self.sessions.is_revoked(
            claims.get("jti"))

    def _userinfo_error(self, status: int, error: str, description: str) -> OAuthError:
        challenge = (f'Bearer realm="{self.config.realm}", error="{error}", '
                     f'error_description="{description}"')
        return OAuthError(status, error, description, (("WWW-Authenticate", challenge),))
