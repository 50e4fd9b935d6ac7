"""Browser sign-in at the auth gate without a browser, for the hostile and session tests
(security/test_session_cookie_hostile.py, security/test_sign_in_hostile.py,
security/test_backchannel_logout_hostile.py, contract/test_browser_session.py): `requests`,
with the cookies of one browser kept by hand, the provider's login form filled from its
`action`, every answer looked at (no redirect is followed by itself).

    browser = GateBrowser(stack)                       # stack: harness.sign_in.SignInStack
    browser.sign_in("abdullah", "Test#123456")         # start → provider's form → callback
    browser.api("/api/x")                              # Accept: application/json, the session cookie
    browser.session()                                  # what the cookie holds (the stack's key)

Cookies are kept by hand, as a browser would: the gate's cookies are `__Host-` (Secure, host
only) and the provider marks its own Secure on http://127.0.0.1, which `requests` would not send
back; here every cookie goes back to the origin that set it, and tests can send any `Cookie`
header they like (a tampered value, a missing chunk).

Every secret that passes through (the session and sign-in cookies' values and what they hold:
refresh and ID tokens, CSRF value, PKCE verifier, nonce; passwords) is given to
`SessionRecord.remember`, so the run's final log check looks for them too. The authorization
`code` and `state` are not: nginx's access log (the `combined` format of
nginx/local/nginx.conf.template) records the callback's request line, query included, so the
final check would find them there. The modules check their responder's log for those too
(`Secrets.assert_not_in`).

`SessionKey` mirrors the responder's `SessionKeyring` (AES-256-GCM; `v1.` + base64url(key id ‖
nonce ‖ ciphertext ‖ tag), the purpose as associated data): the tests read what a cookie holds
(its `sid`, its refresh token) and seal cookies with keys of their own.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .jwt import b64url_decode, b64url_encode
from .sign_in import SESSION_COOKIE
from .stack import SessionRecord

#: The sign-in state cookie: `<session cookie>-signin-<first 16 characters of state>`.
SIGN_IN_COOKIE_PREFIX = SESSION_COOKIE + "-signin-"
_SESSION_NAME = re.compile(re.escape(SESSION_COOKIE) + r"(_[0-9]+)?")

def expired_cookie(name: str) -> str:
    """The exact `Set-Cookie` value the responder writes to delete a cookie."""
    return f"{name}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0"


#: Whether the authorization codes and `state` values go to the run's final log check: not
#: while nginx's access log records the callback's query (see above).
REMEMBER_CODE_AND_STATE = False


class Secrets:
    """The secrets one test module handled: remembered for the final check, and checked against
    this module's responder log by the module itself (including `code` and `state`).

    `final_check=False`: for values a test itself puts where nginx's access log records them
    (a request URI), which only the responder's log must not hold."""

    def __init__(self, final_check: bool = True) -> None:
        self.values: set[str] = set()
        self.final_check = final_check

    def add(self, *values: str | None, final_check: bool | None = None) -> None:
        for value in values:
            # An unsigned JWS (`alg: none`, empty last segment) is no secret, and its empty
            # "signature" would match every log.
            if value and len(value) >= 8 and not (value.count(".") == 2 and value.endswith(".")):
                self.values.add(value)
                if self.final_check if final_check is None else final_check:
                    SessionRecord.remember(value)

    def assert_not_in(self, text: str) -> None:
        """No secret (nor a token's signature alone) occurs in `text`."""
        candidates = set(self.values)
        candidates |= {value.rsplit(".", 1)[1] for value in self.values if value.count(".") == 2}
        candidates.discard("")
        leaked = sorted(value[:12] + "…" for value in candidates if len(value) >= 8 and value in text)
        assert not leaked, f"secrets in the log: {leaked}"


def is_session_cookie(name: str) -> bool:
    return bool(_SESSION_NAME.fullmatch(name))


def set_cookie_headers(answer: requests.Response) -> list[str]:
    """Every `Set-Cookie` header of an answer, in order, as sent."""
    return answer.raw.headers.getlist("Set-Cookie")


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


class SessionKey:
    """One AES-256 session key, as the responder uses it."""

    def __init__(self, key: bytes):
        assert len(key) == 32
        self.key = key
        self.id = hashlib.sha256(key).digest()[:4]

    @classmethod
    def random(cls) -> SessionKey:
        return cls(os.urandom(32))

    @classmethod
    def from_file(cls, path: Path) -> SessionKey:
        """The sealing (first) key of a key file of base64 lines."""
        line = next(line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#"))
        return cls(base64.b64decode(line.strip()))

    @property
    def line(self) -> str:
        """The key as a key-file line (base64)."""
        return base64.b64encode(self.key).decode("ascii")

    def seal(self, plaintext: bytes, purpose: str) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self.key).encrypt(nonce, plaintext, purpose.encode())  # ciphertext ‖ tag
        return "v1." + b64url_encode(self.id + nonce + sealed)

    def open(self, sealed: str, purpose: str) -> bytes | None:
        if not sealed.startswith("v1."):
            return None
        raw = b64url_decode(sealed[3:])
        if raw[:4] != self.id:
            return None
        try:
            return AESGCM(self.key).decrypt(raw[4:16], raw[16:], purpose.encode())
        except Exception:  # noqa: BLE001 - InvalidTag and friends: not ours
            return None

    def open_session(self, sealed: str) -> dict[str, Any]:
        plain = self.open(sealed, "session")
        assert plain is not None, "the session cookie does not open with this key"
        return json.loads(plain)

    def seal_session(self, session: dict[str, Any]) -> str:
        return self.seal(json.dumps(session, separators=(",", ":"), sort_keys=True).encode(), "session")

    def open_sign_in(self, sealed: str) -> dict[str, Any]:
        plain = self.open(sealed, "signin")
        assert plain is not None, "the sign-in cookie does not open with this key"
        return json.loads(plain)


def key_id_of(sealed: str) -> bytes:
    """The 4-byte key id a sealed value names."""
    return b64url_decode(sealed[3:])[:4]


def chunks(value: str, size: int = 3800) -> list[str]:
    return [value[index:index + size] for index in range(0, len(value), size)]


@dataclass
class SignInStart:
    """What `/oauth2/start` answered: the provider URL and the sign-in cookie."""

    answer: requests.Response
    location: str
    params: dict[str, str]  # the authorization request's parameters
    cookie_name: str
    cookie_value: str

    @property
    def state(self) -> str:
        return self.params["state"]


class GateBrowser:
    """One browser's cookies for the gate's TLS origin and for the provider."""

    def __init__(self, stack: Any, secrets: Secrets | None = None, key: SessionKey | None = None):
        self.stack = stack
        self.idp = stack.idp
        self.secrets = secrets or Secrets()
        keys_file = stack.workdir / "session-keys"  # harness.sign_in.SignInStack writes it
        self.key = key if key is not None else (SessionKey.from_file(keys_file) if keys_file.exists() else None)
        self.gate_cookies: dict[str, str] = {}
        self.idp_cookies: dict[str, str] = {}
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.verify = stack.session.verify

    # Requests -------------------------------------------------------------------------------

    @staticmethod
    def cookie_header(cookies: dict[str, str]) -> str:
        return "; ".join(f"{name}={value}" for name, value in cookies.items())

    def gate(self, path: str, method: str = "GET", *, accept: str | None = "application/json",
             cookies: dict[str, str] | None = None, keep: bool = True, headers: dict[str, str] | None = None,
             **kwargs: Any) -> requests.Response:
        """A request to the gate's TLS listener with this browser's cookies (or `cookies`);
        `keep`: apply the answer's `Set-Cookie` to the jar."""
        headers = dict(headers or {})
        if accept is not None:
            headers["Accept"] = accept
        jar = self.gate_cookies if cookies is None else cookies
        if jar:
            headers["Cookie"] = self.cookie_header(jar)
        answer = self.http.request(method, self.stack.gate_tls_url(path), headers=headers, allow_redirects=False,
                                   timeout=30, **kwargs)
        self.http.cookies.clear()
        for header in set_cookie_headers(answer):
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            self._remember_cookie(name, value)
            if keep:
                if "Max-Age=0" in header:
                    self.gate_cookies.pop(name, None)
                else:
                    self.gate_cookies[name] = value
        if keep:
            self.remember_session_contents()
        return answer

    def api(self, path: str = "/api/resource", **kwargs: Any) -> requests.Response:
        """An API client's request (Accept: application/json)."""
        return self.gate(path, accept="application/json", **kwargs)

    def page(self, path: str = "/api/page", **kwargs: Any) -> requests.Response:
        """A browser's page load (Accept: text/html, as Chromium sends it)."""
        return self.gate(path, accept="text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", **kwargs)

    def provider(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if self.idp_cookies:
            headers["Cookie"] = self.cookie_header(self.idp_cookies)
        answer = self.http.request(method, url, headers=headers, allow_redirects=False, timeout=30, **kwargs)
        self.http.cookies.clear()
        for header in set_cookie_headers(answer):
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in header:
                self.idp_cookies.pop(name, None)
            else:
                self.idp_cookies[name] = value
        return answer

    # The sign-in, step by step ----------------------------------------------------------------

    def start(self, rd: str | None = "/api/page") -> SignInStart:
        """`GET /oauth2/start?rd=…`: 302 to the provider, with the sign-in cookie."""
        answer = self.gate("/oauth2/start", accept="text/html", params=None if rd is None else {"rd": rd})
        assert answer.status_code == 302, (answer.status_code, answer.text, self.stack.responder_log()[-3000:])
        location = answer.headers["Location"]
        params = query_of(location)
        cookies = [header for header in set_cookie_headers(answer) if header.startswith(SIGN_IN_COOKIE_PREFIX)]
        assert len(cookies) == 1, set_cookie_headers(answer)
        name, _, rest = cookies[0].partition("=")
        self.secrets.add(params.get("state"), final_check=REMEMBER_CODE_AND_STATE)
        self.secrets.add(params.get("nonce"))
        return SignInStart(answer, location, params, name, rest.split(";", 1)[0])

    def authorize(self, url: str, username: str = "abdullah", password: str = "Test#123456") -> dict[str, str]:
        """The provider's part: the authorization request at `url`, its login form filled (or
        the SSO cookie answering at once); the callback's parameters (code, state, …)."""
        self.secrets.add(password)
        page = self.provider("GET", url)
        if page.status_code == 200:
            match = re.search(r'<form id="kc-form-login"[^>]*action="([^"]+)"', page.text)
            assert match, page.text[:2000]
            page = self.provider("POST", html.unescape(match.group(1)),
                                 data={"username": username, "password": password, "credentialId": "", "login": ""})
        assert page.status_code == 302, (page.status_code, page.text[:1000])
        location = page.headers["Location"]
        assert location.startswith(self.stack.gate_tls_url("/oauth2/callback")), location
        params = query_of(location)
        self.secrets.add(params.get("code"), params.get("state"), final_check=REMEMBER_CODE_AND_STATE)
        return params

    def callback(self, params: dict[str, str] | str, **kwargs: Any) -> requests.Response:
        """`GET /oauth2/callback` with `params` (a dict, or a raw query string)."""
        if isinstance(params, str):
            return self.gate(f"/oauth2/callback?{params}", accept="text/html", **kwargs)
        return self.gate("/oauth2/callback", accept="text/html", params=params, **kwargs)

    def sign_in(self, username: str = "abdullah", password: str = "Test#123456",
                rd: str = "/api/page") -> requests.Response:
        """The whole sign-in; asserts it ends in a 302 to `rd` with a session cookie."""
        started = self.start(rd)
        answer = self.callback(self.authorize(started.location, username, password))
        assert answer.status_code == 302, (answer.status_code, answer.text, self.stack.responder_log()[-3000:])
        assert answer.headers["Location"] == rd
        assert self.session_cookies(), set_cookie_headers(answer)
        return answer

    # The session cookie -------------------------------------------------------------------------

    def session_cookies(self) -> dict[str, str]:
        """The session cookie or its chunks the jar holds, by name (chunks in order)."""
        return {name: value for name, value in sorted(self.gate_cookies.items()) if is_session_cookie(name)}

    def session_value(self) -> str:
        """The sealed session (the chunks joined)."""
        held = self.session_cookies()
        if SESSION_COOKIE in held:
            return held[SESSION_COOKIE]
        return "".join(held[f"{SESSION_COOKIE}_{index}"] for index in range(len(held)))

    def session(self) -> dict[str, Any]:
        """What the session cookie holds (needs the stack's key)."""
        assert self.key is not None
        return self.key.open_session(self.session_value())

    def forget(self) -> None:
        self.gate_cookies.clear()
        self.idp_cookies.clear()

    def _remember_cookie(self, name: str, value: str) -> None:
        if not value:
            return
        self.secrets.add(value)
        if self.key is None:
            return
        if name.startswith(SIGN_IN_COOKIE_PREFIX):
            state = self.key.open(value, "signin")
            if state is not None:
                fields = json.loads(state)
                self.secrets.add(fields.get("v"), fields.get("n"))
                self.secrets.add(fields.get("s"), final_check=REMEMBER_CODE_AND_STATE)
        elif name == SESSION_COOKIE:
            self._remember_session(value)

    def _remember_session(self, sealed: str) -> None:
        assert self.key is not None
        plain = self.key.open(sealed, "session")
        if plain is not None:
            fields = json.loads(plain)
            self.secrets.add(fields.get("rt"), fields.get("idt"), fields.get("csrf"))

    def remember_session_contents(self) -> None:
        """Remembers what a chunked session holds (its chunks only open once joined)."""
        if self.key is not None and self.session_cookies():
            self._remember_session(self.session_value())


# Assertions the modules share ----------------------------------------------------------------

NOT_AUTHENTICATED = {"detail": "Not authenticated"}
INVALID_CREDENTIALS = {"detail": "Could not validate credentials"}


def responder_line(stack: Any, answer: requests.Response) -> str:
    """The responder's request line for `answer` (by nginx's X-Request-ID; the responder writes
    it after the answer has gone out, so it is waited for)."""
    request_id = answer.headers["X-Request-ID"].split(",")[0].strip()
    found: list[str] = []

    def logged() -> bool:
        found[:] = [line for line in stack.responder_log().splitlines()
                    if f"request.id={request_id}" in line and "http.status=" in line]
        return bool(found)

    stack.wait_until(logged, f"the responder's line for request {request_id}", timeout=10)
    assert len(found) == 1, found
    return found[0]


def assert_api_refused(answer: requests.Response, deleted: list[str], *,
                       body: dict[str, str] | None = None, challenge: str | None = None) -> None:
    """The gate's JSON 401 for an API client, deleting exactly the cookies `deleted`. The
    challenge defaults to the gate's for a request without credentials (harness.challenges)."""
    from .challenges import gate_unauthenticated, origin_of

    challenge = challenge or gate_unauthenticated(origin_of(answer.request.url))
    assert answer.status_code == 401, (answer.status_code, answer.headers, answer.text)
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == (body or NOT_AUTHENTICATED)
    assert answer.raw.headers.getlist("WWW-Authenticate") == [challenge]
    assert answer.headers["Cache-Control"] == "no-store"
    assert "Location" not in answer.headers
    assert sorted(set_cookie_headers(answer)) == sorted(expired_cookie(name) for name in deleted)


def assert_sent_to_sign_in(stack: Any, answer: requests.Response, uri: str, deleted: list[str]) -> None:
    """The gate's 302 for a browser's page load: to /oauth2/start?rd=<uri>, deleting `deleted`."""
    from urllib.parse import quote

    assert answer.status_code == 302, (answer.status_code, answer.headers, answer.text)
    assert answer.headers["Location"] == stack.gate_tls_url("/oauth2/start?rd=" + quote(uri, safe=""))
    assert answer.headers["Cache-Control"] == "no-store"
    assert sorted(set_cookie_headers(answer)) == sorted(expired_cookie(name) for name in deleted)
