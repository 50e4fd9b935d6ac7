"""DPoP proofs (RFC 9449) for the tests: keys, RFC 7638 thumbprints, `ath`, and proofs with any
field overridden, wrong on purpose where a test needs it.

    from harness.dpop import DPoPKey, proof

    key = DPoPKey.generate("ES256")                       # or ES384, ES512, PS256, RS256, ...
    token = idp.mint(claims={"cnf": {"jkt": key.thumbprint}})
    value = proof(key, "GET", stack.url("/protected"), access_token=token)
    # wrong on purpose: None deletes a member, anything else replaces it
    proof(key, "GET", url, access_token=token, claims={"jti": None}, header={"typ": "JWT"})
    proof(key, "GET", url, access_token=token, sign_with=DPoPKey.generate("ES256"))
    proof(key, "GET", url, access_token=token, private_members=("d",))
    proof(key, "GET", url, alg="none")  /  proof(key, "GET", url, alg="HS256")

Signatures are made here with `cryptography` (JWS: ES* as fixed-length r||s, PS* with a salt as
long as the hash), so a test controls every byte; `verify` checks one with joserfc, as an
independent implementation, for the helper's own tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

#: The responder's default AUTH_DPOP_ALGS, in its order.
DEFAULT_ALGS = ("ES256", "ES384", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512")

_EC_CURVES = {
    "ES256": (ec.SECP256R1, "P-256", hashes.SHA256, 32),
    "ES384": (ec.SECP384R1, "P-384", hashes.SHA384, 48),
    "ES512": (ec.SECP521R1, "P-521", hashes.SHA512, 66),
}
_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_HMAC = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}

#: RFC 7638 §3.2: the required members of each key type, the only ones a thumbprint hashes.
THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x"),
                      "oct": ("k", "kty")}


def b64(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_b64(value: int, length: int | None = None) -> str:
    length = length or max(1, (value.bit_length() + 7) // 8)
    return b64(value.to_bytes(length, "big"))


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638: base64url(SHA-256) of the required members, sorted, no whitespace."""
    members = {name: jwk[name] for name in THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return b64(hashlib.sha256(canonical.encode("utf-8")).digest())


def ath(access_token: str) -> str:
    """RFC 9449 §4.2: base64url(SHA-256(ASCII access token))."""
    return b64(hashlib.sha256(access_token.encode("ascii")).digest())


@dataclass
class DPoPKey:
    """A key pair that signs proofs with `alg` (ES256/384/512, PS256/384/512, RS256/384/512)."""

    alg: str
    private: Any  # a cryptography private key

    @classmethod
    def generate(cls, alg: str = "ES256", rsa_bits: int = 2048) -> DPoPKey:
        if alg in _EC_CURVES:
            return cls(alg, ec.generate_private_key(_EC_CURVES[alg][0]()))
        if alg[:2] in ("PS", "RS") and alg[2:] in _HASHES:
            return cls(alg, rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits))
        raise ValueError(f"no key type for {alg}")

    def with_alg(self, alg: str) -> DPoPKey:
        """The same key pair, signing with another algorithm of its type (RSA: PS256 <-> RS384)."""
        return DPoPKey(alg, self.private)

    @property
    def is_ec(self) -> bool:
        return isinstance(self.private, ec.EllipticCurvePrivateKey)

    @property
    def public_jwk(self) -> dict[str, Any]:
        """The public JWK, members in RFC 7638 order (as clients usually write them)."""
        numbers = self.private.public_key().public_numbers()
        if self.is_ec:
            size = (self.private.curve.key_size + 7) // 8
            crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[self.private.curve.name]
            return {"crv": crv, "kty": "EC", "x": _int_b64(numbers.x, size), "y": _int_b64(numbers.y, size)}
        return {"e": _int_b64(numbers.e), "kty": "RSA", "n": _int_b64(numbers.n)}

    def private_members(self) -> dict[str, Any]:
        """The private JWK members: `d` (EC); `d`, `p`, `q`, `dp`, `dq`, `qi` (RSA)."""
        numbers = self.private.private_numbers()
        if self.is_ec:
            size = (self.private.curve.key_size + 7) // 8
            return {"d": _int_b64(numbers.private_value, size)}
        return {"d": _int_b64(numbers.d), "p": _int_b64(numbers.p), "q": _int_b64(numbers.q),
                "dp": _int_b64(numbers.dmp1), "dq": _int_b64(numbers.dmq1), "qi": _int_b64(numbers.iqmp)}

    @property
    def private_jwk(self) -> dict[str, Any]:
        return {**self.public_jwk, **self.private_members()}

    @property
    def thumbprint(self) -> str:
        return thumbprint(self.public_jwk)

    def cnf(self) -> dict[str, dict[str, str]]:
        """The `cnf` claim of a token bound to this key (RFC 9449 §6.1)."""
        return {"cnf": {"jkt": self.thumbprint}}

    def sign(self, signing_input: bytes, alg: str | None = None) -> bytes:
        """The JWS signature of `signing_input` with `alg` (default: the key's own)."""
        alg = alg or self.alg
        if self.is_ec:
            digest = _HASHES[alg[2:]]
            der = self.private.sign(signing_input, ec.ECDSA(digest()))
            r, s = decode_dss_signature(der)
            size = (self.private.curve.key_size + 7) // 8
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        digest = _HASHES[alg[2:]]
        if alg.startswith("PS"):
            pad = padding.PSS(mgf=padding.MGF1(digest()), salt_length=digest().digest_size)
        else:
            pad = padding.PKCS1v15()
        return self.private.sign(signing_input, pad, digest())


def apply_overrides(base: dict[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """`base` with `overrides` applied; a `None` value deletes the member."""
    result = dict(base)
    for name, value in (overrides or {}).items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = value
    return result


def encode(value: Any) -> bytes:
    """Compact JSON (bytes are taken as they are: a test's deliberately broken JSON)."""
    if isinstance(value, bytes):
        return value
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def proof(
    key: DPoPKey,
    method: str,
    url: str,
    *,
    access_token: str | None = None,
    nonce: str | None = None,
    iat: int | float | None = None,
    jti: str | None = None,
    alg: str | None = None,
    header: Mapping[str, Any] | None = None,
    claims: Mapping[str, Any] | None = None,
    sign_with: DPoPKey | None = None,
    private_members: Iterable[str] = (),
    hmac_secret: bytes | None = None,
    raw_header: bytes | None = None,
    raw_claims: bytes | None = None,
    signature: bytes | None = None,
) -> str:
    """A compact DPoP proof JWT.

    Defaults: header `{"typ":"dpop+jwt","alg":key.alg,"jwk":key's public JWK}`; claims `jti`
    (random), `htm` = method, `htu` = url, `iat` = now, `ath` when an access token is given,
    `nonce` when given. Then, in this order: `private_members` are copied into the header's
    `jwk` (names from `key.private_members()`, or `oth`/`k` with made-up values); `header` and
    `claims` overrides apply (`None` deletes); `raw_header`/`raw_claims` replace the encoded
    JSON. The signature is by `sign_with` (default `key`) with the header's alg; `none` leaves it
    empty, `HS*` is an HMAC keyed with `hmac_secret` (default: the public JWK's JSON, the
    algorithm-confusion forgery); `signature` replaces it outright.
    """
    jwk = dict(key.public_jwk)
    if private_members:
        available = key.private_members()
        for name in private_members:
            if name in available:
                jwk[name] = available[name]
            elif name == "oth":
                jwk[name] = [{"r": b64(b"\x01" * 32), "d": b64(b"\x02" * 32), "t": b64(b"\x03" * 32)}]
            else:
                jwk[name] = b64(secrets.token_bytes(32))
    head = apply_overrides({"typ": "dpop+jwt", "alg": alg or key.alg, "jwk": jwk}, header)
    body: dict[str, Any] = {
        "jti": jti or secrets.token_urlsafe(16),
        "htm": method,
        "htu": url,
        "iat": int(time.time()) if iat is None else iat,
    }
    if access_token is not None:
        body["ath"] = ath(access_token)
    if nonce is not None:
        body["nonce"] = nonce
    body = apply_overrides(body, claims)
    signing_input = (b64(raw_header if raw_header is not None else encode(head)) + "." +
                     b64(raw_claims if raw_claims is not None else encode(body))).encode("ascii")
    if signature is None:
        used = head.get("alg") if isinstance(head.get("alg"), str) else (alg or key.alg)
        if used == "none":
            signature = b""
        elif used in _HMAC:
            secret = hmac_secret if hmac_secret is not None else encode(key.public_jwk)
            signature = hmac.new(secret, signing_input, _HMAC[used]).digest()
        else:
            signer = sign_with or key
            signature = signer.sign(signing_input, used if _signs(signer, used) else signer.alg)
    return signing_input.decode("ascii") + "." + b64(signature)


def _signs(key: DPoPKey, alg: str) -> bool:
    """Whether `key` can sign with `alg` (an EC key only with its curve's ES alg)."""
    if key.is_ec:
        return alg == key.alg
    return alg[:2] in ("PS", "RS") and alg[2:] in _HASHES


def verify(value: str) -> dict[str, Any]:
    """The claims of a proof after joserfc verified it with its own header `jwk` (the helper's
    self-test: an independent JOSE implementation accepts what `proof` makes)."""
    from joserfc import jws
    from joserfc.jwk import import_key

    segment = value.split(".")[0]
    head = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    registry = jws.JWSRegistry(algorithms=[head["alg"]], strict_check_header=False)
    registry.max_header_length = 4096  # an RSA jwk in the header is beyond joserfc's 512 bytes
    obj = jws.deserialize_compact(value, import_key(head["jwk"]), registry=registry)
    return json.loads(obj.payload)


# Requests with exact headers ------------------------------------------------------------------


@dataclass
class Reply:
    """An HTTP answer: status, every header (names case-insensitive) and the raw body."""

    status: int
    headers: Any  # http.client.HTTPMessage
    body: bytes

    def all(self, name: str) -> list[str]:
        """Every value of a header, as separate header lines."""
        return self.headers.get_all(name) or []

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def __str__(self) -> str:
        return f"{self.status} {dict(self.headers.items())} {self.body[:500]!r}"


def send(base: str, path: str, *, method: str = "GET", authorization: str | None = None,
         proofs: Iterable[str] = (), headers: Iterable[tuple[str, str]] = (), host: str | None = None,
         ca_file: str | None = None, body: bytes | None = None, timeout: float = 30) -> Reply:
    """One request to `base` (`https://localhost:PORT` or `http://127.0.0.1:PORT`) for `path`
    sent byte for byte (no client normalises the path or unquotes `%6F`), with one `DPoP` header
    line per proof, and `Host` as the base's authority unless `host` says otherwise."""
    import http.client
    import ssl
    from urllib.parse import urlsplit

    parts = urlsplit(base)
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=ca_file)
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname, parts.port, context=context, timeout=timeout)
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", host or parts.netloc)
        if authorization is not None:
            connection.putheader("Authorization", authorization)
        for value in proofs:
            connection.putheader("DPoP", value)
        for name, value in headers:
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        answer = connection.getresponse()
        return Reply(answer.status, answer.msg, answer.read())
    finally:
        connection.close()
