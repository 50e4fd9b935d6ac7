"""DPoP (RFC 9449) as Keycloak 26.x checks proofs and binds tokens: ``DPoPValidator`` follows
``org.keycloak.services.util.DPoPUtil.validateDPoP`` check by check, with Keycloak's messages;
``confirmation`` is the ``cnf`` claim its transient DPoP protocol mapper writes.

Sources (``idp/KEYCLOAK-SOURCES.md`` § 26): ``DPoPUtil`` (``DEFAULT_PROOF_LIFETIME = 10``,
``DEFAULT_ALLOWED_CLOCK_SKEW = 15``, ``DPoPClaimsCheck``, ``DPoPHTTPCheck``, ``DPoPIsActiveCheck``,
``DPoPReplayCheck``, ``DPoPAccessTokenHashCheck``, ``DPoPBindingCheck``, ``DpopProtocolMapper``),
``core/.../TokenVerifier.java`` (``parse``, ``verifySignature``), ``AccessToken.Confirmation``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, OKPKey, RSAKey

from .discovery import KEYCLOAK_SIGNING_ALGORITHMS
from .encoding import b64url
from .keys import jws_registry


#: ``DPoPUtil.DEFAULT_PROOF_LIFETIME`` and ``DEFAULT_ALLOWED_CLOCK_SKEW`` (seconds; not
#: configurable in Keycloak: keycloak#48025). A proof passes when
#: ``now - 25 <= iat <= now + 15`` (``DPoPIsActiveCheck``, Keycloak 26.1+: keycloak#34894).
DEFAULT_PROOF_LIFETIME = 10
DEFAULT_ALLOWED_CLOCK_SKEW = 15
#: ``DPoPUtil.DPOP_TOKEN_TYPE``: the access token's ``typ`` and the answer's ``token_type``.
DPOP_TOKEN_TYPE = "DPoP"
#: The value of ``cnf.kc-jkt-type`` (``DPoPUtil.DPOP_JKT_TYPE``, Keycloak 26.7).
DPOP_JKT_TYPE = "DPoP"
#: ``getDPoPSupportedAlgorithms``: the asymmetric signature providers, in the order of the
#: realm's provider list (the same order discovery's ``id_token_signing_alg_values_supported``
#: has); also discovery's ``dpop_signing_alg_values_supported``.
DPOP_ALGORITHMS = tuple(alg for alg in KEYCLOAK_SIGNING_ALGORITHMS if not alg.startswith("HS"))
#: Names of Keycloak's ``org.keycloak.jose.jws.Algorithm`` enum: any other ``alg`` fails to
#: parse, which is "DPoP header verification failure".
KNOWN_ALGORITHMS = frozenset(("none", *KEYCLOAK_SIGNING_ALGORITHMS))
#: Private members per key family (``SignatureProviderFactory.getJwkPrivateKeyClaims``).
PRIVATE_MEMBERS = {"RSA": ("d", "p", "q", "dp", "dq", "qi", "oth"), "EC": ("d",), "OKP": ("d",)}
#: Whether an algorithm's key family is RSA, EC or OKP.
ALG_FAMILY = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
#: What Java's ``new URI(...)`` refuses (characters outside RFC 3986, a bad percent escape).
_BAD_URI = re.compile(r"[^A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]|%(?![0-9A-Fa-f]{2})")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")

HEADER_FAILURE = "DPoP header verification failure"
SIGNATURE_FAILURE = ("DPoP verification failure: "
                     "org.keycloak.exceptions.TokenSignatureInvalidException: Invalid token signature")


class DPoPError(Exception):
    """A proof Keycloak refuses; ``str()`` is its ``VerificationException`` message."""


class MalformedKeyError(Exception):
    """A ``jwk`` whose members do not make a key: Keycloak's ``JWKParser`` throws a
    ``RuntimeException`` the token endpoint does not catch (keycloak#49440): a 500."""


@dataclass(frozen=True)
class Proof:
    """A proof that passed: its key's RFC 7638 thumbprint (``DPoP.getThumbprint``) and claims."""

    thumbprint: str
    jti: str
    htm: str
    htu: str
    iat: int


def confirmation(proof: Proof, with_jkt_type: bool = True) -> dict[str, str]:
    """The ``cnf`` claim of a bound token: ``AccessToken.Confirmation`` serialized without its
    null ``x5t#S256`` (Keycloak's mapper is ``NON_NULL``), ``jkt`` then ``kc-jkt-type``."""
    value = {"jkt": proof.thumbprint}
    if with_jkt_type:
        value["kc-jkt-type"] = DPOP_JKT_TYPE
    return value


def bound_thumbprint(claims: Mapping[str, Any]) -> str | None:
    """``cnf.jkt`` of a token, or None (``DPoPUtil.isDPoPToken``)."""
    cnf = claims.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    return jkt if isinstance(jkt, str) else None


def access_token_hash(token: str) -> str:
    """``ath``: base64url(SHA-256(token)) (``HashUtils.accessTokenHash(..., true)``)."""
    return b64url(hashlib.sha256(token.encode("ascii")).digest())


class ReplayCache:
    """Keycloak's single-use object store for proofs: ``putIfAbsent`` with a lifespan."""

    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}

    def put_if_absent(self, key: str, lifespan: int) -> bool:
        now = self._clock()
        with self._lock:
            if len(self._expiry) > 10_000:
                self._expiry = {k: v for k, v in self._expiry.items() if v > now}
            expiry = self._expiry.get(key)
            if expiry is not None and expiry > now:
                return False
            self._expiry[key] = now + max(lifespan, 1)
            return True


class DPoPValidator:
    """``DPoPUtil.validateDPoP``: checks in Keycloak's order, each with Keycloak's message."""

    def __init__(self, lifetime: int = DEFAULT_PROOF_LIFETIME, clock_skew: int = DEFAULT_ALLOWED_CLOCK_SKEW,
                 clock: Callable[[], float] = time.time):
        self.lifetime = lifetime
        self.clock_skew = clock_skew
        self._clock = clock
        self._replay = ReplayCache(clock)

    def validate(self, proof: str | None, method: str, uri: str, access_token: str | None = None) -> Proof:
        """The proof of a request to ``uri`` (Keycloak's absolute path of it) by ``method``;
        ``access_token`` when the proof must carry its ``ath`` (resource endpoints)."""
        if proof is None or not proof.strip():
            raise DPoPError("DPoP proof is missing")
        header, claims, signing_input, signature = _parse(proof)
        if header.get("typ") != "dpop+jwt":
            raise DPoPError(f"Invalid or missing type in DPoP header: {_java(header.get('typ'))}")
        alg = header.get("alg")
        if alg is None:
            raise DPoPError("No alg in DPoP header")
        if alg not in DPOP_ALGORITHMS:
            raise DPoPError(f"Unsupported DPoP algorithm: {alg}")
        jwk = header.get("jwk")
        if jwk is None:
            raise DPoPError("No JWK in DPoP header")
        key = _public_key(jwk)
        if any(member in jwk for member in PRIVATE_MEMBERS[ALG_FAMILY[alg[:2]]]):
            raise DPoPError("Private key material must not be present in DPoP JWK")
        if not _verifies(signing_input, signature, alg, key):
            raise DPoPError(SIGNATURE_FAILURE)
        jti, htm, htu, iat = (claims.get(name) for name in ("jti", "htm", "htu", "iat"))
        if iat is None or not _not_blank(jti) or not _not_blank(htm) or not _not_blank(htu):
            raise DPoPError("DPoP mandatory claims are missing")
        if _BAD_URI.search(htu):
            raise DPoPError("Malformed HTTP URL in DPoP proof")
        if _normalize(htu) != _normalize(uri):
            raise DPoPError("DPoP HTTP URL mismatch")
        if htm != method:
            raise DPoPError("DPoP HTTP method mismatch")
        now = int(self._clock())
        if not (iat <= now + self.clock_skew and iat >= now - self.lifetime - self.clock_skew):
            raise DPoPError("DPoP proof is not active")
        replay_key = hashlib.sha1(f"{jti}\n{htu}".encode("utf-8")).hexdigest()
        if not self._replay.put_if_absent(replay_key, iat + self.lifetime + self.clock_skew - now):
            raise DPoPError("DPoP proof has already been used")
        if access_token is not None:
            if claims.get("ath") is None:
                raise DPoPError("No access token hash in DPoP proof")
            if claims.get("ath") != access_token_hash(access_token):
                raise DPoPError("DPoP proof access token hash mismatch")
        return Proof(key.thumbprint(), jti, htm, htu, iat)


def check_binding(claims: Mapping[str, Any], proof: Proof) -> None:
    """``DPoPUtil.DPoPBindingCheck`` on a token's claims."""
    cnf = claims.get("cnf")
    if not isinstance(cnf, dict):
        raise DPoPError("No DPoP confirmation in access token")
    if cnf.get("jkt") is None:
        raise DPoPError("No DPoP key thumbprint in access token")
    if cnf["jkt"] != proof.thumbprint:
        raise DPoPError("DPoP confirmation doesn't match DPoP proof")


def _parse(proof: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """``TokenVerifier.parse`` (``JWSInput``, then the ``DPoP`` class): any failure is
    reported as "DPoP header verification failure" by ``validateDPoP``."""
    parts = proof.split(".")
    if len(parts) not in (2, 3):
        raise DPoPError(HEADER_FAILURE)
    try:
        header = json.loads(_b64decode(parts[0]))
        claims = json.loads(_b64decode(parts[1]))
        signature = _b64decode(parts[2]) if len(parts) == 3 else b""
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise DPoPError(HEADER_FAILURE) from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise DPoPError(HEADER_FAILURE)
    alg, jwk = header.get("alg"), header.get("jwk")
    if (alg is not None and alg not in KNOWN_ALGORITHMS) or (jwk is not None and not isinstance(jwk, dict)):
        raise DPoPError(HEADER_FAILURE)
    if header.get("typ") is not None and not isinstance(header["typ"], str):
        raise DPoPError(HEADER_FAILURE)
    try:  # Jackson's coercions into the DPoP class: numbers into strings, numeric strings into iat
        for name in ("jti", "htm", "htu", "ath", "nonce"):
            value = claims.get(name)
            if isinstance(value, (dict, list)):
                raise ValueError(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                claims[name] = str(value)
        iat = claims.get("iat")
        if iat is not None:
            if isinstance(iat, (bool, dict, list)):
                raise ValueError("iat")
            claims["iat"] = int(float(iat)) if isinstance(iat, str) else int(iat)
    except (ValueError, OverflowError):
        raise DPoPError(HEADER_FAILURE) from None
    return header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature


def _b64decode(part: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", part):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _public_key(jwk: Mapping[str, Any]) -> Key:
    """``JWKSUtils.getKeyWrapper``: RSA, EC and OKP keys; another ``kty`` has no key wrapper."""
    kinds = {"RSA": (RSAKey, ("n", "e")), "EC": (ECKey, ("crv", "x", "y")), "OKP": (OKPKey, ("crv", "x"))}
    kind = kinds.get(jwk.get("kty"))  # type: ignore[arg-type]
    if kind is None:
        raise DPoPError("Unsupported key type in DPoP header")
    key_class, members = kind
    try:
        return key_class.import_key({"kty": jwk["kty"], **{m: jwk[m] for m in members}})
    except (JoseError, KeyError, ValueError, TypeError) as error:
        raise MalformedKeyError(str(error)) from None


def _verifies(signing_input: bytes, signature: bytes, alg: str, key: Key) -> bool:
    """``verifySignature`` with the ``jwk``'s key; a key of another family than the ``alg``
    fails here too (Keycloak's verifier throws, which ``verifySignature`` reports alike)."""
    if ALG_FAMILY[alg[:2]] != key.key_type:
        return False
    # The algorithm itself, not jws.extract_compact: joserfc refuses headers over 512 bytes
    # (an RSA jwk makes one), Keycloak has no such limit.
    try:
        return bool(jws_registry(alg).get_alg(alg).verify(signing_input, signature, key))
    except (JoseError, ValueError, TypeError):
        return False


def _normalize(uri: str) -> tuple[str, str, str]:
    """``DPoPUtil.normalize`` then ``java.net.URI.equals``: query and fragment dropped; scheme
    and host compared without case, percent escapes without the case of their hex digits;
    ports and paths as written (no default-port or dot-segment normalization)."""
    parts = urlsplit(uri)
    authority = parts.netloc
    userinfo, at, hostport = authority.rpartition("@")
    return (parts.scheme.lower(), f"{userinfo}{at}{hostport.lower()}",
            _PERCENT.sub(lambda match: match.group(0).upper(), parts.path))


def _not_blank(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _java(value: Any) -> str:
    return "null" if value is None else str(value)
