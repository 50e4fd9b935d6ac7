"""W3C Trace Context through the whole stack: the responder reads an incoming `traceparent`,
logs every line of the request with `trace_id`, its own `span_id` and the caller's
`parent_span_id`, starts a new trace when the header is absent or invalid, and passes a child
`traceparent` (and the caller's `tracestate`, unchanged) to Keycloak on every call it makes while
serving the request. The provider (the local Keycloak emulator) records the trace headers each
endpoint received (`GET /_admin/traceparents`, `POST /_admin/traceparents/reset`).
"""

from __future__ import annotations

import json
import re

import pytest

from harness.idp_fixture import IdentityProvider
from harness.stack import SessionRecord, Stack

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACESTATE = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
HEX32 = re.compile(r"[0-9a-f]{32}")
HEX16 = re.compile(r"[0-9a-f]{16}")
TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def traceparent(trace_id: str = TRACE_ID, parent_id: str = PARENT_ID, flags: str = "01") -> str:
    return f"00-{trace_id}-{parent_id}-{flags}"


def field(line: str, name: str) -> str | None:
    """A `key=value` field of a text log line (values here never hold spaces)."""
    match = re.search(rf"(?:^| ){re.escape(name)}=(\S*)", line)
    return match.group(1) if match else None


class World:
    def __init__(self, tmp_path_factory, tls_dir):
        self.tmp_path_factory, self.tls_dir = tmp_path_factory, tls_dir
        self.idp = IdentityProvider().start()
        SessionRecord.remember(self.idp.client_secret)
        self.stacks: dict[str, Stack] = {}

    def stack(self, name: str, env: dict[str, str] | None = None) -> Stack:
        if name not in self.stacks:
            self.stacks[name] = Stack(self.tmp_path_factory.mktemp(f"trace-{name}"), self.tls_dir, idp=self.idp,
                                      env=env).start()
        return self.stacks[name]

    def text(self) -> Stack:
        return self.stack("text")

    def traces(self) -> dict[str, list[dict]]:
        return self.idp.admin("traceparents")

    def reset_traces(self) -> None:
        self.idp.admin("traceparents/reset", {})

    def close(self) -> None:
        for stack in self.stacks.values():
            stack.stop()
        self.idp.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory, tls_dir):
    world = World(tmp_path_factory, tls_dir)
    yield world
    world.close()


def token(world: World) -> str:
    value = world.idp.mint()
    SessionRecord.remember(value)
    return value


def request_lines(stack: Stack, answer) -> list[str]:
    """The responder's log lines under the answer's request id (the request line included)."""
    request_id = answer.headers["X-Request-ID"]

    def lines() -> list[str]:
        return [line for line in stack.responder_log().splitlines() if f"request.id={request_id}" in line]

    stack.wait_until(lambda: any(field(line, "http.status") for line in lines()), f"the request line of {request_id}")
    return lines()


def request_line(stack: Stack, answer) -> str:
    found = [line for line in request_lines(stack, answer) if field(line, "http.status")]
    assert len(found) == 1, found
    return found[0]


# Log lines ------------------------------------------------------------------------------------------


def test_a_valid_traceparent_continues_the_trace(world):
    stack = world.text()
    answer = stack.get("/protected", headers={"Authorization": f"Bearer {token(world)}",
                                              "traceparent": traceparent()})
    assert answer.status_code == 200, answer.text
    line = request_line(stack, answer)
    assert field(line, "trace_id") == TRACE_ID, line
    assert field(line, "parent_span_id") == PARENT_ID, line
    span = field(line, "span_id")
    assert span and HEX16.fullmatch(span) and span not in (PARENT_ID, "0" * 16), line


def test_every_request_is_a_new_span_of_the_callers_trace(world):
    stack = world.text()
    spans = set()
    for _ in range(3):
        answer = stack.get("/", headers={"traceparent": traceparent()})
        line = request_line(stack, answer)
        assert (field(line, "trace_id"), field(line, "parent_span_id")) == (TRACE_ID, PARENT_ID), line
        spans.add(field(line, "span_id"))
    assert len(spans) == 3 and all(span and HEX16.fullmatch(span) for span in spans), spans


def test_without_traceparent_each_request_starts_a_trace(world):
    stack = world.text()
    traces = set()
    for _ in range(3):
        line = request_line(stack, stack.get("/protected"))
        trace, span = field(line, "trace_id"), field(line, "span_id")
        assert trace and HEX32.fullmatch(trace) and trace != "0" * 32, line
        assert span and HEX16.fullmatch(span) and span != "0" * 16, line
        assert field(line, "parent_span_id") is None, line
        traces.add(trace)
    assert len(traces) == 3, traces


INVALID = {
    "version-ff": f"ff-{TRACE_ID}-{PARENT_ID}-01",
    "zero-trace-id": traceparent(trace_id="0" * 32),
    "zero-parent-id": traceparent(parent_id="0" * 16),
    "upper-case": traceparent(trace_id=TRACE_ID.upper(), parent_id=PARENT_ID.upper()),
    "short-trace-id": traceparent(trace_id=TRACE_ID[:-1]),
    "long-parent-id": traceparent(parent_id=PARENT_ID + "0"),
    "no-flags": f"00-{TRACE_ID}-{PARENT_ID}",
    "bad-flags": traceparent(flags="0g"),
    "version-00-with-more": traceparent() + "-extra",
    "one-digit-version": f"0-{TRACE_ID}-{PARENT_ID}-01",
    "underscores": f"00_{TRACE_ID}_{PARENT_ID}_01",
    "garbage": "not a traceparent",
    "empty": "",
}


@pytest.mark.parametrize("value", INVALID.values(), ids=INVALID.keys())
def test_an_invalid_traceparent_starts_a_new_trace(world, value):
    stack = world.text()
    answer = stack.get("/protected", headers={"Authorization": f"Bearer {token(world)}", "traceparent": value})
    assert answer.status_code == 200, answer.text
    line = request_line(stack, answer)
    trace, span = field(line, "trace_id"), field(line, "span_id")
    assert trace and HEX32.fullmatch(trace) and trace not in (TRACE_ID, "0" * 32), f"{value!r}: {line}"
    assert span and HEX16.fullmatch(span), f"{value!r}: {line}"
    assert field(line, "parent_span_id") is None, f"{value!r}: {line}"


def test_every_line_logged_while_serving_carries_the_trace(world):
    """In introspect mode with debug logging the request logs a provider call besides its
    request line: both carry the same trace, span and parent."""
    stack = world.stack("introspect", {"AUTH_VERIFY": "introspect", "LOG_LEVEL": "debug"})
    before = len(stack.responder_log())
    answer = stack.get("/protected", headers={"Authorization": f"Bearer {token(world)}",
                                              "traceparent": traceparent()})
    assert answer.status_code == 200, answer.text
    line = request_line(stack, answer)
    span = field(line, "span_id")
    new = stack.responder_log()[before:].splitlines()
    during = [entry for entry in new if f"request.id={answer.headers['X-Request-ID']}" in entry
              or "idp.endpoint=introspect" in entry]
    assert len(during) >= 2, f"expected the request line and the introspection call's line:\n" + "\n".join(new)
    for entry in during:
        assert (field(entry, "trace_id"), field(entry, "span_id"), field(entry, "parent_span_id")) == (
            TRACE_ID, span, PARENT_ID), entry


def test_json_lines_carry_the_members(world):
    stack = world.stack("json", {"LOG_FORMAT": "json"})
    with_parent = stack.get("/protected", headers={"traceparent": traceparent()})
    without = stack.get("/protected")

    def entry(answer) -> dict:
        request_id = answer.headers["X-Request-ID"]

        def found() -> list[dict]:
            objects = []
            for text in stack.responder_log().splitlines():
                try:
                    value = json.loads(text)
                except ValueError:
                    continue
                if value.get("request.id") == request_id and "http.status" in value:
                    objects.append(value)
            return objects

        stack.wait_until(found, f"the JSON request line of {request_id}")
        return found()[0]

    first = entry(with_parent)
    assert (first["trace_id"], first["parent_span_id"]) == (TRACE_ID, PARENT_ID), first
    assert HEX16.fullmatch(first["span_id"]), first
    second = entry(without)
    assert HEX32.fullmatch(second["trace_id"]) and second["trace_id"] != TRACE_ID, second
    assert HEX16.fullmatch(second["span_id"]) and "parent_span_id" not in second, second


# What the provider receives -----------------------------------------------------------------------------


def login(stack: Stack, headers: dict[str, str]):
    answer = stack.post("/login", data={"username": "abdullah", "password": "Test#123456"}, headers=headers)
    assert answer.status_code == 200, answer.text
    SessionRecord.remember(answer.json()["access_token"], answer.json().get("refresh_token"))
    return answer


def test_login_passes_a_child_traceparent_and_the_tracestate(world):
    stack = world.text()
    world.reset_traces()
    answer = login(stack, {"traceparent": traceparent(), "tracestate": TRACESTATE})
    span = field(request_line(stack, answer), "span_id")
    calls = world.traces()["token"]
    assert [(call["traceparent"], call["tracestate"]) for call in calls] == [
        (traceparent(parent_id=span), TRACESTATE)], calls


def test_the_flags_are_copied(world):
    stack = world.text()
    world.reset_traces()
    answer = login(stack, {"traceparent": traceparent(flags="00")})
    span = field(request_line(stack, answer), "span_id")
    calls = world.traces()["token"]
    assert [call["traceparent"] for call in calls] == [traceparent(parent_id=span, flags="00")], calls
    assert calls[0]["tracestate"] is None, calls


def test_a_new_trace_reaches_the_provider_too(world):
    stack = world.text()
    world.reset_traces()
    answer = login(stack, {})
    line = request_line(stack, answer)
    calls = world.traces()["token"]
    assert [call["traceparent"] for call in calls] == [
        f"00-{field(line, 'trace_id')}-{field(line, 'span_id')}-01"], (calls, line)
    assert calls[0]["tracestate"] is None, calls


def test_an_invalid_traceparent_is_not_passed_on(world):
    stack = world.text()
    world.reset_traces()
    answer = login(stack, {"traceparent": INVALID["version-ff"]})
    line = request_line(stack, answer)
    calls = world.traces()["token"]
    assert [call["traceparent"] for call in calls] == [
        f"00-{field(line, 'trace_id')}-{field(line, 'span_id')}-01"], (calls, line)


def test_introspection_carries_the_requests_trace(world):
    stack = world.stack("introspect", {"AUTH_VERIFY": "introspect", "LOG_LEVEL": "debug"})
    world.reset_traces()
    answer = stack.get("/protected", headers={"Authorization": f"Bearer {token(world)}",
                                              "traceparent": traceparent(), "tracestate": TRACESTATE})
    assert answer.status_code == 200, answer.text
    span = field(request_line(stack, answer), "span_id")
    calls = world.traces()["introspect"]
    assert [(call["traceparent"], call["tracestate"]) for call in calls] == [
        (traceparent(parent_id=span), TRACESTATE)], calls


def test_background_calls_carry_a_trace_of_their_own(world, tmp_path, tls_dir):
    """Discovery and the JWKS fetch at start-up: a valid traceparent, a sampled new trace, no
    tracestate, and not the trace of any request."""
    world.reset_traces()
    with Stack(tmp_path / "background", tls_dir, idp=world.idp) as stack:
        answer = stack.get("/protected", headers={"traceparent": traceparent()})
        assert answer.status_code == 401
    calls = world.traces()
    background = calls["discovery"] + calls["certs"]
    assert calls["discovery"] and calls["certs"], calls
    for call in background:
        match = TRACEPARENT.fullmatch(call["traceparent"] or "")
        assert match, call
        assert match.group(1) != TRACE_ID and match.group(1) != "0" * 32 and match.group(2) != "0" * 16, call
        assert match.group(3) == "01" and call["tracestate"] is None, call
