"""The hostile-input attack table (security/test_hostile.py) and what it runs on.

``ATTACKS`` rows are forged and malformed tokens and Authorization headers, each built by a
``make(ctx)`` from a genuine token of the row's provider (``Context``) and an ``Attacker``'s own
keys; ``expect`` names the one 401 the row must get (``EXPECTED``), ``modes`` the verification
modes it is meaningful in. ``World`` holds the providers (RS256, ES256, a foreign realm), one
stack per (provider, mode) started on first use, and each row's header bytes, built once so that
every mode sees the same bytes. ``raw_request`` sends header lines byte for byte over TLS
(nothing is normalised on the way); ``curl_http2`` does the same over HTTP/2.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.x509.oid import NameOID

from .challenges import gate_challenge
from .idp_fixture import IdentityProvider
from .jwt import b64url_decode as unb64
from .jwt import b64url_encode as b64
from .jwt import claims_of, header_of, segments
from .stack import SessionRecord, Stack

INVALID = (b'{"detail":"Could not validate credentials"}', 'Bearer error="invalid_token"')
UNAUTHENTICATED = (b'{"detail":"Not authenticated"}', "Bearer")
EXPECTED = {"invalid": INVALID, "unauthenticated": UNAUTHENTICATED}

MODES = ("jwks", "introspect", "userinfo")
#: The P-256 group order (SEC 2): r or s equal to it (or 0) is never a valid ECDSA signature.
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
#: A line an attacker would like to see in the responder's log (the *-log-injection rows): its
#: timestamp is in the past, so no genuine line starts like it. Short enough for the 64
#: characters of a kid (16 of an alg) that the responder's messages quote.
FORGED_LOG_LINE = "1999-01-01T00:00:00.000Z critical keycloak-fcgi: FORGED"
FORGED_PREFIX = "1999-01-01T00:0"


# Encoding helpers --------------------------------------------------------------------------


def compact(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def with_unused_bits(segment: str) -> str:
    """The same bytes under a lenient decoder, but non-canonical: the last character's unused
    low bits set (RFC 4648 §3.5). Needs a length that leaves unused bits (len % 4 in 2, 3)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    unused = {2: 0b1111, 3: 0b11}[len(segment) % 4]
    last = alphabet.index(segment[-1])
    assert last & unused == 0
    return segment[:-1] + alphabet[last | 1]


def grow_to(segment: str, size: int) -> str:
    return segment + "A" * (size - len(segment))


# The attacker --------------------------------------------------------------------------------


class Attacker:
    """Keys the verifier has never seen, and tokens signed with them over exact bytes."""

    def __init__(self):
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        numbers = self.rsa.public_key().public_numbers()
        self.rsa_jwk = {"kty": "RSA", "kid": "attacker", "use": "sig", "alg": "RS256",
                        "n": b64(numbers.n.to_bytes(256, "big")), "e": b64(numbers.e.to_bytes(3, "big"))}
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "testing")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                            .public_key(self.rsa.public_key()).serial_number(x509.random_serial_number())
                            .not_valid_before(now - datetime.timedelta(days=1))
                            .not_valid_after(now + datetime.timedelta(days=30))
                            .sign(self.rsa, hashes.SHA256()))

    def rs256(self, signing_input: bytes) -> bytes:
        return self.rsa.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())

    def es256(self, signing_input: bytes) -> bytes:
        r, s = decode_dss_signature(self.ec.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def token(self, header: dict | bytes, claims: dict | bytes, sign: str = "rs256") -> str:
        """``header``/``claims`` as dicts (compact JSON) or exact bytes."""
        raw_header = header if isinstance(header, bytes) else compact(header)
        raw_claims = claims if isinstance(claims, bytes) else compact(claims)
        signing_input = f"{b64(raw_header)}.{b64(raw_claims)}".encode()
        signature = getattr(self, sign)(signing_input)
        return f"{signing_input.decode()}.{b64(signature)}"

    def x5c(self) -> list[str]:
        return [base64.b64encode(self.certificate.public_bytes(serialization.Encoding.DER)).decode()]


def hmac_sign(key: bytes, signing_input: bytes, algorithm=hashes.SHA256) -> bytes:
    mac = hmac.HMAC(key, algorithm())
    mac.update(signing_input)
    return mac.finalize()


# The world the table runs in -------------------------------------------------------------------


class World:
    """Identity providers (RS256, ES256 and a foreign realm), stacks per (provider, mode)
    started on first use, and the tokens of each row, built once so that every mode sees
    the same bytes."""

    def __init__(self, tmp_path_factory, tls_dir: Path):
        self.tmp_path_factory, self.tls_dir = tmp_path_factory, tls_dir
        self.attacker = Attacker()
        self.idps: dict[str, IdentityProvider] = {}
        self.stacks: dict[tuple[str, str], Stack] = {}
        self.values: dict[tuple[str, str], bytes | None] = {}
        self.lock = threading.Lock()

    def idp(self, name: str) -> IdentityProvider:
        if name not in self.idps:
            options = {"rs": {}, "es": {"alg": "ES256"}, "foreign": {"realm": "other"}}[name]
            self.idps[name] = IdentityProvider(**options).start()
        return self.idps[name]

    def stack(self, provider: str, mode: str) -> Stack:
        key = (provider, mode)
        if key not in self.stacks:
            # AUTH_AUDIENCE is set so that the wrong-audience rows mean something; Keycloak puts
            # the client id in azp, so every genuine token still passes.
            stack = Stack(self.tmp_path_factory.mktemp(f"hostile-{provider}-{mode}"), self.tls_dir,
                          idp=self.idp(provider),
                          env={"AUTH_VERIFY": mode, "AUTH_AUDIENCE": "fastapi-keycloak", "FCGI_WORKERS": "4"})
            self.stacks[key] = stack
            stack.start()
        return self.stacks[key]

    def authorization(self, attack: Attack) -> bytes | None:
        key = (attack.id, attack.provider)
        if key not in self.values:
            value = attack.make(Context(self, self.idp(attack.provider)))
            if isinstance(value, str):
                value = value.encode("utf-8")
            self.values[key] = value
        return self.values[key]

    def close(self) -> None:
        for stack in self.stacks.values():
            stack.stop()
        for idp in self.idps.values():
            idp.stop()


@dataclass
class Context:
    """What a row's ``make`` sees: the provider it runs against and the attacker."""

    world: World
    idp: IdentityProvider
    _genuine: str | None = None

    @property
    def attacker(self) -> Attacker:
        return self.world.attacker

    def mint(self, **overrides) -> str:
        token = self.idp.mint(**overrides)
        if segments(token)[-1]:  # signed by the provider: no log may carry it (alg none has no signature)
            SessionRecord.remember(token)
        return token

    @property
    def genuine(self) -> str:
        """A valid access token of the provider (the base the forgeries start from)."""
        if self._genuine is None:
            self._genuine = self.mint()
        return self._genuine

    @property
    def kid(self) -> str:
        return header_of(self.genuine)["kid"]

    @property
    def claims(self) -> dict:
        return claims_of(self.genuine)

    def bearer(self, token: str) -> str:
        return f"Bearer {token}"


@dataclass(frozen=True)
class Attack:
    id: str
    make: Callable[[Context], str | bytes | None]
    expect: str = "invalid"
    modes: tuple[str, ...] = MODES
    provider: str = "rs"
    why: str = ""


def bearer(build: Callable[[Context], str]) -> Callable[[Context], str]:
    """A row whose Authorization header is ``Bearer <token>``."""
    return lambda ctx: ctx.bearer(build(ctx))


def replace_header(ctx: Context, header: dict | bytes, token: str | None = None) -> str:
    """``token`` (default: the genuine one) with its header segment replaced; the signature
    no longer covers the bytes, as it would be for anyone without the provider's key."""
    h, p, s = segments(token or ctx.genuine)
    raw = header if isinstance(header, bytes) else compact(header)
    return f"{b64(raw)}.{p}.{s}"


def unsigned(ctx: Context, header: dict | bytes, signature: str = "") -> str:
    raw = header if isinstance(header, bytes) else compact(header)
    return f"{b64(raw)}.{segments(ctx.genuine)[1]}.{signature}"


def attacker_signed(ctx: Context, extra_header: dict, sign: str = "rs256", alg: str = "RS256") -> str:
    header = {"alg": alg, "typ": "JWT", "kid": ctx.kid, **extra_header}
    return ctx.attacker.token({k: v for k, v in header.items() if v is not None}, ctx.claims, sign)


def hmac_forgery(ctx: Context, secret: bytes) -> str:
    """HS256 over the genuine payload, keyed with something public (the key-confusion attack)."""
    header, payload = b64(compact({"alg": "HS256", "kid": ctx.kid})), segments(ctx.genuine)[1]
    return f"{header}.{payload}.{b64(hmac_sign(secret, f'{header}.{payload}'.encode()))}"


def es_signature(ctx: Context, signature: bytes) -> str:
    h, p, _ = segments(ctx.genuine)
    return f"{h}.{p}.{b64(signature)}"


def nested_json(depth: int) -> bytes:
    return b'{"alg":"RS256","kid":"k","x":' + b"[" * depth + b"]" * depth + b"}"


def big_token(ctx: Context, size: int) -> str:
    """A token of the provider, genuinely signed, padded by a claim to at least ``size`` bytes."""
    # base64url grows 4/3; the rest of a Keycloak token is about 1.4 KB.
    return ctx.mint(claims={"pad": "x" * (size * 3 // 4)})


def foreign_token(ctx: Context) -> str:
    return ctx.world.idp("foreign").mint()


def provider_token(ctx: Context, kind: str) -> str:
    """A refresh or ID token from the provider's token endpoint."""
    import requests
    answer = requests.post(ctx.idp.token_url, timeout=10, data={
        "grant_type": "password", "client_id": ctx.idp.client_id, "client_secret": ctx.idp.client_secret,
        "username": "abdullah", "password": "Test#123456", "scope": "openid"})
    token = answer.json()[kind]
    SessionRecord.remember(token)
    return token


ATTACKS: list[Attack] = [
    # --- The Authorization header itself ---------------------------------------------------
    Attack("no-authorization-header", lambda ctx: None, "unauthenticated"),
    Attack("empty-authorization", lambda ctx: b"", "unauthenticated"),
    Attack("scheme-only", lambda ctx: "Bearer", "unauthenticated"),
    Attack("scheme-and-blanks", lambda ctx: "Bearer \t \t", "unauthenticated",
           why="nginx strips the trailing blanks: the scheme alone"),
    Attack("basic-scheme", lambda ctx: "Basic YWxhZGRpbjpvcGVuc2VzYW1l", "unauthenticated"),
    Attack("other-scheme-valid-token", lambda ctx: f"Token {ctx.genuine}", "unauthenticated"),
    Attack("valid-token-without-scheme", lambda ctx: ctx.genuine, "unauthenticated"),
    Attack("scheme-glued-to-token", lambda ctx: f"Bearer{ctx.genuine}", "unauthenticated"),
    Attack("scheme-percent-encoded-space", lambda ctx: f"Bearer%20{ctx.genuine}", "unauthenticated"),
    Attack("homoglyph-scheme", lambda ctx: f"B\u0435arer {ctx.genuine}", "unauthenticated",
           why="Cyrillic e in the scheme, UTF-8 on the wire"),
    Attack("triple-bearer", lambda ctx: f"Bearer Bearer Bearer {ctx.genuine}",
           why="one doubled prefix is tolerated for Swagger users, a third is part of the token"),
    Attack("comma-joined-credentials", lambda ctx: f"Bearer {ctx.genuine}, Bearer {ctx.genuine}",
           why="what two Authorization headers look like once a proxy joins them"),
    Attack("non-ascii-utf8-token", lambda ctx: "Bearer \u00ebyJ.\u00e9.\u00fc"),
    Attack("non-utf8-bytes-token", lambda ctx: b"Bearer \xff\xfe." + segments(ctx.genuine)[1].encode() + b".\xc0\xaf"),
    Attack("nul-escape-text", lambda ctx: ctx.bearer(ctx.genuine + "\\u0000")),
    Attack("percent-nul", lambda ctx: ctx.bearer(ctx.genuine + "%00")),
    Attack("percent-crlf-injection", lambda ctx: ctx.bearer(ctx.genuine + "%0d%0aX-Auth-Username:%20admin")),
    Attack("control-byte-in-token", lambda ctx: ctx.bearer(ctx.genuine).encode().replace(b".", b".\x01", 1),
           why="raw 0x01 is a legal header byte for nginx"),
    Attack("del-byte-in-token", lambda ctx: ctx.bearer(ctx.genuine).encode().replace(b".", b".\x7f", 1)),
    Attack("tab-inside-token", lambda ctx: ctx.bearer(ctx.genuine.replace(".", ".\t", 1))),
    # --- Size ---------------------------------------------------------------------------------
    Attack("16KiB-plus-genuinely-signed", bearer(lambda ctx: big_token(ctx, 16 * 1024 + 200)),
           why="a real signature does not lift the 16 KiB limit"),
    Attack("60KiB-filler", lambda ctx: "Bearer " + "a" * 60_000),
    Attack("64KiB-filler", lambda ctx: "Bearer " + "a" * 64 * 1024),
    Attack("64KiB-genuinely-signed", bearer(lambda ctx: big_token(ctx, 64 * 1024 + 200))),
    Attack("64KiB-header-segment", bearer(lambda ctx: grow_to("eyJhbGciOiJSUzI1NiJ9", 64 * 1024) + ".e30.AAAA")),
    # --- Shape and base64url ------------------------------------------------------------------
    Attack("dots-only", bearer(lambda ctx: "..")),
    Attack("empty-header-segment", bearer(lambda ctx: "." + ".".join(segments(ctx.genuine)[1:]))),
    Attack("empty-payload-segment", bearer(lambda ctx: "{0}..{2}".format(*segments(ctx.genuine)))),
    Attack("empty-signature-segment", bearer(lambda ctx: "{0}.{1}.".format(*segments(ctx.genuine)))),
    Attack("one-segment", bearer(lambda ctx: segments(ctx.genuine)[0])),
    Attack("two-segments", bearer(lambda ctx: "{0}.{1}".format(*segments(ctx.genuine)))),
    Attack("four-segments", bearer(lambda ctx: ctx.genuine + "." + segments(ctx.genuine)[2])),
    Attack("jwe-five-segments", bearer(lambda ctx: ".".join(
        [b64(compact({"alg": "RSA-OAEP", "enc": "A256GCM", "kid": ctx.kid})), b64(b"k" * 256), b64(b"iv" * 6),
         b64(compact(ctx.claims)), b64(b"t" * 16)]))),
    Attack("padded-header", bearer(lambda ctx: re.sub(r"^([^.]+)", r"\1==", ctx.genuine))),
    Attack("padded-signature", bearer(lambda ctx: ctx.genuine + "==")),
    Attack("standard-alphabet-signature", bearer(
        lambda ctx: ctx.genuine.rsplit(".", 1)[0] + "." + segments(ctx.genuine)[2].translate(
            str.maketrans("-_", "+/")) + "+/"),
        why="+ and / (with a suffix, so the segment surely has them)"),
    Attack("non-canonical-trailing-bits-signature", bearer(
        lambda ctx: ctx.genuine.rsplit(".", 1)[0] + "." + with_unused_bits(segments(ctx.genuine)[2])),
        why="decodes to the genuine signature under a lenient decoder"),
    Attack("space-inside-token", bearer(lambda ctx: ctx.genuine.replace(".", ". ", 1))),
    Attack("header-not-json", bearer(lambda ctx: unsigned(ctx, b"not json", "AAAA"))),
    Attack("header-json-array", bearer(lambda ctx: unsigned(ctx, b'["RS256"]', "AAAA"))),
    Attack("header-json-string", bearer(lambda ctx: unsigned(ctx, b'"RS256"', "AAAA"))),
    Attack("header-invalid-utf8", bearer(lambda ctx: unsigned(ctx, b'{"alg":"RS256","kid":"\xff\xfe"}', "AAAA"))),
    Attack("header-nested-5000-deep", bearer(lambda ctx: unsigned(ctx, nested_json(5000), "AAAA")),
           why="a recursive JSON parser must not run out of stack"),
    Attack("header-huge-number", bearer(lambda ctx: unsigned(ctx, b'{"alg":"RS256","kid":"k","x":1e999999}', "AAAA"))),
    # --- Algorithm ------------------------------------------------------------------------------
    Attack("alg-none-minted", bearer(lambda ctx: ctx.mint(header={"alg": "none"}))),
    Attack("alg-none-casing-None", bearer(lambda ctx: unsigned(ctx, {"alg": "None", "kid": ctx.kid}))),
    Attack("alg-none-casing-NONE", bearer(lambda ctx: unsigned(ctx, {"alg": "NONE", "kid": ctx.kid}, "AAAA"))),
    Attack("alg-none-casing-nOnE", bearer(lambda ctx: unsigned(ctx, {"alg": "nOnE", "kid": ctx.kid}, "AAAA"))),
    Attack("alg-empty-string", bearer(lambda ctx: replace_header(ctx, {"alg": "", "kid": ctx.kid}))),
    Attack("alg-missing", bearer(lambda ctx: replace_header(ctx, {"typ": "JWT", "kid": ctx.kid}))),
    Attack("alg-null", bearer(lambda ctx: replace_header(ctx, {"alg": None, "kid": ctx.kid}))),
    Attack("alg-array", bearer(lambda ctx: replace_header(ctx, {"alg": ["RS256"], "kid": ctx.kid}))),
    Attack("alg-lowercase-rs256", bearer(lambda ctx: replace_header(ctx, {"alg": "rs256", "typ": "JWT", "kid": ctx.kid}))),
    Attack("alg-mixedcase-Rs256", bearer(lambda ctx: replace_header(ctx, {"alg": "Rs256", "typ": "JWT", "kid": ctx.kid}))),
    Attack("alg-trailing-space", bearer(lambda ctx: replace_header(ctx, {"alg": "RS256 ", "typ": "JWT", "kid": ctx.kid}))),
    Attack("alg-lowercase-attacker-signed", bearer(lambda ctx: attacker_signed(ctx, {}, alg="rs256"))),
    Attack("hs256-public-key-pem-minted", bearer(lambda ctx: ctx.mint(header={"alg": "HS256"}))),
    Attack("hs512-public-key-pem-minted", bearer(lambda ctx: ctx.mint(header={"alg": "HS512"}))),
    Attack("hs256-public-jwk-json", bearer(lambda ctx: hmac_forgery(ctx, compact(ctx.idp.current_key())))),
    Attack("hs256-modulus-bytes", bearer(lambda ctx: hmac_forgery(ctx, unb64(ctx.idp.current_key()["n"])))),
    Attack("es256-header-on-rsa-kid", bearer(lambda ctx: attacker_signed(ctx, {}, sign="es256", alg="ES256"))),
    Attack("ps256-header-genuine-rs256-signature", bearer(lambda ctx: replace_header(ctx, {"alg": "PS256", "typ": "JWT", "kid": ctx.kid}))),
    Attack("eddsa-header", bearer(lambda ctx: replace_header(ctx, {"alg": "EdDSA", "kid": ctx.kid}))),
    Attack("signed-with-the-encryption-key", bearer(lambda ctx: ctx.mint(key="enc"))),
    # --- Header parameters that would bring their own key, or must be understood ------------
    Attack("embedded-jwk-attacker-key-real-kid", bearer(lambda ctx: attacker_signed(ctx, {"jwk": {**ctx.attacker.rsa_jwk, "kid": ctx.kid}}))),
    Attack("embedded-jwk-attacker-kid", bearer(lambda ctx: attacker_signed(ctx, {"kid": "attacker", "jwk": ctx.attacker.rsa_jwk}))),
    Attack("jku-attacker-url", bearer(lambda ctx: attacker_signed(ctx, {"jku": "https://attacker.invalid/jwks.json"}))),
    Attack("jku-attacker-url-attacker-kid", bearer(lambda ctx: attacker_signed(ctx, {"kid": "attacker", "jku": "https://attacker.invalid/jwks.json"}))),
    Attack("x5u-attacker-url", bearer(lambda ctx: attacker_signed(ctx, {"x5u": "https://attacker.invalid/cert.pem"}))),
    Attack("x5c-attacker-certificate", bearer(lambda ctx: attacker_signed(ctx, {"x5c": ctx.attacker.x5c()}))),
    Attack("x5c-attacker-certificate-no-kid", bearer(lambda ctx: attacker_signed(ctx, {"kid": None, "x5c": ctx.attacker.x5c()}))),
    Attack("crit-b64-signed-by-the-provider", bearer(lambda ctx: ctx.mint(header={"crit": ["b64"], "b64": True})),
           modes=("jwks",), why="only local verification is ours to judge; the provider signed it"),
    Attack("crit-empty-list-signed-by-the-provider", bearer(lambda ctx: ctx.mint(header={"crit": []})), modes=("jwks",)),
    Attack("crit-attacker-signed", bearer(lambda ctx: attacker_signed(ctx, {"crit": ["exp"], "exp": 1}))),
    # --- Duplicate JSON keys (the attacker's versions: no one else can sign such bytes) ------
    Attack("duplicate-alg-none-then-rs256", bearer(lambda ctx: ctx.attacker.token(
        b'{"alg":"none","alg":"RS256","kid":"' + ctx.kid.encode() + b'"}', ctx.claims))),
    Attack("duplicate-alg-rs256-then-none", bearer(lambda ctx: ctx.attacker.token(
        b'{"alg":"RS256","alg":"none","kid":"' + ctx.kid.encode() + b'"}', ctx.claims))),
    Attack("duplicate-alg-unsigned", bearer(lambda ctx: unsigned(
        ctx, b'{"alg":"RS256","alg":"none","kid":"' + ctx.kid.encode() + b'"}', "AAAA"))),
    Attack("duplicate-kid-attacker-then-real", bearer(lambda ctx: ctx.attacker.token(
        b'{"alg":"RS256","kid":"attacker","kid":"' + ctx.kid.encode() + b'"}', ctx.claims))),
    Attack("duplicate-claims-in-payload", bearer(lambda ctx: "{0}.{1}.{2}".format(
        segments(ctx.genuine)[0],
        b64(compact(ctx.claims)[:-1] + b',"preferred_username":"admin","realm_access":{"roles":["admin"]}}'),
        segments(ctx.genuine)[2]))),
    # --- Signature --------------------------------------------------------------------------
    Attack("tampered-payload", bearer(lambda ctx: "{0}.{1}.{2}".format(
        segments(ctx.genuine)[0], b64(compact({**ctx.claims, "preferred_username": "admin"})), segments(ctx.genuine)[2]))),
    Attack("signature-of-another-token", bearer(lambda ctx: ctx.genuine.rsplit(".", 1)[0] + "." + segments(ctx.mint())[2])),
    Attack("truncated-signature", bearer(lambda ctx: ctx.genuine[:-4])),
    Attack("attacker-key-real-kid", bearer(lambda ctx: attacker_signed(ctx, {}))),
    # --- Key id -------------------------------------------------------------------------------
    Attack("kid-path-traversal", bearer(lambda ctx: ctx.mint(header={"kid": "../../../../../../etc/passwd"}))),
    Attack("kid-sql-ish", bearer(lambda ctx: ctx.mint(header={"kid": "' OR '1'='1' -- ; DROP TABLE keys"}))),
    Attack("kid-huge-8KiB", bearer(lambda ctx: ctx.mint(header={"kid": "k" * 8192}))),
    Attack("kid-missing", bearer(lambda ctx: ctx.mint(header={"kid": None})),
           why="Keycloak always sets kid; no fallback key (docs/design.md)"),
    Attack("kid-empty", bearer(lambda ctx: ctx.mint(header={"kid": ""}))),
    Attack("kid-with-nul", bearer(lambda ctx: ctx.mint(header={"kid": ctx.kid + "\u0000"}))),
    Attack("kid-number", bearer(lambda ctx: replace_header(ctx, b'{"alg":"RS256","kid":12345}'))),
    Attack("kid-log-injection", bearer(lambda ctx: ctx.mint(header={"kid": "x\n" + FORGED_LOG_LINE})),
           why="a kid is attacker text: it must not start a line of its own in the log"),
    Attack("alg-log-injection", bearer(lambda ctx: replace_header(ctx, {"alg": "\n" + FORGED_LOG_LINE, "kid": ctx.kid}))),
    # --- Claims (signed by the provider) -------------------------------------------------------
    Attack("another-realm", bearer(foreign_token)),
    Attack("iss-other-realm-same-server", bearer(lambda ctx: ctx.mint(claims={"iss": ctx.idp.issuer.replace("/realms/testing", "/realms/master")}))),
    Attack("iss-trailing-slash", bearer(lambda ctx: ctx.mint(claims={"iss": ctx.idp.issuer + "/"}))),
    Attack("iss-upper-case-host", bearer(lambda ctx: ctx.mint(claims={"iss": ctx.idp.issuer.replace("127.0.0.1", "LOCALHOST")}))),
    Attack("iss-missing", bearer(lambda ctx: ctx.mint(claims={"iss": None}))),
    Attack("expired", bearer(lambda ctx: ctx.mint(claims={"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}))),
    Attack("expired-beyond-the-skew", bearer(lambda ctx: ctx.mint(claims={"exp": int(time.time()) - 90}))),
    Attack("nbf-in-the-future", bearer(lambda ctx: ctx.mint(claims={"nbf": int(time.time()) + 600}))),
    Attack("exp-as-string", bearer(lambda ctx: ctx.mint(claims={"exp": str(int(time.time()) + 300)}))),
    Attack("exp-missing", bearer(lambda ctx: ctx.mint(claims={"exp": None})), modes=("jwks", "introspect"),
           why="Keycloak's userinfo accepts a token without exp; the provider decides there"),
    Attack("typ-ID", bearer(lambda ctx: ctx.mint(claims={"typ": "ID", "aud": "fastapi-keycloak"}))),
    Attack("typ-Refresh", bearer(lambda ctx: ctx.mint(claims={"typ": "Refresh"}))),
    # "bearer" in lower case is Keycloak's client option and passes (contract/test_keycloak_fidelity.py).
    Attack("typ-logout", bearer(lambda ctx: ctx.mint(claims={"typ": "Logout"}))),
    Attack("typ-bearer-padded", bearer(lambda ctx: ctx.mint(claims={"typ": "Bearer "}))),
    Attack("id-token-without-typ", bearer(lambda ctx: ctx.mint(kind="id", claims={"typ": None, "aud": "account"}))),
    Attack("real-refresh-token", bearer(lambda ctx: provider_token(ctx, "refresh_token"))),
    Attack("real-id-token", bearer(lambda ctx: provider_token(ctx, "id_token"))),
    Attack("wrong-aud-and-azp", bearer(lambda ctx: ctx.mint(claims={"aud": "billing-api", "azp": "billing-api"})),
           why="AUTH_AUDIENCE=fastapi-keycloak applies in every mode (README); userinfo mode reads the "
               "payload once the provider vouched for it, as it does for roles"),
    # --- ECDSA, against an ES256 provider ------------------------------------------------------
    Attack("es256-r-s-zero", bearer(lambda ctx: es_signature(ctx, bytes(64))), provider="es",
           why="CVE-2022-21449 ('psychic signatures')"),
    Attack("es256-r-s-n", bearer(lambda ctx: es_signature(ctx, P256_N.to_bytes(32, "big") * 2)), provider="es"),
    Attack("es256-r-s-one", bearer(lambda ctx: es_signature(ctx, (1).to_bytes(32, "big") * 2)), provider="es"),
    Attack("es256-r-zero-s-genuine", bearer(lambda ctx: es_signature(ctx, bytes(32) + unb64(segments(ctx.genuine)[2])[32:])),
           provider="es"),
    Attack("es256-der-encoded-genuine-signature", bearer(lambda ctx: es_signature(ctx, encode_dss_signature(
        int.from_bytes(unb64(segments(ctx.genuine)[2])[:32], "big"), int.from_bytes(unb64(segments(ctx.genuine)[2])[32:], "big")))),
        provider="es", why="JWS wants R||S (RFC 7518 §3.4), never DER"),
    Attack("es256-65-bytes", bearer(lambda ctx: es_signature(ctx, unb64(segments(ctx.genuine)[2]) + b"\x00")), provider="es"),
    Attack("es256-63-bytes", bearer(lambda ctx: es_signature(ctx, unb64(segments(ctx.genuine)[2])[1:])), provider="es"),
    Attack("es256-attacker-key", bearer(lambda ctx: attacker_signed(ctx, {}, sign="es256", alg="ES256")), provider="es"),
    Attack("es256-hs256-public-jwk", bearer(lambda ctx: hmac_forgery(ctx, compact(ctx.idp.current_key()))), provider="es"),
    Attack("es384-header-on-p256-key", bearer(lambda ctx: replace_header(ctx, {"alg": "ES384", "kid": ctx.kid})), provider="es"),
    Attack("es256-rs256-header", bearer(lambda ctx: replace_header(ctx, {"alg": "RS256", "kid": ctx.kid})), provider="es"),
]

CASES = [pytest.param(attack, mode, id=f"{mode}-{attack.provider}-{attack.id}")
         for attack in ATTACKS for mode in MODES if mode in attack.modes]


# A client that sends bytes as given ------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, list[str]] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None

    def __str__(self) -> str:
        return f"{self.status} {self.headers} {self.body[:300]!r}"


def raw_request(stack: Stack, path: str, header_lines: list[bytes], method: bytes = b"GET",
                body: bytes = b"") -> Answer:
    """One HTTP/1.1 request over TLS with exactly these header lines (and body); reads to EOF."""
    context = ssl.create_default_context(cafile=str(stack.tls_dir / "ca.crt"))
    context.set_alpn_protocols(["http/1.1"])
    if body:
        header_lines = [*header_lines, b"Content-Length: %d" % len(body)]
    request = (method + b" " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
               + b"".join(line + b"\r\n" for line in header_lines) + b"\r\n" + body)
    with socket.create_connection(("127.0.0.1", stack.https_port), timeout=30) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(request)
            data = bytearray()
            while chunk := tls.recv(65536):
                data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    answer = Answer(int(lines[0].split()[1]))
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        answer.headers.setdefault(name.strip().lower(), []).append(value.strip())
    if (answer.header("transfer-encoding") or "").lower() == "chunked":
        decoded, rest = bytearray(), body
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            decoded += rest[:size]
            rest = rest[size + 2:]
        body = bytes(decoded)
    answer.body = body
    return answer


def authorization_lines(value: bytes | None) -> list[bytes]:
    return [] if value is None else [b"Authorization: " + value]


def assert_refused(answer: Answer, expect: str, context: str, gate_origin: str | None = None) -> None:
    """`gate_origin`: the answer is the gate's (`/auth`), whose challenges name the resource
    metadata at that origin (harness.challenges); otherwise the seed's exact challenges."""
    body, challenge = EXPECTED[expect]
    if gate_origin is not None:
        challenge = gate_challenge(expect, gate_origin)
    assert answer.status == 401, f"{context}: {answer}"
    assert answer.body == body, f"{context}: {answer}"
    assert answer.header("content-type") == "application/json", f"{context}: {answer}"
    assert answer.header("www-authenticate") == challenge, f"{context}: {answer}"
    assert len(answer.headers.get("www-authenticate", [])) == 1, f"{context}: {answer}"


def curl_http2(stack: Stack, headers: list[str]) -> tuple[int, str, str]:
    arguments = ["curl", "-sS", "--http2", "--cacert", str(stack.tls_dir / "ca.crt"), "-o", "-", "-D", "/dev/stderr",
                 "-w", "\n%{http_code}"]
    for header in headers:
        arguments += ["-H", header]
    result = subprocess.run([*arguments, stack.url("/protected")], capture_output=True, text=True, timeout=30)
    body, _, status = result.stdout.rpartition("\n")
    if result.returncode != 0:  # no HTTP answer at all (e.g. the stream was refused)
        return 0, f"curl exit {result.returncode}: {result.stderr.strip().splitlines()[-1:]}", ""
    return int(status), body, result.stderr.lower()
