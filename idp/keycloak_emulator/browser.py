"""The browser's side of the realm: the authorization endpoint, the login form and its
``login-actions`` post, the SSO cookies, and RP-initiated logout, the way Keycloak 26 does them.

- ``GET/POST protocol/openid-connect/auth`` (``AuthorizationEndpoint.process``): a missing or
  unknown client, or a redirect URI the client did not register, is an HTML error page (400),
  never a redirect; every later error is redirected to the client with ``error``,
  ``error_description``, ``state`` and ``iss`` (``redirectErrorToClient``). A valid SSO cookie
  answers at once with a code in the same user session (unless ``prompt=login``);
  ``prompt=none`` without one redirects ``error=login_required``; otherwise the login form.
- ``login-actions/authenticate`` (the form's action): wrong credentials show the form again
  with "Invalid username or password."; success sets ``KEYCLOAK_IDENTITY``/``KEYCLOAK_SESSION``
  and redirects with ``state``, ``session_state``, ``iss`` and ``code``
  (``OIDCLoginProtocol.authenticated``).
- ``protocol/openid-connect/logout`` without a refresh token (``LogoutEndpoint.logout``) and its
  confirmation ``logout/logout-confirm``.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import quote, urlencode

from . import cookies, pages
from .auth_sessions import AuthSession, AuthSessionStore, new_tab_id
from .codes import CodeData
from .cookies import CookieWriter, is_secure_context, request_cookies
from .encoding import b64url
from .messages import Request, Response
from .pkce import AuthorizationCheckError, check_challenge
from .redirect_uris import post_logout_redirect_uris, verify_redirect_uri
from .sessions import Session
from .tokens import token_scope
from .users import User

if TYPE_CHECKING:
    from .clients import Client
    from .realm import KeycloakRealm

#: Response types Keycloak parses (``OIDCResponseType``); ``none`` stands alone.
RESPONSE_TYPES = {"code", "id_token", "token", "none"}
#: Response modes this provider answers (Keycloak also has the JWT modes of JARM).
RESPONSE_MODES = ("query", "fragment", "form_post")
#: A new client's default and optional client scopes in a new Keycloak 26 realm
#: (``TokenManager.isValidScope`` accepts these and ``openid``).
KNOWN_SCOPES = {"openid", "profile", "email", "roles", "web-origins", "acr", "basic", "address", "phone",
                "offline_access", "microprofile-jwt", "organization"}
#: The identity cookie's token type (``TokenUtil.TOKEN_TYPE_KEYCLOAK_ID``).
IDENTITY_TOKEN_TYPE = "Serialized-ID"
NO_BACK_BUTTON = (("Cache-Control", "no-store, must-revalidate, max-age=0"),)


class BrowserFlow:
    """Authorization endpoint, login form, SSO cookies and RP-initiated logout of a realm."""

    def __init__(self, realm: KeycloakRealm):
        self.realm = realm
        self.cookies = CookieWriter(f"{realm.realm_path}/", is_secure_context(realm.base_url))
        self.auth_sessions = AuthSessionStore()
        self.login_action_url = f"{realm.issuer}/login-actions/authenticate"
        self.logout_confirm_url = f"{realm.oidc_url}/logout/logout-confirm"

    # Authorization endpoint -------------------------------------------------------------------

    def authorize(self, request: Request) -> Response:
        """``GET``/``POST auth``."""
        params = request.query_params() if request.method == "GET" else request.form()
        realm = self.realm
        if realm.ssl_refusal(request.client_host) is not None:
            return pages.error_page(400, pages.HTTPS_REQUIRED)
        client_id = params.get("client_id")
        if client_id is None:
            return pages.error_page(400, pages.missing_parameter("client_id"))
        client = realm.clients.get(client_id)
        if client is None:
            return pages.error_page(400, pages.CLIENT_NOT_FOUND)
        scope = params.get("scope")
        is_oidc = "openid" in (scope or "").split()
        redirect_uri = verify_redirect_uri(params.get("redirect_uri"), client.redirect_uris, realm.base_origin,
                                           require=is_oidc)
        if redirect_uri is None:
            return pages.error_page(400, pages.invalid_parameter("redirect_uri"))
        state = params.get("state")
        response_type = params.get("response_type")
        response_mode = params.get("response_mode")
        try:
            types = self._response_types(response_type)
        except AuthorizationCheckError as error:
            fallback = "fragment" if response_mode == "fragment" else "query"
            return self._redirect(redirect_uri, fallback, _error_params(error, state, realm.issuer))
        implicit = bool(types & {"id_token", "token"})
        mode = response_mode or ("fragment" if implicit else "query")
        try:
            if mode not in RESPONSE_MODES:
                raise AuthorizationCheckError("invalid_request", "Invalid parameter: response_mode")
            if implicit and mode == "query":
                raise AuthorizationCheckError("invalid_request",
                                              "Response_mode 'query' not allowed for implicit or hybrid flow")
            if types & {"code", "none"} and not client.standard_flow:
                raise AuthorizationCheckError("unauthorized_client", "Client is not allowed to initiate browser "
                                              "login with given response_type. Standard flow is disabled for the "
                                              "client.")
            if implicit:  # no client of this realm has the implicit flow enabled
                raise AuthorizationCheckError("unauthorized_client", "Client is not allowed to initiate browser "
                                              "login with given response_type. Implicit flow is disabled for the "
                                              "client.")
            unknown = [name for name in (scope or "").split() if name not in KNOWN_SCOPES]
            if unknown:
                raise AuthorizationCheckError("invalid_scope", f"Invalid scopes: {scope}")
            check_challenge(params.get("code_challenge"), params.get("code_challenge_method"), client.pkce_method)
        except AuthorizationCheckError as error:
            return self._redirect(redirect_uri, mode, _error_params(error, state, realm.issuer))

        auth = AuthSession(
            tab_id=new_tab_id(), client_id=client.client_id, action="authenticate", redirect_uri=redirect_uri,
            redirect_uri_param=params.get("redirect_uri"), response_type=response_type or "code",
            response_mode=mode, state=state, nonce=params.get("nonce"), scope=scope,
            code_challenge=params.get("code_challenge"), code_challenge_method=params.get("code_challenge_method"))
        prompt = (params.get("prompt") or "").split()
        now = time.time()
        sso = self.identity_session(request, now)
        max_age = _int(params.get("max_age"))
        if sso is not None and max_age is not None and sso.started + max_age < now:
            sso = None  # OIDCLoginProtocol.isAuthTimeExpired: authenticate again
        if "none" in prompt:
            if sso is None:
                return self._redirect(redirect_uri, mode, _error_params(
                    AuthorizationCheckError("login_required", None), state, realm.issuer))
            return self._authenticated(auth, client, sso, now, via_sso=True, request=request)
        if sso is not None and "login" not in prompt:
            return self._authenticated(auth, client, sso, now, via_sso=True, request=request)
        return self._login_form(request, auth)

    def _response_types(self, response_type: str | None) -> set[str]:
        """``OIDCResponseType.parse``, with ``checkResponseType``'s errors."""
        if response_type is None:
            raise AuthorizationCheckError("invalid_request", "Missing parameter: response_type")
        types = response_type.split(" ")
        if not types or any(t not in RESPONSE_TYPES for t in types) or len(set(types)) != len(types) or (
                "none" in types and len(types) > 1):
            raise AuthorizationCheckError("unsupported_response_type", None)
        return set(types)

    # Login form -------------------------------------------------------------------------------

    def _login_form(self, request: Request, auth: AuthSession, username: str = "", error: str | None = None,
                    root_id: str | None = None) -> Response:
        """The login page for ``auth`` (a new or the same tab), with the ``AUTH_SESSION_ID``
        cookie when the browser had none or an unknown one."""
        browser_root = request_cookies(request.headers).get(cookies.AUTH_SESSION_ID)
        root_id = self.auth_sessions.open(root_id or browser_root, auth)
        headers: tuple[tuple[str, str], ...] = ()
        if root_id != browser_root:
            headers = (self.cookies.set(cookies.AUTH_SESSION_ID, root_id, http_only=True),)
        query = urlencode({"session_code": auth.new_code(), "execution": "auth-username-password-form",
                           "client_id": auth.client_id, "tab_id": auth.tab_id})
        return pages.login_page(self.realm.config.realm, f"{self.login_action_url}?{query}", username, error,
                                headers)

    def login_action(self, request: Request) -> Response:
        """``login-actions/authenticate``: GET shows the tab's form again, POST checks the
        credentials (``UsernamePasswordForm``)."""
        query = request.query_params()
        root_id = request_cookies(request.headers).get(cookies.AUTH_SESSION_ID)
        if root_id is None:
            return pages.error_page(400, pages.COOKIE_NOT_FOUND)
        auth = self.auth_sessions.get(root_id, query.get("tab_id"))
        if auth is None or auth.action != "authenticate":
            return pages.error_page(400, pages.LOGIN_TIMEOUT)
        if request.method == "GET" or query.get("session_code") != auth.session_code:
            return self._login_form(request, auth, root_id=root_id)
        form = request.form()
        username = form.get("username", "")
        user = self.realm.users.find(username) if username else None
        if user is not None and not user.enabled:
            return self._login_form(request, auth, username, pages.ACCOUNT_DISABLED, root_id)
        if user is None or not user.password_matches(form.get("password", "")):
            return self._login_form(request, auth, username, pages.INVALID_USER, root_id)
        if not user.profile_complete:
            return pages.update_profile_page(self.realm.config.realm)
        client = self.realm.clients.get(auth.client_id)
        if client is None:
            return pages.error_page(400, pages.CLIENT_NOT_FOUND)
        self.auth_sessions.close(root_id, auth.tab_id)
        now = time.time()
        session = self.identity_session(request, now)
        if session is None or session.user_id != user.id:
            session = self.realm.sessions.create(user, token_scope(auth.scope), now)
        return self._authenticated(auth, client, session, now, via_sso=False, request=request, user=user)

    def _authenticated(self, auth: AuthSession, client: Client, session: Session, now: float, *, via_sso: bool,
                       request: Request, user: User | None = None) -> Response:
        """``OIDCLoginProtocol.authenticated``: a client session in the user session, the SSO
        cookies, and the redirect with ``state``, ``session_state``, ``iss`` and ``code``."""
        realm = self.realm
        realm.sessions.attach(session, client.client_id, token_scope(auth.scope), now, sso=via_sso)
        realm.sessions.extend(session, now)
        params: dict[str, str] = {}
        if auth.state is not None:
            params["state"] = auth.state
        params["session_state"] = session.sid
        params["iss"] = realm.issuer
        if "code" in auth.response_type.split(" "):
            data = CodeData(
                expiration=now + realm.config.access_code_lifespan, nonce=auth.nonce, scope=auth.scope,
                redirect_uri_param=auth.redirect_uri_param, code_challenge=auth.code_challenge,
                code_challenge_method=auth.code_challenge_method, sid=session.sid)
            params["code"] = realm.codes.issue(data, client.internal_id, now)
        assert auth.redirect_uri is not None
        # redirectAfterSuccessfulFlow sets the login cookies again, after an SSO login too.
        headers = self._login_cookies(user or realm.users.by_id(session.user_id), session, now)
        return self._redirect(auth.redirect_uri, auth.response_mode, params, headers)

    # SSO cookies ------------------------------------------------------------------------------

    def _login_cookies(self, user: User | None, session: Session, now: float) -> tuple[tuple[str, str], ...]:
        """``AuthenticationManager.createLoginCookie``: the identity cookie (a signed internal
        token naming the session) and ``KEYCLOAK_SESSION`` (the session id's SHA-256)."""
        claims: dict[str, Any] = {
            "exp": int(now) + cookies.SSO_SESSION_MAX_SECONDS, "iat": int(now), "jti": _secure_id(),
            "iss": self.realm.issuer, "sub": user.id if user else session.user_id, "typ": IDENTITY_TOKEN_TYPE,
            "sid": session.sid, "state_checker": _secure_id(),
        }
        keys = self.realm.keys
        identity = keys.sign(claims, keys.refresh)
        return (self.cookies.set(cookies.IDENTITY, identity, http_only=True),
                self.cookies.set(cookies.SESSION, _session_hash(session.sid), http_only=False,
                                 max_age=cookies.SSO_SESSION_MAX_SECONDS))

    def identity_session(self, request: Request, now: float) -> Session | None:
        """The live session the ``KEYCLOAK_IDENTITY`` cookie names, if any
        (``authenticateIdentityCookie``: signature, type, issuer, session, enabled user)."""
        token = request_cookies(request.headers).get(cookies.IDENTITY)
        if not token:
            return None
        claims = self.realm.keys.verify(token, refresh=True)
        if claims is None or claims.get("typ") != IDENTITY_TOKEN_TYPE or claims.get("iss") != self.realm.issuer:
            return None
        exp = claims.get("exp")
        if isinstance(exp, (int, float)) and now > exp:
            return None
        session = self.realm.sessions.alive(claims.get("sid"), now)
        user = self.realm.users.by_id(session.user_id) if session is not None else None
        return session if user is not None and user.enabled else None

    def _expire_login_cookies(self, request: Request) -> tuple[tuple[str, str], ...]:
        """``expireIdentityCookie``: only the cookies the browser sent are expired."""
        present = request_cookies(request.headers)
        return tuple(self.cookies.expire(name) for name in (cookies.IDENTITY, cookies.SESSION) if name in present)

    # RP-initiated logout ----------------------------------------------------------------------

    def end_session(self, request: Request, params: Mapping[str, str]) -> Response:
        """``LogoutEndpoint.logout(id_token_hint, client_id, post_logout_redirect_uri, state, ...)``."""
        realm = self.realm
        hint, client_id = params.get("id_token_hint"), params.get("client_id")
        post_logout = params.get("post_logout_redirect_uri")
        if post_logout is not None and hint is None and client_id is None:
            return pages.error_page(400, pages.missing_parameter("id_token_hint"))
        confirmation_needed, forced = True, False
        client = realm.clients.get(client_id) if client_id is not None else None
        if client_id is not None and client is None:
            forced = True
        id_token: dict[str, Any] | None = None
        if hint is not None:
            id_token = realm.keys.verify(hint)  # signature only: an expired hint still names its session
            if id_token is None or id_token.get("typ") != "ID":
                return pages.error_page(400, pages.invalid_parameter("id_token_hint"))
        if client_id is None:
            client = realm.clients.get(id_token.get("azp")) if id_token else None
            if client is not None:
                confirmation_needed = False
        elif id_token is not None and id_token.get("azp") is not None:
            if id_token.get("azp") != client_id:
                return pages.error_page(400, pages.invalid_parameter("id_token_hint"))
            confirmation_needed = False
        validated = None
        if post_logout is not None:
            if client is not None:
                validated = verify_redirect_uri(post_logout, post_logout_redirect_uris(client), realm.base_origin)
            if validated is None:
                return pages.error_page(400, pages.INVALID_REDIRECT_URI)
        now = time.time()
        browser_session = self.identity_session(request, now)
        if browser_session is not None:
            if id_token is not None and id_token.get("sid") is not None and id_token.get("sid") != browser_session.sid:
                forced = True
        elif hint is None and client is not None and validated is not None:
            confirmation_needed = False
        iat = id_token.get("iat") if id_token else None
        logout = AuthSession(
            tab_id=new_tab_id(), client_id=client.client_id if client else "account", action="logout",
            logout_redirect_uri=validated, logout_state=params.get("state"),
            id_token_sid=id_token.get("sid") if id_token else None,
            id_token_iat=iat if isinstance(iat, int) else None)
        if confirmation_needed or forced:
            return self._logout_confirmation(request, logout)
        return self._do_browser_logout(request, logout)

    def _logout_confirmation(self, request: Request, logout: AuthSession) -> Response:
        browser_root = request_cookies(request.headers).get(cookies.AUTH_SESSION_ID)
        root_id = self.auth_sessions.open(browser_root, logout)
        headers: tuple[tuple[str, str], ...] = ()
        if root_id != browser_root:
            headers = (self.cookies.set(cookies.AUTH_SESSION_ID, root_id, http_only=True),)
        action = f"{self.logout_confirm_url}?{urlencode({'client_id': logout.client_id, 'tab_id': logout.tab_id})}"
        return pages.logout_confirm_page(self.realm.config.realm, action, logout.new_code(), headers)

    def logout_confirm(self, request: Request) -> Response:
        """``POST logout/logout-confirm`` (``LogoutEndpoint.logoutConfirmAction``): the confirmed
        logout, checked by the tab's ``session_code``."""
        query = request.query_params()
        root_id = request_cookies(request.headers).get(cookies.AUTH_SESSION_ID)
        logout = self.auth_sessions.get(root_id, query.get("tab_id"))
        if logout is None or logout.action != "logout" or request.form().get("session_code") != logout.session_code:
            return pages.error_page(400, pages.FAILED_LOGOUT)
        self.auth_sessions.close(root_id, logout.tab_id)
        return self._do_browser_logout(request, logout)

    def _do_browser_logout(self, request: Request, logout: AuthSession) -> Response:
        """``LogoutEndpoint.doBrowserLogout``: end the session the ``id_token_hint`` or the SSO
        cookie names (back-channel logout to its clients first), expire the SSO cookies the
        browser sent, and go to the post-logout URI with ``state``, or say "You are logged out"."""
        realm = self.realm
        now = time.time()
        session = None
        if logout.id_token_sid is not None and logout.id_token_iat is not None:
            session = realm.sessions.alive(logout.id_token_sid, now)
            if session is not None and logout.id_token_iat < session.started:
                # checkTokenIssuedAt: "Toked issued before the user session started"
                return pages.error_page(400, pages.SESSION_NOT_ACTIVE)
        headers: tuple[tuple[str, str], ...] = ()
        browser_session = self.identity_session(request, now)
        if browser_session is not None or (
                session is not None
                and request_cookies(request.headers).get(cookies.SESSION) == _session_hash(session.sid)):
            session = session or browser_session
            assert session is not None
            realm.end_session(session, now)
            headers = self._expire_login_cookies(request)
        elif session is not None:
            realm.end_session(session, now)  # no browser session: a back-channel logout
        if logout.logout_redirect_uri is not None:
            location = logout.logout_redirect_uri
            if logout.logout_state is not None:
                location += ("&" if "?" in location else "?") + urlencode({"state": logout.logout_state})
            return Response(302, b"", None, (("Location", location),) + NO_BACK_BUTTON + headers)
        return pages.info_page(pages.SUCCESS_LOGOUT, headers)

    # Answers ----------------------------------------------------------------------------------

    def _redirect(self, redirect_uri: str, mode: str, params: Mapping[str, str],
                  headers: tuple[tuple[str, str], ...] = ()) -> Response:
        """``OIDCRedirectUriBuilder``: the parameters in the query, the fragment, or a form."""
        if mode == "form_post":
            return pages.form_post_page(redirect_uri, params, headers)
        encoded = "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in params.items())
        if mode == "fragment":
            location = f"{redirect_uri}#{encoded}"
        else:
            base, hash_mark, fragment = redirect_uri.partition("#")
            location = base + ("&" if "?" in base else "?") + encoded + hash_mark + fragment
        return Response(302, b"", None, (("Location", location),) + NO_BACK_BUTTON + headers)


def _error_params(error: AuthorizationCheckError, state: str | None, issuer: str) -> dict[str, str]:
    """``redirectErrorToClient``: ``error``, ``error_description`` (when there is one),
    ``state``, and ``iss`` (RFC 9207, on unless the client excludes it)."""
    params = {"error": error.error}
    if error.description is not None:
        params["error_description"] = error.description
    if state is not None:
        params["state"] = state
    params["iss"] = issuer
    return params


def _session_hash(sid: str) -> str:
    """``KEYCLOAK_SESSION``'s value: the session id's SHA-256, base64url (``sha256UrlEncodedHash``)."""
    return b64url(hashlib.sha256(sid.encode("utf-8")).digest())


def _secure_id() -> str:
    return secrets.token_urlsafe(32)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
