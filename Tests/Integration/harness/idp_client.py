"""Plain HTTP calls to the test identity provider (``harness.idp_fixture.IdentityProvider``), as a
client of Keycloak's endpoints makes them: the tests of the provider itself (idp/) use these.

    body = login(idp)                                  # password grant, scope openid
    header, claims = decode(body["access_token"], idp) # verified with the JWKS key of its kid
    assert_error(answer, 401, "invalid_grant", "Invalid user credentials")
"""

from __future__ import annotations

import json

import requests
from joserfc import jws
from joserfc.jwk import KeySet

from .idp_fixture import CLIENT_ID, CLIENT_SECRET, PASSWORD, USERNAME, IdentityProvider
from .jwt import header_of

#: The seed user's id (idp/users.json).
ABDULLAH_ID = "abdab22d-91b1-4c1a-b7b3-9283e17597cd"
#: alice's password: characters that must be form-encoded.
ALICE_PASSWORD = "p&ss+w%rd é#1"
INVALID_CLIENT = "Invalid client or Invalid client credentials"
TOKEN_FAILED = {"error": "invalid_token", "error_description": "Token verification failed"}
TOKEN_FAILED_CHALLENGE = (
    'Bearer realm="testing", error="invalid_token", error_description="Token verification failed"'
)
SESSION_GONE = "User session not found or doesn't have client attached on it"


def client_form(**form) -> dict:
    """`form` with the client's credentials (client_secret_post)."""
    return {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **form}


def token_request(provider: IdentityProvider, *, auth=None, **form) -> requests.Response:
    """POST to the token endpoint; the client's credentials in the form unless `auth` (Basic) is given."""
    if auth is None:
        form = client_form(**form)
    return requests.post(provider.token_url, data=form, auth=auth, timeout=10)


def login(provider: IdentityProvider, username=USERNAME, password=PASSWORD, scope="openid") -> dict:
    """The token response of a password grant, which must succeed."""
    answer = token_request(provider, grant_type="password", username=username, password=password, scope=scope)
    assert answer.status_code == 200, answer.text
    return answer.json()


def post(provider: IdentityProvider, url: str, **form) -> requests.Response:
    """POST `form` with the client's credentials to any endpoint of the provider."""
    return requests.post(url, data=client_form(**form), timeout=10)


def jwks(provider: IdentityProvider) -> dict:
    return requests.get(provider.certs_url, timeout=10).json()


def decode(token: str, provider: IdentityProvider) -> tuple[dict, dict]:
    """Header and claims of a token, after verifying it with the JWKS key named by its kid."""
    header = header_of(token)
    keys = KeySet.import_key_set({"keys": [k for k in jwks(provider)["keys"] if k["use"] == "sig"]})
    obj = jws.deserialize_compact(token, keys.get_by_kid(header["kid"]), algorithms=[header["alg"]])
    return obj.headers(), json.loads(obj.payload)


def userinfo(provider: IdentityProvider, token: str | None, method="GET") -> requests.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return requests.request(method, provider.userinfo_url, headers=headers, timeout=10)


def userinfo_rejects(provider: IdentityProvider, token: str | None) -> None:
    """The userinfo endpoint refuses `token` as Keycloak does: 401, its body and challenge."""
    answer = userinfo(provider, token)
    assert (answer.status_code, answer.json()) == (401, TOKEN_FAILED)
    assert answer.headers["WWW-Authenticate"] == TOKEN_FAILED_CHALLENGE


def introspect(provider: IdentityProvider, token: str) -> dict:
    answer = requests.post(provider.introspect_url, data=client_form(token=token), timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def assert_error_body(answer: requests.Response, status: int, error: str, description: str) -> None:
    """An OAuth error answer: the status and exactly Keycloak's two fields."""
    assert (answer.status_code, answer.json()) == (status, {"error": error, "error_description": description})


def assert_error(answer: requests.Response, status: int, error: str, description: str) -> None:
    """`assert_error_body`, and the answer says it is JSON."""
    assert_error_body(answer, status, error, description)
    assert answer.headers["Content-Type"] == "application/json"
