#!/usr/bin/env python3
"""Soak: full load for a long time, then zero errors and flat memory.

Starts the test identity provider, the release binary and nginx (the project's template, TLS)
on free loopback ports, then for `--minutes` (default 15):
- `wrk -t2 -c64` on GET /protected through nginx, cycling through a pool of tokens (the
  verified-token cache on, as by default);
- a trickle of logins (POST /login, `--logins-per-second`, default 1) from a Python thread;
- every `--sample-seconds` (default 30; at most a quarter of the run, so short runs still get
  several samples) the responder's VmRSS and open descriptor count.

At the end it prints the requests, the errors (wrk's non-2xx answers and socket errors, logins
other than 200), VmRSS and descriptor figures (first, last, min, max, slope) and a verdict:

    PASS when  errors == 0
          and  VmRSS(last) - VmRSS(first sample after warm-up) <= 2 MiB
          and  fds(last)   - fds(first sample after warm-up)   <= 3 * FCGI_WORKERS + 1
    warm-up = min(1 minute, a quarter of the run); the fd allowance is what each worker may
    still open after the warm-up and then keep: its kept nginx connection, and on its first
    provider call its curl handle's kept provider connection and the wakeup socketpair of
    curl's internal multi handle (2 fds); plus the monitor's provider connection. (Seen with 64
    workers: 162 unix sockets and 65 TCP connections at the plateau, about 250 fds.)

    python3 bench/soak.py [--minutes 15] [--connections 64] [--logins-per-second 1]

Exit status 0 on PASS, 1 on FAIL.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Tests" / "Integration"))

import requests  # noqa: E402

from harness.idp_fixture import IdentityProvider  # noqa: E402
from harness.stack import Stack  # noqa: E402

WORKERS = 64  # FCGI_WORKERS, the default
FD_ALLOWANCE = 3 * WORKERS + 1  # see the module docstring
RSS_RULE_KIB = 2048

#: Cycles through the tokens in $SOAK_TOKENS; counts answers other than 200 per thread and
#: prints their sum at the end (wrk's own "Non-2xx" line would let a 3xx pass).
WRK_SCRIPT = r"""
local tokens = {}
for token in string.gmatch(os.getenv("SOAK_TOKENS"), "[^,]+") do tokens[#tokens + 1] = token end
local threads = {}
local counter = 0
non200 = 0

function setup(thread)
    thread:set("offset", #threads)
    table.insert(threads, thread)
end

function init(args)
    counter = offset or 0
end

function request()
    counter = counter + 1
    return wrk.format("GET", "/protected", {["Authorization"] = "Bearer " .. tokens[(counter % #tokens) + 1]})
end

function response(status, headers, body)
    if status ~= 200 then non200 = non200 + 1 end
end

function done(summary, latency, requests)
    local total = 0
    for _, thread in ipairs(threads) do total = total + thread:get("non200") end
    io.write(string.format("soak non-200: %d\n", total))
end
"""


def resident_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def slope_per_minute(samples: list[tuple[float, int]]) -> float:
    """Least-squares slope of (seconds, value), per minute."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_v = sum(v for _, v in samples) / n
    denominator = sum((t - mean_t) ** 2 for t, _ in samples)
    if denominator == 0:
        return 0.0
    return 60 * sum((t - mean_t) * (v - mean_v) for t, v in samples) / denominator


class LoginTrickle(threading.Thread):
    """POST /login at a steady rate; counts answers by status and failures."""

    def __init__(self, stack: Stack, per_second: float):
        super().__init__(daemon=True)
        self.stack, self.interval = stack, 1.0 / per_second
        self.statuses: dict[int, int] = {}
        self.failures: list[str] = []
        self._halt = threading.Event()

    def run(self) -> None:
        session = requests.Session()
        session.trust_env = False
        session.verify = self.stack.session.verify
        next_at = time.monotonic()
        while not self._halt.is_set():
            try:
                answer = session.post(self.stack.url("/login"), timeout=30,
                                      data={"username": "abdullah", "password": "Test#123456"})
                self.statuses[answer.status_code] = self.statuses.get(answer.status_code, 0) + 1
            except requests.RequestException as error:
                self.failures.append(f"{type(error).__name__}: {error}")
            next_at += self.interval
            self._halt.wait(max(0.0, next_at - time.monotonic()))
        session.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(60)


def parse_wrk(output: str) -> dict[str, object]:
    requests_done = re.search(r"(\d+) requests in", output)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    non200 = re.search(r"soak non-200: (\d+)", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    return {
        "requests": int(requests_done.group(1)) if requests_done else 0,
        "socket": dict(zip(("connect", "read", "write", "timeout"), map(int, socket.groups()))) if socket
        else {"connect": 0, "read": 0, "write": 0, "timeout": 0},
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "non200": int(non200.group(1)) if non200 else None,
        "rate": float(rate.group(1)) if rate else 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=15)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=20, help="distinct tokens the load cycles through")
    parser.add_argument("--logins-per-second", type=float, default=1.0)
    parser.add_argument("--sample-seconds", type=float, default=30)
    args = parser.parse_args()

    duration = int(args.minutes * 60)
    interval = min(args.sample_seconds, duration / 4)
    warm_up = min(60.0, duration / 4)
    workdir = Path(tempfile.mkdtemp(prefix="kfcgi-soak-"))
    tls = workdir / "tls"
    subprocess.run(["bash", str(REPO / "scripts" / "dev-cert.sh"), str(tls)], check=True, capture_output=True)
    script = workdir / "soak.lua"
    script.write_text(WRK_SCRIPT)

    with IdentityProvider(access_token_lifespan=duration + 3600) as idp:
        stack = Stack(workdir / "stack", tls, idp=idp, env={"FCGI_WORKERS": str(WORKERS)})
        stack.start()
        try:
            tokens = [stack.token() for _ in range(args.tokens)]
            for token in tokens:
                assert stack.protected(token).status_code == 200
            pid = stack.responder.pid
            print(f"soak: {args.minutes:g} min, wrk -t{args.threads} -c{args.connections} GET /protected "
                  f"({args.tokens} tokens) + {args.logins_per_second:g} login/s, samples every {interval:g} s, "
                  f"responder pid {pid}", flush=True)
            wrk = subprocess.Popen(
                ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration}s", "--timeout", "10s",
                 "-s", str(script), stack.url("/protected")],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SOAK_TOKENS": ",".join(tokens)})
            logins = LoginTrickle(stack, args.logins_per_second)
            logins.start()
            started = time.monotonic()
            samples: list[tuple[float, int, int]] = []
            print(f"{'t (s)':>7} {'VmRSS KiB':>10} {'fds':>5}", flush=True)
            next_sample = started
            while wrk.poll() is None:
                now = time.monotonic()
                if now >= next_sample and now - started <= duration:
                    sample = (now - started, resident_kib(pid), fd_count(pid))
                    samples.append(sample)
                    print(f"{sample[0]:7.0f} {sample[1]:10d} {sample[2]:5d}", flush=True)
                    next_sample += interval
                time.sleep(0.2)
            # The last sample, still under the login trickle, just after the load ended.
            sample = (time.monotonic() - started, resident_kib(pid), fd_count(pid))
            samples.append(sample)
            print(f"{sample[0]:7.0f} {sample[1]:10d} {sample[2]:5d}  (end of load)", flush=True)
            logins.stop()
            wrk_output = wrk.stdout.read() if wrk.stdout else ""
            alive = stack.responder.poll() is None
            exit_code = stack.stop_responder()
        finally:
            stack.stop()

    result = parse_wrk(wrk_output)
    socket_errors = sum(result["socket"].values())
    login_total = sum(logins.statuses.values())
    login_errors = sum(count for status, count in logins.statuses.items() if status != 200) + len(logins.failures)
    non200 = result["non200"] if result["non200"] is not None else result["non2xx"]
    errors = non200 + socket_errors + login_errors + (0 if alive else 1)

    rss = [value for _, value, _ in samples]
    fds = [value for _, _, value in samples]
    settled = [s for s in samples if s[0] >= warm_up] or samples[-1:]
    rss_delta = settled[-1][1] - settled[0][1]
    fd_delta = settled[-1][2] - settled[0][2]
    slope = slope_per_minute([(t, value) for t, value, _ in settled])

    print()
    print(f"requests: {result['requests']} /protected ({result['rate']:.0f} req/s) + {login_total} logins")
    print(f"errors: {errors} (non-200 /protected {non200}, wrk non-2xx {result['non2xx']}, socket errors "
          f"connect {result['socket']['connect']} read {result['socket']['read']} write {result['socket']['write']} "
          f"timeout {result['socket']['timeout']}, logins not 200 {login_errors} {logins.statuses} "
          f"{logins.failures[:3]}, responder {'alive' if alive else 'DIED'}, exit {exit_code})")
    print(f"VmRSS KiB: first {rss[0]} last {rss[-1]} min {min(rss)} max {max(rss)}; after the {warm_up:g} s "
          f"warm-up: {settled[0][1]} -> {settled[-1][1]} ({rss_delta:+d}), slope {slope:+.1f} KiB/min")
    print(f"fds: first {fds[0]} last {fds[-1]} min {min(fds)} max {max(fds)}; after warm-up "
          f"{settled[0][2]} -> {settled[-1][2]} ({fd_delta:+d})")
    print(f"rule: errors == 0 and VmRSS delta after warm-up <= {RSS_RULE_KIB} KiB "
          f"and fd delta after warm-up <= {FD_ALLOWANCE}")
    passed = errors == 0 and rss_delta <= RSS_RULE_KIB and fd_delta <= FD_ALLOWANCE
    if not passed:
        print(wrk_output)
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
