"""keycloak_emulator: a small Keycloak-compatible OpenID Connect provider for local runs and tests.

It answers the part of Keycloak 17+ that the gateway uses, with Keycloak's URLs, token shapes
and error bodies: discovery, JWKS (``certs``), the token endpoint (``authorization_code``,
``password`` and ``refresh_token`` grants, client_secret_post or HTTP Basic, public clients,
CORS), userinfo, introspection (RFC 7662), logout and revocation (RFC 7009); the browser flow
(authorization endpoint, Keycloak's login form, SSO cookies, PKCE, RP-initiated logout);
back-channel logout tokens to clients; and the admin REST calls that end sessions. Two clients,
as in the Compose realm: the confidential client and the public client of the Swagger page.
``--legacy-auth-prefix`` moves everything under ``/auth`` as Keycloak 16 and older did.

Test controls that Keycloak does not have live under ``/_admin/`` on the same port and answer
loopback callers only: signing-key rotation, fault injection, request counters, token minting
with arbitrary overrides, and ending every session. Their code is in ``testing``, apart from the
emulation.

The request path is: ``main`` -> ``IdentityProviderServer`` (one thread per connection) ->
``RequestHandler`` (HTTP/1.1 framing) -> ``Application.handle`` (routing, faults, counters) ->
``KeycloakRealm`` (the OpenID Connect behaviour) -> ``Response``.

Modules: ``config`` (command line), ``clients`` (the realm's clients), ``users``, ``keys``,
``sessions`` (user and client sessions), ``tokens`` (token claims), ``discovery``, ``messages``
(HTTP values), ``realm`` (the back-channel endpoints, grants, ending sessions), ``browser``
(authorization endpoint, login form, RP-initiated logout) with ``auth_sessions``, ``cookies``,
``pages``, ``codes``, ``pkce`` and ``redirect_uris``, ``backchannel`` (logout tokens),
``admin_rest`` (Keycloak's admin calls), ``server`` (HTTP server, routing, ``main``), and
``testing`` (``faults``, ``mint``, ``admin``).
``idp/mini_keycloak.py`` starts it.

It shares no code with the product: the standard library plus joserfc and cryptography.
"""
