"""What an operator watches: health, readiness, Prometheus metrics, request logs with ids,
and running under systemd socket activation."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess

import pytest
import requests

from harness import fastcgi_client
from harness.stack import Stack, binary_path


def internal(stack: Stack, path: str) -> requests.Response:
    return requests.get(stack.internal_url(path), timeout=10)


def test_health_and_readiness_on_the_internal_listener_only(make_idp, make_stack):
    stack = make_stack(make_idp())
    health = internal(stack, "/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    ready = internal(stack, "/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "checks": {"discovery": "ok", "keys": "ok", "provider": "ok"}}
    for path in ("/healthz", "/readyz", "/metrics"):
        public = stack.get(path)
        assert public.status_code == 404 and public.content == b'{"detail":"Not Found"}', path
    assert internal(stack, "/protected").status_code == 404  # the internal listener serves only these


def test_readiness_follows_the_provider(make_idp, make_stack):
    idp = make_idp()
    stack = make_stack(idp, env={"KEYCLOAK_CONNECT_TIMEOUT_SECONDS": "1", "KEYCLOAK_TIMEOUT_SECONDS": "2"})
    assert internal(stack, "/readyz").status_code == 200
    idp.fault("*", "hang", seconds=30)
    assert stack.login("abdullah", "Test#123456").status_code == 503
    answer = internal(stack, "/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["provider"] == "unreachable"
    idp.clear_faults()
    assert stack.login("abdullah", "Test#123456").status_code == 200
    assert internal(stack, "/readyz").status_code == 200


def test_readiness_is_503_until_discovery(make_stack):
    from harness.stack import free_port
    port = free_port()
    from harness.idp_fixture import IdentityProvider
    idp = IdentityProvider(extra_args=("--port", str(port)))
    idp.base_url, idp.realm = f"http://127.0.0.1:{port}", "testing"
    stack = make_stack(idp, wait_for_keys=False)
    answer = internal(stack, "/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"] == {"discovery": "pending", "keys": "pending", "provider": "unreachable"}


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample, matched by name and a subset of its labels."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name}{labels} in:\n{text}")


def test_metrics_count_requests_provider_calls_refetches_and_failures(make_idp, make_stack):
    idp = make_idp()
    stack = make_stack(idp)
    token = stack.token()
    for _ in range(3):
        assert stack.protected(token).status_code == 200
    assert stack.protected("a.b.c").status_code == 401
    assert stack.protected(idp.mint(claims={"iss": "https://elsewhere"})).status_code == 401
    assert stack.protected(idp.mint(header={"kid": "unknown-kid"})).status_code == 401
    assert stack.get("/nothing").status_code == 404
    answer = internal(stack, "/metrics")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = answer.text
    assert metric(text, "keycloak_fcgi_http_requests_total", route="/protected", status="200") == 3
    assert metric(text, "keycloak_fcgi_http_requests_total", route="/protected", status="401") == 3
    assert metric(text, "keycloak_fcgi_http_requests_total", route="/login", status="200") == 1
    assert metric(text, "keycloak_fcgi_http_requests_total", route="unmatched", status="404") == 1
    assert metric(text, "keycloak_fcgi_http_request_duration_seconds_count", route="/protected") == 6
    assert metric(text, "keycloak_fcgi_http_request_duration_seconds_bucket", route="/protected", le="+Inf") == 6
    assert metric(text, "keycloak_fcgi_idp_requests_total", endpoint="token", outcome="success") == 1
    assert metric(text, "keycloak_fcgi_idp_requests_total", endpoint="certs", outcome="success") == 2
    assert metric(text, "keycloak_fcgi_idp_request_duration_seconds_count", endpoint="token") == 1
    assert metric(text, "keycloak_fcgi_jwks_fetches_total", trigger="refresh", outcome="success") == 1
    assert metric(text, "keycloak_fcgi_jwks_fetches_total", trigger="unknown_kid", outcome="success") == 1
    assert metric(text, "keycloak_fcgi_auth_failures_total", reason="malformedToken") == 1
    assert metric(text, "keycloak_fcgi_auth_failures_total", reason="issuerMismatch") == 1
    assert metric(text, "keycloak_fcgi_auth_failures_total", reason="unknownKeyID") == 1


def test_internal_routes_need_the_internal_marker_even_without_nginx(make_idp, make_stack):
    stack = make_stack(make_idp())
    status, _, _ = fastcgi_client.get(str(stack.socket_path), "/metrics")
    assert status == 404
    status, _, body = fastcgi_client.get(str(stack.socket_path), "/metrics", KEYCLOAK_FCGI_INTERNAL="1")
    assert status == 200 and b"keycloak_fcgi_http_requests_total" in body
    status, _, body = fastcgi_client.get(str(stack.socket_path), "/healthz")
    assert status == 200 and body == b'{"status":"ok"}'


def test_json_logs_one_line_per_request_with_the_request_id(make_idp, make_stack):
    stack = make_stack(make_idp(), env={"LOG_FORMAT": "json"})
    token = stack.token()
    answer = stack.protected(token)
    request_id = answer.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    stack.wait_until(lambda: request_id in stack.responder_log(), "the request's log line")
    lines = [json.loads(line) for line in stack.responder_log().splitlines() if line.strip()]
    assert all({"time", "level", "label", "message"} <= set(line) for line in lines)
    matching = [line for line in lines if line.get("request.id") == request_id]
    assert len(matching) == 1
    line = matching[0]
    assert line["message"] == "request" and line["level"] == "info"
    assert line["http.method"] == "GET" and line["http.path"] == "/protected" and line["http.status"] == "200"
    assert float(line["http.duration_ms"]) > 0
    assert re.fullmatch(r"[0-9a-f-]{36}", line["auth.sub"])  # the subject, when known
    # nginx generated the id ($request_id) and the responder returned it unchanged.
    refused = stack.protected("not-a-token")
    stack.wait_until(lambda: refused.headers["X-Request-ID"] in stack.responder_log(), "the 401's log line")
    refused_line = next(json.loads(l) for l in stack.responder_log().splitlines() if refused.headers["X-Request-ID"] in l)
    assert refused_line["http.status"] == "401" and refused_line["auth.error"].startswith("malformedToken")


def test_systemd_socket_activation(make_idp, tmp_path, tls_dir):
    idp = make_idp()
    stack = Stack(tmp_path / "activated", tls_dir, idp=idp, env={"FCGI_LISTEN": "systemd"})
    (stack.workdir / "nginx-tmp").mkdir(parents=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(stack.socket_path))
    listener.listen(64)
    os.chmod(stack.socket_path, 0o660)
    number = listener.fileno()
    # What systemd does for a .socket unit: the socket on fd 3, LISTEN_FDS=1, LISTEN_PID=<pid>.
    script = f'export LISTEN_PID=$$ LISTEN_FDS=1; exec "$0" "$@" 3<&{number} {number}<&-'
    with open(stack.workdir / "responder.log", "wb") as log:
        stack.responder = subprocess.Popen(
            ["bash", "-c", script, str(binary_path()), "--env-file", "/dev/null"], env=stack.responder_env(),
            pass_fds=(number,), stdout=log, stderr=log, cwd=stack.workdir)
    listener.close()  # the responder holds its own copy
    try:
        stack.start_nginx()
        stack.wait_until(lambda: stack.get("/").status_code == 200, "the socket-activated responder")
        stack.wait_until(lambda: "signing keys loaded" in stack.responder_log(), "keys")
        assert stack.protected(stack.token()).status_code == 200
    finally:
        stack.stop()
    assert stack.responder_exit == 0
    assert stack.socket_path.exists()  # the socket belongs to systemd; the responder leaves it


def test_systemd_without_a_passed_socket_fails_clearly(tmp_path):
    result = subprocess.run([str(binary_path()), "--env-file", "/dev/null"], capture_output=True, text=True, timeout=30,
                            env={"PATH": os.environ["PATH"], "FCGI_LISTEN": "systemd", "KEYCLOAK_SERVER_URL": "http://127.0.0.1:9",
                                 "KEYCLOAK_REALM": "r", "KEYCLOAK_CLIENT_ID": "c", "KEYCLOAK_CLIENT_SECRET": "s"})
    assert result.returncode == 1
    assert "FCGI_LISTEN=systemd but no socket was passed" in result.stderr
