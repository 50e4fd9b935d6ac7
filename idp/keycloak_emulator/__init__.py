"""keycloak_emulator: a small Keycloak-compatible OpenID Connect provider for local runs and tests.

It answers the part of Keycloak 17+ that the gateway uses, with Keycloak's URLs, token shapes
and error bodies: discovery, JWKS (``certs``), the token endpoint (``password`` and
``refresh_token`` grants, client_secret_post or HTTP Basic), userinfo, introspection (RFC 7662),
logout and revocation (RFC 7009). ``--legacy-auth-prefix`` moves everything under ``/auth``
as Keycloak 16 and older did.

Test controls that Keycloak does not have live under ``/_admin/`` on the same port and answer
loopback callers only: signing-key rotation, fault injection, request counters, token minting
with arbitrary overrides, and ending every session. Their code is in ``testing``, apart from the
emulation.

The request path is: ``main`` -> ``IdentityProviderServer`` (one thread per connection) ->
``RequestHandler`` (HTTP/1.1 framing) -> ``Application.handle`` (routing, faults, counters) ->
``KeycloakRealm`` (the OpenID Connect behaviour) -> ``Response``.

Modules: ``config`` (command line), ``users``, ``keys``, ``sessions``, ``tokens`` (token
claims), ``discovery``, ``messages`` (HTTP values), ``realm`` (the endpoints), ``server``
(HTTP server, routing, ``main``), and ``testing`` (``faults``, ``mint``, ``admin``).
``idp/mini_keycloak.py`` starts it.

It shares no code with the product: the standard library plus joserfc and cryptography.
"""
