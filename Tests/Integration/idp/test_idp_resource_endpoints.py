"""The test identity provider itself (idp/mini_keycloak.py), over real HTTP: userinfo,
introspection, and plain HTTP behaviour (unknown paths, body limit, keep-alive).

Run: python3 -m pytest -q Tests/Integration/idp/test_idp_resource_endpoints.py
(the `idp` and `fresh_idp` fixtures are idp/conftest.py's, the HTTP calls harness/idp_client.py's)
"""

from __future__ import annotations

import http.client
import time
import urllib.parse

import pytest
import requests

from harness.idp_client import ABDULLAH_ID, INVALID_CLIENT, SESSION_GONE, assert_error, client_form, decode
from harness.idp_client import introspect, login, userinfo, userinfo_rejects
from harness.idp_fixture import CLIENT_ID


# Userinfo ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_userinfo(idp, method):
    body = login(idp)
    answer = userinfo(idp, body["access_token"], method)
    assert answer.status_code == 200
    assert answer.json() == {
        "sub": ABDULLAH_ID, "email_verified": True, "name": "Abdullah Alqahtani",
        "preferred_username": "abdullah", "given_name": "Abdullah", "family_name": "Alqahtani",
        "email": "abdullah@example.com",
    }
    assert list(answer.json())[0] == "sub"


def test_userinfo_rejects_missing_garbage_and_non_access_tokens(idp):
    body = login(idp)
    for token in (None, "", "garbage", "a.b.c", body["refresh_token"], body["id_token"]):
        userinfo_rejects(idp, token)
    answer = requests.get(idp.userinfo_url, headers={"Authorization": f"Basic {body['access_token']}"}, timeout=10)
    assert answer.status_code == 401


@pytest.mark.parametrize("claims, header, key", [
    ({"exp": 1000}, {}, "current"),
    ({"nbf": 4_000_000_000}, {}, "current"),
    ({"iss": "http://elsewhere/realms/testing"}, {}, "current"),
    ({"typ": "ID"}, {}, "current"),
    ({}, {}, "enc"),
    ({}, {"kid": "unknown"}, "current"),
    ({}, {"alg": "none"}, "current"),
    ({}, {"alg": "HS256"}, "current"),
], ids=["expired", "not-yet-valid", "foreign-issuer", "wrong-typ", "enc-key", "unknown-kid", "alg-none",
        "alg-confusion"])
def test_userinfo_rejects_forged_and_invalid_tokens(idp, claims, header, key):
    userinfo_rejects(idp, idp.mint(claims=claims, header=header, key=key))


def test_userinfo_without_openid_scope_is_403(idp):
    answer = userinfo(idp, login(idp, scope="profile")["access_token"])
    assert answer.status_code == 403
    assert answer.json() == {"error": "insufficient_scope", "error_description": "Missing openid scope"}
    assert answer.headers["WWW-Authenticate"] == (
        'Bearer realm="testing", error="insufficient_scope", error_description="Missing openid scope"')


def test_userinfo_after_the_session_ended(idp):
    token = login(idp)["access_token"]
    assert idp.clear_sessions() >= 1
    answer = userinfo(idp, token)
    assert (answer.status_code, answer.json()["error"], answer.json()["error_description"]) == (
        401, "invalid_token", SESSION_GONE)


# Introspection ----------------------------------------------------------------------------------


def test_introspection_active_token(idp):
    body = login(idp)
    claims = decode(body["access_token"], idp)[1]
    answer = introspect(idp, body["access_token"])
    assert answer == {**claims, "client_id": CLIENT_ID, "username": "abdullah", "token_type": "Bearer",
                      "active": True}


def test_introspection_inactive_and_unauthenticated(idp):
    assert introspect(idp, "garbage") == {"active": False}
    assert introspect(idp, idp.mint(claims={"exp": 1000})) == {"active": False}
    token = login(idp)["access_token"]
    assert_error(requests.post(idp.introspect_url, data={"token": token}, timeout=10),
                 401, "invalid_client", INVALID_CLIENT)
    assert_error(requests.post(idp.introspect_url, data={"token": token, "client_id": CLIENT_ID,
                                                         "client_secret": "x"}, timeout=10),
                 401, "unauthorized_client", INVALID_CLIENT)
    assert_error(requests.post(idp.introspect_url, data=client_form(), timeout=10),
                 400, "invalid_request", "Token not provided.")


# Plain HTTP behaviour -----------------------------------------------------------------------------


def test_unknown_paths(idp):
    answer = requests.get(f"{idp.local_url}/nothing/here", timeout=10)
    assert answer.status_code == 404
    assert answer.json() == {"error": "Unable to find matching target resource method",
                             "error_description": "For more on this error consult the server log."}
    other_realm = requests.get(f"{idp.local_url}/realms/other/.well-known/openid-configuration", timeout=10)
    assert (other_realm.status_code, other_realm.json()["error"]) == (404, "Realm does not exist")
    wrong_method = requests.get(idp.token_url, timeout=10)
    assert wrong_method.status_code == 405 and wrong_method.headers["Allow"] == "POST"


def test_oversized_body_is_refused(idp):
    answer = requests.post(idp.token_url, data=b"x" * (1024 * 1024 + 1), timeout=10,
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 413


def test_keep_alive_reuses_the_connection_without_delay(idp):
    connection = http.client.HTTPConnection("127.0.0.1", idp.port, timeout=10)
    path = urllib.parse.urlsplit(idp.discovery_url).path
    connection.request("GET", path)
    first = connection.getresponse()
    first.read()
    socket_used = connection.sock
    started = time.perf_counter()
    for _ in range(20):
        connection.request("GET", path)
        answer = connection.getresponse()
        assert int(answer.headers["Content-Length"]) == len(answer.read())
    elapsed = time.perf_counter() - started
    assert connection.sock is socket_used  # same TCP connection for every request
    assert elapsed < 0.4, f"20 keep-alive requests took {elapsed:.3f}s (Nagle/delayed ACK?)"
    connection.close()
