"""Two responder instances behind one nginx upstream (harness.stack.TwoInstanceStack): both serve
a load, and SIGTERM to one of them loses no request of the load, GET or POST.

The load is Python threads (one `requests.Session` each, harness/load.py) that record every
answer: what is asserted is statuses and counts, not speed.
"""

from __future__ import annotations

import concurrent.futures
import signal
import time

import pytest

from harness.load import FAST_TIMEOUTS, Load, describe, nginx_errors, protected_call, tally
from harness.stack import TwoInstanceStack


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
    assert conf.count(f"server unix:{stack.socket_b};") == 1, conf  # the one upstream
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
