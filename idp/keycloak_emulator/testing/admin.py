"""The ``/_admin/`` API (test controls, not Keycloak): key rotation, faults, counters, the trace
headers received, token minting and ending every session; JSON in and out, loopback callers
only."""

from __future__ import annotations

import ipaddress
import json
from typing import Any, Callable

from ..messages import NOT_FOUND_BODY, Request, Response
from ..realm import KeycloakRealm
from .faults import ENDPOINTS, FAULTS, INTROSPECTION_FAULTS, Fault, FaultBoard, RequestStats
from .mint import mint
from .traces import TraceRecorder


class AdminError(Exception):
    """A bad admin request (answered 400 with ``{"error": message}``)."""


class AdminApi:
    """Routes ``/_admin/`` requests to the realm's keys and sessions, the fault board, the
    counters and the minter."""

    def __init__(self, realm: KeycloakRealm, faults: FaultBoard, stats: RequestStats,
                 traces: TraceRecorder | None = None):
        self.realm = realm
        self.faults = faults
        self.stats = stats
        self.traces = traces or TraceRecorder()
        self._routes: dict[tuple[str, str], Callable[[dict[str, Any]], Any]] = {
            ("POST", "/_admin/rotate"): self._rotate,
            ("POST", "/_admin/fault"): self._fault,
            ("GET", "/_admin/stats"): lambda _: self.stats.snapshot(),
            ("POST", "/_admin/stats/reset"): self._stats_reset,
            ("GET", "/_admin/traceparents"): lambda _: self.traces.snapshot(),
            ("POST", "/_admin/traceparents/reset"): self._traces_reset,
            ("POST", "/_admin/mint"): self._mint,
            ("GET", "/_admin/keys/current"): lambda _: dict(self.realm.keys.current.public_jwk),
            ("POST", "/_admin/sessions/clear"): lambda _: {"ended": self.realm.sessions.clear()},
        }

    def handle(self, request: Request) -> Response:
        """The answer to a request under ``/_admin/``."""
        if not _is_loopback(request.client_host):
            return Response.json(403, {"error": "admin endpoints answer loopback clients only"})
        handler = self._routes.get((request.method, request.path))
        if handler is None:
            return Response.json(404, NOT_FOUND_BODY)
        try:
            payload = json.loads(request.body) if request.body.strip() else {}
            if not isinstance(payload, dict):
                raise AdminError("the body must be a JSON object")
            return Response.json(200, handler(payload))
        except (AdminError, ValueError) as error:
            return Response.json(400, {"error": str(error)})

    def _rotate(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {"kid": self.realm.keys.rotate(drop_old=bool(payload.get("drop_old", False))).kid}

    def _fault(self, payload: dict[str, Any]) -> dict[str, Any]:
        endpoint, kind = payload.get("endpoint"), payload.get("fault")
        seconds = payload.get("seconds", 30)
        if endpoint != "*" and endpoint not in ENDPOINTS:
            raise AdminError(f"endpoint must be one of {', '.join(ENDPOINTS)} or *")
        if kind not in FAULTS:
            raise AdminError(f"fault must be one of {', '.join(FAULTS)}")
        if kind in INTROSPECTION_FAULTS and endpoint != "introspect":
            raise AdminError(f"{kind} is a fault of the introspect endpoint only")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise AdminError("seconds must be a non-negative number")
        self.faults.set(endpoint, Fault(kind, float(seconds)))
        return {"endpoint": endpoint, "fault": kind, "seconds": seconds}

    def _stats_reset(self, payload: dict[str, Any]) -> dict[str, int]:
        self.stats.reset()
        return self.stats.snapshot()

    def _traces_reset(self, payload: dict[str, Any]) -> dict[str, list[Any]]:
        self.traces.reset()
        return self.traces.snapshot()

    def _mint(self, payload: dict[str, Any]) -> dict[str, str]:
        user, claims, header = payload.get("user", "abdullah"), payload.get("claims", {}), payload.get("header", {})
        if not isinstance(user, str) or not isinstance(claims, dict) or not isinstance(header, dict):
            raise AdminError("user must be a string; claims and header must be objects")
        return {"token": mint(self.realm, user, claims, header, payload.get("key", "current"),
                             payload.get("kind", "access"))}


def _is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback
