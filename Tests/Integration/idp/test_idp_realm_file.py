"""The local provider's clients agree with the Compose realm (deploy/keycloak/realm-testing.json),
which real Keycloak imports: what the provider does by default is what that realm makes Keycloak
do, so a test passing against one passes against the other.

Run: python3 -m pytest -q Tests/Integration/idp/test_idp_realm_file.py
"""

from __future__ import annotations

import json
import sys

import pytest

from harness.deploy_files import REALM_FILE
from harness.idp_fixture import CLIENT_ID, DOCS_CLIENT_ID, IDP_SCRIPT
from harness.jwt import parts
from idp_browser import Browser, exchange, pkce_pair, redirect_params


@pytest.fixture(scope="module")
def realm_clients() -> dict[str, dict]:
    return {client["clientId"]: client for client in json.loads(REALM_FILE.read_text())["clients"]}


@pytest.fixture(scope="module")
def defaults():
    """The provider's command-line defaults, parsed in process."""
    sys.path.insert(0, str(IDP_SCRIPT.parent))
    try:
        from keycloak_emulator.config import parse_config
        return parse_config(["--client-secret", "x"], {})
    finally:
        sys.path.remove(str(IDP_SCRIPT.parent))


def test_confidential_client_defaults_are_the_realms(realm_clients, defaults):
    client = realm_clients[CLIENT_ID]
    attributes = client["attributes"]
    assert defaults.client_id == CLIENT_ID
    assert set(defaults.redirect_uris) == set(client["redirectUris"])
    assert "https://localhost:8443/oauth2/callback" in client["redirectUris"]
    assert client["standardFlowEnabled"] is True and client["frontchannelLogout"] is False
    assert defaults.post_logout_redirect_uris == tuple(attributes["post.logout.redirect.uris"].split("##"))
    assert defaults.client_pkce_method == attributes["pkce.code.challenge.method"] == "S256"
    # Imported with a back-channel URL, the attribute is not defaulted (OIDCLoginProtocolFactory
    # .setupClientDefaults): the file must say "true" itself.
    assert attributes["backchannel.logout.session.required"] == "true"
    assert defaults.backchannel_logout_session_required is True
    assert attributes["backchannel.logout.url"] == (
        "${KEYCLOAK_FCGI_BACKCHANNEL_LOGOUT_URL:http://nginx:8081/oauth2/backchannel-logout}")


def test_docs_client_defaults_are_the_realms(realm_clients, defaults):
    docs = realm_clients[DOCS_CLIENT_ID]
    assert defaults.docs_client_id == DOCS_CLIENT_ID
    assert (docs["publicClient"], docs["standardFlowEnabled"], docs["directAccessGrantsEnabled"],
            docs["implicitFlowEnabled"], docs["serviceAccountsEnabled"]) == (True, True, False, False, False)
    assert "secret" not in docs
    assert docs["attributes"]["pkce.code.challenge.method"] == "S256"
    assert tuple(docs["redirectUris"]) == defaults.docs_redirect_uris
    assert tuple(docs["webOrigins"]) == defaults.docs_web_origins
    [mapper] = [m for m in docs["protocolMappers"] if m["protocolMapper"] == "oidc-audience-mapper"]
    assert mapper["config"]["included.client.audience"] == CLIENT_ID
    assert mapper["config"]["access.token.claim"] == "true"


def test_docs_client_tokens_carry_the_realms_audience(make_idp, realm_clients, tmp_path):
    """As Keycloak with the realm file: the docs client's Audience mapper puts the confidential
    client in ``aud``, also for a user holding none of its roles (where Audience Resolve alone
    would not)."""
    redirect_uri = realm_clients[DOCS_CLIENT_ID]["redirectUris"][0]
    users = json.loads((IDP_SCRIPT.parent / "users.json").read_text())
    users.append({"id": "7b0c2c1e-0000-4000-8000-000000000001", "username": "roleless", "password": "Roleless#1",
                  "email": "roleless@example.com", "firstName": "Role", "lastName": "Less", "realmRoles": ["user"]})
    (tmp_path / "users.json").write_text(json.dumps(users))
    provider = make_idp(users=tmp_path / "users.json")  # and the defaults: the realm's redirect URI
    for username, password, audience in (("abdullah", "Test#123456", [CLIENT_ID, "account"]),
                                         ("roleless", "Roleless#1", CLIENT_ID)):
        verifier, challenge = pkce_pair()
        browser = Browser(provider)
        page = browser.authorize(DOCS_CLIENT_ID, redirect_uri, code_challenge=challenge, code_challenge_method="S256")
        code = redirect_params(browser.submit_login(page, username, password))["code"]
        body = exchange(provider, code, redirect_uri, verifier, DOCS_CLIENT_ID).json()
        assert parts(body["access_token"])[1]["aud"] == audience, username
