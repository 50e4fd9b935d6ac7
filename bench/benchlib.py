"""Shared pieces of the benchmark scripts (bench/run_all.py, bench/memory.py, ...): wrk runs and their
parsing, the peers' uvicorn processes, resident memory, installing the peers' packages, a browser
sign-in through the gate, logout tokens for the revocation list, and a redis-server.

Everything runs on loopback: the test identity provider, the release binary and nginx from
Tests/Integration/harness (idp_fixture, stack), the peers on free ports."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
PEERS = BENCH / "peers"
RESULTS = BENCH / "results"
sys.path.insert(0, str(REPO / "Tests" / "Integration"))
sys.path.insert(0, str(BENCH))

from harness.idp_fixture import IdentityProvider  # noqa: E402,F401  (re-exported for the scripts)
from harness.stack import Stack, free_port  # noqa: E402

# --- Packages -----------------------------------------------------------------------------------

#: import name -> distribution, for the check before `pip install` (bench/peers/requirements.txt).
PEER_MODULES = {
    "fastapi": "fastapi", "uvicorn": "uvicorn", "uvloop": "uvicorn[standard]",
    "httptools": "uvicorn[standard]", "keycloak": "python-keycloak", "pydantic_settings": "pydantic-settings",
    "multipart": "python-multipart", "httpx": "httpx", "jwt": "pyjwt", "cryptography": "pyjwt[crypto]",
    "matplotlib": "matplotlib",
}


def ensure_requirements(install: bool = True) -> None:
    """`pip install -r bench/peers/requirements.txt` when one of its modules is missing, with the
    test tooling's pins (scripts/requirements-test.txt) as constraints so they never move."""
    missing = [dist for module, dist in PEER_MODULES.items() if importlib.util.find_spec(module) is None]
    if not missing:
        return
    if not install:
        raise SystemExit(f"missing Python packages for the peers: {', '.join(sorted(set(missing)))} "
                         f"(pip install -r {PEERS / 'requirements.txt'})")
    print(f"installing the peers' packages (missing: {', '.join(sorted(set(missing)))})", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r", str(PEERS / "requirements.txt"),
                    "-c", str(REPO / "scripts" / "requirements-test.txt")], check=True)
    importlib.invalidate_caches()


# --- wrk ----------------------------------------------------------------------------------------

#: One script for every target: method, body, Content-Type, Authorization and Cookie from the
#: environment (never on wrk's command line). BENCH_TOKENS (space-separated) rotates Authorization per request.
WRK_SCRIPT = r"""
local method = os.getenv("BENCH_METHOD")
local body = os.getenv("BENCH_BODY")
local content_type = os.getenv("BENCH_CONTENT_TYPE")
local authorization = os.getenv("BENCH_AUTHORIZATION")
local cookie = os.getenv("BENCH_COOKIE")
if method and method ~= "" then wrk.method = method end
if body and body ~= "" then wrk.body = body end
if content_type and content_type ~= "" then wrk.headers["Content-Type"] = content_type end
if authorization and authorization ~= "" then wrk.headers["Authorization"] = authorization end
if cookie and cookie ~= "" then wrk.headers["Cookie"] = cookie end

local tokens = {}
for token in string.gmatch(os.getenv("BENCH_TOKENS") or "", "%S+") do tokens[#tokens + 1] = token end
if #tokens > 0 then
  local index = 0
  request = function()
    index = index % #tokens + 1
    wrk.headers["Authorization"] = "Bearer " .. tokens[index]
    return wrk.format()
  end
end

"""


def parse_latency(text: str) -> float:
    """wrk's "1.23ms" / "456.00us" / "2.01s" in milliseconds."""
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


# --- CPU used by others (the machine is shared) --------------------------------------------------


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is in user)
    return total - idle, total


def _own_jiffies() -> int:
    """CPU jiffies of this process and every live descendant, each with its reaped children's
    (cutime/cstime): every CPU second of the benchmark's processes counted once."""
    parents: dict[int, int] = {}
    times: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = sum(int(value) for value in fields[11:15])
    ours = {os.getpid()}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in ours and pid not in ours:
                ours.add(pid)
                grew = True
    return sum(times.get(pid, 0) for pid in ours)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads) so far."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class CpuMeter:
    """Between its creation and share(): the share of the machine's CPU used by processes
    outside this benchmark (other users of the shared cores), and the CPU seconds of the
    processes in `watch` (e.g. the responder)."""

    def __init__(self, watch: tuple[int, ...] = ()) -> None:
        self.busy, self.total = _cpu_jiffies()
        self.own = _own_jiffies()
        self.watch = watch
        self.watched = [process_cpu_seconds(pid) for pid in watch]

    def share(self) -> float:
        busy, total = _cpu_jiffies()
        own = _own_jiffies()
        elapsed = total - self.total
        return max(0.0, (busy - self.busy) - (own - self.own)) / elapsed if elapsed > 0 else 0.0

    def watched_seconds(self) -> float:
        return sum(process_cpu_seconds(pid) - before for pid, before in zip(self.watch, self.watched))


def wait_for_quiet(max_wait: float, threshold: float = 0.05, sample: float = 1.0) -> float:
    """Waits until processes outside this benchmark use less than `threshold` of the CPU over
    `sample` seconds (others' tests share the machine), at most `max_wait` seconds; answers the
    seconds waited (0 when it was quiet at once, or max_wait ≤ 0)."""
    started = time.monotonic()
    announced = False
    while max_wait > 0:
        meter = CpuMeter()
        time.sleep(sample)
        share = meter.share()
        if share < threshold:
            break
        if time.monotonic() - started > max_wait:
            print(f"  still {100 * share:.0f} % CPU used by other processes after {max_wait:.0f} s; measuring anyway",
                  file=sys.stderr)
            break
        if not announced:
            print(f"  waiting for a quiet machine ({100 * share:.0f} % CPU used by other processes)", file=sys.stderr)
            announced = True
    return time.monotonic() - started if announced else 0.0


@dataclass
class WrkRun:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non2xx: int
    socket_errors: int
    socket_detail: str = ""
    #: share of the CPU (both cores) used by processes outside the benchmark during the run
    foreign_cpu: float = 0.0
    #: CPU seconds of the watched processes (run_wrk's `watch`, e.g. the responder) during the run
    watched_cpu_s: float | None = None

    @property
    def watched_us_per_request(self) -> float | None:
        """The watched processes' CPU per request, µs: less sensitive to other load than 2xx/s."""
        return 1e6 * self.watched_cpu_s / self.requests if self.watched_cpu_s is not None and self.requests else None

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors

    @property
    def ok_rps(self) -> float:
        """Requests/s answered 2xx/3xx: wrk's rate counts a fast 503 like a 200."""
        return self.rps * (self.requests - self.non2xx) / self.requests if self.requests else 0.0

    def as_dict(self) -> dict:
        return {"rps": self.rps, "ok_rps": self.ok_rps, "p50_ms": self.p50_ms, "p99_ms": self.p99_ms,
                "requests": self.requests, "non2xx": self.non2xx, "socket_errors": self.socket_errors,
                "socket_detail": self.socket_detail, "foreign_cpu": self.foreign_cpu,
                "watched_cpu_s": self.watched_cpu_s, "watched_us_per_request": self.watched_us_per_request}


def run_wrk(url: str, *, seconds: float, connections: int, threads: int = 2, method: str = "GET",
            body: str = "", content_type: str = "", authorization: str = "", cookie: str = "",
            tokens: list[str] | None = None, stop_when: Callable[[], bool] | None = None, timeout_s: int = 10,
            watch: tuple[int, ...] = ()) -> WrkRun:
    """`wrk -t<threads> -c<connections> -d<seconds>s --latency` with the shared script.

    `stop_when`, polled every 20 ms, ends the run early: wrk takes SIGINT as the end of its
    duration and still reports (its Lua `thread:stop()` does not: wrk's main thread sleeps for
    the whole -d regardless). `watch`: pids whose CPU time during the run is reported.
    Also reported: the share of the CPU other processes used meanwhile (the machine is shared)."""
    script = Path(tempfile.mkstemp(prefix="bench-wrk-", suffix=".lua")[1])
    script.write_text(WRK_SCRIPT)
    env = {
        "PATH": "/usr/bin:/bin", "BENCH_METHOD": method, "BENCH_BODY": body,
        "BENCH_CONTENT_TYPE": content_type, "BENCH_AUTHORIZATION": authorization, "BENCH_COOKIE": cookie,
        "BENCH_TOKENS": " ".join(tokens or []),
    }
    command = ["wrk", "-s", str(script), f"-t{threads}", f"-c{connections}", f"-d{int(seconds)}s",
               "--timeout", f"{timeout_s}s", "--latency", url]
    meter = CpuMeter(watch)
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            if stop_when is not None:
                while process.poll() is None and not stop_when():
                    time.sleep(0.02)
                if process.poll() is None:
                    process.send_signal(signal.SIGINT)
            output, errors = process.communicate(timeout=seconds + 120)
        except BaseException:
            process.kill()
            process.wait()
            raise
    finally:
        script.unlink(missing_ok=True)
    if process.returncode != 0 or "Requests/sec" not in output:
        raise RuntimeError(f"wrk failed ({process.returncode}): {errors.strip()} {output.strip()}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    count = int(re.search(r"(\d+) requests in", output).group(1))
    p50 = parse_latency(re.search(r"\s50%\s+([\d.]+\w+)", output).group(1))
    p99 = parse_latency(re.search(r"\s99%\s+([\d.]+\w+)", output).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(r"Socket errors: (.*)", output)
    socket_count = sum(int(n) for n in re.findall(r"\d+", sockets.group(1))) if sockets else 0
    return WrkRun(rate, p50, p99, count, int(non2xx.group(1)) if non2xx else 0, socket_count,
                  sockets.group(1).strip() if sockets else "", meter.share(),
                  meter.watched_seconds() if watch else None)


def run_wrk_quietly(url: str, *, quiet_wait: float, max_foreign: float = 0.05, attempts: int = 3,
                    **options) -> WrkRun:
    """`run_wrk` on a shared machine: first waits (up to `quiet_wait` s) until other processes
    leave the CPU, and repeats a run during which they took more than `max_foreign` of it (up to
    `attempts` runs in all; the last one counts, with its share)."""
    for attempt in range(1, attempts + 1):
        wait_for_quiet(quiet_wait)
        run = run_wrk(url, **options)
        if run.foreign_cpu <= max_foreign or attempt == attempts or quiet_wait <= 0:
            return run
        print(f"  other processes took {100 * run.foreign_cpu:.0f} % of the CPU during the run "
              f"({run.ok_rps:.0f} 2xx/s): repeating it", file=sys.stderr)
    raise AssertionError("unreachable")


# --- Processes ----------------------------------------------------------------------------------


def stop_cleanly_on_sigterm() -> None:
    """SIGTERM (e.g. `timeout`) raises SystemExit, so the scripts' finally blocks stop every process
    they started instead of leaving them running."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def add_paired_arguments(parser, results: Path, profile_help: str | None) -> None:
    """The options every paired script shares: the quiet wait, the perf profile (unless
    `profile_help` is None), where the JSON goes, keeping the work directory."""
    parser.add_argument("--quiet-wait", type=float, default=300,
                        help="before each run, wait up to this many seconds for other processes to leave the CPU "
                             "(under 5 %%; the machine is shared), and repeat a run during which they took more "
                             "than 5 %% (3 runs at most); 0: neither")
    if profile_help is not None:
        parser.add_argument("--profile", type=float, default=0, metavar="SECONDS", help=profile_help)
    parser.add_argument("--out", type=Path, default=results)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, configs)")


def print_table_header(header: str) -> None:
    """A summary table's column line and the rule under it."""
    print(header)
    print("-" * len(header))


def finish_workdir(workdir: Path, keep: bool) -> None:
    """Removes a script's work directory, or says where it is when `--keep` asked for it."""
    if keep:
        print(f"work directory kept: {workdir}", file=sys.stderr)
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def print_quiet_notes(load_before, foreign: float | None = None, indent: str = "") -> None:
    """The lines under a summary that say how busy the machine was: the largest share of the
    CPU other processes took during a kept run, and a load average above 0.5 before it."""
    if foreign is not None:
        print(f"{indent}{'note' if foreign > 0.05 else 'other processes'}: at most {100 * foreign:.1f} % of the CPU went to "
              f"processes outside the benchmark during a run{' (those rounds are noisier)' if foreign > 0.05 else ''}")
    if load_before[0] > 0.5:
        print(f"{indent}note: load average {load_before[0]:.2f} before the run; the machine was not quiet")


def report_head(started, args, load_before, **settings) -> dict:
    """The fields every paired script's JSON report starts with."""
    return {
        "started": started.isoformat(timespec="seconds"),
        "settings": {"rounds": args.rounds, "duration_s": args.duration, "connections": args.connections, **settings,
                     "wrk_threads": 2, "order": "ABBA (reversed every other round)", "quiet_wait_s": args.quiet_wait},
        "machine": {"cpus": os.cpu_count(), "load_average_before": load_before},
    }


def memory_status(pid: int) -> dict[str, int]:
    """VmRSS and its parts (RssAnon: heap and stacks; RssFile: mapped binary and shared
    libraries), in KiB, from /proc/<pid>/status."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
            values[name] = int(rest.split()[0])
    if "VmRSS" not in values:
        raise RuntimeError(f"no VmRSS for {pid}")
    return values


def resident_kib(pid: int) -> int:
    """VmRSS of a process, in KiB."""
    return memory_status(pid)["VmRSS"]


def thread_count(pid: int) -> int:
    """Threads of a process now (/proc/<pid>/status)."""
    return int(re.search(r"^Threads:\s+(\d+)", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE).group(1))


def responder_workers(env: dict[str, str]) -> int:
    """FCGI_WORKERS of the release binary under `env` (e.g. a Stack's responder_env()), as its
    `--check-config` prints it: the explicit value, or the binary's default, whatever that is."""
    from harness.stack import binary_path

    checked = subprocess.run([str(binary_path()), "--check-config", "--env-file", "/dev/null"], env=env,
                             capture_output=True, text=True, timeout=30)
    found = re.search(r"^FCGI_WORKERS=(\d+)", checked.stdout, re.MULTILINE)
    if checked.returncode != 0 or found is None:
        raise RuntimeError(f"keycloak-fcgi --check-config: no FCGI_WORKERS ({checked.returncode}): "
                           f"{(checked.stdout + checked.stderr).strip()[-400:]}")
    return int(found.group(1))


def median_ci(values: list[float], level: float = 0.95, resamples: int = 4000) -> tuple[float, float]:
    """A bootstrap percentile interval of the median (fixed seed: the same data, the same answer)."""
    import random
    import statistics

    generator = random.Random(1)
    medians = sorted(statistics.median(generator.choices(values, k=len(values))) for _ in range(resamples))
    tail = (1 - level) / 2
    return medians[int(tail * resamples)], medians[min(resamples - 1, int((1 - tail) * resamples))]


def dev_certificate(directory: Path) -> Path:
    """The project's development CA and localhost certificate (scripts/dev-cert.sh)."""
    subprocess.run(["bash", str(REPO / "scripts" / "dev-cert.sh"), str(directory)], check=True, capture_output=True)
    return directory


@dataclass
class Peer:
    """One peer app (bench/peers/<module>.py) under `uvicorn --workers N` on a free loopback port,
    configured like the seed by the four KEYCLOAK_* variables. Its own process group, so that
    stop() ends the master and its workers, and nothing else."""

    module: str
    idp: IdentityProvider
    workdir: Path
    workers: int = 2
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.module}.log"

    def start(self, timeout: float = 60) -> Peer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/root"),
            "KEYCLOAK_SERVER_URL": self.idp.base_url,
            "KEYCLOAK_REALM": self.idp.realm,
            "KEYCLOAK_CLIENT_ID": self.idp.client_id,
            "KEYCLOAK_CLIENT_SECRET": self.idp.client_secret,
            "PYTHONWARNINGS": "ignore::DeprecationWarning",
        }
        # --no-access-log: the peers' best case (the article runs uvicorn's default, which logs
        # every request). The working directory is the run's own, so no stray .env is read.
        command = [sys.executable, "-m", "uvicorn", f"{self.module}:app", "--app-dir", str(PEERS),
                   "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers),
                   "--no-access-log", "--log-level", "info"]
        with open(self.log_path, "ab") as log:
            # stdout: the seed prints every userinfo answer (the article's `print(user_info)`).
            self.process = subprocess.Popen(command, env=env, cwd=self.workdir, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        # Every worker has imported the app (and the local-JWT peer fetched discovery) ...
        while self.log_path.read_text(errors="replace").count("Application startup complete") < self.workers:
            if self.process.poll() is not None or time.monotonic() > deadline:
                log_text = self.log_path.read_text(errors="replace")
                self.stop()
                raise RuntimeError(f"peer {self.module} did not start:\n{log_text}")
            time.sleep(0.1)
        # ... and answers.
        while True:
            try:
                with urllib.request.urlopen(f"http://{self.address}/", timeout=5) as answer:
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            # The group we created: the master and its workers (even if the master already died).
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()
        self.process = None


@dataclass
class FloorResponder:
    """bench/peers/fcgi_floor.c, compiled here and run on a unix socket in `workdir`: a
    libfcgi responder that answers a fixed body and does nothing else (the floor of the
    FastCGI hop)."""

    workdir: Path
    #: its threads (FCGI_WORKERS of fcgi_floor.c): as many as the responder it is compared with
    workers: int = 64
    process: subprocess.Popen | None = None

    @property
    def socket_path(self) -> Path:
        return self.workdir / "fcgi-floor.sock"

    def start(self, timeout: float = 10) -> FloorResponder:
        import shutil
        self.workdir.mkdir(parents=True, exist_ok=True)
        compiler = shutil.which("cc") or shutil.which("clang") or "gcc"
        binary = self.workdir / "fcgi_floor"
        subprocess.run([compiler, "-O2", "-o", str(binary), str(PEERS / "fcgi_floor.c"), "-lfcgi", "-lpthread"],
                       check=True)
        # As many threads as the keycloak-fcgi it is compared with (64: its default FCGI_WORKERS
        # today), so the two differ only in work.
        self.process = subprocess.Popen([str(binary), str(self.socket_path)], stdin=subprocess.DEVNULL,
                                        env={**os.environ, "FCGI_WORKERS": str(self.workers)})
        deadline = time.monotonic() + timeout
        while not self.socket_path.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the FastCGI floor responder did not start")
            time.sleep(0.05)
        # nginx workers run as the invoking user (nginx/local), but keep it simple for root too.
        os.chmod(self.socket_path, 0o666)
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.kill()
        self.process.wait()
        self.process = None


# --- The benchmark stack (run_all.py's main stack, bench_nginx_configs.py's template) -------------

# The test user of idp/users.json (the article's).
USERNAME, PASSWORD = "abdullah", "Test#123456"
FORM = "application/x-www-form-urlencoded"
# High enough never to refuse a benchmark login (the template's limit_req is a brute-force brake
# per client address; every wrk connection comes from 127.0.0.1).
LOGIN_RATE, LOGIN_BURST = "1000000r/s", 100000


def login_form() -> str:
    """The body of `POST /login` for the test user."""
    from urllib.parse import urlencode

    return urlencode({"username": USERNAME, "password": PASSWORD})


def password_grant_form(idp: IdentityProvider) -> str:
    """The body of the same login at the provider's token endpoint directly (what python-keycloak sends)."""
    from urllib.parse import urlencode

    return urlencode({"grant_type": "password", "client_id": idp.client_id, "client_secret": idp.client_secret,
                      "username": USERNAME, "password": PASSWORD, "scope": "openid"})


RETURN_200 = """    # --- bench/run_all.py: the limit, and the peers behind the same TLS server -------------
    location = /bench/return200 { default_type application/json; return 200 '{"ok":true}'; }"""

# A variable in proxy_pass: the upstream is looked up when a request comes, so the server loads
# before the upstream blocks are appended (the same reload as the gate, see GateStack).
PEER_LOCATION = """
    location /{prefix}/ {{
        set $bench_peer {upstream};
        rewrite ^/{prefix}(/.*)$ $1 break;
        proxy_pass http://$bench_peer;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
    }}"""

FLOOR_PATH = "/bench/fcgi-floor"
FLOOR_LOCATION = """
    location = /bench/fcgi-floor {{
        set $bench_floor bench_fcgi_floor;
        include /etc/nginx/fastcgi_params;{keep_conn}
        fastcgi_pass $bench_floor;
    }}"""

# The template's kept-connection settings (template_keepalive_directives).
FLOOR_UPSTREAM = """
# bench: the do-nothing libfcgi responder (bench/peers/fcgi_floor.c).
upstream bench_fcgi_floor {{
    server unix:{socket};{directives}
}}
"""

PEER_UPSTREAM = """
# bench/run_all.py: peer {module}, kept connections as keycloak-fcgi's GET pool has.
upstream {upstream} {{
    server {address};
    keepalive 64;
}}
"""


def template_keepalive_directives(upstream_keepalive: int) -> list[str]:
    """The `keepalive*` directives of the shipped template's upstream (`keycloak_fcgi`; until the
    epoll dispatcher a separate `keycloak_fcgi_keepalive` for GET and HEAD), rendered, so the
    floor gets the same settings whatever the template says; none when it keeps no
    connections."""
    from harness.stack import TEMPLATE

    text = TEMPLATE.read_text()
    upstreams = dict(re.findall(r"^upstream\s+(\w+)\s*\{(.*?)^\}", text, re.MULTILINE | re.DOTALL))
    body = upstreams.get("keycloak_fcgi_keepalive", upstreams.get("keycloak_fcgi", ""))
    return [line.strip().replace("${UPSTREAM_KEEPALIVE}", str(upstream_keepalive))
            for line in body.splitlines() if re.match(r"\s*keepalive(_\w+)?\s", line)]


def make_bench_stack_class():
    """BenchStack: bench_auth_gate's GateStack (the gate in front of its static API) plus the
    limit, the FastCGI floor (the template's kept-connection settings) and the peer locations in
    the TLS server, and the floor's and the peers' upstreams at http level."""
    from bench_auth_gate import STATIC_API, GateStack

    class BenchStack(GateStack):
        def __init__(self, workdir: Path, tls_dir: Path, *, peers: dict[str, Peer], floor: FloorResponder,
                     gate_tls_port: int | None = None, **options):
            static_port = free_port()
            directives = template_keepalive_directives(options.get("upstream_keepalive") or Stack.DEFAULT_UPSTREAM_KEEPALIVE)
            locations = RETURN_200 + FLOOR_LOCATION.format(
                keep_conn="\n        fastcgi_keep_conn on;" if directives else "") + "".join(
                PEER_LOCATION.format(prefix=prefix, upstream=f"bench_{prefix.replace('-', '_')}")
                for prefix in peers)
            upstreams = "".join(
                PEER_UPSTREAM.format(module=peer.module, upstream=f"bench_{prefix.replace('-', '_')}",
                                     address=peer.address)
                for prefix, peer in peers.items()) + FLOOR_UPSTREAM.format(
                socket=floor.socket_path, directives="".join(f"\n    {line}" for line in directives))
            super().__init__(workdir, tls_dir, upstream_address=f"127.0.0.1:{static_port}",
                             gate_extra=STATIC_API.format(port=static_port) + upstreams,
                             extra_locations=locations, **options)
            if gate_tls_port is not None:
                # Chosen before the provider starts, which must know the sign-in callback.
                self.gate_tls_port = gate_tls_port

        def floor_url(self) -> str:
            return self.url(FLOOR_PATH)

    return BenchStack


# --- Browser sessions (the gate's session cookie) ------------------------------------------------


def session_env(directory: Path, redirect_uri: str) -> dict[str, str]:
    """Browser sign-in on: SESSION_KEYS_FILE (one fresh AES-256 key, base64, mode 600, in
    `directory`) and OIDC_REDIRECT_URI (the gate's TLS callback, registered at the provider)."""
    import base64

    directory.mkdir(parents=True, exist_ok=True)
    keys_file = directory / "session-keys"
    keys_file.write_text(base64.b64encode(os.urandom(32)).decode("ascii") + "\n")
    keys_file.chmod(0o600)
    return {"SESSION_KEYS_FILE": str(keys_file), "OIDC_REDIRECT_URI": redirect_uri}


def sign_in(gate_tls_base: str, ca_file: Path, username: str, password: str, landing: str = "/api/static") -> str:
    """A browser's sign-in through the gate, with `requests`: /oauth2/start on the gate's TLS
    listener, the provider's login form, the callback. Answers the `Cookie` header value a
    browser then sends: the session cookie `__Host-keycloak-fcgi` (or its chunks).

    The provider marks its own cookies (AUTH_SESSION_ID ...) Secure, also on plain-HTTP
    loopback (Keycloak counts that as a secure context), and requests keeps Secure cookies off
    http://, so they are sent by hand to the login form's action, as a browser would."""
    import html
    from urllib.parse import urlsplit

    import requests
    from harness.sign_in import session_cookie_names

    browser = requests.Session()
    browser.trust_env = False
    browser.verify = str(ca_file)
    try:
        start = browser.get(f"{gate_tls_base}/oauth2/start", params={"rd": landing}, allow_redirects=False, timeout=30)
        if start.status_code != 302:
            raise RuntimeError(f"sign-in: /oauth2/start answered {start.status_code}")
        form_page = browser.get(start.headers["Location"], timeout=30)
        form = re.search(r'<form\b[^>]*\bid="kc-form-login"[^>]*>', form_page.text)
        action = re.search(r'\baction="([^"]+)"', form.group(0)) if form else None
        if form_page.status_code != 200 or action is None:
            raise RuntimeError(f"sign-in: no login form from the provider ({form_page.status_code})")
        provider_host = urlsplit(form_page.url).hostname
        provider_cookies = "; ".join(f"{c.name}={c.value}" for c in browser.cookies if c.domain == provider_host)
        answer = browser.post(html.unescape(action.group(1)),
                              data={"username": username, "password": password, "credentialId": ""},
                              headers={"Cookie": provider_cookies}, allow_redirects=False, timeout=30)
        if answer.status_code != 302 or "/oauth2/callback" not in answer.headers.get("Location", ""):
            raise RuntimeError(f"sign-in: the login form answered {answer.status_code}, not a redirect to the callback")
        callback = browser.get(answer.headers["Location"], allow_redirects=False, timeout=30)
        if callback.status_code != 302:
            raise RuntimeError(f"sign-in: /oauth2/callback answered {callback.status_code}")
        cookies = {c.name: c.value for c in browser.cookies if c.value}
        names = session_cookie_names(cookies)
        if not names:
            raise RuntimeError("sign-in: the callback set no session cookie")
        return "; ".join(f"{name}={cookies[name]}" for name in names)
    finally:
        browser.close()


# --- Revocations (back-channel logout) -----------------------------------------------------------

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: Claims of a minted access token that a logout token does not have (Keycloak's logout token:
#: exp, iat, jti, iss, aud, sub, typ, sid, events; idp/keycloak_emulator/backchannel.py).
ACCESS_ONLY_CLAIMS = ("azp", "acr", "allowed-origins", "realm_access", "resource_access", "scope", "email_verified",
                      "name", "preferred_username", "given_name", "family_name", "email", "session_state", "nonce")


def logout_token(idp: IdentityProvider, *, with_sid: bool = True, user: str = "abdullah") -> str:
    """A logout token shaped as Keycloak's (header `typ: logout+jwt`; exp = iat + 120, iat, jti,
    iss, aud = the client, sub, typ `Logout`, sid, events), signed by the provider's current key.

    The emulator's `/_admin/mint` has no `logout` kind (access, id, refresh), so this mints an
    access token with its claims replaced. Every mint opens a new session at the provider: the
    token names that session's `sid` (another session than any benchmark token's), or, with
    `with_sid=False`, only the user (`sub`: every session of the user up to now)."""
    now = int(time.time())
    claims: dict = {name: None for name in ACCESS_ONLY_CLAIMS}
    claims.update({"exp": now + 120, "iat": now, "jti": str(uuid.uuid4()), "aud": idp.client_id, "typ": "Logout",
                   "events": {BACKCHANNEL_LOGOUT_EVENT: {}}})
    if not with_sid:
        claims["sid"] = None
    return idp.mint(user=user, claims=claims, header={"typ": "logout+jwt"})


def post_logout_token(session, url: str, token: str, expected: int = 200) -> None:
    answer = session.post(url, data={"logout_token": token}, timeout=30)
    if answer.status_code != expected:
        raise RuntimeError(f"back-channel logout at {url}: {answer.status_code} {answer.text[:200]}")


def forged(token: str) -> str:
    """`token` with one character of its signature changed: refused only after the RSA check."""
    header, payload, signature = token.split(".")
    middle = len(signature) // 2
    swapped = "A" if signature[middle] != "A" else "B"
    return f"{header}.{payload}.{signature[:middle]}{swapped}{signature[middle + 1:]}"


def populate_revocations(idp: IdentityProvider, urls: list[str], count: int, *, threads: int = 4,
                         refused_urls: list[str] = ()) -> list[str]:
    """Mints `count` logout tokens of other sessions (see `logout_token`) and POSTs each to every
    URL in `urls` (stacks' `/oauth2/backchannel-logout` on their internal listener); every
    answer must be 200. Tokens are posted as soon as they are minted (a logout token is
    accepted for 5 minutes after its iat). `refused_urls` get each token with its signature
    broken instead (400: the same requests, the list stays empty). Answers the revoked `sid`s."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import requests
    from harness.jwt import claims_of

    local = threading.local()
    done = [0]
    lock = threading.Lock()
    started = time.monotonic()

    def one(_: int) -> str:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.trust_env = False
        token = logout_token(idp)
        for url in urls:
            post_logout_token(local.session, url, token)
        for url in refused_urls:
            post_logout_token(local.session, url, forged(token), expected=400)
        with lock:
            done[0] += 1
            if done[0] % 2000 == 0 or done[0] == count:
                print(f"  revocations: {done[0]}/{count} posted to {len(urls) + len(refused_urls)} stack(s), "
                      f"{time.monotonic() - started:.0f} s", file=sys.stderr)
        return claims_of(token)["sid"]

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(count)))


MASK64 = (1 << 64) - 1


def revocation_filter_slot(value: str, kind: str) -> tuple[int, int]:
    """The word and bit of `value` in the responder's revocation filter, as
    Sources/Auth/Revocation/RevocationFilter.swift computes them (FNV-1a 64 seeded by the kind,
    `hash ^= hash >> 29`, 2^14 words of 64 bits): a check whose `sid` and `sub` both land on
    clear bits answers "not revoked" from the filter alone, without the lock."""
    hash_ = 0xCBF29CE484222325 if kind == "session" else 0x84222325CBF29CE4
    for byte in value.encode("utf-8"):
        hash_ = ((hash_ ^ byte) * 0x100000001B3) & MASK64
    hash_ ^= hash_ >> 29
    return (hash_ >> 6) & (16384 - 1), hash_ & 63


def filter_hit(token: str, sids: list[str] = (), subjects: list[str] = ()) -> bool:
    """Whether checking `token` against a list of `sids` and `subjects` passes the filter (and so
    takes the read lock and the dictionary lookup)."""
    from harness.jwt import claims_of

    claims = claims_of(token)
    slots = {revocation_filter_slot(value, "session") for value in sids}
    slots |= {revocation_filter_slot(value, "subject") for value in subjects}
    return (bool(claims.get("sid")) and revocation_filter_slot(claims["sid"], "session") in slots) or \
        (bool(claims.get("sub")) and revocation_filter_slot(claims["sub"], "subject") in slots)


def metric(stack, name: str) -> float | None:
    """A metric without labels from the stack's /metrics (internal listener); None if absent."""
    text = stack.session.get(stack.internal_url("/metrics"), timeout=10).text
    found = re.search(rf"^{re.escape(name)} ([0-9.eE+-]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


@dataclass
class RedisServer:
    """A real redis-server on a free loopback port, no persistence, in `workdir`; `command`
    speaks RESP over a socket (no client library)."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> RedisServer:
        import shutil
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log"), "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.command("PING") == "PONG":
                    return self
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def command(self, *args: str):
        """One command; answers a str (simple or bulk string), an int, or a list."""
        import socket

        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            parts = [f"*{len(args)}\r\n".encode()]
            for arg in args:
                data = arg.encode()
                parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
            sock.sendall(b"".join(parts))
            reader = sock.makefile("rb")
            return self._reply(reader)

    def _reply(self, reader):
        line = reader.readline().rstrip(b"\r\n")
        kind, rest = line[:1], line[1:].decode()
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RuntimeError(f"redis: {rest}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            return None if rest == "-1" else reader.read(int(rest) + 2)[:-2].decode()
        if kind == b"*":
            return [self._reply(reader) for _ in range(int(rest))]
        raise RuntimeError(f"redis: unexpected reply {line[:40]!r}")

    def commands_processed(self) -> int:
        """INFO stats' total_commands_processed (this call's own INFO included)."""
        return int(re.search(r"total_commands_processed:(\d+)", self.command("INFO", "stats")).group(1))

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


# --- Profiles (perf) -------------------------------------------------------------------------------


def perf_usable() -> bool:
    """Whether `perf record` works here (installed, and allowed to sample a process)."""
    import shutil

    if shutil.which("perf") is None:
        return False
    with tempfile.TemporaryDirectory() as directory:
        return subprocess.run(["perf", "record", "-o", f"{directory}/probe.data", "--", "true"],
                              capture_output=True).returncode == 0


def profile_under_load(url: str, pid: int, seconds: float, out: Path, run=None, **wrk_options) -> Path:
    """`perf record -g` (999 Hz, software clock) of process `pid` for `seconds` while wrk loads
    `url` (it starts 1.5 s before and ends after the recording). `run`: the load, called like
    `run_wrk` (the default)."""
    import threading

    failure: list[BaseException] = []
    run = run or run_wrk

    def load() -> None:
        try:
            run(url, seconds=seconds + 3, **wrk_options)
        except BaseException as error:  # reported after the recording
            failure.append(error)

    thread = threading.Thread(target=load)
    thread.start()
    time.sleep(1.5)
    try:
        subprocess.run(["perf", "record", "-F", "999", "-g", "-o", str(out), "-p", str(pid), "--", "sleep",
                        str(seconds)], capture_output=True, check=True)
    finally:
        thread.join()
    if failure:
        raise failure[0]
    return out


def perf_shares(data: Path, inclusive: dict[str, str] | None = None, own: dict[str, str] | None = None) -> dict[str, float]:
    """Shares (%) of the samples in a `perf record -g` file: for each `inclusive` name, the
    largest "children" share among the symbols matching its regex (the function with everything
    it calls); for each `own` name, the sum of the "self" shares of the matching symbols."""
    def report(children: bool) -> list[tuple[float, float, str]]:
        text = subprocess.run(["perf", "report", "-i", str(data), "--children" if children else "--no-children",
                               "--sort", "symbol", "--stdio", "-g", "none"], capture_output=True, text=True).stdout
        rows = []
        for line in text.splitlines():
            # Symbols have no spaces (mangled Swift, C); perf may pad lines with "-  -" columns.
            found = (re.match(r"\s*([\d.]+)%\s+([\d.]+)%\s+\[[.k]\]\s+(\S+)", line) if children
                     else re.match(r"\s*([\d.]+)%\s+\[[.k]\]\s+(\S+)", line))
            if found:
                rows.append((float(found.group(1)), float(found.group(2)), found.group(3)) if children
                            else (float(found.group(1)), float(found.group(1)), found.group(2)))
        return rows

    shares: dict[str, float] = {}
    if inclusive:
        rows = report(True)
        for name, pattern in inclusive.items():
            shares[name] = max((total for total, _, symbol in rows if re.search(pattern, symbol)), default=0.0)
    if own:
        rows = report(False)
        for name, pattern in own.items():
            shares[name] = sum(self_share for self_share, _, symbol in rows if re.search(pattern, symbol))
    return shares
