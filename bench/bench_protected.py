#!/usr/bin/env python3
"""`/protected` through TLS nginx next to nginx's own `return 200` on the same listener.

Starts the test identity provider and, per variant, the release binary behind its own nginx
(the project's template) on free loopback ports; then runs `wrk -t2 -c64 -d10s` against every
target in alternating rounds and prints requests/s, p99 and the ratio to nginx's own
`return 200` side by side, plus each responder's resident memory after the load.

Variants: `cache` (jwks mode with the verified-token cache, the default), `nocache` (jwks,
AUTH_TOKEN_CACHE_SIZE=0), `userinfo` (the seed's design: a userinfo call per request),
`introspect`.

    python3 bench/bench_protected.py [--rounds 3] [--duration 10] [--connections 64]
                                     [--variants cache,nocache]
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

from harness.idp_fixture import IdentityProvider  # noqa: E402
from harness.stack import Stack  # noqa: E402

RETURN_200 = '    location = /bench/return200 { default_type application/json; return 200 \'{"ok":true}\'; }'
WRK_SCRIPT = """
wrk.headers["Authorization"] = os.getenv("BENCH_AUTHORIZATION")
"""


def run_wrk(url: str, seconds: int, connections: int, authorization: str | None = None) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    env = None
    if authorization:
        script = Path(tempfile.mkstemp(suffix=".lua")[1])
        script.write_text(WRK_SCRIPT)
        command[1:1] = ["-s", str(script)]
        env = {"BENCH_AUTHORIZATION": authorization, "PATH": "/usr/bin:/bin"}
    output = subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p99 = parse_latency(re.search(r"\s99%\s+([\d.]+\w+)", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return {"rps": rate, "p99_ms": p99, "non2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else ""}


def parse_latency(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def resident_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


VARIANTS = {
    "cache": ("/protected (jwks, cache)", {}),
    "nocache": ("/protected (jwks, no cache)", {"AUTH_TOKEN_CACHE_SIZE": "0"}),
    "userinfo": ("/protected (userinfo)", {"AUTH_VERIFY": "userinfo"}),
    "introspect": ("/protected (introspect)", {"AUTH_VERIFY": "introspect"}),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--variants", default="cache,nocache")
    args = parser.parse_args()
    variants = [name.strip() for name in args.variants.split(",") if name.strip()]

    workdir = Path(tempfile.mkdtemp(prefix="kfcgi-bench-"))
    tls = workdir / "tls"
    subprocess.run(["bash", str(REPO / "scripts" / "dev-cert.sh"), str(tls)], check=True, capture_output=True)
    stacks: list[Stack] = []
    with IdentityProvider(access_token_lifespan=3600) as idp:
        try:
            for index, variant in enumerate(variants):
                extra = RETURN_200 if index == 0 else ""
                stack = Stack(workdir / variant, tls, idp=idp, env=VARIANTS[variant][1], extra_locations=extra)
                stacks.append(stack)
                stack.start()
            token = stacks[0].token()
            targets: dict[str, tuple[str, str | None]] = {"nginx return 200": (stacks[0].url("/bench/return200"), None)}
            for variant, stack in zip(variants, stacks):
                assert stack.protected(token).status_code == 200
                targets[VARIANTS[variant][0]] = (stack.url("/protected"), f"Bearer {token}")
            results: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
            for round_index in range(args.rounds):
                for name, (url, authorization) in targets.items():
                    result = run_wrk(url, args.duration, args.connections, authorization)
                    results[name].append(result)
                    print(f"round {round_index + 1} {name:28} {result['rps']:10.0f} req/s  p99 {result['p99_ms']:7.2f} ms"
                          f"  non-2xx {result['non2xx']} {result['socket_errors']}", file=sys.stderr)
            memory = {VARIANTS[v][0]: resident_kib(st.responder.pid) for v, st in zip(variants, stacks)}
        finally:
            for stack in stacks:
                stack.stop()

    limit = statistics.median(r["rps"] for r in results["nginx return 200"])
    limit_p99 = statistics.median(r["p99_ms"] for r in results["nginx return 200"])
    print(f"\nwrk -t2 -c{args.connections} -d{args.duration}s, {args.rounds} alternating rounds, medians")
    print(f"{'target':30} {'req/s':>10} {'p99 ms':>8} {'ratio':>6} {'p99 ×':>6} {'non-2xx':>8} {'RSS MiB':>8}")
    for name, rounds in results.items():
        rps = statistics.median(r["rps"] for r in rounds)
        p99 = statistics.median(r["p99_ms"] for r in rounds)
        non2xx = sum(r["non2xx"] for r in rounds)
        rss = f"{memory[name] / 1024:8.1f}" if name in memory else f"{'':8}"
        print(f"{name:30} {rps:10.0f} {p99:8.2f} {rps / limit:6.2f} {p99 / limit_p99:6.2f} {non2xx:8d} {rss}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
