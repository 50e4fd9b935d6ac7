"""nginx keeps FastCGI connections open for GET (fastcgi_keep_conn on, keepalive in the
upstream). libfcgi pins a thread to each kept connection until nginx closes it; with more idle
connections in nginx's pool than responder threads, every thread could end up waiting on an idle
connection while new ones queue in the backlog: a full stall (engineering notes). nginx's own
short keepalive_timeout (250 ms) and keepalive_requests (100) end kept connections, which makes
the stall impossible. This test drives that configuration at c256: 4 threads, pools of 64.
(With libfcgi's behaviour and nginx's default 60 s idle timeout, the same test fails: wrk
reports timeouts and the requests after the load hang.)"""

from __future__ import annotations

import re
import subprocess
import time

import pytest

# 4 threads against nginx pools of 2 workers x 64 idle connections: the stall configuration.
STALL_PRONE = {"FCGI_WORKERS": "4", "KEYCLOAK_MAX_CONCURRENT_CALLS": "2"}


def wrk(url: str, seconds: int, connections: int, timeout_seconds: int) -> dict[str, int]:
    output = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", f"--timeout={timeout_seconds}s", url],
        capture_output=True, text=True, timeout=seconds + 60).stdout
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {"requests": requests, "timeouts": int(errors.group(4)) if errors else 0,
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "output": output}


def sequential_requests_after_idle(stack, count: int) -> list[int]:
    """Lets nginx's pool go idle, then sends requests one at a time (5 s timeout each)."""
    time.sleep(1.0)
    statuses = []
    for _ in range(count):
        try:
            statuses.append(stack.get("/", timeout=5).status_code)
        except Exception:  # noqa: BLE001 - a timeout is the stall this test looks for
            statuses.append(0)
    return statuses


def test_c256_with_keep_conn_never_stalls(make_idp, make_stack):
    stack = make_stack(make_idp(), env=STALL_PRONE, upstream_keepalive=64)
    result = wrk(stack.url("/"), seconds=8, connections=256, timeout_seconds=5)
    assert result["timeouts"] == 0, result["output"]
    assert result["non2xx"] == 0, result["output"]
    assert result["requests"] > 256, result["output"]  # it served, not just survived
    assert sequential_requests_after_idle(stack, 20) == [200] * 20
