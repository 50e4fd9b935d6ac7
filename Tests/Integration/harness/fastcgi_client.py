"""A minimal FastCGI client (FastCGI spec §3–§5: BEGIN_REQUEST, PARAMS, STDIN; read STDOUT until
END_REQUEST), enough to talk to the responder without nginx in tests."""

from __future__ import annotations

import socket
import struct

VERSION, BEGIN_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT = 1, 1, 3, 4, 5, 6
RESPONDER = 1


def _record(kind: int, content: bytes, request_id: int = 1) -> bytes:
    padding = (8 - len(content) % 8) % 8
    return struct.pack(">BBHHBx", VERSION, kind, request_id, len(content), padding) + content + b"\0" * padding


def _length(value: int) -> bytes:
    return struct.pack(">B", value) if value < 128 else struct.pack(">I", value | 0x80000000)


def _pairs(params: dict[str, str]) -> bytes:
    out = b""
    for name, value in params.items():
        key, val = name.encode(), value.encode()
        out += _length(len(key)) + _length(len(val)) + key + val
    return out


def request(address: str | tuple[str, int], params: dict[str, str], body: bytes = b"", timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Sends one request; answers (status, headers, body) of the CGI response."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        connection.connect(address)
        params = {"CONTENT_LENGTH": str(len(body)), **params}
        data = _record(BEGIN_REQUEST, struct.pack(">HB5x", RESPONDER, 0))
        data += _record(PARAMS, _pairs(params)) + _record(PARAMS, b"")
        if body:
            data += _record(STDIN, body)
        data += _record(STDIN, b"")
        connection.sendall(data)
        output = b""
        buffer = b""
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            buffer += chunk
            ended = False
            while len(buffer) >= 8:
                _, kind, _, length, padding = struct.unpack(">BBHHBx", buffer[:8])
                if len(buffer) < 8 + length + padding:
                    break
                content = buffer[8:8 + length]
                buffer = buffer[8 + length + padding:]
                if kind == STDOUT:
                    output += content
                elif kind == END_REQUEST:
                    ended = True
            if ended:
                break
    head, _, payload = output.partition(b"\r\n\r\n")
    headers = {}
    for line in head.decode().split("\r\n"):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    status = int(headers.get("status", "200").split()[0])
    return status, headers, payload


def get(address, path: str, **params: str) -> tuple[int, dict[str, str], bytes]:
    return request(address, {"REQUEST_METHOD": "GET", "DOCUMENT_URI": path, "REQUEST_URI": path, **params})
