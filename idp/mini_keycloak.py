#!/usr/bin/env python3
"""mini_keycloak: a small Keycloak-compatible OpenID Connect provider for local runs and tests.

It answers the part of Keycloak 17+ that the gateway uses, with Keycloak's URLs, token shapes
and error bodies: discovery, JWKS (``certs``), the token endpoint (``password`` and
``refresh_token`` grants, client_secret_post or HTTP Basic), userinfo, introspection (RFC 7662),
logout and revocation (RFC 7009). ``--legacy-auth-prefix`` moves everything under ``/auth``
as Keycloak 16 and older did.

Test controls that Keycloak does not have live under ``/_admin/`` on the same port and answer
loopback callers only: signing-key rotation, fault injection, request counters, token minting
with arbitrary overrides, and ending every session.

The request path is: ``main`` -> ``IdentityProviderServer`` (one thread per connection) ->
``RequestHandler`` (HTTP/1.1 framing) -> ``Application.handle`` (routing, faults, counters) ->
``KeycloakRealm`` (the OpenID Connect behaviour) -> ``Response``.

It shares no code with the product: the standard library plus joserfc and cryptography.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import functools
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import signal
import socket
import socketserver
import sys
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import parse_qs, quote, unquote_plus, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import ECKey, Key, OctKey, RSAKey

LOG = logging.getLogger("mini_keycloak")

#: Request bodies larger than this are refused with 413.
MAX_BODY_BYTES = 1024 * 1024
#: Keycloak's default "SSO Session Idle": the refresh token's lifetime.
SESSION_IDLE_SECONDS = 1800
#: The signing algorithms this server can sign with (``--alg``).
SIGNING_ALGORITHMS = ("RS256", "PS256", "ES256")
#: Keycloak's ``id_token_signing_alg_values_supported``, in Keycloak's order.
KEYCLOAK_SIGNING_ALGORITHMS = [
    "PS384", "RS384", "EdDSA", "ES384", "HS256", "HS512", "ES256",
    "RS256", "HS384", "ES512", "PS256", "PS512", "RS512",
]
CLIENT_AUTH_METHODS = [
    "private_key_jwt", "client_secret_basic", "client_secret_post",
    "tls_client_auth", "client_secret_jwt",
]
#: What the composite realm role ``default-roles-<realm>`` contains in a new Keycloak realm:
#: realm roles, and the ``account`` client's roles (``manage-account`` is itself a composite
#: holding ``manage-account-links``). Users created through the admin console or registration
#: get it; users imported from a realm file get only the roles the file lists
#: (``DefaultExportImportManager.createUser``: ``addUser(..., addDefaultRoles=false, ...)``).
DEFAULT_REALM_ROLES = ("offline_access", "uma_authorization")
DEFAULT_ACCOUNT_ROLES = ("manage-account", "manage-account-links", "view-profile")
#: The client's web origin (the seed app's root URL), echoed as ``allowed-origins``.
ALLOWED_ORIGINS = ["http://localhost:8000"]

INVALID_CLIENT_DESCRIPTION = "Invalid client or Invalid client credentials"
TOKEN_VERIFICATION_FAILED = "Token verification failed"
SESSION_NOT_FOUND = "User session not found or doesn't have client attached on it"
#: Keycloak's body for a path no resource matches.
NOT_FOUND_BODY = {
    "error": "Unable to find matching target resource method",
    "error_description": "For more on this error consult the server log.",
}

#: The Keycloak endpoints, by the name the admin API uses for counters and faults.
ENDPOINTS = ("discovery", "certs", "token", "userinfo", "introspect", "logout", "revoke")
FAULTS = ("none", "hang", "html", "truncated", "status500", "huge", "introspection_failure",
          "introspection_without_iss")
#: Faults that make sense for the introspection endpoint only.
INTROSPECTION_FAULTS = ("introspection_failure", "introspection_without_iss")
#: Endpoints where Keycloak checks ``sslRequired`` (``checkSsl()`` in each endpoint class).
SSL_CHECKED_ENDPOINTS = ("token", "userinfo", "introspect", "logout", "revoke")
#: Keycloak's answer when introspecting a token fails inside it
#: (``TokenIntrospectionEndpoint``: ``catch (Exception e)``; keycloak#20174 shows one case).
FAILED_INTROSPECTION = {"error": "invalid_request", "error_description": "Failed to introspect token."}

HTML_GARBAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Welcome</title></head>"
    b"<body><h1>It works!</h1><p>This is not the identity provider.</p></body></html>\n"
)
HTML_SERVER_ERROR = (
    b"<html><head><title>500 Internal Server Error</title></head>"
    b"<body><center><h1>500 Internal Server Error</h1></center><hr></body></html>\n"
)
HUGE_BODY_BYTES = 5 * 1024 * 1024


def json_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON, as Keycloak writes it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def set_order(values: Any) -> list[str]:
    """The members of a set in an order that looks arbitrary but is stable, as a Java
    ``HashSet`` serializes them (Keycloak's roles are ``Set<String>``: ``AccessToken.Access``).
    Deliberately not sorted, so that a consumer relying on the order is caught."""
    return sorted(values, key=lambda value: hashlib.sha256(value.encode("utf-8")).digest())


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


# --------------------------------------------------------------------------------------------
# Configuration


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
    parser.add_argument("--users", type=Path, default=Path(__file__).with_name("users.json"),
                        help="JSON list of users")
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


# --------------------------------------------------------------------------------------------
# Users


@dataclass(frozen=True)
class User:
    """One realm user, as loaded from the users file."""

    id: str
    username: str
    password: str = field(repr=False)
    enabled: bool
    email: str | None
    email_verified: bool
    first_name: str | None
    last_name: str | None
    realm_roles: tuple[str, ...]
    client_roles: Mapping[str, tuple[str, ...]]
    profile_optional: bool

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> User:
        """Build a user from one entry of the users file (Keycloak's representation names)."""
        return cls(
            id=str(item["id"]),
            username=str(item["username"]).lower(),
            password=str(item["password"]),
            enabled=bool(item.get("enabled", True)),
            email=item.get("email") or None,
            email_verified=bool(item.get("emailVerified", False)),
            first_name=item.get("firstName") or None,
            last_name=item.get("lastName") or None,
            realm_roles=tuple(item.get("realmRoles", ())),
            client_roles={client: tuple(roles) for client, roles in item.get("clientRoles", {}).items()},
            profile_optional=bool(item.get("profileOptional", False)),
        )

    def effective_roles(self, realm: str) -> tuple[set[str], dict[str, set[str]]]:
        """Realm and client roles with the composite ``default-roles-<realm>`` expanded, as
        Keycloak resolves role mappings into a token."""
        realm_roles = set(self.realm_roles)
        client_roles = {client: set(roles) for client, roles in self.client_roles.items()}
        if f"default-roles-{realm}" in realm_roles:
            realm_roles.update(DEFAULT_REALM_ROLES)
            client_roles.setdefault("account", set()).update(DEFAULT_ACCOUNT_ROLES)
        return realm_roles, client_roles

    def password_matches(self, candidate: str) -> bool:
        """Constant-time password comparison."""
        return hmac.compare_digest(candidate.encode("utf-8"), self.password.encode("utf-8"))

    @property
    def profile_complete(self) -> bool:
        """Keycloak's user profile wants first name, last name and email before a login."""
        return self.profile_optional or bool(self.first_name and self.last_name and self.email)

    def profile_claims(self) -> dict[str, Any]:
        """The ``profile`` and ``email`` scope claims, in Keycloak's order, absent ones omitted."""
        claims: dict[str, Any] = {"email_verified": self.email_verified}
        full_name = " ".join(part for part in (self.first_name, self.last_name) if part)
        if full_name:
            claims["name"] = full_name
        claims["preferred_username"] = self.username
        if self.first_name:
            claims["given_name"] = self.first_name
        if self.last_name:
            claims["family_name"] = self.last_name
        if self.email:
            claims["email"] = self.email
        return claims


class UserDirectory:
    """Users by login name (username or email, case-insensitive) and by id."""

    def __init__(self, users: list[User]):
        self._by_login: dict[str, User] = {}
        self._by_id: dict[str, User] = {}
        for user in users:
            self._by_id[user.id] = user
            self._by_login[user.username] = user
            if user.email:
                self._by_login.setdefault(user.email.lower(), user)

    @classmethod
    def load(cls, path: Path) -> UserDirectory:
        """Read the users file: a JSON list of Keycloak-style user objects."""
        items = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(items, list):
            raise ValueError(f"{path}: expected a JSON list of users")
        return cls([User.from_json(item) for item in items])

    def find(self, login: str) -> User | None:
        """The user with this username or email."""
        return self._by_login.get(login.lower())

    def by_id(self, user_id: Any) -> User | None:
        """The user whose ``id`` (the tokens' ``sub``) this is."""
        return self._by_id.get(user_id) if isinstance(user_id, str) else None


# --------------------------------------------------------------------------------------------
# Keys


@functools.lru_cache(maxsize=None)
def jws_registry(alg: str) -> jws.JWSRegistry:
    """A registry allowing exactly one algorithm (cached: one per algorithm)."""
    return jws.JWSRegistry(algorithms=[alg], strict_check_header=False)


def sign_compact(header: dict[str, Any], claims: Mapping[str, Any], key: Key | None) -> str:
    """Sign ``claims`` as a compact JWS with ``header`` (its ``alg`` decides the algorithm)."""
    return jws.serialize_compact(header, json_bytes(claims), key, registry=jws_registry(header["alg"]))


def self_signed_certificate(private_key: Any, common_name: str) -> bytes:
    """A DER certificate for the key, like the one Keycloak publishes in ``x5c``."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(private_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class KeyPair:
    """A private key (joserfc object, parsed once) with its ``kid`` and published JWK."""

    jwk: Key
    kid: str
    alg: str
    use: str
    public_jwk: Mapping[str, Any]

    @classmethod
    def generate(cls, alg: str, use: str, common_name: str) -> KeyPair:
        """A fresh key for ``alg`` (RSA 2048 or P-256); ``kid`` is its RFC 7638 thumbprint."""
        jwk: Key = ECKey.generate_key("P-256") if alg.startswith("ES") else RSAKey.generate_key(2048)
        kid = jwk.thumbprint()
        der = self_signed_certificate(jwk.private_key, common_name)
        published = {"kid": kid, "kty": jwk.key_type, "alg": alg, "use": use}
        published.update({k: v for k, v in jwk.as_dict(private=False).items() if k != "kty"})
        published.update({
            "x5c": [base64.b64encode(der).decode("ascii")],
            "x5t": b64url(hashlib.sha1(der).digest()),
            "x5t#S256": b64url(hashlib.sha256(der).digest()),
        })
        return cls(jwk=jwk, kid=kid, alg=alg, use=use, public_jwk=published)

    def public_pem(self) -> bytes:
        """The public key as PEM (SubjectPublicKeyInfo)."""
        return self.jwk.as_pem(private=False)


@dataclass(frozen=True)
class _PublishedKeys:
    """An immutable snapshot: the active signing key, every verifiable one, and the JWKS body."""

    current: KeyPair
    signing_by_kid: Mapping[str, KeyPair]
    jwks_body: bytes


class KeyRing:
    """The realm's keys: signing keys (active + passive), the RSA encryption key, and the
    internal HS512 key for refresh tokens. Readers take a snapshot; rotation swaps it."""

    def __init__(self, alg: str, realm: str):
        self._alg = alg
        self._realm = realm
        self._lock = threading.Lock()
        self.encryption = KeyPair.generate("RSA-OAEP", "enc", realm)
        refresh_key = OctKey.generate_key(512)
        self.refresh = KeyPair(jwk=refresh_key, kid=str(uuid.uuid4()), alg="HS512", use="sig", public_jwk={})
        self._published = self._publish(KeyPair.generate(alg, "sig", realm), ())

    def _publish(self, current: KeyPair, passive: tuple[KeyPair, ...]) -> _PublishedKeys:
        signing = (current, *passive)
        jwks = {"keys": [self.encryption.public_jwk, *(key.public_jwk for key in signing)]}
        return _PublishedKeys(current, {key.kid: key for key in signing}, json_bytes(jwks))

    @property
    def current(self) -> KeyPair:
        """The key that signs new tokens."""
        return self._published.current

    @property
    def jwks_body(self) -> bytes:
        """The JWKS document: the encryption key first, then the signing keys, newest first."""
        return self._published.jwks_body

    def rotate(self, drop_old: bool) -> KeyPair:
        """Make a new signing key active; older ones stay published (passive) unless dropped."""
        new_key = KeyPair.generate(self._alg, "sig", self._realm)
        with self._lock:
            old = self._published
            passive = () if drop_old else tuple(old.signing_by_kid.values())
            self._published = self._publish(new_key, passive)
        return new_key

    def sign(self, claims: Mapping[str, Any], key: KeyPair | None = None, header_type: str = "JWT") -> str:
        """Sign with Keycloak's header ``{"alg","typ","kid"}`` (default: the current key; ``typ``
        is ``JWT``, or ``at+jwt`` for access tokens with the RFC 9068 client option)."""
        key = key or self.current
        return sign_compact({"alg": key.alg, "typ": header_type, "kid": key.kid}, claims, key.jwk)

    def verify(self, token: str, *, refresh: bool = False) -> dict[str, Any] | None:
        """The claims of a token signed by one of our keys, or None.

        The key is chosen by ``kid`` among the published signing keys (or the internal refresh
        key when ``refresh``); the header's ``alg`` must be that key's algorithm.
        """
        try:
            obj = jws.extract_compact(token.encode("ascii"))
            header = obj.headers()
            kid = header.get("kid")
            key = (self.refresh if kid == self.refresh.kid else None) if refresh \
                else self._published.signing_by_kid.get(kid)
            if key is None or header.get("alg") != key.alg:
                return None
            if not jws.validate_compact(obj, key.jwk, registry=jws_registry(key.alg)):
                return None
            claims = json.loads(obj.payload)
        except (JoseError, ValueError, TypeError, UnicodeError):
            return None
        return claims if isinstance(claims, dict) else None


# --------------------------------------------------------------------------------------------
# Sessions


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


# --------------------------------------------------------------------------------------------
# Test controls: faults and counters


@dataclass(frozen=True, eq=False)
class Fault:
    """An injected failure for one endpoint (identity matters: a new setting is a new object)."""

    kind: str
    seconds: float


class FaultBoard:
    """Faults per endpoint name (``*`` for all), and the wait of hanging requests."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._faults: dict[str, Fault] = {}
        self._closing = False

    def set(self, endpoint: str, fault: Fault) -> None:
        """Install a fault; ``none`` clears the endpoint (for ``*``: every endpoint)."""
        with self._changed:
            if fault.kind != "none":
                self._faults[endpoint] = fault
            elif endpoint == "*":
                self._faults.clear()
            else:
                self._faults.pop(endpoint, None)
            self._changed.notify_all()

    def active(self, endpoint: str) -> Fault | None:
        """The fault for this endpoint: its own, else the ``*`` one."""
        with self._changed:
            return self._faults.get(endpoint) or self._faults.get("*")

    def hang(self, endpoint: str, fault: Fault) -> bool:
        """Wait out a ``hang``. True: go on and answer. False: the server is shutting down.

        The wait ends early when the endpoint's fault changes (e.g. back to ``none``).
        """
        deadline = time.monotonic() + fault.seconds
        with self._changed:
            while not self._closing:
                current = self._faults.get(endpoint) or self._faults.get("*")
                remaining = deadline - time.monotonic()
                if current is not fault or remaining <= 0:
                    return True
                self._changed.wait(remaining)
            return False

    def close(self) -> None:
        """Release every hanging request: the server is stopping."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()


class RequestStats:
    """Requests counted per Keycloak endpoint."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(ENDPOINTS, 0)

    def count(self, endpoint: str) -> None:
        with self._lock:
            self._counts[endpoint] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        with self._lock:
            self._counts = dict.fromkeys(ENDPOINTS, 0)


@functools.lru_cache(maxsize=1)
def huge_body() -> bytes:
    """A 5 MB body that starts like JSON (built on first use)."""
    head, tail = b'{"access_token":"', b'"}'
    return head + b"A" * (HUGE_BODY_BYTES - len(head) - len(tail)) + tail


# --------------------------------------------------------------------------------------------
# HTTP values


@dataclass(frozen=True)
class Request:
    """What the application needs of an HTTP request."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    client_host: str

    def form(self) -> dict[str, str]:
        """The urlencoded form (first value of each field); raises ``OAuthError`` when not UTF-8."""
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError:
            raise OAuthError(400, "invalid_request", "Request body is not valid UTF-8") from None
        return {name: values[0] for name, values in parse_qs(text, keep_blank_values=True).items()}


@dataclass(frozen=True)
class Response:
    """An HTTP answer. ``Content-Length`` is added by the writer (except on 204)."""

    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(cls, status: int, value: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
        return cls(status, json_bytes(value), "application/json", headers)


class OAuthError(Exception):
    """An OAuth error answer: ``{"error","error_description"}`` with a status and headers."""

    def __init__(self, status: int, error: str, description: str, headers: tuple[tuple[str, str], ...] = ()):
        super().__init__(f"{status} {error}: {description}")
        self.status, self.error, self.description, self.headers = status, error, description, headers

    def response(self) -> Response:
        return Response.json(self.status, {"error": self.error, "error_description": self.description},
                             self.headers)


NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))

#: What a browser sees when it posts to ``logout`` without a refresh token: Keycloak's
#: RP-initiated logout confirmation (its real page is a themed form; this one carries its words).
LOGOUT_CONFIRMATION_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Logging out</title></head><body>"
    b"<h1>Logging out</h1><p>Do you want to log out?</p>"
    b'<form method="post"><input type="submit" value="Logout"></form></body></html>\n'
)


# --------------------------------------------------------------------------------------------
# The Keycloak realm


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
        self._discovery_body = json_bytes(self._discovery_document(self.oidc_url))

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
            return Response.json(200, self._discovery_document(backend))
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
        return Response.json(200, self._token_body(user, session, int(now)), NO_STORE)

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
        form = request.form()
        self._authenticate_client(form, request.headers)
        token = form.get("token")
        if not token:
            raise OAuthError(400, "invalid_request", "Token not provided.")
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
                full = self.access_claims(user, session, int(claims.get("iat", now)), lightweight=False)
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
        form = request.form()
        self._authenticate_client(form, request.headers)
        token = form.get("token")
        if not token:
            raise OAuthError(400, "invalid_request", "Token not provided")
        now = time.time()
        refresh_claims = self.keys.verify(token, refresh=True)
        if refresh_claims is not None and refresh_claims.get("iss") == self.issuer:
            self.sessions.end(refresh_claims.get("sid"))
        else:
            claims = self.keys.verify(token)
            if claims is not None and self._is_valid(claims, now):
                self.sessions.revoke_access_token(claims.get("jti"), claims.get("exp"), now)
        return Response(200, content_type=None)

    # Test control ---------------------------------------------------------------------------

    def mint(self, login: str, claims: Mapping[str, Any], header: Mapping[str, Any], key_name: str,
             kind: str = "access") -> str:
        """A token for ``login`` in a new live session, with overrides applied.

        ``kind`` is ``access`` (the default), ``id`` (an ID token) or ``refresh`` (signed with
        the internal refresh key, whatever ``key_name`` says). ``claims``/``header`` values
        replace the defaults and ``None`` deletes. ``key_name`` is ``current`` (the active
        signing key) or ``enc`` (the encryption key, signing RS256). A header ``alg`` of
        ``none`` yields an unsigned token; ``HS256/384/512`` an HMAC keyed with the chosen key's
        public PEM (the classic algorithm-confusion forgery).
        """
        user = self.users.find(login)
        if user is None:
            raise ValueError(f"unknown user {login!r}")
        if key_name not in ("current", "enc"):
            raise ValueError("key must be 'current' or 'enc'")
        if kind not in ("access", "id", "refresh"):
            raise ValueError("kind must be 'access', 'id' or 'refresh'")
        now = time.time()
        session = self.sessions.create(user, "openid email profile", now)
        if kind == "refresh":
            return self.keys.sign(_apply_overrides(self._refresh_claims(user, session, int(now)), claims),
                                  self.keys.refresh)
        key = self.keys.current if key_name == "current" else self.keys.encryption
        if kind == "id":
            defaults = self._id_claims(user, session, int(now), self.keys.sign(self.access_claims(user, session, int(now))))
            header_type = "JWT"
        else:
            defaults = self.access_claims(user, session, int(now))
            header_type = self._access_header_type
        body = _apply_overrides(defaults, claims)
        protected = _apply_overrides(
            {"alg": key.alg if key.use == "sig" else "RS256", "typ": header_type, "kid": key.kid}, header
        )
        alg = protected.get("alg")
        if not isinstance(alg, str):
            raise ValueError("header alg must be a string")
        if alg == "none":
            signing_key: Key | None = None
        elif alg.startswith("HS"):
            signing_key = OctKey.import_key(key.public_pem())
        else:
            signing_key = key.jwk
        try:
            return sign_compact(protected, body, signing_key)
        except JoseError as error:
            raise ValueError(f"cannot sign with alg {alg!r} and the {key_name} key: {error}") from None

    # Tokens ---------------------------------------------------------------------------------

    @property
    def _bearer(self) -> str:
        """``typ`` of access tokens and ``token_type``: lower case with the client option
        (``TokenManager.formatTokenType``)."""
        return "bearer" if self.config.lower_case_bearer else "Bearer"

    @property
    def _access_header_type(self) -> str:
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
            "iss": self.issuer,
        }
        if lightweight:
            claims.update({"typ": self._bearer, "azp": self.config.client_id, "sid": session.sid, "acr": "1",
                           "scope": session.scope})
            return claims
        if audience:
            claims["aud"] = audience[0] if len(audience) == 1 else audience
        claims.update({
            "sub": user.id,
            "typ": self._bearer,
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

    def _refresh_claims(self, user: User, session: Session, now: int) -> dict[str, Any]:
        return {
            "exp": now + SESSION_IDLE_SECONDS, "iat": now, "jti": str(uuid.uuid4()), "iss": self.issuer,
            "aud": self.issuer, "sub": user.id, "typ": "Refresh", "azp": self.config.client_id,
            "sid": session.sid, "scope": session.scope,
        }

    def _token_body(self, user: User, session: Session, now: int) -> dict[str, Any]:
        access_token = self.keys.sign(self.access_claims(user, session, now), header_type=self._access_header_type)
        body: dict[str, Any] = {
            "access_token": access_token,
            "expires_in": self.config.access_token_lifespan,
            "refresh_expires_in": SESSION_IDLE_SECONDS,
            "refresh_token": self.keys.sign(self._refresh_claims(user, session, now), self.keys.refresh),
            "token_type": self._bearer,
        }
        if "openid" in session.scope.split():
            body["id_token"] = self.keys.sign(self._id_claims(user, session, now, access_token))
        body["not-before-policy"] = 0
        body["session_state"] = session.sid
        body["scope"] = session.scope
        return body

    def _id_claims(self, user: User, session: Session, now: int, access_token: str) -> dict[str, Any]:
        """ID token claims; ``at_hash`` per OpenID Connect Core 3.1.3.6."""
        digest = hashlib.new("sha" + self.config.alg[2:], access_token.encode("ascii")).digest()
        return {
            "exp": now + self.config.access_token_lifespan, "iat": now, "auth_time": session.started,
            "jti": str(uuid.uuid4()), "iss": self.issuer, "aud": self.config.client_id, "sub": user.id,
            "typ": "ID", "azp": self.config.client_id, "sid": session.sid,
            "at_hash": b64url(digest[: len(digest) // 2]), "acr": "1", **user.profile_claims(),
        }

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

    def _discovery_document(self, backend: str) -> dict[str, Any]:
        """Keycloak's discovery document; ``backend`` is the back-channel endpoints' base."""
        oidc = self.oidc_url
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{oidc}/auth",
            "token_endpoint": f"{backend}/token",
            "introspection_endpoint": f"{backend}/token/introspect",
            "userinfo_endpoint": f"{backend}/userinfo",
            "end_session_endpoint": f"{oidc}/logout",
            "frontchannel_logout_session_supported": True,
            "frontchannel_logout_supported": True,
            "jwks_uri": f"{backend}/certs",
            "check_session_iframe": f"{oidc}/login-status-iframe.html",
            "grant_types_supported": [
                "authorization_code", "client_credentials", "implicit", "password", "refresh_token",
                "urn:ietf:params:oauth:grant-type:device_code", "urn:openid:params:grant-type:ciba",
            ],
            "acr_values_supported": ["0", "1"],
            "response_types_supported": [
                "code", "none", "id_token", "token", "id_token token", "code id_token", "code token",
                "code id_token token",
            ],
            "subject_types_supported": ["public", "pairwise"],
            "prompt_values_supported": ["none", "login", "consent"],
            "id_token_signing_alg_values_supported": list(KEYCLOAK_SIGNING_ALGORITHMS),
            "id_token_encryption_alg_values_supported": ["RSA-OAEP", "RSA-OAEP-256", "RSA1_5"],
            "id_token_encryption_enc_values_supported": [
                "A256GCM", "A192GCM", "A128GCM", "A128CBC-HS256", "A192CBC-HS384", "A256CBC-HS512",
            ],
            "userinfo_signing_alg_values_supported": [*KEYCLOAK_SIGNING_ALGORITHMS, "none"],
            "request_object_signing_alg_values_supported": [*KEYCLOAK_SIGNING_ALGORITHMS, "none"],
            "response_modes_supported": [
                "query", "fragment", "form_post", "query.jwt", "fragment.jwt", "form_post.jwt", "jwt",
            ],
            "registration_endpoint": f"{backend.rsplit('/protocol/', 1)[0]}/clients-registrations/openid-connect",
            "token_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
            "token_endpoint_auth_signing_alg_values_supported": list(KEYCLOAK_SIGNING_ALGORITHMS),
            "introspection_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
            "introspection_endpoint_auth_signing_alg_values_supported": list(KEYCLOAK_SIGNING_ALGORITHMS),
            "claims_supported": [
                "aud", "sub", "iss", "auth_time", "name", "given_name", "family_name",
                "preferred_username", "email", "acr",
            ],
            "claim_types_supported": ["normal"],
            "claims_parameter_supported": True,
            "scopes_supported": [
                "openid", "offline_access", "profile", "email", "address", "phone", "roles",
                "web-origins", "acr", "basic", "microprofile-jwt",
            ],
            "request_parameter_supported": True,
            "request_uri_parameter_supported": True,
            "require_request_uri_registration": True,
            "code_challenge_methods_supported": ["plain", "S256"],
            "tls_client_certificate_bound_access_tokens": True,
            "revocation_endpoint": f"{oidc}/revoke",
            "revocation_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
            "revocation_endpoint_auth_signing_alg_values_supported": list(KEYCLOAK_SIGNING_ALGORITHMS),
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
            "device_authorization_endpoint": f"{oidc}/auth/device",
            "authorization_response_iss_parameter_supported": True,
        }


def _apply_overrides(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` applied; a ``None`` value deletes the key."""
    result = dict(base)
    for name, value in overrides.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = value
    return result


# --------------------------------------------------------------------------------------------
# Routing


class AdminError(Exception):
    """A bad admin request (answered 400 with ``{"error": message}``)."""


@dataclass(frozen=True)
class Route:
    """A Keycloak endpoint: its counter/fault name, methods, and handler."""

    name: str
    methods: tuple[str, ...]
    handler: Callable[[Request], Response]


class Application:
    """Routes requests to the realm or the admin API; applies faults and counts requests."""

    def __init__(self, realm: KeycloakRealm):
        self.realm = realm
        self.faults = FaultBoard()
        self.stats = RequestStats()
        prefix = "/auth" if realm.config.legacy_auth_prefix else ""
        self._realms_prefix = f"{prefix}/realms/"
        base = f"{self._realms_prefix}{quote(realm.config.realm)}"
        oidc = f"{base}/protocol/openid-connect"
        self._routes = {
            f"{base}/.well-known/openid-configuration": Route("discovery", ("GET",), realm.discovery),
            f"{oidc}/certs": Route("certs", ("GET",), realm.certs),
            f"{oidc}/token": Route("token", ("POST",), realm.token),
            f"{oidc}/userinfo": Route("userinfo", ("GET", "POST"), realm.userinfo),
            f"{oidc}/token/introspect": Route("introspect", ("POST",), realm.introspect),
            f"{oidc}/logout": Route("logout", ("POST",), realm.logout),
            f"{oidc}/revoke": Route("revoke", ("POST",), realm.revoke),
        }
        self._admin_routes: dict[tuple[str, str], Callable[[dict[str, Any]], Any]] = {
            ("POST", "/_admin/rotate"): self._admin_rotate,
            ("POST", "/_admin/fault"): self._admin_fault,
            ("GET", "/_admin/stats"): lambda _: self.stats.snapshot(),
            ("POST", "/_admin/stats/reset"): self._admin_stats_reset,
            ("POST", "/_admin/mint"): self._admin_mint,
            ("GET", "/_admin/keys/current"): lambda _: dict(self.realm.keys.current.public_jwk),
            ("POST", "/_admin/sessions/clear"): lambda _: {"ended": self.realm.sessions.clear()},
        }

    def handle(self, request: Request) -> Response | None:
        """The answer to one request; None means: close the connection without answering."""
        if request.path.startswith("/_admin/"):
            return self._admin(request)
        route = self._routes.get(request.path)
        if route is None:
            return self._not_found(request.path)
        self.stats.count(route.name)
        if request.method not in route.methods:
            return Response.json(405, {"error": "HTTP 405 Method Not Allowed",
                                       "error_description": NOT_FOUND_BODY["error_description"]},
                                 (("Allow", ", ".join(route.methods)),))
        fault = self.faults.active(route.name)
        if fault is None:
            return self._call(route, request)
        if fault.kind == "hang":
            return self._call(route, request) if self.faults.hang(route.name, fault) else None
        if fault.kind == "html":
            return Response(200, HTML_GARBAGE, "text/html; charset=utf-8")
        if fault.kind == "status500":
            return Response(500, HTML_SERVER_ERROR, "text/html")
        if fault.kind == "huge":
            return Response(200, huge_body())
        if fault.kind == "introspection_failure":
            return Response.json(400, FAILED_INTROSPECTION)
        if fault.kind == "introspection_without_iss":
            # Not Keycloak (it always sends iss): another RFC 7662 server, for which iss is optional.
            normal = self._call(route, request)
            answer = json.loads(normal.body)
            answer.pop("iss", None)
            return Response.json(normal.status, answer)
        normal = self._call(route, request)  # "truncated": the real answer, cut in half
        return replace(normal, body=normal.body[: len(normal.body) // 2])

    def close(self) -> None:
        """Shutdown: release hanging requests."""
        self.faults.close()

    def _call(self, route: Route, request: Request) -> Response:
        if route.name in SSL_CHECKED_ENDPOINTS:
            refusal = self.realm.ssl_refusal(request.client_host)
            if refusal is not None:
                return refusal
        try:
            return route.handler(request)
        except OAuthError as error:
            return error.response()

    def _not_found(self, path: str) -> Response:
        if path.startswith(self._realms_prefix):
            return Response.json(404, {"error": "Realm does not exist",
                                       "error_description": NOT_FOUND_BODY["error_description"]})
        return Response.json(404, NOT_FOUND_BODY)

    # Admin API ------------------------------------------------------------------------------

    def _admin(self, request: Request) -> Response:
        if not _is_loopback(request.client_host):
            return Response.json(403, {"error": "admin endpoints answer loopback clients only"})
        handler = self._admin_routes.get((request.method, request.path))
        if handler is None:
            return self._not_found(request.path)
        try:
            payload = json.loads(request.body) if request.body.strip() else {}
            if not isinstance(payload, dict):
                raise AdminError("the body must be a JSON object")
            return Response.json(200, handler(payload))
        except (AdminError, ValueError) as error:
            return Response.json(400, {"error": str(error)})

    def _admin_rotate(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {"kid": self.realm.keys.rotate(drop_old=bool(payload.get("drop_old", False))).kid}

    def _admin_fault(self, payload: dict[str, Any]) -> dict[str, Any]:
        endpoint, kind = payload.get("endpoint"), payload.get("fault")
        seconds = payload.get("seconds", 30)
        if endpoint != "*" and endpoint not in ENDPOINTS:
            raise AdminError(f"endpoint must be one of {', '.join(ENDPOINTS)} or *")
        if kind not in FAULTS:
            raise AdminError(f"fault must be one of {', '.join(FAULTS)}")
        if kind in INTROSPECTION_FAULTS and endpoint != "introspect":
            raise AdminError(f"{kind} is a fault of the introspect endpoint only")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise AdminError("seconds must be a non-negative number")
        self.faults.set(endpoint, Fault(kind, float(seconds)))
        return {"endpoint": endpoint, "fault": kind, "seconds": seconds}

    def _admin_stats_reset(self, payload: dict[str, Any]) -> dict[str, int]:
        self.stats.reset()
        return self.stats.snapshot()

    def _admin_mint(self, payload: dict[str, Any]) -> dict[str, str]:
        user, claims, header = payload.get("user", "abdullah"), payload.get("claims", {}), payload.get("header", {})
        if not isinstance(user, str) or not isinstance(claims, dict) or not isinstance(header, dict):
            raise AdminError("user must be a string; claims and header must be objects")
        return {"token": self.realm.mint(user, claims, header, payload.get("key", "current"),
                                         payload.get("kind", "access"))}


def _is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


# --------------------------------------------------------------------------------------------
# HTTP server


class RequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive: reads one request, lets the application answer, writes it."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY: no Nagle + delayed-ACK stall on reused connections
    timeout = 300  # idle keep-alive connections are closed after this many seconds
    server_version = "mini-keycloak"
    sys_version = ""
    server: IdentityProviderServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        body = self._read_body()
        if body is None:
            return
        request = Request(self.command, urlsplit(self.path).path, self.headers, body, self.client_address[0])
        self._write(self.server.app.handle(request))

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering a framing error (and closing)."""
        if "Transfer-Encoding" in self.headers:
            return self._refuse(411, "Content-Length required")
        try:
            length = int(self.headers.get("Content-Length", "0"))
            if length < 0:
                raise ValueError
        except ValueError:
            return self._refuse(400, "Invalid Content-Length")
        if length > MAX_BODY_BYTES:
            return self._refuse(413, "Request entity too large")
        return self.rfile.read(length)

    def _refuse(self, status: int, description: str) -> None:
        self.close_connection = True
        self._write(Response.json(status, {"error": "invalid_request", "error_description": description}))

    def _write(self, response: Response | None) -> None:
        if response is None:
            self.close_connection = True
            return
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        if response.status != 204:  # RFC 9110 section 8.6: no Content-Length on 204
            self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(response.body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One line per request: method, path without query, status. Never bodies or headers."""
        path = urlsplit(getattr(self, "path", "") or "").path or "-"
        LOG.info("%s %s %s", getattr(self, "command", None) or "-", path, code)

    def log_error(self, format: str, *args: Any) -> None:
        """Protocol errors: the status only (the raw request line may carry secrets)."""
        LOG.warning("protocol error %s", args[0] if args else "-")


class IdentityProviderServer(ThreadingHTTPServer):
    """A threading HTTP server (IPv4 or IPv6) that carries the application."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, host: str, port: int):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.app: Application | None = None
        super().__init__((host, port), RequestHandler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup of the host."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away is not an error worth a traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            LOG.info("connection dropped: %s", type(error).__name__)
        else:
            LOG.exception("unhandled error while serving a request")


def announce_ready(ready_file: Path | None, port: int, base_url: str, issuer: str) -> None:
    """Write the ready file atomically (temp file + rename), then print ``ready <base_url>``."""
    if ready_file is not None:
        temporary = ready_file.with_name(f".{ready_file.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps({"port": port, "base_url": base_url, "issuer": issuer}), "utf-8")
        os.replace(temporary, ready_file)
    print(f"ready {base_url}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run until SIGTERM or SIGINT; exit 0 after a clean shutdown."""
    config = parse_config(argv, os.environ)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s mini-keycloak %(levelname)s %(message)s")
    # Test tokens deliberately use weak constructions (alg "none", HMAC keyed with a public key).
    warnings.simplefilter("ignore", SecurityWarning)
    try:
        users = UserDirectory.load(config.users_path)
    except (OSError, ValueError, KeyError) as error:
        LOG.error("cannot load users from %s: %s", config.users_path, error)
        return 2

    server = IdentityProviderServer(config.host, config.port)
    port = server.server_port
    host = f"[{config.host}]" if ":" in config.host else config.host
    base_url = config.public_url or f"http://{host}:{port}"
    app = Application(KeycloakRealm(config, base_url, users))
    server.app = app

    def request_stop(signum: int, frame: Any) -> None:
        LOG.info("signal %d: shutting down", signum)
        app.close()
        threading.Thread(target=server.shutdown, name="shutdown", daemon=True).start()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    LOG.info("listening on %s:%d, issuer %s, alg %s", config.host, port, app.realm.issuer, config.alg)
    announce_ready(config.ready_file, port, base_url, app.realm.issuer)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
