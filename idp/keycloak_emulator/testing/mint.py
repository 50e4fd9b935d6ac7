"""Token minting for tests (``POST /_admin/mint``): a token in a new live session, with any
claims, header, key or algorithm (test control, not Keycloak)."""

from __future__ import annotations

import time
from typing import Any, Mapping

from joserfc.errors import JoseError
from joserfc.jwk import Key, OctKey

from ..keys import sign_compact
from ..realm import KeycloakRealm


def mint(realm: KeycloakRealm, login: str, claims: Mapping[str, Any], header: Mapping[str, Any],
         key_name: str, kind: str = "access") -> str:
    """A token of the confidential client for ``login`` in a new live session, with
    overrides applied.

    ``kind`` is ``access`` (the default), ``id`` (an ID token) or ``refresh`` (signed with
    the internal refresh key, whatever ``key_name`` says). ``claims``/``header`` values
    replace the defaults and ``None`` deletes. ``key_name`` is ``current`` (the active
    signing key) or ``enc`` (the encryption key, signing RS256). A header ``alg`` of
    ``none`` yields an unsigned token; ``HS256/384/512`` an HMAC keyed with the chosen key's
    public PEM (the classic algorithm-confusion forgery).
    """
    user = realm.users.find(login)
    if user is None:
        raise ValueError(f"unknown user {login!r}")
    if key_name not in ("current", "enc"):
        raise ValueError("key must be 'current' or 'enc'")
    if kind not in ("access", "id", "refresh"):
        raise ValueError("kind must be 'access', 'id' or 'refresh'")
    now = time.time()
    client = realm.clients.confidential
    session = realm.sessions.create(user, "openid email profile", now, client.client_id)
    tokens, keys = realm.tokens, realm.keys
    if kind == "refresh":
        return keys.sign(_apply_overrides(tokens.refresh_claims(user, session, client, int(now)), claims),
                         keys.refresh)
    key = keys.current if key_name == "current" else keys.encryption
    if kind == "id":
        access_token = keys.sign(tokens.access_claims(user, session, client, int(now)))
        defaults = tokens.id_claims(user, session, client, int(now), access_token)
        header_type = "JWT"
    else:
        defaults = tokens.access_claims(user, session, client, int(now))
        header_type = client.access_header_type
    body = _apply_overrides(defaults, claims)
    protected = _apply_overrides(
        {"alg": key.alg if key.use == "sig" else "RS256", "typ": header_type, "kid": key.kid}, header
    )
    alg = protected.get("alg")
    if not isinstance(alg, str):
        raise ValueError("header alg must be a string")
    if alg == "none":
        signing_key: Key | None = None
    elif alg.startswith("HS"):
        signing_key = OctKey.import_key(key.public_pem())
    else:
        signing_key = key.jwk
    try:
        return sign_compact(protected, body, signing_key)
    except JoseError as error:
        raise ValueError(f"cannot sign with alg {alg!r} and the {key_name} key: {error}") from None


def _apply_overrides(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` applied; a ``None`` value deletes the key."""
    result = dict(base)
    for name, value in overrides.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = value
    return result
