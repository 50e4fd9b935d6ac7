#!/usr/bin/env python3
"""What the revocation check (back-channel logout) costs `/protected` in jwks mode with the cache.

The check is always in the product: every bearer or session check consults the process-local
revocation list. "Off" is its fast path, an empty list (one atomic load); "on" is a list holding
`--revocations` (10 000) ended sessions of other logins, so the benchmark's token is checked
against a populated list without being revoked.

Starts the test identity provider, a redis-server on a free loopback port, and five stacks of
the release binary behind nginx (the project's template), all in the default configuration
(jwks, verified-token cache) and all given the same access token:

  off        an empty list (nothing was ever logged out);
  off_b      another stack exactly like `off`: the A/A control, i.e. what two identical stacks
             differ by in the same rounds (the noise the 5 % has to be read against);
  on         `--revocations` session revocations, posted as logout tokens to its
             POST /oauth2/backchannel-logout (nginx's internal listener); the token's `sid`
             and `sub` miss the list's Bloom filter (checked here with the same hash), so this
             is the path nearly every request takes;
  on_redis   the same with REVOCATION_STORE=redis://127.0.0.1:<port>/0 (the revocations go
             through Redis and come back to the list); Redis's command counter is read around
             each of its runs, to show the request path never leaves the process;
  off_refused  an empty list, after the same logout tokens with a broken signature (400 after
             the RSA check): the same back-channel traffic as `on`, nothing revoked; a control
             for what receiving 10 000 logouts leaves in the process (heap, logs), apart from
             the list (not in the default set: `--only off_refused,...`);
  on_hit     the same revocations plus one of the user's subject (a logout token with `sub`
             and no `sid`) before the benchmark's token was issued: the token is still valid
             (issued after the cut-off), but its `sub` is in the filter, so every check takes the
             read lock and the dictionary lookup. The worst case for a valid token (about 1 % of
             tokens hit the filter by chance at 10 000 entries).

The logout tokens are shaped as Keycloak's (header typ logout+jwt; exp, iat, jti, iss, aud,
sub, typ Logout, sid, events) and minted through the emulator's /_admin/mint (it has no
`logout` kind: an access token with its claims replaced). Each is posted to every populated
stack. Every stack's list size is read from /metrics before measuring, and a token of a revoked
session must be refused by `on` and accepted by `off`.

Then `wrk -t2 -c64 -d<duration>s --latency` against each target, in `--rounds` rounds, the order
reversed every other round (ABBA, so a drift over the run does not favour one side); prints per
round and medians (2xx/s, p50, p99, the responder's CPU µs per request), and the cost of each
"on" variant as 1 − its 2xx/s ÷ off's in the same round: median, range and a 95 % bootstrap
interval of the median over the rounds. Target (issue): the check costs ≤ 5 %. Two identical
processes differ by 10–30 % in a single run on the 2-core machines (the A/A control shows it),
so a few % needs many rounds (`--only on,off_b --rounds 20 --duration 3`). Before each run it
waits for other processes to leave the CPU and repeats a run they disturbed (`--quiet-wait`;
benchlib.run_wrk_quietly). Writes bench/results/revocation.json.

    python3 bench/bench_revocation.py [--rounds 3] [--duration 10] [--connections 64]
                                      [--revocations 10000] [--only KEY,...] [--no-redis]
                                      [--no-control] [--no-hit] [--quiet-wait 300]
                                      [--profile SECONDS] [--keep]

`--profile SECONDS`: afterwards, `perf record -g` of each responder under the same load, and the
share of its CPU samples in the check itself (RevocationCheckingAuthenticator.check with what it
calls), in malloc/free and in the mutex slow path: the check's cost without the run-to-run noise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402
from benchlib import RESULTS, IdentityProvider, RedisServer, WrkRun  # noqa: E402

USERNAME, PASSWORD = "abdullah", "Test#123456"
COST_LIMIT = 0.05
#: --profile: what share of the responder's CPU samples goes where (perf symbol regexes).
PROFILE_INCLUSIVE = {
    "revocation check": r"RevocationCheckingAuthenticatorV5check_",
    "  of which isRevoked": r"RevocationListC9isRevoked",
}
PROFILE_OWN = {
    "malloc/free": r"^(malloc|_int_malloc|_int_free|cfree@\S*|free|malloc_consolidate|__libc_malloc|__libc_free)$",
    "mutex slow path": r"_MutexHandleV9_lockSlow",
}
LABELS = {
    "off": "off: empty list",
    "off_b": "off, second stack (A/A control)",
    "on": "on: {n} other sessions revoked",
    "on_redis": "on: {n}, REVOCATION_STORE=redis",
    "on_hit": "on: {n} + the user's sub (filter hit)",
    "off_refused": "off: empty, after {n} refused",
}


def populated_stacks(workdir: Path, tls: Path, idp: IdentityProvider, redis: RedisServer | None, *,
                     revocations: int, keys: list[str]) -> tuple[dict, list[str]]:
    """Starts the stacks named in `keys` (see the module docstring), fills the lists; answers
    the stacks and the revoked sids. The caller stops the stacks (also on failure)."""
    from harness.stack import Stack

    stacks: dict = {}
    for key in keys:
        env = {"REVOCATION_STORE": redis.url} if key == "on_redis" else {}
        stacks[key] = Stack(workdir / key, tls, idp=idp, env=env)
    for stack in stacks.values():
        stack.start()
    if "on_redis" in stacks:
        stacks["on_redis"].wait_until(
            lambda: benchlib.metric(stacks["on_redis"], "keycloak_fcgi_revocation_store_connected") == 1,
            "the responder to connect to Redis")
    targets = [key for key in ("on", "on_redis", "on_hit") if key in stacks]
    refused = [key for key in ("off_refused",) if key in stacks]
    sids: list[str] = []
    if (targets or refused) and revocations:
        print(f"populating {', '.join(targets + refused)} with {revocations} revocations", file=sys.stderr)
        started = time.monotonic()
        sids = benchlib.populate_revocations(
            idp, [stacks[key].internal_url("/oauth2/backchannel-logout") for key in targets], revocations,
            refused_urls=[stacks[key].internal_url("/oauth2/backchannel-logout") for key in refused])
        print(f"  done in {time.monotonic() - started:.0f} s", file=sys.stderr)
    if "on_hit" in stacks:
        import requests
        with requests.Session() as session:
            session.trust_env = False
            benchlib.post_logout_token(session, stacks["on_hit"].internal_url("/oauth2/backchannel-logout"),
                                       benchlib.logout_token(idp, with_sid=False))
        # A subject revocation refuses the user's tokens issued at or before it (whole seconds):
        # the benchmark's token is issued afterwards.
        time.sleep(1.5)
    return stacks, sids


def bench_token(stack, sids: list[str], attempts: int = 10) -> str:
    """An access token (a login through `stack`) whose sid and sub miss the filter of a list of
    `sids`, so that `on` measures the path nearly every request takes."""
    for _ in range(attempts):
        token = stack.token(USERNAME, PASSWORD)
        if not benchlib.filter_hit(token, sids):
            return token
    raise SystemExit(f"{attempts} tokens in a row hit the revocation filter: the filter is not what this script assumes")


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"sanity check failed before measuring: {what}")


def sanity_checks(stacks: dict, idp: IdentityProvider, token: str, sids: list[str], revocations: int) -> None:
    from harness.jwt import claims_of

    for key, stack in stacks.items():
        answer = stack.protected(token)
        check(answer.status_code == 200 and answer.json()["preferred_username"] == USERNAME,
              f"{key}: /protected answered {answer.status_code} {answer.text[:200]}")
        expected = {"off": 0, "off_b": 0, "off_refused": 0, "on": revocations, "on_redis": revocations,
                    "on_hit": revocations + 1}[key]
        # The gauge appears with the first entry: absent means an empty list.
        entries = benchlib.metric(stack, "keycloak_fcgi_revocation_list_entries") or 0
        check(entries == expected, f"{key}: {entries} entries in the revocation list, expected {expected}")
    if sids:
        # The list is really on: a valid token of a revoked session is refused there, not in `off`.
        revoked = idp.mint(claims={"sid": sids[len(sids) // 2]})
        for key, stack in stacks.items():
            status = stack.protected(revoked).status_code
            check(status == (200 if key.startswith("off") else 401),
                  f"{key}: a token of a revoked session answered {status}")
    if "on_hit" in stacks:
        # The subject's cut-off refuses a token issued before it, and the benchmark's passes.
        old = idp.mint(claims={"iat": claims_of(token)["iat"] - 60})
        check(stacks["on_hit"].protected(old).status_code == 401, "on_hit: a token from before the subject's logout")
        check(benchlib.filter_hit(token, subjects=[claims_of(token)["sub"]]), "on_hit: the token's sub hits the filter")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--revocations", type=int, default=10000, help="entries in the populated lists")
    parser.add_argument("--no-redis", action="store_true", help="leave out on_redis (no redis-server needed)")
    parser.add_argument("--no-control", action="store_true", help="leave out off_b (the A/A control)")
    parser.add_argument("--no-hit", action="store_true", help="leave out on_hit")
    parser.add_argument("--only", default="", help="comma-separated targets (off is always kept), e.g. on,off_b")
    benchlib.add_paired_arguments(
        parser, RESULTS,
        "after the rounds, perf-record each responder under the same load for SECONDS and "
        "print the share of its CPU samples in the revocation check")
    args = parser.parse_args()
    benchlib.stop_cleanly_on_sigterm()

    keys = ["off", "on"] + ([] if args.no_redis else ["on_redis"]) + ([] if args.no_control else ["off_b"]) + \
        ([] if args.no_hit else ["on_hit"])
    if "off_refused" in args.only:
        keys.append("off_refused")
    if args.only:
        unknown = {key.strip() for key in args.only.split(",")} - set(LABELS)
        if unknown:
            parser.error(f"unknown targets: {', '.join(sorted(unknown))} (known: {', '.join(LABELS)})")
        keys = [key for key in keys if key == "off" or key in {key.strip() for key in args.only.split(",")}]
    labels = {key: LABELS[key].format(n=f"{args.revocations:,}".replace(",", " ")) for key in keys}
    load_before = os.getloadavg()
    started = datetime.now(timezone.utc)
    workdir = Path(tempfile.mkdtemp(prefix="kfcgi-bench-revocation-"))
    tls = benchlib.dev_certificate(workdir / "tls")
    runs: dict[str, list[WrkRun]] = {key: [] for key in keys}
    redis_commands: list[dict] = []
    stacks: dict = {}
    redis: RedisServer | None = None
    memory: dict[str, int] = {}
    profiles: dict[str, dict[str, float]] = {}
    if args.profile > 0 and not benchlib.perf_usable():
        parser.error("--profile needs a working `perf record` (linux-perf, perf_event_paranoid)")
    try:
        with IdentityProvider(access_token_lifespan=3600) as idp:
            try:
                if "on_redis" in keys:
                    redis = RedisServer(workdir / "redis").start()
                stacks, sids = populated_stacks(workdir, tls, idp, redis, revocations=args.revocations, keys=keys)
                token = bench_token(stacks["off"], sids)
                sanity_checks(stacks, idp, token, sids, args.revocations)
                print(f"measuring {len(keys)} targets, {args.rounds} round(s) of {args.duration} s each; "
                      f"load average {load_before[0]:.2f}", file=sys.stderr)
                for round_index in range(args.rounds):
                    order = keys if round_index % 2 == 0 else keys[::-1]
                    for key in order:
                        before = redis.commands_processed() if key == "on_redis" else 0
                        run = benchlib.run_wrk_quietly(
                            stacks[key].url("/protected"), quiet_wait=args.quiet_wait, seconds=args.duration,
                            connections=args.connections, authorization=f"Bearer {token}",
                            watch=(stacks[key].responder.pid,))
                        if key == "on_redis":
                            # minus the second INFO itself
                            redis_commands.append({"round": round_index + 1, "requests": run.requests,
                                                   "commands": redis.commands_processed() - before - 1})
                        runs[key].append(run)
                        print(f"round {round_index + 1} {labels[key]:40} {run.ok_rps:9.0f} 2xx/s  "
                              f"p50 {run.p50_ms:7.2f} ms  p99 {run.p99_ms:7.2f} ms  errors {run.errors}  "
                              f"responder {run.watched_us_per_request:5.1f} µs/req  other CPU {100 * run.foreign_cpu:4.1f} %"
                              + (f"  redis commands {redis_commands[-1]['commands']}" if key == "on_redis" else ""),
                              file=sys.stderr)
                if args.profile > 0:
                    for key, stack in stacks.items():
                        print(f"profiling {key} for {args.profile:g} s", file=sys.stderr)
                        data = benchlib.profile_under_load(
                            stack.url("/protected"), stack.responder.pid, args.profile, workdir / f"perf-{key}.data",
                            connections=args.connections, authorization=f"Bearer {token}")
                        profiles[key] = benchlib.perf_shares(data, inclusive=PROFILE_INCLUSIVE, own=PROFILE_OWN)
                for key, stack in stacks.items():
                    memory[key] = benchlib.resident_kib(stack.responder.pid)
                    entries = benchlib.metric(stack, "keycloak_fcgi_revocation_list_entries") or 0
                    expected = {"off": 0, "off_b": 0, "off_refused": 0,
                                "on_hit": args.revocations + 1}.get(key, args.revocations)
                    check(entries == expected, f"{key}: {entries} entries after the run, expected {expected}")
            finally:
                for stack in stacks.values():
                    stack.stop()
                if redis is not None:
                    redis.stop()
    finally:
        benchlib.finish_workdir(workdir, args.keep)

    report = summarize(runs, labels, redis_commands, memory, args, started, load_before)
    if profiles:
        report["profile"] = print_profiles(profiles, labels, args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "revocation.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten: {args.out / 'revocation.json'}")
    return 0


def paired_costs(runs: dict[str, list[WrkRun]], key: str, base: str = "off") -> list[float]:
    """1 − key's 2xx/s ÷ base's, per round (both measured in that round)."""
    return [1 - run.ok_rps / base_run.ok_rps for run, base_run in zip(runs[key], runs[base])]


def paired_cpu(runs: dict[str, list[WrkRun]], key: str, base: str = "off") -> list[float]:
    """key's responder CPU per request ÷ base's − 1, per round."""
    return [run.watched_us_per_request / base_run.watched_us_per_request - 1
            for run, base_run in zip(runs[key], runs[base])]


def spread_text(values: list[float]) -> str:
    return f"{100 * statistics.median(values):+5.1f} % ({100 * min(values):+.1f} … {100 * max(values):+.1f})"


def summarize(runs, labels, redis_commands, memory, args, started, load_before) -> dict:
    median = lambda key, name: statistics.median(getattr(run, name) for run in runs[key])  # noqa: E731
    print(f"\nGET /protected (jwks + verified-token cache), wrk -t2 -c{args.connections} --latency, "
          f"{args.duration} s × {args.rounds} rounds (order reversed every other round); medians")
    header = (f"{'revocation list':40} {'2xx/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'µs/req':>7} "
              f"{'2xx/s cost vs off (range)':>27} {'µs/req vs off (range)':>27} {'errors':>6} {'RSS MiB':>7}")
    benchlib.print_table_header(header)
    rows = {}
    for key in runs:
        errors = sum(run.errors for run in runs[key])
        cost = paired_costs(runs, key) if key != "off" else []
        cpu = paired_cpu(runs, key) if key != "off" else []
        rss = f"{memory[key] / 1024:7.1f}" if key in memory else f"{'':7}"
        print(f"{labels[key]:40} {median(key, 'ok_rps'):8.0f} {median(key, 'p50_ms'):7.2f} {median(key, 'p99_ms'):7.2f} "
              f"{median(key, 'watched_us_per_request'):7.1f} {spread_text(cost) if cost else '':>27} "
              f"{spread_text(cpu) if cpu else '':>27} {errors:6d} {rss}")
        rows[key] = {"label": labels[key], "ok_rps": median(key, "ok_rps"), "p50_ms": median(key, "p50_ms"),
                     "p99_ms": median(key, "p99_ms"), "responder_us_per_request": median(key, "watched_us_per_request"),
                     "cost_vs_off_per_round": cost, "cost_vs_off_median": statistics.median(cost) if cost else None,
                     "responder_cpu_vs_off_per_round": cpu,
                     "responder_cpu_vs_off_median": statistics.median(cpu) if cpu else None, "errors": errors,
                     "rss_kib": memory.get(key), "rounds": [run.as_dict() for run in runs[key]]}
    print("2xx/s cost: 1 − 2xx/s ÷ off's in the same round (positive: slower than off). µs/req: the responder's "
          "CPU time (user + system, all threads) per request; vs off: ÷ off's in the same round − 1.")
    if redis_commands:
        total_requests = sum(item["requests"] for item in redis_commands)
        total_commands = sum(item["commands"] for item in redis_commands)
        print(f"Redis commands processed while on_redis was measured: {total_commands}, for {total_requests} requests "
              "(the subscriber's keep-alive PING after 5 s of silence: no command per request)")

    checks = []
    for key in ("on", "on_redis", "on_hit"):
        if key not in runs:
            continue
        cost = statistics.median(paired_costs(runs, key))
        errors = sum(run.errors for run in runs[key]) + sum(run.errors for run in runs["off"])
        result = "MET" if cost <= COST_LIMIT and not errors else "MISSED"
        low, high = benchlib.median_ci(paired_costs(runs, key))
        checks.append({"target": f"the check ({labels[key]}) costs ≤ 5 % of 2xx/s",
                       "measured": cost, "threshold": COST_LIMIT, "result": result, "errors": errors,
                       "ci95": [low, high], "per_round": paired_costs(runs, key),
                       "responder_cpu_per_round": paired_cpu(runs, key)})
    print("\ntarget (issue), measured in this run: 2xx/s cost, median of the rounds' paired costs "
          "[95 % bootstrap interval of that median]")
    for item in checks:
        spread = ", ".join(f"{100 * value:+.1f}" for value in item["per_round"])
        low, high = item["ci95"]
        print(f"  {item['result']:6}  {item['target']:62} {100 * item['measured']:+5.1f} % ≤ 5 %  "
              f"[{100 * low:+.1f} … {100 * high:+.1f}]  (rounds: {spread} %)")
    if "off_b" in runs:
        costs = paired_costs(runs, "off_b")
        low, high = benchlib.median_ci(costs)
        spread = ", ".join(f"{100 * value:+.1f}" for value in costs)
        cpu = ", ".join(f"{100 * value:+.1f}" for value in paired_cpu(runs, "off_b"))
        print(f"  noise: the A/A control (two identical empty-list stacks): median {100 * statistics.median(costs):+.1f} % "
              f"[{100 * low:+.1f} … {100 * high:+.1f}] in 2xx/s (rounds: {spread} %), µs/req rounds: {cpu} %")
    benchlib.print_quiet_notes(load_before, max(run.foreign_cpu for key in runs for run in runs[key]), indent="  ")
    return {
        **benchlib.report_head(started, args, load_before, revocations=args.revocations),
        "targets": rows, "checks": checks, "redis_commands_during_on_redis": redis_commands,
    }


def print_profiles(profiles: dict[str, dict[str, float]], labels: dict[str, str], args) -> dict:
    names = list(PROFILE_INCLUSIVE) + list(PROFILE_OWN)
    print(f"\nprofile: share of each responder's CPU samples (perf record -g, 999 Hz, {args.profile:g} s under the same "
          "load); the check with everything it calls, malloc/free and the mutex slow path by their own samples")
    print(f"{'revocation list':40} " + " ".join(f"{name.strip():>20}" for name in names))
    for key, shares in profiles.items():
        print(f"{labels[key]:40} " + " ".join(f"{shares[name]:19.2f}%" for name in names))
    return {key: {name.strip(): value for name, value in shares.items()} for key, shares in profiles.items()}


if __name__ == "__main__":
    sys.exit(main())
