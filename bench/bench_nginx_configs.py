#!/usr/bin/env python3
"""keycloak-fcgi next to the do-nothing libfcgi responder (the floor) behind three nginx
configurations an operator may run (issue 12: kept connections must not stall the responder).

For each configuration, one nginx (TLS listener with the development certificate, the same TLS
settings as the shipped template, HTTP/1.1 from wrk) in front of its own keycloak-fcgi (the
default configuration: jwks mode + verified-token cache, plus `--responder-env`) and its own
floor (bench/peers/fcgi_floor.c with as many threads as that keycloak-fcgi's FCGI_WORKERS),
both behind upstreams of the same kind:

  template     nginx/templates/keycloak-fcgi.conf.template as the harness renders it (one upstream
               with `keepalive 64;` and fastcgi_keep_conn for every method, nginx's default
               timeouts); the floor's upstream gets the same keepalive directives, read from the
               template (the stack of run_all.py, benchlib.make_bench_stack_class);
  ordinary     the nginx docs' recipe: `upstream { server unix:…; keepalive 32; }` and
               `fastcgi_keep_conn on;` in every location, every method (POST /login included),
               nginx's default keepalive_timeout (60 s) and keepalive_requests (1000);
  nokeepalive  the same without `keepalive` and `fastcgi_keep_conn`: a connection per request.

The ordinary and nokeepalive configurations are written here (RECIPE): `location /` (so
`/protected`), `location = /login` and `location = /floor`, each `include fastcgi_params` and
`fastcgi_param REQUEST_ID $request_id` as the template passes; no limit_req.

Targets per configuration: `floor` (GET, the floor) and `protected` (GET /protected with a valid
bearer token) at -c64 and -c256, and `login` (POST /login, abdullah's form) at -c8; once per round
also `provider` (the provider's token endpoint directly, plain HTTP, -c8): the login's floor.
`wrk -t2 --latency --timeout 10s` for `--duration` s each, `--rounds` rounds, the order reversed
every other round (ABBA); a configuration's targets run next to each other, so each round pairs
`protected` with the floor measured beside it. Before each run it waits for other processes to
leave the CPU (`--quiet-wait`, benchlib.run_wrk_quietly).

Printed per configuration: medians of 2xx/s, p50, p99, the process's CPU µs per request, errors;
protected ÷ floor in 2xx/s paired per round (median, 95 % bootstrap interval, every round); p99 ÷
the floor's p99 per round (login: ÷ the provider's p99). Then the issue's targets, MET/MISSED:
`/protected ≥ 0.90 × floor` (template, ordinary; each concurrency) and p99 ≤ 1.5 × the floor's in
every round (every configuration, -c64 and -c256; /login against the provider's). The responders'
resident memory and threads after the runs. Writes bench/results/nginx_configs.json.

    python3 bench/bench_nginx_configs.py [--rounds 3] [--duration 10] [--quick]
                                         [--only template,ordinary,nokeepalive]
                                         [--responder-env FCGI_WORKERS=6 ...] [--floor-workers N]
                                         [--quiet-wait 300] [--keep]

`--responder-env KEY=VALUE` (repeatable; or BENCH_RESPONDER_ENV="KEY=VALUE KEY=VALUE") adds to every
responder's environment, e.g. to compare worker counts; the floors follow its FCGI_WORKERS
(`--floor-workers N` sets them apart: a libfcgi floor with fewer threads than the connections
nginx keeps stalls, and the script says so under the table).
bench/run_all.py runs the same measurement (`--configs`, `--no-configs`) and lists its checks.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402
from benchlib import FORM, LOGIN_BURST, LOGIN_RATE, PASSWORD, RESULTS, USERNAME, FloorResponder, WrkRun  # noqa: E402
from harness.stack import MAIN_TEMPLATE, TEMPLATE, Stack, render  # noqa: E402

CONFIGS = ("template", "ordinary", "nokeepalive")
#: the ordinary recipe's pool size per nginx worker (the nginx docs' example)
RECIPE_KEEPALIVE = 32
CONNECTIONS = (64, 256)
LOGIN_CONNECTIONS = 8
THROUGHPUT_TARGET = 0.90  # /protected ÷ floor, template and ordinary
P99_TARGET = 1.5  # p99 ÷ the floor's p99, in every round
STALL_FACTOR = 20  # a floor whose p99 is this many times its p50 is reported as stalled

RECIPE = """# bench/bench_nginx_configs.py: {title}
upstream keycloak_fcgi {{
    server unix:{socket};{keepalive}
}}
upstream bench_fcgi_floor {{
    server unix:{floor_socket};{keepalive}
}}

server {{
    listen 127.0.0.1:{port} ssl http2;
    server_name localhost;
{tls}
{locations}
}}
"""

RECIPE_LOCATION = """    location {match} {{
        include /etc/nginx/fastcgi_params;
        fastcgi_param REQUEST_ID $request_id;{keep_conn}
        fastcgi_pass {upstream};
    }}
"""


def template_tls_directives(tls_dir: Path) -> str:
    """The shipped template's ssl_* lines (certificate, protocols, ciphers, session cache),
    rendered for `tls_dir`: every configuration's TLS listener is the same as the template's."""
    lines = [line for line in TEMPLATE.read_text().splitlines() if line.strip().startswith("ssl_")]
    return render("\n".join(lines), {"TLS_CERTIFICATE": str(tls_dir / "localhost.crt"),
                                     "TLS_CERTIFICATE_KEY": str(tls_dir / "localhost.key")})


class RecipeStack(Stack):
    """The release binary behind an nginx written here instead of the template: the ordinary
    recipe (`keepalive` = RECIPE_KEEPALIVE) or no kept connections (`keepalive` None), for the
    responder and the floor alike."""

    def __init__(self, workdir: Path, tls_dir: Path, *, floor: FloorResponder, keepalive: int | None, title: str,
                 **options):
        super().__init__(workdir, tls_dir, **options)
        self.floor, self.keepalive, self.title = floor, keepalive, title

    def recipe(self) -> str:
        keep_conn = "\n        fastcgi_keep_conn on;" if self.keepalive else ""
        locations = "".join(RECIPE_LOCATION.format(match=match, keep_conn=keep_conn, upstream=upstream)
                            for match, upstream in (("/", "keycloak_fcgi"), ("= /login", "keycloak_fcgi"),
                                                    ("= /floor", "bench_fcgi_floor")))
        return RECIPE.format(title=self.title, socket=self.socket_path, floor_socket=self.floor.socket_path,
                             keepalive=f"\n    keepalive {self.keepalive};" if self.keepalive else "",
                             port=self.https_port, tls=template_tls_directives(self.tls_dir), locations=locations)

    def start_nginx(self) -> None:
        (self.workdir / "keycloak-fcgi.conf").write_text(self.recipe())
        (self.workdir / "nginx.conf").write_text(
            render(MAIN_TEMPLATE.read_text(), {"RUN_DIR": str(self.workdir), "NGINX_USER": getpass.getuser()}))
        with open(self.workdir / "nginx-stderr.log", "ab") as log:
            self.nginx = subprocess.Popen(
                ["nginx", "-p", str(self.workdir), "-c", str(self.workdir / "nginx.conf"),
                 "-e", str(self.workdir / "nginx-error.log"), "-g", "daemon off;"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)

    def floor_url(self) -> str:
        return self.url("/floor")


def describe(config: str) -> str:
    if config == "template":
        from harness.stack import Stack

        directives = benchlib.template_keepalive_directives(Stack.DEFAULT_UPSTREAM_KEEPALIVE)
        return ("the shipped template as rendered (its kept-connection upstream, the floor's too: " +
                (" ".join(directives) or "none") + ")")
    if config == "ordinary":
        return (f"the nginx docs' recipe: keepalive {RECIPE_KEEPALIVE}; fastcgi_keep_conn on; every method; "
                "default keepalive_timeout and keepalive_requests")
    return "no keepalive, no fastcgi_keep_conn (a connection per request)"


@dataclass
class Row:
    """One target of one configuration (config "" for the provider) at one concurrency."""

    config: str
    kind: str  # floor | protected | login | provider
    connections: int
    url: str
    method: str = "GET"
    body: str = field(default="", repr=False)
    authorization: str = field(default="", repr=False)
    watch: tuple[int, ...] = ()
    runs: list[WrkRun] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.config + ':' if self.config else ''}{self.kind}@c{self.connections}"

    def median(self, name: str) -> float | None:
        values = [getattr(run, name) for run in self.runs if getattr(run, name) is not None]
        return statistics.median(values) if values else None

    @property
    def errors(self) -> int:
        return sum(run.errors for run in self.runs)


@dataclass
class Measured:
    """What `measure` answers: every row with its runs, the processes' memory and threads."""

    configs: list[str]
    rows: list[Row]
    rounds: int
    duration: int
    responder_env: dict[str, str]
    workers: dict[str, int] = field(default_factory=dict)
    resources: dict[str, dict] = field(default_factory=dict)
    foreign_cpu: float = 0.0

    def row(self, config: str, kind: str, connections: int) -> Row | None:
        return next((row for row in self.rows if (row.config, row.kind, row.connections) == (config, kind, connections)),
                    None)


def parse_env(items: list[str]) -> dict[str, str]:
    env = {}
    for item in items:
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise SystemExit(f"--responder-env wants KEY=VALUE, not {item!r}")
        env[name] = value
    return env


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"sanity check failed before measuring: {what}")


def sanity_checks(stacks: dict, idp, token: str) -> None:
    """Every target answers what it should before anything is measured (a fast 401 is no result)."""
    import requests

    for config, stack in stacks.items():
        floor = stack.session.get(stack.floor_url(), timeout=10)
        check(floor.status_code == 200 and floor.json() == {"ok": True}, f"{config}: the floor: {floor.status_code}")
        answer = stack.protected(token)
        check(answer.status_code == 200 and answer.json()["preferred_username"] == USERNAME,
              f"{config}: /protected: {answer.status_code} {answer.text[:200]}")
        answer = stack.post("/login", data=benchlib.login_form(), headers={"Content-Type": FORM})
        check(answer.status_code == 200 and answer.json().get("access_token"),
              f"{config}: POST /login: {answer.status_code} {answer.text[:200]}")
    answer = requests.post(idp.token_url, data=benchlib.password_grant_form(idp), headers={"Content-Type": FORM},
                           timeout=10)
    check(answer.status_code == 200 and answer.json().get("access_token"), f"the provider's token endpoint: {answer.status_code}")


def measure(configs: list[str], *, rounds: int, duration: int, workdir: Path, tls: Path | None = None,
            connections: tuple[int, ...] = CONNECTIONS, login_connections: int = LOGIN_CONNECTIONS,
            quiet_wait: float = 0, responder_env: dict[str, str] | None = None,
            floor_workers: int | None = None) -> Measured:
    """Starts the provider and, for each configuration, a floor and a stack; runs the rounds;
    stops everything (also on failure). The floors get `floor_workers` threads, by default as
    many as the responder's FCGI_WORKERS. The caller owns `workdir`."""
    responder_env = dict(responder_env or {})
    tls = tls or benchlib.dev_certificate(workdir / "tls")
    measured = Measured(list(configs), [], rounds, duration, responder_env)
    BenchStack = benchlib.make_bench_stack_class()
    stacks: dict = {}
    floors: dict[str, FloorResponder] = {}
    with benchlib.IdentityProvider(access_token_lifespan=3600) as idp:
        try:
            for config in configs:
                options = {"idp": idp, "env": responder_env, "login_rate": LOGIN_RATE, "login_burst": LOGIN_BURST}
                # The floor's socket path is known before it starts; its thread count is the responder's.
                floor = FloorResponder(workdir / config / "floor")
                if config == "template":
                    stack = BenchStack(workdir / config / "stack", tls, peers={}, floor=floor, **options)
                else:
                    stack = RecipeStack(workdir / config / "stack", tls, floor=floor, title=describe(config),
                                        keepalive=RECIPE_KEEPALIVE if config == "ordinary" else None, **options)
                measured.workers[config] = benchlib.responder_workers(stack.responder_env())
                floor.workers = floor_workers or measured.workers[config]
                floors[config] = floor.start()
                stacks[config] = stack
                stack.start()
            token = next(iter(stacks.values())).token(USERNAME, PASSWORD)
            sanity_checks(stacks, idp, token)
            bearer = f"Bearer {token}"
            for config, stack in stacks.items():
                responder, floor_pid = (stack.responder.pid,), (floors[config].process.pid,)
                for count in connections:
                    measured.rows += [Row(config, "floor", count, stack.floor_url(), authorization=bearer, watch=floor_pid),
                                      Row(config, "protected", count, stack.url("/protected"), authorization=bearer,
                                          watch=responder)]
                measured.rows.append(Row(config, "login", login_connections, stack.url("/login"), method="POST",
                                         body=benchlib.login_form(), watch=responder))
            measured.rows.append(Row("", "provider", login_connections, idp.token_url, method="POST",
                                     body=benchlib.password_grant_form(idp)))
            print(f"nginx configurations {', '.join(configs)}: {len(measured.rows)} targets, {rounds} round(s) of "
                  f"{duration} s each; responder workers {measured.workers}"
                  f"{'; responder env ' + str(responder_env) if responder_env else ''}", file=sys.stderr)
            for round_index in range(rounds):
                for row in measured.rows if round_index % 2 == 0 else measured.rows[::-1]:
                    run = benchlib.run_wrk_quietly(row.url, quiet_wait=quiet_wait, seconds=duration,
                                                   connections=row.connections, method=row.method, body=row.body,
                                                   content_type=FORM if row.method == "POST" else "",
                                                   authorization=row.authorization, watch=row.watch)
                    row.runs.append(run)
                    measured.foreign_cpu = max(measured.foreign_cpu, run.foreign_cpu)
                    cpu = f"  {run.watched_us_per_request:6.1f} µs/req" if run.watched_us_per_request else ""
                    print(f"round {round_index + 1} {row.key:28} {run.ok_rps:9.0f} 2xx/s  p50 {run.p50_ms:7.2f} ms  "
                          f"p99 {run.p99_ms:8.2f} ms  errors {run.errors}"
                          f"{' (' + run.socket_detail + ')' if run.socket_errors else ''}{cpu}  "
                          f"other CPU {100 * run.foreign_cpu:4.1f} %", file=sys.stderr)
            for config, stack in stacks.items():
                floor_pid = floors[config].process.pid
                measured.resources[config] = {
                    "responder_rss_kib": benchlib.resident_kib(stack.responder.pid),
                    "responder_threads": benchlib.thread_count(stack.responder.pid),
                    "floor_rss_kib": benchlib.resident_kib(floor_pid), "floor_threads": benchlib.thread_count(floor_pid),
                    "workers": measured.workers[config]}
        finally:
            for stack in stacks.values():
                stack.stop()
            for floor in floors.values():
                floor.stop()
    return measured


# --- Report ---------------------------------------------------------------------------------------


def per_round(row: Row, base: Row, name: str) -> list[float]:
    """row's `name` ÷ base's, per round (both measured in it)."""
    return [getattr(run, name) / getattr(base_run, name) if getattr(base_run, name) else float("inf")
            for run, base_run in zip(row.runs, base.runs)]


def rounds_text(values: list[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


def summarize(measured: Measured) -> tuple[dict, list[dict]]:
    """Prints a table per configuration and the issue's targets; answers the report (every
    round of every row) and the checks in run_all.py's shape."""
    provider = next(row for row in measured.rows if row.kind == "provider")
    checks: list[dict] = []
    report: dict = {"configs": {}, "provider": row_report(provider)}

    def add(name: str, rows: tuple[Row, ...], measured_value: float, threshold: float, unit: str, higher: bool,
            rounds: list[float]) -> None:
        errors = sum(row.errors for row in rows)
        ok = (measured_value >= threshold if higher else measured_value <= threshold) and not errors
        base = rows[-1]
        note = "the floor stalled" if base.kind == "floor" and base.connections in stalled[base.config] else ""
        checks.append({"target": name, "measured": measured_value, "threshold": threshold, "unit": unit,
                       "result": "MET" if ok else "MISSED", "errors": errors, "per_round": rounds, "note": note})

    # Floors whose p99 shows the kept-connection stall (their p99 is then no reference).
    stalled = {config: [row.connections for row in measured.rows if row.config == config and row.kind == "floor"
                        and config != "nokeepalive" and row.median("p99_ms") > STALL_FACTOR * row.median("p50_ms")]
               for config in measured.configs}

    print(f"\nnginx configurations: wrk -t2 --latency, {measured.duration} s per run, {measured.rounds} round(s), "
          f"order reversed every other round; medians; responder env {measured.responder_env or 'default'}")
    for config in measured.configs:
        print(f"\n[{config}] {describe(config)}")
        header = (f"{'target':10} {'conns':>5} {'2xx/s':>9} {'p50 ms':>8} {'p99 ms':>9} {'µs/req':>7} {'errors':>6}  "
                  f"{'÷ floor 2xx/s: median [95 %] (rounds)':40} {'p99 ÷ floor p99 (rounds)':>24}")
        benchlib.print_table_header(header)
        rows_report = {}
        for row in [row for row in measured.rows if row.config == config]:
            base = provider if row.kind == "login" else measured.row(config, "floor", row.connections)
            ratio_text, p99_text, entry = "", "", row_report(row)
            if row.kind in ("protected", "login"):
                p99_ratios = per_round(row, base, "p99_ms")
                entry["p99_over_base_per_round"] = p99_ratios
                p99_text = f"{max(p99_ratios):5.2f} max ({rounds_text(p99_ratios)})"
                what = "/login p99 ≤ 1.5 × the provider's p99" if row.kind == "login" else \
                    f"/protected p99 ≤ 1.5 × the floor's p99 at -c{row.connections}"
                add(f"{config}: {what}, every round", (row, base), max(p99_ratios), P99_TARGET,
                    "× base p99 (worst round)", False, p99_ratios)
            if row.kind == "protected":
                ratios = per_round(row, base, "ok_rps")
                low, high = benchlib.median_ci(ratios)
                entry.update({"over_floor_per_round": ratios, "over_floor_median": statistics.median(ratios),
                              "over_floor_ci95": [low, high]})
                ratio_text = f"{statistics.median(ratios):.3f} [{low:.2f} … {high:.2f}] ({rounds_text(ratios)})"
                if config != "nokeepalive":
                    add(f"{config}: /protected 2xx/s ≥ 0.90 × the floor at -c{row.connections}", (row, base),
                        statistics.median(ratios), THROUGHPUT_TARGET, "× floor (paired per round, median)", True, ratios)
            print_row(row, ratio_text, p99_text)
            rows_report[row.key] = entry
        resources = measured.resources.get(config, {})
        if resources:
            print(f"after the runs: keycloak-fcgi {resources['responder_rss_kib'] / 1024:.1f} MiB resident, "
                  f"{resources['responder_threads']} threads (FCGI_WORKERS {resources['workers']}); floor "
                  f"{resources['floor_rss_kib'] / 1024:.1f} MiB, {resources['floor_threads']} threads")
        if stalled[config]:
            print(f"note: the floor stalled at {', '.join(f'-c{count}' for count in stalled[config])} (p99 over "
                  f"{STALL_FACTOR}× its p50): a libfcgi thread stays on a kept connection until nginx closes it, and "
                  f"its {resources.get('floor_threads', 1) - 1 if resources else '?'} threads are fewer than the "
                  "connections nginx holds to it; its p99 is no reference there (--floor-workers sets its threads, "
                  "up to 256)")
        report["configs"][config] = {"description": describe(config), "targets": rows_report, "resources": resources,
                                     "floor_stalled_at": stalled[config]}
    print()
    print_row(provider, "", "")
    print("µs/req: CPU time (user + system, all threads) of the process behind the target per request; login's base: "
          "the provider's token endpoint (plain HTTP, no nginx)")
    return report, checks


def row_report(row: Row) -> dict:
    return {"url": row.url, "method": row.method, "connections": row.connections, "ok_rps": row.median("ok_rps"),
            "p50_ms": row.median("p50_ms"), "p99_ms": row.median("p99_ms"),
            "us_per_request": row.median("watched_us_per_request"), "errors": row.errors,
            "rounds": [run.as_dict() for run in row.runs]}


def print_row(row: Row, ratio_text: str, p99_text: str) -> None:
    cpu = row.median("watched_us_per_request")
    print(f"{row.kind:10} {row.connections:5d} {row.median('ok_rps'):9.0f} {row.median('p50_ms'):8.2f} "
          f"{row.median('p99_ms'):9.2f} {f'{cpu:7.1f}' if cpu else '':>7} {row.errors:6d}  {ratio_text:40} {p99_text:>24}")


def print_checks(checks: list[dict], indent: str = "  ") -> None:
    """The MET/MISSED lines (run_all.py prints its own checks with it too)."""
    width = max((len(item["target"]) for item in checks), default=70)
    for item in checks:
        comparison = "≥" if "≥" in item["target"] else "≤"
        notes = ([f"{item['errors']} errors"] if item["errors"] else []) + ([item["note"]] if item.get("note") else [])
        print(f"{indent}{item['result']:6}  {item['target']:{width}} {item['measured']:7.3f} {comparison} "
              f"{item['threshold']:g} {item['unit']}{'  (' + '; '.join(notes) + ')' if notes else ''}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s (a smoke run, not a result)")
    parser.add_argument("--only", default="", help=f"comma-separated configurations ({', '.join(CONFIGS)})")
    parser.add_argument("--responder-env", action="append", metavar="KEY=VALUE",
                        default=os.environ.get("BENCH_RESPONDER_ENV", "").split(),
                        help="added to every responder's environment (repeatable; default: $BENCH_RESPONDER_ENV); "
                             "the floors take its FCGI_WORKERS")
    parser.add_argument("--floor-workers", type=int, default=None,
                        help="the floors' threads (default: as many as the responder's FCGI_WORKERS)")
    benchlib.add_paired_arguments(parser, RESULTS, None)
    args = parser.parse_args()
    benchlib.stop_cleanly_on_sigterm()
    if args.quick:
        args.rounds, args.duration = 1, 3
    configs = [name.strip() for name in args.only.split(",") if name.strip()] or list(CONFIGS)
    unknown = set(configs) - set(CONFIGS)
    if unknown:
        parser.error(f"unknown configurations: {', '.join(sorted(unknown))} (known: {', '.join(CONFIGS)})")
    args.connections = list(CONNECTIONS)

    load_before = os.getloadavg()
    started = datetime.now(timezone.utc)
    workdir = Path(tempfile.mkdtemp(prefix="kfcgi-bench-nginx-configs-"))
    try:
        measured = measure(configs, rounds=args.rounds, duration=args.duration, workdir=workdir,
                           quiet_wait=args.quiet_wait, responder_env=parse_env(args.responder_env),
                           floor_workers=args.floor_workers)
    finally:
        benchlib.finish_workdir(workdir, args.keep)

    report, checks = summarize(measured)
    print("\ntargets (issue 12), measured in this run")
    print_checks(checks)
    benchlib.print_quiet_notes(load_before, measured.foreign_cpu, indent="  ")
    if args.rounds < 3 or args.duration < 10:
        print("  note: fewer than 3 rounds of 10 s: a smoke run, not a result")
    report = {**benchlib.report_head(started, args, load_before, login_connections=LOGIN_CONNECTIONS,
                                     configs=configs, responder_env=measured.responder_env,
                                     workers=measured.workers, floor_workers=args.floor_workers),
              **report, "checks": checks}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "nginx_configs.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten: {args.out / 'nginx_configs.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
