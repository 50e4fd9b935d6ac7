"""Faults and time, under concurrent load through the real nginx:

- every provider fault (hang past KEYCLOAK_TIMEOUT_SECONDS, HTML, truncated JSON, 500, a 5 MB
  body) on the token, certs and userinfo endpoints in turn: each route answers exactly its
  status (never 500), /protected with cached keys keeps answering 200, everything recovers when
  the fault is cleared, and afterwards every worker thread and every provider slot serves;
- key rotation (with and without dropping the old keys) while old and new tokens are in use;
- no fd or memory leak across thousands of faulty calls (fd count and VmRSS of the process);
- the responder SIGKILLed under load: nginx answers 502 in JSON at once, a supervisor restarts
  it, and it serves again;
- SIGTERM to one of two instances behind one upstream: no request of the load is lost;
- a logout the provider "answers" with an HTML page is not reported as done.

The load is Python threads (one `requests.Session` each) that record every answer: what is
asserted is statuses and counts, not speed. The only time bounds are where the behaviour itself
is a timeout (a hanging provider answers 503 within its timeout plus slack) or a connection
refusal (nginx's 502 while the responder is down).
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import requests

import fastcgi_client
from stack import SessionRecord, Stack

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
    """Proves that all `workers` threads are alive and free: `workers - 1` FastCGI connections
    are opened straight to the responder's socket and left half-sent (BEGIN_REQUEST only), each
    pinning one thread inside FCGX_Accept_r; then one complete request must still be answered,
    which needs the last thread. Were a thread stuck, that request would wait behind the held
    connections in the listen backlog and time out."""
    path = str(socket_path or stack.socket_path)
    held: list[socket.socket] = []
    try:
        for _ in range(workers - 1):
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.connect(path)
            connection.sendall(fastcgi_client._record(fastcgi_client.BEGIN_REQUEST,
                                                      b"\x00\x01\x00\x00\x00\x00\x00\x00"))
            held.append(connection)
        time.sleep(0.3)  # let the threads accept them (a kept nginx connection is released in 100 ms)
        status, _, body = fastcgi_client.request(
            path, {"REQUEST_METHOD": "GET", "DOCUMENT_URI": "/", "REQUEST_URI": "/"}, timeout=15)
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


# 1. Provider faults under load ---------------------------------------------------------------


@dataclass
class Phase:
    endpoint: str
    fault: str
    set_started: float
    set_done: float
    clear_started: float = 0.0
    clear_done: float = 0.0
    next_set: float = float("inf")
    probe: Outcome | None = None
    certs_calls: int = 0


def expected_status(stack_name: str, route: str, endpoint: str, fault: str) -> int:
    """What a route answers while `fault` is on `endpoint`."""
    if stack_name == "jwks" and route == "login" and endpoint == "token":
        return FAULT_STATUS[fault]
    if stack_name == "userinfo" and route == "protected" and endpoint == "userinfo":
        return FAULT_STATUS[fault]
    return 200  # the route does not call the faulty endpoint


def test_every_provider_fault_under_load(make_idp, make_stack):
    """A jwks-mode stack (GET /protected, POST /login) and a userinfo-mode stack (GET
    /protected) under load from 11 client threads, one provider for both. Each fault in turn on
    certs, token and userinfo, ~3 s (hang: 2 timeouts + 1.5 s), then 1 s of recovery:
    - requests entirely inside a fault answer exactly the route's status: /login 503 for a hang
      (within the timeout + 2 s), 502 for the others; userinfo-mode /protected the same for
      userinfo faults; 200 where the route does not need the faulty endpoint;
    - requests across a fault's edges: 200 or that status; after clearing: 200; never a 500,
      never a request without an answer; jwks /protected 200 from start to end;
    - during each certs fault, a token with an unknown kid makes the responder refetch the keys
      into the fault: refused (401/503) within the timeout, and the cached keys stay usable;
    - afterwards, on both stacks, all 16 worker threads serve (`all_workers_serve`), 48
      concurrent requests get 200, and 12 slow provider calls at once (every
      KEYCLOAK_MAX_CONCURRENT_CALLS slot) all succeed: no thread stuck, no slot leaked."""
    idp = make_idp(access_token_lifespan=3600)
    workers = 16
    threads = {"FCGI_WORKERS": str(workers), "KEYCLOAK_MAX_CONCURRENT_CALLS": "12"}
    # The verified-token cache off: every /protected verifies with the cached keys (a cache hit
    # would not touch them).
    jwks = make_stack(idp, name="jwks", env={**FAST_TIMEOUTS, **threads, "AUTH_TOKEN_CACHE_SIZE": "0"})
    userinfo = make_stack(idp, name="userinfo", env={**FAST_TIMEOUTS, **threads, "AUTH_VERIFY": "userinfo"})
    token = jwks.token()
    ca = str(jwks.session.verify)

    load = Load(ca)
    load.add("jwks protected", 5, protected_call(jwks, token))
    load.add("jwks login", 3, login_call(jwks))
    load.add("userinfo protected", 3, protected_call(userinfo, token))
    load.start()
    phases: list[Phase] = []
    try:
        time.sleep(1.0)
        # Fault by fault, each on certs, token and userinfo: consecutive certs phases are more
        # than 10 s apart, so each one's unknown-kid probe really refetches the keys (those
        # refetches are rate-limited to one per 10 s).
        for fault in FAULTS:
            for endpoint in ("certs", "token", "userinfo"):
                set_started = time.monotonic()
                idp.fault(endpoint, fault, seconds=60)
                phase = Phase(endpoint, fault, set_started, time.monotonic())
                if endpoint == "certs":
                    before = idp.stats()["certs"]
                    started = time.monotonic()
                    answer = jwks.protected(idp.mint(header={"kid": f"kid-not-in-jwks-{fault}"}))
                    phase.probe = Outcome("unknown-kid probe", started, time.monotonic(), answer.status_code,
                                          body=answer.content)
                    phase.certs_calls = idp.stats()["certs"] - before
                # Long enough for requests to run entirely inside the fault: with a hang, one
                # started just before the fault ends at the timeout, the next takes a timeout more.
                time.sleep(2 * PROVIDER_TIMEOUT + 1.5 if fault == "hang" else 3.0)
                phase.clear_started = time.monotonic()
                idp.clear_faults()
                phase.clear_done = time.monotonic()
                if phases:
                    phases[-1].next_set = set_started
                phases.append(phase)
                time.sleep(1.0)  # recovery, under load
    finally:
        outcomes = load.stop()

    name_of = {"jwks protected": ("jwks", "protected"), "jwks login": ("jwks", "login"),
               "userinfo protected": ("userinfo", "protected")}
    problems: list[str] = []
    lost = [o for o in outcomes if o.status == 0 or o.status == 500]
    if lost:
        problems.append(f"{len(lost)} requests got no answer or a 500:\n{describe(lost)}")
    # /protected in jwks mode never needs the provider: 200 throughout, whatever the fault.
    not_ok = [o for o in outcomes if o.name == "jwks protected" and o.status != 200]
    if not_ok:
        problems.append(f"jwks /protected answered other than 200 {len(not_ok)} times:\n{describe(not_ok)}")

    for phase in phases:
        title = f"{phase.fault} on {phase.endpoint}"
        for name, (stack_name, route) in name_of.items():
            expected = expected_status(stack_name, route, phase.endpoint, phase.fault)
            mine = [o for o in outcomes if o.name == name]
            during = [o for o in mine if o.started >= phase.set_done and o.ended <= phase.clear_started]
            straddling = [o for o in mine if o.ended > phase.set_started and o.started < phase.clear_done
                          and o not in during]
            after = [o for o in mine if o.started >= phase.clear_done and o.ended <= phase.next_set]
            if not during:
                problems.append(f"{title}: no {name} request ran entirely during the fault")
            wrong = [o for o in during if o.status != expected]
            if wrong:
                problems.append(f"{title}: {name} should be {expected}, got {tally(wrong)}:\n{describe(wrong)}")
            wrong = [o for o in straddling if o.status not in (200, expected)]
            if wrong:
                problems.append(f"{title}: {name} across the fault's edges got {tally(wrong)}:\n{describe(wrong)}")
            wrong = [o for o in after if o.status != 200]
            if wrong:
                problems.append(f"{title}: {name} after clearing the fault got {tally(wrong)}:\n{describe(wrong)}")
            if not [o for o in after if o.status == 200]:
                problems.append(f"{title}: no {name} request succeeded after the fault was cleared")
            if expected == 503 and phase.fault == "hang":
                # The one time bound: a hanging provider is cut off at its timeout.
                slow = [o for o in during if o.elapsed > PROVIDER_TIMEOUT + 2.0]
                if slow:
                    problems.append(f"{title}: {name} 503s beyond the timeout + 2 s:\n{describe(slow)}")
        if phase.probe is not None:
            # A token whose kid is not in the cached JWKS makes the responder refetch it, into the
            # fault: the keys it has stay loaded (the other tokens keep verifying, checked above)
            # and the token is refused, never a 500.
            if phase.certs_calls < 1:
                problems.append(f"{title}: the unknown-kid probe did not refetch the keys")
            if phase.probe.status not in (401, 503):
                problems.append(f"{title}: unknown-kid probe got {phase.probe.status} {phase.probe.body!r}")
            if phase.probe.elapsed > PROVIDER_TIMEOUT + 2.0:
                problems.append(f"{title}: unknown-kid probe took {phase.probe.elapsed:.1f} s")
    assert not problems, "\n".join(problems) + f"\nall: {tally(outcomes)}"

    # No thread stuck, no provider slot leaked: on both stacks, all 16 threads serve, and all
    # KEYCLOAK_MAX_CONCURRENT_CALLS slots (16 - 4 = 12) take a slow call at once. The burst
    # is 48 where /protected needs no provider call, and 12 (the slots) in userinfo mode, where
    # a 13th call at once is rightly shed with 503 + Retry-After.
    time.sleep(1.0)
    for stack, burst in ((jwks, 48), (userinfo, 12)):
        all_workers_serve(stack, workers)
        assert concurrent_burst(stack, burst, token) == [200] * burst
    idp.fault("token", "hang", seconds=1.0)  # answers normally after 1 s, within the timeout
    idp.fault("userinfo", "hang", seconds=1.0)
    with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
        logins = [pool.submit(jwks.login, "abdullah", "Test#123456") for _ in range(12)]
        checks = [pool.submit(userinfo.protected, token) for _ in range(12)]
        login_statuses = [future.result().status_code for future in logins]
        check_statuses = [future.result().status_code for future in checks]
    idp.clear_faults()
    assert login_statuses == [200] * 12, login_statuses
    assert check_statuses == [200] * 12, check_statuses
    for stack in (jwks, userinfo):
        assert stack.responder.poll() is None
        assert stack.stop_responder() == 0, stack.responder_log()[-2000:]


# 2. Key rotation under load -------------------------------------------------------------------


def kid_of(token: str) -> str:
    header = token.split(".", 1)[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


class TokenPool:
    """Tokens the load uses, by label ("k0", "k1", ...: the key that signed them)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._tokens: list[tuple[str, str]] = []
        self._next = 0

    def add(self, label: str, token: str) -> None:
        with self._lock:
            self._tokens.append((label, token))

    def token(self, label: str) -> str:
        with self._lock:
            return dict(self._tokens)[label]

    def pick(self) -> tuple[str, str]:
        with self._lock:
            self._next += 1
            return self._tokens[self._next % len(self._tokens)]


def test_key_rotation_under_load(make_idp, make_stack):
    """Old tokens keep being used while the provider rotates its key four times (the third time
    dropping every older key) and new tokens are minted. Tokens of keys in the JWKS always get
    200; once the responder has seen a JWKS without their key, tokens of dropped keys get 401;
    nothing ever gets a 5xx. (The token cache is on, as by default: dropping a key must also
    evict what it verified.)

    Rotations are more than 10 s apart, the design's limit for refetches triggered by unknown
    kids, so the first request with a new kid may always refetch. The last rotation comes while
    tokens of the dropped keys are still in use, as clients that still hold them keep sending
    them."""
    idp = make_idp(access_token_lifespan=3600)
    stack = make_stack(idp, env=FAST_TIMEOUTS)
    tokens = TokenPool()
    live_from: dict[str, float] = {}
    dead_from: dict[str, float] = {}
    dropped_at: dict[str, float] = {}

    def mint(label: str) -> str:
        token = stack.token()
        live_from[label] = time.monotonic()
        tokens.add(label, token)
        return token

    def pooled(session: requests.Session):
        label, token = tokens.pick()
        return session.get(stack.url("/protected"), headers={"Authorization": f"Bearer {token}"}, timeout=60), label

    remembered = [0]

    def fresh(session: requests.Session):
        """A new login and at once a request with its token, labelled with the token's kid
        (normally the current key; the previous one when a rotation falls in between)."""
        login = session.post(stack.url("/login"), data={"username": "abdullah", "password": "Test#123456"}, timeout=60)
        if login.status_code != 200:
            return login, "fresh login"
        token = login.json()["access_token"]
        remember_a_few(login, remembered)
        return session.get(stack.url("/protected"), timeout=60,
                           headers={"Authorization": f"Bearer {token}"}), "kid:" + kid_of(token)

    driver: list[Outcome] = []

    def check(label: str, token: str) -> None:
        started = time.monotonic()
        answer = stack.protected(token)
        driver.append(Outcome("driver", started, time.monotonic(), answer.status_code, label, answer.content))

    label_of_kid = {idp.current_key()["kid"]: "k0"}

    def rotate(label: str, drop_old: bool) -> None:
        label_of_kid[idp.rotate(drop_old=drop_old)] = label

    mint("k0")
    load = Load(str(stack.session.verify))
    load.add("pool", 6, pooled)
    load.add("fresh", 2, fresh)
    load.start()
    try:
        time.sleep(1.5)
        # Rotations keeping the old keys. Unknown-kid refetches are rate-limited to one per 10 s:
        # the rotations are spaced beyond that, so the first request with each new kid refetches.
        for label in ("k1", "k2"):
            rotate(label, drop_old=False)
            check(label, mint(label))
            time.sleep(11)
        # Rotation dropping every older key: once the first k3 token has made the responder
        # refetch, the JWKS it holds lacks k0..k2.
        rotate("k3", drop_old=True)
        for label in ("k0", "k1", "k2"):
            dropped_at[label] = time.monotonic()
        check("k3", mint("k3"))
        for label in ("k0", "k1", "k2"):
            dead_from[label] = time.monotonic()
        time.sleep(12)
        # And one more rotation keeping k3, while the dropped-key tokens are still in use.
        rotate("k4", drop_old=False)
        check("k4", mint("k4"))
        time.sleep(3)
        check("k4", tokens.token("k4"))
    finally:
        outcomes = load.stop()

    problems = []
    everything = outcomes + driver
    for outcome in everything:
        if outcome.label.startswith("kid:"):
            outcome.label = "fresh " + label_of_kid.get(outcome.label[4:], outcome.label)
        label = outcome.label.removeprefix("fresh ")
        if outcome.status == 0 or outcome.status >= 500:
            problems.append(outcome)
        elif label == "login":
            problems.append(outcome)  # a login that did not answer 200
        elif label in dead_from and outcome.started >= dead_from[label]:
            if outcome.status != 401:
                problems.append(outcome)
        elif label in dropped_at and outcome.ended > dropped_at[label]:
            if outcome.status not in (200, 401):  # the responder may not have refetched yet
                problems.append(outcome)
        elif outcome.status != 200:
            problems.append(outcome)
    by_label: dict[str, dict[int, int]] = {}
    for outcome in everything:
        per_label = by_label.setdefault(outcome.label, {})
        per_label[outcome.status] = per_label.get(outcome.status, 0) + 1
    assert not problems, (f"{len(problems)} wrong answers; by label {by_label}\n"
                          + describe(sorted(problems, key=lambda o: o.started), 20)
                          + f"\nrotation times: live {live_from} dead {dead_from}"
                          + f"\nresponder: {stack.responder_log().count('refetch rate-limited')} refusals with "
                            "'refetch rate-limited', e.g.\n" + "\n".join(
                              [line[:220] for line in stack.responder_log().splitlines() if "rate-limited" in line][-2:]))
    assert by_label.get("k0", {}).get(401, 0) > 0 and by_label.get("k4", {}).get(200, 0) > 0, by_label


# 3. No fd or memory leak across faulty calls --------------------------------------------------


def test_thousands_of_faulty_calls_leak_no_fd_and_no_memory(make_idp, make_stack):
    """The responder's open descriptors and VmRSS before and after ~3000 calls into provider
    faults (every fault on the token endpoint through /login and /refresh, 500 and 5 MB answers
    of the logout endpoint through /logout; 6 client threads). Rules: after the same mix as warm-up, and with the process idle,
    - descriptors other than sockets: exactly as many as before;
    - sockets: at most as many as before plus one per worker thread plus one for the provider
      monitor (each curl handle may keep its connection to the provider, each thread one kept
      nginx connection): a leak of one descriptor per hundred calls would exceed it;
    - VmRSS: less than 10 MiB above the warmed-up baseline (a leak check, not a tuning target)."""
    workers = 8
    idp = make_idp(access_token_lifespan=3600)
    stack = make_stack(idp, env={"FCGI_WORKERS": str(workers), "KEYCLOAK_MAX_CONCURRENT_CALLS": "6",
                                 "KEYCLOAK_TIMEOUT_SECONDS": "0.3", "KEYCLOAK_CONNECT_TIMEOUT_SECONDS": "1"})
    pid = stack.responder.pid
    tokens = stack.login("abdullah", "Test#123456").json()
    statuses: dict[str, int] = {}
    status_lock = threading.Lock()

    def faulty_calls(per_fault: int) -> None:
        for fault, expected in FAULT_STATUS.items():
            def one(index: int) -> int:
                # /logout only with the faults that never reach the provider's real handler: a
                # hang runs it once released (after the responder gave up), and "truncated"
                # cuts a real answer; either would end the session the other calls use.
                if index % 3 == 2 and fault in ("status500", "huge"):
                    return stack.post("/logout", data={"refresh_token": tokens["refresh_token"]}).status_code
                if index % 2:
                    return stack.post("/refresh", data={"refresh_token": tokens["refresh_token"]}).status_code
                return stack.login("abdullah", "Test#123456").status_code

            idp.fault("token", fault, seconds=1.0)
            idp.fault("logout", fault, seconds=1.0)
            with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
                answers = list(pool.map(one, range(per_fault)))
            idp.clear_faults()
            with status_lock:
                for status in answers:
                    key = f"{fault}:{status}"
                    statuses[key] = statuses.get(key, 0) + 1
            assert set(answers) == {expected}, (fault, sorted(set(answers)))

    def quiet_sample() -> tuple[int, dict[str, int]]:
        time.sleep(1.5)  # kept nginx connections are released after 100 ms idle
        return resident_kib(pid), open_fds(pid)

    faulty_calls(120)  # warm-up: allocator arenas, curl's connection caches, metrics series
    rss_before, fds_before = quiet_sample()
    faulty_calls(600)  # 3000 calls
    rss_after, fds_after = quiet_sample()

    total = sum(statuses.values())
    report = (f"{total} faulty calls {statuses}; VmRSS {rss_before} -> {rss_after} KiB; "
              f"fds {fds_before} -> {fds_after}")
    print(report)
    assert total >= 3000, report
    sockets_before, sockets_after = fds_before.pop("socket", 0), fds_after.pop("socket", 0)
    assert fds_after == fds_before, report
    assert sockets_after <= sockets_before + workers + 1, report
    assert rss_after - rss_before < 10 * 1024, report
    assert stack.login("abdullah", "Test#123456").status_code == 200


# 4. The responder killed under load -----------------------------------------------------------


def test_sigkill_under_load_502_at_once_then_supervised_restart_serves(make_idp, make_stack):
    idp = make_idp(access_token_lifespan=3600)
    stack = make_stack(idp, env=FAST_TIMEOUTS)
    token = stack.token()
    killed = threading.Event()
    restarted: list[float] = []

    def supervise() -> None:
        """A minimal supervisor: notices the responder died, waits a moment (so that the outage
        is seen by the load), starts it again."""
        while not killed.is_set() or stack.responder.poll() is None:
            time.sleep(0.05)
        time.sleep(1.0)
        stack.start_responder()
        restarted.append(time.monotonic())

    load = Load(str(stack.session.verify))
    load.add("protected", 6, protected_call(stack, token))
    load.add("login", 2, login_call(stack))
    supervisor = threading.Thread(target=supervise, daemon=True)
    load.start()
    supervisor.start()
    try:
        time.sleep(1.5)
        killed_at = time.monotonic()
        os.kill(stack.responder.pid, signal.SIGKILL)
        killed.set()
        supervisor.join(30)
        assert restarted, "the supervisor did not restart the responder"
        stack.wait_until(lambda: stack.responder_log().count("signing keys loaded") >= 2,
                         "the restarted responder to load the JWKS")
        ready_at = time.monotonic()
        time.sleep(2.0)
    finally:
        outcomes = load.stop()

    counts = tally(outcomes)
    problems = []
    other = [o for o in outcomes if o.status not in (200, 502)]
    if other:
        problems.append(f"statuses other than 200 and 502: {tally(other)}\n{describe(other)}")
    outage = [o for o in outcomes if o.status == 502]
    if not outage:
        problems.append("the load saw no outage")
    # nginx answers at once (connection refused), in JSON: bounded by a failed connect.
    slow = [o for o in outage if o.elapsed >= 2.0]
    if slow:
        problems.append(f"502s slower than 2 s:\n{describe(slow)}")
    not_json = [o for o in outage if o.body != NGINX_502 or o.content_type != "application/json"]
    if not_json:
        problems.append(f"502s not in nginx's JSON:\n{describe(not_json)}")
    stray = [o for o in outage if not killed_at - 0.1 <= o.started <= restarted[0] + 5]
    if stray:
        problems.append(f"502s outside the outage:\n{describe(stray)}")
    after = [o for o in outcomes if o.started >= ready_at]
    if not after or any(o.status != 200 for o in after) or {o.name for o in after} != {"protected", "login"}:
        problems.append(f"after the restart: {tally(after)}")
    early = [line[:200] for line in stack.responder_log().splitlines() if "http.status=503" in line]
    assert not problems, "\n".join(problems) + f"\nall: {counts}\nresponder's 503s:\n" + "\n".join(early[:5])
    assert stack.stop_responder() == 0


# 5. SIGTERM to one of two instances -----------------------------------------------------------


class TwoInstanceStack(Stack):
    """Two responders (a.sock, b.sock) behind one nginx upstream: `server unix:a; server unix:b`
    in both of the template's upstreams. `responder` is instance A, `responder_b` instance B."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.socket_path = self.workdir / "a.sock"
        self.socket_b = self.workdir / "b.sock"
        self.responder_b = None
        self.log_a, self.log_b = self.workdir / "responder-a.log", self.workdir / "responder-b.log"
        SessionRecord.log_files += [self.log_a, self.log_b]

    def _spawn(self, socket_path: Path, log_path: Path):
        from stack import binary_path
        env = self.responder_env()
        env["FCGI_LISTEN"] = f"unix:{socket_path}"
        with open(log_path, "ab") as log:
            import subprocess
            return subprocess.Popen([str(binary_path()), "--env-file", "/dev/null"], env=env,
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.workdir)

    def start_responder(self) -> None:
        self.responder_exit = None
        self.responder = self._spawn(self.socket_path, self.log_a)
        if self.responder_b is None or self.responder_b.poll() is not None:
            self.responder_b = self._spawn(self.socket_b, self.log_b)

    def start_nginx(self) -> None:
        # Both sockets first: a connect refused at start-up would take an instance out of
        # nginx's rotation for fail_timeout (10 s) before the test even starts.
        deadline = time.monotonic() + 30
        while not (self.socket_path.exists() and self.socket_b.exists()):
            assert time.monotonic() < deadline, f"the responders did not listen:\n{self.responder_log()}"
            time.sleep(0.02)
        # The template renders `server ${FCGI_UPSTREAM};` from `unix:{socket_path}`: for the
        # duration of the rendering the socket path reads as two servers.
        single = self.socket_path
        self.socket_path = f"{single}; server unix:{self.socket_b}"  # type: ignore[assignment]
        try:
            super().start_nginx()
        finally:
            self.socket_path = single

    def responder_log(self) -> str:
        return "\n".join(path.read_text("utf-8", errors="replace") if path.exists() else ""
                         for path in (self.log_a, self.log_b))

    def start(self) -> TwoInstanceStack:
        super().start()
        self.wait_until(lambda: self.responder_log().count("signing keys loaded") >= 2, "both instances to load the JWKS")
        return self

    def stop(self) -> None:
        if self.responder_b is not None and self.responder_b.poll() is None:
            self.responder_b.send_signal(signal.SIGTERM)
            try:
                self.responder_b.wait(20)
            except Exception:  # noqa: BLE001
                self.responder_b.kill()
                self.responder_b.wait()
        super().stop()


@pytest.fixture
def two_instances(make_idp, tmp_path, tls_dir):
    idp = make_idp(access_token_lifespan=3600)
    stack = TwoInstanceStack(tmp_path / "two", tls_dir, idp=idp, env=FAST_TIMEOUTS)
    stack.start()
    yield stack, idp
    stack.stop()


def test_two_instances_both_serve_under_load(two_instances):
    """The set-up of the SIGTERM test, without a SIGTERM: both instances serve a GET load, and
    every request gets 200."""
    stack, _ = two_instances
    conf = (stack.workdir / "keycloak-fcgi.conf").read_text()
    assert conf.count(f"server unix:{stack.socket_b};") == 2, conf  # both upstreams
    token = stack.token()
    for _ in range(20):
        assert stack.protected(token).status_code == 200
    load = Load(str(stack.session.verify))
    load.add("protected", 16, protected_call(stack, token))
    load.start()
    time.sleep(6)
    outcomes = load.stop()
    wrong = [o for o in outcomes if o.status != 200]
    assert not wrong, f"{tally(outcomes)}\n{describe(wrong)}\n{nginx_errors(stack)}"
    log_a, log_b = stack.log_a.read_text(), stack.log_b.read_text()
    assert "http.path=/protected" in log_a and "http.path=/protected" in log_b


def nginx_errors(stack: Stack, limit: int = 6) -> str:
    """nginx's error log without the repeated "no live upstreams" lines, for failure messages."""
    lines = (stack.workdir / "nginx-error.log").read_text("utf-8", errors="replace").splitlines()
    interesting = [line[:330] for line in lines if "no live upstreams" not in line]
    return (f"nginx error log ({len(lines)} lines, {len(lines) - len(interesting)} 'no live upstreams'):\n"
            + "\n".join(interesting[:limit]))


def test_sigterm_one_of_two_instances_under_get_load_loses_nothing(two_instances):
    """GET /protected under load; SIGTERM instance A. Requests A has accepted finish; its kept
    connections close; nginx retries GETs that met a closed or refused connection on B
    (`fastcgi_next_upstream error`, the default, retries idempotent requests). Every request of
    the load gets 200, and A exits 0."""
    stack, _ = two_instances
    token = stack.token()
    load = Load(str(stack.session.verify))
    load.add("protected", 8, protected_call(stack, token))
    load.start()
    try:
        time.sleep(2.0)
        terminated_at = time.monotonic()
        stack.responder.send_signal(signal.SIGTERM)
        code = stack.responder.wait(30)
        time.sleep(2.0)
    finally:
        outcomes = load.stop()
    counts = tally(outcomes)
    assert code == 0, stack.log_a.read_text()[-2000:]
    assert "stopped" in stack.log_a.read_text()
    wrong = [o for o in outcomes if o.status != 200]
    assert not wrong, f"{counts}\n{describe(wrong, 5)}\n{nginx_errors(stack)}"
    before = [o for o in outcomes if o.ended < terminated_at]
    after = [o for o in outcomes if o.started > terminated_at]
    assert len(before) > 100 and len(after) > 100, counts
    log_a = stack.log_a.read_text()
    assert "http.path=/protected" in log_a.split("stopping")[0]  # A served part of the load


def test_sigterm_one_of_two_instances_finishes_posts_in_flight(two_instances):
    """POST /login is not retried by nginx once sent, so SIGTERM must let the instance finish the
    POSTs it holds: 8 logins hang at the provider (answering after 1.5 s, within its timeout),
    A gets SIGTERM meanwhile, and all 8 answer 200; new logins go to B."""
    stack, idp = two_instances
    idp.fault("token", "hang", seconds=1.5)
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        logins = [pool.submit(stack.login, "abdullah", "Test#123456") for _ in range(8)]
        time.sleep(0.7)
        stack.responder.send_signal(signal.SIGTERM)
        statuses = [future.result(timeout=30).status_code for future in logins]
    idp.clear_faults()
    code = stack.responder.wait(30)
    assert statuses == [200] * 8, statuses
    assert code == 0
    log_a = stack.log_a.read_text()
    finished_by_a = log_a.split("stopping", 1)[1].count("http.path=/login http.status=200")
    assert finished_by_a >= 1, log_a[-2000:]  # A held some of them when it got SIGTERM
    assert stack.login("abdullah", "Test#123456").status_code == 200  # B serves


# 6. Logout into a broken provider -------------------------------------------------------------


def test_logout_answered_with_an_html_page_is_not_a_logout(make_idp, make_stack):
    """The provider's logout endpoint answers 200 with an HTML page (a proxy's or a login page,
    not Keycloak's 204): the session was not ended, so /logout must not answer 204 ("the
    session is ended and the refresh token is dead") but 502, like any garbage answer."""
    idp = make_idp()
    stack = make_stack(idp)
    tokens = stack.login("abdullah", "Test#123456").json()
    idp.fault("logout", "html")
    answer = stack.post("/logout", data={"refresh_token": tokens["refresh_token"]})
    idp.clear_faults()
    still_alive = stack.post("/refresh", data={"refresh_token": tokens["refresh_token"]})
    assert still_alive.status_code == 200  # the provider never ended the session
    assert answer.status_code == 502, (
        f"/logout answered {answer.status_code} {answer.content!r} for an HTML page from the provider, "
        "while the session is still alive")
