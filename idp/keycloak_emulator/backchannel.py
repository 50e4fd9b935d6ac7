"""OpenID Connect Back-Channel Logout as Keycloak sends it.

When a user session ends (``AuthenticationManager.backchannelLogout`` / ``browserLogout``),
every client with a client session in it and a ``backchannel.logout.url`` gets an HTTP POST,
``application/x-www-form-urlencoded``, with one field ``logout_token``
(``ResourceAdminManager.sendBackChannelLogoutRequestToClientUri``). Keycloak does it inline,
before it answers the request that ended the session, with its HTTP client (socket timeout 5 s
by default); a client counts as logged out on 200 or 204, anything else is only logged.

The logout token (``DefaultTokenManager.initLogoutToken``) is signed with the realm's current
signing key, JOSE header ``typ: logout+jwt`` (Keycloak 25+), and carries ``exp`` (iat + 120 s),
``iat``, ``jti``, ``iss``, ``aud`` (the client), ``sub`` (the user), ``typ: "Logout"``, ``sid``
when the client's ``backchannel.logout.session.required`` is on, and
``events: {"http://schemas.openid.net/event/backchannel-logout": {}}`` (plus
``"revoke_offline_access": true`` with ``backchannel.logout.revoke.offline.tokens``).
"""

from __future__ import annotations

import logging
import ssl
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from .clients import Client, ClientRegistry
from .keys import KeyRing
from .sessions import Session

LOG = logging.getLogger("mini_keycloak")

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
REVOKE_OFFLINE_TOKENS_EVENT = "revoke_offline_access"
#: "OPs are encouraged to use short expiration times in Logout Tokens, preferably at most two
#: minutes in the future" (the spec, quoted in Keycloak's ``initLogoutToken``).
LOGOUT_TOKEN_LIFESPAN = 120
#: Keycloak's HTTP client default ``socket-timeout-millis``.
TIMEOUT_SECONDS = 5.0


class BackchannelLogout:
    """Builds logout tokens and delivers them to the clients of an ending session."""

    def __init__(self, keys: KeyRing, clients: ClientRegistry, issuer: str, ca_file: Path | None):
        self._keys = keys
        self._clients = clients
        self._issuer = issuer
        context = ssl.create_default_context()
        if ca_file is not None:
            context.load_verify_locations(cafile=str(ca_file))
        # No proxies from the environment and no redirects followed: Keycloak's client posts
        # to the URL as configured.
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context), _NoRedirect())

    def logout_claims(self, client: Client, session: Session, now: int) -> dict[str, Any]:
        """``DefaultTokenManager.initLogoutToken``, in Keycloak's claim order."""
        claims: dict[str, Any] = {
            "exp": now + LOGOUT_TOKEN_LIFESPAN, "iat": now, "jti": str(uuid.uuid4()), "iss": self._issuer,
            "aud": client.client_id, "sub": session.user_id, "typ": "Logout",
        }
        if client.backchannel_logout_session_required:
            claims["sid"] = session.sid
        events: dict[str, Any] = {BACKCHANNEL_LOGOUT_EVENT: {}}
        if client.backchannel_logout_revoke_offline_tokens:
            events[REVOKE_OFFLINE_TOKENS_EVENT] = True
        claims["events"] = events
        return claims

    def notify(self, session: Session, now: int) -> dict[str, int | None]:
        """POST a logout token to every client of ``session`` that has a back-channel URL;
        answer each client's status (None: no answer)."""
        outcome: dict[str, int | None] = {}
        for client_id in list(session.clients):
            client = self._clients.get(client_id)
            if client is None or not client.backchannel_logout_url:
                continue
            token = self._keys.sign(self.logout_claims(client, session, now), header_type="logout+jwt")
            outcome[client_id] = self._post(client, token)
        return outcome

    def _post(self, client: Client, token: str) -> int | None:
        url = client.backchannel_logout_url
        assert url is not None
        request = urllib.request.Request(
            url, data=urlencode({"logout_token": token}).encode("ascii"), method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        shown = _without_secrets(url)
        try:
            with self._opener.open(request, timeout=TIMEOUT_SECONDS) as answer:
                answer.read()
                status = answer.status
        except urllib.error.HTTPError as error:
            status = error.code
        except (OSError, ValueError) as error:
            reason = getattr(error, "reason", None) or error
            LOG.warning("back-channel logout of client %s at %s failed: %s", client.client_id, shown,
                        type(reason).__name__ if not isinstance(reason, str) else reason)
            return None
        LOG.info("back-channel logout of client %s at %s: %d%s", client.client_id, shown, status,
                 "" if status in (200, 204) else " (not logged out)")
        return status


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _without_secrets(url: str) -> str:
    """The URL without user info, query or fragment, for the log."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{host}{parts.path}"
