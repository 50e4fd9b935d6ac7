"""The command line (and ``IDP_CLIENT_SECRET``): ``Config`` and ``parse_config``."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping


#: The signing algorithms this server can sign with (``--alg``).
SIGNING_ALGORITHMS = ("RS256", "PS256", "ES256")
#: ``--users`` by default: ``users.json`` beside the launcher, in ``idp/``.
DEFAULT_USERS_PATH = Path(__file__).parent.with_name("users.json")


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
    args = parser.parse_args(argv)

    secret = args.client_secret if args.client_secret is not None else environ.get("IDP_CLIENT_SECRET")
    if not secret:
        parser.error("a client secret is required: --client-secret or env IDP_CLIENT_SECRET")
    if args.access_token_lifespan <= 0:
        parser.error("--access-token-lifespan must be positive")
    if args.hostname_backchannel_dynamic and not args.public_url:
        parser.error("--hostname-backchannel-dynamic needs --public-url (Keycloak: hostname must be a URL)")
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
    )
