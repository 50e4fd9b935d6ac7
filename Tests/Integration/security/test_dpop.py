"""DPoP (RFC 9449) at /protected and /auth, through real nginx: every row of the responder's
refusal table (/tmp/spec13.md, "DPoP checks") with its exact status, body and WWW-Authenticate,
the successes around them, the modes (AUTH_DPOP allowed / required / off, AUTH_DPOP_NONCE,
AUTH_DPOP_ALGS, OAUTH_RESOURCE, AUTH_DPOP_PROOF_MAX_AGE_SECONDS), jti replay across two replicas
through Redis, and DPoP-bound tokens from POST /login and /refresh (the provider's own DPoP
issuance, the proof forwarded by the responder).

Requests go out byte for byte (harness.dpop.send: http.client, one `DPoP` line per proof, the
path as written). Proofs are made by harness.dpop; bound tokens are minted by the provider with
a `cnf.jkt` claim (`/_admin/mint`), or issued through /login.

Where the table is run:
- `/protected` on the main TLS server: htm = the method, htu = `https://localhost:PORT/protected`;
- `/auth` reached directly through the main server's `location /` (GET, no AUTH_ORIGINAL_METHOD):
  htu = `https://localhost:PORT/auth`, the responder's own body and challenge;
- `/auth` as nginx's auth_request gate (nginx/examples/auth-gate.conf.template, harness.gate):
  the client's `POST /api/things?page=2` is checked as htm POST (AUTH_ORIGINAL_METHOD) and
  htu `http://127.0.0.1:GATE_PORT/api/things` (the client's URI, query dropped).
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit, urlunsplit

import pytest

from harness import fastcgi_client
from harness.dpop import DEFAULT_ALGS, DPoPKey, Reply, ath, b64, proof, send, thumbprint, verify
from harness.gate import GateStack
from harness.idp_fixture import IdentityProvider
from harness.jwt import claims_of, header_of, segments
from harness.sample_upstream import SampleUpstream
from harness.stack import SessionRecord, Stack, TwoInstanceStack, free_port

INVALID_PROOF = b'{"detail":"Invalid DPoP proof"}'
INVALID_TOKEN = b'{"detail":"Could not validate credentials"}'
NOT_AUTHENTICATED = b'{"detail":"Not authenticated"}'
NONCE_REQUIRED = b'{"detail":"DPoP nonce required"}'
ALGS = " ".join(DEFAULT_ALGS)
METADATA_PATH = "/.well-known/oauth-protected-resource"


def remember(token: str) -> str:
    """Tokens are secrets: the final test checks that none reached a log."""
    SessionRecord.remember(token)
    return token


def dpop(token: str) -> str:
    return f"DPoP {token}"


def proof_challenge(description: str, resource: str, algs: str = ALGS) -> str:
    return (f'DPoP error="invalid_dpop_proof", error_description="{description}", algs="{algs}", '
            f'resource_metadata="{resource}{METADATA_PATH}"')


def token_challenge(resource: str, description: str | None = None, algs: str = ALGS) -> str:
    described = f', error_description="{description}"' if description else ""
    return f'DPoP error="invalid_token"{described}, algs="{algs}", resource_metadata="{resource}{METADATA_PATH}"'


def nonce_challenge(resource: str, algs: str = ALGS) -> str:
    return (f'DPoP error="use_dpop_nonce", error_description="a nonce from the DPoP-Nonce header is required", '
            f'algs="{algs}", resource_metadata="{resource}{METADATA_PATH}"')


def assert_answer(reply: Reply, status: int, body: bytes, challenge: str | None, context: str = "") -> None:
    """Exactly this status, body and one WWW-Authenticate line (none when `challenge` is None)."""
    observed = (reply.status, reply.body, reply.all("WWW-Authenticate"))
    expected = (status, body, [challenge] if challenge is not None else [])
    assert observed == expected, f"{context}\nobserved {observed}\nexpected {expected}"
    assert reply.header("Content-Type") == "application/json", f"{context}: {reply}"


# The world: one provider, stacks started when a test first needs them -----------------------------


class World:
    """The module's provider, keys and stacks (started lazily, stopped at the end)."""

    def __init__(self, tmp_path_factory, tls_dir: Path):
        self.tmp_path_factory, self.tls_dir = tmp_path_factory, tls_dir
        self.idp = IdentityProvider(access_token_lifespan=3600).start()
        SessionRecord.remember(self.idp.client_secret)
        self.stacks: dict[str, Stack] = {}
        self.upstream: SampleUpstream | None = None
        self.es256 = DPoPKey.generate("ES256")
        self.ps256 = DPoPKey.generate("PS256")
        self.other_es256 = DPoPKey.generate("ES256")
        self.es384 = DPoPKey.generate("ES384")
        self.es512 = DPoPKey.generate("ES512")

    @property
    def ca(self) -> str:
        return str(self.tls_dir / "ca.crt")

    def stack(self, name: str, env: dict[str, str] | None = None) -> Stack:
        if name not in self.stacks:
            workdir = self.tmp_path_factory.mktemp(f"dpop-{name}")
            if name.startswith("gate"):
                if self.upstream is None:
                    self.upstream = SampleUpstream().__enter__()
                stack = GateStack(workdir, self.tls_dir, idp=self.idp, upstream_address=self.upstream.address,
                                  env=env)
                stack.upstream = self.upstream
            else:
                stack = Stack(workdir, self.tls_dir, idp=self.idp, env=env)
            self.stacks[name] = stack.start()
        return self.stacks[name]

    def bound(self, key: DPoPKey, **claims) -> str:
        """A provider-signed access token bound to `key` (cnf.jkt)."""
        return remember(self.idp.mint(claims={**key.cnf(), **claims}))

    def unbound(self, **claims) -> str:
        return remember(self.idp.mint(claims=claims))

    def close(self) -> None:
        for stack in self.stacks.values():
            stack.stop()
        if self.upstream is not None:
            self.upstream.__exit__(None, None, None)
        self.idp.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory, tls_dir):
    world = World(tmp_path_factory, tls_dir)
    yield world
    world.close()


@dataclass
class Case:
    """One request to one endpoint: where it goes (`base` + `path`), the proof's htm and htu for
    it, the key and the token bound to it, and what the challenge's resource is."""

    world: World
    base: str
    path: str
    method: str
    htu: str
    resource: str
    key: DPoPKey
    token: str
    algs: str = ALGS
    extra_headers: list[tuple[str, str]] = field(default_factory=list)

    def proof(self, key: DPoPKey | None = None, **options) -> str:
        options.setdefault("access_token", self.token)
        return proof(key or self.key, self.method, self.htu, **options)

    def with_key(self, key: DPoPKey) -> Case:
        """The same request for a token bound to another key of the client's."""
        return replace(self, key=key, token=self.world.bound(key))

    def url_with(self, **parts) -> str:
        """`htu` with urlsplit parts replaced (scheme, netloc, path, query, fragment)."""
        return urlunsplit(urlsplit(self.htu)._replace(**parts))

    def send(self, authorization: str | None, proofs: list[str] = (), **options) -> Reply:
        # A proof in a log would be a leak too. zz_final also takes the last segment of every
        # three-segment value as a secret of its own: never an unsigned proof's empty one.
        SessionRecord.remember(*(value for value in proofs if value.count(".") != 2 or value.rsplit(".", 1)[1]))
        credential = (authorization or "").partition(" ")[2]
        if credential.count(".") == 2:  # a token (forged ones too), not "not-a-token"
            SessionRecord.remember(credential)
        return send(self.base, self.path, method=self.method, authorization=authorization, proofs=proofs,
                    headers=self.extra_headers, ca_file=self.world.ca,
                    body=b"" if self.method == "POST" else None, **options)


def protected_case(world: World, stack: Stack, key: DPoPKey | None = None, path: str = "/protected") -> Case:
    key = key or world.es256
    base = f"https://localhost:{stack.https_port}"
    resource = stack.extra_env.get("OAUTH_RESOURCE") or base
    origin = resource if "OAUTH_RESOURCE" in stack.extra_env else base
    algs = " ".join(stack.extra_env.get("AUTH_DPOP_ALGS", ALGS).replace(",", " ").split())
    return Case(world, base, path, "GET", origin + path.split("?")[0], resource, key, world.bound(key), algs)


def auth_case(world: World, stack: Stack, key: DPoPKey | None = None) -> Case:
    """GET /auth directly (the main server's `location /`): htm GET, htu .../auth."""
    return protected_case(world, stack, key, "/auth")


def gate_case(world: World, key: DPoPKey | None = None, name: str = "gate",
              env: dict[str, str] | None = None) -> Case:
    """POST /api/things?page=2 through the auth_request gate (plain HTTP listener)."""
    stack = world.stack(name, env)
    key = key or world.es256
    base = f"http://127.0.0.1:{stack.gate_port}"
    return Case(world, base, "/api/things?page=2", "POST", base + "/api/things", base, key, world.bound(key))


def success_status(case: Case) -> int:
    if case.path == "/auth":
        return 204
    return 200


# The table ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """A request that must be refused: how to build it, and the refusal (`proof` with the
    error_description, or `token` with an optional one)."""

    id: str
    build: Callable[[Case], tuple[str | None, list[str]]]
    kind: str  # "proof" | "token"
    description: str | None


def with_proof(**options) -> Callable[[Case], tuple[str, list[str]]]:
    """The case's token under the DPoP scheme with one proof made with `options`."""
    return lambda case: (dpop(case.token), [case.proof(**options)])


def with_value(make: Callable[[Case], str]) -> Callable[[Case], tuple[str, list[str]]]:
    """The case's token under the DPoP scheme with one DPoP header of exactly `make(case)`."""
    return lambda case: (dpop(case.token), [make(case)])


def signed_by_other_key(case: Case):
    return dpop(case.token), [case.proof(sign_with=case.world.other_es256)]


def claims_swapped(case: Case):
    """A proof whose claims segment is another proof's (a different jti): signature broken."""
    first, second = case.proof(), case.proof()
    head, _, signature = segments(first)
    return dpop(case.token), [f"{head}.{segments(second)[1]}.{signature}"]


def private_member(name: str):
    def build(case: Case):
        key_case = case if name in ("d", "k") else case.with_key(case.world.ps256)
        return dpop(key_case.token), [key_case.proof(private_members=(name,))]
    return build


def other_key_token(case: Case):
    """A token bound to another key, with a proof (its ath right) by the case's key."""
    token = case.world.bound(case.world.other_es256)
    return dpop(token), [case.proof(access_token=token)]


def expired_token(case: Case):
    now = int(time.time())
    token = case.world.bound(case.key, iat=now - 4000, exp=now - 3600)
    return dpop(token), [case.proof(access_token=token)]


def forged_token(case: Case):
    """The case's bound token with another token's signature."""
    head, payload, _ = segments(case.token)
    token = f"{head}.{payload}.{segments(case.world.unbound())[2]}"
    return dpop(token), [case.proof(access_token=token)]


def garbage_token(case: Case):
    return dpop("not-a-token"), [case.proof(access_token="not-a-token")]


def unbound_token(case: Case):
    token = case.world.unbound()
    return dpop(token), [case.proof(access_token=token)]


def bearer_bound(case: Case):
    return f"Bearer {case.token}", []


def iat(offset: int):
    return lambda case: (dpop(case.token), [case.proof(iat=int(time.time()) + offset)])


def bad_jwk(make: Callable[[Case], object]):
    return lambda case: (dpop(case.token), [case.proof(header={"jwk": make(case)})])


ROWS = [
    Row("no-proof", lambda case: (dpop(case.token), []), "proof", "missing DPoP proof"),
    Row("two-proof-headers", lambda case: (dpop(case.token), [case.proof(), case.proof()]), "proof",
        "more than one DPoP proof"),
    Row("two-proofs-joined", with_value(lambda case: case.proof() + ", " + case.proof()), "proof",
        "more than one DPoP proof"),
    Row("malformed-one-segment", with_value(lambda case: "not-a-jws"), "proof", "malformed DPoP proof"),
    Row("malformed-two-segments", with_value(lambda case: case.proof().rsplit(".", 1)[0]), "proof",
        "malformed DPoP proof"),
    Row("malformed-five-segments", with_value(lambda case: case.proof() + ".e30.e30"), "proof",
        "malformed DPoP proof"),
    Row("malformed-bad-base64url", with_value(lambda case: "*" + case.proof()[1:]), "proof", "malformed DPoP proof"),
    Row("malformed-header-not-json", with_proof(raw_header=b'{"typ":"dpop+jwt",'), "proof", "malformed DPoP proof"),
    Row("malformed-claims-not-json", with_proof(raw_claims=b"{jti: 1}"), "proof", "malformed DPoP proof"),
    Row("typ-missing", with_proof(header={"typ": None}), "proof", "typ is not dpop+jwt"),
    Row("typ-jwt", with_proof(header={"typ": "JWT"}), "proof", "typ is not dpop+jwt"),
    Row("typ-upper-case", with_proof(header={"typ": "DPoP+JWT"}), "proof", "typ is not dpop+jwt"),
    Row("typ-media-type", with_proof(header={"typ": "application/dpop+jwt"}), "proof", "typ is not dpop+jwt"),
    Row("alg-none", with_proof(alg="none"), "proof", "alg is not allowed"),  # an Unsecured JWS: empty signature
    Row("alg-none-with-a-signature", with_proof(alg="none", signature=b"\x01" * 64), "proof", "alg is not allowed"),
    Row("alg-hs256", with_proof(alg="HS256"), "proof", "alg is not allowed"),
    Row("alg-es512-not-in-list", lambda case: (dpop(case.token), [case.proof(key=case.world.es512)]), "proof",
        "alg is not allowed"),
    Row("jwk-missing", with_proof(header={"jwk": None}), "proof", "jwk is missing or not a public key"),
    Row("jwk-not-an-object", bad_jwk(lambda case: "not-a-jwk"), "proof", "jwk is missing or not a public key"),
    Row("jwk-rsa-for-es256", bad_jwk(lambda case: case.world.ps256.public_jwk), "proof",
        "jwk is missing or not a public key"),
    Row("jwk-p384-for-es256", bad_jwk(lambda case: case.world.es384.public_jwk), "proof",
        "jwk is missing or not a public key"),
    Row("jwk-ec-without-y", bad_jwk(lambda case: {k: v for k, v in case.key.public_jwk.items() if k != "y"}), "proof",
        "jwk is missing or not a public key"),
    *[Row(f"jwk-private-{name}", private_member(name), "proof", "jwk contains private key material")
      for name in ("d", "p", "q", "dp", "dq", "qi", "oth", "k")],
    Row("signed-by-another-key", signed_by_other_key, "proof", "signature does not verify with the jwk"),
    Row("claims-changed-after-signing", claims_swapped, "proof", "signature does not verify with the jwk"),
    Row("signature-zeroes", with_proof(signature=b"\0" * 64), "proof", "signature does not verify with the jwk"),
    *[Row(f"missing-{name}", with_proof(claims={name: None}), "proof", f"missing claim {name}")
      for name in ("jti", "htm", "htu", "iat", "ath")],
    Row("htm-other-method", lambda case: (dpop(case.token), [case.proof(claims={
        "htm": "GET" if case.method == "POST" else "POST"})]), "proof", "htm does not match the request method"),
    Row("htm-lower-case", lambda case: (dpop(case.token), [case.proof(claims={"htm": case.method.lower()})]),
        "proof", "htm does not match the request method"),
    Row("htu-with-query", lambda case: (dpop(case.token), [case.proof(claims={"htu": case.url_with(query="page=2")})]),
        "proof", "htu has a query or fragment"),
    Row("htu-with-fragment", lambda case: (dpop(case.token), [case.proof(claims={"htu": case.htu + "#top"})]),
        "proof", "htu has a query or fragment"),
    Row("htu-other-path", lambda case: (dpop(case.token), [case.proof(claims={"htu": case.url_with(path="/elsewhere")})]),
        "proof", "htu does not match the request URI"),
    Row("htu-trailing-slash", lambda case: (dpop(case.token), [case.proof(claims={"htu": case.htu + "/"})]),
        "proof", "htu does not match the request URI"),
    Row("htu-other-host", lambda case: (dpop(case.token), [case.proof(claims={"htu": case.url_with(
        netloc="evil.example" + (f":{urlsplit(case.htu).port}" if urlsplit(case.htu).port else ""))})]),
        "proof", "htu does not match the request URI"),
    Row("htu-other-port", lambda case: (dpop(case.token), [case.proof(claims={"htu": case.url_with(
        netloc=f"{urlsplit(case.htu).hostname}:{(urlsplit(case.htu).port or 443) + 1}")})]),
        "proof", "htu does not match the request URI"),
    Row("htu-other-scheme", lambda case: (dpop(case.token), [case.proof(claims={"htu": case.url_with(
        scheme="http" if urlsplit(case.htu).scheme == "https" else "https")})]),
        "proof", "htu does not match the request URI"),
    Row("iat-stale", iat(-120), "proof", "iat is outside the accepted window"),
    Row("iat-future", iat(60), "proof", "iat is outside the accepted window"),
    Row("ath-of-another-token", with_proof(access_token="another-access-token"), "proof",
        "ath does not match the access token"),
    Row("token-bound-to-another-key", other_key_token, "proof", "the access token is not bound to the proof's key"),
    Row("token-expired", expired_token, "token", None),
    Row("token-forged", forged_token, "token", None),
    Row("token-garbage", garbage_token, "token", None),
    Row("token-not-bound", unbound_token, "token", "the access token is not DPoP-bound"),
]
ROW_IDS = [row.id for row in ROWS]
#: The rows also run through the auth_request gate.
GATE_ROWS = {"no-proof", "two-proof-headers", "malformed-one-segment", "typ-jwt", "alg-none", "jwk-private-d",
             "signed-by-another-key", "missing-ath", "htm-other-method", "htu-with-query", "htu-other-path",
             "iat-stale", "ath-of-another-token", "token-bound-to-another-key", "token-expired",
             "token-not-bound"}


def expected(row: Row, case: Case) -> tuple[int, bytes, str]:
    if row.kind == "proof":
        return 401, INVALID_PROOF, proof_challenge(row.description, case.resource, case.algs)
    return 401, INVALID_TOKEN, token_challenge(case.resource, row.description, case.algs)


def test_the_table_covers_the_spec():
    assert len(ROWS) >= 50 and len(set(ROW_IDS)) == len(ROWS)
    assert GATE_ROWS <= set(ROW_IDS)
    descriptions = {row.description for row in ROWS}
    for description in ("missing DPoP proof", "more than one DPoP proof", "malformed DPoP proof",
                        "typ is not dpop+jwt", "alg is not allowed", "jwk is missing or not a public key",
                        "jwk contains private key material", "signature does not verify with the jwk",
                        "htm does not match the request method", "htu has a query or fragment",
                        "htu does not match the request URI", "iat is outside the accepted window",
                        "ath does not match the access token",
                        "the access token is not bound to the proof's key", "the access token is not DPoP-bound",
                        *(f"missing claim {name}" for name in ("jti", "htm", "htu", "iat", "ath"))):
        assert description in descriptions, description


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_refused_at_protected(world, row):
    case = protected_case(world, world.stack("allowed"))
    authorization, proofs = row.build(case)
    status, body, challenge = expected(row, case)
    assert_answer(case.send(authorization, proofs), status, body, challenge, f"{row.id} at /protected")


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_refused_at_auth(world, row):
    case = auth_case(world, world.stack("allowed"))
    authorization, proofs = row.build(case)
    status, body, challenge = expected(row, case)
    assert_answer(case.send(authorization, proofs), status, body, challenge, f"{row.id} at /auth")


@pytest.mark.parametrize("row", [row for row in ROWS if row.id in GATE_ROWS], ids=lambda row: row.id)
def test_refused_through_the_auth_request_gate(world, row):
    case = gate_case(world)
    hits = world.upstream.hits
    authorization, proofs = row.build(case)
    status, body, challenge = expected(row, case)
    assert_answer(case.send(authorization, proofs), status, body, challenge, f"{row.id} through the gate")
    assert world.upstream.hits == hits


@pytest.mark.parametrize("where", ["protected", "auth", "gate"])
def test_a_proof_used_twice_is_a_replay(world, where):
    case = {"protected": lambda: protected_case(world, world.stack("allowed")),
            "auth": lambda: auth_case(world, world.stack("allowed")),
            "gate": lambda: gate_case(world)}[where]()
    value = case.proof()
    first = case.send(dpop(case.token), [value])
    assert first.status == success_status(case), str(first)
    assert_answer(case.send(dpop(case.token), [value]), 401, INVALID_PROOF,
                  proof_challenge("jti has been used before", case.resource), f"replay at {where}")
    # A fresh proof (new jti) for the same token still passes.
    again = case.send(dpop(case.token), [case.proof()])
    assert again.status == success_status(case), str(again)


def test_the_replay_check_comes_last(world):
    """A used proof sent again with something else wrong is refused for that, not as a replay."""
    case = protected_case(world, world.stack("allowed"))
    value = case.proof()
    assert case.send(dpop(case.token), [value]).status == 200
    other = world.bound(world.es256)
    assert_answer(case.send(dpop(other), [value]), 401, INVALID_PROOF,
                  proof_challenge("ath does not match the access token", case.resource), "a used proof, another token")
    assert_answer(case.send(dpop(case.token), [value]), 401, INVALID_PROOF,
                  proof_challenge("jti has been used before", case.resource), "the used proof again")


def test_the_bearer_scheme_with_a_bound_token_is_refused(world):
    """RFC 9449 §7.1: a DPoP-bound token sent as a bearer token is refused."""
    stack = world.stack("allowed")
    case = protected_case(world, stack)
    assert_answer(case.send(f"Bearer {case.token}"), 401, INVALID_TOKEN, 'Bearer error="invalid_token"',
                  "bound token as Bearer at /protected")
    case = auth_case(world, stack)
    assert_answer(case.send(f"Bearer {case.token}"), 401, INVALID_TOKEN,
                  f'Bearer error="invalid_token", resource_metadata="{case.resource}{METADATA_PATH}"',
                  "bound token as Bearer at /auth")
    case = gate_case(world)
    hits = world.upstream.hits
    assert_answer(case.send(f"Bearer {case.token}"), 401, INVALID_TOKEN,
                  f'Bearer error="invalid_token", resource_metadata="{case.resource}{METADATA_PATH}"',
                  "bound token as Bearer through the gate")
    assert world.upstream.hits == hits


# Successes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", DEFAULT_ALGS)
def test_every_default_algorithm_passes_at_protected_and_auth(world, alg):
    key = world.es256 if alg == "ES256" else world.ps256 if alg == "PS256" else DPoPKey.generate(alg)
    stack = world.stack("allowed")
    case = protected_case(world, stack, key)
    answer = case.send(dpop(case.token), [case.proof()])
    assert answer.status == 200, str(answer)
    # The same user as the Bearer answer of an unbound token of the same user.
    bearer = case.send(f"Bearer {world.unbound()}")
    assert bearer.status == 200 and json.loads(answer.body) == json.loads(bearer.body)
    case = auth_case(world, stack, key)
    answer = case.send(dpop(case.token), [case.proof()])
    assert answer.status == 204, str(answer)


@pytest.mark.parametrize("alg", ["ES256", "PS256"])
def test_the_gate_lets_a_dpop_request_through(world, alg):
    case = gate_case(world, world.es256 if alg == "ES256" else world.ps256)
    hits = world.upstream.hits
    answer = case.send(dpop(case.token), [case.proof()])
    assert answer.status == 200, str(answer)
    seen = json.loads(answer.body)
    assert seen["method"] == "POST" and seen["path"] == "/api/things?page=2"
    assert seen["x_auth"]["x-auth-username"] == ["abdullah"]
    assert seen["authorization"] is False
    assert world.upstream.hits == hits + 1


def test_keycloaks_dpop_tokens_pass(world):
    """Keycloak's DPoP mapper writes `typ: DPoP` into the access token (not `Bearer`), and
    `cnf.jkt` (Keycloak 26.7 adds `kc-jkt-type`); the table's tokens carry only `cnf.jkt`."""
    stack = world.stack("allowed")
    token = world.bound(world.es256, typ="DPoP")
    for case in (protected_case(world, stack), auth_case(world, stack)):
        case = replace(case, token=token)
        answer = case.send(dpop(token), [case.proof()])
        assert answer.status == success_status(case), f"typ DPoP at {case.path}: {answer}"
    token = remember(world.idp.mint(claims={"typ": "DPoP", "cnf": {"jkt": world.es256.thumbprint,
                                                                    "kc-jkt-type": "DPoP"}}))
    case = replace(protected_case(world, stack), token=token)
    answer = case.send(dpop(token), [case.proof()])
    assert answer.status == 200, f"cnf with kc-jkt-type: {answer}"


def test_unbound_bearer_tokens_keep_working_when_dpop_is_allowed(world):
    stack = world.stack("allowed")
    token = world.unbound()
    assert protected_case(world, stack).send(f"Bearer {token}").status == 200
    assert auth_case(world, stack).send(f"Bearer {token}").status == 204


@pytest.mark.parametrize("variant", ["upper-case-host", "upper-case-scheme", "dot-segments", "request-dot-segments",
                                     "request-query-dropped", "percent-encoding-case"])
def test_htu_is_compared_after_normalisation(world, variant):
    stack = world.stack("allowed")
    case = protected_case(world, stack)
    port = stack.https_port
    htu = {
        "upper-case-host": f"https://LOCALHOST:{port}/protected",
        "upper-case-scheme": f"HTTPS://localhost:{port}/protected",
        "dot-segments": f"https://localhost:{port}/x/../protected",
        "request-dot-segments": f"https://localhost:{port}/protected",
        "request-query-dropped": f"https://localhost:{port}/protected",
        "percent-encoding-case": f"https://localhost:{port}/pr%6Ftected",
    }[variant]
    if variant == "request-dot-segments":
        case = replace(case, path="/x/../protected")  # nginx routes it to /protected
    if variant == "request-query-dropped":
        case = replace(case, path="/protected?page=2&x=%41")
    if variant == "percent-encoding-case":
        # nginx routes /pr%6ftected to /protected; REQUEST_URI keeps the client's spelling, which
        # differs from the proof's only in the case of the hex digits (RFC 3986 §6.2.2.1).
        case = replace(case, path="/pr%6ftected")
    answer = case.send(dpop(case.token), [case.proof(claims={"htu": htu})])
    assert answer.status == 200, f"{variant}: htu {htu} for {case.path}: {answer}"


@pytest.mark.parametrize("htu", ["https://localhost:443/protected", "https://localhost:/protected",
                                 "https://localhost/protected"])
def test_the_default_port_is_dropped(world, make_stack, htu):
    """With OAUTH_RESOURCE=https://localhost (a proxy in front of nginx on port 443), an explicit
    :443 or an empty port in the proof's htu is the same URI (RFC 3986 §6.2.3)."""
    stack = make_stack(world.idp, env={"OAUTH_RESOURCE": "https://localhost"})
    case = protected_case(world, stack)
    answer = send(case.base, "/protected", authorization=dpop(case.token), proofs=[case.proof(claims={"htu": htu})],
                  ca_file=world.ca)
    assert answer.status == 200, f"{htu} with OAUTH_RESOURCE=https://localhost: {answer}"


@pytest.mark.parametrize("offset", [-50, 0, 3])
def test_iat_inside_the_window_passes(world, offset):
    case = protected_case(world, world.stack("allowed"))
    answer = case.send(dpop(case.token), [case.proof(iat=int(time.time()) + offset)])
    assert answer.status == 200, str(answer)


def test_htm_of_the_gate_is_the_original_method(world):
    """Through auth_request the responder sees GET /auth; the proof names the client's method."""
    case = replace(gate_case(world), method="DELETE", path="/api/things/7")
    case = replace(case, htu=case.base + "/api/things/7")
    answer = send(case.base, case.path, method="DELETE", authorization=dpop(case.token),
                  proofs=[case.proof()], ca_file=world.ca)
    assert answer.status == 200, str(answer)
    assert json.loads(answer.body)["method"] == "DELETE"
    answer = send(case.base, case.path, method="DELETE", authorization=dpop(case.token),
                  proofs=[case.proof(claims={"htm": "GET"})], ca_file=world.ca)
    assert_answer(answer, 401, INVALID_PROOF, proof_challenge("htm does not match the request method", case.resource),
                  "htm GET for DELETE through the gate")


# AUTH_DPOP=required and off ----------------------------------------------------------------------------


def test_required_refuses_every_bearer_request(world):
    stack = world.stack("required", {"AUTH_DPOP": "required"})
    for case in (protected_case(world, stack), auth_case(world, stack)):
        for token in (world.unbound(), "not-a-token", world.bound(world.es256)):
            assert_answer(case.send(f"Bearer {token}"), 401, INVALID_TOKEN,
                          token_challenge(case.resource, "a DPoP-bound access token is required"),
                          f"AUTH_DPOP=required, Bearer at {case.path}")
        answer = case.send(dpop(case.token), [case.proof()])
        assert answer.status == success_status(case), str(answer)


def test_required_still_answers_no_credentials_with_the_seed_challenge(world):
    stack = world.stack("required", {"AUTH_DPOP": "required"})
    case = protected_case(world, stack)
    assert_answer(case.send(None), 401, NOT_AUTHENTICATED, "Bearer", "no credentials at /protected")
    case = auth_case(world, stack)
    assert_answer(case.send(None), 401, NOT_AUTHENTICATED,
                  f'Bearer resource_metadata="{case.resource}{METADATA_PATH}", DPoP algs="{ALGS}"',
                  "no credentials at /auth")


def test_off_treats_dpop_as_another_scheme(world):
    stack = world.stack("off", {"AUTH_DPOP": "off"})
    case = protected_case(world, stack)
    assert_answer(case.send(dpop(case.token), [case.proof()]), 401, NOT_AUTHENTICATED, "Bearer",
                  "AUTH_DPOP=off, DPoP scheme at /protected")
    assert_answer(case.send(f"Bearer {case.token}"), 401, INVALID_TOKEN, 'Bearer error="invalid_token"',
                  "AUTH_DPOP=off, bound token as Bearer at /protected")
    assert case.send(f"Bearer {world.unbound()}").status == 200
    case = auth_case(world, stack)
    assert_answer(case.send(dpop(case.token), [case.proof()]), 401, NOT_AUTHENTICATED,
                  f'Bearer resource_metadata="{case.resource}{METADATA_PATH}"', "AUTH_DPOP=off, DPoP scheme at /auth")
    assert_answer(case.send(f"Bearer {case.token}"), 401, INVALID_TOKEN,
                  f'Bearer error="invalid_token", resource_metadata="{case.resource}{METADATA_PATH}"',
                  "AUTH_DPOP=off, bound token as Bearer at /auth")
    assert case.send(f"Bearer {world.unbound()}").status == 204


# AUTH_DPOP_NONCE=true ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/protected", "/auth"])
def test_nonce_flow(world, path):
    stack = world.stack("nonce", {"AUTH_DPOP_NONCE": "true"})
    case = protected_case(world, stack, path=path)
    first = case.send(dpop(case.token), [case.proof()])
    assert_answer(first, 401, NONCE_REQUIRED, nonce_challenge(case.resource), f"no nonce at {path}")
    nonces = first.all("DPoP-Nonce")
    assert len(nonces) == 1 and nonces[0], str(first)
    # RFC 9449 §8.1: a nonce is NQCHAR (%x21 / %x23-5B / %x5D-7E).
    assert all(0x21 <= ord(c) <= 0x7E and c not in '"\\' for c in nonces[0]), nonces
    answer = case.send(dpop(case.token), [case.proof(nonce=nonces[0])])
    assert answer.status == success_status(case), str(answer)
    fresh = answer.all("DPoP-Nonce")
    assert len(fresh) == 1 and fresh[0], f"a successful DPoP answer carries a fresh DPoP-Nonce: {answer}"
    # The next request with the newest nonce passes as well.
    answer = case.send(dpop(case.token), [case.proof(nonce=fresh[0])])
    assert answer.status == success_status(case), str(answer)


def test_nonce_flow_through_the_gate(world):
    """The gate example passes the responder's DPoP-Nonce on, on its 401 and on the API's answer."""
    case = gate_case(world, name="gate-nonce", env={"AUTH_DPOP_NONCE": "true"})
    hits = world.upstream.hits
    first = case.send(dpop(case.token), [case.proof()])
    assert_answer(first, 401, NONCE_REQUIRED, nonce_challenge(case.resource), "no nonce through the gate")
    nonces = first.all("DPoP-Nonce")
    assert len(nonces) == 1 and nonces[0], str(first)
    answer = case.send(dpop(case.token), [case.proof(nonce=nonces[0])])
    assert answer.status == 200, str(answer)
    assert json.loads(answer.body)["method"] == "POST"
    fresh = answer.all("DPoP-Nonce")
    assert len(fresh) == 1 and fresh[0], str(answer)
    assert world.upstream.hits == hits + 1


def test_a_nonce_the_responder_never_issued_is_refused(world):
    stack = world.stack("nonce", {"AUTH_DPOP_NONCE": "true"})
    case = protected_case(world, stack)
    answer = case.send(dpop(case.token), [case.proof(nonce="made-up-nonce-0123456789")])
    assert_answer(answer, 401, NONCE_REQUIRED, nonce_challenge(case.resource), "a made-up nonce")
    assert answer.all("DPoP-Nonce") and answer.all("DPoP-Nonce")[0] != "made-up-nonce-0123456789"


def test_bearer_tokens_need_no_nonce(world):
    stack = world.stack("nonce", {"AUTH_DPOP_NONCE": "true"})
    assert protected_case(world, stack).send(f"Bearer {world.unbound()}").status == 200


# AUTH_DPOP_ALGS, OAUTH_RESOURCE, AUTH_DPOP_PROOF_MAX_AGE_SECONDS -------------------------------------------


CONFIGURED = {"AUTH_DPOP_ALGS": "ES256,PS256", "OAUTH_RESOURCE": "https://api.example.com",
              "AUTH_DPOP_PROOF_MAX_AGE_SECONDS": "300"}


def test_configured_algorithms_resource_and_window(world):
    stack = world.stack("configured", CONFIGURED)
    case = protected_case(world, stack)
    assert (case.htu, case.resource, case.algs) == ("https://api.example.com/protected", "https://api.example.com",
                                                    "ES256 PS256")
    assert case.send(dpop(case.token), [case.proof()]).status == 200
    ps = case.with_key(world.ps256)
    assert ps.send(dpop(ps.token), [ps.proof()]).status == 200
    # The default port of the resource's scheme and a host's case are normalised away.
    for htu in ("https://api.example.com:443/protected", "https://API.Example.COM/protected"):
        answer = case.send(dpop(case.token), [case.proof(claims={"htu": htu})])
        assert answer.status == 200, f"{htu}: {answer}"
    # The resource's origin, not the Host header, is the htu's.
    answer = case.send(dpop(case.token), [case.proof(claims={"htu": f"https://localhost:{stack.https_port}/protected"})])
    assert_answer(answer, 401, INVALID_PROOF, proof_challenge("htu does not match the request URI", case.resource,
                                                              "ES256 PS256"), "the Host header's origin")
    for alg in ("ES384", "RS256"):
        other = case.with_key(DPoPKey.generate(alg))
        assert_answer(other.send(dpop(other.token), [other.proof()]), 401, INVALID_PROOF,
                      proof_challenge("alg is not allowed", case.resource, "ES256 PS256"), f"{alg} not configured")
    # 300 s of proof age.
    assert case.send(dpop(case.token), [case.proof(iat=int(time.time()) - 200)]).status == 200
    assert_answer(case.send(dpop(case.token), [case.proof(iat=int(time.time()) - 400)]), 401, INVALID_PROOF,
                  proof_challenge("iat is outside the accepted window", case.resource, "ES256 PS256"), "iat -400")
    assert_answer(case.send(dpop(case.token), [case.proof(iat=int(time.time()) + 30)]), 401, INVALID_PROOF,
                  proof_challenge("iat is outside the accepted window", case.resource, "ES256 PS256"), "iat +30")
    # Its /auth challenge names the configured resource too.
    auth = auth_case(world, stack)
    assert_answer(auth.send(None), 401, NOT_AUTHENTICATED,
                  f'Bearer resource_metadata="https://api.example.com{METADATA_PATH}", DPoP algs="ES256 PS256"',
                  "no credentials at /auth")


# jti replay across replicas (REVOCATION_STORE=redis) -----------------------------------------------------


class Redis:
    """A throw-away redis-server on a loopback port (no password, no persistence)."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(workdir)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(self.port), "PING"], capture_output=True,
                             text=True).stdout.strip() != "PONG":
            assert self.process.poll() is None and time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def test_replay_is_refused_by_the_other_replica(world, tmp_path, tls_dir):
    redis = Redis(tmp_path / "redis")
    stack = TwoInstanceStack(tmp_path / "two", tls_dir, idp=world.idp,
                             env={"REVOCATION_STORE": f"redis://127.0.0.1:{redis.port}"})
    try:
        stack.start()
        host = "api.replicas.test"
        token = world.bound(world.es256)

        def ask(socket: Path, value: str):
            return fastcgi_client.request(str(socket), {
                "REQUEST_METHOD": "GET", "DOCUMENT_URI": "/protected", "REQUEST_URI": "/protected",
                "SCRIPT_NAME": "/protected", "SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_SCHEME": "https",
                "HTTPS": "on", "HTTP_HOST": host, "HTTP_AUTHORIZATION": dpop(token), "HTTP_DPOP": value}, timeout=10)

        value = proof(world.es256, "GET", f"https://{host}/protected", access_token=token)
        status, _, body = ask(stack.socket_path, value)
        assert status == 200, body
        status, headers, body = ask(stack.socket_b, value)
        assert (status, body, headers.get("www-authenticate")) == (
            401, INVALID_PROOF, proof_challenge("jti has been used before", f"https://{host}")), (status, headers, body)
        status, _, body = ask(stack.socket_b, proof(world.es256, "GET", f"https://{host}/protected", access_token=token))
        assert status == 200, body
    finally:
        stack.stop()
        redis.stop()


# DPoP-bound tokens issued through /login and /refresh ------------------------------------------------------


def test_login_forwards_the_proof_and_the_token_is_dpop_bound(world):
    stack = world.stack("allowed")
    key = world.ps256
    token_endpoint = f"{world.idp.issuer}/protocol/openid-connect/token"
    form = {"username": "abdullah", "password": "Test#123456"}

    answer = stack.post("/login", data=form, headers={"DPoP": proof(key, "POST", token_endpoint)})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    remember(body["access_token"])
    remember(body.get("refresh_token"))
    assert body["token_type"] == "DPoP"
    assert claims_of(body["access_token"])["cnf"]["jkt"] == key.thumbprint
    case = replace(protected_case(world, stack, key), token=body["access_token"])
    assert case.send(dpop(case.token), [case.proof()]).status == 200
    assert_answer(case.send(f"Bearer {case.token}"), 401, INVALID_TOKEN, 'Bearer error="invalid_token"',
                  "an issued DPoP token as Bearer")

    # /refresh with a proof for the token endpoint: a DPoP answer again, bound to the same key.
    refreshed = stack.post("/refresh", data={"refresh_token": body["refresh_token"]},
                           headers={"DPoP": proof(key, "POST", token_endpoint)})
    assert refreshed.status_code == 200, refreshed.text
    remember(refreshed.json()["access_token"])
    remember(refreshed.json().get("refresh_token"))
    assert refreshed.json()["token_type"] == "DPoP"
    assert claims_of(refreshed.json()["access_token"])["cnf"]["jkt"] == key.thumbprint

    # Without a proof: the seed's bearer answer, no cnf.
    plain = stack.login("abdullah", "Test#123456")
    assert plain.status_code == 200 and plain.json()["token_type"] == "bearer"
    assert "cnf" not in claims_of(plain.json()["access_token"])



def test_a_proof_keycloak_refuses_is_an_invalid_dpop_proof(make_idp, make_stack):
    """Keycloak 23-26.0 answers a bad proof at the token endpoint with 400 invalid_dpop_proof
    (26.1+ says invalid_request; the emulator's --dpop-error picks the older form)."""
    idp = make_idp(extra_args=("--dpop-error", "invalid_dpop_proof"))
    stack = make_stack(idp)
    key = DPoPKey.generate("ES256")
    token_endpoint = f"{idp.issuer}/protocol/openid-connect/token"
    form = {"username": "abdullah", "password": "Test#123456"}
    for value in (proof(key, "POST", token_endpoint + "/elsewhere"), proof(key, "GET", token_endpoint)):
        refused = stack.post("/login", data=form, headers={"DPoP": value})
        assert (refused.status_code, refused.content) == (400, INVALID_PROOF), (refused.status_code, refused.content[:80])
        assert refused.headers["Content-Type"] == "application/json"
    answer = stack.post("/login", data=form, headers={"DPoP": proof(key, "POST", token_endpoint)})
    assert answer.status_code == 200 and answer.json()["token_type"] == "DPoP", answer.text
    remember(answer.json()["access_token"])
    remember(answer.json()["refresh_token"])


def test_a_proof_current_keycloak_refuses_is_an_invalid_dpop_proof(make_idp, make_stack):
    """Keycloak 26.1+ answers a bad proof at the token endpoint with 400 invalid_request and a
    description naming DPoP (keycloak#34842): /login answers the same 400 as for the older form."""
    idp = make_idp()
    stack = make_stack(idp)
    key = DPoPKey.generate("ES256")
    token_endpoint = f"{idp.issuer}/protocol/openid-connect/token"
    form = {"username": "abdullah", "password": "Test#123456"}
    refused = stack.post("/login", data=form, headers={"DPoP": proof(key, "GET", token_endpoint)})
    assert (refused.status_code, refused.content) == (400, INVALID_PROOF), (refused.status_code, refused.content[:80])
    # The log line names the refusal (the proof itself is never logged); it is written after the
    # answer has gone out, so it is waited for.
    stack.wait_until(lambda: "invalidDPoPProof" in stack.responder_log(), "the refusal's log line", timeout=10)


# The helper itself, against RFC 9449's examples ------------------------------------------------------------


def test_rfc9449_example_thumbprint_and_ath():
    # RFC 9449 §4.1's example proof key and §6.1's jkt of it; §7.1's access token and its ath.
    jwk = {"kty": "EC", "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
           "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA", "crv": "P-256"}
    assert thumbprint(jwk) == "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
    assert ath("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU") == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"


@pytest.mark.parametrize("alg", [*DEFAULT_ALGS, "ES512"])
def test_helper_proofs_verify_with_joserfc(alg):
    from joserfc.jwk import import_key

    key = DPoPKey.generate(alg)
    value = proof(key, "GET", "https://resource.example/p", access_token="token-1", nonce="n-1")
    claims = verify(value)
    assert claims["htm"] == "GET" and claims["htu"] == "https://resource.example/p"
    assert claims["ath"] == ath("token-1") and claims["nonce"] == "n-1"
    assert import_key(key.public_jwk).thumbprint() == key.thumbprint
    assert header_of(value) == {"typ": "dpop+jwt", "alg": alg, "jwk": key.public_jwk}


def test_helper_breaks_what_it_is_asked_to():
    from joserfc.errors import BadSignatureError

    key = DPoPKey.generate("ES256")
    with pytest.raises(BadSignatureError):
        verify(proof(key, "GET", "https://r/p", sign_with=DPoPKey.generate("ES256")))
    assert proof(key, "GET", "https://r/p", alg="none").endswith(".")
    hs = proof(key, "GET", "https://r/p", alg="HS256")
    assert len(b64(b"\0" * 32)) == len(hs.split(".")[2])
    header = header_of(proof(DPoPKey.generate("PS256"), "GET", "u", private_members=("d", "qi", "oth", "k")))
    assert {"d", "qi", "oth", "k"} <= set(header["jwk"])
    assert "ath" not in claims_of(proof(key, "GET", "u"))
    assert "jti" not in claims_of(proof(key, "GET", "u", claims={"jti": None}))
