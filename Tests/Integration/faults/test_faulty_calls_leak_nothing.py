"""No descriptor and no memory leak across thousands of calls into provider faults: the
responder's open descriptors and VmRSS (harness/load.py's process probes) before and after.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time

from harness.load import FAULT_STATUS, open_fds, resident_kib


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
