"""Hostile FastCGI byte streams sent straight to the responder's socket (no nginx in front):
whatever reaches the socket must not stop the process or a worker thread.

libfcgi trusts its peer; the responder checks each request's records before libfcgi reads them
(Sources/FCGIApp/FastCGI/FastCGIRecordGuard.swift). Fuzz/regressions/ holds the inputs the
`fastcgi` fuzz target found."""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path

import pytest

from harness import REPO_ROOT, fastcgi_client
from harness.fastcgi_client import BEGIN_REQUEST, PARAMS, STDIN, _pairs, _record
from harness.load import all_workers_serve

REGRESSIONS = REPO_ROOT / "Fuzz" / "regressions"
WORKERS = 3
BEGIN = _record(BEGIN_REQUEST, struct.pack(">HB5x", 1, 0))
BEGIN_KEEP = _record(BEGIN_REQUEST, struct.pack(">HB5x", 1, 1))
ROOT = {"REQUEST_METHOD": "GET", "DOCUMENT_URI": "/", "REQUEST_URI": "/", "CONTENT_LENGTH": "0"}


def huge_length_pair() -> bytes:
    """A PARAMS entry announcing a 1.8 GB value: what made libfcgi abort the process."""
    return b"\x0e" + struct.pack(">I", 0xEDEDEDED) + b"CONTENT_LENGTH" + b"4"


def complete(params: dict[str, str] = ROOT, begin: bytes = BEGIN) -> bytes:
    return begin + _record(PARAMS, _pairs(params)) + _record(PARAMS, b"") + _record(STDIN, b"")


HOSTILE = {
    "params-huge-value-length": BEGIN + _record(PARAMS, huge_length_pair()) + _record(PARAMS, b"") + _record(STDIN, b""),
    "params-huge-name-length": BEGIN + _record(PARAMS, struct.pack(">I", 0xFFFFFFFF) + b"\x01AB")
    + _record(PARAMS, b"") + _record(STDIN, b""),
    "params-length-past-the-stream": BEGIN + _record(PARAMS, b"\x7f\x01AB") + _record(PARAMS, b""),
    "params-four-byte-length-cut": BEGIN + _record(PARAMS, b"\x80\x00") + _record(PARAMS, b""),
    "wrong-version": b"\x02" + BEGIN[1:] + _record(PARAMS, b"") + _record(STDIN, b""),
    "stdin-before-begin": _record(STDIN, b"hello") + complete(),
    "stdin-before-params-end": BEGIN + _record(STDIN, b"x") + _record(PARAMS, b""),
    "begin-request-too-short": _record(BEGIN_REQUEST, b"\x00\x01\x00\x00") + _record(PARAMS, b""),
    "garbage": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "keep-conn-then-huge-length": complete(begin=BEGIN_KEEP)
    + BEGIN + _record(PARAMS, huge_length_pair()) + _record(PARAMS, b""),
}


def send_and_read(path: Path, data: bytes, timeout: float = 10) -> bytes:
    """Writes `data`, half-closes, and reads until the responder closes the connection."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        connection.connect(str(path))
        try:
            connection.sendall(data)
            connection.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        received = b""
        while True:
            try:
                chunk = connection.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    return received


@pytest.fixture(scope="module")
def stack(tmp_path_factory, tls_dir):
    from harness.stack import Stack
    with Stack(tmp_path_factory.mktemp("fcgi-stream"), tls_dir, env={
        "KEYCLOAK_ISSUER": "http://127.0.0.1:9/realms/none", "KEYCLOAK_CLIENT_ID": "c",
        "KEYCLOAK_CLIENT_SECRET": "s", "FCGI_WORKERS": str(WORKERS),
    }, wait_for_keys=False) as running:
        yield running


def test_the_fuzz_regression_inputs_exist():
    assert sorted(path.name for path in REGRESSIONS.iterdir()) == ["fastcgi-params-huge-length"]


@pytest.mark.parametrize("name", sorted(path.name for path in REGRESSIONS.iterdir()))
def test_fuzz_regression_inputs_leave_the_responder_serving(stack, name):
    send_and_read(stack.socket_path, (REGRESSIONS / name).read_bytes())
    assert stack.responder.poll() is None, stack.responder_log()[-2000:]
    assert fastcgi_client.get(str(stack.socket_path), "/")[0] == 200
    all_workers_serve(stack, WORKERS)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_malformed_streams_are_closed_and_every_worker_keeps_serving(stack, name):
    answer = send_and_read(stack.socket_path, HOSTILE[name])
    assert stack.responder.poll() is None, stack.responder_log()[-2000:]
    if name == "keep-conn-then-huge-length":
        # The first, well-formed request on the kept connection is answered; then the
        # connection is closed without an answer to the hostile second one.
        assert answer.count(b"Status: 200") == 1 and answer.count(struct.pack(">BB", 1, 3)) == 1, answer[:200]
    else:
        assert b"Status:" not in answer, answer[:200]
    all_workers_serve(stack, WORKERS)
    stack.wait_until(lambda: "closing a FastCGI connection with a malformed request" in stack.responder_log(),
                     "the malformed stream to be logged", timeout=10)


def read_until_end_request(connection: socket.socket) -> bytes:
    received = b""
    while not received.endswith(END_REQUEST_TAIL):
        chunk = connection.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


END_REQUEST_TAIL = struct.pack(">BBHHBx", 1, 3, 1, 8, 0) + b"\x00" * 8  # END_REQUEST, status 0


def test_kept_connections_carry_several_well_formed_requests(stack):
    """The guard sees each request on a kept connection, not only the first. Like nginx, the
    client sends the next request once the previous answer has ended (libfcgi drops bytes it
    read ahead when a request finishes, so pipelined requests are not served; nginx never
    pipelines FastCGI requests)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(10)
        connection.connect(str(stack.socket_path))
        for _ in range(3):
            connection.sendall(complete(begin=BEGIN_KEEP))
            answer = read_until_end_request(connection)
            assert b"Status: 200" in answer and answer.endswith(END_REQUEST_TAIL), answer[:200]
        connection.sendall(complete())
        answer = read_until_end_request(connection)
        assert b"Status: 200" in answer
        assert connection.recv(10) == b""  # without FCGI_KEEP_CONN the responder closes


def test_requests_that_arrive_in_pieces_are_served(stack):
    """nginx writes the records as they come; the guard waits for the whole request start."""
    data = complete({**ROOT, "HTTP_X_PADDING": "p" * 20000})
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(10)
        connection.connect(str(stack.socket_path))
        for offset in range(0, len(data), 997):
            connection.sendall(data[offset:offset + 997])
            time.sleep(0.002)
        received = b""
        while chunk := connection.recv(65536):  # without FCGI_KEEP_CONN the responder closes
            received += chunk
    assert b"Status: 200" in received, received[:200]


def test_a_stalled_request_start_is_dropped_after_the_completion_timeout(stack):
    """A peer that sends half a request start and stops holds a worker for at most ~5 s."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(15)
        connection.connect(str(stack.socket_path))
        connection.sendall(BEGIN + _record(PARAMS, _pairs(ROOT)))  # no empty PARAMS record
        started = time.monotonic()
        try:
            assert connection.recv(100) == b""
        except ConnectionResetError:
            pass  # closed with the stalled bytes unread: the kernel answers with a reset
        waited = time.monotonic() - started
    assert 3 < waited < 10, waited
    all_workers_serve(stack, WORKERS)


def open_connection(path: Path, data: bytes = b"") -> socket.socket:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.settimeout(10)
    connection.connect(str(path))
    if data:
        connection.sendall(data)
    return connection


def test_idle_and_half_sent_connections_hold_no_worker(stack):
    """Four times as many connections as workers, half idle, half with a partial request start,
    wait in the epoll set: a complete request is answered at once. (With a thread per
    connection each of them held a worker, and the request waited in the backlog.)"""
    held = [open_connection(stack.socket_path, BEGIN + _record(PARAMS, _pairs(ROOT)) if index % 2 else b"")
            for index in range(4 * WORKERS)]
    try:
        time.sleep(0.3)
        started = time.monotonic()
        status, _, body = fastcgi_client.request(str(stack.socket_path), ROOT, timeout=3)
        assert status == 200, body
        assert time.monotonic() - started < 1.5
    finally:
        for connection in held:
            connection.close()


def test_a_body_that_stops_arriving_ends_its_request_within_the_socket_timeout(stack):
    """A complete request start announcing a body that never comes holds its worker inside
    libfcgi's read for at most the 5 s socket timeout; the connection is then closed."""
    params = {"REQUEST_METHOD": "POST", "DOCUMENT_URI": "/login", "REQUEST_URI": "/login",
              "CONTENT_TYPE": "application/x-www-form-urlencoded", "CONTENT_LENGTH": "64"}
    with open_connection(stack.socket_path, BEGIN + _record(PARAMS, _pairs(params)) + _record(PARAMS, b"")) as connection:
        connection.settimeout(15)
        started = time.monotonic()
        try:
            while connection.recv(65536):
                pass
        except ConnectionResetError:
            pass
        waited = time.monotonic() - started
    assert 3 < waited < 10, waited
    all_workers_serve(stack, WORKERS)


def test_at_the_connection_bound_new_connections_wait_until_one_closes(tmp_path_factory, tls_dir):
    """FCGI_MAX_CONNECTIONS open connections: the next one waits in the listen backlog (its
    request is not answered) with a warning, and is served once the others close."""
    from harness.stack import Stack
    bound = 8
    with Stack(tmp_path_factory.mktemp("fcgi-bound"), tls_dir, env={
        "KEYCLOAK_ISSUER": "http://127.0.0.1:9/realms/none", "KEYCLOAK_CLIENT_ID": "c",
        "KEYCLOAK_CLIENT_SECRET": "s", "FCGI_WORKERS": "2", "FCGI_MAX_CONNECTIONS": str(bound),
    }, wait_for_keys=False) as running:
        idle = [open_connection(running.socket_path) for _ in range(bound)]
        late = None
        try:
            running.wait_until(lambda: "FastCGI connection limit reached" in running.responder_log(),
                               "the connection limit to be logged", timeout=10)
            late = open_connection(running.socket_path, complete())
            late.settimeout(1.5)
            with pytest.raises(socket.timeout):
                late.recv(100)
            for connection in idle:
                connection.close()
            idle = []
            late.settimeout(10)
            answer = b""
            while chunk := late.recv(65536):
                answer += chunk
            assert b"Status: 200" in answer, answer[:200]
            assert "FastCGI connections below the limit again: accepting" in running.responder_log()
            assert fastcgi_client.get(str(running.socket_path), "/")[0] == 200
        finally:
            for connection in idle + ([late] if late else []):
                connection.close()


def test_sigterm_closes_idle_kept_connections_and_exits(tmp_path_factory, tls_dir):
    """Idle kept connections (after a request with FCGI_KEEP_CONN) and never-used ones do not
    keep the responder from stopping: SIGTERM closes them and it exits 0 at once."""
    from harness.stack import Stack
    with Stack(tmp_path_factory.mktemp("fcgi-sigterm"), tls_dir, env={
        "KEYCLOAK_ISSUER": "http://127.0.0.1:9/realms/none", "KEYCLOAK_CLIENT_ID": "c",
        "KEYCLOAK_CLIENT_SECRET": "s", "FCGI_WORKERS": "2",
    }, wait_for_keys=False) as running:
        kept = []
        for _ in range(6):
            connection = open_connection(running.socket_path, complete(begin=BEGIN_KEEP))
            assert b"Status: 200" in read_until_end_request(connection)
            kept.append(connection)
        kept += [open_connection(running.socket_path) for _ in range(6)]
        try:
            started = time.monotonic()
            assert running.stop_responder(timeout=10) == 0, running.responder_log()[-2000:]
            assert time.monotonic() - started < 3
            for connection in kept:
                connection.settimeout(2)
                assert connection.recv(10) == b""
        finally:
            for connection in kept:
                connection.close()
