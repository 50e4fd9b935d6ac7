"""The two calls of Keycloak's admin REST API that end sessions, at Keycloak's paths:

- ``POST /admin/realms/{realm}/users/{id}/logout`` (``UserResource.logout``): every session of
  the user ends through ``AuthenticationManager.backchannelLogout`` (so its clients get logout
  tokens); 204, or 404 ``{"error":"User not found"}``.
- ``DELETE /admin/realms/{realm}/sessions/{session}`` (``RealmAdminResource.deleteSession``):
  the same for one session; 204, or 404 ``{"error":"Sesssion not found"}`` (Keycloak's typo).

Keycloak wants a bearer token of an administrator with ``manage-users`` for both. This provider
has no administrators: like its ``/_admin/`` test controls, the calls answer loopback callers
only (others: 403) and any ``Authorization`` header is ignored. Under ``/auth`` with
``--legacy-auth-prefix``, as Keycloak 16 and older served the admin API.
"""

from __future__ import annotations

import ipaddress
import time
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

from .messages import NOT_FOUND_BODY, Request, Response

if TYPE_CHECKING:
    from .realm import KeycloakRealm


class AdminRestApi:
    """Routes ``<prefix>/admin/realms/...`` requests."""

    def __init__(self, realm: KeycloakRealm):
        self.realm = realm
        self.root = f"{realm.prefix}/admin/realms/"
        self._own = f"{self.root}{quote(realm.config.realm)}/"

    def matches(self, path: str) -> bool:
        return path.startswith(self.root)

    def handle(self, request: Request) -> Response:
        if not _is_loopback(request.client_host):
            return Response.json(403, {"error": "admin endpoints answer loopback clients only"})
        if not request.path.startswith(self._own):
            return Response.json(404, {"error": "Realm not found."})
        parts = request.path[len(self._own):].split("/")
        if len(parts) == 3 and parts[0] == "users" and parts[2] == "logout":
            return self._only(request, "POST") or self._logout_user(unquote(parts[1]))
        if len(parts) == 2 and parts[0] == "sessions":
            return self._only(request, "DELETE") or self._delete_session(unquote(parts[1]))
        return Response.json(404, NOT_FOUND_BODY)

    def _logout_user(self, user_id: str) -> Response:
        if self.realm.users.by_id(user_id) is None:
            return Response.json(404, {"error": "User not found"})
        now = time.time()
        for session in self.realm.sessions.of_user(user_id, now):
            self.realm.end_session(session, now)
        return Response(204, content_type=None)

    def _delete_session(self, sid: str) -> Response:
        now = time.time()
        session = self.realm.sessions.alive(sid, now)
        if session is None:
            return Response.json(404, {"error": "Sesssion not found"})
        self.realm.end_session(session, now)
        return Response(204, content_type=None)

    @staticmethod
    def _only(request: Request, method: str) -> Response | None:
        if request.method == method:
            return None
        return Response.json(405, {"error": "HTTP 405 Method Not Allowed",
                                   "error_description": NOT_FOUND_BODY["error_description"]}, (("Allow", method),))


def _is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback
