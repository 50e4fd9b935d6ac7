"""The stack with nginx's `auth_request` gate: the example configuration
nginx/examples/auth-gate.conf.template (the responder's GET /auth as the check) in front of an
API, next to the project's own template in the same nginx. The tests put `sample_upstream`
behind it (contract/test_auth_gate.py); bench/bench_auth_gate.py a static nginx API.
"""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

from . import REPO_ROOT
from .sample_upstream import SampleUpstream
from .stack import Stack, enable_client_certificates, free_port, render

GATE_TEMPLATE = REPO_ROOT / "nginx" / "examples" / "auth-gate.conf.template"


class GateStack(Stack):
    """The usual stack plus the example gate: an http{}-level server on its own loopback port,
    appended to keycloak-fcgi.conf (whose `upstream keycloak_fcgi` it uses).

    `gate_extra` is more http{}-level text for the same nginx (the benchmark's static API)."""

    upstream: SampleUpstream | None = None  # the tests' API, when they attach one

    def __init__(self, workdir: Path, tls_dir: Path, *, upstream_address: str, gate_extra: str = "", **options):
        super().__init__(workdir, tls_dir, **options)
        self.gate_port = free_port()
        self.gate_tls_port = free_port()
        self.upstream_address = upstream_address
        self.gate_extra = gate_extra

    def gate_config(self) -> str:
        config = render(GATE_TEMPLATE.read_text(), {
            "GATE_LISTEN": f"127.0.0.1:{self.gate_port}",
            "GATE_TLS_LISTEN": f"127.0.0.1:{self.gate_tls_port}",
            "TLS_CERTIFICATE": str(self.tls_dir / "localhost.crt"),
            "TLS_CERTIFICATE_KEY": str(self.tls_dir / "localhost.key"),
            "FCGI_UPSTREAM_NAME": "keycloak_fcgi",
            "SAMPLE_UPSTREAM": self.upstream_address,
        })
        if self.client_certificates:  # the Stack option: the gate's TLS listener asks too
            config = enable_client_certificates(config)
        return config + self.gate_extra

    def start_nginx(self) -> None:
        # Stack.start_nginx writes keycloak-fcgi.conf and starts nginx in one step. Appending the
        # gate while nginx may still be reading that file would race, so: wait until nginx serves
        # (its signal handlers are then installed), append, check, reload, and wait for the
        # gate's port to answer, which proves the new configuration is live.
        super().start_nginx()
        self.wait_until(lambda: self.session.get(self.internal_url("/"), timeout=5).status_code == 404,
                        "nginx to serve before the gate is added")
        conf = self.workdir / "keycloak-fcgi.conf"
        conf.write_text(conf.read_text() + "\n# --- nginx/examples/auth-gate.conf.template ---\n" + self.gate_config())
        check = subprocess.run(
            ["nginx", "-t", "-q", "-p", str(self.workdir), "-c", str(self.workdir / "nginx.conf"),
             "-e", str(self.workdir / "nginx-error.log")], capture_output=True, text=True)
        assert check.returncode == 0, f"the gate configuration does not load:\n{check.stderr}"
        assert self.nginx is not None
        self.nginx.send_signal(signal.SIGHUP)
        self.wait_until(lambda: self.gate("/").status_code == 404, "nginx to load the auth gate")

    def gate_url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.gate_port}{path}"

    def gate_tls_url(self, path: str) -> str:
        """The gate's TLS listener as browsers reach it (the certificate is for localhost)."""
        return f"https://localhost:{self.gate_tls_port}{path}"

    def gate(self, path: str, token: str | None = None, method: str = "GET", **kwargs):
        """A request to the gate; `token` becomes `Authorization: Bearer <token>`."""
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.gate_url(path), headers=headers, **kwargs)

    def auth_checks(self, request_id: str) -> list[dict[str, str]]:
        """The responder's log lines for `/auth` under nginx's `request_id`."""
        found = []
        for line in self.responder_log().splitlines():
            if f"request.id={request_id}" in line and "http.path=" in line:
                fields = dict(re.findall(r"(\S+?)=(\S+)", line.split(" [", 1)[0]))
                if fields.get("http.path") == "/auth":
                    found.append(fields)
        return found
