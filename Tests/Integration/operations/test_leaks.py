"""No memory leak in the project's code: the release binary (a `strip -g` copy, because
valgrind 3.19 cannot read swiftc's DWARF 5) runs under valgrind memcheck behind the real nginx,
serves a few hundred requests of every kind (logins that succeed and fail, /protected with good
and bad tokens, refresh, logout, /auth, health and metrics, provider faults), is stopped with
SIGTERM, and valgrind's leak report must hold no "definitely lost" block whose allocation stack
passes through the project's modules (`Auth`, `FCGIApp`, `Platform`, `KeycloakFCGI`).

Leaks attributed only to third-party code or the runtimes (Swift runtime, Foundation, libcurl,
BoringSSL, glibc) are listed in the report and allowed: they are not this project's to fix, and
they are one-off allocations at start-up or exit, not per request.

Runs in about a minute and a half. `scripts/leak-check.sh` runs only this test and prints the
summary. The valgrind run is skipped when valgrind is not installed.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.stack import Stack, binary_path

VALGRIND = shutil.which("valgrind")

needs_valgrind = pytest.mark.skipif(VALGRIND is None, reason="valgrind is not installed (apt-get install valgrind)")

#: A frame of the project's own code: Swift symbols of the `Auth`, `FCGIApp`, `Platform` or
#: `KeycloakFCGI` modules, mangled (`$s4Auth…`, `$s7FCGIApp…`, or the module inside a
#: specialization's mangling, never preceded by another length digit) or demangled
#: (`Auth.JWKSCache…`, `FCGIApp.FastCGIServer…`).
PROJECT_FRAME = re.compile(
    r"\$s(?:4Auth|7FCGIApp|8Platform|12KeycloakFCGI)|(?<![0-9])(?:4Auth|7FCGIApp|8Platform|12KeycloakFCGI)(?![a-z])"
    r"|(?<![\w.])(?:Auth|FCGIApp|Platform|KeycloakFCGI)\.")

#: The stack of one valgrind record: "at 0x…: symbol (in /object)" or "(file.c:12)".
FRAME = re.compile(r"^==\d+==\s+(?:at|by) 0x[0-9A-Fa-f]+: (.*)$")
LEAK_HEADER = re.compile(r"^==\d+== ([\d,]+) (?:\(([\d,]+) direct, ([\d,]+) indirect\) )?bytes in ([\d,]+) blocks are (definitely|indirectly|possibly) lost in loss record")
SUMMARY_LINE = re.compile(r"^==\d+==\s+(definitely lost|indirectly lost|possibly lost|still reachable|suppressed): ([\d,]+) bytes in ([\d,]+) blocks")
ERROR_SUMMARY = re.compile(r"^==\d+== ERROR SUMMARY: ([\d,]+) errors")
#: Memcheck's non-leak error kinds (invalid reads and writes, uninitialised values, bad frees).
ERROR_HEADER = re.compile(r"^==\d+== (Invalid (?:read|write|free\(\)|.*)|Conditional jump .*|Use of uninitialised value.*|Syscall param .*|Mismatched free.*|Source and destination overlap.*)$")


@dataclass
class Record:
    """One valgrind error or leak record with its allocation (or fault) stack."""

    kind: str
    headline: str
    frames: list[str] = field(default_factory=list)
    bytes: int = 0

    @property
    def is_project(self) -> bool:
        return any(PROJECT_FRAME.search(frame) for frame in self.frames)

    def short(self, depth: int = 8) -> str:
        return "\n".join([self.headline] + ["      " + frame for frame in self.frames[:depth]])


@dataclass
class ValgrindReport:
    leaks: list[Record]
    errors: list[Record]
    summary: dict[str, tuple[int, int]]
    error_count: int | None

    def definite(self) -> list[Record]:
        return [record for record in self.leaks if record.kind == "definitely"]

    def describe(self) -> str:
        lines = ["valgrind memcheck summary:"]
        for kind, (size, blocks) in self.summary.items():
            lines.append(f"  {kind:16} {size:>10} bytes in {blocks} blocks")
        project = [r for r in self.definite() if r.is_project]
        foreign = [r for r in self.definite() if not r.is_project]
        lines.append(f"  definitely lost, project frames: {len(project)} records")
        lines.append(f"  definitely lost, third-party/runtime only (allowed): {len(foreign)} records, "
                     f"{sum(r.bytes for r in foreign)} bytes")
        for record in foreign:
            lines.append("    " + record.short(6).replace("\n", "\n    "))
        for record in project:
            lines.append("  PROJECT LEAK " + record.short(16).replace("\n", "\n    "))
        lines.append(f"  memcheck errors (non-leak): {len(self.errors)} "
                     f"({sum(r.is_project for r in self.errors)} with project frames)")
        for record in self.errors:
            lines.append("    " + ("PROJECT " if record.is_project else "") + record.short(8).replace("\n", "\n    "))
        return "\n".join(lines)


def parse_valgrind_log(text: str) -> ValgrindReport:
    leaks: list[Record] = []
    errors: list[Record] = []
    summary: dict[str, tuple[int, int]] = {}
    error_count = None
    current: Record | None = None
    for line in text.splitlines():
        frame = FRAME.match(line)
        if current is not None and frame:
            current.frames.append(frame.group(1))
            continue
        current = None
        if header := LEAK_HEADER.match(line):
            size = int((header.group(2) or header.group(1)).replace(",", ""))
            current = Record(header.group(5), line.split("== ", 1)[1], bytes=size)
            leaks.append(current)
        elif header := ERROR_HEADER.match(line):
            current = Record("error", header.group(1))
            errors.append(current)
        elif total := SUMMARY_LINE.match(line):
            summary[total.group(1)] = (int(total.group(2).replace(",", "")), int(total.group(3).replace(",", "")))
        elif count := ERROR_SUMMARY.match(line):
            error_count = int(count.group(1).replace(",", ""))
    return ValgrindReport(leaks, errors, summary, error_count)


def stripped_binary(directory: Path) -> Path:
    """$KEYCLOAK_FCGI_LEAK_BIN (already stripped, from scripts/leak-check.sh), or a `strip -g`
    copy of the release binary made here."""
    given = os.environ.get("KEYCLOAK_FCGI_LEAK_BIN")
    if given:
        return Path(given)
    copy = directory / "keycloak-fcgi.stripped"
    shutil.copy2(binary_path(), copy)
    subprocess.run(["strip", "-g", str(copy)], check=True)
    return copy


class ValgrindStack(Stack):
    """The stack with the responder under valgrind memcheck: everything is 20–50 times slower,
    so waits are longer and the responder gets minutes to exit (the leak check runs at exit)."""

    SLOWDOWN = 8

    def __init__(self, *args, binary: Path, **kwargs):
        super().__init__(*args, **kwargs)
        self.binary = binary
        self.valgrind_log = self.workdir / "valgrind.log"

    def start_responder(self) -> None:
        self.responder_exit = None
        command = [
            VALGRIND, "--tool=memcheck", "--leak-check=full", "--errors-for-leak-kinds=definite",
            "--error-exitcode=99", "--num-callers=40", "--show-leak-kinds=definite,indirect,possible",
            f"--log-file={self.valgrind_log}", str(self.binary), "--env-file", "/dev/null",
        ]
        with open(self.workdir / "responder.log", "ab") as log:
            self.responder = subprocess.Popen(command, env=self.responder_env(), stdin=subprocess.DEVNULL,
                                              stdout=log, stderr=log, cwd=self.workdir)

    def wait_until(self, condition, what: str, timeout: float = 30) -> None:
        super().wait_until(condition, what, timeout * self.SLOWDOWN)

    def get(self, path, **kwargs):
        kwargs.setdefault("timeout", 120)
        return super().get(path, **kwargs)

    def post(self, path, **kwargs):
        kwargs.setdefault("timeout", 120)
        return super().post(path, **kwargs)


def drive_every_kind_of_request(stack: Stack, idp) -> dict[str, int]:
    """A few hundred requests of every kind, from 4 client threads; answers how many of each
    were sent. Statuses are checked: a leak test of a broken run proves nothing."""
    counts: dict[str, int] = {}

    def expect(name: str, answer, *statuses: int) -> None:
        assert answer.status_code in statuses, f"{name}: {answer.status_code} {answer.text[:200]}"
        counts[name] = counts.get(name, 0) + 1

    def worker(index: int) -> None:
        import requests
        session = requests.Session()
        session.trust_env = False
        session.verify = stack.session.verify
        url, timeout = stack.url, 120
        for round_index in range(12):
            login = session.post(url("/login"), data={"username": "abdullah", "password": "Test#123456"}, timeout=timeout)
            expect("login ok", login, 200)
            tokens = login.json()
            bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
            expect("login failed", session.post(url("/login"), data={"username": "abdullah", "password": "wrong-password"},
                                                timeout=timeout), 401)
            expect("login 422", session.post(url("/login"), data={"username": "abdullah"}, timeout=timeout), 422)
            for _ in range(3):
                expect("protected ok", session.get(url("/protected"), headers=bearer, timeout=timeout), 200)
            expect("auth ok", session.get(url("/auth"), headers=bearer, timeout=timeout), 204)
            for bad in ("Bearer x.y.z", "Bearer " + tokens["access_token"][:-4] + "AAAA", "Basic abc", ""):
                expect("protected bad", session.get(url("/protected"), headers={"Authorization": bad} if bad else {},
                                                    timeout=timeout), 401)
            expect("protected expired", session.get(url("/protected"), timeout=timeout,
                                                    headers={"Authorization": f"Bearer {expired[index % len(expired)]}"}), 401)
            refreshed = session.post(url("/refresh"), data={"refresh_token": tokens["refresh_token"]}, timeout=timeout)
            expect("refresh ok", refreshed, 200)
            expect("refresh bad", session.post(url("/refresh"), data={"refresh_token": "not-a-token"}, timeout=timeout), 401)
            expect("logout", session.post(url("/logout"), data={"refresh_token": refreshed.json()["refresh_token"]},
                                          headers=bearer, timeout=timeout), 204)
            expect("logout again", session.post(url("/logout"), data={"refresh_token": tokens["refresh_token"]},
                                                timeout=timeout), 204)
            expect("logout forged", session.post(url("/logout"), data={"refresh_token": "x.y.z"}, timeout=timeout), 401)
            expect("root", session.get(url("/"), timeout=timeout), 200)
            expect("not found", session.get(url("/nowhere"), timeout=timeout), 404)
            expect("method", session.delete(url("/protected"), timeout=timeout), 405)
            if round_index % 4 == 0:
                expect("metrics", session.get(stack.internal_url("/metrics"), timeout=timeout), 200)
                expect("healthz", session.get(stack.internal_url("/healthz"), timeout=timeout), 200)
                expect("readyz", session.get(stack.internal_url("/readyz"), timeout=timeout), 200, 503)
        session.close()

    expired = [idp.mint(claims={"exp": int(time.time()) - 3600}) for _ in range(4)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        for future in [pool.submit(worker, index) for index in range(4)]:
            future.result()

    # Provider faults on the token endpoint, and a refetch of the keys for an unknown kid
    # (answered normally once, then with the certs endpoint broken).
    faults = {"html": 502, "truncated": 502, "status500": 502, "huge": 502, "hang": 503}
    for fault, status in faults.items():
        idp.fault("token", fault, seconds=30)
        for _ in range(6):
            expect(f"login fault {fault}", stack.login("abdullah", "Test#123456"), status)
        expect(f"refresh fault {fault}", stack.post("/refresh", data={"refresh_token": "whatever"}), status)
        idp.clear_faults()
    expect("unknown kid", stack.protected(idp.mint(header={"kid": "unknown-kid-1"})), 401)
    time.sleep(10.5)  # unknown-kid refetches are rate-limited to one per 10 s
    idp.fault("certs", "truncated")
    expect("unknown kid, certs broken", stack.protected(idp.mint(header={"kid": "unknown-kid-2"})), 401, 503)
    idp.clear_faults()
    expect("login after faults", stack.login("abdullah", "Test#123456"), 200)
    return counts


@needs_valgrind
def test_no_definite_leak_in_project_code_under_valgrind(tmp_path, tls_dir, make_idp):
    idp = make_idp()
    binary = stripped_binary(tmp_path)
    stack = ValgrindStack(tmp_path / "valgrind-stack", tls_dir, idp=idp, binary=binary,
                          env={"FCGI_WORKERS": "6", "KEYCLOAK_MAX_CONCURRENT_CALLS": "4",
                               "KEYCLOAK_TIMEOUT_SECONDS": "4"})
    try:
        stack.start()
        counts = drive_every_kind_of_request(stack, idp)
        assert sum(counts.values()) > 500, counts
        # Leak checking at exit takes a while under valgrind: give SIGTERM minutes, not seconds.
        code = stack.stop_responder(signal.SIGTERM, timeout=300)
    finally:
        stack.stop()
    log = stack.valgrind_log.read_text("utf-8", errors="replace")
    report = parse_valgrind_log(log)
    description = f"{report.describe()}\n  responder exit status: {code}"
    report_path = os.environ.get("LEAK_REPORT")
    if report_path:
        Path(report_path).write_text(description + "\n" + "requests: " + repr(counts) + "\n")
    print(description)

    assert "LEAK SUMMARY" in log or "All heap blocks were freed" in log, f"valgrind did not finish its leak check:\n{log[-3000:]}"
    assert "stopped" in stack.responder_log(), stack.responder_log()[-3000:]
    project_leaks = [record for record in report.definite() if record.is_project]
    assert not project_leaks, description
    project_errors = [record for record in report.errors if record.is_project]
    assert not project_errors, description
    # --error-exitcode=99 counts every memcheck error and definite leak, the runtimes' too: 0
    # when there are none; 99 only when all of them are third-party (checked just above).
    assert code in (0, 99), f"responder exit {code}\n{description}"
    if code == 99:
        assert report.definite() or report.errors, f"exit 99 without a reported error\n{description}"


SAMPLE_LOG = """\
==7== 64 bytes in 1 blocks are definitely lost in loss record 3 of 9
==7==    at 0x48407B4: malloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==7==    by 0x4CF1234: swift_slowAlloc (in /opt/swift/usr/lib/swift/linux/libswiftCore.so)
==7==    by 0x21A2B3: $s4Auth9JWKSCacheC10signingKey3for5fetchAA13JSONWebKeySetV0G3KeyVSS_AHyAA9AuthErrorVYKXEtAKYKF (in /x/keycloak-fcgi)
==7== 
==7== 48 (16 direct, 32 indirect) bytes in 1 blocks are definitely lost in loss record 2 of 9
==7==    at 0x48407B4: malloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==7==    by 0x5A1B2C3: curl_easy_init (in /usr/lib/x86_64-linux-gnu/libcurl.so.4.8.0)
==7==    by 0x4010101: some_runtime_thing (in /usr/lib/libfoo.so)
==7== 
==7== 40 bytes in 1 blocks are definitely lost in loss record 1 of 9
==7==    at 0x48407B4: malloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==7==    by 0x21A2B4: $sSa9_appendedySayxGSayxGF4Auth8JOSEHeaderV_Tg5 (in /x/keycloak-fcgi)
==7== 
==7== 8 bytes in 1 blocks are definitely lost in loss record 4 of 9
==7==    at 0x48407B4: malloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==7==    by 0x21A2B5: $s14AuthenticatorX4makeyyF (in /x/keycloak-fcgi)
==7== 
==7== LEAK SUMMARY:
==7==    definitely lost: 152 bytes in 4 blocks
==7==    indirectly lost: 32 bytes in 1 blocks
==7==      possibly lost: 0 bytes in 0 blocks
==7==    still reachable: 1,024 bytes in 3 blocks
==7==         suppressed: 0 bytes in 0 blocks
==7== 
==7== Invalid read of size 8
==7==    at 0x21A2C0: $s7FCGIApp13FastCGIServerC10workerLoopyySiF (in /x/keycloak-fcgi)
==7== 
==7== ERROR SUMMARY: 5 errors from 5 contexts (suppressed: 0 from 0)
"""


def test_the_valgrind_parser_attributes_leaks_to_project_frames():
    """The parser itself (no valgrind run): project frames are recognised mangled, inside a
    specialization, and not in a foreign identifier that merely contains "4Auth"."""
    report = parse_valgrind_log(SAMPLE_LOG)
    definite = report.definite()
    assert [record.bytes for record in definite] == [64, 16, 40, 8]
    assert [record.is_project for record in definite] == [True, False, True, False]
    assert report.summary["definitely lost"] == (152, 4)
    assert report.summary["still reachable"] == (1024, 3)
    assert report.error_count == 5
    assert len(report.errors) == 1 and report.errors[0].is_project
    assert "PROJECT LEAK" in report.describe()
