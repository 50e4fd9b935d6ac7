"""Start and drive ``idp/mini_keycloak.py`` (the test identity provider) from tests.

    from harness.idp_fixture import IdentityProvider

    with IdentityProvider(alg="ES256") as idp:       # started on a free loopback port
        idp.token_url                                # Keycloak endpoints under idp.issuer
        idp.fault("token", "hang", seconds=5)        # admin API: /_admin/* on the same port
        token = idp.mint(claims={"exp": 1})
    # stopped (SIGTERM, then SIGKILL after a timeout)

The client secret is passed through ``IDP_CLIENT_SECRET``, never on the command line. The
server's stdout and stderr go to a log file (``idp.log_text()``); it never logs secrets,
passwords or tokens.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Sequence

from . import REPO_ROOT

IDP_SCRIPT = REPO_ROOT / "idp" / "mini_keycloak.py"
DEFAULT_USERS = REPO_ROOT / "idp" / "users.json"

REALM = "testing"
CLIENT_ID = "fastapi-keycloak"
#: Contains ':' '%' '+' '&' '#' on purpose: HTTP Basic credentials must be form-encoded.
CLIENT_SECRET = "s3cr:et%25+with&chars#1"
#: The seed user (see /work/shared/seed-contract.md).
USERNAME, PASSWORD = "abdullah", "Test#123456"
#: The public client of the Swagger page (``--docs-client-id``'s default).
DOCS_CLIENT_ID = "keycloak-fcgi-docs"


class IdentityProviderError(RuntimeError):
    """The identity provider did not start, or an admin call failed."""


class IdentityProvider:
    """One ``mini_keycloak`` process on a free loopback port.

    Keyword options mirror the command line: ``alg`` (RS256, PS256, ES256),
    ``legacy_auth_prefix``, ``public_url``, ``access_token_lifespan``, ``invalid_grant_status``,
    ``realm``, ``client_id``, ``client_secret``, ``users`` (a path), ``host``; for the browser
    flow ``redirect_uris``, ``post_logout_redirect_uris``, ``web_origins`` (sequences),
    ``client_pkce_method``, ``backchannel_logout_url``, ``backchannel_logout_session_required``,
    ``backchannel_ca_file``, ``docs_client_id``, ``docs_redirect_uris``, ``docs_web_origins``,
    ``access_code_lifespan`` (None: the provider's default, which is the Compose realm's);
    ``extra_args`` are appended verbatim. ``start()`` (or ``with``) blocks until the server is
    ready.
    """

    def __init__(
        self,
        *,
        alg: str = "RS256",
        legacy_auth_prefix: bool = False,
        public_url: str | None = None,
        access_token_lifespan: int = 300,
        invalid_grant_status: int = 401,
        realm: str = REALM,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        users: Path = DEFAULT_USERS,
        host: str = "127.0.0.1",
        extra_args: tuple[str, ...] = (),
        startup_timeout: float = 30.0,
        redirect_uris: Sequence[str] = (),
        post_logout_redirect_uris: Sequence[str] = (),
        web_origins: Sequence[str] = (),
        client_pkce_method: str | None = None,
        backchannel_logout_url: str | None = None,
        backchannel_logout_session_required: bool | None = None,
        backchannel_ca_file: Path | None = None,
        docs_client_id: str | None = None,
        docs_redirect_uris: Sequence[str] = (),
        docs_web_origins: Sequence[str] = (),
        access_code_lifespan: int | None = None,
    ):
        self.realm, self.client_id, self.client_secret = realm, client_id, client_secret
        self.host = host
        self._startup_timeout = startup_timeout
        self._args = [
            "--host", host, "--port", "0", "--users", str(users), "--realm", realm,
            "--client-id", client_id, "--alg", alg,
            "--access-token-lifespan", str(access_token_lifespan),
            "--invalid-grant-status", str(invalid_grant_status),
        ]
        if legacy_auth_prefix:
            self._args.append("--legacy-auth-prefix")
        if public_url:
            self._args += ["--public-url", public_url]
        for flag, values in (("--redirect-uri", redirect_uris),
                             ("--post-logout-redirect-uri", post_logout_redirect_uris),
                             ("--web-origin", web_origins), ("--docs-redirect-uri", docs_redirect_uris),
                             ("--docs-web-origin", docs_web_origins)):
            for value in values:
                self._args += [flag, value]
        for flag, value in (("--client-pkce-method", client_pkce_method),
                            ("--backchannel-logout-url", backchannel_logout_url),
                            ("--backchannel-ca-file", backchannel_ca_file), ("--docs-client-id", docs_client_id),
                            ("--access-code-lifespan", access_code_lifespan)):
            if value is not None:
                self._args += [flag, str(value)]
        if backchannel_logout_session_required is not None:
            self._args.append("--backchannel-logout-session-required" if backchannel_logout_session_required
                              else "--no-backchannel-logout-session-required")
        self.docs_client_id = docs_client_id or DOCS_CLIENT_ID
        self._args += list(extra_args)
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self.port = 0
        self.base_url = ""
        self.issuer = ""

    # Life cycle ---------------------------------------------------------------------------

    def start(self) -> IdentityProvider:
        """Start the process and wait for its ready file; raise with its log if it fails."""
        self._workdir = Path(tempfile.mkdtemp(prefix="mini-keycloak-"))
        ready_file = self._workdir / "ready.json"
        env = dict(os.environ, IDP_CLIENT_SECRET=self.client_secret, PYTHONUNBUFFERED="1")
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, str(IDP_SCRIPT), *self._args, "--ready-file", str(ready_file)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
            )
        deadline = time.monotonic() + self._startup_timeout
        while not ready_file.exists():
            if self._process.poll() is not None or time.monotonic() > deadline:
                log_text = self.log_text()
                self.stop()
                raise IdentityProviderError(f"mini_keycloak did not start:\n{log_text}")
            time.sleep(0.02)
        ready = json.loads(ready_file.read_text("utf-8"))
        self.port, self.base_url, self.issuer = ready["port"], ready["base_url"], ready["issuer"]
        return self

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, wait, SIGKILL if needed; remove the work directory. Answers the exit code."""
        code = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.send_signal(signal.SIGTERM)
            try:
                code = self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        return code

    def __enter__(self) -> IdentityProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        """The server's process id (for signal tests)."""
        assert self._process is not None, "not started"
        return self._process.pid

    @property
    def process(self) -> subprocess.Popen[bytes]:
        """The running process."""
        assert self._process is not None, "not started"
        return self._process

    @property
    def log_path(self) -> Path:
        """The file that receives the server's stdout and stderr."""
        assert self._workdir is not None, "not started"
        return self._workdir / "server.log"

    def log_text(self) -> str:
        """Everything the server printed so far."""
        try:
            return self.log_path.read_text("utf-8", errors="replace")
        except (OSError, AssertionError):
            return ""

    # URLs ---------------------------------------------------------------------------------

    @property
    def local_url(self) -> str:
        """Where the socket really listens (differs from ``base_url`` with ``public_url``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def local_issuer(self) -> str:
        """``issuer`` rebased on ``local_url``: where to send requests with ``public_url`` set."""
        return self.local_url + self.issuer[len(self.base_url):]

    @property
    def oidc_url(self) -> str:
        return f"{self.local_issuer}/protocol/openid-connect"

    @property
    def discovery_url(self) -> str:
        return f"{self.local_issuer}/.well-known/openid-configuration"

    @property
    def token_url(self) -> str:
        return f"{self.oidc_url}/token"

    @property
    def certs_url(self) -> str:
        return f"{self.oidc_url}/certs"

    @property
    def userinfo_url(self) -> str:
        return f"{self.oidc_url}/userinfo"

    @property
    def introspect_url(self) -> str:
        return f"{self.oidc_url}/token/introspect"

    @property
    def logout_url(self) -> str:
        return f"{self.oidc_url}/logout"

    @property
    def revoke_url(self) -> str:
        return f"{self.oidc_url}/revoke"

    @property
    def auth_url(self) -> str:
        """The authorization endpoint (the browser's login)."""
        return f"{self.oidc_url}/auth"

    @property
    def end_session_url(self) -> str:
        """RP-initiated logout (the same endpoint as ``logout_url``, used from the browser)."""
        return self.logout_url

    def admin_rest_url(self, path: str) -> str:
        """Keycloak's admin REST API of this realm: ``<base>[/auth]/admin/realms/<realm>/<path>``."""
        prefix = self.local_url + self.issuer[len(self.base_url):].rsplit("/realms/", 1)[0]
        return f"{prefix}/admin/realms/{self.realm}/{path.lstrip('/')}"

    # Admin API ----------------------------------------------------------------------------

    def admin(self, path: str, body: dict[str, Any] | None = None, method: str | None = None) -> Any:
        """Call ``/_admin/<path>`` (POST when a body is given, else GET) and answer its JSON."""
        method = method or ("GET" if body is None else "POST")
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(
            f"{self.local_url}/_admin/{path.lstrip('/')}", data=data, method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as error:
            raise IdentityProviderError(f"admin {method} {path}: {error.code} {error.read()!r}") from None

    def rotate(self, drop_old: bool = False) -> str:
        """New signing key; answers its kid."""
        return self.admin("rotate", {"drop_old": drop_old})["kid"]

    def fault(self, endpoint: str, fault: str, seconds: float = 30) -> None:
        """Inject ``fault`` (hang, html, truncated, status500, huge, introspection_failure, none)
        on an endpoint or ``*``."""
        self.admin("fault", {"endpoint": endpoint, "fault": fault, "seconds": seconds})

    def clear_faults(self) -> None:
        self.fault("*", "none")

    def stats(self) -> dict[str, int]:
        """Requests per endpoint since start or the last reset."""
        return self.admin("stats")

    def reset_stats(self) -> None:
        self.admin("stats/reset", {})

    def mint(self, user: str = USERNAME, claims: dict[str, Any] | None = None,
             header: dict[str, Any] | None = None, key: str = "current", kind: str = "access") -> str:
        """A token with overrides (``None`` values delete); ``key`` is current or enc; ``kind``
        is access, id or refresh."""
        body = {"user": user, "claims": claims or {}, "header": header or {}, "key": key, "kind": kind}
        return self.admin("mint", body)["token"]

    def current_key(self) -> dict[str, Any]:
        """The current signing key's public JWK."""
        return self.admin("keys/current")

    def clear_sessions(self) -> int:
        """End every session (without back-channel logout); answers how many."""
        return self.admin("sessions/clear", {})["ended"]

    # Keycloak's admin REST API (loopback callers only, as /_admin) ---------------------------

    def admin_logout_user(self, user_id: str) -> int:
        """``POST /admin/realms/<realm>/users/<id>/logout``: end the user's sessions (with
        back-channel logout); answers the HTTP status (204, or 404 for an unknown user)."""
        return self._admin_rest("POST", f"users/{urllib.parse.quote(user_id, safe='')}/logout")

    def admin_delete_session(self, sid: str) -> int:
        """``DELETE /admin/realms/<realm>/sessions/<sid>``: end one session (with back-channel
        logout); answers the HTTP status (204, or 404 for an unknown session)."""
        return self._admin_rest("DELETE", f"sessions/{urllib.parse.quote(sid, safe='')}")

    def _admin_rest(self, method: str, path: str) -> int:
        request = urllib.request.Request(self.admin_rest_url(path), data=b"" if method == "POST" else None,
                                         method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code
