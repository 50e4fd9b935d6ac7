"""The HTTP server and routing: ``main`` -> ``IdentityProviderServer`` (one thread per
connection) -> ``RequestHandler`` (HTTP/1.1 framing) -> ``Application.handle`` (routing; faults,
counters and ``/_admin/`` from ``testing``) -> ``KeycloakRealm`` -> ``Response``."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import socketserver
import sys
import threading
import warnings
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from joserfc.errors import SecurityWarning

from .admin_rest import AdminRestApi
from .config import parse_config
from .messages import NOT_FOUND_BODY, OAuthError, Request, Response
from .realm import KeycloakRealm
from .testing.admin import AdminApi
from .testing.faults import FaultBoard, RequestStats
from .testing.traces import TraceRecorder
from .users import UserDirectory


LOG = logging.getLogger("mini_keycloak")

#: Request bodies larger than this are refused with 413.
MAX_BODY_BYTES = 1024 * 1024
#: Endpoints where Keycloak checks ``sslRequired`` with a JSON answer (``checkSsl()`` in each
#: endpoint class; the logout endpoint checks only for a refresh token, the authorization
#: endpoint answers an HTML page: both decide themselves).
SSL_CHECKED_ENDPOINTS = ("token", "userinfo", "introspect", "revoke")


@dataclass(frozen=True)
class Route:
    """A Keycloak endpoint: its counter/fault name, methods, handler, and the methods a CORS
    preflight (``OPTIONS``) announces when the endpoint answers one."""

    name: str
    methods: tuple[str, ...]
    handler: Callable[[Request], Response]
    preflight: str | None = None


class Application:
    """Routes requests to the realm or the admin API; applies faults and counts requests."""

    def __init__(self, realm: KeycloakRealm):
        self.realm = realm
        self.faults = FaultBoard()
        self.stats = RequestStats()
        self.traces = TraceRecorder()
        self.admin = AdminApi(realm, self.faults, self.stats, self.traces)
        self.admin_rest = AdminRestApi(realm)
        self._realms_prefix = f"{realm.prefix}/realms/"
        base = realm.realm_path
        oidc = f"{base}/protocol/openid-connect"
        browser = realm.browser
        self._routes = {
            f"{base}/.well-known/openid-configuration": Route("discovery", ("GET",), realm.discovery),
            f"{oidc}/certs": Route("certs", ("GET",), realm.certs),
            f"{oidc}/auth": Route("auth", ("GET", "POST"), browser.authorize),
            f"{base}/login-actions/authenticate": Route("auth", ("GET", "POST"), browser.login_action),
            f"{oidc}/token": Route("token", ("POST",), realm.token, preflight="POST, OPTIONS"),
            f"{oidc}/userinfo": Route("userinfo", ("GET", "POST"), realm.userinfo),
            f"{oidc}/token/introspect": Route("introspect", ("POST",), realm.introspect),
            f"{oidc}/logout": Route("logout", ("GET", "POST"), realm.logout, preflight="GET, HEAD, OPTIONS"),
            f"{oidc}/logout/logout-confirm": Route("logout", ("POST",), browser.logout_confirm),
            f"{oidc}/revoke": Route("revoke", ("POST",), realm.revoke),
        }

    def handle(self, request: Request) -> Response | None:
        """The answer to one request; None means: close the connection without answering."""
        if request.path.startswith("/_admin/"):
            return self.admin.handle(request)
        if self.admin_rest.matches(request.path):
            return self.admin_rest.handle(request)
        route = self._routes.get(request.path)
        if route is None:
            return self._not_found(request.path)
        self.stats.count(route.name)
        self.traces.record(route.name, request.method, request.path, request.headers)
        if request.method == "OPTIONS" and route.preflight is not None:
            return self.realm.preflight(request, route.preflight)
        if request.method not in route.methods:
            return Response.json(405, {"error": "HTTP 405 Method Not Allowed",
                                       "error_description": NOT_FOUND_BODY["error_description"]},
                                 (("Allow", ", ".join(route.methods)),))
        fault = self.faults.active(route.name)
        if fault is None:
            return self._call(route, request)
        return self.faults.answer(route.name, fault, lambda: self._call(route, request))

    def close(self) -> None:
        """Shutdown: release hanging requests."""
        self.faults.close()

    def _call(self, route: Route, request: Request) -> Response:
        if route.name in SSL_CHECKED_ENDPOINTS:
            refusal = self.realm.ssl_refusal(request.client_host)
            if refusal is not None:
                return refusal
        try:
            return route.handler(request)
        except OAuthError as error:
            return error.response()

    def _not_found(self, path: str) -> Response:
        if path.startswith(self._realms_prefix):
            return Response.json(404, {"error": "Realm does not exist",
                                       "error_description": NOT_FOUND_BODY["error_description"]})
        return Response.json(404, NOT_FOUND_BODY)


class RequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive: reads one request, lets the application answer, writes it."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY: no Nagle + delayed-ACK stall on reused connections
    timeout = 300  # idle keep-alive connections are closed after this many seconds
    server_version = "mini-keycloak"
    sys_version = ""
    server: IdentityProviderServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_OPTIONS(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        body = self._read_body()
        if body is None:
            return
        target = urlsplit(self.path)
        request = Request(self.command, target.path, self.headers, body, self.client_address[0], target.query)
        self._write(self.server.app.handle(request))

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering a framing error (and closing)."""
        if "Transfer-Encoding" in self.headers:
            return self._refuse(411, "Content-Length required")
        try:
            length = int(self.headers.get("Content-Length", "0"))
            if length < 0:
                raise ValueError
        except ValueError:
            return self._refuse(400, "Invalid Content-Length")
        if length > MAX_BODY_BYTES:
            return self._refuse(413, "Request entity too large")
        return self.rfile.read(length)

    def _refuse(self, status: int, description: str) -> None:
        self.close_connection = True
        self._write(Response.json(status, {"error": "invalid_request", "error_description": description}))

    def _write(self, response: Response | None) -> None:
        if response is None:
            self.close_connection = True
            return
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        if response.status != 204:  # RFC 9110 section 8.6: no Content-Length on 204
            self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(response.body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One line per request: method, path without query, status. Never bodies or headers."""
        path = urlsplit(getattr(self, "path", "") or "").path or "-"
        LOG.info("%s %s %s", getattr(self, "command", None) or "-", path, code)

    def log_error(self, format: str, *args: Any) -> None:
        """Protocol errors: the status only (the raw request line may carry secrets)."""
        LOG.warning("protocol error %s", args[0] if args else "-")


class IdentityProviderServer(ThreadingHTTPServer):
    """A threading HTTP server (IPv4 or IPv6) that carries the application."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, host: str, port: int):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.app: Application | None = None
        super().__init__((host, port), RequestHandler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup of the host."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away is not an error worth a traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            LOG.info("connection dropped: %s", type(error).__name__)
        else:
            LOG.exception("unhandled error while serving a request")


def announce_ready(ready_file: Path | None, port: int, base_url: str, issuer: str) -> None:
    """Write the ready file atomically (temp file + rename), then print ``ready <base_url>``."""
    if ready_file is not None:
        temporary = ready_file.with_name(f".{ready_file.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps({"port": port, "base_url": base_url, "issuer": issuer}), "utf-8")
        os.replace(temporary, ready_file)
    print(f"ready {base_url}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run until SIGTERM or SIGINT; exit 0 after a clean shutdown."""
    config = parse_config(argv, os.environ)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s mini-keycloak %(levelname)s %(message)s")
    # Test tokens deliberately use weak constructions (alg "none", HMAC keyed with a public key).
    warnings.simplefilter("ignore", SecurityWarning)
    try:
        users = UserDirectory.load(config.users_path)
    except (OSError, ValueError, KeyError) as error:
        LOG.error("cannot load users from %s: %s", config.users_path, error)
        return 2

    server = IdentityProviderServer(config.host, config.port)
    port = server.server_port
    host = f"[{config.host}]" if ":" in config.host else config.host
    base_url = config.public_url or f"http://{host}:{port}"
    app = Application(KeycloakRealm(config, base_url, users))
    server.app = app

    def request_stop(signum: int, frame: Any) -> None:
        LOG.info("signal %d: shutting down", signum)
        app.close()
        threading.Thread(target=server.shutdown, name="shutdown", daemon=True).start()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    LOG.info("listening on %s:%d, issuer %s, alg %s", config.host, port, app.realm.issuer, config.alg)
    announce_ready(config.ready_file, port, base_url, app.realm.issuer)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
    return 0
