"""Fault injection and request counters per Keycloak endpoint (test controls, not Keycloak)."""

from __future__ import annotations

import functools
import json
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable

from ..messages import Response


#: The Keycloak endpoints, by the name the admin API uses for counters and faults.
ENDPOINTS = ("discovery", "certs", "token", "userinfo", "introspect", "logout", "revoke", "auth")
FAULTS = ("none", "hang", "html", "truncated", "status500", "huge", "introspection_failure",
          "introspection_without_iss")
#: Faults that make sense for the introspection endpoint only.
INTROSPECTION_FAULTS = ("introspection_failure", "introspection_without_iss")
#: Keycloak's answer when introspecting a token fails inside it
#: (``TokenIntrospectionEndpoint``: ``catch (Exception e)``; keycloak#20174 shows one case).
FAILED_INTROSPECTION = {"error": "invalid_request", "error_description": "Failed to introspect token."}

HTML_GARBAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Welcome</title></head>"
    b"<body><h1>It works!</h1><p>This is not the identity provider.</p></body></html>\n"
)
HTML_SERVER_ERROR = (
    b"<html><head><title>500 Internal Server Error</title></head>"
    b"<body><center><h1>500 Internal Server Error</h1></center><hr></body></html>\n"
)
HUGE_BODY_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True, eq=False)
class Fault:
    """An injected failure for one endpoint (identity matters: a new setting is a new object)."""

    kind: str
    seconds: float


class FaultBoard:
    """Faults per endpoint name (``*`` for all), and the wait of hanging requests."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._faults: dict[str, Fault] = {}
        self._closing = False

    def set(self, endpoint: str, fault: Fault) -> None:
        """Install a fault; ``none`` clears the endpoint (for ``*``: every endpoint)."""
        with self._changed:
            if fault.kind != "none":
                self._faults[endpoint] = fault
            elif endpoint == "*":
                self._faults.clear()
            else:
                self._faults.pop(endpoint, None)
            self._changed.notify_all()

    def active(self, endpoint: str) -> Fault | None:
        """The fault for this endpoint: its own, else the ``*`` one."""
        with self._changed:
            return self._faults.get(endpoint) or self._faults.get("*")

    def hang(self, endpoint: str, fault: Fault) -> bool:
        """Wait out a ``hang``. True: go on and answer. False: the server is shutting down.

        The wait ends early when the endpoint's fault changes (e.g. back to ``none``).
        """
        deadline = time.monotonic() + fault.seconds
        with self._changed:
            while not self._closing:
                current = self._faults.get(endpoint) or self._faults.get("*")
                remaining = deadline - time.monotonic()
                if current is not fault or remaining <= 0:
                    return True
                self._changed.wait(remaining)
            return False

    def answer(self, endpoint: str, fault: Fault, call: Callable[[], Response]) -> Response | None:
        """The answer to a request for ``endpoint`` under ``fault``; ``call`` gives the real one.
        None means: close the connection without answering."""
        if fault.kind == "hang":
            return call() if self.hang(endpoint, fault) else None
        if fault.kind == "html":
            return Response(200, HTML_GARBAGE, "text/html; charset=utf-8")
        if fault.kind == "status500":
            return Response(500, HTML_SERVER_ERROR, "text/html")
        if fault.kind == "huge":
            return Response(200, huge_body())
        if fault.kind == "introspection_failure":
            return Response.json(400, FAILED_INTROSPECTION)
        if fault.kind == "introspection_without_iss":
            # Not Keycloak (it always sends iss): another RFC 7662 server, for which iss is optional.
            normal = call()
            answer = json.loads(normal.body)
            answer.pop("iss", None)
            return Response.json(normal.status, answer)
        normal = call()  # "truncated": the real answer, cut in half
        return replace(normal, body=normal.body[: len(normal.body) // 2])

    def close(self) -> None:
        """Release every hanging request: the server is stopping."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()


class RequestStats:
    """Requests counted per Keycloak endpoint."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(ENDPOINTS, 0)

    def count(self, endpoint: str) -> None:
        with self._lock:
            self._counts[endpoint] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        with self._lock:
            self._counts = dict.fromkeys(ENDPOINTS, 0)


@functools.lru_cache(maxsize=1)
def huge_body() -> bytes:
    """A 5 MB body that starts like JSON (built on first use)."""
    head, tail = b'{"access_token":"', b'"}'
    return head + b"A" * (HUGE_BODY_BYTES - len(head) - len(tail)) + tail
