"""Load and process probes for the fault tests (faults/): client threads that send requests back
to back and record every answer (`Load`, `Outcome`), the calls they make, summaries for failure
messages, the provider faults' expected statuses, and probes of the responder process (open
descriptors, VmRSS, "every worker thread serves").

What the tests assert on is statuses and counts, not speed: the only time bounds are where the
behaviour itself is a timeout or a refused connection.
"""

from __future__ import annotations

import concurrent.futures
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import requests

from . import fastcgi_client
from .stack import SessionRecord, Stack

#: KEYCLOAK_TIMEOUT_SECONDS for these tests: small, so that a hanging provider costs little.
PROVIDER_TIMEOUT = 2.0
#: The status each provider fault must produce where the provider is needed (docs/design.md:
#: 503 unreachable or timed out, 502 answered wrongly).
FAULT_STATUS = {"hang": 503, "html": 502, "truncated": 502, "status500": 502, "huge": 502}
FAULTS = tuple(FAULT_STATUS)
NGINX_502 = b'{"detail":"Service temporarily unavailable"}'
#: Provider timeouts for the stacks of these tests.
FAST_TIMEOUTS = {"KEYCLOAK_TIMEOUT_SECONDS": str(PROVIDER_TIMEOUT), "KEYCLOAK_CONNECT_TIMEOUT_SECONDS": "1"}


# Load ---------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One request of the load: when it started and ended (monotonic), its status (0: the
    client saw no HTTP answer at all) and what the caller labelled it with."""

    name: str
    started: float
    ended: float
    status: int
    label: str = ""
    body: bytes = b""
    content_type: str = ""
    error: str = ""

    @property
    def elapsed(self) -> float:
        return self.ended - self.started


#: A load call: gets the thread's session, answers (response, label).
Call = Callable[[requests.Session], "tuple[requests.Response, str]"]


class Load:
    """Threads that send requests back to back until stopped, recording every outcome."""

    def __init__(self, ca_file: str):
        self.ca_file = ca_file
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def add(self, name: str, threads: int, call: Call) -> None:
        for _ in range(threads):
            thread = threading.Thread(target=self._run, args=(name, call), daemon=True)
            self._threads.append(thread)

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> list[Outcome]:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in self._threads), "a load thread did not finish"
        return self.snapshot()

    def snapshot(self) -> list[Outcome]:
        with self._lock:
            return list(self.outcomes)

    def _run(self, name: str, call: Call) -> None:
        session = requests.Session()
        session.trust_env = False
        session.verify = self.ca_file
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                answer, label = call(session)
                outcome = Outcome(name, started, time.monotonic(), answer.status_code, label, answer.content[:512],
                                  answer.headers.get("Content-Type", ""))
            except Exception as error:  # noqa: BLE001 - a failed request is an outcome to assert on
                outcome = Outcome(name, started, time.monotonic(), 0, error=f"{type(error).__name__}: {error}")
            with self._lock:
                self.outcomes.append(outcome)
        session.close()


def protected_call(stack: Stack, token: str, label: str = "") -> Call:
    headers = {"Authorization": f"Bearer {token}"}
    return lambda session: (session.get(stack.url("/protected"), headers=headers, timeout=60), label)


def remember_a_few(answer: requests.Response, remembered: list[int], limit: int = 10) -> None:
    """Hands the first few tokens of a load to the final no-secrets-in-logs check: enough to
    catch a token in a log line, without thousands of tokens each searched in every log."""
    if answer.status_code == 200 and remembered[0] < limit:
        remembered[0] += 1
        SessionRecord.remember(answer.json().get("access_token"), answer.json().get("refresh_token"))


def login_call(stack: Stack) -> Call:
    form = {"username": "abdullah", "password": "Test#123456"}
    remembered = [0]

    def call(session: requests.Session):
        answer = session.post(stack.url("/login"), data=form, timeout=60)
        remember_a_few(answer, remembered)
        return answer, ""
    return call


def tally(outcomes: list[Outcome]) -> dict[str, dict[int, int]]:
    """{name: {status: count}} for failure messages."""
    counts: dict[str, dict[int, int]] = {}
    for outcome in outcomes:
        per_name = counts.setdefault(outcome.name, {})
        per_name[outcome.status] = per_name.get(outcome.status, 0) + 1
    return counts


def describe(outcomes: list[Outcome], limit: int = 8) -> str:
    return "\n".join(f"  {o.name} {o.label} status={o.status} elapsed={o.elapsed:.2f}s {o.error} {o.body[:120]!r}"
                     for o in outcomes[:limit])


# Process probes -----------------------------------------------------------------------------


def resident_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def open_fds(pid: int) -> dict[str, int]:
    """Open descriptors of a process by kind: socket, pipe, anon_inode, file."""
    kinds: dict[str, int] = {}
    for entry in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(entry)
        except OSError:
            continue  # closed while listing
        kind = target.split(":", 1)[0] if target.startswith(("socket:", "pipe:", "anon_inode:")) else "file"
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def all_workers_serve(stack: Stack, workers: int, socket_path: Path | None = None) -> None:
    """Proves that all `workers` threads are alive and free: `workers - 1` requests are sent
    straight to the responder's socket with a complete request start announcing a body that
    never comes, so each holds one worker inside libfcgi's body read (for up to the 5 s
    socket timeout); then one complete request must be answered within 3 s, which needs the
    last worker. Were a worker stuck or gone, that request would wait for a held one to time
    out. (Idle or half-sent connections hold no worker since the epoll dispatcher, so they
    cannot be used for this.)"""
    path = str(socket_path or stack.socket_path)
    held: list[socket.socket] = []
    stalled_body = {"REQUEST_METHOD": "POST", "DOCUMENT_URI": "/login", "REQUEST_URI": "/login",
                    "CONTENT_TYPE": "application/x-www-form-urlencoded", "CONTENT_LENGTH": "64"}
    try:
        for _ in range(workers - 1):
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.connect(path)
            connection.sendall(fastcgi_client._record(fastcgi_client.BEGIN_REQUEST, b"\x00\x01\x00\x00\x00\x00\x00\x00")
                               + fastcgi_client._record(fastcgi_client.PARAMS, fastcgi_client._pairs(stalled_body))
                               + fastcgi_client._record(fastcgi_client.PARAMS, b""))
            held.append(connection)
        time.sleep(0.3)  # let the workers take them
        status, _, body = fastcgi_client.request(
            path, {"REQUEST_METHOD": "GET", "DOCUMENT_URI": "/", "REQUEST_URI": "/"}, timeout=3)
        assert status == 200, body
    finally:
        for connection in held:
            connection.close()


def concurrent_burst(stack: Stack, count: int, token: str) -> list[int]:
    """`count` concurrent GET /protected through nginx; answers their statuses."""
    def one(_):
        with requests.Session() as session:
            session.trust_env = False
            session.verify = stack.session.verify
            return session.get(stack.url("/protected"), headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code
    with concurrent.futures.ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def nginx_errors(stack: Stack, limit: int = 6) -> str:
    """nginx's error log without the repeated "no live upstreams" lines, for failure messages."""
    lines = (stack.workdir / "nginx-error.log").read_text("utf-8", errors="replace").splitlines()
    interesting = [line[:330] for line in lines if "no live upstreams" not in line]
    return (f"nginx error log ({len(lines)} lines, {len(lines) - len(interesting)} 'no live upstreams'):\n"
            + "\n".join(interesting[:limit]))
