"""Hostile multipart bodies on the form endpoints (/login, /refresh, /logout), sent byte for byte
(harness.attacks.raw_request): each gets a JSON 4xx, and the responder survives. Each case has
a stack of its own: a crash here must not take other tests' stacks with it.
"""

from __future__ import annotations

import json
import time

import pytest

from harness.attacks import raw_request
from harness.stack import Stack


def crashed(stack: Stack) -> bool:
    """Whether the responder died (or is dying: Swift prints its crash report first)."""
    deadline = time.monotonic() + 10
    while "crashed:" in stack.responder_log() and stack.responder.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    return stack.responder.poll() is not None or "crashed:" in stack.responder_log()


def multipart(boundary: bytes, header_line: bytes) -> bytes:
    return (b"--" + boundary + b"\r\n" + header_line + b"\r\n\r\nvalue\r\n--" + boundary + b"--\r\n")


@pytest.mark.parametrize("path", ["/login", "/refresh", "/logout"])
@pytest.mark.parametrize("header_line,status,detail", [
    # A part header the parser cannot read: FastAPI's 400 for an unparsable multipart body.
    pytest.param(b"\xf2\x91\x96\x8c]: x", 400, "There was an error parsing the body", id="non-ascii-part-header-name"),
    pytest.param(b"Content-Dis\x80position: form-data; name=username", 400, "There was an error parsing the body",
                 id="high-byte-inside-header-name"),
    pytest.param(b'Content-Disposition: form-data; name="\xff\xfe"', 400, "There was an error parsing the body",
                 id="non-utf8-field-name"),
    # Parsable, but not the field the endpoint wants: 422 (FastAPI's missing-field answer).
    pytest.param(b'Content-Disposition: form-data; name="us\xc3\xa9r"', 422, None, id="utf8-field-name"),
])
def test_hostile_multipart_bodies_get_json_4xx_and_the_responder_survives(make_idp, make_stack, path, header_line,
                                                                          status, detail):
    # A dedicated stack: a crash here must not take the attack table's stacks with it.
    stack = make_stack(make_idp(), name="multipart")
    answer = raw_request(stack, path, [b"Content-Type: multipart/form-data; boundary=XyZ"], method=b"POST",
                         body=multipart(b"XyZ", header_line))
    assert not crashed(stack), f"POST {path}: the responder crashed ({answer.status}):\n{stack.responder_log()[-4000:]}"
    assert answer.status == status, f"POST {path}: {answer}"
    assert answer.header("content-type") == "application/json", str(answer)
    if detail is not None:
        assert json.loads(answer.body) == {"detail": detail}, str(answer)
    else:
        assert isinstance(json.loads(answer.body)["detail"], list), str(answer)
    assert stack.get("/").status_code == 200
