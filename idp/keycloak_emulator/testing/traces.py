"""The W3C Trace Context headers (``traceparent``, ``tracestate``) each Keycloak endpoint
received, so that tests can check what a caller propagated (test control, not Keycloak)."""

from __future__ import annotations

import collections
import threading
from typing import Any, Mapping

from .faults import ENDPOINTS


#: How many requests are kept per endpoint (the newest).
KEPT_PER_ENDPOINT = 100
TRACE_HEADERS = ("traceparent", "tracestate")


class TraceRecorder:
    """The trace headers of the last ``KEPT_PER_ENDPOINT`` requests of each endpoint, oldest
    first; a header sent twice is kept joined by ``, `` (as a proxy would join it), an absent
    one is None."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen = self._empty()

    @staticmethod
    def _empty() -> dict[str, collections.deque[dict[str, Any]]]:
        return {name: collections.deque(maxlen=KEPT_PER_ENDPOINT) for name in ENDPOINTS}

    def record(self, endpoint: str, method: str, path: str, headers: Mapping[str, str]) -> None:
        entry: dict[str, Any] = {"method": method, "path": path}
        get_all = getattr(headers, "get_all", None)
        for name in TRACE_HEADERS:
            values = get_all(name) if get_all is not None else None
            if values is None:
                value = headers.get(name)
                values = None if value is None else [value]
            entry[name] = None if values is None else ", ".join(values)
        with self._lock:
            self._seen[endpoint].append(entry)

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        with self._lock:
            return {name: list(entries) for name, entries in self._seen.items()}

    def reset(self) -> None:
        with self._lock:
            self._seen = self._empty()
