"""Hostile session cookies at the auth gate (issue 11): through real nginx (the example gate
nginx/examples/auth-gate.conf.template on its TLS listener), the release responder with
SESSION_KEYS_FILE and OIDC_REDIRECT_URI on that listener, and the local provider.

Every altered, truncated, foreign, rotated-out, incomplete or misused cookie must be refused
the same way as no credentials at all: an API client (`Accept: application/json`) gets the JSON
401 `{"detail":"Not authenticated"}` with `WWW-Authenticate: Bearer`, a browser's page load a
302 to /oauth2/start?rd=<its URI>, and both a `Set-Cookie` deleting exactly the session cookies
the request carried. The protected API is never reached, and the responder logs why
(`session.refused=unreadable`) without logging the cookie.

The sessions are real ones (a sign-in through the provider's login form, `harness.http_sign_in`);
the tests read them with the stack's key (`SessionKey`) and seal variants with other keys.
"""

from __future__ import annotations

import json
import time

import pytest

from harness.http_sign_in import (
    SESSION_COOKIE,
    GateBrowser,
    Secrets,
    SessionKey,
    assert_api_refused,
    assert_sent_to_sign_in,
    b64url_decode,
    b64url_encode,
    chunks,
    key_id_of,
    responder_line,
)
from harness.idp_fixture import DEFAULT_USERS
from harness.sign_in import SignInStack
from harness.stack import SessionRecord

SECRETS = Secrets()
#: Enough padding to make a real session two cookies long (not three).
PAD = 2000
MANY_ROLES = ("many-roles", "Many#Roles-1234")


def users_with_many_roles(path) -> None:
    """idp/users.json plus a user with 150 realm roles: a session (roles, refresh and ID
    token) well above one cookie's 3800 characters."""
    users = json.loads(DEFAULT_USERS.read_text())
    users.append({
        "id": "6f1f2b7c-0d8e-4d52-9a61-3c2e8f0b5a77", "username": MANY_ROLES[0], "password": MANY_ROLES[1],
        "enabled": True, "email": "many-roles@example.com", "emailVerified": True, "firstName": "Many",
        "lastName": "Roles", "realmRoles": ["user"] + [f"project-{index:03d}-contributor" for index in range(150)],
        "clientRoles": {},
    })
    path.write_text(json.dumps(users))


@pytest.fixture(scope="module")
def stack(tmp_path_factory, tls_dir):
    workdir = tmp_path_factory.mktemp("session-cookie-hostile")
    users_with_many_roles(workdir / "users.json")
    stack = SignInStack(workdir / "stack", tls_dir, idp_options={"users": workdir / "users.json"}).start()
    yield stack
    try:
        SECRETS.assert_not_in(stack.responder_log())
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def signed_in(stack) -> GateBrowser:
    """One signed-in browser, shared by the tests that only send variants of its cookie."""
    browser = GateBrowser(stack, SECRETS)
    browser.sign_in()
    return browser


def refused_both_ways(stack, cookies: dict[str, str], *, path: str = "/api/orders") -> None:
    """`cookies` at a gated location: the API client's JSON 401 and the browser's 302 to sign in,
    each deleting exactly the session cookies sent; the API never reached; the refusal logged."""
    browser = GateBrowser(stack, SECRETS)
    hits = stack.upstream.hits
    api = browser.api(path, cookies=cookies)
    assert_api_refused(api, list(cookies))
    assert "session.refused=unreadable" in responder_line(stack, api)
    page = browser.page(path, cookies=cookies)
    assert_sent_to_sign_in(stack, page, path, list(cookies))
    assert stack.upstream.hits == hits, "a refused session reached the protected API"


def accepted(stack, cookies: dict[str, str], username: str = "abdullah", path: str = "/api/orders"):
    """`cookies` let the request through with the session's identity (and no Set-Cookie)."""
    answer = GateBrowser(stack, SECRETS).api(path, cookies=cookies)
    assert answer.status_code == 200, (answer.status_code, answer.text)
    assert answer.json()["x_auth"]["x-auth-username"] == [username]
    assert answer.json()["path"] == path
    return answer


def flip(sealed: str, position: int) -> str:
    """`sealed` with one bit of its decoded bytes flipped (negative positions from the end)."""
    raw = bytearray(b64url_decode(sealed[3:]))
    raw[position] ^= 0x01
    return "v1." + b64url_encode(bytes(raw))


def test_the_unaltered_session_is_accepted(stack, signed_in):
    """The control for every case below: the same cookie, unchanged, passes."""
    answer = accepted(stack, signed_in.session_cookies())
    assert "Set-Cookie" not in answer.headers
    assert "auth.via=session" in responder_line(stack, answer)


@pytest.mark.parametrize("position", [0, 3, 4, 15, 16, 40, -17, -1],
                         ids=["key-id-first", "key-id-last", "nonce-first", "nonce-last", "ciphertext-first",
                              "ciphertext-middle", "ciphertext-last", "tag-last"])
def test_a_flipped_bit_anywhere_is_refused(stack, signed_in, position):
    refused_both_ways(stack, {SESSION_COOKIE: flip(signed_in.session_value(), position)})


@pytest.mark.parametrize("change", [
    lambda value: value[:-1],
    lambda value: value[:-22],          # the tag gone
    lambda value: value[: len(value) // 2],
    lambda value: value[:3 + 43],       # key id and nonce only
    lambda value: "v1.",
    lambda value: "v2." + value[3:],    # another format version
    lambda value: value[3:],            # no version prefix
    lambda value: value + "A",
    lambda value: value[:60] + "*" + value[61:],   # not base64url
    lambda value: value.replace("-", "+").replace("_", "/"),  # base64, not base64url
], ids=["one-char-short", "tag-cut", "half", "header-only", "prefix-only", "v2", "no-prefix", "one-char-long",
        "not-base64url", "standard-base64"])
def test_a_truncated_or_malformed_cookie_is_refused(stack, signed_in, change):
    value = signed_in.session_value()
    altered = change(value)
    assert altered != value
    refused_both_ways(stack, {SESSION_COOKIE: altered})


def test_a_session_sealed_by_another_key_is_refused(stack, signed_in):
    """The very session the stack sealed, re-sealed under a key the responder does not hold."""
    session = signed_in.session()
    stranger = SessionKey.random()
    SessionRecord.remember(stranger.line)
    refused_both_ways(stack, {SESSION_COOKIE: stranger.seal_session(session)})


def test_a_foreign_key_claiming_the_stacks_key_id_is_refused(stack, signed_in):
    """Sealed with another key but carrying the key id of the stack's key: the id only picks the
    key, the tag still has to verify."""
    stranger = SessionKey.random()
    SessionRecord.remember(stranger.line)
    stranger.id = signed_in.key.id
    refused_both_ways(stack, {SESSION_COOKIE: stranger.seal_session(signed_in.session())})


def test_the_sign_in_state_cookie_presented_as_the_session_is_refused(stack):
    """A sealed sign-in state (purpose `signin`) opens with the same key but is no session: the
    purpose is authenticated."""
    browser = GateBrowser(stack, SECRETS)
    started = browser.start("/api/page")
    assert browser.key.open(started.cookie_value, "signin") is not None  # a valid value, of the other kind
    refused_both_ways(stack, {SESSION_COOKIE: started.cookie_value})


def test_the_session_presented_as_the_sign_in_state_is_refused_at_the_callback(stack, signed_in):
    """And the other way round: a session cookie named as a sign-in's state cookie."""
    browser = GateBrowser(stack, SECRETS)
    state = "S" * 43
    answer = browser.callback({"state": state, "code": "x" * 40},
                              cookies={f"{SESSION_COOKIE}-signin-{state[:16]}": signed_in.session_value()})
    assert answer.status_code == 400
    assert answer.json() == {"detail": "Invalid or expired sign-in state"}


def test_a_session_of_another_format_version_is_refused(stack, signed_in):
    """Sealed with the stack's own key and purpose, but `v` is not 1."""
    session = dict(signed_in.session(), v=2)
    refused_both_ways(stack, {SESSION_COOKIE: signed_in.key.seal_session(session)})


def test_a_session_without_its_required_fields_is_refused(stack, signed_in):
    session = signed_in.session()
    del session["sub"]
    refused_both_ways(stack, {SESSION_COOKIE: signed_in.key.seal_session(session)})


# --- Chunks ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chunked(stack, signed_in) -> dict[str, str]:
    """A real session made large (a member the session format ignores, as a larger token set
    would make it), sealed with the stack's key and split as the responder splits it: 3800
    characters per cookie, `<name>_0`, `<name>_1`."""
    session = dict(signed_in.session(), pad="p" * PAD)
    sealed = signed_in.key.seal_session(session)
    SessionRecord.remember(sealed)
    parts = chunks(sealed)
    assert len(parts) == 2
    return {f"{SESSION_COOKIE}_{index}": part for index, part in enumerate(parts)}


def test_a_chunked_session_is_accepted_whole(stack, chunked):
    """The control: both chunks, in order, are the session."""
    accepted(stack, chunked)


def test_a_chunked_session_in_reverse_cookie_order_is_accepted(stack, chunked):
    """Chunks are joined by their number, not by the order the browser sends them in."""
    accepted(stack, dict(reversed(list(chunked.items()))))


def test_a_missing_last_chunk_is_refused(stack, chunked):
    refused_both_ways(stack, {f"{SESSION_COOKIE}_0": chunked[f"{SESSION_COOKIE}_0"]})


def test_a_missing_first_chunk_is_refused_and_the_rest_deleted(stack, chunked):
    refused_both_ways(stack, {f"{SESSION_COOKIE}_1": chunked[f"{SESSION_COOKIE}_1"]})


def test_swapped_chunks_are_refused(stack, chunked):
    first, second = chunked.values()
    refused_both_ways(stack, {f"{SESSION_COOKIE}_0": second, f"{SESSION_COOKIE}_1": first})


def test_a_chunk_from_another_session_is_refused(stack, signed_in, chunked):
    """Chunk 1 of another sealing of the same session (another nonce): each sealing is whole."""
    other = chunks(signed_in.key.seal_session(dict(signed_in.session(), pad="p" * PAD)))
    refused_both_ways(stack, {f"{SESSION_COOKIE}_0": chunked[f"{SESSION_COOKIE}_0"], f"{SESSION_COOKIE}_1": other[1]})


def test_a_truncated_chunk_is_refused(stack, chunked):
    refused_both_ways(stack, {f"{SESSION_COOKIE}_0": chunked[f"{SESSION_COOKIE}_0"],
                              f"{SESSION_COOKIE}_1": chunked[f"{SESSION_COOKIE}_1"][:-5]})


def test_an_extra_chunk_is_refused(stack, chunked):
    refused_both_ways(stack, {**chunked, f"{SESSION_COOKIE}_2": "AAAA"})


def test_a_user_with_many_roles_signs_in_with_a_chunked_session(stack):
    browser = GateBrowser(stack, SECRETS)
    started = browser.start("/api/page")
    answer = browser.callback(browser.authorize(started.location, *MANY_ROLES))
    assert answer.status_code == 302, (answer.status_code, answer.text)
    names = sorted(browser.session_cookies())
    assert len(names) >= 2 and names == [f"{SESSION_COOKIE}_{index}" for index in range(len(names))], names
    accepted(stack, browser.session_cookies(), username=MANY_ROLES[0])


# --- Key rotation ------------------------------------------------------------------------------


def restart_with_keys(stack, *keys: SessionKey) -> None:
    """Rewrites the key file (the first key seals, all open) and restarts the responder."""
    for key in keys:
        SessionRecord.remember(key.line)
    (stack.workdir / "session-keys").write_text("".join(key.line + "\n" for key in keys))
    started = stack.responder_log().count(" listening ")
    assert stack.stop_responder() == 0
    stack.start_responder()
    stack.wait_until(lambda: stack.responder_log().count(" listening ") > started, "the responder to listen again")
    stack.wait_until(lambda: stack.gate("/public/ping").status_code == 200, "the gate to answer")


def test_rotation_old_key_still_listed_opens_new_key_seals_removed_key_refused(stack):
    original = SessionKey.from_file(stack.workdir / "session-keys")
    old_browser = GateBrowser(stack, SECRETS)
    old_browser.sign_in()
    old_cookie = old_browser.session_cookies()
    assert key_id_of(old_browser.session_value()) == original.id
    new = SessionKey.random()
    try:
        # A new key first: cookies of the old one still open; new sessions are sealed with the new key.
        restart_with_keys(stack, new, original)
        answer = accepted(stack, old_cookie)
        assert "Set-Cookie" not in answer.headers
        new_browser = GateBrowser(stack, SECRETS, key=new)
        new_browser.sign_in()
        assert key_id_of(new_browser.session_value()) == new.id
        assert new_browser.session()["usr"] == "abdullah"
        accepted(stack, new_browser.session_cookies())

        # The old key removed: its cookies are refused (and deleted), the new key's still pass.
        restart_with_keys(stack, new)
        refused_both_ways(stack, old_cookie)
        accepted(stack, new_browser.session_cookies())
    finally:
        restart_with_keys(stack, original)
    refused_both_ways(stack, new_browser.session_cookies())
    accepted(stack, old_cookie)


def test_a_refused_cookie_leaves_the_browsers_other_cookies_alone(stack, signed_in):
    """Only the session's own cookies are deleted, not another app's on the same host."""
    browser = GateBrowser(stack, SECRETS)
    cookies = {"theme": "dark", SESSION_COOKIE: flip(signed_in.session_value(), 20), "other_0": "x"}
    answer = browser.api("/api/orders", cookies=cookies)
    assert_api_refused(answer, [SESSION_COOKIE])


def test_the_log_names_the_refusal_but_never_the_cookie(stack, signed_in):
    altered = flip(signed_in.session_value(), 30)
    answer = GateBrowser(stack, SECRETS).api("/api/orders", cookies={SESSION_COOKIE: altered})
    line = responder_line(stack, answer)
    assert "session.refused=unreadable" in line and "http.status=401" in line
    time.sleep(0.05)
    log = stack.responder_log()
    assert altered not in log and altered[3:40] not in log
