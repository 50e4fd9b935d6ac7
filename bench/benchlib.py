"""Shared pieces of the benchmark scripts (bench/run_all.py, bench/memory.py): wrk runs and their
parsing, the peers' uvicorn processes, resident memory, and installing the peers' packages.

Everything runs on loopback: the test identity provider, the release binary and nginx from
Tests/Integration/harness (idp_fixture, stack), the peers on free ports."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
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
from harness.stack import free_port  # noqa: E402

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

#: One script for every target: method, body, Content-Type and Authorization from the environment
#: (never on wrk's command line). BENCH_TOKENS (space-separated) rotates Authorization per request.
WRK_SCRIPT = r"""
local method = os.getenv("BENCH_METHOD")
local body = os.getenv("BENCH_BODY")
local content_type = os.getenv("BENCH_CONTENT_TYPE")
local authorization = os.getenv("BENCH_AUTHORIZATION")
if method and method ~= "" then wrk.method = method end
if body and body ~= "" then wrk.body = body end
if content_type and content_type ~= "" then wrk.headers["Content-Type"] = content_type end
if authorization and authorization ~= "" then wrk.headers["Authorization"] = authorization end

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


@dataclass
class WrkRun:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non2xx: int
    socket_errors: int
    socket_detail: str = ""

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
                "socket_detail": self.socket_detail}


def run_wrk(url: str, *, seconds: float, connections: int, threads: int = 2, method: str = "GET",
            body: str = "", content_type: str = "", authorization: str = "", tokens: list[str] | None = None,
            stop_when: Callable[[], bool] | None = None, timeout_s: int = 10) -> WrkRun:
    """`wrk -t<threads> -c<connections> -d<seconds>s --latency` with the shared script.

    `stop_when`, polled every 20 ms, ends the run early: wrk takes SIGINT as the end of its
    duration and still reports (its Lua `thread:stop()` does not: wrk's main thread sleeps for
    the whole -d regardless)."""
    script = Path(tempfile.mkstemp(prefix="bench-wrk-", suffix=".lua")[1])
    script.write_text(WRK_SCRIPT)
    env = {
        "PATH": "/usr/bin:/bin", "BENCH_METHOD": method, "BENCH_BODY": body,
        "BENCH_CONTENT_TYPE": content_type, "BENCH_AUTHORIZATION": authorization,
        "BENCH_TOKENS": " ".join(tokens or []),
    }
    command = ["wrk", "-s", str(script), f"-t{threads}", f"-c{connections}", f"-d{int(seconds)}s",
               "--timeout", f"{timeout_s}s", "--latency", url]
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
                  sockets.group(1).strip() if sockets else "")


# --- Processes ----------------------------------------------------------------------------------


def stop_cleanly_on_sigterm() -> None:
    """SIGTERM (e.g. `timeout`) raises SystemExit, so the scripts' finally blocks stop every process
    they started instead of leaving them running."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


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
        # As many threads as keycloak-fcgi's default FCGI_WORKERS, so the two differ only in work.
        self.process = subprocess.Popen([str(binary), str(self.socket_path)], stdin=subprocess.DEVNULL,
                                        env={**os.environ, "FCGI_WORKERS": "64"})
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
