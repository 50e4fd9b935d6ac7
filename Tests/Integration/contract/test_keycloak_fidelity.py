"""What Keycloak 26 does that the product must meet, through real nginx and the responder
(issue 9). The local provider plays Keycloak as its source shows (idp/README.md's table);
idp/test_idp_keycloak.py checks the provider itself.
"""

from __future__ import annotations

import time

import pytest
import requests

from harness.idp_fixture import CLIENT_ID, CLIENT_SECRET, IdentityProvider
from harness.jwt import claims_of

COULD_NOT_VALIDATE = {"detail": "Could not validate credentials"}
BAD_REFRESH = {"detail": "Invalid or expired refresh token"}


def tokens(stack, username="abdullah", password="Test#123456") -> dict:
    answer = stack.login(username, password)
    assert answer.status_code == 200, answer.text
    return answer.json()


def logged(stack, *needles: str) -> str:
    """The first log line holding every needle, once the responder wrote it (it logs a request
    after the answer has gone out, so a test can read the log before the line is there)."""
    found: list[str] = []

    def present() -> bool:
        found[:] = [line for line in stack.responder_log().splitlines() if all(needle in line for needle in needles)]
        return bool(found)

    stack.wait_until(present, f"a log line with {needles}", timeout=10)
    return found[0]


def log_lines(stack, needle: str) -> list[str]:
    return [line for line in stack.responder_log().splitlines() if needle in line]


# 1. Logout is idempotent; only forged, foreign or mistyped refresh tokens are 401 ------------------


@pytest.mark.parametrize("mode", ["jwks", "introspect"])
def test_a_repeated_logout_is_204(make_idp, make_stack, mode):
    stack = make_stack(make_idp(), env={"AUTH_VERIFY": mode})
    issued = tokens(stack)
    bearer = {"Authorization": f"Bearer {issued['access_token']}"}
    for attempt in ("first", "again"):
        answer = stack.post("/logout", data={"refresh_token": issued["refresh_token"]}, headers=bearer)
        assert answer.status_code == 204, f"{attempt}: {answer.status_code} {answer.text}"
    # Without the bearer too.
    assert stack.post("/logout", data={"refresh_token": issued["refresh_token"]}).status_code == 204
    # The session is really gone.
    assert stack.post("/refresh", data={"refresh_token": issued["refresh_token"]}).status_code == 401


def test_logout_with_an_expired_refresh_token_still_ends_the_session(make_idp, make_stack):
    idp = make_idp()
    stack = make_stack(idp)
    issued = tokens(stack)
    expired = idp.mint(kind="refresh", claims={"sid": claims_of(issued["access_token"])["sid"],
                                                "exp": int(time.time()) - 60})
    assert stack.post("/logout", data={"refresh_token": expired}).status_code == 204
    assert stack.post("/refresh", data={"refresh_token": issued["refresh_token"]}).status_code == 401


def test_logout_refuses_forged_foreign_and_mistyped_refresh_tokens(make_idp, make_stack):
    idp = make_idp()
    stack = make_stack(idp)
    issued = tokens(stack)
    refused = {
        "forged": issued["refresh_token"][:-4] + "AAAA",
        "another client's": idp.mint(kind="refresh", claims={"azp": "other-app"}),
        "an access token": issued["access_token"],
        "another realm's": idp.mint(kind="refresh", claims={"iss": "http://127.0.0.1:1/realms/other"}),
    }
    for case, token in refused.items():
        answer = stack.post("/logout", data={"refresh_token": token})
        assert (answer.status_code, answer.json()) == (401, BAD_REFRESH), case
    # None of them touched the live session.
    assert stack.post("/refresh", data={"refresh_token": issued["refresh_token"]}).status_code == 200


# 2. Introspection's 400 on a token it cannot introspect is a verdict, not a provider failure -----


def test_failed_introspection_is_401_not_502_and_not_an_error_log_line(make_idp, make_stack):
    idp = make_idp()
    stack = make_stack(idp, env={"AUTH_VERIFY": "introspect"})
    token = tokens(stack)["access_token"]
    idp.fault("introspect", "introspection_failure")
    answer = stack.protected(token)
    assert (answer.status_code, answer.json()) == (401, COULD_NOT_VALIDATE)
    assert answer.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    logged(stack, "path=/protected", "http.status=401")
    assert not [line for line in log_lines(stack, "path=/protected") if " error " in line]
    # A provider that really fails is still 502.
    idp.fault("introspect", "status500")
    assert stack.protected(tokens(stack)["access_token"]).status_code == 502


# 12. An introspection answer without iss (RFC 7662 §2.2: optional) ---------------------------------


def test_an_introspection_answer_without_iss_is_accepted(make_idp, make_stack):
    idp = make_idp()
    stack = make_stack(idp, env={"AUTH_VERIFY": "introspect"})
    idp.fault("introspect", "introspection_without_iss")
    answer = stack.protected(tokens(stack)["access_token"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["preferred_username"] == "abdullah"


# 3. and 4. aud and role order as Keycloak sets them -----------------------------------------------


@pytest.mark.parametrize("mode", ["jwks", "introspect", "userinfo"])
def test_roles_are_sorted_whatever_the_token_order(make_idp, make_stack, mode):
    stack = make_stack(make_idp(), env={"AUTH_VERIFY": mode})
    token = tokens(stack, "alice", "p&ss+w%rd é#1")["access_token"]
    realm_in_token = claims_of(token)["realm_access"]["roles"]
    assert realm_in_token != sorted(realm_in_token)
    roles = stack.protected(token).json()["roles"]
    realm = [role for role in roles if ":" not in role]
    clients = [role for role in roles if ":" in role]
    assert realm == sorted(realm_in_token) and clients == sorted(clients)
    assert roles == realm + clients
    gate = stack.get("/auth", headers={"Authorization": f"Bearer {token}"})
    assert gate.status_code == 204 and gate.headers["X-Auth-Roles"] == ",".join(roles)


def test_a_user_imported_without_default_roles(make_idp, make_stack):
    """A realm-file user has no default-roles-testing, hence no account roles and, without the
    client's Audience mapper, no aud at all: the audience check still passes through azp."""
    stack = make_stack(make_idp(extra_args=("--no-client-audience-mapper",)), env={"AUTH_AUDIENCE": CLIENT_ID})
    token = tokens(stack, "imported", "Imported#1")["access_token"]
    assert "aud" not in claims_of(token)
    answer = stack.protected(token)
    assert answer.status_code == 200, answer.text
    assert answer.json()["roles"] == ["user", "fastapi-keycloak:reader"]


# 5. typ "bearer" in lower case (client option) ----------------------------------------------------


@pytest.mark.parametrize("mode", ["jwks", "introspect", "userinfo"])
def test_lower_case_bearer_tokens_pass(make_idp, make_stack, mode):
    stack = make_stack(make_idp(extra_args=("--lower-case-bearer",)), env={"AUTH_VERIFY": mode})
    token = tokens(stack)["access_token"]
    assert claims_of(token)["typ"] == "bearer"
    assert stack.protected(token).status_code == 200


# 6. Back-channel discovery URL ≠ public issuer ------------------------------------------------------


def test_discovery_over_the_back_channel_with_a_public_issuer(make_idp, make_stack):
    """Keycloak with hostname v2 and hostname-backchannel-dynamic: the issuer is the public URL
    (unreachable from here, as from a pod), the back channel is the local one."""
    public = "https://sso.public.test"
    idp = make_idp(public_url=public, extra_args=("--hostname-backchannel-dynamic",))
    env = {"KEYCLOAK_SERVER_URL": None, "KEYCLOAK_REALM": None, "KEYCLOAK_ISSUER": f"{public}/realms/testing",
           "KEYCLOAK_DISCOVERY_URL": idp.discovery_url}
    stack = make_stack(idp, env=env)
    token = tokens(stack)["access_token"]
    assert claims_of(token)["iss"] == f"{public}/realms/testing"
    assert stack.protected(token).status_code == 200
    assert requests.get(stack.internal_url("/readyz"), timeout=10).status_code == 200


def test_without_the_discovery_url_the_public_issuer_is_unreachable(make_idp, make_stack):
    public = "https://sso.public.test"
    idp = make_idp(public_url=public, extra_args=("--hostname-backchannel-dynamic",))
    env = {"KEYCLOAK_SERVER_URL": None, "KEYCLOAK_REALM": None, "KEYCLOAK_ISSUER": f"{public}/realms/testing",
           "KEYCLOAK_CONNECT_TIMEOUT_SECONDS": "0.5"}
    stack = make_stack(idp, env=env, wait_for_keys=False)
    assert stack.login("abdullah", "Test#123456").status_code == 503


def test_a_discovery_document_naming_another_issuer_is_refused(make_idp, make_stack):
    idp = make_idp(public_url="https://sso.public.test", extra_args=("--hostname-backchannel-dynamic",))
    env = {"KEYCLOAK_SERVER_URL": None, "KEYCLOAK_REALM": None,
           "KEYCLOAK_ISSUER": "https://sso.elsewhere.test/realms/testing", "KEYCLOAK_DISCOVERY_URL": idp.discovery_url}
    stack = make_stack(idp, env=env, wait_for_keys=False)
    stack.wait_until(lambda: "expected https://sso.elsewhere.test/realms/testing" in stack.responder_log(),
                     "the responder to refuse the discovery document")
    assert requests.get(stack.internal_url("/readyz"), timeout=10).status_code == 503


# 8. Lightweight access tokens ---------------------------------------------------------------------


def test_lightweight_tokens_need_introspection(make_idp, make_stack):
    idp = make_idp(extra_args=("--lightweight-access-tokens",))
    local = make_stack(idp, name="jwks")
    token = tokens(local)["access_token"]
    refused = local.protected(token)
    assert (refused.status_code, refused.json()) == (401, COULD_NOT_VALIDATE)
    assert "lightweight access token" in refused.headers["WWW-Authenticate"]
    logged(local, "path=/protected", "AUTH_VERIFY=introspect")
    introspecting = make_stack(idp, name="introspect", env={"AUTH_VERIFY": "introspect"})
    answer = introspecting.protected(token)
    assert answer.status_code == 200, answer.text
    assert answer.json()["preferred_username"] == "abdullah" and "user" in answer.json()["roles"]


# 10. sslRequired refuses plain HTTP: the log names the cause and the fix ---------------------------


def test_https_required_is_logged_with_its_fix(make_idp, make_stack):
    stack = make_stack(make_idp(extra_args=("--ssl-required", "all")))
    answer = stack.login("abdullah", "Test#123456")
    assert answer.status_code == 502
    line = logged(stack, "path=/login", "HTTPS required")
    assert "Require SSL" in line and "https://" in line


# 11. ID tokens and RFC 9068 access tokens -----------------------------------------------------------


def test_id_tokens_without_typ_are_refused(make_idp, make_stack):
    """Another provider's ID token carries no typ: nonce or at_hash gives it away."""
    idp = make_idp()
    stack = make_stack(idp)
    assert stack.protected(idp.mint(kind="id")).status_code == 401
    for markers in ({"typ": None}, {"typ": None, "at_hash": None, "nonce": "n-0S6_WzA2Mj"}):
        token = idp.mint(kind="id", claims={"aud": "account", **markers})
        answer = stack.protected(token)
        assert (answer.status_code, answer.json()) == (401, COULD_NOT_VALIDATE), markers
    # An access token without typ and without those markers still passes (typ is optional).
    assert stack.protected(idp.mint(claims={"typ": None})).status_code == 200


def test_at_jwt_required_when_the_provider_marks_access_tokens(make_idp, make_stack):
    idp = make_idp(extra_args=("--rfc9068-header-type",))
    stack = make_stack(idp, env={"AUTH_REQUIRE_AT_JWT": "true"})
    assert stack.protected(tokens(stack)["access_token"]).status_code == 200
    assert stack.protected(idp.mint(header={"typ": "JWT"})).status_code == 401
    assert stack.protected(idp.mint(kind="id")).status_code == 401


# Several realms ------------------------------------------------------------------------------------


def realm_b_token(realm_b: IdentityProvider) -> str:
    answer = requests.post(realm_b.token_url, timeout=10, data={
        "grant_type": "password", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "username": "abdullah", "password": "Test#123456", "scope": "openid"})
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def test_several_realms(make_idp, make_stack):
    realm_a = make_idp()
    realm_b = make_idp(realm="tenant-b")
    stack = make_stack(realm_a, env={"AUTH_EXTRA_ISSUERS": realm_b.issuer})
    stack.wait_until(lambda: requests.get(stack.internal_url("/readyz"), timeout=5).json()
                     .get("issuers", {}).get(realm_b.issuer, {}).get("keys") == "ok", "realm B's keys")

    # A token of each realm passes.
    assert stack.protected(tokens(stack)["access_token"]).status_code == 200
    first_b, second_b = realm_b_token(realm_b), realm_b_token(realm_b)
    assert stack.protected(first_b).status_code == 200

    # Realm B's issuer, signed with realm A's key; an issuer not on the list: no key lookup.
    realm_a.reset_stats()
    realm_b.reset_stats()
    assert stack.protected(realm_a.mint(claims={"iss": "http://127.0.0.1:1/realms/tenant-c"})).status_code == 401
    assert realm_a.stats()["certs"] == 0 and realm_b.stats()["certs"] == 0
    assert stack.protected(realm_a.mint(claims={"iss": realm_b.issuer})).status_code == 401
    assert realm_a.stats()["certs"] == 0, "realm A's keys were never asked about realm B's token"

    # Readiness and metrics per issuer.
    ready = requests.get(stack.internal_url("/readyz"), timeout=10).json()
    assert ready["status"] == "ready" and ready["issuers"][realm_b.issuer]["keys"] == "ok"
    metrics = requests.get(stack.internal_url("/metrics"), timeout=10).text
    assert f'issuer="{realm_b.issuer}"' in metrics and f'issuer="{realm_a.issuer}"' in metrics

    # Realm B down: its cached keys still serve its tokens, and realm A is unaffected.
    realm_b.stop()
    assert stack.protected(second_b).status_code == 200
    assert stack.protected(tokens(stack)["access_token"]).status_code == 200
    assert requests.get(stack.internal_url("/readyz"), timeout=10).status_code == 200
