"""The realm's clients, as the Compose realm (``deploy/keycloak/realm-testing.json``) defines
them: the confidential client of the gateway and the public client of its Swagger page.

A ``Client`` carries the settings Keycloak reads from a client representation and its
attributes (``redirectUris``, ``webOrigins``, ``pkce.code.challenge.method``,
``post.logout.redirect.uris``, ``backchannel.logout.*``, the Audience mapper), so that the
endpoints decide per client the way Keycloak does instead of assuming one client.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Iterator

from .config import Config


@dataclass(frozen=True)
class Client:
    """One OpenID Connect client of the realm."""

    client_id: str
    #: The client secret; None for a public client (``publicClient: true``).
    secret: str | None = field(repr=False)
    redirect_uris: tuple[str, ...]
    #: ``post.logout.redirect.uris`` as written (a leading ``+`` stands for the redirect URIs).
    post_logout_redirect_uris: tuple[str, ...]
    web_origins: tuple[str, ...]
    standard_flow: bool
    direct_access_grants: bool
    #: ``pkce.code.challenge.method``: ``S256``, ``plain``, or None (PKCE optional).
    pkce_method: str | None
    #: ``included.client.audience`` of the client's Audience mappers, in order.
    audiences: tuple[str, ...]
    backchannel_logout_url: str | None = None
    backchannel_logout_session_required: bool = True
    backchannel_logout_revoke_offline_tokens: bool = False
    lower_case_bearer: bool = False
    rfc9068_header_type: bool = False
    lightweight_access_tokens: bool = False

    @property
    def public(self) -> bool:
        return self.secret is None

    @property
    def internal_id(self) -> str:
        """The client's internal id (Keycloak's client UUID), which authorization codes name."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"keycloak-emulator:client:{self.client_id}"))

    @property
    def bearer(self) -> str:
        """``typ`` of its access tokens and ``token_type``: lower case with the client option
        "use lower-case bearer type" (``TokenManager.formatTokenType``)."""
        return "bearer" if self.lower_case_bearer else "Bearer"

    @property
    def access_header_type(self) -> str:
        """The JOSE ``typ`` of its access tokens (``DefaultTokenManager.type``)."""
        return "at+jwt" if self.rfc9068_header_type else "JWT"


class ClientRegistry:
    """The realm's clients by ``clientId`` and by internal id; the confidential one first."""

    def __init__(self, clients: list[Client]):
        self._by_id = {client.client_id: client for client in clients}
        self._by_internal_id = {client.internal_id: client for client in clients}
        self.confidential = clients[0]

    @classmethod
    def from_config(cls, config: Config) -> ClientRegistry:
        """The confidential client from the client options of the command line, and the public
        Swagger client with the Compose realm's settings: standard flow only, PKCE S256, and an
        Audience mapper naming the confidential client (so its tokens pass the gateway's
        ``aud`` check)."""
        confidential = Client(
            client_id=config.client_id,
            secret=config.client_secret,
            redirect_uris=config.redirect_uris,
            post_logout_redirect_uris=config.post_logout_redirect_uris,
            web_origins=config.web_origins,
            standard_flow=True,
            direct_access_grants=True,
            pkce_method=config.client_pkce_method,
            audiences=(config.client_id,) if config.client_audience_mapper else (),
            backchannel_logout_url=config.backchannel_logout_url,
            backchannel_logout_session_required=config.backchannel_logout_session_required,
            backchannel_logout_revoke_offline_tokens=config.backchannel_logout_revoke_offline_tokens,
            lower_case_bearer=config.lower_case_bearer,
            rfc9068_header_type=config.rfc9068_header_type,
            lightweight_access_tokens=config.lightweight_access_tokens,
        )
        docs = Client(
            client_id=config.docs_client_id,
            secret=None,
            redirect_uris=config.docs_redirect_uris,
            post_logout_redirect_uris=(),
            web_origins=config.docs_web_origins,
            standard_flow=True,
            direct_access_grants=False,
            pkce_method="S256",
            audiences=(config.client_id,),
        )
        return cls([confidential, docs])

    def get(self, client_id: object) -> Client | None:
        return self._by_id.get(client_id) if isinstance(client_id, str) else None

    def by_internal_id(self, internal_id: str) -> Client | None:
        return self._by_internal_id.get(internal_id)

    def __iter__(self) -> Iterator[Client]:
        return iter(self._by_id.values())
