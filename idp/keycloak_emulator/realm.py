"""The OpenID Connect behaviour of one Keycloak realm: its back-channel endpoints (token,
userinfo, introspection, logout, revocation), the grants, client authentication and token
checks, CORS for browser clients, ending sessions with back-channel logout, and
``sslRequired``. The browser's endpoints (authorization, login form, RP-initiated logout) are
``browser.BrowserFlow``'s; this class holds the state both share."""

from __future__ import annotations

import base64
import hmac
import ipaddress
import time
from typing import Any, Mapping
from urllib.parse import quote, unquote_plus, urlsplit

from .backchannel import BackchannelLogout
from .browser import BrowserFlow
from .clients import Client, ClientRegistry
from .codes import CodeStore
from .config import Config
from .discovery import discovery_document
from .dpop import DPOP_TOKEN_TYPE, DPoPError, DPoPValidator, MalformedKeyError, Proof, bound_thumbprint, check_binding
from .encoding import json_bytes
from .keys import KeyRing
from .messages import OAuthError, Request, Response
from .pkce import check_code_verifier
from .redirect_uris import origin_of, web_origins
from .sessions import Session, SessionStore
from .tokens import TokenFactory, token_scope
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


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """A request header as JAX-RS ``getHeaderString`` gives it: repeated fields joined by
    ``,``; None when absent."""
    get_all = getattr(headers, "get_all", None)
    values = get_all(name) if get_all is not None else None
    if values is None:
        value = headers.get(name)
        return None if value is None else value
    return ",".join(values)


def is_local_address(host: str) -> bool:
    """Whether Keycloak's ``sslRequired: external`` lets this client address use plain HTTP."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    address = getattr(address, "ipv4_mapped", None) or address
    return any(address in network for network in LOCAL_NETWORKS if network.version == address.version)


NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))

#: Keycloak's CORS defaults (``Cors``): allowed request headers (plus ``Authorization`` for
#: endpoints that take credentials) and how long a preflight answer may be cached.
CORS_ALLOWED_HEADERS = ("Origin, Accept, X-Requested-With, Content-Type, Access-Control-Request-Method, "
                        "Access-Control-Request-Headers, DPoP, Authorization")
CORS_MAX_AGE = "3600"


class KeycloakRealm:
    """The OpenID Connect behaviour of one Keycloak realm and its clients."""

    def __init__(self, config: Config, base_url: str, users: UserDirectory):
        self.config = config
        self.users = users
        self.keys = KeyRing(config.alg, config.realm)
        self.sessions = SessionStore()
        self.clients = ClientRegistry.from_config(config)
        self.codes = CodeStore()
        self.prefix = "/auth" if config.legacy_auth_prefix else ""
        self.base_url = base_url
        self.base_origin = origin_of(base_url)
        self.realm_path = f"{self.prefix}/realms/{quote(config.realm)}"
        self.issuer = f"{base_url}{self.realm_path}"
        self.oidc_url = f"{self.issuer}/protocol/openid-connect"
        self.tokens = TokenFactory(config, self.issuer, self.keys, self.base_origin)
        self.backchannel = BackchannelLogout(self.keys, self.clients, self.issuer, config.backchannel_ca_file)
        self.browser = BrowserFlow(self)
        self.dpop = DPoPValidator()
        self._discovery_body = json_bytes(discovery_document(self.issuer, self.oidc_url, self.oidc_url, config.dpop))

    # Endpoints ------------------------------------------------------------------------------

    def discovery(self, request: Request) -> Response:
        """``GET .well-known/openid-configuration``.

        With ``hostname-backchannel-dynamic``, a request that did not come through the public
        host gets back-channel endpoints built from its own host, while ``issuer`` and the
        front-channel endpoints stay public (``HostnameV2Provider``, ``OIDCWellKnownProvider``).
        """
        host = request.headers.get("Host")
        if self.config.backchannel_dynamic and host and host != urlsplit(self.base_url).netloc:
            backend = f"http://{host}{self.realm_path}/protocol/openid-connect"
            return Response.json(200, discovery_document(self.issuer, self.oidc_url, backend, self.config.dpop))
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
        """``POST token``: the ``authorization_code``, ``password`` and ``refresh_token`` grants.

        Once the client is known, answers (errors too) carry CORS headers for the client's web
        origins (``TokenEndpoint``: ``cors.allowedOrigins(session, client)``).
        """
        form = request.form()
        grant_type = form.get("grant_type")
        if not grant_type:
            raise OAuthError(400, "invalid_request", "Missing form parameter: grant_type")
        if grant_type not in ("authorization_code", "password", "refresh_token"):
            raise OAuthError(400, "unsupported_grant_type", "Unsupported grant_type")
        client = self._authenticate_client(form, request.headers)
        cors = self.cors_headers(request, client)
        now = time.time()
        nonce = None
        try:
            proof = self._token_request_proof(request)
            if grant_type == "authorization_code":
                user, session, nonce = self._code_grant(form, client, now)
            elif grant_type == "password":
                user, session = self._password_grant(form, client, now)
            else:
                user, session = self._refresh_grant(form, client, now, proof)
        except OAuthError as error:
            raise OAuthError(error.status, error.error, error.description, error.headers + cors) from None
        except MalformedKeyError:
            # JWKParser's RuntimeException escapes DPoPUtil.handleDPoPHeader (keycloak#49440):
            # KeycloakErrorHandler answers an unexpected error this way.
            return Response.json(500, {"error": "unknown_error"}, cors)
        body = self.tokens.token_body(user, session, client, int(now), nonce, proof)
        return Response.json(200, body, NO_STORE + cors)

    def _token_request_proof(self, request: Request) -> Proof | None:
        """``DPoPUtil.handleDPoPHeader``, called by ``TokenEndpoint.processGrantRequest`` once
        the client is authenticated and before the grant: a ``DPoP`` header (even empty) is
        validated against the token endpoint's URL as this request reached it; a bad proof is
        400 ``invalid_request`` (``invalid_dpop_proof`` before 26.1) with the check's message.
        Without the DPoP feature the header is ignored."""
        proof = header_value(request.headers, "DPoP")
        if not self.config.dpop or proof is None:
            return None
        try:
            return self.dpop.validate(proof, request.method, self.request_url(request))
        except DPoPError as error:
            raise OAuthError(400, self.config.dpop_error, str(error)) from None

    def request_url(self, request: Request) -> str:
        """The absolute URL of the request as Keycloak sees it (``UriInfo.getAbsolutePath``):
        the front-end URL, or with ``hostname-backchannel-dynamic`` the request's own host when
        it came through another one (as ``discovery`` names back-channel endpoints)."""
        host = request.headers.get("Host")
        if self.config.backchannel_dynamic and host and host != urlsplit(self.base_url).netloc:
            return f"http://{host}{request.path}"
        return f"{self.base_url}{request.path}"

    def preflight(self, request: Request, methods: str) -> Response:
        """``OPTIONS`` on an endpoint browsers call (``Cors...preflight()``): any ``Origin`` is
        echoed, with the allowed methods and headers; without ``Origin``, a bare 200."""
        origin = request.headers.get("Origin")
        if origin is None:
            return Response(200, content_type=None)
        return Response(200, content_type=None, headers=(
            ("Access-Control-Allow-Origin", origin), ("Access-Control-Allow-Methods", methods),
            ("Access-Control-Allow-Credentials", "true"), ("Access-Control-Allow-Headers", CORS_ALLOWED_HEADERS),
            ("Access-Control-Max-Age", CORS_MAX_AGE)))

    def cors_headers(self, request: Request, client: Client) -> tuple[tuple[str, str], ...]:
        """``DefaultCors.add`` for an actual request: the ``Origin`` is echoed when it is one of
        the client's web origins (or they hold ``*``); otherwise nothing is added."""
        origin = request.headers.get("Origin")
        allowed = web_origins(client, self.base_origin)
        if origin is None or (origin not in allowed and "*" not in allowed):
            return ()
        return (("Access-Control-Allow-Origin", origin),
                ("Access-Control-Expose-Headers", "Access-Control-Allow-Methods"),
                ("Access-Control-Allow-Credentials", "true"))

    def userinfo(self, request: Request) -> Response:
        """``GET``/``POST userinfo`` with a Bearer access token (or a DPoP-bound one under the
        ``DPoP`` scheme with its proof: ``_verified_access_token``)."""
        now = time.time()
        claims = self._verified_access_token(request, now)
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
        caller, token = self._client_token(request, "Token not provided.", introspection=True)
        now = time.time()
        claims = self.keys.verify(token) or self.keys.verify(token, refresh=True)
        if claims is None or not self._is_valid(claims, now) or not self._is_live(claims, now):
            return Response.json(200, {"active": False})
        user = self.users.by_id(claims.get("sub"))
        session = self.sessions.alive(claims.get("sid"), now)
        answer = dict(claims)
        if str(claims.get("typ", "")).lower() in ("bearer", "dpop") and session is not None:
            user = user or self.users.by_id(session.user_id)
            token_client = self.clients.get(claims.get("azp")) or self.clients.confidential
            if token_client.lightweight_access_tokens and user is not None:
                # The mappers' claims, rebuilt for introspection; the token's own basic claims
                # (getAccessTokenFromStoredData) stay as the token has them.
                full = self.tokens.access_claims(user, session, token_client, int(claims.get("iat", now)),
                                                 lightweight=False)
                basic = ("exp", "iat", "jti", "typ", "azp", "iss", "scope", "sid", "nonce", "cnf")
                answer = {name: value for name, value in full.items() if name not in basic}
                answer.update({name: claims[name] for name in basic if name in claims})
            audience = answer.get("aud", [])
            audience = [audience] if isinstance(audience, str) else audience
            if self.config.introspection_audience_check and caller.client_id not in audience:
                return Response.json(200, {"active": False})
        answer["client_id"] = claims.get("azp")
        answer["username"] = user.username if user else claims.get("preferred_username")
        answer["token_type"] = claims.get("typ")
        answer["active"] = True
        return Response.json(200, answer)

    def logout(self, request: Request) -> Response:
        """``GET``/``POST logout`` (``LogoutEndpoint``).

        A POST with a ``refresh_token`` (``logoutToken()``): the token's signature, type, issuer
        and client are checked but not its expiry; the session is ended if it still exists
        (with back-channel logout to its clients), and the answer is 204 either way, so a
        repeated logout succeeds. Anything else is the browser's RP-initiated logout
        (``BrowserFlow.end_session``).
        """
        if request.method == "GET":
            return self.browser.end_session(request, request.query_params())
        form = request.form()
        if "refresh_token" not in form:
            return self.browser.end_session(request, form)
        refusal = self.ssl_refusal(request.client_host)
        if refusal is not None:
            return refusal
        client = self._authenticate_client(form, request.headers)
        cors = self.cors_headers(request, client)
        now = time.time()
        try:
            claims = self._verified_refresh_token(form["refresh_token"], now, client, check_expiration=False)
        except OAuthError as error:
            raise OAuthError(error.status, error.error, error.description, cors) from None
        session = self.sessions.alive(claims.get("sid"), now)
        if session is not None:
            self.end_session(session, now)
        return Response(204, content_type=None, headers=cors)

    def end_session(self, session: Session, now: float) -> None:
        """End a user session the way ``AuthenticationManager.backchannelLogout`` does: every
        client of the session that has a back-channel logout URL is told first (synchronously,
        before the caller answers), then the session is removed."""
        self.backchannel.notify(session, int(now))
        self.sessions.pop(session.sid)

    def revoke(self, request: Request) -> Response:
        """``POST revoke`` (RFC 7009): a refresh token ends its session, an access token dies.

        Unknown or invalid tokens are answered 200 too (RFC 7009 section 2.2).
        """
        _, token = self._client_token(request, "Token not provided")
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

    def _code_grant(self, form: Mapping[str, str], client: Client, now: float) -> tuple[User, Session, str | None]:
        """``AuthorizationCodeGrantType.process``: Keycloak's checks, in its order. A code used
        twice (or unknown) is "Code not valid", and detaches its client from the user session,
        so the tokens the first exchange gave stop working too."""
        code = form.get("code")
        if code is None:
            raise OAuthError(400, "invalid_request", "Missing parameter: code")
        parsed = self.codes.parse(code, now)
        session = self.sessions.alive(parsed.sid, now)
        code_client = self.clients.by_internal_id(parsed.client_internal_id or "")
        client_session = (self.sessions.client_session(session, code_client.client_id)
                          if session is not None and code_client is not None else None)
        if parsed.data is None or session is None:
            if session is not None and client_session is not None and code_client is not None:
                self.sessions.detach(session, code_client.client_id)
            raise OAuthError(400, "invalid_grant", "Code not valid")
        if parsed.expired:
            raise OAuthError(400, "invalid_grant", "Code is expired")
        if client_session is None or code_client is None:
            raise OAuthError(400, "invalid_grant", "User session not found")
        user = self.users.by_id(session.user_id)
        if user is None:
            raise OAuthError(400, "invalid_grant", "User not found")
        if not user.enabled:
            raise OAuthError(400, "invalid_grant", "User disabled")
        data = parsed.data
        if data.redirect_uri_param is not None and data.redirect_uri_param != form.get("redirect_uri"):
            raise OAuthError(400, "invalid_grant", "Incorrect redirect_uri")
        if client.client_id != code_client.client_id:
            raise OAuthError(400, "invalid_grant", "Auth error: Found different client_id in clientSession")
        if not client.standard_flow:
            raise OAuthError(400, "invalid_grant", "Client not allowed to exchange code")
        check_code_verifier(form.get("code_verifier"), data.code_challenge, data.code_challenge_method)
        self.sessions.extend(session, now)
        return user, session, data.nonce

    def _password_grant(self, form: Mapping[str, str], client: Client, now: float) -> tuple[User, Session]:
        if not client.direct_access_grants:
            raise OAuthError(400, "unauthorized_client", "Client not allowed for direct access grants")
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
        scope = token_scope(form.get("scope"))
        return user, self.sessions.create(user, scope, now, client.client_id)

    def _refresh_grant(self, form: Mapping[str, str], client: Client, now: float,
                       proof: Proof | None = None) -> tuple[User, Session]:
        token = form.get("refresh_token")
        if not token:
            raise OAuthError(400, "invalid_request", "Missing parameter: refresh_token")
        claims = self._verified_refresh_token(token, now, client, check_expiration=True)
        if self.config.dpop and bound_thumbprint(claims) is not None:
            # TokenManager.verifyRefreshToken: a DPoP-bound refresh token (a public client's)
            # needs a proof of the same key.
            if proof is None:
                raise OAuthError(400, "invalid_grant", "DPoP proof is missing")
            try:
                check_binding(claims, proof)
            except DPoPError as error:
                raise OAuthError(400, "invalid_grant", str(error)) from None
        session = self.sessions.alive(claims.get("sid"), now)
        user = self.users.by_id(session.user_id) if session is not None else None
        if session is None or user is None or not user.enabled:
            raise OAuthError(400, "invalid_grant", "Session not active")
        if self.sessions.client_session(session, client.client_id) is None:
            # TokenManager.validateToken: the client was detached (e.g. its code was replayed).
            raise OAuthError(400, "invalid_grant", "Session doesn't have required client")
        self.sessions.extend(session, now)
        return user, session

    def _verified_refresh_token(self, token: str, now: float, client: Client, *,
                                check_expiration: bool) -> dict[str, Any]:
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
        if claims.get("azp") != client.client_id:
            raise OAuthError(400, "invalid_grant",
                             "Invalid refresh token. Token client and authorized client don't match")
        return claims

    # Checks ---------------------------------------------------------------------------------

    def _client_token(self, request: Request, missing: str, introspection: bool = False) -> tuple[Client, str]:
        """The client and the form's ``token`` once the client authenticated: how introspection
        and revocation both begin (their words for a missing token differ by a full stop, as in
        Keycloak). Introspection refuses public clients (``TokenIntrospectionEndpoint``)."""
        form = request.form()
        client = self._authenticate_client(form, request.headers)
        if introspection and client.public:
            raise OAuthError(403, "invalid_request", "Client not allowed.")
        token = form.get("token")
        if not token:
            raise OAuthError(400, "invalid_request", missing)
        return client, token

    def _authenticate_client(self, form: Mapping[str, str], headers: Mapping[str, str]) -> Client:
        """client_secret_basic (credentials form-decoded, RFC 6749 section 2.3.1) or _post for
        the confidential client; a public client names itself with ``client_id`` only."""
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
        client = self.clients.get(client_id)
        if client is None:
            raise OAuthError(401, "invalid_client", INVALID_CLIENT_DESCRIPTION)
        if client.secret is None:
            return client
        if secret is None or not hmac.compare_digest(secret.encode("utf-8"), client.secret.encode("utf-8")):
            raise OAuthError(401, "unauthorized_client", INVALID_CLIENT_DESCRIPTION)
        return client

    def _verified_access_token(self, request: Request, now: float) -> dict[str, Any] | None:
        """Claims of a valid access token from the ``Authorization`` header: signature, iss,
        exp/nbf, typ. With the DPoP feature (``DPoPUtil.withDPoPVerifier``): a ``DPoP``-typed
        token needs the ``DPoP`` scheme and a ``DPoP`` proof for this request with the token's
        ``ath`` and the token's key; the ``DPoP`` scheme needs a ``DPoP``-typed token."""
        authorization = request.headers.get("Authorization") or ""
        scheme, _, token = authorization.strip().partition(" ")
        dpop_scheme = self.config.dpop and scheme.lower() == "dpop"
        if scheme.lower() != "bearer" and not dpop_scheme:
            return None
        token = token.strip()
        claims = self.keys.verify(token)
        # TokenVerifier.TokenTypeCheck compares the type case-insensitively.
        allowed = ("bearer", "dpop") if self.config.dpop else ("bearer",)
        token_type = str(claims.get("typ", "")).lower() if claims is not None else ""
        if claims is None or token_type not in allowed or not self._is_valid(claims, now):
            return None
        if dpop_scheme != (token_type == DPOP_TOKEN_TYPE.lower()):
            return None  # "The access token type is (not) DPoP but Authorization Header is (not) DPoP"
        if dpop_scheme:
            try:
                proof = self.dpop.validate(header_value(request.headers, "DPoP"), request.method,
                                           self.request_url(request), access_token=token)
                check_binding(claims, proof)
            except (DPoPError, MalformedKeyError):
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
        """The token's session is alive, still holds the token's client (a replayed code
        detaches it), and the token itself was not revoked. A token whose ``azp`` names no
        client of this realm (only minted ones) is judged by its session alone."""
        session = self.sessions.alive(claims.get("sid"), now)
        if session is None or self.sessions.is_revoked(claims.get("jti")):
            return False
        azp = claims.get("azp")
        return self.clients.get(azp) is None or self.sessions.client_session(session, azp) is not None

    def _userinfo_error(self, status: int, error: str, description: str) -> OAuthError:
        challenge = (f'Bearer realm="{self.config.realm}", error="{error}", '
                     f'error_description="{description}"')
        return OAuthError(status, error, description, (("WWW-Authenticate", challenge),))
