"""The local provider behaves like Keycloak 26 where the product relies on it (issue 9): each
test names the Keycloak source it follows (idp/README.md has the table, idp/KEYCLOAK-SOURCES.md
the quotes).

Run: python3 -m pytest -q Tests/Integration/idp/test_idp_keycloak.py
(the `idp` and `fresh_idp` fixtures are idp/conftest.py's, the HTTP calls harness/idp_client.py's)
"""

from __future__ import annotations

import importlib.util
import sys
import time

import pytest
import requests

from harness.idp_client import assert_error_body, login, post
from harness.idp_fixture import CLIENT_ID, IDP_SCRIPT, PASSWORD, USERNAME
from harness.jwt import parts

IMPORTED = ("imported", "Imported#1")


# 1. Logout: LogoutEndpoint.logoutToken() + TokenManager.verifyRefreshToken(..., false) ----------


def test_logout_ignores_the_refresh_tokens_expiry_and_ends_a_live_session(idp):
    """checkExpiration=false: an expired refresh token of a live session still logs it out."""
    body = login(idp)
    sid = body["session_state"]
    expired = idp.mint(kind="refresh", claims={"exp": int(time.time()) - 60, "sid": sid})
    assert post(idp, idp.logout_url, refresh_token=expired).status_code == 204
    assert post(idp, idp.introspect_url, token=body["access_token"]).json() == {"active": False}
    # The same expired token is refused by the refresh grant, which checks expiry.
    assert_error_body(post(idp, idp.token_url, grant_type="refresh_token", refresh_token=expired),
                 400, "invalid_grant", "Token is not active")


@pytest.mark.parametrize("case, claims, description", [
    ("another client's", {"azp": "other-app"},
     "Invalid refresh token. Token client and authorized client don't match"),
    ("another realm's issuer", {"iss": "http://127.0.0.1:1/realms/other"},
     "Invalid token issuer. Expected '{issuer}', but was 'http://127.0.0.1:1/realms/other'"),
    ("of another type", {"typ": "Bearer"}, "Invalid refresh token"),
])
def test_logout_refuses_foreign_refresh_tokens_with_keycloaks_words(idp, case, claims, description):
    token = idp.mint(kind="refresh", claims=claims)
    assert_error_body(post(idp, idp.logout_url, refresh_token=token), 400, "invalid_grant",
                 description.format(issuer=idp.issuer))


def test_logout_with_an_access_token_as_refresh_token(idp):
    assert_error_body(post(idp, idp.logout_url, refresh_token=login(idp)["access_token"]),
                 400, "invalid_grant", "Invalid refresh token")


# 2. Introspection: TokenIntrospectionEndpoint / AccessTokenIntrospectionProvider --------------


def test_introspection_failure_fault_is_keycloaks_400(idp):
    idp.fault("introspect", "introspection_failure")
    try:
        answer = post(idp, idp.introspect_url, token=login(idp)["access_token"])
        assert_error_body(answer, 400, "invalid_request", "Failed to introspect token.")
    finally:
        idp.clear_faults()
    with pytest.raises(Exception, match="introspect endpoint only"):
        idp.fault("token", "introspection_failure")


def test_introspection_needs_the_caller_in_aud_from_26_6_2(fresh_idp):
    """Keycloak 26.6.2: {"active": false} unless the introspecting client is in aud; the Compose
    realm therefore gives the client an Audience mapper (the local provider's default)."""
    plain = fresh_idp(extra_args=("--no-client-audience-mapper",))
    token = login(plain)["access_token"]
    assert parts(token)[1]["aud"] == "account"
    assert post(plain, plain.introspect_url, token=token).json() == {"active": False}
    older = fresh_idp(extra_args=("--no-client-audience-mapper", "--no-introspection-audience-check"))
    assert post(older, older.introspect_url, token=login(older)["access_token"]).json()["active"] is True


# 3. Import without default roles; Audience Resolve ---------------------------------------------


def test_aud_follows_audience_resolve(fresh_idp):
    """AudienceResolveProtocolMapper: other clients whose roles the user holds, never the own
    client; one audience is a string, none leaves aud out."""
    provider = fresh_idp(extra_args=("--no-client-audience-mapper",))
    with_defaults = parts(login(provider)["access_token"])[1]
    assert with_defaults["aud"] == "account"
    assert set(with_defaults["resource_access"]) == {CLIENT_ID, "account"}
    imported = parts(login(provider, *IMPORTED)["access_token"])[1]
    assert "aud" not in imported
    assert set(imported["realm_access"]["roles"]) == {"user"}
    assert set(imported["resource_access"]) == {CLIENT_ID}


def test_with_the_client_audience_mapper_the_own_client_is_in_aud(idp):
    assert parts(login(idp, *IMPORTED)["access_token"])[1]["aud"] == CLIENT_ID
    assert parts(login(idp)["access_token"])[1]["aud"] == [CLIENT_ID, "account"]


# 4. Roles are sets (AccessToken.Access: Set<String>) --------------------------------------------


def test_role_order_is_arbitrary_but_stable(idp):
    first = parts(login(idp, "alice", "p&ss+w%rd é#1")["access_token"])[1]["realm_access"]["roles"]
    again = parts(login(idp, "alice", "p&ss+w%rd é#1")["access_token"])[1]["realm_access"]["roles"]
    assert first == again
    assert first != sorted(first), "the emulated HashSet order must not happen to be sorted"


# 5. Lower-case bearer (TokenManager.formatTokenType) ------------------------------------------


def test_lower_case_bearer_option(fresh_idp):
    provider = fresh_idp(extra_args=("--lower-case-bearer",))
    body = login(provider)
    assert body["token_type"] == "bearer"
    assert parts(body["access_token"])[1]["typ"] == "bearer"
    assert requests.get(provider.userinfo_url, headers={"Authorization": f"Bearer {body['access_token']}"},
                        timeout=10).status_code == 200
    assert post(provider, provider.introspect_url, token=body["access_token"]).json()["token_type"] == "bearer"


# 6. Hostname v2 with hostname-backchannel-dynamic (HostnameV2Provider, OIDCWellKnownProvider) -----


def test_backchannel_dynamic_discovery(fresh_idp):
    public = "https://sso.public.test"
    provider = fresh_idp(public_url=public, extra_args=("--hostname-backchannel-dynamic",))
    internal = requests.get(provider.discovery_url, timeout=10).json()
    oidc_public = f"{public}/realms/testing/protocol/openid-connect"
    oidc_internal = f"{provider.local_url}/realms/testing/protocol/openid-connect"
    assert internal["issuer"] == f"{public}/realms/testing"
    assert (internal["token_endpoint"], internal["jwks_uri"], internal["introspection_endpoint"],
            internal["userinfo_endpoint"]) == (f"{oidc_internal}/token", f"{oidc_internal}/certs",
                                               f"{oidc_internal}/token/introspect", f"{oidc_internal}/userinfo")
    assert (internal["authorization_endpoint"], internal["end_session_endpoint"], internal["revocation_endpoint"]) == (
        f"{oidc_public}/auth", f"{oidc_public}/logout", f"{oidc_public}/revoke")
    # Through the public host, every endpoint is public.
    front = requests.get(provider.discovery_url, headers={"Host": "sso.public.test"}, timeout=10).json()
    assert front["token_endpoint"] == f"{oidc_public}/token"
    # Tokens fetched over the back channel carry the public issuer.
    assert parts(login(provider)["access_token"])[1]["iss"] == f"{public}/realms/testing"


def test_backchannel_dynamic_needs_a_public_url(fresh_idp):
    with pytest.raises(Exception, match="needs --public-url"):
        fresh_idp(extra_args=("--hostname-backchannel-dynamic",), startup_timeout=10)


# 8. Lightweight access tokens (AbstractOIDCProtocolMapper.getShouldUseLightweightToken) ----------


def test_lightweight_access_tokens_and_full_introspection(fresh_idp):
    provider = fresh_idp(extra_args=("--lightweight-access-tokens",))
    token = login(provider)["access_token"]
    assert set(parts(token)[1]) == {"exp", "iat", "jti", "iss", "typ", "azp", "sid", "acr", "scope"}
    answer = post(provider, provider.introspect_url, token=token).json()
    assert answer["active"] is True and answer["preferred_username"] == USERNAME
    assert "user" in answer["realm_access"]["roles"] and answer["email"] == "abdullah@example.com"


# 10. sslRequired (SslRequired.isLocal, TokenEndpoint.checkSsl) ------------------------------------


def test_ssl_required_all_refuses_plain_http(fresh_idp):
    provider = fresh_idp(extra_args=("--ssl-required", "all"))
    assert requests.get(provider.discovery_url, timeout=10).status_code == 200
    answer = post(provider, provider.token_url, grant_type="password", username=USERNAME, password=PASSWORD)
    assert_error_body(answer, 403, "invalid_request", "HTTPS required")


def load_idp_module():
    """The provider's module, imported once (dataclasses need it registered in sys.modules)."""
    name = "mini_keycloak_under_test"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, IDP_SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.mark.parametrize("address, local", [
    ("127.0.0.1", True), ("10.1.2.3", True), ("172.16.0.9", True), ("172.32.0.1", False),
    ("192.168.1.1", True), ("169.254.3.4", True), ("100.64.0.1", False), ("100.127.255.254", False),
    ("8.8.8.8", False), ("::1", True), ("fd12::1", True), ("fe80::1", True), ("2001:db8::1", False),
    ("::ffff:10.0.0.1", True), ("not-an-address", False),
])
def test_external_counts_keycloaks_local_addresses(address, local):
    assert load_idp_module().is_local_address(address) is local


# 11. ID tokens and the RFC 9068 header type ------------------------------------------------------


def test_rfc9068_header_type_option(fresh_idp):
    provider = fresh_idp(extra_args=("--rfc9068-header-type",))
    body = login(provider)
    assert parts(body["access_token"])[0]["typ"] == "at+jwt"
    assert parts(body["id_token"])[0]["typ"] == "JWT"


def test_minted_id_and_refresh_tokens(idp):
    id_header, id_claims = parts(idp.mint(kind="id"))
    assert id_claims["typ"] == "ID" and id_claims["aud"] == CLIENT_ID and "at_hash" in id_claims
    refresh_header, refresh = parts(idp.mint(kind="refresh"))
    assert refresh_header["alg"] == "HS512" and refresh["typ"] == "Refresh"
    assert post(idp, idp.logout_url, refresh_token=idp.mint(kind="refresh")).status_code == 204
