#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora and the public JWKS the token fuzzer trusts.

The keys are the committed test-only keys of Tests/TestSupport/TestKeys.swift (they protect
nothing). Seeds: valid RS256/PS256/ES256/ES384 tokens and near misses for `token`; FastCGI
record streams for `fastcgi`; form bodies for `form`; provider answers for `provider`.

    python3 Fuzz/make_seeds.py        # rewrites Fuzz/corpus/*/seed-* and Fuzz/Targets/FuzzKeys.swift
"""

from __future__ import annotations

import base64
import json
import re
import struct
import sys
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "Fuzz" / "corpus"
ISSUER = "https://sso.example.com/realms/testing"
NOW = 1_800_000_000


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def load_keys() -> dict[str, object]:
    source = (REPO / "Tests" / "TestSupport" / "TestKeys.swift").read_text()
    pems = dict(re.findall(r'public static let (\w+) = """\n(.*?)\n\s*"""', source, re.S))
    return {name: serialization.load_pem_private_key(
        "\n".join(line.strip() for line in pem.splitlines()).encode(), password=None) for name, pem in pems.items()}


def jwk(name: str, key) -> dict:
    public = key.public_key()
    if hasattr(public, "curve"):
        numbers = public.public_numbers()
        size = (public.curve.key_size + 7) // 8
        return {"kty": "EC", "use": "sig", "kid": name, "crv": "P-256" if size == 32 else "P-384",
                "x": b64(numbers.x.to_bytes(size, "big")), "y": b64(numbers.y.to_bytes(size, "big"))}
    numbers = public.public_numbers()
    return {"kty": "RSA", "use": "sig", "kid": name, "n": b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": b64(numbers.e.to_bytes(3, "big"))}


def sign(alg: str, kid: str, key, claims: dict, header_extra: dict | None = None) -> str:
    header = {"alg": alg, "typ": "JWT", "kid": kid, **(header_extra or {})}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}".encode()
    if alg.startswith("RS"):
        signature = key.sign(signing_input, padding.PKCS1v15(), {"RS256": hashes.SHA256()}[alg])
    elif alg.startswith("PS"):
        signature = key.sign(signing_input, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    else:
        digest = {"ES256": hashes.SHA256(), "ES384": hashes.SHA384()}[alg]
        r, s = utils.decode_dss_signature(key.sign(signing_input, ec.ECDSA(digest)))
        size = 32 if alg == "ES256" else 48
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return f"{signing_input.decode()}.{b64(signature)}"


def claims(**overrides) -> dict:
    base = {"iss": ISSUER, "sub": "abdab22d-91b1-4c1a-b7b3-9283e17597cd", "exp": NOW + 300, "iat": NOW, "typ": "Bearer",
            "azp": "fastapi-keycloak", "aud": "account", "preferred_username": "abdullah", "email": "abdullah@example.com",
            "name": "Abdullah Alqahtani", "scope": "openid email profile", "sid": "s-1",
            "realm_access": {"roles": ["user"]}, "resource_access": {"fastapi-keycloak": {"roles": ["reader"]}}}
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def record(kind: int, content: bytes, request_id: int = 1) -> bytes:
    padding_length = (8 - len(content) % 8) % 8
    return struct.pack(">BBHHBx", 1, kind, request_id, len(content), padding_length) + content + b"\0" * padding_length


def pairs(params: dict[str, str]) -> bytes:
    out = b""
    for name, value in params.items():
        key, val = name.encode(), value.encode()
        out += bytes([len(key)]) if len(key) < 128 else struct.pack(">I", len(key) | 0x80000000)
        out += bytes([len(val)]) if len(val) < 128 else struct.pack(">I", len(val) | 0x80000000)
        out += key + val
    return out


def fastcgi(params: dict[str, str], body: bytes = b"", keep: bool = False) -> bytes:
    data = record(1, struct.pack(">HB5x", 1, 1 if keep else 0))
    data += record(4, pairs({"CONTENT_LENGTH": str(len(body)), **params})) + record(4, b"")
    if body:
        data += record(5, body)
    return data + record(5, b"")


def write(target: str, name: str, data: bytes | str) -> None:
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"seed-{name}").write_bytes(data.encode() if isinstance(data, str) else data)


def main() -> int:
    keys = load_keys()
    usable = {name: keys[name] for name in ("rsaCurrent", "p256", "p384")}
    jwks = {"keys": [jwk(name, key) for name, key in usable.items()]}

    rs = sign("RS256", "rsaCurrent", keys["rsaCurrent"], claims())
    tokens = {
        "rs256": rs,
        "ps256": sign("PS256", "rsaCurrent", keys["rsaCurrent"], claims()),
        "es256": sign("ES256", "p256", keys["p256"], claims()),
        "es384": sign("ES384", "p384", keys["p384"], claims()),
        "expired": sign("RS256", "rsaCurrent", keys["rsaCurrent"], claims(exp=NOW - 3600)),
        "refresh": sign("RS256", "rsaCurrent", keys["rsaCurrent"], claims(typ="Refresh")),
        "other-issuer": sign("RS256", "rsaCurrent", keys["rsaCurrent"], claims(iss="https://evil.example")),
        "unknown-kid": sign("RS256", "nope", keys["rsaOther"], claims()),
        "crit": sign("RS256", "rsaCurrent", keys["rsaCurrent"], claims(), {"crit": ["exp"]}),
        "none": b64(b'{"alg":"none"}') + "." + b64(json.dumps(claims()).encode()) + ".",
        "garbage": "a.b.c",
    }
    for name, token in tokens.items():
        write("token", name, token)

    write("form", "urlencoded", b"u" + b"username=abdullah&password=Test%23123456")
    write("form", "escapes", b"u" + b"a=%zz&b=%E9%&c=+&=&&d")
    write("form", "multipart", b"m" + b"--X\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nabdullah\r\n"
          b"--X\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nTest#123456\r\n--X--\r\n")

    write("fastcgi", "root", fastcgi({"REQUEST_METHOD": "GET", "DOCUMENT_URI": "/"}))
    write("fastcgi", "protected", fastcgi({"REQUEST_METHOD": "GET", "DOCUMENT_URI": "/protected",
                                           "HTTP_AUTHORIZATION": f"Bearer {rs}"}))
    write("fastcgi", "login", fastcgi({"REQUEST_METHOD": "POST", "DOCUMENT_URI": "/login",
                                       "CONTENT_TYPE": "application/x-www-form-urlencoded"},
                                      b"username=abdullah&password=Test%23123456"))
    write("fastcgi", "auth-gate", fastcgi({"REQUEST_METHOD": "GET", "DOCUMENT_URI": "/auth", "HTTP_AUTHORIZATION": f"Bearer {rs}",
                                           "AUTH_REQUIRED_ROLES": "user fastapi-keycloak:reader"}))
    write("fastcgi", "metrics-internal", fastcgi({"REQUEST_METHOD": "GET", "DOCUMENT_URI": "/metrics",
                                                  "KEYCLOAK_FCGI_INTERNAL": "1"}))
    write("fastcgi", "keep-conn-two", fastcgi({"REQUEST_METHOD": "GET", "DOCUMENT_URI": "/"}, keep=True)
          + fastcgi({"REQUEST_METHOD": "HEAD", "DOCUMENT_URI": "/protected"}, keep=True))

    discovery = {"issuer": ISSUER, "token_endpoint": ISSUER + "/protocol/openid-connect/token",
                 "jwks_uri": ISSUER + "/protocol/openid-connect/certs", "userinfo_endpoint": ISSUER + "/userinfo",
                 "introspection_endpoint": ISSUER + "/introspect", "end_session_endpoint": ISSUER + "/logout",
                 "id_token_signing_alg_values_supported": ["RS256", "ES256", "HS256"]}
    write("provider", "discovery", bytes([0, 200]) + json.dumps(discovery).encode())
    write("provider", "jwks", bytes([1, 200]) + json.dumps(jwks).encode())
    write("provider", "token", bytes([2, 200]) + json.dumps({"access_token": rs, "token_type": "Bearer", "expires_in": 300,
                                                             "refresh_token": "r", "refresh_expires_in": 1800}).encode())
    write("provider", "invalid-grant", bytes([2, 144]) + b'{"error":"invalid_grant","error_description":"Invalid user credentials"}')
    write("provider", "introspect", bytes([4, 200]) + json.dumps({"active": True, **claims()}).encode())
    write("provider", "userinfo", bytes([5, 200]) + b'{"sub":"s","preferred_username":"abdullah"}')

    swift = REPO / "Fuzz" / "Targets" / "FuzzKeys.swift"
    swift.parent.mkdir(parents=True, exist_ok=True)
    swift.write_text(
        "// Generated by Fuzz/make_seeds.py from the test-only keys in Tests/TestSupport/TestKeys.swift.\n"
        "/// The public keys the token fuzzer trusts, and the issuer and time its seed tokens use.\n"
        "enum FuzzKeys {\n"
        f"    static let issuer = \"{ISSUER}\"\n"
        f"    static let now: Double = {NOW}\n"
        f"    static let jwks = #\"{json.dumps(jwks)}\"#\n"
        "}\n")
    print(f"seeds in {CORPUS}, keys in {swift}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
