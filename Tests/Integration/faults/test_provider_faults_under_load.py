"""Every provider fault under concurrent load through the real nginx: a hang past
KEYCLOAK_TIMEOUT_SECONDS, HTML, truncated JSON, a 500 and a 5 MB body, on the token, certs and
userinfo endpoints in turn. Each route answers exactly its status (never 500), /protected with
cached keys keeps answering 200, everything recovers when the fault is cleared, and afterwards
every worker thread and every provider slot serves.

The load is Python threads (one `requests.Session` each, harness/load.py) that record every
answer: what is asserted is statuses and counts, not speed. The only time bound is where the behaviour itself is a
timeout: a hanging provider answers 503 within its timeout plus slack.
"""

from __future__ import annotations

import concurrent.futures
import time
from dataclasses import dataclass

from harness.load import FAST_TIMEOUTS, FAULT_STATUS, FAULTS, PROVIDER_TIMEOUT, Load, Outcome
from harness.load import all_workers_serve, concurrent_burst, describe, login_call, protected_call, tally


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
