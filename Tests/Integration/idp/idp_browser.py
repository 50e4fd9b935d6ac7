"""A browser, as far as the provider's browser flow needs one, for the idp tests: it keeps the
provider's cookies, follows nothing by itself (every answer is looked at), fills Keycloak's
login form, and a tiny HTTP server that plays a client's back-channel logout URL.

    browser = Browser(idp)
    page = browser.authorize(CLIENT_ID, REDIRECT, code_challenge=challenge)   # the login form
    answer = browser.submit_login(page)                                       # 302 to REDIRECT
    params = redirect_params(answer)                                          # code, state, ...

Cookies: the provider marks its cookies ``Secure`` on http://127.0.0.1 (a secure context for
browsers, Keycloak's ``SecureContextResolver``), which ``requests`` would not send back over
plain HTTP; this class keeps them itself and sends them to the provider whatever the scheme.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests

from harness.idp_fixture import IdentityProvider


def pkce_pair() -> tuple[str, str]:
    """A fresh (code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def set_cookies(answer: requests.Response) -> list[str]:
    """Every ``Set-Cookie`` header of an answer, as sent."""
    return answer.raw.headers.getlist("Set-Cookie")


def redirect_params(answer: requests.Response) -> dict[str, str]:
    """The query (or fragment) parameters of a redirect's ``Location``."""
    assert answer.status_code == 302, (answer.status_code, answer.text[:500])
    location = urlsplit(answer.headers["Location"])
    return {k: v[0] for k, v in parse_qs(location.query or location.fragment, keep_blank_values=True).items()}


def form_action(page: requests.Response, form_id: str = "kc-form-login") -> str:
    """The ``action`` of a form on an HTML page."""
    match = re.search(rf'<form id="{form_id}"[^>]*action="([^"]+)"', page.text) or (
        re.search(r'<form[^>]*action="([^"]+)"', page.text) if form_id == "any" else None)
    assert match, page.text[:2000]
    return html.unescape(match.group(1))


class Browser:
    """One browser's cookies for one provider."""

    def __init__(self, provider: IdentityProvider):
        self.provider = provider
        self.cookies: dict[str, str] = {}
        self.http = requests.Session()
        self.http.trust_env = False

    def request(self, method: str, url: str, **kwargs) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        answer = self.http.request(method, url, headers=headers, allow_redirects=False, timeout=15, **kwargs)
        self.http.cookies.clear()
        for header in set_cookies(answer):
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in header:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return answer

    def authorize(self, client_id: str, redirect_uri: str | None, *, scope: str = "openid",
                  response_type: str | None = "code", method: str = "GET", **params) -> requests.Response:
        """A request to the authorization endpoint (None leaves a parameter out)."""
        query = {"client_id": client_id, "redirect_uri": redirect_uri, "scope": scope, "response_type": response_type,
                 **params}
        query = {k: v for k, v in query.items() if v is not None}
        if method == "POST":
            return self.request("POST", self.provider.auth_url, data=query)
        return self.request("GET", self.provider.auth_url, params=query)

    def submit_login(self, page: requests.Response, username: str = "abdullah",
                     password: str = "Test#123456") -> requests.Response:
        """Fill and post the login form of ``page`` (``#username``, ``#password``, ``#kc-login``)."""
        return self.request("POST", form_action(page), data={"username": username, "password": password,
                                                             "credentialId": "", "login": ""})

    def login(self, client_id: str, redirect_uri: str, **params) -> dict[str, str]:
        """The whole login: authorization request, form, credentials; the redirect's parameters
        (at once when the browser's SSO cookie answers the authorization request)."""
        page = self.authorize(client_id, redirect_uri, **params)
        if page.status_code == 302:
            return redirect_params(page)
        assert page.status_code == 200 and 'id="kc-form-login"' in page.text, (page.status_code, page.text[:500])
        return redirect_params(self.submit_login(page))


def exchange(provider: IdentityProvider, code: str, redirect_uri: str | None, verifier: str | None,
             client_id: str, client_secret: str | None = None, **extra) -> requests.Response:
    """The token request of the code flow (client_secret_post when a secret is given)."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": verifier, "client_id": client_id, "client_secret": client_secret, **extra}
    return requests.post(provider.token_url, data={k: v for k, v in form.items() if v is not None}, timeout=15)


@dataclass
class Delivery:
    """One request the logout receiver got."""

    path: str
    headers: dict[str, str]
    form: dict[str, list[str]]


@dataclass
class LogoutReceiver:
    """An HTTP server on a free loopback port that records POSTs (a client's back-channel
    logout URL). ``status`` is what it answers; ``tls`` an ``ssl.SSLContext`` to serve https."""

    status: int = 200
    tls: object | None = None
    deliveries: list[Delivery] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self
        self._arrived = threading.Condition()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode("ascii")
                with receiver._arrived:
                    receiver.deliveries.append(Delivery(self.path, dict(self.headers.items()), parse_qs(body)))
                    receiver._arrived.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        scheme, host = ("https", "localhost") if self.tls is not None else ("http", "127.0.0.1")
        return f"{scheme}://{host}:{self._server.server_address[1]}/oauth2/backchannel-logout"

    def logout_tokens(self) -> list[str]:
        return [token for delivery in self.deliveries for token in delivery.form.get("logout_token", [])]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
