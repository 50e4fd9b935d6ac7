#!/usr/bin/env python3
"""The responder's resident memory under 1 M requests, and its time to a first answer.

1. Memory: the release binary in its default configuration (jwks mode, verified-token cache)
   behind nginx with the project's template, against the test identity provider. wrk drives
   `--requests` (1 000 000) GET /protected through TLS nginx (-t2 -c64, rotating over `--tokens`
   distinct access tokens) in `--checkpoints` (5) equal chunks; the responder's VmRSS
   (/proc/<pid>/status) is read before the first request and after each chunk. Targets: RSS at
   the end ≤ 30 MB (decimal: 30 000 000 bytes) and growth from the first checkpoint (200 k of
   1 M) to the end < 5 %.
2. First answer: the release binary started `--starts` (5) times on a unix socket, against the
   same running provider, without nginx; GET / through a raw FastCGI client
   (Tests/Integration/harness/fastcgi_client.py) is polled every millisecond from just before the exec
   until it answers 200. Target: the median ≤ 300 ms. The time until /readyz answers 200
   (discovery done, signing keys loaded) is shown too; it is not a target.

    python3 bench/memory.py [--requests 1000000] [--checkpoints 5] [--tokens 16]
                            [--connections 64] [--starts 5] [--skip-memory] [--skip-start]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402
from benchlib import RESULTS, IdentityProvider, memory_status, run_wrk  # noqa: E402

from harness import fastcgi_client  # noqa: E402  (Tests/Integration, on the path through benchlib)
from harness.stack import Stack, binary_path  # noqa: E402

RSS_LIMIT_BYTES = 30_000_000
GROWTH_LIMIT_PERCENT = 5.0
FIRST_ANSWER_LIMIT_MS = 300.0


class AccessLog:
    """Requests nginx has answered since this object was made: new lines of its access log
    (one line per request, written when the response is sent), read incrementally."""

    def __init__(self, path: Path):
        self.file = open(path, "rb")
        self.file.seek(0, os.SEEK_END)
        self.lines = 0

    def count(self) -> int:
        while chunk := self.file.read(1 << 20):
            self.lines += chunk.count(b"\n")
        return self.lines

    def close(self) -> None:
        self.file.close()


def sample(pid: int, requests: int, errors: int) -> dict:
    status = memory_status(pid)
    return {"requests": requests, "rss_kib": status["VmRSS"], "rss_anon_kib": status.get("RssAnon", 0),
            "rss_file_kib": status.get("RssFile", 0), "errors": errors}


def measure_memory(idp: IdentityProvider, tls: Path, workdir: Path, args) -> dict:
    stack = Stack(workdir / "memory", tls, idp=idp, login_rate="1000000r/s", login_burst=100000)
    stack.start()
    try:
        tokens = [stack.token() for _ in range(args.tokens)]
        assert stack.protected(tokens[0]).status_code == 200
        pid = stack.responder.pid
        time.sleep(0.5)
        samples = [sample(pid, 0, 0)]
        print(f"{'requests':>10} {'RSS KiB':>9} {'RSS MiB':>8} {'req/s':>8}", file=sys.stderr)
        print(f"{0:10d} {samples[0]['rss_kib']:9d} {samples[0]['rss_kib'] / 1024:8.2f}", file=sys.stderr)
        served = AccessLog(stack.workdir / "nginx-access.log")
        errors = 0
        try:
            for index in range(1, args.checkpoints + 1):
                goal = args.requests * index // args.checkpoints
                # wrk runs until nginx has answered `goal` requests in all (SIGINT then; the
                # requests in flight still complete, so a checkpoint lands a little past its goal).
                run = run_wrk(stack.url("/protected"), seconds=3600, connections=args.connections,
                              tokens=tokens, stop_when=lambda: served.count() >= goal)
                errors += run.errors
                time.sleep(0.2)  # the last responses' log lines
                samples.append(sample(pid, served.count(), errors) | {"rps": run.rps})
                rss = samples[-1]["rss_kib"]
                print(f"{samples[-1]['requests']:10d} {rss:9d} {rss / 1024:8.2f} {run.rps:8.0f}", file=sys.stderr)
        finally:
            served.close()
        if stack.responder.poll() is not None:
            raise SystemExit(f"the responder exited during the run: {stack.responder.returncode}")
    finally:
        stack.stop()
    return {"samples": samples, "requests": samples[-1]["requests"], "errors": errors, "tokens": args.tokens,
            "connections": args.connections}


def measure_first_answer(idp: IdentityProvider, workdir: Path, starts: int) -> dict:
    binary = binary_path()
    first, ready = [], []
    for index in range(starts):
        directory = workdir / f"start-{index}"
        directory.mkdir(parents=True)
        socket_path = directory / "fcgi.sock"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "FCGI_LISTEN": f"unix:{socket_path}",
            "FCGI_SOCKET_MODE": "660",
            "LOG_LEVEL": "info",
            "KEYCLOAK_SERVER_URL": idp.base_url,
            "KEYCLOAK_REALM": idp.realm,
            "KEYCLOAK_CLIENT_ID": idp.client_id,
            "KEYCLOAK_CLIENT_SECRET": idp.client_secret,
        }
        with open(directory / "responder.log", "ab") as log:
            started = time.perf_counter()
            process = subprocess.Popen([str(binary), "--env-file", "/dev/null"], env=env, cwd=directory,
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            first_ms = poll(process, socket_path, "/", {}, started)
            ready_ms = poll(process, socket_path, "/readyz", {"KEYCLOAK_FCGI_INTERNAL": "1"}, started)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        first.append(first_ms)
        ready.append(ready_ms)
        print(f"start {index + 1}: first answer {first_ms:7.1f} ms, ready {ready_ms:7.1f} ms", file=sys.stderr)
    return {"first_answer_ms": first, "ready_ms": ready}


def poll(process: subprocess.Popen, socket_path: Path, path: str, params: dict[str, str], started: float,
         timeout: float = 30) -> float:
    """Milliseconds from `started` until `path` answers 200 on the socket."""
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise SystemExit(f"the responder exited ({process.returncode}) before answering {path}")
        try:
            status, _, _ = fastcgi_client.get(str(socket_path), path, **params)
            if status == 200:
                return (time.perf_counter() - started) * 1000
        except OSError:  # no socket yet, or not accepting yet
            pass
        time.sleep(0.001)
    raise SystemExit(f"no 200 from {path} within {timeout} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--checkpoints", type=int, default=5, help="RSS samples after the start")
    parser.add_argument("--tokens", type=int, default=16, help="distinct access tokens, rotated")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-start", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    benchlib.stop_cleanly_on_sigterm()

    started = datetime.now(timezone.utc)
    load_before = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="kfcgi-bench-memory-"))
    memory = start = None
    try:
        tls = benchlib.dev_certificate(workdir / "tls")
        with IdentityProvider(access_token_lifespan=7200) as idp:
            if not args.skip_memory:
                memory = measure_memory(idp, tls, workdir, args)
            if not args.skip_start:
                start = measure_first_answer(idp, workdir, args.starts)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    checks = []
    if memory:
        samples = memory["samples"]
        print(f"\nresponder RSS, GET /protected (jwks+cache) through TLS nginx, wrk -t2 -c{args.connections}, "
              f"{args.tokens} tokens rotated")
        print(f"{'requests':>10} {'RSS KiB':>9} {'RSS MiB':>8} {'RSS MB':>7} {'anon KiB':>9} {'file KiB':>9}")
        for row in samples:
            print(f"{row['requests']:10d} {row['rss_kib']:9d} {row['rss_kib'] / 1024:8.2f} "
                  f"{row['rss_kib'] * 1024 / 1e6:7.2f} {row['rss_anon_kib']:9d} {row['rss_file_kib']:9d}")
        print("(anon: heap, stacks; file: the mapped binary and shared libraries)")
        base = samples[1]["rss_kib"]
        end = samples[-1]["rss_kib"]
        growth = (end - base) / base * 100
        memory["growth_percent"] = growth
        end_bytes = end * 1024
        checks.append({"target": f"RSS after {samples[-1]['requests']:,} requests ≤ 30 MB",
                       "measured": end_bytes / 1e6, "threshold": RSS_LIMIT_BYTES / 1e6, "unit": "MB",
                       "result": "PASS" if end_bytes <= RSS_LIMIT_BYTES and not memory["errors"] else "FAIL"})
        checks.append({"target": f"RSS growth {samples[1]['requests']:,} → {samples[-1]['requests']:,} requests < 5 %",
                       "measured": growth, "threshold": GROWTH_LIMIT_PERCENT, "unit": "%",
                       "result": "PASS" if growth < GROWTH_LIMIT_PERCENT and not memory["errors"] else "FAIL"})
        if memory["errors"]:
            print(f"  {memory['errors']} non-2xx or socket errors during the run")
    if start:
        first = statistics.median(start["first_answer_ms"])
        ready = statistics.median(start["ready_ms"])
        print(f"\nstart-up, {len(start['first_answer_ms'])} starts: first answer to GET / median {first:.1f} ms "
              f"(all: {', '.join(f'{v:.1f}' for v in start['first_answer_ms'])}); "
              f"/readyz 200 median {ready:.1f} ms")
        start["first_answer_median_ms"], start["ready_median_ms"] = first, ready
        checks.append({"target": "first answer within 300 ms of start (median)", "measured": first,
                       "threshold": FIRST_ANSWER_LIMIT_MS, "unit": "ms",
                       "result": "PASS" if first <= FIRST_ANSWER_LIMIT_MS else "FAIL"})

    print("\ntargets (issue)")
    for item in checks:
        print(f"  {item['result']:4}  {item['target']:55} {item['measured']:8.2f} {item['unit']} "
              f"(limit {item['threshold']:g} {item['unit']})")
    benchlib.print_quiet_notes(load_before, indent="  ")
    if memory and memory["requests"] < 1_000_000:
        print(f"  note: {memory['requests']:,} requests, not 1 M: a smoke run, not a result")

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "memory.json"
    path.write_text(json.dumps({"started": started.isoformat(timespec="seconds"), "load_average_before": load_before,
                                "memory": memory, "start": start, "checks": checks}, indent=2) + "\n")
    print(f"\nwritten: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
