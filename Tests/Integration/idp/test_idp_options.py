"""The test identity provider's command-line options and process behaviour: legacy /auth
prefix, public URL, algorithms, lifespans, the client secret, loopback-only admin, SIGTERM.

Run: python3 -m pytest -q Tests/Integration/idp/test_idp_options.py
(the `idp` and `fresh_idp` fixtures are idp/conftest.py's, the HTTP calls harness/idp_client.py's)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

from harness.idp_client import decode, jwks, login, token_request, userinfo
from harness.idp_fixture import CLIENT_ID, CLIENT_SECRET, IDP_SCRIPT, PASSWORD, USERNAME
from harness.jwt import parts as unverified


# Options ----------------------------------------------------------------------------------------


def test_legacy_auth_prefix(fresh_idp):
    provider = fresh_idp(legacy_auth_prefix=True)
    assert provider.issuer == f"{provider.base_url}/auth/realms/testing"
    doc = requests.get(provider.discovery_url, timeout=10).json()
    assert doc["token_endpoint"] == f"{provider.base_url}/auth/realms/testing/protocol/openid-connect/token"
    body = login(provider)
    assert decode(body["access_token"], provider)[1]["iss"] == provider.issuer
    assert userinfo(provider, body["access_token"]).status_code == 200
    unprefixed = requests.get(f"{provider.base_url}/realms/testing/.well-known/openid-configuration", timeout=10)
    assert unprefixed.status_code == 404


def test_public_url_pins_the_issuer(fresh_idp):
    provider = fresh_idp(public_url="http://keycloak.test:8080/")
    assert provider.base_url == "http://keycloak.test:8080"
    assert provider.issuer == "http://keycloak.test:8080/realms/testing"
    doc = requests.get(provider.discovery_url, timeout=10).json()
    assert doc["jwks_uri"] == "http://keycloak.test:8080/realms/testing/protocol/openid-connect/certs"
    assert unverified(login(provider)["access_token"])[1]["iss"] == provider.issuer


@pytest.mark.parametrize("alg, kty", [("ES256", "EC"), ("PS256", "RSA")])
def test_other_signing_algorithms(fresh_idp, alg, kty):
    provider = fresh_idp(alg=alg)
    sig = [k for k in jwks(provider)["keys"] if k["use"] == "sig"]
    assert [(k["alg"], k["kty"]) for k in sig] == [(alg, kty)] and sig[0]["x5c"]
    if kty == "EC":
        assert sig[0]["crv"] == "P-256" and {"x", "y"} <= set(sig[0])
    body = login(provider)
    header, claims = decode(body["access_token"], provider)
    assert header["alg"] == alg and claims["typ"] == "Bearer"
    assert decode(body["id_token"], provider)[1]["typ"] == "ID"
    assert userinfo(provider, body["access_token"]).status_code == 200


def test_access_token_lifespan(fresh_idp):
    provider = fresh_idp(access_token_lifespan=60)
    body = login(provider)
    claims = unverified(body["access_token"])[1]
    assert body["expires_in"] == 60 and claims["exp"] - claims["iat"] == 60


def test_client_secret_flag_wins_over_environment(fresh_idp):
    provider = fresh_idp(extra_args=("--client-secret", "from-the-flag"))
    form = {"grant_type": "password", "username": USERNAME, "password": PASSWORD, "client_id": CLIENT_ID}
    assert requests.post(provider.token_url, data={**form, "client_secret": "from-the-flag"},
                         timeout=10).status_code == 200
    assert requests.post(provider.token_url, data={**form, "client_secret": CLIENT_SECRET},
                         timeout=10).status_code == 401


def test_missing_client_secret_is_a_usage_error():
    env = {k: v for k, v in os.environ.items() if k != "IDP_CLIENT_SECRET"}
    result = subprocess.run([sys.executable, str(IDP_SCRIPT), "--port", "0"], env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "client secret is required" in result.stderr


def _non_loopback_address() -> str | None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a source address
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


def test_admin_answers_loopback_clients_only(fresh_idp):
    address = _non_loopback_address()
    if address is None:
        pytest.skip("no non-loopback IPv4 address on this machine")
    provider = fresh_idp(host="0.0.0.0")
    remote = f"http://{address}:{provider.port}"
    assert requests.get(f"{remote}/realms/testing/protocol/openid-connect/certs", timeout=10).status_code == 200
    answer = requests.get(f"{remote}/_admin/stats", timeout=10)
    assert answer.status_code == 403
    assert provider.stats()["certs"] == 1  # the loopback caller is served


def test_sigterm_during_a_hang_exits_0(fresh_idp):
    provider = fresh_idp()
    provider.fault("token", "hang", seconds=60)
    outcome = []

    def hanging_login():
        try:
            outcome.append(token_request(provider, grant_type="password", username=USERNAME,
                                         password=PASSWORD).status_code)
        except requests.RequestException as error:
            outcome.append(type(error).__name__)

    client = threading.Thread(target=hanging_login)
    client.start()
    deadline = time.monotonic() + 5
    while provider.stats()["token"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    provider.process.send_signal(signal.SIGTERM)
    assert provider.process.wait(5) == 0
    assert time.monotonic() - started < 3
    client.join(5)
    assert outcome == ["ConnectionError"]  # the connection was closed, not answered
