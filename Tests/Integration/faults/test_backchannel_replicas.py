"""Back-channel logout across replicas: two responders behind one nginx share their revocations
through a real redis-server (REVOCATION_STORE=redis://:password@127.0.0.1:PORT, docs/revocation.md).

The provider (the local Keycloak emulator) posts its logout token to nginx's internal listener
(`/oauth2/backchannel-logout`), so it reaches ONE of the two responders; the other must learn it
through Redis. Each responder is asked directly on its own FastCGI socket (harness/fastcgi_client),
so "both replicas refuse" is checked per replica, not whichever one nginx happens to pick.

- `test_logout_reaches_both_replicas`: a bearer (password grant via POST /login) and a browser
  session cookie (the sign-in flow /oauth2/start → login form → /oauth2/callback) pass /protected
  and /auth on both replicas; the bearer's session ends by POST /logout (refresh token), the
  browser session by Keycloak's admin "delete session"; within 1 s both replicas refuse both
  (401 "Could not validate credentials" for the bearer, 401 with the cookie deleted at /auth).
  The measured delays are printed (`pytest -s`).
- `test_redis_outage_and_reconnect`: Redis is SIGKILLed: requests keep being answered (valid
  tokens 200, revoked ones 401), /readyz stays 200 and reports `revocation_store` "disconnected
  since …"; a logout during the outage is refused at once by the replica that received it (and,
  as documented, not yet by the other); Redis restarts on the same port (empty: no persistence):
  readiness is "ok" again and the outage's revocation reaches the other replica.

Both check that the Redis password never reaches the responders' logs.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import secrets
import signal
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from harness import fastcgi_client
from harness.idp_fixture import IdentityProvider
from harness.jwt import claims_of
from harness.load import FAST_TIMEOUTS
from harness.sign_in import SESSION_COOKIE, session_cookie_names
from harness.stack import SessionRecord, TwoInstanceStack, free_port

REDIS_SERVER = "/usr/bin/redis-server"
REDIS_CLI = "/usr/bin/redis-cli"
#: The answer to a token whose session was logged out (jwks mode, seed contract).
REFUSED = {"detail": "Could not validate credentials"}
#: How long a logout may take to reach the other replica.
PROPAGATION_BOUND = 1.0


# ---- Redis --------------------------------------------------------------------------------------

class RedisServer:
    """One redis-server on a loopback port with a password, no persistence. The password is in
    its configuration file (mode 600), never on a command line."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        # Hex, so the URL needs no percent-encoding; long enough for the final log check.
        self.password = "redis-" + secrets.token_hex(16)
        SessionRecord.remember(self.password)
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}"

    def start(self) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "redis.conf"
        conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\nsave \"\"\nappendonly no\nrequirepass {self.password}\n"
            f"dir {self.workdir}\nlogfile {self.log_path}\n")
        conf.chmod(0o600)
        self.process = subprocess.Popen([REDIS_SERVER, str(conf)], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.cli("PING").strip() == "PONG":
                    return self
            except subprocess.SubprocessError:
                pass
            assert self.process.poll() is None, f"redis-server exited:\n{self.log_text()}"
            assert time.monotonic() < deadline, f"redis-server did not answer PING:\n{self.log_text()}"
            time.sleep(0.05)

    def cli(self, *args: str) -> str:
        """A command through redis-cli; the password travels in REDISCLI_AUTH, not argv."""
        result = subprocess.run([REDIS_CLI, "-h", "127.0.0.1", "-p", str(self.port), "--no-auth-warning", *args],
                                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "REDISCLI_AUTH": self.password},
                                capture_output=True, text=True, timeout=5)
        return result.stdout

    def kill(self) -> None:
        """SIGKILL: no goodbye to the clients, as a crashed Redis or a lost host."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text("utf-8", errors="replace")
        except OSError:
            return ""


# ---- the stack ----------------------------------------------------------------------------------

class Replicas:
    """Redis + the provider + two responders (a.sock, b.sock) behind one nginx."""

    def __init__(self, workdir: Path, tls_dir: Path):
        self.redis = RedisServer(workdir / "redis")  # its port and password; started by start()
        keys_file = workdir / "session-keys"
        workdir.mkdir(parents=True, exist_ok=True)
        key = base64.b64encode(os.urandom(32)).decode("ascii")
        keys_file.write_text(key + "\n")
        keys_file.chmod(0o600)
        SessionRecord.remember(key)
        self.stack = TwoInstanceStack(workdir / "stack", tls_dir, env={
            **FAST_TIMEOUTS,
            "REVOCATION_STORE": self.redis.url,
            "SESSION_KEYS_FILE": str(keys_file),   # the same key file for both: one cookie, any replica
            "FCGI_WORKERS": "8",
        })
        stack = self.stack
        stack.extra_env["OIDC_REDIRECT_URI"] = stack.url("/oauth2/callback")
        # Ports are chosen: the provider can be told where the back-channel logout goes (nginx's
        # internal listener, which passes it to either responder) and the sign-in's redirect URI.
        self.idp = IdentityProvider(
            access_token_lifespan=3600,
            backchannel_logout_url=stack.internal_url("/oauth2/backchannel-logout"),
            redirect_uris=[stack.url("/oauth2/callback")],
            post_logout_redirect_uris=[stack.url("/*")],
            web_origins=[stack.url("")],
        )

    def start(self) -> Replicas:
        try:
            self.redis.start()
            self.idp.start()
            SessionRecord.remember(self.idp.client_secret)
            self.stack.idp = self.idp
            self.stack.start()
            # Both replicas subscribed before anything is revoked.
            for name in ("a", "b"):
                self.wait(lambda: self.readiness(name)[1]["checks"].get("revocation_store") == "ok",
                          f"replica {name} to connect to Redis")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        try:
            self.stack.stop()
        finally:
            self.idp.stop()
            self.redis.stop()

    # Each replica on its own socket ---------------------------------------------------------

    def socket(self, name: str) -> str:
        return str(self.stack.socket_path if name == "a" else self.stack.socket_b)

    def log(self, name: str) -> str:
        path = self.stack.log_a if name == "a" else self.stack.log_b
        return path.read_text("utf-8", errors="replace") if path.exists() else ""

    def fcgi(self, name: str, path: str, **params: str) -> tuple[int, dict[str, str], bytes]:
        return fastcgi_client.request(self.socket(name), {
            "REQUEST_METHOD": "GET", "DOCUMENT_URI": path, "REQUEST_URI": path, "SCRIPT_NAME": path,
            "SERVER_PROTOCOL": "HTTP/1.1", "HTTPS": "on", **params}, timeout=5)

    def protected(self, name: str, token: str) -> tuple[int, dict[str, str], bytes]:
        return self.fcgi(name, "/protected", HTTP_AUTHORIZATION=f"Bearer {token}")

    def auth(self, name: str, cookie: str) -> tuple[int, dict[str, str], bytes]:
        return self.fcgi(name, "/auth", HTTP_COOKIE=cookie, HTTP_ACCEPT="application/json")

    def readiness(self, name: str) -> tuple[int, dict]:
        status, _, body = self.fcgi(name, "/readyz", KEYCLOAK_FCGI_INTERNAL="1")
        return status, json.loads(body)

    def wait(self, condition, what: str, timeout: float = 15) -> float:
        """Polls `condition` every 10 ms; answers the seconds it took."""
        started = time.monotonic()
        last = None
        while True:
            try:
                if condition():
                    return time.monotonic() - started
            except (OSError, ValueError, KeyError) as error:
                last = error
            if time.monotonic() - started > timeout:
                raise AssertionError(f"timed out ({timeout} s) waiting for {what} ({last!r})\n"
                                     f"--- a ---\n{self.log('a')[-3000:]}\n--- b ---\n{self.log('b')[-3000:]}"
                                     f"\n--- redis ---\n{self.redis.log_text()[-1500:]}")
            time.sleep(0.01)

    # Sign-ins ---------------------------------------------------------------------------------

    def password_login(self) -> dict:
        answer = self.stack.login("abdullah", "Test#123456")
        assert answer.status_code == 200, answer.text
        return answer.json()

    def browser_sign_in(self) -> tuple[str, str]:
        """The browser flow without a browser: /oauth2/start → the provider's login form →
        /oauth2/callback. Answers the session cookie(s) as a Cookie header value, and the
        provider's session id (`session_state` of its answer, Keycloak's `sid`)."""
        stack = self.stack
        gateway = requests.Session()
        gateway.trust_env = False
        gateway.verify = stack.session.verify
        start = gateway.get(stack.url("/oauth2/start?rd=/"), allow_redirects=False, timeout=15)
        assert start.status_code == 302, (start.status_code, start.text)
        # The provider marks its cookies Secure also on http://127.0.0.1, which requests would
        # not send back over plain HTTP: they are carried by hand (as idp/idp_browser.py does).
        provider = requests.Session()
        provider.trust_env = False
        provider_cookies: dict[str, str] = {}

        def at_provider(method: str, url: str, **kwargs) -> requests.Response:
            headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in provider_cookies.items())} if provider_cookies else {}
            answer = provider.request(method, url, headers=headers, allow_redirects=False, timeout=15, **kwargs)
            provider.cookies.clear()
            for header in answer.raw.headers.getlist("Set-Cookie"):
                name, _, rest = header.partition("=")
                provider_cookies[name] = rest.split(";", 1)[0]
            return answer

        page = at_provider("GET", start.headers["Location"])
        assert page.status_code == 200 and 'id="kc-form-login"' in page.text, (page.status_code, page.text[:500])
        action = html.unescape(re.search(r'<form id="kc-form-login"[^>]*action="([^"]+)"', page.text).group(1))
        back = at_provider("POST", action, data={"username": "abdullah", "password": "Test#123456",
                                                 "credentialId": "", "login": ""})
        assert back.status_code == 302, (back.status_code, back.text[:500])
        callback_url = back.headers["Location"]
        assert callback_url.startswith(stack.url("/oauth2/callback?")), callback_url
        answer = {k: v[0] for k, v in parse_qs(urlsplit(callback_url).query).items()}
        assert answer.get("code") and answer.get("session_state"), answer.keys()
        done = gateway.get(callback_url, allow_redirects=False, timeout=15)
        assert done.status_code == 302, (done.status_code, done.text)
        session = {name: value for name, value in gateway.cookies.items()
                   if name in session_cookie_names(gateway.cookies.keys())}
        assert session, f"no session cookie among {list(gateway.cookies.keys())}"
        cookie = "; ".join(f"{name}={value}" for name, value in sorted(session.items()))
        SessionRecord.remember(*session.values())
        return cookie, answer["session_state"]

    def backchannel_receivers(self) -> dict[str, int]:
        """How many back-channel logouts each replica answered 200 (from their logs)."""
        return {name: len(re.findall(r"http\.path=/oauth2/backchannel-logout\S* .*?http\.status=200", self.log(name)))
                for name in ("a", "b")}


@pytest.fixture
def replicas(tmp_path, tls_dir):
    stack = Replicas(tmp_path / "replicas", tls_dir).start()
    yield stack
    stack.stop()


def assert_no_redis_password_in_logs(replicas: Replicas) -> None:
    """The responders logged about Redis (its endpoint), never its password."""
    for name in ("a", "b"):
        log = replicas.log(name)
        assert f"redis.endpoint=127.0.0.1:{replicas.redis.port}" in log, (name, log[-2000:])
        assert replicas.redis.password not in log, f"replica {name} logged the Redis password"
    assert replicas.redis.password not in replicas.stack.nginx_logs()


def refused_bearer(answer: tuple[int, dict[str, str], bytes]) -> bool:
    status, headers, body = answer
    if status != 401:
        return False
    assert json.loads(body) == REFUSED, body
    assert headers.get("www-authenticate", "").startswith('Bearer error="invalid_token"'), headers
    return True


def refused_cookie(answer: tuple[int, dict[str, str], bytes]) -> bool:
    """401 at /auth, with the session cookie deleted (nginx copies X-Auth-Set-Cookie-N)."""
    status, headers, body = answer
    if status == 204:
        return False
    assert status == 401, (status, headers, body)
    deletions = [value for name, value in headers.items() if name.startswith("x-auth-set-cookie-")]
    assert any(value.startswith(SESSION_COOKIE) and "Max-Age=0" in value for value in deletions), headers
    return True


class RefusalWatch:
    """One thread per replica asks it `call(name)` in a loop (1 ms apart) from before a logout
    until it is first refused; records when each refusal arrived, so the delay between the
    replica that received the logout and the other one (the propagation through Redis) is
    measured, not just bounded."""

    def __init__(self, replicas: Replicas, call, accepted: int):
        self.call, self.accepted = call, accepted
        self.accepted_before: dict[str, int] = {"a": 0, "b": 0}
        self.first: dict[str, tuple[float, tuple[int, dict[str, str], bytes]]] = {}
        self.errors: list[BaseException] = []
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self._poll, args=(name,), daemon=True) for name in ("a", "b")]
        for thread in self.threads:
            thread.start()
        # Each replica has accepted at least once: the watch started before the logout.
        deadline = time.monotonic() + 5
        while min(self.accepted_before.values()) == 0 and not self.errors:
            assert time.monotonic() < deadline, "the watch threads got no answer"
            time.sleep(0.001)
        assert not self.errors, self.errors

    def _poll(self, name: str) -> None:
        try:
            while not self.done.is_set():
                answer = self.call(name)
                received = time.monotonic()
                if answer[0] != self.accepted:
                    self.first[name] = (received, answer)
                    return
                self.accepted_before[name] += 1
                time.sleep(0.001)
        except BaseException as error:  # noqa: BLE001 (reported by result())
            self.errors.append(error)

    def result(self, bound: float) -> dict[str, tuple[float, tuple[int, dict[str, str], bytes]]]:
        """Waits until both replicas refused, at most `bound` seconds from now."""
        deadline = time.monotonic() + bound
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.done.set()
        for thread in self.threads:
            thread.join(5)
        assert not self.errors, self.errors
        return self.first


def logout_propagation(replicas: Replicas, call, accepted: int, refused, logout) -> dict[str, float]:
    """Runs `logout()` while both replicas are watched; checks that each refuses within
    PROPAGATION_BOUND of the logout's answer with `refused(answer)`; answers, per replica, the
    milliseconds from the logout request to its first refusal, plus which replica the
    provider's back-channel logout reached and the propagation delay to the other."""
    before = replicas.backchannel_receivers()
    watch = RefusalWatch(replicas, call, accepted)
    sent = time.monotonic()
    logout()
    answered = time.monotonic()
    first = watch.result(PROPAGATION_BOUND)
    after = replicas.backchannel_receivers()
    receivers = [name for name in ("a", "b") if after[name] > before[name]]
    assert len(receivers) == 1, (before, after, replicas.idp.log_text()[-2000:])
    receiver = receivers[0]
    other = "b" if receiver == "a" else "a"
    for name in ("a", "b"):
        assert name in first, (f"replica {name} still accepted {PROPAGATION_BOUND} s after the logout "
                               f"(back-channel logout received by {receiver})\n{replicas.log(name)[-3000:]}")
        when, answer = first[name]
        assert refused(answer), (name, answer)
        assert when - answered <= PROPAGATION_BOUND, (name, when - answered)
    return {"receiver": receiver, "round_trip_ms": 1000 * (answered - sent),
            "receiver_ms": 1000 * (first[receiver][0] - sent), "other_ms": 1000 * (first[other][0] - sent),
            "propagation_ms": 1000 * (first[other][0] - first[receiver][0])}


def describe(what: str, result: dict) -> str:
    return (f"{what}: logout answered in {result['round_trip_ms']:.1f} ms; back-channel logout received "
            f"by replica {result['receiver']}, which refused {result['receiver_ms']:.1f} ms after the request; "
            f"the other refused at {result['other_ms']:.1f} ms: propagation {result['propagation_ms']:+.1f} ms")


# ---- the tests ----------------------------------------------------------------------------------

def test_logout_reaches_both_replicas(replicas):
    tokens = replicas.password_login()
    bearer, refresh = tokens["access_token"], tokens["refresh_token"]
    cookie, browser_sid = replicas.browser_sign_in()
    for name in ("a", "b"):
        status, _, body = replicas.protected(name, bearer)
        assert status == 200 and json.loads(body)["preferred_username"] == "abdullah", (name, status, body)
        status, headers, _ = replicas.auth(name, cookie)
        assert status == 204 and headers.get("x-auth-username") == "abdullah", (name, status, headers)

    # 1. The bearer's session ends through the API: POST /logout with the refresh token. The
    # provider ends the session and, before it answers, posts the logout token to nginx's
    # internal listener, which hands it to one of the replicas.
    def api_logout():
        answer = replicas.stack.post("/logout", data={"refresh_token": refresh})
        assert answer.status_code == 204, answer.text

    result = logout_propagation(replicas, lambda name: replicas.protected(name, bearer), 200, refused_bearer, api_logout)
    print("\n" + describe("bearer, POST /logout", result))

    # The browser session is another session: still accepted.
    for name in ("a", "b"):
        assert replicas.auth(name, cookie)[0] == 204, name

    # 2. The browser session ends at the provider (Keycloak's admin REST: delete the session).
    assert browser_sid != claims_of(bearer)["sid"]
    result = logout_propagation(replicas, lambda name: replicas.auth(name, cookie), 204, refused_cookie,
                                lambda: replicas.idp.admin_delete_session(browser_sid) == 204 or pytest.fail("delete"))
    print(describe("session cookie at /auth, admin session delete", result))
    for name in ("a", "b"):
        # (the log line is written after the answer is sent)
        replicas.wait(lambda: "session.refused=revoked" in replicas.log(name), f"replica {name}'s log line", 5)
        assert refused_bearer(replicas.protected(name, bearer)), name  # still refused

    # Through Redis: the two session revocations are stored there.
    keys = replicas.redis.cli("--scan", "--pattern", "keycloak-fcgi:revoked:*").split()
    assert len([key for key in keys if key.startswith("keycloak-fcgi:revoked:sid:")]) == 2, keys
    assert_no_redis_password_in_logs(replicas)


def test_redis_outage_and_reconnect(replicas):
    stack = replicas.stack
    # Before the outage: one session logged out (both replicas refuse it), one left valid, one
    # to be logged out during the outage.
    revoked = replicas.password_login()
    assert stack.post("/logout", data={"refresh_token": revoked["refresh_token"]}).status_code == 204
    for name in ("a", "b"):
        replicas.wait(lambda name=name: refused_bearer(replicas.protected(name, revoked["access_token"])),
                      f"replica {name} to refuse the logged-out bearer", PROPAGATION_BOUND)
    valid = replicas.password_login()["access_token"]
    victim = replicas.password_login()["access_token"]
    for name in ("a", "b"):
        assert replicas.protected(name, victim)[0] == 200, name

    # The outage: SIGKILL, no goodbye. Both replicas notice (their connections close) and say so
    # in their readiness, which stays 200 "ready": the gate keeps serving.
    killed_at = time.time()
    replicas.redis.kill()
    for name in ("a", "b"):
        noticed = replicas.wait(
            lambda name=name: replicas.readiness(name)[1]["checks"]["revocation_store"].startswith("disconnected since "),
            f"replica {name} to report the outage", 5)
        status, body = replicas.readiness(name)
        assert status == 200 and body["status"] == "ready", (name, status, body)
        since = float(body["checks"]["revocation_store"].removeprefix("disconnected since "))
        assert killed_at - 2 <= since <= time.time() + 1, (name, since, killed_at)
        print(f"\nreplica {name} reported the outage after {1000 * noticed:.0f} ms: {body}")
    # The same through nginx's internal listener (either replica answers).
    answer = stack.session.get(stack.internal_url("/readyz"), timeout=5)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "ready", answer.text
    assert answer.json()["checks"]["revocation_store"].startswith("disconnected since "), answer.text

    # Requests keep being answered: valid tokens (also one issued during the outage) pass,
    # the logged-out one stays refused, on both replicas and through nginx.
    fresh = replicas.password_login()["access_token"]
    for name in ("a", "b"):
        for token in (valid, fresh, victim):
            status, _, body = replicas.protected(name, token)
            assert status == 200, (name, status, body)
        assert refused_bearer(replicas.protected(name, revoked["access_token"])), name
    assert stack.protected(valid).status_code == 200
    assert stack.protected(revoked["access_token"]).json() == REFUSED

    # A logout during the outage reaches one replica, which refuses the session at once; the
    # other cannot learn it until Redis is back (docs/revocation.md, "During an outage").
    before = replicas.backchannel_receivers()
    assert replicas.idp.admin_delete_session(claims_of(victim)["sid"]) == 204
    after = replicas.backchannel_receivers()
    receivers = [name for name in ("a", "b") if after[name] > before[name]]
    assert len(receivers) == 1, (before, after, replicas.idp.log_text()[-2000:])
    receiver, other = receivers[0], "b" if receivers[0] == "a" else "a"
    assert refused_bearer(replicas.protected(receiver, victim)), receiver
    time.sleep(0.3)
    assert replicas.protected(other, victim)[0] == 200, "the other replica learnt the logout without Redis?"
    print(f"logout during the outage received by replica {receiver}: refused there at once; "
          f"replica {other} still accepts it while Redis is down")

    # Redis back on the same port, empty (no persistence): both replicas reconnect, readiness
    # says "ok", and the receiver's queued revocation is written and published: the other
    # replica refuses the session too.
    replicas.redis.start()
    restarted = time.monotonic()
    for name in ("a", "b"):
        replicas.wait(lambda name=name: replicas.readiness(name)[1]["checks"]["revocation_store"] == "ok",
                      f"replica {name} to reconnect", 10)
    reconnected = time.monotonic() - restarted
    replicas.wait(lambda: refused_bearer(replicas.protected(other, victim)),
                  f"replica {other} to learn the outage's logout", 10 - (time.monotonic() - restarted))
    learned = time.monotonic() - restarted
    print(f"after the restart: both replicas ready with the store 'ok' within {1000 * reconnected:.0f} ms; "
          f"replica {other} refused the outage's logout {1000 * learned:.0f} ms after the restart")
    keys = replicas.redis.cli("--scan", "--pattern", "keycloak-fcgi:revoked:sid:*").split()
    assert len(keys) >= 1, keys  # the queued revocation was written to the new Redis
    for name in ("a", "b"):
        assert replicas.protected(name, valid)[0] == 200, name
        assert refused_bearer(replicas.protected(name, victim)), name
        assert refused_bearer(replicas.protected(name, revoked["access_token"])), name  # kept in memory
        log = replicas.log(name)
        assert log.count("revocation store disconnected") == 1, (name, log[-3000:])  # one line per outage
        assert "revocation store reconnected" in log, (name, log[-3000:])
    assert_no_redis_password_in_logs(replicas)
