#!/usr/bin/env python3
"""`GET /protected` with a DPoP-bound token and a fresh DPoP proof per request (RFC 9449), next to
the same request with a plain bearer token: same nginx, same responder, same rounds.

Starts the test identity provider and the release binary behind nginx rendered from the
project's template (Tests/Integration/harness/stack.py; TLS listener, HTTP/1.1 from wrk), with
AUTH_DPOP_PROOF_MAX_AGE_SECONDS=600 so that proofs made just before a run are still fresh during
it (the default is 60 s). Both tokens are minted by the provider (`/_admin/mint`) for abdullah:

  bearer  `Authorization: Bearer <token>`, a token without `cnf`;
  dpop    `Authorization: DPoP <token>`, a token with `cnf.jkt` = the RFC 7638 thumbprint of
          one P-256 key, and `DPoP: <proof>`: an ES256 JWS, header {"typ":"dpop+jwt",
          "alg":"ES256","jwk":<the public key>}, claims {"jti","htm":"GET",
          "htu":"https://localhost:<port>/protected","iat","ath":base64url(SHA-256(token))}.

The responder accepts each proof once (its `jti` is remembered for the proof's maximum age), so
before every dpop run the script signs enough unique proofs (the bearer rate of the same round ×
the duration × 1.3, at least 20 000; in parallel processes with `cryptography`) and writes one
file per wrk thread; wrk's Lua script (setup() numbers the threads) loads its thread's file and
hands out the next proof per request. Should a thread run out, it reuses proofs (which the
responder refuses as replays), counts them, and the run is repeated with twice as many (3 runs
at most).
Both targets go through the same Lua `request()` (a wrk.format() per request), so wrk's own
cost per request is alike.

`wrk -t2 -c64 -d<duration>s --latency --timeout 10s` per run, `--rounds` rounds of bearer then
dpop. Before each run it waits for other processes to leave the CPU (under 5 %, at most
`--quiet-wait` s per run and `--quiet-budget` s in all) and repeats a run during which they
took more than 5 % (3 runs at most). The responder's CPU per request is user + system time of its process from
/proc/<pid>/stat before and after each run, divided by wrk's request count.

Printed: every run, then medians of 2xx/s, p50, p99, µs/req and the non-2xx count (must be 0)
per target, and dpop ÷ bearer paired per round; with `--profile S`, a `perf record -g` of the
responder under the dpop load afterwards and the shares of the proof check's parts (BoringSSL's
P-256 assembly has no call chain: its samples are counted as their own share). Writes
bench/results/dpop.json.

The script holds the lock /tmp/bench-lock for the whole run (a directory made with mkdir, its
owner's pid inside, also flock'ed, so `flock /tmp/bench-lock CMD` and `mkdir` locks both wait;
a lock whose owner is gone is taken over).

    KEYCLOAK_FCGI_BIN=/path/keycloak-fcgi python3 bench/bench_dpop.py [--rounds 3] [--duration 10]
        [--connections 64] [--smoke] [--quiet-wait 60] [--quiet-budget 150] [--profile SECONDS]
        [--keep] [--out DIR]
"""

from __future__ import annotations

import argparse
import base64
import errno
import fcntl
import hashlib
import json
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402
from benchlib import RESULTS, IdentityProvider, WrkRun  # noqa: E402
from harness.dpop import DPoPKey, ath, b64, proof, send  # noqa: E402
from harness.stack import Stack, binary_path  # noqa: E402

WRK_THREADS = 2
PROOF_MAX_AGE = 600
#: proofs per dpop run: the same round's bearer 2xx/s × duration × this, at least MIN_PROOFS
PROOF_MARGIN = 1.3
MIN_PROOFS = 20_000
MAX_FOREIGN = 0.05
LOCK = Path("/tmp/bench-lock")

#: Both targets: Authorization from the environment, a wrk.format() per request; with
#: BENCH_PROOFS, thread N reads BENCH_PROOFS.N (one proof a line) and sends the next one as `DPoP`.
WRK_SCRIPT = r"""
local authorization = os.getenv("BENCH_AUTHORIZATION")
local proofs_base = os.getenv("BENCH_PROOFS") or ""
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

proofs = {}
loaded = 0
used = 0
reused = 0

function init(args)
  wrk.headers["Authorization"] = authorization
  if proofs_base ~= "" then
    for line in io.lines(proofs_base .. "." .. id) do
      if line ~= "" then proofs[#proofs + 1] = line end
    end
    loaded = #proofs
  end
end

request = function()
  if loaded > 0 then
    used = used + 1
    if used > loaded then
      reused = reused + 1
      wrk.headers["DPoP"] = proofs[(used - 1) % loaded + 1]
    else
      wrk.headers["DPoP"] = proofs[used]
    end
  end
  return wrk.format()
end

function done(summary, latency, requests)
  local total_loaded, total_used, total_reused = 0, 0, 0
  for _, thread in ipairs(threads) do
    total_loaded = total_loaded + thread:get("loaded")
    total_used = total_used + thread:get("used")
    total_reused = total_reused + thread:get("reused")
  end
  io.write(string.format("bench-dpop proofs: loaded %d used %d reused %d\n", total_loaded, total_used, total_reused))
end
"""


# --- The lock ---------------------------------------------------------------------------------------


class BenchLock:
    """/tmp/bench-lock for the whole run: mkdir (atomic) with `owner` (pid, what, since) inside,
    and flock on the directory, so mkdir-style and `flock /tmp/bench-lock CMD` users both wait.
    A directory whose owner pid is gone is taken over; a plain file (someone's flock(1) lock
    file) is flock'ed. `wait` s at most, then SystemExit."""

    def __init__(self, path: Path = LOCK, wait: float = 600) -> None:
        self.path, self.wait = path, wait
        self.fd: int | None = None
        self.made = False

    def __enter__(self) -> BenchLock:
        deadline = time.monotonic() + self.wait
        announced = False
        while True:
            try:
                self.path.mkdir()
                self.made = True
                (self.path / "owner").write_text(
                    f"{os.getpid()} bench/bench_dpop.py since {datetime.now(timezone.utc).isoformat(timespec='seconds')}\n")
                break
            except FileExistsError:
                if not self.path.is_dir():
                    break  # a flock(1) lock file: flock it below
                owner = self._owner()
                if owner is not None and not _alive(owner):
                    print(f"  {self.path}: its owner {owner} is gone; taking it over", file=sys.stderr)
                    (self.path / "owner").unlink(missing_ok=True)
                    try:
                        self.path.rmdir()
                    except OSError:
                        pass
                    continue
            if not announced:
                print(f"  waiting for {self.path} ({(self._owner_text() or 'no owner file').strip()})", file=sys.stderr)
                announced = True
            if time.monotonic() > deadline:
                raise SystemExit(f"{self.path} still held after {self.wait:.0f} s; not measuring")
            time.sleep(1)
        self.fd = os.open(self.path, os.O_RDONLY)
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except OSError as error:
                if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
            if not announced:
                print(f"  waiting for the flock on {self.path}", file=sys.stderr)
                announced = True
            if time.monotonic() > deadline:
                self.__exit__()
                raise SystemExit(f"{self.path} still flock'ed after {self.wait:.0f} s; not measuring")
            time.sleep(1)

    def _owner_text(self) -> str | None:
        try:
            return (self.path / "owner").read_text()
        except OSError:
            return None

    def _owner(self) -> int | None:
        found = re.match(r"\s*(\d+)", self._owner_text() or "")
        return int(found.group(1)) if found else None

    def __exit__(self, *exc: object) -> None:
        if self.made:
            (self.path / "owner").unlink(missing_ok=True)
            try:
                self.path.rmdir()
            except OSError:
                pass
            self.made = False
        if self.fd is not None:
            os.close(self.fd)  # releases the flock
            self.fd = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- Proofs -----------------------------------------------------------------------------------------

_signer = None


def _init_signer(pem: bytes, head: str, claims_prefix: str, claims_suffix: str) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    global _signer
    _signer = (load_pem_private_key(pem, None), head, claims_prefix, claims_suffix)


def _sign_chunk(task: tuple[str, int]) -> str:
    """`count` proofs, one a line, jti = `prefix` + a counter; the header segment and everything
    but jti and iat are fixed (made once, as harness.dpop.proof would)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    prefix, count = task
    private, head, claims_prefix, claims_suffix = _signer
    algorithm = ec.ECDSA(hashes.SHA256())
    lines = []
    for index in range(count):
        claims = f'{{"jti":"{prefix}{index}",{claims_prefix}"iat":{int(time.time())},{claims_suffix}}}'
        signing_input = f"{head}.{b64(claims.encode())}"
        r, s = decode_dss_signature(private.sign(signing_input.encode("ascii"), algorithm))
        lines.append(f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}")
    return "\n".join(lines) + "\n"


class ProofMaker:
    """Signs unique proofs for one key, URL and token in `processes` worker processes."""

    def __init__(self, key: DPoPKey, url: str, token: str, processes: int | None = None) -> None:
        from cryptography.hazmat.primitives import serialization

        self.key, self.url, self.token = key, url, token
        head = b64(json.dumps({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.public_jwk},
                              separators=(",", ":")).encode())
        claims_prefix = f'"htm":"GET","htu":{json.dumps(url)},'
        claims_suffix = f'"ath":"{ath(token)}"'
        pem = key.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
        self.pool = multiprocessing.get_context("fork").Pool(
            processes or os.cpu_count() or 2, initializer=_init_signer,
            initargs=(pem, head, claims_prefix, claims_suffix))
        self.made = 0

    def check_shape(self) -> None:
        """One proof of the fast path has exactly harness.dpop.proof's header and claims."""
        mine = self.pool.map(_sign_chunk, [(f"shape-{uuid.uuid4().hex}-", 1)])[0].strip()
        reference = proof(self.key, "GET", self.url, access_token=self.token, jti="x", iat=0)

        def decode(segment: str) -> dict:
            return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))

        def parts(value: str) -> tuple[dict, dict]:
            head, claims, _ = value.split(".")
            return decode(head), decode(claims)

        (my_head, my_claims), (head, claims) = parts(mine), parts(reference)
        if my_head != head or {**my_claims, "jti": "x", "iat": 0} != claims:
            raise SystemExit(f"the fast proofs differ from harness.dpop.proof: {my_head} {my_claims} vs {head} {claims}")

    def write(self, count: int, base: Path) -> float:
        """`count` fresh proofs into base.0 … base.<WRK_THREADS-1> (disjoint); answers seconds taken."""
        started = time.monotonic()
        run = uuid.uuid4().hex[:12]
        chunk = 2000
        tasks = [(f"{run}-{number}-", min(chunk, count - start)) for number, start in enumerate(range(0, count, chunk))]
        files = [open(f"{base}.{thread}", "w") for thread in range(WRK_THREADS)]
        try:
            for number, text in enumerate(self.pool.imap(_sign_chunk, tasks)):
                files[number % WRK_THREADS].write(text)
        finally:
            for file in files:
                file.close()
        self.made += count
        return time.monotonic() - started

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()


# --- wrk ----------------------------------------------------------------------------------------------


def run_wrk(url: str, *, seconds: int, connections: int, authorization: str, proofs: Path | None,
            watch: tuple[int, ...]) -> tuple[WrkRun, dict[str, int] | None]:
    """`wrk -t2 -c<connections> -d<seconds>s --latency --timeout 10s` with WRK_SCRIPT, as
    benchlib.run_wrk parses it; also answers the Lua script's proof counts (dpop runs)."""
    script = Path(tempfile.mkstemp(prefix="bench-dpop-", suffix=".lua")[1])
    script.write_text(WRK_SCRIPT)
    env = {"PATH": "/usr/bin:/bin", "BENCH_AUTHORIZATION": authorization, "BENCH_PROOFS": str(proofs or "")}
    command = ["wrk", "-s", str(script), f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
               "--latency", url]
    meter = benchlib.CpuMeter(watch)
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=seconds + 120)
    finally:
        script.unlink(missing_ok=True)
    output = done.stdout
    if done.returncode != 0 or "Requests/sec" not in output:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()} {output.strip()}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    count = int(re.search(r"(\d+) requests in", output).group(1))
    p50 = benchlib.parse_latency(re.search(r"\s50%\s+([\d.]+\w+)", output).group(1))
    p99 = benchlib.parse_latency(re.search(r"\s99%\s+([\d.]+\w+)", output).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(r"Socket errors: (.*)", output)
    socket_count = sum(int(n) for n in re.findall(r"\d+", sockets.group(1))) if sockets else 0
    run = WrkRun(rate, p50, p99, count, int(non2xx.group(1)) if non2xx else 0, socket_count,
                 sockets.group(1).strip() if sockets else "", meter.share(), meter.watched_seconds())
    counts = re.search(r"bench-dpop proofs: loaded (\d+) used (\d+) reused (\d+)", output)
    proof_counts = dict(zip(("loaded", "used", "reused"), map(int, counts.groups()))) if counts and proofs else None
    return run, proof_counts


# --- Profile (perf) ---------------------------------------------------------------------------------

#: --profile: the responder's samples, each with what it calls (perf's children share)
PROFILE_INCLUSIVE = {
    "ProtectedHandler.handle": r"ProtectedHandlerV6handle_",
    "ResourceServer.checkedProof": r"ResourceServerV12checkedProof",
    "DPoPProof.verify": r"DPoPProofV6verify_",
    "  JSONDecoder.decode": r"JSONDecoderC6decode_4from",
    "  CompactJWS.decodePayload": r"CompactJWSV13decodePayload",
    "  JSONWebKey.thumbprint": r"JSONWebKeyV10thumbprint",
    "  JSONWebKey -> verification key": r"JSONWebKeyV012verification",
    "DPoPReplayGuard.claim (jti)": r"DPoPReplayGuardC5claim_",
    "ResourceServer.metadataURL": r"ResourceServerV11metadataURL",
    "token verification (cached)": r"RevocationCheckingAuthenticatorVAA0D0A2aDP6verify_",
    "log line": r"LineLogHandlerV3log5event",
}
#: BoringSSL's P-256 assembly keeps no frame pointer, so its samples have no callers: summed as
#: their own ("self") share. In this load they are the proofs' ECDSA verifications.
PROFILE_OWN = {"P-256 arithmetic (ECDSA verify; no call chain)": r"nistz256|beeu_mod_inverse|bn_mul_mont|ECDSA"}


def profile(url: str, pid: int, seconds: float, maker: ProofMaker, bound: str, base: Path, out: Path,
            connections: int) -> dict[str, float]:
    """`perf record -F 999 -g` of the responder for `seconds` while wrk sends dpop requests with fresh
    proofs (it starts 1.5 s before and ends after the recording), as benchlib.profile_under_load."""
    maker.write(int((seconds + 4) * 12_000), base)
    benchlib.profile_under_load(
        url, pid, seconds, out, run=lambda target, seconds, **options: run_wrk(target, seconds=int(seconds), **options),
        connections=connections, authorization=f"DPoP {bound}", proofs=base, watch=())
    return benchlib.perf_shares(out, PROFILE_INCLUSIVE, PROFILE_OWN)


# --- Measurement --------------------------------------------------------------------------------------


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"sanity check failed before measuring: {what}")


def sanity_checks(stack: Stack, key: DPoPKey, bound: str, plain: str) -> None:
    """Both targets answer 200 with abdullah before anything is measured; a proof sent twice and
    the bound token sent as Bearer are refused (the replay check and the binding are on)."""
    base = f"https://localhost:{stack.https_port}"
    ca = str(stack.tls_dir / "ca.crt")
    url = stack.url("/protected")
    reply = send(base, "/protected", authorization=f"Bearer {plain}", ca_file=ca)
    check(reply.status == 200 and json.loads(reply.body)["preferred_username"] == benchlib.USERNAME,
          f"bearer: {reply}")
    once = proof(key, "GET", url, access_token=bound)
    reply = send(base, "/protected", authorization=f"DPoP {bound}", proofs=[once], ca_file=ca)
    check(reply.status == 200 and json.loads(reply.body)["preferred_username"] == benchlib.USERNAME, f"dpop: {reply}")
    reply = send(base, "/protected", authorization=f"DPoP {bound}", proofs=[once], ca_file=ca)
    check(reply.status == 401, f"dpop, the same proof again: {reply.status} (a replay must be refused)")
    reply = send(base, "/protected", authorization=f"Bearer {bound}", ca_file=ca)
    check(reply.status == 401, f"the bound token as Bearer: {reply.status}")


class QuietBudget:
    """benchlib.wait_for_quiet with at most `per_run` s per wait and `total` s over the script."""

    def __init__(self, per_run: float, total: float) -> None:
        self.per_run, self.left = per_run, total

    def wait(self) -> float:
        if self.per_run <= 0 or self.left <= 0:
            return 0.0
        waited = benchlib.wait_for_quiet(min(self.per_run, self.left))
        self.left -= waited
        return waited


def measure(args, workdir: Path) -> dict:
    tls = benchlib.dev_certificate(workdir / "tls")
    runs: dict[str, list[dict]] = {"bearer": [], "dpop": []}
    rejected: dict[str, list[dict]] = {"bearer": [], "dpop": []}
    budget = QuietBudget(args.quiet_wait, args.quiet_budget)
    info: dict = {}
    with IdentityProvider(access_token_lifespan=3600) as idp:
        stack = Stack(workdir / "stack", tls, idp=idp,
                      env={"AUTH_DPOP_PROOF_MAX_AGE_SECONDS": str(PROOF_MAX_AGE)})
        maker = None
        try:
            stack.start()
            key = DPoPKey.generate("ES256")
            bound = idp.mint(claims=key.cnf())
            plain = idp.mint()
            sanity_checks(stack, key, bound, plain)
            log_offset = len(stack.responder_log())
            url = stack.url("/protected")
            maker = ProofMaker(key, url, bound)
            maker.check_shape()
            responder = stack.responder.pid
            info.update({"url": url, "workers": benchlib.responder_workers(stack.responder_env()),
                         "bound_token_bytes": len(bound), "bearer_token_bytes": len(plain)})
            print(f"/protected bearer vs dpop: {args.rounds} round(s) of {args.duration} s, -c{args.connections} "
                  f"-t{WRK_THREADS}; responder workers {info['workers']}", file=sys.stderr)
            proofs_base = workdir / "proofs"
            for round_index in range(args.rounds):
                for target in ("bearer", "dpop"):
                    count = 0
                    if target == "dpop":
                        previous = runs["bearer"][-1]["ok_rps"] if runs["bearer"] else 10_000
                        count = max(MIN_PROOFS, int(previous * args.duration * PROOF_MARGIN))
                    for attempt in range(1, 4):
                        extra = {}
                        if target == "dpop":
                            seconds = maker.write(count, proofs_base)
                            extra = {"proofs_made": count, "proofs_signing_s": round(seconds, 2)}
                        waited = budget.wait()
                        run, counts = run_wrk(url, seconds=args.duration, connections=args.connections,
                                              authorization=f"{'DPoP' if target == 'dpop' else 'Bearer'} "
                                                            f"{bound if target == 'dpop' else plain}",
                                              proofs=proofs_base if target == "dpop" else None, watch=(responder,))
                        entry = {**run.as_dict(), **extra, "quiet_wait_s": round(waited, 1), "attempt": attempt,
                                 **({"proofs": counts} if counts else {})}
                        cpu = run.watched_us_per_request
                        signed = (f"  proofs used {counts['used']} of {counts['loaded']} (signed in "
                                  f"{extra['proofs_signing_s']} s)" if counts else "")
                        print(f"round {round_index + 1} {target:6} {run.ok_rps:9.0f} 2xx/s  p50 {run.p50_ms:6.2f} ms  "
                              f"p99 {run.p99_ms:7.2f} ms  non-2xx {run.non2xx}"
                              f"{' sockets ' + run.socket_detail if run.socket_errors else ''}  "
                              f"{cpu:6.1f} µs/req  other CPU {100 * run.foreign_cpu:4.1f} %"
                              f"{signed}", file=sys.stderr)
                        reason = ""
                        if counts and counts["reused"]:
                            reason = f"ran out of proofs ({counts['reused']} reused)"
                            count *= 2
                        elif run.foreign_cpu > MAX_FOREIGN and budget.per_run > 0 and budget.left > 0:
                            reason = f"other processes took {100 * run.foreign_cpu:.0f} % of the CPU"
                        if reason and attempt < 3:
                            rejected[target].append({**entry, "rejected_because": reason})
                            print(f"  {reason}: repeating it", file=sys.stderr)
                            continue
                        runs[target].append(entry)
                        break
                    for thread in range(WRK_THREADS):
                        Path(f"{proofs_base}.{thread}").unlink(missing_ok=True)
            if args.profile > 0:
                if benchlib.perf_usable():
                    print(f"profiling the responder under the dpop load for {args.profile:.0f} s", file=sys.stderr)
                    info["profile_shares_percent"] = profile(url, responder, args.profile, maker, bound, proofs_base,
                                                             workdir / "perf.data", args.connections)
                else:
                    print("  perf is not usable here: no profile", file=sys.stderr)
            info["responder_rss_kib"] = benchlib.resident_kib(responder)
            info["responder_threads"] = benchlib.thread_count(responder)
            info["proofs_made"] = maker.made
            # What the responder logged during the runs: the status of every request, the reason of
            # every refusal (there should be none), and any warning or error line.
            lines = stack.responder_log()[log_offset:].splitlines()
            info["responder_statuses"] = dict(Counter(found.group(1) for line in lines
                                                      if (found := re.search(r"\bhttp\.status=(\d+)", line))))
            info["responder_refusals"] = dict(Counter(found.group(1) for line in lines
                                                      if (found := re.search(r"\bauth\.error=([^:\s]+)", line))))
            info["responder_log_warnings"] = [line for line in lines
                                              if re.match(r"\S+ (warning|error|critical) ", line)][-20:]
        finally:
            if maker is not None:
                maker.close()
            stack.stop()
    return {"runs": runs, "rejected_runs": rejected, **info}


# --- Report ---------------------------------------------------------------------------------------


def median(entries: list[dict], name: str) -> float:
    return statistics.median(entry[name] for entry in entries)


def summarize(measured: dict, args) -> dict:
    runs = measured["runs"]
    names = {"bearer": "/protected, Authorization: Bearer", "dpop": "/protected, DPoP token + proof (ES256)"}
    ratios = {name: [d[name] / b[name] if b[name] else float("inf") for b, d in zip(runs["bearer"], runs["dpop"])]
              for name in ("ok_rps", "p50_ms", "p99_ms", "watched_us_per_request")}
    print(f"\n/protected, bearer vs DPoP: wrk -t{WRK_THREADS} -c{args.connections} -d{args.duration}s --latency, "
          f"{args.rounds} round(s) (bearer then dpop in each), medians")
    header = f"{'target':40} {'2xx/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'µs/req':>7} {'non-2xx':>8} {'sockets':>8}"
    benchlib.print_table_header(header)
    table = {}
    for target in ("bearer", "dpop"):
        entries = runs[target]
        row = {"ok_rps": median(entries, "ok_rps"), "p50_ms": median(entries, "p50_ms"),
               "p99_ms": median(entries, "p99_ms"), "us_per_request": median(entries, "watched_us_per_request"),
               "non2xx": sum(entry["non2xx"] for entry in entries),
               "socket_errors": sum(entry["socket_errors"] for entry in entries),
               "requests": sum(entry["requests"] for entry in entries)}
        table[target] = row
        print(f"{names[target]:40} {row['ok_rps']:9.0f} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} "
              f"{row['us_per_request']:7.1f} {row['non2xx']:8d} {row['socket_errors']:8d}")
    medians = {name: statistics.median(values) for name, values in ratios.items()}
    print(f"{'dpop ÷ bearer (paired per round, median)':40} {medians['ok_rps']:9.3f} {medians['p50_ms']:8.3f} "
          f"{medians['p99_ms']:8.3f} {medians['watched_us_per_request']:7.3f}")
    for name, label in (("ok_rps", "2xx/s"), ("watched_us_per_request", "µs/req")):
        print(f"  dpop ÷ bearer {label} per round: {', '.join(f'{value:.3f}' for value in ratios[name])}")
    extra_us = table["dpop"]["us_per_request"] - table["bearer"]["us_per_request"]
    print(f"  the DPoP check adds {extra_us:.1f} µs of responder CPU per request (medians)")
    errors = table["bearer"]["non2xx"] + table["dpop"]["non2xx"]
    if errors:
        print(f"  NOTE: {errors} non-2xx answers (must be 0)")
    rejected = sum(len(entries) for entries in measured["rejected_runs"].values())
    if rejected:
        print(f"  {rejected} run(s) repeated (see rejected_runs in the JSON)")
    print(f"responder log during the runs: statuses {measured['responder_statuses']}"
          f"{'; refusals ' + str(measured['responder_refusals']) if measured['responder_refusals'] else ''}"
          f"{'; ' + str(len(measured['responder_log_warnings'])) + ' warning/error lines' if measured['responder_log_warnings'] else ''}")
    print(f"after the runs: keycloak-fcgi {measured['responder_rss_kib'] / 1024:.1f} MiB resident, "
          f"{measured['responder_threads']} threads (FCGI_WORKERS {measured['workers']}); "
          f"{measured['proofs_made']} proofs signed")
    print("µs/req: the responder's CPU time (user + system, all threads, /proc/<pid>/stat) per request")
    shares = measured.get("profile_shares_percent")
    if shares:
        dpop_us = table["dpop"]["us_per_request"]
        print(f"\nprofile of the responder under the dpop load (share of its samples; × {dpop_us:.0f} µs/req):")
        for name, share in shares.items():
            print(f"  {name:48} {share:5.1f} %  ≈ {share / 100 * dpop_us:5.1f} µs")
    return {"table": table, "ratios_per_round": ratios, "ratio_medians": medians, "dpop_extra_us": extra_us}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--smoke", action="store_true", help="1 round of 1 s per target (a check, not a result)")
    parser.add_argument("--quiet-wait", type=float, default=60,
                        help="before each run, wait up to this many seconds for other processes to leave the CPU "
                             "(under 5 %%), and repeat a run during which they took more (3 runs at most); 0: neither")
    parser.add_argument("--quiet-budget", type=float, default=150,
                        help="seconds of quiet waits over the whole script, at most")
    parser.add_argument("--profile", type=float, default=0, metavar="SECONDS",
                        help="after the rounds, `perf record -g` the responder this long under the dpop load and "
                             "print the shares of the proof check's parts")
    parser.add_argument("--lock-wait", type=float, default=600, help=f"seconds to wait for {LOCK}")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, configs)")
    args = parser.parse_args()
    benchlib.stop_cleanly_on_sigterm()
    if args.smoke:
        args.rounds, args.duration = 1, 1
        args.quiet_budget = min(args.quiet_budget, 10)
    binary = binary_path()
    if not binary.is_file():
        parser.error(f"no responder binary at {binary} (set KEYCLOAK_FCGI_BIN)")

    with BenchLock(wait=args.lock_wait):
        load_before = os.getloadavg()
        started = datetime.now(timezone.utc)
        clock = time.monotonic()
        workdir = Path(tempfile.mkdtemp(prefix="kfcgi-bench-dpop-"))
        try:
            measured = measure(args, workdir)
        finally:
            benchlib.finish_workdir(workdir, args.keep)
        elapsed = time.monotonic() - clock

    summary = summarize(measured, args)
    foreign = max(entry["foreign_cpu"] for entries in measured["runs"].values() for entry in entries)
    benchlib.print_quiet_notes(load_before, foreign, indent="  ")
    print(f"  {elapsed:.0f} s in all (start-up, signing, quiet waits, runs); binary {binary}")
    if args.rounds < 3 or args.duration < 10:
        print("  note: fewer than 3 rounds of 10 s: a smoke run, not a result")
    report = {
        "started": started.isoformat(timespec="seconds"),
        "settings": {"rounds": args.rounds, "duration_s": args.duration, "connections": args.connections,
                     "wrk_threads": WRK_THREADS, "order": "bearer then dpop in every round",
                     "quiet_wait_s": args.quiet_wait, "quiet_budget_s": args.quiet_budget,
                     "responder_env": {"AUTH_DPOP_PROOF_MAX_AGE_SECONDS": str(PROOF_MAX_AGE)}},
        "machine": {"cpus": os.cpu_count(), "load_average_before": load_before},
        "binary": {"path": str(binary), "sha256": hashlib.sha256(binary.read_bytes()).hexdigest()},
        "elapsed_s": round(elapsed, 1),
        **summary, **measured,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "dpop.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten: {args.out / 'dpop.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
