"""The test identity provider's admin API (/_admin/*), over real HTTP: key rotation, faults,
statistics, minting.

Run: python3 -m pytest -q Tests/Integration/idp/test_idp_admin_api.py
(the `idp` and `fresh_idp` fixtures are idp/conftest.py's, the HTTP calls harness/idp_client.py's)
"""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests
from joserfc import jws
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet, OctKey

from harness.idp_client import decode, jwks, login, token_request, userinfo, userinfo_rejects
from harness.idp_fixture import CLIENT_ID, PASSWORD, USERNAME, IdentityProviderError
from harness.jwt import parts as unverified


# Admin API: rotation, faults, stats, mint ----------------------------------------------------------


def test_rotation_keeps_then_drops_old_keys(fresh_idp):
    provider = fresh_idp()
    old_kid = provider.current_key()["kid"]
    old_token = login(provider)["access_token"]
    new_kid = provider.rotate()
    assert new_kid != old_kid and provider.current_key()["kid"] == new_kid
    sig = [k["kid"] for k in jwks(provider)["keys"] if k["use"] == "sig"]
    assert sig == [new_kid, old_kid] and jwks(provider)["keys"][0]["use"] == "enc"
    assert unverified(login(provider)["access_token"])[0]["kid"] == new_kid
    assert userinfo(provider, old_token).status_code == 200  # passive keys still verify

    newest = provider.rotate(drop_old=True)
    assert [k["kid"] for k in jwks(provider)["keys"] if k["use"] == "sig"] == [newest]
    userinfo_rejects(provider, old_token)


def test_fault_html(idp):
    idp.fault("certs", "html")
    answer = requests.get(idp.certs_url, timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        answer.json()
    assert requests.get(idp.discovery_url, timeout=10).json()["issuer"] == idp.issuer  # other endpoints fine


def test_fault_truncated(idp):
    idp.fault("discovery", "truncated")
    answer = requests.get(idp.discovery_url, timeout=10)
    assert answer.status_code == 200
    assert int(answer.headers["Content-Length"]) == len(answer.content) > 100
    with pytest.raises(ValueError):
        json.loads(answer.content)


def test_fault_status500(idp):
    idp.fault("token", "status500")
    answer = token_request(idp, grant_type="password", username=USERNAME, password=PASSWORD)
    assert answer.status_code == 500 and answer.headers["Content-Type"].startswith("text/html")


def test_fault_huge(idp):
    idp.fault("userinfo", "huge")
    answer = userinfo(idp, "anything")
    assert answer.status_code == 200 and len(answer.content) >= 5 * 1024 * 1024
    assert answer.content.startswith(b'{"')


def test_fault_on_every_endpoint(idp):
    idp.fault("*", "status500")
    assert requests.get(idp.discovery_url, timeout=10).status_code == 500
    assert requests.get(idp.certs_url, timeout=10).status_code == 500
    idp.fault("*", "none")
    assert requests.get(idp.certs_url, timeout=10).status_code == 200


def test_fault_hang_times_out_and_ends_when_cleared(idp):
    idp.fault("certs", "hang", seconds=30)
    with pytest.raises(requests.Timeout):
        requests.get(idp.certs_url, timeout=0.3)
    results = []
    waiter = threading.Thread(target=lambda: results.append(requests.get(idp.certs_url, timeout=20)))
    started = time.monotonic()
    waiter.start()
    time.sleep(0.3)
    assert not results
    idp.fault("certs", "none")
    waiter.join(10)
    assert results and results[0].status_code == 200 and time.monotonic() - started < 5


def test_fault_hang_answers_normally_after_its_time(idp):
    idp.fault("discovery", "hang", seconds=0.5)
    started = time.monotonic()
    answer = requests.get(idp.discovery_url, timeout=10)
    assert answer.status_code == 200 and answer.json()["issuer"] == idp.issuer
    assert time.monotonic() - started >= 0.5


def test_admin_rejects_bad_requests(idp):
    with pytest.raises(IdentityProviderError, match="400"):
        idp.fault("nowhere", "html")
    with pytest.raises(IdentityProviderError, match="400"):
        idp.fault("token", "explode")
    with pytest.raises(IdentityProviderError, match="400"):
        idp.mint(user="ghost")
    with pytest.raises(IdentityProviderError, match="404"):
        idp.admin("nothing")


def test_stats_count_and_reset(idp):
    idp.reset_stats()
    assert set(idp.stats().values()) == {0}
    requests.get(idp.discovery_url, timeout=10)
    requests.get(idp.certs_url, timeout=10)
    requests.get(idp.certs_url, timeout=10)
    login(idp)
    stats = idp.stats()
    assert (stats["discovery"], stats["certs"], stats["token"], stats["userinfo"]) == (1, 2, 1, 0)
    assert set(stats) == {"discovery", "certs", "token", "userinfo", "introspect", "logout", "revoke", "auth"}
    idp.reset_stats()
    assert idp.stats()["certs"] == 0


def test_mint_applies_overrides(idp):
    token = idp.mint(claims={"aud": ["account", CLIENT_ID], "email": None, "custom": 1},
                     header={"kid": "other-kid", "typ": "at+jwt"})
    header, claims = unverified(token)
    assert header == {"alg": "RS256", "typ": "at+jwt", "kid": "other-kid"}
    assert claims["aud"] == ["account", CLIENT_ID] and claims["custom"] == 1 and "email" not in claims
    assert claims["preferred_username"] == "abdullah" and claims["iss"] == idp.issuer

    header, claims = decode(idp.mint(), idp)  # defaults: a valid token in a live session
    assert header["kid"] == idp.current_key()["kid"]
    assert userinfo(idp, idp.mint()).status_code == 200


def test_mint_with_the_encryption_key_and_forged_algorithms(idp):
    enc = jwks(idp)["keys"][0]
    token = idp.mint(key="enc")
    header, _ = unverified(token)
    assert header["kid"] == enc["kid"] and header["alg"] == "RS256"
    enc_key = KeySet.import_key_set({"keys": [{k: v for k, v in enc.items() if k not in ("use", "alg")}]})
    jws.deserialize_compact(token, enc_key.keys[0], algorithms=["RS256"])  # really signed by the enc key

    unsigned = idp.mint(header={"alg": "none"})
    assert unsigned.endswith(".") and unverified(unsigned)[0]["alg"] == "none"

    confused = idp.mint(header={"alg": "HS256"})
    pem = KeySet.import_key_set({"keys": [idp.current_key()]}).keys[0].as_pem(private=False)
    with pytest.warns(SecurityWarning):  # joserfc rightly objects to a PEM as an HMAC secret
        hmac_key = OctKey.import_key(pem)
    jws.deserialize_compact(confused, hmac_key, algorithms=["HS256"])
