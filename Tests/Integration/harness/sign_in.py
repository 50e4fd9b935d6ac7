"""The stack with browser sign-in on, for the real-browser tests (browser/): the gate
(`GateStack`, its TLS listener) in front of `SampleUpstream`, the responder with session keys and
its redirect URI on that listener, and a local provider of its own that knows the stack's URLs.

    with SignInStack(workdir, tls_dir) as stack:
        stack.gate_tls_url("/api/page")     # a gated page: sign-in through the provider's login form
        stack.url("/docs")                  # the Swagger page, its sign-in with the docs client
        stack.idp                           # the provider (started and stopped with the stack)
        stack.upstream                      # what the sample API received

Provider set-up, as a Keycloak realm for this deployment would have it: the confidential client's
redirect URI `/oauth2/callback` and post-logout URIs on the gate's TLS origin, its back-channel
logout URL on nginx's internal listener, and the Swagger client's redirect URI and web origin on
the main server. The ports are chosen before anything starts, so the provider can be told them.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from typing import Any

from .gate import GateStack
from .idp_fixture import IdentityProvider
from .sample_upstream import SampleUpstream
from .stack import SessionRecord

#: The session cookie (`__Host-keycloak-fcgi`, or its chunks `__Host-keycloak-fcgi_0`, `_1`, ...).
SESSION_COOKIE = "__Host-keycloak-fcgi"
#: Where the provider sends the browser after sign-out: a public page of the sample API.
SIGNED_OUT_PATH = "/public/signed-out"


def session_cookie_names(names) -> list[str]:
    """The names among `names` that are the session cookie or one of its chunks."""
    chunk = re.compile(re.escape(SESSION_COOKIE) + r"(_[0-9]+)?")
    return sorted(name for name in names if chunk.fullmatch(name))


class SignInStack(GateStack):
    """`GateStack` + `SampleUpstream` + its own `IdentityProvider`, with browser sign-in on.

    `idp_options` go to the provider (after the URLs this stack sets); `env` to the responder."""

    def __init__(self, workdir: Path, tls_dir: Path, *, env: dict[str, str] | None = None,
                 idp_options: dict[str, Any] | None = None, **options):
        self.upstream = SampleUpstream().start()
        try:
            super().__init__(workdir, tls_dir, upstream_address=self.upstream.address, env=env, **options)
        except BaseException:
            self.upstream.stop()
            raise
        workdir.mkdir(parents=True, exist_ok=True)
        key = base64.b64encode(os.urandom(32)).decode("ascii")
        keys_file = workdir / "session-keys"
        keys_file.write_text(key + "\n")
        keys_file.chmod(0o600)
        SessionRecord.remember(key)
        self.extra_env = {
            "SESSION_KEYS_FILE": str(keys_file),
            "OIDC_REDIRECT_URI": self.gate_tls_url("/oauth2/callback"),
            "OIDC_POST_LOGOUT_REDIRECT_URI": self.gate_tls_url(SIGNED_OUT_PATH),
            **self.extra_env,
        }
        self.idp_options = {
            "redirect_uris": [self.gate_tls_url("/oauth2/callback")],
            "post_logout_redirect_uris": [self.gate_tls_url("/*")],
            "web_origins": [self.gate_tls_url("")],
            "backchannel_logout_url": self.internal_url("/oauth2/backchannel-logout"),
            "docs_redirect_uris": [self.url("/docs/oauth2-redirect.html")],
            "docs_web_origins": [self.url("")],
            **(idp_options or {}),
        }

    def start(self) -> SignInStack:
        try:
            self.idp = IdentityProvider(**self.idp_options).start()
            SessionRecord.remember(self.idp.client_secret)
            super().start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            if self.idp is not None:
                self.idp.stop()
            self.upstream.stop()
