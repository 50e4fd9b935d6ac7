"""DPoP (RFC 9449) at the provider's token endpoint as Keycloak 26.x does it, and the recorded W3C
trace headers (a test control). Each test names the Keycloak source it follows (idp/README.md
"DPoP", idp/KEYCLOAK-SOURCES.md section 26): ``org.keycloak.services.util.DPoPUtil``
(``validateDPoP`` and its checks, ``DpopProtocolMapper``), ``TokenManager`` (refresh binding,
``formatTokenType``), ``AccessToken.Confirmation``, ``OIDCWellKnownProvider``.

Run: python3 -m pytest -q Tests/Integration/idp/test_idp_dpop.py
(the proofs are made here with joserfc: ``make_proof``; the HTTP calls are harness/idp_client.py's)
"""

from __future__ import annotations

import hashlib
import http.client
import json
import time
import uuid
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from joserfc import jws
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

from harness.idp_client import assert_error, client_form, decode, introspect, token_request
from harness.idp_fixture import CLIENT_ID, DOCS_CLIENT_ID, PASSWORD, USERNAME
from harness.jwt import b64url_encode
from harness.jwt import parts as unverified
from idp_browser import Browser, pkce_pair

#: EdDSA proofs are made on purpose (Keycloak accepts them); joserfc warns about the name.
pytestmark = pytest.mark.filterwarnings("ignore::joserfc.errors.SecurityWarning")

DOCS = "http://app.test/docs/oauth2-redirect.html"
#: The asymmetric algorithms of Keycloak's realm, in its provider order (DPoPUtil.getDPoPSupportedAlgorithms).
DPOP_ALGS = ["PS384", "RS384", "EdDSA", "ES384", "ES256", "RS256", "ES512", "PS256", "PS512", "RS512"]
#: A signature that does not verify: TokenVerifier.verifySignature wraps its own exception.
SIGNATURE_FAILURE = ("DPoP verification failure: "
                     "org.keycloak.exceptions.TokenSignatureInvalidException: Invalid token signature")


# Proofs ----------------------------------------------------------------------------------------


def thumbprint(public_jwk: dict) -> str:
    """RFC 7638 SHA-256 thumbprint, computed here independently of joserfc."""
    required = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}
    members = {name: public_jwk[name] for name in required[public_jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return b64url_encode(hashlib.sha256(canonical).digest())


def new_key(alg: str = "ES256"):
    if alg.startswith("ES"):
        return ECKey.generate_key({"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}[alg])
    if alg == "EdDSA":
        return OKPKey.generate_key("Ed25519")
    return RSAKey.generate_key(2048)


def make_proof(key, htu: str, *, htm: str = "POST", alg: str = "ES256", typ: str | None = "dpop+jwt",
               iat: int | None = None, jti: str | None = None, access_token: str | None = None,
               header: dict | None = None, claims: dict | None = None, jwk: dict | None = None,
               signer=None) -> str:
    """A DPoP proof signed by ``key`` (or ``signer``) with its public JWK in the header;
    ``header``/``claims`` values override (None deletes)."""
    protected = {"typ": typ, "alg": alg, "jwk": jwk if jwk is not None else key.as_dict(private=False)}
    payload = {"jti": jti or str(uuid.uuid4()), "htm": htm, "htu": htu,
               "iat": int(time.time()) if iat is None else iat}
    if access_token is not None:
        payload["ath"] = b64url_encode(hashlib.sha256(access_token.encode()).digest())
    protected.update(header or {})
    payload.update(claims or {})
    protected = {k: v for k, v in protected.items() if v is not None}
    payload = {k: v for k, v in payload.items() if v is not None}
    body = json.dumps(payload).encode()
    if protected.get("alg") == "none":
        return f"{b64url_encode(json.dumps(protected).encode())}.{b64url_encode(body)}."
    registry = jws.JWSRegistry(algorithms=[protected["alg"]], strict_check_header=False)
    return jws.serialize_compact(protected, body, signer or key, registry=registry)


def dpop_token(provider, proof: str | None, **form) -> requests.Response:
    """A token request (password grant by default) with a ``DPoP`` header."""
    form = client_form(**({"grant_type": "password", "username": USERNAME, "password": PASSWORD,
                           "scope": "openid"} | form))
    headers = {} if proof is None else {"DPoP": proof}
    return requests.post(provider.token_url, data=form, headers=headers, timeout=10)


def bound_login(provider, key=None, alg="ES256"):
    """A password grant with a fresh proof; answers (key, token body)."""
    key = key or new_key(alg)
    answer = dpop_token(provider, make_proof(key, provider.token_url, alg=alg))
    assert answer.status_code == 200, answer.text
    return key, answer.json()


@pytest.fixture(scope="module")
def idp(make_module_idp):
    return make_module_idp(docs_redirect_uris=[DOCS])


# Discovery: OIDCWellKnownProvider.getConfig ------------------------------------------------------


def test_discovery_lists_the_asymmetric_algorithms_after_tls_client_certificate_bound_access_tokens(idp):
    doc = requests.get(idp.discovery_url, timeout=10).json()
    assert doc["dpop_signing_alg_values_supported"] == DPOP_ALGS
    names = list(doc)
    assert names[names.index("tls_client_certificate_bound_access_tokens") + 1] == "dpop_signing_alg_values_supported"


# Binding: DpopProtocolMapper, AccessToken.Confirmation, TokenManager.formatTokenType -------------


def test_a_proof_binds_the_access_token_with_jkt_and_kc_jkt_type_and_token_type_dpop(idp):
    key, body = bound_login(idp)
    assert body["token_type"] == "DPoP"
    _, claims = decode(body["access_token"], idp)
    assert claims["typ"] == "DPoP"
    assert claims["cnf"] == {"jkt": thumbprint(key.as_dict(private=False)), "kc-jkt-type": "DPoP"}
    names = list(claims)
    assert names[names.index("cnf") + 1] == "scope"  # AccessToken's field order: cnf, scope
    _, id_claims = decode(body["id_token"], idp)
    assert "cnf" not in id_claims and id_claims["typ"] == "ID"
    # A confidential client's refresh token is not bound (RFC 9449 section 5; getConfirmation).
    assert "cnf" not in unverified(body["refresh_token"])[1]


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES384", "EdDSA"])
def test_every_asymmetric_algorithm_binds_to_the_rfc7638_thumbprint(idp, alg):
    key, body = bound_login(idp, alg=alg)
    assert unverified(body["access_token"])[1]["cnf"]["jkt"] == thumbprint(key.as_dict(private=False))


def test_without_a_dpop_header_nothing_changes(idp):
    answer = dpop_token(idp, None)
    assert answer.status_code == 200
    assert answer.json()["token_type"] == "Bearer"
    claims = unverified(answer.json()["access_token"])[1]
    assert claims["typ"] == "Bearer" and "cnf" not in claims


def test_introspection_shows_cnf_and_token_type_dpop(idp):
    key, body = bound_login(idp)
    answer = introspect(idp, body["access_token"])
    assert answer["active"] is True and answer["token_type"] == "DPoP"
    assert answer["cnf"]["jkt"] == thumbprint(key.as_dict(private=False))


def test_the_proof_may_name_the_token_endpoint_with_a_query_and_other_case(idp):
    """DPoPUtil.normalize drops the query; java.net.URI.equals ignores the case of scheme and host."""
    upper = idp.token_url.replace("http://127.0.0.1", "HTTP://127.0.0.1") + "?x=1"
    answer = dpop_token(idp, make_proof(new_key(), upper))
    assert answer.status_code == 200, answer.text


# Refusals: DPoPUtil.validateDPoP, handleDPoPHeader (400 invalid_request since Keycloak 26.1) -----


def refused(provider, proof: str, description: str, error: str = "invalid_request") -> None:
    assert_error(dpop_token(provider, proof), 400, error, description)


def test_an_empty_header_is_a_missing_proof(idp):
    refused(idp, "", "DPoP proof is missing")


@pytest.mark.parametrize("proof", ["not-a-jwt", "a.b.c", "e30.e30.@@", "W10.e30.e30"])
def test_what_is_not_a_jws_fails_to_parse(idp, proof):
    refused(idp, proof, "DPoP header verification failure")


@pytest.mark.parametrize("typ, shown", [("JWT", "JWT"), ("DPoP+JWT", "DPoP+JWT"), (None, "null")])
def test_typ_must_be_exactly_dpop_jwt(idp, typ, shown):
    refused(idp, make_proof(new_key(), idp.token_url, typ=typ), f"Invalid or missing type in DPoP header: {shown}")


def test_alg_none_and_hmac_are_unsupported(idp):
    key = new_key()
    refused(idp, make_proof(key, idp.token_url, alg="none"), "Unsupported DPoP algorithm: none")
    secret = OctKey.generate_key(256)
    refused(idp, make_proof(key, idp.token_url, alg="HS256", signer=secret), "Unsupported DPoP algorithm: HS256")


def test_an_unknown_alg_fails_to_parse_and_a_missing_one_is_named(idp):
    key = new_key()
    refused(idp, _unsigned(key, {"typ": "dpop+jwt", "alg": "XX999"}, idp.token_url), "DPoP header verification failure")
    refused(idp, _unsigned(key, {"typ": "dpop+jwt"}, idp.token_url), "No alg in DPoP header")


def _unsigned(key, protected: dict, htu: str) -> str:
    protected = {**protected, "jwk": key.as_dict(private=False)}
    payload = {"jti": str(uuid.uuid4()), "htm": "POST", "htu": htu, "iat": int(time.time())}
    return f"{b64url_encode(json.dumps(protected).encode())}.{b64url_encode(json.dumps(payload).encode())}.AAAA"


def test_the_jwk_must_be_there_and_of_a_known_type(idp):
    key = new_key()
    refused(idp, make_proof(key, idp.token_url, header={"jwk": None}), "No JWK in DPoP header")
    refused(idp, make_proof(key, idp.token_url, jwk={"kty": "oct", "k": "c2VjcmV0"}),
            "Unsupported key type in DPoP header")


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_a_jwk_with_private_members_is_refused(idp, alg):
    key = new_key(alg)
    refused(idp, make_proof(key, idp.token_url, alg=alg, jwk=key.as_dict(private=True)),
            "Private key material must not be present in DPoP JWK")


def test_a_proof_signed_by_another_key_fails_its_signature(idp):
    key, other = new_key(), new_key()
    refused(idp, make_proof(key, idp.token_url, signer=other), SIGNATURE_FAILURE)


@pytest.mark.parametrize("claim", ["jti", "htm", "htu", "iat"])
def test_each_mandatory_claim(idp, claim):
    refused(idp, make_proof(new_key(), idp.token_url, claims={claim: None}), "DPoP mandatory claims are missing")


def test_htm_must_be_the_method(idp):
    refused(idp, make_proof(new_key(), idp.token_url, htm="GET"), "DPoP HTTP method mismatch")
    refused(idp, make_proof(new_key(), idp.token_url, htm="post"), "DPoP HTTP method mismatch")


@pytest.mark.parametrize("suffix", ["/", "x", "/../token"])
def test_htu_must_be_the_token_endpoint(idp, suffix):
    refused(idp, make_proof(new_key(), idp.token_url + suffix), "DPoP HTTP URL mismatch")


def test_htu_of_another_endpoint_or_host(idp):
    refused(idp, make_proof(new_key(), idp.userinfo_url), "DPoP HTTP URL mismatch")
    refused(idp, make_proof(new_key(), idp.token_url.replace("127.0.0.1", "localhost")), "DPoP HTTP URL mismatch")
    refused(idp, make_proof(new_key(), "http://127.0.0.1/a b"), "Malformed HTTP URL in DPoP proof")


@pytest.mark.parametrize("age", [-60, -27, 17, 60, -3600])
def test_iat_outside_lifetime_10_plus_skew_15_is_not_active(idp, age):
    refused(idp, make_proof(new_key(), idp.token_url, iat=int(time.time()) + age), "DPoP proof is not active")


@pytest.mark.parametrize("age", [-20, -5, 0, 10])
def test_iat_within_the_window_passes(idp, age):
    answer = dpop_token(idp, make_proof(new_key(), idp.token_url, iat=int(time.time()) + age))
    assert answer.status_code == 200, answer.text


def test_a_proof_is_single_use(idp):
    proof = make_proof(new_key(), idp.token_url)
    assert dpop_token(idp, proof).status_code == 200
    refused(idp, proof, "DPoP proof has already been used")


def test_the_replay_key_is_jti_and_htu(idp):
    key, jti = new_key(), str(uuid.uuid4())
    assert dpop_token(idp, make_proof(key, idp.token_url, jti=jti)).status_code == 200
    refused(idp, make_proof(key, idp.token_url, jti=jti), "DPoP proof has already been used")
    # Another key, same jti and htu: still the same single-use entry.
    refused(idp, make_proof(new_key(), idp.token_url, jti=jti), "DPoP proof has already been used")


def test_two_dpop_headers_are_joined_and_fail_to_parse(idp):
    """JAX-RS getHeaderString joins repeated fields with ','."""
    target = urlsplit(idp.token_url)
    body = urlencode(client_form(grant_type="password", username=USERNAME, password=PASSWORD))
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
    try:
        connection.putrequest("POST", target.path)
        connection.putheader("Content-Type", "application/x-www-form-urlencoded")
        connection.putheader("Content-Length", str(len(body)))
        connection.putheader("DPoP", make_proof(new_key(), idp.token_url))
        connection.putheader("DPoP", make_proof(new_key(), idp.token_url))
        connection.endheaders(body.encode())
        answer = connection.getresponse()
        assert (answer.status, json.loads(answer.read())) == (400, {
            "error": "invalid_request", "error_description": "DPoP header verification failure"})
    finally:
        connection.close()


def test_a_refusal_carries_cors_headers_for_the_clients_origin(idp):
    """CorsErrorResponseException(cors, ...): the client's web origin gets its CORS headers."""
    answer = requests.post(idp.token_url, data=client_form(grant_type="password", username=USERNAME,
                                                           password=PASSWORD),
                           headers={"DPoP": "", "Origin": "http://localhost:8000"}, timeout=10)
    assert answer.status_code == 400
    assert answer.headers["Access-Control-Allow-Origin"] == "http://localhost:8000"


def test_a_refused_proof_is_not_remembered(idp):
    """The replay check runs after the other checks: a proof refused earlier leaves no entry."""
    key, jti = new_key(), str(uuid.uuid4())
    refused(idp, make_proof(key, idp.token_url, jti=jti, htm="GET"), "DPoP HTTP method mismatch")
    assert dpop_token(idp, make_proof(key, idp.token_url, jti=jti)).status_code == 200


def test_the_proof_is_checked_after_client_authentication_and_before_the_grant(idp):
    """TokenEndpoint.processGrantRequest: checkClient, then handleDPoPHeader, then the grant."""
    answer = requests.post(idp.token_url, data={"grant_type": "password", "client_id": CLIENT_ID,
                                                "client_secret": "wrong", "username": USERNAME,
                                                "password": PASSWORD}, headers={"DPoP": "garbage"}, timeout=10)
    assert answer.status_code == 401 and answer.json()["error"] == "unauthorized_client"
    refused(idp, "garbage", "DPoP header verification failure")  # before a wrong password is seen
    answer = dpop_token(idp, "garbage", password="wrong")
    assert answer.json()["error_description"] == "DPoP header verification failure"


def test_a_malformed_key_is_keycloaks_unhandled_error(idp):
    """keycloak#49440: JWKParser's RuntimeException escapes handleDPoPHeader: 500 unknown_error."""
    key = new_key()
    bad = {**key.as_dict(private=False), "x": b64url_encode(b"\x01" * 32)}
    answer = dpop_token(idp, make_proof(key, idp.token_url, jwk=bad))
    assert (answer.status_code, answer.json()) == (500, {"error": "unknown_error"})


# Refresh: TokenManager.verifyRefreshToken, AccessTokenResponseBuilder.getConfirmation ------------


def test_a_confidential_clients_refresh_needs_no_proof_and_binds_to_the_new_one(idp):
    _, body = bound_login(idp)
    plain = token_request(idp, grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert plain.status_code == 200 and plain.json()["token_type"] == "Bearer"
    assert "cnf" not in unverified(plain.json()["access_token"])[1]
    other = new_key()
    again = dpop_token(idp, make_proof(other, idp.token_url), grant_type="refresh_token",
                       refresh_token=plain.json()["refresh_token"])
    assert again.status_code == 200 and again.json()["token_type"] == "DPoP"
    assert unverified(again.json()["access_token"])[1]["cnf"]["jkt"] == thumbprint(other.as_dict(private=False))


def public_code_flow(provider, proof: str | None):
    """The Swagger client's code flow, its code exchanged with ``proof`` as the DPoP header."""
    verifier, challenge = pkce_pair()
    redirect = Browser(provider).login(DOCS_CLIENT_ID, DOCS, code_challenge=challenge,
                                       code_challenge_method="S256")
    form = {"grant_type": "authorization_code", "code": redirect["code"], "redirect_uri": DOCS,
            "code_verifier": verifier, "client_id": DOCS_CLIENT_ID}
    headers = {} if proof is None else {"DPoP": proof}
    return requests.post(provider.token_url, data=form, headers=headers, timeout=15)


def public_refresh(provider, refresh_token: str, proof: str | None) -> requests.Response:
    headers = {} if proof is None else {"DPoP": proof}
    return requests.post(provider.token_url, data={"grant_type": "refresh_token", "refresh_token": refresh_token,
                                                   "client_id": DOCS_CLIENT_ID}, headers=headers, timeout=10)


def test_a_public_clients_refresh_token_is_bound_and_needs_a_proof_of_the_same_key(idp):
    key = new_key()
    answer = public_code_flow(idp, make_proof(key, idp.token_url))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    jkt = thumbprint(key.as_dict(private=False))
    assert body["token_type"] == "DPoP"
    refresh_claims = unverified(body["refresh_token"])[1]
    assert refresh_claims["cnf"] == {"jkt": jkt, "kc-jkt-type": "DPoP"}
    assert list(refresh_claims)[-2:] == ["cnf", "scope"]
    assert_error(public_refresh(idp, body["refresh_token"], None), 400, "invalid_grant", "DPoP proof is missing")
    assert_error(public_refresh(idp, body["refresh_token"], make_proof(new_key(), idp.token_url)), 400,
                 "invalid_grant", "DPoP confirmation doesn't match DPoP proof")
    refreshed = public_refresh(idp, body["refresh_token"], make_proof(key, idp.token_url))
    assert refreshed.status_code == 200, refreshed.text
    assert unverified(refreshed.json()["access_token"])[1]["cnf"]["jkt"] == jkt
    assert unverified(refreshed.json()["refresh_token"])[1]["cnf"]["jkt"] == jkt


def test_a_public_clients_code_exchange_without_proof_stays_bearer(idp):
    answer = public_code_flow(idp, None)
    assert answer.status_code == 200 and answer.json()["token_type"] == "Bearer"
    assert "cnf" not in unverified(answer.json()["refresh_token"])[1]


# Userinfo: UserInfoEndpoint with DPoPUtil.withDPoPVerifier --------------------------------------


def test_userinfo_wants_the_dpop_scheme_a_proof_with_ath_and_the_bound_key(idp):
    key, body = bound_login(idp)
    token = body["access_token"]

    def call(scheme: str, proof: str | None) -> requests.Response:
        headers = {"Authorization": f"{scheme} {token}"} | ({} if proof is None else {"DPoP": proof})
        return requests.get(idp.userinfo_url, headers=headers, timeout=10)

    ok = call("DPoP", make_proof(key, idp.userinfo_url, htm="GET", access_token=token))
    assert ok.status_code == 200, ok.text
    failed = {"error": "invalid_token", "error_description": "Token verification failed"}
    for scheme, proof in [
        ("Bearer", None),
        ("DPoP", None),
        ("DPoP", make_proof(key, idp.userinfo_url, htm="GET")),                                 # no ath
        ("DPoP", make_proof(new_key(), idp.userinfo_url, htm="GET", access_token=token)),       # other key
        ("DPoP", make_proof(key, idp.token_url, htm="GET", access_token=token)),                # other htu
    ]:
        answer = call(scheme, proof)
        assert (answer.status_code, answer.json()) == (401, failed), (scheme, proof)
    plain = dpop_token(idp, None).json()["access_token"]
    answer = requests.get(idp.userinfo_url, headers={"Authorization": f"DPoP {plain}"}, timeout=10)
    assert answer.status_code == 401  # "The access token type is not DPoP but Authorization Header is DPoP"


# Options: older Keycloak versions, other client settings ------------------------------------------


def test_keycloak_before_26_1_answers_invalid_dpop_proof(make_idp):
    provider = make_idp(extra_args=("--dpop-error", "invalid_dpop_proof"))
    refused(provider, make_proof(new_key(), provider.token_url, htm="GET"), "DPoP HTTP method mismatch",
            error="invalid_dpop_proof")


def test_keycloak_before_26_7_has_no_kc_jkt_type(make_idp):
    provider = make_idp(extra_args=("--no-dpop-jkt-type",))
    key, body = bound_login(provider)
    assert unverified(body["access_token"])[1]["cnf"] == {"jkt": thumbprint(key.as_dict(private=False))}


def test_without_the_dpop_feature_the_header_is_ignored(make_idp):
    provider = make_idp(extra_args=("--no-dpop",))
    answer = dpop_token(provider, "garbage")
    assert answer.status_code == 200 and answer.json()["token_type"] == "Bearer"
    assert "dpop_signing_alg_values_supported" not in requests.get(provider.discovery_url, timeout=10).json()


def test_lower_case_bearer_lowers_token_type_but_not_typ(make_idp):
    provider = make_idp(extra_args=("--lower-case-bearer",))
    _, body = bound_login(provider)
    assert body["token_type"] == "dpop"
    assert unverified(body["access_token"])[1]["typ"] == "DPoP"


def test_a_lightweight_token_is_bound_too(make_idp):
    provider = make_idp(extra_args=("--lightweight-access-tokens",))
    _, body = bound_login(provider)
    claims = unverified(body["access_token"])[1]
    assert list(claims)[-2:] == ["cnf", "scope"] and claims["typ"] == "DPoP"


def test_public_url_is_the_htu(make_idp):
    provider = make_idp(public_url="https://kc.example.test")
    public = f"{provider.issuer}/protocol/openid-connect/token"
    assert public.startswith("https://kc.example.test/")
    # sslRequired external: the loopback caller may use http; the proof names the front-end URL.
    answer = requests.post(provider.local_url + public[len("https://kc.example.test"):],
                           data=client_form(grant_type="password", username=USERNAME, password=PASSWORD),
                           headers={"DPoP": make_proof(new_key(), public)}, timeout=10)
    assert answer.status_code == 200, answer.text
    local = provider.local_url + public[len("https://kc.example.test"):]
    refused_answer = requests.post(local, data=client_form(grant_type="password", username=USERNAME,
                                                           password=PASSWORD),
                                   headers={"DPoP": make_proof(new_key(), local)}, timeout=10)
    assert_error(refused_answer, 400, "invalid_request", "DPoP HTTP URL mismatch")


# Trace context recorded per endpoint (test control, not Keycloak) ---------------------------------


PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_trace_headers_are_recorded_per_endpoint(fresh_idp):
    provider = fresh_idp()
    requests.post(provider.token_url, data=client_form(grant_type="password", username=USERNAME, password=PASSWORD),
                  headers={"traceparent": PARENT, "tracestate": "congo=t61rcWkgMzE"}, timeout=10)
    requests.get(provider.certs_url, timeout=10)
    seen = provider.admin("traceparents")
    assert set(seen) >= {"discovery", "certs", "token", "userinfo", "introspect", "logout", "revoke", "auth"}
    token_path = provider.token_url[len(provider.local_url):]
    assert seen["token"] == [{"method": "POST", "path": token_path, "traceparent": PARENT,
                              "tracestate": "congo=t61rcWkgMzE"}]
    assert [(e["traceparent"], e["tracestate"]) for e in seen["certs"]] == [(None, None)]
    assert seen["userinfo"] == []
    assert provider.admin("traceparents/reset", {})["token"] == []
    assert provider.admin("traceparents")["token"] == []


def test_only_the_last_100_per_endpoint_are_kept(fresh_idp):
    provider = fresh_idp()
    with requests.Session() as http:
        for index in range(105):
            http.get(provider.certs_url, headers={"traceparent": f"00-{index + 1:032x}-{1:016x}-01"}, timeout=10)
    certs = provider.admin("traceparents")["certs"]
    assert len(certs) == 100
    assert certs[0]["traceparent"] == f"00-{6:032x}-{1:016x}-01" and certs[-1]["traceparent"].startswith(f"00-{105:032x}")
