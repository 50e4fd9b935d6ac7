#!/usr/bin/env python3
"""The whole benchmark suite in one run: keycloak-fcgi, nginx's own limit and the FastAPI peers,
all through the same TLS nginx configuration, in alternating rounds.

Starts on free loopback ports: the test identity provider (idp/mini_keycloak.py, tokens valid
for an hour), the two peers (bench/peers/, `uvicorn --workers 2` each), and three stacks of
release binary + nginx rendered from the project's template (the stack harness of
Tests/Integration/harness):
  main      jwks mode with the verified-token cache (the default configuration); its nginx also
            serves the limit (`return 200` in the TLS server), the FastCGI floor (a do-nothing
            libfcgi responder, bench/peers/fcgi_floor.c, with the same kept connections), proxies /peer-seed/ and /peer-jwt/
            to the peers (upstreams with keepalive) and carries the auth_request gate of
            nginx/examples/auth-gate.conf.template (bench/bench_auth_gate.py's set-up); its
            responder has browser sign-in on (SESSION_KEYS_FILE, OIDC_REDIRECT_URI on the gate's
            TLS listener), and a browser's sign-in (benchlib.sign_in) gives the session cookie;
  nocache   jwks mode, AUTH_TOKEN_CACHE_SIZE=0;
  userinfo  AUTH_VERIFY=userinfo (the seed's design: one userinfo call per request);
  revoked   the default configuration with --revocations (10 000) other sessions in its
            revocation list (logout tokens posted to its back-channel logout endpoint);
  revoked_redis  the same with REVOCATION_STORE on a redis-server started on a free port
            (bench/bench_revocation.py has the same pair, an A/A control and a filter hit).
Every stack's nginx is rendered from the same template; an idle one costs no CPU.

Then `wrk -t2 -c64 -d10s --latency` against each GET target, and `-c8` against each POST /login
target, one after the other, in `--rounds` alternating rounds; prints medians (requests/s, p50,
p99), the ratios, and every target of the issue with MET/MISSED; writes
bench/results/latest.json and bench/results/latest.png. Memory and start-up: bench/memory.py.
Then, with its own provider and stacks, bench/bench_nginx_configs.py's rows: keycloak-fcgi next to
the do-nothing floor behind the shipped template, the nginx docs' ordinary keep-alive recipe and
no keep-alive, at -c64 and -c256 and POST /login at -c8 (`--configs`, default all; none with
`--only` unless named; `--no-configs`); their targets join the list.

    python3 bench/run_all.py [--rounds 3] [--duration 10] [--connections 64]
                             [--login-connections 8] [--quick] [--only KEY,KEY] [--no-install]
                             [--revocations 10000] [--configs template,ordinary,nokeepalive]
                             [--no-configs]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402
import bench_nginx_configs  # noqa: E402
from benchlib import (FORM, LOGIN_BURST, LOGIN_RATE, PASSWORD, RESULTS, USERNAME, FloorResponder,  # noqa: E402
                      IdentityProvider, Peer, RedisServer, WrkRun, run_wrk)

USERINFO_THREADS = {"FCGI_WORKERS": "80", "KEYCLOAK_MAX_CONCURRENT_CALLS": "72"}


@dataclass
class Target:
    key: str
    label: str
    group: str  # "get" (-c64) or "login" (-c8)
    url: str
    peer: str | None = None  # the key this target is compared with
    method: str = "GET"
    body: str = field(default="", repr=False)
    authorization: str = field(default="", repr=False)
    cookie: str = field(default="", repr=False)
    runs: list[WrkRun] = field(default_factory=list)

    def median(self, name: str) -> float:
        return statistics.median(getattr(run, name) for run in self.runs)

    @property
    def errors(self) -> int:
        return sum(run.errors for run in self.runs)


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"sanity check failed before measuring: {what}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--login-connections", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s (a smoke run, not a result)")
    parser.add_argument("--only", default="", help="comma-separated target keys (limit is always kept)")
    parser.add_argument("--no-install", action="store_true", help="fail instead of pip-installing the peers")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where latest.json and latest.png go")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, configs)")
    parser.add_argument("--revocations", type=int, default=10000,
                        help="entries in the revoked stacks' revocation lists")
    parser.add_argument("--configs", default=None,
                        help="nginx configurations for bench_nginx_configs.py's rows (comma-separated, of "
                             f"{','.join(bench_nginx_configs.CONFIGS)}; default: all, none with --only)")
    parser.add_argument("--no-configs", action="store_true", help="leave out the nginx configurations' rows")
    args = parser.parse_args()
    benchlib.stop_cleanly_on_sigterm()
    if args.quick:
        args.rounds, args.duration = 1, 3
    configs = [] if args.no_configs else [name.strip() for name in (
        args.configs if args.configs is not None else "" if args.only else ",".join(bench_nginx_configs.CONFIGS)
    ).split(",") if name.strip()]
    if set(configs) - set(bench_nginx_configs.CONFIGS):
        parser.error(f"unknown --configs: {', '.join(sorted(set(configs) - set(bench_nginx_configs.CONFIGS)))}")

    benchlib.ensure_requirements(install=not args.no_install)
    BenchStack = benchlib.make_bench_stack_class()
    from harness.stack import Stack, free_port

    wanted = {"limit", *(key.strip() for key in args.only.split(","))} if args.only else None

    def want(key: str) -> bool:
        return wanted is None or key in wanted

    started = datetime.now(timezone.utc)
    load_before = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="kfcgi-bench-all-"))
    tls = benchlib.dev_certificate(workdir / "tls")
    peers: dict[str, Peer] = {}
    floor: FloorResponder | None = None
    redis: RedisServer | None = None
    stacks: list = []
    targets: list[Target] = []
    memory: dict[str, int] = {}
    configs_measured = None
    try:
        # The gate's TLS port is chosen first: the provider must know the sign-in callback on it.
        gate_tls_port = free_port()
        redirect_uri = f"https://localhost:{gate_tls_port}/oauth2/callback"
        with IdentityProvider(access_token_lifespan=3600, redirect_uris=[redirect_uri]) as idp:
            try:
                peers["peer-seed"] = Peer("seed_app", idp, workdir / "peers").start()
                peers["peer-jwt"] = Peer("local_jwt_app", idp, workdir / "peers").start()
                floor = FloorResponder(workdir / "floor").start()
                main_stack = BenchStack(workdir / "main", tls, idp=idp, peers=peers, floor=floor,
                                        gate_tls_port=gate_tls_port,
                                        env=benchlib.session_env(workdir / "main-session", redirect_uri),
                                        login_rate=LOGIN_RATE, login_burst=LOGIN_BURST)
                stacks.append(main_stack)
                main_stack.start()
                nocache = Stack(workdir / "nocache", tls, idp=idp, env={"AUTH_TOKEN_CACHE_SIZE": "0"},
                                login_rate=LOGIN_RATE, login_burst=LOGIN_BURST)
                stacks.append(nocache)
                nocache.start()
                # Enough threads for c64 provider calls at once: with the defaults (16 workers, 12
                # provider slots) most of -c64 is shed with an immediate 503 (identityProviderBusy),
                # which measures the shedding, not the design.
                userinfo = Stack(workdir / "userinfo", tls, idp=idp,
                                 env={"AUTH_VERIFY": "userinfo", **USERINFO_THREADS},
                                 login_rate=LOGIN_RATE, login_burst=LOGIN_BURST)
                stacks.append(userinfo)
                userinfo.start()
                # The revocation pair: the default configuration with a populated list, in memory
                # and through Redis (started only when their rows are measured).
                revoked_stacks: dict[str, Stack] = {}
                if want("fcgi_revoked"):
                    revoked_stacks["fcgi_revoked"] = Stack(workdir / "revoked", tls, idp=idp,
                                                           login_rate=LOGIN_RATE, login_burst=LOGIN_BURST)
                if want("fcgi_revoked_redis"):
                    redis = RedisServer(workdir / "redis").start()
                    revoked_stacks["fcgi_revoked_redis"] = Stack(
                        workdir / "revoked-redis", tls, idp=idp, env={"REVOCATION_STORE": redis.url},
                        login_rate=LOGIN_RATE, login_burst=LOGIN_BURST)
                for stack in revoked_stacks.values():
                    stacks.append(stack)
                    stack.start()
                if "fcgi_revoked_redis" in revoked_stacks:
                    redis_stack = revoked_stacks["fcgi_revoked_redis"]
                    redis_stack.wait_until(
                        lambda: benchlib.metric(redis_stack, "keycloak_fcgi_revocation_store_connected") == 1,
                        "the responder to connect to Redis")
                revoked_sids: list[str] = []
                if revoked_stacks and args.revocations:
                    print(f"populating the revocation lists with {args.revocations} revocations", file=sys.stderr)
                    revoked_sids = benchlib.populate_revocations(
                        idp, [stack.internal_url("/oauth2/backchannel-logout") for stack in revoked_stacks.values()],
                        args.revocations)

                # One token for every GET target; its sid misses the revoked lists' filter, so the
                # revoked rows measure the path nearly every request takes (bench_revocation.py).
                for _ in range(10):
                    token = main_stack.token(USERNAME, PASSWORD)
                    if not benchlib.filter_hit(token, revoked_sids):
                        break
                bearer = f"Bearer {token}"
                cookie = benchlib.sign_in(main_stack.gate_tls_url(""), tls / "ca.crt", USERNAME, PASSWORD)
                login_body = benchlib.login_form()
                idp_body = benchlib.password_grant_form(idp)
                targets = [
                    Target("limit", "nginx return 200 (the limit)", "get", main_stack.url("/bench/return200")),
                    Target("fcgi_floor", "do-nothing libfcgi responder (the floor)", "get",
                           main_stack.floor_url(), authorization=bearer),
                    Target("fcgi_cache", "keycloak-fcgi /protected jwks+cache", "get",
                           main_stack.url("/protected"), "peer_jwt", authorization=bearer),
                    *(Target(key, label, "get", revoked_stacks[key].url("/protected"), "fcgi_cache",
                             authorization=bearer)
                      for key, label in (("fcgi_revoked", f"/protected cache, {args.revocations} revoked"),
                                         ("fcgi_revoked_redis", f"/protected cache, {args.revocations} revoked, redis"))
                      if key in revoked_stacks),
                    Target("fcgi_nocache", "keycloak-fcgi /protected jwks no cache", "get",
                           nocache.url("/protected"), "peer_jwt", authorization=bearer),
                    Target("fcgi_userinfo", "keycloak-fcgi /protected userinfo", "get",
                           userinfo.url("/protected"), "peer_seed", authorization=bearer),
                    Target("fcgi_auth", "keycloak-fcgi /auth jwks+cache", "get",
                           main_stack.url("/auth"), "peer_jwt", authorization=bearer),
                    Target("gate_open", "gate (HTTP): static API, no check", "get",
                           main_stack.gate_url("/public/static"), authorization=bearer),
                    Target("gate_checked", "gate (HTTP): static API + /auth", "get",
                           main_stack.gate_url("/api/static"), "gate_open", authorization=bearer),
                    Target("gate_session", "gate (HTTP): static API + /auth, session", "get",
                           main_stack.gate_url("/api/static"), "gate_checked", cookie=cookie),
                    Target("peer_seed", "FastAPI seed /protected (userinfo)", "get",
                           main_stack.url("/peer-seed/protected"), authorization=bearer),
                    Target("peer_jwt", "FastAPI+PyJWT /protected (local)", "get",
                           main_stack.url("/peer-jwt/protected"), authorization=bearer),
                    Target("login_fcgi", "keycloak-fcgi POST /login", "login", main_stack.url("/login"),
                           "login_idp", method="POST", body=login_body),
                    Target("login_seed", "FastAPI seed POST /login", "login", main_stack.url("/peer-seed/login"),
                           "login_idp", method="POST", body=login_body),
                    Target("login_idp", "provider token endpoint, direct", "login", idp.token_url,
                           method="POST", body=idp_body),
                ]
                if wanted is not None:
                    targets = [target for target in targets if target.key in wanted]

                sanity_checks(main_stack, nocache, userinfo, idp, token, login_body, cookie=cookie,
                              revoked_stacks=revoked_stacks, revoked_sids=revoked_sids, revocations=args.revocations)
                print(f"measuring {len(targets)} targets, {args.rounds} round(s) of {args.duration} s each; "
                      f"load average {load_before[0]:.2f}", file=sys.stderr)
                for round_index in range(args.rounds):
                    for target in targets:
                        connections = args.connections if target.group == "get" else args.login_connections
                        run = run_wrk(target.url, seconds=args.duration, connections=connections,
                                      method=target.method, body=target.body,
                                      content_type=FORM if target.method == "POST" else "",
                                      authorization=target.authorization, cookie=target.cookie)
                        target.runs.append(run)
                        print(f"round {round_index + 1} {target.label:40} {run.ok_rps:9.0f} 2xx/s  "
                              f"p50 {run.p50_ms:7.2f} ms  p99 {run.p99_ms:7.2f} ms  errors {run.errors}"
                              f"{' (' + run.socket_detail + ')' if run.socket_errors else ''}", file=sys.stderr)
                for name, stack in (("main (jwks+cache)", main_stack), ("nocache", nocache), ("userinfo", userinfo),
                                    *(("revoked" if key == "fcgi_revoked" else "revoked (redis)", stack)
                                      for key, stack in revoked_stacks.items())):
                    memory[name] = benchlib.resident_kib(stack.responder.pid)
            finally:
                for stack in stacks:
                    stack.stop()
                for peer in peers.values():
                    peer.stop()
                if floor is not None:
                    floor.stop()
                if redis is not None:
                    redis.stop()
        if configs:
            # Its own provider, stacks and floors, once the stacks above are stopped.
            configs_measured = bench_nginx_configs.measure(configs, rounds=args.rounds, duration=args.duration,
                                                           workdir=workdir / "configs", tls=tls)
    finally:
        benchlib.finish_workdir(workdir, args.keep)

    report = summarize(targets, args, started, load_before, memory, configs_measured)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    chart(targets, args, args.out / "latest.png")
    print(f"\nwritten: {args.out / 'latest.json'}, {args.out / 'latest.png'}")
    return 0


def sanity_checks(main_stack, nocache, userinfo, idp, token: str, login_body: str, *, cookie: str,
                  revoked_stacks: dict, revoked_sids: list[str], revocations: int) -> None:
    """Every target answers what it should before anything is measured (a fast 401 is no result)."""
    import requests

    user = {"preferred_username": "abdullah", "email": "abdullah@example.com", "full_name": "Abdullah Alqahtani"}
    check(main_stack.get("/bench/return200").status_code == 200, "the limit location")
    floor = main_stack.get(benchlib.FLOOR_PATH)
    check(floor.status_code == 200 and floor.json() == {"ok": True}, "the FastCGI floor responder")
    for stack in (main_stack, nocache, userinfo):
        answer = stack.protected(token)
        check(answer.status_code == 200 and answer.json()["preferred_username"] == "abdullah",
              f"/protected: {answer.status_code} {answer.text}")
    answer = main_stack.get("/auth", headers={"Authorization": f"Bearer {token}"})
    check(answer.status_code == 204 and answer.headers.get("X-Auth-Username") == "abdullah",
          f"/auth: {answer.status_code}")
    check(main_stack.gate("/public/static", token).status_code == 200, "the gate's open path")
    check(main_stack.gate("/api/static").status_code == 401, "the gate refuses no token")
    check(main_stack.gate("/api/static", token).json() == {"ok": True}, "the gate lets a token through")
    answer = main_stack.gate("/api/static", headers={"Cookie": cookie})
    check(answer.status_code == 200 and answer.json() == {"ok": True}, f"the gate lets a session through: {answer.status_code}")
    check(not answer.headers.get("Set-Cookie"), "the session was renewed at once (its access token should last the run)")
    broken = cookie.split("=", 1)[0] + "=v1.broken"
    check(main_stack.gate("/api/static", headers={"Cookie": broken}).status_code == 401, "the gate refuses a broken session")
    for key, stack in revoked_stacks.items():
        answer = stack.protected(token)
        check(answer.status_code == 200 and answer.json()["preferred_username"] == "abdullah",
              f"{key}: /protected {answer.status_code} {answer.text}")
        entries = benchlib.metric(stack, "keycloak_fcgi_revocation_list_entries") or 0
        check(entries == revocations, f"{key}: {entries} entries in the revocation list, expected {revocations}")
        check(not benchlib.filter_hit(token, revoked_sids), f"{key}: the token hits the revocation filter")
    if revoked_sids:
        # The lists are really on: a valid token of a revoked session is refused there, not in main.
        revoked = idp.mint(claims={"sid": revoked_sids[0]})
        check(main_stack.protected(revoked).status_code == 200, "main: a token of another stack's revoked session")
        for key, stack in revoked_stacks.items():
            check(stack.protected(revoked).status_code == 401, f"{key}: a token of a revoked session is accepted")
    for prefix in ("peer-seed", "peer-jwt"):
        answer = main_stack.get(f"/{prefix}/protected", headers={"Authorization": f"Bearer {token}"})
        check(answer.status_code == 200 and answer.json() == user, f"/{prefix}/protected: {answer.status_code} {answer.text}")
        answer = main_stack.get(f"/{prefix}/protected", headers={"Authorization": "Bearer garbage"})
        check(answer.status_code == 401, f"/{prefix}/protected refuses garbage: {answer.status_code}")
    for path in ("/login", "/peer-seed/login"):
        answer = main_stack.post(path, data=login_body, headers={"Content-Type": FORM})
        check(answer.status_code == 200 and answer.json().get("access_token"), f"POST {path}: {answer.status_code} {answer.text}")
    answer = requests.post(idp.token_url, data=benchlib.password_grant_form(idp),
                           headers={"Content-Type": FORM}, timeout=10)
    check(answer.status_code == 200 and answer.json().get("access_token"), f"the provider's token endpoint: {answer.status_code}")


# --- Report ---------------------------------------------------------------------------------------


def verdict(measured: float, threshold: float, higher_is_better: bool) -> str:
    ok = measured >= threshold if higher_is_better else measured <= threshold
    return "MET" if ok else "MISSED"


def summarize(targets: list[Target], args, started: datetime, load_before, memory: dict[str, int],
              configs_measured=None) -> dict:
    by_key = {target.key: target for target in targets}
    limit = by_key["limit"]
    limit_rps, limit_p99 = limit.median("ok_rps"), limit.median("p99_ms")

    print(f"\nwrk -t2 --latency; GET targets -c{args.connections}, POST /login -c{args.login_connections}; "
          f"{args.duration} s per run, {args.rounds} alternating round(s); medians")
    header = f"{'target':40} {'conns':>5} {'2xx/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'×limit':>7} {'vs peer':>22} {'errors':>7}"
    benchlib.print_table_header(header)
    rows = {}
    for target in targets:
        connections = args.connections if target.group == "get" else args.login_connections
        rps, p50, p99 = target.median("ok_rps"), target.median("p50_ms"), target.median("p99_ms")
        ratio_limit = rps / limit_rps if target.group == "get" else None
        peer = by_key.get(target.peer) if target.peer else None
        ratio_peer = rps / peer.median("ok_rps") if peer else None
        peer_text = f"{ratio_peer:6.2f}× {peer.key}" if peer else ""
        limit_text = f"{ratio_limit:7.3f}" if ratio_limit is not None else f"{'':7}"
        print(f"{target.label:40} {connections:5d} {rps:9.0f} {p50:8.2f} {p99:8.2f} {limit_text} {peer_text:>22} {target.errors:7d}")
        rows[target.key] = {
            "label": target.label, "url": target.url, "method": target.method, "connections": connections,
            "ok_rps": rps, "p50_ms": p50, "p99_ms": p99, "ratio_to_limit": ratio_limit,
            "compared_with": peer.key if peer else None, "ratio_to_peer": ratio_peer, "errors": target.errors,
            "rounds": [run.as_dict() for run in target.runs],
        }
    if memory:
        print("responder resident memory after the run: " +
              ", ".join(f"{name} {kib / 1024:.1f} MiB" for name, kib in memory.items()))

    checks = []

    def add(name: str, keys: tuple[str, ...], measured: float, threshold: float, unit: str, higher: bool) -> None:
        errors = sum(by_key[key].errors for key in keys)
        result = verdict(measured, threshold, higher)
        if errors:
            result = "MISSED"  # a fast error is not a result
        checks.append({"target": name, "measured": measured, "threshold": threshold, "unit": unit,
                       "result": result, "errors": errors})

    cache = by_key.get("fcgi_cache")
    if cache:
        add("/protected jwks+cache req/s ≥ 50 % of the limit's", ("fcgi_cache", "limit"),
            cache.median("ok_rps") / limit_rps, 0.50, "× limit", True)
        if "peer_jwt" in by_key:
            add("/protected jwks+cache req/s ≥ 5× the FastAPI local-verification peer", ("fcgi_cache", "peer_jwt"),
                cache.median("ok_rps") / by_key["peer_jwt"].median("ok_rps"), 5.0, "× peer", True)
        add("/protected jwks+cache p99 ≤ 2× the limit's p99", ("fcgi_cache", "limit"),
            cache.median("p99_ms") / limit_p99, 2.0, "× limit p99", False)
    for key in ("fcgi_revoked", "fcgi_revoked_redis"):
        if key in by_key and cache:
            # Paired per round (both measured in it), the median over the rounds.
            ratios = [run.ok_rps / base.ok_rps for run, base in zip(by_key[key].runs, cache.runs)]
            cost = 1 - statistics.median(ratios)
            add(f"revocation check ({by_key[key].label.split(', ', 1)[1]}) costs ≤ 5 %", (key, "fcgi_cache"),
                cost, 0.05, "(1 − 2xx/s ÷ fcgi_cache's; rounds " +
                ", ".join(f"{100 * (1 - ratio):+.1f} %" for ratio in ratios) + ")", False)
    if "login_fcgi" in by_key and "login_idp" in by_key:
        add("/login req/s ≥ 95 % of the provider's token endpoint", ("login_fcgi", "login_idp"),
            by_key["login_fcgi"].median("ok_rps") / by_key["login_idp"].median("ok_rps"), 0.95, "× provider", True)
    configs_report = None
    if configs_measured is not None:
        configs_report, configs_checks = bench_nginx_configs.summarize(configs_measured)
        checks += configs_checks

    print("\ntargets (issue), measured in this run")
    bench_nginx_configs.print_checks(checks)
    print("  (resident memory after 1 M requests and the first answer after start: bench/memory.py)")
    benchlib.print_quiet_notes(load_before, indent="  ")
    if args.rounds < 3 or args.duration < 10:
        print("  note: fewer than 3 rounds of 10 s: a smoke run, not a result")

    return {
        "started": started.isoformat(timespec="seconds"),
        "settings": {"rounds": args.rounds, "duration_s": args.duration, "connections": args.connections,
                     "login_connections": args.login_connections, "wrk_threads": 2},
        "machine": {"cpus": os.cpu_count(), "load_average_before": load_before, "platform": platform.platform(),
                    "nginx": nginx_version(), "python": platform.python_version()},
        "targets": rows,
        "checks": checks,
        "responder_rss_kib": memory,
        "nginx_configs": configs_report,
    }


def nginx_version() -> str:
    try:
        return subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    except OSError:
        return ""


def chart(targets: list[Target], args, path: Path) -> None:
    """Horizontal bars, requests/s on a log scale (the limit and the seed differ by 200×), with
    the p99 written on each bar; GET targets and logins in two panels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"limit": "#7f7f7f", "fcgi": "#1f77b4", "gate": "#17becf", "peer": "#ff7f0e", "login": "#1f77b4"}

    def color(target: Target) -> str:
        if target.key in ("login_seed",):
            return colors["peer"]
        if target.key == "login_idp":
            return "#2ca02c"
        if target.key == "fcgi_floor":
            return "#bcbd22"
        return colors[target.key.split("_")[0]] if target.key.split("_")[0] in colors else colors["limit"]

    groups = [("get", f"GET, wrk -t2 -c{args.connections}"), ("login", f"POST /login, wrk -t2 -c{args.login_connections}")]
    panels = [(title, [t for t in targets if t.group == group]) for group, title in groups]
    panels = [(title, items) for title, items in panels if items]
    heights = [len(items) for _, items in panels]
    figure, axes = plt.subplots(len(panels), 1, figsize=(11, 1.0 + 0.45 * sum(heights) + 0.8 * len(panels)),
                                gridspec_kw={"height_ratios": heights}, squeeze=False)
    for axis, (title, items) in zip(axes[:, 0], panels):
        labels = [t.label for t in items][::-1]
        values = [t.median("ok_rps") for t in items][::-1]
        bars = axis.barh(labels, values, color=[color(t) for t in items][::-1])
        axis.set_xscale("log")
        axis.set_xlim(min(values) / 2, max(values) * 6)
        axis.set_title(title, loc="left", fontsize=10)
        axis.set_xlabel("2xx answers/s (median of the rounds, log scale)")
        for bar, target in zip(bars, items[::-1]):
            axis.text(bar.get_width() * 1.08, bar.get_y() + bar.get_height() / 2,
                      f"{target.median('ok_rps'):,.0f}/s · p99 {target.median('p99_ms'):.1f} ms",
                      va="center", fontsize=8)
        axis.tick_params(axis="y", labelsize=8)
        axis.grid(axis="x", which="major", alpha=0.3)
    figure.suptitle(f"keycloak-fcgi benchmarks: TLS nginx on loopback, {args.rounds} round(s) × {args.duration} s, "
                    f"{time.strftime('%Y-%m-%d %H:%M')}", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    sys.exit(main())
