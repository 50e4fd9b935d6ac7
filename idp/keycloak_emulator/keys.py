"""The realm's keys: signing key pairs with their published JWKs (``x5c``, ``x5t``), rotation,
the RSA encryption key, the internal HS512 refresh-token key, and signing and verifying."""

from __future__ import annotations

import base64
import datetime
import functools
import hashlib
import json
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Mapping

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, OctKey, RSAKey

from .encoding import b64url, json_bytes


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
