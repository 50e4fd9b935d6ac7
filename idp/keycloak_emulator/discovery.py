"""Keycloak's OpenID Connect discovery document (``.well-known/openid-configuration``)."""

from __future__ import annotations

from typing import Any


#: Keycloak's ``id_token_signing_alg_values_supported``, in Keycloak's order.
KEYCLOAK_SIGNING_ALGORITHMS = [
    "PS384", "RS384", "EdDSA", "ES384", "HS256", "HS512", "ES256",
    "RS256", "HS384", "ES512", "PS256", "PS512", "RS512",
]
CLIENT_AUTH_METHODS = [
    "private_key_jwt", "client_secret_basic", "client_secret_post",
    "tls_client_auth", "client_secret_jwt",
]


def discovery_document(issuer: str, oidc: str, backend: str, dpop: bool = True) -> dict[str, Any]:
    """Keycloak's discovery document; ``oidc`` is the front-channel endpoints' base (always the
    public one), ``backend`` the back-channel endpoints' base. With the DPoP feature,
    ``dpop_signing_alg_values_supported`` (the asymmetric algorithms) follows
    ``tls_client_certificate_bound_access_tokens`` (``OIDCWellKnownProvider.getConfig``,
    ``OIDCConfigurationRepresentation``'s field order)."""
    document: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": f"{oidc}/auth",
        "token_endpoint": f"{backend}/token",
        "introspection_endpoint": f"{backend}/token/introspect",
        "userinfo_endpoint": f"{backend}/userinfo",
        "end_session_endpoint": f"{oidc}/logout",
        "frontchannel_logout_session_supported": True,
        "frontchannel_logout_supported": True,
        "jwks_uri": f"{backend}/certs",
        "check_session_iframe": f"{oidc}/login-status-iframe.html",
        "grant_types_supported": [
            "authorization_code", "client_credentials", "implicit", "password", "refresh_token",
            "urn:ietf:params:oauth:grant-type:device_code", "urn:openid:params:grant-type:ciba",
        ],
        "acr_values_supported": ["0", "1"],
        "response_types_supported": [
            "code", "none", "id_token", "token", "id_token token", "code id_token", "code token",
            "code id_token token",
        ],
        "subject_types_supported": ["public", "pairwise"],
        "prompt_values_supported": ["none", "login", "consent"],
        "id_token_signing_alg_values_supported": list(KEYCLOAK_SIGNING_ALGORITHMS),
        "id_token_encryption_alg_values_supported": ["RSA-OAEP", "RSA-OAEP-256", "RSA1_5"],
        "id_token_encryption_enc_values_supported": [
            "A256GCM", "A192GCM", "A128GCM", "A128CBC-HS256", "A192CBC-HS384", "A256CBC-HS512",
        ],
        "userinfo_signing_alg_values_supported": [*KEYCLOAK_SIGNING_ALGORITHMS, "none"],
        "request_object_signing_alg_values_supported": [*KEYCLOAK_SIGNING_ALGORITHMS, "none"],
        "response_modes_supported": [
            "query", "fragment", "form_post", "query.jwt", "fragment.jwt", "form_post.jwt", "jwt",
        ],
        "registration_endpoint": f"{backend.rsplit('/protocol/', 1)[0]}/clients-registrations/openid-connect",
        "token_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(KEYCLOAK_SIGNING_ALGORITHMS),
        "introspection_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
        "introspection_endpoint_auth_signing_alg_values_supported": list(KEYCLOAK_SIGNING_ALGORITHMS),
        "claims_supported": [
            "aud", "sub", "iss", "auth_time", "name", "given_name", "family_name",
            "preferred_username", "email", "acr",
        ],
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": True,
        "scopes_supported": [
            "openid", "offline_access", "profile", "email", "address", "phone", "roles",
            "web-origins", "acr", "basic", "microprofile-jwt",
        ],
        "request_parameter_supported": True,
        "request_uri_parameter_supported": True,
        "require_request_uri_registration": True,
        "code_challenge_methods_supported": ["plain", "S256"],
        "tls_client_certificate_bound_access_tokens": True,
        "dpop_signing_alg_values_supported": [alg for alg in KEYCLOAK_SIGNING_ALGORITHMS if not alg.startswith("HS")],
        "revocation_endpoint": f"{oidc}/revoke",
        "revocation_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
        "revocation_endpoint_auth_signing_alg_values_supported": list(KEYCLOAK_SIGNING_ALGORITHMS),
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "device_authorization_endpoint": f"{oidc}/auth/device",
        "authorization_response_iss_parameter_supported": True,
    }
    if not dpop:
        del document["dpop_signing_alg_values_supported"]
    return document
