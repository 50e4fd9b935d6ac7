"""PKCE (RFC 7636) as Keycloak checks it: the challenge at the authorization endpoint
(``AuthorizationEndpointChecker.checkPKCEParams``) and the verifier at the token endpoint
(``PkceUtils``). A client with ``pkce.code.challenge.method`` must send exactly that method
and a challenge; without the attribute PKCE is optional and ``plain`` is the default method.
"""

from __future__ import annotations

import hashlib
import re

from .encoding import b64url
from .messages import OAuthError

#: Challenge and verifier: 43 to 128 unreserved characters (RFC 7636 sections 4.1, 4.2).
_UNRESERVED = re.compile(r"[0-9a-zA-Z\-.~_]{43,128}")


class AuthorizationCheckError(Exception):
    """``AuthorizationEndpointChecker.AuthorizationCheckException``: redirected to the client."""

    def __init__(self, error: str, description: str | None):
        super().__init__(f"{error}: {description}")
        self.error, self.description = error, description


def check_challenge(challenge: str | None, method: str | None, required_method: str | None) -> None:
    """The authorization request's PKCE parameters; raises ``AuthorizationCheckError``."""
    if required_method:
        if method is None:
            raise AuthorizationCheckError("invalid_request", "Missing parameter: code_challenge_method")
        if method != required_method:
            raise AuthorizationCheckError(
                "invalid_request", "Invalid parameter: code challenge method is not matching the configured one")
        if challenge is None:
            raise AuthorizationCheckError("invalid_request", "Missing parameter: code_challenge")
    else:
        if challenge is None and method is not None:
            raise AuthorizationCheckError("invalid_request", "Missing parameter: code_challenge")
        if challenge is None:
            return
        if method is not None and method not in ("S256", "plain"):
            raise AuthorizationCheckError("invalid_request", "Invalid parameter: code_challenge_method")
    if not _UNRESERVED.fullmatch(challenge):
        raise AuthorizationCheckError("invalid_request", "Invalid parameter: code_challenge")


def check_code_verifier(verifier: str | None, challenge: str | None, method: str | None) -> None:
    """The token request's ``code_verifier`` against the code's challenge; raises ``OAuthError``
    400 ``invalid_grant`` with Keycloak's words (``PkceUtils.checkParamsForPkce...``)."""
    if method:  # checkParamsForPkceEnforcedClient (the request named a method)
        if verifier is None:
            raise OAuthError(400, "invalid_grant", "PKCE code verifier not specified")
    else:
        if challenge is not None and verifier is None:
            raise OAuthError(400, "invalid_grant", "PKCE code verifier not specified")
        if challenge is None and verifier is not None:
            raise OAuthError(400, "invalid_grant",
                             "PKCE code verifier specified but challenge not present in authorization")
        if challenge is None:
            return
    assert verifier is not None
    if not _UNRESERVED.fullmatch(verifier):
        raise OAuthError(400, "invalid_grant", "PKCE verification failed: Invalid code verifier")
    encoded = s256(verifier) if method == "S256" else verifier
    if encoded != challenge:
        raise OAuthError(400, "invalid_grant", "PKCE verification failed: Code mismatch")


def s256(verifier: str) -> str:
    """``BASE64URL(SHA256(ASCII(code_verifier)))`` (Keycloak hashes ISO-8859-1 bytes)."""
    return b64url(hashlib.sha256(verifier.encode("latin-1", errors="replace")).digest())
