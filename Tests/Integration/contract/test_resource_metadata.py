"""OAuth 2.0 Protected Resource Metadata (RFC 9728) through the whole stack: the document at
`GET /.well-known/oauth-protected-resource` (§2, §3), the `resource_metadata` parameter of
/auth's challenges (§5.1), and /protected's challenges, which the seed contract fixes and which
stay exactly as they were.

The resource identifier is OAUTH_RESOURCE, or `<scheme>://<Host header>` of the request.
"""

from __future__ import annotations

import time

import pytest

from harness.dpop import DEFAULT_ALGS
from harness.gate import GateStack
from harness.idp_fixture import IdentityProvider
from harness.sample_upstream import SampleUpstream
from harness.stack import SessionRecord, Stack

PATH = "/.well-known/oauth-protected-resource"
ALGS = " ".join(DEFAULT_ALGS)
NOT_AUTHENTICATED = {"detail": "Not authenticated"}
INVALID_TOKEN = {"detail": "Could not validate credentials"}

#: OAUTH_RESOURCE, AUTH_DPOP=required, scopes and algorithms configured.
CONFIGURED = {"OAUTH_RESOURCE": "https://api.example.com", "AUTH_DPOP": "required",
              "AUTH_REQUIRED_SCOPES": "email profile", "AUTH_DPOP_ALGS": "PS256 ES256"}


class World:
    def __init__(self, tmp_path_factory, tls_dir):
        self.tmp_path_factory, self.tls_dir = tmp_path_factory, tls_dir
        self.idp = IdentityProvider().start()
        SessionRecord.remember(self.idp.client_secret)
        self.stacks: dict[str, Stack] = {}
        self.upstream: SampleUpstream | None = None

    def stack(self, name: str, env: dict[str, str] | None = None) -> Stack:
        if name not in self.stacks:
            workdir = self.tmp_path_factory.mktemp(f"metadata-{name}")
            if name == "gate":
                self.upstream = SampleUpstream().__enter__()
                stack = GateStack(workdir, self.tls_dir, idp=self.idp, upstream_address=self.upstream.address)
            else:
                stack = Stack(workdir, self.tls_dir, idp=self.idp, env=env)
            self.stacks[name] = stack.start()
        return self.stacks[name]

    def default(self) -> Stack:
        return self.stack("default")

    def configured(self) -> Stack:
        return self.stack("configured", CONFIGURED)

    def off(self) -> Stack:
        return self.stack("off", {"AUTH_DPOP": "off"})

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


def origin(stack: Stack) -> str:
    return f"https://localhost:{stack.https_port}"


def challenges(answer) -> list[str]:
    """Every WWW-Authenticate header line (requests would join them into one string)."""
    return answer.raw.headers.getlist("WWW-Authenticate")


def refused(answer, status: int, body: dict, challenge: str) -> None:
    observed = (answer.status_code, answer.json(), challenges(answer))
    assert observed == (status, body, [challenge]), observed
    assert answer.headers["Content-Type"] == "application/json"


def expired(world: World) -> str:
    now = int(time.time())
    token = world.idp.mint(claims={"iat": now - 4000, "exp": now - 3600})
    SessionRecord.remember(token)
    return token


# The document -----------------------------------------------------------------------------------------


def document(stack: Stack, **options) -> dict:
    answer = stack.get(PATH, **options)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.headers["Cache-Control"] == "public, max-age=300"
    return answer.json()


def test_default_document(world):
    stack = world.default()
    assert document(stack) == {
        "resource": origin(stack),
        "authorization_servers": [world.idp.issuer],
        "bearer_methods_supported": ["header"],
        "scopes_supported": ["openid"],
        "dpop_signing_alg_values_supported": list(DEFAULT_ALGS),
        "dpop_bound_access_tokens_required": False,
    }


def test_configured_document(world):
    assert document(world.configured()) == {
        "resource": "https://api.example.com",
        "authorization_servers": [world.idp.issuer],
        "bearer_methods_supported": ["header"],
        "scopes_supported": ["openid", "email", "profile"],
        "dpop_signing_alg_values_supported": ["PS256", "ES256"],
        "dpop_bound_access_tokens_required": True,
    }


def test_without_dpop_the_document_names_no_algorithms(world):
    stack = world.off()
    assert document(stack) == {
        "resource": origin(stack),
        "authorization_servers": [world.idp.issuer],
        "bearer_methods_supported": ["header"],
        "scopes_supported": ["openid"],
        "dpop_bound_access_tokens_required": False,
    }


@pytest.mark.parametrize("host", ["api.test:8443", "API.test", "localhost"])
def test_the_derived_resource_is_the_requests_host_on_the_public_port(world, host):
    """nginx passes RESOURCE_ORIGIN = https://$host:<PUBLIC_HTTPS_PORT>: the Host header's name
    (lower case, as nginx's $host is) and the port clients are given, not a port a client wrote
    in its Host header (Debian's fastcgi_params passes HTTP_HOST as $host, without a port)."""
    stack = world.default()
    name = host.split(":")[0].lower()
    assert document(stack, headers={"Host": host})["resource"] == f"https://{name}:{stack.https_port}"


def test_the_document_needs_no_credentials_and_ignores_bad_ones(world):
    stack = world.configured()
    for headers in ({"Authorization": "Bearer not-a-token"}, {"Authorization": "DPoP x"}):
        assert document(stack, headers=headers)["resource"] == "https://api.example.com"


# /auth's challenges name the document (RFC 9728 §5.1) --------------------------------------------------


def test_auth_challenges_name_the_document(world):
    stack = world.default()
    metadata = f"{origin(stack)}{PATH}"
    for headers in ({}, {"Authorization": "Basic YWJkdWxsYWg6eA=="}):
        refused(stack.get("/auth", headers=headers), 401, NOT_AUTHENTICATED,
                f'Bearer resource_metadata="{metadata}", DPoP algs="{ALGS}"')
    for token in ("not-a-token", expired(world)):
        refused(stack.get("/auth", headers={"Authorization": f"Bearer {token}"}), 401, INVALID_TOKEN,
                f'Bearer error="invalid_token", resource_metadata="{metadata}"')
    # The URL in the challenge serves the document of the same resource.
    assert document(stack)["resource"] + PATH == metadata


def test_auth_challenges_without_dpop(world):
    stack = world.off()
    metadata = f"{origin(stack)}{PATH}"
    refused(stack.get("/auth"), 401, NOT_AUTHENTICATED, f'Bearer resource_metadata="{metadata}"')
    refused(stack.get("/auth", headers={"Authorization": "Bearer not-a-token"}), 401, INVALID_TOKEN,
            f'Bearer error="invalid_token", resource_metadata="{metadata}"')


def test_auth_challenges_of_a_configured_resource(world):
    stack = world.configured()
    refused(stack.get("/auth"), 401, NOT_AUTHENTICATED,
            f'Bearer resource_metadata="https://api.example.com{PATH}", DPoP algs="PS256 ES256"')


def test_the_gate_passes_the_challenge_on(world):
    """Through nginx's auth_request gate the client gets the responder's challenge, for the
    resource the client asked (its Host header, port included)."""
    stack = world.stack("gate")
    resource = f"http://127.0.0.1:{stack.gate_port}"
    answer = stack.gate("/api/things")
    refused(answer, 401, NOT_AUTHENTICATED, f'Bearer resource_metadata="{resource}{PATH}", DPoP algs="{ALGS}"')
    answer = stack.gate("/api/things", "not-a-token")
    refused(answer, 401, INVALID_TOKEN, f'Bearer error="invalid_token", resource_metadata="{resource}{PATH}"')


# /protected keeps the seed's challenges --------------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "off", "configured"])
def test_protected_challenges_are_the_seeds(world, name):
    stack = world.stack(name, {"default": None, "off": {"AUTH_DPOP": "off"}, "configured": CONFIGURED}[name])
    for headers in ({}, {"Authorization": "Basic YWJkdWxsYWg6eA=="}, {"Authorization": "Bearer"}):
        refused(stack.get("/protected", headers=headers), 401, NOT_AUTHENTICATED, "Bearer")
    if name != "configured":  # AUTH_DPOP=required answers a Bearer token with its own challenge
        for token in ("not-a-token", expired(world)):
            refused(stack.get("/protected", headers={"Authorization": f"Bearer {token}"}), 401, INVALID_TOKEN,
                    'Bearer error="invalid_token"')
