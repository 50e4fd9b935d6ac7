#!/usr/bin/env python3
"""What nginx `auth_request` with the responder's GET /auth adds to a request.

Starts the test identity provider, the release binary and nginx with the project's template plus
the example gate (nginx/examples/auth-gate.conf.template) on free loopback ports. The protected
API is nginx itself: a static server (`return 200 '{"ok":true}'`) in the same nginx, proxied to
by the gate from `/public/static` (no check) and `/api/static` (auth_request: one FastCGI request
to the responder per request). Both paths take the same proxy hop with the same bearer token, so
the difference is the check alone. `wrk -t2 -c64 -d10s --latency` runs against both in
alternating rounds; medians of p50, p99 and requests/s are printed side by side, with the added
latency (protected - unprotected).

    python3 bench/bench_auth_gate.py [--rounds 3] [--duration 10] [--connections 64]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Tests" / "Integration"))

from harness.gate import GateStack  # noqa: E402
from harness.idp_fixture import IdentityProvider  # noqa: E402
from harness.stack import free_port  # noqa: E402

STATIC_API = """
# The benchmark's protected API: nginx itself, answering at once.
server {{
    listen 127.0.0.1:{port};
    access_log off;
    location = /public/static {{ default_type application/json; return 200 '{{"ok":true}}'; }}
    location = /api/static {{ default_type application/json; return 200 '{{"ok":true}}'; }}
}}
"""
WRK_SCRIPT = """
wrk.headers["Authorization"] = os.getenv("BENCH_AUTHORIZATION")
"""


def run_wrk(url: str, seconds: int, connections: int, authorization: str) -> dict[str, float]:
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(WRK_SCRIPT)
    try:
        command = ["wrk", "-s", str(script), "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
        env = {"BENCH_AUTHORIZATION": authorization, "PATH": "/usr/bin:/bin"}
        output = subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout
    finally:
        script.unlink()
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = parse_latency(re.search(r"\s50%\s+([\d.]+\w+)", output).group(1))
    p99 = parse_latency(re.search(r"\s99%\s+([\d.]+\w+)", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return {"rps": rate, "p50_ms": p50, "p99_ms": p99, "non2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else ""}


def parse_latency(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="kfcgi-bench-gate-"))
    tls = workdir / "tls"
    subprocess.run(["bash", str(REPO / "scripts" / "dev-cert.sh"), str(tls)], check=True, capture_output=True)
    api_port = free_port()
    with IdentityProvider(access_token_lifespan=3600) as idp, \
            GateStack(workdir / "stack", tls, idp=idp, upstream_address=f"127.0.0.1:{api_port}",
                      gate_extra=STATIC_API.format(port=api_port)) as stack:
        token = stack.token()
        # The paths do what they should before anything is measured.
        assert stack.gate("/public/static").status_code == 200
        assert stack.gate("/api/static").status_code == 401
        assert stack.gate("/api/static", "garbage").status_code == 401
        answer = stack.gate("/api/static", token)
        assert answer.status_code == 200 and answer.json() == {"ok": True}, answer.text
        targets = {
            "unprotected /public/static": stack.gate_url("/public/static"),
            "protected /api/static": stack.gate_url("/api/static"),
        }
        results: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
        for round_index in range(args.rounds):
            for name, url in targets.items():
                result = run_wrk(url, args.duration, args.connections, f"Bearer {token}")
                results[name].append(result)
                print(f"round {round_index + 1} {name:28} {result['rps']:9.0f} req/s  p50 {result['p50_ms']:6.2f} ms"
                      f"  p99 {result['p99_ms']:6.2f} ms  non-2xx {result['non2xx']} {result['socket_errors']}",
                      file=sys.stderr)
        checks = stack.responder_log().count("http.path=/auth ")

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    print(f"\nwrk -t2 -c{args.connections} -d{args.duration}s --latency, {args.rounds} alternating rounds, medians")
    print(f"{'target':28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    for name in results:
        non2xx = sum(r["non2xx"] for r in results[name])
        print(f"{name:28} {median(name, 'rps'):9.0f} {median(name, 'p50_ms'):8.2f} {median(name, 'p99_ms'):8.2f} {non2xx:8d}")
    open_name, gated_name = targets
    print(f"added by auth_request: p50 {median(gated_name, 'p50_ms') - median(open_name, 'p50_ms'):+.2f} ms, "
          f"p99 {median(gated_name, 'p99_ms') - median(open_name, 'p99_ms'):+.2f} ms, "
          f"throughput x{median(gated_name, 'rps') / median(open_name, 'rps'):.2f}")
    print(f"responder /auth checks logged: {checks}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
