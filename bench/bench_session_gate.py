#!/usr/bin/env python3
"""The example auth_request gate checking a browser's session cookie, next to the same gate
checking a bearer token: same nginx, same protected location, same rounds.

Starts the test identity provider (the gate's TLS callback registered as a redirect URI), the
release binary with browser sign-in on (SESSION_KEYS_FILE with one fresh key,
OIDC_REDIRECT_URI=https://localhost:<gate TLS port>/oauth2/callback) behind nginx with the
project's template plus nginx/examples/auth-gate.conf.template, and, as the protected API, a
static server in the same nginx (bench_auth_gate.py's). A browser's sign-in is made with
`requests` (benchlib.sign_in: /oauth2/start, the provider's login form, /oauth2/callback) for
the session cookie `__Host-keycloak-fcgi`; the bearer token is a /login of the same user.

Targets, all `GET` on the gate's `--listener` (plain HTTP by default, as bench_auth_gate.py and
run_all.py's gate rows; `tls` for the gate's TLS listener, where browsers are):
  open     /public/static: the same proxy hop, no check (the floor of the gate);
  bearer   /api/static with `Authorization: Bearer <access token>`: one /auth subrequest, the
           token verified once and then answered from the verified-token cache;
  session  /api/static with `Cookie: __Host-keycloak-fcgi=…` and no Authorization: one /auth
           subrequest that opens the sealed cookie (AES-256-GCM) and checks the session inside
           (its access token is valid for the whole run, so no refresh happens; checked).

`wrk -t2 -c64 -d<duration>s --latency` against each, `--rounds` rounds, the order reversed every
other round; prints per round and medians (2xx/s, p50, p99, the responder's CPU µs per request),
the session ÷ bearer ratio paired per round, and what the check adds over `open`. Before each
run it waits for other processes to leave the CPU and repeats a run they disturbed
(`--quiet-wait`; benchlib.run_wrk_quietly). Writes bench/results/session_gate.json.

    python3 bench/bench_session_gate.py [--rounds 3] [--duration 10] [--connections 64]
                                        [--listener http|tls] [--quiet-wait 300] [--profile SECONDS]
                                        [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402
from benchlib import RESULTS, IdentityProvider, WrkRun  # noqa: E402

USERNAME, PASSWORD = "abdullah", "Test#123456"
#: --profile: functions of the /auth check (perf symbol regexes), each with what it calls.
PROFILE_INCLUSIVE = {
    "/auth handler": r"AuthGateHandlerV6handle_",
    "bearer: token verification": r"RevocationCheckingAuthenticatorVAA0D0A2aDP6verify_",
    "session: Cookies.parse": r"FCGIApp7CookiesO5parse",
    "session: BrowserSession.open": r"BrowserSessionV4open_",
    "  its SessionKeyring.open": r"SessionKeyringV4open_",
    "  its JSONDecoder.decode": r"JSONDecoderC6decode_4from",
    "identity response": r"AuthGateHandlerV16identityResponse",
}


def make_session_gate_stack_class():
    """SessionGateStack: the gate in front of the static API (bench_auth_gate.py's), with the
    gate's TLS port chosen by the caller, so the provider can be told the callback before the
    stack exists."""
    from bench_auth_gate import STATIC_API, GateStack
    from harness.stack import free_port

    class SessionGateStack(GateStack):
        def __init__(self, workdir: Path, tls_dir: Path, *, gate_tls_port: int, **options):
            static_port = free_port()
            super().__init__(workdir, tls_dir, upstream_address=f"127.0.0.1:{static_port}",
                             gate_extra=STATIC_API.format(port=static_port), **options)
            self.gate_tls_port = gate_tls_port

    return SessionGateStack


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"sanity check failed before measuring: {what}")


def sanity_checks(stack, token: str, cookie: str) -> None:
    """The gate lets each credential through, by the path it claims (the responder logs
    `auth.via=session` for a cookie check), and refuses without one."""
    check(stack.gate("/public/static").status_code == 200, "the gate's open path")
    check(stack.gate("/api/static").status_code == 401, "the gate refuses no credential")
    answer = stack.gate("/api/static", token)
    check(answer.status_code == 200 and answer.json() == {"ok": True}, f"bearer through the gate: {answer.status_code}")
    answer = stack.gate("/api/static", headers={"Cookie": cookie})
    check(answer.status_code == 200 and answer.json() == {"ok": True}, f"session cookie through the gate: {answer.status_code}")
    request_id = answer.headers.get("X-Request-ID", "").split(",")[0].strip()
    stack.wait_until(lambda: stack.auth_checks(request_id), "the responder to log the cookie's check")
    via = stack.auth_checks(request_id)[0].get("auth.via")
    check(via == "session", f"the cookie's check went through {via!r}, not the session")
    check(not answer.headers.get("Set-Cookie"), "the session was renewed at once (its access token should last the run)")
    broken = cookie.split("=", 1)[0] + "=v1.broken"
    check(stack.gate("/api/static", headers={"Cookie": broken}).status_code == 401, "the gate refuses a broken cookie")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--listener", choices=("http", "tls"), default="http", help="the gate's listener to load")
    benchlib.add_paired_arguments(
        parser, RESULTS,
        "after the rounds, perf-record the responder under the bearer and the session load for "
        "SECONDS each and print where its CPU samples go")
    args = parser.parse_args()
    benchlib.stop_cleanly_on_sigterm()
    from harness.stack import free_port

    SessionGateStack = make_session_gate_stack_class()
    load_before = os.getloadavg()
    started = datetime.now(timezone.utc)
    workdir = Path(tempfile.mkdtemp(prefix="kfcgi-bench-session-gate-"))
    tls = benchlib.dev_certificate(workdir / "tls")
    gate_tls_port = free_port()
    redirect_uri = f"https://localhost:{gate_tls_port}/oauth2/callback"
    labels = {"open": "gate: /public/static, no check", "bearer": "gate: /api/static, bearer token",
              "session": "gate: /api/static, session cookie"}
    runs: dict[str, list[WrkRun]] = {key: [] for key in labels}
    counts: dict[str, int] = {}
    profiles: dict[str, dict[str, float]] = {}
    if args.profile > 0 and not benchlib.perf_usable():
        parser.error("--profile needs a working `perf record` (linux-perf, perf_event_paranoid)")
    try:
        with IdentityProvider(access_token_lifespan=3600, redirect_uris=[redirect_uri]) as idp:
            stack = SessionGateStack(workdir / "stack", tls, idp=idp, gate_tls_port=gate_tls_port,
                                     env=benchlib.session_env(workdir / "session", redirect_uri))
            with stack:
                token = stack.token(USERNAME, PASSWORD)
                cookie = benchlib.sign_in(stack.gate_tls_url(""), tls / "ca.crt", USERNAME, PASSWORD)
                sanity_checks(stack, token, cookie)
                url = stack.gate_url if args.listener == "http" else stack.gate_tls_url
                credentials = {"open": {"authorization": f"Bearer {token}"},
                               "bearer": {"authorization": f"Bearer {token}"}, "session": {"cookie": cookie}}
                paths = {"open": "/public/static", "bearer": "/api/static", "session": "/api/static"}
                print(f"session cookie: {len(cookie)} bytes; measuring {len(labels)} targets, {args.rounds} round(s) "
                      f"of {args.duration} s each on the gate's {args.listener} listener; load average {load_before[0]:.2f}",
                      file=sys.stderr)
                keys = list(labels)
                for round_index in range(args.rounds):
                    for key in keys if round_index % 2 == 0 else keys[::-1]:
                        run = benchlib.run_wrk_quietly(url(paths[key]), quiet_wait=args.quiet_wait,
                                                       seconds=args.duration, connections=args.connections,
                                                       watch=(stack.responder.pid,), **credentials[key])
                        runs[key].append(run)
                        print(f"round {round_index + 1} {labels[key]:36} {run.ok_rps:9.0f} 2xx/s  "
                              f"p50 {run.p50_ms:7.2f} ms  p99 {run.p99_ms:7.2f} ms  errors {run.errors}  "
                              f"responder {run.watched_us_per_request:5.1f} µs/req  other CPU {100 * run.foreign_cpu:4.1f} %", file=sys.stderr)
                if args.profile > 0:
                    for key in ("bearer", "session"):
                        print(f"profiling {key} for {args.profile:g} s", file=sys.stderr)
                        data = benchlib.profile_under_load(url(paths[key]), stack.responder.pid, args.profile,
                                                           workdir / f"perf-{key}.data", connections=args.connections,
                                                           **credentials[key])
                        profiles[key] = benchlib.perf_shares(data, inclusive=PROFILE_INCLUSIVE)
                log = stack.responder_log()
                counts = {"session_checks": log.count("auth.via=session"), "renewed": log.count("session.renewed=true"),
                          "auth_checks": log.count("http.path=/auth ")}
    finally:
        benchlib.finish_workdir(workdir, args.keep)

    report = summarize(runs, labels, counts, args, started, load_before)
    if profiles:
        print(f"\nprofile: share of the responder's CPU samples (perf record -g, 999 Hz, {args.profile:g} s under each "
              "load), each function with everything it calls")
        print(f"{'function':28} " + " ".join(f"{key:>9}" for key in profiles))
        for name in PROFILE_INCLUSIVE:
            print(f"{name:28} " + " ".join(f"{profiles[key][name]:8.2f}%" for key in profiles))
        report["profile"] = profiles
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "session_gate.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten: {args.out / 'session_gate.json'}")
    return 0


def summarize(runs, labels, counts, args, started, load_before) -> dict:
    median = lambda key, name: statistics.median(getattr(run, name) for run in runs[key])  # noqa: E731
    print(f"\nthe example gate ({args.listener} listener), wrk -t2 -c{args.connections} --latency, "
          f"{args.duration} s × {args.rounds} rounds (order reversed every other round); medians")
    header = f"{'target':36} {'2xx/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'µs/req':>7} {'errors':>7}"
    benchlib.print_table_header(header)
    rows = {}
    for key in runs:
        errors = sum(run.errors for run in runs[key])
        print(f"{labels[key]:36} {median(key, 'ok_rps'):9.0f} {median(key, 'p50_ms'):8.2f} {median(key, 'p99_ms'):8.2f} "
              f"{median(key, 'watched_us_per_request'):7.1f} {errors:7d}")
        rows[key] = {"label": labels[key], "ok_rps": median(key, "ok_rps"), "p50_ms": median(key, "p50_ms"),
                     "p99_ms": median(key, "p99_ms"), "responder_us_per_request": median(key, "watched_us_per_request"),
                     "errors": errors, "rounds": [run.as_dict() for run in runs[key]]}
    print("µs/req: the responder's CPU time (user + system, all threads) per request (open: none reach it)")
    ratios = [session.ok_rps / bearer.ok_rps for session, bearer in zip(runs["session"], runs["bearer"])]
    cpu = [session.watched_us_per_request / bearer.watched_us_per_request
           for session, bearer in zip(runs["session"], runs["bearer"])]
    print(f"\nsession ÷ bearer, paired per round: 2xx/s {statistics.median(ratios):.3f} "
          f"(rounds: {', '.join(f'{r:.3f}' for r in ratios)}); responder µs/req {statistics.median(cpu):.2f}× "
          f"(rounds: {', '.join(f'{r:.2f}' for r in cpu)}); medians: "
          f"p50 {median('session', 'p50_ms') - median('bearer', 'p50_ms'):+.2f} ms, "
          f"p99 {median('session', 'p99_ms') - median('bearer', 'p99_ms'):+.2f} ms")
    for key in ("bearer", "session"):
        print(f"added by the check over /public/static ({key}): p50 {median(key, 'p50_ms') - median('open', 'p50_ms'):+.2f} ms, "
              f"p99 {median(key, 'p99_ms') - median('open', 'p99_ms'):+.2f} ms, "
              f"2xx/s ×{median(key, 'ok_rps') / median('open', 'ok_rps'):.2f}")
    if counts:
        print(f"responder: {counts['auth_checks']} /auth checks logged, {counts['session_checks']} through the session "
              f"cookie, {counts['renewed']} renewals")
    benchlib.print_quiet_notes(load_before, max(run.foreign_cpu for key in runs for run in runs[key]))
    return {
        **benchlib.report_head(started, args, load_before, listener=args.listener),
        "targets": rows, "session_over_bearer": {"median": statistics.median(ratios), "per_round": ratios,
                                                 "responder_cpu_per_round": cpu},
        "responder_log": counts,
    }


if __name__ == "__main__":
    sys.exit(main())
