"""A stand-in for the API that nginx's auth gate protects (nginx/examples/auth-gate.conf.template):
a threaded HTTP/1.1 server on a free loopback port, in the test's own process.

    with SampleUpstream() as upstream:          # serving on upstream.address ("127.0.0.1:PORT")
        ...                                     # requests through the gate
        upstream.hits                           # how many requests arrived
        upstream.last                           # what the last one carried

Every request (any method, any path) is answered 200 with JSON:
``{"method", "path", "x_auth": {lower-case name: [values in order]}, "authorization": bool}``,
every ``X-Auth-*`` header listed with all its values, so a duplicated or forged header shows.
A page request (``Accept`` naming ``text/html``, as a browser's navigation does) gets the same
as an HTML page instead: ``#user`` shows the ``X-Auth-Username`` received (empty when none),
``#path`` the path, ``#record`` the JSON above.
"""

from __future__ import annotations

import html
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as nginx's upstream keepalive expects
    server: _Server

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        x_auth: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            if name.lower().startswith("x-auth-"):
                x_auth.setdefault(name.lower(), []).append(value)
        record = {
            "method": self.command,
            "path": self.path,
            "x_auth": x_auth,
            "authorization": "Authorization" in self.headers,
            "request_id": self.headers.get("X-Request-ID"),
        }
        self.server.record(record)
        if "text/html" in (self.headers.get("Accept") or ""):
            body, content_type = _page(record).encode("utf-8"), "text/html; charset=utf-8"
        else:
            body, content_type = json.dumps(record).encode("utf-8"), "application/json"
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

    def do_HEAD(self) -> None:
        self._answer()

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read `requests`
        pass


def _page(record: dict[str, Any]) -> str:
    """The HTML answer to a page request: who the gate said the user is."""
    username = ", ".join(record["x_auth"].get("x-auth-username", []))
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sample API</title></head>\n"
        f"<body><h1>Signed in as <span id=\"user\">{html.escape(username)}</span></h1>\n"
        f"<p>Path: <code id=\"path\">{html.escape(record['path'])}</code></p>\n"
        f"<pre id=\"record\">{html.escape(json.dumps(record, indent=2))}</pre></body></html>\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []

    def record(self, record: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(record)


class SampleUpstream:
    """The server and its serving thread; `start()`/`stop()` or use it as a context manager."""

    def __init__(self) -> None:
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SampleUpstream:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, name="sample-upstream", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> SampleUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return self._server.server_address[1]

    @property
    def address(self) -> str:
        """host:port, for nginx's `server` line."""
        return f"127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request received so far (a copy), oldest first."""
        assert self._server is not None, "not started"
        with self._server.lock:
            return list(self._server.requests)

    @property
    def hits(self) -> int:
        """How many requests arrived."""
        return len(self.requests)

    @property
    def last(self) -> dict[str, Any]:
        requests = self.requests
        assert requests, "no request reached the upstream"
        return requests[-1]
