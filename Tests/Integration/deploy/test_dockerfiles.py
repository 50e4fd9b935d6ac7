"""The deployment's Dockerfiles: both through hadolint, the app image's shape, the build context
(.dockerignore against what the images copy and what Package.swift needs), and the app's
health-check command against a stand-in FastCGI responder.

No image is built and no container runs here (the machines have only a Docker client): every
piece that can be exercised on its own is. The tools and `docker-compose config` are
deploy/conftest.py's fixtures; reading the files is harness/deploy_files.py.
"""

from __future__ import annotations

import fnmatch
import os
import re
import socket
import struct
import subprocess
import threading
from pathlib import Path

import pytest

from harness import REPO_ROOT as REPO
from harness.deploy_files import APP_DOCKERFILE, DOCKERIGNORE, NGINX_DOCKERFILE, dockerfile_instructions
from harness.deploy_files import healthcheck_command


# ---- Dockerfiles -------------------------------------------------------------------------------

@pytest.mark.parametrize("dockerfile", [APP_DOCKERFILE, NGINX_DOCKERFILE], ids=["app", "nginx"])
def test_hadolint(hadolint, dockerfile):
    result = subprocess.run([hadolint, str(dockerfile)], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_app_dockerfile_shape():
    instructions = dockerfile_instructions(APP_DOCKERFILE)
    froms = [arguments for keyword, arguments in instructions if keyword == "FROM"]
    assert re.fullmatch(r"swift:6\.\d+(\.\d+)?-bookworm AS build", froms[0])
    assert froms[-1] == "debian:bookworm-slim"
    runs = " ".join(arguments for keyword, arguments in instructions if keyword == "RUN")
    assert "swift build -c release --static-swift-stdlib --product keycloak-fcgi" in runs
    for package in ("libfcgi-dev", "libcurl4-openssl-dev", "pkg-config", "libfcgi0ldbl", "libcurl4",
                    "ca-certificates", "libfcgi-bin"):
        assert re.search(rf"(?<![\w-]){re.escape(package)}(?![\w-])", runs), package
    assert runs.count("--no-install-recommends") == 2
    assert runs.count("rm -rf /var/lib/apt/lists/*") == 2
    final = instructions[max(i for i, (k, _) in enumerate(instructions) if k == "FROM"):]
    user = [arguments for keyword, arguments in final if keyword == "USER"]
    assert user and not user[-1].startswith(("0", "root")), "the responder must not run as root"
    assert ("ENV", "FCGI_LISTEN=0.0.0.0:9000") in final
    assert ("EXPOSE", "9000") in final
    assert ("STOPSIGNAL", "SIGTERM") in final
    assert ("ENTRYPOINT", '["/usr/local/bin/keycloak-fcgi"]') in final
    assert any(k == "COPY" and a.startswith("--from=build ") and a.endswith(" /usr/local/bin/keycloak-fcgi")
               for k, a in final)


def _dockerignored(relative: str, patterns: list[str]) -> bool:
    """Docker's rule, enough for these patterns: the last matching pattern wins; a pattern
    matching a parent directory excludes everything below it."""
    parts = relative.split("/")
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if fnmatch.fnmatchcase(prefix, pattern) or fnmatch.fnmatchcase(prefix, pattern.replace("**/", "")):
                ignored = not negate
                break
    return ignored


def _swift_target_directories() -> set[str]:
    """Every target directory Package.swift declares (SwiftPM refuses a manifest whose target
    directory is missing, even when building a single product)."""
    manifest = (REPO / "Package.swift").read_text()
    declaration = re.compile(
        r"\.(target|executableTarget|testTarget|systemLibrary|plugin|macro)\(\s*name:\s*\"([^\"]+)\"")
    matches = list(declaration.finditer(manifest))
    directories = set()
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(manifest)
        custom = re.search(r"\bpath:\s*\"([^\"]+)\"", manifest[match.end():end])
        default = "Tests" if match.group(1) == "testTarget" else "Sources"
        directories.add(custom.group(1) if custom else f"{default}/{match.group(2)}")
    assert {"Sources/FCGIApp", "Sources/Auth"} <= directories, directories
    for directory in directories:
        assert (REPO / directory).is_dir(), f"Package.swift names {directory}, which does not exist"
    return directories


def _copy_sources(dockerfile: Path) -> set[str]:
    sources = set()
    for keyword, arguments in dockerfile_instructions(dockerfile):
        if keyword != "COPY" or arguments.startswith("--from"):
            continue
        sources.update(word.rstrip("/") for word in arguments.split()[:-1] if not word.startswith("--"))
    return sources


def test_build_context_has_what_the_images_copy():
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    for excluded in (".build", ".build-unit", ".run", ".git", ".env", "Tests/Integration",
                     "Tests/Integration/__pycache__", "bench/__pycache__"):
        assert _dockerignored(excluded, patterns), f"{excluded} should not be sent to the builder"

    app_sources = _copy_sources(APP_DOCKERFILE)
    assert "Package.swift" in app_sources
    for directory in _swift_target_directories():
        assert not _dockerignored(directory, patterns), f"{directory} is a target directory"
        assert any(directory == source or directory.startswith(source + "/") for source in app_sources), \
            f"{directory} (a Package.swift target) is not copied into the build stage"

    for source in _copy_sources(APP_DOCKERFILE) | _copy_sources(NGINX_DOCKERFILE):
        if "[" in source:  # optional wildcard (Package.resolve[d])
            continue
        assert (REPO / source).exists(), f"COPY source {source} does not exist"
        assert not _dockerignored(source, patterns), f"COPY source {source} is dockerignored"


class _FakeFastCGI:
    """A FastCGI responder answering every request with one CGI status line."""

    def __init__(self, status: str, address):
        self.status = status
        self.requests: list[dict[str, str]] = []
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.bind(address)
        self.socket.listen(8)
        self.socket.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.socket.getsockname()[1]

    def _serve(self):
        while self.running:
            try:
                connection, _ = self.socket.accept()
            except (socket.timeout, OSError):
                continue
            with connection:
                connection.settimeout(5)
                try:
                    self._answer(connection)
                except OSError:
                    pass

    @staticmethod
    def _read(connection, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = connection.recv(size - len(data))
            if not chunk:
                raise OSError("closed")
            data += chunk
        return data

    def _answer(self, connection):
        params = b""
        while True:
            _, kind, request_id, length, padding, _ = struct.unpack("!BBHHBB", self._read(connection, 8))
            content = self._read(connection, length)
            self._read(connection, padding)
            if kind == 4:
                params += content
            elif kind == 5 and length == 0:
                break
        self.requests.append(self._decode(params))
        body = f"Status: {self.status}\r\nContent-Type: application/json\r\n\r\n{{}}".encode()
        for kind, content in ((6, body), (6, b""), (3, struct.pack("!IB3x", 0, 0))):
            connection.sendall(struct.pack("!BBHHBB", 1, kind, request_id, len(content), 0, 0) + content)

    @staticmethod
    def _decode(data: bytes) -> dict[str, str]:
        values, offset = {}, 0

        def length() -> int:
            nonlocal offset
            if data[offset] & 0x80:
                value = struct.unpack("!I", data[offset:offset + 4])[0] & 0x7FFFFFFF
                offset += 4
            else:
                value = data[offset]
                offset += 1
            return value

        while offset < len(data):
            name_length, value_length = length(), length()
            name = data[offset:offset + name_length].decode()
            offset += name_length
            values[name] = data[offset:offset + value_length].decode()
            offset += value_length
        return values

    def close(self):
        self.running = False
        self.thread.join(timeout=5)
        self.socket.close()


def _run_app_healthcheck(fcgi_listen: str) -> subprocess.CompletedProcess:
    command = healthcheck_command(APP_DOCKERFILE)
    env = {"PATH": os.environ["PATH"], "FCGI_LISTEN": fcgi_listen}
    return subprocess.run(command, env=env, capture_output=True, timeout=20)


@pytest.mark.parametrize("status, healthy", [("200 OK", True), ("503 Service Unavailable", False),
                                             ("404 Not Found", False)])
def test_app_healthcheck_over_tcp(cgi_fcgi, status, healthy):
    server = _FakeFastCGI(status, ("127.0.0.1", 0))
    try:
        result = _run_app_healthcheck(f"0.0.0.0:{server.port}")
        assert (result.returncode == 0) == healthy, result.stderr
        assert len(server.requests) == 1
        request = server.requests[0]
        assert request["REQUEST_METHOD"] == "GET"
        assert request["DOCUMENT_URI"] == "/healthz"
        assert request["REQUEST_URI"] == "/healthz"
    finally:
        server.close()


def test_app_healthcheck_over_unix_socket(cgi_fcgi, tmp_path):
    path = str(tmp_path / "fcgi.sock")
    server = _FakeFastCGI("200 OK", path)
    try:
        assert _run_app_healthcheck(f"unix:{path}").returncode == 0
        assert server.requests and server.requests[0]["DOCUMENT_URI"] == "/healthz"
    finally:
        server.close()


def test_app_healthcheck_fails_when_nothing_listens(cgi_fcgi):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    assert _run_app_healthcheck(f"0.0.0.0:{port}").returncode != 0
