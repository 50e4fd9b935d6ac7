"""The command line (and ``IDP_CLIENT_SECRET``): ``Config`` and ``parse_config``. Client
settings default to what the Compose realm (``deploy/keycloak/realm-testing.json``) says."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit


#: The signing algorithms this server can sign with (``--alg``).
SIGNING_ALGORITHMS = ("RS256", "PS256", "ES256")
#: ``--users`` by default: ``users.json`` beside the launcher, in ``idp/``.
DEFAULT_USERS_PATH = Path(__file__).parent.with_name("users.json")
#: The confidential client's URIs by default: those of the Compose realm
#: (``deploy/keycloak/realm-testing.json``), so that the two agree.
DEFAULT_REDIRECT_URIS = ("https://localhost:8443/oauth2/callback", "https://localhost:8443/*")
DEFAULT_POST_LOGOUT_REDIRECT_URIS = ("https://localhost:8443/*",)
#: The confidential client's web origin by default (the seed app's root URL).
DEFAULT_WEB_ORIGINS = ("http://localhost:8000",)
#: The public client of the Swagger page, as in the Compose realm.
DEFAULT_DOCS_CLIENT_ID = "keycloak-fcgi-docs"
DEFAULT_DOCS_REDIRECT_URIS = ("https://localhost:8443/docs/oauth2-redirect.html",)
DEFAULT_DOCS_WEB_ORIGINS = ("https://localhost:8443",)
#: ``pkce.code.challenge.method`` values (``none``: the attribute is absent, PKCE optional).
PKCE_METHODS = ("S256", "plain", "none")


@dataclass(frozen=True)
class Config:
    """Everything the command line (and ``IDP_CLIENT_SECRET``) decides, built once at start."""

    host: str
    port: int
    users_path: Path
    realm: str
    client_id: str
    client_secret: str = field(repr=False)
    public_url: str | None
    legacy_auth_prefix: bool
    alg: str
    access_token_lifespan: int
    invalid_grant_status: int
    ready_file: Path | None
    #: Client option "use lower-case bearer type in token responses": ``typ`` and ``token_type``.
    lower_case_bearer: bool = False
    #: Client option ``access.token.header.type.rfc9068``: JOSE header ``typ: at+jwt``.
    rfc9068_header_type: bool = False
    #: Client option ``client.use.lightweight.access.token.enabled``.
    lightweight_access_tokens: bool = False
    #: An Audience mapper on the client that adds its own id to ``aud`` (the Compose realm has one).
    client_audience_mapper: bool = True
    #: Keycloak 26.6.2+: introspection answers ``active: false`` unless the caller is in ``aud``.
    introspection_audience_check: bool = True
    #: The realm's ``sslRequired``: ``external`` (Keycloak's default), ``all`` or ``none``.
    ssl_required: str = "external"
    #: Hostname v2 ``hostname-backchannel-dynamic``: back-channel endpoints follow the request.
    backchannel_dynamic: bool = False
    #: The confidential client's ``redirectUris`` (Keycloak's wildcard rules).
    redirect_uris: tuple[str, ...] = DEFAULT_REDIRECT_URIS
    #: Its attribute ``post.logout.redirect.uris`` (``+``: its redirect URIs).
    post_logout_redirect_uris: tuple[str, ...] = DEFAULT_POST_LOGOUT_REDIRECT_URIS
    #: Its ``webOrigins`` (``+``: the origins of its redirect URIs): CORS and ``allowed-origins``.
    web_origins: tuple[str, ...] = DEFAULT_WEB_ORIGINS
    #: Its attribute ``pkce.code.challenge.method``; None when absent (PKCE optional).
    client_pkce_method: str | None = "S256"
    #: Its attribute ``backchannel.logout.url``.
    backchannel_logout_url: str | None = None
    #: Its attribute ``backchannel.logout.session.required``: ``sid`` in logout tokens.
    backchannel_logout_session_required: bool = True
    #: Its attribute ``backchannel.logout.revoke.offline.tokens``.
    backchannel_logout_revoke_offline_tokens: bool = False
    #: A CA file trusted for https back-channel logout URLs (besides the system's).
    backchannel_ca_file: Path | None = None
    #: The public client of the Swagger page, its redirect URIs and web origins.
    docs_client_id: str = DEFAULT_DOCS_CLIENT_ID
    docs_redirect_uris: tuple[str, ...] = DEFAULT_DOCS_REDIRECT_URIS
    docs_web_origins: tuple[str, ...] = DEFAULT_DOCS_WEB_ORIGINS
    #: The realm's ``accessCodeLifespan``: how long an authorization code can be exchanged.
    access_code_lifespan: int = 60
    #: The DPoP feature (on by default since Keycloak 26.4; a preview, off, in 23 to 26.3).
    dpop: bool = True
    #: The ``error`` of the token endpoint's 400 for a bad proof: ``invalid_request`` from
    #: Keycloak 26.1 (keycloak#34842), ``invalid_dpop_proof`` in 23 to 26.0.
    dpop_error: str = "invalid_request"
    #: ``cnf.kc-jkt-type: "DPoP"`` beside ``cnf.jkt`` (Keycloak 26.7; absent before).
    dpop_jkt_type: bool = True


def parse_config(argv: list[str] | None, environ: Mapping[str, str]) -> Config:
    """Parse the command line; the client secret may come from ``IDP_CLIENT_SECRET`` instead."""
    parser = argparse.ArgumentParser(
        prog="mini_keycloak.py", description="Keycloak-compatible OpenID Connect provider for tests."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on; 0 picks a free one")
    parser.add_argument("--users", type=Path, default=DEFAULT_USERS_PATH, help="JSON list of users")
    parser.add_argument("--realm", default="testing")
    parser.add_argument("--client-id", default="fastapi-keycloak")
    parser.add_argument("--client-secret", help="confidential client's secret (or env IDP_CLIENT_SECRET)")
    parser.add_argument("--public-url", help="externally visible base URL (default http://HOST:PORT)")
    parser.add_argument("--legacy-auth-prefix", action="store_true",
                        help="serve under /auth like Keycloak 16 and older")
    parser.add_argument("--alg", choices=SIGNING_ALGORITHMS, default="RS256", help="token signing algorithm")
    parser.add_argument("--access-token-lifespan", type=int, default=300, help="seconds")
    parser.add_argument("--invalid-grant-status", type=int, choices=(401, 400), default=401,
                        help="status for 'Invalid user credentials' (401 up to Keycloak 26.5, 400 from 26.6)")
    parser.add_argument("--ready-file", type=Path, help="write {port, base_url, issuer} here once listening")
    parser.add_argument("--lower-case-bearer", action="store_true",
                        help="client option: access tokens' typ and token_type are 'bearer'")
    parser.add_argument("--rfc9068-header-type", action="store_true",
                        help="client option access.token.header.type.rfc9068: JOSE header typ at+jwt")
    parser.add_argument("--lightweight-access-tokens", action="store_true",
                        help="client option: lightweight access tokens (no roles, profile claims or sub)")
    parser.add_argument("--no-client-audience-mapper", dest="client_audience_mapper", action="store_false",
                        help="no Audience mapper adding the client's own id to aud")
    parser.add_argument("--no-introspection-audience-check", dest="introspection_audience_check",
                        action="store_false", help="Keycloak before 26.6.2: introspection without the aud check")
    parser.add_argument("--ssl-required", choices=("external", "all", "none"), default="external",
                        help="the realm's sslRequired (Keycloak's default: external)")
    parser.add_argument("--hostname-backchannel-dynamic", action="store_true",
                        help="with --public-url: back-channel endpoints in discovery follow the request's host")
    parser.add_argument("--redirect-uri", action="append", dest="redirect_uris", metavar="URI",
                        help="confidential client's valid redirect URI (repeatable; Keycloak's wildcard rules)")
    parser.add_argument("--post-logout-redirect-uri", action="append", dest="post_logout_redirect_uris",
                        metavar="URI", help="its valid post-logout redirect URI (repeatable; '+': its redirect URIs)")
    parser.add_argument("--web-origin", action="append", dest="web_origins", metavar="ORIGIN",
                        help="its web origin for CORS and allowed-origins (repeatable; '+', '*')")
    parser.add_argument("--client-pkce-method", choices=PKCE_METHODS, default="S256",
                        help="its pkce.code.challenge.method ('none': PKCE optional)")
    parser.add_argument("--backchannel-logout-url", help="its backchannel.logout.url (http or https)")
    parser.add_argument("--backchannel-logout-session-required", action=argparse.BooleanOptionalAction,
                        default=True, help="its backchannel.logout.session.required: sid in logout tokens")
    parser.add_argument("--backchannel-logout-revoke-offline-tokens", action="store_true",
                        help="its backchannel.logout.revoke.offline.tokens")
    parser.add_argument("--backchannel-ca-file", type=Path,
                        help="PEM CA file trusted for https back-channel logout URLs")
    parser.add_argument("--docs-client-id", default=DEFAULT_DOCS_CLIENT_ID,
                        help="the public client of the Swagger page (PKCE S256, standard flow only)")
    parser.add_argument("--docs-redirect-uri", action="append", dest="docs_redirect_uris", metavar="URI",
                        help="its valid redirect URI (repeatable)")
    parser.add_argument("--docs-web-origin", action="append", dest="docs_web_origins", metavar="ORIGIN",
                        help="its web origin for CORS (repeatable)")
    parser.add_argument("--access-code-lifespan", type=int, default=60,
                        help="seconds an authorization code stays valid (realm accessCodeLifespan)")
    parser.add_argument("--no-dpop", dest="dpop", action="store_false",
                        help="DPoP feature off (Keycloak 23-26.3 default): DPoP headers ignored, no "
                             "dpop_signing_alg_values_supported")
    parser.add_argument("--dpop-error", choices=("invalid_request", "invalid_dpop_proof"), default="invalid_request",
                        help="error of the token endpoint's 400 for a bad DPoP proof (invalid_dpop_proof: "
                             "Keycloak 23-26.0)")
    parser.add_argument("--no-dpop-jkt-type", dest="dpop_jkt_type", action="store_false",
                        help="cnf of DPoP-bound tokens without kc-jkt-type (Keycloak before 26.7)")
    args = parser.parse_args(argv)

    secret = args.client_secret if args.client_secret is not None else environ.get("IDP_CLIENT_SECRET")
    if not secret:
        parser.error("a client secret is required: --client-secret or env IDP_CLIENT_SECRET")
    if args.access_token_lifespan <= 0:
        parser.error("--access-token-lifespan must be positive")
    if args.hostname_backchannel_dynamic and not args.public_url:
        parser.error("--hostname-backchannel-dynamic needs --public-url (Keycloak: hostname must be a URL)")
    if args.docs_client_id == args.client_id:
        parser.error("--docs-client-id must differ from --client-id")
    if args.access_code_lifespan <= 0:
        parser.error("--access-code-lifespan must be positive")
    if args.backchannel_logout_url and urlsplit(args.backchannel_logout_url).scheme not in ("http", "https"):
        parser.error("--backchannel-logout-url must be an http or https URL")
    if args.backchannel_ca_file is not None and not args.backchannel_ca_file.is_file():
        parser.error(f"--backchannel-ca-file {args.backchannel_ca_file}: no such file")
    return Config(
        host=args.host,
        port=args.port,
        users_path=args.users,
        realm=args.realm,
        client_id=args.client_id,
        client_secret=secret,
        public_url=args.public_url.rstrip("/") if args.public_url else None,
        legacy_auth_prefix=args.legacy_auth_prefix,
        alg=args.alg,
        access_token_lifespan=args.access_token_lifespan,
        invalid_grant_status=args.invalid_grant_status,
        ready_file=args.ready_file,
        lower_case_bearer=args.lower_case_bearer,
        rfc9068_header_type=args.rfc9068_header_type,
        lightweight_access_tokens=args.lightweight_access_tokens,
        client_audience_mapper=args.client_audience_mapper,
        introspection_audience_check=args.introspection_audience_check,
        ssl_required=args.ssl_required,
        backchannel_dynamic=args.hostname_backchannel_dynamic,
        redirect_uris=tuple(args.redirect_uris or DEFAULT_REDIRECT_URIS),
        post_logout_redirect_uris=tuple(args.post_logout_redirect_uris or DEFAULT_POST_LOGOUT_REDIRECT_URIS),
        web_origins=tuple(args.web_origins or DEFAULT_WEB_ORIGINS),
        client_pkce_method=None if args.client_pkce_method == "none" else args.client_pkce_method,
        backchannel_logout_url=args.backchannel_logout_url or None,
        backchannel_logout_session_required=args.backchannel_logout_session_required,
        backchannel_logout_revoke_offline_tokens=args.backchannel_logout_revoke_offline_tokens,
        backchannel_ca_file=args.backchannel_ca_file,
        docs_client_id=args.docs_client_id,
        docs_redirect_uris=tuple(args.docs_redirect_uris or DEFAULT_DOCS_REDIRECT_URIS),
        docs_web_origins=tuple(args.docs_web_origins or DEFAULT_DOCS_WEB_ORIGINS),
        access_code_lifespan=args.access_code_lifespan,
        dpop=args.dpop,
        dpop_error=args.dpop_error,
        dpop_jkt_type=args.dpop_jkt_type,
    )
