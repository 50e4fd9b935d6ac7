"""The responder SIGKILLed under load through the real nginx: nginx answers 502 in JSON at once,
a supervisor restarts the responder, and it serves again.

The load is Python threads (one `requests.Session` each, harness/load.py) that record every
answer: what is asserted is statuses and counts, not speed. The only time bound is a connection refusal: nginx's 502
while the responder is down.
"""

from __future__ import annotations

import os
import signal
import threading
import time

from harness.load import FAST_TIMEOUTS, NGINX_502, Load, describe, login_call, protected_call, tally


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
