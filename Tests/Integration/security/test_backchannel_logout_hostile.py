"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0) under attack (issue 11):
POST /oauth2/backchannel-logout through real nginx (the main template's public TLS server,
`location /`), the release responder in jwks mode with browser sign-in on, the local provider.

A logout token must be the provider's (signature, `iss`), for this client (`aud`), recent
(`iat`, `exp`), a logout token (`events`, no `nonce`, Keycloak's `typ`), name a session or user
(`sid`/`sub`), and be used once (`jti`). Every refusal is 400
`{"error":"invalid_request","error_description":...}` and revokes nothing: the victim's bearer
token, whose `sid` the hostile token names, still passes /protected afterwards.

A valid token is 200, and from then on the session's bearer token is refused at /protected
with 401 `{"detail":"Could not validate credentials"}` although its signature and `exp` are
still good (jwks mode alone would accept it), and its session cookie is refused at the gate. A
subject-wide logout (no `sid`) refuses the user's tokens issued before it but not a later login.

Logout tokens are minted by the provider's test control (`/_admin/mint`) with Keycloak's
claims, or signed with keys of the test's own; one test lets the provider deliver its own token
(admin session delete) to the internal listener, as Keycloak would.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import requests
from joserfc import jwt as jose_jwt
from joserfc.jwk import RSAKey

from harness.http_sign_in import (
    INVALID_CREDENTIALS,
    NOT_AUTHENTICATED,
    SESSION_COOKIE,
    GateBrowser,
    Secrets,
    assert_api_refused,
    assert_sent_to_sign_in,
    responder_line,
)
from harness.jwt import claims_of, kid_of
from harness.sign_in import SignInStack

SECRETS = Secrets()
EVENT = "http://schemas.openid.net/event/backchannel-logout"
ALICE = ("alice", "p&ss+w%rd é#1")
ALICE_SUB = "55048ee0-a462-4a15-9e55-468d35044582"
INVALID = {"error": "invalid_request", "error_description": "Invalid logout token"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, tls_dir):
    stack = SignInStack(tmp_path_factory.mktemp("backchannel-hostile"), tls_dir, env={"AUTH_VERIFY": "jwks"}).start()
    yield stack
    try:
        SECRETS.assert_not_in(stack.responder_log())
        IN_URI.assert_not_in(stack.responder_log())
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def access_claim_names(stack) -> list[str]:
    """The claims a minted access token has, so a logout token can be minted without them."""
    return list(claims_of(stack.idp.mint()))


@pytest.fixture(scope="module")
def victim(stack) -> dict[str, str]:
    """A bearer token whose session every hostile logout token names: it must keep working."""
    token = stack.token()
    assert stack.protected(token).status_code == 200
    claims = claims_of(token)
    return {"token": token, "sid": claims["sid"], "sub": claims["sub"]}


def logout_token(stack, access_claim_names, *, sid: str | None, sub: str | None, header: dict | None = None,
                 key: str = "current", secrets: Secrets = SECRETS, **changes: Any) -> str:
    """A logout token as Keycloak writes it (header typ logout+jwt; exp, iat, jti, iss, aud,
    sub, typ, sid, events), minted by the provider; `changes` replace claims (None deletes)."""
    now = int(time.time())
    claims: dict[str, Any] = {name: None for name in access_claim_names}
    claims.update({"exp": now + 120, "iat": now, "jti": str(uuid.uuid4()), "iss": stack.idp.issuer,
                   "aud": stack.idp.client_id, "sub": sub, "typ": "Logout", "sid": sid, "events": {EVENT: {}}})
    claims.update(changes)
    token = stack.idp.mint(claims=claims, header={"typ": "logout+jwt", **(header or {})}, key=key)
    secrets.add(token)
    return token


def post_logout(stack, **kwargs: Any) -> requests.Response:
    return stack.post("/oauth2/backchannel-logout", **kwargs)


def refused(stack, answer, description: str = "Invalid logout token") -> str:
    assert answer.status_code == 400, (answer.status_code, answer.text)
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == {"error": "invalid_request", "error_description": description}
    assert answer.headers["Cache-Control"] == "no-store"
    line = responder_line(stack, answer)
    assert "logout.error=" in line and "http.status=400" in line
    return line


def still_accepted(stack, victim) -> None:
    answer = stack.protected(victim["token"])
    assert answer.status_code == 200, (answer.status_code, answer.text)


def foreign_signed(stack, claims: dict[str, Any], kid: str) -> str:
    """Claims signed with an RSA key of the test's own, under the provider's `kid`."""
    key = RSAKey.generate_key(2048)
    token = jose_jwt.encode({"alg": "RS256", "typ": "logout+jwt", "kid": kid}, claims, key)
    SECRETS.add(token)
    return token


# --- Hostile tokens --------------------------------------------------------------------------------

HOSTILE: dict[str, tuple[Any, str]] = {
    # case: (claim or header changes, what the responder logs as the reason)
    # Not the provider's signature.
    "encryption-key": (dict(key="enc"), "unknownKeyID"),
    "alg-none": (dict(header={"alg": "none"}), "malformedToken"),
    "alg-hs256-with-public-key": (dict(header={"alg": "HS256"}), "unsupportedAlgorithm: alg HS256"),
    "unknown-kid": (dict(header={"kid": "no-such-key"}), "unknownKeyID: kid no-such-key"),
    # Claims §2.6 requires, or forbids.
    "another-issuer": (dict(iss="https://evil.example/realms/testing"), "issuerMismatch"),
    "another-audience": (dict(aud="another-client"), "audienceMismatch"),
    "audience-list-without-us": (dict(aud=["another-client", "account"]), "audienceMismatch"),
    "no-audience": (dict(aud=None), "audienceMismatch"),
    "with-nonce": (dict(nonce="n-0123456789abcdef"), "logout token carries a nonce"),
    "without-events": (dict(events=None), "without the back-channel logout event"),
    "events-without-the-logout-event": (dict(events={"http://schemas.openid.net/event/other": {}}),
                                        "without the back-channel logout event"),
    "logout-event-not-an-object": (dict(events={EVENT: True}), "without the back-channel logout event"),
    "events-empty": (dict(events={}), "without the back-channel logout event"),
    "missing-sid-and-sub": (dict(sid=None, sub=None), "neither sid nor sub"),
    "empty-sid-and-sub": (dict(sid="", sub=""), "neither sid nor sub"),
    "without-jti": (dict(jti=None), "missingClaim: logout token jti"),
    "without-iat": (dict(iat=None), "missingClaim: logout token iat"),
    # Times relative to the moment of minting.
    "iat-too-old": (lambda now: dict(iat=now - 400, exp=now + 60), "outside the accepted window"),
    "iat-in-the-future": (lambda now: dict(iat=now + 300, exp=now + 420), "outside the accepted window"),
    "expired": (lambda now: dict(iat=now - 200, exp=now - 60), "tokenExpired: logout token exp"),
    "typ-claim-bearer": (dict(typ="Bearer"), "wrongTokenType: logout token typ Bearer"),
    "typ-claim-id": (dict(typ="ID"), "wrongTokenType: logout token typ ID"),
    "header-typ-at-jwt": (dict(header={"typ": "at+jwt"}), "wrongTokenType: logout token header typ at+jwt"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_logout_token_is_refused_and_revokes_nothing(stack, access_claim_names, victim, case):
    changes, reason = HOSTILE[case]
    changes = dict(changes(int(time.time())) if callable(changes) else changes)
    changes.setdefault("sid", victim["sid"])
    changes.setdefault("sub", victim["sub"])
    token = logout_token(stack, access_claim_names, **changes)
    line = refused(stack, post_logout(stack, data={"logout_token": token}))
    assert reason in line.split("auth.error=", 1)[1], line
    still_accepted(stack, victim)


def test_a_token_signed_by_another_key_under_the_providers_kid_is_refused(stack, access_claim_names, victim):
    now = int(time.time())
    claims = {"exp": now + 120, "iat": now, "jti": str(uuid.uuid4()), "iss": stack.idp.issuer,
              "aud": stack.idp.client_id, "sub": victim["sub"], "typ": "Logout", "sid": victim["sid"],
              "events": {EVENT: {}}}
    token = foreign_signed(stack, claims, kid_of(stack.idp.mint()))
    line = refused(stack, post_logout(stack, data={"logout_token": token}))
    assert "auth.error=signatureInvalid" in line, line
    still_accepted(stack, victim)


def test_the_victims_own_access_token_posted_as_a_logout_token_is_refused(stack, victim):
    refused(stack, post_logout(stack, data={"logout_token": victim["token"]}))
    still_accepted(stack, victim)


def test_an_id_token_posted_as_a_logout_token_is_refused(stack, victim):
    """A real ID token from a browser sign-in (it has `sid`, `sub`, `nonce`, no `events`)."""
    browser = GateBrowser(stack, SECRETS)
    browser.sign_in()
    id_token = browser.session()["idt"]
    refused(stack, post_logout(stack, data={"logout_token": id_token}))
    assert browser.api("/api/x").status_code == 200
    # A minted ID token of the victim's session, with the logout event added, is still no logout
    # token: it carries Keycloak's typ "ID".
    minted = stack.idp.mint(kind="id", claims={"sid": victim["sid"], "sub": victim["sub"], "events": {EVENT: {}}})
    SECRETS.add(minted)
    refused(stack, post_logout(stack, data={"logout_token": minted}))
    still_accepted(stack, victim)


def test_a_refresh_token_posted_as_a_logout_token_is_refused(stack, victim):
    refresh = stack.idp.mint(kind="refresh", claims={"sid": victim["sid"], "sub": victim["sub"]})
    SECRETS.add(refresh)
    refused(stack, post_logout(stack, data={"logout_token": refresh}))
    still_accepted(stack, victim)


@pytest.mark.parametrize("data", [{}, {"logout_token": ""}, {"token": "x" * 40}], ids=["empty-form", "empty-value",
                                                                                      "other-field"])
def test_missing_logout_token_is_refused(stack, data):
    refused(stack, post_logout(stack, data=data), "Missing logout_token")


def test_a_json_body_is_not_read_as_a_form(stack, access_claim_names, victim):
    """A valid logout token in a JSON body: not a form, so no logout_token (and nothing revoked)."""
    token = logout_token(stack, access_claim_names, sid=victim["sid"], sub=victim["sub"])
    refused(stack, post_logout(stack, json={"logout_token": token}), "Missing logout_token")
    refused(stack, post_logout(stack, data=f"logout_token={token}", headers={"Content-Type": "text/plain"}),
            "Missing logout_token")
    still_accepted(stack, victim)


#: Secrets a test puts into a request URI itself (nginx's access log records it): checked
#: against the responder's log only.
IN_URI = Secrets(final_check=False)


def test_a_logout_token_in_the_query_string_is_not_read(stack, access_claim_names, victim):
    token = logout_token(stack, access_claim_names, sid=victim["sid"], sub=victim["sub"], secrets=IN_URI)
    answer = stack.post(f"/oauth2/backchannel-logout?logout_token={token}", data={})
    refused(stack, answer, "Missing logout_token")
    still_accepted(stack, victim)


def test_a_malformed_multipart_body_is_not_a_form(stack):
    answer = post_logout(stack, data=b"--b\r\nbroken", headers={"Content-Type": "multipart/form-data; boundary=b"})
    refused(stack, answer, "The request body is not a form")


def test_get_is_not_allowed(stack):
    answer = stack.get("/oauth2/backchannel-logout")
    assert answer.status_code == 405
    assert answer.json() == {"detail": "Method Not Allowed"}
    assert answer.headers["Allow"] == "POST"


# --- Valid tokens ----------------------------------------------------------------------------------


def test_a_valid_logout_revokes_the_sessions_bearer_tokens_and_its_cookie(stack, access_claim_names):
    """One provider session with both a browser session cookie and a bearer access token (a
    refresh of the cookie's refresh token at the provider, same `sid`)."""
    browser = GateBrowser(stack, SECRETS)
    browser.sign_in()
    session = browser.session()
    refreshed = requests.post(stack.idp.token_url, data={
        "grant_type": "refresh_token", "refresh_token": session["rt"], "client_id": stack.idp.client_id,
        "client_secret": stack.idp.client_secret}, timeout=10).json()
    bearer = refreshed["access_token"]
    SECRETS.add(bearer, refreshed["refresh_token"], refreshed.get("id_token"))
    assert claims_of(bearer)["sid"] == session["sid"]
    assert stack.protected(bearer).status_code == 200
    assert browser.api("/api/x").status_code == 200

    token = logout_token(stack, access_claim_names, sid=session["sid"], sub=session["sub"])
    answer = post_logout(stack, data={"logout_token": token})
    assert answer.status_code == 200, answer.text
    assert answer.content == b""
    assert answer.headers["Cache-Control"] == "no-store"
    assert "logout.kind=sid" in responder_line(stack, answer)

    # Signature and exp still fine: only the revocation refuses it.
    assert claims_of(bearer)["exp"] > time.time() + 60
    refused_bearer = stack.protected(bearer)
    assert refused_bearer.status_code == 401
    assert refused_bearer.json() == INVALID_CREDENTIALS
    assert refused_bearer.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert "auth.error=sessionRevoked" in responder_line(stack, refused_bearer)
    # And at the gate: the bearer, and the session cookie (deleted).
    gate_bearer = browser.gate("/api/x", cookies={}, headers={"Authorization": f"Bearer {bearer}"})
    assert gate_bearer.status_code == 401 and gate_bearer.json() == INVALID_CREDENTIALS
    assert gate_bearer.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    cookies = browser.session_cookies()
    api = browser.api("/api/x", cookies=cookies)
    assert_api_refused(api, [SESSION_COOKIE])
    assert "session.refused=revoked" in responder_line(stack, api)
    assert_sent_to_sign_in(stack, browser.page("/api/x", cookies=cookies), "/api/x", [SESSION_COOKIE])

    # The same token again: its jti is spent.
    refused(stack, post_logout(stack, data={"logout_token": token}), "Logout token already used")


def test_a_replayed_jti_is_refused_even_for_another_session(stack, access_claim_names, victim):
    """A second token with a spent jti (and another sid) is refused and revokes nothing."""
    other = stack.token()
    other_claims = claims_of(other)
    jti = str(uuid.uuid4())
    first = logout_token(stack, access_claim_names, sid=other_claims["sid"], sub=other_claims["sub"], jti=jti)
    assert post_logout(stack, data={"logout_token": first}).status_code == 200
    assert stack.protected(other).status_code == 401
    second = logout_token(stack, access_claim_names, sid=victim["sid"], sub=victim["sub"], jti=jti)
    refused(stack, post_logout(stack, data={"logout_token": second}), "Logout token already used")
    still_accepted(stack, victim)


def test_the_providers_own_logout_token_ends_the_session_here(stack):
    """Keycloak's path: the session deleted by an administrator, the provider posts its own
    logout token to the internal listener; the session cookie is refused from then on."""
    browser = GateBrowser(stack, SECRETS)
    browser.sign_in()
    cookies = browser.session_cookies()
    assert browser.api("/api/x").status_code == 200
    assert stack.idp.admin_delete_session(browser.session()["sid"]) == 204
    assert "back-channel logout of client fastapi-keycloak" in stack.idp.log_text()
    assert ": 200" in [line for line in stack.idp.log_text().splitlines() if "back-channel logout" in line][-1]
    assert_api_refused(browser.api("/api/x", cookies=cookies), [SESSION_COOKIE])


def test_a_subject_wide_logout_refuses_earlier_tokens_but_not_a_later_login(stack, access_claim_names, victim):
    """No `sid` (a client with backchannel.logout.session.required off): every token and session
    of the user issued up to the logout is refused; a login after it is not. Another user's
    tokens are untouched."""
    before = stack.token(*ALICE)
    browser = GateBrowser(stack, SECRETS)
    browser.sign_in(*ALICE)
    cookies = browser.session_cookies()
    assert stack.protected(before).status_code == 200

    token = logout_token(stack, access_claim_names, sid=None, sub=ALICE_SUB)
    answer = post_logout(stack, data={"logout_token": token})
    assert answer.status_code == 200
    assert "logout.kind=sub" in responder_line(stack, answer)

    refused_bearer = stack.protected(before)
    assert refused_bearer.status_code == 401 and refused_bearer.json() == INVALID_CREDENTIALS
    assert_api_refused(browser.api("/api/x", cookies=cookies), [SESSION_COOKIE])
    still_accepted(stack, victim)

    # Tokens carry whole seconds: a login in the logout's own second counts as before it.
    time.sleep(1.05 - (time.time() % 1))
    after = stack.token(*ALICE)
    assert claims_of(after)["iat"] > claims_of(before)["iat"]
    answer = stack.protected(after)
    assert answer.status_code == 200, answer.text
    assert answer.json()["preferred_username"] == "alice"
    fresh = GateBrowser(stack, SECRETS)
    fresh.sign_in(*ALICE)
    assert fresh.api("/api/x").json()["x_auth"]["x-auth-username"] == ["alice"]


def test_the_gate_without_cookie_or_token_is_unchanged_by_logouts(stack):
    """After all the revocations above, a request without credentials is still the plain 401."""
    answer = GateBrowser(stack, SECRETS).api("/api/x")
    assert_api_refused(answer, [])
    assert answer.json() == NOT_AUTHENTICATED
