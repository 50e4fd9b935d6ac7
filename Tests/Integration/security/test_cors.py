"""CORS for browser callers of the API, through real nginx (docs/cors-and-mtls.md): the allow-list
CORS_ALLOWED_ORIGINS rendered into the template's maps, preflights answered by nginx without the
responder or the identity provider, and the CORS headers on every answer to a listed origin (the
responder's 200/401/403/503 and nginx's own 401/405/413/429), none for any other origin, never
a wildcard. The same for the auth_request gate example. With the list empty nothing changes.
"""

from __future__ import annotations

import pytest

from harness.gate import GateStack
from harness.idp_fixture import IdentityProvider
from harness.sample_upstream import SampleUpstream
from harness.stack import SessionRecord, Stack, render_cors

LISTED = "https://app.example"
ALSO_LISTED = "http://localhost:3000"
ORIGINS = f"{LISTED} {ALSO_LISTED}"
ALICE = ("alice", "p&ss+w%rd é#1")  # has the realm role `admin`; abdullah has not

#: What every answer to a listed origin carries.
CORS_HEADERS = {
    "Access-Control-Allow-Credentials": "true",
    "Access-Control-Expose-Headers": "WWW-Authenticate, DPoP-Nonce, Retry-After",
    "Vary": "Origin",
}
#: What a preflight's 204 adds.
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "GET, HEAD, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, DPoP, Content-Type, traceparent, tracestate",
    "Access-Control-Max-Age": "600",
}
#: Origins that are not on the list, some of them close to a listed one.
UNLISTED = ["https://evil.example", "https://app.example.evil.example", "https://app.example:8443",
            "http://app.example", "https://app.example/", "https://evil.example/https://app.example", "null", "*"]
NOT_ALLOWED = b'{"detail":"Origin not allowed"}'


def cors_headers(answer) -> dict[str, str]:
    """The answer's CORS headers (and Vary), each name with all its values joined."""
    return {name: value for name, value in answer.headers.items()
            if name.lower().startswith("access-control-") or name.lower() == "vary"}


def assert_cors_for(answer, origin: str) -> None:
    """The answer lets `origin`'s page read it, with credentials: exactly one Allow-Origin, the
    listed origin itself, never `*`."""
    assert answer.raw.headers.getlist("Access-Control-Allow-Origin") == [origin], cors_headers(answer)
    assert cors_headers(answer) == {"Access-Control-Allow-Origin": origin, **CORS_HEADERS}


def assert_no_cors(answer) -> None:
    assert cors_headers(answer) == {}, cors_headers(answer)


def preflight(send, path: str, origin: str | None, method: str = "GET", headers: str | None = "authorization"):
    request_headers = {"Access-Control-Request-Method": method}
    if origin is not None:
        request_headers["Origin"] = origin
    if headers is not None:
        request_headers["Access-Control-Request-Headers"] = headers
    return send("OPTIONS", path, headers=request_headers)


@pytest.fixture(scope="module")
def idp():
    with IdentityProvider() as provider:
        yield provider


@pytest.fixture(scope="module")
def stack(idp, tmp_path_factory, tls_dir):
    """CORS for two origins; /protected requires the realm role `admin` (a 403 for abdullah);
    a small body limit for nginx's own 413."""
    with Stack(tmp_path_factory.mktemp("cors"), tls_dir, idp=idp, cors_origins=ORIGINS, max_body="1k",
               env={"AUTH_REQUIRED_ROLES": "admin"}) as started:
        yield started


def send(stack: Stack):
    return lambda method, path, **kwargs: stack.session.request(method, stack.url(path), timeout=30, **kwargs)


# --- Preflights ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/protected", "/login", "/refresh", "/auth", "/", "/no/such/path"])
@pytest.mark.parametrize("origin", [LISTED, ALSO_LISTED])
def test_a_listed_origins_preflight_is_answered_by_nginx_alone(stack, idp, path, origin):
    idp.reset_stats()
    log_before = stack.responder_log()
    answer = preflight(send(stack), path, origin, method="POST", headers="authorization, dpop, content-type")
    assert answer.status_code == 204, answer.text
    assert answer.content == b""
    assert cors_headers(answer) == {"Access-Control-Allow-Origin": origin, **CORS_HEADERS, **PREFLIGHT_HEADERS}
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=")  # the server's headers too
    assert stack.responder_log() == log_before, "the preflight reached the responder"
    assert set(idp.stats().values()) == {0}, idp.stats()


@pytest.mark.parametrize("origin", UNLISTED + [None])
def test_any_other_preflight_is_403_without_cors_headers(stack, idp, origin):
    idp.reset_stats()
    log_before = stack.responder_log()
    answer = preflight(send(stack), "/protected", origin)
    assert answer.status_code == 403
    assert answer.content == NOT_ALLOWED
    assert answer.headers["Content-Type"] == "application/json"
    assert_no_cors(answer)
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert stack.responder_log() == log_before
    assert set(idp.stats().values()) == {0}


def test_an_options_that_is_no_preflight_still_reaches_the_responder(stack):
    """Without Access-Control-Request-Method an OPTIONS is an ordinary request: the responder's
    405, with the CORS headers for a listed origin like any other answer."""
    answer = stack.session.options(stack.url("/protected"), headers={"Origin": LISTED}, timeout=30)
    assert answer.status_code == 405 and answer.headers["Allow"] == "GET, HEAD"
    assert_cors_for(answer, LISTED)


# --- Every answer to a listed origin -----------------------------------------------------------------


def test_the_responders_401s_carry_cors_headers(stack):
    missing = stack.get("/protected", headers={"Origin": LISTED})
    assert (missing.status_code, missing.headers["WWW-Authenticate"]) == (401, "Bearer")
    assert_cors_for(missing, LISTED)
    bad = stack.get("/protected", headers={"Origin": ALSO_LISTED, "Authorization": "Bearer not.a.token"})
    assert (bad.status_code, bad.headers["WWW-Authenticate"]) == (401, 'Bearer error="invalid_token"')
    assert_cors_for(bad, ALSO_LISTED)
    auth = stack.get("/auth", headers={"Origin": LISTED})
    assert auth.status_code == 401
    assert_cors_for(auth, LISTED)


def test_the_responders_403_carries_cors_headers(stack):
    answer = stack.get("/protected", headers={"Origin": LISTED, "Authorization": f"Bearer {stack.token()}"})
    assert answer.status_code == 403 and answer.json() == {"detail": "Not enough permissions"}
    assert_cors_for(answer, LISTED)


def test_the_responders_successes_carry_cors_headers(stack):
    login = stack.session.post(stack.url("/login"), data={"username": ALICE[0], "password": ALICE[1]},
                               headers={"Origin": LISTED}, timeout=30)
    assert login.status_code == 200
    assert_cors_for(login, LISTED)
    SessionRecord.remember(ALICE[1], login.json()["access_token"], login.json()["refresh_token"])
    token = login.json()["access_token"]
    answer = stack.get("/protected", headers={"Origin": LISTED, "Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and answer.json()["preferred_username"] == "alice"
    assert_cors_for(answer, LISTED)
    assert_cors_for(stack.get("/", headers={"Origin": LISTED}), LISTED)


def test_nginx_s_own_errors_carry_cors_headers(stack):
    oversized = stack.get("/protected", headers={"Origin": LISTED, "Authorization": "Bearer " + "a" * 17000})
    assert oversized.status_code == 401 and oversized.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert_cors_for(oversized, LISTED)
    trace = stack.session.request("TRACE", stack.url("/protected"), headers={"Origin": LISTED}, timeout=30)
    assert trace.status_code == 405 and trace.headers["Allow"] == "GET, HEAD"
    assert_cors_for(trace, LISTED)
    too_large = stack.post("/login", headers={"Origin": LISTED}, data={"username": "x" * 4096, "password": "y"})
    assert too_large.status_code == 413 and too_large.content == b'{"detail":"Request body too large"}'
    assert_cors_for(too_large, LISTED)
    internal_only = stack.get("/metrics", headers={"Origin": LISTED})
    assert internal_only.status_code == 404
    assert_cors_for(internal_only, LISTED)


def test_the_rate_limits_429_carries_cors_headers(make_idp, make_stack):
    idp = make_idp()
    limited = make_stack(idp, cors_origins=ORIGINS, login_rate="1r/m", login_burst=1)
    idp.reset_stats()
    answers = [limited.session.post(limited.url("/login"), data={"username": "abdullah", "password": "wrong"},
                                    headers={"Origin": LISTED}, timeout=30) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [401, 401, 429]
    assert answers[2].content == b'{"detail":"Too many requests"}'
    for answer in answers:
        assert_cors_for(answer, LISTED)
    other = limited.session.post(limited.url("/login"), data={"username": "abdullah", "password": "wrong"},
                                 headers={"Origin": "https://evil.example"}, timeout=30)
    assert other.status_code == 429
    assert_no_cors(other)
    assert idp.stats()["token"] == 2


def test_the_responders_503_carries_cors_headers(make_stack):
    idp = IdentityProvider().start()
    try:
        stack = make_stack(idp, cors_origins=ORIGINS, env={"KEYCLOAK_CONNECT_TIMEOUT_SECONDS": "1"})
    finally:
        idp.stop()
    answer = stack.session.post(stack.url("/login"), data={"username": "abdullah", "password": "wrong"},
                                headers={"Origin": LISTED}, timeout=30)
    assert answer.status_code == 503 and answer.json() == {"detail": "Identity provider unavailable"}
    assert_cors_for(answer, LISTED)


# --- Any other origin --------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", UNLISTED)
def test_no_cors_headers_for_any_other_origin(stack, origin):
    assert_no_cors(stack.get("/protected", headers={"Origin": origin}))
    assert_no_cors(stack.get("/protected", headers={"Origin": origin, "Authorization": "Bearer not.a.token"}))
    assert_no_cors(stack.get("/", headers={"Origin": origin}))
    assert_no_cors(stack.session.request("TRACE", stack.url("/"), headers={"Origin": origin}, timeout=30))


def test_the_allow_origin_is_the_listed_string_never_the_header(stack):
    """nginx compares origins ignoring case; what it answers is the configured origin, so a
    header's own bytes never come back (and a browser, which sends lower case, sees its own)."""
    answer = stack.get("/", headers={"Origin": "HTTPS://APP.EXAMPLE"})
    assert answer.headers["Access-Control-Allow-Origin"] == LISTED


def test_no_origin_no_cors_headers(stack):
    assert_no_cors(stack.get("/protected"))
    assert_no_cors(stack.get("/"))


def test_a_wildcard_or_anything_but_an_exact_origin_is_refused_when_rendering():
    for value in ("*", "https://*.example", "https://app.example/", "https://APP.example", "null",
                  "https://app.example:443", "app.example", 'https://a.example" "x', "https://$host"):
        with pytest.raises(ValueError):
            render_cors(value)
    assert '"https://app.example" "https://app.example";' in render_cors("https://app.example")


# --- CORS off (the default) -------------------------------------------------------------------------


def test_an_empty_list_changes_nothing(idp, make_stack):
    stack = make_stack(idp)
    for origin in (LISTED, "https://evil.example"):
        answer = preflight(send(stack), "/protected", origin)
        assert answer.status_code == 405 and answer.headers["Allow"] == "GET, HEAD"  # the responder's, as before
        assert_no_cors(answer)
        assert_no_cors(stack.get("/protected", headers={"Origin": origin}))
        login = stack.post("/login", headers={"Origin": origin}, data={"username": "abdullah", "password": "wrong"})
        assert login.status_code == 401
        assert_no_cors(login)


# --- The auth_request gate -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gate(idp, tmp_path_factory, tls_dir):
    with SampleUpstream() as upstream:
        stack = GateStack(tmp_path_factory.mktemp("cors-gate"), tls_dir, idp=idp, upstream_address=upstream.address,
                          cors_origins=ORIGINS)
        stack.upstream = upstream
        stack.start()
        try:
            yield stack
        finally:
            stack.stop()


def gate_send(stack: GateStack):
    return lambda method, path, **kwargs: stack.session.request(method, stack.gate_url(path), timeout=30, **kwargs)


def test_the_gate_answers_preflights_itself(gate, idp):
    idp.reset_stats()
    hits, log_before = gate.upstream.hits, gate.responder_log()
    allowed = preflight(gate_send(gate), "/api/things", LISTED)
    assert allowed.status_code == 204
    assert cors_headers(allowed) == {"Access-Control-Allow-Origin": LISTED, **CORS_HEADERS, **PREFLIGHT_HEADERS}
    other = preflight(gate_send(gate), "/api/things", "https://evil.example")
    assert other.status_code == 403 and other.json() == {"detail": "Origin not allowed"}
    assert_no_cors(other)
    assert gate.upstream.hits == hits and gate.responder_log() == log_before
    assert set(idp.stats().values()) == {0}


def test_the_gates_answers_carry_cors_headers(gate):
    missing = gate.gate("/api/things", headers={"Origin": LISTED})
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer resource_metadata=")
    assert_cors_for(missing, LISTED)
    bad = gate.gate("/api/things", token="not.a.token", headers={"Origin": LISTED})
    assert bad.status_code == 401
    assert_cors_for(bad, LISTED)
    token = gate.token()
    forbidden = gate.gate("/admin/things", token=token, headers={"Origin": LISTED})
    assert forbidden.status_code == 403 and forbidden.json() == {"detail": "Not enough permissions"}
    assert_cors_for(forbidden, LISTED)
    allowed = gate.gate("/api/things", token=token, headers={"Origin": ALSO_LISTED})
    assert allowed.status_code == 200 and allowed.json()["path"] == "/api/things"
    assert_cors_for(allowed, ALSO_LISTED)
    for answer in (gate.gate("/api/things", headers={"Origin": "https://evil.example"}),
                   gate.gate("/api/things", token=token, headers={"Origin": "https://evil.example"})):
        assert_no_cors(answer)
