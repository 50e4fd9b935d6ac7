"""The product as users run it, on free loopback ports: the release `keycloak-fcgi` binary,
real nginx with the project's template and a development certificate, pointed at a test
identity provider (`harness.idp_fixture.IdentityProvider`) or any issuer URL.

    with Stack(workdir, tls, idp=idp, env={"AUTH_VERIFY": "userinfo"}) as stack:
        stack.session.get(stack.url("/protected"))

Options beyond the responder's environment shape nginx: `cors_origins` is the template's
CORS_ALLOWED_ORIGINS (rendered as scripts/render_nginx.py --cors does) and `client_certificates`
turns on the template's RFC 8705 recipe (`ssl_verify_client optional_no_ca;`).

`stop()` sends SIGTERM to the responder and records its exit status, then stops nginx.
"""

from __future__ import annotations

import getpass
import json
import importlib.util
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import requests

from . import REPO_ROOT
from .idp_fixture import DOCS_CLIENT_ID, IdentityProvider

TEMPLATE = REPO_ROOT / "nginx" / "templates" / "keycloak-fcgi.conf.template"
MAIN_TEMPLATE = REPO_ROOT / "nginx" / "local" / "nginx.conf.template"


def _load_render_nginx():
    """scripts/render_nginx.py, loaded from its file (scripts/ is no package)."""
    spec = importlib.util.spec_from_file_location("render_nginx", REPO_ROOT / "scripts" / "render_nginx.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_render_nginx = _load_render_nginx()
#: `render(template_text, values)`: ${NAME} placeholders replaced, as scripts/render_nginx.py does.
render: Callable[[str, dict[str, str]], str] = _render_nginx.render
#: `render_docs(output_dir, values)`: the Swagger page's openapi.json and swagger-init.js for one
#: deployment (values DOCS_KEYCLOAK_ISSUER, DOCS_CLIENT_ID), as `render_nginx.py --docs` does.
render_docs: Callable[[Path, dict[str, str]], None] = _render_nginx.render_docs
#: `render_cors(origins)`: the http{}-level CORS maps for a CORS_ALLOWED_ORIGINS value, as
#: `render_nginx.py --cors` writes them (the template includes them as ${CORS_MAPS_FILE}).
render_cors: Callable[[str], str] = _render_nginx.render_cors

#: The template's commented RFC 8705 recipe line and what `client_certificates=True` makes of it.
CLIENT_CERTIFICATE_RECIPE = "    # ssl_verify_client optional_no_ca;\n"
CLIENT_CERTIFICATE_ON = "    ssl_verify_client optional_no_ca;\n"


def enable_client_certificates(config: str) -> str:
    """`config` with the template's commented `ssl_verify_client optional_no_ca;` turned on (once
    per TLS server that carries the recipe); fails when the recipe is not there."""
    assert CLIENT_CERTIFICATE_RECIPE in config, "the template lost its commented ssl_verify_client recipe"
    return config.replace(CLIENT_CERTIFICATE_RECIPE, CLIENT_CERTIFICATE_ON)

#: The Swagger page's Keycloak issuer when a stack has no identity provider (the page's sign-in
#: then points nowhere; nothing else depends on it).
NO_PROVIDER_ISSUER = "https://keycloak.invalid/realms/testing"


def binary_path() -> Path:
    """The release binary: $KEYCLOAK_FCGI_BIN or .build/release/keycloak-fcgi."""
    path = Path(os.environ.get("KEYCLOAK_FCGI_BIN", REPO_ROOT / ".build" / "release" / "keycloak-fcgi"))
    if not path.exists():
        raise RuntimeError(f"{path} does not exist: run `swift build -c release --static-swift-stdlib` (scripts/test.sh does)")
    return path


def swagger_ui_dir() -> Path:
    return Path(os.environ.get("SWAGGER_UI_DIR", REPO_ROOT / ".run" / "swagger-ui"))


class SessionRecord:
    """Every log file a stack wrote and every secret the tests handled during the run, for the
    final check that no secret reached a log (zz_final/test_logs_hold_no_secrets.py).

    Within one pytest process the record is in memory. When the run is spread over processes
    (pytest-xdist, as scripts/test.sh does) and the final check runs in a pytest of its own,
    ``KEYCLOAK_FCGI_TEST_RECORD`` names a directory each process also appends to (one JSON line
    per entry, a file per process), and the final check reads all of it."""

    log_files: list[Path] = []
    secrets: set[str] = set()

    @classmethod
    def remember(cls, *values: str | None) -> None:
        for value in values:
            # Short values ("x", "wrong") would match unrelated text; real secrets are longer.
            if value and len(value) >= 8 and value not in cls.secrets:
                cls.secrets.add(value)
                cls._append("secret", value)

    @classmethod
    def remember_logs(cls, *paths: Path) -> None:
        for path in paths:
            cls.log_files.append(path)
            cls._append("log", str(path))

    @classmethod
    def everything(cls) -> tuple[list[Path], set[str]]:
        """This process's record and what every other process of the run wrote."""
        log_files, secrets = list(cls.log_files), set(cls.secrets)
        directory = os.environ.get("KEYCLOAK_FCGI_TEST_RECORD")
        if directory and Path(directory).is_dir():
            for record in Path(directory).glob("record-*.jsonl"):
                for line in record.read_text("utf-8").splitlines():
                    kind, value = json.loads(line)
                    if kind == "secret":
                        secrets.add(value)
                    else:
                        log_files.append(Path(value))
        return log_files, secrets

    @staticmethod
    def _append(kind: str, value: str) -> None:
        directory = os.environ.get("KEYCLOAK_FCGI_TEST_RECORD")
        if directory:
            with open(Path(directory) / f"record-{os.getpid()}.jsonl", "a", encoding="utf-8") as record:
                record.write(json.dumps([kind, value]) + "\n")


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Stack:
    """One responder and one nginx in `workdir`."""

    #: Idle FastCGI connections each nginx worker keeps (UPSTREAM_KEEPALIVE), as scripts/run-local.sh
    #: and the nginx image set it.
    DEFAULT_UPSTREAM_KEEPALIVE = 64

    def __init__(
        self,
        workdir: Path,
        tls_dir: Path,
        *,
        idp: IdentityProvider | None = None,
        env: dict[str, str] | None = None,
        login_rate: str = "1000r/s",
        login_burst: int = 1000,
        max_body: str = "64k",
        wait_for_keys: bool = True,
        extra_locations: str = "",
        upstream_keepalive: int | None = None,
        cors_origins: str | Sequence[str] = "",
        client_certificates: bool = False,
    ):
        self.workdir = workdir
        self.tls_dir = tls_dir
        self.idp = idp
        self.extra_env = env or {}
        self.login_rate, self.login_burst, self.max_body = login_rate, login_burst, max_body
        self.wait_for_keys = wait_for_keys
        self.extra_locations = extra_locations
        self.upstream_keepalive = upstream_keepalive or self.DEFAULT_UPSTREAM_KEEPALIVE
        self.cors_origins = cors_origins if isinstance(cors_origins, str) else " ".join(cors_origins)
        self.client_certificates = client_certificates
        self.https_port = free_port()
        self.http_port = free_port()
        self.internal_port = free_port()
        self.socket_path = workdir / "fcgi.sock"
        self.responder: subprocess.Popen[bytes] | None = None
        self.nginx: subprocess.Popen[bytes] | None = None
        self.responder_exit: int | None = None
        self.session = requests.Session()
        SessionRecord.remember(idp.client_secret if idp else None, self.extra_env.get("KEYCLOAK_CLIENT_SECRET"))
        SessionRecord.remember_logs(*(workdir / name for name in
                                      ("responder.log", "nginx-error.log", "nginx-access.log", "nginx-stderr.log")))
        # Ignore REQUESTS_CA_BUNDLE and proxies from the environment: trust only the dev CA.
        self.session.trust_env = False
        self.session.verify = str(tls_dir / "ca.crt")

    # Life cycle ---------------------------------------------------------------------------

    def responder_env(self) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "FCGI_LISTEN": f"unix:{self.socket_path}",
            "FCGI_SOCKET_MODE": "660",
            "LOG_LEVEL": "info",
        }
        if self.idp is not None:
            env.update({
                "KEYCLOAK_SERVER_URL": self.idp.base_url,
                "KEYCLOAK_REALM": self.idp.realm,
                "KEYCLOAK_CLIENT_ID": self.idp.client_id,
                "KEYCLOAK_CLIENT_SECRET": self.idp.client_secret,
            })
        env.update(self.extra_env)
        return {key: value for key, value in env.items() if value is not None}

    def start(self) -> Stack:
        """Starts both processes and waits until they serve; stops them again if that fails."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "nginx-tmp").mkdir(exist_ok=True)
        try:
            self.start_responder()
            self.start_nginx()
            self.wait_until(lambda: self.get("/").status_code == 200, "nginx and the responder to answer GET /")
            if self.wait_for_keys and self.idp is not None:
                self.wait_until(lambda: "signing keys loaded" in self.responder_log(), "the responder to load the JWKS")
        except BaseException:
            self.stop()
            raise
        return self

    def start_responder(self) -> None:
        """Starts (or restarts) the responder; its stderr is appended to responder.log."""
        self.responder_exit = None
        with open(self.workdir / "responder.log", "ab") as log:
            self.responder = subprocess.Popen(
                [str(binary_path()), "--env-file", "/dev/null"], env=self.responder_env(),
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.workdir,
            )

    def start_nginx(self) -> None:
        values = {
            "FCGI_UPSTREAM": f"unix:{self.socket_path}",
            "SERVER_NAME": "localhost",
            "HTTPS_LISTEN": f"127.0.0.1:{self.https_port}",
            "HTTP_LISTEN": f"127.0.0.1:{self.http_port}",
            "INTERNAL_LISTEN": f"127.0.0.1:{self.internal_port}",
            "PUBLIC_HTTPS_PORT": str(self.https_port),
            "TLS_CERTIFICATE": str(self.tls_dir / "localhost.crt"),
            "TLS_CERTIFICATE_KEY": str(self.tls_dir / "localhost.key"),
            "HTML_DIR": str(REPO_ROOT / "nginx" / "html"),
            "SWAGGER_UI_DIR": str(swagger_ui_dir()),
            "MAX_BODY_SIZE": self.max_body,
            "LOGIN_RATE": self.login_rate,
            "LOGIN_BURST": str(self.login_burst),
            "UPSTREAM_KEEPALIVE": str(self.upstream_keepalive),
            "CORS_MAPS_FILE": str(self.workdir / "cors.conf"),
        }
        values.update(self.render_docs())
        (self.workdir / "cors.conf").write_text(render_cors(self.cors_origins))
        server = render(TEMPLATE.read_text(), values)
        if self.client_certificates:
            server = enable_client_certificates(server)
        if self.extra_locations:
            # Benchmarks add locations (e.g. nginx's own `return 200`) to the same TLS server.
            server = server.replace("    location = /login {", self.extra_locations + "\n    location = /login {", 1)
        (self.workdir / "keycloak-fcgi.conf").write_text(server)
        (self.workdir / "nginx.conf").write_text(render(MAIN_TEMPLATE.read_text(), {"RUN_DIR": str(self.workdir), "NGINX_USER": getpass.getuser()}))
        with open(self.workdir / "nginx-stderr.log", "ab") as log:
            self.nginx = subprocess.Popen(
                ["nginx", "-p", str(self.workdir), "-c", str(self.workdir / "nginx.conf"),
                 "-e", str(self.workdir / "nginx-error.log"), "-g", "daemon off;"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )

    def render_docs(self) -> dict[str, str]:
        """Renders the Swagger page's files into workdir/docs for this stack's provider (its
        issuer and docs client); answers the template values that point nginx at them."""
        issuer = NO_PROVIDER_ISSUER
        if self.idp is not None:
            # A provider not started yet (start-up order tests) has no issuer: the responder's
            # KEYCLOAK_SERVER_URL and realm name it then.
            issuer = self.idp.issuer or f"{self.idp.base_url}/realms/{self.idp.realm}"
        values = {
            "DOCS_KEYCLOAK_ISSUER": issuer,
            "DOCS_CLIENT_ID": self.idp.docs_client_id if self.idp is not None else DOCS_CLIENT_ID,
        }
        render_docs(self.workdir / "docs", values)
        return {"DOCS_RENDERED_DIR": str(self.workdir / "docs"), "DOCS_KEYCLOAK_ISSUER": values["DOCS_KEYCLOAK_ISSUER"]}

    def stop_responder(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int | None:
        """Signals the responder and waits; answers (and records) its exit status."""
        if self.responder is not None and self.responder.poll() is None:
            self.responder.send_signal(sig)
            try:
                self.responder.wait(timeout)
            except subprocess.TimeoutExpired:
                self.responder.kill()
                self.responder.wait()
                self.responder_exit = -9
                return self.responder_exit
        if self.responder is not None:
            self.responder_exit = self.responder.returncode
        return self.responder_exit

    def stop(self) -> None:
        self.stop_responder()
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)
            try:
                self.nginx.wait(10)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
                self.nginx.wait()
        self.session.close()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Requests -----------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return f"https://localhost:{self.https_port}{path}"

    def internal_url(self, path: str) -> str:
        """The internal listener (health, readiness, metrics): plain HTTP on loopback."""
        return f"http://127.0.0.1:{self.internal_port}{path}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.session.get(self.url(path), **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.session.post(self.url(path), **kwargs)

    def login(self, username: str, password: str) -> requests.Response:
        if password != username:  # the article's failed login uses the username as password
            SessionRecord.remember(password)
        answer = self.post("/login", data={"username": username, "password": password})
        if answer.status_code == 200:
            tokens = answer.json()
            SessionRecord.remember(tokens.get("access_token"), tokens.get("refresh_token"))
        return answer

    def token(self, username: str = "abdullah", password: str = "Test#123456") -> str:
        answer = self.login(username, password)
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    def protected(self, token: str | None = None, authorization: str | None = None) -> requests.Response:
        headers = {}
        if authorization is not None:
            headers["Authorization"] = authorization
        elif token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.get("/protected", headers=headers)

    # Logs and waiting ---------------------------------------------------------------------

    def responder_log(self) -> str:
        try:
            return (self.workdir / "responder.log").read_text("utf-8", errors="replace")
        except OSError:
            return ""

    def nginx_logs(self) -> str:
        parts = []
        for name in ("nginx-error.log", "nginx-access.log", "nginx-stderr.log"):
            try:
                parts.append((self.workdir / name).read_text("utf-8", errors="replace"))
            except OSError:
                pass
        return "\n".join(parts)

    def wait_until(self, condition, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                if condition():
                    return
            except (requests.RequestException, OSError) as error:
                last_error = error
            if self.responder is not None and self.responder.poll() is not None:
                raise AssertionError(f"responder exited ({self.responder.returncode}):\n{self.responder_log()}")
            time.sleep(0.05)
        raise AssertionError(
            f"timed out waiting for {what} ({last_error})\n--- responder ---\n{self.responder_log()}"
            f"\n--- nginx ---\n{self.nginx_logs()}")


# Variants -------------------------------------------------------------------------------------


class TwoInstanceStack(Stack):
    """Two responders (a.sock, b.sock) behind one nginx upstream: `server unix:a; server unix:b`
    in the template's upstream. `responder` is instance A, `responder_b` instance B."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.socket_path = self.workdir / "a.sock"
        self.socket_b = self.workdir / "b.sock"
        self.responder_b = None
        self.log_a, self.log_b = self.workdir / "responder-a.log", self.workdir / "responder-b.log"
        SessionRecord.log_files += [self.log_a, self.log_b]

    def _spawn(self, socket_path: Path, log_path: Path):
        env = self.responder_env()
        env["FCGI_LISTEN"] = f"unix:{socket_path}"
        with open(log_path, "ab") as log:
            return subprocess.Popen([str(binary_path()), "--env-file", "/dev/null"], env=env,
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.workdir)

    def start_responder(self) -> None:
        self.responder_exit = None
        self.responder = self._spawn(self.socket_path, self.log_a)
        if self.responder_b is None or self.responder_b.poll() is not None:
            self.responder_b = self._spawn(self.socket_b, self.log_b)

    def start_nginx(self) -> None:
        # Both sockets first: a connect refused at start-up would take an instance out of
        # nginx's rotation for fail_timeout (10 s) before the test even starts.
        deadline = time.monotonic() + 30
        while not (self.socket_path.exists() and self.socket_b.exists()):
            assert time.monotonic() < deadline, f"the responders did not listen:\n{self.responder_log()}"
            time.sleep(0.02)
        # The template renders `server ${FCGI_UPSTREAM};` from `unix:{socket_path}`: for the
        # duration of the rendering the socket path reads as two servers.
        single = self.socket_path
        self.socket_path = f"{single}; server unix:{self.socket_b}"  # type: ignore[assignment]
        try:
            super().start_nginx()
        finally:
            self.socket_path = single

    def responder_log(self) -> str:
        return "\n".join(path.read_text("utf-8", errors="replace") if path.exists() else ""
                         for path in (self.log_a, self.log_b))

    def start(self) -> TwoInstanceStack:
        super().start()
        self.wait_until(lambda: self.responder_log().count("signing keys loaded") >= 2, "both instances to load the JWKS")
        return self

    def stop(self) -> None:
        if self.responder_b is not None and self.responder_b.poll() is None:
            self.responder_b.send_signal(signal.SIGTERM)
            try:
                self.responder_b.wait(20)
            except Exception:  # noqa: BLE001
                self.responder_b.kill()
                self.responder_b.wait()
        super().stop()
