"""Hostile input through the whole stack: an attack table of forged and malformed tokens and
Authorization headers, sent byte for byte (a raw HTTP/1.1 client over TLS, so nothing is
normalised on the way) through real nginx to the release binary.

Every row of ``ATTACKS`` must be answered 401 with a JSON body, exactly one of

* ``INVALID``: ``{"detail":"Could not validate credentials"}`` +
  ``WWW-Authenticate: Bearer error="invalid_token"`` (a token was presented and refused), or
* ``UNAUTHENTICATED``: ``{"detail":"Not authenticated"}`` + ``WWW-Authenticate: Bearer`` (no
  usable Bearer credentials at all: no header, another scheme, empty credentials),

in jwks mode (local verification) and, where the row is meaningful there, in introspect and
userinfo modes (where the provider decides about well-formed tokens). Rows are run against an
RS256 provider, the ES256 rows against an ES256 provider. In jwks mode the same row is also sent
to ``GET /auth`` (the ``auth_request`` gate), which must answer the same.

Requests that HTTP itself forbids (raw NUL/CR in a header, obs-fold, two Authorization
headers, headers beyond nginx's buffers) never reach the responder: nginx must refuse them
with a JSON 4xx (``test_nginx_refuses_what_http_forbids_with_json``).

After the table every responder must still be running, answer ``GET /`` and a valid token with
200, and its log must show no crash and no line forged by attacker text (a ``kid`` or ``alg``
with a newline); nginx must have passed every header to the responder (FastCGI records hold
64 KiB). Also here: ``jku``/``x5u``/``jwk`` are never fetched or used, and large tokens over
HTTP/2. Hostile multipart bodies on the form endpoints are security/test_hostile_forms.py's.

The table, its attacker and the raw client are harness/attacks.py; this file runs them. The
checks after the table belong here, in the same module: they look at the stacks the table and
the HTTP edge cases above them used.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from harness.attacks import ATTACKS, CASES, EXPECTED, FORGED_PREFIX, INVALID, MODES, Context, World
from harness.attacks import assert_refused, attacker_signed, authorization_lines, curl_http2, raw_request
from harness.stack import SessionRecord


def test_the_table_is_large_and_ids_are_unique():
    assert len(ATTACKS) >= 40
    assert len({attack.id for attack in ATTACKS}) == len(ATTACKS)
    assert all(attack.expect in EXPECTED for attack in ATTACKS)


# The table -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory, tls_dir):
    world = World(tmp_path_factory, tls_dir)
    yield world
    world.close()


@pytest.mark.parametrize("attack,mode", CASES)
def test_attack_is_refused_with_a_json_401(world, attack, mode):
    stack = world.stack(attack.provider, mode)
    value = world.authorization(attack)
    answer = raw_request(stack, "/protected", authorization_lines(value))
    assert_refused(answer, attack.expect, f"{attack.id} ({attack.why or 'no note'}) GET /protected in {mode} mode")
    if mode == "jwks":
        # The auth_request gate judges tokens exactly like /protected.
        gate = raw_request(stack, "/auth", authorization_lines(value))
        assert_refused(gate, attack.expect, f"{attack.id} GET /auth in {mode} mode",
                       gate_origin=f"https://localhost:{stack.https_port}")
    assert stack.responder.poll() is None, f"responder exited after {attack.id}:\n{stack.responder_log()[-3000:]}"


# What HTTP forbids: refused by nginx before the responder, still JSON and never 5xx -----------


#: (id, header lines built from a valid token, the statuses allowed). Malformed requests are a 400;
#: headers beyond nginx's buffers may be a 400 or a 431 (Request Header Fields Too Large).
EDGE_CASES = [
    ("raw-nul-in-authorization", lambda tok: [b"Authorization: Bearer " + tok[:20] + b"\x00" + tok[20:]], {400}),
    ("raw-cr-in-authorization", lambda tok: [b"Authorization: Bearer " + tok[:20] + b"\r" + tok[20:]], {400}),
    ("obs-fold-continuation", lambda tok: [b"Authorization: Bearer", b" " + tok], {400}),
    ("doubled-authorization-valid-then-junk", lambda tok: [b"Authorization: Bearer " + tok, b"Authorization: Bearer junk"],
     {400}),
    ("doubled-authorization-junk-then-valid", lambda tok: [b"Authorization: Bearer junk", b"Authorization: Bearer " + tok],
     {400}),
    ("doubled-authorization-both-valid", lambda tok: [b"Authorization: Bearer " + tok] * 2, {400}),
    ("authorization-100KiB", lambda tok: [b"Authorization: Bearer " + b"a" * 100 * 1024], {400, 431}),
    ("two-thousand-headers", lambda tok: [b"X-Filler-%d: x" % index for index in range(2000)], {400, 431}),
]


@pytest.mark.parametrize("case", [pytest.param(case, id=case[0]) for case in EDGE_CASES])
def test_nginx_refuses_what_http_forbids_with_json(world, case):
    name, lines, statuses = case
    stack = world.stack("rs", "jwks")
    token = world.idp("rs").mint()
    SessionRecord.remember(token)
    answer = raw_request(stack, "/protected", lines(token.encode()))
    # A request HTTP does not allow is refused by nginx: it must still be the API's JSON, never
    # an HTML page and never a 5xx, and it must not be half-accepted (no 200 for the first of
    # two Authorization headers).
    assert answer.status in statuses, f"{name}: {answer}"
    assert answer.header("content-type") == "application/json", f"{name}: {answer}"
    detail = json.loads(answer.body)["detail"]
    assert isinstance(detail, str) and detail, f"{name}: {answer}"
    if answer.status == 400:
        assert detail == "Bad Request", f"{name}: {answer}"


def test_doubled_authorization_over_http2_is_refused_with_json(world):
    stack = world.stack("rs", "jwks")
    token = world.idp("rs").mint()
    SessionRecord.remember(token)
    for headers in ([f"Authorization: Bearer {token}", "Authorization: Bearer junk"],
                    ["Authorization: Bearer junk", f"Authorization: Bearer {token}"]):
        status, body, head = curl_http2(stack, headers)
        assert status == 400 and json.loads(body) == {"detail": "Bad Request"}, (status, body)
        assert "content-type: application/json" in head


# Over HTTP/2 the client is the limit: curl's nghttp2 refuses to send a header block over
# 64 KiB (NGHTTP2_DEFAULT_MAX_SEND_HEADER_BLOCK_LENGTH), so a 64 KiB token cannot leave it
# ("Connection died" before anything reaches nginx). 65,000 bytes is as large as it sends; the
# attack table covers the 64 KiB token over HTTP/1.1.
@pytest.mark.parametrize("size", [60_000, 65_000])
def test_large_tokens_over_http2_get_the_json_401(world, size):
    status, body, head = curl_http2(world.stack("rs", "jwks"), ["Authorization: Bearer " + "a" * size])
    assert (status, body) == (401, INVALID[0].decode()), (status, body[:200])
    assert 'www-authenticate: bearer error="invalid_token"' in head


# Key URLs in tokens are never fetched ------------------------------------------------------


class CountingListener:
    """A TCP listener on loopback that counts connections (and answers nothing)."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.connections = 0
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while self.running:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                continue
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self.running = False
        self.thread.join(5)
        self.socket.close()


def test_jku_x5u_and_embedded_keys_are_never_used(world):
    stack = world.stack("rs", "jwks")
    idp = world.idp("rs")
    ctx = Context(world, idp)
    listener = CountingListener()
    try:
        url = f"http://127.0.0.1:{listener.port}/jwks.json"
        forged = [attacker_signed(ctx, {"jku": url}), attacker_signed(ctx, {"kid": "attacker", "jku": url}),
                  attacker_signed(ctx, {"x5u": url}), attacker_signed(ctx, {"kid": "attacker", "x5u": url})]
        for token in forged:
            assert_refused(raw_request(stack, "/protected", authorization_lines(ctx.bearer(token).encode())),
                           "invalid", "jku/x5u forgery")
        # The provider's own token with such headers verifies with the provider's key and
        # ignores them: nothing is fetched either way.
        for extra in ({"jku": url}, {"x5u": url}, {"jwk": world.attacker.rsa_jwk}):
            token = ctx.mint(header=extra)
            assert stack.protected(token).status_code == 200
        time.sleep(0.5)
        assert listener.connections == 0
    finally:
        listener.close()


# Afterwards ------------------------------------------------------------------------------------


CRASH_MARKERS = ("Program crashed", "crashed:", "Fatal error", "fatalError", "Segmentation fault", "Illegal instruction", "Stack dump",
                 "Current stack trace", "Aborted", "SIGSEGV", "SIGILL", "SIGABRT", "stack overflow")


def ensure_default_stacks(world) -> None:
    """The six stacks of the table, even when only part of it ran (-k)."""
    for provider in ("rs", "es"):
        for mode in MODES:
            world.stack(provider, mode)


def test_every_stack_still_answers_and_nothing_crashed(world):
    ensure_default_stacks(world)
    for (provider, mode), stack in world.stacks.items():
        where = f"{provider}/{mode}"
        assert stack.responder.poll() is None, f"{where}: responder exited\n{stack.responder_log()[-3000:]}"
        home = stack.get("/")
        assert home.status_code == 200, f"{where}: {home.status_code} {home.text}"
        token = world.idp(provider).mint()
        SessionRecord.remember(token)
        protected = stack.protected(token)
        assert protected.status_code == 200, f"{where}: {protected.status_code} {protected.text}"
        assert protected.json()["preferred_username"] == "abdullah"
        log = stack.responder_log()
        for marker in CRASH_MARKERS:
            assert marker not in log, f"{where}: {marker!r} in the responder log"
        errors = (stack.workdir / "nginx-error.log").read_text("utf-8", errors="replace")
        assert "upstream prematurely closed" not in errors, f"{where}: {errors[-2000:]}"


def test_attacker_text_never_forges_a_log_line(world):
    # The kid-log-injection and alg-log-injection rows put a newline and a fake log line into
    # the header; the responder quotes kid/alg in auth.error. A log line that starts with the
    # fake timestamp was written by the attacker.
    for attack_id in ("kid-log-injection", "alg-log-injection"):
        attack = next(attack for attack in ATTACKS if attack.id == attack_id)
        for mode in attack.modes:
            raw_request(world.stack(attack.provider, mode), "/protected", authorization_lines(world.authorization(attack)))
    for (provider, mode), stack in world.stacks.items():
        forged = [line for line in stack.responder_log().splitlines() if line.startswith(FORGED_PREFIX)]
        assert not forged, f"{provider}/{mode}: a token's header forged log lines: {forged}"


def test_nginx_could_pass_every_header_to_the_responder(world):
    # FastCGI records hold at most 65535 bytes: nginx answers 500 when the request's parameters
    # do not fit, instead of letting the responder (or itself) answer 401.
    ensure_default_stacks(world)
    for (provider, mode), stack in world.stacks.items():
        errors = (stack.workdir / "nginx-error.log").read_text("utf-8", errors="replace")
        too_big = [line for line in errors.splitlines() if "fastcgi request record is too big" in line]
        assert not too_big, f"{provider}/{mode}: {too_big[:3]}"
